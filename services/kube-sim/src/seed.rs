//! The objects a fresh cluster has before anyone writes to it: the system namespaces, the one
//! node (Ready, with its kubelet's version and its heartbeat Lease), the `kubernetes` Service
//! with its Endpoints and EndpointSlice, the system PriorityClasses, and an APIService per
//! served group version — what `kubectl get` shows on a new single-node cluster; and the
//! APIServices of the group versions CRDs add, kept in step as CRDs come and go.

use serde_json::{Value, json};

use crate::controllers::NODE;
use crate::discovery::{MAJOR, MINOR};
use crate::fieldpath::Scope;
use crate::server::{self, Op, WriteOpts, now};
use crate::store::Inner;

/// The node's address, also where the `kubernetes` Service's endpoints point.
pub(crate) const NODE_IP: &str = "10.0.0.1";
/// The port the API server's endpoints name (a real server's secure port).
const API_SERVER_PORT: u16 = 6443;

/// Creates an object as `manager`, then writes its status (as the object's controller would).
fn put(inner: &mut Inner, group: &str, kind: &str, manager: &str, obj: Value) {
    let Some(rt) = inner.registry.by_kind(group, kind).cloned() else {
        return;
    };
    let version = rt.versions[0].clone();
    let status = obj.get("status").cloned();
    let opts = WriteOpts {
        manager,
        op: Op::Create,
        scope: Scope::Main,
        dry_run: false,
    };
    let created = match server::write(inner, &rt, &version, None, obj, opts) {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(kind, error = %e.message, "seeding the cluster failed");
            return;
        }
    };
    // Kinds with a status subresource drop the status on create, as a real server does.
    if let Some(status) = status
        && rt.status
        && created.get("status") != Some(&status)
    {
        let mut obj = (*created).clone();
        obj["status"] = status;
        let opts = WriteOpts {
            manager,
            op: Op::Update,
            scope: Scope::Status,
            dry_run: false,
        };
        if let Err(e) = server::write(inner, &rt, &version, Some(&created), obj, opts) {
            tracing::warn!(kind, error = %e.message, "seeding a status failed");
        }
    }
}

fn node(now: &str) -> Value {
    let cond = |ty: &str, status: &str, reason: &str, message: &str| {
        json!({"type": ty, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    json!({
        "metadata": {"name": NODE, "labels": {
            "kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
            "node-role.kubernetes.io/control-plane": "",
        }},
        "spec": {"podCIDR": "10.244.0.0/16", "podCIDRs": ["10.244.0.0/16"]},
        "status": {
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": NODE_IP}, {"type": "Hostname", "address": NODE}],
            "capacity": {"cpu": "8", "ephemeral-storage": "100Gi", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "8", "ephemeral-storage": "100Gi", "memory": "32Gi", "pods": "110"},
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "kubeletVersion": format!("v{MAJOR}.{MINOR}.0"),
                "kubeProxyVersion": format!("v{MAJOR}.{MINOR}.0"),
                "operatingSystem": "linux",
                "architecture": "amd64",
                "osImage": "gantry kube-sim (simulated node)",
                "kernelVersion": "",
                "containerRuntimeVersion": "kube-sim://simulated",
                "machineID": "", "systemUUID": "", "bootID": "",
            }
        }
    })
}

/// Builds the cluster's initial objects into an empty store.
pub(crate) fn seed(inner: &mut Inner) {
    let now = now();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        put(
            inner,
            "",
            "Namespace",
            "kube-apiserver",
            json!({"metadata": {"name": ns}}),
        );
    }
    put(inner, "", "Node", "kubelet", node(&now));
    let node_uid = inner
        .get(&(String::new(), "nodes".into()), "", NODE)
        .and_then(|n| n.pointer("/metadata/uid").cloned())
        .unwrap_or_default();
    put(
        inner,
        "coordination.k8s.io",
        "Lease",
        "kubelet",
        json!({
            "metadata": {"name": NODE, "namespace": "kube-node-lease",
                "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": NODE, "uid": node_uid}]},
            "spec": {"holderIdentity": NODE, "leaseDurationSeconds": 40, "renewTime": format!("{}.000000Z", now.trim_end_matches('Z'))},
        }),
    );
    put(
        inner,
        "",
        "Service",
        "kube-apiserver",
        json!({
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": API_SERVER_PORT}]}
        }),
    );
    put(
        inner,
        "",
        "Endpoints",
        "kube-apiserver",
        json!({
            "metadata": {"name": "kubernetes", "namespace": "default",
                "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": NODE_IP}],
                "ports": [{"name": "https", "port": API_SERVER_PORT, "protocol": "TCP"}]}],
        }),
    );
    put(
        inner,
        "discovery.k8s.io",
        "EndpointSlice",
        "kube-apiserver",
        json!({
            "metadata": {"name": "kubernetes", "namespace": "default",
                "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": true}}],
            "ports": [{"name": "https", "port": API_SERVER_PORT, "protocol": "TCP"}],
        }),
    );
    for (name, value, description) in [
        (
            "system-cluster-critical",
            2_000_000_000,
            "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        ),
        (
            "system-node-critical",
            2_000_001_000,
            "Used for system critical pods that must not be moved from their current node.",
        ),
    ] {
        put(
            inner,
            "scheduling.k8s.io",
            "PriorityClass",
            "kube-apiserver",
            json!({"metadata": {"name": name}, "value": value, "description": description,
                "preemptionPolicy": "PreemptLowerPriority"}),
        );
    }
    // One local APIService per built-in group version, as the aggregator registers them.
    for (i, (group, version)) in served_group_versions(inner).into_iter().enumerate() {
        let priority = 18_000 - 100 * i64::try_from(i).unwrap_or(0);
        let svc = api_service(&group, &version, priority, 15, "onstart", &now);
        put(
            inner,
            "apiregistration.k8s.io",
            "APIService",
            "kube-apiserver",
            svc,
        );
    }
}

