//! The commit signature gate (contract sections 4 and 11): which environments require a trusted
//! signature (the reconciler's `trust.require` globs, plus `verify: {signatures: required}` in
//! `.gantry.yaml`, which can only add), and the check itself, run on the revision to deploy
//! before anything of it is rendered.

use gantry_proto::v1::SignatureCheck;
use gantry_trust::{Policy, Verdict};

use crate::fetch::{GitError, Mirror};
use crate::plan::Environment;
use crate::render::short;
use std::time::Instant;

use gantry_proto::v1::{Outcome, Phase};

use crate::error::{Failure, Stop};
use crate::reconcile::{Reconciler, Run};
use crate::report::State as CommitState;

/// One `trust.require` entry: glob patterns (`*`, `?`) over app and environment names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Require {
    /// The app pattern.
    pub app: String,
    /// The environment pattern.
    pub environment: String,
}

/// The reconciler's trust policy: the keys and where they are required.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// The trusted keys.
    pub policy: Policy,
    /// Where a signature is required; empty means nowhere (unless `.gantry.yaml` asks).
    pub require: Vec<Require>,
}

fn glob(pattern: &str, name: &str) -> bool {
    gantry_trust::ssh::glob(name, pattern)
}

impl Trust {
    /// Whether `env` may only deploy trusted commits.
    pub fn required(&self, env: &Environment) -> bool {
        env.signatures_required
            || self
                .require
                .iter()
                .any(|r| glob(&r.app, &env.app) && glob(&r.environment, &env.name))
    }

    /// Checks the commit `revision` of `mirror` (blocking: run it on the blocking pool).
    pub fn check(&self, mirror: &Mirror, revision: gix::ObjectId) -> Result<Verdict, GitError> {
        let raw = mirror.commit_object(revision)?;
        Ok(self.policy.verify(&raw))
    }
}

/// The commit status description of a refused revision (at most 140 characters).
pub fn refusal(revision: &str, verdict: &Verdict) -> String {
    format!(
        "not deployed: commit {} is not signed by a trusted key ({})",
        short(revision),
        verdict.reason.map(|r| r.as_str()).unwrap_or("unknown_key")
    )
}

/// The audit record's account of a check.
pub fn record(verdict: &Verdict) -> SignatureCheck {
    SignatureCheck {
        format: verdict
            .format
            .map(|f| f.as_str().to_owned())
            .unwrap_or_default(),
        verdict: if verdict.trusted() {
            "trusted"
        } else {
            "untrusted"
        }
        .to_owned(),
        reason: verdict
            .reason
            .map(|r| r.as_str().to_owned())
            .unwrap_or_default(),
        signer: verdict.signer.clone().unwrap_or_default(),
        key_fingerprint: verdict.fingerprint.clone().unwrap_or_default(),
    }
}

/// The audit message: what was decided, and who signed.
pub fn message(revision: &str, verdict: &Verdict) -> String {
    let who = verdict
        .signer_or_key()
        .map(|s| format!("; signer {s}"))
        .unwrap_or_default();
    if verdict.trusted() {
        format!(
            "commit {} is signed by a trusted key: {}",
            short(revision),
            verdict.detail
        )
    } else {
        format!("{}: {}{who}", refusal(revision, verdict), verdict.detail)
    }
}

impl Reconciler {
    /// Signatures (contract section 11), for an environment that requires them, audited as a
    /// verify record: before anything of the revision is rendered. An untrusted commit ends the
    /// reconcile with `error`.
    pub(crate) async fn signature_phase(&self, run: &Run<'_>) -> Result<(), Stop> {
        let (job, env) = (run.job, run.env);
        let t = Instant::now();
        let (mirror, commit) = (job.mirror.clone(), job.snapshot.commit);
        let trust = self.config.trust.clone();
        let verdict = tokio::task::spawn_blocking(move || trust.check(&mirror, commit))
            .await
            .map_err(|e| run.transient(e))?
            .map_err(|e| run.transient(e))?;
        self.audit(
            job,
            crate::audit::Entry {
                duration: Some(t.elapsed()),
                signature: Some(record(&verdict)),
                ..run.entry(
                    Phase::Verify,
                    if verdict.trusted() {
                        Outcome::Succeeded
                    } else {
                        Outcome::Denied
                    },
                    message(&job.revision, &verdict),
                )
            },
        )
        .await?;
        if !verdict.trusted() {
            let description = refusal(&job.revision, &verdict);
            tracing::warn!(event = %job.event_id, app = %env.app, env = %env.name, %description, detail = %verdict.detail, "refused an untrusted commit");
            return Err(Failure {
                phase: Phase::Verify,
                state: CommitState::Error,
                description,
                audit: None,
            }
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_pick_environments() {
        let t = Trust {
            policy: Policy::default(),
            require: vec![Require {
                app: "*".into(),
                environment: "prod*".into(),
            }],
        };
        let mut env = crate::plan::parse(
            b"apps:\n  - name: web\n    environments:\n      - {name: prod-eu, branch: main, path: p}\n      - {name: dev, branch: main, path: d}\n",
        )
        .expect("parses");
        assert!(t.required(&env[0]));
        assert!(!t.required(&env[1]));
        env[1].signatures_required = true;
        assert!(t.required(&env[1]), ".gantry.yaml adds a requirement");
        assert!(!Trust::default().required(&env[0]));
    }

    #[test]
    fn the_refusal_fits_a_status() {
        let v = Verdict {
            format: None,
            signer: None,
            fingerprint: None,
            reason: Some(gantry_trust::Reason::RevokedKey),
            detail: String::new(),
        };
        let d = refusal("3f2a1c9d0000000000000000000000000000000", &v);
        assert_eq!(
            d,
            "not deployed: commit 3f2a1c9 is not signed by a trusted key (revoked_key)"
        );
        assert!(d.len() <= 140);
    }
}
