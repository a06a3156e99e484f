//! Deciding what to deploy: `.gantry.yaml` at the commit (contract section 4), the environments
//! whose branch is the event's, and of those the ones whose inputs changed since what was last
//! applied (the environment's path, every file its render read, and its own entry in
//! `.gantry.yaml`).

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

use crate::error::Transient;
use crate::reconcile::{Job, Reconciler};
use crate::render::short;
use crate::state::EnvState;

/// The file's name at the repository root.
pub const GANTRY_FILE: &str = ".gantry.yaml";

/// Why `.gantry.yaml` is unusable; shown as `.gantry.yaml:LINE: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{GANTRY_FILE}:{line}: {message}")]
pub struct ConfigError {
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct File {
    #[serde(default)]
    apps: Vec<AppFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AppFile {
    name: Spanned<String>,
    #[serde(default)]
    environments: Vec<EnvFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EnvFile {
    name: Spanned<String>,
    branch: String,
    path: Spanned<String>,
    namespace: Option<String>,
    cluster: Option<Spanned<String>>,
    prune: Option<bool>,
    health_timeout: Option<Spanned<String>>,
    allow_empty: Option<bool>,
    helm: Option<HelmFile>,
    interval: Option<Spanned<String>>,
    self_heal: Option<bool>,
    verify: Option<VerifyFile>,
}

/// `verify: {signatures: required}`: may only add to the reconciler's trust policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VerifyFile {
    signatures: Signatures,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Signatures {
    Required,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HelmFile {
    release_name: Option<String>,
    #[serde(default)]
    values_files: Vec<Spanned<String>>,
    values: Option<serde_json::Value>,
    engine: Option<Spanned<String>>,
}

/// Which engine renders an environment's chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HelmEngine {
    /// Gantry's own engine (`gantry-helm`): no process, reads confined to the repository.
    #[default]
    Native,
    /// A `helm` binary on the reconciler's `PATH` (`helm: {engine: external}`), for charts the
    /// native engine refuses.
    External,
}

impl HelmEngine {
    fn is_native(&self) -> bool {
        *self == HelmEngine::Native
    }
}

/// Helm release settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Helm {
    /// The release name (the app's name when absent).
    pub release_name: String,
    /// Values files relative to the chart's folder; they may lie anywhere in the repository.
    pub values_files: Vec<String>,
    /// Values given inline, applied after the files (`helm template --values` order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<serde_json::Value>,
    /// The engine.
    #[serde(skip_serializing_if = "HelmEngine::is_native")]
    pub engine: HelmEngine,
}

/// One environment of one app, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Environment {
    /// The app's name.
    pub app: String,
    /// The environment's name.
    pub name: String,
    /// The branch whose pushes deploy here.
    pub branch: String,
    /// The folder to render, repository-relative, without a trailing `/`.
    pub path: String,
    /// Default namespace of namespaced objects.
    pub namespace: Option<String>,
    /// The cluster's name in the reconciler's config.
    pub cluster: String,
    /// Delete what was applied before and no longer renders.
    pub prune: bool,
    /// How long verification may take.
    #[serde(with = "secs")]
    pub health_timeout: Duration,
    /// Whether an empty render may prune everything.
    pub allow_empty: bool,
    /// Helm settings, when the path holds a chart.
    pub helm: Option<Helm>,
    /// `verify: {signatures: required}`: a trusted signature is required even where the
    /// reconciler's policy does not require one. Left out of the digest when false, so adding the
    /// field changed no existing environment's digest.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub signatures_required: bool,
    /// Line of the environment's `cluster` key (else its name), for messages.
    #[serde(skip)]
    pub cluster_line: usize,
    /// Resync and drift check period; `None`: the reconciler's `resync.interval`. Not part of
    /// the digest: it changes nothing that is applied.
    #[serde(skip)]
    pub interval: Option<Duration>,
    /// Re-apply drifted objects (default), or only report them. Not part of the digest.
    #[serde(skip)]
    pub self_heal: bool,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

impl Environment {
    /// A digest of the settings; a change redeploys the environment.
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(&Sha256::digest(&json)[..12])
    }

    /// `gantry/<app>/<env>`: the commit-status context.
    pub fn context(&self) -> String {
        crate::report::status_context(&self.app, &self.name)
    }
}

/// The shortest resync interval.
pub const MIN_INTERVAL: Duration = Duration::from_secs(5);

/// The default health timeout.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(300);

/// Whether `s` can be a label value and a subject token: what an app or environment name must be.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

/// Parses `.gantry.yaml`. Unknown keys, bad names, durations and duplicates are errors with a line.
pub fn parse(text: &[u8]) -> Result<Vec<Environment>, ConfigError> {
    let text = std::str::from_utf8(text).map_err(|e| ConfigError {
        line: 0,
        message: format!("not UTF-8: {e}"),
    })?;
    let file: File = serde_saphyr::from_str(text).map_err(|e| ConfigError {
        line: e.location().map(|l| l.line() as usize).unwrap_or(0),
        message: first_line(&e.to_string()),
    })?;
    let mut out: Vec<Environment> = Vec::new();
    for app in file.apps {
        let app_line = app.name.referenced.line() as usize;
        if !valid_name(&app.name.value) {
            return Err(ConfigError {
                line: app_line,
                message: format!(
                    "app name {:?} must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
                    app.name.value
                ),
            });
        }
        for env in app.environments {
            let line = env.name.referenced.line() as usize;
            if !valid_name(&env.name.value) {
                return Err(ConfigError {
                    line,
                    message: format!(
                        "environment name {:?} must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
                        env.name.value
                    ),
                });
            }
            let path = env.path.value.trim().trim_start_matches("./");
            let path = path.trim_end_matches('/').to_owned();
            if path.starts_with('/') || path.split('/').any(|p| p == "..") {
                return Err(ConfigError {
                    line: env.path.referenced.line() as usize,
                    message: format!("path {:?} must stay inside the repository", env.path.value),
                });
            }
            let health_timeout = match &env.health_timeout {
                None => DEFAULT_HEALTH_TIMEOUT,
                Some(s) => gantry_config::parse_duration(&s.value).map_err(|m| ConfigError {
                    line: s.referenced.line() as usize,
                    message: format!("healthTimeout: {m}"),
                })?,
            };
            let interval = match &env.interval {
                None => None,
                Some(s) => {
                    let d = gantry_config::parse_duration(&s.value).map_err(|m| ConfigError {
                        line: s.referenced.line() as usize,
                        message: format!("interval: {m}"),
                    })?;
                    if d < MIN_INTERVAL {
                        return Err(ConfigError {
                            line: s.referenced.line() as usize,
                            message: format!(
                                "interval: {:?} is shorter than the minimum, 5s",
                                s.value
                            ),
                        });
                    }
                    Some(d)
                }
            };
            let (cluster, cluster_line) = match env.cluster {
                Some(c) => (c.value, c.referenced.line() as usize),
                None => ("default".to_owned(), line),
            };
            if out
                .iter()
                .any(|e| e.app == app.name.value && e.name == env.name.value)
            {
                return Err(ConfigError {
                    line,
                    message: format!(
                        "environment {:?} of app {:?} is defined twice",
                        env.name.value, app.name.value
                    ),
                });
            }
            let helm = match env.helm {
                None => None,
                Some(h) => Some(helm_settings(h, &path, &app.name.value, line)?),
            };
            out.push(Environment {
                app: app.name.value.clone(),
                name: env.name.value,
                branch: env.branch,
                path,
                namespace: env.namespace.filter(|n| !n.is_empty()),
                cluster,
                prune: env.prune.unwrap_or(true),
                health_timeout,
                allow_empty: env.allow_empty.unwrap_or(false),
                helm,
                signatures_required: matches!(
                    env.verify,
                    Some(VerifyFile {
                        signatures: Signatures::Required
                    })
                ),
                cluster_line,
                interval,
                self_heal: env.self_heal.unwrap_or(true),
            });
        }
    }
    Ok(out)
}

/// Checks an environment's `helm` entry: a known engine, values files that stay inside the
/// repository (relative to the chart at `path`), inline values that are a mapping.
fn helm_settings(h: HelmFile, path: &str, app: &str, line: usize) -> Result<Helm, ConfigError> {
    let engine = match &h.engine {
        None => HelmEngine::Native,
        Some(e) => match e.value.as_str() {
            "native" => HelmEngine::Native,
            "external" => HelmEngine::External,
            other => {
                return Err(ConfigError {
                    line: e.referenced.line() as usize,
                    message: format!(
                        "helm.engine {other:?} is not one of \"native\" or \"external\""
                    ),
                });
            }
        },
    };
    let mut values_files = Vec::with_capacity(h.values_files.len());
    for v in h.values_files {
        let joined = if path.is_empty() {
            v.value.clone()
        } else {
            format!("{path}/{}", v.value)
        };
        let mut depth: i64 = 0;
        let escapes = v.value.starts_with('/')
            || joined.split('/').any(|p| {
                match p {
                    "" | "." => {}
                    ".." => depth -= 1,
                    _ => depth += 1,
                }
                depth < 0
            });
        if escapes || v.value.trim().is_empty() {
            return Err(ConfigError {
                line: v.referenced.line() as usize,
                message: format!(
                    "helm.valuesFiles: {:?} must name a file inside the repository, relative to the chart",
                    v.value
                ),
            });
        }
        values_files.push(v.value);
    }
    let values = match h.values {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Object(m)) if m.is_empty() => None,
        Some(v @ serde_json::Value::Object(_)) => Some(v),
        Some(_) => {
            return Err(ConfigError {
                line,
                message: "helm.values must be a mapping".to_owned(),
            });
        }
    };
    Ok(Helm {
        release_name: h.release_name.unwrap_or_else(|| app.to_owned()),
        values_files,
        values,
        engine,
    })
}

