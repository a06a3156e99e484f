//! Simulated controllers: what kube-controller-manager and a kubelet would do to the objects,
//! so that rollout health can be observed. Namespace termination and garbage collection always run;
//! the workload simulation runs when `Config::controllers` is on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use crate::defaults::image_tag;
use crate::events::{self, Event};
use crate::fieldpath::Scope;
use crate::registry::ResourceType;
use crate::server::{App, Op, WriteOpts, now, random_suffix, write};
use crate::store::{Inner, name_of, namespace_of, uid_of};

const MANAGER: &str = "kube-controller-manager";
pub(crate) const NODE: &str = "kube-sim";

/// What the controllers remember between passes: when they first saw things.
#[derive(Debug, Default)]
struct Memory {
    /// Pod, PVC and Job uid -> when it was first seen.
    seen: HashMap<String, Instant>,
    /// Deployment uid -> (generation, when that generation's rollout started).
    rollouts: HashMap<String, (i64, Instant)>,
    next_pod_ip: u32,
}

pub(crate) async fn run(app: Arc<App>) {
    let mut memory = Memory::default();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(app.config.controller_interval) => {}
            _ = app.cancel.cancelled() => return,
        }
        let mut inner = app.store.lock();
        finish_terminating_namespaces(&mut inner);
        finish_foreground_deletions(&mut inner);
        crate::seed::sync_api_services(&mut inner);
        if app.config.controllers {
            workloads(&mut inner, &mut memory, &app);
            crate::endpoints::sync(&mut inner);
        }
    }
}

fn rt(inner: &Inner, group: &str, kind: &str) -> Option<ResourceType> {
    inner.registry.by_kind(group, kind).cloned()
}

fn key(group: &str, plural: &str) -> (String, String) {
    (group.to_string(), plural.to_string())
}

/// How long a terminating namespace keeps its contents before they are removed.
const NAMESPACE_TERMINATION_SECONDS: i64 = 2;

fn finish_terminating_namespaces(inner: &mut Inner) {
    let nss = inner.list(&key("", "namespaces"), None);
    // A real namespace controller takes a few seconds to discover and delete the contents;
    // finishing on the next tick made `kubectl delete -f` (namespace first) race with it and
    // report NotFound for the objects listed after the namespace.
    let now = time::OffsetDateTime::now_utc();
    let due = |n: &&std::sync::Arc<Value>| {
        n.pointer("/metadata/deletionTimestamp")
            .and_then(Value::as_str)
            .and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .is_some_and(|t| now - t >= time::Duration::seconds(NAMESPACE_TERMINATION_SECONDS))
    };
    for ns in nss.iter().filter(due) {
        let name = name_of(ns).to_string();
        let keys: Vec<(String, String)> = inner
            .registry
            .all()
            .iter()
            .filter(|r| r.namespaced)
            .map(ResourceType::key)
            .collect();
        for k in keys {
            for o in inner.list(&k, Some(&name)) {
                inner.remove(&k, &name, name_of(&o));
            }
        }
        inner.remove(&key("", "namespaces"), "", &name);
        inner.collect_garbage();
    }
}

/// The garbage collector's part in foreground deletion: an owner marked with the
/// `foregroundDeletion` finalizer goes once none of its dependents is left.
fn finish_foreground_deletions(inner: &mut Inner) {
    let all = inner.all_objects();
    let waiting: Vec<&(crate::store::ResKey, Arc<Value>)> = all
        .iter()
        .filter(|(_, o)| {
            o.pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| f.iter().any(|x| x == FOREGROUND))
        })
        .collect();
    for (key, owner) in waiting {
        let uid = uid_of(owner);
        let has_dependents = all.iter().any(|(_, o)| {
            o.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| {
                    refs.iter()
                        .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
                })
        });
        if has_dependents {
            continue;
        }
        let mut o = (**owner).clone();
        if let Some(f) = o
            .pointer_mut("/metadata/finalizers")
            .and_then(Value::as_array_mut)
        {
            f.retain(|x| x != FOREGROUND);
            if f.is_empty()
                && let Some(m) = o["metadata"].as_object_mut()
            {
                m.remove("finalizers");
            }
        }
        if o.pointer("/metadata/finalizers").is_none() {
            inner.remove(key, namespace_of(&o), name_of(&o));
            inner.collect_garbage();
        } else {
            inner.put(key, o);
        }
    }
}

/// The finalizer of an object deleted with `propagationPolicy: Foreground`.
pub(crate) const FOREGROUND: &str = "foregroundDeletion";

fn int(v: &Value, ptr: &str, default: i64) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(default)
}

/// Writes a new status for an object, as the controller's status update would.
fn set_status(inner: &mut Inner, rt: &ResourceType, live: &Value, status: Value) {
    if live.get("status") == Some(&status) {
        return;
    }
    let mut obj = live.clone();
    obj["status"] = status;
    let opts = WriteOpts {
        manager: MANAGER,
        op: Op::Update,
        scope: Scope::Status,
        dry_run: false,
    };
    let version = rt.versions[0].clone();
    if let Err(e) = write(inner, rt, &version, Some(live), obj, opts) {
        tracing::warn!(kind = %rt.kind, name = name_of(live), error = %e.message, "simulated status update failed");
    }
}

