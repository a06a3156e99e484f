//! `toYamlPretty` writes what Helm v4's own library (helm-python-sdk, go-yaml v3's encoder with
//! an indent of 2) writes: sequences indented under their key, v3's quoting and literal blocks,
//! numbers as the Go values they are, v3's key order, folding at 80 columns, non-ASCII text, and
//! its uses inside `nindent` and `tpl` as camunda's chart makes them.

mod common;

use gantry_helm::render;

const CHART: &str = "apiVersion: v2\nname: pretty\nversion: 1.0.0\n";

const VALUES: &str = r##"
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          labelSelector:
            matchExpressions:
              - key: app.kubernetes.io/component
                operator: In
                values: [zeebe-broker]
          topologyKey: kubernetes.io/hostname
nested: {a: [x, {p: 1, q: [1, 2], r: {s: [[1, 2], [a]]}}], b: [[[3]]], c: [{}, [], {d: []}]}
empty: {m: {}, l: [], s: ""}
numbers: {int: 3, big: 12345678901234567890, million: 1000000, port: 8080, half: 0.5, neg: -7.25, tiny: 0.000001, exp: 1e21, negzero: -0.0, small: 1e-7, float: 1.0}
bools: {t: true, f: false}
strings:
  multi: "multi\nline\n"
  multinotrail: "multi\nline"
  multitrail2: "line1\n\nline3\n\n"
  leadspace: "  lead"
  trailspace: "trail "
  tab: "a\tb"
  tabmulti: "a\tb\nc"
  trailspacemulti: "trail \nx"
  leadbreak: "\nx"
  crlf: "a\r\nb"
  "yes": "yes"
  "no": "No"
  "on": "on"
  "y": "y"
  "true": "true"
  "null": "null"
  tilde: "~"
  int: "123"
  octal: "0o17"
  oldoctal: "0777"
  hex: "0x1F"
  float: "1.0"
  exp: "1e5"
  inf: ".inf"
  base60: "1:20"
  base60f: "190:20:30.15"
  date: "2001-12-14"
  datetime: "2001-12-14t21:59:43.10-05:00"
  notdate: "2001-13-14"
  colon: "a: b"
  hash: "#comment"
  hashmid: "a #b"
  dash: "- x"
  star: "*x"
  amp: "&x"
  bang: "!x"
  quote: "'q'"
  dquote: "\"q\""
  percent: "%x"
  at: "@x"
  backtick: "`x"
  brace: "{x}"
  bracket: "[x]"
  comma: "a,b"
  question: "?x"
  pipe: "|x"
  gt: ">x"
  docstart: "---"
  docend: "..."
  backslash: "a\\b"
  control: "a\u0007b"
  del: "a\u007fb"
  nbsp: "a\u00a0b"
  nel: "a\u0085b"
  ls: "a\u2028b"
  bom: "\ufeffx"
  nonascii: "é ü ß 日本語"
  emoji: "x 😀 y"
  url: "http://example.com:8080/path?q=1#frag"
  long: "this is a very long string with many words that goes on and on past the eighty column limit for sure yes it does"
  longquoted: "yes this is a very long string with many words that goes on and on past the eighty column: limit for sure"
  longdouble: "tab\tthis is a very long string with many words that goes on and on past the eighty column limit for sure"
  longword: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbb"
  longspaces: "word  word  word  word  word  word  word  word  word  word  word  word  word  word  word  word  word"
  onlybreak: "\n"
  onlyspace: " "
  breakspace: "a\n "
  spacebreak: " \nb"
  onlytab: "\t"
  tabtrail: "a\t\n"
  crmulti: "a\rb\nc"
  lsmulti: "a\u2028b\nc"
  longmulti: "first line\nthis is a very long string with many words that goes on and on past the eighty column limit for sure\n"
keys:
  a1: 1
  a10: 2
  a2: 3
  1a: 4
  1_: 5
  1b: 6
  1-: 7
  a b: 8
  "x\ny": 9
  "": 10
  "yes": 11
  "123": 12
  "a: b": 13
  "#k": 14
  "01": 15
  "0a": 16
  B: 17
  _x: 18
  Ä: 19
  é: 20
  a-b: 21
  a_b: 22
  "2001-12-14": 23
  "this key is rather long, and it goes on past the eighty column limit for sure, yes it does, and more than 128 bytes": 24
  "1.5": 25
  "k\tv": 26
  "x 😀": 27
  "this key is rather long, and it goes on past the eighty column limit for sure, yes it does, and more than one hundred and twenty-eight bytes": 28
  "é long key with non-ASCII letters, ü ß 日本語, past one hundred and twenty-eight bytes of UTF-8 text, but not of characters": 29
  "k ": 30
  "3a": 32
  "٣a": 33
  "aⅫ": 34
  "a٣": 35
  "a0٣": 36
  "a\u0301": 37
  " k": 31
