//! The signature gate (contract sections 4 and 11) end to end: commits signed at run time with
//! real `ssh-keygen` and `gpg`, a reconciler whose `trust` policy requires signatures on `prod*`,
//! and `.gantry.yaml`'s `verify: {signatures: required}` adding a requirement. Untrusted commits
//! get an `error` status and a `denied` audit record naming the reason and the signer, and
//! nothing is applied or pruned.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Result, ensure};
use common::*;
use gantry_proto::v1::{AuditRecord, Outcome, Phase};
use gantry_reconciler::trust::{Require, Trust};

const ZERO: &str = "0000000000000000000000000000000000000000";
const WAIT: Duration = Duration::from_secs(60);

fn ssh_key(dir: &Path, name: &str) -> Result<(PathBuf, String)> {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", "", "-t", "ed25519", "-f"])
        .arg(&path)
        .output()?;
    ensure!(out.status.success(), "ssh-keygen failed");
    let public = std::fs::read_to_string(path.with_extension("pub"))?;
    Ok((path, public.trim().to_owned()))
}

/// Commits everything, signed with `key` (SSH) when given.
fn commit(repo: &GitRepo, message: &str, key: Option<&Path>) -> Result<String> {
    repo.git(&["add", "-A"])?;
    match key {
        Some(k) => {
            let signingkey = format!("user.signingkey={}", k.display());
            repo.git(&[
                "-c",
                "gpg.format=ssh",
                "-c",
                &signingkey,
                "commit",
                "-q",
                "-S",
                "--allow-empty",
                "-m",
                message,
            ])?;
        }
        None => {
            repo.git(&["commit", "-q", "--allow-empty", "-m", message])?;
        }
    }
    repo.head()
}

fn two_envs(extra_dev: &str) -> String {
    format!(
        "apps:\n  - name: web\n    environments:\n      - name: dev\n        branch: main\n        path: apps/web\n        namespace: web-dev\n        healthTimeout: 30s\n{extra_dev}      - name: prod\n        branch: main\n        path: apps/web\n        namespace: web-prod\n        healthTimeout: 30s\n"
    )
}

