//! The `%YAML` and `%TAG` lines before a document, read as go-yaml v2 reads them (Helm's
//! `fromYaml` and values files): a version other than 1.1, a duplicate, an unknown directive
//! name or a malformed line fail with go-yaml's words and line, where YAML 1.2 (granit) takes
//! `%YAML 1.2` and ignores `%FOO`. Each input must render as Helm v4's own library does.

mod common;

const INPUTS: &[&str] = &[
    "%FOO bar\\n---\\na: 1",
    "%FOO bar baz\\n---\\na: 1",
    "%foo\\n---\\n1",
    "%FOO\\n",
    "%YAML 1.1\\n---\\na: 1",
    "%YAML 1.2\\n---\\na: 1",
    "%YAML 2.0\\n---\\na: 1",
    "# c\\n\\n%YAML 1.2\\n---\\na: 1",
    "%YAML 1.1\\n%YAML 1.1\\n---\\na: 1",
    "%YAML 1.1\\na: 1",
    "%YAML 1.1\\n",
    "%YAML 1.1",
    "%YAML 1.1 # c\\n--- \\na: 1",
    "%YAML 1.1\\n...\\n---\\na: 1",
    "%YAML 1.1\\n%FOO\\n---\\n",
    "%YAML 1.2\\n%FOO\\n",
    "%YAML\\n---\\na: 1",
    "%YAML 1.1 x\\n---\\na: 1",
    "%YAML 1.1x\\n---\\n",
    "%YAML 1x1\\n---\\n",
    "%YAML 1234567890.1\\n---\\n",
    "%YAML .1\\n---\\n",
    "%YAML 1.\\n---\\n",
    "%\\n---\\n",
    "%YA-ML 1\\n",
    "%YAML!\\n",
    "%TAG ! tag:x,2000:\\n---\\na: 1",
    "%TAG !x! tag:x,2000:\\n---\\na: !x!y 1",
    "---\\na: 1\\n...\\n%FOO\\n---\\nb: 2",
    "a: 1\\n%FOO\\n",
    "- a\\n%FOO bar\\n",
    "a: |\\n  x\\n%FOO\\n",
    // Only the first document is read: what follows it fails nothing.
    "a: 1\\n%YAML 1.1\\n",
    "a: 1\\n...\\nb: : 2",
    "a: 1\\n---\\nb: : c",
    "- 1\\n...\\n%YAML 1.1\\n---\\n- 2",
];

#[test]
fn directives_read_as_go_yaml_reads_them() {
    let (want, got) = common::from_yaml_both(INPUTS);
    assert_eq!(got.lines().count(), want.lines().count());
    for (w, g) in want.lines().zip(got.lines()) {
        assert_eq!(g, w);
    }
}

#[test]
fn a_values_file_of_yaml_1_2_is_refused_as_helm_refuses_it() {
    let chart = common::files(&[
        ("Chart.yaml", "apiVersion: v2\nname: dirs\nversion: 1.0.0\n"),
        ("values.yaml", "%YAML 1.2\n---\na: 1\n"),
        ("templates/cm.yaml", "a: {{ .Values.a }}\n"),
    ]);
    let (want, got) = common::both_fail(chart);
    assert!(want.contains("found incompatible YAML document"), "{want}");
    assert!(got.contains("found incompatible YAML document"), "{got}");
}
