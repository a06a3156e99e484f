//! Drift (contract section 9): the live objects of an environment compared with what its last
//! applied revision applied, without one API request per object and interval.
//!
//! Each cluster has one watch per kind on the objects carrying `app.kubernetes.io/managed-by:
//! gantry` (kube-runtime's watcher feeding a reflector store), started the first time a drift
//! check needs that kind: a constant number of requests however many objects there are. A check
//! walks every field Gantry applied (the labels and annotations it set, every leaf of its spec,
//! list items matched by their merge key such as `name`) and compares it with the cached live
//! object. Fields Gantry did not apply (another manager's: an HPA's replicas when Gantry sets
//! none, a webhook's defaults, a label added by hand) are never looked at, so they are not drift.
//!
//! A suspect (a field that differs, or an object gone from the cache) is judged with one request
//! ([`judge`]): with `selfHeal` the server-side apply that heals it, without it a dry run, both
//! conditional on the resourceVersion the cache holds. The server's answer is compared with the
//! cached object over Gantry's fields, so a value the server only normalises (`0.5` and `500m`,
//! a null it drops) is not drift; a cache lagging the server (Gantry's own apply a moment ago not
//! yet seen by the watch) makes the server refuse the condition, and the object is judged at the
//! next check. An object gone from the cache is drift: with `selfHeal` when the apply had to
//! create it (a cache that has not seen a new object yet is not), without it as the cache says.
//! A drifted round therefore costs one request per drifted object.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::reflector::{self, ObjectRef as KubeRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

use crate::apply::{Applied, ApplyError, Cluster, LABEL_MANAGED_BY, Reapplied};

/// One kind's cache and the task feeding it.
type KindWatch = (
    Store<DynamicObject>,
    Arc<tokio_util::task::AbortOnDropHandle<()>>,
);

/// The watch caches of one cluster, one per kind.
pub struct Watches {
    client: kube::Client,
    kinds: Mutex<HashMap<String, KindWatch>>,
}

impl std::fmt::Debug for Watches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watches")
    }
}

impl Watches {
    /// Watches on `cluster`, none started yet.
    pub fn new(cluster: &Cluster) -> Watches {
        Watches {
            client: cluster.client().clone(),
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// The cache of `resource`'s Gantry-labelled objects, started and filled on first use.
    pub async fn store(&self, resource: &ApiResource) -> Result<Store<DynamicObject>, ApplyError> {
        let key = format!("{}/{}", resource.api_version, resource.kind);
        let store = {
            let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((s, _)) = kinds.get(&key) {
                s.clone()
            } else {
                let writer = reflector::store::Writer::<DynamicObject>::new(resource.clone());
                let reader = writer.as_reader();
                let api: Api<DynamicObject> = Api::all_with(self.client.clone(), resource);
                let config =
                    watcher::Config::default().labels(&format!("{LABEL_MANAGED_BY}=gantry"));
                let stream = reflector::reflector(writer, watcher(api, config)).default_backoff();
                let kind = key.clone();
                let task = tokio::spawn(async move {
                    let mut stream = std::pin::pin!(stream);
                    while let Some(item) = stream.next().await {
                        match item {
                            Ok(watcher::Event::InitDone) => {
                                tracing::debug!(kind, "drift watch filled")
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::debug!(kind, error = %crate::error::chain(&e), "drift watch error; it resumes")
                            }
                        }
                    }
                });
                let handle = Arc::new(tokio_util::task::AbortOnDropHandle::new(task));
                kinds.insert(key.clone(), (reader.clone(), handle));
                reader
            }
        };
        // Several checks wait for the same cache at once, and only one of them is woken when it
        // fills: each asks again every 50 ms, and a fresh ask sees a filled cache at once.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match tokio::time::timeout(Duration::from_millis(50), store.wait_until_ready()).await {
                Ok(Ok(())) => return Ok(store),
                Err(_) if tokio::time::Instant::now() < deadline => continue,
                _ => {
                    self.kinds
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&key);
                    return Err(ApplyError::unavailable(format!(
                        "the watch on {key} did not fill within 30s"
                    )));
                }
            }
        }
    }
}

/// The cached live object of `a`, if it exists.
pub fn cached(store: &Store<DynamicObject>, a: &Applied) -> Option<Value> {
    let mut r = KubeRef::new_with(&a.reference.name, a.resource.clone());
    if !a.reference.namespace.is_empty() {
        r = r.within(&a.reference.namespace);
    }
    store
        .get(&r)
        .map(|o| serde_json::to_value(o.as_ref()).unwrap_or(Value::Null))
}

