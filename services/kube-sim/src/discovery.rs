//! Discovery documents (`/version`, `/api`, `/apis`, resource lists) and the Table format `kubectl get` asks for.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::registry::{Registry, ResourceType};

pub(crate) const MAJOR: &str = "1";
pub(crate) const MINOR: &str = "35";

pub(crate) fn version() -> Value {
    json!({
        "major": MAJOR,
        "minor": MINOR,
        "emulationMajor": MAJOR,
        "emulationMinor": MINOR,
        "minCompatibilityMajor": MAJOR,
        "minCompatibilityMinor": "34",
        "gitVersion": format!("v{MAJOR}.{MINOR}.0-gantry-kube-sim"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub(crate) fn api_versions(addr: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}],
    })
}

fn group_doc(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs[0].clone()})
}

pub(crate) fn api_group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .iter()
        .map(|(g, vs)| group_doc(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub(crate) fn api_group(reg: &Registry, group: &str) -> Option<Value> {
    let (g, vs) = reg.groups().into_iter().find(|(g, _)| g == group)?;
    let mut doc = group_doc(&g, &vs);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn resource_entries(t: &ResourceType) -> Vec<Value> {
    let mut main = json!({
        "name": t.plural,
        "singularName": t.singular,
        "namespaced": t.namespaced,
        "kind": t.kind,
        "verbs": VERBS,
    });
    if !t.short_names.is_empty() {
        main["shortNames"] = json!(t.short_names);
    }
    if !t.categories.is_empty() {
        main["categories"] = json!(t.categories);
    }
    let mut out = vec![main];
    if t.status {
        out.push(json!({"name": format!("{}/status", t.plural), "singularName": "", "namespaced": t.namespaced, "kind": t.kind, "verbs": ["get", "patch", "update"]}));
    }
    if t.scale {
        out.push(json!({"name": format!("{}/scale", t.plural), "singularName": "", "namespaced": t.namespaced, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
    }
    out
}

pub(crate) fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let resources: Vec<Value> = reg
        .in_group_version(group, version)
        .flat_map(resource_entries)
        .collect();
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// Aggregated discovery (`apidiscovery.k8s.io/v2`): every group in one document, as kubectl prefers.
pub(crate) fn aggregated(reg: &Registry, core: bool) -> Value {
    let mut items = Vec::new();
    let groups: Vec<(String, Vec<String>)> = if core {
        vec![(String::new(), vec!["v1".to_string()])]
    } else {
        reg.groups()
    };
    for (g, vs) in groups {
        let versions: Vec<Value> = vs
            .iter()
            .map(|v| {
                let resources: Vec<Value> = reg
                    .in_group_version(&g, v)
                    .map(|t| {
                        let mut r = json!({
                            "resource": t.plural,
                            "responseKind": {"group": t.group, "version": v, "kind": t.kind},
                            "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
                            "singularResource": t.singular,
                            "verbs": VERBS,
                        });
                        if !t.short_names.is_empty() {
                            r["shortNames"] = json!(t.short_names);
                        }
                        if !t.categories.is_empty() {
                            r["categories"] = json!(t.categories);
                        }
                        let mut subs = Vec::new();
                        if t.status {
                            subs.push(json!({"subresource": "status", "responseKind": {"group": t.group, "version": v, "kind": t.kind}, "verbs": ["get", "patch", "update"]}));
                        }
                        if t.scale {
                            subs.push(json!({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": ["get", "patch", "update"]}));
                        }
                        if !subs.is_empty() {
                            r["subresources"] = json!(subs);
                        }
                        r
                    })
                    .collect();
                json!({"version": v, "resources": resources, "freshness": "Current"})
            })
            .collect();
        items.push(
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions}),
        );
    }
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

/// kubectl's `HumanDuration`: 42s, 5m10s, 3h, 2d4h, 12d.
pub(crate) fn human_age(created: &str) -> String {
    let Ok(t) = OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
    else {
        return "<unknown>".into();
    };
    let s = (OffsetDateTime::now_utc() - t).whole_seconds().max(0);
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 8 * 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s if s < 8 * 86400 => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn int(o: &Value, ptr: &str) -> i64 {
    o.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn text(o: &Value, ptr: &str) -> String {
    o.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or("<none>")
        .to_string()
}

/// Kind-specific columns (name, type) and cells, between NAME and AGE, as kubectl's server-side printers show.
fn columns(t: &ResourceType) -> Vec<(&'static str, &'static str)> {
    match (t.group.as_str(), t.kind.as_str()) {
        ("apps", "Deployment") => vec![
            ("Ready", "string"),
            ("Up-to-date", "integer"),
            ("Available", "integer"),
        ],
        ("apps", "ReplicaSet") => vec![
            ("Desired", "integer"),
            ("Current", "integer"),
            ("Ready", "integer"),
        ],
        ("apps", "StatefulSet") => vec![("Ready", "string")],
        ("apps", "DaemonSet") => vec![
            ("Desired", "integer"),
            ("Current", "integer"),
            ("Ready", "integer"),
            ("Up-to-date", "integer"),
            ("Available", "integer"),
        ],
        ("", "Pod") => vec![
            ("Ready", "string"),
            ("Status", "string"),
            ("Restarts", "string"),
        ],
        ("", "Service") => vec![
            ("Type", "string"),
            ("Cluster-IP", "string"),
            ("External-IP", "string"),
            ("Port(s)", "string"),
        ],
        ("", "Namespace") => vec![("Status", "string")],
        ("", "ConfigMap") => vec![("Data", "integer")],
        ("", "Secret") => vec![("Type", "string"), ("Data", "integer")],
        ("", "PersistentVolumeClaim") => vec![
            ("Status", "string"),
            ("Volume", "string"),
            ("Capacity", "string"),
        ],
        ("batch", "Job") => vec![("Status", "string"), ("Completions", "string")],
        _ => vec![],
    }
}

fn cells(t: &ResourceType, o: &Value) -> Vec<Value> {
    match (t.group.as_str(), t.kind.as_str()) {
        ("apps", "Deployment") => vec![
            json!(format!(
                "{}/{}",
                int(o, "/status/readyReplicas"),
                int(o, "/spec/replicas")
            )),
            json!(int(o, "/status/updatedReplicas")),
            json!(int(o, "/status/availableReplicas")),
        ],
        ("apps", "ReplicaSet") => vec![
            json!(int(o, "/spec/replicas")),
            json!(int(o, "/status/replicas")),
            json!(int(o, "/status/readyReplicas")),
        ],
        ("apps", "StatefulSet") => vec![json!(format!(
            "{}/{}",
            int(o, "/status/readyReplicas"),
            int(o, "/spec/replicas")
        ))],
        ("apps", "DaemonSet") => vec![
            json!(int(o, "/status/desiredNumberScheduled")),
            json!(int(o, "/status/currentNumberScheduled")),
            json!(int(o, "/status/numberReady")),
            json!(int(o, "/status/updatedNumberScheduled")),
            json!(int(o, "/status/numberAvailable")),
        ],
        ("", "Pod") => {
            let statuses = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let total = o
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let ready = statuses
                .iter()
                .filter(|s| s.get("ready") == Some(&json!(true)))
                .count();
            let restarts: i64 = statuses.iter().map(|s| int(s, "/restartCount")).sum();
            let waiting = statuses
                .iter()
                .find_map(|s| s.pointer("/state/waiting/reason").and_then(Value::as_str));
            let status = waiting
                .map(String::from)
                .unwrap_or_else(|| text(o, "/status/phase"));
            vec![
                json!(format!("{ready}/{total}")),
                json!(status),
                json!(restarts.to_string()),
            ]
        }
        ("", "Service") => {
            let ports: Vec<String> = o
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| match p.get("nodePort") {
                            Some(np) => {
                                format!("{}:{}/{}", int(p, "/port"), np, text(p, "/protocol"))
                            }
                            None => format!("{}/{}", int(p, "/port"), text(p, "/protocol")),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let external = o
                .pointer("/status/loadBalancer/ingress/0/ip")
                .and_then(Value::as_str)
                .map(String::from)
                .unwrap_or_else(|| {
                    if text(o, "/spec/type") == "LoadBalancer" {
                        "<pending>".into()
                    } else {
                        "<none>".into()
                    }
                });
            vec![
                json!(text(o, "/spec/type")),
                json!(text(o, "/spec/clusterIP")),
                json!(external),
                json!(if ports.is_empty() {
                    "<none>".to_string()
                } else {
                    ports.join(",")
                }),
            ]
        }
        ("", "Namespace") => vec![json!(text(o, "/status/phase"))],
        ("", "ConfigMap") => {
            let n = ["data", "binaryData"]
                .iter()
                .map(|f| o.get(*f).and_then(Value::as_object).map_or(0, |m| m.len()))
                .sum::<usize>();
            vec![json!(n)]
        }
        ("", "Secret") => vec![
            json!(text(o, "/type")),
            json!(
                o.get("data")
                    .and_then(Value::as_object)
                    .map_or(0, |m| m.len())
            ),
        ],
        ("", "PersistentVolumeClaim") => vec![
            json!(text(o, "/status/phase")),
            json!(
                o.pointer("/spec/volumeName")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            ),
            json!(
                o.pointer("/status/capacity/storage")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            ),
        ],
        ("batch", "Job") => {
            let done = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| {
                    cs.iter()
                        .find(|c| {
                            c.get("status") == Some(&json!("True"))
                                && matches!(
                                    c.get("type").and_then(Value::as_str),
                                    Some("Complete" | "Failed")
                                )
                        })
                        .and_then(|c| c.get("type").and_then(Value::as_str))
                })
                .unwrap_or("Running");
            vec![
                json!(done),
                json!(format!(
                    "{}/{}",
                    int(o, "/status/succeeded"),
                    int(o, "/spec/completions").max(1)
                )),
            ]
        }
        _ => vec![],
    }
}

/// A `meta.k8s.io/v1` Table of the given objects.
pub(crate) fn table(
    t: &ResourceType,
    objects: &[&Value],
    list_meta: Value,
    include: &str,
) -> Value {
    let mut defs = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    for (name, ty) in columns(t) {
        defs.push(
            json!({"name": name, "type": ty, "format": "", "description": "", "priority": 0}),
        );
    }
    defs.push(json!({"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0}));
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut cs = vec![json!(o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default())];
            cs.extend(cells(t, o));
            cs.push(json!(human_age(o.pointer("/metadata/creationTimestamp").and_then(Value::as_str).unwrap_or_default())));
            let object = match include {
                "None" => Value::Null,
                "Object" => (*o).clone(),
                _ => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or(json!({}))}),
            };
            json!({"cells": cs, "object": object})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": defs, "rows": rows})
}
