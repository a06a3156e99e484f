//! Read-only Git mirrors shared by the reconciler and the API: one bare gix repository per
//! repository, fetched (every branch) over the forge's smart HTTP or any transport gix speaks,
//! and read by commit: branch heads, trees, blobs, raw commits and ancestry. Everything here
//! blocks; callers run it on the blocking pool. Nothing is ever pushed: gix does not push, so
//! commits are made through the forge's REST API.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, RwLock};

pub use gix::ObjectId;

/// Whatever a lower layer (gix, the OS, the HTTP client) said, kept as the error's source.
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a fetch or a read failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The remote could not be reached or refused us (worth retrying).
    #[error("fetching {url}")]
    Remote {
        /// The clone URL, without credentials.
        url: String,
        /// What the transport said.
        #[source]
        source: Source,
    },
    /// The commit is not in the repository even after a fetch.
    #[error("commit {0} is not in the repository after fetching every branch")]
    MissingCommit(ObjectId),
    /// The revision is not a full hexadecimal object id.
    #[error("{0:?} is not a commit id")]
    BadRevision(String),
    /// The local mirror is unusable.
    #[error("the mirror at {path}")]
    Mirror {
        /// The mirror's folder.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: Source,
    },
    /// Reading objects failed.
    #[error("reading {what}")]
    Read {
        /// What was being read.
        what: String,
        /// What gix said.
        #[source]
        source: Source,
    },
}

impl GitError {
    /// A failure to talk to `url`, named without its credentials.
    pub fn remote(url: &str, source: impl Into<Source>) -> GitError {
        GitError::Remote {
            url: redact(url),
            source: source.into(),
        }
    }

    fn read(what: impl Into<String>, source: impl Into<Source>) -> GitError {
        GitError::Read {
            what: what.into(),
            source: source.into(),
        }
    }
}

/// User name and password (a token) for HTTPS fetches.
#[derive(Clone, PartialEq, Eq)]
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

/// Parses a full hexadecimal commit id.
pub fn parse_revision(rev: &str) -> Result<ObjectId, GitError> {
    ObjectId::from_hex(rev.as_bytes()).map_err(|_| GitError::BadRevision(rev.to_owned()))
}

/// What a full or abbreviated commit id names in a mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Exactly one commit starts with it.
    Commit(ObjectId),
    /// No commit does.
    Unknown,
    /// Several commits do (sorted).
    Ambiguous(Vec<ObjectId>),
}

/// Whether `s` can name a commit: 4 (git's shortest abbreviation) to 64 hexadecimal digits.
pub fn is_commit_prefix(s: &str) -> bool {
    (4..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One file of a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileEntry {
    /// Its blob.
    pub oid: ObjectId,
    /// Git's mode: `100644`, `100755` or `120000`.
    pub mode: &'static str,
}

/// Every fetch adds a pack; past this many, the mirror is repacked into one (with `git repack`
/// when git is installed), so lookups stay fast and the object store's index slots suffice.
pub const MAX_PACKS: usize = 48;

/// Opens a repository with no user or system git configuration (no credential helpers, no
/// prompts), and room for many pack indices, as every fetch adds one.
fn open_repo(path: &Path) -> Result<gix::ThreadSafeRepository, GitError> {
    let opts = gix::open::Options::isolated().object_store_slots(
        gix::odb::store::init::Slots::AsNeededByDiskState {
            multiplier: 2.0,
            minimum: 256,
        },
    );
    gix::open_opts(path, opts)
        .map(gix::Repository::into_sync)
        .map_err(|e| GitError::Mirror {
            path: path.to_owned(),
            source: e.into(),
        })
}

type Connection<'a, 'repo> = gix::remote::Connection<
    'a,
    'static,
    'repo,
    Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
>;

/// Connects `remote` for fetching, answering the transport's credential requests with
/// `credentials` (and nothing else: no helper, no prompt).
fn connect<'a, 'repo>(
    remote: &'a gix::Remote<'repo>,
    url: &str,
    credentials: Option<&Credentials>,
) -> Result<Connection<'a, 'repo>, GitError> {
    // gix's HTTP transport builds a reqwest client, which panics without a process-wide rustls
    // provider; the services install ring's at start, and so does this for any other caller.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut connection = remote
        .connect(gix::remote::Direction::Fetch)
        .map_err(|e| GitError::remote(url, e))?;
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
    Ok(connection)
}

/// A remote at `url` that maps every branch onto the local branch of the same name.
fn branches_remote<'repo>(
    repo: &'repo gix::Repository,
    url: &str,
) -> Result<gix::Remote<'repo>, GitError> {
    repo.remote_at(url)
        .map_err(|e| GitError::remote(url, e))?
        .with_refspecs(
            ["+refs/heads/*:refs/heads/*"],
            gix::remote::Direction::Fetch,
        )
        .map_err(|e| GitError::remote(url, e))
}

