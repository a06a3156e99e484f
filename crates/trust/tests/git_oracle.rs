//! Gantry's verdict against `git verify-commit`'s on commits signed at run time by real `gpg` and
//! `ssh-keygen` (every key type, trusted, unknown, tampered, expired, revoked, subkey, merge), and
//! the `allowed_signers` lookup against `ssh-keygen -Y verify` as the oracle.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use gantry_trust::{Format, Policy, Reason, read_commit};

/// A scratch world: a repository, a signing GnuPG home, a verifying one (trusted keys only) and
/// SSH keys. The gpg-agents it starts are stopped on drop.
struct World {
    dir: tempfile::TempDir,
    repo: PathBuf,
    sign_home: PathBuf,
    verify_home: PathBuf,
    trusted_asc: PathBuf,
    allowed: PathBuf,
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the command starts");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: Output) -> String {
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// `YYYYMMDDHHMMSSZ`, the only form of `-Overify-time` that says UTC.
fn utc(t: i64) -> String {
    stdout(run(Command::new("date")
        .args(["-u", "-d"])
        .arg(format!("@{t}"))
        .arg("+%Y%m%d%H%M%SZ")))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

impl World {
    fn new() -> World {
        let dir = tempfile::Builder::new()
            .prefix("gt")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let p = dir.path();
        let (repo, sign_home, verify_home) = (p.join("repo"), p.join("gs"), p.join("gv"));
        for d in [&repo, &sign_home, &verify_home] {
            std::fs::create_dir_all(d).expect("mkdir");
            let mut perms = std::fs::metadata(d).expect("stat").permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
            std::fs::set_permissions(d, perms).expect("chmod");
        }
        let w = World {
            trusted_asc: p.join("trusted.asc"),
            allowed: p.join("allowed_signers"),
            dir,
            repo,
            sign_home,
            verify_home,
        };
        std::fs::write(&w.trusted_asc, "").expect("write");
        std::fs::write(&w.allowed, "").expect("write");
        run(w.git().args(["init", "-q", "-b", "main"]));
        w
    }

    fn git(&self) -> Command {
        let mut c = Command::new("git");
        c.current_dir(&self.repo)
            .env("HOME", self.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GNUPGHOME", &self.sign_home)
            .env("GIT_AUTHOR_NAME", "Author")
            .env("GIT_AUTHOR_EMAIL", "author@example.com")
            .env("GIT_COMMITTER_NAME", "Dev")
            .env("GIT_COMMITTER_EMAIL", "dev@example.com")
            .args(["-c", "gpg.ssh.allowedSignersFile=../allowed_signers"]);
        c
    }

    fn gpg(&self, home: &Path) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", home).args([
            "--batch",
            "--quiet",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ]);
        c
    }

    /// Generates an OpenPGP key; returns its primary fingerprint.
    fn gpg_key(&self, uid: &str, algo: &str, usage: &str, faked: Option<i64>) -> String {
        let mut c = self.gpg(&self.sign_home);
        if let Some(t) = faked {
            c.arg(format!("--faked-system-time={t}!"));
        }
        run(c.args(["--quick-gen-key", uid, algo, usage, "never"]));
        let listing = stdout(run(self.gpg(&self.sign_home).args([
            "--with-colons",
            "--list-keys",
            uid,
        ])));
        listing
            .lines()
            .find_map(|l| {
                l.strip_prefix("fpr:")
                    .map(|r| r.trim_matches(':').to_owned())
            })
            .expect("a fingerprint")
    }

