//! `gantry-load pipeline`: the whole pipeline, measured. A signed webhook POST to the receiver,
//! JetStream, reconciler workers, the Kubernetes API emulator, and the Git host emulator's commit
//! statuses. The receiver and the workers are the real binaries, as child processes, so their
//! RSS is their own; nats-server is started as for `bench`, and the two emulators run in this
//! process. Every figure is printed, none asserted.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use gantry_forge_sim::{ForgeSim, git::RefUpdate, hooks};
use gantry_kube_sim::KubeSim;
use gantry_tests::{GitRepo, NatsServer};

use crate::bench::{InProcess, Receiver, SECRET, service_bin, wait_ready};
use crate::cli::PipelineArgs;

const FULL: &str = "acme/platform";
const TOKEN: &str = "pipeline-token";
const ZERO: &str = "0000000000000000000000000000000000000000";

/// Runs both measurements with `args`' sizes (tiny ones with `--smoke`).
pub async fn run(args: &PipelineArgs) -> Result<()> {
    let (rounds, apps, concurrency) = if args.smoke {
        (3, 10, 8)
    } else {
        (args.rounds, args.apps, args.concurrency)
    };
    if rounds == 0 || apps == 0 || concurrency == 0 {
        return Err(crate::cli::BadOption::new(
            "--rounds, --apps and --concurrency must be at least 1",
        )
        .into());
    }
    let bins = Bins {
        receiver: service_bin(
            "gantry-receiver",
            args.receiver_bin.as_deref(),
            args.no_build,
        )?,
        reconciler: service_bin(
            "gantry-reconciler",
            args.reconciler_bin.as_deref(),
            args.no_build,
        )?,
    };
    latency_and_throughput(&bins, rounds, 50, if args.smoke { 4 } else { 16 }).await?;
    big_repository(&bins, apps, concurrency).await
}

struct Bins {
    receiver: PathBuf,
    reconciler: PathBuf,
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

/// A reconciler worker process, killed on drop.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Stack {
    nats: NatsServer,
    kube: KubeSim,
    forge: ForgeSim,
    receiver: Receiver,
    reconciler: PathBuf,
    http: reqwest::Client,
    deliveries: AtomicU64,
    dir: tempfile::TempDir,
}

