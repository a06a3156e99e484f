//! The Git side of the emulator: bare repositories served over Git's smart HTTP protocol by the
//! real `git http-backend`, and the few repository operations a Git host performs itself (read
//! refs, list pushed commits, merge a pull request).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// The all-zero object id Git uses for "no commit".
pub const ZERO: &str = "0000000000000000000000000000000000000000";

/// Errors of Git operations.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// `git` could not be run.
    #[error("cannot run git {what}")]
    Spawn {
        /// The subcommand.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `git` ran and failed.
    #[error("git {what} failed: {stderr}")]
    Failed {
        /// The subcommand.
        what: String,
        /// Its error output.
        stderr: String,
    },
    /// `git http-backend` wrote something that is not a CGI response.
    #[error("git http-backend answered without CGI headers")]
    Cgi,
    /// The repository does not exist.
    #[error("no repository {0}")]
    NoRepository(String),
    /// The branches cannot be merged without conflicts.
    #[error("{0} cannot be merged without conflicts")]
    Conflict(String),
}

/// Bare repositories under one folder: `<root>/<owner>/<name>.git`.
#[derive(Debug, Clone)]
pub struct Repos {
    root: PathBuf,
}

/// One changed ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// `refs/heads/main`, `refs/tags/v1`.
    pub name: String,
    /// The old commit, [`ZERO`] when created.
    pub before: String,
    /// The new commit, [`ZERO`] when deleted.
    pub after: String,
}

/// A commit as webhooks describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// Full id.
    pub id: String,
    /// Tree id.
    pub tree: String,
    /// The whole message.
    pub message: String,
    /// Author name.
    pub author_name: String,
    /// Author e-mail.
    pub author_email: String,
    /// Author time, ISO 8601 with offset.
    pub timestamp: String,
    /// Committer name.
    pub committer_name: String,
    /// Committer e-mail.
    pub committer_email: String,
    /// Paths added, removed and modified relative to the first parent.
    pub added: Vec<String>,
    /// Paths removed.
    pub removed: Vec<String>,
    /// Paths modified.
    pub modified: Vec<String>,
}

/// What `git http-backend` answered.
#[derive(Debug)]
pub struct CgiResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
}

/// The request fields `git http-backend` needs.
#[derive(Debug, Default)]
pub struct CgiRequest<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// `/<owner>/<name>.git/info/refs` and the like.
    pub path: &'a str,
    /// The query string, without `?`.
    pub query: &'a str,
    /// The request's `Content-Type`.
    pub content_type: Option<&'a str>,
    /// The request's `Content-Encoding` (Git gzips large upload-pack requests).
    pub content_encoding: Option<&'a str>,
    /// The `Git-Protocol` header (protocol v2 negotiation).
    pub git_protocol: Option<&'a str>,
    /// The body.
    pub body: Bytes,
}

