//! What a helper's outside check of 33 repositories found (2026-12-05, 11:15–12:40 UTC), each
//! rendered as Helm v4's own library (helm-python-sdk) renders it: strings cut by bytes
//! (`trunc` inside a character, as a non-ASCII `fullnameOverride` under `trunc 63` does;
//! `wrap`), Go's base64 and base32 decoders, nil slices from regular-expression finds, `float64`
//! of hexadecimal text, `atoi` out of range, a bad verb's width and flags, and merge keys in flow
//! mappings and of aliased sequences.

mod common;

const TEMPLATE: &str = r#"t1: {{ .Values.name | trunc 63 | trimSuffix "-" }}
t2: {{ "aé" | trunc 2 | b64enc }} {{ "éa" | trunc -2 | b64enc }} {{ "aé-" | trunc 2 | trimSuffix "-" | b64enc }} {{ "éa" | trunc -2 | trimPrefix "a" | b64enc }}
t3: {{ printf "%s-%s" .Values.name "x" | trunc 63 | trimSuffix "-" | trunc 80 | quote }}
w1: {{ wrap 4 "café au lait" | quote }} {{ wrap 3 "é é é" | quote }} {{ wrapWith 5 "|" "naïve approach" | quote }}
r1: {{ regexFindAll "[0-9]+" "abc" -1 | toJson }} {{ regexFindAll "a" "abc" 0 | toJson }} {{ mustRegexFindAll "x" "" -1 | toJson }} {{ regexFindAll "[0-9]+" "abc" -1 | kindOf }} {{ regexFindAll "b" "abcb" -1 | toJson }}
r2: {{ regexSplit "x" "abc" 0 | toJson }} {{ regexSplit "x" "" -1 | toJson }} {{ regexSplit "" "" -1 | toJson }} {{ regexSplit "b" "abc" -1 | toJson }}
n1: {{ float64 "0x1F" }} {{ ceil "0x1F" }} {{ round "0x1F" 0 }} {{ int "0x1F" }} {{ float64 "0x1Fp1" }} {{ float64 "0x.8p1" }}
n2: {{ atoi "99999999999999999999" }} {{ atoi "-99999999999999999999" }} {{ atoi "12" }} {{ atoi "1x" }}
p1: {{ printf "%6s|" 8080.0 | quote }} {{ printf "%+d" 8080.0 | quote }} {{ printf "%.2f" 3 | quote }} {{ printf "%-5t|" "x" | quote }} {{ printf "%05s" 1.5 | quote }}
"#;

/// Inputs for `b64dec` and `b32dec`: line breaks, bad padding, trailing bytes, short quanta.
const B64: &[&str] = &[
    "aGVsbG8=x",
    "aGVsbG8=",
    "aGVs\nbG8=",
    "aGVs\r\nbG8=",
    "aGVsbG8",
    "aGVsbG",
    "aGVsbA==",
    "aGVsbA=",
    "aGVsbA=\n=",
    "aGVsbA==\n",
    "aGVsbA==x",
    "=",
    "a===",
    "ab=c",
    "aGVsbG9=",
    "aGVsbG9",
    "",
    "\n",
    "aGVs bG8=",
    "aGVsbG8=\n\n",
    "YQ",
    "YQ=",
    "YR==",
    "!!!!",
];
const B32: &[&str] = &[
    "NBSWY3DP",
    "NBSWY3DP\n",
    "NBSW\r\nY3DP",
    "NBSWY3D",
    "NBSWY===",
    "NBSWY3DPEE======",
    "NBSWY3DPEE=====",
    "NBSWY3DPEE======x",
    "NB======",
    "N=======",
    "NBS=====",
    "nbswy3dp",
    "NBSWY3D=",
    "",
    "MZXW6===",
    "MZXW6YQ=",
    "MZXW6YTB",
    "MZ=XW6YQ",
];

fn chart(template: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let name = "é".repeat(40);
    common::files(&[
        ("Chart.yaml", "apiVersion: v2\nname: qb\nversion: 1.0.0\n"),
        (
            "values.yaml",
            &format!(
                "name: {name}\nf: {{<<: {{a: 1}}, b: 2}}\nlist: [{{<<: {{x: 1}}, true: 2}}]\nm: {{ <<: [{{a: 1}}, {{a: 2, c: 3}}], d: 4 }}\n"
            ),
        ),
        ("templates/a.yaml", template),
        (
            "templates/m.yaml",
            "f: {{ toJson .Values.f }}\nlist: {{ toJson .Values.list }}\nm: {{ toJson .Values.m }}\n",
        ),
    ])
}

