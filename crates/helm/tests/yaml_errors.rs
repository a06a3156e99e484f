//! What `fromYaml` puts under `Error` for a character no YAML token begins with (`@`, `` ` ``,
//! a `%` past a line's start, `|` or `>` in a flow): go-yaml's own words and line, which a
//! chart that prints the error shows (nats prints it after `printf "%s"` of an unset image).
//! Each must render as Helm v4's own library (helm-python-sdk) does.

mod common;

#[test]
fn characters_that_start_no_token_fail_as_go_yaml_says() {
    let inputs = [
        "image: %!s(<nil>):1.0",
        "name: reloader\\nx: 1\\nimage: %!s(<nil>):1.0",
        "a: @b",
        "a: 1\\nb: `c`",
        "{a: |}",
        "[x, >]",
        "- a\\n- @",
        "a: b@c",
    ];
    let (want, got) = common::from_yaml_both(&inputs);
    assert_eq!(got, want);
}

/// The syntax errors values strings meet most, found printed by bjw-s common (immich), SigNoz
/// and envoy gateway's charts: go-yaml's words, at the line libyaml notices them (a key with no
/// `:` is noticed where the scan after it stops), with no line on the first.
#[test]
fn common_syntax_errors_fail_as_go_yaml_says() {
    let inputs = [
        "image: reg\\nline one\\ntag: v1\\n",
        "image: reg\\nline one\\n\\n# c\\n\\ntag: v1\\n",
        "a: 1\\nfoo",
        "a: 1\\nfoo\\n",
        "a: 1\\nfoo\\n\\n",
        "a:\\n  b: 1\\n  c\\n  d: 2\\n",
        "a:\\n  b: 1\\n  c\\n",
        "a: |\\n b\\nc\\n",
        "? a\\n? b\\nc",
        "image: a\\npullPolicy: line one\\nline two\\n",
        "foo\\na: 1\\n",
        "a: b: c",
        "x: 1\\na: b: c",
        "a: 1\\n b: 2\\n",
        "a: [1, 2",
        "a: [1, 2\\n",
        "a: {b: 1",
        "a: {b: 1\\n",
        "a: &x 1\\nb: *y",
        "a: *unknown\\n",
        "- a\\nb: 1\\n",
        "a: 1\\n- b\\n",
        "a:\\n  - 1\\n - 2\\n",
        "a: 'x",
        "a: \\\"x",
        "a: 'x\\n",
        "b: 1\\na: 'x",
        "a: 1\\n\\tb: 2\\n",
        "a: *",
        "a: &",
        "a: !<x",
        "image: {{ .Release.Name }}\\n",
        "a: {[1, 2]: x}\\n",
        "x: {{'z': 1, 10: 2, 9: 3, a: [1], 1.5: f, 0.5: g, true: b, false: c, ~: n, 18446744073709551615: u}: 0}\\n",
    ];
    let (want, got) = common::from_yaml_both(&inputs);
    assert_eq!(got, want);
}

/// A character go-yaml's reader refuses (C0 and C1 controls, DEL, U+FFFE), anywhere in the
/// text: its reader's error, with no line.
#[test]
fn control_characters_fail_as_go_yaml_says() {
    let inputs = [
        "a\\u0000b",
        "a: \\u0001",
        "a: 1\\nb: \\u007f",
        "a: \\u0080",
        "a: \\u009f",
        "a: \\\"x\\u0007\\\"",
        "a: 1\\n\\u000b",
        "a: \\ufffe",
        "# \\u0002\\na: 1",
        "a: 'q\\u001b'",
    ];
    let (want, got) = common::from_yaml_both(&inputs);
    assert_eq!(got, want);
}

/// A chart whose values file is `values` and whose one template prints them as JSON.
fn values_chart(values: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    common::files(&[
        ("Chart.yaml", "apiVersion: v2\nname: ye\nversion: 1.0.0\n"),
        ("values.yaml", values),
        ("templates/a.yaml", "{{ toJson .Values }}\n"),
    ])
}

