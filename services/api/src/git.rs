//! Read-only Git mirrors (gix, over the forge's smart HTTP): branch heads, files at a commit,
//! the files under a set of paths, and ancestry. Everything here blocks; callers use the
//! blocking pool. Writes never go through here: gix does not push, so commits are made through
//! the forge's REST API (see `rollback`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, RwLock};

pub use gix::ObjectId;

/// Why a Git read failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The remote could not be fetched.
    #[error("fetching {url}: {message}")]
    Remote {
        /// Clone URL without credentials.
        url: String,
        /// What gix said.
        message: String,
    },
    /// The local mirror is unusable.
    #[error("the mirror at {path}: {message}")]
    Mirror {
        /// Its folder.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// An object could not be read.
    #[error("reading {what}: {message}")]
    Read {
        /// What.
        what: String,
        /// Why.
        message: String,
    },
}

/// One file of a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileEntry {
    /// Its blob.
    pub oid: ObjectId,
    /// Git's mode: `100644`, `100755` or `120000`.
    pub mode: &'static str,
}

/// A bare mirror of one repository.
#[derive(Debug)]
pub struct Mirror {
    path: PathBuf,
    fetching: Mutex<()>,
    repo: RwLock<gix::ThreadSafeRepository>,
}

fn open(path: &Path) -> Result<gix::ThreadSafeRepository, String> {
    gix::open_opts(path, gix::open::Options::isolated())
        .map(gix::Repository::into_sync)
        .map_err(|e| e.to_string())
}

/// A URL with any user information removed, for messages.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            return format!("{scheme}://{}", &rest[at + 1..]);
        }
    }
    url.to_owned()
}

impl Mirror {
    /// Opens (creating when absent) the mirror of `full_name` under `root`.
    pub fn open(root: &Path, full_name: &str) -> Result<Mirror, GitError> {
        let path = root.join(format!(
            "{}.git",
            gantry_nats::escape_token(&full_name.to_ascii_lowercase())
        ));
        let err = |message: String| GitError::Mirror {
            path: path.clone(),
            message,
        };
        if !path.join("HEAD").exists() {
            std::fs::create_dir_all(&path).map_err(|e| err(e.to_string()))?;
            gix::init_bare(&path).map_err(|e| err(e.to_string()))?;
        }
        let repo = open(&path).map_err(err)?;
        Ok(Mirror {
            path,
            fetching: Mutex::new(()),
            repo: RwLock::new(repo),
        })
    }

    fn repo(&self) -> gix::Repository {
        self.repo
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .to_thread_local()
    }

