//! Resources as kustomize tracks them: the object plus its identity history (previous names,
//! namespaces and kinds) and generator options, and the ordered, id-checked list of them.

use serde_json::{Map, Value};

/// Group, version and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    pub fn from_api_version(api_version: &str, kind: &str) -> Self {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), api_version.to_owned()),
        };
        Gvk {
            group,
            version,
            kind: kind.to_owned(),
        }
    }

    /// `selector`'s empty fields match anything.
    pub fn is_selected_by(&self, selector: &Gvk) -> bool {
        (selector.group.is_empty() || selector.group == self.group)
            && (selector.version.is_empty() || selector.version == self.version)
            && (selector.kind.is_empty() || selector.kind == self.kind)
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn is_cluster_scoped(&self) -> bool {
        is_cluster_scoped(&self.group, &self.kind)
    }
}

impl std::fmt::Display for Gvk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = if self.group.is_empty() {
            "[noGrp]"
        } else {
            &self.group
        };
        let v = if self.version.is_empty() {
            "[noVer]"
        } else {
            &self.version
        };
        let k = if self.kind.is_empty() {
            "[noKind]"
        } else {
            &self.kind
        };
        write!(f, "{k}.{v}.{g}")
    }
}

/// Built-in kinds that have no namespace (kyaml's OpenAPI data, by group and kind).
pub fn is_cluster_scoped(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        (
            "",
            "Namespace" | "Node" | "PersistentVolume" | "ComponentStatus"
        ) | (
            "rbac.authorization.k8s.io",
            "ClusterRole" | "ClusterRoleBinding"
        ) | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | (
                "storage.k8s.io",
                "StorageClass" | "CSIDriver" | "CSINode" | "VolumeAttachment"
            )
            | ("scheduling.k8s.io", "PriorityClass")
            | ("apiregistration.k8s.io", "APIService")
            | (
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration"
                    | "ValidatingWebhookConfiguration"
                    | "ValidatingAdmissionPolicy"
                    | "ValidatingAdmissionPolicyBinding"
                    | "MutatingAdmissionPolicy"
                    | "MutatingAdmissionPolicyBinding"
            )
            | (
                "networking.k8s.io",
                "IngressClass" | "IPAddress" | "ServiceCIDR"
            )
            | ("node.k8s.io", "RuntimeClass")
            | ("policy", "PodSecurityPolicy")
            | (
                "certificates.k8s.io",
                "CertificateSigningRequest" | "ClusterTrustBundle"
            )
            | (
                "flowcontrol.apiserver.k8s.io",
                "FlowSchema" | "PriorityLevelConfiguration"
            )
            | ("extensions", "PodSecurityPolicy")
    )
}

/// A resource id: GVK, name and namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ResId {
    pub gvk: Gvk,
    pub name: String,
    pub namespace: String,
}

impl ResId {
    /// Namespaces `""` and `"default"` are the same.
    pub fn ns_equals(&self, o: &ResId) -> bool {
        effective_ns(&self.namespace) == effective_ns(&o.namespace)
    }

    pub fn equals(&self, o: &ResId) -> bool {
        self.ns_equals(o) && self.gvk == o.gvk && self.name == o.name
    }

    pub fn gvkn_equals(&self, o: &ResId) -> bool {
        self.gvk == o.gvk && self.name == o.name
    }

    pub fn is_cluster_scoped(&self) -> bool {
        self.gvk.is_cluster_scoped()
    }

    /// kustomize's `EffectiveNamespace`, used by patch target selection.
    pub fn effective_namespace(&self) -> String {
        if self.is_cluster_scoped() {
            "~X".to_owned()
        } else if self.namespace.is_empty() {
            "default".to_owned()
        } else {
            self.namespace.clone()
        }
    }
}

fn effective_ns(ns: &str) -> &str {
    if ns.is_empty() { "default" } else { ns }
}

impl std::fmt::Display for ResId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ns = if self.namespace.is_empty() {
            "[noNs]"
        } else {
            &self.namespace
        };
        let nm = if self.name.is_empty() {
            "[noName]"
        } else {
            &self.name
        };
        write!(f, "{}/{}.{}", self.gvk, nm, ns)
    }
}

/// Generator behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behavior {
    #[default]
    Create,
    Merge,
    Replace,
}

