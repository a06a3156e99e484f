//! A throw-away Git repository driven by the git CLI, for tests and benchmarks that need a real
//! repository to fetch from (`file://`): no user or system configuration is read, and commits
//! are never signed.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// A repository in a temporary folder, removed on drop; its one branch is `main`.
#[derive(Debug)]
pub struct GitRepo {
    /// The working tree (and `.git`).
    pub dir: tempfile::TempDir,
}

impl GitRepo {
    /// `git init -b main`, with an identity and signing off.
    pub fn new() -> Result<GitRepo> {
        let dir = tempfile::tempdir()?;
        let r = GitRepo { dir };
        r.git(&["init", "-q", "-b", "main"])?;
        r.git(&["config", "user.email", "dev@example.com"])?;
        r.git(&["config", "user.name", "Dev"])?;
        r.git(&["config", "commit.gpgsign", "false"])?;
        Ok(r)
    }

    /// The working tree.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Its `file://` clone URL.
    pub fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }

    /// Runs `git args` in the working tree; its trimmed stdout, or an error with its stderr.
    pub fn git(&self, args: &[&str]) -> Result<String> {
        let mut c = Command::new("git");
        c.args(args)
            .current_dir(self.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.dir.path());
        run(c, args)
    }

    /// Writes `contents` to `path` (relative), creating its folders.
    pub fn write(&self, path: &str, contents: &str) -> Result<()> {
        let p = self.dir.path().join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, contents)?;
        Ok(())
    }

    /// `git rm -r path`.
    pub fn remove(&self, path: &str) -> Result<()> {
        self.git(&["rm", "-q", "-r", path])?;
        Ok(())
    }

    /// Commits everything; returns the new head.
    pub fn commit(&self, message: &str) -> Result<String> {
        self.git(&["add", "-A"])?;
        self.git(&["commit", "-q", "--allow-empty", "-m", message])?;
        self.head()
    }

    /// The head commit's id.
    pub fn head(&self) -> Result<String> {
        self.git(&["rev-parse", "HEAD"])
    }
}

/// Runs the git CLI in `dir` as a developer would, with what a test must not depend on fixed:
/// the identity Dev <dev@example.com>, `main` as a new repository's branch, unsigned commits
/// (unless `-S` asks), no system configuration and never a prompt for credentials. Gives its
/// trimmed stdout, or an error with its stderr.
pub fn git_in(dir: &Path, args: &[&str]) -> Result<String> {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .args(["-c", "user.name=Dev", "-c", "user.email=dev@example.com"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    run(c, args)
}

fn run(mut git: Command, args: &[&str]) -> Result<String> {
    let out = git.output().context("running git")?;
    if !out.status.success() {
        bail!(
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A ConfigMap manifest named `name` whose `data.value` is `value`.
pub fn configmap(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

/// Installs a test log subscriber (once per process) filtered by `RUST_LOG`, else `default`.
pub fn init_logs(default: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_test_writer()
        .try_init();
}
