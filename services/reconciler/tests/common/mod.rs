//! The reconciler's test harness: a real nats-server, the Kubernetes API emulator, the Git host
//! emulator, a real git repository (made with the git CLI) served over file://, and reconciler
//! workers running in-process.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use async_nats::jetstream;
use gantry_forge_sim::{ForgeSim, Status};
use gantry_kube_sim::KubeSim;
use gantry_proto::v1::{Event, EventKind, Provider, PullRequest, Repository};
use gantry_reconciler::config::{Forge, ForgeKind};
use gantry_reconciler::{Config, Error};
use gantry_tests::NatsServer;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use prost::Message;
use tokio::sync::oneshot;

pub const OWNER: &str = "acme";
pub const REPO: &str = "platform";
pub const FULL: &str = "acme/platform";
pub const TOKEN: &str = "forge-token";

#[allow(unused_imports)] // not every test file uses both
pub use gantry_tests::{GitRepo, configmap};

/// The value of one sample of a worker's `/metrics` (at `base`), 0 when absent.
pub async fn metric(base: &str, sample: &str) -> Result<f64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(sample).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0))
}

/// A Deployment manifest with `replicas` pods of `image`.
pub fn deployment(name: &str, image: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n        - name: app\n          image: {image}\n"
    )
}

/// A `.gantry.yaml` with one `dev` environment on main per app, at `apps/<app>`.
pub fn gantry_yaml(apps: &[&str]) -> String {
    let mut s = String::from("apps:\n");
    for a in apps {
        s.push_str(&format!(
            "  - name: {a}\n    environments:\n      - name: dev\n        branch: main\n        path: apps/{a}\n        namespace: {a}-dev\n        healthTimeout: 30s\n"
        ));
    }
    s
}

/// A client of the emulated cluster.
pub async fn kube_client(kube: &KubeSim) -> Result<kube::Client> {
    let kc = kube::config::Kubeconfig::from_yaml(&kube.kubeconfig())?;
    Ok(kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?,
    )?)
}

pub struct Worker {
    pub stop: Option<oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<Result<(), Error>>,
    pub base: String,
}

pub struct Harness {
    pub nats: NatsServer,
    pub kube: KubeSim,
    pub forge: ForgeSim,
    pub repo: GitRepo,
    pub data: tempfile::TempDir,
    pub workers: Vec<Worker>,
    pub client: kube::Client,
    pub js: jetstream::Context,
    seq: u64,
}

pub fn init_logs() {
    gantry_tests::init_logs("warn,gantry_reconciler=info");
}

impl Harness {
    pub async fn start() -> Result<Harness> {
        init_logs();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let nats = NatsServer::start()?;
        let kube = KubeSim::start(gantry_kube_sim::Config {
            ready_delay: Duration::from_millis(200),
            controller_interval: Duration::from_millis(50),
            ..Default::default()
        })
        .await?;
        let forge = ForgeSim::start(gantry_forge_sim::Config {
            tokens: vec![TOKEN.to_owned()],
            ..Default::default()
        })
        .await?;
        let client = kube_client(&kube).await?;
        let nc = async_nats::connect(nats.url()).await?;
        let js = jetstream::new(nc);
        Ok(Harness {
            nats,
            kube,
            forge,
            repo: GitRepo::new()?,
            data: tempfile::tempdir()?,
            workers: Vec::new(),
            client,
            js,
            seq: 0,
        })
    }

    /// The repository most tests start from: one app `web` with a `dev` environment holding
    /// one ConfigMap, committed as "first"; returns that commit.
    pub fn seed_web(&self) -> Result<String> {
        self.repo.write(".gantry.yaml", &gantry_yaml(&["web"]))?;
        self.repo
            .write("apps/web/cm.yaml", &configmap("web", "1"))?;
        self.repo.commit("first")
    }

    pub fn config(&self, worker: &str) -> Config {
        let mut c = Config::for_tests(
            &self.nats.url(),
            &self.data.path().join(worker),
            Forge {
                name: "github".into(),
                kind: ForgeKind::Github,
                api_url: self.forge.url(),
                token: TOKEN.into(),
                app: None,
            },
            self.kube.kubeconfig(),
        );
        c.worker_id = worker.to_owned();
        c.report_budget = Duration::from_secs(10);
        c
    }

