//! Go's and Sprig's readings that outside checks found Gantry reading otherwise (helper
//! sessions, 2026-12-05): `fromJson` of `null` (a nil map), a float past float64's range (a
//! string to go-yaml, 0 to `float64`), `$01` in a replacement (a name, not group 1), `İ`
//! lowered to `i`, dates out of range (the zero time, or `mustToDate`'s error), a parsed
//! offset's zone name (`+0200`), `deepCopy` of nil (reflection's panic as the error), and
//! regular expressions' `{` that starts no repetition, octal escapes and `\Q...\E`, and
//! encoding/json's syntax errors in `fromJson`'s `Error`.
//! Each renders as Helm v4's own library (helm-python-sdk) renders it.

mod common;

const TEMPLATE: &str = r#"ra: {{ regexMatch "^a{,2}$" "a{,2}" }} {{ regexFind "x{,3}" "ax{,3}b" }} {{ regexMatch "^a{2}$" "aa" }} {{ regexMatch "^a{2,}$" "aaa" }} {{ regexMatch "^a{1,2}$" "aaa" }} {{ regexMatch "a{" "a{" }} {{ regexMatch "^a{x}$" "a{x}" }} {{ regexMatch "^{}$" "{}" }} {{ regexMatch "^[{]$" "{" }} {{ regexMatch "^a{1,}b{,}$" "ab{,}" }}
rb: {{ regexMatch "^\\101$" "A" }} {{ regexReplaceAll "\\101" "BAB" "-" }} {{ regexMatch "^[\\101-\\132]+$" "ABZ" }} {{ regexMatch "^\\0101$" "\x081" | quote }} {{ regexMatch "^\\18$" "\x018" }}
rc: {{ regexFind "\\Qa.b\\E" "xa.by" }} {{ regexMatch "^\\Qa.b$" "a.b$" }} {{ regexMatch "^\\Q(a)\\E+$" "(a))" }} {{ regexReplaceAll "\\Q$\\E" "a$b" "-" }} {{ regexMatch "(?i)\\Qab\\E" "AB" }}
f1: {{ fromJson "null" | toJson }} {{ fromJsonArray "null" | toJson }} {{ fromYaml "null" | toJson }} {{ fromYaml "" | toJson }} {{ fromYamlArray "null" | toJson }} {{ fromYamlArray "" | toJson }}
f2: {{ fromJson "null" | kindOf }} {{ fromJson "null" | typeOf }} {{ len (fromJson "null") }} {{ fromJson "null" }} {{ fromJsonArray "null" }} {{ empty (fromJson "null") }}
f3: {{ fromYaml "~" | toJson }} {{ mustFromJson "null" | toJson }} {{ fromJson " null " | toJson }}
n1: {{ float64 "1e400" }} {{ float64 "-1e400" }} {{ float64 "1e308" }} {{ float64 "1e-400" }} {{ float64 "0x1p-2" }}
r1: {{ regexReplaceAll "(a)" "a" "$01" | quote }} {{ regexReplaceAll "(a)" "a" "${01}" | quote }} {{ regexReplaceAll "(a)" "a" "$1" | quote }} {{ regexReplaceAll "(?P<x>a)" "a" "$x" | quote }} {{ regexReplaceAll "(a)" "a" "$00" | quote }} {{ regexReplaceAll "(a)" "a" "$0" | quote }} {{ regexReplaceAll "(a)" "a" "$010" | quote }}
p2: {{ printf "%[é]d" }} | {{ printf "%[é]d" "%.é" 7 }} | {{ printf "%[1]d %[3]d %d" 1 2 }} | {{ printf "%[0]d" 1 }} | {{ printf "%[2]*d" 1 5 }} | {{ printf "%[x" 1 }} | {{ printf "%[" 1 }} | {{ printf "%[1" 1 }} | {{ printf "%.[2]d" 1 2 }} | {{ printf "%[2]d %d" 1 2 3 }} | {{ printf "%[5]s %s" "a" }} | {{ printf "%[1]" 1 }}
l2: {{ swapcase "ǅemo ǈx ǋy Ⅻ ⅻ ⓐ Ⓐ ª ᾈ ᾳ" }} | {{ upper "ᾳ ᾀ ῳ ῃ ᾼ ǅ ß" }} | {{ title "ᾳx ῳy" }} | {{ snakecase "ⅫRoman" }} | {{ camelcase "ⅻ_x" }} | {{ kebabcase "aⅫb" }}
l1: {{ lower "İstanbul" }} {{ snakecase "İstanbul" }} {{ untitle "İstanbul" }} {{ swapcase "İstanbul" }} {{ upper "ß" }} {{ title "ǆa" }} {{ camelcase "İi_x" }} {{ kebabcase "İx" }}
t1: {{ toDate "2006-01-02" "2023-02-29" }} | {{ toDate "2006-01-02 15:04" "2024-01-10 24:00" }} | {{ toDate "2006-01-02" "2024-02-30" }} | {{ toDate "2006-01-02" "2024-02-29" }} | {{ toDate "15:04:05" "23:59:60" }} | {{ toDate "2006-01-02" "2024-04-31" }} | {{ toDate "2006-01-02" "2024-00-10" }}
t2: {{ toDate "2006-01-02T15:04:05Z07:00" "2024-02-03T10:00:00+02:00" }} | {{ toDate "2006-01-02T15:04:05Z07:00" "2024-02-03T10:00:00+05:30" }} | {{ toDate "2006-01-02T15:04:05Z07:00" "2024-02-03T10:00:00Z" }} | {{ toDate "2006-01-02T15:04:05-0700" "2024-02-03T10:00:00-0800" }}
v1: {{ .Values.big }} {{ kindOf .Values.big }} {{ .Values.small }} {{ kindOf .Values.small }} {{ .Values.neg }} {{ kindOf .Values.neg }} {{ .Values.ok }}
v2: {{ fromYaml "a: 1e400" | toJson }} {{ fromYaml "a: [1e999, -1e999, 1.8e308]" | toJson }}
"#;

