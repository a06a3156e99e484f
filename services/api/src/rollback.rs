//! `POST …/rollback`: a new commit on the environment's branch (or a pull request) whose files
//! under the environment's inputs (its path, and every file its last render read, as the
//! reconciler records them) are those of an earlier revision. Git stays the source of truth: the
//! normal pipeline deploys the commit when the Git host announces it.
//!
//! gix cannot push, so the commit is made through the forge's REST API: GitHub's Git Data API
//! (a tree on the head's tree naming the old blobs, a commit, a fast-forward of the branch) or
//! Gitea's file-change API (one commit of creates, updates and deletes). Neither needs a clone.

use std::collections::BTreeSet;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::ApiRecord;
use crate::auth::{Actor, Method};
use crate::config::{Forge, ForgeKind};
use crate::server::{ApiError, AppState, Target};
use crate::sync::{REVISION_FORMAT, parse_json, resolve_revision};
use gantry_git::{FileEntry, ObjectId};

/// The committer of every rollback; the author is the caller.
pub const COMMITTER_NAME: &str = "Gantry";
/// The committer's address.
pub const COMMITTER_EMAIL: &str = "gantry@gantry.invalid";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    revision: Option<String>,
    mode: Option<String>,
}

/// One file to change: its old content's blob and mode, or its removal.
#[derive(Debug, Clone)]
struct Change {
    path: String,
    old: Option<FileEntry>,
    /// The blob at the head (Gitea needs it to update or delete).
    current: Option<FileEntry>,
    content: Option<Vec<u8>>,
}

/// Whether `path` is one of `inputs` or lies below one.
fn selected(inputs: &BTreeSet<String>, path: &str) -> bool {
    inputs.iter().any(|i| {
        path == i
            || i.is_empty()
            || (path.len() > i.len()
                && path.starts_with(i.as_str())
                && path.as_bytes()[i.len()] == b'/')
    })
}

fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, message)
}

fn forge_error(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "forge_error", message)
}

fn author_email(a: &Actor) -> String {
    if !a.email.is_empty() {
        return a.email.clone();
    }
    let local: String = a
        .subject
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    match a.method {
        Method::StaticToken => format!("{local}@tokens.gantry.invalid"),
        Method::Oidc => format!("{local}@oidc.gantry.invalid"),
    }
}

