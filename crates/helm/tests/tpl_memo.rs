//! `tpl` remembers what it parsed of each text within a render. Each call still runs in a
//! fresh copy of the template set, as Helm's does: what one call defines is not seen by
//! another, and a text that does not parse fails the same way every time.

use gantry_helm::{Request, render};

mod common;

fn render_one(template: &str, values: &str) -> Result<String, String> {
    render(Request {
        chart: common::files(&[
            ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n"),
            ("values.yaml", values),
            ("templates/t.yaml", template),
        ]),
        ..Request::default()
    })
    .map(|r| r.templates["c/templates/t.yaml"].clone())
    .map_err(|e| e.to_string())
}

#[test]
fn the_same_text_renders_with_each_call_s_values() {
    let out = render_one(
        "a: '{{ range .Values.xs }}{{ tpl $.Values.t (dict \"x\" .) }};{{ end }}'",
        "t: '{{ define \"d\" }}<{{ .x }}>{{ end }}{{ include \"d\" . }}'\nxs: [a, b, c]\n",
    );
    assert_eq!(out.unwrap(), "a: '<a>;<b>;<c>;'");
}

#[test]
fn a_definition_in_one_call_is_not_seen_by_the_next() {
    let err = render_one(
        "{{ tpl \"{{ define \\\"y\\\" }}B{{ end }}\" . }}{{ tpl \"{{ template \\\"y\\\" }}\" . }}",
        "{}\n",
    )
    .expect_err("y is defined only inside the first call");
    assert!(err.contains("template \"y\" not defined"), "{err}");
}

#[test]
fn a_text_that_does_not_parse_fails_at_every_call() {
    for _ in 0..2 {
        let err = render_one(
            "{{ tpl .Values.t . }}{{ tpl .Values.t . }}",
            "t: '{{ if }}'\n",
        )
        .expect_err("does not parse");
        assert!(
            err.contains("cannot parse template \"{{ if }}\"")
                && err.contains("missing value for if"),
            "{err}"
        );
    }
}