fn create(inner: &mut Inner, rt: &ResourceType, obj: Value) {
    let opts = WriteOpts {
        manager: MANAGER,
        op: Op::Create,
        scope: Scope::Main,
        dry_run: false,
    };
    if let Err(e) = write(inner, rt, &rt.versions[0].clone(), None, obj, opts) {
        tracing::warn!(kind = %rt.kind, error = %e.message, "simulated create failed");
    }
}

fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&m[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// A 10-character hash of a pod template, in the alphabet the real controllers use.
fn template_hash(template: &Value) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in canonical(template).bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..10)
        .map(|i| ALPHABET[((h >> (i * 6)) % ALPHABET.len() as u64) as usize] as char)
        .collect()
}

fn owner_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true,
    })
}

fn owned_by<'a>(objs: &'a [Arc<Value>], owner: &Value) -> Vec<&'a Arc<Value>> {
    let uid = uid_of(owner);
    objs.iter()
        .filter(|o| {
            o.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| {
                    refs.iter()
                        .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
                })
        })
        .collect()
}

fn pod_from_template(owner: &Value, name: &str, extra_labels: &[(&str, String)]) -> Value {
    let template = owner
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(json!({}));
    let mut labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    for (k, v) in extra_labels {
        labels[*k] = json!(v);
    }
    let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
    spec["nodeName"] = json!(NODE);
    let mut meta = json!({"name": name, "namespace": namespace_of(owner), "labels": labels, "ownerReferences": [owner_ref(owner)]});
    if let Some(a) = template.pointer("/metadata/annotations") {
        meta["annotations"] = a.clone();
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
}

fn pod_ready(p: &Value) -> bool {
    p.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Keeps `want` pods for an owner: creates the missing ones, deletes the extra ones (not ready
/// ones first, then the newest, as the ReplicaSet controller ranks them). Returns the names of
/// the pods created and deleted.
fn scale_pods(
    inner: &mut Inner,
    pod_rt: &ResourceType,
    owner: &Value,
    pods: &[&Arc<Value>],
    want: usize,
    labels: &[(&str, String)],
) -> (Vec<String>, Vec<String>) {
    let mut created = Vec::new();
    let mut deleted = Vec::new();
    if pods.len() < want {
        for _ in pods.len()..want {
            let name = format!("{}-{}", name_of(owner), random_suffix(5));
            create(inner, pod_rt, pod_from_template(owner, &name, labels));
            created.push(name);
        }
    } else {
        let mut extra: Vec<&&Arc<Value>> = pods.iter().collect();
        extra.sort_by_key(|p| {
            (
                pod_ready(p),
                std::cmp::Reverse(
                    p.pointer("/metadata/creationTimestamp")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                ),
            )
        });
        for p in extra.into_iter().take(pods.len() - want) {
            inner.remove(&pod_rt.key(), namespace_of(p), name_of(p));
            deleted.push(name_of(p).to_string());
        }
    }
    (created, deleted)
}

fn condition(
    live: Option<&Value>,
    ty: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
) -> Value {
    let old = live
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty));
    let same = old.is_some_and(|c| c["status"] == status && c["reason"] == reason);
    let transition = match old {
        Some(c) if c["status"] == status => c["lastTransitionTime"].clone(),
        _ => json!(now),
    };
    let update = if same {
        old.map_or(json!(now), |c| c["lastUpdateTime"].clone())
    } else {
        json!(now)
    };
    json!({"type": ty, "status": status, "lastUpdateTime": update, "lastTransitionTime": transition, "reason": reason, "message": message})
}

/// maxSurge and maxUnavailable as pod counts, as the deployment controller resolves them:
/// percentages of the replicas, surge rounded up and unavailability down, never both zero.
/// Recreate has no surge and may take every pod down.
fn surge_and_unavailable(d: &Value, replicas: i64) -> (i64, i64) {
    if d.pointer("/spec/strategy/type") == Some(&json!("Recreate")) {
        return (0, replicas);
    }
    let resolve = |field: &str, round_up: bool| -> i64 {
        let v = d
            .pointer(&format!("/spec/strategy/rollingUpdate/{field}"))
            .cloned()
            .unwrap_or(json!("25%"));
        match v {
            Value::Number(n) => n.as_i64().unwrap_or(0),
            Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
                Some(p) if round_up => (replicas * p + 99) / 100,
                Some(p) => replicas * p / 100,
                None => s.parse().unwrap_or(0),
            },
            _ => 0,
        }
    };
    let surge = resolve("maxSurge", true).max(0);
    let mut unavailable = resolve("maxUnavailable", false).clamp(0, replicas.max(0));
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

const REVISION: &str = "deployment.kubernetes.io/revision";

fn revision(o: &Value) -> i64 {
    o.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn update_main(inner: &mut Inner, rt: &ResourceType, live: &Value, obj: Value) {
    let opts = WriteOpts {
        manager: MANAGER,
        op: Op::Update,
        scope: Scope::MainIgnoringStatus,
        dry_run: false,
    };
    let version = rt.versions[0].clone();
    if let Err(e) = write(inner, rt, &version, Some(live), obj, opts) {
        tracing::warn!(kind = %rt.kind, name = name_of(live), error = %e.message, "simulated update failed");
    }
}

/// Sets a ReplicaSet's replicas and records the deployment controller's ScalingReplicaSet event.
fn scale_rs(inner: &mut Inner, rs_rt: &ResourceType, d: &Value, rs_name: &str, to: i64) {
    let Some(rs) = inner.get(&rs_rt.key(), namespace_of(d), rs_name) else {
        return;
    };
    let from = int(&rs, "/spec/replicas", 1);
    if from == to {
        return;
    }
    let mut n = (*rs).clone();
    n["spec"]["replicas"] = json!(to);
    update_main(inner, rs_rt, &rs, n);
    let dir = if to > from { "up" } else { "down" };
    let msg = format!("Scaled {dir} replica set {rs_name} from {from} to {to}");
    events::record(
        inner,
        d,
        events::DEPLOYMENT_CONTROLLER,
        Event::normal("ScalingReplicaSet", &msg),
    );
}

/// One pass of the deployment controller over one Deployment: the ReplicaSet of its current
/// template is created or found, then replicas move from the old ReplicaSets to it within
/// maxSurge and maxUnavailable (RollingUpdate), or all at once after the old pods are gone
/// (Recreate). A new ReplicaSet whose pods never become available so leaves the old pods serving.
fn sync_deployment(inner: &mut Inner, rs_rt: &ResourceType, pod_rt: &ResourceType, d: &Value) {
    let Some(template) = d.pointer("/spec/template") else {
        return;
    };
    let ns = namespace_of(d).to_string();
    let hash = template_hash(template);
    let new_name = format!("{}-{}", name_of(d), hash);
    let replicas = int(d, "/spec/replicas", 1).max(0);
    let (surge, unavailable) = surge_and_unavailable(d, replicas);
    let recreate = d.pointer("/spec/strategy/type") == Some(&json!("Recreate"));
    let all_rs = inner.list(&rs_rt.key(), Some(&ns));
    let owned: Vec<Arc<Value>> = owned_by(&all_rs, d).into_iter().cloned().collect();
    let max_revision = owned.iter().map(|r| revision(r)).max().unwrap_or(0);
    let mut olds: Vec<Arc<Value>> = owned
        .iter()
        .filter(|r| name_of(r) != new_name)
        .cloned()
        .collect();
    olds.sort_by_key(|r| {
        (
            r.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            name_of(r).to_string(),
        )
    });
    let old_total: i64 = olds.iter().map(|r| int(r, "/spec/replicas", 0)).sum();
    let paused = d.pointer("/spec/paused") == Some(&json!(true));
    let new_revision;
    match owned.iter().find(|r| name_of(r) == new_name) {
        None => {
            if inner.get(&rs_rt.key(), &ns, &new_name).is_some() || paused {
                return;
            }
            let initial = if recreate {
                let old_pods = inner.list(&pod_rt.key(), Some(&ns)).iter().any(|p| {
                    olds.iter()
                        .any(|r| !owned_by(std::slice::from_ref(p), r).is_empty())
                });
                if old_total > 0 || old_pods {
                    0
                } else {
                    replicas
                }
            } else {
                (replicas + surge - old_total).clamp(0, replicas)
            };
            let mut tpl = template.clone();
            tpl["metadata"]["labels"]["pod-template-hash"] = json!(hash);
            let mut sel = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
            sel["matchLabels"]["pod-template-hash"] = json!(hash);
            let mut labels = template
                .pointer("/metadata/labels")
                .cloned()
                .unwrap_or(json!({}));
            labels["pod-template-hash"] = json!(hash);
            new_revision = max_revision + 1;
            let rs = json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": new_name, "namespace": ns, "labels": labels, "ownerReferences": [owner_ref(d)],
                    "annotations": {
                        REVISION: new_revision.to_string(),
                        "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                        "deployment.kubernetes.io/max-replicas": (replicas + surge).to_string(),
                    }},
                "spec": {"replicas": initial, "selector": sel, "template": tpl,
                    "minReadySeconds": d.pointer("/spec/minReadySeconds").cloned().unwrap_or(json!(0))},
            });
            create(inner, rs_rt, rs);
            if initial > 0 {
                let msg = format!("Scaled up replica set {new_name} from 0 to {initial}");
                events::record(
                    inner,
                    d,
                    events::DEPLOYMENT_CONTROLLER,
                    Event::normal("ScalingReplicaSet", &msg),
                );
            }
        }
        Some(new) => {
            // An old template that comes back (`kubectl rollout undo`) becomes the newest revision.
            new_revision = if revision(new) < max_revision || revision(new) == 0 {
                let mut n = (**new).clone();
                n["metadata"]["annotations"][REVISION] = json!((max_revision + 1).to_string());
                update_main(inner, rs_rt, new, n);
                max_revision + 1
            } else {
                revision(new)
            };
            if paused {
                return;
            }
            let new_replicas = int(new, "/spec/replicas", 1);
            if recreate {
                for old in &olds {
                    scale_rs(inner, rs_rt, d, name_of(old), 0);
                }
                let pods = inner.list(&pod_rt.key(), Some(&ns));
                let old_pods = olds.iter().any(|r| !owned_by(&pods, r).is_empty());
                if !old_pods {
                    scale_rs(inner, rs_rt, d, &new_name, replicas);
                }
            } else {
                // The new ReplicaSet grows while all pods together stay within replicas + maxSurge.
                let total = new_replicas + old_total;
                if new_replicas > replicas {
                    scale_rs(inner, rs_rt, d, &new_name, replicas);
                } else if new_replicas < replicas && total < replicas + surge {
                    let up = (replicas + surge - total).min(replicas - new_replicas);
                    scale_rs(inner, rs_rt, d, &new_name, new_replicas + up);
                }
                scale_down_old(inner, rs_rt, d, &new_name, &olds, replicas - unavailable);
            }
        }
    }
    if revision(d) != new_revision {
        let mut n = d.clone();
        n["metadata"]["annotations"][REVISION] = json!(new_revision.to_string());
        if let Some(dep_rt) = inner.registry.by_kind("apps", "Deployment").cloned() {
            update_main(inner, &dep_rt, d, n);
        }
    }
}

