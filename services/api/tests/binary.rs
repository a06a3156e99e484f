//! The `gantry-api` binary: bad options exit 64 with one line naming the key.

use std::process::Command;

use anyhow::Result;

const BIN: &str = env!("CARGO_BIN_EXE_gantry-api");

#[test]
fn bad_options_exit_64_with_one_line_naming_the_key() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let typo = dir.path().join("typo.yaml");
    std::fs::write(&typo, "rbak: {file: rules.yaml}\n")?;
    let typo = typo.to_string_lossy().into_owned();
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
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
    ];
    for (args, env, key) in cases {
        let mut c = Command::new(BIN);
        c.args(&args).env_clear();
        for (k, v) in &env {
            c.env(k, v);
        }
        let o = c.output()?;
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(64), "{args:?} {env:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err:?}");
        assert!(err.contains(key), "{args:?}: {err:?} does not name {key}");
    }
    Ok(())
}

fn server_version(bin: &std::path::Path) -> Result<String> {
    let out = Command::new(bin).arg("--version").output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .trim_start_matches('v')
        .to_owned())
}

#[test]
fn an_older_nats_server_is_refused_with_exit_69_and_one_line_naming_both_versions() -> Result<()> {
    let Some(bin) = gantry_tests::old_nats_server("gantry-api binary") else {
        return Ok(());
    };
    let version = server_version(&bin)?;
    let nats = gantry_tests::NatsServer::start_bin(bin)?;
    let child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .env_clear()
        .env("GANTRY_NATS_URL", nats.url())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let (status, err) = gantry_tests::exit_within(child, std::time::Duration::from_secs(60))?;
    assert_eq!(status.code(), Some(69), "{err}");
    let naming: Vec<&str> = err
        .lines()
        .filter(|l| l.contains(&version) && l.contains("2.10 or newer"))
        .collect();
    assert_eq!(naming.len(), 1, "one line naming {version} and 2.10: {err}");
    Ok(())
}

#[test]
fn sigterm_exits_0() -> Result<()> {
    let nats = gantry_tests::NatsServer::start()?;
    let port = gantry_tests::free_port()?;
    let child = Command::new(BIN)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--shutdown-grace",
            "3s",
        ])
        .env_clear()
        .env("GANTRY_NATS_URL", nats.url())
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "gantry-api did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (status, _) = gantry_tests::terminate_within(child, std::time::Duration::from_secs(20))?;
    assert_eq!(status.code(), Some(0));
    Ok(())
}