/// The branch heads `url` advertises (an `ls-remote`), through the repository at `repo_path`,
/// which gix needs to talk to a remote; nothing is fetched into it.
pub fn remote_heads(
    repo_path: &Path,
    url: &str,
    credentials: Option<&Credentials>,
) -> Result<BTreeMap<String, ObjectId>, GitError> {
    let repo = gix::open_opts(repo_path, gix::open::Options::isolated())
        .map_err(|e| GitError::remote(url, e))?;
    let remote = branches_remote(&repo, url)?;
    let connection = connect(&remote, url, credentials)?;
    let (map, _) = connection
        .ref_map(gix::progress::Discard, Default::default())
        .map_err(|e| GitError::remote(url, e))?;
    let mut heads = BTreeMap::new();
    for r in &map.remote_refs {
        let (name, target, peeled) = r.unpack();
        let name = name.to_string();
        if let (Some(branch), Some(id)) = (name.strip_prefix("refs/heads/"), peeled.or(target)) {
            heads.insert(branch.to_owned(), id.to_owned());
        }
    }
    Ok(heads)
}

/// A bare mirror of one repository. Its lock serialises fetches; reads share the thread-safe
/// handle.
#[derive(Debug)]
pub struct Mirror {
    path: PathBuf,
    fetching: Mutex<()>,
    repo: RwLock<gix::ThreadSafeRepository>,
}

impl Mirror {
    /// Opens (creating when absent) the mirror of `full_name` under `root`; names differing
    /// only in case share one mirror.
    pub fn open(root: &Path, full_name: &str) -> Result<Mirror, GitError> {
        let path = root.join(format!(
            "{}.git",
            gantry_nats::escape_token(&full_name.to_ascii_lowercase())
        ));
        let err = |e: Source| GitError::Mirror {
            path: path.clone(),
            source: e,
        };
        if !path.join("HEAD").exists() {
            std::fs::create_dir_all(&path).map_err(|e| err(e.into()))?;
            gix::init_bare(&path).map_err(|e| err(e.into()))?;
        }
        let repo = open_repo(&path)?;
        Ok(Mirror {
            path,
            fetching: Mutex::new(()),
            repo: RwLock::new(repo),
        })
    }

    /// The mirror's folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A handle on the mirror for this thread.
    pub fn repo(&self) -> gix::Repository {
        self.repo
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .to_thread_local()
    }

    /// Whether the mirror holds `id`.
    pub fn has(&self, id: ObjectId) -> bool {
        self.repo().has_object(id)
    }

    /// Fetches every branch from `url` and returns the branch heads.
    pub fn fetch(
        &self,
        url: &str,
        credentials: Option<&Credentials>,
    ) -> Result<BTreeMap<String, ObjectId>, GitError> {
        let _guard = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        self.fetch_locked(url, credentials)?;
        self.heads()
    }

    /// Makes sure `commit` is in the mirror, fetching every branch from `url` when it is not.
    pub fn ensure(
        &self,
        url: &str,
        credentials: Option<&Credentials>,
        commit: ObjectId,
    ) -> Result<(), GitError> {
        if self.has(commit) {
            return Ok(());
        }
        let _guard = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        // Another task may have fetched it while we waited.
        if self.has(commit) {
            return Ok(());
        }
        self.fetch_locked(url, credentials)?;
        if self.has(commit) {
            Ok(())
        } else {
            Err(GitError::MissingCommit(commit))
        }
    }

    /// The fetch itself; the caller holds the fetch lock.
    fn fetch_locked(&self, url: &str, credentials: Option<&Credentials>) -> Result<(), GitError> {
        {
            let repo = self.repo();
            let remote = branches_remote(&repo, url)?;
            let interrupt = AtomicBool::new(false);
            connect(&remote, url, credentials)?
                .prepare_fetch(gix::progress::Discard, Default::default())
                .map_err(|e| GitError::remote(url, e))?
                .receive(gix::progress::Discard, &interrupt)
                .map_err(|e| GitError::remote(url, e))?;
        }
        self.maybe_repack();
        // Reopen so that the new pack and refs are seen by every later reader.
        *self.repo.write().unwrap_or_else(|p| p.into_inner()) = open_repo(&self.path)?;
        Ok(())
    }

