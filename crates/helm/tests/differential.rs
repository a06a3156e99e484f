//! Differential test against Helm v4's own library (helm-python-sdk): charts and values the
//! fixture cases do not have. Every `ci/*.yaml` values file of the fixture charts, and random
//! overrides of each chart's defaults (seeded: `HELM_DIFF_SEED`, `HELM_DIFF_CASES` per chart),
//! must render the same templates, the same release manifest, or fail in both.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gantry_gotmpl::{List, Map, Value};
use gantry_helm::{Request, render};
use rand::{Rng, SeedableRng};

fn read_tree(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("a chart folder")
        .map(|e| e.expect("an entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            read_tree(root, &p, out);
        } else {
            let rel = p
                .strip_prefix(root)
                .expect("below the chart")
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel, std::fs::read(&p).expect("a chart file"));
        }
    }
}

struct Job {
    name: String,
    chart: PathBuf,
    values: Option<String>,
}

fn leaves(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Map(m) = v {
        for (k, child) in m.data.borrow().iter() {
            path.push(k.clone());
            out.push(path.clone());
            leaves(child, path, out);
            path.pop();
        }
    }
}

fn random_value(rng: &mut rand::rngs::StdRng) -> Value {
    match rng.random_range(0..14) {
        0 => Value::Bool(true),
        1 => Value::Bool(false),
        2 => Value::Float(0.0),
        3 => Value::Float(rng.random_range(1..100_000_000) as f64),
        4 => Value::Float(1.5),
        5 => Value::str(""),
        6 => Value::str("some text"),
        7 => Value::Nil,
        8 => Value::List(List::new(vec![Value::str("a"), Value::Float(2.0)])),
        9 => {
            let m = Map::new();
            m.insert("k", Value::str("v"));
            Value::Map(m)
        }
        10 => Value::str("{{ .Release.Name }}-x"),
        11 => Value::str("yes"),
        12 => Value::List(List::new(Vec::new())),
        _ => Value::Map(Map::new()),
    }
}

fn override_yaml(path: &[String], v: Value) -> String {
    let mut cur = v;
    for k in path.iter().rev() {
        let m = Map::new();
        m.insert(k.clone(), cur);
        cur = Value::Map(m);
    }
    gantry_helm::yamlout::to_yaml(&cur).unwrap_or_default() + "\n"
}

fn jobs() -> Vec<Job> {
    let cases = gantry_tests::shared_fixture(
        "helm/cases",
        "the Helm conformance cases: real charts with Helm v4.2.3's own output",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&cases)
        .expect("the Helm cases")
        .map(|e| e.expect("entry").path())
        .collect();
    dirs.sort();
    let seed: u64 = std::env::var("HELM_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let per_chart: usize = std::env::var("HELM_DIFF_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for d in dirs {
        let chart = d.join("chart");
        let case = d.file_name().expect("a name").to_string_lossy().to_string();
        if let Ok(rd) = std::fs::read_dir(chart.join("ci")) {
            let mut files: Vec<PathBuf> = rd.map(|e| e.expect("entry").path()).collect();
            files.sort();
            for f in files {
                out.push(Job {
                    name: format!(
                        "{case} ci/{}",
                        f.file_name().expect("name").to_string_lossy()
                    ),
                    chart: chart.clone(),
                    values: Some(std::fs::read_to_string(&f).expect("a values file")),
                });
            }
        }
        let defaults = std::fs::read_to_string(chart.join("values.yaml")).unwrap_or_default();
        let Ok(m) = gantry_helm::chart::load_values(&defaults) else {
            continue;
        };
        let mut paths = Vec::new();
        leaves(&Value::Map(m), &mut Vec::new(), &mut paths);
        if paths.is_empty() {
            continue;
        }
        for i in 0..per_chart {
            let p = paths[rng.random_range(0..paths.len())].clone();
            let v = random_value(&mut rng);
            out.push(Job {
                name: format!("{case} random#{i} {}", p.join(".")),
                chart: chart.clone(),
                values: Some(override_yaml(&p, v)),
            });
        }
    }
    out
}

#[test]
fn renders_like_helm_library() {
    let jobs = jobs();
    let req: Vec<serde_json::Value> = jobs
        .iter()
        .map(|j| serde_json::json!({"chart": j.chart, "values": j.values, "manifest": true}))
        .collect();
    let results = common::helm_oracle(&req);
    let (mut same, mut both_fail, mut nondet) = (0, 0, 0);
    let mut diffs = Vec::new();
    for (job, want) in jobs.iter().zip(results) {
        let mut files = BTreeMap::new();
        read_tree(&job.chart, &job.chart, &mut files);
        let got = render(Request {
            values_files: job
                .values
                .iter()
                .map(|v| ("values.yaml".to_owned(), v.clone()))
                .collect(),
            ..common::request(files)
        });
        match (got, want.get("error")) {
            (Err(_), Some(_)) => both_fail += 1,
            (Err(e), None) => {
                diffs.push(format!("{}: Gantry failed, Helm rendered: {e}", job.name))
            }
            (Ok(_), Some(e)) => {
                diffs.push(format!("{}: Helm failed, Gantry rendered: {e}", job.name))
            }
            (Ok(r), None) => {
                if !r.nondeterministic.is_empty() {
                    nondet += 1;
                    continue;
                }
                let want_t: BTreeMap<String, String> =
                    serde_json::from_value(want["templates"].clone()).expect("templates");
                if want_t != r.templates {
                    let bad: Vec<&String> = want_t
                        .keys()
                        .chain(r.templates.keys())
                        .filter(|k| want_t.get(*k) != r.templates.get(*k))
                        .collect();
                    diffs.push(format!("{}: templates differ: {bad:?}", job.name));
                    continue;
                }
                if let Some(m) = want.get("manifest").and_then(|m| m.as_str()) {
                    match gantry_helm::manifest::release_manifest(&r.templates, &r.not_utf8) {
                        Ok(ours) if ours == m => {}
                        Ok(_) => {
                            diffs.push(format!("{}: release manifest differs", job.name));
                            continue;
                        }
                        Err(e) => {
                            diffs.push(format!(
                                "{}: Gantry's manifest failed, Helm's did not: {e}",
                                job.name
                            ));
                            continue;
                        }
                    }
                } else if want
                    .get("manifest_error")
                    .and_then(|e| e.as_str())
                    // Helm's install checks that every dependency is in charts/; `helm template`
                    // and its engine, like Gantry, render without the missing ones.
                    .is_some_and(|e| !e.contains("dependencies are missing"))
                    && gantry_helm::manifest::release_manifest(&r.templates, &r.not_utf8).is_ok()
                {
                    diffs.push(format!(
                        "{}: Helm's install refused the manifest, Gantry's did not",
                        job.name
                    ));
                    continue;
                }
                same += 1;
            }
        }
    }
    println!(
        "helm differential: {} jobs: {same} identical, {both_fail} failing in both, {nondet} nondeterministic (skipped), {} different",
        jobs.len(),
        diffs.len()
    );
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
