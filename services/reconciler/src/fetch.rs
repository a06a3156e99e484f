//! Repository mirrors (one bare gix repository per repository) and read-only snapshots of the
//! tree at one commit. Files are read from the object database at that exact commit, never from a
//! working tree that could drift. Everything here blocks: callers run it on the blocking pool.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use std::time::Instant;

use gantry_render::{FileSystem, FsError, PathMap};
use gix::ObjectId;

use crate::reconcile::Reconciler;

/// Why a fetch or a tree read failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The remote could not be reached or refused us (worth retrying).
    #[error("fetching {url}: {message}")]
    Remote {
        /// The clone URL, without credentials.
        url: String,
        /// What gix said.
        message: String,
    },
    /// The commit is not in the repository even after a fetch.
    #[error("commit {0} is not in the repository after fetching every branch")]
    MissingCommit(String),
    /// The revision is not a full hexadecimal object id.
    #[error("{0:?} is not a commit id")]
    BadRevision(String),
    /// The local mirror is unusable.
    #[error("the mirror at {path}: {message}")]
    Mirror {
        /// The mirror's folder.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Reading objects failed.
    #[error("reading {what}: {message}")]
    Read {
        /// What was being read.
        what: String,
        /// What gix said.
        message: String,
    },
}

/// User name and password (a token) for HTTPS fetches.
#[derive(Clone)]
pub struct Credentials {
    /// The user name (`x-access-token` for GitHub tokens).
    pub username: String,
    /// The token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

/// The mirrors of every repository, under one folder.
#[derive(Debug)]
pub struct Mirrors {
    root: PathBuf,
    repos: Mutex<HashMap<String, Arc<Mirror>>>,
}

/// One repository's mirror. Its lock serialises fetches; reads share the thread-safe handle.
#[derive(Debug)]
pub struct Mirror {
    path: PathBuf,
    fetching: Mutex<()>,
    repo: std::sync::RwLock<gix::ThreadSafeRepository>,
    snapshots: Mutex<VecDeque<Arc<Snapshot>>>,
}

/// Snapshots kept per mirror: a push needs the new tree and the last applied one.
const SNAPSHOT_CACHE: usize = 4;
/// Every fetch adds a pack; past this many, the mirror is repacked into one (with `git repack`
/// when git is installed), so lookups stay fast and the object store's index slots suffice.
const MAX_PACKS: usize = 48;

/// Opens a mirror: no user or system git configuration (no credential helpers, no prompts), and
/// room for many pack indices, as every fetch adds one.
fn open_mirror(path: &std::path::Path) -> Result<gix::ThreadSafeRepository, String> {
    let opts = gix::open::Options::isolated().object_store_slots(
        gix::odb::store::init::Slots::AsNeededByDiskState {
            multiplier: 2.0,
            minimum: 256,
        },
    );
    gix::open_opts(path, opts)
        .map(gix::Repository::into_sync)
        .map_err(|e| e.to_string())
}

impl Mirrors {
    /// Mirrors under `root` (created when absent).
    pub fn new(root: PathBuf) -> Self {
        Mirrors {
            root,
            repos: Mutex::new(HashMap::new()),
        }
    }

    /// The mirror of `full_name`, created empty when absent.
    pub fn mirror(&self, full_name: &str) -> Result<Arc<Mirror>, FetchError> {
        let key = full_name.to_ascii_lowercase();
        let mut repos = self.repos.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = repos.get(&key) {
            return Ok(m.clone());
        }
        let path = self
            .root
            .join(format!("{}.git", gantry_nats::escape_token(&key)));
        let mirror_err = |message: String| FetchError::Mirror {
            path: path.clone(),
            message,
        };
        if !path.join("HEAD").exists() {
            std::fs::create_dir_all(&path).map_err(|e| mirror_err(e.to_string()))?;
            gix::init_bare(&path).map_err(|e| mirror_err(e.to_string()))?;
        }
        let repo = open_mirror(&path).map_err(mirror_err)?;
        let m = Arc::new(Mirror {
            path: path.clone(),
            fetching: Mutex::new(()),
            repo: std::sync::RwLock::new(repo),
            snapshots: Mutex::new(VecDeque::new()),
        });
        repos.insert(key, m.clone());
        Ok(m)
    }
}

/// Parses a full hexadecimal commit id.
pub fn parse_revision(rev: &str) -> Result<ObjectId, FetchError> {
    ObjectId::from_hex(rev.as_bytes()).map_err(|_| FetchError::BadRevision(rev.to_owned()))
}

impl Mirror {
    fn repo(&self) -> gix::Repository {
        self.repo
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .to_thread_local()
    }

