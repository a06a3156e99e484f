//! Tabs where go-yaml v2 (Helm's `fromYaml`, values files) reads a block's indentation or the
//! next token: at a line's start, after a block sequence's `-`, in a block scalar's
//! indentation. YAML 1.2 (granit) takes them as blank space in some of those places, so a
//! values file Helm refuses rendered here. Each input must render as Helm v4's own library
//! renders it; a few that both refuse are refused in other words (listed apart).

mod common;

/// The same outcome as Helm's library, word for word.
const SAME: &[&str] = &[
    r#"\ta: 1"#,
    r#"a: 1\n\t\n"#,
    r#"a: 1\n  \n\t# c\n"#,
    r#"a:\tb"#,
    r#"a: [1,\t2]"#,
    r#"- \ta"#,
    r#"a: \"x\n\ty\""#,
    r#"a:\n  b: x\n   \ty"#,
    r#"a: 1 \t\n"#,
    r#"a: 1\t# c"#,
    r#"\t\n"#,
    r#"#c\n\t#d\na: 1"#,
    r#"a: x\n \ty"#,
    r#"{a: 1,\n\tb: 2}"#,
    r#"a: 1\n \t\n"#,
    r#"? a\n:\tb"#,
    r#"a: b\t\nc: d"#,
    r#"-\ta"#,
    r#"a:\n\t\n  b: 1"#,
    r#"a: |\n  x\n\t\n"#,
    r#"a: |\n  \tx\n"#,
    r#"a: 'x\n\ty'"#,
    r#"- a\n\t\n- b"#,
    r#"a:\n  - b\n  - \tc"#,
    r#"a: \tb"#,
    r#"a:\t b"#,
    r#"a:\t# c"#,
    r#"a: 1\nb:\t\n"#,
    r#"a:\n  - \tx"#,
    r#"? a\n: \tb"#,
    r#"a: [\t1]"#,
    r#"a: {b:\t1}"#,
    r#"a: 'x'\t"#,
    r#"a:\t\n  b: 1"#,
    r#"- a\n-\tb"#,
    r#"a: b # x\t"#,
    r#"a: |\n  x\t\n"#,
    // A character of more than one byte at the block's start (this panicked).
    r#"a: |\n\n  ü\n\t\n"#,
    r#"- |\n  日本\n\t\n"#,
];

/// Refused by both, in granit's words here.
const BOTH_FAIL: &[&str] = &[
    r#"a:\n\tb: 1"#,
    r#"a: |\n  x\n\ty\n"#,
    r#"a: x\n\ty"#,
    r#"a:\n  - x\n\t- y"#,
    r#"a: 1\n\tb: 2"#,
    r#"a:\n  b: 1\n  \tc: 2"#,
    r#"a: >\n  ü\n\tb\n"#,
];

#[test]
fn tabs_read_as_go_yaml_reads_them() {
    let (want, got) = common::from_yaml_both(SAME);
    for (w, g) in want.lines().zip(got.lines()) {
        assert_eq!(g, w);
    }
}

#[test]
fn tabs_both_refuse_are_refused() {
    let (want, got) = common::from_yaml_both(BOTH_FAIL);
    for (w, g) in want.lines().zip(got.lines()) {
        assert!(w.contains("error converting YAML to JSON: yaml:"), "{w}");
        assert!(
            g.contains("error converting YAML to JSON: yaml: line"),
            "{g}"
        );
    }
}

/// A values file with a line holding only a tab: Helm refuses it.
#[test]
fn a_values_file_with_a_tab_line_is_refused() {
    let chart = common::files(&[
        ("Chart.yaml", "apiVersion: v2\nname: tabs\nversion: 1.0.0\n"),
        ("values.yaml", "a: 1\n\t\nb: 2\n"),
        ("templates/cm.yaml", "a: {{ .Values.a }}\n"),
    ]);
    let (want, got) = common::both_fail(chart);
    assert!(
        want.contains("line 2: found a tab character that violates indentation"),
        "{want}"
    );
    assert!(
        got.contains("line 2: found a tab character that violates indentation"),
        "{got}"
    );
}
