//! The HTTP server: routes, authentication, authorisation, the JSON errors of contract section
//! 12, metrics and the audit record of every request that is not a probe.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use async_nats::jetstream;
use futures::StreamExt;
use gantry_proto::v1;
use serde::Deserialize;
use serde_json::json;

use crate::audit::{self, ApiRecord};
use crate::auth::{self, Actor};
use crate::catalog::{Catalog, EnvDecl};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::rbac::{Action, RuleSet};

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How long a request naming an unknown app waits before it may trigger another re-read.
const MISS_REFRESH: Duration = Duration::from_secs(2);

/// Why the API could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The NATS URL is unusable.
    #[error(transparent)]
    Connect(#[from] gantry_nats::ConnectError),
    /// The HTTP server failed.
    #[error("the HTTP server failed")]
    Http(#[source] std::io::Error),
    /// The NATS server cannot be used: too old, or it refused to set up the streams.
    #[error(transparent)]
    Nats(#[from] gantry_nats::Error),
}

/// Waits for the first connection, refuses a server older than Gantry supports, and sets up
/// the streams the API publishes to; retries what time can fix, returns what it cannot.
async fn check_nats(
    client: async_nats::Client,
    js: jetstream::Context,
    replicas: usize,
) -> Result<(), gantry_nats::Error> {
    while client.connection_state() != async_nats::connection::State::Connected {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gantry_nats::check_server(&client)?;
    for (config, name) in [
        (
            gantry_nats::events_stream_config(replicas),
            gantry_nats::EVENTS_STREAM,
        ),
        (
            gantry_nats::audit_stream_config(replicas),
            gantry_nats::AUDIT_STREAM,
        ),
    ] {
        let mut delay = Duration::from_millis(100);
        loop {
            match gantry_nats::ensure_stream(&js, &config, name).await {
                Ok(_) => break,
                Err(e) if e.is_refusal() => return Err(e),
                Err(e) => {
                    tracing::warn!(stream = name, error = %e, "cannot set up the stream yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
    Ok(())
}

/// Everything handlers share.
#[derive(Debug)]
pub struct AppState {
    pub(crate) config: Config,
    pub(crate) client: async_nats::Client,
    pub(crate) js: jetstream::Context,
    pub(crate) metrics: Metrics,
    pub(crate) rules: RuleSet,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) audit: audit::Index,
    pub(crate) oidc: Option<Arc<crate::oidc::Verifier>>,
    pub(crate) http: reqwest::Client,
}

/// An error answer: status, machine code, sentence.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 503 `nats_unavailable` with `Retry-After`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            retry_after: Some(5),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }

    fn response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            b.insert_header(("WWW-Authenticate", "Bearer realm=\"gantry\""));
        }
        if let Some(s) = self.retry_after {
            b.insert_header(("Retry-After", s.to_string()));
        }
        b.json(json!({"error": self.code, "message": self.message}))
    }
}

/// Serves the API on `listener` until `shutdown` completes, then drains in-flight requests.
pub async fn run(
    listener: std::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let client = gantry_nats::connect_service(
        &config.nats_url,
        async_nats::ConnectOptions::new().name("gantry-api"),
    )
    .await?;
    let js = jetstream::ContextBuilder::new()
        .timeout(config.publish_timeout)
        .build(client.clone());
    let http = crate::http_client();
    let oidc = config
        .oidc
        .clone()
        .map(|o| Arc::new(crate::oidc::Verifier::new(o, http.clone())));
    let grace = config.shutdown_grace;
    let catalog = Arc::new(Catalog::new(
        config.data_dir.join("mirrors"),
        config.repositories.clone(),
    ));
    let state = web::Data::new(AppState {
        config,
        client,
        js,
        metrics: Metrics::default(),
        rules: RuleSet::default(),
        catalog,
        audit: audit::Index::default(),
        oidc,
        http,
    });
    let tasks = crate::background::start(state.clone().into_inner());
    let mut check = tokio::spawn(check_nats(
        state.client.clone(),
        state.js.clone(),
        state.config.nats_replicas,
    ));

    let listening = listener.try_clone().map_err(Error::Http)?;
    let server = build(state.clone(), listener, grace).map_err(Error::Http)?;
    let handle = server.handle();
    let mut server = std::pin::pin!(server);
    let mut fatal = None;
    let result = tokio::select! {
        r = &mut server => r,
        Ok(Err(e)) = &mut check => {
            fatal = Some(e);
            // The server future must keep running while it processes the stop command.
            let (_, r) = tokio::join!(handle.stop(false), &mut server);
            r
        }
        () = shutdown => {
            tracing::info!(grace = ?grace, "shutting down: refusing new connections, finishing in-flight requests");
            let stopping = async {
                handle.pause().await;
                if let Err(e) = socket2::Socket::from(listening).shutdown(std::net::Shutdown::Both) {
                    tracing::warn!(error = %e, "could not close the listening socket");
                }
                handle.stop(true).await;
            };
            let ((), r) = tokio::join!(stopping, &mut server);
            r
        }
    };
    for t in tasks {
        t.abort();
    }
    check.abort();
    if let Err(e) = state.client.flush().await {
        tracing::warn!(error = %e, "could not flush the NATS connection at shutdown");
    }
    tracing::info!("gantry-api stopped");
    if let Some(e) = fatal {
        return Err(Error::Nats(e));
    }
    result.map_err(Error::Http)
}

fn build(
    state: web::Data<AppState>,
    listener: std::net::TcpListener,
    grace: Duration,
) -> std::io::Result<actix_web::dev::Server> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .service(
                web::resource("/api/v1/apps")
                    .route(web::get().to(apps))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/api/v1/apps/{app}/environments/{env}")
                    .route(web::get().to(environment))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/api/v1/apps/{app}/environments/{env}/sync")
                    .route(web::post().to(sync))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/api/v1/apps/{app}/environments/{env}/rollback")
                    .route(web::post().to(rollback))
                    .default_service(web::to(method_not_allowed)),
            )
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
            .default_service(web::to(not_found))
    })
    .disable_signals()
    .shutdown_timeout(grace.as_secs().max(1))
    .workers(2);
    Ok(server.listen(listener)?.run())
}

/// Which API route a request is, for metrics and dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Apps,
    Environment,
    Sync,
    Rollback,
}