/// The parser's first line without its own `error: line L column C:` prefix, since the line is
/// shown once, in front.
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or(s).trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    match line.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((pos, rest)) if pos.contains("column") => rest.to_owned(),
        _ => line.to_owned(),
    }
}

/// The branch a ref names, if it names one.
pub fn branch_of(reference: &str) -> Option<&str> {
    reference.strip_prefix("refs/heads/")
}

/// Whether a change to `changed` touches an environment rooted at `path` that last read `inputs`.
pub fn touches(changed: &BTreeSet<String>, path: &str, inputs: &[String]) -> bool {
    let under = |p: &str, root: &str| {
        root.is_empty()
            || p == root
            || (p.starts_with(root) && p.as_bytes().get(root.len()) == Some(&b'/'))
    };
    changed
        .iter()
        .any(|c| under(c, path) || inputs.iter().any(|i| under(c, i)))
}

/// What one environment's reconcile does, decided from the revision it last applied: kube-rs's
/// reconcile, desired state in and an action out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Render, apply, prune, verify and report.
    Deploy,
    /// The revision is already applied (a push and its `pr_merged`, or a redelivery): only its
    /// status is posted again, unless this event posted it.
    Repost {
        /// The applied revision's outcome.
        reported: crate::state::Reported,
        /// Whether this event posted it already.
        posted_by_this_event: bool,
    },
    /// The revision is older than the applied one: never go backwards.
    Superseded {
        /// The applied revision.
        applied: String,
    },
}

