//! The HTTP front: routes Kubernetes API paths to the store and speaks the wire format
//! (JSON objects and lists, Status errors, chunked watch streams, Tables).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::Config;
use crate::discovery;
use crate::fieldpath::{Ctx, Scope};
use crate::managed;
use crate::patch::{self, PatchType};
use crate::registry::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{self, ApiError};
use crate::store::{EventType, Inner, Store, name_of, namespace_of, uid_of};

/// What the handlers share.
#[derive(Debug)]
pub(crate) struct App {
    pub store: Store,
    pub config: Config,
    pub cancel: CancellationToken,
    pub addr: String,
}

pub(crate) fn json_response(code: StatusCode, v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    (code, [(CONTENT_TYPE, "application/json")], body).into_response()
}

fn ok(v: &Value) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, v))
}

/// The request, read whole (bodies are small; the real server caps them at 3 MiB too).
struct Req {
    method: Method,
    segs: Vec<String>,
    query: Vec<(String, String)>,
    accept: String,
    content_type: String,
    user_agent: String,
    body: Bytes,
}

impl Req {
    fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, k: &str) -> bool {
        matches!(self.q(k), Some("true" | "1"))
    }

    fn dry_run(&self) -> Result<bool, ApiError> {
        match self.q("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid dryRun value: {other:?}: supported values: \"All\""
            ))),
        }
    }

    /// The field manager, from the query or else from the User-Agent as the real server derives it.
    fn manager(&self) -> String {
        match self.q("fieldManager") {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => {
                let ua = self.user_agent.split('/').next().unwrap_or_default();
                ua.chars().take(128).collect()
            }
        }
    }

    fn wants_table(&self) -> bool {
        self.accept
            .split(',')
            .next()
            .is_some_and(|first| first.contains("as=Table"))
    }

    fn parse_body(&self) -> Result<Value, ApiError> {
        if self.body.is_empty() {
            return Err(ApiError::bad_request("the body of the request was empty"));
        }
        let text = std::str::from_utf8(&self.body)
            .map_err(|_| ApiError::bad_request("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml"))?;
        match serde_json::from_str::<Value>(text) {
            Ok(v) => Ok(v),
            Err(json_err) => {
                let trimmed = text.trim_start();
                if trimmed.starts_with('{') || trimmed.starts_with('[') {
                    return Err(ApiError::bad_request(format!(
                        "json parse error: {json_err}"
                    )));
                }
                serde_saphyr::from_str::<Value>(text).map_err(|e| {
                    ApiError::bad_request(format!("error converting YAML to JSON: {e}"))
                })
            }
        }
    }
}

/// Entry point for every request.
pub(crate) async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, 3 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return ApiError::too_large().into_response(),
    };
    let header = |h| {
        parts
            .headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let segs = parts
        .uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let query =
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default()).unwrap_or_default();
    let req = Req {
        method: parts.method,
        segs,
        query,
        accept: header(ACCEPT),
        content_type: header(CONTENT_TYPE),
        user_agent: header(USER_AGENT),
        body,
    };
    tracing::debug!(method = %req.method, path = %parts.uri, "request");
    route(&app, req)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn route(app: &Arc<App>, req: Req) -> Result<Response, ApiError> {
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let get = req.method == Method::GET;
    match segs.as_slice() {
        ["version"] if get => ok(&discovery::version()),
        ["healthz" | "livez" | "readyz"] if get => Ok((StatusCode::OK, "ok").into_response()),
        ["api"] if get => {
            if wants_aggregated(&req.accept) {
                let reg = app.store.lock().registry.clone();
                return Ok(aggregated_response(&discovery::aggregated(&reg, true)));
            }
            ok(&discovery::api_versions(&app.addr))
        }
        ["apis"] if get => {
            let reg = app.store.lock().registry.clone();
            if wants_aggregated(&req.accept) {
                return Ok(aggregated_response(&discovery::aggregated(&reg, false)));
            }
            ok(&discovery::api_group_list(&reg))
        }
        ["openapi", ..] if get => crate::openapi::serve(app, &segs[1..], &req.query),
        ["api", v] if get => {
            let reg = app.store.lock().registry.clone();
            discovery::resource_list(&reg, "", v)
                .map_or_else(|| Err(ApiError::no_route()), |d| ok(&d))
        }
        ["apis", g] if get => {
            let reg = app.store.lock().registry.clone();
            discovery::api_group(&reg, g).map_or_else(|| Err(ApiError::no_route()), |d| ok(&d))
        }
        ["apis", g, v] if get => {
            let reg = app.store.lock().registry.clone();
            discovery::resource_list(&reg, g, v)
                .map_or_else(|| Err(ApiError::no_route()), |d| ok(&d))
        }
        ["api", v, rest @ ..] => resource(app, &req, "", v, rest).await,
        ["apis", g, v, rest @ ..] => resource(app, &req, g, v, rest).await,
        _ => Err(ApiError::no_route()),
    }
}