fn chart(template: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    chart_with(&[
        (
            "values.yaml",
            "big: 1e400\nsmall: 1e-400\nneg: -1e400\nok: 1e300\n",
        ),
        ("templates/a.yaml", template),
    ])
}

/// The chart `qf` with `files` beside its `Chart.yaml`.
fn chart_with(files: &[(&str, &str)]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut all = vec![("Chart.yaml", "apiVersion: v2\nname: qf\nversion: 1.0.0\n")];
    all.extend_from_slice(files);
    common::files(&all)
}

#[test]
fn renders_as_helm_does() {
    let extra = "y: {{ toYaml (dict \"a\" \"1e400\" \"b\" \"1e300\" \"c\" \"-1e999\") | nindent 2 }}\n\
                 x: {{ regexReplaceAll \"(?P<x>a)(b)\" \"abab\" \"${x}-$2-$02-$3-$$-$-${x\" | quote }}\n";
    let files = chart(&format!("{TEMPLATE}{extra}"));
    let (want, got) = common::both_render(files);
    assert_eq!(got, want);
}

#[test]
fn fails_as_helm_does() {
    for template in [
        "{{ .Values.missing | deepCopy | toJson }}",
        "{{ mustDeepCopy nil }}",
        "{{ mustToDate \"2006-01-02\" \"2024-02-30\" }}",
        "{{ mustToDate \"2006-01-02 15:04\" \"2024-01-10 24:00\" }}",
        "{{ mustToDate \"2006-01-02 03:04\" \"2024-01-10 13:00\" }}",
        "{{ mustToDate \"15:04:05\" \"23:60:00\" }}",
        "{{ mustToDate \"2006-1-2\" \"2024-13-2\" }}",
    ] {
        let files = chart(template);
        let (want, got) = common::both_fail(files);
        assert_eq!(got, want, "{template}");
    }
}

/// `fromJson`'s and `fromJsonArray`'s `Error` for text that is not JSON: encoding/json's
/// scanner's words (ess-helm prints them), for each state it can fail in.
#[test]
fn json_syntax_errors_are_encoding_json_s() {
    let files = chart(JSON_ERRORS);
    let (want, got) = common::both_render(files);
    assert_eq!(got, want);
}

