//! What a differential fuzz of 28,754 templates against Helm v4's own library (helm-python-sdk)
//! found in Go's `fmt` (2026-12-05): integers as Go's `fmtInteger` lays them out (`%#O`,
//! `%#07x`, `%+.0d` of zero, `%U` of a negative), `%c` and `%q` past the last code point,
//! floats in `%x`, `%X` and `%b` and with `#`, `%#v` of maps and slices, a nil element printed
//! unpadded, `%p` of a value that is no pointer, a bad `*` width or precision, and the words of
//! `eq`, `slice`, `index` of a string, a malformed character constant and `call`.

mod common;

const TEMPLATE: &str = r#"i1: {{ printf "%#d|%U|%#U|%.6U|%07U|%c|%q|%+q|%#q|%#q" 1.5 -1 65 1 0 4294967361 4294967361 233 "\u00ad" "a`b" | quote }}
i2: {{ printf "%#.2v|%.1x|%+.0d|% .0v|%.0O|%#O|%#.2o|%#o|%#07x|%#03x|%.*d|%*d" "abc" "é" 0 0 0 42 1 0 42 7 -5 1 2000000 3 | quote }}
i3: {{ printf "%08.3x|%+x|% x|%010x|%-10x|%+010.2f|% 08d|%+08d|%-+8d|%#b|%O|%x|%X" 1.5 1.5 1.5 -1.5 1.5 -2.5 42 42 42 5 -8 -255 255 | quote }}
i4: {{ printf "%c|%c|%q|%U|%#U|%#U|%5c|%-4q|" -1 55296 55296 1114112 10 233 97 98 | quote }}
f1: {{ printf "%x|%X|%b|%#e|%#f|%#g|%p|%p" 1.5 1.5 1.5 1.5 1.5 1.5 1 "a" | quote }}
f2: {{ printf "%#x|%#.2x|%x|%X|%b|%#e|%#g|%#.3g|%#f|%#.0f|%#.0e" 1.5 1.5 0.0 -2.75 1.5 1.5 1.5 1.5 1.5 2.0 3.0 | quote }}
f3: {{ printf "%#g|%#g|%#g|%#x|%#v|%x|%.3x|%x|%x|%.0x|%.14x" 100000.0 1e7 0.0 0.0 1.5 5e-324 0.1 1e300 -0.0 1.5 0.1 | quote }}
f4: {{ printf "%b|%x|%#G|%#.0g|%#v|%F|%#F" 0.0 2.0 1e21 7.0 100.0 2.5 2.0 | quote }}
x1: {{ printf "%[1]2d|%[1].2d|%[2]*d" 5 3 | quote }}
v1: {{ printf "%6d|%010s|%#v" (list nil) (list nil) (list nil) | quote }}
v2: {{ printf "%#v|%#v|%#v|%#v" (dict "a" 1 "b" (list "x" 1.5 true nil (dict)) "c" nil) (splitList "," "a,b") (list) .Values.missing | quote }}
v3: {{ printf "%#v|%#v|%#v|%#v" (regexFindAll "z" "abc" -1) (.Files.GetBytes "x") (pick .Values "a") .Release | quote }}
v4: {{ printf "%5v|%#5v|%-8v|%#v" (list 1 nil) (list 1 nil) (dict "a" nil) .Values.l | quote }}
"#;

fn chart(template: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    common::files(&[
        ("Chart.yaml", "apiVersion: v2\nname: pv\nversion: 1.0.0\n"),
        ("values.yaml", "a: 1\nx: 2.5\nl: [a, 1, {b: null}]\n"),
        ("templates/a.yaml", template),
    ])
}

#[test]
fn printf_lays_out_values_as_helm_does() {
    let (want, got) = common::both_render(chart(TEMPLATE));
    assert_eq!(got, want);
}

/// Each fails in Helm's words (the `index` of a string that is in range, which gives a
/// `uint8`, stays refused as unsupported).
#[test]
fn these_fail_in_helms_words() {
    for t in [
        "{{ eq (list 1) (list 1) }}",
        "{{ eq (dict \"a\" 1) 2 }}",
        "{{ slice (list 1 2) 2 1 }}",
        "{{ index \"abc\" 3 }}",
        "{{ index \"abc\" 4 }}",
        "{{ index \"abc\" -1 }}",
        "{{ index \"abc\" \"1\" }}",
        "{{ 'ab' }}",
        "{{ '\\x4' }}",
        "{{ '\\z' }}",
        "{{ call .Values.x }}",
        "{{ call nil }}",
        "{{ \"x\" | call }}",
        "{{ call .Values.l 1 2 }}",
    ] {
        let (want, got) = common::both_fail(chart(t));
        assert_eq!(got, want, "{t}");
    }
}

/// Go's syntax of a struct (`&semver.Version{major:0x1, ...}`) is not what its `String`
/// gives, which Gantry printed: it is refused now.
#[test]
fn go_syntax_of_a_struct_is_refused() {
    let files = chart("{{ printf \"%#v\" (semver \"1.2.3\") }}");
    let helm = common::helm_renders(&files).expect("Helm renders it");
    assert!(helm["pv/templates/a.yaml"].starts_with("&semver.Version{"));
    let err = gantry_helm::render(common::request(files)).expect_err("refused");
    assert!(
        err.to_string().contains("%#v is not supported by Gantry"),
        "{err}"
    );
}