impl Route {
    fn label(self) -> &'static str {
        match self {
            Route::Apps => "apps",
            Route::Environment => "environment",
            Route::Sync => "sync",
            Route::Rollback => "rollback",
        }
    }
}

async fn apps(req: HttpRequest, body: web::Payload, s: web::Data<AppState>) -> HttpResponse {
    api(Route::Apps, req, body, s).await
}
async fn environment(req: HttpRequest, body: web::Payload, s: web::Data<AppState>) -> HttpResponse {
    api(Route::Environment, req, body, s).await
}
async fn sync(req: HttpRequest, body: web::Payload, s: web::Data<AppState>) -> HttpResponse {
    api(Route::Sync, req, body, s).await
}
async fn rollback(req: HttpRequest, body: web::Payload, s: web::Data<AppState>) -> HttpResponse {
    api(Route::Rollback, req, body, s).await
}

/// Runs one API request: answers, counts and audits it.
async fn api(
    route: Route,
    req: HttpRequest,
    body: web::Payload,
    s: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let mut rec = ApiRecord {
        request_id: uuid::Uuid::now_v7().to_string(),
        traceparent: gantry_telemetry::child_traceparent(
            req.headers()
                .get("traceparent")
                .and_then(|v| v.to_str().ok()),
        ),
        ..Default::default()
    };
    let result = dispatch(route, &req, body, &s, &mut rec).await;
    let (resp, why) = match result {
        Ok(r) => (r, String::new()),
        Err(e) => {
            let why = format!(" ({}: {})", e.code, e.message);
            (e.response(), why)
        }
    };
    let code = resp.status().as_u16();
    s.metrics.count(route.label(), code);
    rec.outcome = match code {
        200..=299 => v1::Outcome::Succeeded,
        401 | 403 => v1::Outcome::Denied,
        _ => v1::Outcome::Failed,
    };
    rec.message = format!("{} {}: {code}{why}", req.method(), req.path());
    rec.duration = started.elapsed();
    tracing::info!(
        route = route.label(),
        code,
        actor = rec.actor.as_ref().map(Actor::display).unwrap_or_default(),
        app = %rec.app,
        environment = %rec.environment,
        "{}",
        rec.message
    );
    // The trail is written before the answer, so a caller that saw the answer can find it;
    // when NATS is down the answer is not held up (it is a 503 anyway, or a read).
    if s.client.connection_state() == async_nats::connection::State::Connected {
        let timeout = s.config.publish_timeout.min(Duration::from_secs(2));
        if let Err(e) = audit::publish(&s.js, rec, timeout).await {
            tracing::warn!(error = %e, "could not store the request's audit record");
        }
    } else {
        tracing::warn!("NATS is down: the request's audit record is not stored");
    }
    resp
}

