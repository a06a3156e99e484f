//! `gantry status` against a NATS server no reconciler has used: it names the server and the
//! bucket it read and says the bucket is missing, instead of a bare "Nothing deployed yet".

use std::process::Command;

use anyhow::Result;

#[test]
fn a_server_without_the_state_bucket_is_said_as_such() -> Result<()> {
    let nats = gantry_tests::NatsServer::start()?;
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["status", "--nats-url", &nats.url()])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "NATS {} (from --nats-url), bucket gantry-state: missing: no reconciler has used \
             this NATS server, nothing deployed\n",
            nats.url()
        )
    );
    Ok(())
}

#[test]
fn an_unreachable_server_is_an_error_naming_it() -> Result<()> {
    let port = gantry_tests::free_port()?;
    let url = format!("nats://127.0.0.1:{port}");
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["status", "--nats-url", &url])
        .output()?;
    assert_eq!(out.status.code(), Some(69));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("gantry status: ") && err.contains(&url),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    Ok(())
}
