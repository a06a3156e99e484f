//! `gantry kube-sim` as the root README runs it: it writes a kubeconfig, the real kubectl applies
//! a Deployment server-side and lists it with its pods, the simulated controllers roll it out,
//! and SIGTERM saves the snapshot and exits 0.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

const DEPLOY: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
";

#[test]
fn kubectl_applies_gets_and_rolls_out_against_gantry_kube_sim() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let kubeconfig = tmp.path().join("kubeconfig");
    let snapshot = tmp.path().join("state.json");
    let mut child = Command::new(BIN)
        .args([
            "kube-sim",
            "--listen",
            "127.0.0.1:0",
            "--ready-delay",
            "100ms",
        ])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--snapshot")
        .arg(&snapshot)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    // It says where it serves once the kubeconfig is written.
    let stderr = child.stderr.take().context("stderr")?;
    let first = gantry_tests::read_until_line(stderr, |_| true).unwrap_or_default();
    ensure!(
        first.starts_with("gantry kube-sim: serving http://127.0.0.1:")
            && first.ends_with(&format!("kubeconfig written to {}", kubeconfig.display())),
        "{first}"
    );

    let result = (|| -> Result<()> {
        let deploy = tmp.path().join("deploy.yaml");
        std::fs::write(&deploy, DEPLOY)?;
        let applied = gantry_tests::kubectl(
            &kubeconfig,
            &[
                "apply",
                "--server-side",
                "-f",
                deploy.to_str().unwrap_or(""),
            ],
        )?;
        assert_eq!(applied.trim(), "deployment.apps/web serverside-applied");
        gantry_tests::kubectl(
            &kubeconfig,
            &["rollout", "status", "deploy/web", "--timeout=60s"],
        )?;
        let listed = gantry_tests::kubectl(&kubeconfig, &["get", "deploy,pods", "-A"])?;
        assert!(listed.contains("deployment.apps/web"), "{listed}");
        assert_eq!(
            listed.lines().filter(|l| l.contains("pod/web-")).count(),
            2,
            "{listed}"
        );
        Ok(())
    })();

    let stopped = gantry_tests::terminate_within(child, Duration::from_secs(20));
    result?;
    let (status, _) = stopped?;
    assert!(status.success(), "gantry kube-sim exited with {status}");
    let saved = std::fs::read_to_string(&snapshot)?;
    assert!(saved.contains("\"web\""), "the snapshot has the Deployment");
    Ok(())
}

#[test]
fn a_bad_listen_address_exits_64() -> Result<()> {
    let out = Command::new(BIN)
        .args(["kube-sim", "--listen", "nope"])
        .output()?;
    assert_eq!(out.status.code(), Some(64));
    Ok(())
}
