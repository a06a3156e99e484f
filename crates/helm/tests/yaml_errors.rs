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