lists:
  - [null, "multi\nline", "x\n", {a: "multi\nline\n", "b\nc": [1, {d: "x\ny"}]}]
  - [[["deep\ntext"]], [{}, []]]
  - {k: [{a: 1, b: [{c: 2}]}]}
"##;

const TEMPLATE: &str = r#"
{{- range $k, $v := .Values }}
--- {{ $k }}
{{ toYamlPretty $v }}
{{- end }}
--- indented
spec:
  affinity:
    {{- toYamlPretty .Values.affinity | nindent 4 }}
--- tpl
{{ tpl "{{ toYamlPretty .Values.affinity }}" . }}
{{ tpl "{{ toYamlPretty .value }}" (dict "value" .Values.nested "Template" .Template) }}
--- scalars
{{ toYamlPretty 3 }}|{{ toYamlPretty nil }}|{{ toYamlPretty .Values.missing }}|{{ toYamlPretty "x\ny" }}|{{ toYamlPretty "" }}|{{ toYamlPretty "yes" }}|{{ toYamlPretty true }}
--- typed
{{ toYamlPretty (float64 8000000) }}|{{ toYamlPretty (int64 5) }}|{{ toYamlPretty (float64 "inf") }}|{{ toYamlPretty (float64 "-inf") }}|{{ toYamlPretty (float64 "NaN") }}|{{ toYamlPretty (div 7 2) }}|{{ toYamlPretty 1.5 }}
--- lists
{{ toYamlPretty (list 1 "a" (dict "x" (list 1 2)) (list (list 3)) (list) (dict)) }}
{{ toYamlPretty (splitList "," "a,b,,yes") }}
{{ toYamlPretty (list) }}|{{ toYamlPretty (dict) }}|{{ toYamlPretty (list nil (dict "a" nil)) }}
--- parsed
{{ toYamlPretty (fromYaml "a: 1\nb: [x, 2.5, 1000000]\nc: {d: yes}") }}
{{ toYamlPretty (fromJson "{\"a\": 1, \"b\": [1.5, 1e6, \"x\"]}") }}
--- bytes
{{ toYamlPretty (.Files.GetBytes "files/x.txt") }}
--- whole
{{ toYamlPretty .Values }}
"#;

#[test]
fn to_yaml_pretty_writes_what_helm_writes() {
    let chart = common::files(&[
        ("Chart.yaml", CHART),
        ("values.yaml", VALUES),
        ("files/x.txt", "hi"),
        ("templates/cm.txt", TEMPLATE),
    ]);
    let (want, got) = common::both_render(chart);
    for (path, text) in &want {
        let ours = got.get(path).map(String::as_str).unwrap_or("");
        if ours != text {
            for (i, (a, b)) in ours.lines().zip(text.lines()).enumerate() {
                assert_eq!(a, b, "{path}: line {}", i + 1);
            }
        }
    }
    assert_eq!(got, want);
}

/// camunda-platform's use (values.yaml's affinity written under a pod spec with `nindent`), as
/// /tmp/pretty-repro rendered it: the sequences indented under their keys.
#[test]
fn camundas_affinity_renders_as_helm_renders_it() {
    let chart = common::files(&[
        ("Chart.yaml", CHART),
        (
            "values.yaml",
            "affinity:\n  podAntiAffinity:\n    preferredDuringSchedulingIgnoredDuringExecution:\n      - weight: 100\n        podAffinityTerm:\n          topologyKey: kubernetes.io/hostname\n",
        ),
        (
            "templates/cm.yaml",
            "affinity:\n  {{- toYamlPretty .Values.affinity | nindent 2 }}\n",
        ),
    ]);
    let (want, got) = common::both_render(chart);
    assert_eq!(got, want);
    assert_eq!(
        got["pretty/templates/cm.yaml"],
        "affinity:\n  podAntiAffinity:\n    preferredDuringSchedulingIgnoredDuringExecution:\n      - podAffinityTerm:\n          topologyKey: kubernetes.io/hostname\n        weight: 100\n"
    );
}

/// A value Gantry does not encode as go-yaml's reflection would (a Go struct) fails the call
/// with an error naming the function, rather than print something else than Helm.
#[test]
fn objects_fail_naming_the_function() {
    let chart = common::files(&[
        ("Chart.yaml", CHART),
        (
            "templates/cm.txt",
            "x: {{ toYamlPretty .Capabilities.KubeVersion }}\n",
        ),
    ]);
    let err = render(common::request(chart))
        .expect_err("Gantry does not encode objects")
        .to_string();
    assert!(err.contains("toYamlPretty"), "{err}");
}
