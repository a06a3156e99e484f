//! Methods charts call on what `toDate` and `semver` return, found by a helper's outside check
//! (2026-12-05): `time.Time`'s `Month`, `Weekday`, `AddDate`, `Before` and friends, and
//! `semver.Version`'s `IncMajor`, `IncMinor` and `IncPatch`, whose results are values (no
//! pointer-receiver methods). Each renders as Helm v4's own library (helm-python-sdk) does.

mod common;

const TEMPLATE: &str = r#"{{- $t := toDate "2006-01-02" .Values.released }}
a: {{ $t.Year }} {{ $t.Month }} {{ $t.Weekday }} {{ $t.YearDay }} {{ $t.Nanosecond }} {{ $t.UnixMilli }} {{ $t.UnixNano }} {{ $t.IsZero }}
b: {{ $t.AddDate 0 1 1 }} | {{ $t.AddDate 0 8 1 | date "2006-01-02" }} | {{ $t.AddDate -1 -7 -31 }} | {{ ($t.AddDate 0 0 400).Weekday }}
c: {{ $t.Before ($t.AddDate 0 0 1) }} {{ $t.After ($t.AddDate 0 0 1) }} {{ $t.Equal ($t.AddDate 0 0 0) }} {{ (toDate "2006-01-02" "0001-01-01").IsZero }}
d: {{ $t.Month | toJson }} {{ $t.Weekday | kindOf }} {{ $t.Month | typeOf }} {{ printf "%v %s" $t.Month $t.Month }}
e: {{ (semver .Chart.AppVersion).IncMinor }} {{ (semver .Chart.AppVersion).IncMajor }} {{ (semver .Chart.AppVersion).IncPatch }} {{ (semver "1.2.3+x").IncPatch }} {{ (semver "1.2.3").IncPatch | typeOf }} {{ (semver "1.2.3").IncMinor | toJson }}
f: {{ ((semver "1.2.3").IncMinor).Minor }} {{ (semver "1.2.3").IncMinor | kindOf }} {{ ((semver "v1.2.3").IncMajor).IncPatch }}
g: {{ $t.AddDate 0 0 0 | toJson }} {{ (toDate "2006-01-02T15:04:05Z07:00" "2024-01-31T23:30:00+05:30").AddDate 0 1 0 }}
"#;

fn chart(template: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    common::files(&[
        (
            "Chart.yaml",
            "apiVersion: v2\nname: tm\nversion: 1.0.0\nappVersion: v1.2.3-rc.1+b5\n",
        ),
        ("values.yaml", "released: \"2024-06-30\"\n"),
        ("templates/a.yaml", template),
    ])
}

#[test]
fn renders_as_helm_does() {
    let (want, got) = common::both_render(chart(TEMPLATE));
    assert_eq!(got, want);
}

#[test]
fn a_pointer_method_on_a_returned_version_fails_as_helm_does() {
    let (want, got) = common::both_fail(chart("{{ ((semver \"v1.2.3\").IncPatch).Original }}\n"));
    assert_eq!(got, want);
}
