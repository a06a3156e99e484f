//! Commits made through the REST API, as tools that cannot push use them: GitHub's Git Data API
//! (trees, commits, refs) and Gitea's file-change API (`POST /repos/{owner}/{repo}/contents`).
//! Moving a branch this way fires the same push webhook a `git push` does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{patch, post};
use base64::Engine as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::git::{GitError, RefUpdate, ZERO};
use crate::hosting::{Hosting, error, json_response};

/// The Git Data and file-change routes, to merge into the hosting router.
pub fn router(h: Arc<Hosting>) -> Router {
    Router::new()
        .route("/repos/{owner}/{repo}/git/trees", post(create_tree))
        .route("/repos/{owner}/{repo}/git/commits", post(create_commit))
        .route("/repos/{owner}/{repo}/git/refs", post(create_ref))
        .route("/repos/{owner}/{repo}/git/refs/{*name}", patch(update_ref))
        .route("/api/v1/repos/{owner}/{repo}/contents", post(change_files))
        .with_state(h)
}

/// Which host's wording a handler answers a body it cannot decode with.
#[derive(Debug, Clone, Copy)]
enum Dialect {
    /// GitHub: 400 `Problems parsing JSON`.
    Github,
    /// Gitea: 422 with the decoder's message.
    Gitea,
}

/// A status and the message of the `{"message"}` body to answer with.
type Refusal = (StatusCode, String);

/// A write request that passed the checks every handler makes first.
struct Accepted<T> {
    full_name: String,
    /// The bare repository.
    path: PathBuf,
    req: T,
}

/// The checks and answers every write handler shares, in the hosts' order: credentials (401),
/// the repository (404), then the body (400 or 422 by `dialect`).
fn accept<T: DeserializeOwned>(
    h: &Hosting,
    (owner, repo): (&str, &str),
    headers: &HeaderMap,
    body: &[u8],
    dialect: Dialect,
) -> Result<Accepted<T>, Refusal> {
    // Both hosts refuse writes without credentials.
    let authenticated = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split_once(' ').is_some_and(|(_, t)| !t.trim().is_empty()));
    if !authenticated {
        return Err((StatusCode::UNAUTHORIZED, "Requires authentication".into()));
    }
    let full_name = format!("{owner}/{repo}");
    if !h.repos().exists(&full_name) {
        return Err((StatusCode::NOT_FOUND, "Not Found".into()));
    }
    let req = serde_json::from_slice(body).map_err(|e| match dialect {
        Dialect::Github => (
            StatusCode::BAD_REQUEST,
            format!("Problems parsing JSON: {e}"),
        ),
        Dialect::Gitea => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    })?;
    Ok(Accepted {
        path: h.repos().path(&full_name),
        full_name,
        req,
    })
}

/// 422 unless `sha` names an object of `kind` in the repository.
async fn require_object(path: &Path, sha: &str, kind: &str, message: &str) -> Option<Response> {
    (object_type(path, sha).await.as_deref() != Some(kind))
        .then(|| error(StatusCode::UNPROCESSABLE_ENTITY, message.to_owned()))
}

