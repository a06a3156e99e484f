//! Repository hosting for the emulator: Git smart HTTP (clone, fetch, push), a webhook on every
//! push, and pull requests (open, merge) through GitHub's and Gitea's own REST paths, each firing
//! the events the real host fires.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::json;

use crate::git::{CgiRequest, GitError, RefUpdate, Repos, ZERO};
use crate::hooks::{
    Delivery, Flavor, PullInfo, RepoInfo, Sender, Webhook, pull_payload, push_payload,
};

/// GitHub caps the commits of a push payload at 20.
const MAX_PUSH_COMMITS: usize = 20;

/// How the emulator hosts repositories.
#[derive(Debug, Clone)]
pub struct HostingConfig {
    /// Where bare repositories live (`<root>/<owner>/<name>.git`).
    pub root: PathBuf,
    /// Whose webhook format to send.
    pub flavor: Flavor,
    /// Where to send webhooks.
    pub webhooks: Vec<Webhook>,
}

/// Hosting state shared by the routes.
#[derive(Debug)]
pub struct Hosting {
    repos: Repos,
    sender: Sender,
    base_url: Mutex<String>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pulls: Mutex<HashMap<String, Vec<PullInfo>>>,
    /// `GET …/info/refs` requests answered (what an `ls-remote` costs), for tests.
    ref_listings: std::sync::atomic::AtomicU64,
    /// When set, smart HTTP needs Basic auth whose password one of these accepts.
    auth: std::sync::OnceLock<Arc<crate::app::Tokens>>,
    /// Every Git smart HTTP request answered (listings, fetches, pushes).
    git_requests: std::sync::atomic::AtomicU64,
}

impl Hosting {
    /// Hosting per `config`; `base_url` is the emulator's own URL, used in payloads.
    pub fn new(config: HostingConfig, base_url: String) -> Self {
        Hosting {
            repos: Repos::new(config.root),
            sender: Sender::new(config.flavor, config.webhooks),
            base_url: Mutex::new(base_url),
            locks: Mutex::new(HashMap::new()),
            pulls: Mutex::new(HashMap::new()),
            ref_listings: std::sync::atomic::AtomicU64::new(0),
            auth: std::sync::OnceLock::new(),
            git_requests: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Makes Git smart HTTP require Basic auth with a token `tokens` accepts as the password.
    pub(crate) fn require_auth(&self, tokens: Arc<crate::app::Tokens>) {
        let _ = self.auth.set(tokens);
    }

    /// The repositories.
    pub fn repos(&self) -> &Repos {
        &self.repos
    }

    /// Webhook deliveries so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.sender.deliveries()
    }

    /// Switches webhook deliveries on or off (off: pushes fire nothing, as a lost delivery).
    pub fn set_delivering(&self, on: bool) {
        self.sender.set_delivering(on);
    }

    /// `GET …/info/refs` requests answered so far.
    pub fn ref_listings(&self) -> u64 {
        self.ref_listings.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Git smart HTTP requests (listings, fetches, pushes) answered so far.
    pub fn git_requests(&self) -> u64 {
        self.git_requests.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn base_url(&self) -> String {
        self.base_url.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub(crate) fn lock_for(&self, full_name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks
            .entry(full_name.to_ascii_lowercase())
            .or_default()
            .clone()
    }

    fn info(&self, full_name: &str) -> RepoInfo {
        RepoInfo {
            full_name: full_name.to_owned(),
            base_url: self.base_url(),
            default_branch: "main".to_owned(),
        }
    }

    /// Fires the push webhooks of `updates`, and `synchronize` for open pull requests whose
    /// head branch moved.
    pub(crate) async fn announce_pushes(&self, full_name: &str, updates: Vec<RefUpdate>) {
        let info = self.info(full_name);
        for u in updates {
            let commits = match self
                .repos
                .pushed_commits(full_name, &u, MAX_PUSH_COMMITS)
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list pushed commits");
                    Vec::new()
                }
            };
            let payload = push_payload(self.sender.flavor(), &info, &u, &commits);
            self.sender.deliver("push", "push", &u.name, &payload).await;
            let Some(branch) = u.name.strip_prefix("refs/heads/") else {
                continue;
            };
            if u.after == ZERO {
                continue;
            }
            let synced: Vec<PullInfo> = {
                let mut pulls = self.pulls.lock().unwrap_or_else(|p| p.into_inner());
                pulls
                    .entry(full_name.to_ascii_lowercase())
                    .or_default()
                    .iter_mut()
                    .filter(|p| p.state == "open" && p.head == branch)
                    .map(|p| {
                        p.head_sha = u.after.clone();
                        p.clone()
                    })
                    .collect()
            };
            for p in synced {
                let (action, event_type) = match self.sender.flavor() {
                    Flavor::Github => ("synchronize", "pull_request"),
                    Flavor::Gitea => ("synchronized", "pull_request_sync"),
                };
                let payload = pull_payload(self.sender.flavor(), &info, &p, action);
                self.sender
                    .deliver("pull_request", event_type, action, &payload)
                    .await;
            }
        }
    }
}

/// The hosting routes, to merge into the emulator's router.
pub fn router(h: Arc<Hosting>) -> Router {
    crate::gitdata::router(h.clone()).merge(
        Router::new()
            .route("/{owner}/{repo}/info/refs", get(smart_http))
            .route("/_sandbox/webhooks", put(set_webhooks).get(get_webhooks))
            .route("/{owner}/{repo}/git-upload-pack", post(smart_http))
            .route("/{owner}/{repo}/git-receive-pack", post(smart_http))
            .route("/repos/{owner}/{repo}/pulls", post(create_pull))
            .route("/api/v1/repos/{owner}/{repo}/pulls", post(create_pull))
            .route("/repos/{owner}/{repo}/pulls/{number}", get(get_pull))
            .route("/api/v1/repos/{owner}/{repo}/pulls/{number}", get(get_pull))
            .route(
                "/repos/{owner}/{repo}/pulls/{number}/merge",
                put(merge_pull),
            )
            .route(
                "/api/v1/repos/{owner}/{repo}/pulls/{number}/merge",
                post(merge_pull),
            )
            // Pushes carry whole packs.
            .layer(DefaultBodyLimit::max(512 * 1024 * 1024))
            .with_state(h),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhooksSwitch {
    deliver: bool,
}

/// `PUT /_sandbox/webhooks {"deliver": false}`: pushes fire no webhook until switched back on.
async fn set_webhooks(State(h): State<Arc<Hosting>>, body: Bytes) -> Response {
    match serde_json::from_slice::<WebhooksSwitch>(&body) {
        Ok(w) => {
            h.set_delivering(w.deliver);
            json_response(StatusCode::OK, &json!({"deliver": w.deliver}))
        }
        Err(e) => json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"message": format!("expected {{\"deliver\": true|false}}: {e}")}),
        ),
    }
}

async fn get_webhooks(State(h): State<Arc<Hosting>>) -> Response {
    json_response(StatusCode::OK, &json!({"deliver": h.sender.delivering()}))
}

/// `v` as the hosts send JSON.
pub(crate) fn json_response(status: StatusCode, v: &serde_json::Value) -> Response {
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )],
        v.to_string(),
    )
        .into_response()
}

