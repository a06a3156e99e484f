//! Writing: the common write path (metadata, defaults, validation, generation, managed fields),
//! and create, update, patch and server-side apply on top of it.

use std::sync::Arc;

use http::StatusCode;
use serde_json::{Value, json};

use super::read::scale_of;
use super::{App, Reply, Req, Target, now, ok, random_suffix};
use crate::fieldpath::{Ctx, Scope};
use crate::managed;
use crate::patch::{self, PatchType};
use crate::registry::ResourceType;
use crate::status::ApiError;
use crate::store::{Inner, name_of, namespace_of};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Create,
    Update,
    /// An update through the scale subresource.
    Scale,
    /// Server-side apply; managed fields are already computed.
    Apply,
}

/// Options of one write.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteOpts<'a> {
    pub manager: &'a str,
    pub op: Op,
    pub scope: Scope,
    pub dry_run: bool,
}

fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, c| !c.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn spec_part(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    c
}

fn without_mf_times(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(list) = c
        .pointer_mut("/metadata/managedFields")
        .and_then(Value::as_array_mut)
    {
        for e in list {
            if let Some(m) = e.as_object_mut() {
                m.remove("time");
            }
        }
    }
    c
}

/// The common path of every write: server-maintained metadata, defaults, validation,
/// generation, managed fields, no-op detection, finalization and storage.
pub(crate) fn write(
    inner: &mut Inner,
    rt: &ResourceType,
    version: &str,
    live: Option<&Value>,
    mut obj: Value,
    o: WriteOpts<'_>,
) -> Result<Arc<Value>, ApiError> {
    let now = now();
    let api_version = rt.api_version(version);
    strip_nulls(&mut obj);
    if !obj.is_object() {
        return Err(ApiError::bad_request("the object must be a JSON object"));
    }
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(rt.kind);
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    if !rt.namespaced
        && let Some(m) = obj["metadata"].as_object_mut()
    {
        m.remove("namespace");
    }
    match live {
        Some(l) => {
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match l["metadata"].get(k) {
                    Some(v) => obj["metadata"][k] = v.clone(),
                    None => {
                        if let Some(m) = obj["metadata"].as_object_mut() {
                            m.remove(k);
                        }
                    }
                }
            }
            match o.scope {
                Scope::MainIgnoringStatus => match l.get("status") {
                    Some(s) => obj["status"] = s.clone(),
                    None => {
                        if let Some(m) = obj.as_object_mut() {
                            m.remove("status");
                        }
                    }
                },
                Scope::Status => {
                    let status = obj.get("status").cloned();
                    let mf = obj["metadata"].get("managedFields").cloned();
                    obj = l.clone();
                    match status {
                        Some(s) => obj["status"] = s,
                        None => {
                            if let Some(m) = obj.as_object_mut() {
                                m.remove("status");
                            }
                        }
                    }
                    if let Some(mf) = mf {
                        obj["metadata"]["managedFields"] = mf;
                    }
                }
                Scope::Main => {}
            }
        }
        None => {
            obj["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
            obj["metadata"]["creationTimestamp"] = json!(now);
            if let Some(m) = obj["metadata"].as_object_mut() {
                for k in [
                    "resourceVersion",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "generation",
                ] {
                    m.remove(k);
                }
            }
            if rt.status
                && let Some(m) = obj.as_object_mut()
            {
                m.remove("status");
            }
            if rt.generation {
                obj["metadata"]["generation"] = json!(1);
            }
        }
    }
    crate::defaults::apply(rt, &mut obj, live, inner);
    crate::defaults::validate(rt, &obj, live)?;
    let names_changed =
        live.is_none_or(|l| l.pointer("/status/acceptedNames") != obj.pointer("/spec/names"));
    if rt.kind == "CustomResourceDefinition" && rt.builtin && names_changed {
        crate::defaults::crd_status(&mut obj, &now);
    }
    if let Some(l) = live
        && rt.generation
        && o.scope != Scope::Status
        && spec_part(l) != spec_part(&obj)
    {
        let g = l
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        obj["metadata"]["generation"] = json!(g + 1);
    }
    if o.op != Op::Apply {
        let ctx = Ctx {
            builtin: rt.builtin,
            scope: o.scope,
        };
        managed::track_update(
            live,
            &mut obj,
            o.manager,
            &api_version,
            ctx,
            &now,
            o.op == Op::Scale,
        );
    }
    if let Some(l) = live {
        let mut cmp = obj.clone();
        cmp["metadata"]["resourceVersion"] = l["metadata"]["resourceVersion"].clone();
        if without_mf_times(&cmp) == without_mf_times(l) {
            return Ok(Arc::new(l.clone()));
        }
    }
    let key = rt.key();
    let finalized = obj.pointer("/metadata/deletionTimestamp").is_some()
        && obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
    if o.dry_run {
        return Ok(Arc::new(obj));
    }
    if finalized {
        let (ns, name) = (namespace_of(&obj).to_string(), name_of(&obj).to_string());
        inner.put(&key, obj);
        let gone = inner
            .remove(&key, &ns, &name)
            .ok_or_else(|| ApiError::internal("object vanished"))?;
        inner.collect_garbage();
        return Ok(gone);
    }
    Ok(inner.put(&key, obj))
}

