//! Deleting: DeleteOptions, preconditions, finalizers, propagation (the garbage collector's part)
//! and namespace termination.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{App, Reply, Req, Target, now, ok};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{self, ApiError};
use crate::store::{Inner, name_of, namespace_of, uid_of};

/// DeleteOptions from the body and the query, the body winning as on a real server.
struct DeleteOpts {
    propagation: String,
    dry_run: bool,
    uid: Option<String>,
    rv: Option<String>,
}

fn delete_opts(req: &Req) -> Result<DeleteOpts, ApiError> {
    let body: Value = if req.body.is_empty() {
        json!({})
    } else {
        req.parse_body()?
    };
    let s = |ptr: &str| body.pointer(ptr).and_then(Value::as_str).map(String::from);
    let dry_run = match body.get("dryRun").and_then(Value::as_array) {
        Some(a) => a.iter().any(|v| v == "All"),
        None => req.dry_run()?,
    };
    let mut propagation = s("/propagationPolicy")
        .or_else(|| req.q("propagationPolicy").map(String::from))
        .unwrap_or_default();
    if body.get("orphanDependents") == Some(&json!(true))
        || req.q("orphanDependents") == Some("true")
    {
        propagation = "Orphan".into();
    }
    if !matches!(
        propagation.as_str(),
        "" | "Orphan" | "Background" | "Foreground"
    ) {
        return Err(ApiError::invalid(
            "DeleteOptions",
            "",
            "",
            &[(
                "propagationPolicy".into(),
                "FieldValueNotSupported",
                format!(
                    "Unsupported value: {propagation:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                ),
            )],
        ));
    }
    Ok(DeleteOpts {
        propagation,
        dry_run,
        uid: s("/preconditions/uid"),
        rv: s("/preconditions/resourceVersion"),
    })
}

/// Deletes one object, honouring finalizers, propagation and namespace cascade. Returns the
/// object when it lingers (finalizers), or None when it is gone.
fn delete_one(
    inner: &mut Inner,
    t: &Target,
    live: &Arc<Value>,
    o: &DeleteOpts,
) -> Result<Option<Value>, ApiError> {
    let name = name_of(live).to_string();
    let ns = namespace_of(live).to_string();
    let key = t.key();
    if o.dry_run {
        return Ok(None);
    }
    let has_finalizers = live
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    if has_finalizers {
        if live.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(Some((**live).clone()));
        }
        let mut obj = (**live).clone();
        obj["metadata"]["deletionTimestamp"] = json!(now());
        obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        return Ok(Some((*inner.put(&key, obj)).clone()));
    }
    if o.propagation == "Orphan" {
        let uid = uid_of(live).to_string();
        for (k, dep) in inner.all_objects() {
            let Some(refs) = dep
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
            else {
                continue;
            };
            if refs
                .iter()
                .any(|r| r.get("uid").and_then(Value::as_str) == Some(&uid))
            {
                let mut d = (*dep).clone();
                let kept: Vec<Value> = refs
                    .iter()
                    .filter(|r| r.get("uid").and_then(Value::as_str) != Some(&uid))
                    .cloned()
                    .collect();
                if kept.is_empty() {
                    if let Some(m) = d["metadata"].as_object_mut() {
                        m.remove("ownerReferences");
                    }
                } else {
                    d["metadata"]["ownerReferences"] = Value::Array(kept);
                }
                inner.put(&k, d);
            }
        }
    }
    if o.propagation == "Foreground" && !(t.rt.builtin && t.rt.kind == "Namespace") {
        // The owner lingers with the foregroundDeletion finalizer while the garbage collector
        // deletes its dependents; it goes once none is left (see the controllers).
        let uid = uid_of(live).to_string();
        let mut obj = (**live).clone();
        obj["metadata"]["deletionTimestamp"] = json!(now());
        obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        let mut fins = obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !fins.iter().any(|f| f == crate::controllers::FOREGROUND) {
            fins.push(json!(crate::controllers::FOREGROUND));
        }
        obj["metadata"]["finalizers"] = Value::Array(fins);
        let marked = inner.put(&key, obj);
        for (k, dep) in inner.all_objects() {
            let owned = dep
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| {
                    refs.iter()
                        .any(|r| r.get("uid").and_then(Value::as_str) == Some(&uid))
                });
            if owned {
                inner.remove(&k, namespace_of(&dep), name_of(&dep));
            }
        }
        inner.collect_garbage();
        return Ok(Some((*marked).clone()));
    }
    if t.rt.builtin && t.rt.kind == "Namespace" {
        // Terminating: the namespace controller empties it and removes it shortly after.
        if live.pointer("/metadata/deletionTimestamp").is_none() {
            let mut obj = (**live).clone();
            obj["metadata"]["deletionTimestamp"] = json!(now());
            obj["status"]["phase"] = json!("Terminating");
            return Ok(Some((*inner.put(&key, obj)).clone()));
        }
        return Ok(Some((**live).clone()));
    }
    inner.remove(&key, &ns, &name);
    inner.collect_garbage();
    Ok(None)
}

pub(super) fn delete(app: &App, t: &Target, req: &Req) -> Result<Reply, ApiError> {
    let o = delete_opts(req)?;
    let name = t.name.clone().unwrap_or_default();
    let mut inner = app.store.lock();
    let live = inner
        .get(&t.key(), t.ns(), &name)
        .ok_or_else(|| ApiError::not_found(t.rt.target(), &name))?;
    if let Some(uid) = &o.uid
        && uid != uid_of(&live)
    {
        return Err(ApiError {
            details: Some(json!({"name": name, "kind": t.rt.plural})),
            ..ApiError::new(
                409,
                "Conflict",
                format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    uid_of(&live)
                ),
            )
        });
    }
    if let Some(rv) = &o.rv
        && Some(rv.as_str())
            != live
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
    {
        return Err(ApiError::stale(t.rt.target(), &name));
    }
    match delete_one(&mut inner, t, &live, &o)? {
        Some(lingering) => ok(t.present(&lingering)),
        None if t.rt.kind == "Pod" => ok(t.present(&live)),
        None => ok(status::success(
            t.rt.target(),
            &t.rt.plural,
            &name,
            uid_of(&live),
        )),
    }
}

pub(super) fn delete_collection(app: &App, t: &Target, req: &Req) -> Result<Reply, ApiError> {
    let o = delete_opts(req)?;
    let ls = LabelSelector::parse(req.q("labelSelector").unwrap_or_default())?;
    let fs = FieldSelector::parse(
        req.q("fieldSelector").unwrap_or_default(),
        &t.rt.group,
        &t.rt.plural,
    )?;
    let mut inner = app.store.lock();
    let victims: Vec<Arc<Value>> = inner
        .list(&t.key(), t.ns.as_deref())
        .into_iter()
        .filter(|v| ls.matches(v) && fs.matches(v))
        .collect();
    let mut items = Vec::new();
    for v in &victims {
        let out = delete_one(&mut inner, t, v, &o)?;
        items.push(t.present(out.as_ref().unwrap_or(v)));
    }
    ok(
        json!({"kind": format!("{}List", t.rt.kind), "apiVersion": t.api_version(), "metadata": {"resourceVersion": inner.rv.to_string()}, "items": items}),
    )
}
