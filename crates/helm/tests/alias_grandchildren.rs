//! Subcharts of an aliased dependency's own subcharts, named and scoped as Helm v4 leaves them.
//! Helm's `getAliasDependency` replaces each declared dependency with a copy (named by its alias)
//! whose subcharts are shallow copies parented to it, while theirs stay the original's own
//! objects, parented where they were; a chart re-parents its subcharts only when its
//! `Chart.yaml` declares dependencies. So a chart `s` holding `m` holding `x`, declared twice by
//! `p` (as `twin` and as `s`), renders `x` once, at `p/charts/s/charts/m/charts/x` and with the
//! values of whichever place renders last, unless `s` declares `m`. A shallow copy also shares
//! its `Chart.yaml` dependencies, and its subcharts, with the chart it copies: what processing
//! one changes the other then finds. Every expected text was printed by Helm v4.2.3's library
//! (helm-python-sdk 0.2.2) on 2026-12-05.

use std::collections::BTreeMap;

mod common;

const TEMPLATE: &str = "{{ .Template.Name }} | {{ .Template.BasePath }} | {{ .Chart.Name }} | {{ .Values.me }} | {{ .Values.v | default \"-\" }} | {{ keys .Values | sortAlpha | join \",\" }}\n";

type Files = BTreeMap<String, Vec<u8>>;

/// A chart `name` with the template, a `values.yaml` (`me: name` unless given) and, when given,
/// the `dependencies:` of its `Chart.yaml` (as YAML lines).
fn chart(name: &str, deps: Option<&str>, values: Option<&str>) -> Files {
    let mut yaml = format!("apiVersion: v2\nname: {name}\nversion: 1.0.0\n");
    if let Some(d) = deps {
        yaml.push_str(d);
    }
    let me = format!("me: {name}\n");
    common::files(&[
        ("Chart.yaml", yaml.as_str()),
        ("values.yaml", values.unwrap_or(&me)),
        ("templates/t.yaml", TEMPLATE),
    ])
}

/// `sub`'s files in `parent`'s `charts/`, as a folder or (`packaged`) as a `.tgz`.
fn with_sub(mut parent: Files, name: &str, sub: Files, packaged: bool) -> Files {
    if packaged {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        ));
        for (path, data) in &sub {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, format!("{name}/{path}"), data.as_slice())
                .expect("append");
        }
        let gz = tar.into_inner().expect("tar").finish().expect("gzip");
        parent.insert(format!("charts/{name}-1.0.0.tgz"), gz);
    } else {
        for (path, data) in sub {
            parent.insert(format!("charts/{name}/{path}"), data);
        }
    }
    parent
}

/// `s`, declaring only `k`, holding `m` (which it does not declare) and `k`.
fn s_of(m: Files) -> Files {
    let s = chart(
        "s",
        Some("dependencies:\n- name: k\n  version: \"*\"\n"),
        None,
    );
    with_sub(
        with_sub(s, "m", m, false),
        "k",
        chart("k", None, None),
        false,
    )
}

const TWIN_AND_S: &str =
    "dependencies:\n- name: s\n  version: \"*\"\n  alias: twin\n- name: s\n  version: \"*\"\n";

/// `p` declaring `s` as `twin` and as itself; `s` (its `dependencies:` given) holds `m`, which
/// holds `x`.
fn twin_and_s(s_deps: Option<&str>, packaged: bool, p_values: Option<&str>) -> Files {
    let m = with_sub(chart("m", None, None), "x", chart("x", None, None), false);
    let s = with_sub(chart("s", s_deps, None), "m", m, false);
    with_sub(chart("p", Some(TWIN_AND_S), p_values), "s", s, packaged)
}

/// Each template's name and text, a line each.
fn rendered(files: Files) -> String {
    let out = gantry_helm::render(common::request(files)).expect("Gantry renders it");
    out.templates
        .iter()
        .map(|(k, v)| format!("{k} => {v}"))
        .collect()
}

/// `s` declares no dependencies, `[]`, or `m` with a range `m` does not meet, as a folder or as
/// an archive: `x` is the original's, named by `s`, once.
#[test]
fn undeclared_grandchildren_keep_the_chart_s_name() {
    let want = "\
p/charts/s/charts/m/charts/x/templates/t.yaml => p/charts/s/charts/m/charts/x/templates/t.yaml | p/charts/s/charts/m/charts/x/templates | x | x | - | global,me
p/charts/s/charts/m/templates/t.yaml => p/charts/s/charts/m/templates/t.yaml | p/charts/s/charts/m/templates | m | m | - | global,me,x
p/charts/s/templates/t.yaml => p/charts/s/templates/t.yaml | p/charts/s/templates | s | s | - | global,m,me
p/charts/twin/charts/m/templates/t.yaml => p/charts/twin/charts/m/templates/t.yaml | p/charts/twin/charts/m/templates | m | m | - | global,me,x
p/charts/twin/templates/t.yaml => p/charts/twin/templates/t.yaml | p/charts/twin/templates | twin | s | - | global,m,me
p/templates/t.yaml => p/templates/t.yaml | p/templates | p | p | - | me,s,twin
";
    for s_deps in [
        None,
        Some("dependencies: []\n"),
        Some("dependencies:\n- name: m\n  version: ^2.0.0\n"),
    ] {
        for packaged in [false, true] {
            assert_eq!(
                rendered(twin_and_s(s_deps, packaged, None)),
                want,
                "{s_deps:?} {packaged}"
            );
        }
    }
}

