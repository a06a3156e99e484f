//! The API's test harness: a real nats-server, the Git host emulator serving real repositories
//! over smart HTTP and firing signed webhooks at a real receiver, and `gantry-api` in-process.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use gantry_api::config::{Config, RbacSource, Repository};
use gantry_forge_sim::ForgeSim;
use gantry_forge_sim::hooks::{Flavor, Webhook};
use gantry_forge_sim::hosting::HostingConfig;
use gantry_tests::NatsServer;
use serde_json::Value;
use tokio::sync::oneshot;

pub const SECRET: &str = "hook-secret";
/// The static token the platform uses; RBAC calls it `token:idp`.
pub const IDP_TOKEN: &str = "idp-token-0123456789";
/// A second static token (`token:dev`, group `developers`).
pub const DEV_TOKEN: &str = "dev-token-0123456789";

pub const GANTRY_YAML: &str = "apps:
  - name: web
    environments:
      - {name: dev, branch: main, path: apps/web/dev}
      - {name: prod, branch: main, path: apps/web/prod}
  - name: api
    environments:
      - {name: dev, branch: main, path: apps/api/dev}
";

pub const RULES: &str = r#"rules:
  - subjects: ["token:idp"]
    actions: ["*"]
    apps: ["*"]
    environments: ["*"]
  - subjects: ["group:developers"]
    actions: [get, sync]
    apps: ["web"]
    environments: ["dev"]
"#;

pub use gantry_tests::git_in as git;

/// Everything one test needs.
pub struct Harness {
    pub nats: NatsServer,
    pub sim: ForgeSim,
    pub tmp: tempfile::TempDir,
    pub api: String,
    pub http: reqwest::Client,
    pub config: Config,
    stop_api: Option<oneshot::Sender<()>>,
    api_task: Option<tokio::task::JoinHandle<Result<(), gantry_api::Error>>>,
    stop_receiver: Option<oneshot::Sender<()>>,
}

/// Adjusts the API's configuration (given the test's temporary folder).
pub type Tweak = Box<dyn FnOnce(&mut Config, &Path) + Send>;

/// Options for [`Harness::start`].
pub struct Setup {
    /// Repositories to create, with their files.
    pub repos: Vec<(&'static str, Vec<(&'static str, String)>)>,
    /// Adjusts the API's configuration.
    pub tweak: Tweak,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            repos: vec![
                (
                    "acme/platform",
                    vec![
                        (".gantry.yaml", GANTRY_YAML.to_owned()),
                        ("apps/web/dev/cm.yaml", "a: 1\n".to_owned()),
                        ("apps/web/prod/cm.yaml", "a: 1\n".to_owned()),
                    ],
                ),
                ("acme/platform-rbac", vec![("rbac.yaml", RULES.to_owned())]),
            ],
            tweak: Box::new(|_, _| {}),
        }
    }
}

impl Harness {
    pub async fn start(setup: Setup) -> Result<Harness> {
        let nats = NatsServer::start()?;
        let tmp = tempfile::tempdir()?;
        // The receiver, so that pushes reach GANTRY_EVENTS as in production.
        let rl = std::net::TcpListener::bind("127.0.0.1:0")?;
        let receiver_url = format!("http://{}/webhooks/github", rl.local_addr()?);
        let (stop_receiver, stopped) = oneshot::channel::<()>();
        let rc = gantry_receiver::Config::for_tests(&nats.url(), SECRET);
        tokio::spawn(async move {
            gantry_receiver::run(rl, rc, async move {
                let _ = stopped.await;
            })
            .await
        });
        let sim = ForgeSim::start(gantry_forge_sim::Config {
            hosting: Some(HostingConfig {
                root: tmp.path().join("hosted"),
                flavor: Flavor::Github,
                webhooks: vec![Webhook {
                    url: receiver_url,
                    secret: SECRET.into(),
                }],
            }),
            ..Default::default()
        })
        .await?;
        let hosting = sim.hosting().cloned().context("hosting")?;
        let mut repositories = Vec::new();
        for (name, files) in &setup.repos {
            hosting.repos().create(name, "main").await?;
            let work = tmp.path().join("work").join(name);
            std::fs::create_dir_all(&work)?;
            let url = format!("{}/{name}.git", sim.url());
            let files = files.clone();
            let w = work.clone();
            tokio::task::spawn_blocking(move || -> Result<()> {
                git(&w, &["init", "-q"])?;
                git(&w, &["remote", "add", "origin", &url])?;
                for (p, text) in files {
                    let f = w.join(p);
                    if let Some(d) = f.parent() {
                        std::fs::create_dir_all(d)?;
                    }
                    std::fs::write(f, text)?;
                }
                git(&w, &["add", "-A"])?;
                git(&w, &["commit", "-qm", "initial"])?;
                git(&w, &["push", "-q", "origin", "main"])?;
                Ok(())
            })
            .await??;
            repositories.push(Repository {
                full_name: (*name).to_owned(),
                forge: Some("sim".to_owned()),
                clone_url: format!("{}/{name}.git", sim.url()),
                credentials: None,
            });
        }
        let mut config = Config::for_tests(&nats.url(), &tmp.path().join("data"));
        config.repositories = repositories;
        config.forges = vec![gantry_api::config::Forge {
            name: "sim".to_owned(),
            kind: gantry_api::config::ForgeKind::Github,
            api_url: sim.url(),
            token: "forge-token".to_owned(),
        }];
        config.tokens = gantry_api::tokens::StaticTokens::parse(&format!(
            "idp {} platform\ndev {} developers\n",
            gantry_api::tokens::hash_token(IDP_TOKEN),
            gantry_api::tokens::hash_token(DEV_TOKEN)
        ))
        .map_err(anyhow::Error::msg)?;
        config.rbac = RbacSource::Git {
            repository: "acme/platform-rbac".to_owned(),
            branch: "main".to_owned(),
            path: "rbac.yaml".to_owned(),
        };
        (setup.tweak)(&mut config, tmp.path());
        let http = reqwest::Client::new();
        let mut h = Harness {
            nats,
            sim,
            tmp,
            api: String::new(),
            http,
            config,
            stop_api: None,
            api_task: None,
            stop_receiver: Some(stop_receiver),
        };
        h.start_api().await?;
        Ok(h)
    }

