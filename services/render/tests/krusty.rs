//! kustomize's own krusty test suite, ported as data (`tests/krusty/cases`, made from
//! `api/krusty/*_test.go` by `tests/krusty/extract.py`; the cases already in the shared corpus
//! are left to `tests/fixtures.rs`). Each case is checked twice:
//! - as kustomize's test checks it: the test's expected output byte for byte, or its checks on
//!   the error (`contains`, `equals`, ..., or the typed error a Go predicate stands for);
//! - against the live kustomize v5.8 (pykustomize, in CI): the same bytes, or both failing.
//!
//! Both pass counts are printed and may only go up. `KRUSTY=<part of a name>` runs a subset
//! and prints every difference.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gantry_render::{LoadRestrictor, MemFs, RenderError, RenderOptions, Reorder, render};
use serde_json::Value;

/// Floors: the pass counts of this commit. Raise them when more cases pass.
const MIN_TEST_PASS: usize = 166;
const MIN_LIVE_PASS: usize = 177;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/krusty/cases")
}

fn python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `. scripts/tools.sh`, which installs pykustomize, the oracle",
        p.display()
    );
    p
}

fn load_files(root: &Path, dir: &Path, fs: &mut MemFs) {
    for entry in std::fs::read_dir(dir).expect("readable case dir") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            load_files(root, &p, fs);
        } else {
            let rel = p.strip_prefix(root).expect("under root").to_string_lossy();
            fs.insert(&rel, std::fs::read(&p).expect("readable case file"));
        }
    }
}

struct Case {
    name: String,
    dir: PathBuf,
    meta: Value,
}

impl Case {
    fn build_dir(&self) -> &str {
        match self.meta["build_dir"].as_str().unwrap_or(".") {
            "." => "",
            d => d,
        }
    }
    fn restrictor(&self) -> &str {
        self.meta["load_restrictor"].as_str().unwrap_or("RootOnly")
    }
    fn reorder(&self) -> &str {
        self.meta["reorder"].as_str().unwrap_or("none")
    }
}

fn render_case(c: &Case) -> Result<String, RenderError> {
    let mut fs = MemFs::new();
    let files = c.dir.join("files");
    if files.is_dir() {
        load_files(&files, &files, &mut fs);
    }
    let opts = RenderOptions {
        reorder: if c.reorder() == "legacy" {
            Reorder::Legacy
        } else {
            Reorder::None
        },
        require_kustomization: true,
        load_restrictor: if c.restrictor() == "None" {
            LoadRestrictor::None
        } else {
            LoadRestrictor::RootOnly
        },
        ..Default::default()
    };
    render(&fs, c.build_dir(), &opts, None).map(|r| r.to_yaml())
}

/// Whether `e` passes one check kustomize's test made on its error.
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

/// The case as kustomize's test checks it; `None` when the test checked nothing we ported.
fn against_test(c: &Case, got: &Result<String, RenderError>) -> Option<Result<(), String>> {
    if c.meta["expect"] == "error" {
        return Some(match got {
            Ok(y) => Err(format!("the test expects an error; got\n{y}")),
            Err(e) => {
                for ch in c.meta["error_checks"].as_array().into_iter().flatten() {
                    let kind = ch["kind"].as_str().expect("kind");
                    let v = ch["value"].as_str().expect("value");
                    if !check(kind, v, e) {
                        return Some(Err(format!("error check {kind} {v:?} fails on {e}")));
                    }
                }
                Ok(())
            }
        });
    }
    let want = std::fs::read_to_string(c.dir.join("expected.yaml")).ok()?;
    Some(match got {
        Ok(y) if *y == want => Ok(()),
        Ok(y) => Err(first_difference(&want, y)),
        Err(e) => Err(format!("error: {e}")),
    })
}

fn first_difference(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    for i in 0..w.len().max(g.len()) {
        if w.get(i) != g.get(i) {
            return format!(
                "line {}: want {:?}, got {:?}",
                i + 1,
                w.get(i).unwrap_or(&"<end>"),
                g.get(i).unwrap_or(&"<end>")
            );
        }
    }
    "trailing newline differs".into()
}

