//! The whole pipeline, measured: signed webhook POST to the receiver, JetStream, reconciler
//! workers (the real binary, as child processes, so their RSS is their own), the Kubernetes API
//! emulator, and the Git host emulator's commit statuses.
//!
//! `cargo bench -p gantry-reconciler --bench pipeline` (release). Sizes come from the
//! environment: `GANTRY_BENCH_ROUNDS` (latency samples, 30), `GANTRY_BENCH_APPS` (apps of the
//! big repository, 1000; 3 environments each), `GANTRY_BENCH_CONCURRENCY` (per worker, 32).
//! With `--smoke` everything is tiny, for CI.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use gantry_forge_sim::{ForgeSim, git::RefUpdate, hooks};
use gantry_kube_sim::KubeSim;
use gantry_tests::NatsServer;

const FULL: &str = "acme/platform";
const SECRET: &str = "bench-secret";
const TOKEN: &str = "bench-token";
const ZERO: &str = "0000000000000000000000000000000000000000";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Result<Repo> {
        let r = Repo {
            dir: tempfile::tempdir()?,
        };
        r.git(&["init", "-q", "-b", "main"])?;
        Ok(r)
    }
    fn git(&self, args: &[&str]) -> Result<String> {
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
            .current_dir(self.dir.path())
            .output()?;
        if !out.status.success() {
            bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
    fn write(&self, path: &str, text: &str) -> Result<()> {
        let p = self.dir.path().join(path);
        std::fs::create_dir_all(p.parent().context("parent")?)?;
        std::fs::write(p, text)?;
        Ok(())
    }
    fn commit(&self, msg: &str) -> Result<String> {
        self.git(&["add", "-A"])?;
        self.git(&["commit", "-q", "-m", msg])?;
        self.git(&["rev-parse", "HEAD"])
    }
}

fn app_manifests(name: &str, objects: usize, version: &str) -> String {
    let mut s = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n        - name: app\n          image: nginx:1.27\n"
    );
    for i in 1..objects {
        s.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-{i}\ndata:\n  version: \"{version}\"\n"
        ));
    }
    s
}

fn gantry_yaml(apps: &[String], envs: &[&str]) -> String {
    let mut s = String::from("apps:\n");
    for a in apps {
        s.push_str(&format!("  - name: {a}\n    environments:\n"));
        for e in envs {
            s.push_str(&format!(
                "      - {{name: {e}, branch: main, path: apps/{a}/{e}, namespace: {a}-{e}, healthTimeout: 60s}}\n"
            ));
        }
    }
    s
}

struct Stack {
    nats: NatsServer,
    kube: KubeSim,
    forge: ForgeSim,
    receiver: String,
    http: reqwest::Client,
    _stop_receiver: tokio::sync::oneshot::Sender<()>,
    dir: tempfile::TempDir,
}

