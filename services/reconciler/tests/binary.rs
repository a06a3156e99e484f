//! The binary's contract: a bad option or config exits 64 with one line naming the key.

use std::process::Command;
use std::time::Duration;

use anyhow::Context;

#[test]
fn bad_config_exits_64_naming_the_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = dir.path().join("reconciler.yaml");
    std::fs::write(&cfg, "nats: {url: nats://127.0.0.1:1}\nconcurency: 4\n")?;
    let cfg = cfg.to_string_lossy().into_owned();
    gantry_tests::assert_usage_errors(
        env!("CARGO_BIN_EXE_gantry-reconciler"),
        &[
            (vec!["--config", &cfg], vec![], "concurency"),
            (vec!["--concurrency", "zero"], vec![], "--concurrency"),
            (vec![], vec![("GANTRY_MAX_DELIVER", "0")], "maxDeliver"),
        ],
    )
}

#[test]
fn sigterm_drains_and_exits_0() -> anyhow::Result<()> {
    let nats = gantry_tests::NatsServer::start()?;
    let port = gantry_tests::free_port()?;
    let data = tempfile::tempdir()?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_gantry-reconciler"))
        .args([
            "--nats-url",
            &nats.url(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--data-dir")
        .arg(data.path())
        .args(["--log-format", "json"])
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    gantry_tests::wait_http_status(&mut child, port, "/readyz", 200, Duration::from_secs(20))?;
    let stderr = child.stderr.take().context("stderr")?;
    let (status, _) = gantry_tests::terminate_within(child, Duration::from_secs(15))?;
    assert_eq!(status.code(), Some(0));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut { stderr }, &mut err)?;
    let first = err.lines().next().unwrap_or_default();
    assert!(
        serde_json::from_str::<serde_json::Value>(first).is_ok(),
        "{first}"
    );
    Ok(())
}

#[test]
fn sigterm_exits_0_within_the_grace_after_nats_was_killed() -> anyhow::Result<()> {
    let mut nats = gantry_tests::NatsServer::start()?;
    let port = gantry_tests::free_port()?;
    let data = tempfile::tempdir()?;
    let grace = Duration::from_secs(3);
    let mut child = Command::new(env!("CARGO_BIN_EXE_gantry-reconciler"))
        .args([
            "--nats-url",
            &nats.url(),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--shutdown-grace",
            "3s",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    gantry_tests::wait_http_status(&mut child, port, "/readyz", 200, Duration::from_secs(30))?;
    // SIGKILL: the client reconnects forever, and the final flush used to wait for it.
    nats.stop();
    let (status, took) = gantry_tests::terminate_within(child, grace + Duration::from_secs(20))?;
    println!("exited {took:?} after SIGTERM with a {grace:?} grace and NATS gone");
    assert_eq!(status.code(), Some(0));
    Ok(())
}

#[test]
fn an_older_nats_server_is_refused_with_exit_69_and_one_line_naming_both_versions()
-> anyhow::Result<()> {
    let Some(bin) = gantry_tests::old_nats_server("reconciler binary") else {
        return Ok(());
    };
    let version = gantry_tests::nats_server_version(&bin)?;
    let nats = gantry_tests::NatsServer::start_bin(bin)?;
    let data = tempfile::tempdir()?;
    let child = Command::new(env!("CARGO_BIN_EXE_gantry-reconciler"))
        .args(["--nats-url", &nats.url(), "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data.path())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    gantry_tests::assert_refuses_old_nats(child, &version)
}