const JSON_ERRORS: &str = r#"j0: {{ fromJson "0755" | toJson }} {{ fromJsonArray "0755" | toJson }}
j1: {{ fromJson "tru" | toJson }} {{ fromJsonArray "tru" | toJson }}
j2: {{ fromJson "{" | toJson }} {{ fromJsonArray "{" | toJson }}
j3: {{ fromJson "[1,]" | toJson }} {{ fromJsonArray "[1,]" | toJson }}
j4: {{ fromJson "{\"a\" 1}" | toJson }} {{ fromJsonArray "{\"a\" 1}" | toJson }}
j5: {{ fromJson "{\"a\":1,}" | toJson }} {{ fromJsonArray "{\"a\":1,}" | toJson }}
j6: {{ fromJson "[1 2]" | toJson }} {{ fromJsonArray "[1 2]" | toJson }}
j7: {{ fromJson "\"a\\x\"" | toJson }} {{ fromJsonArray "\"a\\x\"" | toJson }}
j8: {{ fromJson "\"\\u12g4\"" | toJson }} {{ fromJsonArray "\"\\u12g4\"" | toJson }}
j9: {{ fromJson "-" | toJson }} {{ fromJsonArray "-" | toJson }}
j10: {{ fromJson "-a" | toJson }} {{ fromJsonArray "-a" | toJson }}
j11: {{ fromJson "1." | toJson }} {{ fromJsonArray "1." | toJson }}
j12: {{ fromJson "1.e5" | toJson }} {{ fromJsonArray "1.e5" | toJson }}
j13: {{ fromJson "1e" | toJson }} {{ fromJsonArray "1e" | toJson }}
j14: {{ fromJson "1e+" | toJson }} {{ fromJsonArray "1e+" | toJson }}
j15: {{ fromJson "nul" | toJson }} {{ fromJsonArray "nul" | toJson }}
j16: {{ fromJson "fals" | toJson }} {{ fromJsonArray "fals" | toJson }}
j17: {{ fromJson "{1:2}" | toJson }} {{ fromJsonArray "{1:2}" | toJson }}
j18: {{ fromJson "'a'" | toJson }} {{ fromJsonArray "'a'" | toJson }}
j19: {{ fromJson "\"a\"b" | toJson }} {{ fromJsonArray "\"a\"b" | toJson }}
j20: {{ fromJson "{\"a\":1}x" | toJson }} {{ fromJsonArray "{\"a\":1}x" | toJson }}
j21: {{ fromJson "[" | toJson }} {{ fromJsonArray "[" | toJson }}
j22: {{ fromJson "  " | toJson }} {{ fromJsonArray "  " | toJson }}
j23: {{ fromJson "01" | toJson }} {{ fromJsonArray "01" | toJson }}
j24: {{ fromJson "1 2" | toJson }} {{ fromJsonArray "1 2" | toJson }}
j25: {{ fromJson "\"\t\"" | toJson }} {{ fromJsonArray "\"\t\"" | toJson }}
j26: {{ fromJson "[1,2]]" | toJson }} {{ fromJsonArray "[1,2]]" | toJson }}
j27: {{ fromJson "{\"a\":[1}" | toJson }} {{ fromJsonArray "{\"a\":[1}" | toJson }}
j28: {{ fromJson "é" | toJson }} {{ fromJsonArray "é" | toJson }}
j29: {{ fromJson "{\"a\":{\"b\":[true,false,null]}} " | toJson }} {{ fromJsonArray "{\"a\":{\"b\":[true,false,null]}} " | toJson }}
j30: {{ fromJson "\u0001" | toJson }} {{ fromJsonArray "\u0001" | toJson }}
j31: {{ fromJson "[-]" | toJson }} {{ fromJsonArray "[-]" | toJson }}
j32: {{ fromJson "[0.5e-3]" | toJson }} {{ fromJsonArray "[0.5e-3]" | toJson }}
j33: {{ fromJson "{\"a\"}" | toJson }} {{ fromJsonArray "{\"a\"}" | toJson }}
j34: {{ fromJson "}" | toJson }} {{ fromJsonArray "}" | toJson }}
j35: {{ fromJson "]" | toJson }} {{ fromJsonArray "]" | toJson }}
j36: {{ fromJson "," | toJson }} {{ fromJsonArray "," | toJson }}
j37: {{ fromJson "[\"a\",]" | toJson }} {{ fromJsonArray "[\"a\",]" | toJson }}
j38: {{ fromJson "nulls" | toJson }} {{ fromJsonArray "nulls" | toJson }}
j39: {{ fromJson "truex" | toJson }} {{ fromJsonArray "truex" | toJson }}
"#;

