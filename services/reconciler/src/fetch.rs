//! Repository mirrors (one bare gix repository per repository) and read-only snapshots of the
//! tree at one commit. Files are read from the object database at that exact commit, never from a
//! working tree that could drift. Everything here blocks: callers run it on the blocking pool.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use std::time::Instant;

pub use gantry_git::{Credentials, GitError, parse_revision};
use gantry_render::{FileSystem, FsError, PathMap};
use gix::ObjectId;

use crate::reconcile::Reconciler;

/// The mirrors of every repository, under one folder.
#[derive(Debug)]
pub struct Mirrors {
    root: PathBuf,
    repos: Mutex<HashMap<String, Arc<Mirror>>>,
}

/// One repository's mirror (fetches, ancestry and raw commits through [`gantry_git::Mirror`]),
/// with the trees it read last.
#[derive(Debug)]
pub struct Mirror {
    git: gantry_git::Mirror,
    snapshots: Mutex<VecDeque<Arc<Snapshot>>>,
}

/// Snapshots kept per mirror: a push needs the new tree and the last applied one.
const SNAPSHOT_CACHE: usize = 4;

impl Mirrors {
    /// Mirrors under `root` (created when absent).
    pub fn new(root: PathBuf) -> Self {
        Mirrors {
            root,
            repos: Mutex::new(HashMap::new()),
        }
    }

    /// The mirror of `full_name`, created empty when absent.
    pub fn mirror(&self, full_name: &str) -> Result<Arc<Mirror>, GitError> {
        let key = full_name.to_ascii_lowercase();
        let mut repos = self.repos.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = repos.get(&key) {
            return Ok(m.clone());
        }
        let m = Arc::new(Mirror {
            git: gantry_git::Mirror::open(&self.root, &key)?,
            snapshots: Mutex::new(VecDeque::new()),
        });
        repos.insert(key, m.clone());
        Ok(m)
    }
}

impl std::ops::Deref for Mirror {
    type Target = gantry_git::Mirror;

    fn deref(&self) -> &gantry_git::Mirror {
        &self.git
    }
}

impl Mirror {
    /// The tree at `commit`, cached.
    pub fn snapshot(&self, commit: ObjectId) -> Result<Arc<Snapshot>, GitError> {
        {
            let cache = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(s) = cache.iter().find(|s| s.commit == commit) {
                return Ok(s.clone());
            }
        }
        let snap = Arc::new(Snapshot::read(self.git.repo(), commit)?);
        let mut cache = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        cache.push_front(snap.clone());
        cache.truncate(SNAPSHOT_CACHE);
        Ok(snap)
    }
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
    fn read(mut repo: gix::Repository, commit: ObjectId) -> Result<Snapshot, GitError> {
        let read_err = |e: gantry_git::Source| GitError::Read {
            what: format!("the tree of {commit}"),
            source: e,
        };
        repo.object_cache_size_if_unset(4 << 20);
        let tree = repo
            .find_commit(commit)
            .map_err(|e| read_err(e.into()))?
            .tree()
            .map_err(|e| read_err(e.into()))?;
        let mut recorder = gix::traverse::tree::Recorder::default();
        tree.traverse()
            .breadthfirst(&mut recorder)
            .map_err(|e| read_err(e.into()))?;
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
    Malformed(GitError),
    /// The mirror or the remote failed (retried).
    #[error(transparent)]
    Fetch(#[from] GitError),
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
            Ok::<_, GitError>((snap, before_known))
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

    #[test]
    fn snapshots_read_and_diff_trees() {
        let src = gantry_tests::GitRepo::new().expect("git repository");
        let data = tempfile::tempdir().expect("tempdir");
        let mirrors = Mirrors::new(data.path().to_owned());
        let m = mirrors.mirror("acme/app").expect("mirror");
        let url = src.url();
        let mut commits = Vec::new();
        for i in 0..3 {
            src.write("apps/a/x.yaml", &format!("v: {i}\n"))
                .expect("write");
            src.write("README", "same\n").expect("write");
            let c = parse_revision(&src.commit(&format!("c{i}")).expect("commit")).expect("sha");
            m.ensure(&url, None, c).expect("fetched");
            commits.push(c);
        }
        assert!(Arc::ptr_eq(
            &m,
            &mirrors.mirror("Acme/App").expect("mirror")
        ));
        let first = m.snapshot(commits[0]).expect("first tree");
        let last = m.snapshot(commits[2]).expect("last tree");
        assert!(Arc::ptr_eq(
            &first,
            &m.snapshot(commits[0]).expect("cached")
        ));
        assert_eq!(first.file("apps/a/x.yaml").as_deref(), Some(&b"v: 0\n"[..]));
        let changed: Vec<String> = first.changed_paths(&last).into_iter().collect();
        assert_eq!(changed, ["apps/a/x.yaml"]);
        assert!(last.is_dir("apps") && !last.is_dir("apps/a/x.yaml"));
        assert_eq!(last.list_dir("apps").expect("list"), ["a"]);
        assert!(last.is_file("README") && !last.is_file("apps"));
    }
}
