//! What the tests of the engine share: the oracle process (Helm's own library) and its Python,
//! and the request both sides render.
// Each test file takes what it needs of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gantry_helm::{Release, Request};

/// The checkout's Python, with helm-python-sdk installed by scripts/tools.sh.
fn python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/tools.sh (scripts/test does)",
        p.display()
    );
    p
}

/// Renders every job (`{"chart", "values", "manifest"}`) with `tests/oracle/helm_oracle.py` in
/// one process, and returns its answers in the same order.
pub fn helm_oracle(jobs: &[serde_json::Value]) -> Vec<serde_json::Value> {
    let mut child = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/helm_oracle.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the Helm oracle starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(serde_json::to_string(jobs).expect("json").as_bytes())
        .expect("jobs written");
    let out = child.wait_with_output().expect("the oracle finishes");
    serde_json::from_slice(&out.stdout).expect("the oracle's JSON")
}

/// Writes a chart's files (path in the chart → bytes) below `dir`, for the oracle to load.
pub fn write_chart(dir: &Path, chart: &BTreeMap<String, Vec<u8>>) {
    for (path, data) in chart {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
        std::fs::write(p, data).expect("write");
    }
}

/// A chart's files from their texts (path in the chart, text).
pub fn files(texts: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
    texts
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
}

/// A render of `chart` as the oracle renders it: release `rel` in namespace `ns`, the templates
/// without the install's stream.
pub fn request(chart: BTreeMap<String, Vec<u8>>) -> Request {
    Request {
        chart,
        release: Release {
            name: "rel".into(),
            namespace: "ns".into(),
            ..Release::default()
        },
        stream: false,
        ..Request::default()
    }
}

/// What Helm's own library makes of `chart` (written to a temporary folder) with its default
/// values: its templates, or its error's message.
pub fn helm_renders(chart: &BTreeMap<String, Vec<u8>>) -> Result<BTreeMap<String, String>, String> {
    let tmp = tempfile::tempdir().expect("a temporary folder");
    write_chart(tmp.path(), chart);
    let out = helm_oracle(&[serde_json::json!({"chart": tmp.path(), "values": null})]);
    match out[0]["error"].as_str() {
        Some(e) => Err(e.to_owned()),
        None => Ok(serde_json::from_value(out[0]["templates"].clone()).expect("templates")),
    }
}

/// `chart` rendered by Helm v4's own library and by Gantry, both of which must render it:
/// (Helm's templates, Gantry's).
pub fn both_render(
    chart: BTreeMap<String, Vec<u8>>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let want = helm_renders(&chart).expect("Helm renders it");
    let got = gantry_helm::render(request(chart)).expect("Gantry renders it");
    (want, got.templates)
}

/// `chart`'s error from Helm v4's own library and from Gantry, both of which must fail:
/// (Helm's message, Gantry's).
pub fn both_fail(chart: BTreeMap<String, Vec<u8>>) -> (String, String) {
    let want = helm_renders(&chart).expect_err("Helm fails");
    let got = gantry_helm::render(request(chart))
        .expect_err("Gantry fails")
        .to_string();
    (want, got)
}

/// Renders `fromYaml` and `fromYamlArray` of each input (the text of a Go string literal) as
/// two lines (`e{i}:` and `l{i}:`) with Gantry and with Helm v4's own library: (Helm's text,
/// Gantry's), one line each per input and function.
pub fn from_yaml_both(inputs: &[&str]) -> (String, String) {
    let mut template = String::new();
    for (i, text) in inputs.iter().enumerate() {
        template.push_str(&format!(
            "e{i}: {{{{ fromYaml \"{text}\" | toJson }}}}\nl{i}: {{{{ fromYamlArray \"{text}\" | toJson }}}}\n"
        ));
    }
    // Not `y`: Helm reads a chart named `y` as `true`.
    let (mut want, mut got) = both_render(files(&[
        (
            "Chart.yaml",
            "apiVersion: v2\nname: yamls\nversion: 1.0.0\n",
        ),
        ("templates/cm.yaml", template.as_str()),
    ]));
    let key = "yamls/templates/cm.yaml";
    let (want, got) = (
        want.remove(key).unwrap_or_default(),
        got.remove(key).unwrap_or_default(),
    );
    assert_eq!(want.lines().count(), 2 * inputs.len());
    (want, got)
}
