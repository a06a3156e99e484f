//! A map that contains itself (a template makes one with `set`) never overflows the render's
//! stack: `toJson`, `toYaml` and `mustToJson` end as Helm v4's own library ends them
//! (encoding/json's cycle error), `deepEqual` and `has` as reflect.DeepEqual does, and
//! `toToml`, `toYamlPretty`, `deepCopy` and `%v`, which recurse in Go until its stack limit
//! ends Helm's process, fail the render with an error. Every other function given one ends too.

mod common;

use std::collections::BTreeMap;

use gantry_helm::render;

const CYCLE: &str = r#"{{- $d := dict "a" 1 }}{{- $_ := set $d "self" $d }}"#;

fn chart(template: &str) -> BTreeMap<String, Vec<u8>> {
    common::files(&[
        ("Chart.yaml", "apiVersion: v2\nname: cyc\nversion: 1.0.0\n"),
        ("templates/cm.txt", &format!("{CYCLE}{template}\n")),
    ])
}

#[test]
fn json_yaml_and_equality_of_maps_inside_themselves_end_as_helms() {
    for template in [
        "j: {{ toJson $d }}|{{ toPrettyJson $d }}|{{ toRawJson $d }}\ny: {{ toYaml $d }}",
        "x: {{ mustToJson $d }}",
        "{{ $b := dict \"a\" 1 }}{{ $_ := set $b \"self\" $b }}\
         e: {{ deepEqual $d $b }} {{ has $d (list $b) }} {{ deepEqual $d (dict \"a\" 1) }}",
    ] {
        let files = chart(template);
        match common::helm_renders(&files) {
            Ok(want) => {
                let got = render(common::request(files)).expect("Gantry renders it");
                assert_eq!(got.templates, want, "{template}");
            }
            Err(want) => {
                let got = render(common::request(files))
                    .expect_err("Gantry fails")
                    .to_string();
                assert_eq!(got, want, "{template}");
            }
        }
    }
}

#[test]
fn toml_and_printing_of_a_map_inside_itself_fail() {
    for (template, says) in [
        (
            "x: {{ toToml $d }}",
            "toToml of a value that contains itself",
        ),
        (
            "x: {{ mustToToml $d }}",
            "mustToToml of a value that contains itself",
        ),
        (
            "x: {{ toYamlPretty $d }}",
            "toYamlPretty of a value that contains itself",
        ),
        (
            "x: {{ deepCopy $d | len }}",
            "deepCopy of a value nested more than",
        ),
        ("x: {{ $d }}", "nested more than"),
        ("x: {{ printf \"%v\" $d }}", "nested more than"),
    ] {
        let err = render(common::request(chart(template)))
            .expect_err("a value inside itself cannot be written")
            .to_string();
        assert!(err.contains(says), "{template}: {err}");
    }
}

/// Every function of a render, given a map that contains itself (alone, inside a list, twice,
/// beside a string or a number), and `.Values` made to contain itself: each render ends, in
/// output or in an error, and none panics. Go recurses until its stack limit ends Helm's
/// process for most of these (fmt, mergo, reflect.DeepEqual's callers); a reconciler must go on.
#[test]
fn no_function_overflows_on_a_map_inside_itself() {
    let funcs = gantry_helm::engine::funcs();
    let mut names: Vec<&str> = funcs.names().into_iter().collect();
    names.sort_unstable();
    let setup =
        r#"{{- $l := list $d }}{{- $_ := set $d "l" $l }}{{- $_ := set .Values "self" .Values }}"#;
    let mut template = String::new();
    for name in &names {
        for args in [
            "$d", "$l", "$d $d", "\"a\" $d", "$d \"a\"", "$l $d", "1 $d", ".Values",
        ] {
            template.clear();
            template.push_str(setup);
            template.push_str(&format!("x: {{{{ {name} {args} }}}}"));
            let files = chart(&template);
            // Output or an error are both fine; a panic fails the test, an overflow aborts it.
            if let Err(e) = render(common::request(files)) {
                let e = e.to_string();
                assert!(!e.contains("panic"), "{name} {args}: {e}");
            }
        }
    }
    assert!(names.len() > 150, "{} functions", names.len());
}
