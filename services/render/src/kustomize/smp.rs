//! Strategic merge patch, as kustomize applies it with kyaml's built-in schema: maps merge,
//! `null` deletes, lists with a patch merge key merge element by element (patch order first,
//! then the untouched originals), other lists are replaced; `$patch: delete|replace` honoured.
//! With a custom `openapi` schema, kyaml consults only that schema, for every kind.

use serde_json::{Map, Value};

use super::openapi::Schema;
use super::resource::Gvk;

/// Where a node sits: in the built-in table, or in a custom schema (`None`: no schema).
#[derive(Debug, Clone, Copy)]
enum Node<'s> {
    Builtin(Ty),
    Custom(&'s Schema, Option<&'s Value>),
}

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

#[derive(Debug, Clone)]
enum ListKind<'s> {
    Replace,
    MergeScalars,
    /// Elements matched on these keys (all must agree), merged as the given node.
    MergeKey(Vec<&'s str>, Node<'s>),
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

fn builtin_child(ty: Ty, kind: &str, field: &str) -> (Ty, ListKind<'static>) {
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
        (Ty::Meta, "ownerReferences") => {
            (Ty::Plain, MergeKey(vec!["uid"], Node::Builtin(Ty::Plain)))
        }
        (Ty::Workload, "template") => (Ty::PodTemplate, Replace),
        (Ty::CronJob, "jobTemplate") => (Ty::JobTemplate, Replace),
        (Ty::JobTemplate, "metadata") | (Ty::PodTemplate, "metadata") => (Ty::Meta, Replace),
        (Ty::JobTemplate, "spec") => (Ty::Workload, Replace),
        (Ty::PodTemplate, "spec") => (Ty::PodSpec, Replace),
        (Ty::PodSpec, "containers" | "initContainers" | "ephemeralContainers") => (
            Ty::Plain,
            MergeKey(vec!["name"], Node::Builtin(Ty::Container)),
        ),
        (Ty::PodSpec, "volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates") => {
            (Ty::Plain, MergeKey(vec!["name"], Node::Builtin(Ty::Plain)))
        }
        (Ty::PodSpec, "hostAliases") => (Ty::Plain, MergeKey(vec!["ip"], Node::Builtin(Ty::Plain))),
        (Ty::PodSpec, "topologySpreadConstraints") => (
            Ty::Plain,
            MergeKey(vec!["topologyKey"], Node::Builtin(Ty::Plain)),
        ),
        // kyaml's built-in schema lists both `x-kubernetes-list-map-keys`, which win over
        // the one-key patch merge key.
        (Ty::Container, "ports") => (
            Ty::Plain,
            MergeKey(vec!["containerPort", "protocol"], Node::Builtin(Ty::Plain)),
        ),
        (Ty::Container, "env") => (Ty::Plain, MergeKey(vec!["name"], Node::Builtin(Ty::Plain))),
        (Ty::Container, "volumeMounts") => (
            Ty::Plain,
            MergeKey(vec!["mountPath"], Node::Builtin(Ty::Plain)),
        ),
        (Ty::Container, "volumeDevices") => (
            Ty::Plain,
            MergeKey(vec!["devicePath"], Node::Builtin(Ty::Plain)),
        ),
        (Ty::ServiceSpec, "ports") => (
            Ty::Plain,
            MergeKey(vec!["port", "protocol"], Node::Builtin(Ty::Plain)),
        ),
        _ => (Ty::Plain, Replace),
    }
}

