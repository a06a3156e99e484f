//! A Git host emulator for Gantry's tests and `gantry up`: GitHub's and Gitea's commit-status
//! REST APIs (create and list), with each API's request validation, auth-header checks, and
//! failures that tests inject (5xx, 429 with `Retry-After`, GitHub's 403 rate limits).
//!
//! One server answers both dialects: GitHub's paths at the root (`/repos/...`, as
//! `https://api.github.com` serves them) and Gitea's under `/api/v1`. See the README for what it
//! covers and how it differs from the real hosts.

mod api;
pub mod app;
pub mod git;
pub mod gitdata;
pub mod hooks;
pub mod hosting;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use api::GITHUB_DESCRIPTION_MAX;

/// How the emulator behaves.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Tokens accepted in `Authorization`. Empty: any non-empty token is accepted, but the header
    /// must still be present and well formed.
    pub tokens: Vec<String>,
    /// Repository hosting (Git smart HTTP, webhooks, pull requests); none when `None`.
    pub hosting: Option<hosting::HostingConfig>,
    /// A GitHub App whose installation tokens `POST /app/installations/{id}/access_tokens`
    /// issues; they are then accepted wherever a token is.
    pub app: Option<app::AppConfig>,
    /// Git smart HTTP requires Basic auth with a valid token as the password (any user name),
    /// as a private repository does.
    pub git_auth: bool,
}

impl Config {
    /// A GitHub-flavoured host of the repositories under `root` that sends no webhooks: what a
    /// test or benchmark that only pushes and fetches needs.
    pub fn github_hosting(root: impl Into<std::path::PathBuf>) -> Config {
        Config {
            hosting: Some(hosting::HostingConfig {
                root: root.into(),
                flavor: hooks::Flavor::Github,
                webhooks: Vec::new(),
            }),
            ..Default::default()
        }
    }
}

/// What can stop the emulator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Serving HTTP failed.
    #[error("serving the forge API failed")]
    Serve(#[source] std::io::Error),
    /// The server task panicked or was cancelled.
    #[error("the forge emulator task failed")]
    Join(#[source] tokio::task::JoinError),
}

/// A failure the next status request gets instead of being served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// A bare 5xx (502, 503, ...) with an HTML body, as a load balancer sends it.
    Status(u16),
    /// 429 Too Many Requests with `Retry-After: <seconds>`.
    TooManyRequests {
        /// The `Retry-After` value in seconds.
        retry_after: u64,
    },
    /// GitHub's secondary rate limit: 403 with `Retry-After` and the documented message.
    SecondaryRateLimit {
        /// The `Retry-After` value in seconds.
        retry_after: u64,
    },
    /// GitHub's primary rate limit: 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`
    /// this many seconds from now.
    PrimaryRateLimit {
        /// Seconds until the reset.
        reset_after: u64,
    },
}

/// A stored commit status, in the shape both APIs describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Unique, increasing.
    pub id: u64,
    /// `pending`, `success`, `error`, `failure` (Gitea also `warning`).
    pub state: String,
    /// The description, as posted (empty when absent).
    pub description: String,
    /// The target URL (empty when absent).
    pub target_url: String,
    /// The context (`default` when absent).
    pub context: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// `github` or `gitea`: which API it was posted through.
    pub api: &'static str,
}

/// One request the emulator answered, for tests that count posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLog {
    /// The HTTP method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The status code answered.
    pub status: u16,
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    next_id: u64,
    /// `(owner/repo lower-cased, sha)` to statuses, oldest first.
    statuses: HashMap<(String, String), Vec<Status>>,
    faults: VecDeque<Fault>,
    log: Vec<RequestLog>,
}

/// The emulator's shared state.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    tokens: Arc<app::Tokens>,
    inner: Mutex<Inner>,
    hosting: Option<Arc<hosting::Hosting>>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A handle on a running emulator's state: inject faults, read what was posted.
