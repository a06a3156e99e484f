//! The read-only file systems a render reads from: a real directory rooted at a repository, or
//! an in-memory tree (what the reconciler builds from a git tree at a commit).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Why a file-system call failed. Paths are repository-relative.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// Nothing at this path.
    #[error("'/{0}' doesn't exist")]
    NotFound(String),
    /// The path, or a symlink on it, leads outside the repository.
    #[error("'{0}' is outside the repository")]
    Escapes(String),
    /// Reading failed for another reason.
    #[error("reading '{path}': {source}")]
    Io {
        /// The repository path.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// A read-only view of a repository. Paths are relative to its root, use `/`, and are already
/// normalised (no `.`, `..` or leading `/`); the root itself is `""`.
pub trait FileSystem: Send + Sync {
    /// The bytes of a regular file.
    fn read(&self, path: &str) -> Result<Vec<u8>, FsError>;
    /// The names (not paths) of a directory's entries, sorted.
    fn list_dir(&self, path: &str) -> Result<Vec<String>, FsError>;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &str) -> bool;
    /// Whether `path` is a regular file.
    fn is_file(&self, path: &str) -> bool {
        !self.is_dir(path) && self.read(path).is_ok()
    }
    /// The path with every symlink on it resolved (kustomize's load restrictor compares real
    /// paths). File systems without links return it unchanged.
    fn canonical(&self, path: &str) -> Result<String, FsError> {
        Ok(path.to_owned())
    }
    /// Whether two threads reading files at once finish sooner than one: true where a read is
    /// system calls (a directory on disk), not for a copy out of memory or reads behind a lock.
    fn concurrent_reads(&self) -> bool {
        false
    }
}

/// A directory on disk, treated as the repository root. Any path (including through a symlink)
/// that resolves outside the root is refused.
///
/// Resolving every path with `canonicalize` (a `readlink` per component) was most of a chart
/// render's time, so a `DirFs` remembers the real path (and kind) of each directory and
/// file it has resolved and checks only the last component of a path with one `lstat` (none for
/// an entry of a directory it has listed: the listing gives its type); a symlink is still
/// resolved in full and refused when it leads out. Hence one `DirFs` is for
/// one render of a tree that does not change meanwhile (a directory swapped for a symlink after
/// it was seen is not noticed).
#[derive(Debug)]
pub struct DirFs {
    root: PathBuf,
    /// Repository path of a directory or file already resolved → its real path.
    /// foldhash, not SipHash: it is asked about every path a render reads.
    resolved: Mutex<HashMap<String, Resolved, foldhash::fast::RandomState>>,
    /// The folders files were last read from, open ([`DirFs::read`]), at most [`FOLDERS_OPEN`].
    folders: Mutex<Vec<(PathBuf, Arc<OwnedFd>)>>,
}

/// How many folders a [`DirFs`] keeps open to read files in: a chart's templates are in one or
/// a few, and a repository of thousands of folders must not hold a descriptor for each.
const FOLDERS_OPEN: usize = 8;

impl Clone for DirFs {
    fn clone(&self) -> Self {
        Self {
            root: self.root.clone(),
            resolved: Mutex::default(),
            folders: Mutex::default(),
        }
    }
}

/// A resolved path: the real path and what is there (after following a symlink).
#[derive(Debug, Clone)]
struct Resolved {
    real: PathBuf,
    kind: Kind,
}

/// What a resolved path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    /// A FIFO, socket or device: read as a file would be, listed as neither.
    Other,
}

impl From<&std::fs::Metadata> for Kind {
    fn from(m: &std::fs::Metadata) -> Self {
        if m.is_dir() {
            Kind::Dir
        } else if m.is_file() {
            Kind::File
        } else {
            Kind::Other
        }
    }
}

impl DirFs {
    /// Roots the file system at `root`, which must exist.
    pub fn new(root: impl AsRef<Path>) -> Result<Self, FsError> {
        let root = root.as_ref();
        let root = root.canonicalize().map_err(|source| FsError::Io {
            path: root.display().to_string(),
            source,
        })?;
        Ok(Self {
            root,
            resolved: Mutex::default(),
            folders: Mutex::default(),
        })
    }