/// Handles a rollback request.
pub async fn rollback(
    s: &AppState,
    raw: &[u8],
    actor: &Actor,
    t: &Target,
    rec: &mut ApiRecord,
) -> Result<HttpResponse, ApiError> {
    let body: Body = parse_json(raw)?;
    let revision = body
        .revision
        .ok_or_else(|| ApiError::bad_request("revision is required"))?
        .to_ascii_lowercase();
    if !gantry_git::is_commit_prefix(&revision) {
        return Err(ApiError::bad_request(REVISION_FORMAT));
    }
    let pull_request = match body.mode.as_deref() {
        None | Some("commit") => false,
        Some("pull_request") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "mode {other:?} is neither \"commit\" nor \"pull_request\""
            )));
        }
    };
    rec.revision = revision.clone();
    let decl = t.decl.clone().ok_or_else(|| {
        conflict(
            "not_declared",
            format!(
                "{}/{} is no longer in .gantry.yaml at its branch head: there is no branch to commit to",
                t.app, t.environment
            ),
        )
    })?;
    let repo = s.config.repository(&t.repository).cloned().ok_or_else(|| {
        conflict(
            "no_forge",
            format!("{} is not a configured repository", t.repository),
        )
    })?;
    let forge = s.config.forge_of(&repo).cloned().ok_or_else(|| {
        conflict(
            "no_forge",
            format!(
                "rollback commits through the Git host's API: give {} a forge with a token",
                t.repository
            ),
        )
    })?;
    let heads = s
        .catalog
        .refresh_repo(&t.repository)
        .await
        .map_err(|e| ApiError::unavailable(format!("cannot fetch {}: {e}", t.repository)))?;
    let head = *heads.get(&decl.branch).ok_or_else(|| {
        conflict(
            "no_branch",
            format!("{} has no branch {}", t.repository, decl.branch),
        )
    })?;
    let mirror = s
        .catalog
        .mirror(&t.repository)
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let rev = resolve_revision(mirror.clone(), &revision, &t.repository).await?;
    // From here on the revision is the full id, whatever abbreviation the caller gave.
    let revision = rev.to_string();
    rec.revision = revision.clone();

    let mut inputs: BTreeSet<String> = BTreeSet::new();
    inputs.insert(decl.path.trim_end_matches('/').to_owned());
    if let Some(st) = &t.state {
        inputs.extend(st.inputs.iter().map(|i| i.trim_end_matches('/').to_owned()));
    }
    // .gantry.yaml is every environment's: rolling it back would move the others too.
    inputs.remove(gantry_reconciler::plan::GANTRY_FILE);
    let gitea = forge.kind == ForgeKind::Gitea;
    let branch = decl.branch.clone();
    let input_list = inputs.iter().cloned().collect::<Vec<_>>().join(", ");
    let plan = tokio::task::spawn_blocking(move || -> Result<(Vec<Change>, ObjectId), ApiError> {
        let not_ancestor = || {
            conflict(
                "not_an_ancestor",
                format!("{rev} is not an ancestor of the head of {branch} ({head})"),
            )
        };
        if !mirror.has(rev) {
            return Err(not_ancestor());
        }
        if mirror.is_ancestor(rev, head) != Some(true) {
            return Err(not_ancestor());
        }
        let read =
            |e: gantry_git::GitError| ApiError::unavailable(gantry_telemetry::error_chain(&e));
        let now = mirror.files(head).map_err(read)?;
        let then = mirror.files(rev).map_err(read)?;
        let paths: BTreeSet<&String> = now
            .keys()
            .chain(then.keys())
            .filter(|p| *p != gantry_reconciler::plan::GANTRY_FILE && selected(&inputs, p))
            .collect();
        let mut changes = Vec::new();
        for p in paths {
            let (old, current) = (then.get(p).copied(), now.get(p).copied());
            if old == current {
                continue;
            }
            let content = match (gitea, old) {
                (true, Some(e)) => Some(mirror.blob(e.oid).map_err(read)?),
                _ => None,
            };
            changes.push(Change {
                path: p.clone(),
                old,
                current,
                content,
            });
        }
        let tree = mirror.tree_of(head).map_err(read)?;
        Ok((changes, tree))
    })
    .await
    .map_err(|e| ApiError::unavailable(e.to_string()))??;
    let (changes, head_tree) = plan;
    if changes.is_empty() {
        return Ok(HttpResponse::Ok().json(json!({
            "commit": null,
            "unchanged": true,
            "revision": revision,
            "head": head.to_string(),
            "message": format!("the files of {}/{} at {} already equal those of {revision}", t.app, t.environment, decl.branch),
        })));
    }
    let short = &revision[..12];
    let message = format!(
        "Roll back {}/{} to {short}\n\nRequested by {} through gantry-api (request {}).\n\
         Files under {} are those of {revision}.\n",
        t.app,
        t.environment,
        actor.display(),
        rec.request_id,
        input_list,
    );
    let author = json!({"name": actor.display(), "email": author_email(actor)});
    let committer = json!({"name": COMMITTER_NAME, "email": COMMITTER_EMAIL});
    let (owner, name) = repo.split();
    let pr_branch = format!(
        "gantry/rollback-{}-{}-{short}-{}",
        t.app,
        t.environment,
        &rec.request_id[rec.request_id.len().saturating_sub(8)..]
    );
    let client = ForgeClient {
        http: &s.http,
        forge: &forge,
        owner,
        name,
    };
    let commit = match forge.kind {
        ForgeKind::Github => {
            let tree: Vec<Value> = changes
                .iter()
                .map(|c| match c.old {
                    Some(e) => json!({"path": c.path, "mode": e.mode, "type": "blob", "sha": e.oid.to_string()}),
                    None => json!({"path": c.path, "mode": c.current.map(|e| e.mode).unwrap_or("100644"), "type": "blob", "sha": null}),
                })
                .collect();
            let tree = client
                .post(
                    "git/trees",
                    &json!({"base_tree": head_tree.to_string(), "tree": tree}),
                )
                .await?;
            let commit = client
                .post(
                    "git/commits",
                    &json!({
                        "message": message, "tree": tree["sha"], "parents": [head.to_string()],
                        "author": author, "committer": committer,
                    }),
                )
                .await?;
            let sha = commit["sha"].as_str().unwrap_or_default().to_owned();
            if pull_request {
                client
                    .post(
                        "git/refs",
                        &json!({"ref": format!("refs/heads/{pr_branch}"), "sha": sha}),
                    )
                    .await?;
            } else {
                let r = client
                    .send(
                        reqwest::Method::PATCH,
                        &format!("git/refs/heads/{}", decl.branch),
                        &json!({"sha": sha, "force": false}),
                    )
                    .await?;
                if r.0 == 422 {
                    return Err(conflict(
                        "branch_moved",
                        format!(
                            "{} moved while the rollback was made; try again",
                            decl.branch
                        ),
                    ));
                }
                if !(200..300).contains(&r.0) {
                    return Err(forge_error(format!(
                        "moving {}: {} {}",
                        decl.branch, r.0, r.1
                    )));
                }
            }
            sha
        }
        ForgeKind::Gitea => {
            let b64 = base64::engine::general_purpose::STANDARD;
            let files: Vec<Value> = changes
                .iter()
                .map(|c| match (&c.old, &c.current) {
                    (Some(_), None) => json!({"operation": "create", "path": c.path,
                        "content": b64.encode(c.content.as_deref().unwrap_or_default())}),
                    (Some(_), Some(cur)) => json!({"operation": "update", "path": c.path,
                        "sha": cur.oid.to_string(),
                        "content": b64.encode(c.content.as_deref().unwrap_or_default())}),
                    (None, cur) => json!({"operation": "delete", "path": c.path,
                        "sha": cur.map(|e| e.oid.to_string())}),
                })
                .collect();
            let mut req = json!({
                "branch": decl.branch, "message": message, "files": files,
                "author": author, "committer": committer,
            });
            if pull_request {
                req["new_branch"] = json!(pr_branch);
            }
            let r = client.post("contents", &req).await?;
            r["commit"]["sha"].as_str().unwrap_or_default().to_owned()
        }
    };
    if commit.is_empty() {
        return Err(forge_error("the Git host answered without a commit id"));
    }
    if !pull_request {
        return Ok(HttpResponse::Accepted().json(json!({
            "commit": commit,
            "branch": decl.branch,
            "revision": revision,
            "files": changes.len(),
        })));
    }
    let pr = client
        .post(
            "pulls",
            &json!({
                "title": format!("Roll back {}/{} to {short}", t.app, t.environment),
                "head": pr_branch, "base": decl.branch,
                "body": message,
            }),
        )
        .await?;
    Ok(HttpResponse::Accepted().json(json!({
        "pull_request": {
            "number": pr["number"],
            "url": pr["html_url"],
            "branch": pr_branch,
        },
        "commit": commit,
        "revision": revision,
        "files": changes.len(),
    })))
}