    /// Whether the mirror holds `commit`.
    pub fn has(&self, commit: ObjectId) -> bool {
        self.repo().has_object(commit)
    }

    /// Repacks when fetches have left too many packs, then reopens the mirror.
    fn maybe_repack(&self) {
        let packs = std::fs::read_dir(self.path.join("objects/pack"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".idx"))
                    .count()
            })
            .unwrap_or(0);
        if packs <= MAX_PACKS {
            return;
        }
        let ok = std::process::Command::new("git")
            .args(["repack", "-a", "-d", "-q"])
            .current_dir(&self.path)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            tracing::warn!(mirror = %self.path.display(), packs, "git repack is unavailable or failed; the mirror keeps many packs");
        }
        match open_mirror(&self.path) {
            Ok(r) => *self.repo.write().unwrap_or_else(|p| p.into_inner()) = r,
            Err(e) => {
                tracing::warn!(mirror = %self.path.display(), error = %e, "reopening the mirror failed")
            }
        }
    }

    /// Makes sure `commit` is in the mirror, fetching every branch from `url` when it is not.
    pub fn ensure(
        &self,
        url: &str,
        credentials: Option<&Credentials>,
        commit: ObjectId,
    ) -> Result<(), FetchError> {
        if self.has(commit) {
            return Ok(());
        }
        let _guard = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        // Another task may have fetched it while we waited.
        if self.has(commit) {
            return Ok(());
        }
        self.fetch(url, credentials)?;
        self.maybe_repack();
        if self.has(commit) {
            Ok(())
        } else {
            Err(FetchError::MissingCommit(commit.to_string()))
        }
    }

    fn fetch(&self, url: &str, credentials: Option<&Credentials>) -> Result<(), FetchError> {
        let remote_err = |message: String| FetchError::Remote {
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
        if let Some(c) = credentials.cloned() {
            connection.set_credentials(move |action| match action {
                gix::credentials::helper::Action::Get(ctx) => {
                    Ok(Some(gix::credentials::protocol::Outcome {
                        identity: gix::sec::identity::Account {
                            username: c.username.clone(),
                            password: c.password.clone(),
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
        Ok(())
    }

    /// Whether `older` is an ancestor of (or equal to) `newer`. `None` when either is unknown.
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

    /// The tree at `commit`, cached.
    pub fn snapshot(&self, commit: ObjectId) -> Result<Arc<Snapshot>, FetchError> {
        {
            let cache = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(s) = cache.iter().find(|s| s.commit == commit) {
                return Ok(s.clone());
            }
        }
        let snap = Arc::new(Snapshot::read(self.repo(), commit)?);
        let mut cache = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        cache.push_front(snap.clone());
        cache.truncate(SNAPSHOT_CACHE);
        Ok(snap)
    }

    /// The mirror's folder.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The raw commit object (headers, signature and message), for signature checks.
    pub fn commit_object(&self, commit: ObjectId) -> Result<Vec<u8>, FetchError> {
        let repo = self.repo();
        let object = repo.find_object(commit).map_err(|e| FetchError::Read {
            what: format!("commit {commit}"),
            message: e.to_string(),
        })?;
        if object.kind != gix::object::Kind::Commit {
            return Err(FetchError::Read {
                what: format!("commit {commit}"),
                message: format!("it is a {}", object.kind),
            });
        }
        Ok(object.data.clone())
    }
}

/// A URL with any user information removed, for messages.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            return format!("{scheme}://{}", &rest[at + 1..]);
        }
    }
    url.to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    File,
    Other,
}

/// The tree of one commit: every path with its blob id, readable through
/// [`gantry_render::FileSystem`].
pub struct Snapshot {
    /// The commit.
    pub commit: ObjectId,
    files: PathMap<(ObjectId, EntryKind)>,
    repo: Mutex<gix::Repository>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("commit", &self.commit)
            .field("files", &self.files.len())
            .finish()
    }
}

impl Snapshot {
    fn read(mut repo: gix::Repository, commit: ObjectId) -> Result<Snapshot, FetchError> {
        let read_err = |message: String| FetchError::Read {
            what: format!("the tree of {commit}"),
            message,
        };
        repo.object_cache_size_if_unset(4 << 20);
        let tree = repo
            .find_commit(commit)
            .map_err(|e| read_err(e.to_string()))?
            .tree()
            .map_err(|e| read_err(e.to_string()))?;
        let mut recorder = gix::traverse::tree::Recorder::default();
        tree.traverse()
            .breadthfirst(&mut recorder)
            .map_err(|e| read_err(e.to_string()))?;
        drop(tree);
        let mut files = PathMap::new();
        for e in recorder.records {
            if e.mode.is_tree() || e.mode.is_commit() {
                continue;
            }
            let kind = if e.mode.is_blob() {
                EntryKind::File
            } else {
                // Symlinks are not followed: a link could point anywhere on the worker.
                EntryKind::Other
            };
            files.insert(e.filepath.to_string(), (e.oid, kind));
        }
        Ok(Snapshot {
            commit,
            files,
            repo: Mutex::new(repo),
        })
    }

    /// The bytes of the file at `path`, if it is a regular file.
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        let (oid, kind) = self.files.get(path)?;
        if *kind != EntryKind::File {
            return None;
        }
        let repo = self.repo.lock().unwrap_or_else(|p| p.into_inner());
        repo.find_object(*oid).ok().map(|o| o.detach().data)
    }

    /// Paths whose content or mode differs between `self` and `other`, plus paths only one has.
    pub fn changed_paths(&self, other: &Snapshot) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (p, e) in self.files.iter() {
            if other.files.get(p) != Some(e) {
                out.insert(p.clone());
            }
        }
        for (p, _) in other.files.iter() {
            if !self.files.contains(p) {
                out.insert(p.clone());
            }
        }
        out
    }

    /// How many files the tree holds.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the tree is empty.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

impl FileSystem for Snapshot {
    fn read(&self, path: &str) -> Result<Vec<u8>, FsError> {
        self.file(path)
            .ok_or_else(|| FsError::NotFound(path.to_owned()))
    }

    fn list_dir(&self, path: &str) -> Result<Vec<String>, FsError> {
        self.files
            .list_dir(path)
            .ok_or_else(|| FsError::NotFound(path.to_owned()))
    }

    fn is_dir(&self, path: &str) -> bool {
        self.files.is_dir(path)
    }

    fn is_file(&self, path: &str) -> bool {
        matches!(self.files.get(path), Some((_, EntryKind::File)))
    }
}

/// What the fetch phase hands on to plan.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// The repository's mirror.
    pub mirror: Arc<Mirror>,
    /// The tree at the event's revision.
    pub snapshot: Arc<Snapshot>,
    /// Whether the mirror already held the event's `before` (an unknown one deploys everything).
    pub before_known: bool,
}

/// Why the fetch phase did not hand anything on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchFailure {
    /// The event names no commit: there is nothing to fetch, ever.
    #[error(transparent)]
    Malformed(FetchError),
    /// The mirror or the remote failed (retried).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The blocking task did not finish.
    #[error("the fetch task did not finish")]
    Join(#[from] tokio::task::JoinError),
}

impl Reconciler {
    /// Fetch: makes sure the mirror of `full_name` holds `revision` and reads its tree. An
    /// installation token the host refused is dropped from the cache.
    pub(crate) async fn fetch_phase(
        &self,
        full_name: &str,
        revision: &str,
        before: &str,
        url: &str,
        credentials: Option<Credentials>,
    ) -> Result<Fetched, FetchFailure> {
        let started = Instant::now();
        let mirror = self.mirrors.mirror(full_name)?;
        let commit = parse_revision(revision).map_err(FetchFailure::Malformed)?;
        let m = mirror.clone();
        let url = url.to_owned();
        let before = before.to_ascii_lowercase();
        let used = credentials.as_ref().map(|c| c.password.clone());
        let joined = tokio::task::spawn_blocking(move || {
            m.ensure(&url, credentials.as_ref(), commit)?;
            let snap = m.snapshot(commit)?;
            let before_known = parse_revision(&before).map(|b| m.has(b)).unwrap_or(false);
            Ok::<_, FetchError>((snap, before_known))
        })
        .await?;
        self.metrics.phase("fetch", started.elapsed());
        match joined {
            Ok((snapshot, before_known)) => Ok(Fetched {
                mirror,
                snapshot,
                before_known,
            }),
            Err(e) => {
                // An installation token the host stopped taking must not be reused.
                if let Some(token) = used {
                    for app in self.config.forges.iter().filter_map(|f| f.app.as_ref()) {
                        app.invalidate(&token).await;
                    }
                }
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &std::path::Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=T",
                "-c",
                "user.email=t@example.com",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    #[test]
    fn many_fetches_stay_readable_and_trees_diff() {
        let src = tempfile::tempdir().expect("tempdir");
        let data = tempfile::tempdir().expect("tempdir");
        git(src.path(), &["init", "-q", "-b", "main"]);
        let mirrors = Mirrors::new(data.path().to_owned());
        let m = mirrors.mirror("acme/app").expect("mirror");
        let url = format!("file://{}", src.path().display());
        let mut commits = Vec::new();
        for i in 0..(MAX_PACKS + 12) {
            std::fs::create_dir_all(src.path().join("apps/a")).expect("mkdir");
            std::fs::write(src.path().join("apps/a/x.yaml"), format!("v: {i}\n")).expect("write");
            git(src.path(), &["add", "-A"]);
            git(src.path(), &["commit", "-q", "-m", &format!("c{i}")]);
            let c = parse_revision(&git(src.path(), &["rev-parse", "HEAD"])).expect("sha");
            m.ensure(&url, None, c).expect("fetched");
            commits.push(c);
        }
        let first = m.snapshot(commits[0]).expect("first tree");
        let last = m.snapshot(commits[commits.len() - 1]).expect("last tree");
        assert_eq!(first.file("apps/a/x.yaml").as_deref(), Some(&b"v: 0\n"[..]));
        let changed: Vec<String> = first.changed_paths(&last).into_iter().collect();
        assert_eq!(changed, ["apps/a/x.yaml"]);
        assert_eq!(m.is_ancestor(commits[0], commits[5]), Some(true));
        assert_eq!(m.is_ancestor(commits[5], commits[0]), Some(false));
        assert!(last.is_dir("apps") && !last.is_dir("apps/a/x.yaml"));
        assert_eq!(last.list_dir("apps").expect("list"), ["a"]);
        assert!(matches!(
            m.ensure(
                &url,
                None,
                parse_revision("1111111111111111111111111111111111111111").expect("sha")
            ),
            Err(FetchError::MissingCommit(_))
        ));
    }

    #[test]
    fn redacts_user_information() {
        assert_eq!(
            redact("https://x:secret@github.com/a/b.git"),
            "https://github.com/a/b.git"
        );
        assert_eq!(
            redact("https://github.com/a/b.git"),
            "https://github.com/a/b.git"
        );
        assert_eq!(redact("file:///tmp/r"), "file:///tmp/r");
    }
}