    /// The folder `dir` (a real path), open to open files in, from those kept open or opened
    /// now (in place of the one opened longest ago); `None` when it cannot be opened, or while
    /// another thread is looking (a render's reading threads never wait for each other here:
    /// a thread put to sleep on this two-core VM has run milliseconds after it was woken).
    fn folder(&self, dir: &Path) -> Option<Arc<OwnedFd>> {
        let mut open = match self.folders.try_lock() {
            Ok(open) => open,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        if let Some((_, fd)) = open.iter().find(|(d, _)| d == dir) {
            return Some(fd.clone());
        }
        let fd = Arc::new(
            rustix::fs::open(
                dir,
                rustix::fs::OFlags::PATH
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .ok()?,
        );
        if open.len() == FOLDERS_OPEN {
            open.remove(0);
        }
        open.push((dir.to_owned(), fd.clone()));
        Some(fd)
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn cached(&self, path: &str) -> Option<Resolved> {
        self.resolved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(path)
            .cloned()
    }

    /// The repository path's parts (no `.`, no empty ones); `..` and `\\` are refused.
    fn parts(path: &str) -> Result<Vec<&str>, FsError> {
        let mut parts = Vec::new();
        for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
            if part == ".." || part.contains('\\') {
                return Err(FsError::Escapes(path.to_owned()));
            }
            parts.push(part);
        }
        Ok(parts)
    }

    /// The repository path as the cache knows it: its parts joined by `/`, which is the path
    /// itself when it is clean and has no `\` (as nearly every path asked about is); any other
    /// path is taken apart by [`DirFs::parts`], which refuses `..` and `\`.
    fn key(path: &str) -> Result<Cow<'_, str>, FsError> {
        if crate::path::is_clean(path) && !path.contains('\\') {
            Ok(Cow::Borrowed(path))
        } else {
            Ok(Cow::Owned(Self::parts(path)?.join("/")))
        }
    }

    /// What is at `path`, from the cache when it is there (without copying its real path).
    fn kind(&self, path: &str) -> Result<Kind, FsError> {
        let key = Self::key(path)?;
        let known = self
            .resolved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key.as_ref())
            .map(|r| r.kind);
        match known {
            Some(kind) => Ok(kind),
            None => self.resolve(path).map(|r| r.kind),
        }
    }