/// Runs git in the bare repository with `envs`, feeding `stdin`; stdout, trimmed.
async fn run(
    repo: &Path,
    args: &[&str],
    envs: &[(&str, String)],
    stdin: &[u8],
) -> Result<String, GitError> {
    let what = args.first().copied().unwrap_or("git").to_owned();
    let mut cmd = Command::new("git");
    cmd.current_dir(repo)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|source| GitError::Spawn {
        what: what.clone(),
        source,
    })?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin).await;
        let _ = i.shutdown().await;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|source| GitError::Spawn {
            what: what.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(GitError::Failed {
            what,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn valid_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One change to a tree: a blob (by id or content) at `path`, or its removal.
struct Edit {
    path: String,
    mode: String,
    blob: Option<String>,
}

/// Writes the tree `base` (none: empty) with `edits` applied; returns its id.
async fn write_tree(repo: &Path, base: Option<&str>, edits: &[Edit]) -> Result<String, GitError> {
    let index = std::env::temp_dir().join(format!("forge-sim-index-{}", uuid::Uuid::new_v4()));
    let env = [("GIT_INDEX_FILE", index.to_string_lossy().into_owned())];
    let result = async {
        match base {
            Some(t) => run(repo, &["read-tree", t], &env, b"").await?,
            None => run(repo, &["read-tree", "--empty"], &env, b"").await?,
        };
        let mut info = String::new();
        for e in edits {
            match &e.blob {
                Some(sha) => info.push_str(&format!("{} {sha}\t{}\n", e.mode, e.path)),
                None => info.push_str(&format!("0 {ZERO}\t{}\n", e.path)),
            }
        }
        run(
            repo,
            &["update-index", "--index-info"],
            &env,
            info.as_bytes(),
        )
        .await?;
        run(repo, &["write-tree"], &env, b"").await
    }
    .await;
    let _ = tokio::fs::remove_file(&index).await;
    result
}

async fn object_type(repo: &Path, sha: &str) -> Option<String> {
    run(repo, &["cat-file", "-t", sha], &[], b"").await.ok()
}

#[derive(Debug, Deserialize)]
struct TreeEntry {
    path: String,
    mode: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Absent, `null` (remove the path) or a blob id.
    #[serde(default, deserialize_with = "present")]
    sha: Option<Option<String>>,
    content: Option<String>,
}

/// Tells a `null` apart from an absent field: `null` is `Some(None)`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
struct CreateTree {
    base_tree: Option<String>,
    tree: Vec<TreeEntry>,
}

async fn create_tree(
    State(h): State<Arc<Hosting>>,
    UrlPath((owner, repo)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Accepted {
        full_name,
        path,
        req,
    }: Accepted<CreateTree> = match accept(&h, (&owner, &repo), &headers, &body, Dialect::Github) {
        Ok(a) => a,
        Err((status, message)) => return error(status, message),
    };
    if let Some(b) = &req.base_tree
        && let Some(r) = require_object(&path, b, "tree", "base_tree is not a valid tree").await
    {
        return r;
    }
    let mut edits = Vec::new();
    for e in req.tree {
        if !matches!(e.mode.as_str(), "100644" | "100755" | "120000")
            || e.kind.as_deref().is_some_and(|k| k != "blob")
        {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "tree.path {}: only blobs with mode 100644, 100755 or 120000",
                    e.path
                ),
            );
        }
        let blob = match (e.sha, e.content) {
            (Some(None), None) => None,
            (Some(Some(sha)), None) => {
                if object_type(&path, &sha).await.as_deref() != Some("blob") {
                    return error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("tree.sha {sha} is not a valid blob"),
                    );
                }
                Some(sha)
            }
            (None, Some(content)) => {
                match run(
                    &path,
                    &["hash-object", "-w", "--stdin"],
                    &[],
                    content.as_bytes(),
                )
                .await
                {
                    Ok(sha) => Some(sha),
                    Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                }
            }
            _ => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "give exactly one of sha and content",
                );
            }
        };
        edits.push(Edit {
            path: e.path,
            mode: e.mode,
            blob,
        });
    }
    match write_tree(&path, req.base_tree.as_deref(), &edits).await {
        Ok(sha) => json_response(
            StatusCode::CREATED,
            &json!({"sha": sha, "url": format!("/repos/{full_name}/git/trees/{sha}"), "truncated": false}),
        ),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    }
}

