//! A function asked for a string (or list of numbers) larger than any template's output may be
//! fails at once with a limit error, as the write of such a string would, instead of filling
//! memory for minutes past the render's deadline first.

use std::time::{Duration, Instant};

use gantry_helm::{Request, render};

mod common;

fn render_one(template: &str, max_output: usize) -> Result<String, String> {
    render(Request {
        chart: common::files(&[
            ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n"),
            ("templates/t.yaml", template),
        ]),
        max_output,
        ..Request::default()
    })
    .map(|r| r.templates["c/templates/t.yaml"].clone())
    .map_err(|e| e.to_string())
}

#[test]
fn a_huge_indent_or_repeat_fails_at_once() {
    for (func, t) in [
        ("indent", "{{ \"x\" | indent 1000000000000 }}"),
        ("nindent", "{{ \"x\" | nindent 1000000000000 }}"),
        ("repeat", "{{ repeat 1000000000000 \"ab\" }}"),
        ("indent", "{{ \"x\" | indent 9223372036854775807 }}"),
        ("repeat", "{{ repeat 9223372036854775807 \"ab\" }}"),
    ] {
        let started = Instant::now();
        let err = render_one(t, 64 << 20).expect_err(t);
        assert!(
            err.contains(&format!("{func} would make a string over 67108864 bytes")),
            "{t}: {err}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{t}");
    }
}

#[test]
fn up_to_the_limit_the_string_is_made() {
    assert_eq!(
        render_one("a: {{ repeat 8 \"ab\" }}", 19).unwrap(),
        "a: abababababababab"
    );
    let err = render_one("a: {{ repeat 10 \"ab\" }}", 19).unwrap_err();
    assert!(
        err.contains("repeat would make a string over 19 bytes"),
        "{err}"
    );
    assert_eq!(
        render_one("a: {{ \"b\" | indent 3 }}", 19).unwrap(),
        "a:    b"
    );
}

#[test]
fn a_huge_until_or_seq_fails_at_once() {
    for (func, t) in [
        ("until", "{{ range until 1000000000000 }}{{ end }}"),
        ("untilStep", "{{ len (untilStep 0 9223372036854775807 1) }}"),
        (
            "untilStep",
            "{{ len (untilStep 0 -9223372036854775807 -2) }}",
        ),
        ("seq", "{{ seq 1000000000000 }}"),
    ] {
        let err = render_one(t, 64 << 20).expect_err(t);
        assert!(
            err.contains(&format!("{func} would make ")) && err.contains("more than the 33554432"),
            "{t}: {err}"
        );
    }
    // Up to the limit the numbers are made, as Sprig makes them.
    assert_eq!(
        render_one("a: '{{ until 3 }} {{ untilStep 10 0 -4 }} {{ seq 2 }}'", 30).unwrap(),
        "a: '[0 1 2] [10 6 2] 1 2'"
    );
    assert_eq!(render_one("a: {{ len (until 15) }}", 30).unwrap(), "a: 15");
    let err = render_one("a: {{ len (until 16) }}", 30).unwrap_err();
    assert!(
        err.contains("until would make 16 numbers, more than the 15"),
        "{err}"
    );
}
