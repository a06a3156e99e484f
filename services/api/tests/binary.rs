//! The `gantry-api` binary: bad options exit 64 with one line naming the key.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Result;

const BIN: &str = env!("CARGO_BIN_EXE_gantry-api");

#[test]
fn bad_options_exit_64_with_one_line_naming_the_key() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let typo = dir.path().join("typo.yaml");
    std::fs::write(&typo, "rbak: {file: rules.yaml}\n")?;
    let typo = typo.to_string_lossy().into_owned();
    gantry_tests::assert_usage_errors(
        BIN,
        &[
            (vec!["--config", &typo], vec![], "rbak"),
            (vec!["--listen", "nowhere"], vec![], "--listen"),
            (
                vec!["--oidc-issuer", "https://idp.example.com"],
                vec![],
                "--oidc-audience",
            ),
            (
                vec![],
                vec![("GANTRY_PUBLISH_TIMEOUT", "soon")],
                "GANTRY_PUBLISH_TIMEOUT",
            ),
            (
                vec!["--tokens-file", "/nonexistent/tokens"],
                vec![],
                "tokensFile",
            ),
            (vec!["--no-such-flag"], vec![], "--no-such-flag"),
        ],
    )
}

#[test]
fn an_older_nats_server_is_refused_with_exit_69_and_one_line_naming_both_versions() -> Result<()> {
    let Some(bin) = gantry_tests::old_nats_server("gantry-api binary") else {
        return Ok(());
    };
    let version = gantry_tests::nats_server_version(&bin)?;
    let nats = gantry_tests::NatsServer::start_bin(bin)?;
    let child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .env_clear()
        .env("GANTRY_NATS_URL", nats.url())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    gantry_tests::assert_refuses_old_nats(child, &version)
}

#[test]
fn sigterm_exits_0() -> Result<()> {
    let nats = gantry_tests::NatsServer::start()?;
    let port = gantry_tests::free_port()?;
    let mut child = Command::new(BIN)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--shutdown-grace",
            "3s",
        ])
        .env_clear()
        .env("GANTRY_NATS_URL", nats.url())
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()?;
    gantry_tests::wait_listening(&mut child, port, Duration::from_secs(30))?;
    let (status, _) = gantry_tests::terminate_within(child, Duration::from_secs(20))?;
    assert_eq!(status.code(), Some(0));
    Ok(())
}