#[derive(Debug, Deserialize, Default)]
struct Signature {
    name: String,
    email: String,
    date: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CreateCommit {
    message: String,
    tree: String,
    #[serde(default)]
    parents: Vec<String>,
    author: Option<Signature>,
    committer: Option<Signature>,
}

fn identity_env(author: &Signature, committer: &Signature) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("GIT_AUTHOR_NAME", author.name.clone()),
        ("GIT_AUTHOR_EMAIL", author.email.clone()),
        ("GIT_COMMITTER_NAME", committer.name.clone()),
        ("GIT_COMMITTER_EMAIL", committer.email.clone()),
    ];
    if let Some(d) = &author.date {
        env.push(("GIT_AUTHOR_DATE", d.clone()));
    }
    if let Some(d) = &committer.date {
        env.push(("GIT_COMMITTER_DATE", d.clone()));
    }
    env
}

fn default_signature() -> Signature {
    Signature {
        name: "Forge Sim".to_owned(),
        email: "noreply@forge-sim.invalid".to_owned(),
        date: None,
    }
}

async fn commit_tree(
    path: &Path,
    tree: &str,
    parents: &[String],
    message: &str,
    author: &Signature,
    committer: &Signature,
) -> Result<String, GitError> {
    let mut args = vec!["commit-tree".to_owned(), tree.to_owned()];
    for p in parents {
        args.push("-p".to_owned());
        args.push(p.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(
        path,
        &args,
        &identity_env(author, committer),
        message.as_bytes(),
    )
    .await
}

async fn create_commit(
    State(h): State<Arc<Hosting>>,
    UrlPath((owner, repo)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Accepted {
        full_name: _,
        path,
        req,
    }: Accepted<CreateCommit> = match accept(&h, (&owner, &repo), &headers, &body, Dialect::Github)
    {
        Ok(a) => a,
        Err((status, message)) => return error(status, message),
    };
    if let Some(r) = require_object(&path, &req.tree, "tree", "Tree SHA does not exist").await {
        return r;
    }
    for p in &req.parents {
        let not_commit = "Parent SHA does not exist or is not a commit object";
        if let Some(r) = require_object(&path, p, "commit", not_commit).await {
            return r;
        }
    }
    let author = req.author.unwrap_or_else(default_signature);
    let committer = req.committer.unwrap_or_else(|| Signature {
        name: author.name.clone(),
        email: author.email.clone(),
        date: author.date.clone(),
    });
    match commit_tree(
        &path,
        &req.tree,
        &req.parents,
        &req.message,
        &author,
        &committer,
    )
    .await
    {
        Ok(sha) => json_response(
            StatusCode::CREATED,
            &json!({
                "sha": sha,
                "tree": {"sha": req.tree},
                "parents": req.parents.iter().map(|p| json!({"sha": p})).collect::<Vec<_>>(),
                "message": req.message,
                "author": {"name": author.name, "email": author.email},
                "committer": {"name": committer.name, "email": committer.email},
            }),
        ),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    }
}

async fn current(path: &Path, refname: &str) -> Option<String> {
    run(path, &["rev-parse", "--verify", "-q", refname], &[], b"")
        .await
        .ok()
        .filter(|s| valid_sha(s))
}

/// Moves `refname` from `old` (ZERO: create) to `new` and fires the push webhook.
async fn move_ref(
    h: &Arc<Hosting>,
    full_name: &str,
    refname: &str,
    old: &str,
    new: &str,
) -> Result<(), GitError> {
    let path = h.repos().path(full_name);
    let old_arg = if old == ZERO { "" } else { old };
    run(&path, &["update-ref", refname, new, old_arg], &[], b"").await?;
    let update = RefUpdate {
        name: refname.to_owned(),
        before: old.to_owned(),
        after: new.to_owned(),
    };
    let (h2, name) = (h.clone(), full_name.to_owned());
    tokio::spawn(async move { h2.announce_pushes(&name, vec![update]).await });
    Ok(())
}

#[derive(Debug, Deserialize)]
struct CreateRef {
    #[serde(rename = "ref")]
    name: String,
    sha: String,
}

async fn create_ref(
    State(h): State<Arc<Hosting>>,
    UrlPath((owner, repo)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Accepted {
        full_name,
        path,
        req,
    }: Accepted<CreateRef> = match accept(&h, (&owner, &repo), &headers, &body, Dialect::Github) {
        Ok(a) => a,
        Err((status, message)) => return error(status, message),
    };
    if !req.name.starts_with("refs/") || req.name.matches('/').count() < 2 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Reference name must start with 'refs/' and have at least two slashes",
        );
    }
    if let Some(r) = require_object(&path, &req.sha, "commit", "Object does not exist").await {
        return r;
    }
    let lock = h.lock_for(&full_name);
    let _g = lock.lock().await;
    if current(&path, &req.name).await.is_some() {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "Reference already exists");
    }
    match move_ref(&h, &full_name, &req.name, ZERO, &req.sha).await {
        Ok(()) => json_response(
            StatusCode::CREATED,
            &json!({"ref": req.name, "object": {"sha": req.sha, "type": "commit"}}),
        ),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
struct UpdateRef {
    sha: String,
    #[serde(default)]
    force: bool,
}

async fn update_ref(
    State(h): State<Arc<Hosting>>,
    UrlPath((owner, repo, name)): UrlPath<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Accepted {
        full_name,
        path,
        req,
    }: Accepted<UpdateRef> = match accept(&h, (&owner, &repo), &headers, &body, Dialect::Github) {
        Ok(a) => a,
        Err((status, message)) => return error(status, message),
    };
    let refname = format!("refs/{name}");
    if let Some(r) = require_object(&path, &req.sha, "commit", "Object does not exist").await {
        return r;
    }
    let lock = h.lock_for(&full_name);
    let _g = lock.lock().await;
    let Some(old) = current(&path, &refname).await else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "Reference does not exist");
    };
    if !req.force
        && run(
            &path,
            &["merge-base", "--is-ancestor", &old, &req.sha],
            &[],
            b"",
        )
        .await
        .is_err()
    {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Update is not a fast forward",
        );
    }
    match move_ref(&h, &full_name, &refname, &old, &req.sha).await {
        Ok(()) => json_response(
            StatusCode::OK,
            &json!({"ref": refname, "object": {"sha": req.sha, "type": "commit"}}),
        ),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
struct FileChange {
    operation: String,
    path: String,
    content: Option<String>,
    sha: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChangeFiles {
    branch: Option<String>,
    new_branch: Option<String>,
    message: Option<String>,
    author: Option<Signature>,
    committer: Option<Signature>,
    files: Vec<FileChange>,
}

/// Gitea's answers for an update or delete of `f`, which is `have` (mode, blob) at its head: the
/// file must exist, and a given `sha` must be its blob (`sha_required` for updates).
fn check_existing(
    f: &FileChange,
    have: Option<&(String, String)>,
    sha_required: bool,
) -> Result<(), Refusal> {
    match (have, &f.sha) {
        (None, _) => Err((
            StatusCode::NOT_FOUND,
            format!("repository file does not exist [path: {}]", f.path),
        )),
        (Some((_, cur)), Some(sha)) if cur != sha => Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("sha does not match [given: {sha}, expected: {cur}]"),
        )),
        (Some(_), None) if sha_required => Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "sha is required to update a file".into(),
        )),
        _ => Ok(()),
    }
}