async fn dispatch(
    route: Route,
    req: &HttpRequest,
    body: web::Payload,
    s: &AppState,
    rec: &mut ApiRecord,
) -> Result<HttpResponse, ApiError> {
    let actor = authenticate(s, req).await?;
    rec.actor = Some(actor.clone());
    let query = parse_query(req.query_string())?;
    if route == Route::Apps {
        return list_apps(s, &actor, query.repository.as_deref()).await;
    }
    let app = req.match_info().get("app").unwrap_or_default().to_owned();
    let env = req.match_info().get("env").unwrap_or_default().to_owned();
    rec.app = app.clone();
    rec.environment = env.clone();
    let target = resolve(s, &app, &env, query.repository.as_deref()).await?;
    rec.repository = target.repository.clone();
    let action = match route {
        Route::Environment => Action::Get,
        Route::Sync => Action::Sync,
        Route::Rollback => Action::Rollback,
        Route::Apps => Action::Get,
    };
    authorize(s, &actor, action, &target)?;
    match route {
        Route::Environment => Ok(HttpResponse::Ok().json(env_detail(s, &target).await?)),
        Route::Sync => {
            let raw = read_body(req, body).await?;
            crate::sync::sync(s, req, &raw, &actor, &target, rec).await
        }
        Route::Rollback => {
            let raw = read_body(req, body).await?;
            crate::rollback::rollback(s, &raw, &actor, &target, rec).await
        }
        Route::Apps => unreachable!("handled above"),
    }
}

/// Checks the bearer token: a static token, else an OIDC token of the configured issuer.
async fn authenticate(s: &AppState, req: &HttpRequest) -> Result<Actor, ApiError> {
    let unauthenticated =
        |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", m.to_owned());
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(token) = auth::bearer(header) else {
        return Err(unauthenticated(
            "send Authorization: Bearer <token> (an OIDC token or a static token)",
        ));
    };
    if let Some(t) = s.config.tokens.check(token) {
        return Ok(Actor {
            subject: t.name.clone(),
            email: String::new(),
            groups: t.groups.clone(),
            method: auth::Method::StaticToken,
        });
    }
    match &s.oidc {
        Some(v) if token.split('.').count() == 3 => match v.verify(token).await {
            Ok(a) => Ok(a),
            Err(e) => {
                tracing::info!(reason = %e, "refused an OIDC token");
                Err(unauthenticated(&format!("the token was refused: {e}")))
            }
        },
        _ => Err(unauthenticated("the token is not valid")),
    }
}

fn authorize(s: &AppState, actor: &Actor, action: Action, t: &Target) -> Result<(), ApiError> {
    let rules = s.rules.current();
    if rules
        .rules
        .allows(actor, action, &t.repository, &t.app, &t.environment)
    {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{} may not {} {}/{} of {}",
                actor.display(),
                action.as_str(),
                t.app,
                t.environment,
                t.repository
            ),
        ))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Query {
    repository: Option<String>,
}

fn parse_query(q: &str) -> Result<Query, ApiError> {
    serde_urlencoded::from_str(q).map_err(|e| ApiError::bad_request(format!("bad query: {e}")))
}

/// Reads the body, refusing more than [`MAX_BODY_BYTES`] without reading the rest.
async fn read_body(req: &HttpRequest, mut body: web::Payload) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is over {MAX_BODY_BYTES} bytes"),
        )
    };
    if let Some(len) = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > MAX_BODY_BYTES
    {
        return Err(too_large());
    }
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
        if out.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// An app's environment a request is about.
#[derive(Debug, Clone)]
pub struct Target {
    /// `owner/name`.
    pub repository: String,
    /// The app.
    pub app: String,
    /// The environment.
    pub environment: String,
    /// What `.gantry.yaml` says of it, when it still declares it.
    pub decl: Option<EnvDecl>,
    /// What was last applied.
    pub state: Option<gantry_reconciler::state::EnvState>,
}

