//! The endpoints and endpointslice controllers: every Service with a selector gets an Endpoints
//! object of its name and an EndpointSlice (`<service>-<suffix>`, owned by the Service) listing
//! the matching pods that have an IP, ready or not, with the Service's ports resolved against
//! the pods' container ports, as kube-controller-manager keeps them.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::fieldpath::Scope;
use crate::registry::ResourceType;
use crate::server::{Op, WriteOpts, random_suffix, write};
use crate::store::{Inner, name_of, namespace_of, uid_of};

const MANAGER: &str = "kube-controller-manager";
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
const MANAGED_BY: &str = "endpointslice-controller.k8s.io";

fn matches(selector: &serde_json::Map<String, Value>, pod: &Value) -> bool {
    let labels = pod.pointer("/metadata/labels").and_then(Value::as_object);
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

fn ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// A Service port's target on a pod: a number, or a named container port looked up on the pod.
fn target_port(port: &Value, pod: &Value) -> Option<i64> {
    match port.get("targetPort").or_else(|| port.get("port"))? {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)?
            .iter()
            .flat_map(|c| {
                c.get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|p| p.get("containerPort").and_then(Value::as_i64)),
        _ => None,
    }
}

fn write_obj(inner: &mut Inner, rt: &ResourceType, live: Option<&Arc<Value>>, obj: Value) {
    let opts = WriteOpts {
        manager: MANAGER,
        op: if live.is_some() {
            Op::Update
        } else {
            Op::Create
        },
        scope: Scope::Main,
        dry_run: false,
    };
    let version = rt.versions[0].clone();
    if let Err(e) = write(inner, rt, &version, live.map(|l| &**l), obj, opts) {
        tracing::warn!(kind = %rt.kind, error = %e.message, "simulated endpoints update failed");
    }
}

/// Keeps the Endpoints and EndpointSlices of every selecting Service in step with its pods.
pub(crate) fn sync(inner: &mut Inner) {
    let key = |g: &str, p: &str| (g.to_string(), p.to_string());
    let (Some(ep_rt), Some(slice_rt)) = (
        inner.registry.by_kind("", "Endpoints").cloned(),
        inner
            .registry
            .by_kind("discovery.k8s.io", "EndpointSlice")
            .cloned(),
    ) else {
        return;
    };
    let services = inner.list(&key("", "services"), None);
    for svc in &services {
        let Some(selector) = svc.pointer("/spec/selector").and_then(Value::as_object) else {
            continue;
        };
        if selector.is_empty() || svc.pointer("/metadata/deletionTimestamp").is_some() {
            continue;
        }
        let (ns, name) = (namespace_of(svc).to_string(), name_of(svc).to_string());
        let pods: Vec<Arc<Value>> = inner
            .list(&key("", "pods"), Some(&ns))
            .into_iter()
            .filter(|p| {
                matches(selector, p)
                    && p.pointer("/metadata/deletionTimestamp").is_none()
                    && p.pointer("/status/podIP").and_then(Value::as_str).is_some()
            })
            .collect();
        let svc_ports: Vec<Value> = svc
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let port_of = |p: &Value, pod: &Value| -> Option<Value> {
            let mut out = json!({"port": target_port(p, pod)?, "protocol": p.get("protocol").cloned().unwrap_or(json!("TCP"))});
            if let Some(n) = p
                .get("name")
                .filter(|n| n.as_str().is_some_and(|s| !s.is_empty()))
            {
                out["name"] = n.clone();
            }
            Some(out)
        };
        let target_ref = |pod: &Value| json!({"kind": "Pod", "namespace": ns, "name": name_of(pod), "uid": uid_of(pod)});
        let ip = |pod: &Value| pod["status"]["podIP"].clone();
        let node = |pod: &Value| pod.pointer("/spec/nodeName").cloned();
        let labels = svc
            .pointer("/metadata/labels")
            .cloned()
            .unwrap_or_else(|| json!({}));

        // Endpoints: one subset per distinct set of resolved ports, ready and not-ready addresses.
        let mut subsets: Vec<(Vec<Value>, Vec<Value>, Vec<Value>)> = Vec::new();
        for pod in &pods {
            let ports: Vec<Value> = svc_ports.iter().filter_map(|p| port_of(p, pod)).collect();
            let mut addr = json!({"ip": ip(pod), "targetRef": target_ref(pod)});
            if let Some(n) = node(pod) {
                addr["nodeName"] = n;
            }
            let i = match subsets.iter().position(|(p, _, _)| *p == ports) {
                Some(i) => i,
                None => {
                    subsets.push((ports, Vec::new(), Vec::new()));
                    subsets.len() - 1
                }
            };
            if ready(pod) {
                subsets[i].1.push(addr);
            } else {
                subsets[i].2.push(addr);
            }
        }
        let subsets: Vec<Value> = subsets
            .into_iter()
            .map(|(ports, ready, not_ready)| {
                let mut s = json!({"ports": ports});
                if !ready.is_empty() {
                    s["addresses"] = json!(ready);
                }
                if !not_ready.is_empty() {
                    s["notReadyAddresses"] = json!(not_ready);
                }
                s
            })
            .collect();
        let live_ep = inner.get(&ep_rt.key(), &ns, &name);
        let mut ep = match &live_ep {
            Some(l) => (**l).clone(),
            None => json!({"metadata": {"name": name, "namespace": ns}}),
        };
        ep["metadata"]["labels"] = labels.clone();
        if subsets.is_empty() {
            if let Some(m) = ep.as_object_mut() {
                m.remove("subsets");
            }
        } else {
            ep["subsets"] = json!(subsets);
        }
        if live_ep.as_deref() != Some(&ep) {
            write_obj(inner, &ep_rt, live_ep.as_ref(), ep);
        }

        // EndpointSlice: one per Service, owned by it.
        let endpoints: Vec<Value> = pods
            .iter()
            .map(|pod| {
                let r = ready(pod);
                let mut e = json!({"addresses": [ip(pod)], "conditions": {"ready": r, "serving": r, "terminating": false},
                    "targetRef": target_ref(pod)});
                if let Some(n) = node(pod) {
                    e["nodeName"] = n;
                }
                e
            })
            .collect();
        let ports: Vec<Value> = pods
            .first()
            .map(|pod| svc_ports.iter().filter_map(|p| port_of(p, pod)).collect())
            .unwrap_or_default();
        let live_slice = inner
            .list(&slice_rt.key(), Some(&ns))
            .into_iter()
            .find(|s| {
                s.pointer("/metadata/labels")
                    .and_then(Value::as_object)
                    .is_some_and(|l| {
                        l.get(SERVICE_NAME_LABEL) == Some(&json!(name))
                            && l.get(MANAGED_BY_LABEL) == Some(&json!(MANAGED_BY))
                    })
            });
        let mut slice = match &live_slice {
            Some(l) => (**l).clone(),
            None => {
                json!({"metadata": {"name": format!("{name}-{}", random_suffix(5)), "namespace": ns,
                "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name, "uid": uid_of(svc),
                    "controller": true, "blockOwnerDeletion": true}]}})
            }
        };
        let mut slice_labels = labels.clone();
        slice_labels[SERVICE_NAME_LABEL] = json!(name);
        slice_labels[MANAGED_BY_LABEL] = json!(MANAGED_BY);
        slice["metadata"]["labels"] = slice_labels;
        slice["addressType"] = json!("IPv4");
        slice["endpoints"] = json!(endpoints);
        slice["ports"] = json!(ports);
        if live_slice.as_deref() != Some(&slice) {
            write_obj(inner, &slice_rt, live_slice.as_ref(), slice);
        }
    }
    // The Endpoints of a deleted Service go with it; hand-made ones (no managing controller) stay.
    for ep in inner.list(&ep_rt.key(), None) {
        let (ns, name) = (namespace_of(&ep).to_string(), name_of(&ep).to_string());
        let managed = ep
            .pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .is_some_and(|m| m.iter().any(|e| e["manager"] == MANAGER));
        let has_service = services
            .iter()
            .any(|s| namespace_of(s) == ns && name_of(s) == name);
        if managed && !has_service {
            inner.remove(&ep_rt.key(), &ns, &name);
        }
    }
}