/// kyaml's walk into `field` of a node: the field's node and how its lists merge.
fn child<'s>(node: Node<'s>, kind: &str, field: &str) -> (Node<'s>, ListKind<'s>) {
    match node {
        Node::Builtin(ty) => {
            let (t, l) = builtin_child(ty, kind, field);
            (Node::Builtin(t), l)
        }
        Node::Custom(s, None) => (Node::Custom(s, None), ListKind::Replace),
        Node::Custom(s, Some(sch)) => {
            let Some(f) = s.field(sch, field) else {
                return (Node::Custom(s, None), ListKind::Replace);
            };
            let (strategy, keys) = s.strategy_and_keys(f);
            // kyaml's schemaHasMergeStrategy: otherwise the list is replaced.
            let list = if !strategy.split(',').any(|x| x == "merge") {
                ListKind::Replace
            } else if keys.is_empty() {
                ListKind::MergeScalars
            } else {
                ListKind::MergeKey(keys, Node::Custom(s, s.elements(f)))
            };
            (Node::Custom(s, Some(f)), list)
        }
    }
}

/// Applies `patch` to `obj` (a whole resource of kind `gvk`), with the custom `openapi`
/// schema when one is set. Returns `false` when the patch deletes the resource.
pub fn apply(obj: &mut Value, patch: &Value, gvk: &Gvk, schema: Option<&Schema>) -> bool {
    let ty = match schema {
        Some(s) => Node::Custom(s, s.root(&gvk.api_version(), &gvk.kind)),
        None if known(gvk) => Node::Builtin(Ty::Root),
        None => Node::Builtin(Ty::Unknown),
    };
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

fn merge_map(dst: &mut Map<String, Value>, patch: &Map<String, Value>, ty: Node<'_>, kind: &str) {
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

fn merge_list(dst: &[Value], patch: &[Value], kind: ListKind<'_>) -> Vec<Value> {
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
        ListKind::MergeKey(keys, elem_ty) => {
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
            let mut merged: Vec<Option<Value>> = vec![None; dst.len()];
            let mut out = Vec::new();
            for p in patch {
                let Some(pm) = p.as_object() else {
                    out.push(p.clone());
                    continue;
                };
                let found = keys
                    .iter()
                    .any(|k| pm.contains_key(*k))
                    .then(|| {
                        dst.iter().enumerate().find(|(i, d)| {
                            !used[*i] && keys.iter().all(|k| d.get(*k) == pm.get(*k))
                        })
                    })
                    .flatten()
                    .map(|(i, _)| i);
                // kyaml's mergeValues: a patch element lacking a key (say `protocol`) that an
                // element agreeing on every key it has carries ends up setting that element
                // as it was, so the patch element has no effect (checked against kustomize).
                let partial = found.is_none()
                    && keys.iter().any(|k| pm.contains_key(*k))
                    && dst.iter().any(|d| {
                        keys.iter()
                            .filter(|k| pm.contains_key(**k))
                            .all(|k| d.get(*k) == pm.get(*k))
                            && keys
                                .iter()
                                .any(|k| !pm.contains_key(*k) && d.get(*k).is_some())
                    });
                if partial {
                    continue;
                }
                if directive(pm) == Some("delete") {
                    if let Some(i) = found {
                        used[i] = true;
                    }
                    continue;
                }
                // kyaml keeps elements matched on several keys (list-map-keys) in place: new
                // patch elements come first, then the originals in their order, merged ones
                // where they were. Its `validateKeys` drops the keys an element lacks (no
                // default, not even `protocol: TCP`), and one matched on a single key follows
                // the one-key order (patch order first).
                let in_place = keys.iter().filter(|k| pm.contains_key(**k)).count() > 1;
                match found {
                    Some(i) => {
                        used[i] = true;
                        let mut d = dst[i].as_object().cloned().unwrap_or_default();
                        merge_map(&mut d, pm, elem_ty, "");
                        if in_place {
                            merged[i] = Some(Value::Object(d));
                        } else {
                            out.push(Value::Object(d));
                        }
                    }
                    None => {
                        let mut fresh = Map::new();
                        merge_map(&mut fresh, pm, elem_ty, "");
                        out.push(Value::Object(fresh));
                    }
                }
            }
            for (i, d) in dst.iter().enumerate() {
                if let Some(m) = merged[i].take() {
                    out.push(m);
                } else if !used[i] {
                    out.push(d.clone());
                }
            }
            out
        }
    }
}