/// The label the aggregator marks the APIServices it registers itself with.
const AUTOMANAGED: &str = "kube-aggregator.kubernetes.io/automanaged";

/// Every served group version, the core `v1` first.
fn served_group_versions(inner: &Inner) -> Vec<(String, String)> {
    std::iter::once((String::new(), "v1".to_string()))
        .chain(
            inner
                .registry
                .groups()
                .into_iter()
                .flat_map(|(g, vs)| vs.into_iter().map(move |v| (g.clone(), v))),
        )
        .collect()
}

fn api_service(
    group: &str,
    version: &str,
    group_priority: i64,
    version_priority: i64,
    automanaged: &str,
    now: &str,
) -> Value {
    let mut spec = json!({"version": version, "groupPriorityMinimum": group_priority, "versionPriority": version_priority});
    if !group.is_empty() {
        spec["group"] = json!(group);
    }
    json!({
        "metadata": {"name": format!("{version}.{group}"), "labels": {AUTOMANAGED: automanaged}},
        "spec": spec,
        "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Local",
            "message": "Local APIServices are always available", "lastTransitionTime": now}]},
    })
}

/// Registers an APIService for each group version a CRD serves and removes those of group
/// versions no longer served, as the CRD registration controller does.
pub(crate) fn sync_api_services(inner: &mut Inner) {
    let Some(rt) = inner
        .registry
        .by_kind("apiregistration.k8s.io", "APIService")
        .cloned()
    else {
        return;
    };
    let served = served_group_versions(inner);
    let existing = inner.list(&rt.key(), None);
    let now = now();
    for (group, version) in &served {
        let name = format!("{version}.{group}");
        if !existing.iter().any(|a| crate::store::name_of(a) == name) {
            let svc = api_service(group, version, 1000, 100, "true", &now);
            put(
                inner,
                "apiregistration.k8s.io",
                "APIService",
                "kube-apiserver",
                svc,
            );
        }
    }
    for a in existing {
        let automanaged = a
            .pointer("/metadata/labels")
            .and_then(|l| l.get(AUTOMANAGED))
            == Some(&json!("true"));
        let name = crate::store::name_of(&a);
        if automanaged && !served.iter().any(|(g, v)| format!("{v}.{g}") == name) {
            inner.remove(&rt.key(), "", name);
        }
    }
}