/// The [`Action`] for `revision` of event `event_id` given what the environment last applied.
/// An API sync (`sync`) re-applies even the same revision; `older(applied)` says whether the
/// revision is an ancestor of the applied one.
pub fn action(
    revision: &str,
    event_id: &str,
    sync: bool,
    applied: Option<&crate::state::EnvState>,
    older: impl FnOnce(&str) -> bool,
) -> Action {
    let Some(prev) = applied.filter(|p| !p.revision.is_empty()) else {
        return Action::Deploy;
    };
    if prev.revision == revision {
        return match &prev.reported {
            Some(rep) if !sync => Action::Repost {
                reported: rep.clone(),
                posted_by_this_event: rep.posted_by == event_id,
            },
            _ => Action::Deploy,
        };
    }
    if older(&prev.revision) {
        return Action::Superseded {
            applied: prev.revision.clone(),
        };
    }
    Action::Deploy
}

/// What the plan phase decided for one event.
#[derive(Debug)]
pub(crate) enum Planned {
    /// No `.gantry.yaml` at the revision: nothing to deploy.
    Nothing,
    /// `.gantry.yaml` is unusable: the status context that gets `error`, and why.
    Unusable {
        /// `gantry`, or the environment an API sync named.
        context: String,
        /// The file, line and problem.
        message: String,
    },
    /// The environments to deploy, and the unchanged rest.
    Deploy {
        /// Deployed, each under its lease.
        targets: Vec<Environment>,
        /// Audited as skipped.
        skipped: Vec<Environment>,
    },
}

