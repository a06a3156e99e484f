//! Values files as Helm v4's `loader.LoadValues` reads them: documents split as k8s.io's
//! `YAMLReader` splits them, each parsed on its own, and the errors Helm gives. Every expected
//! message was printed by Helm v4.2.3's library (helm-python-sdk) on 2026-12-01.

use gantry_gotmpl::Value;
use gantry_helm::chart::load_values;

fn error(src: &str) -> String {
    match load_values(src) {
        Ok(_) => panic!("{src:?} loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn documents_split_at_separator_lines_and_errors_name_lines_within_their_document() {
    let m = load_values("a: 1\n--- # a comment\nb: 2\n---\n\n---\nc: 3\n").expect("values");
    for (k, v) in [("a", 1), ("b", 2), ("c", 3)] {
        assert!(
            matches!(m.get(k), Some(Value::Float(f)) if f == v as f64),
            "{k}"
        );
    }
    assert_eq!(
        error("a: 1\n--- b: 2\n"),
        "error reading yaml document: invalid Yaml document separator: b: 2"
    );
    assert_eq!(
        error("a: 1\n----\nb: 2\n"),
        "error reading yaml document: invalid Yaml document separator: -"
    );
    // The separator is checked before the document before it is parsed.
    assert_eq!(
        error("x: [\n--- b: 2\n"),
        "error reading yaml document: invalid Yaml document separator: b: 2"
    );
    // Line 1 of the third document, not line 5 of the file (Helm's own words for the syntax
    // error itself differ: "did not find expected node content").
    assert!(error("a: 1\n---\n\n---\nb: [\n").starts_with(
        "cannot unmarshal yaml document: error converting YAML to JSON: yaml: line 1: "
    ));
    // The first failure in reading order wins, though every document is parsed first.
    assert_eq!(
        error("- a\n---\nb: [\n"),
        "cannot unmarshal yaml document: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}"
    );
    assert_eq!(
        error("- a\n"),
        "cannot unmarshal yaml document: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}"
    );
}

#[test]
fn an_escaped_surrogate_is_refused_as_go_yaml_refuses_it() {
    // A pair too, which a YAML 1.2 parser joins into one character.
    for src in [
        "s: \"\\ud83d\\ude00\"\n",
        "s: \"\\ud83d\"\n",
        "s: \"a\\U0000D800\"\n",
    ] {
        assert_eq!(
            error(src),
            "cannot unmarshal yaml document: error converting YAML to JSON: yaml: found invalid Unicode character escape code",
            "{src}"
        );
    }
    // go-yaml names the line of the escape unless it is the first.
    assert_eq!(
        error("a: 1\ns: \"x\n  \\ud83d\\ude00\"\n"),
        "cannot unmarshal yaml document: error converting YAML to JSON: yaml: line 3: found invalid Unicode character escape code"
    );
    // Not an escape: single quotes, and an escaped backslash.
    let m = load_values("s: 'a\\ud83d'\nt: \"a\\\\ud83d\"\n").expect("values");
    assert_eq!(
        m.get("s")
            .and_then(|v| v.as_str().map(str::to_owned))
            .as_deref(),
        Some("a\\ud83d")
    );
    assert_eq!(
        m.get("t")
            .and_then(|v| v.as_str().map(str::to_owned))
            .as_deref(),
        Some("a\\ud83d")
    );
}
