//! Deciding what to deploy: `.gantry.yaml` at the commit (contract section 4), the environments
//! whose branch is the event's, and of those the ones whose inputs changed since what was last
//! applied (the environment's path, every file its render read, and its own entry in
//! `.gantry.yaml`).

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use sha2::{Digest, Sha256};

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

#[cfg(test)]
mod tests {
    use super::*;

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