/// `{"message": ...}`, the error body both hosts send.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    json_response(status, &json!({"message": message.into()}))
}

fn git_error(e: &GitError) -> Response {
    match e {
        GitError::NoRepository(_) => error(StatusCode::NOT_FOUND, "Not Found"),
        GitError::Conflict(m) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Pull Request is not mergeable: {m}"),
        ),
        other => error(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

async fn smart_http(
    State(h): State<Arc<Hosting>>,
    Path((owner, repo)): Path<(String, String)>,
    method: Method,
    uri: axum::http::Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(name) = repo.strip_suffix(".git") else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    let full_name = format!("{owner}/{name}");
    if let Some(tokens) = h.auth.get() {
        let password = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| {
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b.trim()).ok()
            })
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(_, p)| p.to_owned()));
        if !password.is_some_and(|p| tokens.valid(&p)) {
            return (
                StatusCode::UNAUTHORIZED,
                [(
                    axum::http::header::WWW_AUTHENTICATE,
                    "Basic realm=\"forge-sim\"",
                )],
                "Authentication failed\n",
            )
                .into_response();
        }
    }
    if !h.repos.exists(&full_name) {
        return error(StatusCode::NOT_FOUND, "Repository not found");
    }
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let push = uri.path().ends_with("/git-receive-pack");
    h.git_requests
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if uri.path().ends_with("/info/refs") {
        h.ref_listings
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    let lock = h.lock_for(&full_name);
    let _guard = if push { Some(lock.lock().await) } else { None };
    let before = if push {
        h.repos.refs(&full_name).await.ok()
    } else {
        None
    };
    let res = h
        .repos
        .http_backend(CgiRequest {
            method: method.as_str(),
            path: uri.path(),
            query: query.as_deref().unwrap_or(""),
            content_type: header("content-type"),
            content_encoding: header("content-encoding"),
            git_protocol: header("git-protocol"),
            body,
        })
        .await;
    let res = match res {
        Ok(r) => r,
        Err(e) => return git_error(&e),
    };
    if let Some(before) = before {
        let after = h.repos.refs(&full_name).await.unwrap_or_default();
        let mut updates = Vec::new();
        for (name, new) in &after {
            let old = before.get(name).cloned().unwrap_or_else(|| ZERO.to_owned());
            if &old != new {
                updates.push(RefUpdate {
                    name: name.clone(),
                    before: old,
                    after: new.clone(),
                });
            }
        }
        for (name, old) in &before {
            if !after.contains_key(name) {
                updates.push(RefUpdate {
                    name: name.clone(),
                    before: old.clone(),
                    after: ZERO.to_owned(),
                });
            }
        }
        if !updates.is_empty() && !h.sender.delivering() {
            // Decided at push time: a lost delivery stays lost when deliveries come back on.
            tracing::info!(repository = %full_name, "push not announced: webhook deliveries are switched off");
        } else if !updates.is_empty() {
            // Announce after answering, as real hosts do; the lock keeps pushes in order.
            let h2 = h.clone();
            let name = full_name.clone();
            tokio::spawn(async move { h2.announce_pushes(&name, updates).await });
        }
    }
    let mut builder = Response::builder().status(res.status);
    for (k, v) in &res.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder
        .body(axum::body::Body::from(res.body))
        .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "bad CGI headers"))
}