fn wants_aggregated(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("g=apidiscovery.k8s.io") && first.contains("v=v2"))
}

fn aggregated_response(v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    (
        StatusCode::OK,
        [(
            CONTENT_TYPE,
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
        )],
        body,
    )
        .into_response()
}

/// A request for objects of one resource.
struct Target {
    rt: ResourceType,
    version: String,
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

impl Target {
    fn key(&self) -> (String, String) {
        self.rt.key()
    }

    fn ns(&self) -> &str {
        self.ns.as_deref().unwrap_or_default()
    }

    fn api_version(&self) -> String {
        self.rt.api_version(&self.version)
    }

    fn scope(&self) -> Scope {
        match (self.sub.as_deref(), self.rt.status) {
            (Some("status"), _) => Scope::Status,
            (_, true) => Scope::MainIgnoringStatus,
            (_, false) => Scope::Main,
        }
    }

    fn ctx(&self) -> Ctx {
        Ctx {
            builtin: self.rt.builtin,
            scope: self.scope(),
        }
    }

    /// The object as served at this version.
    fn present(&self, obj: &Value) -> Value {
        let mut o = obj.clone();
        o["apiVersion"] = json!(self.api_version());
        o["kind"] = json!(self.rt.kind);
        o
    }
}

fn parse_target(app: &App, group: &str, version: &str, rest: &[&str]) -> Result<Target, ApiError> {
    let (ns, plural, name, sub) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if !(tail.is_empty() && matches!(*plural, "status" | "finalize"))
                && tail.len() <= 2 =>
        {
            (
                Some(ns.to_string()),
                *plural,
                tail.first().copied(),
                tail.get(1).copied(),
            )
        }
        [plural] => (None, *plural, None, None),
        [plural, name] => (None, *plural, Some(*name), None),
        [plural, name, sub] => (None, *plural, Some(*name), Some(*sub)),
        _ => return Err(ApiError::no_route()),
    };
    let rt = app
        .store
        .lock()
        .registry
        .find(group, version, plural)
        .cloned()
        .ok_or_else(ApiError::no_route)?;
    if ns.is_some() && !rt.namespaced {
        return Err(ApiError::no_route());
    }
    if rt.namespaced && ns.is_none() && name.is_some() {
        return Err(ApiError::no_route());
    }
    match sub {
        None => {}
        Some("status") if rt.status => {}
        Some("scale") if rt.scale => {}
        Some("finalize") if rt.kind == "Namespace" => {}
        Some(_) => return Err(ApiError::no_route()),
    }
    Ok(Target {
        rt,
        version: version.to_string(),
        ns,
        name: name.map(String::from),
        sub: sub.map(String::from),
    })
}

async fn resource(
    app: &Arc<App>,
    req: &Req,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Response, ApiError> {
    let t = parse_target(app, group, version, rest)?;
    match (&req.method, t.name.is_some()) {
        (&Method::GET, false) if req.flag("watch") => watch(app, &t, req),
        (&Method::GET, false) => list(app, &t, req),
        (&Method::GET, true) => get(app, &t, req),
        (&Method::POST, false) => create(app, &t, req),
        (&Method::PUT, true) => update(app, &t, req),
        (&Method::PATCH, true) => patch_object(app, &t, req),
        (&Method::DELETE, true) => delete(app, &t, req),
        (&Method::DELETE, false) => delete_collection(app, &t, req),
        _ => Err(ApiError::method_not_allowed()),
    }
}

pub(crate) fn now() -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc()
        .format(f)
        .unwrap_or_default()
}

