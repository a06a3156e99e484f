//! The Helm conformance cases in `../shared/fixtures/helm/cases`: real charts with values and
//! Helm v4.2.3's own output. Every template must render byte for byte; error cases must fail
//! with Helm's message.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gantry_helm::render;

fn cases_dir() -> PathBuf {
    gantry_tests::shared_fixture(
        "helm/cases",
        "the Helm conformance cases: real charts with Helm v4.2.3's own output",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn read_tree(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("fixture data")
        .map(|e| e.expect("fixture data").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            read_tree(root, &p, out);
        } else {
            let rel = p
                .strip_prefix(root)
                .expect("fixture data")
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel, std::fs::read(&p).expect("fixture data"));
        }
    }
}

/// Runs one case; `Ok(())` when it matches.
pub fn run_case(dir: &Path) -> Result<(), String> {
    let case: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("case.json")).expect("fixture data"))
            .expect("fixture data");
    let mut chart = BTreeMap::new();
    read_tree(&dir.join("chart"), &dir.join("chart"), &mut chart);
    let mut req = common::request(chart);
    if !case["values_file"].is_null() {
        req.values_files.push((
            "values.yaml".into(),
            std::fs::read_to_string(dir.join("values.yaml")).expect("fixture data"),
        ));
    }
    let got = render(req);
    if case["expect"] == "error" {
        let want = case["error_substring"].as_str().expect("fixture data");
        return match got {
            Err(e) if e.to_string().contains(want) => Ok(()),
            Err(e) => Err(format!("want an error containing {want:?}, got {e}")),
            Ok(_) => Err(format!("want an error containing {want:?}, got a render")),
        };
    }
    let expected: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).expect("fixture data"))
            .expect("fixture data");
    let got = got.map_err(|e| format!("render failed: {e}"))?;
    let got: BTreeMap<String, String> = got
        .templates
        .into_iter()
        .filter(|(k, _)| !k.ends_with("/NOTES.txt"))
        .collect();
    if got == expected {
        return Ok(());
    }
    let mut diffs = Vec::new();
    for (k, v) in &expected {
        match got.get(k) {
            None => diffs.push(format!("missing {k}")),
            Some(g) if g != v => {
                let line = v
                    .lines()
                    .zip(g.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                diffs.push(format!(
                    "{k}: first difference at line {}:\n  want {:?}\n  got  {:?}",
                    line + 1,
                    v.lines().nth(line).unwrap_or("<end>"),
                    g.lines().nth(line).unwrap_or("<end>")
                ));
            }
            _ => {}
        }
    }
    for k in got.keys() {
        if !expected.contains_key(k) {
            diffs.push(format!("unexpected {k}"));
        }
    }
    Err(diffs.join("\n"))
}

#[test]
fn helm_conformance_cases() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("fixture data")
        .map(|e| e.expect("fixture data").path())
        .collect();
    dirs.sort();
    let only = std::env::var("HELM_CASE").ok();
    let mut failures = Vec::new();
    let mut passed = 0;
    for d in &dirs {
        let name = d
            .file_name()
            .expect("fixture data")
            .to_string_lossy()
            .to_string();
        if let Some(o) = &only
            && !name.contains(o.as_str())
        {
            continue;
        }
        match run_case(d) {
            Ok(()) => passed += 1,
            Err(e) => failures.push(format!("== {name}\n{e}")),
        }
    }
    println!(
        "helm conformance: {passed} passed, {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
