//! Runs every kustomize conformance case in `../shared/fixtures/kustomize/cases` (taken from
//! kustomize's own test suite) and prints pass/fail counts. `FIXTURE=<name>` shows one diff.
//! Each expected error is checked as kustomize's test checks it: the same text check
//! (`contains`, `equals`, `prefix`, `regexp`, `not_contains`), or for a Go type check
//! (`predicate`) the matching typed error.

use std::path::{Path, PathBuf};

use gantry_render::{MemFs, RenderError, RenderOptions, Reorder, render};
use serde_json::Value;

fn cases_dir() -> PathBuf {
    gantry_tests::shared_fixture(
        "kustomize/cases",
        "the kustomize conformance cases taken from kustomize's own test suite",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Whether `e` passes one of the checks kustomize's test made on its error.
fn check(kind: &str, value: &str, e: &RenderError) -> bool {
    let msg = e.to_string();
    match kind {
        "contains" => msg.contains(value),
        "equals" => msg == value,
        "prefix" => msg.starts_with(value),
        "not_contains" => !msg.contains(value),
        "regexp" => regex::Regex::new(value)
            .unwrap_or_else(|err| panic!("bad regexp {value:?} in a case: {err}"))
            .is_match(&msg),
        // Go type checks, answered by the typed error that stands for the same condition.
        "predicate" => match value {
            "IsMissingKustomizationFileError" => {
                matches!(e, RenderError::NoKustomization { .. })
            }
            "kusterr.IsMalformedYAMLError" => matches!(e, RenderError::Yaml { .. }),
            other => panic!("no typed error stands for the Go predicate {other}"),
        },
        other => panic!("unknown error check kind {other:?}"),
    }
}

fn load_files(root: &Path, dir: &Path, fs: &mut MemFs) {
    for entry in std::fs::read_dir(dir).expect("readable fixture dir") {
        let entry = entry.expect("entry");
        let p = entry.path();
        if p.is_dir() {
            load_files(root, &p, fs);
        } else {
            let rel = p
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            fs.insert(&rel, std::fs::read(&p).expect("readable fixture file"));
        }
    }
}

enum Outcome {
    Pass,
    Fail(String),
}

fn run_case(dir: &Path) -> Outcome {
    let case: Value =
        serde_json::from_slice(&std::fs::read(dir.join("case.json")).expect("case.json"))
            .expect("json");
    let mut fs = MemFs::new();
    let files = dir.join("files");
    if files.is_dir() {
        load_files(&files, &files, &mut fs);
    }
    let build_dir = case["build_dir"].as_str().unwrap_or(".");
    let reorder = if case["reorder"] == "legacy" {
        Reorder::Legacy
    } else {
        Reorder::None
    };
    let opts = RenderOptions {
        reorder,
        require_kustomization: true,
        ..Default::default()
    };
    let result = render(
        &fs,
        if build_dir == "." { "" } else { build_dir },
        &opts,
        None,
    );
    if case["escapes_root"] == true {
        // Gantry refuses what kustomize's in-memory file system tolerates.
        return match result {
            Err(RenderError::Escapes { .. }) => Outcome::Pass,
            Err(e) => Outcome::Fail(format!("expected an escape refusal, got: {e}")),
            Ok(_) => Outcome::Fail("expected an escape refusal, got output".into()),
        };
    }
    match case["expect"].as_str() {
        Some("yaml") => {
            let expected =
                std::fs::read_to_string(dir.join("expected.yaml")).expect("expected.yaml");
            match result {
                Ok(r) => {
                    let got = r.to_yaml();
                    if got == expected {
                        Outcome::Pass
                    } else {
                        Outcome::Fail(diff(&expected, &got))
                    }
                }
                Err(e) => Outcome::Fail(format!("error: {e}")),
            }
        }
        _ => match result {
            Ok(r) => Outcome::Fail(format!("expected an error, got:\n{}", r.to_yaml())),
            Err(e) => {
                // A case without checks comes from a test that only asks for an error
                // (`require.Error`), which is then what it checks.
                let checks = case["error_checks"].as_array().cloned().unwrap_or_default();
                for c in checks {
                    let kind = c["kind"].as_str().expect("check kind");
                    let v = c["value"].as_str().expect("check value");
                    if !check(kind, v, &e) {
                        return Outcome::Fail(format!(
                            "error check {kind} {v:?} fails on {:?}",
                            e.to_string()
                        ));
                    }
                }
                Outcome::Pass
            }
        },
    }
}

fn diff(expected: &str, got: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let g: Vec<&str> = got.lines().collect();
    for i in 0..e.len().max(g.len()) {
        if e.get(i) != g.get(i) {
            return format!(
                "first difference at line {}:\n  want: {:?}\n  got:  {:?}",
                i + 1,
                e.get(i).unwrap_or(&"<eof>"),
                g.get(i).unwrap_or(&"<eof>")
            );
        }
    }
    "trailing newline differs".into()
}

#[test]
fn kustomize_conformance_cases() {
    let dir = cases_dir();
    let only = std::env::var("FIXTURE").ok();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("cases")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let (mut pass, mut fail) = (0, 0);
    let mut failures = Vec::new();
    for name in &names {
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        match run_case(&dir.join(name)) {
            Outcome::Pass => pass += 1,
            Outcome::Fail(why) => {
                fail += 1;
                failures.push(format!("FAIL {name}: {why}"));
            }
        }
    }
    for f in &failures {
        println!("{f}");
    }
    println!(
        "kustomize conformance: {pass} passed, {fail} failed, {} total",
        pass + fail
    );
    if only.is_none() {
        // A ratchet: the pass count may only go up.
        assert!(
            pass >= MIN_PASS,
            "conformance regressed: {pass} < {MIN_PASS}"
        );
    }
}

const MIN_PASS: usize = 115;