fn scale_of(t: &Target, obj: &Value) -> Value {
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

fn get(app: &App, t: &Target, req: &Req) -> Result<Response, ApiError> {
    let name = t.name.as_deref().unwrap_or_default();
    let obj = app
        .store
        .lock()
        .get(&t.key(), t.ns(), name)
        .ok_or_else(|| ApiError::not_found(t.rt.target(), name))?;
    if t.sub.as_deref() == Some("scale") {
        return ok(&scale_of(t, &obj));
    }
    let obj = t.present(&obj);
    if req.wants_table() {
        return ok(&discovery::table(
            &t.rt,
            &[&obj],
            json!({"resourceVersion": obj["metadata"]["resourceVersion"]}),
            req.q("includeObject").unwrap_or("Metadata"),
        ));
    }
    ok(&obj)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    ns: String,
    name: String,
}

fn list(app: &App, t: &Target, req: &Req) -> Result<Response, ApiError> {
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
        return ok(&discovery::table(
            &t.rt,
            &refs,
            meta,
            req.q("includeObject").unwrap_or("Metadata"),
        ));
    }
    ok(
        &json!({"kind": format!("{}List", t.rt.kind), "apiVersion": t.api_version(), "metadata": meta, "items": presented}),
    )
}

fn event_line(ty: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": ty, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn watch(app: &Arc<App>, t: &Target, req: &Req) -> Result<Response, ApiError> {
    let ls = LabelSelector::parse(req.q("labelSelector").unwrap_or_default())?;
    let fs = FieldSelector::parse(
        req.q("fieldSelector").unwrap_or_default(),
        &t.rt.group,
        &t.rt.plural,
    )?;
    let timeout = match req.q("timeoutSeconds") {
        Some(s) => Duration::from_secs(
            s.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {s:?}")))?,
        ),
        None => Duration::from_secs(1800),
    };
    let initial_events = req.flag("sendInitialEvents");
    let rv_param = req.q("resourceVersion").unwrap_or_default();
    let matches = move |o: &Value| ls.matches(o) && fs.matches(o);
    let mut first: Vec<Bytes> = Vec::new();
    let mut gone = false;
    let cursor = {
        let inner = app.store.lock();
        if rv_param.is_empty() || rv_param == "0" || initial_events {
            // "Get state and start at most recent": synthetic ADDED for what exists now.
            for o in inner
                .list(&t.key(), t.ns.as_deref())
                .iter()
                .filter(|o| matches(o))
            {
                first.push(event_line("ADDED", &t.present(o)));
            }
            if initial_events {
                let bookmark = json!({"kind": t.rt.kind, "apiVersion": t.api_version(), "metadata": {
                    "resourceVersion": inner.rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}});
                first.push(event_line("BOOKMARK", &bookmark));
            }
            inner.rv
        } else {
            let n: u64 = rv_param.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid resource version: {rv_param:?}"))
            })?;
            if let Err(g) = inner.events_since(n) {
                first.push(gone_line(n, g.oldest));
                gone = true;
            }
            n
        }
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let app2 = app.clone();
    let key = t.key();
    let ns = t.ns.clone();
    let present = {
        let rt = t.rt.clone();
        let api_version = t.api_version();
        move |o: &Value| {
            let mut o = o.clone();
            o["apiVersion"] = json!(api_version);
            o["kind"] = json!(rt.kind);
            o
        }
    };
    tokio::spawn(async move {
        for line in first {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        if gone {
            return;
        }
        let mut notify = app2.store.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut cursor = cursor;
        loop {
            let batch = app2.store.lock().events_since(cursor);
            let events = match batch {
                Ok(e) => e,
                Err(g) => {
                    let _ = tx.send(gone_line(cursor, g.oldest)).await;
                    return;
                }
            };
            for e in events {
                cursor = e.rv;
                if e.key != key || ns.as_deref().is_some_and(|n| n != e.namespace) {
                    continue;
                }
                let now_matches = matches(&e.object);
                let ty = match e.ty {
                    EventType::Added if now_matches => "ADDED",
                    EventType::Deleted if now_matches => "DELETED",
                    EventType::Modified => {
                        match (e.old.as_deref().is_some_and(&matches), now_matches) {
                            (true, true) => "MODIFIED",
                            (false, true) => "ADDED",
                            (true, false) => "DELETED",
                            (false, false) => continue,
                        }
                    }
                    _ => continue,
                };
                if tx.send(event_line(ty, &present(&e.object))).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                r = notify.changed() => if r.is_err() { return },
                _ = tokio::time::sleep_until(deadline) => return,
                _ = app2.cancel.cancelled() => return,
                _ = tx.closed() => return,
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok((
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

fn gone_line(asked: u64, oldest: u64) -> Bytes {
    let err = ApiError::gone(format!(
        "too old resource version: {asked} ({})",
        oldest.saturating_sub(1)
    ));
    event_line("ERROR", &err.to_status())
}

/// How a write was asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Create,
    Update,
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
        managed::track_update(live, &mut obj, o.manager, &api_version, ctx, &now);
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

const GENERATE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

pub(crate) fn random_suffix(n: usize) -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes
        .iter()
        .take(n)
        .map(|b| GENERATE_ALPHABET[*b as usize % GENERATE_ALPHABET.len()] as char)
        .collect()
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

fn create(app: &App, t: &Target, req: &Req) -> Result<Response, ApiError> {
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
    Ok(json_response(StatusCode::CREATED, &out))
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

fn update(app: &App, t: &Target, req: &Req) -> Result<Response, ApiError> {
    let mut obj = req.parse_body()?;
    let name = t.name.clone().unwrap_or_default();
    let dry_run = req.dry_run()?;
    let manager = req.manager();
    let mut inner = app.store.lock();
    let live = inner
        .get(&t.key(), t.ns(), &name)
        .ok_or_else(|| ApiError::not_found(t.rt.target(), &name))?;
    if t.sub.as_deref() == Some("scale") {
        let replicas = obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
        let mut new = (*live).clone();
        new["spec"]["replicas"] = replicas;
        let opts = WriteOpts {
            manager: &manager,
            op: Op::Update,
            scope: Scope::MainIgnoringStatus,
            dry_run,
        };
        let stored = write(&mut inner, &t.rt, &t.version, Some(&live), new, opts)?;
        return ok(&scale_of(t, &stored));
    }
    check_type(t, &obj)?;
    check_name(t, &obj)?;
    check_namespace(t, &mut obj)?;
    obj["metadata"]["name"] = json!(name);
    match obj
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        Some(rv)
            if !rv.is_empty()
                && Some(rv)
                    != live
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str) =>
        {
            return Err(ApiError::stale(t.rt.target(), &name));
        }
        _ => {}
    }
    let opts = WriteOpts {
        manager: &manager,
        op: Op::Update,
        scope: t.scope(),
        dry_run,
    };
    let stored = write(&mut inner, &t.rt, &t.version, Some(&live), obj, opts)?;
    ok(&t.present(&stored))
}

fn patch_object(app: &App, t: &Target, req: &Req) -> Result<Response, ApiError> {
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
        let replicas = new.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
        let mut obj = (*live).clone();
        obj["spec"]["replicas"] = replicas;
        let opts = WriteOpts {
            manager: &manager,
            op: Op::Update,
            scope: Scope::MainIgnoringStatus,
            dry_run,
        };
        let stored = write(&mut inner, &t.rt, &t.version, Some(&live), obj, opts)?;
        return ok(&scale_of(t, &stored));
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
    match new
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        Some(rv)
            if !rv.is_empty()
                && Some(rv)
                    != live
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str) =>
        {
            return Err(ApiError::stale(t.rt.target(), &name));
        }
        _ => {}
    }
    let opts = WriteOpts {
        manager: &manager,
        op: Op::Update,
        scope: t.scope(),
        dry_run,
    };
    let stored = write(&mut inner, &t.rt, &t.version, Some(&live), new, opts)?;
    ok(&t.present(&stored))
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
) -> Result<Response, ApiError> {
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
    Ok(json_response(code, &t.present(&stored)))
}

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

fn delete(app: &App, t: &Target, req: &Req) -> Result<Response, ApiError> {
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
        Some(lingering) => ok(&t.present(&lingering)),
        None if t.rt.kind == "Pod" => ok(&t.present(&live)),
        None => ok(&status::success(
            t.rt.target(),
            &t.rt.plural,
            &name,
            uid_of(&live),
        )),
    }
}

fn delete_collection(app: &App, t: &Target, req: &Req) -> Result<Response, ApiError> {
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
        &json!({"kind": format!("{}List", t.rt.kind), "apiVersion": t.api_version(), "metadata": {"resourceVersion": inner.rv.to_string()}, "items": items}),
    )
}
