//! The worker: connects to NATS, pulls from the shared durable consumer `gantry-reconciler`,
//! runs each event through the [`Reconciler`], and acks only once statuses and audit records are
//! stored; naks transient failures with backoff and dead-letters an event after its last
//! allowed delivery. Also serves `/healthz`, `/readyz` and `/metrics`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer};
use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use futures::StreamExt;
use gantry_proto::v1::Event;
use prost::Message as _;
use tokio::sync::Semaphore;

use crate::audit::Auditor;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::reconcile::{EventOutcome, Reconciler};
use crate::state::StateStore;

/// What stops the worker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP listener failed.
    #[error("serving HTTP on the listen address failed")]
    Serve(#[source] std::io::Error),
    /// JetStream set-up failed for good.
    #[error("setting up JetStream")]
    Setup(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The NATS server cannot be used (older than Gantry supports).
    #[error(transparent)]
    Nats(#[from] gantry_nats::Error),
}

impl Error {
    /// The process exit code for this error: the NATS server being unusable (too old, or
    /// refusing the streams, consumer or bucket) is `EX_UNAVAILABLE`, as the contract fixes.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Serve(_) => 1,
            Error::Setup(_) | Error::Nats(_) => gantry_nats::EXIT_UNAVAILABLE,
        }
    }
}

/// When shutdown began, so that every step after it fits in the one grace period.
#[derive(Debug, Default)]
struct StopClock(std::sync::OnceLock<std::time::Instant>);

impl StopClock {
    /// The moment the grace ends: the shutdown's start plus `grace`.
    fn deadline(&self, grace: Duration) -> tokio::time::Instant {
        let start = *self.0.get_or_init(std::time::Instant::now);
        (start + grace).into()
    }
}

struct Shared {
    metrics: Arc<Metrics>,
    ready: AtomicBool,
    client: std::sync::Mutex<Option<async_nats::Client>>,
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(AxState(s): AxState<Arc<Shared>>) -> impl IntoResponse {
    let connected = s
        .client
        .lock()
        .ok()
        .and_then(|c| c.as_ref().map(|c| c.connection_state()))
        == Some(async_nats::connection::State::Connected);
    if connected && s.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

async fn metrics_handler(AxState(s): AxState<Arc<Shared>>) -> impl IntoResponse {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

/// Runs a worker until `shutdown` completes, then drains in-flight events within the grace.
pub async fn run(
    listener: std::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let metrics = Arc::new(Metrics::new());
    let shared = Arc::new(Shared {
        metrics: metrics.clone(),
        ready: AtomicBool::new(false),
        client: std::sync::Mutex::new(None),
    });
    listener.set_nonblocking(true).map_err(Error::Serve)?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(Error::Serve)?;
    let stop = tokio_util::sync::CancellationToken::new();
    let router = axum::Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        .route("/metrics", axum::routing::get(metrics_handler))
        .with_state(shared.clone());
    let http_stop = stop.clone();
    let http = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { http_stop.cancelled().await })
            .await
    }));
    let signal = stop.clone();
    let clock = Arc::new(StopClock::default());
    let started = clock.clone();
    let _signal = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
        shutdown.await;
        let _ = started.0.set(std::time::Instant::now());
        signal.cancel();
    }));

    let result = work(&config, shared, metrics, stop.clone(), &clock).await;
    stop.cancel();
    // A scraper holding a connection open must not hold the process past the grace.
    let _ = tokio::time::timeout_at(clock.deadline(config.shutdown_grace), http).await;
    result
}