/// A values file with a null key, an alias inside the node its anchor names, or a `?` key
/// where none may start: Helm's words (`%+#v` of the value the key had, no line for a decode
/// error or a scanner error on the first line), found by a differential fuzz (2026-12-05).
#[test]
fn values_files_fail_in_helms_words() {
    for values in [
        "k: {null: c}\n",
        "k:\n  null: [1, {a: b}]\n",
        "k: {~: 1.5e6, b: 2}\n",
        "k: {null: {x: ~}}\n",
        "k: &a [1, *a]\n",
        "a: &a\n  b: *a\n",
        "a: &a 1\nb: &a [*a]\n",
        "x: &a {b: [*a, *a]}\n",
        "x: &a [*a]\ny:\n  <<: [1]\n",
        "x: &a {b: *a}\ny: : z\n",
        "a: ? b\n",
        "x: 1\na: ? b\n",
    ] {
        let (want, got) = common::both_fail(values_chart(values));
        assert_eq!(got, want, "{values}");
    }
}

/// A values file is read a `---` separated part at a time, and of each part only its first
/// document (go-yaml's `Unmarshal`): a directive or a `...` ends it, and nothing after it in
/// that part is read.
#[test]
fn each_part_of_a_values_file_is_its_first_document() {
    for values in [
        "a: 1\n%YAML 1.1\n",
        "a: 1\n...\nb: : 2\n",
        "a: 1\n...\nb: 2\n",
        "a: 1\n...\n%YAML 1.1\n---\nb: 2\n",
        "a: |\n  x\n...\nc: [\n",
    ] {
        let (want, got) = common::both_render(values_chart(values));
        assert_eq!(got, want, "{values}");
    }
}

/// A `?` inside a plain scalar in a flow collection (a URL's query in `[...]` or `{...}`):
/// go-yaml v2 ends the scalar there and fails on the key indicator after it, where YAML 1.2
/// (granit) reads the `?` as part of the scalar and Gantry rendered what Helm refuses. Through
/// `fromYaml` and as a chart's `values.yaml`, with go-yaml's words and its line counted from 0;
/// a `?` in a quoted scalar, in block context, in a comment or before a space reads as before.
#[test]
fn a_question_mark_inside_a_flow_scalar_fails_as_go_yaml_says() {
    let inputs = [
        "a: [http://x/y?z=1]",
        "a: {u: http://x/y?z=1}",
        "a:\\n  b: [x?y]",
        "a: [x,\\n  y?z]",
        "k: 1\\nl: 2\\nm: [x?y]",
        "a: {u?: y}",
        "a: [x ?y]",
        "a: [k?: v]",
        "a: [k: v?]",
        "a: {x: [y?]}",
        "a: [x?\\n  ]",
        "a: ['?', \\\"?\\\", x]",
        "a: x?y",
        "a: [? x]",
        "# why?\\na: [1, 2]\\nb: {c: d} # ok?",
    ];
    let (want, got) = common::from_yaml_both(&inputs);
    assert_eq!(got, want);
    for values in [
        "a: [http://x/y?z=1]\n",
        "a:\n  b: {u: x?y}\n",
        "k: 1\nl: 2\nm: [x?y]\n",
    ] {
        let (want, got) = common::both_fail(values_chart(values));
        assert_eq!(got, want, "{values:?}");
    }
}

/// A `?` that starts a flow collection's entry with no space after it opens a mapping to
/// go-yaml v2 (`[x, ?y]` is `[x, {y: null}]` in Helm) and is a plain scalar to YAML 1.2:
/// refused, naming it, rather than read otherwise.
#[test]
fn a_question_mark_starting_a_flow_entry_is_refused() {
    let err = gantry_helm::render(common::request(values_chart("a: [x, ?y]\n")))
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("yaml: line 1: \"?y\": a `?` that starts a flow collection's entry is a mapping key to go-yaml, which Gantry does not read"),
        "{err}"
    );
}
