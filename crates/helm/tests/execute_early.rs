//! Templates execute while the rest are still being parsed: a template runs once it and every
//! template that defines others are in the set. These charts are the cases where that could
//! differ from Helm, which parses everything first: a template that includes or calls another
//! that executes later, a parse error after an execution error, a definition named like a
//! template, an empty definition in `tpl`, `block`; and a template that has run, whose tree is
//! freed, named again by a later one. Each renders with and without the helper
//! thread, and both must be what Helm v4's own library (helm-python-sdk) gives.

mod common;

use std::collections::BTreeMap;

use gantry_helm::render;

// Templates execute in reverse name order, so `z.yaml` runs before `a.yaml`.
const CHARTS: &[(&str, &[(&str, &str)])] = &[
    (
        "include-a-later-template",
        &[
            (
                "z.yaml",
                r#"checksum: {{ include (print $.Template.BasePath "/a.yaml") . | sha256sum }}"#,
            ),
            ("a.yaml", "a: {{ .Values.v }}\n"),
        ],
    ),
    (
        "template-action-on-a-later-template",
        &[
            ("z.yaml", r#"z: {{ template "early/templates/a.yaml" . }}"#),
            ("a.yaml", "{{ .Values.v }}"),
        ],
    ),
    (
        "a-definition-in-a-later-template",
        &[
            ("z.yaml", r#"z: {{ include "late.def" . }}"#),
            (
                "a.yaml",
                r#"{{- define "late.def" }}from-a {{ .Values.v }}{{ end -}}"#,
            ),
        ],
    ),
    (
        "a-later-parse-error-wins-over-fail",
        &[
            ("z.yaml", r#"{{ fail "z fails first" }}"#),
            ("a.yaml", "{{ .Values.v | nosuchfunction }}"),
        ],
    ),
    (
        "a-partial-that-does-not-parse",
        &[("z.yaml", "z: 1\n"), ("_bad.tpl", "{{ end }}")],
    ),
    (
        "a-definition-named-like-a-template",
        &[
            ("z.yaml", r#"z: {{ template "early/templates/a.yaml" . }}"#),
            ("a.yaml", "a: real\n"),
            (
                "_helpers.tpl",
                r#"{{- define "early/templates/a.yaml" }}from-helpers{{ end -}}"#,
            ),
        ],
    ),
    (
        "an-empty-definition-in-tpl-keeps-a-later-template",
        &[
            (
                "z.yaml",
                r#"z: {{ tpl "{{ define \"early/templates/a.yaml\" }}{{ end }}[{{ template \"early/templates/a.yaml\" }}]" . }}"#,
            ),
            ("a.yaml", "a-real"),
        ],
    ),
    (
        "block-in-a-later-template",
        &[
            ("z.yaml", r#"z: {{ template "blk" . }}"#),
            ("a.yaml", r#"a: {{ block "blk" . }}block-body{{ end }}"#),
        ],
    ),
    (
        "include-a-later-template-then-a-parse-error-after-it",
        &[
            (
                "z.yaml",
                r#"checksum: {{ include (print $.Template.BasePath "/m.yaml") . | sha256sum }}"#,
            ),
            ("m.yaml", "m: {{ .Values.v }}\n"),
            ("b.yaml", "{{ if }}"),
        ],
    ),
    (
        "include-a-later-template-that-does-not-parse-after-another",
        &[
            (
                "z.yaml",
                r#"z: {{ include (print $.Template.BasePath "/b.yaml") . }}"#,
            ),
            ("m.yaml", "{{ end }}"),
            ("b.yaml", "{{ if }}"),
        ],
    ),
    (
        "include-a-name-no-template-has-before-a-parse-error",
        &[
            (
                "z.yaml",
                r#"z: {{ include "early/templates/none.yaml" . }}"#,
            ),
            ("a.yaml", "{{ .Values.v | nosuchfunction }}"),
        ],
    ),
    (
        "a-missing-template-after-a-good-one",
        &[
            ("z.yaml", "z: 1\n"),
            ("m.yaml", r#"{{ include "nowhere" . }}"#),
            ("a.yaml", "a: 1\n"),
        ],
    ),
    // A template that has run is freed, and parsed again if a later one names it.
    (
        "include-an-earlier-template",
        &[
            ("z.yaml", "z: {{ .Values.v }}\n"),
            (
                "m.yaml",
                r#"m: {{ include "early/templates/z.yaml" . | trim }}"#,
            ),
            (
                "a.yaml",
                r#"checksum: {{ include (print $.Template.BasePath "/z.yaml") . | sha256sum }}"#,
            ),
        ],
    ),
    (
        "template-action-on-an-earlier-template",
        &[
            ("z.yaml", "{{ .Values.v }}"),
            ("a.yaml", r#"a: {{ template "early/templates/z.yaml" . }}"#),
        ],
    ),
    (
        "an-earlier-template-sees-the-caller",
        &[
            ("z.yaml", "z: {{ .Template.Name }}"),
            ("a.yaml", r#"a: {{ include "early/templates/z.yaml" . }}"#),
        ],
    ),
    (
        "an-empty-definition-in-tpl-keeps-an-earlier-template",
        &[
            ("z.yaml", "z-real"),
            (
                "a.yaml",
                r#"a: {{ tpl "{{ define \"early/templates/z.yaml\" }}{{ end }}[{{ template \"early/templates/z.yaml\" }}]" . }}"#,
            ),
        ],
    ),
    (
        "a-parse-error-after-earlier-templates-ran",
        &[
            ("z.yaml", "z: 1\n"),
            ("y.yaml", "y: 2\n"),
            ("a.yaml", "{{ if }}"),
        ],
    ),
];

// More template text than the engine parses in place, so the helper thread runs.
fn padding() -> Vec<u8> {
    format!("{{{{/* {} */}}}}\n", "x".repeat(80 << 10)).into_bytes()
}

fn chart(templates: &[(&str, &str)], helper: bool) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    files.insert(
        "Chart.yaml".to_owned(),
        b"apiVersion: v2\nname: early\nversion: 0.1.0\n".to_vec(),
    );
    files.insert("values.yaml".to_owned(), b"v: 42\n".to_vec());
    for (name, text) in templates {
        files.insert(format!("templates/{name}"), text.as_bytes().to_vec());
    }
    if helper {
        files.insert("templates/_pad.tpl".to_owned(), padding());
    }
    files
}

/// Helm's message for an error Gantry reports as a `HelmError`: the same text after its kind.
fn same_error(helm: &str, gantry: &str) -> bool {
    gantry.ends_with(helm) || helm.ends_with(gantry)
}

#[test]
fn templates_executed_before_all_are_parsed_render_as_helm_does() {
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let mut jobs = Vec::new();
    for (name, templates) in CHARTS {
        let dir = tmp.path().join(name);
        common::write_chart(&dir, &chart(templates, false));
        jobs.push(serde_json::json!({"chart": dir, "values": null}));
    }
    let answers = common::helm_oracle(&jobs);
    let mut problems = Vec::new();
    for ((name, templates), want) in CHARTS.iter().zip(answers) {
        for helper in [false, true] {
            let got = render(common::request(chart(templates, helper)));
            match (want.get("error").and_then(|e| e.as_str()), got) {
                (Some(w), Err(g)) if same_error(w, &g.to_string()) => {}
                (None, Ok(g)) => {
                    let mut want_t: BTreeMap<String, String> =
                        serde_json::from_value(want["templates"].clone()).expect("templates");
                    let mut got_t = g.templates;
                    // The padding partial renders to nothing, and Helm's side has none.
                    got_t.remove("early/templates/_pad.tpl");
                    want_t.remove("early/templates/_pad.tpl");
                    if want_t != got_t {
                        problems.push(format!(
                            "{name} (helper: {helper}): Helm {want_t:?}, Gantry {got_t:?}"
                        ));
                    }
                }
                (w, g) => problems.push(format!(
                    "{name} (helper: {helper}): Helm {w:?}, Gantry {:?}",
                    g.map(|r| r.templates).map_err(|e| e.to_string())
                )),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