/// Runs the live kustomize on every case; returns each case's output or error.
fn oracle(cases: &[Case], out: &Path) -> BTreeMap<String, Result<String, String>> {
    let mut child = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the oracle starts");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for c in cases {
            let reorder = if c.reorder() == "legacy" {
                "unspecified"
            } else {
                "none"
            };
            writeln!(
                stdin,
                "{}\t{}\t{reorder}\t{}",
                c.dir.join("files").join(c.build_dir()).display(),
                out.join(&c.name).display(),
                c.restrictor()
            )
            .expect("write a job");
        }
    }
    let done = child.wait_with_output().expect("the oracle runs");
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(
        done.status.success(),
        "the kustomize oracle failed ({}): {stderr}",
        done.status
    );
    println!("{}", stderr.trim());
    let mut results = BTreeMap::new();
    for c in cases {
        let base = out.join(&c.name);
        let r = match std::fs::read_to_string(base.with_extension("yaml")) {
            Ok(y) => Ok(y),
            Err(_) => Err(std::fs::read_to_string(base.with_extension("err"))
                .expect("the oracle wrote a result")
                .trim_start_matches("kustomize build failed: ")
                .replace(&format!("{}/", c.dir.join("files").display()), "/")
                .replace(&c.dir.join("files").display().to_string(), "/")),
        };
        results.insert(c.name.clone(), r);
    }
    results
}

#[test]
fn krusty_cases() {
    let dir = cases_dir();
    let only = std::env::var("KRUSTY").ok();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| only.as_ref().is_none_or(|o| n.contains(o.as_str())))
        .collect();
    names.sort();
    let cases: Vec<Case> = names
        .into_iter()
        .map(|name| {
            let d = dir.join(&name);
            let meta =
                serde_json::from_slice(&std::fs::read(d.join("case.json")).expect("case.json"))
                    .expect("case.json is JSON");
            Case { name, dir: d, meta }
        })
        .collect();
    let tmp = tempfile::tempdir().expect("tempdir");
    let live = oracle(&cases, tmp.path());
    let (mut test_pass, mut test_total, mut live_pass, mut both_fail, mut same_message) =
        (0, 0, 0, 0, 0);
    let mut failures = Vec::new();
    for c in &cases {
        let got = render_case(c);
        if let Some(r) = against_test(c, &got) {
            test_total += 1;
            match r {
                Ok(()) => test_pass += 1,
                Err(why) => failures.push(format!("TEST {}: {why}", c.name)),
            }
        }
        match (&got, &live[&c.name]) {
            (Ok(a), Ok(b)) if a == b => live_pass += 1,
            (Ok(a), Ok(b)) => failures.push(format!("LIVE {}: {}", c.name, first_difference(b, a))),
            (Err(e), Err(k)) => {
                live_pass += 1;
                both_fail += 1;
                if e.to_string() == *k {
                    same_message += 1;
                } else if only.is_some() {
                    println!("message {}:\n  gantry:    {e}\n  kustomize: {k}", c.name);
                }
            }
            (Ok(_), Err(k)) => failures.push(format!("LIVE {}: kustomize fails: {k}", c.name)),
            (Err(e), Ok(_)) => failures.push(format!("LIVE {}: gantry fails: {e}", c.name)),
        }
    }
    for f in &failures {
        println!("{f}");
    }
    println!(
        "krusty cases: as kustomize's tests check them {test_pass} passed, {} failed ({test_total} checked); \
         against live kustomize {live_pass} passed, {} failed of {} ({both_fail} where both fail, \
         {same_message} of them with the same message)",
        test_total - test_pass,
        cases.len() - live_pass,
        cases.len()
    );
    if only.is_none() {
        assert!(test_pass >= MIN_TEST_PASS, "{test_pass} < {MIN_TEST_PASS}");
        assert!(live_pass >= MIN_LIVE_PASS, "{live_pass} < {MIN_LIVE_PASS}");
    }
}
