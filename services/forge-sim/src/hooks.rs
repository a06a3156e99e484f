//! Webhooks as GitHub and Gitea send them: payloads in each host's shape (GitHub lists pushed
//! commits oldest first, Gitea newest first; Gitea also sends GitHub's headers), signed with
//! HMAC-SHA256, delivered with retries so that a receiver still starting up gets them.

use std::sync::Mutex;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::git::{CommitInfo, RefUpdate, ZERO};

/// Whose webhook format and quirks to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    /// GitHub.
    #[default]
    Github,
    /// Gitea (and Forgejo).
    Gitea,
}

impl Flavor {
    /// `github` or `gitea`.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Github => "github",
            Flavor::Gitea => "gitea",
        }
    }
}

/// Where pushes and pull requests are announced.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The receiver's URL, e.g. `http://127.0.0.1:8080/webhooks/github`.
    pub url: String,
    /// The shared secret the payload is signed with.
    pub secret: String,
}

/// One delivery attempt series, for tests and the sandbox's guide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The delivery id sent in the headers.
    pub id: String,
    /// `push` or `pull_request`.
    pub event: String,
    /// The action of a pull_request event, or the ref of a push.
    pub what: String,
    /// The last HTTP status (0 when no answer came).
    pub status: u16,
    /// How many attempts were made.
    pub attempts: u32,
}

/// The repository and host facts every payload repeats.
#[derive(Debug, Clone)]
pub struct RepoInfo {
    /// `owner/name`.
    pub full_name: String,
    /// The emulator's base URL, `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The default branch.
    pub default_branch: String,
}

impl RepoInfo {
    fn owner(&self) -> &str {
        self.full_name.split('/').next().unwrap_or("")
    }
    fn name(&self) -> &str {
        self.full_name.split('/').nth(1).unwrap_or("")
    }
    fn html_url(&self) -> String {
        format!("{}/{}", self.base_url, self.full_name)
    }
    fn clone_url(&self) -> String {
        format!("{}/{}.git", self.base_url, self.full_name)
    }
}

/// A pull request's state, as payloads need it.
#[derive(Debug, Clone)]
pub struct PullInfo {
    /// Its number.
    pub number: u64,
    /// Its title.
    pub title: String,
    /// Head branch.
    pub head: String,
    /// Head commit.
    pub head_sha: String,
    /// Base branch.
    pub base: String,
    /// Base commit.
    pub base_sha: String,
    /// `open` or `closed`.
    pub state: &'static str,
    /// Merged?
    pub merged: bool,
    /// The merge commit, once merged.
    pub merge_commit_sha: Option<String>,
}

const SANDBOX_USER: &str = "sandbox";
const SANDBOX_EMAIL: &str = "sandbox@gantry.invalid";

fn github_user(login: &str, base: &str) -> Value {
    json!({"login": login, "id": 1, "node_id": "U_1", "type": "User", "site_admin": false,
           "html_url": format!("{base}/{login}")})
}

fn gitea_user(login: &str, base: &str) -> Value {
    json!({"id": 1, "login": login, "login_name": "", "source_id": 0, "full_name": "",
           "email": format!("{login}@gantry.invalid"), "avatar_url": format!("{base}/avatars/{login}"),
           "html_url": format!("{base}/{login}"), "language": "", "is_admin": false,
           "restricted": false, "active": true, "prohibit_login": false, "visibility": "public",
           "username": login})
}

fn github_repo(r: &RepoInfo, push: bool) -> Value {
    let mut v = json!({
        "id": 1, "node_id": "R_1", "name": r.name(), "full_name": r.full_name, "private": false,
        "owner": {"name": r.owner(), "email": null, "login": r.owner(), "id": 2, "type": "Organization", "site_admin": false},
        "html_url": r.html_url(), "description": null, "fork": false,
        "url": format!("{}/repos/{}", r.base_url, r.full_name),
        "clone_url": r.clone_url(), "git_url": r.clone_url(), "ssh_url": r.clone_url(),
        "default_branch": r.default_branch, "visibility": "public",
    });
    if push {
        // Push payloads carry these as epoch seconds, other events as strings.
        v["created_at"] = json!(1_700_000_000);
        v["pushed_at"] = json!(time::OffsetDateTime::now_utc().unix_timestamp());
        v["master_branch"] = json!(r.default_branch);
    } else {
        v["created_at"] = json!("2023-11-14T22:13:20Z");
    }
    v
}