/// A field of a `range` variable whose element is held in an interface (a `[]interface{}`'s, a
/// `map[string]interface{}`'s) names `interface {}` in Go's error, as for dot (groundhog2k's
/// charts, when an `extra*` list holds a string); a variable declared from it holds the
/// value itself.
#[test]
fn range_variables_name_their_static_type() {
    for template in [
        "{{ range $c := .Values.l }}{{ $c.name }}{{ end }}",
        "{{ range $k, $v := .Values.m }}{{ $v.x }}{{ end }}",
        "{{ range $c := .Values.ll }}{{ $c.x }}{{ end }}",
        "{{ $c := \"\" }}{{ range $c = .Values.l }}{{ $c.x }}{{ end }}",
        "{{ range $c := list \"a\" }}{{ $c.x }}{{ end }}",
        "{{ range $c := .Values.l }}{{ $d := $c }}{{ $d.x }}{{ end }}",
        "{{ range $k, $v := .Values.m }}{{ $k.x }}{{ end }}",
    ] {
        let files = common::files(&[
            ("Chart.yaml", "apiVersion: v2\nname: rv\nversion: 1.0.0\n"),
            ("values.yaml", "l: [\"a\"]\nm: {a: true}\nll: [[1]]\n"),
            ("templates/a.yaml", template),
        ]);
        let (want, got) = common::both_fail(files);
        assert_eq!(got, want, "{template}");
    }
}

/// A schema `pattern` Go's RE2 cannot compile (a lookbehind, a lookahead) makes the schema
/// invalid in Helm; the default engine of the jsonschema crate took it and rendered.
#[test]
fn schema_patterns_beyond_re2_are_refused() {
    for pattern in [r"(?<=a)b", r"^[a-z]{2,}(?=x)"] {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"a": {"type": "string", "pattern": pattern}}
        })
        .to_string();
        let files = common::files(&[
            ("Chart.yaml", "apiVersion: v2\nname: s\nversion: 1.0.0\n"),
            ("values.yaml", "a: abx\n"),
            ("values.schema.json", schema.as_str()),
            ("templates/a.yaml", "a: {{ .Values.a }}\n"),
        ]);
        let (want, got) = common::both_fail(files);
        assert!(want.contains("is not valid regex"), "{want}");
        assert!(got.contains("is not valid regex"), "{got}");
    }
}

/// JSON that Go's decoder takes and serde_json refuses: a lone surrogate escape (U+FFFD), a
/// number past float64 (Go's `UnmarshalTypeError`, after which the rest is decoded and that
/// value left nil beside `Error`), nesting deeper than serde_json's 128 levels.
#[test]
fn json_go_decodes_where_serde_json_refuses() {
    let inputs = [
        r#"{"a":"\ud800x"}"#,
        r#"{"a":"\udc00\ud800"}"#,
        r#"{"a":"\ud83d\ude00 \ud83dx \ud83d\u0041"}"#,
        r#"{"a":1,"b":1e400,"c":[1,-1e999,2],"d":"x"}"#,
        "[1,1e400,3]",
        "1e400",
        r#"{"a":[1e400]}"#,
        r#""\ud800""#,
        r#"[{"a":1e309}]"#,
        r#"{"a":"\u00e9\ud800\u00e9"}"#,
    ];
    let mut template = String::new();
    for (i, t) in inputs.iter().enumerate() {
        let lit = serde_json::to_string(t).expect("a JSON string");
        template.push_str(&format!(
            "o{i}: {{{{ fromJson {lit} | toJson }}}}\na{i}: {{{{ fromJsonArray {lit} | toJson }}}}\n"
        ));
    }
    let deep = format!("{{\"x\":{}{}}}", "[".repeat(200), "]".repeat(200));
    let lit = serde_json::to_string(&deep).expect("a JSON string");
    template.push_str(&format!("deep: {{{{ fromJson {lit} | toJson | len }}}}\n"));
    let (want, got) = common::both_render(chart(&template));
    assert_eq!(got, want);
}

