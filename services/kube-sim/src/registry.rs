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
    /// A review (access, token, self-subject): only `create`, answered and never stored.
    pub create_only: bool,
    /// A CRD's `additionalPrinterColumns` per served version (what `kubectl get` prints).
    pub printer_columns: Vec<(String, Vec<Value>)>,
    /// A CRD's `openAPIV3Schema` per served version (what `kubectl explain` reads).
    pub schemas: Vec<(String, Value)>,
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

/// How a built-in resource is served; built with [`res`] and the modifiers below.
#[derive(Debug, Clone, Copy)]
struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: bool,
    generation: bool,
    create_only: bool,
}

const fn res(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> Builtin {
    Builtin {
        group,
        version,
        kind,
        plural,
        namespaced,
        short: &[],
        categories: &[],
        status: false,
        scale: false,
        generation: false,
        create_only: false,
    }
}

impl Builtin {
    const fn short(self, short: &'static [&'static str]) -> Self {
        Builtin { short, ..self }
    }
    /// In `kubectl get all` (the `all` category), exactly where Kubernetes puts it.
    const fn all(self) -> Self {
        Builtin {
            categories: &["all"],
            ..self
        }
    }
    /// The `api-extensions` category Kubernetes gives the kinds that extend the API.
    const fn ext(self) -> Self {
        Builtin {
            categories: &["api-extensions"],
            ..self
        }
    }
    const fn status(self) -> Self {
        Builtin {
            status: true,
            ..self
        }
    }
    const fn scale(self) -> Self {
        Builtin {
            scale: true,
            ..self
        }
    }
    /// The server maintains `metadata.generation`.
    const fn generation(self) -> Self {
        Builtin {
            generation: true,
            ..self
        }
    }
    /// Reviews: `create` is the only verb, and nothing is stored.
    const fn create_only(self) -> Self {
        Builtin {
            create_only: true,
            ..self
        }
    }
}

const NS: bool = true;
const CLUSTER: bool = false;

