//! The HTTP server: routes, readiness, and graceful shutdown.

use std::future::Future;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::publish::{ConnectError, Publisher};
use crate::state::State;
use crate::webhook;

/// Why the receiver could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The NATS URL is unusable.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The HTTP server failed.
    #[error("the HTTP server failed")]
    Http(#[source] std::io::Error),
    /// The NATS server cannot be used: too old, or it refused to set up the events stream.
    #[error(transparent)]
    Nats(#[from] gantry_nats::Error),
}

/// How much of the grace in-flight deliveries may use before they are answered 503: the rest
/// is for the answer to go out and for the NATS flush.
fn delivery_share(grace: Duration) -> Duration {
    grace.saturating_sub((grace / 10).min(Duration::from_secs(1)))
}

/// Serves the receiver on `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight deliveries finish and be stored (up to `config.shutdown_grace`), flushes the NATS
/// connection and returns.
pub async fn run(
    listener: std::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let control = Publisher::connect(
        &config.nats_url,
        config.publish_timeout,
        config.nats_replicas,
    )
    .await?;
    let grace = config.shutdown_grace;
    let workers = config.workers;
    let state = web::Data::new(State {
        config,
        control,
        metrics: Metrics::default(),
        stopping: Default::default(),
    });

    let mut ensure = {
        let state = state.clone();
        tokio::spawn(async move { state.control.ensure_stream_until_ready().await })
    };

    // A second handle on the listening socket, to stop listening at shutdown: actix stops
    // accepting but keeps the socket open, so the kernel would go on queueing connections that
    // nobody serves; closing it makes new connections fail fast and go elsewhere.
    let listening = listener.try_clone().map_err(Error::Http)?;
    let server = build(state.clone(), listener, grace, workers).map_err(Error::Http)?;
    let handle = server.handle();
    let mut server = std::pin::pin!(server);
    let mut fatal = None;
    let started = tokio::select! {
        r = &mut server => Err(r),
        () = shutdown => Ok(()),
        Ok(Err(e)) = &mut ensure => {
            fatal = Some(e);
            Ok(())
        }
    };
    // The grace bounds everything from here on: deliveries in flight get until `delivery_share`
    // to be stored or answered 503, the flush gets what is left, and whatever still waits then
    // (a NATS server that is gone) is abandoned.
    let deadline = std::time::Instant::now() + grace;
    let result = match started {
        Err(r) => r,
        Ok(()) => {
            state
                .stopping
                .begin(std::time::Instant::now() + delivery_share(grace));
            tracing::info!(grace = ?grace, "shutting down: refusing new connections, finishing in-flight deliveries");
            // The server future must keep running while it processes the stop command.
            let stopping = async {
                handle.pause().await;
                if let Err(e) = socket2::Socket::from(listening).shutdown(std::net::Shutdown::Both)
                {
                    tracing::warn!(error = %e, "could not close the listening socket");
                }
                handle.stop(true).await;
            };
            let drain = async { tokio::join!(stopping, &mut server).1 };
            match tokio::time::timeout_at(deadline.into(), drain).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::warn!("the HTTP workers did not stop within the grace; leaving them");
                    Ok(())
                }
            }
        }
    };
    ensure.abort();
    state
        .control
        .flush(deadline.saturating_duration_since(std::time::Instant::now()))
        .await;
    tracing::info!("receiver stopped");
    if let Some(e) = fatal {
        return Err(Error::Nats(e));
    }
    result.map_err(Error::Http)
}

/// Builds the actix server; kept out of `run` so that `run`'s future stays `Send` (the
/// builder holds `Rc`s, the running `Server` does not).
fn build(
    state: web::Data<State>,
    listener: std::net::TcpListener,
    grace: Duration,
    workers: Option<usize>,
) -> std::io::Result<actix_web::dev::Server> {
    let mut server = HttpServer::new(move || {
        let (url, timeout, replicas) = (
            state.config.nats_url.clone(),
            state.config.publish_timeout,
            state.config.nats_replicas,
        );
        App::new()
            .app_data(state.clone())
            // Each worker thread publishes on a NATS connection of its own, driven by that
            // worker's runtime: a publish and its ack then never cross threads, which halves
            // the context switches per webhook. Workers only finish once their in-flight
            // requests have their acks, so nothing is left buffered when a connection drops.
            .data_factory(move || {
                let url = url.clone();
                async move { Publisher::connect(&url, timeout, replicas).await }
            })
            .service(
                web::resource("/webhooks/github")
                    .route(web::post().to(webhook::github))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/webhooks/gitea")
                    .route(web::post().to(webhook::gitea))
                    .default_service(web::to(method_not_allowed)),
            )
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
            .default_service(web::to(not_found))
    })
    .disable_signals()
    .shutdown_timeout(grace.as_secs().max(1));
    if let Some(n) = workers {
        server = server.workers(n);
    }
    Ok(server.listen(listener)?.run())
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn readyz(state: web::Data<State>, worker: web::Data<Publisher>) -> HttpResponse {
    let p = &state.control;
    if !p.connected() || !worker.connected() {
        return not_ready("nats_disconnected", "not connected to NATS");
    }
    // Ask the server each time: the stream may have been deleted behind our back, and a probe
    // every few seconds costs one round trip.
    match tokio::time::timeout(Duration::from_secs(2), p.ensure_stream()).await {
        Ok(Ok(_)) => {
            let diffs = p.stream_differences();
            HttpResponse::Ok().json(json!({
                "status": "ready",
                "stream": gantry_nats::EVENTS_STREAM,
                "stream_differences": diffs,
            }))
        }
        Ok(Err(e)) => not_ready("stream_unavailable", &gantry_telemetry::error_chain(&e)),
        Err(_) => not_ready("stream_unavailable", "JetStream did not answer within 2s"),
    }
}

fn not_ready(code: &str, message: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(json!({"error": code, "message": message}))
}

async fn metrics(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.encode())
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({"error": "not_found", "message": "no such endpoint"}))
}

async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", "POST"))
        .json(json!({"error": "method_not_allowed", "message": "webhooks are delivered with POST"}))
}
