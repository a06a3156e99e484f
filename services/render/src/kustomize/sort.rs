//! kustomize's legacy output order: by kind rank, then GVK, then namespace and name.

use super::resource::{Gvk, ResId, Resource};

const FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

fn gvk_sort_string(g: &Gvk) -> String {
    let or = |s: &str, d: &str| {
        if s.is_empty() {
            d.to_owned()
        } else {
            s.to_owned()
        }
    };
    format!(
        "{}_{}_{}",
        or(&g.group, "~G"),
        or(&g.version, "~V"),
        or(&g.kind, "~K")
    )
}

fn id_sort_string(id: &ResId) -> String {
    let ns = if id.namespace.is_empty() {
        "~X"
    } else {
        &id.namespace
    };
    let nm = if id.name.is_empty() { "~N" } else { &id.name };
    format!("{}|{}|{}", id.gvk, ns, nm)
}

pub fn legacy(list: &mut [Resource], first: Option<Vec<String>>, last: Option<Vec<String>>) {
    let first: Vec<String> = first.unwrap_or_else(|| FIRST.iter().map(|s| s.to_string()).collect());
    let last: Vec<String> = last.unwrap_or_else(|| LAST.iter().map(|s| s.to_string()).collect());
    let rank = |k: &str| -> i64 {
        if let Some(i) = first.iter().position(|x| x == k) {
            return i as i64 - first.len() as i64;
        }
        if let Some(i) = last.iter().position(|x| x == k) {
            return i as i64 + 1;
        }
        0
    };
    struct Key {
        rank: i64,
        gvk: String,
        id: String,
        namespace_kind: bool,
        core_namespace: bool,
    }
    let keys: Vec<Key> = list
        .iter()
        .map(|r| {
            let id = r.cur_id();
            Key {
                rank: rank(&id.gvk.kind),
                gvk: gvk_sort_string(&id.gvk),
                id: id_sort_string(&id),
                namespace_kind: id.gvk.kind == "Namespace",
                core_namespace: id.gvk.kind == "Namespace" && id.gvk.group.is_empty(),
            }
        })
        .collect();
    let mut order: Vec<usize> = (0..list.len()).collect();
    order.sort_by(|&x, &y| {
        let (a, b) = (&keys[x], &keys[y]);
        a.rank
            .cmp(&b.rank)
            .then_with(|| {
                if a.gvk == b.gvk {
                    std::cmp::Ordering::Equal
                } else if a.namespace_kind
                    && b.namespace_kind
                    && (a.core_namespace || b.core_namespace)
                {
                    b.gvk.cmp(&a.gvk)
                } else {
                    a.gvk.cmp(&b.gvk)
                }
            })
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut taken: Vec<Option<Resource>> = list
        .iter_mut()
        .map(|r| {
            Some(std::mem::replace(
                r,
                Resource::new(serde_json::Value::Null, String::new()),
            ))
        })
        .collect();
    for (slot, i) in list.iter_mut().zip(order) {
        if let Some(r) = taken[i].take() {
            *slot = r;
        }
    }
}
