//! Repository-relative path arithmetic: joining, cleaning, and refusing escapes.

/// Cleans a relative path: drops `.` and empty parts, resolves `..`. Returns `None` when the
/// path is absolute or climbs above the root.
pub fn clean(path: &str) -> Option<String> {
    if is_clean(path) {
        return Some(path.to_owned());
    }
    clean_by_parts(path)
}

/// `clean` a part at a time, for a path that needs it.
fn clean_by_parts(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// Joins `rel` onto the directory `dir` and cleans the result; `None` if it escapes the root
/// or `rel` is absolute.
pub fn join(dir: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') {
        return None;
    }
    if dir.is_empty() {
        clean(rel)
    } else if is_clean(dir) && !rel.is_empty() && is_clean(rel) {
        // A walk joins every name it lists onto a clean folder: one string, not two (and
        // not through `format!`, which cost as much again as the rest of the walk's join).
        Some([dir, "/", rel].concat())
    } else {
        clean(&[dir, "/", rel].concat())
    }
}

/// Whether `clean` returns `path` as it is: no leading `/`, and no empty, `.` or `..` part.
pub fn is_clean(path: &str) -> bool {
    // By bytes (`/` and `.` are ASCII, so a part of a path is the same either way): `str::split`
    // searches for each `/` a character at a time, and every path a render reads is asked about.
    path.is_empty()
        || path
            .as_bytes()
            .split(|&b| b == b'/')
            .all(|part| !part.is_empty() && part != b"." && part != b"..")
}

/// Whether `path` is `dir` or lies below it (`""` is the root, above everything).
pub fn within(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

/// The last component of a path.
pub fn base(path: &str) -> &str {
    path.rfind('/').map_or(path, |i| &path[i + 1..])
}

/// Whether a reference names a remote resource (a URL or a git repository).
pub fn is_remote(reference: &str) -> bool {
    let r = reference.trim();
    r.contains("://")
        || r.starts_with("git@")
        || r.starts_with("github.com/")
        || r.starts_with("gitlab.com/")
        || r.starts_with("bitbucket.org/")
        || r.contains("?ref=")
        || r.contains(".git//")
}

/// How a path is shown in errors: absolute from the repository root, as kustomize shows paths
/// in its in-memory file system.
pub fn display(path: &str) -> String {
    format!("/{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortcuts_clean_and_join_as_the_parts_do() {
        let all = gantry_tests::up_to(&['a', '.', '/'], 5);
        for p in &all {
            assert_eq!(clean(p), clean_by_parts(p), "clean({p:?})");
        }
        let short = gantry_tests::up_to(&['a', '.', '/'], 3);
        for dir in &short {
            for rel in &short {
                let want = if rel.starts_with('/') {
                    None
                } else if dir.is_empty() {
                    clean_by_parts(rel)
                } else {
                    clean_by_parts(&format!("{dir}/{rel}"))
                };
                assert_eq!(join(dir, rel), want, "join({dir:?}, {rel:?})");
            }
        }
    }
}