/// The old ReplicaSets shrink as far as keeping `min_available` available pods allows: their
/// unavailable pods first, then available ones, oldest ReplicaSet first.
fn scale_down_old(
    inner: &mut Inner,
    rs_rt: &ResourceType,
    d: &Value,
    new_name: &str,
    olds: &[Arc<Value>],
    min_available: i64,
) {
    let ns = namespace_of(d).to_string();
    let live = |inner: &Inner, name: &str| inner.get(&rs_rt.key(), &ns, name);
    let Some(new) = live(inner, new_name) else {
        return;
    };
    let olds: Vec<Arc<Value>> = olds
        .iter()
        .filter_map(|o| live(inner, name_of(o)))
        .collect();
    let all: i64 = int(&new, "/spec/replicas", 0)
        + olds
            .iter()
            .map(|o| int(o, "/spec/replicas", 0))
            .sum::<i64>();
    let new_unavailable =
        int(&new, "/spec/replicas", 0) - int(&new, "/status/availableReplicas", 0);
    let mut max_down = all - min_available - new_unavailable.max(0);
    if max_down <= 0 {
        return;
    }
    for old in &olds {
        if max_down <= 0 {
            break;
        }
        let r = int(old, "/spec/replicas", 0);
        let unhealthy = r - int(old, "/status/availableReplicas", 0);
        if unhealthy > 0 {
            let down = unhealthy.min(max_down).min(r);
            scale_rs(inner, rs_rt, d, name_of(old), r - down);
            max_down -= down;
        }
    }
    let olds: Vec<Arc<Value>> = olds
        .iter()
        .filter_map(|o| live(inner, name_of(o)))
        .collect();
    let available: i64 = int(&new, "/status/availableReplicas", 0)
        + olds
            .iter()
            .map(|o| int(o, "/status/availableReplicas", 0).min(int(o, "/spec/replicas", 0)))
            .sum::<i64>();
    let mut budget = available - min_available;
    for old in &olds {
        if budget <= 0 {
            break;
        }
        let r = int(old, "/spec/replicas", 0);
        let down = r.min(budget);
        if down > 0 {
            scale_rs(inner, rs_rt, d, name_of(old), r - down);
            budget -= down;
        }
    }
}

