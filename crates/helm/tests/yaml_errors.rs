//! What `fromYaml` puts under `Error` for a character no YAML token begins with (`@`, `` ` ``,
//! a `%` past a line's start, `|` or `>` in a flow): go-yaml's own words and line, which a
//! chart that prints the error shows (nats prints it after `printf "%s"` of an unset image).
//! Each must render as Helm v4's own library (helm-python-sdk) does.

mod common;

use gantry_helm::render;

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
    let mut template = String::new();
    for (i, text) in inputs.iter().enumerate() {
        template.push_str(&format!(
            "e{i}: {{{{ fromYaml \"{text}\" | toJson }}}}\nl{i}: {{{{ fromYamlArray \"{text}\" | toJson }}}}\n"
        ));
    }
    let chart = common::files(&[
        ("Chart.yaml", "apiVersion: v2\nname: errs\nversion: 1.0.0\n"),
        ("templates/cm.yaml", template.as_str()),
    ]);
    let want = common::helm_renders(&chart).expect("Helm renders it");
    let got = render(common::request(chart)).expect("Gantry renders it");
    assert_eq!(got.templates, want);
}
