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
    let mut keyed: Vec<(i64, String, String, bool, Resource)> = Vec::new();
    for r in list.iter() {
        let id = r.cur_id();
        keyed.push((
            rank(&id.gvk.kind),
            gvk_sort_string(&id.gvk),
            id_sort_string(&id),
            id.gvk.kind == "Namespace" && id.gvk.group.is_empty(),
            r.clone(),
        ));
    }
    keyed.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| {
                if a.1 == b.1 {
                    std::cmp::Ordering::Equal
                } else if a.4.kind() == "Namespace" && b.4.kind() == "Namespace" && (a.3 || b.3) {
                    b.1.cmp(&a.1)
                } else {
                    a.1.cmp(&b.1)
                }
            })
            .then_with(|| a.2.cmp(&b.2))
    });
    for (slot, k) in list.iter_mut().zip(keyed) {
        *slot = k.4;
    }
}