/// Every known environment: declared ones, plus applied ones no longer declared.
async fn known(s: &AppState) -> Result<Vec<Target>, ApiError> {
    let states = crate::state::list(&s.js)
        .await
        .map_err(|e| ApiError::unavailable(format!("{e}")))?;
    let mut out: Vec<Target> = s
        .catalog
        .envs()
        .into_iter()
        .map(|d| Target {
            repository: d.repository.clone(),
            app: d.app.clone(),
            environment: d.environment.clone(),
            decl: Some(d),
            state: None,
        })
        .collect();
    for e in states {
        let found = out.iter_mut().find(|t| {
            t.app == e.app
                && t.environment == e.environment
                && (e.state.repository.is_empty()
                    || t.repository.eq_ignore_ascii_case(&e.state.repository))
        });
        match found {
            Some(t) => t.state = Some(e.state),
            None => out.push(Target {
                repository: e.state.repository.clone(),
                app: e.app,
                environment: e.environment,
                decl: None,
                state: Some(e.state),
            }),
        }
    }
    Ok(out)
}

async fn resolve(
    s: &AppState,
    app: &str,
    env: &str,
    repository: Option<&str>,
) -> Result<Target, ApiError> {
    let matching = |all: &[Target]| -> Vec<Target> {
        all.iter()
            .filter(|t| t.app == app)
            .filter(|t| repository.is_none_or(|r| t.repository.eq_ignore_ascii_case(r)))
            .cloned()
            .collect()
    };
    let mut all = known(s).await?;
    let mut found = matching(&all);
    if !found.iter().any(|t| t.environment == env) {
        // Perhaps it was added since the last read.
        s.catalog.refresh_if_older(MISS_REFRESH).await;
        all = known(s).await?;
        found = matching(&all);
    }
    if found.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            match repository {
                Some(r) => format!("no app {app:?} in {r}"),
                None => format!("no app {app:?}"),
            },
        ));
    }
    let mut repos: Vec<String> = found
        .iter()
        .map(|t| t.repository.to_ascii_lowercase())
        .collect();
    repos.sort();
    repos.dedup();
    if repos.len() > 1 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "ambiguous_app",
            format!(
                "{} repositories have an app {app:?} ({}): add ?repository=owner/name",
                repos.len(),
                repos.join(", ")
            ),
        ));
    }
    found
        .into_iter()
        .find(|t| t.environment == env)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("app {app:?} has no environment {env:?}"),
            )
        })
}

fn health(state: Option<&gantry_reconciler::state::EnvState>) -> String {
    let Some(st) = state else {
        return "unknown".to_owned();
    };
    if let Some(c) = &st.last_check
        && !c.health.is_empty()
    {
        return c.health.to_ascii_lowercase();
    }
    match st.reported.as_ref().map(|r| r.state.as_str()) {
        Some("success") => "healthy",
        Some("failure") => "degraded",
        Some("error") => "error",
        Some(_) => "unknown",
        None if !st.revision.is_empty() => "progressing",
        None => "unknown",
    }
    .to_owned()
}

fn summary(s: &AppState, t: &Target) -> serde_json::Value {
    let a = s.audit.get(&t.repository, &t.app, &t.environment);
    let st = t.state.as_ref();
    // The reconciler's own record of its last attempt is the authority; the audit stream
    // stands in for records written before it kept one.
    let last = match st.and_then(|s| s.last_attempt.as_ref()) {
        Some(at) => Some(json!({
            "phase": at.phase,
            "outcome": at.outcome.as_str(),
            "revision": at.revision,
            "message": at.message,
            "trigger": at.trigger,
            "time": rfc3339_secs(at.at),
        })),
        None => a.last_outcome.as_ref().map(|r| {
            json!({
                "phase": v1::Phase::try_from(r.phase).unwrap_or(v1::Phase::Unspecified).token(),
                "outcome": v1::Outcome::try_from(r.outcome).unwrap_or(v1::Outcome::Unspecified).token(),
                "revision": r.revision,
                "message": r.message,
                "trigger": v1::Trigger::try_from(r.trigger).unwrap_or(v1::Trigger::Unspecified).token(),
                "time": r.time.map(|t| rfc3339_secs(t.seconds)),
            })
        }),
    };
    let drift = match st.and_then(|s| s.last_check.as_ref()) {
        Some(c) => Some(json!({
            "objects": c.drifted.len(),
            "drifted": c.drifted,
            "healed": c.healed,
            "checked_at": rfc3339_secs(c.at),
        })),
        None => a.last_drift.as_ref().map(|r| {
            json!({
                "objects": r.objects_drifted,
                "healed": r.outcome == v1::Outcome::Healed as i32,
                "checked_at": r.time.map(|t| rfc3339_secs(t.seconds)),
            })
        }),
    };
    json!({
        "repository": t.repository,
        "app": t.app,
        "environment": t.environment,
        "branch": t.decl.as_ref().map(|d| d.branch.clone()).or_else(|| st.map(|s| s.branch.clone()).filter(|b| !b.is_empty())),
        "path": t.decl.as_ref().map(|d| d.path.clone()),
        "revision": st.map(|s| s.revision.clone()).filter(|r| !r.is_empty()),
        "applied_at": st.filter(|s| s.applied_at > 0).map(|s| rfc3339_secs(s.applied_at)),
        "health": health(st),
        "status": st.and_then(|s| s.reported.as_ref()).map(|r| json!({"state": r.state.as_str(), "description": r.description})),
        "last_outcome": last,
        "drift": drift,
    })
}

