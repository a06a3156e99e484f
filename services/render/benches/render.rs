//! Benchmark: renders generated overlays of 100, 1,000 and 10,000 objects (with patches and
//! generators) and prints time and peak memory, with pykustomize's time for the same inputs
//! measured in the same run, and the ratios. `cargo bench -p gantry-render --bench render`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gantry_render::{DirFs, RenderOptions, render};

const APPS_PER_OBJECTS: usize = 5; // objects rendered per generated app

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// Writes `base/` and `overlay/` rendering to about `objects` objects.
fn generate(root: &Path, objects: usize) -> PathBuf {
    let apps = objects.div_ceil(APPS_PER_OBJECTS);
    let mut res = String::new();
    let mut k = String::from("resources:\n- resources.yaml\nconfigMapGenerator:\n");
    for i in 0..apps {
        let _ = write!(
            res,
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{i}\n  labels:\n    app: app{i}\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: app{i}\n  template:\n    metadata:\n      labels:\n        app: app{i}\n    spec:\n      serviceAccountName: sa{i}\n      containers:\n      - name: main\n        image: nginx:1.25\n        ports:\n        - containerPort: 8080\n        env:\n        - name: MODE\n          value: \"production\"\n        - name: FROM_CM\n          valueFrom:\n            configMapKeyRef:\n              name: gen{i}\n              key: level\n        volumeMounts:\n        - name: config\n          mountPath: /etc/app\n      volumes:\n      - name: config\n        configMap:\n          name: static{i}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app{i}\n  labels:\n    app: app{i}\nspec:\n  selector:\n    app: app{i}\n  ports:\n  - port: 80\n    targetPort: 8080\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: static{i}\ndata:\n  app.conf: |\n    listen 8080\n    workers 4\n  note: a longer line of text that is long enough to be folded by the emitter at eighty columns\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa{i}\n"
        );
        let _ = write!(
            k,
            "- name: gen{i}\n  literals:\n  - level=info\n  - id=\"{i}\"\n"
        );
    }
    write(&root.join("base/resources.yaml"), &res);
    write(&root.join("base/kustomization.yaml"), &k);
    let overlay = "resources:\n- ../base\nnamePrefix: prod-\nnamespace: shop\ncommonLabels:\n  env: prod\ncommonAnnotations:\n  owner: team-shop\nimages:\n- name: nginx\n  newTag: \"1.27\"\nreplicas:\n- name: app0\n  count: 5\npatches:\n- target:\n    kind: Deployment\n  patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: any\n    spec:\n      template:\n        spec:\n          containers:\n          - name: main\n            env:\n            - name: REGION\n              value: eu-west-1\n- target:\n    kind: Service\n  patch: |-\n    - op: add\n      path: /metadata/labels/exposed\n      value: \"true\"\nconfigMapGenerator:\n- name: gen0\n  behavior: merge\n  literals:\n  - level=debug\n";
    write(&root.join("overlay/kustomization.yaml"), overlay);
    root.join("overlay")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn gantry_time(dir: &Path, runs: usize) -> (Duration, usize, String) {
    let fs = DirFs::new(dir.parent().expect("root")).expect("fs");
    let mut times = Vec::new();
    let mut out = (0, String::new());
    for _ in 0..runs {
        let start = Instant::now();
        let r = render(&fs, "overlay", &RenderOptions::default(), None).expect("render");
        let yaml = r.to_yaml();
        times.push(start.elapsed());
        out = (r.objects.len(), yaml);
    }
    (median(times), out.0, out.1)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Child mode: render once, report peak RSS (a fresh process, so nothing else inflates it).
fn child(dir: &Path) {
    let before = peak_rss_kib();
    let (_, n, _) = gantry_time(dir, 1);
    println!("{n} {before} {}", peak_rss_kib());
}

const PY: &str = r#"
import asyncio, sys, time
from pykustomize import Kustomizer
async def main():
    k = Kustomizer()
    d, runs = sys.argv[1], int(sys.argv[2])
    times = []
    out = ""
    for _ in range(runs):
        t = time.perf_counter()
        out = (await k.build(d)).yaml
        times.append(time.perf_counter() - t)
    times.sort()
    open(sys.argv[3], "w").write(out)
    print(times[len(times) // 2])
asyncio.run(main())
"#;

fn python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    [
        std::env::var("GANTRY_TOOLS_DIR")
            .ok()
            .map(|d| PathBuf::from(d).join("venv/bin/python")),
        Some(root.join(".tools/venv/bin/python")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.exists())
}

fn pykustomize_time(py: &Path, dir: &Path, runs: usize, out: &Path) -> Option<Duration> {
    let o = Command::new(py)
        .arg("-c")
        .arg(PY)
        .arg(dir)
        .arg(runs.to_string())
        .arg(out)
        .output()
        .ok()?;
    if !o.status.success() {
        eprintln!("pykustomize failed: {}", String::from_utf8_lossy(&o.stderr));
        return None;
    }
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse::<f64>()
        .ok()
        .map(Duration::from_secs_f64)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(Path::new(&args[i + 1]));
        return;
    }
    let sizes: Vec<usize> = std::env::var("RENDER_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 1_000, 10_000]);
    // RENDER_BENCH_NO_PY=1 skips pykustomize (for profiling).
    let py = if std::env::var_os("RENDER_BENCH_NO_PY").is_some() {
        None
    } else {
        python()
    };
    let work = tempfile::tempdir().expect("tempdir");
    println!(
        "{:>8} {:>8} {:>12} {:>12} {:>14} {:>10} {:>10} {:>14}",
        "target",
        "objects",
        "gantry",
        "per object",
        "peak RSS",
        "pykustom.",
        "speedup",
        "same output"
    );
    for &size in &sizes {
        let root = work.path().join(format!("n{size}"));
        let dir = generate(&root, size);
        let runs = if size >= 10_000 { 3 } else { 7 };
        let (t, n, ours) = gantry_time(&dir, runs);
        let exe = std::env::current_exe().expect("exe");
        let rss = Command::new(exe)
            .arg("--child")
            .arg(&dir)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .and_then(|s| {
                let v: Vec<u64> = s
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                (v.len() == 3).then(|| (v[1], v[2]))
            });
        let py_out = root.join("pykustomize.yaml");
        let py_runs = if size >= 10_000 { 1 } else { 3 };
        let pt = py
            .as_ref()
            .and_then(|p| pykustomize_time(p, &dir, py_runs, &py_out));
        let same = std::fs::read_to_string(&py_out)
            .map(|s| s == ours)
            .unwrap_or(false);
        println!(
            "{:>8} {:>8} {:>10.2}ms {:>10.1}µs {:>14} {:>10} {:>10} {:>14}",
            size,
            n,
            t.as_secs_f64() * 1e3,
            t.as_secs_f64() * 1e6 / n.max(1) as f64,
            rss.map_or("?".into(), |(before, peak)| format!(
                "{:.1} MiB (+{:.1})",
                peak as f64 / 1024.0,
                (peak.saturating_sub(before)) as f64 / 1024.0
            )),
            pt.map_or("n/a".into(), |p| format!("{:.1}ms", p.as_secs_f64() * 1e3)),
            pt.map_or("n/a".into(), |p| format!(
                "{:.1}x",
                p.as_secs_f64() / t.as_secs_f64()
            )),
            if py.is_some() {
                same.to_string()
            } else {
                "n/a".into()
            },
        );
    }
}