    /// Starts a worker with `tweak` applied to its config; returns its index.
    pub async fn worker(&mut self, name: &str, tweak: impl FnOnce(&mut Config)) -> Result<usize> {
        let mut config = self.config(name);
        tweak(&mut config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let base = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(gantry_reconciler::run(listener, config, async move {
            let _ = rx.await;
        }));
        self.workers.push(Worker {
            stop: Some(tx),
            task,
            base: base.clone(),
        });
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{base}/readyz")).send().await
                && r.status() == 200
            {
                return Ok(self.workers.len() - 1);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("worker {name} did not become ready")
    }

    /// Kills a worker at once, as SIGKILL would: nothing is acked or released.
    pub fn kill(&mut self, i: usize) {
        self.workers[i].task.abort();
    }

    /// Publishes an event as the receiver would.
    pub async fn publish(&mut self, ev: Event) -> Result<()> {
        let subject = gantry_nats::event_subject(
            "github",
            OWNER,
            REPO,
            EventKind::try_from(ev.kind)?.token(),
        );
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(gantry_nats::HEADER_MSG_ID, ev.id.as_str());
        headers.insert(gantry_nats::HEADER_SCHEMA, gantry_proto::v1::EVENT_SCHEMA);
        headers.insert(
            gantry_nats::HEADER_TRACEPARENT,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        );
        gantry_nats::ensure_stream(
            &self.js,
            &gantry_nats::events_stream_config(1),
            gantry_nats::EVENTS_STREAM,
        )
        .await?;
        self.js
            .publish_with_headers(subject, headers, ev.encode_to_vec().into())
            .await?
            .await?;
        Ok(())
    }

    fn next_id(&mut self) -> String {
        self.seq += 1;
        format!("github:delivery-{}-{}", self.seq, uuid_like())
    }

    pub fn repository(&self, clone_url: &str) -> Repository {
        Repository {
            full_name: FULL.into(),
            owner: OWNER.into(),
            name: REPO.into(),
            clone_url: clone_url.into(),
            web_url: "https://github.com/acme/platform".into(),
            default_branch: "main".into(),
        }
    }

    pub fn push_event(&mut self, before: &str, after: &str) -> Event {
        let id = self.next_id();
        Event {
            delivery_id: id.trim_start_matches("github:").into(),
            id,
            provider: Provider::Github as i32,
            kind: EventKind::Push as i32,
            repository: Some(self.repository(&self.repo.url())),
            r#ref: "refs/heads/main".into(),
            before: before.into(),
            after: after.into(),
            ..Default::default()
        }
    }

    pub fn merged_event(&mut self, base: &str, merge: &str, head: &str) -> Event {
        let id = self.next_id();
        Event {
            delivery_id: id.trim_start_matches("github:").into(),
            id,
            provider: Provider::Github as i32,
            kind: EventKind::PrMerged as i32,
            repository: Some(self.repository(&self.repo.url())),
            r#ref: "refs/heads/main".into(),
            before: base.into(),
            after: merge.into(),
            pull_request: Some(PullRequest {
                number: 7,
                head_sha: head.into(),
                head_ref: "feature".into(),
                base_ref: "main".into(),
                merged: true,
                merge_commit_sha: merge.into(),
                base_sha: base.into(),
                action: "closed".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    pub async fn push(&mut self, before: &str, after: &str) -> Result<()> {
        let ev = self.push_event(before, after);
        self.publish(ev).await
    }

    /// Statuses of `context` on `sha`, oldest first.
    pub fn statuses(&self, sha: &str, context: &str) -> Vec<Status> {
        self.forge
            .statuses(FULL, sha)
            .into_iter()
            .filter(|s| s.context == context)
            .collect()
    }

    /// Waits until the newest status of `context` on `sha` is final (not pending).
    pub async fn final_status(&self, sha: &str, context: &str, within: Duration) -> Result<Status> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.statuses(sha, context).last()
                && s.state != "pending"
            {
                return Ok(s.clone());
            }
            if Instant::now() > deadline {
                bail!(
                    "no final {context} status on {sha} within {within:?}; have {:?}",
                    self.forge.statuses(FULL, sha)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Names of `kind` objects in `ns` carrying Gantry's labels.
    pub async fn names(&self, api_version: &str, kind: &str, ns: &str) -> Result<Vec<String>> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &ar);
        let list = api
            .list(&ListParams::default().labels("app.kubernetes.io/managed-by=gantry"))
            .await?;
        let mut names: Vec<String> = list
            .items
            .into_iter()
            .filter_map(|o| o.metadata.name)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Waits until the workers' shared consumer has handed out every stored event and had each
    /// acked (none pending, none awaiting an ack): every event is fully processed.
    pub async fn settled(&self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let mut consumer: jetstream::consumer::PullConsumer = self
                .js
                .get_consumer_from_stream(
                    gantry_nats::RECONCILER_CONSUMER,
                    gantry_nats::EVENTS_STREAM,
                )
                .await?;
            let info = consumer.info().await?;
            if info.num_pending == 0 && info.num_ack_pending == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "events not settled within {within:?}: {} pending, {} awaiting an ack",
                    info.num_pending,
                    info.num_ack_pending
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every audit record stored so far.
    pub async fn audit(&self) -> Result<Vec<(String, gantry_proto::v1::AuditRecord)>> {
        use futures::StreamExt;
        let stream = self.js.get_stream(gantry_nats::AUDIT_STREAM).await?;
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
            .await?;
        let total = stream.get_info().await?.state.messages as usize;
        let mut msgs = consumer.messages().await?;
        let mut out = Vec::new();
        while out.len() < total {
            let Some(m) = tokio::time::timeout(Duration::from_secs(5), msgs.next()).await? else {
                break;
            };
            let m = m?;
            let rec = gantry_proto::v1::AuditRecord::decode(m.payload.clone())?;
            let schema = m
                .headers
                .as_ref()
                .and_then(|h| h.get(gantry_nats::HEADER_SCHEMA))
                .map(|v| v.to_string())
                .unwrap_or_default();
            assert_eq!(schema, gantry_proto::v1::AUDIT_SCHEMA);
            out.push((m.subject.to_string(), rec));
        }
        Ok(out)
    }

    pub async fn shutdown(&mut self) {
        for w in &mut self.workers {
            if let Some(tx) = w.stop.take() {
                let _ = tx.send(());
            }
        }
        for w in &mut self.workers {
            let _ = tokio::time::timeout(Duration::from_secs(10), &mut w.task).await;
        }
    }
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

pub fn data_path(h: &Harness, worker: &str) -> PathBuf {
    h.data.path().join(worker)
}