    fn resolve(&self, path: &str) -> Result<Resolved, FsError> {
        let key = Self::key(path)?;
        if let Some(r) = self.cached(&key) {
            return Ok(r);
        }
        let parts = Self::parts(path)?;
        let io = |source| FsError::Io {
            path: path.to_owned(),
            source,
        };
        let Some((last, parents)) = parts.split_last() else {
            let meta = std::fs::metadata(&self.root).map_err(io)?;
            return Ok(Resolved {
                real: self.root.clone(),
                kind: Kind::from(&meta),
            });
        };
        let parent = parents.join("/");
        let mut full = match self.cached(&parent) {
            Some(p) => p.real,
            None if parents.is_empty() => self.root.clone(),
            None => {
                let r = self.resolve(&parent)?;
                if r.kind != Kind::Dir {
                    return Err(io(std::io::Error::from(std::io::ErrorKind::NotADirectory)));
                }
                r.real
            }
        };
        full.push(last);
        let resolved = match std::fs::symlink_metadata(&full) {
            Ok(meta) if !meta.file_type().is_symlink() => Resolved {
                real: full,
                kind: Kind::from(&meta),
            },
            Ok(_) => self.follow(path, &full)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(FsError::NotFound(path.to_owned()));
            }
            Err(source) => return Err(io(source)),
        };
        // Files too: a chart's loader asks whether a path is a directory, then reads it.
        self.resolved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.into_owned(), resolved.clone());
        Ok(resolved)
    }

    /// Resolves the symlink at `full` (whose parent is real) in full.
    fn follow(&self, path: &str, full: &Path) -> Result<Resolved, FsError> {
        match full.canonicalize() {
            Ok(real) if real.starts_with(&self.root) => {
                let meta = std::fs::metadata(&real).map_err(|source| FsError::Io {
                    path: path.to_owned(),
                    source,
                })?;
                Ok(Resolved {
                    real,
                    kind: Kind::from(&meta),
                })
            }
            Ok(_) => Err(FsError::Escapes(path.to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // A dangling symlink is reported as missing, but one that points outside is an escape.
                if let Ok(target) = std::fs::read_link(full) {
                    let target = full.parent().map(|p| p.join(&target)).unwrap_or(target);
                    if !normalise_lexically(&target).starts_with(&self.root) {
                        return Err(FsError::Escapes(path.to_owned()));
                    }
                }
                Err(FsError::NotFound(path.to_owned()))
            }
            Err(source) => Err(FsError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }
}

fn normalise_lexically(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// A whole file in four system calls (`openat`, `statx`, `read`, `close`) where `fs::read`
/// makes five: it reads once more to see the end, a thousand calls for a chart of a thousand
/// templates. A read that brings the file to the size `statx` gave with room left in the
/// buffer has reached the end (a file grown since would have filled that room); anything else
/// (a file that changed, one that reports no size, as `/proc`'s do) is read on to the end, as
/// `fs::read` reads it.
fn read_whole(p: &Path) -> std::io::Result<Vec<u8>> {
    read_open(std::fs::File::open(p)?)
}

/// [`read_whole`] of the file `name` in the open folder `dir`: the kernel walks one name, not
/// every folder from the root again (`openat` was a quarter of the 1,000-template chart's read,
/// and a quarter of that the walk down to the chart's folder).
fn read_in(dir: &OwnedFd, name: &std::ffi::OsStr) -> std::io::Result<Vec<u8>> {
    let fd = rustix::fs::openat(
        dir,
        name,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    read_open(std::fs::File::from(fd))
}

fn read_open(mut f: std::fs::File) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let size = f
        .metadata()
        .ok()
        .and_then(|m| usize::try_from(m.len()).ok())
        .unwrap_or(0);
    let mut buf = Vec::new();
    buf.try_reserve_exact(size.saturating_add(1))
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
    buf.resize(size.saturating_add(1), 0);
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len.saturating_mul(2).max(1 << 12), 0);
        }
        let room = buf.len() - len;
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if len == size && n < room {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    Ok(buf)
}

impl FileSystem for DirFs {
    fn read(&self, path: &str) -> Result<Vec<u8>, FsError> {
        let r = self.resolve(path)?;
        if r.kind == Kind::Dir {
            return Err(FsError::Io {
                path: path.to_owned(),
                source: std::io::Error::other("is a directory"),
            });
        }
        let in_folder = r
            .real
            .parent()
            .zip(r.real.file_name())
            .and_then(|(dir, name)| Some((self.folder(dir)?, name)));
        match in_folder {
            Some((dir, name)) => read_in(&dir, name),
            None => read_whole(&r.real),
        }
        .map_err(|source| FsError::Io {
            path: path.to_owned(),
            source,
        })
    }

    fn list_dir(&self, path: &str) -> Result<Vec<String>, FsError> {
        let real = self.resolve(path)?.real;
        let entries = std::fs::read_dir(&real).map_err(|source| FsError::Io {
            path: path.to_owned(),
            source,
        })?;
        let key = Self::key(path)?;
        let mut names = Vec::new();
        let mut seen = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| FsError::Io {
                path: path.to_owned(),
                source,
            })?;
            let (name, exact) = match entry.file_name().into_string() {
                Ok(n) => (n, true),
                Err(n) => (n.to_string_lossy().into_owned(), false),
            };
            // The listing says what each entry is (`d_type`), so the `is_dir` and `read` that
            // a walk asks next need no `lstat` each. Symlinks are left to `resolve`.
            let kind = match entry.file_type() {
                Ok(t) if t.is_dir() => Some(Kind::Dir),
                Ok(t) if t.is_file() => Some(Kind::File),
                _ => None,
            };
            if let Some(kind) = kind
                && exact
                && !name.contains('\\')
            {
                let child = if key.is_empty() {
                    name.clone()
                } else {
                    [key.as_ref(), "/", &name].concat()
                };
                seen.push((child, entry.path(), kind));
            }
            names.push(name);
        }
        let mut cache = self
            .resolved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Grown once, not by doubling: a chart's templates folder lists a thousand files.
        cache.reserve(seen.len());
        for (child, real, kind) in seen {
            cache.entry(child).or_insert(Resolved { real, kind });
        }
        drop(cache);
        names.sort();
        Ok(names)
    }

    fn is_dir(&self, path: &str) -> bool {
        self.kind(path).is_ok_and(|k| k == Kind::Dir)
    }

    fn is_file(&self, path: &str) -> bool {
        self.kind(path).is_ok_and(|k| k == Kind::File)
    }

    fn concurrent_reads(&self) -> bool {
        true
    }

    fn canonical(&self, path: &str) -> Result<String, FsError> {
        let real = self.resolve(path)?.real;
        let rel = real
            .strip_prefix(&self.root)
            .map_err(|_| FsError::Escapes(path.to_owned()))?;
        Ok(rel.to_string_lossy().replace('\\', "/"))
    }
}

