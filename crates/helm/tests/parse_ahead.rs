//! A large chart's templates are parsed on a helper thread from the start of the render, under
//! the paths the loader is expected to give them, and any chart's schemas are compiled there.
//! These charts make those guesses wrong or unused (aliases, disabled subcharts, a byte-order
//! mark, a schema `.helmignore` drops) and check the render is Helm's.

use std::collections::BTreeMap;

use gantry_helm::{Request, render};

// More template text than the engine parses in place, so the helper runs.
fn padding() -> String {
    format!("{{{{/* {} */}}}}\n", "x".repeat(80 << 10))
}

fn request(files: &[(&str, String)]) -> Request {
    Request {
        chart: files
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect::<BTreeMap<_, _>>(),
        ..Request::default()
    }
}

fn parent(deps: &str) -> (&'static str, String) {
    (
        "Chart.yaml",
        format!("apiVersion: v2\nname: top\nversion: 1.0.0\ndependencies:\n{deps}"),
    )
}

fn sub_chart() -> Vec<(&'static str, String)> {
    vec![
        (
            "charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\nversion: 1.0.0\n".into(),
        ),
        (
            "charts/sub/templates/cm.yaml",
            "name: {{ .Template.Name }} {{ \"constant\" }} {{ .Chart.Name }}\n".into(),
        ),
        ("charts/sub/templates/_pad.tpl", padding()),
    ]
}

#[test]
fn an_aliased_subchart_is_parsed_under_each_alias() {
    let mut files = vec![
        parent(
            "- name: sub\n  version: 1.0.0\n  alias: one\n- name: sub\n  version: 1.0.0\n  alias: two\n",
        ),
        ("templates/_pad.tpl", padding()),
    ];
    files.extend(sub_chart());
    let out = render(request(&files)).expect("renders");
    for alias in ["one", "two"] {
        let path = format!("top/charts/{alias}/templates/cm.yaml");
        assert_eq!(
            out.templates[&path],
            format!("name: {path} constant {alias}\n")
        );
    }
}

#[test]
fn a_disabled_subchart_that_does_not_parse_is_not_an_error() {
    let mut files = vec![
        parent("- name: sub\n  version: 1.0.0\n  condition: sub.enabled\n"),
        ("values.yaml", "sub:\n  enabled: false\n".into()),
        ("templates/ok.yaml", "a: {{ \"b\" }}\n".into()),
        ("templates/_pad.tpl", padding()),
    ];
    files.extend(sub_chart());
    files.push(("charts/sub/templates/broken.yaml", "{{ if }}\n".into()));
    let out = render(request(&files)).expect("the disabled subchart is never parsed by Helm");
    assert_eq!(out.templates["top/templates/ok.yaml"], "a: b\n");
    assert!(!out.templates.keys().any(|k| k.contains("charts/sub")));
}

#[test]
fn parse_errors_are_reported_in_helms_order() {
    // Helm parses deepest paths first, then in reverse name order: the subchart's error wins.
    let mut files = vec![
        parent("- name: sub\n  version: 1.0.0\n"),
        ("templates/a.yaml", "{{ end }}\n".into()),
        ("templates/_pad.tpl", padding()),
    ];
    files.extend(sub_chart());
    files.push(("charts/sub/templates/broken.yaml", "{{ if }}\n".into()));
    let err = render(request(&files)).expect_err("does not parse");
    assert_eq!(
        err.to_string(),
        "parse error at (top/charts/sub/templates/broken.yaml:1): missing value for if"
    );
}

#[test]
fn a_template_with_a_byte_order_mark_renders_without_it() {
    let files = vec![
        (
            "Chart.yaml",
            "\u{feff}apiVersion: v2\nname: top\nversion: 1.0.0\n".to_string(),
        ),
        ("templates/cm.yaml", "\u{feff}a: {{ \"b\" }}\n".into()),
        ("templates/_pad.tpl", padding()),
    ];
    let out = render(request(&files)).expect("renders");
    assert_eq!(out.templates["top/templates/cm.yaml"], "a: b\n");
}