fn denied<'a>(audit: &'a [(String, AuditRecord)], env: &str, rev: &str) -> Option<&'a AuditRecord> {
    audit.iter().map(|(_, r)| r).find(|r| {
        r.environment == env
            && r.revision == rev
            && r.phase == Phase::Verify as i32
            && r.outcome == Outcome::Denied as i32
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_trusted_commits_reach_prod() -> Result<()> {
    let mut h = Harness::start().await?;
    let keys = tempfile::tempdir()?;
    let (trusted, trusted_pub) = ssh_key(keys.path(), "trusted")?;
    let (stranger, _) = ssh_key(keys.path(), "stranger")?;
    let allowed = keys.path().join("allowed_signers");
    std::fs::write(
        &allowed,
        format!("dev@example.com namespaces=\"git\" {trusted_pub}\n"),
    )?;
    let policy = gantry_trust::Policy::load(&[], Some(&allowed))?;
    h.worker("w1", |c| {
        c.trust = Trust {
            policy,
            require: vec![Require {
                app: "*".into(),
                environment: "prod*".into(),
            }],
        }
    })
    .await?;

    // Unsigned: dev (no requirement) deploys, prod is refused and gets nothing.
    h.repo.write(".gantry.yaml", &two_envs(""))?;
    h.repo.write("apps/web/a.yaml", &configmap("a", "1"))?;
    let c1 = commit(&h.repo, "unsigned", None)?;
    h.push(ZERO, &c1).await?;
    let dev = h.final_status(&c1, "gantry/web/dev", WAIT).await?;
    assert_eq!(dev.state, "success", "{dev:?}");
    let prod = h.final_status(&c1, "gantry/web/prod", WAIT).await?;
    assert_eq!(prod.state, "error", "{prod:?}");
    assert_eq!(
        prod.description,
        format!(
            "not deployed: commit {} is not signed by a trusted key (unsigned)",
            &c1[..7]
        )
    );
    assert!(
        h.statuses(&c1, "gantry/web/prod")
            .iter()
            .all(|s| s.state != "pending"),
        "no pending before a refusal"
    );
    assert!(
        h.names("v1", "ConfigMap", "web-prod").await?.is_empty(),
        "nothing applied to prod"
    );
    let audit = h.audit().await?;
    let rec = denied(&audit, "prod", &c1).expect("a denied audit record");
    let sig = rec
        .signature
        .as_ref()
        .expect("the signature check is recorded");
    assert_eq!(
        (sig.verdict.as_str(), sig.reason.as_str()),
        ("untrusted", "unsigned")
    );
    assert!(denied(&audit, "dev", &c1).is_none(), "dev requires nothing");

    // Signed by the trusted key: prod deploys; the audit names the signer.
    h.repo.write("apps/web/b.yaml", &configmap("b", "1"))?;
    let c2 = commit(&h.repo, "signed", Some(&trusted))?;
    h.push(&c1, &c2).await?;
    let prod = h.final_status(&c2, "gantry/web/prod", WAIT).await?;
    assert_eq!(prod.state, "success", "{prod:?}");
    assert_eq!(h.names("v1", "ConfigMap", "web-prod").await?, ["a", "b"]);
    let audit = h.audit().await?;
    let ok = audit
        .iter()
        .map(|(_, r)| r)
        .find(|r| {
            r.environment == "prod"
                && r.revision == c2
                && r.phase == Phase::Verify as i32
                && r.signature.is_some()
        })
        .expect("the trusted check is audited");
    let sig = ok.signature.as_ref().expect("signature");
    assert_eq!(
        (
            sig.verdict.as_str(),
            sig.format.as_str(),
            sig.signer.as_str()
        ),
        ("trusted", "ssh", "dev@example.com")
    );
    assert!(sig.key_fingerprint.starts_with("SHA256:"));

    // Signed by an unknown key, removing b: refused, and b is not pruned.
    h.repo.remove("apps/web/b.yaml")?;
    h.repo.write("apps/web/a.yaml", &configmap("a", "2"))?;
    let c3 = commit(&h.repo, "stranger", Some(&stranger))?;
    h.push(&c2, &c3).await?;
    let prod = h.final_status(&c3, "gantry/web/prod", WAIT).await?;
    assert_eq!(prod.state, "error", "{prod:?}");
    assert!(prod.description.ends_with("(unknown_key)"), "{prod:?}");
    let dev = h.final_status(&c3, "gantry/web/dev", WAIT).await?;
    assert_eq!(dev.state, "success", "{dev:?}");
    assert_eq!(
        h.names("v1", "ConfigMap", "web-prod").await?,
        ["a", "b"],
        "nothing pruned"
    );
    assert_eq!(h.names("v1", "ConfigMap", "web-dev").await?, ["a"]);
    let audit = h.audit().await?;
    let rec = denied(&audit, "prod", &c3).expect("denied");
    let sig = rec.signature.as_ref().expect("signature");
    assert_eq!(sig.reason, "unknown_key");
    assert!(
        sig.key_fingerprint.starts_with("SHA256:"),
        "the signer's key is named: {sig:?}"
    );
    assert!(
        rec.message.contains(&sig.key_fingerprint),
        "{}",
        rec.message
    );

    // `.gantry.yaml` adds the requirement to dev; an unsigned commit is refused there too.
    h.repo.write(
        ".gantry.yaml",
        &two_envs("        verify: {signatures: required}\n"),
    )?;
    h.repo.write("apps/web/a.yaml", &configmap("a", "3"))?;
    let c4 = commit(&h.repo, "dev requires signatures", None)?;
    h.push(&c3, &c4).await?;
    let dev = h.final_status(&c4, "gantry/web/dev", WAIT).await?;
    assert_eq!(dev.state, "error", "{dev:?}");
    assert!(dev.description.ends_with("(unsigned)"));

    // A merged pull request: its (unsigned) merge commit is checked, not its signed head, and
    // the refusal shows on both.
    h.repo.git(&["checkout", "-q", "-b", "feature"])?;
    h.repo.write("apps/web/c.yaml", &configmap("c", "1"))?;
    let head = commit(&h.repo, "feature", Some(&trusted))?;
    h.repo.git(&["checkout", "-q", "main"])?;
    h.repo.git(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge pull request #7",
        "feature",
    ])?;
    let merge = h.repo.head()?;
    let ev = h.merged_event(&c4, &merge, &head);
    h.publish(ev).await?;
    let prod = h.final_status(&merge, "gantry/web/prod", WAIT).await?;
    assert_eq!(prod.state, "error", "{prod:?}");
    assert!(
        prod.description.contains(&merge[..7]) && prod.description.ends_with("(unsigned)"),
        "{prod:?}"
    );
    let on_head = h.final_status(&head, "gantry/web/prod", WAIT).await?;
    assert_eq!(on_head.description, prod.description);

    // The same merge, signed (as a Git host signs web merges with a key the operator trusts).
    h.repo.git(&["reset", "-q", "--hard", &c4])?;
    let signingkey = format!("user.signingkey={}", trusted.display());
    h.repo.git(&[
        "-c",
        "gpg.format=ssh",
        "-c",
        &signingkey,
        "merge",
        "-q",
        "-S",
        "--no-ff",
        "-m",
        "Merge pull request #7",
        "feature",
    ])?;
    let signed_merge = h.repo.head()?;
    let ev = h.merged_event(&c4, &signed_merge, &head);
    h.publish(ev).await?;
    let prod = h
        .final_status(&signed_merge, "gantry/web/prod", WAIT)
        .await?;
    assert_eq!(prod.state, "success", "{prod:?}");
    assert_eq!(h.names("v1", "ConfigMap", "web-prod").await?, ["a", "c"]);
    h.shutdown().await;
    Ok(())
}

#[test]
fn a_bad_trust_block_stops_the_start_naming_the_key() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = dir.path().join("r.yaml");
    let run = |text: &str| -> Result<String> {
        std::fs::write(&cfg, text)?;
        let args = <gantry_reconciler::Args as clap::Parser>::try_parse_from([
            "gantry-reconciler",
            "--config",
            cfg.to_str().unwrap_or_default(),
        ])?;
        match gantry_reconciler::Config::resolve(args, &[] as &[(&str, &str)]) {
            Ok(_) => Ok(String::new()),
            Err(e) => Ok(format!("{}: {e}", e.key)),
        }
    };
    let missing = dir.path().join("nope.asc");
    let e = run(&format!(
        "trust: {{openpgpKeys: [{}]}}\n",
        missing.display()
    ))?;
    assert!(
        e.starts_with("trust.openpgpKeys") && e.contains("nope.asc"),
        "{e}"
    );
    let signers = dir.path().join("allowed_signers");
    std::fs::write(
        &signers,
        "a@x cert-authority ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOkVYHZT1MMGdyRmlxUhLN6ANCO9H0KIJy+y9P3dmsH1\n",
    )?;
    let e = run(&format!(
        "trust: {{allowedSigners: {}}}\n",
        signers.display()
    ))?;
    assert!(
        e.starts_with("trust.allowedSigners") && e.contains(":1: cert-authority"),
        "{e}"
    );
    let e = run("trust: {require: [{app: \"*\", environment: prod}]}\n")?;
    assert!(e.starts_with("trust.require"), "{e}");
    let e = run("trust: {requires: []}\n")?;
    assert!(e.contains("requires"), "{e}");
    std::fs::write(
        &signers,
        "a@x ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOkVYHZT1MMGdyRmlxUhLN6ANCO9H0KIJy+y9P3dmsH1\n",
    )?;
    let e = run(&format!(
        "trust: {{allowedSigners: {}, require: [{{app: \"*\", environment: \"prod*\"}}]}}\n",
        signers.display()
    ))?;
    assert_eq!(e, "");
    Ok(())
}