/// The event's revision compared with one applied revision.
#[derive(Debug, Clone)]
struct Since {
    /// Paths that differ.
    changed: Arc<BTreeSet<String>>,
    /// Whether the event's revision is an ancestor of the applied one.
    older: bool,
}

impl Reconciler {
    /// Plan: `.gantry.yaml` at the revision, the environments of the event's branch (or the one
    /// an API sync names), and which of them changed since what they last applied.
    pub(crate) async fn plan_phase(&self, job: &Job, branch: &str) -> Result<Planned, Transient> {
        let Some(text) = job.snapshot.file(GANTRY_FILE) else {
            tracing::info!(repository = %job.full_name, revision = short(&job.revision), "no .gantry.yaml at this revision; nothing to deploy");
            return Ok(Planned::Nothing);
        };
        let unusable =
            |context: String, message: String| Ok(Planned::Unusable { context, message });
        let envs = match parse(&text) {
            Ok(e) => e,
            Err(e) => return unusable("gantry".to_owned(), e.to_string()),
        };
        let envs: Vec<Environment> = match &job.only {
            // An API sync names its environment; the branch was looked up from it.
            Some((app, name)) => {
                let one: Vec<Environment> = envs
                    .into_iter()
                    .filter(|e| &e.app == app && &e.name == name)
                    .collect();
                if one.is_empty() {
                    let message = format!(
                        "{GANTRY_FILE}: no environment {name:?} of app {app:?} at {}",
                        short(&job.revision)
                    );
                    return unusable(crate::report::status_context(app, name), message);
                }
                one
            }
            None => envs.into_iter().filter(|e| e.branch == branch).collect(),
        };
        if let Some(bad) = envs.iter().find(|e| !self.has_cluster(&e.cluster)) {
            let e = ConfigError {
                line: bad.cluster_line,
                message: format!(
                    "cluster {:?} of {}/{} is not in the reconciler's config",
                    bad.cluster, bad.app, bad.name
                ),
            };
            return unusable(bad.context(), e.to_string());
        }
        let (targets, skipped) = self.changed(job, envs).await?;
        Ok(Planned::Deploy { targets, skipped })
    }