impl Repos {
    /// Repositories under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Repos { root: root.into() }
    }

    /// The folder of bare repositories.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The bare repository of `owner/name`.
    pub fn path(&self, full_name: &str) -> PathBuf {
        self.root.join(format!("{full_name}.git"))
    }

    /// True when `owner/name` exists.
    pub fn exists(&self, full_name: &str) -> bool {
        self.path(full_name).join("HEAD").exists()
    }

    /// Creates an empty bare repository whose default branch is `branch`, if it is absent.
    pub async fn create(&self, full_name: &str, branch: &str) -> Result<PathBuf, GitError> {
        let path = self.path(full_name);
        if !path.join("HEAD").exists() {
            let parent = path.parent().unwrap_or(&self.root).to_path_buf();
            tokio::fs::create_dir_all(&parent)
                .await
                .map_err(|source| GitError::Spawn {
                    what: "init".into(),
                    source,
                })?;
            git(
                &parent,
                &[
                    "init",
                    "--bare",
                    "--quiet",
                    &format!("--initial-branch={branch}"),
                ],
                &path_str(&path),
            )
            .await?;
            // Pushes over HTTP are allowed without authentication in the sandbox.
            git(&path, &["config", "http.receivepack", "true"], "").await?;
        }
        Ok(path)
    }

    /// Every ref of `owner/name` and the commit it points at.
    pub async fn refs(&self, full_name: &str) -> Result<BTreeMap<String, String>, GitError> {
        let path = self.path(full_name);
        if !path.join("HEAD").exists() {
            return Err(GitError::NoRepository(full_name.to_owned()));
        }
        let out = git_out(
            &path,
            &[
                "for-each-ref",
                "--format=%(refname) %(objectname)",
                "refs/heads",
                "refs/tags",
            ],
        )
        .await?;
        Ok(out
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(r, o)| (r.to_owned(), o.to_owned()))
            .collect())
    }

    /// The commits a ref update brought, oldest first, at most `limit` (GitHub sends 20).
    pub async fn pushed_commits(
        &self,
        full_name: &str,
        update: &RefUpdate,
        limit: usize,
    ) -> Result<Vec<CommitInfo>, GitError> {
        if update.after == ZERO {
            return Ok(Vec::new());
        }
        let path = self.path(full_name);
        let range = if update.before == ZERO {
            // A new ref: what it holds that no other branch had, as GitHub reports it.
            let mut args = vec![update.after.clone(), "--not".to_owned()];
            args.extend(
                self.refs(full_name)
                    .await?
                    .into_iter()
                    .filter(|(r, _)| r.starts_with("refs/heads/") && *r != update.name)
                    .map(|(_, o)| o),
            );
            args
        } else {
            vec![format!("{}..{}", update.before, update.after)]
        };
        let mut args = vec![
            "rev-list".to_owned(),
            "--reverse".to_owned(),
            "--topo-order".to_owned(),
        ];
        args.extend(range);
        let ids = git_out(&path, &args.iter().map(String::as_str).collect::<Vec<_>>()).await?;
        let ids: Vec<&str> = ids.lines().collect();
        let skip = ids.len().saturating_sub(limit);
        let mut out = Vec::new();
        for id in &ids[skip..] {
            out.push(self.commit(full_name, id).await?);
        }
        Ok(out)
    }

    /// One commit's details and the paths it changed against its first parent.
    pub async fn commit(&self, full_name: &str, id: &str) -> Result<CommitInfo, GitError> {
        let path = self.path(full_name);
        let meta = git_out(
            &path,
            &[
                "show",
                "-s",
                "--format=%H%x00%T%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%B",
                id,
            ],
        )
        .await?;
        let mut f = meta.splitn(8, '\0');
        let mut next = || f.next().unwrap_or("").to_owned();
        let (cid, tree, an, ae, at, cn, ce, msg) = (
            next(),
            next(),
            next(),
            next(),
            next(),
            next(),
            next(),
            next(),
        );
        let changes = git_out(
            &path,
            &[
                "diff-tree",
                "--root",
                "--no-commit-id",
                "-r",
                "--name-status",
                "-m",
                "--first-parent",
                id,
            ],
        )
        .await?;
        let (mut added, mut removed, mut modified) = (Vec::new(), Vec::new(), Vec::new());
        for line in changes.lines() {
            let kind = line.split('\t').next().unwrap_or("");
            // Renames and copies list the old path first; the new one is last.
            let file = line.rsplit('\t').next().unwrap_or("").to_owned();
            match kind.chars().next() {
                Some('A') | Some('C') | Some('R') => added.push(file),
                Some('D') => removed.push(file),
                Some(_) => modified.push(file),
                None => {}
            }
        }
        Ok(CommitInfo {
            id: cid.trim().to_owned(),
            tree: tree.trim().to_owned(),
            message: msg.trim_end_matches('\n').to_owned(),
            author_name: an,
            author_email: ae,
            timestamp: at,
            committer_name: cn,
            committer_email: ce,
            added,
            removed,
            modified,
        })
    }

    /// Merges `head` into `base` with a merge commit, as a Git host's merge button does, and
    /// moves `base`. Returns `(base commit before, merge commit)`.
    pub async fn merge(
        &self,
        full_name: &str,
        base: &str,
        head: &str,
        message: &str,
    ) -> Result<(String, String), GitError> {
        let path = self.path(full_name);
        let base_sha = git_out(&path, &["rev-parse", &format!("refs/heads/{base}")])
            .await?
            .trim()
            .to_owned();
        let head_sha = git_out(&path, &["rev-parse", &format!("refs/heads/{head}")])
            .await?
            .trim()
            .to_owned();
        let out = Command::new("git")
            .current_dir(&path)
            .args(["merge-tree", "--write-tree", &base_sha, &head_sha])
            .output()
            .await
            .map_err(|source| GitError::Spawn {
                what: "merge-tree".into(),
                source,
            })?;
        if !out.status.success() {
            return Err(GitError::Conflict(format!("{head} into {base}")));
        }
        let tree = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        let merge = Command::new("git")
            .current_dir(&path)
            .args([
                "commit-tree",
                &tree,
                "-p",
                &base_sha,
                "-p",
                &head_sha,
                "-m",
                message,
            ])
            .env("GIT_AUTHOR_NAME", "Gantry Sandbox")
            .env("GIT_AUTHOR_EMAIL", "sandbox@gantry.invalid")
            .env("GIT_COMMITTER_NAME", "Gantry Sandbox")
            .env("GIT_COMMITTER_EMAIL", "sandbox@gantry.invalid")
            .output()
            .await
            .map_err(|source| GitError::Spawn {
                what: "commit-tree".into(),
                source,
            })?;
        if !merge.status.success() {
            return Err(GitError::Failed {
                what: "commit-tree".into(),
                stderr: String::from_utf8_lossy(&merge.stderr).into_owned(),
            });
        }
        let merge_sha = String::from_utf8_lossy(&merge.stdout).trim().to_owned();
        git(
            &path,
            &[
                "update-ref",
                &format!("refs/heads/{base}"),
                &merge_sha,
                &base_sha,
            ],
            "",
        )
        .await?;
        Ok((base_sha, merge_sha))
    }

    /// Runs `git http-backend` for one smart-HTTP request.
    pub async fn http_backend(&self, req: CgiRequest<'_>) -> Result<CgiResponse, GitError> {
        let mut cmd = Command::new("git");
        cmd.arg("http-backend")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("GIT_PROJECT_ROOT", &self.root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("REQUEST_METHOD", req.method)
            .env("PATH_INFO", req.path)
            .env("QUERY_STRING", req.query)
            .env("CONTENT_LENGTH", req.body.len().to_string())
            .env("REMOTE_USER", "sandbox")
            .env("REMOTE_ADDR", "127.0.0.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(ct) = req.content_type {
            cmd.env("CONTENT_TYPE", ct);
        }
        if let Some(ce) = req.content_encoding {
            cmd.env("HTTP_CONTENT_ENCODING", ce);
        }
        if let Some(p) = req.git_protocol {
            cmd.env("GIT_PROTOCOL", p);
        }
        let mut child = cmd.spawn().map_err(|source| GitError::Spawn {
            what: "http-backend".into(),
            source,
        })?;
        let mut stdin = child.stdin.take();
        let body = req.body.clone();
        let writer = async move {
            if let Some(stdin) = stdin.as_mut() {
                let _ = stdin.write_all(&body).await;
                let _ = stdin.shutdown().await;
            }
            drop(stdin);
        };
        let (_, out) = tokio::join!(writer, child.wait_with_output());
        let out = out.map_err(|source| GitError::Spawn {
            what: "http-backend".into(),
            source,
        })?;
        parse_cgi(&out.stdout)
    }
}

