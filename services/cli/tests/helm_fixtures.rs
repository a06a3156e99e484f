//! Contract section 10, proved on the shared Helm conformance cases: every case renders
//! through `gantry render CHART --values … --release-name rel --namespace ns --helm-templates`
//! exactly as Helm v4.2.3's engine did, and the error cases fail with Helm's message; on one
//! core too, where the render starts no helper thread.

use std::path::{Path, PathBuf};
use std::process::Command;

fn cases() -> Vec<PathBuf> {
    let dir = gantry_tests::shared_fixture(
        "helm/cases",
        "the Helm conformance cases: real charts with Helm v4.2.3's own output",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the shared Helm cases")
        .map(|e| e.expect("an entry").path())
        .collect();
    v.sort();
    v
}

/// `gantry`, or `gantry` held by `taskset` to the first core this process may run on.
fn gantry(one_core: bool) -> Command {
    if !one_core {
        return Command::new(env!("CARGO_BIN_EXE_gantry"));
    }
    let allowed = rustix::thread::sched_getaffinity(None).expect("this process's cores");
    let first = (0..rustix::thread::CpuSet::MAX_CPU)
        .find(|&c| allowed.is_set(c))
        .expect("a core");
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", &first.to_string(), env!("CARGO_BIN_EXE_gantry")]);
    cmd
}

fn run(case: &Path, one_core: bool) -> Result<(), String> {
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(case.join("case.json")).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let mut cmd = gantry(one_core);
    cmd.arg("render").arg(case.join("chart"));
    if !meta["values_file"].is_null() {
        cmd.arg("--values").arg(case.join("values.yaml"));
    }
    cmd.args([
        "--release-name",
        "rel",
        "--namespace",
        "ns",
        "--helm-templates",
    ]);
    let out = cmd
        .output()
        .map_err(|e| format!("{cmd:?} does not start (taskset is util-linux's): {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if meta["expect"] == "error" {
        let want = meta["error_substring"].as_str().unwrap_or("");
        if out.status.success() {
            return Err(format!("want an error containing {want:?}, got success"));
        }
        if !stderr.contains(want) {
            return Err(format!("want an error containing {want:?}, got {stderr}"));
        }
        return Ok(());
    }
    if !out.status.success() {
        return Err(format!("failed: {stderr}"));
    }
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let want: serde_json::Value = serde_json::from_slice(
        &std::fs::read(case.join("expected.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    if got != want {
        let (g, w) = (
            got.as_object().cloned().unwrap_or_default(),
            want.as_object().cloned().unwrap_or_default(),
        );
        let differing: Vec<&String> = w.keys().filter(|k| g.get(*k) != w.get(*k)).collect();
        return Err(format!("templates differ: {differing:?}"));
    }
    Ok(())
}

#[test]
fn every_helm_case_renders_through_gantry_render() {
    every_case(false);
}

#[test]
fn every_helm_case_renders_the_same_on_one_core() {
    every_case(true);
}

fn every_case(one_core: bool) {
    let mut failed = Vec::new();
    let all = cases();
    for c in &all {
        if let Err(e) = run(c, one_core) {
            failed.push(format!("{}: {e}", c.display()));
        }
    }
    println!(
        "gantry render helm cases (one core: {one_core}): {} passed, {} failed",
        all.len() - failed.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