#[derive(Debug, Deserialize)]
struct CreatePull {
    title: Option<String>,
    head: String,
    base: String,
}

fn pull_json(h: &Hosting, full_name: &str, p: &PullInfo) -> serde_json::Value {
    let payload = pull_payload(Flavor::Github, &h.info(full_name), p, "opened");
    payload["pull_request"].clone()
}

async fn create_pull(
    State(h): State<Arc<Hosting>>,
    Path((owner, repo)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let full_name = format!("{owner}/{repo}");
    let req: CreatePull = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Validation Failed: {e}"),
            );
        }
    };
    let refs = match h.repos.refs(&full_name).await {
        Ok(r) => r,
        Err(e) => return git_error(&e),
    };
    let (Some(head_sha), Some(base_sha)) = (
        refs.get(&format!("refs/heads/{}", req.head)),
        refs.get(&format!("refs/heads/{}", req.base)),
    ) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed: head or base branch does not exist",
        );
    };
    let pull = {
        let mut pulls = h.pulls.lock().unwrap_or_else(|p| p.into_inner());
        let list = pulls.entry(full_name.to_ascii_lowercase()).or_default();
        let p = PullInfo {
            number: list.len() as u64 + 1,
            title: req.title.unwrap_or_else(|| req.head.clone()),
            head: req.head.clone(),
            head_sha: head_sha.clone(),
            base: req.base.clone(),
            base_sha: base_sha.clone(),
            state: "open",
            merged: false,
            merge_commit_sha: None,
        };
        list.push(p.clone());
        p
    };
    let payload = pull_payload(h.sender.flavor(), &h.info(&full_name), &pull, "opened");
    let h2 = h.clone();
    tokio::spawn(async move {
        h2.sender
            .deliver("pull_request", "pull_request", "opened", &payload)
            .await
    });
    json_response(StatusCode::CREATED, &pull_json(&h, &full_name, &pull))
}

fn find_pull(h: &Hosting, full_name: &str, number: u64) -> Option<PullInfo> {
    let pulls = h.pulls.lock().unwrap_or_else(|p| p.into_inner());
    pulls
        .get(&full_name.to_ascii_lowercase())?
        .iter()
        .find(|p| p.number == number)
        .cloned()
}

async fn get_pull(
    State(h): State<Arc<Hosting>>,
    Path((owner, repo, number)): Path<(String, String, u64)>,
) -> Response {
    let full_name = format!("{owner}/{repo}");
    match find_pull(&h, &full_name, number) {
        Some(p) => json_response(StatusCode::OK, &pull_json(&h, &full_name, &p)),
        None => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

async fn merge_pull(
    State(h): State<Arc<Hosting>>,
    Path((owner, repo, number)): Path<(String, String, u64)>,
    method: Method,
) -> Response {
    let full_name = format!("{owner}/{repo}");
    let Some(pull) = find_pull(&h, &full_name, number) else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    if pull.state != "open" {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Pull Request is not mergeable",
        );
    }
    let lock = h.lock_for(&full_name);
    let guard = lock.lock().await;
    let message = format!(
        "Merge pull request #{number} from {owner}/{}\n\n{}",
        pull.head, pull.title
    );
    let (base_before, merge_sha) = match h
        .repos
        .merge(&full_name, &pull.base, &pull.head, &message)
        .await
    {
        Ok(m) => m,
        Err(e) => return git_error(&e),
    };
    let merged = {
        let mut pulls = h.pulls.lock().unwrap_or_else(|p| p.into_inner());
        let list = pulls.entry(full_name.to_ascii_lowercase()).or_default();
        let Some(p) = list.iter_mut().find(|p| p.number == number) else {
            return error(StatusCode::NOT_FOUND, "Not Found");
        };
        p.state = "closed";
        p.merged = true;
        p.merge_commit_sha = Some(merge_sha.clone());
        p.clone()
    };
    drop(guard);
    // A merge moves the base branch (a push) and closes the pull request: the host sends both.
    let update = RefUpdate {
        name: format!("refs/heads/{}", merged.base),
        before: base_before,
        after: merge_sha.clone(),
    };
    let info = h.info(&full_name);
    let closed = pull_payload(h.sender.flavor(), &info, &merged, "closed");
    let h2 = h.clone();
    let delivering = h.sender.delivering();
    tokio::spawn(async move {
        if !delivering {
            return;
        }
        h2.announce_pushes(&full_name, vec![update]).await;
        h2.sender
            .deliver("pull_request", "pull_request", "closed", &closed)
            .await;
    });
    if method == Method::PUT {
        json_response(
            StatusCode::OK,
            &json!({"sha": merge_sha, "merged": true, "message": "Pull Request successfully merged"}),
        )
    } else {
        StatusCode::OK.into_response()
    }
}