/// Files keyed by repository path, with the directories their paths imply: the one
/// path-keyed tree behind every in-memory file system (`MemFs`, the reconciler's git snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathMap<V> {
    files: BTreeMap<String, V>,
}

impl<V> Default for PathMap<V> {
    fn default() -> Self {
        Self {
            files: BTreeMap::new(),
        }
    }
}

impl<V> PathMap<V> {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the file at a normalised path.
    pub fn insert(&mut self, path: String, value: V) {
        self.files.insert(path, value);
    }

    /// The file at `path`.
    pub fn get(&self, path: &str) -> Option<&V> {
        self.files.get(path)
    }

    /// Whether a file is at `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    /// Every file, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.files.iter()
    }

    /// How many files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The names of the entries of directory `path`, sorted; `None` when it is no directory.
    pub fn list_dir(&self, path: &str) -> Option<Vec<String>> {
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let mut names: Vec<String> = self
            .files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| k[prefix.len()..].split('/').next().map(str::to_owned))
            .collect();
        names.dedup();
        (!names.is_empty() || path.is_empty()).then_some(names)
    }

    /// Whether `path` is a directory (the root always is).
    pub fn is_dir(&self, path: &str) -> bool {
        if path.is_empty() {
            return true;
        }
        let prefix = format!("{path}/");
        self.files
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }
}

impl<V> FromIterator<(String, V)> for PathMap<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> Self {
        Self {
            files: iter.into_iter().collect(),
        }
    }
}

/// An in-memory repository: file paths to contents. Directories are implied by the paths.
#[derive(Debug, Clone, Default)]
pub struct MemFs {
    files: PathMap<Vec<u8>>,
}

impl MemFs {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a file. Leading `/` and `./` are stripped.
    pub fn insert(&mut self, path: &str, contents: impl Into<Vec<u8>>) {
        let path =
            crate::path::clean(path).unwrap_or_else(|| path.trim_start_matches('/').to_owned());
        self.files.insert(path, contents.into());
    }
}

