//! Benchmark: Gantry's Helm engine against Helm v4.2.3's own library (helm-python-sdk) in the
//! same run. `cargo bench -p gantry --bench helm`.
//!
//! 1. Whole process, per chart: `gantry render CHART --helm-templates` against a Python process
//!    that loads the SDK and renders the same chart with the same values (the conformance
//!    cases' charts; `HELM_BENCH_CHARTS=N` takes the first N), the two sides' runs interleaved
//!    and spread in rounds over the whole bench.
//! 2. In process, per chart: one render through `gantry_helm::render` against the SDK's
//!    `Chart.render` timed inside Python (library load and interpreter start excluded).
//! 3. Linearity: generated charts of 10, 100 and 1,000 templates; time per template.
//!
//! Prints medians and ratios (Helm's time / Gantry's).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gantry_helm::{Release, Request, render};

// The in-process figures use the allocator the `gantry` binary renders with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cases_dir() -> PathBuf {
    gantry_tests::shared_fixture(
        "helm/cases",
        "the Helm conformance cases: real charts with Helm v4.2.3's own output",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn python() -> PathBuf {
    let p = root().join(".tools/venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `. scripts/tools.sh` first",
        p.display()
    );
    p
}

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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The lower quartile: the time of a run in the faster quarter, which a stretch of hiccups
/// (a few milliseconds added to every process for a second or more) reaches only when it
/// covers three quarters of the runs.
fn lower_quartile(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 4]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Bench {
    name: String,
    chart: PathBuf,
    values: Option<PathBuf>,
}

/// The SDK: `python SCRIPT chart values|- runs` renders `runs` times in one process and prints
/// the median seconds of one render; with runs 0 it renders once and prints nothing (for
/// whole-process timing).
const PY: &str = r#"
import sys, time
from helm_python.chart import Chart, values_from_yaml
chart, values, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
vals = values_from_yaml(open(values).read()) if values != "-" else None
times = []
for _ in range(max(runs, 1)):
    with Chart.load(chart) as c:
        t = time.perf_counter()
        c.render(values=vals, name="rel", namespace="ns")
        times.append(time.perf_counter() - t)
if runs:
    times.sort()
    print(times[len(times) // 2])
"#;

/// How long `cmd` takes with its output discarded; the bench stops if it fails.
fn timed(cmd: &mut Command, what: &str) -> Duration {
    let start = Instant::now();
    let st = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
    let took = start.elapsed();
    assert!(st.success(), "{what} failed");
    took
}

/// One SDK process: loading the library and rendering the chart once.
fn sdk_process(script: &Path, b: &Bench) -> Duration {
    let mut cmd = Command::new(python());
    cmd.arg(script)
        .arg(&b.chart)
        .arg(b.values.as_deref().unwrap_or(Path::new("-")))
        .arg("0");
    timed(&mut cmd, &format!("the SDK on {}", b.name))
}

fn sdk_in_process(script: &Path, b: &Bench, runs: usize) -> Duration {
    let out = Command::new(python())
        .arg(script)
        .arg(&b.chart)
        .arg(b.values.as_deref().unwrap_or(Path::new("-")))
        .arg(runs.to_string())
        .stderr(Stdio::null())
        .output()
        .expect("python runs");
    assert!(out.status.success(), "the SDK failed on {}", b.name);
    let secs: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("seconds");
    Duration::from_secs_f64(secs)
}

/// One `gantry render` process.
fn gantry_process(b: &Bench) -> Duration {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gantry"));
    cmd.arg("render").arg(&b.chart);
    if let Some(v) = &b.values {
        cmd.arg("--values").arg(v);
    }
    cmd.args([
        "--release-name",
        "rel",
        "--namespace",
        "ns",
        "--helm-templates",
    ]);
    timed(&mut cmd, &format!("gantry on {}", b.name))
}

/// One chart's whole-process times, Gantry's and the SDK's.
#[derive(Default)]
struct Runs {
    gantry: Vec<Duration>,
    sdk: Vec<Duration>,
}

impl Runs {
    fn medians(&self) -> (Duration, Duration) {
        (median(self.gantry.clone()), median(self.sdk.clone()))
    }

    /// The ratio of the two sides' lower quartiles: a stretch of hiccups of a few milliseconds
    /// doubles a small chart's 4 ms runs and adds a twentieth to the SDK's 80 ms, so it moves
    /// the medians' ratio by half when it covers most of one chart's runs (8.4x for a chart at
    /// 16-18x alternated, 2026-12-06), and this ratio less.
    fn quartile_ratio(&self) -> f64 {
        ms(lower_quartile(self.sdk.clone())) / ms(lower_quartile(self.gantry.clone()))
    }
}

/// Whole processes of every chart in `rounds` rounds: each round runs each chart
/// `gantry_per_round` times through Gantry and once through the SDK, the SDK's run among
/// Gantry's. On a shared two-core VM whose speed drops for a second or two at a time, a
/// chart's runs taken all in a row (under a second for a small chart) could fall in one such
/// stretch and make its figure alone: 8.4x for a chart at 16-18x alternated, 2026-12-06, in
/// one bench run of twenty. Spread over the whole bench, a stretch reaches a round or two of
/// each chart's runs, never most of them, and slows both sides where it does.
fn whole_processes(
    script: &Path,
    benches: &[Bench],
    rounds: usize,
    gantry_per_round: usize,
) -> Vec<Runs> {
    let mut runs: Vec<Runs> = benches.iter().map(|_| Runs::default()).collect();
    for _ in 0..rounds {
        for (b, r) in benches.iter().zip(&mut runs) {
            for i in 0..gantry_per_round {
                if i == gantry_per_round / 2 {
                    r.sdk.push(sdk_process(script, b));
                }
                r.gantry.push(gantry_process(b));
            }
        }
    }
    runs
}

fn gantry_request(b: &Bench) -> Request {
    let mut chart = BTreeMap::new();
    read_tree(&b.chart, &b.chart, &mut chart);
    Request {
        chart,
        values_files: b
            .values
            .iter()
            .map(|v| {
                (
                    v.display().to_string(),
                    std::fs::read_to_string(v).expect("values"),
                )
            })
            .collect(),
        release: Release {
            name: "rel".into(),
            namespace: "ns".into(),
            ..Release::default()
        },
        stream: false,
        ..Request::default()
    }
}

fn gantry_in_process(b: &Bench, runs: usize) -> Duration {
    let req = gantry_request(b);
    let mut times = Vec::new();
    for _ in 0..runs {
        let r = req.clone();
        let start = Instant::now();
        render(r).expect("renders");
        times.push(start.elapsed());
    }
    median(times)
}

fn fixture_benches() -> Vec<Bench> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("the fixture cases")
        .map(|e| e.expect("an entry").path())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for d in dirs {
        let case: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("case.json")).expect("case.json"))
                .expect("case.json");
        if case["expect"] != "ok"
            || !case["nondeterministic_templates"]
                .as_array()
                .is_none_or(Vec::is_empty)
        {
            continue;
        }
        out.push(Bench {
            name: d
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned(),
            chart: d.join("chart"),
            values: (!case["values_file"].is_null()).then(|| d.join("values.yaml")),
        });
    }
    out
}