/// A repository's REST API on one forge.
struct ForgeClient<'a> {
    http: &'a reqwest::Client,
    forge: &'a Forge,
    owner: &'a str,
    name: &'a str,
}

impl ForgeClient<'_> {
    fn url(&self, rest: &str) -> String {
        match self.forge.kind {
            ForgeKind::Github => format!(
                "{}/repos/{}/{}/{rest}",
                self.forge.api_url, self.owner, self.name
            ),
            ForgeKind::Gitea => format!(
                "{}/api/v1/repos/{}/{}/{rest}",
                self.forge.api_url, self.owner, self.name
            ),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        rest: &str,
        body: &Value,
    ) -> Result<(u16, Value), ApiError> {
        let auth = match self.forge.kind {
            ForgeKind::Github => format!("Bearer {}", self.forge.token),
            ForgeKind::Gitea => format!("token {}", self.forge.token),
        };
        let r = self
            .http
            .request(method, self.url(rest))
            .header("Authorization", auth)
            .header("Accept", "application/vnd.github+json")
            .json(body)
            .send()
            .await
            .map_err(|e| forge_error(format!("{}: {e}", self.url(rest))))?;
        let code = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        Ok((code, v))
    }

    async fn post(&self, rest: &str, body: &Value) -> Result<Value, ApiError> {
        let (code, v) = self.send(reqwest::Method::POST, rest, body).await?;
        if !(200..300).contains(&code) {
            return Err(forge_error(format!(
                "POST {rest}: {code} {}",
                v["message"].as_str().unwrap_or_default()
            )));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_select_paths_and_folders() {
        let inputs: BTreeSet<String> =
            ["apps/web/dev".to_owned(), "base/cm.yaml".to_owned()].into();
        assert!(selected(&inputs, "apps/web/dev/a.yaml"));
        assert!(selected(&inputs, "base/cm.yaml"));
        assert!(!selected(&inputs, "apps/web/dev2/a.yaml"));
        assert!(!selected(&inputs, "base/cm.yaml.bak"));
    }
}