fn workloads(inner: &mut Inner, mem: &mut Memory, app: &App) {
    let (Some(pod_rt), Some(rs_rt), Some(dep_rt)) = (
        rt(inner, "", "Pod"),
        rt(inner, "apps", "ReplicaSet"),
        rt(inner, "apps", "Deployment"),
    ) else {
        return;
    };
    let now = now();

    for d in inner.list(&dep_rt.key(), None) {
        if d.pointer("/metadata/deletionTimestamp").is_none() {
            sync_deployment(inner, &rs_rt, &pod_rt, &d);
        }
    }

    // ReplicaSets keep their pod count.
    for r in inner.list(&rs_rt.key(), None) {
        if r.pointer("/metadata/deletionTimestamp").is_some() {
            continue;
        }
        let pods = inner.list(&pod_rt.key(), Some(namespace_of(&r)));
        let owned = owned_by(&pods, &r);
        let want = int(&r, "/spec/replicas", 1).max(0) as usize;
        let hash = r
            .pointer("/metadata/labels/pod-template-hash")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let extra: Vec<(&str, String)> = if hash.is_empty() {
            vec![]
        } else {
            vec![("pod-template-hash", hash)]
        };
        let (created, deleted) = scale_pods(inner, &pod_rt, &r, &owned, want, &extra);
        for p in created {
            let msg = format!("Created pod: {p}");
            events::record(
                inner,
                &r,
                events::REPLICASET_CONTROLLER,
                Event::normal("SuccessfulCreate", &msg),
            );
        }
        for p in deleted {
            let msg = format!("Deleted pod: {p}");
            events::record(
                inner,
                &r,
                events::REPLICASET_CONTROLLER,
                Event::normal("SuccessfulDelete", &msg),
            );
        }
        let pods = inner.list(&pod_rt.key(), Some(namespace_of(&r)));
        let owned = owned_by(&pods, &r);
        let ready = owned.iter().filter(|p| pod_ready(p)).count();
        let status = json!({
            "replicas": owned.len(), "fullyLabeledReplicas": owned.len(), "readyReplicas": ready,
            "availableReplicas": ready, "observedGeneration": int(&r, "/metadata/generation", 1),
        });
        if let Some(live) = inner.get(&rs_rt.key(), namespace_of(&r), name_of(&r)) {
            set_status(inner, &rs_rt, &live, status);
        }
    }

    if let Some(sts_rt) = rt(inner, "apps", "StatefulSet") {
        for s in inner.list(&sts_rt.key(), None) {
            let Some(template) = s.pointer("/spec/template") else {
                continue;
            };
            let revision = format!("{}-{}", name_of(&s), template_hash(template));
            let replicas = int(&s, "/spec/replicas", 1).max(0);
            let pods = inner.list(&pod_rt.key(), Some(namespace_of(&s)));
            let owned: Vec<Arc<Value>> = owned_by(&pods, &s).into_iter().cloned().collect();
            for p in &owned {
                let ordinal = name_of(p)
                    .rsplit('-')
                    .next()
                    .and_then(|o| o.parse::<i64>().ok())
                    .unwrap_or(i64::MAX);
                let stale = p
                    .pointer("/metadata/labels/controller-revision-hash")
                    .and_then(Value::as_str)
                    != Some(revision.as_str());
                if ordinal >= replicas || stale {
                    inner.remove(&pod_rt.key(), namespace_of(p), name_of(p));
                }
            }
            for i in 0..replicas {
                let name = format!("{}-{i}", name_of(&s));
                if inner.get(&pod_rt.key(), namespace_of(&s), &name).is_none() {
                    let labels = [
                        ("controller-revision-hash", revision.clone()),
                        ("statefulset.kubernetes.io/pod-name", name.clone()),
                        ("apps.kubernetes.io/pod-index", i.to_string()),
                    ];
                    create(inner, &pod_rt, pod_from_template(&s, &name, &labels));
                }
            }
            let pods = inner.list(&pod_rt.key(), Some(namespace_of(&s)));
            let owned = owned_by(&pods, &s);
            let ready = owned.iter().filter(|p| pod_ready(p)).count();
            let status = json!({
                "observedGeneration": int(&s, "/metadata/generation", 1), "replicas": owned.len(), "readyReplicas": ready,
                "currentReplicas": owned.len(), "updatedReplicas": owned.len(), "availableReplicas": ready,
                "currentRevision": revision, "updateRevision": revision, "collisionCount": 0,
            });
            if let Some(live) = inner.get(&sts_rt.key(), namespace_of(&s), name_of(&s)) {
                set_status(inner, &sts_rt, &live, status);
            }
        }
    }

    if let Some(ds_rt) = rt(inner, "apps", "DaemonSet") {
        for d in inner.list(&ds_rt.key(), None) {
            let Some(template) = d.pointer("/spec/template") else {
                continue;
            };
            let revision = template_hash(template);
            let pods = inner.list(&pod_rt.key(), Some(namespace_of(&d)));
            let owned: Vec<Arc<Value>> = owned_by(&pods, &d).into_iter().cloned().collect();
            for p in &owned {
                if p.pointer("/metadata/labels/controller-revision-hash")
                    .and_then(Value::as_str)
                    != Some(revision.as_str())
                {
                    inner.remove(&pod_rt.key(), namespace_of(p), name_of(p));
                }
            }
            let pods = inner.list(&pod_rt.key(), Some(namespace_of(&d)));
            let owned = owned_by(&pods, &d);
            let labels = [
                ("controller-revision-hash", revision.clone()),
                (
                    "pod-template-generation",
                    int(&d, "/metadata/generation", 1).to_string(),
                ),
            ];
            let _ = scale_pods(inner, &pod_rt, &d, &owned, 1, &labels);
            let pods = inner.list(&pod_rt.key(), Some(namespace_of(&d)));
            let owned = owned_by(&pods, &d);
            let ready = owned.iter().filter(|p| pod_ready(p)).count();
            let mut status = json!({
                "observedGeneration": int(&d, "/metadata/generation", 1), "desiredNumberScheduled": 1,
                "currentNumberScheduled": owned.len(), "numberMisscheduled": 0, "numberReady": ready,
                "updatedNumberScheduled": owned.len(), "numberAvailable": ready,
            });
            if ready < 1 {
                status["numberUnavailable"] = json!(1 - ready);
            }
            if let Some(live) = inner.get(&ds_rt.key(), namespace_of(&d), name_of(&d)) {
                set_status(inner, &ds_rt, &live, status);
            }
        }
    }

    kubelet(inner, mem, app, &pod_rt, &now);

    // Deployment status, from the pods of its ReplicaSets.
    for d in inner.list(&dep_rt.key(), None) {
        let Some(template) = d.pointer("/spec/template") else {
            continue;
        };
        let rs_name = format!("{}-{}", name_of(&d), template_hash(template));
        let generation = int(&d, "/metadata/generation", 1);
        let started = match mem.rollouts.get(uid_of(&d)) {
            Some((g, t)) if *g == generation => *t,
            _ => {
                let t = Instant::now();
                mem.rollouts.insert(uid_of(&d).to_string(), (generation, t));
                t
            }
        };
        let all_rs = inner.list(&rs_rt.key(), Some(namespace_of(&d)));
        let owned_rs = owned_by(&all_rs, &d);
        let pods = inner.list(&pod_rt.key(), Some(namespace_of(&d)));
        let mut total = 0;
        let mut updated = 0;
        let mut ready = 0;
        for r in &owned_rs {
            let rs_pods = owned_by(&pods, r);
            total += rs_pods.len() as i64;
            let r_ready = rs_pods.iter().filter(|p| pod_ready(p)).count() as i64;
            ready += r_ready;
            if name_of(r) == rs_name {
                updated = rs_pods.len() as i64;
            }
        }
        let replicas = int(&d, "/spec/replicas", 1);
        let available = ready;
        let old = d.get("status");
        let min_available = replicas - surge_and_unavailable(&d, replicas).1;
        let available_cond = if available >= min_available {
            condition(
                old,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                &now,
            )
        } else {
            condition(
                old,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                &now,
            )
        };
        let complete = updated == replicas && available == replicas && total == replicas;
        let deadline = int(&d, "/spec/progressDeadlineSeconds", 600).max(0) as u64;
        let previously_timed_out = old
            .and_then(|s| s.get("conditions"))
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded"
                })
            })
            && old.and_then(|s| s.get("observedGeneration")) == Some(&json!(generation));
        let progressing = if complete {
            condition(
                old,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
                &now,
            )
        } else if previously_timed_out || started.elapsed().as_secs() >= deadline {
            condition(
                old,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                &format!("ReplicaSet \"{rs_name}\" has timed out progressing."),
                &now,
            )
        } else {
            condition(
                old,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                &format!("ReplicaSet \"{rs_name}\" is progressing."),
                &now,
            )
        };
        let mut status = json!({
            "observedGeneration": generation, "replicas": total, "updatedReplicas": updated,
            "readyReplicas": ready, "availableReplicas": available, "conditions": [available_cond, progressing],
        });
        if replicas - available > 0 {
            status["unavailableReplicas"] = json!(replicas - available);
        }
        // Zero counts are omitted, as the real API omits them.
        if let Some(m) = status.as_object_mut() {
            m.retain(|k, v| k == "observedGeneration" || k == "conditions" || v != &json!(0));
        }
        if let Some(live) = inner.get(&dep_rt.key(), namespace_of(&d), name_of(&d)) {
            set_status(inner, &dep_rt, &live, status);
        }
    }

    jobs_volumes_services(inner, mem, app, &now);
}

