//! The receiver's side of NATS: the connection, the events stream, and publish-then-ack.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, publish::PublishAck};
use async_nats::{ConnectOptions, Subject};
use bytes::Bytes;
use gantry_nats::StreamStatus;

/// Why an event was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The client is not connected to NATS.
    #[error("NATS is not connected")]
    Disconnected,
    /// No ack came within `--publish-timeout`.
    #[error("JetStream did not acknowledge within {0:?}")]
    Timeout(Duration),
    /// No stream listens on the subject.
    #[error("no JetStream stream stores the subject")]
    NoStream,
    /// The event is larger than the server's `max_payload`.
    #[error("the event is larger than the NATS server accepts")]
    TooLarge(#[source] async_nats::jetstream::context::PublishError),
    /// Anything else the client reported.
    #[error("JetStream refused the event")]
    Other(#[source] async_nats::jetstream::context::PublishError),
    /// The receiver is shutting down and its grace ran out before the ack came.
    #[error("the receiver is shutting down and JetStream did not acknowledge in time")]
    ShuttingDown,
}

/// Connection set-up failure.
pub use gantry_nats::ConnectError;

/// The NATS connection, the JetStream context, and what is known about the events stream.
#[derive(Debug)]
pub struct Publisher {
    client: async_nats::Client,
    js: jetstream::Context,
    timeout: Duration,
    replicas: usize,
    stream_ready: AtomicBool,
    stream_differs: Mutex<Vec<String>>,
}

impl Publisher {
    /// Creates the client. It connects in the background and reconnects forever, so the
    /// receiver starts (and answers 503) even while NATS is down. `url` may list several
    /// servers of a cluster, separated by commas: the client fails over among them and the
    /// servers they announce.
    pub async fn connect(
        url: &str,
        timeout: Duration,
        replicas: usize,
    ) -> Result<Publisher, ConnectError> {
        let options = ConnectOptions::new()
            .name("gantry-receiver")
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("connected to NATS"),
                    async_nats::Event::Disconnected => tracing::warn!("disconnected from NATS"),
                    // Closed is what a clean shutdown ends with; not worth a warning.
                    async_nats::Event::Closed => tracing::info!("NATS connection closed"),
                    other => tracing::warn!(event = %other, "NATS client event"),
                }
            });
        let client = gantry_nats::connect_service(url, options).await?;
        let js = jetstream::ContextBuilder::new()
            .timeout(timeout)
            .build(client.clone());
        Ok(Publisher {
            client,
            js,
            timeout,
            replicas,
            stream_ready: AtomicBool::new(false),
            stream_differs: Mutex::new(Vec::new()),
        })
    }

    /// True while the client has a live connection.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Settings in which the existing stream differs from Gantry's, as last seen.
    pub fn stream_differences(&self) -> Vec<String> {
        self.stream_differs
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }

    /// Makes sure `GANTRY_EVENTS` exists, creating it when absent and reporting (never
    /// changing) a stream configured otherwise.
    pub async fn ensure_stream(&self) -> Result<StreamStatus, gantry_nats::Error> {
        let status = gantry_nats::ensure_stream(
            &self.js,
            &gantry_nats::events_stream_config(self.replicas),
            gantry_nats::EVENTS_STREAM,
        )
        .await;
        match &status {
            Ok(s) => {
                let was_ready = self.stream_ready.swap(true, Ordering::Relaxed);
                let diffs = match s {
                    StreamStatus::Differs(d) => d.clone(),
                    _ => Vec::new(),
                };
                if let Ok(mut slot) = self.stream_differs.lock() {
                    if *slot != diffs && !diffs.is_empty() {
                        tracing::error!(
                            stream = gantry_nats::EVENTS_STREAM,
                            differences = ?diffs,
                            "the stream exists with another configuration; it is left unchanged"
                        );
                    }
                    *slot = diffs;
                }
                if *s == StreamStatus::Created {
                    tracing::info!(stream = gantry_nats::EVENTS_STREAM, "created the stream");
                } else if !was_ready {
                    tracing::info!(stream = gantry_nats::EVENTS_STREAM, "the stream exists");
                }
            }
            Err(_) => self.stream_ready.store(false, Ordering::Relaxed),
        }
        status
    }

    /// Waits for the first connection, checks the server's version, and sets up the events
    /// stream. What passes with time (NATS not there yet, a timeout) is retried and logged;
    /// what the server refuses (an older server, a JetStream API error) is returned, and the
    /// receiver exits with it rather than waiting for a stream it will never get.
    pub async fn ensure_stream_until_ready(&self) -> Result<(), gantry_nats::Error> {
        let mut delay = Duration::from_millis(100);
        loop {
            if self.connected() {
                gantry_nats::check_server(&self.client)?;
                match self.ensure_stream().await {
                    Ok(_) => return Ok(()),
                    Err(e) if e.is_refusal() => return Err(e),
                    Err(e) => {
                        tracing::warn!(error = %gantry_telemetry::error_chain(&e), retry_in = ?delay, "cannot set up the events stream yet");
                    }
                }
            } else {
                tracing::warn!(retry_in = ?delay, "not connected to NATS yet; the events stream is not set up");
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    /// True once the stream was found or created.
    pub fn stream_ready(&self) -> bool {
        self.stream_ready.load(Ordering::Relaxed)
    }

    /// Publishes and waits for JetStream to store the message, up to the publish timeout or
    /// until `give_up` completes (the shutdown deadline), whichever comes first.
    ///
    /// The headers are built for each attempt rather than built once and cloned: a retry is
    /// rare, and a header map is a dozen allocations either way.
    pub async fn publish(
        &self,
        subject: Subject,
        headers: &gantry_nats::EventHeaders<'_>,
        payload: Bytes,
        give_up: impl std::future::Future<Output = ()>,
    ) -> Result<PublishAck, PublishError> {
        if !self.connected() {
            return Err(PublishError::Disconnected);
        }
        // On a cluster, a stream's subjects reach every server a moment after the stream is
        // created or moves: until then a publish meets "no responders". Trying again briefly is
        // safe (JetStream drops a second copy by its Nats-Msg-Id) and bounded, so a stream that
        // is really gone still answers 503 quickly.
        let attempt = async {
            let mut pause = Duration::from_millis(50);
            loop {
                let r = self
                    .js
                    .publish_with_headers(subject.clone(), headers.to_header_map(), payload.clone())
                    .await?
                    .await;
                match r {
                    Err(e)
                        if e.kind() == PublishErrorKind::StreamNotFound
                            && pause <= Duration::from_millis(200) =>
                    {
                        tokio::time::sleep(pause).await;
                        pause *= 2;
                    }
                    other => return other,
                }
            }
        };
        let bounded = tokio::time::timeout(self.timeout, attempt);
        let result = tokio::select! {
            r = bounded => r,
            () = give_up => return Err(PublishError::ShuttingDown),
        };
        match result {
            Err(_) => Err(PublishError::Timeout(self.timeout)),
            Ok(Ok(ack)) => Ok(ack),
            Ok(Err(e)) => Err(match e.kind() {
                PublishErrorKind::TimedOut => PublishError::Timeout(self.timeout),
                PublishErrorKind::StreamNotFound => {
                    self.stream_ready.store(false, Ordering::Relaxed);
                    PublishError::NoStream
                }
                PublishErrorKind::BrokenPipe => PublishError::Disconnected,
                PublishErrorKind::MaxPayloadExceeded => PublishError::TooLarge(e),
                _ => PublishError::Other(e),
            }),
        }
    }

    /// Sends whatever the client still buffers, for at most `within`; called at shutdown.
    /// Bounded because a client whose server is gone waits for a reconnection that may never
    /// come, and shutdown must end within the grace whatever NATS does.
    pub async fn flush(&self, within: Duration) {
        match tokio::time::timeout(within, self.client.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not flush the NATS connection at shutdown")
            }
            Err(_) => {
                tracing::warn!(within = ?within, "NATS did not take the flush within the grace; exiting without it")
            }
        }
    }
}
