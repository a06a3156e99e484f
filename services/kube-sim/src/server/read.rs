//! Reading: get (with the scale subresource and Tables) and list (selectors, paging, Tables).

use std::sync::Arc;

use base64::Engine;
use serde_json::{Value, json};

use super::{App, Reply, Req, Target, ok};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{name_of, namespace_of};

pub(super) fn scale_of(t: &Target, obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let meta = obj.get("metadata").cloned().unwrap_or(json!({}));
    let keep = [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ];
    let meta: serde_json::Map<String, Value> = meta
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| keep.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let _ = t;
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {"replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector},
    })
}

pub(super) fn get(app: &App, t: &Target, req: &Req) -> Result<Reply, ApiError> {
    let name = t.name.as_deref().unwrap_or_default();
    let obj = app
        .store
        .lock()
        .get(&t.key(), t.ns(), name)
        .ok_or_else(|| ApiError::not_found(t.rt.target(), name))?;
    if t.sub.as_deref() == Some("scale") {
        return ok(scale_of(t, &obj));
    }
    let obj = t.present(&obj);
    if req.wants_table() {
        return ok(crate::tables::table(
            &t.rt,
            &t.version,
            &[&obj],
            json!({"resourceVersion": obj["metadata"]["resourceVersion"]}),
            req.q("includeObject").unwrap_or("Metadata"),
        ));
    }
    ok(obj)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    ns: String,
    name: String,
}

pub(super) fn list(app: &App, t: &Target, req: &Req) -> Result<Reply, ApiError> {
    let ls = LabelSelector::parse(req.q("labelSelector").unwrap_or_default())?;
    let fs = FieldSelector::parse(
        req.q("fieldSelector").unwrap_or_default(),
        &t.rt.group,
        &t.rt.plural,
    )?;
    let limit: usize = match req.q("limit") {
        None | Some("") | Some("0") => 0,
        Some(s) => s
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid limit: {s:?}")))?,
    };
    let token = match req.q("continue") {
        None | Some("") => None,
        Some(c) => {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .map_err(|_| {
                    ApiError::bad_request("continue key is not valid: illegal base64 data")
                })?;
            Some(
                serde_json::from_slice::<ContinueToken>(&bytes).map_err(|_| {
                    ApiError::bad_request(
                        "continue key is not valid: incorrect encoded start resourceVersion",
                    )
                })?,
            )
        }
    };
    let (items, rv) = {
        let inner = app.store.lock();
        if let Some(tok) = &token
            && tok.rv < inner.oldest_resumable()
        {
            return Err(ApiError::gone(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
            ));
        }
        let all = inner.list(&t.key(), t.ns.as_deref());
        let rv = token.as_ref().map_or(inner.rv, |tok| tok.rv);
        (all, rv)
    };
    let mut selected: Vec<Arc<Value>> = items
        .into_iter()
        .filter(|o| {
            token.as_ref().is_none_or(|tok| {
                (namespace_of(o), name_of(o)) > (tok.ns.as_str(), tok.name.as_str())
            }) && ls.matches(o)
                && fs.matches(o)
        })
        .collect();
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if limit > 0 && selected.len() > limit {
        let remaining = selected.len() - limit;
        selected.truncate(limit);
        let last = &selected[limit - 1];
        let tok = ContinueToken {
            rv,
            ns: namespace_of(last).into(),
            name: name_of(last).into(),
        };
        let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&tok).unwrap_or_default());
        meta["continue"] = json!(enc);
        meta["remainingItemCount"] = json!(remaining);
    }
    let presented: Vec<Value> = selected
        .iter()
        .map(|o| {
            let mut p = t.present(o);
            // Lists of built-in kinds carry apiVersion/kind once, not per item; custom resources keep them.
            if t.rt.builtin
                && let Some(m) = p.as_object_mut()
            {
                m.remove("apiVersion");
                m.remove("kind");
            }
            p
        })
        .collect();
    if req.wants_table() {
        let full: Vec<Value> = selected.iter().map(|o| t.present(o)).collect();
        let refs: Vec<&Value> = full.iter().collect();
        return ok(crate::tables::table(
            &t.rt,
            &t.version,
            &refs,
            meta,
            req.q("includeObject").unwrap_or("Metadata"),
        ));
    }
    ok(
        json!({"kind": format!("{}List", t.rt.kind), "apiVersion": t.api_version(), "metadata": meta, "items": presented}),
    )
}
