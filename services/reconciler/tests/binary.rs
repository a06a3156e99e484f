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