/// The kubelet: pods start after the ready delay; image tags `crashloop` and `pullfail` inject failures.
fn kubelet(inner: &mut Inner, mem: &mut Memory, app: &App, pod_rt: &ResourceType, now: &str) {
    for p in inner.list(&pod_rt.key(), None) {
        if p.pointer("/status/startTime").is_some() {
            continue;
        }
        let seen = *mem
            .seen
            .entry(uid_of(&p).to_string())
            .or_insert_with(Instant::now);
        if seen.elapsed() < app.config.ready_delay {
            continue;
        }
        mem.next_pod_ip += 1;
        let ip = format!(
            "10.244.{}.{}",
            mem.next_pod_ip / 250,
            mem.next_pod_ip % 250 + 1
        );
        let containers = p
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut statuses = Vec::new();
        let mut all_ready = true;
        let mut pending = false;
        for c in &containers {
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
            let name = c.get("name").cloned().unwrap_or(json!(""));
            let base = json!({"name": name, "image": image, "imageID": "", "restartCount": 0, "ready": false, "started": false});
            let st = match image_tag(image) {
                Some("crashloop") => {
                    all_ready = false;
                    let mut s = base;
                    s["restartCount"] = json!(3);
                    s["state"] = json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off 40s restarting failed container={} pod={}", name.as_str().unwrap_or_default(), name_of(&p))}});
                    s["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now}});
                    s["imageID"] = json!(format!("{image}@sha256:0000"));
                    s
                }
                Some("pullfail") => {
                    all_ready = false;
                    pending = true;
                    let mut s = base;
                    s["state"] = json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")}});
                    s
                }
                _ => {
                    let mut s = base;
                    s["ready"] = json!(true);
                    s["started"] = json!(true);
                    s["state"] = json!({"running": {"startedAt": now}});
                    s["imageID"] = json!(format!("{image}@sha256:0000"));
                    s["containerID"] =
                        json!(format!("containerd://{}", uuid::Uuid::new_v4().simple()));
                    s
                }
            };
            statuses.push(st);
        }
        let ready = if all_ready { "True" } else { "False" };
        let cond = |t: &str, s: &str| {
            let mut c =
                json!({"type": t, "status": s, "lastProbeTime": null, "lastTransitionTime": now});
            if s == "False" {
                c["reason"] = json!("ContainersNotReady");
            }
            c
        };
        let status = json!({
            "phase": if pending { "Pending" } else { "Running" },
            "conditions": [cond("PodReadyToStartContainers", "True"), cond("Initialized", "True"), cond("Ready", ready), cond("ContainersReady", ready), cond("PodScheduled", "True")],
            "hostIP": "10.0.0.1", "hostIPs": [{"ip": "10.0.0.1"}],
            "podIP": ip, "podIPs": [{"ip": ip}],
            "startTime": now, "containerStatuses": statuses, "qosClass": "BestEffort",
        });
        set_status(inner, pod_rt, &p, status);
        pod_started_events(inner, &p, &containers);
    }
}

/// What the scheduler and the kubelet report about a pod they start (or fail to).
fn pod_started_events(inner: &mut Inner, p: &Value, containers: &[Value]) {
    let (ns, name) = (namespace_of(p), name_of(p));
    let msg = format!("Successfully assigned {ns}/{name} to {NODE}");
    events::record(
        inner,
        p,
        events::SCHEDULER,
        Event::normal("Scheduled", &msg),
    );
    for c in containers {
        let cname = c.get("name").and_then(Value::as_str).unwrap_or_default();
        let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
        let fp = format!("spec.containers{{{cname}}}");
        let mut say = |warning: bool, reason: &str, message: String| {
            let ev = if warning {
                Event::warning(reason, &message)
            } else {
                Event::normal(reason, &message)
            };
            events::record(inner, p, events::KUBELET, ev.on(&fp));
        };
        if image_tag(image) == Some("pullfail") {
            say(false, "Pulling", format!("Pulling image {image:?}"));
            say(
                true,
                "Failed",
                format!(
                    "Failed to pull image {image:?}: rpc error: code = NotFound desc = failed to pull and unpack image {image:?}: not found"
                ),
            );
            say(true, "Failed", "Error: ErrImagePull".into());
            say(
                false,
                "BackOff",
                format!("Back-off pulling image {image:?}"),
            );
            say(true, "Failed", "Error: ImagePullBackOff".into());
            continue;
        }
        say(
            false,
            "Pulled",
            format!("Container image {image:?} already present on machine"),
        );
        say(false, "Created", format!("Created container: {cname}"));
        say(false, "Started", format!("Started container {cname}"));
        if image_tag(image) == Some("crashloop") {
            let msg = format!(
                "Back-off restarting failed container {cname} in pod {name}_{ns}({})",
                uid_of(p)
            );
            say(true, "BackOff", msg);
        }
    }
}

/// Who provisions the volumes of claims that name none, as a dynamic provisioner would.
const PROVISIONER: &str = "gantry.dev/kube-sim";

/// Creates the PersistentVolume a claim is bound to (Bound, `claimRef` to it, reclaim Delete).
fn provision(inner: &mut Inner, claim: &Value, volume: &str) {
    let Some(pv_rt) = rt(inner, "", "PersistentVolume") else {
        return;
    };
    if inner.get(&pv_rt.key(), "", volume).is_some() {
        return;
    }
    let mut spec = json!({
        "capacity": {"storage": claim.pointer("/spec/resources/requests/storage").cloned().unwrap_or(json!("1Gi"))},
        "accessModes": claim.pointer("/spec/accessModes").cloned().unwrap_or(json!(["ReadWriteOnce"])),
        "persistentVolumeReclaimPolicy": "Delete",
        "volumeMode": claim.pointer("/spec/volumeMode").cloned().unwrap_or(json!("Filesystem")),
        "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": namespace_of(claim),
            "name": name_of(claim), "uid": uid_of(claim)},
        "hostPath": {"path": format!("/var/lib/kube-sim/{volume}"), "type": "DirectoryOrCreate"},
    });
    if let Some(class) = claim.pointer("/spec/storageClassName") {
        spec["storageClassName"] = class.clone();
    }
    create(
        inner,
        &pv_rt,
        json!({"metadata": {"name": volume, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}}, "spec": spec}),
    );
    if let Some(live) = inner.get(&pv_rt.key(), "", volume) {
        set_status(inner, &pv_rt, &live, json!({"phase": "Bound"}));
    }
}

