//! `helm template`'s output: CRDs from `crds/` first, then the rendered manifests split into
//! documents and sorted by kind in Helm's install order, then hooks (tests left out), each
//! document under a `# Source:` comment.

use std::collections::BTreeMap;

use crate::HelmError;
use crate::chart::{Chart, fields, name_matches, scalar_string, set_string};
use crate::yaml::{YVal, YamlLimits, parse_documents};

const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

const HOOK_EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];

/// One document of the output.
#[derive(Debug, Clone)]
pub struct Doc {
    /// The template path (`# Source:`).
    pub source: String,
    /// The document's text.
    pub content: String,
    /// Its kind.
    pub kind: String,
}

/// Helm's `SplitManifests`: documents separated by lines starting with `---`.
pub fn split_manifests(big: &str) -> Vec<String> {
    let trimmed = big.trim_start();
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut at_line_start = true;
    let mut i = 0;
    let b = trimmed.as_bytes();
    while i < b.len() {
        if at_line_start && trimmed[i..].starts_with("---") {
            docs.push(std::mem::take(&mut cur));
            i += 3;
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            at_line_start = false;
            continue;
        }
        let c = trimmed[i..].chars().next().unwrap_or('\n');
        cur.push(c);
        at_line_start = c == '\n';
        i += c.len_utf8();
    }
    docs.push(cur);
    docs.into_iter()
        .filter(|d| !d.trim().is_empty())
        .map(|d| d.trim_start().to_owned())
        .collect()
}

struct Head {
    kind: String,
    annotations: Option<BTreeMap<String, String>>,
}

fn head(doc: &str, path: &str) -> Result<Head, HelmError> {
    let err = |m: String| HelmError::Template(format!("YAML parse error on {path}: {m}"));
    let docs = parse_documents(doc, YamlLimits::default())
        .map_err(|e| err(format!("error converting YAML to JSON: {}", e.msg)))?;
    let y = docs.into_iter().next().unwrap_or(YVal::Null);
    let fs = fields(&y, "util.SimpleHead")
        .map_err(|e| err(format!("error unmarshaling JSON: while decoding JSON: {e}")))?;
    let mut h = Head {
        kind: String::new(),
        annotations: None,
    };
    for (k, v) in fs {
        if name_matches(&k, "kind") {
            set_string(&mut h.kind, &v, "SimpleHead", "kind")
                .map_err(|e| err(format!("error unmarshaling JSON: while decoding JSON: {e}")))?;
        } else if name_matches(&k, "metadata") {
            let mfs = fields(&v, "struct { Name string \"json:\\\"name\\\"\"; Annotations map[string]string \"json:\\\"annotations\\\"\" }")
                .map_err(|e| err(format!("error unmarshaling JSON: while decoding JSON: {e}")))?;
            for (mk, mv) in mfs {
                if name_matches(&mk, "annotations") {
                    h.annotations = match &mv {
                        YVal::Null => None,
                        YVal::Map(entries) => {
                            let mut out = BTreeMap::new();
                            for (ak, av) in entries {
                                let ak = crate::yaml::key_string(ak).map_err(err)?;
                                let av = match av {
                                    YVal::Null => String::new(),
                                    other => scalar_string(other).ok_or_else(|| {
                                        err(format!(
                                            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go struct field .metadata.annotations of type string",
                                            crate::yaml::json_kind(other)
                                        ))
                                    })?,
                                };
                                out.insert(ak, av);
                            }
                            Some(out)
                        }
                        other => {
                            return Err(err(format!(
                                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go struct field .metadata.annotations of type map[string]string",
                                crate::yaml::json_kind(other)
                            )));
                        }
                    };
                }
            }
        }
    }
    Ok(h)
}

fn kind_rank(k: &str) -> Option<usize> {
    INSTALL_ORDER.iter().position(|x| *x == k)
}

fn sort_by_kind(docs: &mut [Doc]) {
    docs.sort_by(|a, b| {
        use std::cmp::Ordering;
        match (kind_rank(&a.kind), kind_rank(&b.kind)) {
            (None, None) => a.kind.cmp(&b.kind),
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => x.cmp(&y),
        }
    });
}

/// The manifests and hooks (test hooks dropped) of rendered templates, sorted as Helm sorts
/// them.
pub fn sort_manifests(
    templates: &BTreeMap<String, String>,
) -> Result<(Vec<Doc>, Vec<Doc>), HelmError> {
    let mut manifests = Vec::new();
    let mut hooks = Vec::new();
    for (path, content) in templates {
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.starts_with('_') || path.ends_with("NOTES.txt") || content.trim().is_empty() {
            continue;
        }
        for doc in split_manifests(content) {
            let h = head(&doc, path)?;
            let hook = h
                .annotations
                .as_ref()
                .and_then(|a| a.get("helm.sh/hook").cloned());
            let Some(hook_types) = hook else {
                manifests.push(Doc {
                    source: path.clone(),
                    content: doc,
                    kind: h.kind,
                });
                continue;
            };
            let events: Vec<String> = hook_types
                .split(',')
                .map(|e| e.trim().to_lowercase())
                .collect();
            if events.iter().any(|e| !HOOK_EVENTS.contains(&e.as_str())) {
                // Helm skips a document with an unknown hook.
                continue;
            }
            if events.iter().any(|e| e == "test" || e == "test-success") {
                continue;
            }
            hooks.push(Doc {
                source: path.clone(),
                content: doc,
                kind: h.kind,
            });
        }
    }
    sort_by_kind(&mut manifests);
    sort_by_kind(&mut hooks);
    Ok((manifests, hooks))
}

/// The release manifest Helm's install builds (`rel.Manifest`, without CRDs or hooks).
pub fn release_manifest(templates: &BTreeMap<String, String>) -> Result<String, HelmError> {
    let (manifests, _) = sort_manifests(templates)?;
    let mut out = String::new();
    for m in &manifests {
        out.push_str(&format!("---\n# Source: {}\n{}\n", m.source, m.content));
    }
    Ok(out)
}

/// `helm template --include-crds --skip-tests` output.
pub fn template_stream(
    chart: &Chart,
    templates: &BTreeMap<String, String>,
) -> Result<String, HelmError> {
    let (manifests, hooks) = sort_manifests(templates)?;
    let mut manifest = String::new();
    for (name, data) in chart.crd_objects(&chart.metadata.name) {
        let text = String::from_utf8(data.to_vec()).map_err(|_| {
            HelmError::Unsupported(format!(
                "{name} is not valid UTF-8 (not supported by Gantry)"
            ))
        })?;
        manifest.push_str(&format!("---\n# Source: {name}\n{text}\n"));
    }
    for m in &manifests {
        manifest.push_str(&format!("---\n# Source: {}\n{}\n", m.source, m.content));
    }
    let mut out = format!("{}\n", manifest.trim());
    for h in &hooks {
        out.push_str(&format!("---\n# Source: {}\n{}\n", h.source, h.content));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_helm() {
        assert_eq!(
            split_manifests("\n\na: 1\n---\nb: 2\n--- \n---x: 3\n"),
            vec!["a: 1\n", "b: 2\n", "x: 3\n"]
        );
        assert_eq!(split_manifests("a: 1\n  ---\n"), vec!["a: 1\n  ---\n"]);
    }
}