#[test]
fn renders_as_helm_does() {
    let mut template = TEMPLATE.to_owned();
    for (i, t) in B64.iter().enumerate() {
        let t = t.replace('\n', "\\n").replace('\r', "\\r");
        template.push_str(&format!("b64_{i}: {{{{ b64dec \"{t}\" | quote }}}}\n"));
    }
    for (i, t) in B32.iter().enumerate() {
        let t = t.replace('\n', "\\n").replace('\r', "\\r");
        template.push_str(&format!("b32_{i}: {{{{ b32dec \"{t}\" | quote }}}}\n"));
    }
    let (want, got) = common::both_render(chart(&template));
    assert_eq!(got, want);
}

#[test]
fn a_merge_of_an_aliased_sequence_fails_as_helm_does() {
    for values in [
        "bases: &bases [{cpu: 1}, {mem: 2}]\nres:\n  <<: *bases\n",
        "s: &s [1]\nres: {<<: *s}\n",
        "a:\n  <<: [1, 2]\n",
        "a:\n  <<: 5\n",
    ] {
        let files = common::files(&[
            ("Chart.yaml", "apiVersion: v2\nname: qb\nversion: 1.0.0\n"),
            ("values.yaml", values),
            ("templates/a.yaml", "x: 1\n"),
        ]);
        let (want, got) = common::both_fail(files);
        assert_eq!(got, want, "{values}");
    }
    // An alias of a mapping, and a written-out sequence of them, merge.
    let files = common::files(&[
        ("Chart.yaml", "apiVersion: v2\nname: qb\nversion: 1.0.0\n"),
        (
            "values.yaml",
            "b: &b {x: 1}\nc: &c {y: 2}\na:\n  <<: [*b, *c, {z: 3}]\nd: {<<: *b, w: 0}\n",
        ),
        ("templates/a.yaml", "{{ toJson .Values }}\n"),
    ]);
    let (want, got) = common::both_render(files);
    assert_eq!(got, want);
}

/// A `[:name:]` inside a class whose name holds multibyte characters: the translation to the
/// regex crate's syntax counted bytes as characters and panicked (found by a fuzz of 42,000
/// calls on multibyte arguments, 2026-12-05). Both refuse the pattern: `regexFind` fails,
/// `regexMatch` (which drops the error) is false.
#[test]
fn a_class_name_with_multibyte_characters_is_refused_as_helm_refuses_it() {
    let chart = |template: &str| {
        common::files(&[
            ("Chart.yaml", "apiVersion: v2\nname: qb\nversion: 1.0.0\n"),
            ("templates/a.yaml", template),
        ])
    };
    let (want, got) = common::both_fail(chart("{{ regexFind \"[[:éé:]\" \"x\" }}"));
    assert!(want.contains("error parsing regexp"), "{want}");
    assert!(got.contains("error parsing regexp"), "{got}");
    let (want, got) = common::both_render(chart(
        "{{ regexMatch \"[[:aé:]]\" \"x\" }} {{ regexMatch \"[[:éé:]\" \"x\" }}",
    ));
    assert_eq!(got, want);
}

/// A date layout with multibyte characters (the layout scan cut one and panicked), a named
/// group Go refuses (`(?P<é>`), and a relative URL whose first segment holds a colon, found by
/// a differential fuzz of 8,000 calls.
#[test]
fn multibyte_layouts_and_group_names_as_helm() {
    let chart = |template: &str| {
        common::files(&[
            ("Chart.yaml", "apiVersion: v2\nname: qb\nversion: 1.0.0\n"),
            ("templates/a.yaml", template),
        ])
    };
    let (want, got) = common::both_render(chart(
        "{{ toDate \"{é}\" \"ééé ééé é\" }} | {{ toDate \"İı\" \"🎉x🎉\" }} | {{ date \"%zz%é 2006\" (toDate \"2006\" \"2024\") }} | {{ regexFind \"(?P<ab_1>x)\" \"x\" }} {{ regexFind \"(?<ab>x)\" \"x\" }} | {{ urlParse \"./a:b\" | toJson }} {{ urlParse \"a/b:c\" | toJson }}",
    ));
    assert_eq!(got, want);
    for template in [
        "{{ regexSplit \"(?P<é>x)\" \"ǅ\" 1 }}",
        "{{ regexFind \"(?<>x)\" \"x\" }}",
        "{{ urlParse \"[[:aé:]]\" }}",
        "{{ urlParse \"1a:b/c?q\" }}",
        "{{ urlParse \"a\\tb\" }}",
    ] {
        let (want, got) = common::both_fail(chart(template));
        assert_eq!(got, want, "{template}");
    }
}