async fn connect(
    config: &Config,
    servers: Vec<async_nats::ServerAddr>,
    stop: &tokio_util::sync::CancellationToken,
) -> Option<async_nats::Client> {
    loop {
        match async_nats::ConnectOptions::new()
            .name(format!("gantry-reconciler {}", config.worker_id))
            .connect(servers.clone())
            .await
        {
            Ok(c) => return Some(c),
            Err(e) => {
                tracing::warn!(url = %config.nats_url, error = %crate::error::chain(&e), "NATS is not reachable; retrying")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.cancelled() => return None,
        }
    }
}

async fn work(
    config: &Config,
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    stop: tokio_util::sync::CancellationToken,
    clock: &StopClock,
) -> Result<(), Error> {
    // A server address the client refuses is a configuration error, not an outage to wait out.
    let servers =
        gantry_nats::server_addrs_from_url(&config.nats_url).map_err(|e| Error::Setup(e.into()))?;
    let Some(client) = connect(config, servers, &stop).await else {
        return Ok(());
    };
    gantry_nats::check_server(&client)?;
    if let Ok(mut c) = shared.client.lock() {
        *c = Some(client.clone());
    }
    // Set-up talks to NATS many times; SIGTERM during it (NATS gone, or slow) ends it at once.
    let set_up = tokio::select! {
        r = set_up(config, &client, metrics) => r?,
        () = stop.cancelled() => return Ok(()),
    };
    let (js, reconciler, max_deliver, mut messages) = set_up;
    let resync = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(
        reconciler.clone().resync_loop(stop.clone()),
    ));
    shared.ready.store(true, Ordering::SeqCst);
    tracing::info!(worker = %config.worker_id, concurrency = config.concurrency, "gantry-reconciler ready");
    consume(
        config,
        &js,
        &reconciler,
        max_deliver,
        &mut messages,
        &stop,
        clock,
    )
    .await;
    shared.ready.store(false, Ordering::SeqCst);
    drop(resync);
    // Whatever the client still buffers gets what is left of the grace; a server that is gone
    // would have the flush wait for a reconnection forever.
    let flushed =
        tokio::time::timeout_at(clock.deadline(config.shutdown_grace), client.flush()).await;
    if flushed.is_err() {
        tracing::warn!("NATS did not take the final flush within the grace; exiting without it");
    }
    Ok(())
}

type Messages = consumer::pull::Stream;

/// Streams, state bucket, consumer and message stream: everything the worker needs from NATS.
async fn set_up(
    config: &Config,
    client: &async_nats::Client,
    metrics: Arc<Metrics>,
) -> Result<(jetstream::Context, Arc<Reconciler>, i64, Messages), Error> {
    let js = jetstream::new(client.clone());
    fn setup(e: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Setup(Box::new(e))
    }
    for (cfg, name) in [
        (
            gantry_nats::events_stream_config(config.nats_replicas),
            gantry_nats::EVENTS_STREAM,
        ),
        (
            gantry_nats::audit_stream_config(config.nats_replicas),
            gantry_nats::AUDIT_STREAM,
        ),
        (
            gantry_nats::dlq_stream_config(config.nats_replicas),
            gantry_nats::DLQ_STREAM,
        ),
    ] {
        match gantry_nats::ensure_stream(&js, &cfg, name)
            .await
            .map_err(setup)?
        {
            gantry_nats::StreamStatus::Differs(d) => {
                tracing::warn!(stream = name, differences = ?d, "stream settings differ from Gantry's")
            }
            s => tracing::debug!(stream = name, status = ?s, "stream ready"),
        }
    }
    let state = StateStore::open_replicated(
        &js,
        &config.worker_id,
        config.lease_ttl,
        config.nats_replicas,
    )
    .await
    .map_err(setup)?;
    let stream = js
        .get_stream(gantry_nats::EVENTS_STREAM)
        .await
        .map_err(setup)?;
    // The server redelivers without limit (max_deliver -1): the reconciler counts deliveries
    // against its own `maxDeliver` and acks only once the DLQ has stored the event, so a failed
    // DLQ publish never drops it.
    let consumer_config = consumer::pull::Config {
        durable_name: Some(gantry_nats::RECONCILER_CONSUMER.to_owned()),
        description: Some("Gantry reconciler workers".to_owned()),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: config.ack_wait,
        max_deliver: -1,
        max_ack_pending: 10_000,
        deliver_policy: consumer::DeliverPolicy::All,
        num_replicas: config.nats_replicas,
        ..Default::default()
    };
    let mut consumer: consumer::PullConsumer = stream
        .get_or_create_consumer(gantry_nats::RECONCILER_CONSUMER, consumer_config.clone())
        .await
        .map_err(setup)?;
    if consumer.cached_info().config.max_deliver != -1 {
        // Made by an older reconciler with a server-side limit: lift it, keeping its replicas
        // (those are the operator's to change).
        let mut lifted = consumer_config;
        lifted.num_replicas = consumer.cached_info().config.num_replicas;
        consumer = stream.update_consumer(lifted).await.map_err(setup)?;
    }
    if let Some(d) = gantry_nats::consumer_replicas_difference(
        consumer.cached_info().config.num_replicas,
        stream.cached_info().config.num_replicas,
        config.nats_replicas,
    ) {
        tracing::warn!(consumer = gantry_nats::RECONCILER_CONSUMER, difference = %d, "consumer settings differ from Gantry's; it is left unchanged");
    }
    let reconciler = Arc::new(Reconciler::new(
        config.clone(),
        state,
        Auditor::new(js.clone(), &config.worker_id),
        metrics,
    ));
    let max_deliver = config.max_deliver.max(1);
    let messages = consumer
        .stream()
        .max_messages_per_batch(config.concurrency)
        // A pull made on a server that then dies is silently gone; the missed heartbeats are
        // how the worker notices and pulls again from the server it reconnected to, so they
        // bound how long a worker idles after a NATS failover.
        .heartbeat(Duration::from_secs(2))
        .messages()
        .await
        .map_err(setup)?;
    Ok((js, reconciler, max_deliver, messages))
}