impl FileSystem for MemFs {
    fn read(&self, path: &str) -> Result<Vec<u8>, FsError> {
        self.files
            .get(path)
            .cloned()
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
        self.files.contains(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files read in their open folder are the files, across more folders than are kept open
    /// (those read longest ago are closed), through a symlink to another folder too.
    #[test]
    fn files_read_in_open_folders_are_the_files() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let folders = FOLDERS_OPEN * 2 + 3;
        for f in 0..folders {
            std::fs::create_dir(dir.path().join(format!("d{f}"))).expect("mkdir");
            for i in 0..3 {
                let p = dir.path().join(format!("d{f}/f{i}"));
                std::fs::write(&p, format!("{f}/{i}").repeat(i * 50 + 1)).expect("write");
            }
        }
        std::os::unix::fs::symlink(dir.path().join("d0/f2"), dir.path().join("d1/link"))
            .expect("a symlink");
        let fs = DirFs::new(dir.path()).expect("the folder");
        for round in 0..2 {
            for i in 0..3 {
                for f in 0..folders {
                    // Back and forth over the folders, so that some are read again once closed.
                    let f = if round == 0 { f } else { folders - 1 - f };
                    let path = format!("d{f}/f{i}");
                    let expected = std::fs::read(dir.path().join(&path)).expect("read");
                    assert_eq!(fs.read(&path).expect("read"), expected, "{path}");
                }
            }
        }
        assert_eq!(
            fs.read("d1/link").expect("read"),
            std::fs::read(dir.path().join("d0/f2")).expect("read")
        );
        assert!(matches!(fs.read("d1/missing"), Err(FsError::NotFound(_))));
        let open = fs.folders.lock().expect("the open folders").len();
        assert!(open <= FOLDERS_OPEN, "{open} folders open");
    }

    /// A file read in four calls is the file, at every size around the buffer's edges, for a
    /// file whose size `statx` does not give (`/proc`'s) and for one that is missing.
    #[test]
    fn a_file_read_whole_is_what_fs_read_gives() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        for size in [0, 1, 2, 4095, 4096, 4097, 8192, 100_000] {
            let p = dir.path().join(format!("f{size}"));
            let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            std::fs::write(&p, &data).expect("write");
            assert_eq!(read_whole(&p).expect("read"), data, "{size} bytes");
        }
        let proc = Path::new("/proc/self/cmdline");
        if let Ok(expected) = std::fs::read(proc) {
            assert!(!expected.is_empty());
            assert_eq!(read_whole(proc).expect("read"), expected);
        }
        let e = read_whole(&dir.path().join("missing")).expect_err("missing");
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn path_map_lists_the_directories_its_paths_imply() {
        let m: PathMap<u8> = [
            ("a/b/c.yaml".to_owned(), 1),
            ("a/d.yaml".to_owned(), 2),
            ("ab.yaml".to_owned(), 3),
        ]
        .into_iter()
        .collect();
        assert_eq!(m.list_dir(""), Some(vec!["a".into(), "ab.yaml".into()]));
        assert_eq!(m.list_dir("a"), Some(vec!["b".into(), "d.yaml".into()]));
        assert_eq!(m.list_dir("a/b"), Some(vec!["c.yaml".into()]));
        assert_eq!(m.list_dir("ab.yaml"), None);
        assert_eq!(m.list_dir("missing"), None);
        assert!(m.is_dir("") && m.is_dir("a") && m.is_dir("a/b"));
        assert!(!m.is_dir("ab.yaml") && !m.is_dir("a/b/c.yaml") && !m.is_dir("b"));
        assert_eq!(PathMap::<u8>::new().list_dir(""), Some(vec![]));
    }

    /// The directory cache never lets a path through a symlink that leads out, however often
    /// it is read, and still follows links that stay inside.
    #[test]
    fn dir_fs_confines_reads_through_cached_directories() -> Result<(), Box<dyn std::error::Error>>
    {
        let outside = tempfile::tempdir()?;
        std::fs::write(outside.path().join("x.yaml"), "secret")?;
        let repo = tempfile::tempdir()?;
        let r = repo.path();
        std::fs::create_dir_all(r.join("a/b"))?;
        std::fs::write(r.join("a/b/c.yaml"), "c")?;
        std::os::unix::fs::symlink(outside.path(), r.join("a/out"))?;
        std::os::unix::fs::symlink(r.join("a/b"), r.join("in"))?;
        std::os::unix::fs::symlink(outside.path().join("gone"), r.join("dangling-out"))?;
        std::os::unix::fs::symlink(r.join("gone"), r.join("dangling-in"))?;
        // A cache filled by listings (each entry's type from `d_type`) must answer as one
        // filled by `resolve` does: symlinks among the entries are still followed and confined.
        let listed = DirFs::new(r)?;
        for dir in ["", "a", "a/b", "in"] {
            listed.list_dir(dir)?;
        }
        for fs in [DirFs::new(r)?, listed] {
            for _ in 0..2 {
                assert_eq!(fs.read("a/b/c.yaml")?, b"c");
                assert!(matches!(fs.read("a/out/x.yaml"), Err(FsError::Escapes(_))));
                assert!(matches!(fs.list_dir("a/out"), Err(FsError::Escapes(_))));
                assert!(!fs.is_dir("a/out") && !fs.is_file("a/out/x.yaml"));
                assert_eq!(fs.read("in/c.yaml")?, b"c");
                assert_eq!(fs.canonical("in/c.yaml")?, "a/b/c.yaml");
                assert_eq!(fs.canonical("in")?, "a/b");
                assert!(matches!(fs.read("dangling-out"), Err(FsError::Escapes(_))));
                assert!(matches!(fs.read("dangling-in"), Err(FsError::NotFound(_))));
                assert!(matches!(fs.read("a/missing/x"), Err(FsError::NotFound(_))));
                assert!(matches!(fs.read("a/b/c.yaml/x"), Err(FsError::Io { .. })));
                assert!(matches!(fs.read("a/b"), Err(FsError::Io { .. })));
                assert!(matches!(fs.read("a/../x"), Err(FsError::Escapes(_))));
                assert!(fs.is_dir("") && fs.is_dir("a/b") && fs.is_file("a/b/c.yaml"));
                assert_eq!(fs.list_dir("in")?, vec!["c.yaml".to_owned()]);
                // A path with empty or `.` parts is the path without them, cached or not.
                assert_eq!(fs.read("a/./b//c.yaml")?, b"c");
                assert!(fs.is_dir("./a/b/") && fs.is_file("a//b/./c.yaml"));
                assert!(matches!(
                    fs.read("a/./out/x.yaml"),
                    Err(FsError::Escapes(_))
                ));
                assert!(!fs.is_dir("a//out") && !fs.is_file("./a/out/x.yaml"));
                assert!(matches!(fs.read("a/.\\b/c.yaml"), Err(FsError::Escapes(_))));
            }
        }
        Ok(())
    }
}