    /// Which environments to deploy: those without a state, with changed settings, or whose
    /// path or render inputs changed since what they last applied; returns those and the
    /// unchanged rest. Superseded and repeated revisions are decided under the lease.
    async fn changed(
        &self,
        job: &Job,
        envs: Vec<Environment>,
    ) -> Result<(Vec<Environment>, Vec<Environment>), Transient> {
        let states: Vec<(Environment, Option<EnvState>)> = {
            let mut futs = Vec::with_capacity(envs.len());
            for env in envs {
                let state = self.state.clone();
                let key = job.key(&env);
                futs.push(async move {
                    let st = state.get(&key).await;
                    (env, st)
                });
            }
            let mut out = Vec::new();
            let results: Vec<_> = futures::StreamExt::collect(futures::StreamExt::buffered(
                futures::stream::iter(futs),
                64,
            ))
            .await;
            for (env, st) in results {
                match st {
                    Ok(s) => out.push((env, s)),
                    Err(e) => return Err(Transient::new(env.context(), e)),
                }
            }
            out
        };
        let mut diffs: HashMap<String, Option<Since>> = HashMap::new();
        let mut targets = Vec::new();
        let mut skipped = Vec::new();
        for (env, st) in states {
            let deploy = match &st {
                _ if job.only.is_some() => true,
                None => true,
                Some(s) if s.revision.is_empty() => true,
                Some(_) if job.force => true,
                Some(s) if s.revision == job.revision => true,
                Some(s) if s.config_digest != env.digest() => true,
                Some(s) => {
                    let since = match diffs.get(&s.revision) {
                        Some(d) => d.clone(),
                        None => {
                            let d = changed_since(job, &s.revision).await;
                            diffs.insert(s.revision.clone(), d.clone());
                            d
                        }
                    };
                    match since {
                        None => true,
                        // An older revision is decided (superseded) under the lease.
                        Some(since) => since.older || touches(&since.changed, &env.path, &s.inputs),
                    }
                }
            };
            if deploy {
                targets.push(env);
            } else {
                skipped.push(env);
            }
        }
        Ok((targets, skipped))
    }
}