/// Pulls and handles events until `stop`; then lets in-flight ones finish within the grace.
async fn consume(
    config: &Config,
    js: &jetstream::Context,
    reconciler: &Arc<Reconciler>,
    max_deliver: i64,
    messages: &mut Messages,
    stop: &tokio_util::sync::CancellationToken,
    clock: &StopClock,
) {
    let inflight = Arc::new(Semaphore::new(config.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = inflight.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = stop.cancelled() => break,
        };
        let next = tokio::select! {
            m = messages.next() => m,
            _ = stop.cancelled() => break,
        };
        let msg = match next {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                tracing::warn!(error = %crate::error::chain(&e), "pulling events failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            None => break,
        };
        while tasks.try_join_next().is_some() {}
        let r = reconciler.clone();
        let js = js.clone();
        tasks.spawn(async move {
            handle(&r, &js, msg, max_deliver).await;
            drop(permit);
        });
    }
    // In-flight events get the grace less a tenth (at most a second), left for the flush.
    let grace = config.shutdown_grace;
    let drain_until =
        clock.deadline(grace.saturating_sub((grace / 10).min(Duration::from_secs(1))));
    let drained = tokio::time::timeout_at(drain_until, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("shutdown grace elapsed; unfinished events will be redelivered");
        tasks.abort_all();
    }
}

/// Processes one message and settles it.
async fn handle(
    r: &Reconciler,
    js: &jetstream::Context,
    msg: jetstream::Message,
    max_deliver: i64,
) {
    let delivered = msg.info().map(|i| i.delivered).unwrap_or(1);
    let last = delivered >= max_deliver;
    let headers = msg.headers.clone().unwrap_or_default();
    let incoming = headers
        .get(gantry_nats::HEADER_TRACEPARENT)
        .map(|v| v.as_str().to_owned());
    let traceparent = gantry_telemetry::child_traceparent(incoming.as_deref());
    let event = match Event::decode(msg.payload.clone()) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(subject = %msg.subject, error = %crate::error::chain(&e), "undecodable event; dead-lettering it");
            match dead_letter(
                js,
                &msg,
                &format!("undecodable gantry.v1.Event: {}", crate::error::chain(&e)),
            )
            .await
            {
                Ok(_) => {
                    let _ = msg.double_ack().await;
                }
                // Never acked before the DLQ holds it: redelivered until it does.
                Err(e) => {
                    tracing::error!(error = %crate::error::chain(&e), "dead-lettering failed; the event will be redelivered");
                    let _ = msg.ack_with(AckKind::Nak(Some(r.config.nak_base))).await;
                }
            }
            return;
        }
    };
    let span =
        tracing::info_span!("reconcile", event = %event.id, subject = %msg.subject, delivered);
    if let Some(tp) = &incoming {
        gantry_telemetry::set_parent(&span, tp, None);
    }
    // Keep the message ours while we work: apply and verify can outlast the ack wait.
    let progress = {
        let ack = msg.clone();
        let every = r.config.ack_wait / 3;
        tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if ack.ack_with(AckKind::Progress).await.is_err() {
                    return;
                }
            }
        }))
    };
    let outcome = tracing::Instrument::instrument(r.handle(&event, &traceparent, last), span).await;
    drop(progress);
    match outcome {
        EventOutcome::Done => {
            if let Err(e) = ack_until_confirmed(&msg, r.config.ack_wait).await {
                tracing::warn!(event = %event.id, error = %crate::error::chain(&*e), "ack failed; the event will be redelivered and converge");
            }
        }
        EventOutcome::Retry {
            reason,
            failed,
            after,
        } if last => {
            let subject = match dead_letter(js, &msg, &reason).await {
                Ok(s) => s,
                Err(e) => {
                    // Not acked: the consumer redelivers without limit (the reconciler counts
                    // deliveries itself), so the next delivery tries the DLQ again.
                    tracing::error!(event = %event.id, error = %crate::error::chain(&e), "dead-lettering failed; the event is not acked and will be redelivered");
                    let delay = after.unwrap_or(r.config.nak_base);
                    let _ = msg.ack_with(AckKind::Nak(Some(delay))).await;
                    return;
                }
            };
            r.give_up(&event, &failed, &reason, &subject).await;
            tracing::error!(event = %event.id, delivered, %reason, dlq = %subject, "event dead-lettered");
            if let Err(e) = msg.double_ack().await {
                tracing::warn!(event = %event.id, error = %crate::error::chain(&*e), "ack after dead-lettering failed");
            }
        }
        EventOutcome::Retry { reason, after, .. } => {
            let backoff =
                r.config.nak_base * 2u32.saturating_pow((delivered - 1).clamp(0, 10) as u32);
            let delay = after.unwrap_or_default().max(backoff).min(r.config.nak_max);
            tracing::warn!(event = %event.id, delivered, delay_ms = delay.as_millis() as u64, %reason, "event nak'd");
            let _ = msg.ack_with(AckKind::Nak(Some(delay))).await;
        }
    }
}