fn rfc3339_secs(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

async fn list_apps(
    s: &AppState,
    actor: &Actor,
    repository: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let rules = s.rules.current();
    let all = known(s).await?;
    let apps: Vec<serde_json::Value> = all
        .iter()
        .filter(|t| repository.is_none_or(|r| t.repository.eq_ignore_ascii_case(r)))
        .filter(|t| {
            rules
                .rules
                .allows(actor, Action::Get, &t.repository, &t.app, &t.environment)
        })
        .map(|t| summary(s, t))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"apps": apps})))
}

async fn env_detail(s: &AppState, t: &Target) -> Result<serde_json::Value, ApiError> {
    let mut v = summary(s, t);
    let a = s.audit.get(&t.repository, &t.app, &t.environment);
    let records: Vec<serde_json::Value> = a.recent.iter().rev().map(audit::to_json).collect();
    v["audit"] = json!(records);
    if let Some(st) = &t.state {
        v["inventory"] = json!(
            st.inventory
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        );
        v["inputs"] = json!(st.inputs);
    }
    Ok(v)
}

async fn healthz(s: web::Data<AppState>) -> HttpResponse {
    s.metrics.count("healthz", 200);
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn readyz(s: web::Data<AppState>) -> HttpResponse {
    s.metrics.count("readyz", 200);
    let rules = s.rules.current();
    let rbac = json!({
        "origin": rules.origin,
        "rules": rules.rules.len(),
        "loaded": rules.loaded,
        "error": rules.error,
    });
    let repositories = s.catalog.errors();
    let not_ready = |code: &str, message: String| {
        HttpResponse::ServiceUnavailable().json(json!({
            "error": code, "message": message, "rbac": rbac, "repository_errors": repositories,
        }))
    };
    if s.client.connection_state() != async_nats::connection::State::Connected {
        return not_ready("nats_disconnected", "not connected to NATS".to_owned());
    }
    let events = gantry_nats::events_stream_config(s.config.nats_replicas);
    let ensure = gantry_nats::ensure_stream(&s.js, &events, gantry_nats::EVENTS_STREAM);
    match tokio::time::timeout(Duration::from_secs(2), ensure).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return not_ready("stream_unavailable", e.to_string()),
        Err(_) => {
            return not_ready(
                "stream_unavailable",
                "JetStream did not answer within 2s".to_owned(),
            );
        }
    }
    if !s.catalog.initialized() {
        return not_ready(
            "repositories_not_read",
            "the repositories' apps have not been read yet".to_owned(),
        );
    }
    if !rules.loaded {
        return not_ready(
            "rbac_not_loaded",
            rules
                .error
                .clone()
                .unwrap_or_else(|| "the RBAC rules have not been read yet".to_owned()),
        );
    }
    HttpResponse::Ok().json(json!({
        "status": "ready",
        "rbac": rbac,
        "repository_errors": repositories,
    }))
}

async fn metrics(s: web::Data<AppState>) -> HttpResponse {
    s.metrics.count("metrics", 200);
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(s.metrics.encode())
}

async fn not_found(s: web::Data<AppState>) -> HttpResponse {
    s.metrics.count("other", 404);
    HttpResponse::NotFound().json(json!({"error": "not_found", "message": "no such endpoint"}))
}

async fn method_not_allowed(s: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    s.metrics.count("other", 405);
    let allow = if req.path().ends_with("/sync") || req.path().ends_with("/rollback") {
        "POST"
    } else {
        "GET"
    };
    HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", allow))
        .json(json!({"error": "method_not_allowed", "message": format!("use {allow}")}))
}

/// RFC 3339 of a time, for CloudEvents' `ce-time`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