/// The built-in resources of a Kubernetes 1.35 API server that the emulator serves, in the real
/// discovery order: the core group, then the groups by their API server priority, and the
/// resources of a group alphabetically (as `kubectl api-resources` and `kubectl get all` list them).
const BUILTINS: &[Builtin] = &[
    res("", "v1", "ConfigMap", "configmaps", NS).short(&["cm"]),
    res("", "v1", "Endpoints", "endpoints", NS).short(&["ep"]),
    res("", "v1", "Event", "events", NS).short(&["ev"]),
    res("", "v1", "LimitRange", "limitranges", NS).short(&["limits"]),
    res("", "v1", "Namespace", "namespaces", CLUSTER)
        .short(&["ns"])
        .status(),
    res("", "v1", "Node", "nodes", CLUSTER)
        .short(&["no"])
        .status(),
    res(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        NS,
    )
    .short(&["pvc"])
    .status(),
    res("", "v1", "PersistentVolume", "persistentvolumes", CLUSTER)
        .short(&["pv"])
        .status(),
    res("", "v1", "Pod", "pods", NS)
        .short(&["po"])
        .all()
        .status()
        .generation(),
    res("", "v1", "PodTemplate", "podtemplates", NS),
    res(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        NS,
    )
    .short(&["rc"])
    .all()
    .status()
    .scale()
    .generation(),
    res("", "v1", "ResourceQuota", "resourcequotas", NS)
        .short(&["quota"])
        .status(),
    res("", "v1", "Secret", "secrets", NS),
    res("", "v1", "ServiceAccount", "serviceaccounts", NS).short(&["sa"]),
    res("", "v1", "Service", "services", NS)
        .short(&["svc"])
        .all()
        .status(),
    res(
        "apiregistration.k8s.io",
        "v1",
        "APIService",
        "apiservices",
        CLUSTER,
    )
    .ext()
    .status(),
    res(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        NS,
    ),
    res("apps", "v1", "DaemonSet", "daemonsets", NS)
        .short(&["ds"])
        .all()
        .status()
        .generation(),
    res("apps", "v1", "Deployment", "deployments", NS)
        .short(&["deploy"])
        .all()
        .status()
        .scale()
        .generation(),
    res("apps", "v1", "ReplicaSet", "replicasets", NS)
        .short(&["rs"])
        .all()
        .status()
        .scale()
        .generation(),
    res("apps", "v1", "StatefulSet", "statefulsets", NS)
        .short(&["sts"])
        .all()
        .status()
        .scale()
        .generation(),
    res(
        "authentication.k8s.io",
        "v1",
        "SelfSubjectReview",
        "selfsubjectreviews",
        CLUSTER,
    )
    .create_only(),
    res(
        "authentication.k8s.io",
        "v1",
        "TokenReview",
        "tokenreviews",
        CLUSTER,
    )
    .create_only(),
    res(
        "authorization.k8s.io",
        "v1",
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
        NS,
    )
    .create_only(),
    res(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        CLUSTER,
    )
    .create_only(),
    res(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        CLUSTER,
    )
    .create_only(),
    res(
        "authorization.k8s.io",
        "v1",
        "SubjectAccessReview",
        "subjectaccessreviews",
        CLUSTER,
    )
    .create_only(),
    res(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        NS,
    )
    .short(&["hpa"])
    .all()
    .status()
    .generation(),
    res("batch", "v1", "CronJob", "cronjobs", NS)
        .short(&["cj"])
        .all()
        .status()
        .generation(),
    res("batch", "v1", "Job", "jobs", NS)
        .all()
        .status()
        .generation(),
    res(
        "certificates.k8s.io",
        "v1",
        "CertificateSigningRequest",
        "certificatesigningrequests",
        CLUSTER,
    )
    .short(&["csr"])
    .status(),
    res(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        CLUSTER,
    )
    .generation(),
    res("networking.k8s.io", "v1", "Ingress", "ingresses", NS)
        .short(&["ing"])
        .status()
        .generation(),
    res(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        NS,
    )
    .short(&["netpol"])
    .generation(),
    res(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        NS,
    )
    .short(&["pdb"])
    .status()
    .generation(),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        CLUSTER,
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        CLUSTER,
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        NS,
    ),
    res("rbac.authorization.k8s.io", "v1", "Role", "roles", NS),
    res("storage.k8s.io", "v1", "CSIDriver", "csidrivers", CLUSTER),
    res("storage.k8s.io", "v1", "CSINode", "csinodes", CLUSTER),
    res(
        "storage.k8s.io",
        "v1",
        "CSIStorageCapacity",
        "csistoragecapacities",
        NS,
    ),
    res(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        CLUSTER,
    )
    .short(&["sc"]),
    res(
        "storage.k8s.io",
        "v1",
        "VolumeAttachment",
        "volumeattachments",
        CLUSTER,
    )
    .status(),
    res(
        "storage.k8s.io",
        "v1",
        "VolumeAttributesClass",
        "volumeattributesclasses",
        CLUSTER,
    )
    .short(&["vac"]),
    res(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        CLUSTER,
    )
    .ext()
    .generation(),
    res(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        CLUSTER,
    )
    .ext()
    .status()
    .generation(),
    res(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        CLUSTER,
    )
    .ext()
    .generation(),
    res(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        CLUSTER,
    )
    .ext()
    .generation(),
    res(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        CLUSTER,
    )
    .short(&["crd", "crds"])
    .ext()
    .status()
    .generation(),
    res(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        CLUSTER,
    )
    .short(&["pc"]),
    res("coordination.k8s.io", "v1", "Lease", "leases", NS),
    res(
        "node.k8s.io",
        "v1",
        "RuntimeClass",
        "runtimeclasses",
        CLUSTER,
    ),
    res(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        NS,
    )
    .generation(),
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
            .map(|b| ResourceType {
                group: b.group.into(),
                versions: vec![b.version.into()],
                kind: b.kind.into(),
                plural: b.plural.into(),
                singular: b.kind.to_ascii_lowercase(),
                namespaced: b.namespaced,
                short_names: b.short.iter().map(|s| s.to_string()).collect(),
                categories: b.categories.iter().map(|s| s.to_string()).collect(),
                status: b.status,
                scale: b.scale,
                generation: b.generation,
                builtin: true,
                create_only: b.create_only,
                printer_columns: Vec::new(),
                schemas: Vec::new(),
            })
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
    let mut printer_columns = Vec::new();
    let mut schemas = Vec::new();
    let mut status = false;
    let mut scale = false;
    // The storage version is preferred, as the real discovery orders it by priority.
    let mut vs: Vec<&Value> = spec.get("versions")?.as_array()?.iter().collect();
    vs.sort_by_key(|v| v.get("storage").and_then(Value::as_bool) != Some(true));
    for v in vs {
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let name = v.get("name")?.as_str()?.to_string();
        if let Some(cols) = v.get("additionalPrinterColumns").and_then(Value::as_array) {
            printer_columns.push((name.clone(), cols.clone()));
        }
        if let Some(schema) = v.pointer("/schema/openAPIV3Schema") {
            schemas.push((name.clone(), schema.clone()));
        }
        versions.push(name);
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
        create_only: false,
        printer_columns,
        schemas,
    })
}
