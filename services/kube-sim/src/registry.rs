//! The kinds the emulator serves: the built-in ones and those that CustomResourceDefinitions add.

use serde_json::Value;

use crate::status::Target;

/// One served resource (a plural name in a group), with the versions it is served at.
#[derive(Debug, Clone)]
pub(crate) struct ResourceType {
    pub group: String,
    /// Served versions, the preferred one first.
    pub versions: Vec<String>,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Has a `/status` subresource: the main resource ignores status and the other way round.
    pub status: bool,
    pub scale: bool,
    /// The server maintains `metadata.generation`.
    pub generation: bool,
    /// Built into the API server (as opposed to served from a CRD).
    pub builtin: bool,
}

impl ResourceType {
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    pub fn target(&self) -> Target<'_> {
        Target {
            group: &self.group,
            resource: &self.plural,
        }
    }

    pub fn key(&self) -> (String, String) {
        (self.group.clone(), self.plural.clone())
    }
}

type Builtin = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    bool,
    bool,
    bool,
);

/// (group, version, kind, plural, namespaced, short names, status subresource, scale, generation)
const BUILTINS: &[Builtin] = &[
    (
        "",
        "v1",
        "Namespace",
        "namespaces",
        false,
        &["ns"],
        true,
        false,
        false,
    ),
    (
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        true,
        &["cm"],
        false,
        false,
        false,
    ),
    (
        "",
        "v1",
        "Secret",
        "secrets",
        true,
        &[],
        false,
        false,
        false,
    ),
    (
        "",
        "v1",
        "Service",
        "services",
        true,
        &["svc"],
        true,
        false,
        false,
    ),
    (
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        true,
        &["sa"],
        false,
        false,
        false,
    ),
    ("", "v1", "Pod", "pods", true, &["po"], true, false, true),
    (
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        &["pvc"],
        true,
        false,
        false,
    ),
    (
        "",
        "v1",
        "Node",
        "nodes",
        false,
        &["no"],
        true,
        false,
        false,
    ),
    (
        "",
        "v1",
        "Event",
        "events",
        true,
        &["ev"],
        false,
        false,
        false,
    ),
    (
        "apps",
        "v1",
        "Deployment",
        "deployments",
        true,
        &["deploy"],
        true,
        true,
        true,
    ),
    (
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        true,
        &["rs"],
        true,
        true,
        true,
    ),
    (
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        true,
        &["sts"],
        true,
        true,
        true,
    ),
    (
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        true,
        &["ds"],
        true,
        false,
        true,
    ),
    ("batch", "v1", "Job", "jobs", true, &[], true, false, true),
    (
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        true,
        &["cj"],
        true,
        false,
        true,
    ),
    (
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        true,
        &["ing"],
        true,
        false,
        true,
    ),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
        &["netpol"],
        false,
        false,
        true,
    ),
    (
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
        &["hpa"],
        true,
        false,
        true,
    ),
    (
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
        &["pdb"],
        true,
        false,
        true,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        true,
        &[],
        false,
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
        &[],
        false,
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
        &[],
        false,
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        &[],
        false,
        false,
        false,
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        &["crd", "crds"],
        true,
        false,
        true,
    ),
];

/// Kinds that `kubectl get all` lists.
const IN_CATEGORY_ALL: &[&str] = &[
    "pods",
    "services",
    "deployments",
    "replicasets",
    "statefulsets",
    "daemonsets",
    "jobs",
    "cronjobs",
    "horizontalpodautoscalers",
];

/// Every served resource. Built-ins come first, in a stable order; CRDs after them.
#[derive(Debug, Clone)]
pub(crate) struct Registry {
    types: Vec<ResourceType>,
    builtin_count: usize,
}

impl Registry {
    pub fn new() -> Self {
        let types: Vec<ResourceType> = BUILTINS
            .iter()
            .map(
                |&(group, version, kind, plural, namespaced, short, status, scale, generation)| {
                    ResourceType {
                        group: group.into(),
                        versions: vec![version.into()],
                        kind: kind.into(),
                        plural: plural.into(),
                        singular: kind.to_ascii_lowercase(),
                        namespaced,
                        short_names: short.iter().map(|s| s.to_string()).collect(),
                        categories: if IN_CATEGORY_ALL.contains(&plural) {
                            vec!["all".into()]
                        } else {
                            vec![]
                        },
                        status,
                        scale,
                        generation,
                        builtin: true,
                    }
                },
            )
            .collect();
        let builtin_count = types.len();
        Registry {
            types,
            builtin_count,
        }
    }

    /// The resource served at `group/version` under `plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| {
            t.group == group && t.plural == plural && t.versions.iter().any(|v| v == version)
        })
    }

    pub fn by_kind(&self, group: &str, kind: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.kind == kind)
    }

    pub fn all(&self) -> &[ResourceType] {
        &self.types
    }

    /// Groups (other than the core group) with their versions, preferred version first.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in &self.types {
            if t.group.is_empty() {
                continue;
            }
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, vs)) => {
                    for v in &t.versions {
                        if !vs.contains(v) {
                            vs.push(v.clone());
                        }
                    }
                }
                None => out.push((t.group.clone(), t.versions.clone())),
            }
        }
        out
    }

    /// Resources served at one group version.
    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a ResourceType> {
        self.types
            .iter()
            .filter(move |t| t.group == group && t.versions.iter().any(|v| v == version))
    }

    /// Replaces the CRD-served types with those the given CRD objects define.
    pub fn set_crds<'a>(&mut self, crds: impl Iterator<Item = &'a Value>) {
        self.types.truncate(self.builtin_count);
        for crd in crds {
            if crd.pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            if let Some(t) = from_crd(crd) {
                if self.find_key_conflict(&t) {
                    continue;
                }
                self.types.push(t);
            }
        }
    }

    fn find_key_conflict(&self, t: &ResourceType) -> bool {
        self.types
            .iter()
            .any(|o| o.group == t.group && o.plural == t.plural)
    }
}

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The resource a CRD object defines, if it is well formed.
pub(crate) fn from_crd(crd: &Value) -> Option<ResourceType> {
    let spec = crd.get("spec")?;
    let group = spec.get("group")?.as_str()?.to_string();
    let names = spec.get("names")?;
    let kind = names.get("kind")?.as_str()?.to_string();
    let plural = names.get("plural")?.as_str()?.to_string();
    let singular = names
        .get("singular")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| kind.to_ascii_lowercase());
    let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
    let mut versions = Vec::new();
    let mut status = false;
    let mut scale = false;
    // The storage version is preferred, as the real discovery orders it by priority.
    let mut vs: Vec<&Value> = spec.get("versions")?.as_array()?.iter().collect();
    vs.sort_by_key(|v| v.get("storage").and_then(Value::as_bool) != Some(true));
    for v in vs {
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        versions.push(v.get("name")?.as_str()?.to_string());
        status |= v.pointer("/subresources/status").is_some();
        scale |= v.pointer("/subresources/scale").is_some();
    }
    if versions.is_empty() {
        return None;
    }
    Some(ResourceType {
        group,
        versions,
        kind,
        plural,
        singular,
        namespaced,
        short_names: strs(names.get("shortNames")),
        categories: strs(names.get("categories")),
        status,
        scale,
        generation: true,
        builtin: false,
    })
}