/// `s` declares `m`: `twin`'s `m` is a copy of its own, and so is its `x`.
#[test]
fn declared_grandchildren_are_the_alias_s_own() {
    let want = "\
p/charts/s/charts/m/charts/x/templates/t.yaml => p/charts/s/charts/m/charts/x/templates/t.yaml | p/charts/s/charts/m/charts/x/templates | x | x | - | global,me
p/charts/s/charts/m/templates/t.yaml => p/charts/s/charts/m/templates/t.yaml | p/charts/s/charts/m/templates | m | m | - | global,me,x
p/charts/s/templates/t.yaml => p/charts/s/templates/t.yaml | p/charts/s/templates | s | s | - | global,m,me
p/charts/twin/charts/m/charts/x/templates/t.yaml => p/charts/twin/charts/m/charts/x/templates/t.yaml | p/charts/twin/charts/m/charts/x/templates | x | x | - | global,me
p/charts/twin/charts/m/templates/t.yaml => p/charts/twin/charts/m/templates/t.yaml | p/charts/twin/charts/m/templates | m | m | - | global,me,x
p/charts/twin/templates/t.yaml => p/charts/twin/templates/t.yaml | p/charts/twin/templates | twin | s | - | global,m,me
p/templates/t.yaml => p/templates/t.yaml | p/templates | p | p | - | me,s,twin
";
    let s_deps = "dependencies:\n- name: m\n  version: \"*\"\n";
    assert_eq!(rendered(twin_and_s(Some(s_deps), false, None)), want);
}

/// The shared `x` renders with the values of the place rendered last: `s`'s when `twin` is
/// declared first, `twin`'s when it is declared second. Only `p`'s `twin` is the alias alone.
#[test]
fn a_shared_grandchild_renders_with_the_last_place_s_values() {
    let values = "twin:\n  m:\n    x:\n      v: fromtwin\ns:\n  m:\n    x:\n      v: froms\n";
    let twin_first = rendered(twin_and_s(None, false, Some(values)));
    let want = "\
p/charts/s/charts/m/charts/x/templates/t.yaml => p/charts/s/charts/m/charts/x/templates/t.yaml | p/charts/s/charts/m/charts/x/templates | x | x | froms | global,me,v
p/charts/s/charts/m/templates/t.yaml => p/charts/s/charts/m/templates/t.yaml | p/charts/s/charts/m/templates | m | m | - | global,me,x
p/charts/s/templates/t.yaml => p/charts/s/templates/t.yaml | p/charts/s/templates | s | s | - | global,m,me
p/charts/twin/charts/m/templates/t.yaml => p/charts/twin/charts/m/templates/t.yaml | p/charts/twin/charts/m/templates | m | m | - | global,me,x
p/charts/twin/templates/t.yaml => p/charts/twin/templates/t.yaml | p/charts/twin/templates | twin | s | - | global,m,me
p/templates/t.yaml => p/templates/t.yaml | p/templates | p |  | - | s,twin
";
    assert_eq!(twin_first, want);
    let mut files = twin_and_s(None, false, Some(values));
    files.insert(
        "Chart.yaml".into(),
        b"apiVersion: v2\nname: p\nversion: 1.0.0\ndependencies:\n- name: s\n  version: \"*\"\n- name: s\n  version: \"*\"\n  alias: twin\n"
            .to_vec(),
    );
    let want = "\
p/charts/s/charts/m/charts/x/templates/t.yaml => p/charts/s/charts/m/charts/x/templates/t.yaml | p/charts/s/charts/m/charts/x/templates | x | x | fromtwin | global,me,v
p/charts/s/charts/m/templates/t.yaml => p/charts/s/charts/m/templates/t.yaml | p/charts/s/charts/m/templates | m | m | - | global,me,x
p/charts/s/templates/t.yaml => p/charts/s/templates/t.yaml | p/charts/s/templates | s | s | - | global,m,me
p/charts/twin/charts/m/templates/t.yaml => p/charts/twin/charts/m/templates/t.yaml | p/charts/twin/charts/m/templates | m | m | - | global,me,x
p/charts/twin/templates/t.yaml => p/charts/twin/templates/t.yaml | p/charts/twin/templates | twin | s | - | global,m,me
p/templates/t.yaml => p/templates/t.yaml | p/templates | p |  | - | s,twin
";
    assert_eq!(rendered(files), want);
}

