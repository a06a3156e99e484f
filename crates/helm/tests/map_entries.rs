//! Maps of every size render as Helm renders them: `gantry_gotmpl::Entries` keeps a small map
//! as a sorted vector and turns it into a B-tree past 32 entries, so each case here crosses
//! that size (from a values file, and key by key from a template, in reverse and shuffled
//! order, then smaller again) and is rendered by Helm's own library beside Gantry.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use gantry_helm::render;

mod common;

const CHART: &str = "apiVersion: v2\nname: maps\nversion: 1.0.0\n";

/// What every case prints of a map `$m`: its order, its JSON and YAML, lookups, and the
/// functions that build other maps from it.
const SHOW: &str = "
  range: '{{ range $k, $v := $m }}{{ $k }}={{ $v }},{{ end }}'
  json: {{ toJson $m | quote }}
  yaml: {{ toYaml $m | quote }}
  keys: {{ keys $m | sortAlpha | join \",\" | quote }}
  len: {{ len $m }}
  has: {{ hasKey $m \"k7\" }}-{{ hasKey $m \"k8\" }}-{{ index $m \"k9\" | default \"none\" }}
  pick: {{ pick $m \"k1\" \"k33\" \"nope\" | toJson | quote }}
  omit: {{ omit $m \"k1\" \"k2\" | keys | len }}
  merged: {{ merge (dict \"k1\" \"mine\" \"new\" 1) $m | toJson | quote }}
  over: {{ mergeOverwrite (dict \"k1\" \"mine\" \"new\" 1) $m | toJson | quote }}
";

fn values() -> String {
    // 40 keys in a values file, written out of order, one of them twice (the last one counts).
    let mut v = String::from("big:\n");
    for i in (0..40).rev() {
        let _ = writeln!(v, "  k{i}: {i}");
    }
    v.push_str("  k5: twice\nsmall: {b: 2, a: 1, c: {y: 1, x: 2}}\n");
    v
}

fn cases() -> Vec<(&'static str, String)> {
    let filled = |order: &str, then: &str| {
        format!(
            "{{{{- $m := dict }}}}{{{{- range $i := {order} }}}}{{{{- $_ := set $m (printf \"k%d\" $i) $i }}}}{{{{- end }}}}{then}\nr:{SHOW}"
        )
    };
    vec![
        (
            "a values file's map of 40 keys",
            format!("{{{{- $m := .Values.big }}}}\nr:{SHOW}"),
        ),
        (
            "a values file's small maps",
            format!("{{{{- $m := .Values.small }}}}\nr:{SHOW}"),
        ),
        (
            "40 keys set in reverse",
            filled("(reverse (until 40))", ""),
        ),
        (
            "40 keys set out of order, then most unset",
            filled(
                "(list 17 3 39 0 25 8 31 12 1 36 20 5 28 10 33 2 22 14 38 7 26 9 30 4 19 35 11 24 6 37 15 29 13 34 18 27 16 32 21 23)",
                "{{- range $i := until 30 }}{{- $_ := unset $m (printf \"k%d\" $i) }}{{- end }}",
            ),
        ),
        (
            "32 keys, then one more, then the same again",
            filled(
                "(until 32)",
                "{{- $_ := set $m \"k32\" \"more\" }}{{- $_ := set $m \"k32\" \"again\" }}{{- $_ := set $m \"k0\" \"first\" }}",
            ),
        ),
        (
            "a dict of 40 pairs, one key twice",
            "{{- $m := dict \"k3\" 1 \"k1\" 2 \"k2\" 3 \"k4\" 4 \"k5\" 5 \"k6\" 6 \"k7\" 7 \"k8\" 8 \"k9\" 9 \"k10\" 10 \"k11\" 11 \"k12\" 12 \"k13\" 13 \"k14\" 14 \"k15\" 15 \"k16\" 16 \"k17\" 17 \"k18\" 18 \"k19\" 19 \"k20\" 20 \"k21\" 21 \"k22\" 22 \"k23\" 23 \"k24\" 24 \"k25\" 25 \"k26\" 26 \"k27\" 27 \"k28\" 28 \"k29\" 29 \"k30\" 30 \"k31\" 31 \"k32\" 32 \"k33\" 33 \"k34\" 34 \"k35\" 35 \"k36\" 36 \"k37\" 37 \"k38\" 38 \"k1\" \"last\" }}\nr:"
                .to_owned()
                + SHOW,
        ),
    ]
}

#[test]
fn maps_across_the_small_size_render_as_helm_renders_them() {
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let values = values();
    let charts: Vec<BTreeMap<String, Vec<u8>>> = cases()
        .iter()
        .map(|(_, t)| {
            let mut files = common::files(&[("Chart.yaml", CHART), ("values.yaml", &values)]);
            files.insert("templates/t.yaml".into(), t.as_bytes().to_vec());
            files
        })
        .collect();
    let mut jobs = Vec::new();
    for (i, files) in charts.iter().enumerate() {
        let dir = tmp.path().join(format!("c{i}"));
        common::write_chart(&dir, files);
        jobs.push(serde_json::json!({"chart": dir, "values": null}));
    }
    let answers = common::helm_oracle(&jobs);
    let mut problems = Vec::new();
    for (((name, _), files), want) in cases().iter().zip(charts).zip(answers) {
        let want: Result<BTreeMap<String, String>, String> =
            match want.get("error").and_then(|e| e.as_str()) {
                Some(e) => Err(e.to_owned()),
                None => Ok(serde_json::from_value(want["templates"].clone()).expect("templates")),
            };
        let got = render(common::request(files))
            .map(|r| r.templates)
            .map_err(|e| e.to_string());
        if want.is_err() || want != got {
            problems.push(format!("{name}: Helm {want:?}, Gantry {got:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