/// Keys that identify a list item across its versions, as strategic merge patches use them.
const MERGE_KEYS: [&str; 7] = [
    "name",
    "containerPort",
    "mountPath",
    "devicePath",
    "port",
    "ip",
    "key",
];

fn merge_key(v: &Value) -> Option<(&'static str, &Value)> {
    let m = v.as_object()?;
    MERGE_KEYS
        .iter()
        .find_map(|k| m.get(*k).map(|val| (*k, val)))
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        // A number applied as a string, or the reverse (`port: "80"`): the server converts.
        (Value::String(s), Value::Number(n)) | (Value::Number(n), Value::String(s)) => {
            s == &n.to_string()
        }
        _ => a == b,
    }
}

/// Paths of the fields `applied` sets whose values differ between `left` and `right`
/// (`spec.replicas`, `spec.template.spec.containers[name=app].image`, `data.value`).
pub fn differences(applied: &Value, left: &Value, right: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in applied.as_object().into_iter().flatten() {
        match k.as_str() {
            "apiVersion" | "kind" | "status" => {}
            "metadata" => {
                for part in ["labels", "annotations"] {
                    for (lk, lv) in v[part].as_object().into_iter().flatten() {
                        let l = left["metadata"][part].get(lk);
                        let r = right["metadata"][part].get(lk);
                        if l.is_some() && l != r {
                            let _ = lv;
                            out.push(format!("metadata.{part}.{lk}"));
                        }
                    }
                }
            }
            _ => walk(v, left.get(k), right.get(k), k.clone(), &mut out),
        }
    }
    out
}

fn walk(
    applied: &Value,
    left: Option<&Value>,
    right: Option<&Value>,
    path: String,
    out: &mut Vec<String>,
) {
    let Some(left) = left else {
        // Not in the reference either (the server dropped it, as it drops nulls): nothing to
        // compare.
        return;
    };
    let Some(right) = right else {
        out.push(path);
        return;
    };
    match applied {
        Value::Object(m) => {
            for (k, v) in m {
                walk(v, left.get(k), right.get(k), format!("{path}.{k}"), out);
            }
        }
        Value::Array(items) => {
            let (Some(la), Some(ra)) = (left.as_array(), right.as_array()) else {
                out.push(path);
                return;
            };
            for (i, item) in items.iter().enumerate() {
                match merge_key(item) {
                    Some((key, id)) => {
                        let find = |a: &'_ Vec<Value>| {
                            a.iter()
                                .find(|x| x.get(key).is_some_and(|v| same(v, id)))
                                .cloned()
                        };
                        let label = match id {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        walk(
                            item,
                            find(la).as_ref(),
                            find(ra).as_ref(),
                            format!("{path}[{key}={label}]"),
                            out,
                        );
                    }
                    None => walk(item, la.get(i), ra.get(i), format!("{path}[{i}]"), out),
                }
            }
        }
        _ => {
            if !same(left, right) {
                out.push(path);
            }
        }
    }
}

/// One drifted object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drifted {
    /// Which object.
    pub index: usize,
    /// The fields that differ; empty when it is gone.
    pub fields: Vec<String>,
    /// Whether it no longer exists.
    pub missing: bool,
    /// Whether it was applied again (self-heal).
    pub healed: bool,
}

/// What re-applying one suspect showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Drift: the fields that differed between the cache and the server's answer (none when the
    /// object was gone).
    Drifted {
        /// The fields.
        fields: Vec<String>,
        /// Whether it was gone.
        missing: bool,
    },
    /// Not drift: the server's answer equals the cached object over the fields Gantry applied
    /// (a value the server only normalises, a null it drops).
    Unchanged,
    /// The cache lags the server (the object changed, or appeared, since the cache saw it):
    /// judged at the next check, on fresh data.
    Stale,
}

fn deleting(live: &Value) -> bool {
    live.pointer("/metadata/deletionTimestamp").is_some()
}