    /// Adds a key to the trusted file and to the verifying keyring.
    fn trust_gpg(&self, fpr: &str) {
        let armored = run(self.gpg(&self.sign_home).args(["--export", "--armor", fpr])).stdout;
        let mut all = std::fs::read(&self.trusted_asc).expect("read");
        all.extend_from_slice(&armored);
        std::fs::write(&self.trusted_asc, &all).expect("write");
        let mut c = self.gpg(&self.verify_home);
        c.args(["--import"]).stdin(Stdio::piped());
        let mut child = c
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gpg");
        std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), &armored).expect("pipe");
        drop(child.stdin.take());
        assert!(child.wait().expect("gpg").success());
    }

    fn ssh_key(&self, name: &str, kind: &[&str]) -> (PathBuf, String) {
        let path = self.dir.path().join(name);
        run(Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-C", "", "-f"])
            .arg(&path)
            .args(kind));
        let public = std::fs::read_to_string(path.with_extension("pub")).expect("pub");
        (path, public.trim().to_owned())
    }

    fn allow(&self, line: &str) {
        let mut all = std::fs::read_to_string(&self.allowed).expect("read");
        all.push_str(line);
        all.push('\n');
        std::fs::write(&self.allowed, all).expect("write");
    }

    /// Commits a new file; `sign` is git's `-c` settings for signing, empty for unsigned.
    fn commit(&self, name: &str, sign: &[String], env: &[(&str, &str)]) -> String {
        std::fs::write(self.repo.join(name), name).expect("write");
        run(self.git().args(["add", name]));
        let mut c = self.git();
        for s in sign {
            c.args(["-c", s]);
        }
        c.envs(env.iter().copied());
        c.args(["commit", "-q", "-m", name]);
        if !sign.is_empty() {
            c.arg("-S");
        }
        run(&mut c);
        stdout(run(self.git().args(["rev-parse", "HEAD"])))
    }

    /// A copy of `sha` with its message changed and its signature kept.
    fn tamper(&self, sha: &str) -> String {
        let raw = run(self.git().args(["cat-file", "commit", sha])).stdout;
        let text = String::from_utf8(raw).expect("utf-8");
        let forged = format!("{}forged\n", text);
        let f = self.dir.path().join("forged");
        std::fs::write(&f, forged).expect("write");
        stdout(run(self
            .git()
            .args(["hash-object", "-t", "commit", "-w", "--literally"])
            .arg(&f)))
    }

    fn git_says_trusted(&self, sha: &str) -> bool {
        self.git()
            .env("GNUPGHOME", &self.verify_home)
            .args(["verify-commit", sha])
            .output()
            .expect("git")
            .status
            .success()
    }

    fn policy(&self) -> Policy {
        let keys = if std::fs::metadata(&self.trusted_asc).expect("stat").len() > 0 {
            vec![self.trusted_asc.clone()]
        } else {
            Vec::new()
        };
        Policy::load(&keys, Some(&self.allowed)).expect("the policy loads")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for home in [&self.sign_home, &self.verify_home] {
            let _ = Command::new("gpgconf")
                .env("GNUPGHOME", home)
                .args(["--kill", "gpg-agent"])
                .output();
        }
    }
}

fn pgp_sign(fpr: &str) -> Vec<String> {
    vec![
        "gpg.format=openpgp".into(),
        format!("user.signingkey={fpr}"),
    ]
}

fn ssh_sign(key: &Path) -> Vec<String> {
    vec![
        "gpg.format=ssh".into(),
        format!("user.signingkey={}", key.display()),
    ]
}