/// Acks `msg` and waits for the server to confirm it, trying again while the connection fails
/// over or the consumer elects a new leader (a NATS server lost mid-burst): an ack lost there
/// would redeliver an event whose work is done, and the redelivery would post its status again.
/// Acks are idempotent, so sending one twice is harmless. Gives up after `ack_wait`, when the
/// server redelivers anyway.
async fn ack_until_confirmed(
    msg: &jetstream::Message,
    ack_wait: Duration,
) -> Result<(), async_nats::Error> {
    let deadline = tokio::time::Instant::now() + ack_wait;
    let mut pause = Duration::from_millis(50);
    loop {
        match msg.double_ack().await {
            Ok(()) => return Ok(()),
            Err(e) if tokio::time::Instant::now() + pause >= deadline => return Err(e),
            Err(e) => {
                tracing::debug!(error = %crate::error::chain(&*e), "ack not confirmed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
        }
    }
}

/// Why an event could not be dead-lettered.
#[derive(Debug, thiserror::Error)]
enum DeadLetterError {
    /// The publish was not sent.
    #[error("publishing to {subject}")]
    Publish {
        subject: String,
        #[source]
        source: async_nats::jetstream::context::PublishError,
    },
    /// JetStream did not confirm it stored the copy.
    #[error("storing on {subject}")]
    Store {
        subject: String,
        #[source]
        source: async_nats::jetstream::context::PublishError,
    },
}

/// Publishes the message, with its headers and a reason, to `gantry.dlq.…`; returns the subject
/// once JetStream has stored it.
async fn dead_letter(
    js: &jetstream::Context,
    msg: &jetstream::Message,
    reason: &str,
) -> Result<String, DeadLetterError> {
    let subject = gantry_nats::dlq_subject(msg.subject.as_str());
    let mut headers = msg.headers.clone().unwrap_or_default();
    headers.insert(
        HEADER_DLQ_REASON,
        crate::report::truncate(&reason.replace(['\r', '\n'], " "), 1000).as_str(),
    );
    if let Ok(info) = msg.info() {
        headers.insert("Gantry-Dlq-Deliveries", info.delivered.to_string().as_str());
        headers.insert(
            "Gantry-Dlq-Stream-Sequence",
            info.stream_sequence.to_string().as_str(),
        );
    }
    // The DLQ copy must not be dropped as a duplicate of the original's id.
    headers.insert(
        gantry_nats::HEADER_MSG_ID,
        format!("dlq:{}", uuid::Uuid::new_v4()).as_str(),
    );
    headers.insert(HEADER_DLQ_SUBJECT, msg.subject.as_str());
    let ack = js
        .publish_with_headers(subject.clone(), headers, msg.payload.clone())
        .await
        .map_err(|source| DeadLetterError::Publish {
            subject: subject.clone(),
            source,
        })?;
    ack.await.map_err(|source| DeadLetterError::Store {
        subject: subject.clone(),
        source,
    })?;
    Ok(subject)
}

/// The header naming the subject a dead-lettered event was consumed from (what `gantry dlq
/// replay` publishes it to again).
pub const HEADER_DLQ_SUBJECT: &str = "Gantry-Dlq-Subject";
/// The header saying why an event was dead-lettered.
pub const HEADER_DLQ_REASON: &str = "Gantry-Dlq-Reason";
