//! `include` answers a repeated call from memory only when it must give what it gave: the same
//! template set, template and `.`, no map written since, nothing random or timed called. Each
//! case here repeats a call across what would make a remembered answer wrong, and is rendered
//! by Helm's own library beside Gantry.

use std::collections::BTreeMap;

use gantry_helm::render;

mod common;

const CHART: &str = "apiVersion: v2\nname: memo\nversion: 1.0.0\n";

/// A case: its name, values.yaml, and its templates (file under templates/, text).
type Case = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const CASES: &[Case] = &[
    (
        "a set between two calls",
        "a: 1\n",
        &[
            ("_h.tpl", "{{ define \"x\" }}a={{ .Values.a }}{{ end }}"),
            (
                "t.yaml",
                "r: '{{ include \"x\" . }} {{ $_ := set .Values \"a\" 2 }}{{ include \"x\" . }}'",
            ),
        ],
    ),
    (
        "an unset and a merge between calls",
        "a: 1\n",
        &[
            (
                "_h.tpl",
                "{{ define \"x\" }}a={{ .Values.a }},b={{ .Values.b }}{{ end }}",
            ),
            (
                "t.yaml",
                "r: '{{ include \"x\" . }} {{ $_ := unset .Values \"a\" }}{{ include \"x\" . }} \
                 {{ $_ := merge .Values (dict \"b\" 3) }}{{ include \"x\" . }}'",
            ),
        ],
    ),
    (
        "a call that writes",
        "n: 0\n",
        &[
            (
                "_h.tpl",
                "{{ define \"inc\" }}{{ $_ := set .Values \"n\" (add1 .Values.n) }}{{ .Values.n }}{{ end }}",
            ),
            (
                "t.yaml",
                "r: '{{ include \"inc\" . }}{{ include \"inc\" . }}{{ include \"inc\" . }}'",
            ),
        ],
    ),
    (
        "the template's name in two files",
        "{}\n",
        &[
            ("_h.tpl", "{{ define \"n\" }}{{ .Template.Name }}{{ end }}"),
            ("a.yaml", "r: '{{ include \"n\" . }} {{ include \"n\" . }}'"),
            ("b.yaml", "r: '{{ include \"n\" . }} {{ include \"n\" . }}'"),
        ],
    ),
    (
        "each element of a range, and fresh dicts",
        "items: [{name: a}, {name: b}, {name: a}]\nv: 7\n",
        &[
            (
                "_h.tpl",
                "{{ define \"x\" }}<{{ .name }}>{{ end }}{{ define \"o\" }}{{ include \"x\" (dict \"name\" .v) }}{{ include \"x\" (dict \"name\" .v) }}{{ end }}",
            ),
            (
                "t.yaml",
                "r: '{{ range .Values.items }}{{ include \"x\" . }}{{ end }} {{ include \"o\" .Values }} {{ include \"o\" (dict \"v\" 8) }}'",
            ),
        ],
    ),
    (
        "one name defined differently by two tpl texts",
        "t1: '{{ define \"y\" }}one{{ end }}{{ include \"y\" . }}'\n\
         t2: '{{ define \"y\" }}two{{ end }}{{ include \"y\" . }}'\n",
        &[(
            "t.yaml",
            "r: '{{ tpl .Values.t1 . }} {{ tpl .Values.t2 . }} {{ tpl .Values.t1 . }}'",
        )],
    ),
    (
        "inside a template action and a with",
        "a: {b: 1}\n",
        &[
            (
                "_h.tpl",
                "{{ define \"x\" }}[{{ toJson . }}]{{ end }}{{ define \"w\" }}{{ include \"x\" . }}{{ end }}",
            ),
            (
                "t.yaml",
                "r: '{{ include \"x\" .Values.a }}{{ template \"w\" .Values.a }}{{ with .Values.a }}{{ include \"x\" . }}{{ $_ := set . \"c\" 2 }}{{ include \"x\" . }}{{ end }}'",
            ),
        ],
    ),
    (
        "helpers blind and not blind to .Template, across three files",
        "a: 1\nn: {x: 1}\n",
        &[
            (
                "_h.tpl",
                "{{ define \"blind\" }}{{ .Release.Name }}-{{ .Chart.Name }}{{ with .Values.n }}{{ toJson . }}{{ end }}{{ include \"inner\" . }}{{ end }}\
                 {{ define \"inner\" }}{{ $.Values.a }}{{ end }}\
                 {{ define \"dollar\" }}{{ $.Template.Name }}{{ end }}\
                 {{ define \"withroot\" }}{{ with $ }}{{ .Template.Name }}{{ end }}{{ end }}\
                 {{ define \"whole\" }}{{ toJson . | len }}{{ end }}\
                 {{ define \"nested\" }}{{ include \"dollar\" . }}{{ end }}\
                 {{ define \"tmpl\" }}{{ template \"dollar\" . }}{{ end }}\
                 {{ define \"ranged\" }}{{ range $k, $v := . }}{{ if eq $k \"Template\" }}{{ $v.Name }}{{ end }}{{ end }}{{ end }}\
                 {{ define \"var\" }}{{ $top := . }}{{ $top.Template.Name }}{{ end }}\
                 {{ define \"viatpl\" }}{{ tpl \"{{ .Template.Name }}\" . }}{{ end }}",
            ),
            (
                "a.yaml",
                "r: '{{ range list \"blind\" \"dollar\" \"withroot\" \"whole\" \"nested\" \"tmpl\" \"ranged\" \"var\" \"viatpl\" }}{{ include . $ }};{{ end }}'",
            ),
            (
                "b.yaml",
                "r: '{{ include \"blind\" . }} {{ include \"dollar\" . }} {{ include \"withroot\" . }} {{ include \"whole\" . }} {{ include \"nested\" . }} {{ include \"tmpl\" . }} {{ include \"ranged\" . }} {{ include \"var\" . }} {{ include \"viatpl\" . }}'",
            ),
            (
                "c.yaml",
                "r: '{{ include \"blind\" . }} {{ include \"dollar\" . }} {{ include \"withroot\" . }} {{ include \"whole\" . }} {{ include \"nested\" . }} {{ include \"tmpl\" . }} {{ include \"ranged\" . }} {{ include \"var\" . }} {{ include \"viatpl\" . }}'",
            ),
        ],
    ),
    (
        "a file that stores the top-level object in the values",
        "{}\n",
        &[
            (
                "_h.tpl",
                "{{ define \"y\" }}{{ .Values.self.Template.Name }}{{ end }}{{ define \"z\" }}{{ .Release.Name }}{{ end }}",
            ),
            // Helm renders z.yaml first (deeper paths first, then in reverse order).
            (
                "z.yaml",
                "r: '{{ include \"z\" . }}{{ $_ := set .Values \"self\" $ }}'",
            ),
            ("b.yaml", "r: '{{ include \"y\" . }} {{ include \"z\" . }}'"),
            ("a.yaml", "r: '{{ include \"y\" . }} {{ include \"z\" . }}'"),
        ],
    ),
];