// Schemas are compiled on the helper whatever the chart's size, so these charts are small.
fn schema_chart(sub_schema: &str) -> Vec<(&'static str, String)> {
    vec![
        parent("- name: sub\n  version: 1.0.0\n"),
        ("values.yaml", "replicas: x\nsub:\n  port: \"80\"\n".into()),
        (
            "values.schema.json",
            r#"{"type":"object","properties":{"replicas":{"type":"integer"}}}"#.into(),
        ),
        ("templates/cm.yaml", "a: b\n".into()),
        (
            "charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\nversion: 1.0.0\n".into(),
        ),
        ("charts/sub/values.schema.json", sub_schema.into()),
        ("charts/sub/templates/cm.yaml", "c: d\n".into()),
    ]
}

const SCHEMA_ERROR: &str =
    "values don't meet the specifications of the schema(s) in the following chart(s):\n";

#[test]
fn schemas_compiled_ahead_check_each_chart_in_helms_order() {
    let files = schema_chart(r#"{"type":"object","properties":{"port":{"type":"integer"}}}"#);
    let err = render(request(&files)).expect_err("both charts' values are wrong");
    assert_eq!(
        err.to_string(),
        format!(
            "{SCHEMA_ERROR}top:\n- at '/replicas': got string, want integer\nsub:\n- at '/port': got string, want integer\n"
        )
    );
}

#[test]
fn a_schema_that_is_not_json_is_reported_under_its_chart() {
    let files = schema_chart(r#"{"type":"#);
    let err = render(request(&files)).expect_err("the subchart's schema is not JSON");
    assert_eq!(
        err.to_string(),
        format!(
            "{SCHEMA_ERROR}top:\n- at '/replicas': got string, want integer\nsub:\nunexpected EOF"
        )
    );
}

#[test]
fn the_same_schema_in_two_charts_checks_both() {
    let same = r#"{"type":"object","properties":{"replicas":{"type":"integer"}}}"#;
    let mut files = schema_chart(same);
    files[1].1 = "replicas: x\nsub:\n  replicas: z\n".into();
    let err = render(request(&files)).expect_err("both charts' values are wrong");
    assert_eq!(
        err.to_string(),
        format!(
            "{SCHEMA_ERROR}top:\n- at '/replicas': got string, want integer\nsub:\n- at '/replicas': got string, want integer\n"
        )
    );
}

#[test]
fn a_schema_helmignore_drops_is_compiled_ahead_but_never_enforced() {
    let mut files = schema_chart(r#"{"type":"#);
    // Helm reads only the top chart's `.helmignore`, for every path under it.
    files.push((".helmignore", "charts/sub/values.schema.json\n".into()));
    files[1].1 = "replicas: 1\nsub:\n  port: \"80\"\n".into();
    let out = render(request(&files)).expect("the subchart has no schema for Helm");
    assert_eq!(out.templates["top/charts/sub/templates/cm.yaml"], "c: d\n");
}

static LARGE_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn count_large() {
    LARGE_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

#[test]
fn when_large_is_called_once_and_only_for_a_large_chart() {
    use std::sync::atomic::Ordering::SeqCst;
    let chart = |pad: usize| {
        let mut req = request(&[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: c\nversion: 1.0.0\n".into(),
            ),
            ("templates/cm.yaml", "a: {{ \"b\" }}\n".into()),
            (
                "templates/_pad.tpl",
                format!("{{{{/* {} */}}}}\n", "x".repeat(pad)),
            ),
        ]);
        req.when_large = Some(count_large);
        req
    };
    // No helper; a helper but less than LARGE_CHART_BYTES; then a large chart.
    for (pad, calls) in [(10, 0), (80 << 10, 0), (gantry_helm::LARGE_CHART_BYTES, 1)] {
        let before = LARGE_CALLS.load(SeqCst);
        let out = render(chart(pad)).expect("renders");
        assert_eq!(out.templates["c/templates/cm.yaml"], "a: b\n");
        assert_eq!(
            LARGE_CALLS.load(SeqCst) - before,
            calls,
            "{pad} bytes of padding"
        );
    }
}