/// Checks every case against git and against the expected reason.
fn check(w: &World, cases: &[(&str, String, Option<Reason>, Option<Format>)]) {
    let policy = w.policy();
    let mut report = Vec::new();
    for (name, sha, want, format) in cases {
        let (_, raw) = read_commit(&w.repo, sha).expect("the commit reads");
        let v = policy.verify(&raw);
        let git = w.git_says_trusted(sha);
        report.push(format!(
            "{name}: gantry {:?} ({}), git {}",
            v.reason, v.detail, git
        ));
        assert_eq!(v.reason, *want, "{name}: {}", v.detail);
        assert_eq!(v.format, *format, "{name}");
        assert_eq!(
            v.trusted(),
            git,
            "{name}: gantry and git verify-commit disagree: {}",
            v.detail
        );
        if v.format.is_some() {
            assert!(
                v.fingerprint.is_some(),
                "{name}: a signed commit names its key"
            );
        }
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn openpgp_verdicts_agree_with_git_verify_commit() {
    let w = World::new();
    let t0 = now() - 10 * 86_400;
    let rsa = w.gpg_key("RSA <rsa@example.com>", "rsa2048", "sign", None);
    let ed = w.gpg_key("Ed <ed@example.com>", "ed25519", "sign", None);
    let ec = w.gpg_key("EC <ec@example.com>", "nistp256", "sign", None);
    let sub_primary = w.gpg_key("Sub <sub@example.com>", "ed25519", "cert", None);
    run(w
        .gpg(&w.sign_home)
        .args(["--quick-add-key", &sub_primary, "ed25519", "sign", "never"]));
    let unknown = w.gpg_key("Stranger <x@example.com>", "ed25519", "sign", None);
    let expiring = w.gpg_key("Old <old@example.com>", "ed25519", "sign", Some(t0));
    let revoked = w.gpg_key("Gone <gone@example.com>", "ed25519", "sign", None);

    let mut cases = Vec::new();
    let pgp = Some(Format::OpenPgp);
    cases.push((
        "unsigned",
        w.commit("u", &[], &[]),
        Some(Reason::Unsigned),
        None,
    ));
    cases.push(("rsa", w.commit("rsa", &pgp_sign(&rsa), &[]), None, pgp));
    cases.push(("ed25519", w.commit("ed", &pgp_sign(&ed), &[]), None, pgp));
    cases.push((
        "ecdsa p-256",
        w.commit("ec", &pgp_sign(&ec), &[]),
        None,
        pgp,
    ));
    cases.push((
        "signing subkey",
        w.commit("sub", &pgp_sign(&sub_primary), &[]),
        None,
        pgp,
    ));
    let good = w.commit("tamper", &pgp_sign(&ed), &[]);
    cases.push(("tampered", w.tamper(&good), Some(Reason::BadSignature), pgp));
    cases.push((
        "unknown key",
        w.commit("unk", &pgp_sign(&unknown), &[]),
        Some(Reason::UnknownKey),
        pgp,
    ));
    // Signed now; then a self-signature dated t0 + 1 day gives the key a one-day life, so it had
    // expired long before it signed.
    let exp = w.commit("exp", &pgp_sign(&expiring), &[]);
    run(w
        .gpg(&w.sign_home)
        .arg(format!("--faked-system-time={}!", t0 + 86_400))
        .args(["--quick-set-expire", &expiring, "1d"]));
    cases.push(("expired key", exp, Some(Reason::ExpiredKey), pgp));
    let rev = w.commit("rev", &pgp_sign(&revoked), &[]);
    let cert = w
        .sign_home
        .join("openpgp-revocs.d")
        .join(format!("{revoked}.rev"));
    let text = std::fs::read_to_string(&cert).expect("gpg wrote a revocation certificate");
    std::fs::write(&cert, text.replace(":-----BEGIN", "-----BEGIN")).expect("write");
    run(w.gpg(&w.sign_home).arg("--import").arg(&cert));
    cases.push(("revoked key", rev, Some(Reason::RevokedKey), pgp));

    // A merge commit signed by a trusted key.
    run(w.git().args(["checkout", "-q", "-b", "topic"]));
    w.commit("topic", &[], &[]);
    run(w.git().args(["checkout", "-q", "main"]));
    let mut c = w.git();
    for s in pgp_sign(&ed) {
        c.args(["-c", &s]);
    }
    run(c.args(["merge", "-q", "--no-ff", "-S", "-m", "merge topic", "topic"]));
    let merge = stdout(run(w.git().args(["rev-parse", "HEAD"])));
    cases.push(("merge commit", merge, None, pgp));

    for fpr in [&rsa, &ed, &ec, &sub_primary, &expiring, &revoked] {
        w.trust_gpg(fpr);
    }
    check(&w, &cases);
}

#[test]
fn ssh_verdicts_agree_with_git_verify_commit() {
    let w = World::new();
    let (ed, ed_pub) = w.ssh_key("id_ed25519", &["-t", "ed25519"]);
    let (ec, ec_pub) = w.ssh_key("id_ecdsa", &["-t", "ecdsa", "-b", "256"]);
    let (ec384, ec384_pub) = w.ssh_key("id_ecdsa384", &["-t", "ecdsa", "-b", "384"]);
    let (rsa, rsa_pub) = w.ssh_key("id_rsa", &["-t", "rsa", "-b", "2048"]);
    let (stranger, _) = w.ssh_key("id_stranger", &["-t", "ed25519"]);
    let (old, old_pub) = w.ssh_key("id_old", &["-t", "ed25519"]);
    let (early, early_pub) = w.ssh_key("id_early", &["-t", "ed25519"]);
    let (files, files_pub) = w.ssh_key("id_files", &["-t", "ed25519"]);
    w.allow(&format!("dev@example.com {ed_pub}"));
    w.allow(&format!(
        "\"ops@example.com,dev@example.com\" namespaces=\"git\" {ec_pub}"
    ));
    w.allow(&format!("*@example.com {ec384_pub}"));
    w.allow(&format!("dev@example.com,ops@example.com {rsa_pub}"));
    w.allow(&format!(
        "dev@example.com valid-before=\"20250101\" {old_pub}"
    ));
    w.allow(&format!(
        "dev@example.com valid-after=\"20990101Z\" {early_pub}"
    ));
    w.allow(&format!("dev@example.com namespaces=\"file\" {files_pub}"));

    let ssh = Some(Format::Ssh);
    let late = [("GIT_COMMITTER_DATE", "2026-06-01T00:00:00Z")];
    let mut cases = vec![
        (
            "unsigned",
            w.commit("u", &[], &[]),
            Some(Reason::Unsigned),
            None,
        ),
        ("ed25519", w.commit("ed", &ssh_sign(&ed), &[]), None, ssh),
        (
            "ecdsa p-256, quoted principals",
            w.commit("ec", &ssh_sign(&ec), &[]),
            None,
            ssh,
        ),
        (
            "ecdsa p-384, pattern principal",
            w.commit("ec384", &ssh_sign(&ec384), &[]),
            None,
            ssh,
        ),
        ("rsa", w.commit("rsa", &ssh_sign(&rsa), &[]), None, ssh),
        (
            "unknown key",
            w.commit("st", &ssh_sign(&stranger), &[]),
            Some(Reason::UnknownKey),
            ssh,
        ),
        (
            "valid-before passed at the commit time",
            w.commit("old", &ssh_sign(&old), &late),
            Some(Reason::ExpiredKey),
            ssh,
        ),
        (
            "valid-after not reached",
            w.commit("early", &ssh_sign(&early), &[]),
            Some(Reason::ExpiredKey),
            ssh,
        ),
        (
            "namespace not allowing git",
            w.commit("files", &ssh_sign(&files), &[]),
            Some(Reason::UnknownKey),
            ssh,
        ),
    ];
    let good = w.commit("tamper", &ssh_sign(&ed), &[]);
    cases.push(("tampered", w.tamper(&good), Some(Reason::BadSignature), ssh));
    let early_enough = [("GIT_COMMITTER_DATE", "2024-06-01T00:00:00Z")];
    cases.push((
        "valid-before holding at the commit time",
        w.commit("old2", &ssh_sign(&old), &early_enough),
        None,
        ssh,
    ));

    run(w.git().args(["checkout", "-q", "-b", "topic"]));
    w.commit("topic", &[], &[]);
    run(w.git().args(["checkout", "-q", "main"]));
    let mut c = w.git();
    for s in ssh_sign(&rsa) {
        c.args(["-c", &s]);
    }
    run(c.args(["merge", "-q", "--no-ff", "-S", "-m", "merge topic", "topic"]));
    cases.push((
        "merge commit",
        stdout(run(w.git().args(["rev-parse", "HEAD"]))),
        None,
        ssh,
    ));
    check(&w, &cases);
}

/// A key that is in the file, but for someone else: git's `verify-commit` accepts it (it asks
/// `ssh-keygen -Y find-principals` who the key belongs to, not whether that is the committer);
/// Gantry, as section 11 says, requires the committer's email. This is the one deliberate
/// difference from git's verdict.
#[test]
fn an_ssh_key_allowed_for_another_email_is_unknown() {
    let w = World::new();
    let (ed, ed_pub) = w.ssh_key("id_ed25519", &["-t", "ed25519"]);
    w.allow(&format!("someone-else@example.com {ed_pub}"));
    let sha = w.commit("x", &ssh_sign(&ed), &[]);
    let (_, raw) = read_commit(&w.repo, &sha).expect("reads");
    let v = w.policy().verify(&raw);
    assert_eq!(v.reason, Some(Reason::UnknownKey), "{}", v.detail);
}

/// The `allowed_signers` lookup against `ssh-keygen -Y verify -I EMAIL -n git
/// -Overify-time=T`, over generated lines: principal lists, patterns and negations, namespaces
/// and validity windows, at several times.
#[test]
fn allowed_signers_lookup_agrees_with_ssh_keygen() {
    let w = World::new();
    let (key, key_pub) = w.ssh_key("id_ed25519", &["-t", "ed25519"]);
    let (other, other_pub) = w.ssh_key("id_other", &["-t", "ed25519"]);
    let data = w.dir.path().join("data");
    std::fs::write(&data, b"payload").expect("write");
    run(Command::new("ssh-keygen")
        .args(["-q", "-Y", "sign", "-n", "git", "-f"])
        .arg(&key)
        .arg(&data));
    let sig_path = data.with_extension("sig");
    let sig = ssh_key::SshSig::from_pem(std::fs::read(&sig_path).expect("sig")).expect("parses");
    let signer = ssh_key::PublicKey::from(sig.public_key().clone());

    let principals = [
        "dev@example.com",
        "\"ops@example.com,dev@example.com\"",
        "*@example.com",
        "d?v@example.com",
        "*,!dev@example.com",
        "*@example.org",
        "ops@example.com",
        "*example.com,!ops@*",
    ];
    let options = [
        "",
        "namespaces=\"git\" ",
        "namespaces=\"file,git\" ",
        "namespaces=\"file\" ",
        "namespaces=\"g*\" ",
        "valid-after=\"20200101Z\" ",
        "valid-before=\"20200101Z\" ",
        "valid-after=\"20240101Z\",valid-before=\"20250101120000Z\" ",
        "namespaces=\"git\",valid-after=\"202401011200Z\" ",
    ];
    let times = [1_700_000_000_i64, 1_720_000_000, 1_800_000_000];
    let emails = ["dev@example.com", "ops@example.com"];
    let mut compared = 0;
    for p in principals {
        for o in options {
            for k in [&key_pub, &other_pub] {
                let text = format!("{p} {o}{k}\n");
                std::fs::write(&w.allowed, &text).expect("write");
                let parsed = gantry_trust::ssh::AllowedSigners::parse(&text).expect(&text);
                for t in times {
                    for email in emails {
                        let ours = matches!(
                            parsed.lookup(&signer, email, "git", t),
                            gantry_trust::ssh::Lookup::Allowed { .. }
                        );
                        let theirs = Command::new("ssh-keygen")
                            .env("TZ", "UTC")
                            .args(["-Y", "verify", "-n", "git", "-I", email, "-f"])
                            .arg(&w.allowed)
                            .arg("-s")
                            .arg(&sig_path)
                            .arg(format!("-Overify-time={}", utc(t)))
                            .stdin(std::fs::File::open(&data).expect("data"))
                            .output()
                            .expect("ssh-keygen")
                            .status
                            .success();
                        assert_eq!(ours, theirs, "line {text:?}, {email} at {t}");
                        compared += 1;
                    }
                }
            }
        }
    }
    let _ = other;
    eprintln!("{compared} lookups agree with ssh-keygen -Y verify");
}