fn check_namespace(t: &Target, obj: &mut Value) -> Result<(), ApiError> {
    if !t.rt.namespaced {
        return Ok(());
    }
    let url_ns = t.ns().to_string();
    match obj.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() && ns != url_ns => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => {
            obj["metadata"]["namespace"] = json!(url_ns);
            Ok(())
        }
    }
}

fn check_type(t: &Target, obj: &Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON or YAML object",
        ));
    }
    if let Some(av) = obj.get("apiVersion").and_then(Value::as_str)
        && !av.is_empty()
        && av != t.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            t.api_version()
        )));
    }
    if let Some(k) = obj.get("kind").and_then(Value::as_str)
        && !k.is_empty()
        && k != t.rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            t.rt.kind
        )));
    }
    if obj.get("metadata").is_some_and(|m| !m.is_object()) {
        return Err(ApiError::bad_request("metadata must be an object"));
    }
    Ok(())
}

fn namespace_ready(inner: &Inner, t: &Target) -> Result<(), ApiError> {
    if !t.rt.namespaced {
        return Ok(());
    }
    let ns = inner
        .get(&(String::new(), "namespaces".into()), "", t.ns())
        .ok_or_else(|| ApiError::namespace_not_found(t.ns()))?;
    if ns.pointer("/metadata/deletionTimestamp").is_some() {
        return Err(ApiError::new(
            403,
            "Forbidden",
            format!(
                "unable to create new content in namespace {} because it is being terminated",
                t.ns()
            ),
        ));
    }
    Ok(())
}

pub(super) fn create(app: &App, t: &Target, req: &Req) -> Result<Reply, ApiError> {
    let mut obj = req.parse_body()?;
    check_type(t, &obj)?;
    check_namespace(t, &mut obj)?;
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if name.is_empty()
        && let Some(prefix) = obj
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
        && !prefix.is_empty()
    {
        obj["metadata"]["name"] = json!(format!("{prefix}{}", random_suffix(5)));
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let dry_run = req.dry_run()?;
    let manager = req.manager();
    let mut inner = app.store.lock();
    namespace_ready(&inner, t)?;
    if !name.is_empty() && inner.get(&t.key(), t.ns(), &name).is_some() {
        return Err(ApiError::already_exists(t.rt.target(), &name));
    }
    let opts = WriteOpts {
        manager: &manager,
        op: Op::Create,
        scope: t.scope(),
        dry_run,
    };
    let stored = write(&mut inner, &t.rt, &t.version, None, obj, opts)?;
    let mut out = t.present(&stored);
    if dry_run && let Some(m) = out["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    Ok(Reply::Object(StatusCode::CREATED, out))
}

fn check_name(t: &Target, obj: &Value) -> Result<(), ApiError> {
    let url = t.name.as_deref().unwrap_or_default();
    match obj.pointer("/metadata/name").and_then(Value::as_str) {
        Some(n) if n != url => Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({url})"
        ))),
        _ => Ok(()),
    }
}

pub(super) fn update(app: &App, t: &Target, req: &Req) -> Result<Reply, ApiError> {
    let mut obj = req.parse_body()?;
    let name = t.name.clone().unwrap_or_default();
    let dry_run = req.dry_run()?;
    let manager = req.manager();
    let mut inner = app.store.lock();
    let live = inner
        .get(&t.key(), t.ns(), &name)
        .ok_or_else(|| ApiError::not_found(t.rt.target(), &name))?;
    if t.sub.as_deref() == Some("scale") {
        return write_scale(&mut inner, t, &live, &obj, &manager, dry_run);
    }
    check_type(t, &obj)?;
    check_name(t, &obj)?;
    check_namespace(t, &mut obj)?;
    obj["metadata"]["name"] = json!(name);
    write_update(&mut inner, t, &live, obj, &manager, dry_run)
}

/// Sets the live object's `spec.replicas` to the one `scale` (a Scale, or the object patched
/// as one) names, as the scale subresource does: nothing else changes. Answers with the Scale.
fn write_scale(
    inner: &mut Inner,
    t: &Target,
    live: &Value,
    scale: &Value,
    manager: &str,
    dry_run: bool,
) -> Result<Reply, ApiError> {
    let mut obj = live.clone();
    obj["spec"]["replicas"] = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
    let opts = WriteOpts {
        manager,
        op: Op::Scale,
        scope: Scope::MainIgnoringStatus,
        dry_run,
    };
    let stored = write(inner, &t.rt, &t.version, Some(live), obj, opts)?;
    ok(scale_of(t, &stored))
}