/// `s` declares `k` only, so its copies process their shallow copies of `m`, which share `m`'s
/// dependencies: `twin`'s turns `m`'s `x` into `ax`, and `s`'s `m` then finds no chart named
/// `ax` and keeps `x` as a subchart it does not declare.
#[test]
fn shallow_copies_share_their_dependencies() {
    let m = with_sub(
        chart(
            "m",
            Some("dependencies:\n- name: x\n  version: \"*\"\n  alias: ax\n"),
            None,
        ),
        "x",
        chart("x", None, None),
        false,
    );
    let files = with_sub(chart("p", Some(TWIN_AND_S), None), "s", s_of(m), false);
    let want = "\
p/charts/s/charts/k/templates/t.yaml => p/charts/s/charts/k/templates/t.yaml | p/charts/s/charts/k/templates | k | k | - | global,me
p/charts/s/charts/m/charts/x/templates/t.yaml => p/charts/s/charts/m/charts/x/templates/t.yaml | p/charts/s/charts/m/charts/x/templates | x | x | - | global,me
p/charts/s/charts/m/templates/t.yaml => p/charts/s/charts/m/templates/t.yaml | p/charts/s/charts/m/templates | m | m | - | global,me,x
p/charts/s/templates/t.yaml => p/charts/s/templates/t.yaml | p/charts/s/templates | s | s | - | global,k,m,me
p/charts/twin/charts/k/templates/t.yaml => p/charts/twin/charts/k/templates/t.yaml | p/charts/twin/charts/k/templates | k | k | - | global,me
p/charts/twin/charts/m/charts/ax/templates/t.yaml => p/charts/twin/charts/m/charts/ax/templates/t.yaml | p/charts/twin/charts/m/charts/ax/templates | ax | x | - | global,me
p/charts/twin/charts/m/templates/t.yaml => p/charts/twin/charts/m/templates/t.yaml | p/charts/twin/charts/m/templates | m | m | - | ax,global,me
p/charts/twin/templates/t.yaml => p/charts/twin/templates/t.yaml | p/charts/twin/templates | twin | s | - | global,k,m,me
p/templates/t.yaml => p/templates/t.yaml | p/templates | p | p | - | me,s,twin
";
    assert_eq!(rendered(files), want);
}

/// One object processed from two places: `x` (shared by both copies of `m`) declares `w` as
/// `aw`. Processed again (under `s`), it finds its subchart already the copy `aw` and its
/// dependency already renamed, and copies that copy: `aw` under both, named by `s`, once.
#[test]
fn a_shared_chart_processed_twice_finds_what_the_first_left() {
    let x = with_sub(
        chart(
            "x",
            Some("dependencies:\n- name: w\n  version: \"*\"\n  alias: aw\n"),
            None,
        ),
        "w",
        chart("w", None, None),
        false,
    );
    let m = with_sub(
        with_sub(
            chart(
                "m",
                Some("dependencies:\n- name: k2\n  version: \"*\"\n"),
                None,
            ),
            "x",
            x,
            false,
        ),
        "k2",
        chart("k2", None, None),
        false,
    );
    let files = with_sub(chart("p", Some(TWIN_AND_S), None), "s", s_of(m), false);
    let want = "\
p/charts/s/charts/k/templates/t.yaml => p/charts/s/charts/k/templates/t.yaml | p/charts/s/charts/k/templates | k | k | - | global,me
p/charts/s/charts/m/charts/k2/templates/t.yaml => p/charts/s/charts/m/charts/k2/templates/t.yaml | p/charts/s/charts/m/charts/k2/templates | k2 | k2 | - | global,me
p/charts/s/charts/m/charts/x/charts/aw/templates/t.yaml => p/charts/s/charts/m/charts/x/charts/aw/templates/t.yaml | p/charts/s/charts/m/charts/x/charts/aw/templates | aw | w | - | global,me
p/charts/s/charts/m/charts/x/templates/t.yaml => p/charts/s/charts/m/charts/x/templates/t.yaml | p/charts/s/charts/m/charts/x/templates | x | x | - | aw,global,me
p/charts/s/charts/m/templates/t.yaml => p/charts/s/charts/m/templates/t.yaml | p/charts/s/charts/m/templates | m | m | - | global,k2,me,x
p/charts/s/templates/t.yaml => p/charts/s/templates/t.yaml | p/charts/s/templates | s | s | - | global,k,m,me
p/charts/twin/charts/k/templates/t.yaml => p/charts/twin/charts/k/templates/t.yaml | p/charts/twin/charts/k/templates | k | k | - | global,me
p/charts/twin/charts/m/charts/k2/templates/t.yaml => p/charts/twin/charts/m/charts/k2/templates/t.yaml | p/charts/twin/charts/m/charts/k2/templates | k2 | k2 | - | global,me
p/charts/twin/charts/m/templates/t.yaml => p/charts/twin/charts/m/templates/t.yaml | p/charts/twin/charts/m/templates | m | m | - | global,k2,me,x
p/charts/twin/templates/t.yaml => p/charts/twin/templates/t.yaml | p/charts/twin/templates | twin | s | - | global,k,m,me
p/templates/t.yaml => p/templates/t.yaml | p/templates | p | p | - | me,s,twin
";
    assert_eq!(rendered(files), want);
}
