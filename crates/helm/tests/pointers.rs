//! Printing a pointer inside a map or slice: Go prints its address (different on every run);
//! charts reach it by using the root context as a `dict` key (bitnami/envoy-gateway passes an
//! odd number of arguments to `dict`), so it must render, with a fixed address of Go's form.

mod common;

use std::collections::BTreeMap;

use gantry_helm::render;

fn render_template(text: &str) -> String {
    let mut chart = BTreeMap::new();
    chart.insert(
        "Chart.yaml".to_owned(),
        b"apiVersion: v2\nname: c\nversion: 0.1.0\n".to_vec(),
    );
    chart.insert("templates/t.yaml".to_owned(), text.as_bytes().to_vec());
    let r = render(common::request(chart)).expect("renders");
    assert!(r.nondeterministic.is_empty());
    r.templates["c/templates/t.yaml"].clone()
}

#[test]
fn the_root_context_as_a_dict_key_renders() {
    // dict "value" 1 "extra" "context" $: the root context becomes a key (printed with its
    // pointers) whose value is "".
    assert_eq!(
        render_template(
            r#"{{- $d := dict "value" 1 "extra" "context" $ }}{{ $d.value }} {{ len $d }}"#
        ),
        "1 3"
    );
}

#[test]
fn a_pointer_in_a_list_prints_an_address_of_gos_form() {
    let out = render_template(r#"{{ list .Capabilities 1 }}"#);
    assert!(out.starts_with("[0xc000") && out.ends_with(" 1]"), "{out}");
    assert_eq!(out, render_template(r#"{{ list .Capabilities 1 }}"#));
}
