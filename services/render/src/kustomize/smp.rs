//! Strategic merge patch, as kustomize applies it with kyaml's built-in schema: maps merge,
//! `null` deletes, lists with a patch merge key merge element by element (patch order first,
//! then the untouched originals), other lists are replaced; `$patch: delete|replace` honoured.

use serde_json::{Map, Value};

use super::resource::Gvk;

/// What the schema says about a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    /// No schema: every list is replaced.
    Unknown,
    /// Known type with no special lists.
    Plain,
    Root,
    Meta,
    Workload,
    CronJob,
    JobTemplate,
    PodTemplate,
    PodSpec,
    Container,
    ServiceSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKind {
    Replace,
    MergeScalars,
    MergeKey(&'static str, Ty),
}

fn known(gvk: &Gvk) -> bool {
    let gv = (gvk.group.as_str(), gvk.version.as_str());
    match gv {
        ("", "v1") => matches!(
            gvk.kind.as_str(),
            "Pod"
                | "PodTemplate"
                | "ReplicationController"
                | "Service"
                | "ConfigMap"
                | "Secret"
                | "ServiceAccount"
                | "Namespace"
                | "PersistentVolume"
                | "PersistentVolumeClaim"
                | "Endpoints"
                | "LimitRange"
                | "ResourceQuota"
                | "Node"
                | "Event"
                | "Binding"
                | "ComponentStatus"
        ),
        ("apps", "v1") => matches!(
            gvk.kind.as_str(),
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "ControllerRevision"
        ),
        ("batch", "v1") => matches!(gvk.kind.as_str(), "Job" | "CronJob"),
        ("batch", "v1beta1") => gvk.kind == "CronJob",
        ("extensions", "v1beta1") => gvk.kind == "Ingress",
        ("networking.k8s.io", "v1" | "v1beta1")
        | ("policy", "v1" | "v1beta1")
        | ("rbac.authorization.k8s.io", "v1" | "v1beta1")
        | ("autoscaling", "v1" | "v2" | "v2beta1" | "v2beta2")
        | ("storage.k8s.io", "v1" | "v1beta1")
        | ("scheduling.k8s.io", "v1")
        | ("admissionregistration.k8s.io", "v1")
        | ("apiextensions.k8s.io", "v1")
        | ("coordination.k8s.io", "v1")
        | ("discovery.k8s.io", "v1")
        | ("node.k8s.io", "v1")
        | ("certificates.k8s.io", "v1") => true,
        _ => false,
    }
}

fn child(ty: Ty, kind: &str, field: &str) -> (Ty, ListKind) {
    use ListKind::*;
    match (ty, field) {
        (Ty::Unknown, _) => (Ty::Unknown, Replace),
        (Ty::Root, "metadata") => (Ty::Meta, Replace),
        (Ty::Root, "spec") => match kind {
            "Deployment"
            | "ReplicaSet"
            | "DaemonSet"
            | "StatefulSet"
            | "Job"
            | "ReplicationController" => (Ty::Workload, Replace),
            "CronJob" => (Ty::CronJob, Replace),
            "Pod" => (Ty::PodSpec, Replace),
            "Service" => (Ty::ServiceSpec, Replace),
            _ => (Ty::Plain, Replace),
        },
        (Ty::Root, "template") if kind == "PodTemplate" => (Ty::PodTemplate, Replace),
        (Ty::Meta, "finalizers") => (Ty::Plain, MergeScalars),
        (Ty::Meta, "ownerReferences") => (Ty::Plain, MergeKey("uid", Ty::Plain)),
        (Ty::Workload, "template") => (Ty::PodTemplate, Replace),
        (Ty::CronJob, "jobTemplate") => (Ty::JobTemplate, Replace),
        (Ty::JobTemplate, "metadata") | (Ty::PodTemplate, "metadata") => (Ty::Meta, Replace),
        (Ty::JobTemplate, "spec") => (Ty::Workload, Replace),
        (Ty::PodTemplate, "spec") => (Ty::PodSpec, Replace),
        (Ty::PodSpec, "containers" | "initContainers" | "ephemeralContainers") => {
            (Ty::Plain, MergeKey("name", Ty::Container))
        }
        (Ty::PodSpec, "volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates") => {
            (Ty::Plain, MergeKey("name", Ty::Plain))
        }
        (Ty::PodSpec, "hostAliases") => (Ty::Plain, MergeKey("ip", Ty::Plain)),
        (Ty::PodSpec, "topologySpreadConstraints") => {
            (Ty::Plain, MergeKey("topologyKey", Ty::Plain))
        }
        (Ty::Container, "ports") => (Ty::Plain, MergeKey("containerPort", Ty::Plain)),
        (Ty::Container, "env") => (Ty::Plain, MergeKey("name", Ty::Plain)),
        (Ty::Container, "volumeMounts") => (Ty::Plain, MergeKey("mountPath", Ty::Plain)),
        (Ty::Container, "volumeDevices") => (Ty::Plain, MergeKey("devicePath", Ty::Plain)),
        (Ty::ServiceSpec, "ports") => (Ty::Plain, MergeKey("port", Ty::Plain)),
        _ => (Ty::Plain, Replace),
    }
}

/// Applies `patch` to `obj` (a whole resource of kind `gvk`). Returns `false` when the patch
/// deletes the resource.
pub fn apply(obj: &mut Value, patch: &Value, gvk: &Gvk) -> bool {
    let ty = if known(gvk) { Ty::Root } else { Ty::Unknown };
    let Value::Object(p) = patch else {
        return true;
    };
    if directive(p) == Some("delete") {
        *obj = Value::Object(Map::new());
        return false;
    }
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    if let Value::Object(dst) = obj {
        merge_map(dst, p, ty, &gvk.kind);
    }
    true
}

fn directive(m: &Map<String, Value>) -> Option<&str> {
    m.get("$patch").and_then(Value::as_str)
}

fn merge_map(dst: &mut Map<String, Value>, patch: &Map<String, Value>, ty: Ty, kind: &str) {
    if directive(patch) == Some("replace") {
        dst.clear();
        for (k, v) in patch {
            if k != "$patch" {
                dst.insert(k.clone(), v.clone());
            }
        }
        return;
    }
    for (k, pv) in patch {
        if k == "$patch" || k.starts_with("$setElementOrder/") || k == "$retainKeys" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(del)) = (dst.get_mut(field), pv) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        let (cty, list_kind) = child(ty, kind, k);
        if pv.is_null() {
            dst.remove(k);
            continue;
        }
        match (dst.get_mut(k), pv) {
            (Some(Value::Object(d)), Value::Object(p)) => {
                if directive(p) == Some("delete") {
                    dst.remove(k);
                } else {
                    merge_map(d, p, cty, kind);
                }
            }
            (Some(Value::Array(d)), Value::Array(p)) => {
                let merged = merge_list(d, p, list_kind);
                dst.insert(k.clone(), Value::Array(merged));
            }
            (_, Value::Object(p)) => {
                if directive(p) == Some("delete") {
                    dst.remove(k);
                    continue;
                }
                let mut fresh = Map::new();
                merge_map(&mut fresh, p, cty, kind);
                dst.insert(k.clone(), Value::Object(fresh));
            }
            (_, Value::Array(p)) => {
                let merged = merge_list(&[], p, list_kind);
                dst.insert(k.clone(), Value::Array(merged));
            }
            (_, v) => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

fn merge_list(dst: &[Value], patch: &[Value], kind: ListKind) -> Vec<Value> {
    match kind {
        ListKind::Replace => patch.to_vec(),
        ListKind::MergeScalars => {
            let mut out: Vec<Value> = Vec::new();
            for p in patch {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
            for d in dst {
                if !out.contains(d) {
                    out.push(d.clone());
                }
            }
            out
        }
        ListKind::MergeKey(key, elem_ty) => {
            if patch
                .iter()
                .any(|p| p.as_object().and_then(directive) == Some("replace"))
            {
                return patch
                    .iter()
                    .filter(|p| p.as_object().and_then(directive) != Some("replace"))
                    .cloned()
                    .collect();
            }
            let mut used = vec![false; dst.len()];
            let mut out = Vec::new();
            for p in patch {
                let Some(pm) = p.as_object() else {
                    out.push(p.clone());
                    continue;
                };
                let pk = pm.get(key);
                let found = pk.and_then(|pk| {
                    dst.iter()
                        .enumerate()
                        .find(|(i, d)| !used[*i] && d.get(key) == Some(pk))
                        .map(|(i, _)| i)
                });
                if directive(pm) == Some("delete") {
                    if let Some(i) = found {
                        used[i] = true;
                    }
                    continue;
                }
                match found {
                    Some(i) => {
                        used[i] = true;
                        let mut d = dst[i].as_object().cloned().unwrap_or_default();
                        merge_map(&mut d, pm, elem_ty, "");
                        out.push(Value::Object(d));
                    }
                    None => {
                        let mut fresh = Map::new();
                        merge_map(&mut fresh, pm, elem_ty, "");
                        out.push(Value::Object(fresh));
                    }
                }
            }
            for (i, d) in dst.iter().enumerate() {
                if !used[i] {
                    out.push(d.clone());
                }
            }
            out
        }
    }
}