impl Stack {
    async fn start(bins: &Bins) -> Result<Stack> {
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
        let dir = tempfile::tempdir()?;
        let receiver = Receiver::start(&bins.receiver, &nats.url(), dir.path()).await?;
        let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await?);
        wait_ready(receiver.addr, &js, &mut InProcess).await?;
        Ok(Stack {
            nats,
            kube,
            forge,
            receiver,
            reconciler: bins.reconciler.clone(),
            http: reqwest::Client::new(),
            deliveries: AtomicU64::new(0),
            dir,
        })
    }

    fn worker(&self, name: &str, repo: &Path, concurrency: usize) -> Result<Worker> {
        let kc = self.dir.path().join("kubeconfig");
        std::fs::write(&kc, self.kube.kubeconfig())?;
        let cfg = self.dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &cfg,
            format!(
                "nats: {{url: {}}}\nconcurrency: {concurrency}\nforges:\n  - {{name: github, kind: github, apiUrl: {}, tokenEnv: PIPELINE_TOKEN}}\nrepositories:\n  - {{fullName: {FULL}, forge: github, cloneUrl: file://{}}}\nclusters:\n  - {{name: default, kubeconfig: {}}}\n",
                self.nats.url(),
                self.forge.url(),
                repo.display(),
                kc.display()
            ),
        )?;
        let child = Command::new(&self.reconciler)
            .arg("--config")
            .arg(&cfg)
            .args(["--listen", "127.0.0.1:0", "--worker-id", name])
            .arg("--data-dir")
            .arg(self.dir.path().join(name))
            .env("PIPELINE_TOKEN", TOKEN)
            .env(gantry_config::ENV_LOG_LEVEL, "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", self.reconciler.display()))?;
        Ok(Worker(child))
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
        let n = self.deliveries.fetch_add(1, Ordering::Relaxed);
        let t = Instant::now();
        let resp = self
            .http
            .post(format!("http://{}/webhooks/github", self.receiver.addr))
            .header("content-type", "application/json")
            .header("x-github-event", "push")
            .header("x-github-delivery", format!("pipeline-{n}"))
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

    /// Waits until `n` contexts have a final status on `sha`; how many are `success`.
    async fn finals(&self, sha: &str, n: usize, within: Duration) -> Result<usize> {
        let deadline = Instant::now() + within;
        loop {
            let list = self.forge.statuses(FULL, sha);
            let done: BTreeSet<&str> = list
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

    async fn stop(self) {
        self.receiver.stop().await;
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// p50/p99 from webhook POST to `success` for an `objects`-object app, and events/s with 1 and
/// 2 workers.
async fn latency_and_throughput(
    bins: &Bins,
    rounds: usize,
    objects: usize,
    apps: usize,
) -> Result<()> {
    let stack = Stack::start(bins).await?;
    let repo = GitRepo::new()?;
    let names: Vec<String> = (0..apps).map(|i| format!("svc-{i:02}")).collect();
    repo.write(".gantry.yaml", &gantry_yaml(&names, &["dev"]))?;
    for n in &names {
        repo.write(
            &format!("apps/{n}/dev/all.yaml"),
            &app_manifests(n, objects, "0"),
        )?;
    }
    let mut head = repo.commit("seed")?;
    let mut workers = vec![stack.worker("w1", repo.path(), 4)?];
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

    for count in [1usize, 2] {
        if count == 2 {
            workers.push(stack.worker("w2", repo.path(), 4)?);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let mut shas = Vec::new();
        let mut posts = Vec::new();
        for n in &names {
            repo.write(
                &format!("apps/{n}/dev/all.yaml"),
                &app_manifests(n, objects, &format!("w{count}")),
            )?;
            let next = repo.commit(&format!("{n} w{count}"))?;
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
            "{apps} events (one {objects}-object app changed each), {count} worker(s): {:.2} s, {:.1} events/s",
            e.as_secs_f64(),
            apps as f64 / e.as_secs_f64()
        );
    }
    drop(workers);
    stack.stop().await;
    Ok(())
}

/// Full sync of `apps` apps x 3 environments, then a one-app change; the worker's peak RSS.
async fn big_repository(bins: &Bins, apps: usize, concurrency: usize) -> Result<()> {
    let stack = Stack::start(bins).await?;
    let repo = GitRepo::new()?;
    let envs = ["dev", "staging", "prod"];
    let names: Vec<String> = (0..apps).map(|i| format!("app-{i:04}")).collect();
    repo.write(".gantry.yaml", &gantry_yaml(&names, &envs))?;
    for n in &names {
        for e in envs {
            repo.write(&format!("apps/{n}/{e}/all.yaml"), &app_manifests(n, 2, "0"))?;
        }
    }
    let c1 = repo.commit("seed")?;
    let w = stack.worker("big", repo.path(), concurrency)?;
    let pid = w.0.id();
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
    let changed = &names[apps / 2];
    repo.write(
        &format!("apps/{changed}/dev/all.yaml"),
        &app_manifests(changed, 2, "1"),
    )?;
    let c2 = repo.commit("one app")?;
    let t = stack.webhook(&c1, &c2).await?;
    let state = stack
        .done(
            std::slice::from_ref(&c2),
            &format!("gantry/{changed}/dev"),
            Duration::from_secs(60),
        )
        .await?;
    println!(
        "one-app change in a {}-environment repository: {:.0} ms to {state}",
        apps * envs.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let peak = crate::procstat::memory(pid).map_or(0.0, |m| m.hwm_kib as f64 / 1024.0);
    println!(
        "reconciler peak RSS: {peak:.0} MiB (target < 200 MiB; Flux's published figure: 175 MiB for 1,000 Kustomizations)"
    );
    drop(w);
    stack.stop().await;
    Ok(())
}
