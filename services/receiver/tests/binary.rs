//! The `gantry-receiver` binary: bad options exit 64 with one line naming the key; a real run
//! logs JSON lines and exits 0 on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Result;

const BIN: &str = env!("CARGO_BIN_EXE_gantry-receiver");

#[test]
fn bad_options_exit_64_with_one_line_naming_the_key() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let typo = dir.path().join("typo.yaml");
    std::fs::write(&typo, "natsURL: nats://x:4222\n")?;
    let typo = typo.to_string_lossy().into_owned();
    gantry_tests::assert_usage_errors(
        BIN,
        &[
            (
                vec!["--max-body-bytes", "lots", "--webhook-secret", "s"],
                vec![],
                "--max-body-bytes",
            ),
            (vec!["--no-such-flag"], vec![], "--no-such-flag"),
            (vec![], vec![], "--webhook-secret"),
            (
                vec![],
                vec![
                    ("GANTRY_WEBHOOK_SECRET", "s"),
                    ("GANTRY_PUBLISH_TIMEOUT", "soon"),
                ],
                "GANTRY_PUBLISH_TIMEOUT",
            ),
            (
                vec!["--webhook-secret", "s", "--log-format", "xml"],
                vec![],
                "--log-format",
            ),
            (
                vec!["--webhook-secret", "s", "--config", &typo],
                vec![],
                "natsURL",
            ),
            (
                vec!["--webhook-secret-file", "/nonexistent/secrets"],
                vec![],
                "--webhook-secret-file",
            ),
            (
                vec!["--webhook-secret", "s", "--listen", "nowhere"],
                vec![],
                "--listen",
            ),
        ],
    )
}

#[test]
fn runs_logs_json_and_exits_zero_on_sigterm() -> Result<()> {
    let nats = gantry_tests::NatsServer::start()?;
    let port = gantry_tests::free_port()?;
    let mut child = Command::new(BIN)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
            "--workers",
            "1",
        ])
        .env_clear()
        .env("GANTRY_NATS_URL", nats.url())
        .env(
            "GANTRY_WEBHOOK_SECRET",
            "very-secret-value,other-secret-value",
        )
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let lines = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });

    gantry_tests::wait_http_status(&mut child, port, "/readyz", 200, Duration::from_secs(15))?;
    let (status, _) = gantry_tests::terminate_within(child, Duration::from_secs(20))?;
    assert_eq!(status.code(), Some(0));
    let lines = lines
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))?;
    assert!(!lines.is_empty());
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).map_err(|e| anyhow::anyhow!("not JSON: {l}: {e}"))?;
        assert!(
            v.get("level").is_some() && v.get("timestamp").is_some(),
            "{l}"
        );
        assert!(
            !l.contains("very-secret-value") && !l.contains("other-secret-value"),
            "a log line shows a secret: {l}"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("receiver stopped")),
        "{lines:?}"
    );
    Ok(())
}

#[test]
fn spans_are_exported_over_otlp_when_an_endpoint_is_set() -> Result<()> {
    let nats = gantry_tests::NatsServer::start()?;
    let (otlp, exported) = gantry_tests::capture_http()?;
    let port = gantry_tests::free_port()?;
    let mut child = Command::new(BIN)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--workers", "1"])
        .env_clear()
        .env("GANTRY_NATS_URL", nats.url())
        .env("GANTRY_WEBHOOK_SECRET", "s")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()?;
    let body = br#"{"ref":"refs/heads/main","before":"","after":"2222222222222222222222222222222222222222","repository":{"full_name":"acme/app"}}"#;
    let sig = gantry_tests::github_signature(b"s", body);
    let request = format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: otlp\r\nX-Hub-Signature-256: {sig}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        std::str::from_utf8(body)?
    );
    let answer =
        gantry_tests::wait_for(&mut child, "202 to a push", Duration::from_secs(15), || {
            gantry_tests::http_exchange(port, request.as_bytes())
                .filter(|r| r.starts_with("HTTP/1.1 202"))
        })?;
    assert!(answer.contains("\"duplicate\":false"), "{answer}");
    // SIGTERM flushes the batch exporter.
    gantry_tests::terminate_within(child, Duration::from_secs(20))?;
    let (path, payload) = exported.recv_timeout(Duration::from_secs(10))?;
    assert_eq!(path, "/v1/traces");
    let needle = b"gantry-receiver";
    assert!(
        payload.windows(needle.len()).any(|w| w == needle),
        "the export names the service"
    );
    Ok(())
}

#[test]
fn sigterm_exits_0_within_the_grace_after_nats_was_killed() -> Result<()> {
    let mut nats = gantry_tests::NatsServer::start()?;
    let port = gantry_tests::free_port()?;
    let grace = Duration::from_secs(3);
    let mut child = Command::new(BIN)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--workers", "2"])
        .env_clear()
        .env("GANTRY_NATS_URL", nats.url())
        .env("GANTRY_WEBHOOK_SECRET", "s")
        .env("GANTRY_SHUTDOWN_GRACE", "3s")
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()?;
    gantry_tests::wait_http_status(&mut child, port, "/readyz", 200, Duration::from_secs(30))?;
    // The server is killed (SIGKILL): the client now reconnects forever, which used to keep the
    // process alive after SIGTERM.
    nats.stop();
    gantry_tests::wait_http_status(&mut child, port, "/readyz", 503, Duration::from_secs(30))?;
    let (status, took) = gantry_tests::terminate_within(child, grace + Duration::from_secs(20))?;
    println!("exited {took:?} after SIGTERM with a {grace:?} grace and NATS gone");
    assert_eq!(status.code(), Some(0));
    Ok(())
}

#[test]
fn an_older_nats_server_is_refused_with_exit_69_and_one_line_naming_both_versions() -> Result<()> {
    let Some(bin) = gantry_tests::old_nats_server("receiver binary") else {
        return Ok(());
    };
    let version = gantry_tests::nats_server_version(&bin)?;
    let nats = gantry_tests::NatsServer::start_bin(bin)?;
    let child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--workers", "1"])
        .env_clear()
        .env("GANTRY_NATS_URL", nats.url())
        .env("GANTRY_WEBHOOK_SECRET", "s")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    gantry_tests::assert_refuses_old_nats(child, &version)
}