#[derive(Debug, Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    /// Queues `fault` for the next `times` status requests (create or list).
    pub fn inject(&self, fault: Fault, times: usize) {
        let mut inner = self.shared.lock();
        for _ in 0..times {
            inner.faults.push_back(fault.clone());
        }
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Statuses of `owner/repo` at `sha`, oldest first.
    pub fn statuses(&self, full_name: &str, sha: &str) -> Vec<Status> {
        self.shared
            .lock()
            .statuses
            .get(&(full_name.to_ascii_lowercase(), sha.to_ascii_lowercase()))
            .cloned()
            .unwrap_or_default()
    }

    /// Every status of `owner/repo`, by sha, oldest first.
    pub fn all_statuses(&self, full_name: &str) -> Vec<(String, Status)> {
        let repo = full_name.to_ascii_lowercase();
        let inner = self.shared.lock();
        let mut out: Vec<(String, Status)> = inner
            .statuses
            .iter()
            .filter(|((r, _), _)| *r == repo)
            .flat_map(|((_, sha), list)| list.iter().map(move |s| (sha.clone(), s.clone())))
            .collect();
        out.sort_by_key(|(_, s)| s.id);
        out
    }

    /// Repository hosting, when configured.
    pub fn hosting(&self) -> Option<&Arc<hosting::Hosting>> {
        self.shared.hosting.as_ref()
    }

    /// Makes every installation token issued so far expired, as an hour passing would.
    pub fn expire_app_tokens(&self) {
        self.shared.tokens.expire_all();
    }

    /// Installation tokens issued so far.
    pub fn app_token_exchanges(&self) -> u64 {
        self.shared.tokens.exchanges()
    }

    /// The requests answered so far.
    pub fn requests(&self) -> Vec<RequestLog> {
        self.shared.lock().log.clone()
    }
}

/// Serves the emulator on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let base_url = format!("http://{}", listener.local_addr().map_err(Error::Serve)?);
    serve(listener, new_shared(config, base_url), shutdown).await
}

fn new_shared(config: Config, base_url: String) -> Arc<Shared> {
    let tokens = Arc::new(app::Tokens::new(config.tokens.clone(), config.app.clone()));
    let hosting = config.hosting.clone().map(|h| {
        let hosting = hosting::Hosting::new(h, base_url);
        if config.git_auth {
            hosting.require_auth(tokens.clone());
        }
        Arc::new(hosting)
    });
    Arc::new(Shared {
        tokens,
        inner: Mutex::new(Inner::default()),
        hosting,
    })
}

async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let hosting = shared.hosting.clone();
    let mut router = axum::Router::new()
        .route(
            "/app/installations/{id}/access_tokens",
            axum::routing::post(app::access_tokens),
        )
        .fallback(api::handle)
        .with_state(shared);
    if let Some(h) = hosting {
        router = hosting::router(h).merge(router);
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::Serve)
}

/// An emulator running in this process on 127.0.0.1. Dropping it stops the server.
#[derive(Debug)]
pub struct ForgeSim {
    addr: SocketAddr,
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), Error>>>,
}

impl ForgeSim {
    /// Starts an emulator on a free port of 127.0.0.1.
    pub async fn start(config: Config) -> Result<Self, Error> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::Serve)?;
        Self::start_on(listener, config)
    }

    /// Starts an emulator on `listener` (a fixed port lets a test stop and restart it).
    pub fn start_on(listener: TcpListener, config: Config) -> Result<Self, Error> {
        let addr = listener.local_addr().map_err(Error::Serve)?;
        let shared = new_shared(config, format!("http://{addr}"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, shared.clone(), async move {
            let _ = stopped.await;
        }));
        Ok(ForgeSim {
            addr,
            handle: Handle { shared },
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: GitHub's `apiUrl` and Gitea's base URL (Gitea's `apiUrl`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The state handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) -> Result<(), Error> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.task.take() {
            Some(t) => t.await.map_err(Error::Join)?,
            None => Ok(()),
        }
    }
}

impl std::ops::Deref for ForgeSim {
    type Target = Handle;
    fn deref(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for ForgeSim {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}
