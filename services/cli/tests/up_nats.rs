//! `gantry up` and NATS: SIGTERM ends the sandbox within `--shutdown-grace` even after its
//! nats-server was killed, and a nats-server older than 2.10 is refused with exit 69.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

/// The pids of `pid`'s children (from /proc), with their command names.
fn children(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let Ok(list) = std::fs::read_to_string(t.path().join("children")) else {
            continue;
        };
        for c in list
            .split_whitespace()
            .filter_map(|c| c.parse::<u32>().ok())
        {
            let comm = std::fs::read_to_string(format!("/proc/{c}/comm")).unwrap_or_default();
            out.push((c, comm.trim().to_owned()));
        }
    }
    out
}

#[test]
fn sigterm_exits_0_within_the_grace_after_nats_was_killed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let grace = Duration::from_secs(3);
    let mut child = Command::new(BIN)
        .args(["up", "--shutdown-grace", "3s", "--dir"])
        .arg(dir.path())
        .env("GANTRY_NATS_SERVER_BIN", gantry_tests::nats_server_bin())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    // The guide is printed once everything runs: read until its first line.
    let stdout = child.stdout.take().context("stdout")?;
    if gantry_tests::read_until_line(stdout, |l| l.contains("Gantry sandbox is up")).is_none() {
        let _ = child.kill();
        bail!("gantry up ended before printing its guide");
    }
    let nats: Vec<u32> = children(child.id())
        .into_iter()
        .filter(|(_, comm)| comm.starts_with("nats-server"))
        .map(|(pid, _)| pid)
        .collect();
    if nats.len() != 1 {
        let _ = child.kill();
        bail!("expected one nats-server child, found {nats:?}");
    }
    let killed = Command::new("kill")
        .args(["-KILL", &nats[0].to_string()])
        .status()?;
    assert!(killed.success());
    let (status, took) = gantry_tests::terminate_within(child, grace + Duration::from_secs(20))?;
    println!("gantry up exited {took:?} after SIGTERM with a {grace:?} grace and NATS killed");
    assert_eq!(status.code(), Some(0));
    Ok(())
}

#[test]
fn an_older_nats_server_is_refused_with_exit_69_and_one_line_naming_both_versions() -> Result<()> {
    let Some(bin) = gantry_tests::old_nats_server("gantry up") else {
        return Ok(());
    };
    let version = gantry_tests::nats_server_version(&bin)?;
    let dir = tempfile::tempdir()?;
    let child = Command::new(BIN)
        .args(["up", "--nats-server-bin"])
        .arg(&bin)
        .arg("--dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    gantry_tests::assert_refuses_old_nats(child, &version)
}

#[test]
fn events_tail_and_status_refuse_an_older_server_with_exit_69_and_one_line() -> Result<()> {
    let Some(bin) = gantry_tests::old_nats_server("gantry events/status") else {
        return Ok(());
    };
    let nats = gantry_tests::NatsServer::start_bin(bin)?;
    for args in [
        vec!["events", "tail", "--nats-url", &nats.url()],
        vec!["status", "--nats-url", &nats.url()],
    ] {
        let out = Command::new(BIN).args(&args).output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(69), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("2.10 or newer"), "{args:?}: {err}");
    }
    Ok(())
}