/// A chart of `n` templates, each a Deployment and a Service through shared helpers.
fn generate(dir: &Path, n: usize) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("templates")).expect("mkdir");
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: synth\nversion: 1.0.0\nappVersion: \"2.1\"\n",
    )
    .expect("write");
    let helpers = r#"{{- define "synth.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "synth.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
{{- end }}
"#;
    std::fs::write(dir.join("templates/_helpers.tpl"), helpers).expect("write");
    let mut values = String::from("apps:\n");
    for i in 0..n {
        let _ = write!(
            values,
            "  app{i}:\n    replicas: {}\n    image: {{repository: nginx, tag: \"1.{i}\"}}\n    env: {{MODE: production, ID: \"{i}\"}}\n    resources: {{limits: {{cpu: 500m, memory: 128Mi}}}}\n    port: {}\n",
            i % 5 + 1,
            8000 + i
        );
        let t = format!(
            r#"{{{{- $app := index .Values.apps "app{i}" }}}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{{{ include "synth.fullname" . }}}}-app{i}
  labels:
    {{{{- include "synth.labels" . | nindent 4 }}}}
spec:
  replicas: {{{{ $app.replicas | default 1 }}}}
  template:
    spec:
      containers:
      - name: app
        image: "{{{{ $app.image.repository }}}}:{{{{ $app.image.tag | default .Chart.AppVersion }}}}"
        env:
        {{{{- range $k, $v := $app.env }}}}
        - name: {{{{ $k }}}}
          value: {{{{ $v | quote }}}}
        {{{{- end }}}}
        resources:
          {{{{- toYaml $app.resources | nindent 10 }}}}
        ports:
        - containerPort: {{{{ $app.port }}}}
---
apiVersion: v1
kind: Service
metadata:
  name: {{{{ include "synth.fullname" . }}}}-app{i}
  labels:
    {{{{- include "synth.labels" . | nindent 4 }}}}
spec:
  ports:
  - port: {{{{ $app.port }}}}
    targetPort: {{{{ $app.port }}}}
"#
        );
        std::fs::write(dir.join(format!("templates/app{i}.yaml")), t).expect("write");
    }
    std::fs::write(dir.join("values.yaml"), values).expect("write");
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` runs benches only to check they build.
    if std::env::args().all(|a| a != "--bench") {
        return;
    }
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let script = tmp.path().join("sdk.py");
    std::fs::write(&script, PY).expect("write");
    let limit: usize = std::env::var("HELM_BENCH_CHARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let benches: Vec<Bench> = fixture_benches().into_iter().take(limit).collect();

    println!(
        "Helm engine benchmark: Gantry against helm-python-sdk (Helm v4.2.3), same run, medians"
    );
    println!(
        "{:<58} {:>10} {:>10} {:>7} {:>10} {:>10} {:>7}",
        "chart", "gantry ms", "sdk ms", "ratio", "gantry ms", "sdk ms", "ratio"
    );
    println!(
        "{:<58} {:>29} {:>29}",
        "", "whole process", "in process (one render)"
    );
    let (mut proc_ratios, mut lib_ratios, mut quartile_ratios) =
        (Vec::new(), Vec::new(), Vec::new());
    let (mut g_total, mut s_total) = (Duration::ZERO, Duration::ZERO);
    // Whole processes are timed on a shared machine, where one run in five can wait for a
    // core: medians of many runs (Gantry's are cheap) keep such a run from being the figure.
    // 35 and 7 of each chart, in 7 rounds over all charts (about a minute).
    let whole = whole_processes(&script, &benches, 7, 5);
    for (b, runs) in benches.iter().zip(&whole) {
        let (gp, sp) = runs.medians();
        quartile_ratios.push(runs.quartile_ratio());
        let gl = gantry_in_process(b, 9);
        let sl = sdk_in_process(&script, b, 9);
        let (rp, rl) = (ms(sp) / ms(gp), ms(sl) / ms(gl));
        proc_ratios.push(rp);
        lib_ratios.push(rl);
        g_total += gp;
        s_total += sp;
        println!(
            "{:<58} {:>10.2} {:>10.2} {:>6.1}x {:>10.3} {:>10.3} {:>6.1}x",
            b.name,
            ms(gp),
            ms(sp),
            rp,
            ms(gl),
            ms(sl),
            rl
        );
    }
    let geo = |v: &[f64]| (v.iter().map(|r| r.ln()).sum::<f64>() / v.len() as f64).exp();
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    if !benches.is_empty() {
        println!(
            "{} charts: whole process {:.1}x geometric mean (min {:.1}x, total {:.0} ms against {:.0} ms); in process {:.1}x geometric mean (min {:.1}x)",
            benches.len(),
            geo(&proc_ratios),
            min(&proc_ratios),
            ms(g_total),
            ms(s_total),
            geo(&lib_ratios),
            min(&lib_ratios)
        );
        println!(
            "{} charts, whole process by lower quartiles (each side's faster quarter of runs): {:.1}x geometric mean (min {:.1}x)",
            benches.len(),
            geo(&quartile_ratios),
            min(&quartile_ratios)
        );
    }

    println!();
    println!("Linearity: a generated chart of N templates (a Deployment and a Service each)");
    println!(
        "{:>6} {:>12} {:>14} {:>12} {:>14} {:>7} {:>12} {:>12} {:>7}",
        "N",
        "gantry ms",
        "gantry us/tpl",
        "sdk ms",
        "sdk us/tpl",
        "ratio",
        "gantry ms",
        "sdk ms",
        "ratio"
    );
    println!(
        "{:>6} {:>63} {:>33}",
        "", "in process (one render)", "whole process"
    );
    let (mut per_template, mut per_template_proc) = (Vec::new(), Vec::new());
    let mut quartiles = Vec::new();
    let sizes = [10usize, 100, 1000];
    let synth: Vec<Bench> = sizes
        .iter()
        .map(|n| {
            let dir = tmp.path().join(format!("synth{n}"));
            generate(&dir, *n);
            Bench {
                name: format!("synth{n}"),
                chart: dir,
                values: None,
            }
        })
        .collect();
    // More runs than for the conformance charts: a whole process of the largest moves by half
    // from one minute to the next on a shared two-core VM (15 to 24 ms). 27 and 9, in rounds.
    let whole = whole_processes(&script, &synth, 9, 3);
    for ((n, b), runs) in sizes.iter().zip(&synth).zip(&whole) {
        let n = *n;
        let g = gantry_in_process(b, 5);
        let s = sdk_in_process(&script, b, 3);
        let (gp, sp) = runs.medians();
        quartiles.push(format!("{n} {:.1}x", runs.quartile_ratio()));
        per_template.push(ms(g) * 1e3 / n as f64);
        per_template_proc.push(ms(gp) * 1e3 / n as f64);
        println!(
            "{n:>6} {:>12.2} {:>14.1} {:>12.2} {:>14.1} {:>6.1}x {:>12.2} {:>12.2} {:>6.1}x",
            ms(g),
            ms(g) * 1e3 / n as f64,
            ms(s),
            ms(s) * 1e3 / n as f64,
            ms(s) / ms(g),
            ms(gp),
            ms(sp),
            ms(sp) / ms(gp)
        );
    }
    println!("whole process by lower quartiles: {}", quartiles.join(", "));
    println!(
        "time per template at N=1000 over N=100: {:.2} in process, {:.2} whole process (1.00 is linear; N=10 is dominated by the fixed cost)",
        per_template[2] / per_template[1],
        per_template_proc[2] / per_template_proc[1]
    );
    println!(
        "time per template at N=1000 over N=10: {:.2} in process (1.00 is linear)",
        per_template[2] / per_template[0]
    );
}
