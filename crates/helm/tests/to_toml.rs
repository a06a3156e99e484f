//! `toToml` and `mustToToml` write what Helm v4's own library (helm-python-sdk, BurntSushi/toml
//! v1.6's encoder) writes: tables after plain keys, arrays of tables, inline tables in mixed
//! arrays, quoted keys, escapes, floats with a point, nil entries skipped, and the encoder's
//! errors as `toToml`'s text; and `fromToml` reads as BurntSushi/toml decodes.

mod common;

const VALUES: &str = r#"
jupyter: {config: {map: {number: 123, string: "hi"}, list: [1, 2]}}
servers:
  fleet: [{name: a, port: 80}, {name: b, tags: [x, y], tls: {on: true}, paths: [{p: /}, {p: /x}]}]
  alone: 1
mixed: {m: [1, {a: 1, b: null}, "s", [2, 3]], n: [[1, 2], [3]]}
nils: {a: null, b: 1, c: {d: null}}
nilitem: {a: [1, null]}
keys: {"a.b": 1, "": 2, "ü": 3, "with space": {x: 1}, "under_score-dash": 4, "q\"t": 5}
strings: {s: "quote \" back \\ nl \n tab \t cr \r ff \f bell \u0007 esc \u001b fs \u001c del \u007f é 😀"}
floats: {a: 1000000, b: 123456, c: 0.000001, d: 1.5, e: -0.0, f: 1e21, g: 100, h: -7.25, i: 1e-7}
empty: {a: {}, b: [], c: "", d: {e: {}}}
deep: {a: {b: {c: {d: 1}, e: [1]}, f: 2}, g: 3}
tables: [{a: 1}, {b: 2}]
"#;

const TEMPLATE: &str = r#"
{{- range $k, $v := .Values }}
--- {{ $k }}
{{ toToml $v }}
{{- end }}
--- scalars
{{ toToml "a" }}|{{ toToml 1 }}|{{ toToml 1.5 }}|{{ toToml true }}|{{ toToml (list 1 "x") }}|{{ toToml (list) }}
--- typed
{{ toToml (dict "n" (int 5) "m" (int64 7) "f" (float64 2) "l" (splitList "," "a,b")) }}
--- must
{{ mustToToml (dict "a" (dict "b" 1)) }}
--- whole
{{ toToml .Values }}
"#;

const CHART: &str = "apiVersion: v2\nname: toml\nversion: 1.0.0\n";

#[test]
fn to_toml_writes_what_helm_writes() {
    let chart = common::files(&[
        ("Chart.yaml", CHART),
        ("values.yaml", VALUES),
        ("templates/cm.txt", TEMPLATE),
    ]);
    let (want, got) = common::both_render(chart);
    assert_eq!(got, want);
}

/// `mustToToml` fails with the encoder's error; either function given no value at all fails
/// with the panic of Go's reflection.
#[test]
fn failing_encodes_fail_as_helms() {
    for template in [
        "x: {{ mustToToml .Values }}\n",
        "x: {{ toToml .Values.missing }}\n",
        "x: {{ mustToToml nil }}\n",
    ] {
        let chart = common::files(&[
            ("Chart.yaml", CHART),
            ("values.yaml", "a: [1, null]\n"),
            ("templates/cm.txt", template),
        ]);
        let (want, got) = common::both_fail(chart);
        assert_eq!(got, want, "{template}");
    }
}

/// `fromToml` decodes as BurntSushi/toml does for Helm: `int64` integers, nested tables and
/// arrays of tables, dates as their text (seaweedfs reads its security settings so); a text
/// that does not parse gives a map holding only `Error` (its words are the toml crate's).
#[test]
fn from_toml_reads_as_helm_does() {
    let files = common::files(&[
        ("Chart.yaml", "apiVersion: v2\nname: ft\nversion: 1.0.0\n"),
        (
            "values.yaml",
            "toml: |\n  a = 1\n  b = 1.5\n  s = \"x\"\n  t = true\n  arr = [1, \"two\", 3.0]\n  [jwt.signing]\n  key = \"k\"\n  [[servers]]\n  name = \"a\"\n  [[servers]]\n  name = \"b\"\n  dt = 1979-05-27T07:32:00Z\nbad: \"a = \"\n",
        ),
        (
            "templates/a.yaml",
            "empty: {{ fromToml \"\" | toJson }}\nparsed: {{ fromToml .Values.toml | toJson }}\ndig: {{ dig \"jwt\" \"signing\" \"key\" \"default\" (fromToml .Values.toml) }}\ntypes: {{ (fromToml .Values.toml).a | typeOf }} {{ (fromToml .Values.toml).arr | typeOf }} {{ (fromToml .Values.toml).jwt | typeOf }}\nn: {{ add1 (fromToml .Values.toml).a }}\nbad: {{ fromToml .Values.bad | keys }}\n",
        ),
    ]);
    let (want, got) = common::both_render(files);
    assert_eq!(got, want);
}