fn chart(values: &str, templates: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
    let mut files = common::files(&[("Chart.yaml", CHART), ("values.yaml", values)]);
    for (name, text) in templates {
        files.insert(format!("templates/{name}"), text.as_bytes().to_vec());
    }
    files
}

#[test]
fn repeated_includes_render_as_helm_renders_them() {
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let mut jobs = Vec::new();
    for (i, (_, values, templates)) in CASES.iter().enumerate() {
        let dir = tmp.path().join(format!("c{i}"));
        common::write_chart(&dir, &chart(values, templates));
        jobs.push(serde_json::json!({"chart": dir, "values": null}));
    }
    let answers = common::helm_oracle(&jobs);
    let mut problems = Vec::new();
    for ((name, values, templates), want) in CASES.iter().zip(answers) {
        let want: Result<BTreeMap<String, String>, String> =
            match want.get("error").and_then(|e| e.as_str()) {
                Some(e) => Err(e.to_owned()),
                None => Ok(serde_json::from_value(want["templates"].clone()).expect("templates")),
            };
        let got = render(common::request(chart(values, templates)))
            .map(|r| r.templates)
            .map_err(|e| e.to_string());
        if want != got {
            problems.push(format!("{name}: Helm {want:?}, Gantry {got:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_random_helper_gives_a_new_value_at_every_call() {
    let got = render(common::request(chart(
        "{}\n",
        &[
            ("_h.tpl", "{{ define \"r\" }}{{ randAlphaNum 24 }}{{ end }}"),
            ("t.yaml", "r: '{{ include \"r\" . }} {{ include \"r\" . }}'"),
        ],
    )))
    .expect("renders");
    let text = &got.templates["memo/templates/t.yaml"];
    let (a, b) = text
        .trim_start_matches("r: '")
        .trim_end_matches('\'')
        .split_once(' ')
        .expect("two values");
    assert_eq!((a.len(), b.len()), (24, 24), "{text}");
    assert_ne!(a, b, "{text}");
}