    /// Repacks when fetches have left more than [`MAX_PACKS`] packs.
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
    }

    /// The local branch heads.
    pub fn heads(&self) -> Result<BTreeMap<String, ObjectId>, GitError> {
        const WHAT: &str = "the branches";
        let repo = self.repo();
        let refs = repo.references().map_err(|e| GitError::read(WHAT, e))?;
        let mut out = BTreeMap::new();
        for r in refs
            .prefixed("refs/heads/")
            .map_err(|e| GitError::read(WHAT, e))?
        {
            let mut r = r.map_err(|e| GitError::read(WHAT, e))?;
            let name = r.name().as_bstr().to_string();
            if let Ok(id) = r.peel_to_id() {
                let branch = name.trim_start_matches("refs/heads/").to_owned();
                out.insert(branch, id.detach());
            }
        }
        Ok(out)
    }

    /// Every regular file and symlink of `commit`'s tree, by path.
    pub fn files(&self, commit: ObjectId) -> Result<BTreeMap<String, FileEntry>, GitError> {
        let what = || format!("the tree of {commit}");
        let repo = self.repo();
        let tree = repo
            .find_commit(commit)
            .map_err(|e| GitError::read(what(), e))?
            .tree()
            .map_err(|e| GitError::read(what(), e))?;
        let mut recorder = gix::traverse::tree::Recorder::default();
        tree.traverse()
            .breadthfirst(&mut recorder)
            .map_err(|e| GitError::read(what(), e))?;
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
            .map_err(|e| GitError::read(format!("the tree of {commit}"), e))
    }

    /// The bytes of a blob.
    pub fn blob(&self, oid: ObjectId) -> Result<Vec<u8>, GitError> {
        self.repo()
            .find_object(oid)
            .map(|o| o.detach().data)
            .map_err(|e| GitError::read(format!("blob {oid}"), e))
    }

    /// The file at `path` in `commit`, if it is a regular file there.
    pub fn file(&self, commit: ObjectId, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        match self.files(commit)?.get(path) {
            Some(e) if e.mode != "120000" => self.blob(e.oid).map(Some),
            _ => Ok(None),
        }
    }

    /// The raw commit object (headers, signature and message), for signature checks.
    pub fn commit_object(&self, commit: ObjectId) -> Result<Vec<u8>, GitError> {
        let what = || format!("commit {commit}");
        let repo = self.repo();
        let object = repo
            .find_object(commit)
            .map_err(|e| GitError::read(what(), e))?;
        if object.kind != gix::object::Kind::Commit {
            return Err(GitError::read(what(), format!("it is a {}", object.kind)));
        }
        Ok(object.data.clone())
    }

    /// The commit a full or abbreviated id (`is_commit_prefix`) names, as `git rev-parse
    /// ID^{commit}` finds it: only commits count, so a tree or blob sharing the prefix makes no
    /// ambiguity. People copy the short ids that `gantry status` and `git log --oneline` print.
    pub fn resolve_commit(&self, hex: &str) -> Result<Resolved, GitError> {
        let hex = hex.to_ascii_lowercase();
        if !is_commit_prefix(&hex) {
            return Err(GitError::BadRevision(hex));
        }
        if let Ok(id) = ObjectId::from_hex(hex.as_bytes()) {
            return Ok(if self.is_commit(id) {
                Resolved::Commit(id)
            } else {
                Resolved::Unknown
            });
        }
        let prefix =
            gix::hash::Prefix::from_hex(&hex).map_err(|_| GitError::BadRevision(hex.clone()))?;
        let repo = self.repo();
        let mut candidates = std::collections::HashSet::new();
        repo.objects
            .lookup_prefix(prefix, Some(&mut candidates))
            .map_err(|e| GitError::read(format!("objects starting with {hex}"), e))?;
        let mut commits: Vec<ObjectId> = candidates
            .into_iter()
            .filter(|id| self.is_commit(*id))
            .collect();
        commits.sort();
        Ok(match commits.len() {
            0 => Resolved::Unknown,
            1 => Resolved::Commit(commits[0]),
            _ => Resolved::Ambiguous(commits),
        })
    }

    fn is_commit(&self, id: ObjectId) -> bool {
        self.repo()
            .find_header(id)
            .is_ok_and(|h| h.kind() == gix::object::Kind::Commit)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
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
    fn many_fetches_stay_readable() {
        let src = tempfile::tempdir().expect("tempdir");
        let data = tempfile::tempdir().expect("tempdir");
        git(src.path(), &["init", "-q", "-b", "main"]);
        let m = Mirror::open(data.path(), "Acme/App").expect("mirror");
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
        assert_eq!(
            m.file(commits[0], "apps/a/x.yaml")
                .expect("read")
                .as_deref(),
            Some(&b"v: 0\n"[..])
        );
        assert_eq!(m.file(commits[0], "apps/a").expect("read"), None);
        let last = commits[commits.len() - 1];
        assert_eq!(m.heads().expect("heads")["main"], last);
        assert_eq!(
            remote_heads(m.path(), &url, None).expect("ls-remote")["main"],
            last
        );
        assert!(m.commit_object(last).expect("commit").starts_with(b"tree "));
        assert_eq!(m.is_ancestor(commits[0], commits[5]), Some(true));
        assert_eq!(m.is_ancestor(commits[5], commits[0]), Some(false));
        assert!(matches!(
            m.ensure(
                &url,
                None,
                parse_revision("1111111111111111111111111111111111111111").expect("sha")
            ),
            Err(GitError::MissingCommit(_))
        ));
        let short = last.to_hex_with_len(7).to_string();
        assert_eq!(
            m.resolve_commit(&short).expect("resolve"),
            Resolved::Commit(last)
        );
        assert_eq!(
            m.resolve_commit(&short.to_ascii_uppercase())
                .expect("resolve"),
            Resolved::Commit(last)
        );
        assert_eq!(
            m.resolve_commit(&last.to_string()).expect("resolve"),
            Resolved::Commit(last)
        );
        // a tree is not a commit, by its full id or its prefix
        let tree = m.tree_of(last).expect("tree");
        assert_eq!(
            m.resolve_commit(&tree.to_string()).expect("resolve"),
            Resolved::Unknown
        );
        assert!(matches!(
            m.resolve_commit("abc"),
            Err(GitError::BadRevision(_))
        ));
        assert!(matches!(
            m.resolve_commit("main"),
            Err(GitError::BadRevision(_))
        ));
        // The same repository under another case is the same mirror.
        let again = Mirror::open(data.path(), "acme/app").expect("mirror");
        assert!(again.has(last));
    }

    #[test]
    fn an_ambiguous_prefix_names_every_commit_sharing_it() {
        // 1,500 fixed commits (fixed dates, so fixed ids) make two that share 4 leading digits
        // certain: git's shortest abbreviation is then ambiguous, as it is in a large repository.
        let src = tempfile::tempdir().expect("tempdir");
        let data = tempfile::tempdir().expect("tempdir");
        git(src.path(), &["init", "-q", "-b", "main"]);
        let mut stream = String::new();
        for i in 0..1500 {
            let msg = format!("c{i}\n");
            stream.push_str(&format!(
                "commit refs/heads/main\ncommitter T <t@example.com> {} +0000\ndata {}\n{msg}",
                1_700_000_000 + i,
                msg.len()
            ));
        }
        let mut child = std::process::Command::new("git")
            .args(["fast-import", "--quiet"])
            .current_dir(src.path())
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("git fast-import");
        std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), stream.as_bytes())
            .expect("feed");
        drop(child.stdin.take());
        assert!(child.wait().expect("wait").success());
        let ids: Vec<ObjectId> = git(src.path(), &["rev-list", "main"])
            .lines()
            .map(|l| parse_revision(l).expect("sha"))
            .collect();
        let m = Mirror::open(data.path(), "acme/big").expect("mirror");
        m.ensure(&format!("file://{}", src.path().display()), None, ids[0])
            .expect("fetched");
        let mut by4: BTreeMap<String, Vec<ObjectId>> = BTreeMap::new();
        for c in &ids {
            by4.entry(c.to_hex_with_len(4).to_string())
                .or_default()
                .push(*c);
        }
        let (prefix, mut shared) = by4
            .into_iter()
            .find(|(_, v)| v.len() > 1)
            .expect("1,500 ids share a 4-digit prefix");
        shared.sort();
        assert_eq!(
            m.resolve_commit(&prefix).expect("resolve"),
            Resolved::Ambiguous(shared.clone())
        );
        let one = shared[0].to_hex_with_len(12).to_string();
        assert_eq!(
            m.resolve_commit(&one).expect("resolve"),
            Resolved::Commit(shared[0])
        );
    }

    #[test]
    fn an_unreachable_remote_names_the_url_without_credentials() {
        let data = tempfile::tempdir().expect("tempdir");
        let m = Mirror::open(data.path(), "acme/app").expect("mirror");
        let err = m
            .fetch("http://user:secret@127.0.0.1:1/acme/app.git", None)
            .expect_err("nothing listens on port 1");
        assert!(
            matches!(&err, GitError::Remote { url, .. } if url == "http://127.0.0.1:1/acme/app.git")
        );
        assert!(std::error::Error::source(&err).is_some());
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

    #[test]
    fn a_revision_must_be_a_full_object_id() {
        assert!(matches!(
            parse_revision("main"),
            Err(GitError::BadRevision(r)) if r == "main"
        ));
    }
}