/// Stores `obj` over `live` as an update (a replace or a patch), unless it names a
/// resourceVersion other than the live one: it was read before someone else's write (409).
fn write_update(
    inner: &mut Inner,
    t: &Target,
    live: &Value,
    obj: Value,
    manager: &str,
    dry_run: bool,
) -> Result<Reply, ApiError> {
    fn rv(o: &Value) -> &str {
        o.pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    if !rv(&obj).is_empty() && rv(&obj) != rv(live) {
        return Err(ApiError::stale(
            t.rt.target(),
            t.name.as_deref().unwrap_or_default(),
        ));
    }
    let opts = WriteOpts {
        manager,
        op: Op::Update,
        scope: t.scope(),
        dry_run,
    };
    let stored = write(inner, &t.rt, &t.version, Some(live), obj, opts)?;
    ok(t.present(&stored))
}

pub(super) fn patch_object(app: &App, t: &Target, req: &Req) -> Result<Reply, ApiError> {
    let accepted: &[&str] = if t.rt.builtin {
        &[
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
            "application/strategic-merge-patch+json",
        ]
    } else {
        &[
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ]
    };
    let ty = PatchType::from_content_type(&req.content_type)
        .ok_or_else(|| ApiError::unsupported_media_type(accepted))?;
    if ty == PatchType::Strategic && !t.rt.builtin {
        return Err(ApiError::unsupported_media_type(accepted));
    }
    let body = req.parse_body()?;
    let name = t.name.clone().unwrap_or_default();
    let dry_run = req.dry_run()?;
    if ty == PatchType::Apply {
        return apply(app, t, req, body, &name, dry_run);
    }
    let manager = req.manager();
    let mut inner = app.store.lock();
    let live = inner
        .get(&t.key(), t.ns(), &name)
        .ok_or_else(|| ApiError::not_found(t.rt.target(), &name))?;
    let scale = t.sub.as_deref() == Some("scale");
    let mut new = if scale {
        scale_of(t, &live)
    } else {
        t.present(&live)
    };
    match ty {
        PatchType::Json => patch::json_patch(&mut new, &body)?,
        PatchType::Merge => patch::merge_patch(&mut new, &body)?,
        PatchType::Strategic => patch::strategic_merge(&mut new, &body)?,
        PatchType::Apply => unreachable_apply()?,
    }
    if scale {
        return write_scale(&mut inner, t, &live, &new, &manager, dry_run);
    }
    check_type(t, &new)?;
    check_name(t, &new)?;
    if new
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        != live
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
    {
        return Err(ApiError::bad_request(
            "the namespace of the object cannot be changed by a patch",
        ));
    }
    write_update(&mut inner, t, &live, new, &manager, dry_run)
}

fn unreachable_apply() -> Result<(), ApiError> {
    Err(ApiError::internal("apply patches are handled separately"))
}

fn apply(
    app: &App,
    t: &Target,
    req: &Req,
    mut cfg: Value,
    name: &str,
    dry_run: bool,
) -> Result<Reply, ApiError> {
    let manager = match req.q("fieldManager") {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => {
            return Err(ApiError::bad_request(
                "PATCH, application/apply-patch+yaml: fieldManager is required for apply requests",
            ));
        }
    };
    let force = match req.q("force") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid force value: {other:?}"
            )));
        }
    };
    if !cfg.is_object() {
        return Err(ApiError::bad_request(
            "the apply configuration must be an object",
        ));
    }
    if cfg
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(ApiError::bad_request(
            "error decoding YAML: Object 'apiVersion' is missing in apply configuration",
        ));
    }
    if cfg
        .get("kind")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(ApiError::bad_request(
            "error decoding YAML: Object 'Kind' is missing in apply configuration",
        ));
    }
    check_type(t, &cfg)?;
    check_name(t, &cfg)?;
    check_namespace(t, &mut cfg)?;
    cfg["metadata"]["name"] = json!(name);
    let mut inner = app.store.lock();
    let live = inner.get(&t.key(), t.ns(), name);
    if let Some(l) = &live
        && let Some(rv) = cfg
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
        && !rv.is_empty()
        && Some(rv)
            != l.pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
    {
        return Err(ApiError::stale(t.rt.target(), name));
    }
    if live.is_none() {
        if t.scope() == Scope::Status {
            return Err(ApiError::not_found(t.rt.target(), name));
        }
        namespace_ready(&inner, t)?;
    }
    let merged = managed::apply(
        live.as_deref(),
        &cfg,
        &manager,
        force,
        &t.api_version(),
        t.ctx(),
        &now(),
    )?;
    let op = if live.is_some() {
        Op::Apply
    } else {
        Op::Create
    };
    // Creation by apply records an Apply entry, which `managed::apply` already wrote.
    let opts = WriteOpts {
        manager: &manager,
        op: Op::Apply,
        scope: t.scope(),
        dry_run,
    };
    let stored = write(&mut inner, &t.rt, &t.version, live.as_deref(), merged, opts)?;
    let code = if op == Op::Create {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(Reply::Object(code, t.present(&stored)))
}
