//! What `helm template` adds to Helm's engine: `--set`, and the checks before it renders.

use gantry_helm::{HelmError, Helper, Release, Request, render};

mod common;
use common::files as chart;

fn request(files: &[(&str, &str)]) -> Request {
    Request {
        chart: chart(files),
        ..Request::default()
    }
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  a: {{ .Values.a | quote }}\n  b: {{ kindOf .Values.b }}\n  c: {{ .Values.c | toJson | quote }}\n";

#[test]
fn set_overrides_values_files_with_helm_types() {
    let mut req = request(&[
        ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n"),
        ("values.yaml", "a: default\nb: 1\nc: []\n"),
        ("templates/cm.yaml", CM),
    ]);
    req.values_files = vec![("v.yaml".into(), "a: file\nb: 2\n".into())];
    req.set = vec!["b=3,c={x,y}".into(), "a=set".into()];
    let out = render(req).expect("renders");
    assert_eq!(
        out.templates["c/templates/cm.yaml"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: release-name\ndata:\n  a: \"set\"\n  b: int64\n  c: \"[\\\"x\\\",\\\"y\\\"]\"\n"
    );
}

#[test]
fn a_bad_set_expression_is_helms_error() {
    let mut req = request(&[("Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n")]);
    req.set = vec!["a[".into()];
    let err = render(req).expect_err("fails");
    assert_eq!(
        err.to_string(),
        "failed parsing --set data: error parsing index: EOF"
    );
}

#[test]
fn helm_template_refuses_missing_dependencies_and_library_charts() {
    let files = [
        (
            "Chart.yaml",
            "apiVersion: v2\nname: c\nversion: 1.0.0\ndependencies:\n- name: sub\n  version: 1.0.0\n  repository: https://example.com\n- name: other\n  version: 1.0.0\n",
        ),
        ("templates/cm.yaml", CM),
    ];
    let err = render(request(&files)).expect_err("helm template refuses");
    assert_eq!(
        err.to_string(),
        "an error occurred while checking for chart dependencies. You may need to run 'helm dependency build' to fetch missing dependencies: found in Chart.yaml, but missing in charts/ directory: sub, other"
    );
    // Helm's engine alone renders without them.
    let mut req = request(&files);
    req.stream = false;
    assert!(render(req).is_ok());

    let lib = request(&[(
        "Chart.yaml",
        "apiVersion: v2\nname: c\nversion: 1.0.0\ntype: library\n",
    )]);
    assert_eq!(
        render(lib).expect_err("not installable"),
        HelmError::Chart("library charts are not installable".into())
    );
}

#[test]
fn helm_template_checks_the_release_name() {
    let mut req = request(&[("Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n")]);
    req.release = Release {
        name: "Bad_Name".into(),
        ..Release::default()
    };
    let err = render(req).expect_err("refused");
    assert!(
        err.to_string().starts_with(
            "release name check failed: release name \"Bad_Name\": invalid release name, must match regex ^[a-z0-9]"
        ),
        "{err}"
    );
}

/// Values for a subchart that are not a map stop Helm while it coalesces them, before any
/// schema is read (newrelic's nri-bundle with `newrelic-logging: yes`); `helm template` adds
/// its install action's prefix.
#[test]
fn subchart_values_that_are_not_a_map_are_a_type_mismatch() {
    let files = [
        (
            "Chart.yaml",
            "apiVersion: v2\nname: c\nversion: 1.0.0\ndependencies:\n- name: sub\n  version: 1.0.0\n",
        ),
        (
            "charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
        ),
        ("charts/sub/templates/cm.yaml", CM),
    ];
    for (value, shown) in [
        ("sub: \"yes\"\n", "%!t(string=yes)"),
        ("sub: true\n", "true"),
        ("sub: [a, 2]\n", "[%!t(string=a) %!t(float64=2)]"),
    ] {
        let mut req = request(&files);
        req.values_files = vec![("v.yaml".into(), value.into())];
        req.stream = false;
        let err = render(req).expect_err("a type mismatch");
        assert_eq!(err.to_string(), format!("type mismatch on sub: {shown}"));
        let mut req = request(&files);
        req.values_files = vec![("v.yaml".into(), value.into())];
        req.stream = true;
        let err = render(req).expect_err("a type mismatch");
        assert_eq!(
            err.to_string(),
            format!("chart dependencies processing failed: type mismatch on sub: {shown}")
        );
    }
}

const SCHEMA: &str = r#"{"type": "object", "properties": {"replicas": {"type": "integer"}}}"#;

fn with_schemas(parent_schema: &str) -> Request {
    request(&[
        (
            "Chart.yaml",
            "apiVersion: v2\nname: c\nversion: 1.0.0\ndependencies:\n- name: sub\n  version: 1.0.0\n",
        ),
        ("values.yaml", "replicas: 1\nsub:\n  replicas: 2\n"),
        ("values.schema.json", parent_schema),
        ("templates/cm.yaml", CM),
        (
            "charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
        ),
        ("charts/sub/values.schema.json", SCHEMA),
        ("charts/sub/templates/cm.yaml", CM),
    ])
}

#[test]
fn schemas_check_every_chart_in_helms_order() {
    let mut req = with_schemas(SCHEMA);
    req.set = vec!["replicas=many".into(), "sub.replicas=few".into()];
    let err = render(req).expect_err("both violate their schema");
    let HelmError::Schema(msg) = &err else {
        panic!("not a schema error: {err}")
    };
    assert!(msg.starts_with("c:\n- at '/replicas': "), "{msg}");
    assert!(msg.contains("\nsub:\n- at '/replicas': "), "{msg}");
    assert!(err.to_string().starts_with(
        "values don't meet the specifications of the schema(s) in the following chart(s):\nc:\n"
    ));

    assert!(render(with_schemas(SCHEMA)).is_ok(), "valid values render");

    let err = render(with_schemas("{not json")).expect_err("an unreadable schema");
    assert!(
        // Go's decoder's words, as Helm's validator reports them.
        err.to_string()
            .ends_with("c:\ninvalid character 'n' looking for beginning of object key string"),
        "{err}"
    );
    let err = render(with_schemas(r#"{"type": 12}"#)).expect_err("a schema that does not compile");
    assert!(
        err.to_string()
            .contains("c:\nunable to compile values.schema.json"),
        "{err}"
    );
}

#[test]
fn keep_memory_renders_the_same() {
    let req = || {
        let mut r = with_schemas(SCHEMA);
        r.set = vec!["a=x".into()];
        r
    };
    let freed = render(req()).expect("renders");
    let kept = render(Request {
        keep_memory: true,
        ..req()
    })
    .expect("renders");
    assert_eq!(freed.templates, kept.templates);
    assert_eq!(freed.stream, kept.stream);

    // On the caller's thread (one with the render's stack), with its memory kept or freed, and
    // failing there with the same error.
    let here = |r: Request| {
        std::thread::Builder::new()
            .stack_size(gantry_helm::STACK_SIZE)
            .spawn(move || render(r))
            .expect("a thread")
            .join()
            .expect("no panic")
    };
    for keep_memory in [false, true] {
        for helper in [Helper::Always, Helper::Never] {
            let out = here(Request {
                on_caller_thread: true,
                keep_memory,
                helper,
                ..req()
            })
            .expect("renders");
            assert_eq!(freed.templates, out.templates);
            assert_eq!(freed.stream, out.stream);
        }
    }
    let mut bad = req();
    bad.set = vec!["replicas=x".into()];
    let err = render(bad).expect_err("a schema error");
    let mut bad = req();
    bad.set = vec!["replicas=x".into()];
    bad.on_caller_thread = true;
    assert_eq!(here(bad).expect_err("the same error"), err);
}

#[test]
fn set_string_comes_after_set_and_keeps_every_value_a_string() {
    let mut req = request(&[
        ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n"),
        ("values.yaml", "a: default\nb: 1\nc: []\n"),
        ("templates/cm.yaml", CM),
    ]);
    req.set = vec!["a=1e5,b=2".into()];
    // A commit or an image tag that looks like a number or a boolean stays as written.
    req.set_string = vec!["a=1e5".into(), "b=true".into()];
    let out = render(req).expect("renders");
    assert_eq!(
        out.templates["c/templates/cm.yaml"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: release-name\ndata:\n  a: \"1e5\"\n  b: string\n  c: \"[]\"\n"
    );

    let mut req = request(&[("Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n")]);
    req.set_string = vec!["a[".into()];
    let err = render(req).expect_err("fails");
    assert_eq!(
        err.to_string(),
        "failed parsing --set-string data: error parsing index: EOF"
    );
}

#[test]
fn api_versions_are_added_to_helms_defaults() {
    let files = [
        ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n"),
        (
            "templates/sm.yaml",
            "{{- if .Capabilities.APIVersions.Has \"monitoring.coreos.com/v1\" }}\nkind: ServiceMonitor\n{{- end }}\napps: {{ .Capabilities.APIVersions.Has \"apps/v1\" }}\n",
        ),
    ];
    let plain = render(request(&files)).expect("renders");
    assert_eq!(plain.templates["c/templates/sm.yaml"], "\napps: true\n");
    let with = render(Request {
        api_versions: vec!["monitoring.coreos.com/v1".into()],
        ..request(&files)
    })
    .expect("renders");
    assert_eq!(
        with.templates["c/templates/sm.yaml"],
        "\nkind: ServiceMonitor\napps: true\n"
    );
}

#[test]
fn a_byte_order_mark_is_dropped_from_every_chart_file() {
    let out = render(request(&[
        (
            "Chart.yaml",
            "\u{feff}apiVersion: v2\nname: c\nversion: 1.0.0\n",
        ),
        ("values.yaml", "\u{feff}a: 1\n"),
        ("templates/cm.yaml", "\u{feff}a: {{ .Values.a }}\n"),
        ("files/x.txt", "\u{feff}x"),
        (
            "templates/files.yaml",
            "x: {{ .Files.Get \"files/x.txt\" }}\n",
        ),
    ]))
    .expect("renders");
    assert_eq!(out.templates["c/templates/cm.yaml"], "a: 1\n");
    assert_eq!(out.templates["c/templates/files.yaml"], "x: x\n");
}