/// A resource and the state kustomize keeps in build annotations.
#[derive(Debug, Clone)]
pub struct Resource {
    pub obj: Value,
    /// Where it came from, for errors: file and line.
    pub origin: String,
    /// Every id it had before its current one, oldest first.
    pub prev_ids: Vec<ResId>,
    pub needs_hash: bool,
    pub behavior: Behavior,
    /// Whether kustomize would have written build annotations on it (they are removed at the
    /// end, which also drops an empty annotations map).
    pub touched_annotations: bool,
    /// Name prefixes and suffixes applied, oldest first (kustomize's `prefixes`/`suffixes`).
    pub prefixes: Vec<String>,
    pub suffixes: Vec<String>,
    /// `config.kubernetes.io/origin`, tracked when `buildMetadata` is set.
    pub build_origin: Option<super::buildmeta::Origin>,
    /// `alpha.config.kubernetes.io/transformations`, oldest first.
    pub transformations: Vec<super::buildmeta::Origin>,
    /// The vars bound to this resource (kustomize's `refVarNames`).
    pub ref_vars: Vec<String>,
}

impl Resource {
    pub fn new(obj: Value, origin: String) -> Self {
        Resource {
            obj,
            origin,
            prev_ids: Vec::new(),
            needs_hash: false,
            behavior: Behavior::Create,
            touched_annotations: false,
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            build_origin: None,
            transformations: Vec::new(),
            ref_vars: Vec::new(),
        }
    }

    pub fn str_at(&self, path: &[&str]) -> String {
        let mut v = &self.obj;
        for p in path {
            match v.get(p) {
                Some(x) => v = x,
                None => return String::new(),
            }
        }
        match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    /// The current name, without allocating.
    pub fn name_ref(&self) -> &str {
        self.obj
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// Whether any of its ids (current or previous) has this name.
    pub fn has_name(&self, name: &str) -> bool {
        self.name_ref() == name || self.prev_ids.iter().any(|p| p.name == name)
    }

    pub fn kind(&self) -> String {
        self.str_at(&["kind"])
    }
    pub fn name(&self) -> String {
        self.str_at(&["metadata", "name"])
    }
    pub fn namespace(&self) -> String {
        self.str_at(&["metadata", "namespace"])
    }

    pub fn gvk(&self) -> Gvk {
        Gvk::from_api_version(&self.str_at(&["apiVersion"]), &self.kind())
    }

    pub fn cur_id(&self) -> ResId {
        ResId {
            gvk: self.gvk(),
            name: self.name(),
            namespace: self.namespace(),
        }
    }

    /// The first id it ever had.
    pub fn org_id(&self) -> ResId {
        self.prev_ids
            .first()
            .cloned()
            .unwrap_or_else(|| self.cur_id())
    }

    /// Previous ids then the current one.
    pub fn all_ids(&self) -> Vec<ResId> {
        let mut ids = self.prev_ids.clone();
        ids.push(self.cur_id());
        ids
    }

    pub fn store_previous_id(&mut self) {
        let id = self.cur_id();
        self.prev_ids.push(id);
        self.touched_annotations = true;
    }

    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let obj = self.obj.as_object_mut().expect("resources are objects");
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            *meta = Value::Object(Map::new());
        }
        meta.as_object_mut().expect("just made an object")
    }

    pub fn set_name(&mut self, name: &str) {
        self.metadata_mut()
            .insert("name".into(), Value::String(name.into()));
    }

    pub fn set_namespace(&mut self, ns: &str) {
        if ns.is_empty() {
            if let Some(m) = self.obj.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("namespace");
            }
        } else {
            self.metadata_mut()
                .insert("namespace".into(), Value::String(ns.into()));
        }
    }

    pub fn set_kind(&mut self, kind: &str) {
        if let Some(o) = self.obj.as_object_mut() {
            o.insert("kind".into(), Value::String(kind.into()));
        }
    }

    pub fn string_map(&self, field: &str) -> Vec<(String, String)> {
        match self.obj.get("metadata").and_then(|m| m.get(field)) {
            Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), scalar_text(v))).collect(),
            _ => Vec::new(),
        }
    }

    pub fn labels(&self) -> Vec<(String, String)> {
        self.string_map("labels")
    }
    pub fn annotations(&self) -> Vec<(String, String)> {
        self.string_map("annotations")
    }

    pub fn is_empty_object(&self) -> bool {
        match &self.obj {
            Value::Object(m) => m.is_empty(),
            Value::Null => true,
            _ => false,
        }
    }
}

/// The text kyaml reads from a scalar node (`""` for collections).
pub fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}
