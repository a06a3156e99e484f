//! A map that contains itself (a template makes one with `set`) never overflows the render's
//! stack: `toJson`, `toYaml` and `mustToJson` end as Helm v4's own library ends them
//! (encoding/json's cycle error), `deepEqual` and `has` as reflect.DeepEqual does, and `toToml`, `deepCopy` and `%v`, which recurse in Go until
//! its stack limit ends Helm's process, fail the render with an error.

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
