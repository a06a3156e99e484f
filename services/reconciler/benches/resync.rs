//! One resync round over a big repository, measured: 1,000 apps × 3 environments already
//! deployed, then a round with no change and a round with 1 % of the objects drifted (changed with
//! the Kubernetes API behind Gantry's back). For each round: the worker's CPU seconds, Git
//! requests (target: 1 per repository), Kubernetes API requests (target: the drifted objects plus
//! a constant), the round's duration, time from the change to its detection and its heal, and
//! the worker's peak RSS. The worker is the real binary, as a child process.
//!
//! `cargo bench -p gantry-reconciler --bench resync` (release). `GANTRY_BENCH_APPS` (1000),
//! `GANTRY_BENCH_INTERVAL` (seconds between rounds, 30), `--smoke` for a tiny run.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use gantry_forge_sim::ForgeSim;
use gantry_kube_sim::KubeSim;
use gantry_proto::v1::{Event, EventKind, Outcome, Phase, Provider, Repository};
use gantry_tests::NatsServer;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use prost::Message;

const FULL: &str = "acme/platform";
const TOKEN: &str = "bench-token";
const ZERO: &str = "0000000000000000000000000000000000000000";
const ENVS: [&str; 3] = ["dev", "staging", "prod"];
/// ConfigMaps per environment.
const OBJECTS: usize = 2;

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=B",
            "-c",
            "user.email=b@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()?;
    if !out.status.success() {
        bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn rss_peak_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .unwrap_or(0.0)
        / 1024.0
}

async fn metrics(base: &str) -> Result<String> {
    Ok(reqwest::get(format!("{base}/metrics"))
        .await?
        .text()
        .await?)
}

fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Environments checked so far (every check counts once in `gantry_resync_total`, except
/// `recovered`).
fn checked(text: &str) -> f64 {
    sample(text, "gantry_resync_total{outcome=\"unchanged\"}")
        + sample(text, "gantry_resync_total{outcome=\"drifted\"}")
}

struct Snapshot {
    cpu: f64,
    git: u64,
    listings: u64,
    kube: u64,
    rounds: f64,
    round_seconds: f64,
    checked: f64,
}

struct Bench {
    nats: NatsServer,
    kube: KubeSim,
    kube_requests: Arc<AtomicU64>,
    forge: ForgeSim,
    dir: tempfile::TempDir,
    worker: Option<Child>,
    base: String,
    envs: usize,
}

impl Bench {
    async fn snapshot(&self) -> Result<Snapshot> {
        let pid = self.worker.as_ref().map(|c| c.id()).unwrap_or(0);
        let m = metrics(&self.base).await?;
        let hosting = self.forge.hosting().context("hosting")?;
        Ok(Snapshot {
            cpu: cpu_seconds(pid),
            git: hosting.git_requests(),
            listings: hosting.ref_listings(),
            kube: self.kube_requests.load(Ordering::SeqCst),
            rounds: sample(
                &m,
                "gantry_reconcile_duration_seconds_count{phase=\"resync\"}",
            ),
            round_seconds: sample(
                &m,
                "gantry_reconcile_duration_seconds_sum{phase=\"resync\"}",
            ),
            checked: checked(&m),
        })
    }

    /// Waits for the next round to finish and to have checked every environment.
    async fn next_round(&self, from: &Snapshot, within: Duration) -> Result<Snapshot> {
        let deadline = Instant::now() + within;
        loop {
            let s = self.snapshot().await?;
            if s.rounds > from.rounds && s.checked - from.checked >= self.envs as f64 {
                return Ok(s);
            }
            if Instant::now() > deadline {
                bail!(
                    "no complete round within {within:?}: {} rounds, {} checks since",
                    s.rounds - from.rounds,
                    s.checked - from.checked
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn print_round(
    name: &str,
    a: &Snapshot,
    b: &Snapshot,
    repos: usize,
    drifted: usize,
    not_ours: u64,
) {
    let rounds = (b.rounds - a.rounds).max(1.0);
    println!(
        "{name:<28} cpu {:>6.2} s  git requests {:>3} ({} ref listings; target {repos})  kube requests {:>4} (target <= {drifted} + constant)  round {:>6.2} s ({} round(s))",
        b.cpu - a.cpu,
        b.git - a.git,
        b.listings - a.listings,
        b.kube - a.kube - not_ours,
        (b.round_seconds - a.round_seconds) / rounds,
        rounds,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let apps: usize = if smoke {
        4
    } else {
        std::env::var("GANTRY_BENCH_APPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000)
    };
    let interval: u64 = if smoke {
        5
    } else {
        std::env::var("GANTRY_BENCH_INTERVAL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30)
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir()?;
    let nats = NatsServer::start()?;
    let kube_requests = Arc::new(AtomicU64::new(0));
    let kube = KubeSim::start(gantry_kube_sim::Config {
        controllers: false,
        request_counter: Some(kube_requests.clone()),
        ..Default::default()
    })
    .await?;
    let forge = ForgeSim::start(gantry_forge_sim::Config {
        tokens: vec![TOKEN.into()],
        ..gantry_forge_sim::Config::github_hosting(dir.path().join("repos"))
    })
    .await?;
    forge
        .hosting()
        .context("hosting")?
        .repos()
        .create(FULL, "main")
        .await?;
    let url = format!("{}/{FULL}.git", forge.url());

    // The repository: apps × 3 environments, each two ConfigMaps.
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work)?;
    git(&work, &["init", "-q", "-b", "main"])?;
    let mut yaml = String::from("apps:\n");
    for a in 0..apps {
        let name = format!("svc-{a:04}");
        yaml.push_str(&format!("  - name: {name}\n    environments:\n"));
        for e in ENVS {
            yaml.push_str(&format!(
                "      - {{name: {e}, branch: main, path: apps/{name}/{e}, namespace: {name}-{e}, healthTimeout: 60s}}\n"
            ));
            let mut m = String::new();
            for i in 0..OBJECTS {
                m.push_str(&format!(
                    "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-{i}\ndata:\n  value: \"{e}-{i}\"\n"
                ));
            }
            let p = work.join(format!("apps/{name}/{e}/all.yaml"));
            std::fs::create_dir_all(p.parent().context("parent")?)?;
            std::fs::write(p, m)?;
        }
    }
    std::fs::write(work.join(".gantry.yaml"), yaml)?;
    git(&work, &["add", "-A"])?;
    git(&work, &["commit", "-qm", "all apps"])?;
    let head = git(&work, &["rev-parse", "HEAD"])?;
    git(&work, &["push", "-q", &url, "main"])?;

    // The worker: the real binary.
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, kube.kubeconfig())?;
    let cfg = dir.path().join("reconciler.yaml");
    std::fs::write(
        &cfg,
        format!(
            "nats: {{url: {}}}\nconcurrency: 16\nforges:\n  - {{name: github, kind: github, apiUrl: {}, tokenEnv: BENCH_TOKEN}}\nrepositories:\n  - {{fullName: {FULL}, forge: github, cloneUrl: {url}}}\nclusters:\n  - {{name: default, kubeconfig: {}}}\nresync: {{interval: {interval}s}}\n",
            nats.url(),
            forge.url(),
            kc.display()
        ),
    )?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let listen = listener.local_addr()?;
    drop(listener);
    let worker = Command::new(env!("CARGO_BIN_EXE_gantry-reconciler"))
        .arg("--config")
        .arg(&cfg)
        .args([
            "--listen",
            &listen.to_string(),
            "--worker-id",
            "bench",
            "--log-level",
            &std::env::var("GANTRY_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("BENCH_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut bench = Bench {
        nats,
        kube,
        kube_requests,
        forge,
        dir,
        worker: Some(worker),
        base: format!("http://{listen}"),
        envs: apps * ENVS.len(),
    };
    let http = reqwest::Client::new();
    let ready = Instant::now() + Duration::from_secs(60);
    while !http
        .get(format!("{}/readyz", bench.base))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        if Instant::now() > ready {
            bail!("the worker did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Deploy everything with one push event.
    let js = async_nats::jetstream::new(async_nats::connect(bench.nats.url()).await?);
    gantry_nats::ensure_stream(
        &js,
        &gantry_nats::events_stream_config(1),
        gantry_nats::EVENTS_STREAM,
    )
    .await?;
    let event = Event {
        id: "github:bench-1".into(),
        delivery_id: "bench-1".into(),
        provider: Provider::Github as i32,
        kind: EventKind::Push as i32,
        repository: Some(Repository {
            full_name: FULL.into(),
            owner: "acme".into(),
            name: "platform".into(),
            clone_url: url.clone(),
            ..Default::default()
        }),
        r#ref: "refs/heads/main".into(),
        before: ZERO.into(),
        after: head.clone(),
        ..Default::default()
    };
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(gantry_nats::HEADER_MSG_ID, event.id.as_str());
    let t = Instant::now();
    js.publish_with_headers(
        gantry_nats::event_subject("github", "acme", "platform", "push"),
        headers,
        event.encode_to_vec().into(),
    )
    .await?
    .await?;
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let m = metrics(&bench.base).await?;
        let done: f64 = m
            .lines()
            .filter(|l| {
                l.starts_with("gantry_reconcile_total{") && l.contains("outcome=\"success\"")
            })
            .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
            .sum();
        if done as usize >= bench.envs {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {done} of {} environments deployed", bench.envs);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "resync bench: {apps} apps x 3 environments = {} environments, {} objects, interval {interval}s; first deploy {:.1}s",
        bench.envs,
        bench.envs * OBJECTS,
        t.elapsed().as_secs_f64()
    );
    let round_limit = Duration::from_secs(interval * 4 + 600);

    // A first round starts the watches; then a round with no change.
    let s0 = bench.snapshot().await?;
    let s1 = bench.next_round(&s0, round_limit).await?;
    print_round("first round (watches start)", &s0, &s1, 1, 0, 0);
    let s2 = bench.next_round(&s1, round_limit).await?;
    print_round("round, no change", &s1, &s2, 1, 0, 0);

    // 1 % of the objects changed behind Gantry's back.
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::from_yaml(&bench.kube.kubeconfig())?,
            &Default::default(),
        )
        .await?,
    )?;
    let ar = kube::core::ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        plural: "configmaps".into(),
    };
    let objects = bench.envs * OBJECTS;
    let drift = (objects / 100).max(1);
    let kube_before = bench.kube_requests.load(Ordering::SeqCst);
    let changed_at = Instant::now();
    let step = (bench.envs / drift).max(1);
    for k in 0..drift {
        let env = (k * step) % bench.envs;
        let (a, e) = (env / 3, ENVS[env % 3]);
        let ns = format!("svc-{a:04}-{e}");
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
        api.patch(
            &format!("svc-{a:04}-0"),
            &PatchParams::apply("someone-else").force(),
            &Patch::Apply(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("svc-{a:04}-0")}, "data": {"value": "hand-edited"}})),
        )
        .await?;
    }
    // Our own patches are not the worker's requests.
    let ours = bench.kube_requests.load(Ordering::SeqCst) - kube_before;
    let s4 = bench.next_round(&s2, round_limit).await?;
    let drifted_kube = s4.kube - s2.kube - ours;
    print_round(
        &format!("round, {drift} of {objects} drifted"),
        &s2,
        &s4,
        1,
        drift,
        ours,
    );
    // Detection and heal times from the audit records.
    let audit = js.get_stream(gantry_nats::AUDIT_STREAM).await?;
    let consumer = audit
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            filter_subject: "gantry.audit.*.*.healed".into(),
            ..Default::default()
        })
        .await?;
    let healed = consumer.cached_info().num_pending;
    let consumer2 = audit
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            filter_subject: "gantry.audit.*.*.drifted".into(),
            ..Default::default()
        })
        .await?;
    let drifted_records = consumer2.cached_info().num_pending;
    let mut first_detect = None;
    let mut last_heal = None;
    {
        use futures::StreamExt;
        for (c, n, is_heal) in [
            (consumer2, drifted_records, false),
            (consumer, healed, true),
        ] {
            let mut msgs = c.messages().await?;
            for _ in 0..n {
                let Some(Ok(m)) = msgs.next().await else {
                    break;
                };
                let r = gantry_proto::v1::AuditRecord::decode(m.payload.clone())?;
                if r.phase != Phase::Drift as i32 {
                    continue;
                }
                let t = r
                    .time
                    .map(|t| t.seconds as f64 + t.nanos as f64 / 1e9)
                    .unwrap_or(0.0);
                if is_heal && r.outcome == Outcome::Healed as i32 {
                    last_heal = Some(last_heal.map_or(t, |l: f64| l.max(t)));
                } else if !is_heal {
                    first_detect = Some(first_detect.map_or(t, |f: f64| f.min(t)));
                }
            }
        }
    }
    let changed_unix = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9
        - changed_at.elapsed().as_secs_f64();
    println!(
        "drift: {drifted_records} environments reported drifted, {healed} healed; detected {:.1}s and all healed {:.1}s after the change (interval {interval}s; the change waits for the next round); worker kube requests in that round {drifted_kube} for {drift} drifted objects (the bench's own {ours} patches excluded)",
        first_detect.map_or(f64::NAN, |f| f - changed_unix),
        last_heal.map_or(f64::NAN, |l| l - changed_unix),
    );
    let pid = bench.worker.as_ref().map(|c| c.id()).unwrap_or(0);
    println!("worker peak RSS (VmHWM) {:.1} MiB", rss_peak_mib(pid));
    if let Some(mut w) = bench.worker.take() {
        let _ = Command::new("kill")
            .args(["-TERM", &w.id().to_string()])
            .status();
        let _ = w.wait();
    }
    let _ = &bench.dir;
    Ok(())
}
