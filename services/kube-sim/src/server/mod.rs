//! The HTTP front: routes Kubernetes API paths to the handlers of its modules (reading, watching,
//! writing, deleting) and answers in the representation the client negotiated.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::Config;
use crate::discovery;
use crate::fieldpath::{Ctx, Scope};
use crate::registry::ResourceType;
use crate::status::ApiError;
use crate::store::Store;

mod delete;
mod read;
mod request;
mod review;
mod watch;
mod write;

pub(crate) use request::Req;
pub(crate) use write::{Op, WriteOpts, write};

/// What the handlers share.
#[derive(Debug)]
pub(crate) struct App {
    pub store: Store,
    pub config: Config,
    pub cancel: CancellationToken,
    pub addr: String,
}

/// What a handler answers: an API object (encoded as the client negotiated) or a ready response.
pub(crate) enum Reply {
    Object(StatusCode, Value),
    Raw(Response),
}

fn ok(v: Value) -> Result<Reply, ApiError> {
    Ok(Reply::Object(StatusCode::OK, v))
}

/// A JSON response, for what only has a JSON form (discovery, OpenAPI).
pub(crate) fn json_response(code: StatusCode, v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    (code, [(CONTENT_TYPE, "application/json")], body).into_response()
}

/// Entry point for every request.
pub(crate) async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let req = match Req::read(req).await {
        Ok(r) => r,
        Err(e) => return json_response(e.status_code(), &e.to_status()),
    };
    tracing::debug!(method = %req.method, path = %req.path, "request");
    match route(&app, &req).await {
        Ok(Reply::Object(code, v)) => req.respond(code, &v),
        Ok(Reply::Raw(r)) => r,
        Err(e) => req.respond(e.status_code(), &e.to_status()),
    }
}

async fn route(app: &Arc<App>, req: &Req) -> Result<Reply, ApiError> {
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let get = req.method == Method::GET;
    let raw = |r: Response| Ok(Reply::Raw(r));
    match segs.as_slice() {
        ["version"] if get => raw(json_response(StatusCode::OK, &discovery::version())),
        ["healthz" | "livez" | "readyz"] if get => raw((StatusCode::OK, "ok").into_response()),
        ["api"] if get => {
            if req.wants_aggregated() {
                let reg = app.store.lock().registry.clone();
                return raw(aggregated_response(&discovery::aggregated(&reg, true)));
            }
            raw(json_response(
                StatusCode::OK,
                &discovery::api_versions(&app.addr),
            ))
        }
        ["apis"] if get => {
            let reg = app.store.lock().registry.clone();
            if req.wants_aggregated() {
                return raw(aggregated_response(&discovery::aggregated(&reg, false)));
            }
            raw(json_response(
                StatusCode::OK,
                &discovery::api_group_list(&reg),
            ))
        }
        ["openapi", ..] if get => {
            crate::openapi::serve(app, &segs[1..], &req.query).map(Reply::Raw)
        }
        ["api", v] if get => {
            let reg = app.store.lock().registry.clone();
            let d = discovery::resource_list(&reg, "", v).ok_or_else(ApiError::no_route)?;
            raw(json_response(StatusCode::OK, &d))
        }
        ["apis", g] if get => {
            let reg = app.store.lock().registry.clone();
            let d = discovery::api_group(&reg, g).ok_or_else(ApiError::no_route)?;
            raw(json_response(StatusCode::OK, &d))
        }
        ["apis", g, v] if get => {
            let reg = app.store.lock().registry.clone();
            let d = discovery::resource_list(&reg, g, v).ok_or_else(ApiError::no_route)?;
            raw(json_response(StatusCode::OK, &d))
        }
        ["api", v, rest @ ..] => resource(app, req, "", v, rest).await,
        ["apis", g, v, rest @ ..] => resource(app, req, g, v, rest).await,
        _ => Err(ApiError::no_route()),
    }
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
pub(crate) struct Target {
    pub rt: ResourceType,
    pub version: String,
    pub ns: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

impl Target {
    pub(crate) fn key(&self) -> (String, String) {
        self.rt.key()
    }

    pub(crate) fn ns(&self) -> &str {
        self.ns.as_deref().unwrap_or_default()
    }

    pub(crate) fn api_version(&self) -> String {
        self.rt.api_version(&self.version)
    }

    pub(crate) fn scope(&self) -> Scope {
        match (self.sub.as_deref(), self.rt.status) {
            (Some("status"), _) => Scope::Status,
            (_, true) => Scope::MainIgnoringStatus,
            (_, false) => Scope::Main,
        }
    }

    pub(crate) fn ctx(&self) -> Ctx {
        Ctx {
            builtin: self.rt.builtin,
            scope: self.scope(),
        }
    }

    /// The object as served at this version.
    pub(crate) fn present(&self, obj: &Value) -> Value {
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
) -> Result<Reply, ApiError> {
    let t = parse_target(app, group, version, rest)?;
    // Custom resources have no protobuf form: a real server refuses such bodies.
    if !t.rt.builtin && req.is_protobuf() && req.method != Method::PATCH {
        return Err(ApiError::unsupported_media_type(&[
            "application/json",
            "application/yaml",
        ]));
    }
    if t.rt.create_only {
        return match (&req.method, t.name.is_some()) {
            (&Method::POST, false) => review::create(&t, req),
            _ => Err(ApiError::method_not_allowed()),
        };
    }
    match (&req.method, t.name.is_some()) {
        (&Method::GET, false) if req.flag("watch") => watch::watch(app, &t, req),
        (&Method::GET, false) => read::list(app, &t, req),
        (&Method::GET, true) => read::get(app, &t, req),
        (&Method::POST, false) => write::create(app, &t, req),
        (&Method::PUT, true) => write::update(app, &t, req),
        (&Method::PATCH, true) => write::patch_object(app, &t, req),
        (&Method::DELETE, true) => delete::delete(app, &t, req),
        (&Method::DELETE, false) => delete::delete_collection(app, &t, req),
        _ => Err(ApiError::method_not_allowed()),
    }
}

pub(crate) fn now() -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc()
        .format(f)
        .unwrap_or_default()
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