/// Judges one object whose cached copy (`cached`; `None` when the cache has none) differs from
/// what was applied, with one request: a server-side apply of it conditional on the cached
/// resourceVersion, for real with `heal` and as a dry run without. The condition is what makes
/// the answer mean something: the server answers 409 unless it still holds the version the cache
/// holds, so an answer that differs from the cache over Gantry's fields is a change this apply
/// made (drift, now healed) and never one the cache had not seen yet (Gantry's own previous apply
/// lagging in the watch). An object gone from the cache is re-applied unconditionally; only a
/// creation (201) proves it was gone. An object being deleted is drift, whatever the answer.
pub async fn judge(
    cluster: &Cluster,
    a: &Applied,
    cached: Option<&Value>,
    heal: bool,
) -> Result<Verdict, ApplyError> {
    let gone = Verdict::Drifted {
        fields: Vec::new(),
        missing: true,
    };
    let precondition = cached
        .filter(|l| !deleting(l))
        .and_then(|l| l.pointer("/metadata/resourceVersion"))
        .and_then(Value::as_str);
    let answer = cluster.reapply(a, precondition, !heal).await?;
    Ok(match (answer, cached) {
        (Reapplied::Stale, _) => Verdict::Stale,
        (Reapplied::Applied { created, .. }, None) => {
            if created {
                gone
            } else {
                Verdict::Stale
            }
        }
        (Reapplied::Applied { .. }, Some(l)) if deleting(l) => gone,
        (Reapplied::Applied { object, .. }, Some(l)) => {
            let fields = differences(&a.object, &object, l);
            if fields.is_empty() {
                Verdict::Unchanged
            } else {
                Verdict::Drifted {
                    fields,
                    missing: false,
                }
            }
        }
    })
}

/// What [`check`] found.
#[derive(Debug, Default)]
pub struct Checked {
    /// The drifted objects.
    pub drifted: Vec<Drifted>,
    /// The cached live objects, by index in the applied set.
    pub live: Vec<(usize, Value)>,
    /// API requests spent: one per suspect ([`judge`]).
    pub requests: usize,
    /// A request that failed; the suspects after it were not judged (objects gone from the cache
    /// are still reported, not healed).
    pub failed: Option<ApplyError>,
}

/// Compares the applied set with the cache and judges each suspect with one request
/// ([`judge`]), which with `heal` also heals it. Without `heal`, an object gone from the cache
/// is reported without a request.
pub async fn check(
    cluster: &Cluster,
    watches: &Watches,
    applied: &[Applied],
    heal: bool,
) -> Result<Checked, ApplyError> {
    let mut out = Checked::default();
    for (index, a) in applied.iter().enumerate() {
        let store = watches.store(&a.resource).await?;
        let live = cached(&store, a);
        let gone = live.as_ref().is_none_or(deleting);
        let missing = || Drifted {
            index,
            fields: Vec::new(),
            missing: true,
            healed: false,
        };
        if let Some(l) = live.as_ref().filter(|_| !gone)
            && differences(&a.object, &a.object, l).is_empty()
        {
            out.live.push((index, l.clone()));
            continue;
        }
        if gone && (!heal || out.failed.is_some()) {
            out.drifted.push(missing());
            continue;
        }
        if out.failed.is_none() {
            out.requests += 1;
            match judge(cluster, a, live.as_ref(), heal).await {
                Ok(Verdict::Drifted { fields, missing }) => out.drifted.push(Drifted {
                    index,
                    fields,
                    missing,
                    healed: heal,
                }),
                Ok(Verdict::Unchanged | Verdict::Stale) => {}
                Err(e) => {
                    if gone {
                        out.drifted.push(missing());
                    }
                    out.failed = Some(e);
                }
            }
        }
        if let Some(l) = live.filter(|_| !gone) {
            out.live.push((index, l));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_applied_fields_count() {
        let applied = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"gantry.dev/app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1"}]}}}});
        let mut live = applied.clone();
        live["metadata"]["labels"]["team"] = json!("x");
        live["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "3"});
        live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] =
            json!("IfNotPresent");
        live["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .expect("array")
            .insert(0, json!({"name": "sidecar", "image": "envoy"}));
        live["status"] = json!({"replicas": 2});
        assert!(differences(&applied, &applied, &live).is_empty());

        live["spec"]["replicas"] = json!(5);
        live["spec"]["template"]["spec"]["containers"][1]["image"] = json!("nginx:2");
        assert_eq!(
            differences(&applied, &applied, &live),
            [
                "spec.replicas",
                "spec.template.spec.containers[name=app].image"
            ]
        );
        live["metadata"]["labels"]
            .as_object_mut()
            .expect("labels")
            .remove("gantry.dev/app");
        assert!(
            differences(&applied, &applied, &live)
                .contains(&"metadata.labels.gantry.dev/app".to_owned())
        );
        assert!(same(&json!("80"), &json!(80)));
    }
}
