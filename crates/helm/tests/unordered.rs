//! `keys` and `values` give a map's entries in Go's random map order, so Helm's output changes
//! from one run to the next wherever that order shows. Gantry gives them sorted and marks the
//! render nondeterministic when the order can show: ranged over, printed, joined, serialized,
//! indexed; not when it cannot: sorted first, counted, tested, or a single entry.

mod common;

use std::collections::BTreeMap;

use gantry_helm::render;

const SHOWS_ORDER: &[&str] = &[
    r#"{{ keys .Values.m | join "," }}"#,
    r#"{{ keys .Values.m | toJson }}"#,
    r#"{{ toYaml (values .Values.m) }}"#,
    r#"{{ keys .Values.m }}"#,
    r#"{{ print (keys .Values.m) }}"#,
    r#"{{ printf "%v" (keys .Values.m) }}"#,
    r#"{{ index (keys .Values.m) 0 }}"#,
    r#"{{ first (keys .Values.m) }}"#,
    r#"{{ range keys .Values.m }}{{ . }}{{ end }}"#,
    r#"{{ keys .Values.m | uniq | join "," }}"#,
    r#"{{ $k := keys .Values.m }}{{ $k | quote }}"#,
];

const HIDES_ORDER: &[&str] = &[
    r#"{{ keys .Values.m | sortAlpha | join "," }}"#,
    r#"{{ len (keys .Values.m) }}"#,
    r#"{{ has "a" (keys .Values.m) }}"#,
    r#"{{ keys .Values.one | join "," }}"#,
    r#"{{ if keys .Values.m }}some{{ end }}"#,
    r#"{{ include "count" (keys .Values.m) }}"#,
    r#"{{ empty (values .Values.m) }}"#,
];

fn chart(template: &str) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    files.insert(
        "Chart.yaml".to_owned(),
        b"apiVersion: v2\nname: unordered\nversion: 0.1.0\n".to_vec(),
    );
    files.insert(
        "values.yaml".to_owned(),
        b"m: {b: 2, a: 1, c: 3}\none: {only: 1}\n".to_vec(),
    );
    files.insert(
        "templates/_count.tpl".to_owned(),
        br#"{{ define "count" }}{{ len . }}{{ end }}"#.to_vec(),
    );
    files.insert("templates/t.yaml".to_owned(), template.as_bytes().to_vec());
    files
}

#[test]
fn a_render_is_nondeterministic_exactly_where_a_maps_order_shows() {
    let mut problems = Vec::new();
    for (text, shows) in SHOWS_ORDER
        .iter()
        .map(|t| (t, true))
        .chain(HIDES_ORDER.iter().map(|t| (t, false)))
    {
        match render(common::request(chart(text))) {
            Ok(r) if r.nondeterministic.is_empty() == shows => problems.push(format!(
                "{text}: nondeterministic {:?}, expected {}",
                r.nondeterministic,
                if shows { "a reason" } else { "none" }
            )),
            Ok(_) => {}
            Err(e) => problems.push(format!("{text}: {e}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