/// Deletes the provisioned volumes whose claim is gone (their reclaim policy is Delete).
fn reclaim(inner: &mut Inner, pvc_rt: &ResourceType) {
    let Some(pv_rt) = rt(inner, "", "PersistentVolume") else {
        return;
    };
    for pv in inner.list(&pv_rt.key(), None) {
        let provisioned = pv.pointer("/metadata/annotations/pv.kubernetes.io~1provisioned-by")
            == Some(&json!(PROVISIONER));
        let Some(claim) = pv.pointer("/spec/claimRef") else {
            continue;
        };
        let s = |k: &str| claim.get(k).and_then(Value::as_str).unwrap_or_default();
        let claim_alive = inner
            .get(&pvc_rt.key(), s("namespace"), s("name"))
            .is_some_and(|c| uid_of(&c) == s("uid"));
        if provisioned
            && !claim_alive
            && pv.pointer("/spec/persistentVolumeReclaimPolicy") == Some(&json!("Delete"))
        {
            inner.remove(&pv_rt.key(), "", name_of(&pv));
        }
    }
}

fn jobs_volumes_services(inner: &mut Inner, mem: &mut Memory, app: &App, now: &str) {
    if let Some(job_rt) = rt(inner, "batch", "Job") {
        for j in inner.list(&job_rt.key(), None) {
            let done = j
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True"
                    })
                });
            if done || j.pointer("/spec/suspend") == Some(&json!(true)) {
                continue;
            }
            let seen = *mem
                .seen
                .entry(uid_of(&j).to_string())
                .or_insert_with(Instant::now);
            let images: Vec<String> = j
                .pointer("/spec/template/spec/containers")
                .and_then(Value::as_array)
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| c.get("image").and_then(Value::as_str).map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let tag_is = |t: &str| images.iter().any(|i| image_tag(i) == Some(t));
            let status = if seen.elapsed() < app.config.ready_delay || tag_is("pullfail") {
                json!({"active": 1, "startTime": j.pointer("/status/startTime").cloned().unwrap_or(json!(now)), "ready": 0, "terminating": 0})
            } else if tag_is("crashloop") {
                let c = |t: &str| json!({"type": t, "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"});
                json!({"failed": int(&j, "/spec/backoffLimit", 6) + 1, "startTime": j.pointer("/status/startTime").cloned().unwrap_or(json!(now)),
                    "ready": 0, "terminating": 0, "conditions": [c("FailureTarget"), c("Failed")]})
            } else {
                let c = |t: &str, reason: &str, msg: &str| json!({"type": t, "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": reason, "message": msg});
                json!({"succeeded": int(&j, "/spec/completions", 1), "startTime": j.pointer("/status/startTime").cloned().unwrap_or(json!(now)),
                    "completionTime": now, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {},
                    "conditions": [c("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"), c("Complete", "CompletionsReached", "Reached expected number of succeeded pods")]})
            };
            set_status(inner, &job_rt, &j, status);
        }
    }
    if let Some(pvc_rt) = rt(inner, "", "PersistentVolumeClaim") {
        for c in inner.list(&pvc_rt.key(), None) {
            if c.pointer("/status/phase") == Some(&json!("Bound")) {
                continue;
            }
            let seen = *mem
                .seen
                .entry(uid_of(&c).to_string())
                .or_insert_with(Instant::now);
            if seen.elapsed() < app.config.ready_delay {
                continue;
            }
            let mut bound = (*c).clone();
            if bound.pointer("/spec/volumeName").is_none() {
                let volume = format!("pvc-{}", uid_of(&c));
                provision(inner, &c, &volume);
                bound["spec"]["volumeName"] = json!(volume);
                let opts = WriteOpts {
                    manager: MANAGER,
                    op: Op::Update,
                    scope: Scope::MainIgnoringStatus,
                    dry_run: false,
                };
                let _ = write(inner, &pvc_rt, "v1", Some(&c), bound, opts);
            }
            let Some(live) = inner.get(&pvc_rt.key(), namespace_of(&c), name_of(&c)) else {
                continue;
            };
            let status = json!({
                "phase": "Bound",
                "accessModes": live.pointer("/spec/accessModes").cloned().unwrap_or(json!(["ReadWriteOnce"])),
                "capacity": {"storage": live.pointer("/spec/resources/requests/storage").cloned().unwrap_or(json!("1Gi"))},
            });
            set_status(inner, &pvc_rt, &live, status);
        }
        reclaim(inner, &pvc_rt);
    }
    if let Some(svc_rt) = rt(inner, "", "Service") {
        for s in inner.list(&svc_rt.key(), None) {
            if s.pointer("/spec/type") == Some(&json!("LoadBalancer"))
                && s.pointer("/status/loadBalancer/ingress").is_none()
            {
                // A documentation-range address: nothing answers there, but health checks see an ingress.
                let n = s
                    .pointer("/spec/clusterIP")
                    .and_then(Value::as_str)
                    .and_then(|ip| ip.rsplit('.').next())
                    .unwrap_or("1")
                    .to_string();
                let status = json!({"loadBalancer": {"ingress": [{"ip": format!("192.0.2.{n}"), "ipMode": "VIP"}]}});
                set_status(inner, &svc_rt, &s, status);
            }
        }
    }
    // Every namespace gets its default ServiceAccount, as the real service account controller does.
    if let Some(sa_rt) = rt(inner, "", "ServiceAccount") {
        for ns in inner.list(&key("", "namespaces"), None) {
            if ns.pointer("/metadata/deletionTimestamp").is_none()
                && inner.get(&sa_rt.key(), name_of(&ns), "default").is_none()
            {
                create(
                    inner,
                    &sa_rt,
                    json!({"metadata": {"name": "default", "namespace": name_of(&ns)}}),
                );
            }
        }
    }
    // Forget what no longer exists.
    if mem.seen.len() > 10_000 {
        let live: std::collections::HashSet<String> = inner
            .all_objects()
            .iter()
            .map(|(_, o)| uid_of(o).to_string())
            .collect();
        mem.seen.retain(|uid, _| live.contains(uid));
        mem.rollouts.retain(|uid, _| live.contains(uid));
    }
}
