//! `.Values` is Helm's named map type `common.Values`; passed to a function whose parameter is a
//! `map[string]interface {}` (`merge`, `set`, `unset`, ...), Go assigns it to that type, so what
//! the function hands back is a plain map that `dig` accepts and `typeOf` names as such. Found
//! by the spire chart (`{{ $values := merge .Values }}` then `dig ... $values`). Each template is
//! checked against Helm v4's own library (helm-python-sdk).

mod common;

use std::collections::BTreeMap;

use gantry_helm::render;

const TEMPLATES: &[(&str, &str)] = &[
    ("merge", r#"r: {{ dig "a" "x" "none" (merge .Values) }}"#),
    (
        "merge-type",
        r#"t: {{ typeOf (merge .Values (dict "m" 1)) }} {{ .Values.m }}"#,
    ),
    (
        "merge-overwrite",
        r#"r: {{ dig "a" "x" "none" (mergeOverwrite .Values (dict "z" 1)) }}"#,
    ),
    (
        "must-merge",
        r#"r: {{ dig "a" "x" "none" (mustMerge .Values) }}"#,
    ),
    (
        "must-merge-overwrite",
        r#"r: {{ dig "a" "x" "none" (mustMergeOverwrite .Values (dict)) }}"#,
    ),
    (
        "set",
        r#"t: {{ typeOf (set .Values "b" 2) }} {{ .Values.b }}"#,
    ),
    ("unset", r#"t: {{ typeOf (unset .Values "nothing") }}"#),
    (
        "values-itself",
        r#"t: {{ typeOf .Values }} {{ kindOf .Values }}"#,
    ),
    (
        "merge-second",
        r#"r: {{ dig "a" "x" "none" (merge (dict) .Values) }}"#,
    ),
    (
        "deep-copy",
        r#"t: {{ typeOf (deepCopy .Values) }} {{ typeOf (pick .Values "a") }}"#,
    ),
    (
        "subchart-style",
        r#"{{- $v := merge (dict) .Values.a }}t: {{ typeOf $v }} {{ typeOf .Values.a }}"#,
    ),
];

fn chart(template: &str) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    files.insert(
        "Chart.yaml".to_owned(),
        b"apiVersion: v2\nname: typed\nversion: 0.1.0\n".to_vec(),
    );
    files.insert("values.yaml".to_owned(), b"a:\n  x: 1\n".to_vec());
    files.insert("templates/t.yaml".to_owned(), template.as_bytes().to_vec());
    files
}

#[test]
fn functions_given_values_hand_back_a_plain_map_as_helm_does() {
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let mut jobs = Vec::new();
    for (name, text) in TEMPLATES {
        let dir = tmp.path().join(name);
        common::write_chart(&dir, &chart(text));
        jobs.push(serde_json::json!({"chart": dir, "values": null}));
    }
    let answers = common::helm_oracle(&jobs);
    let mut problems = Vec::new();
    for ((name, text), want) in TEMPLATES.iter().zip(answers) {
        let got = render(common::request(chart(text)));
        let want = want["templates"]["typed/templates/t.yaml"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| want.to_string());
        let got = got
            .map(|r| r.templates["typed/templates/t.yaml"].clone())
            .map_err(|e| e.to_string());
        match (&want, &got) {
            (Ok(w), Ok(g)) if w == g => {}
            _ => problems.push(format!("{name}: Helm {want:?}, Gantry {got:?}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