    /// Starts (or restarts) the API and waits until it is ready.
    pub async fn start_api(&mut self) -> Result<()> {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        self.api = format!("http://{}", l.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let config = self.config.clone();
        self.api_task = Some(tokio::spawn(gantry_api::run(l, config, async move {
            let _ = stopped.await;
        })));
        self.stop_api = Some(stop);
        self.wait_ready().await
    }

    pub async fn wait_ready(&self) -> Result<()> {
        self.wait_for("the API to be ready", |v, code| {
            code == 200 && v["status"] == "ready"
        })
        .await
        .map(|_| ())
    }

    /// Polls `/readyz` until `f` holds (event-driven: each poll answers at once).
    pub async fn wait_for(&self, what: &str, f: impl Fn(&Value, u16) -> bool) -> Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = Value::Null;
        loop {
            if let Ok(r) = self.http.get(format!("{}/readyz", self.api)).send().await {
                let code = r.status().as_u16();
                let v: Value = r.json().await.unwrap_or_default();
                if f(&v, code) {
                    return Ok(v);
                }
                last = v;
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for {what}; /readyz said {last}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn work(&self, repo: &str) -> PathBuf {
        self.tmp.path().join("work").join(repo)
    }

    /// Writes files in `repo`'s work tree, commits and pushes; returns the new head.
    pub async fn push(&self, repo: &str, files: &[(&str, &str)], message: &str) -> Result<String> {
        let w = self.work(repo);
        let files: Vec<(String, String)> = files
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        let message = message.to_owned();
        tokio::task::spawn_blocking(move || -> Result<String> {
            for (p, text) in files {
                let f = w.join(p);
                if let Some(d) = f.parent() {
                    std::fs::create_dir_all(d)?;
                }
                std::fs::write(f, text)?;
            }
            git(&w, &["add", "-A"])?;
            git(&w, &["commit", "-qm", &message])?;
            git(&w, &["push", "-q", "origin", "HEAD:main"])?;
            git(&w, &["rev-parse", "HEAD"])
        })
        .await?
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Result<(u16, reqwest::header::HeaderMap, Value)> {
        let mut r = self.http.request(method, format!("{}{path}", self.api));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        let resp = r.send().await?;
        let code = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((code, headers, v))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Result<(u16, Value)> {
        let (c, _, v) = self.call(reqwest::Method::GET, path, token, None).await?;
        Ok((c, v))
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &str) -> Result<(u16, Value)> {
        let (c, _, v) = self
            .call(reqwest::Method::POST, path, token, Some(body))
            .await?;
        Ok((c, v))
    }

    pub async fn stop_api(&mut self) -> Result<()> {
        if let Some(s) = self.stop_api.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.api_task.take() {
            t.await??;
        }
        Ok(())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(s) = self.stop_api.take() {
            let _ = s.send(());
        }
        if let Some(s) = self.stop_receiver.take() {
            let _ = s.send(());
        }
    }
}
