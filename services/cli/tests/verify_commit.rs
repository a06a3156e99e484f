//! `gantry verify-commit`, the binary: its JSON verdict and exit codes (contract section 11) on
//! commits signed at run time by real `ssh-keygen` and `gpg`, agreeing with `git verify-commit`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, ensure};

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Result<Repo> {
        let dir = tempfile::Builder::new().prefix("gv").tempdir_in("/tmp")?;
        for d in ["repo", "gnupg"] {
            std::fs::create_dir(dir.path().join(d))?;
        }
        std::fs::set_permissions(
            dir.path().join("gnupg"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )?;
        let r = Repo { dir };
        r.git(&["init", "-q", "-b", "main"])?;
        Ok(r)
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn git(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("git")
            .current_dir(self.path("repo"))
            .env("HOME", self.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GNUPGHOME", self.path("gnupg"))
            .env("GIT_AUTHOR_NAME", "Dev")
            .env("GIT_AUTHOR_EMAIL", "dev@example.com")
            .env("GIT_COMMITTER_NAME", "Dev")
            .env("GIT_COMMITTER_EMAIL", "dev@example.com")
            .args(["-c", "gpg.ssh.allowedSignersFile=../allowed_signers"])
            .args(args)
            .output()?;
        ensure!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }

    fn commit(&self, name: &str, sign: &[&str]) -> Result<String> {
        std::fs::write(self.path("repo").join(name), name)?;
        self.git(&["add", name])?;
        let mut args = Vec::new();
        for s in sign {
            args.extend(["-c", s]);
        }
        args.extend(["commit", "-q", "-m", name]);
        if !sign.is_empty() {
            args.push("-S");
        }
        self.git(&args)?;
        self.git(&["rev-parse", "HEAD"])
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.path("gnupg"))
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

fn gantry(args: &[&str]) -> Result<Output> {
    Ok(Command::new(env!("CARGO_BIN_EXE_gantry"))
        .arg("verify-commit")
        .args(args)
        .output()?)
}

fn verdict(out: &Output) -> Result<serde_json::Value> {
    let text = String::from_utf8(out.stdout.clone())?;
    ensure!(text.lines().count() == 1, "one line of JSON: {text:?}");
    Ok(serde_json::from_str(&text)?)
}

fn gpg(home: &Path, args: &[&str]) -> Result<Output> {
    let out = Command::new("gpg")
        .env("GNUPGHOME", home)
        .args([
            "--batch",
            "--quiet",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ])
        .args(args)
        .output()?;
    ensure!(
        out.status.success(),
        "gpg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out)
}

#[test]
fn verdicts_and_exit_codes() -> Result<()> {
    let r = Repo::new()?;
    let git_dir = r.path("repo");
    let git_dir = git_dir.to_str().context("utf-8")?;

    // SSH: the key is allowed for the committer.
    let key = r.path("id_ed25519");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", "", "-t", "ed25519", "-f"])
        .arg(&key)
        .output()?;
    ensure!(out.status.success());
    let public = std::fs::read_to_string(key.with_extension("pub"))?;
    let allowed = r.path("allowed_signers");
    std::fs::write(&allowed, format!("dev@example.com {public}"))?;
    let allowed = allowed.to_str().context("utf-8")?;
    let signingkey = format!("user.signingkey={}", key.display());
    let ssh = r.commit("ssh", &["gpg.format=ssh", &signingkey])?;
    let out = gantry(&["--git-dir", git_dir, "--allowed-signers", allowed, "HEAD"])?;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = verdict(&out)?;
    assert_eq!(v["revision"], ssh.as_str());
    assert_eq!(v["verdict"], "trusted");
    assert_eq!(v["format"], "ssh");
    assert_eq!(v["signer"], "dev@example.com", "the principal allowed");
    assert_eq!(v["reason"], serde_json::Value::Null);
    r.git(&["verify-commit", &ssh])?;

    // OpenPGP: an Ed25519 key exported with `gpg --export --armor`.
    let home = r.path("gnupg");
    gpg(
        &home,
        &[
            "--quick-gen-key",
            "Dev <dev@example.com>",
            "ed25519",
            "sign",
            "never",
        ],
    )?;
    let asc = r.path("trusted.asc");
    std::fs::write(
        &asc,
        gpg(&home, &["--export", "--armor", "dev@example.com"])?.stdout,
    )?;
    let asc = asc.to_str().context("utf-8")?;
    let pgp = r.commit(
        "pgp",
        &["gpg.format=openpgp", "user.signingkey=dev@example.com"],
    )?;
    let out = gantry(&["--git-dir", git_dir, "--openpgp-keys", asc, &pgp])?;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = verdict(&out)?;
    assert_eq!(
        (v["verdict"].as_str(), v["format"].as_str()),
        (Some("trusted"), Some("openpgp"))
    );
    assert_eq!(v["signer"], "Dev <dev@example.com>", "the key's user ID");
    // The same commit without the key: untrusted, unknown_key, the signer named.
    let out = gantry(&["--git-dir", git_dir, "--allowed-signers", allowed, &pgp])?;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v = verdict(&out)?;
    assert_eq!(v["reason"], "unknown_key");
    assert!(
        v["signer"]
            .as_str()
            .is_some_and(|s| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())),
        "an unknown key is named by its fingerprint: {v}"
    );

    // Unsigned: 1, format and signer null.
    let plain = r.commit("plain", &[])?;
    let out = gantry(&[
        "--git-dir",
        git_dir,
        "--openpgp-keys",
        asc,
        "--allowed-signers",
        allowed,
        &plain,
    ])?;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v = verdict(&out)?;
    assert_eq!(v["verdict"], "untrusted");
    assert_eq!(v["reason"], "unsigned");
    assert_eq!(v["format"], serde_json::Value::Null);
    assert_eq!(v["signer"], serde_json::Value::Null);
    ensure!(r.git(&["verify-commit", &plain]).is_err(), "git agrees");

    // A revision that does not exist: 66, nothing on stdout, one line on stderr.
    let out = gantry(&[
        "--git-dir",
        git_dir,
        "0123456789012345678901234567890123456789",
    ])?;
    assert_eq!(out.status.code(), Some(66), "{out:?}");
    assert!(out.stdout.is_empty());
    assert_eq!(String::from_utf8(out.stderr)?.lines().count(), 1);
    let out = gantry(&["--git-dir", git_dir, "no-such-branch"])?;
    assert_eq!(out.status.code(), Some(66), "{out:?}");

    // Bad usage: 64 with one line naming what is wrong.
    let missing = r.path("missing.asc");
    let out = gantry(&[
        "--git-dir",
        git_dir,
        "--openpgp-keys",
        missing.to_str().context("utf-8")?,
        "HEAD",
    ])?;
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    let err = String::from_utf8(out.stderr)?;
    assert!(
        err.contains("missing.asc") && err.lines().count() == 1,
        "{err}"
    );
    std::fs::write(
        r.path("bad_signers"),
        format!("dev@example.com cert-authority {public}"),
    )?;
    let out = gantry(&[
        "--git-dir",
        git_dir,
        "--allowed-signers",
        r.path("bad_signers").to_str().context("utf-8")?,
        "HEAD",
    ])?;
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(String::from_utf8(out.stderr)?.contains(":1: cert-authority"));
    let out = gantry(&[
        "--git-dir",
        r.path("nowhere").to_str().context("utf-8")?,
        "HEAD",
    ])?;
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    let out = gantry(&["--git-dir", git_dir])?;
    assert_eq!(out.status.code(), Some(64), "a missing REV is bad usage");
    Ok(())
}