impl Stack {
    async fn start() -> Result<Stack> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let nats = NatsServer::start()?;
        let kube = KubeSim::start(gantry_kube_sim::Config {
            ready_delay: Duration::from_millis(100),
            controller_interval: Duration::from_millis(50),
            ..Default::default()
        })
        .await?;
        let forge = ForgeSim::start(gantry_forge_sim::Config {
            tokens: vec![TOKEN.into()],
            ..Default::default()
        })
        .await?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let receiver = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let config = gantry_receiver::Config::for_tests(&nats.url(), SECRET);
        tokio::spawn(gantry_receiver::run(listener, config, async move {
            let _ = rx.await;
        }));
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http
                .get(format!("{receiver}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Stack {
            nats,
            kube,
            forge,
            receiver,
            http,
            _stop_receiver: tx,
            dir: tempfile::tempdir()?,
        })
    }

    fn worker(&self, name: &str, repo: &Path, concurrency: usize) -> Result<Child> {
        let kc = self.dir.path().join("kubeconfig");
        std::fs::write(&kc, self.kube.kubeconfig())?;
        let cfg = self.dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &cfg,
            format!(
                "nats: {{url: {}}}\nconcurrency: {concurrency}\nforges:\n  - {{name: github, kind: github, apiUrl: {}, tokenEnv: BENCH_TOKEN}}\nrepositories:\n  - {{fullName: {FULL}, forge: github, cloneUrl: file://{}}}\nclusters:\n  - {{name: default, kubeconfig: {}}}\n",
                self.nats.url(),
                self.forge.url(),
                repo.display(),
                kc.display()
            ),
        )?;
        let child = Command::new(env!("CARGO_BIN_EXE_gantry-reconciler"))
            .args([
                "--config",
                cfg.to_str().unwrap_or_default(),
                "--listen",
                "127.0.0.1:0",
                "--worker-id",
                name,
            ])
            .arg("--data-dir")
            .arg(self.dir.path().join(name))
            .env("BENCH_TOKEN", TOKEN)
            .env("GANTRY_LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()?;
        Ok(child)
    }

    async fn webhook(&self, before: &str, after: &str) -> Result<Instant> {
        let info = hooks::RepoInfo {
            full_name: FULL.into(),
            base_url: "https://github.com".into(),
            default_branch: "main".into(),
        };
        let update = RefUpdate {
            name: "refs/heads/main".into(),
            before: before.into(),
            after: after.into(),
        };
        let body = serde_json::to_vec(&hooks::push_payload(
            hooks::Flavor::Github,
            &info,
            &update,
            &[],
        ))?;
        let t = Instant::now();
        let resp = self
            .http
            .post(format!("{}/webhooks/github", self.receiver))
            .header("content-type", "application/json")
            .header("x-github-event", "push")
            .header("x-github-delivery", uuid::Uuid::new_v4().to_string())
            .header(
                "x-hub-signature-256",
                gantry_tests::github_signature(SECRET.as_bytes(), &body),
            )
            .body(body)
            .send()
            .await?;
        if resp.status() != 202 {
            bail!(
                "receiver answered {}: {}",
                resp.status(),
                resp.text().await?
            );
        }
        Ok(t)
    }

    /// Waits until `context` has a final status on any of `shas`.
    async fn done(&self, shas: &[String], context: &str, within: Duration) -> Result<String> {
        let deadline = Instant::now() + within;
        loop {
            for sha in shas {
                if let Some(s) = self
                    .forge
                    .statuses(FULL, sha)
                    .iter()
                    .rev()
                    .find(|s| s.context == context && s.state != "pending")
                {
                    return Ok(s.state.clone());
                }
            }
            if Instant::now() > deadline {
                bail!("{context}: no final status within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Waits until `n` contexts have a final status on `sha`.
    async fn finals(&self, sha: &str, n: usize, within: Duration) -> Result<usize> {
        let deadline = Instant::now() + within;
        loop {
            let list = self.forge.statuses(FULL, sha);
            let done: std::collections::BTreeSet<&str> = list
                .iter()
                .filter(|s| s.state != "pending")
                .map(|s| s.context.as_str())
                .collect();
            let ok = list.iter().filter(|s| s.state == "success").count();
            if done.len() >= n {
                return Ok(ok);
            }
            if Instant::now() > deadline {
                bail!(
                    "only {} of {n} environments finished within {within:?}",
                    done.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
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
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn kill(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

/// p50/p99 from webhook POST to `success` for a 50-object app, and events/s with 1 and 2 workers.
async fn latency_and_throughput(rounds: usize, objects: usize, apps: usize) -> Result<()> {
    let stack = Stack::start().await?;
    let repo = Repo::new()?;
    let names: Vec<String> = (0..apps).map(|i| format!("svc-{i:02}")).collect();
    repo.write(".gantry.yaml", &gantry_yaml(&names, &["dev"]))?;
    for n in &names {
        repo.write(
            &format!("apps/{n}/dev/all.yaml"),
            &app_manifests(n, objects, "0"),
        )?;
    }
    let mut head = repo.commit("seed")?;
    let w1 = stack.worker("w1", repo.dir.path(), 4)?;
    stack.webhook(ZERO, &head).await?;
    stack.finals(&head, apps, Duration::from_secs(300)).await?;

    let mut lat = Vec::new();
    for r in 0..rounds {
        repo.write(
            "apps/svc-00/dev/all.yaml",
            &app_manifests("svc-00", objects, &format!("r{r}")),
        )?;
        let next = repo.commit(&format!("round {r}"))?;
        let t = stack.webhook(&head, &next).await?;
        let state = stack
            .done(
                std::slice::from_ref(&next),
                "gantry/svc-00/dev",
                Duration::from_secs(60),
            )
            .await?;
        lat.push(t.elapsed());
        if state != "success" {
            bail!("round {r}: {state}");
        }
        head = next;
    }
    lat.sort();
    println!(
        "webhook -> success, {objects}-object app, {rounds} changes: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        pct(&lat, 0.5).as_secs_f64() * 1e3,
        pct(&lat, 0.99).as_secs_f64() * 1e3,
        pct(&lat, 1.0).as_secs_f64() * 1e3
    );

    let mut children = vec![w1];
    for workers in [1usize, 2] {
        if workers == 2 {
            children.push(stack.worker("w2", repo.dir.path(), 4)?);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let mut shas = Vec::new();
        let mut posts = Vec::new();
        for n in &names {
            repo.write(
                &format!("apps/{n}/dev/all.yaml"),
                &app_manifests(n, objects, &format!("w{workers}")),
            )?;
            let next = repo.commit(&format!("{n} w{workers}"))?;
            posts.push((head.clone(), next.clone()));
            shas.push(next.clone());
            head = next;
        }
        let t = Instant::now();
        for (b, a) in &posts {
            stack.webhook(b, a).await?;
        }
        for (i, n) in names.iter().enumerate() {
            stack
                .done(
                    &shas[i..],
                    &format!("gantry/{n}/dev"),
                    Duration::from_secs(300),
                )
                .await?;
        }
        let e = t.elapsed();
        println!(
            "{apps} events (one {objects}-object app changed each), {workers} worker(s): {:.2} s, {:.1} events/s",
            e.as_secs_f64(),
            apps as f64 / e.as_secs_f64()
        );
    }
    for c in children {
        kill(c);
    }
    Ok(())
}

/// Full sync of `apps` apps x 3 environments, then a one-app change; the worker's peak RSS.
async fn big_repository(apps: usize, concurrency: usize) -> Result<()> {
    let stack = Stack::start().await?;
    let repo = Repo::new()?;
    let envs = ["dev", "staging", "prod"];
    let names: Vec<String> = (0..apps).map(|i| format!("app-{i:04}")).collect();
    repo.write(".gantry.yaml", &gantry_yaml(&names, &envs))?;
    for n in &names {
        for e in envs {
            repo.write(&format!("apps/{n}/{e}/all.yaml"), &app_manifests(n, 2, "0"))?;
        }
    }
    let c1 = repo.commit("seed")?;
    let w = stack.worker("big", repo.dir.path(), concurrency)?;
    let pid = w.id();
    let t = stack.webhook(ZERO, &c1).await?;
    let ok = stack
        .finals(&c1, apps * envs.len(), Duration::from_secs(1800))
        .await?;
    let full = t.elapsed();
    println!(
        "full sync: {} environments ({apps} apps x 3, 2 objects each, concurrency {concurrency}): {:.1} s ({ok} success), {:.0} environments/s",
        apps * envs.len(),
        full.as_secs_f64(),
        (apps * envs.len()) as f64 / full.as_secs_f64()
    );
    repo.write(
        &format!("apps/{}/dev/all.yaml", names[apps / 2]),
        &app_manifests(&names[apps / 2], 2, "1"),
    )?;
    let c2 = repo.commit("one app")?;
    let t = stack.webhook(&c1, &c2).await?;
    let state = stack
        .done(
            std::slice::from_ref(&c2),
            &format!("gantry/{}/dev", names[apps / 2]),
            Duration::from_secs(60),
        )
        .await?;
    println!(
        "one-app change in a {}-environment repository: {:.0} ms to {state}",
        apps * envs.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    println!(
        "reconciler peak RSS: {:.0} MiB (target < 200 MiB; Flux's published figure: 175 MiB for 1,000 Kustomizations)",
        rss_peak_mib(pid)
    );
    kill(w);
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let (rounds, apps, concurrency) = if smoke {
        (3, 10, 8)
    } else {
        (
            env_usize("GANTRY_BENCH_ROUNDS", 30),
            env_usize("GANTRY_BENCH_APPS", 1000),
            env_usize("GANTRY_BENCH_CONCURRENCY", 32),
        )
    };
    let _: PathBuf = PathBuf::new();
    latency_and_throughput(rounds, 50, if smoke { 4 } else { 16 }).await?;
    big_repository(apps, concurrency).await?;
    Ok(())
}
