//! The binary's contract: a bad option or config exits 64 with one line naming the key.

use std::process::Command;

#[test]
fn bad_config_exits_64_naming_the_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = dir.path().join("reconciler.yaml");
    std::fs::write(&cfg, "nats: {url: nats://127.0.0.1:1}\nconcurency: 4\n")?;
    let out = Command::new(env!("CARGO_BIN_EXE_gantry-reconciler"))
        .arg("--config")
        .arg(&cfg)
        .output()?;
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("concurency"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_gantry-reconciler"))
        .args(["--concurrency", "zero"])
        .output()?;
    assert_eq!(out.status.code(), Some(64));
    let out = Command::new(env!("CARGO_BIN_EXE_gantry-reconciler"))
        .env("GANTRY_MAX_DELIVER", "0")
        .output()?;
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("maxDeliver"));
    Ok(())
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
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let ready = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut s| {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /readyz HTTP/1.0\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
        });
        if ready {
            break;
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "never ready");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let code = loop {
        if let Some(s) = child.try_wait()? {
            break s.code();
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "did not exit");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)?;
    let first = err.lines().next().unwrap_or_default();
    assert!(
        serde_json::from_str::<serde_json::Value>(first).is_ok(),
        "{first}"
    );
    Ok(())
}

/// Waits until the reconciler on `port` answers `/readyz` with 200.
fn wait_ready(port: u16) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let ready = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut s| {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /readyz HTTP/1.0\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
        });
        if ready {
            return Ok(());
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "never ready");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn sigterm_exits_0_within_the_grace_after_nats_was_killed() -> anyhow::Result<()> {
    let mut nats = gantry_tests::NatsServer::start()?;
    let port = gantry_tests::free_port()?;
    let data = tempfile::tempdir()?;
    let grace = std::time::Duration::from_secs(3);
    let child = Command::new(env!("CARGO_BIN_EXE_gantry-reconciler"))
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
    wait_ready(port)?;
    // SIGKILL: the client reconnects forever, and the final flush used to wait for it.
    nats.stop();
    let (status, took) =
        gantry_tests::terminate_within(child, grace + std::time::Duration::from_secs(20))?;
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
    let out = Command::new(&bin).arg("--version").output()?;
    let version = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .trim_start_matches('v')
        .to_owned();
    let nats = gantry_tests::NatsServer::start_bin(bin)?;
    let data = tempfile::tempdir()?;
    let child = Command::new(env!("CARGO_BIN_EXE_gantry-reconciler"))
        .args(["--nats-url", &nats.url(), "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data.path())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let (status, err) = gantry_tests::exit_within(child, std::time::Duration::from_secs(60))?;
    assert_eq!(status.code(), Some(69), "{err}");
    let naming = err
        .lines()
        .filter(|l| l.contains(&version) && l.contains("2.10 or newer"))
        .count();
    assert_eq!(naming, 1, "one line naming {version} and 2.10: {err}");
    Ok(())
}
