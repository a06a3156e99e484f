//! `gantry up --require-signed-commits` (contract section 8): every environment deploys only
//! commits signed by a trusted key. With a key made by the real `ssh-keygen` and pushes made by
//! the real git: the unsigned seed and an unsigned push are refused with an `error` status and
//! nothing applied; a push signed with the trusted key deploys.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

use gantry_tests::git_in as git;

/// The newest final state and description of `context` on `sha`, through GitHub's list API.
fn wait_final(
    http: &reqwest::blocking::Client,
    info: &Value,
    sha: &str,
    context: &str,
    log: &Path,
) -> Result<(String, String)> {
    let url = format!(
        "{}/repos/{}/commits/{sha}/statuses",
        info["forge_api"].as_str().unwrap_or(""),
        info["repository"].as_str().unwrap_or("")
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let list: Vec<Value> = http.get(&url).send()?.json()?;
        let mut mine: Vec<&Value> = list.iter().filter(|s| s["context"] == context).collect();
        mine.sort_by_key(|s| s["id"].as_u64().unwrap_or(0));
        if let Some(last) = mine.last()
            && last["state"] != "pending"
        {
            return Ok((
                last["state"].as_str().unwrap_or("").to_owned(),
                last["description"].as_str().unwrap_or("").to_owned(),
            ));
        }
        if Instant::now() > deadline {
            bail!(
                "no final {context} status on {sha}: {list:?}\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_unsigned_push_is_refused_and_a_signed_one_deployed() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("sandbox");
    std::fs::create_dir_all(&dir)?;
    let key = tmp.path().join("id_ed25519");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", "", "-t", "ed25519", "-f"])
        .arg(&key)
        .output()?;
    ensure!(out.status.success(), "ssh-keygen");
    let allowed = tmp.path().join("allowed_signers");
    std::fs::write(
        &allowed,
        format!(
            "dev@example.com {}",
            std::fs::read_to_string(key.with_extension("pub"))?
        ),
    )?;

    // Without a key, the flag is refused with exit 64.
    let out = Command::new(BIN)
        .args(["up", "--require-signed-commits", "--dir"])
        .arg(&dir)
        .output()?;
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allowed-signers"));

    let log = dir.with_extension("log");
    let mut child = Command::new(BIN)
        .args(["up", "--require-signed-commits", "--allowed-signers"])
        .arg(&allowed)
        .arg("--dir")
        .arg(&dir)
        .env("GANTRY_NATS_SERVER_BIN", gantry_tests::nats_server_bin())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.with_extension("out"))?)
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    let result = (|| -> Result<()> {
        let info =
            gantry_tests::wait_for(&mut child, "sandbox.json", Duration::from_secs(60), || {
                std::fs::read(dir.join("sandbox.json")).ok()
            })?;
        let info: Value = serde_json::from_slice(&info)?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::blocking::Client::new();
        let clone = tmp.path().join("platform");
        git(
            tmp.path(),
            &[
                "clone",
                "-q",
                info["git_url"].as_str().context("git_url")?,
                clone.to_str().context("utf-8")?,
            ],
        )?;
        // The sandbox's own seed commit is unsigned: refused everywhere.
        let seed = git(&clone, &["rev-parse", "HEAD"])?;
        let (state, desc) = wait_final(&http, &info, &seed, "gantry/web/dev", &log)?;
        assert_eq!(state, "error", "{desc}");
        assert!(
            desc.ends_with("is not signed by a trusted key (unsigned)"),
            "{desc}"
        );

        // An unsigned push: refused.
        std::fs::write(clone.join("NOTES.md"), "unsigned\n")?;
        git(&clone, &["add", "-A"])?;
        git(&clone, &["commit", "-qm", "unsigned change"])?;
        git(&clone, &["push", "-q"])?;
        let unsigned = git(&clone, &["rev-parse", "HEAD"])?;
        let (state, desc) = wait_final(&http, &info, &unsigned, "gantry/web/dev", &log)?;
        assert_eq!(state, "error", "{desc}");

        // A push signed with the trusted key: deployed.
        std::fs::write(clone.join("NOTES.md"), "signed\n")?;
        git(&clone, &["add", "-A"])?;
        let signingkey = format!("user.signingkey={}", key.display());
        git(
            &clone,
            &[
                "-c",
                "gpg.format=ssh",
                "-c",
                &signingkey,
                "commit",
                "-S",
                "-qm",
                "signed change",
            ],
        )?;
        git(&clone, &["push", "-q"])?;
        let signed = git(&clone, &["rev-parse", "HEAD"])?;
        let (state, desc) = wait_final(&http, &info, &signed, "gantry/web/dev", &log)?;
        assert_eq!(state, "success", "{desc}");
        Ok(())
    })();
    let _ = gantry_tests::terminate_within(child, Duration::from_secs(30));
    result
}