/// Gitea's `ChangeFilesOptions`: one commit creating, updating and deleting files, on `branch`
/// or on a `new_branch` started from it.
async fn change_files(
    State(h): State<Arc<Hosting>>,
    UrlPath((owner, repo)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Accepted {
        full_name,
        path,
        req,
    }: Accepted<ChangeFiles> = match accept(&h, (&owner, &repo), &headers, &body, Dialect::Gitea) {
        Ok(a) => a,
        Err((status, message)) => return error(status, message),
    };
    let branch = req.branch.clone().unwrap_or_else(|| "main".to_owned());
    let lock = h.lock_for(&full_name);
    let _g = lock.lock().await;
    let Some(head) = current(&path, &format!("refs/heads/{branch}")).await else {
        return error(
            StatusCode::NOT_FOUND,
            format!("branch does not exist [name: {branch}]"),
        );
    };
    let target = req.new_branch.clone().unwrap_or_else(|| branch.clone());
    let target_ref = format!("refs/heads/{target}");
    if req.new_branch.is_some() && current(&path, &target_ref).await.is_some() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("branch already exists [name: {target}]"),
        );
    }
    let listing = run(&path, &["ls-tree", "-r", &head], &[], b"")
        .await
        .unwrap_or_default();
    let existing: std::collections::HashMap<String, (String, String)> = listing
        .lines()
        .filter_map(|l| {
            let (meta, p) = l.split_once('\t')?;
            let mut m = meta.split_whitespace();
            let mode = m.next()?.to_owned();
            let _kind = m.next()?;
            let sha = m.next()?.to_owned();
            Some((p.to_owned(), (mode, sha)))
        })
        .collect();
    let mut edits = Vec::new();
    for f in &req.files {
        let have = existing.get(&f.path);
        match f.operation.as_str() {
            "create" | "update" => {
                if f.operation == "create" && have.is_some() {
                    return error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("repository file already exists [path: {}]", f.path),
                    );
                }
                if f.operation == "update"
                    && let Err((status, message)) = check_existing(f, have, true)
                {
                    return error(status, message);
                }
                let Some(content) = &f.content else {
                    return error(StatusCode::UNPROCESSABLE_ENTITY, "content is required");
                };
                let bytes = match base64::engine::general_purpose::STANDARD.decode(content) {
                    Ok(b) => b,
                    Err(_) => {
                        return error(StatusCode::UNPROCESSABLE_ENTITY, "content is not base64");
                    }
                };
                let sha = match run(&path, &["hash-object", "-w", "--stdin"], &[], &bytes).await {
                    Ok(s) => s,
                    Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                };
                let mode = have
                    .map(|(m, _)| m.clone())
                    .unwrap_or_else(|| "100644".to_owned());
                edits.push(Edit {
                    path: f.path.clone(),
                    mode,
                    blob: Some(sha),
                });
            }
            "delete" => {
                if let Err((status, message)) = check_existing(f, have, false) {
                    return error(status, message);
                }
                edits.push(Edit {
                    path: f.path.clone(),
                    mode: String::new(),
                    blob: None,
                });
            }
            other => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("unknown operation {other:?}"),
                );
            }
        }
    }
    let base_tree = format!("{head}^{{tree}}");
    let tree = match write_tree(&path, Some(&base_tree), &edits).await {
        Ok(t) => t,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let author = req.author.unwrap_or_else(default_signature);
    let committer = req.committer.unwrap_or_else(|| Signature {
        name: author.name.clone(),
        email: author.email.clone(),
        date: None,
    });
    let message = req.message.unwrap_or_else(|| "Update files".to_owned());
    let sha = match commit_tree(
        &path,
        &tree,
        std::slice::from_ref(&head),
        &message,
        &author,
        &committer,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let old = if req.new_branch.is_some() {
        ZERO.to_owned()
    } else {
        head.clone()
    };
    if let Err(e) = move_ref(&h, &full_name, &target_ref, &old, &sha).await {
        return error(StatusCode::CONFLICT, e.to_string());
    }
    json_response(
        StatusCode::CREATED,
        &json!({
            "commit": {
                "sha": sha,
                "message": message,
                "tree": {"sha": tree},
                "parents": [{"sha": head}],
                "author": {"name": author.name, "email": author.email},
                "committer": {"name": committer.name, "email": committer.email},
            },
            "files": req.files.iter().map(|f| json!({"path": f.path})).collect::<Vec<_>>(),
        }),
    )
}