fn gitea_repo(r: &RepoInfo) -> Value {
    json!({
        "id": 1, "owner": gitea_user(r.owner(), &r.base_url), "name": r.name(), "full_name": r.full_name,
        "description": "", "empty": false, "private": false, "fork": false, "template": false,
        "mirror": false, "html_url": r.html_url(), "ssh_url": r.clone_url(), "clone_url": r.clone_url(),
        "default_branch": r.default_branch, "archived": false,
        "created_at": "2023-11-14T22:13:20Z", "updated_at": now(),
    })
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn commit_json(c: &CommitInfo, r: &RepoInfo, flavor: Flavor) -> Value {
    let person =
        |name: &str, email: &str| json!({"name": name, "email": email, "username": SANDBOX_USER});
    let mut v = json!({
        "id": c.id, "message": c.message, "timestamp": c.timestamp,
        "url": format!("{}/commit/{}", r.html_url(), c.id),
        "author": person(&c.author_name, &c.author_email),
        "committer": person(&c.committer_name, &c.committer_email),
        "added": c.added, "removed": c.removed, "modified": c.modified,
    });
    match flavor {
        Flavor::Github => {
            v["tree_id"] = json!(c.tree);
            v["distinct"] = json!(true);
        }
        Flavor::Gitea => v["verification"] = Value::Null,
    }
    v
}

/// A push payload for `update` with its `commits` (oldest first, as [`crate::git`] lists them).
pub fn push_payload(
    flavor: Flavor,
    r: &RepoInfo,
    update: &RefUpdate,
    commits: &[CommitInfo],
) -> Value {
    let head = commits.last().map(|c| commit_json(c, r, flavor));
    let short = |s: &str| s.chars().take(12).collect::<String>();
    let compare = format!(
        "{}/compare/{}...{}",
        r.html_url(),
        short(&update.before),
        short(&update.after)
    );
    match flavor {
        Flavor::Github => json!({
            "ref": update.name, "before": update.before, "after": update.after,
            "created": update.before == ZERO, "deleted": update.after == ZERO, "forced": false,
            "base_ref": null, "compare": compare,
            "commits": commits.iter().map(|c| commit_json(c, r, flavor)).collect::<Vec<_>>(),
            "head_commit": head,
            "repository": github_repo(r, true),
            "pusher": {"name": SANDBOX_USER, "email": SANDBOX_EMAIL},
            "sender": github_user(SANDBOX_USER, &r.base_url),
        }),
        // Gitea lists the pushed commits newest first (go-gitea/gitea#21252).
        Flavor::Gitea => json!({
            "ref": update.name, "before": update.before, "after": update.after,
            "compare_url": compare,
            "commits": commits.iter().rev().map(|c| commit_json(c, r, flavor)).collect::<Vec<_>>(),
            "total_commits": commits.len(),
            "head_commit": head,
            "repository": gitea_repo(r),
            "pusher": gitea_user(SANDBOX_USER, &r.base_url),
            "sender": gitea_user(SANDBOX_USER, &r.base_url),
        }),
    }
}

/// A pull_request payload with `action` (`opened`, `synchronize`, `closed`, ...).
pub fn pull_payload(flavor: Flavor, r: &RepoInfo, p: &PullInfo, action: &str) -> Value {
    let url = format!("{}/pulls/{}", r.html_url(), p.number);
    let closed_at = (p.state == "closed").then(now);
    let merged_at = p.merged.then(now);
    match flavor {
        Flavor::Github => {
            let branch = |b: &str, sha: &str| {
                json!({"label": format!("{}:{b}", r.owner()), "ref": b, "sha": sha,
                "user": github_user(r.owner(), &r.base_url), "repo": github_repo(r, false)})
            };
            json!({
                "action": action, "number": p.number,
                "pull_request": {
                    "url": format!("{}/repos/{}/pulls/{}", r.base_url, r.full_name, p.number),
                    "id": p.number, "node_id": format!("PR_{}", p.number), "html_url": url,
                    "number": p.number, "state": p.state, "locked": false, "title": p.title,
                    "user": github_user(SANDBOX_USER, &r.base_url), "body": null,
                    "created_at": "2023-11-14T22:13:20Z", "updated_at": now(),
                    "closed_at": closed_at, "merged_at": merged_at,
                    "merge_commit_sha": p.merge_commit_sha,
                    "head": branch(&p.head, &p.head_sha), "base": branch(&p.base, &p.base_sha),
                    "merged": p.merged, "mergeable": null,
                    "merged_by": if p.merged { github_user(SANDBOX_USER, &r.base_url) } else { Value::Null },
                    "draft": false,
                },
                "repository": github_repo(r, false),
                "sender": github_user(SANDBOX_USER, &r.base_url),
            })
        }
        Flavor::Gitea => {
            let branch = |b: &str, sha: &str| json!({"label": b, "ref": b, "sha": sha, "repo_id": 1, "repo": gitea_repo(r)});
            json!({
                "action": action, "number": p.number,
                "pull_request": {
                    "id": p.number, "url": url, "number": p.number,
                    "user": gitea_user(SANDBOX_USER, &r.base_url), "title": p.title, "body": "",
                    "state": p.state, "html_url": url, "mergeable": true, "merged": p.merged,
                    "merged_at": merged_at, "merge_commit_sha": p.merge_commit_sha,
                    "merged_by": if p.merged { gitea_user(SANDBOX_USER, &r.base_url) } else { Value::Null },
                    "base": branch(&p.base, &p.base_sha), "head": branch(&p.head, &p.head_sha),
                    "merge_base": p.base_sha, "created_at": "2023-11-14T22:13:20Z",
                    "updated_at": now(), "closed_at": closed_at,
                },
                "requested_reviewer": null,
                "repository": gitea_repo(r),
                "sender": gitea_user(SANDBOX_USER, &r.base_url),
                "commit_id": "", "review": null,
            })
        }
    }
}

/// Sends signed deliveries and remembers what happened to them.
#[derive(Debug)]
pub struct Sender {
    flavor: Flavor,
    hooks: Vec<Webhook>,
    http: reqwest::Client,
    log: Mutex<Vec<Delivery>>,
    /// False while deliveries are dropped (`PUT /_sandbox/webhooks {"deliver": false}`).
    deliver: std::sync::atomic::AtomicBool,
}

impl Sender {
    /// A sender for `hooks` in `flavor`'s format.
    pub fn new(flavor: Flavor, hooks: Vec<Webhook>) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Sender {
            flavor,
            hooks,
            http,
            log: Mutex::new(Vec::new()),
            deliver: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// The deliveries so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Switches deliveries on or off; while off, events fire no webhook, as when a delivery is
    /// lost.
    pub fn set_delivering(&self, on: bool) {
        self.deliver.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether deliveries are on.
    pub fn delivering(&self) -> bool {
        self.deliver.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Delivers `payload` as `event` to every hook, retrying while the receiver is unreachable
    /// or answers 5xx (a real host gives up sooner; the sandbox's receiver may still be starting).
    /// `event_type` is Gitea's finer `X-Gitea-Event-Type` (`pull_request_sync`).
    pub async fn deliver(&self, event: &str, event_type: &str, what: &str, payload: &Value) {
        if !self.delivering() {
            tracing::info!(event, what, "webhook dropped: deliveries are switched off");
            return;
        }
        let body = serde_json::to_vec(payload).unwrap_or_default();
        for hook in &self.hooks {
            let id = uuid::Uuid::new_v4().to_string();
            let mut mac = match Hmac::<Sha256>::new_from_slice(hook.secret.as_bytes()) {
                Ok(m) => m,
                Err(_) => continue,
            };
            mac.update(&body);
            let sig = hex::encode(mac.finalize().into_bytes());
            let mut attempts = 0;
            let mut status = 0;
            let mut delay = Duration::from_millis(200);
            while attempts < 12 {
                attempts += 1;
                let mut req = self
                    .http
                    .post(&hook.url)
                    .header("Content-Type", "application/json")
                    .header("X-GitHub-Event", event)
                    .header("X-GitHub-Delivery", &id)
                    .header("X-Hub-Signature-256", format!("sha256={sig}"));
                req = match self.flavor {
                    Flavor::Github => req
                        .header("User-Agent", "GitHub-Hookshot/gantry-sandbox")
                        .header("X-GitHub-Hook-ID", "1"),
                    Flavor::Gitea => req
                        .header("User-Agent", "Go-http-client/1.1")
                        .header("X-Gitea-Event", event)
                        .header("X-Gitea-Event-Type", event_type)
                        .header("X-Gitea-Delivery", &id)
                        .header("X-Gitea-Signature", &sig)
                        .header("X-Gogs-Event", event)
                        .header("X-GitHub-Event-Type", event_type),
                };
                match req.body(body.clone()).send().await {
                    Ok(resp) => {
                        status = resp.status().as_u16();
                        if !resp.status().is_server_error() {
                            break;
                        }
                    }
                    Err(_) => status = 0,
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(3));
            }
            tracing::info!(event, what, delivery = %id, status, attempts, url = %hook.url, "webhook delivered");
            if let Ok(mut log) = self.log.lock() {
                log.push(Delivery {
                    id,
                    event: event.to_owned(),
                    what: what.to_owned(),
                    status,
                    attempts,
                });
            }
        }
    }

    /// The flavor.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }
}
