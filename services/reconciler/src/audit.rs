//! Audit records: one `gantry.v1.AuditRecord` per reconcile phase outcome on `GANTRY_AUDIT`,
//! with `Gantry-Schema` and `traceparent` headers. A record counts only once JetStream has stored
//! it, so the worker can ack the event knowing the trail is complete.

use std::time::{Duration, SystemTime};

use async_nats::HeaderMap;
use gantry_proto::v1::{AuditRecord, DriftedObject, Outcome, Phase, SignatureCheck, Trigger};
use prost::Message;

/// Why a record was not stored.
#[derive(Debug, thiserror::Error)]
#[error("storing an audit record on {subject}")]
pub struct AuditError {
    /// The subject.
    pub subject: String,
    /// What NATS said.
    #[source]
    pub source: async_nats::jetstream::context::PublishError,
}

/// The event-wide fields of every record.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The event's id.
    pub event_id: String,
    /// The Git host's delivery id.
    pub delivery_id: String,
    /// `owner/name`.
    pub repository: String,
    /// The commit.
    pub revision: String,
    /// The W3C traceparent to send on.
    pub traceparent: String,
    /// What started the reconcile.
    pub trigger: Trigger,
}

impl Context {
    fn trace_id(&self) -> String {
        self.traceparent
            .split('-')
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    }
}

/// What one record says.
#[derive(Debug, Clone, Default)]
pub struct Entry<'a> {
    /// The app (empty for repository-wide steps such as fetch).
    pub app: &'a str,
    /// The environment (empty for repository-wide steps).
    pub environment: &'a str,
    /// The phase.
    pub phase: Phase,
    /// The outcome.
    pub outcome: Outcome,
    /// A sentence.
    pub message: String,
    /// Objects applied.
    pub applied: u32,
    /// Objects pruned.
    pub pruned: u32,
    /// How long the phase took; none for `started`.
    pub duration: Option<Duration>,
    /// The commit signature check, when the trust policy applied.
    pub signature: Option<SignatureCheck>,
    /// The render used random or time functions (Helm's `randAlphaNum`, `now`, `genCA`...).
    pub nondeterministic: bool,
    /// Drifted objects (drift phase).
    pub drifted: Vec<DriftedObject>,
}

/// Publishes records.
#[derive(Debug, Clone)]
pub struct Auditor {
    js: async_nats::jetstream::Context,
    worker: String,
}

impl Auditor {
    /// An auditor writing as `worker`.
    pub fn new(js: async_nats::jetstream::Context, worker: &str) -> Self {
        Auditor {
            js,
            worker: worker.to_owned(),
        }
    }

    /// Publishes one record and waits until it is stored.
    pub async fn record(&self, cx: &Context, e: Entry<'_>) -> Result<(), AuditError> {
        let record = AuditRecord {
            event_id: cx.event_id.clone(),
            delivery_id: cx.delivery_id.clone(),
            application: e.app.to_owned(),
            environment: e.environment.to_owned(),
            revision: cx.revision.clone(),
            phase: e.phase as i32,
            outcome: e.outcome as i32,
            message: e.message,
            objects_applied: e.applied,
            objects_pruned: e.pruned,
            duration: e
                .duration
                .and_then(|d| prost_types::Duration::try_from(d).ok()),
            worker_id: self.worker.clone(),
            time: Some(prost_types::Timestamp::from(SystemTime::now())),
            repository: cx.repository.clone(),
            trace_id: cx.trace_id(),
            signature: e.signature,
            nondeterministic: e.nondeterministic,
            trigger: cx.trigger as i32,
            objects_drifted: e.drifted.len() as u32,
            drifted: e.drifted,
            ..Default::default()
        };
        let subject = gantry_nats::audit_subject(e.app, e.environment, e.outcome.token());
        let mut headers = HeaderMap::new();
        headers.insert(gantry_nats::HEADER_SCHEMA, gantry_proto::v1::AUDIT_SCHEMA);
        headers.insert(
            gantry_nats::HEADER_CONTENT_TYPE,
            gantry_nats::CONTENT_TYPE_PROTOBUF,
        );
        if !cx.traceparent.is_empty() {
            headers.insert(gantry_nats::HEADER_TRACEPARENT, cx.traceparent.as_str());
        }
        // On a NATS cluster the stream's leader can be lost between two records; until another
        // is elected (seconds) a publish meets "no responders" or times out. Failing the
        // reconcile then would redo work already done (a second apply, a second status), so the
        // record is retried here for a while, with an id that lets JetStream drop a second copy
        // when an ack, not the record, was lost.
        headers.insert(
            gantry_nats::HEADER_MSG_ID,
            format!("audit:{}", uuid::Uuid::new_v4()).as_str(),
        );
        let payload: bytes::Bytes = record.encode_to_vec().into();
        let deadline = tokio::time::Instant::now() + AUDIT_RETRY_BUDGET;
        let mut pause = Duration::from_millis(50);
        loop {
            let attempt = async {
                self.js
                    .publish_with_headers(subject.clone(), headers.clone(), payload.clone())
                    .await?
                    .await
            };
            match attempt.await {
                Ok(_) => return Ok(()),
                Err(e) if transient(&e) && tokio::time::Instant::now() + pause < deadline => {
                    tracing::debug!(subject = %subject, error = %crate::error::chain(&e), "storing an audit record; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(source) => return Err(AuditError { subject, source }),
            }
        }
    }
}

/// How long an audit record is retried across a NATS leader change before the reconcile fails.
const AUDIT_RETRY_BUDGET: Duration = Duration::from_secs(15);

/// Errors that pass with time: no stream leader yet, a lost ack, a reconnecting client.
fn transient(e: &async_nats::jetstream::context::PublishError) -> bool {
    use async_nats::jetstream::context::PublishErrorKind;
    matches!(
        e.kind(),
        PublishErrorKind::StreamNotFound
            | PublishErrorKind::TimedOut
            | PublishErrorKind::BrokenPipe
    )
}