fn parse_cgi(raw: &[u8]) -> Result<CgiResponse, GitError> {
    let (head, body) = match raw.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (&raw[..i], &raw[i + 4..]),
        None => match raw.windows(2).position(|w| w == b"\n\n") {
            Some(i) => (&raw[..i], &raw[i + 2..]),
            None => return Err(GitError::Cgi),
        },
    };
    let mut status = 200;
    let mut headers = Vec::new();
    for line in String::from_utf8_lossy(head).lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("Status") {
            status = v
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
                .unwrap_or(500);
        } else {
            headers.push((k.to_owned(), v.to_owned()));
        }
    }
    Ok(CgiResponse {
        status,
        headers,
        body: Bytes::copy_from_slice(body),
    })
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

async fn git(dir: &Path, args: &[&str], extra: &str) -> Result<(), GitError> {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir).args(args);
    if !extra.is_empty() {
        cmd.arg(extra);
    }
    let out = cmd.output().await.map_err(|source| GitError::Spawn {
        what: args.first().copied().unwrap_or("").to_owned(),
        source,
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(GitError::Failed {
            what: args.first().copied().unwrap_or("").to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

async fn git_out(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .await
        .map_err(|source| GitError::Spawn {
            what: args.first().copied().unwrap_or("").to_owned(),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(GitError::Failed {
            what: args.first().copied().unwrap_or("").to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}