/// What changed between `since` and the job's revision, computed once per distinct applied
/// revision of an event; `None` when `since` is unknown.
async fn changed_since(job: &Job, since: &str) -> Option<Since> {
    let commit = crate::fetch::parse_revision(since).ok()?;
    let mirror = job.mirror.clone();
    let now = job.snapshot.clone();
    tokio::task::spawn_blocking(move || {
        if !mirror.has(commit) {
            return None;
        }
        let old = mirror.snapshot(commit).ok()?;
        Some(Since {
            changed: Arc::new(old.changed_paths(&now)),
            older: mirror.is_ancestor(now.commit, commit) == Some(true),
        })
    })
    .await
    .ok()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_action_follows_what_was_applied() {
        use crate::report::State;
        use crate::state::{EnvState, Reported};
        let (a, b) = ("a".repeat(40), "b".repeat(40));
        let applied = |posted_by: &str| EnvState {
            revision: a.clone(),
            reported: Some(Reported {
                state: State::Success,
                description: "deployed".into(),
                posted_by: posted_by.into(),
            }),
            ..Default::default()
        };
        let never = |_: &str| -> bool { panic!("not asked for the same revision") };
        assert_eq!(action(&a, "e1", false, None, never), Action::Deploy);
        let repost = action(&a, "e1", false, Some(&applied("e0")), never);
        assert!(matches!(
            repost,
            Action::Repost {
                posted_by_this_event: false,
                ..
            }
        ));
        let redelivered = action(&a, "e1", false, Some(&applied("e1")), never);
        assert!(matches!(
            redelivered,
            Action::Repost {
                posted_by_this_event: true,
                ..
            }
        ));
        // An API sync re-applies the same revision.
        assert_eq!(
            action(&a, "e1", true, Some(&applied("e0")), never),
            Action::Deploy
        );
        // Never backwards; forwards deploys.
        assert_eq!(
            action(&b, "e1", false, Some(&applied("e0")), |r| r == a),
            Action::Superseded { applied: a.clone() }
        );
        assert_eq!(
            action(&b, "e1", false, Some(&applied("e0")), |_| false),
            Action::Deploy
        );
        // A record of failed attempts only is no applied revision.
        let failed = EnvState::default();
        assert_eq!(
            action(&b, "e1", false, Some(&failed), |_| true),
            Action::Deploy
        );
    }

    #[test]
    fn the_contract_example_parses() {
        let envs = parse(
            br#"
apps:
  - name: payments
    environments:
      - name: dev
        branch: main                       # pushes to this branch deploy here
        path: apps/payments/overlays/dev   # kustomization.yaml, or a folder of YAML files
        namespace: payments-dev            # default namespace for namespaced objects
        cluster: default                   # a cluster name from the reconciler config
        prune: true
        healthTimeout: 5m
        allowEmpty: false
        helm: {releaseName: payments, valuesFiles: [values-dev.yaml]}
        interval: 5m
        selfHeal: true
"#,
        )
        .expect("parses");
        assert_eq!(envs.len(), 1);
        assert_eq!(envs[0].path, "apps/payments/overlays/dev");
        assert_eq!(envs[0].health_timeout, Duration::from_secs(300));
        assert_eq!(envs[0].cluster_line, 9);
        assert_eq!(envs[0].context(), "gantry/payments/dev");
        assert_eq!(envs[0].interval, Some(Duration::from_secs(300)));
        assert!(envs[0].self_heal);
        let e = parse(b"apps:\n  - name: a\n    environments:\n      - name: dev\n        branch: main\n        path: x\n        interval: 1s\n")
            .expect_err("too short");
        assert_eq!(e.line, 7, "{e}");
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse(b"apps:\n  - name: a\n    environments:\n      - name: dev\n        branch: main\n        path: x\n        prnue: true\n")
            .expect_err("typo");
        assert_eq!(e.line, 7, "{e}");
        assert!(e.message.contains("prnue"), "{e}");
        let e = parse(b"apps: [").expect_err("syntax");
        assert!(e.to_string().starts_with(".gantry.yaml:"), "{e}");
        let e = parse(b"apps:\n  - name: a\n    environments:\n      - name: dev\n        branch: main\n        path: x\n        healthTimeout: soon\n")
            .expect_err("duration");
        assert_eq!(e.line, 7);
        let e = parse(b"apps:\n  - name: a b\n").expect_err("name");
        assert_eq!(e.line, 2);
        let e = parse(
            b"apps:\n  - name: a\n    environments:\n      - {name: d, branch: m, path: ../x}\n",
        )
        .expect_err("escape");
        assert_eq!(e.line, 4);
    }

    #[test]
    fn helm_settings_are_checked() {
        let env = |helm: &str| {
            parse(
                format!(
                    "apps:\n  - name: a\n    environments:\n      - name: dev\n        branch: main\n        path: charts/a\n        helm:\n{helm}"
                )
                .as_bytes(),
            )
        };
        let e = env("          valuesFiles: [../../envs/dev.yaml]\n          values: {replicaCount: 3, image: {tag: \"1.2\"}}\n")
            .expect("parses");
        let h = e[0].helm.as_ref().expect("helm");
        assert_eq!(h.engine, HelmEngine::Native);
        assert_eq!(h.release_name, "a");
        assert_eq!(h.values_files, ["../../envs/dev.yaml"]);
        assert_eq!(
            h.values,
            Some(serde_json::json!({"replicaCount": 3, "image": {"tag": "1.2"}}))
        );
        let e = env("          engine: external\n").expect("parses");
        assert_eq!(
            e[0].helm.as_ref().map(|h| h.engine),
            Some(HelmEngine::External)
        );
        // Unknown keys, engines and escaping values files are errors with their line.
        let e = env("          engin: external\n").expect_err("typo");
        assert_eq!(e.line, 8, "{e}");
        assert!(e.message.contains("engin"), "{e}");
        let e = env("          engine: helm3\n").expect_err("engine");
        assert_eq!(e.line, 8, "{e}");
        assert!(e.message.contains("helm3"), "{e}");
        let e =
            env("          valuesFiles:\n            - ../../../etc/passwd\n").expect_err("escape");
        assert_eq!(e.line, 9, "{e}");
        let e = env("          valuesFiles: [/etc/passwd]\n").expect_err("absolute");
        assert_eq!(e.line, 8, "{e}");
        let e = env("          values: [1]\n").expect_err("list");
        assert!(e.message.contains("mapping"), "{e}");
    }

    #[test]
    fn touches_paths_and_inputs() {
        let changed: BTreeSet<String> = ["apps/a/x.yaml".to_owned()].into();
        assert!(touches(&changed, "apps/a", &[]));
        assert!(!touches(&changed, "apps/ab", &[]));
        assert!(!touches(&changed, "apps/b", &["bases/c.yaml".to_owned()]));
        assert!(touches(&changed, "apps/b", &["apps/a/x.yaml".to_owned()]));
    }
}
