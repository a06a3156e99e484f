//! Which NATS server a reading command (`gantry status`, `gantry events tail`) talks to, and why:
//! a newcomer in the checkout must reach the sandbox `gantry up` started there, never quietly an
//! unrelated server on the default port.

use std::fmt;
use std::path::{Path, PathBuf};

use gantry_config::Env;

/// The folder `gantry up` uses when no `--dir` is given, relative to the current directory.
pub const DEFAULT_SANDBOX_DIR: &str = ".gantry-sandbox";
/// Used when nothing else names a server.
const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// Where the NATS URL came from, said next to everything read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `--nats-url`.
    Flag,
    /// `sandbox.json` in the `--dir` folder.
    Dir(PathBuf),
    /// The environment variable.
    Env(&'static str),
    /// `sandbox.json` of the sandbox in the current directory.
    Sandbox(PathBuf),
    /// Nothing named one.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("from --nats-url"),
            Source::Dir(p) | Source::Sandbox(p) => write!(f, "from {}", p.display()),
            Source::Env(name) => write!(f, "from ${name}"),
            Source::Default => write!(
                f,
                "the default: no --nats-url, --dir or ${} and no {DEFAULT_SANDBOX_DIR}/sandbox.json here",
                crate::events::ENV_NATS_URL
            ),
        }
    }
}

/// The NATS URL and where it came from: `--nats-url`, else `--dir`'s sandbox.json, else
/// `$GANTRY_NATS_URL`, else `./.gantry-sandbox/sandbox.json` under `cwd` when it exists, else
/// the default. A `--dir` without a readable sandbox.json is an error, not a fallback.
pub fn nats_url(
    flag: Option<&str>,
    dir: Option<&Path>,
    env: &(impl Env + ?Sized),
    cwd: &Path,
) -> Result<(String, Source), String> {
    if let Some(u) = flag {
        return Ok((u.to_owned(), Source::Flag));
    }
    if let Some(dir) = dir {
        let path = dir.join("sandbox.json");
        let url = read_nats_url(&path).map_err(|e| format!("invalid --dir: {e}"))?;
        return Ok((url, Source::Dir(path)));
    }
    let name = crate::events::ENV_NATS_URL;
    if let Some(u) = env.var(name).filter(|u| !u.is_empty()) {
        return Ok((u, Source::Env(name)));
    }
    let path = cwd.join(DEFAULT_SANDBOX_DIR).join("sandbox.json");
    if path.exists() {
        let url = read_nats_url(&path)?;
        let shown = Path::new(DEFAULT_SANDBOX_DIR).join("sandbox.json");
        return Ok((url, Source::Sandbox(shown)));
    }
    Ok((DEFAULT_NATS_URL.to_owned(), Source::Default))
}

fn read_nats_url(path: &Path) -> Result<String, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let s: crate::up::SandboxJson =
        serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(s.nats_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox(url: &str) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = tmp.path().join(DEFAULT_SANDBOX_DIR);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::json!({
            "git_url": "", "repository": "acme/platform", "provider": "github",
            "kubeconfig": "", "forge_api": "", "receiver": "", "nats_url": url,
        });
        std::fs::write(dir.join("sandbox.json"), json.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        tmp
    }

    #[test]
    fn the_sandbox_in_the_current_directory_is_found() {
        let tmp = sandbox("nats://127.0.0.1:14999");
        let none: &[(&str, &str)] = &[];
        let (url, source) =
            nats_url(None, None, none, tmp.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(url, "nats://127.0.0.1:14999");
        assert_eq!(
            source.to_string(),
            "from .gantry-sandbox/sandbox.json",
            "the output says where the URL came from"
        );
    }

    #[test]
    fn flags_then_dir_then_environment_then_sandbox_then_default() {
        let tmp = sandbox("nats://127.0.0.1:14999");
        let env: &[(&str, &str)] = &[("GANTRY_NATS_URL", "nats://10.0.0.1:4222")];
        let none: &[(&str, &str)] = &[];
        let dir = tmp.path().join(DEFAULT_SANDBOX_DIR);
        let pick = |flag, dir, env, cwd| nats_url(flag, dir, env, cwd).map(|(u, _)| u);
        assert_eq!(
            pick(Some("nats://a:1"), Some(dir.as_path()), env, tmp.path()),
            Ok("nats://a:1".to_owned())
        );
        assert_eq!(
            pick(None, Some(dir.as_path()), env, tmp.path()),
            Ok("nats://127.0.0.1:14999".to_owned())
        );
        assert_eq!(
            pick(None, None, env, tmp.path()),
            Ok("nats://10.0.0.1:4222".to_owned())
        );
        let elsewhere = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (url, source) =
            nats_url(None, None, none, elsewhere.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(url, DEFAULT_NATS_URL);
        assert!(source.to_string().starts_with("the default"), "{source}");
        let missing = elsewhere.path().join("nope");
        let err = pick(None, Some(missing.as_path()), none, tmp.path())
            .err()
            .unwrap_or_default();
        assert!(
            err.starts_with("invalid --dir: cannot read ") && err.contains("nope/sandbox.json"),
            "{err}"
        );
    }
}
