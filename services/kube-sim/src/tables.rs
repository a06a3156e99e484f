//! Server-side Tables (`as=Table;g=meta.k8s.io;v=v1`), what `kubectl get` prints: the columns of
//! the real server's printers for each built-in kind, priority-1 columns (`-o wide`) included.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::registry::ResourceType;

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

fn opt_text(o: &Value, ptr: &str) -> Option<String> {
    o.pointer(ptr)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// The string at `ptr`, or `<none>` as the printers show a missing value.
fn text(o: &Value, ptr: &str) -> String {
    opt_text(o, ptr).unwrap_or_else(|| "<none>".into())
}

fn age(o: &Value) -> Value {
    json!(human_age(
        o.pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
            .unwrap_or_default()
    ))
}

/// A column: name, type, priority (1: only with `-o wide`).
type Col = (&'static str, &'static str, u8);

const NAME: Col = ("Name", "string", 0);
const AGE: Col = ("Age", "string", 0);
const CONTAINERS: Col = ("Containers", "string", 1);
const IMAGES: Col = ("Images", "string", 1);
const SELECTOR: Col = ("Selector", "string", 1);

/// The columns of a kind, in the real printers' order.
fn columns(t: &ResourceType) -> Vec<Col> {
    if !t.builtin {
        return vec![NAME, AGE];
    }
    match (t.group.as_str(), t.kind.as_str()) {
        ("apps", "Deployment") => vec![
            NAME,
            ("Ready", "string", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
        ("apps", "ReplicaSet") => vec![
            NAME,
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
        ("apps", "StatefulSet") => vec![NAME, ("Ready", "string", 0), AGE, CONTAINERS, IMAGES],
        ("apps", "DaemonSet") => vec![
            NAME,
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Node Selector", "string", 0),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
        ("", "Pod") => vec![
            NAME,
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            AGE,
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        ("", "Service") => vec![
            NAME,
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            AGE,
            SELECTOR,
        ],
        ("", "Namespace") => vec![NAME, ("Status", "string", 0), AGE],
        ("", "ConfigMap") => vec![NAME, ("Data", "integer", 0), AGE],
        ("", "Secret") => vec![NAME, ("Type", "string", 0), ("Data", "string", 0), AGE],
        ("", "ServiceAccount") => vec![NAME, ("Secrets", "string", 0), AGE],
        ("", "Node") => vec![
            NAME,
            ("Status", "string", 0),
            ("Roles", "string", 0),
            AGE,
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
        ],
        ("", "PersistentVolumeClaim") => vec![
            NAME,
            ("Status", "string", 0),
            ("Volume", "string", 0),
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("StorageClass", "string", 0),
            ("VolumeAttributesClass", "string", 0),
            AGE,
            ("VolumeMode", "string", 1),
        ],
        ("", "Event") => vec![
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Subobject", "string", 1),
            ("Source", "string", 1),
            ("Message", "string", 0),
            ("First Seen", "string", 1),
            ("Count", "string", 1),
            ("Name", "string", 1),
        ],
        ("batch", "Job") => vec![
            NAME,
            ("Status", "string", 0),
            ("Completions", "string", 0),
            ("Duration", "string", 0),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
        _ => vec![NAME, AGE],
    }
}

/// `a,b` of a pod template's container names and images.
fn containers_images(o: &Value, ptr: &str) -> (Value, Value) {
    let cs = o
        .pointer(ptr)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let join = |field: &str| {
        json!(
            cs.iter()
                .map(|c| c.get(field).and_then(Value::as_str).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    (join("name"), join("image"))
}

/// A LabelSelector as `metav1.LabelSelectorAsSelector(...).String()` prints it.
pub(crate) fn selector_string(sel: Option<&Value>) -> String {
    let Some(sel) = sel else {
        return "<none>".into();
    };
    let mut parts: Vec<(String, String)> = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in m {
            parts.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
        let mut values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let s = match e
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => continue,
        };
        parts.push((key.to_string(), s));
    }
    if parts.is_empty() {
        return "<none>".into();
    }
    // The selector's requirements print sorted by key, as labels.Selector sorts them.
    parts.sort();
    parts
        .into_iter()
        .map(|(_, s)| s)
        .collect::<Vec<_>>()
        .join(",")
}

/// A Service's `spec.selector` map, `k=v,...` sorted.
fn map_selector(o: &Value, ptr: &str) -> String {
    match o.pointer(ptr).and_then(Value::as_object) {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(","),
        _ => "<none>".into(),
    }
}

/// The status column of `kubectl get pods`, as printPod works it out.
fn pod_status(o: &Value) -> String {
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating".into();
    }
    let statuses = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for s in statuses.iter().rev() {
        if let Some(r) = s.pointer("/state/waiting/reason").and_then(Value::as_str) {
            return r.to_string();
        }
        if let Some(r) = s
            .pointer("/state/terminated/reason")
            .and_then(Value::as_str)
        {
            return r.to_string();
        }
    }
    opt_text(o, "/status/reason").unwrap_or_else(|| text(o, "/status/phase"))
}

fn pod_cells(o: &Value) -> Vec<Value> {
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
    let last_restart = statuses
        .iter()
        .filter_map(|s| {
            s.pointer("/lastState/terminated/finishedAt")
                .and_then(Value::as_str)
        })
        .max();
    let restarts = match last_restart {
        Some(t) if restarts > 0 => format!("{restarts} ({} ago)", human_age(t)),
        _ => restarts.to_string(),
    };
    let gates = o
        .pointer("/spec/readinessGates")
        .and_then(Value::as_array)
        .filter(|g| !g.is_empty())
        .map(|g| format!("0/{}", g.len()))
        .unwrap_or_else(|| "<none>".into());
    vec![
        json!(format!("{ready}/{total}")),
        json!(pod_status(o)),
        json!(restarts),
        age(o),
        json!(text(o, "/status/podIP")),
        json!(text(o, "/spec/nodeName")),
        json!(text(o, "/status/nominatedNodeName")),
        json!(gates),
    ]
}

fn service_cells(o: &Value) -> Vec<Value> {
    let ports: Vec<String> = o
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| match p.get("nodePort") {
                    Some(np) => format!("{}:{}/{}", int(p, "/port"), np, text(p, "/protocol")),
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
        age(o),
        json!(map_selector(o, "/spec/selector")),
    ]
}

fn event_cells(o: &Value) -> Vec<Value> {
    let first = opt_text(o, "/firstTimestamp");
    let last = opt_text(o, "/lastTimestamp")
        .or_else(|| opt_text(o, "/eventTime"))
        .or_else(|| first.clone());
    let count = int(o, "/count");
    let last_seen = last
        .as_deref()
        .map_or_else(|| "<unknown>".to_string(), human_age);
    let first_seen = first
        .as_deref()
        .map_or_else(|| "<unknown>".to_string(), human_age);
    let last_seen = if count > 1 {
        format!("{last_seen} (x{count} over {first_seen})")
    } else {
        last_seen
    };
    let kind = text(o, "/involvedObject/kind").to_ascii_lowercase();
    let source = match (
        opt_text(o, "/source/component"),
        opt_text(o, "/source/host"),
    ) {
        (Some(c), Some(h)) => format!("{c}, {h}"),
        (Some(c), None) => c,
        _ => opt_text(o, "/reportingComponent").unwrap_or_default(),
    };
    vec![
        json!(last_seen),
        json!(text(o, "/type")),
        json!(text(o, "/reason")),
        json!(format!("{kind}/{}", text(o, "/involvedObject/name"))),
        json!(opt_text(o, "/involvedObject/fieldPath").unwrap_or_default()),
        json!(source),
        json!(
            opt_text(o, "/message")
                .unwrap_or_default()
                .trim()
                .to_string()
        ),
        json!(first_seen),
        json!(count.to_string()),
        json!(text(o, "/metadata/name")),
    ]
}

fn job_cells(o: &Value) -> Vec<Value> {
    let cond = |ty: &str| {
        o.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == ty && c["status"] == "True"))
    };
    let status = if cond("Complete") {
        "Complete"
    } else if cond("Failed") {
        "Failed"
    } else if o.pointer("/spec/suspend") == Some(&json!(true)) {
        "Suspended"
    } else {
        "Running"
    };
    let duration = match (
        opt_text(o, "/status/startTime"),
        opt_text(o, "/status/completionTime"),
    ) {
        (Some(start), Some(end)) => {
            let p = |s: &str| {
                OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
            };
            match (p(&start), p(&end)) {
                (Some(a), Some(b)) => format!("{}s", (b - a).whole_seconds().max(0)),
                _ => String::new(),
            }
        }
        (Some(start), None) => human_age(&start),
        _ => String::new(),
    };
    let (c, i) = containers_images(o, "/spec/template/spec/containers");
    vec![
        json!(status),
        json!(format!(
            "{}/{}",
            int(o, "/status/succeeded"),
            int(o, "/spec/completions").max(1)
        )),
        json!(duration),
        age(o),
        c,
        i,
        json!(selector_string(o.pointer("/spec/selector"))),
    ]
}

/// The cells after NAME (or all of them for kinds whose first column is not the name).
fn cells(t: &ResourceType, o: &Value) -> Vec<Value> {
    let name = json!(
        o.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    );
    if !t.builtin {
        return vec![name, age(o)];
    }
    let tpl = "/spec/template/spec/containers";
    let mut row = vec![name];
    match (t.group.as_str(), t.kind.as_str()) {
        ("apps", "Deployment") => {
            let (c, i) = containers_images(o, tpl);
            row.extend([
                json!(format!(
                    "{}/{}",
                    int(o, "/status/readyReplicas"),
                    int(o, "/spec/replicas")
                )),
                json!(int(o, "/status/updatedReplicas")),
                json!(int(o, "/status/availableReplicas")),
                age(o),
                c,
                i,
                json!(selector_string(o.pointer("/spec/selector"))),
            ]);
        }
        ("apps", "ReplicaSet") => {
            let (c, i) = containers_images(o, tpl);
            row.extend([
                json!(int(o, "/spec/replicas")),
                json!(int(o, "/status/replicas")),
                json!(int(o, "/status/readyReplicas")),
                age(o),
                c,
                i,
                json!(selector_string(o.pointer("/spec/selector"))),
            ]);
        }
        ("apps", "StatefulSet") => {
            let (c, i) = containers_images(o, tpl);
            row.extend([
                json!(format!(
                    "{}/{}",
                    int(o, "/status/readyReplicas"),
                    int(o, "/spec/replicas")
                )),
                age(o),
                c,
                i,
            ]);
        }
        ("apps", "DaemonSet") => {
            let (c, i) = containers_images(o, tpl);
            row.extend([
                json!(int(o, "/status/desiredNumberScheduled")),
                json!(int(o, "/status/currentNumberScheduled")),
                json!(int(o, "/status/numberReady")),
                json!(int(o, "/status/updatedNumberScheduled")),
                json!(int(o, "/status/numberAvailable")),
                json!(map_selector(o, "/spec/template/spec/nodeSelector")),
                age(o),
                c,
                i,
                json!(selector_string(o.pointer("/spec/selector"))),
            ]);
        }
        ("", "Pod") => row.extend(pod_cells(o)),
        ("", "Service") => row.extend(service_cells(o)),
        ("", "Namespace") => row.extend([json!(text(o, "/status/phase")), age(o)]),
        ("", "ConfigMap") => {
            let n = ["data", "binaryData"]
                .iter()
                .map(|f| o.get(*f).and_then(Value::as_object).map_or(0, |m| m.len()))
                .sum::<usize>();
            row.extend([json!(n), age(o)]);
        }
        ("", "Secret") => {
            let n = o
                .get("data")
                .and_then(Value::as_object)
                .map_or(0, |m| m.len());
            row.extend([json!(text(o, "/type")), json!(n.to_string()), age(o)]);
        }
        ("", "ServiceAccount") => {
            let n = o
                .get("secrets")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            row.extend([json!(n.to_string()), age(o)]);
        }
        ("", "Node") => {
            let ready = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                });
            let addr = |ty: &str| {
                o.pointer("/status/addresses")
                    .and_then(Value::as_array)
                    .and_then(|a| a.iter().find(|x| x["type"] == ty))
                    .and_then(|x| x.get("address").and_then(Value::as_str))
                    .unwrap_or("<none>")
                    .to_string()
            };
            row.extend([
                json!(if ready { "Ready" } else { "NotReady" }),
                json!("<none>"),
                age(o),
                json!(text(o, "/status/nodeInfo/kubeletVersion")),
                json!(addr("InternalIP")),
                json!(addr("ExternalIP")),
            ]);
        }
        ("", "PersistentVolumeClaim") => {
            let modes = o
                .pointer("/status/accessModes")
                .and_then(Value::as_array)
                .map(|m| {
                    m.iter()
                        .filter_map(Value::as_str)
                        .map(|s| match s {
                            "ReadWriteOnce" => "RWO",
                            "ReadOnlyMany" => "ROX",
                            "ReadWriteMany" => "RWX",
                            "ReadWriteOncePod" => "RWOP",
                            other => other,
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            row.extend([
                json!(text(o, "/status/phase")),
                json!(opt_text(o, "/spec/volumeName").unwrap_or_default()),
                json!(opt_text(o, "/status/capacity/storage").unwrap_or_default()),
                json!(modes),
                json!(text(o, "/spec/storageClassName")),
                json!(text(o, "/spec/volumeAttributesClassName")),
                age(o),
                json!(text(o, "/spec/volumeMode")),
            ]);
        }
        // An Event's row starts with Last Seen; its name is the last column.
        ("", "Event") => return event_cells(o),
        ("batch", "Job") => row.extend(job_cells(o)),
        _ => row.push(age(o)),
    }
    row
}

/// A `meta.k8s.io/v1` Table of the given objects.
pub(crate) fn table(
    t: &ResourceType,
    objects: &[&Value],
    list_meta: Value,
    include: &str,
) -> Value {
    let defs: Vec<Value> = columns(t)
        .into_iter()
        .map(|(name, ty, priority)| {
            let format = if name == "Name" { "name" } else { "" };
            json!({"name": name, "type": ty, "format": format, "description": "", "priority": priority})
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let object = match include {
                "None" => Value::Null,
                "Object" => (*o).clone(),
                _ => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or(json!({}))}),
            };
            json!({"cells": cells(t, o), "object": object})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_print_as_label_selectors_do() {
        let sel = json!({"matchLabels": {"tier": "web", "app": "a"}, "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "dev"]}, {"key": "gone", "operator": "DoesNotExist"}]});
        assert_eq!(
            selector_string(Some(&sel)),
            "app=a,env in (dev,prod),!gone,tier=web"
        );
        assert_eq!(selector_string(None), "<none>");
    }
}