    /// Fetches every branch and returns the branch heads.
    pub fn fetch(
        &self,
        url: &str,
        credentials: Option<&(String, String)>,
    ) -> Result<BTreeMap<String, ObjectId>, GitError> {
        let _guard = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        let remote_err = |message: String| GitError::Remote {
            url: redact(url),
            message,
        };
        let repo = self.repo();
        let remote = repo
            .remote_at(url)
            .map_err(|e| remote_err(e.to_string()))?
            .with_refspecs(
                ["+refs/heads/*:refs/heads/*"],
                gix::remote::Direction::Fetch,
            )
            .map_err(|e| remote_err(e.to_string()))?;
        let mut connection = remote
            .connect(gix::remote::Direction::Fetch)
            .map_err(|e| remote_err(format!("{e:#}")))?;
        if let Some((user, pass)) = credentials.cloned() {
            connection.set_credentials(move |action| match action {
                gix::credentials::helper::Action::Get(ctx) => {
                    Ok(Some(gix::credentials::protocol::Outcome {
                        identity: gix::sec::identity::Account {
                            username: user.clone(),
                            password: pass.clone(),
                            oauth_refresh_token: None,
                        },
                        next: ctx.into(),
                    }))
                }
                _ => Ok(None),
            });
        }
        let interrupt = AtomicBool::new(false);
        connection
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| remote_err(format!("{e:#}")))?
            .receive(gix::progress::Discard, &interrupt)
            .map_err(|e| remote_err(format!("{e:#}")))?;
        drop(repo);
        // Reopen so that the new pack and refs are seen by every later reader.
        let fresh = open(&self.path).map_err(|message| GitError::Mirror {
            path: self.path.clone(),
            message,
        })?;
        *self.repo.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        self.heads()
    }

    /// The local branch heads.
    pub fn heads(&self) -> Result<BTreeMap<String, ObjectId>, GitError> {
        let read_err = |message: String| GitError::Read {
            what: "the branches".to_owned(),
            message,
        };
        let repo = self.repo();
        let refs = repo.references().map_err(|e| read_err(e.to_string()))?;
        let mut out = BTreeMap::new();
        for r in refs
            .prefixed("refs/heads/")
            .map_err(|e| read_err(e.to_string()))?
        {
            let mut r = r.map_err(|e| read_err(e.to_string()))?;
            let name = r.name().as_bstr().to_string();
            if let Ok(id) = r.peel_to_id() {
                let branch = name.trim_start_matches("refs/heads/").to_owned();
                out.insert(branch, id.detach());
            }
        }
        Ok(out)
    }

    /// Whether the mirror holds `id`.
    pub fn has(&self, id: ObjectId) -> bool {
        self.repo().has_object(id)
    }

    /// Every regular file and symlink of `commit`'s tree, by path.
    pub fn files(&self, commit: ObjectId) -> Result<BTreeMap<String, FileEntry>, GitError> {
        let read_err = |message: String| GitError::Read {
            what: format!("the tree of {commit}"),
            message,
        };
        let repo = self.repo();
        let tree = repo
            .find_commit(commit)
            .map_err(|e| read_err(e.to_string()))?
            .tree()
            .map_err(|e| read_err(e.to_string()))?;
        let mut recorder = gix::traverse::tree::Recorder::default();
        tree.traverse()
            .breadthfirst(&mut recorder)
            .map_err(|e| read_err(e.to_string()))?;
        let mut out = BTreeMap::new();
        for e in recorder.records {
            let mode = match e.mode.kind() {
                gix::object::tree::EntryKind::Blob => "100644",
                gix::object::tree::EntryKind::BlobExecutable => "100755",
                gix::object::tree::EntryKind::Link => "120000",
                _ => continue,
            };
            out.insert(e.filepath.to_string(), FileEntry { oid: e.oid, mode });
        }
        Ok(out)
    }

    /// The tree of `commit`.
    pub fn tree_of(&self, commit: ObjectId) -> Result<ObjectId, GitError> {
        let repo = self.repo();
        repo.find_commit(commit)
            .and_then(|c| c.tree_id().map(|t| t.detach()))
            .map_err(|e| GitError::Read {
                what: format!("the tree of {commit}"),
                message: e.to_string(),
            })
    }

    /// The bytes of a blob.
    pub fn blob(&self, oid: ObjectId) -> Result<Vec<u8>, GitError> {
        self.repo()
            .find_object(oid)
            .map(|o| o.detach().data)
            .map_err(|e| GitError::Read {
                what: format!("blob {oid}"),
                message: e.to_string(),
            })
    }

    /// The file at `path` in `commit`, if it is a regular file there.
    pub fn file(&self, commit: ObjectId, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        match self.files(commit)?.get(path) {
            Some(e) if e.mode != "120000" => self.blob(e.oid).map(Some),
            _ => Ok(None),
        }
    }

    /// Whether `older` is `newer` or one of its ancestors; `None` when either is unknown.
    pub fn is_ancestor(&self, older: ObjectId, newer: ObjectId) -> Option<bool> {
        if older == newer {
            return Some(true);
        }
        let repo = self.repo();
        if !repo.has_object(older) || !repo.has_object(newer) {
            return None;
        }
        match repo.merge_base(older, newer) {
            Ok(Some(base)) => Some(base.detach() == older),
            Ok(None) => Some(false),
            Err(_) => None,
        }
    }
}