/// A chart whose `kubeVersion` the default Kubernetes does not meet: Helm's engine (what
/// `--helm-templates` prints) renders it, and `helm template` (the stream) refuses it.
#[test]
fn kube_version_is_checked_for_the_stream_only() {
    let files = common::files(&[
        (
            "Chart.yaml",
            "apiVersion: v2\nname: kv\nversion: 1.0.0\nkubeVersion: \"<1.0.0\"\n",
        ),
        ("templates/a.yaml", "a: 1\n"),
    ]);
    let (want, got) = common::both_render(files.clone());
    assert_eq!(got, want);
    let mut req = common::request(files);
    req.stream = true;
    let err = gantry_helm::render(req).expect_err("the stream checks it");
    assert!(
        err.to_string()
            .contains("chart requires kubeVersion: <1.0.0 which is incompatible with Kubernetes"),
        "{err}"
    );
}

/// Strings with control characters through `toJson` and its kin: encoding/json since Go 1.22
/// writes `\b` and `\f` short (found by a differential fuzz of values files, 2026-12-06).
#[test]
fn control_characters_in_json_are_go_s() {
    let files = chart_with(&[
        (
            "values.yaml",
            "s: \"a\\bb\\fc\\x01d\\x1fe\\tf\\ng\\rh\\x7f\"\nl: [\"\\b\", \"\\f\"]\n",
        ),
        (
            "templates/a.yaml",
            "a: {{ toJson .Values }}\nb: {{ toRawJson .Values }}\nc: {{ mustToJson .Values }}\nd: {{ toPrettyJson .Values }}\ne: {{ mustToRawJson .Values.l }}\n",
        ),
    ]);
    let (want, got) = common::both_render(files);
    assert_eq!(got, want);
}

/// A block scalar that ends a values file without a line break after it: Helm reads the file
/// through k8s.io's `YAMLReader`, which hands its last line back with one, so `|` keeps it
/// (`"x\n"`); `fromYaml` of the same text reads it as go-yaml does (`"x"`). Found by the same
/// fuzz.
#[test]
fn a_block_scalar_at_the_very_end_reads_as_go_yaml_reads_it() {
    for values in [
        "k: |\n  x",
        "k: |-\n  x",
        "k: |+\n  x",
        "k: >\n  x",
        "k: >-\n  x",
        "k: >+\n  x",
        "k: |\n  x\n  y",
        "a:\n  k: |\n    x",
        "l:\n- |\n  x",
        "k: |\n  x  ",
        "k: |\n  x\n",
        "k: |\n  x\n\n",
        "k: |+\n  x\n\n",
        "k: |\n  x\n  ",
        "k: >\n  x\n\n  y",
    ] {
        let (want, got) = values_and_from_yaml(values);
        assert_eq!(got, want, "{values:?}");
    }
}

/// `values` read as the chart's `values.yaml` and by `fromYaml` from a file, each printed by
/// `toJson`, by Helm's library and by Gantry: (Helm's templates, Gantry's).
fn values_and_from_yaml(
    values: &str,
) -> (
    std::collections::BTreeMap<String, String>,
    std::collections::BTreeMap<String, String>,
) {
    common::both_render(chart_with(&[
        ("values.yaml", values),
        ("data.yaml", values),
        (
            "templates/a.yaml",
            "a: {{ toJson .Values }}\nb: {{ .Files.Get \"data.yaml\" | fromYaml | toJson }}\n",
        ),
    ]))
}

/// go-yaml v2 starts a plain scalar at a `-` before a flow indicator inside a flow collection
/// (`[-]` is `["-"]` in Helm), which YAML 1.2 refuses (Gantry did). Found by the values fuzz.
#[test]
fn a_dash_before_a_flow_indicator_is_a_string() {
    let values = "a: [-]\nb: [x, -]\nc: {d: -}\ne: [-, y]\nf: {-: 1}\ng: [-: 1]\nh: {x: [-]}\ni: [{b: -}]\nj: [-,-]\nk: -]\nl: [--, -x]\n";
    let (want, got) = values_and_from_yaml(values);
    assert_eq!(got, want);
}

/// A float key is written as sigs.k8s.io/yaml writes it: float32's shortest digits, and past
/// float32's range YAML's `.inf` (Gantry wrote `+Inf`). Found by the values fuzz.
#[test]
fn float_keys_are_float32_s() {
    let values =
        "1e39: a\n-1e39: b\n3.14159265358979: c\n0.1: d\n3.4e38: e\n1.5: f\n-.nan: h\n1e-50: i\n";
    let (want, got) = values_and_from_yaml(values);
    assert_eq!(got, want);
}
