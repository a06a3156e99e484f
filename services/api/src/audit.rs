//! The audit trail, both ways: every API request is published as a `gantry.v1.AuditRecord`
//! (phase `api`) on `GANTRY_AUDIT`, and the stream is followed to keep, per repository, app and
//! environment, the recent records the API shows (newest first), the last reconcile outcome and
//! the last drift check.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use gantry_proto::v1::{AuditRecord, Outcome, Phase, Trigger};
use prost::Message;

use crate::auth::Actor;

/// Records kept per environment.
pub const RECENT: usize = 20;

/// What the index keeps for one environment.
#[derive(Debug, Clone, Default)]
pub struct EnvAudit {
    /// Recent records, oldest first.
    pub recent: VecDeque<AuditRecord>,
    /// The newest record of a reconcile (not `api`, not `drift`).
    pub last_outcome: Option<AuditRecord>,
    /// The newest drift record.
    pub last_drift: Option<AuditRecord>,
}

/// `(repository lower-cased, app, environment)`.
type Key = (String, String, String);

/// The followed audit stream.
#[derive(Debug, Clone, Default)]
pub struct Index {
    inner: Arc<RwLock<HashMap<Key, EnvAudit>>>,
}

impl Index {
    /// Adds one record.
    pub fn add(&self, r: AuditRecord) {
        if r.application.is_empty() || r.environment.is_empty() {
            return;
        }
        let key = (
            r.repository.to_ascii_lowercase(),
            r.application.clone(),
            r.environment.clone(),
        );
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let e = g.entry(key).or_default();
        let phase = r.phase();
        if phase == Phase::Drift {
            e.last_drift = Some(r.clone());
        } else if phase != Phase::Api && r.outcome() != Outcome::Started {
            e.last_outcome = Some(r.clone());
        }
        e.recent.push_back(r);
        while e.recent.len() > RECENT {
            e.recent.pop_front();
        }
    }

    /// What is known of one environment. Records whose repository is unknown (empty) count
    /// for every repository.
    pub fn get(&self, repository: &str, app: &str, env: &str) -> EnvAudit {
        let g = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let mine = g.get(&(
            repository.to_ascii_lowercase(),
            app.to_owned(),
            env.to_owned(),
        ));
        let anon = g.get(&(String::new(), app.to_owned(), env.to_owned()));
        match (mine, anon) {
            (Some(m), None) => m.clone(),
            (None, Some(a)) => a.clone(),
            (None, None) => EnvAudit::default(),
            (Some(m), Some(a)) => {
                let newest = |x: &Option<AuditRecord>, y: &Option<AuditRecord>| match (x, y) {
                    (Some(x), Some(y)) => Some(if time_of(y) > time_of(x) { y } else { x }.clone()),
                    (x, y) => x.clone().or_else(|| y.clone()),
                };
                let mut recent: Vec<AuditRecord> =
                    m.recent.iter().chain(a.recent.iter()).cloned().collect();
                recent.sort_by_key(time_of);
                let skip = recent.len().saturating_sub(RECENT);
                EnvAudit {
                    recent: recent.into_iter().skip(skip).collect(),
                    last_outcome: newest(&m.last_outcome, &a.last_outcome),
                    last_drift: newest(&m.last_drift, &a.last_drift),
                }
            }
        }
    }
}

fn time_of(r: &AuditRecord) -> (i64, i32) {
    r.time.map(|t| (t.seconds, t.nanos)).unwrap_or_default()
}

/// Follows `GANTRY_AUDIT` from its start into `index`, forever, resuming after outages.
pub async fn follow(js: jetstream::Context, index: Index, replicas: usize) {
    let mut delay = Duration::from_millis(200);
    let mut start_seq: u64 = 1;
    loop {
        match follow_once(&js, &index, &mut start_seq, replicas).await {
            Ok(()) => {}
            Err(e) => tracing::debug!(error = %e, "following the audit stream; retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn follow_once(
    js: &jetstream::Context,
    index: &Index,
    start_seq: &mut u64,
    replicas: usize,
) -> Result<(), String> {
    let stream = gantry_nats::ensure_stream(
        js,
        &gantry_nats::audit_stream_config(replicas),
        gantry_nats::AUDIT_STREAM,
    )
    .await
    .map_err(|e| e.to_string())?;
    let _ = stream;
    let s = js
        .get_stream(gantry_nats::AUDIT_STREAM)
        .await
        .map_err(|e| e.to_string())?;
    let c = s
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: *start_seq,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut messages = c.messages().await.map_err(|e| e.to_string())?;
    while let Some(m) = messages.next().await {
        let m = m.map_err(|e| e.to_string())?;
        if let Ok(info) = m.info() {
            *start_seq = info.stream_sequence + 1;
        }
        if let Ok(r) = AuditRecord::decode(m.payload.clone()) {
            index.add(r);
        }
    }
    Ok(())
}

/// What one API request's record says.
#[derive(Debug, Clone, Default)]
pub struct ApiRecord {
    /// The request id.
    pub request_id: String,
    /// `owner/name`, when the request named an environment.
    pub repository: String,
    /// The app (`-` for requests about no single app).
    pub app: String,
    /// The environment (`-` likewise).
    pub environment: String,
    /// The revision involved (sync or rollback target).
    pub revision: String,
    /// `succeeded`, `denied` or `failed`.
    pub outcome: Outcome,
    /// The caller, once authenticated.
    pub actor: Option<Actor>,
    /// `GET /api/v1/apps: 200`, and why.
    pub message: String,
    /// How long the request took.
    pub duration: Duration,
    /// The W3C traceparent.
    pub traceparent: String,
}

/// Publishes one API record and waits (up to `timeout`) until JetStream stored it.
pub async fn publish(
    js: &jetstream::Context,
    r: ApiRecord,
    timeout: Duration,
) -> Result<(), String> {
    let app = if r.app.is_empty() { "-" } else { &r.app };
    let env = if r.environment.is_empty() {
        "-"
    } else {
        &r.environment
    };
    let record = AuditRecord {
        event_id: r.request_id.clone(),
        delivery_id: r.request_id.clone(),
        application: r.app.clone(),
        environment: r.environment.clone(),
        revision: r.revision.clone(),
        phase: Phase::Api as i32,
        outcome: r.outcome as i32,
        message: r.message.clone(),
        duration: prost_types::Duration::try_from(r.duration).ok(),
        worker_id: "gantry-api".to_owned(),
        time: Some(prost_types::Timestamp::from(SystemTime::now())),
        repository: r.repository.clone(),
        trace_id: r
            .traceparent
            .split('-')
            .nth(1)
            .unwrap_or_default()
            .to_owned(),
        trigger: Trigger::Api as i32,
        actor: r.actor.as_ref().map(Actor::to_proto),
        ..Default::default()
    };
    let subject = gantry_nats::audit_subject(app, env, r.outcome.token());
    let mut headers = HeaderMap::new();
    headers.insert(gantry_nats::HEADER_SCHEMA, gantry_proto::v1::AUDIT_SCHEMA);
    headers.insert(
        gantry_nats::HEADER_CONTENT_TYPE,
        gantry_nats::CONTENT_TYPE_PROTOBUF,
    );
    if !r.traceparent.is_empty() {
        headers.insert(gantry_nats::HEADER_TRACEPARENT, r.traceparent.as_str());
    }
    let attempt = async {
        js.publish_with_headers(subject, headers, record.encode_to_vec().into())
            .await
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no ack within {timeout:?}")),
    }
}

/// A record as the API shows it (proto3 JSON of `gantry.v1.AuditRecord`).
pub fn to_json(r: &AuditRecord) -> serde_json::Value {
    gantry_proto::json::to_json(gantry_proto::v1::AUDIT_SCHEMA, &r.encode_to_vec())
        .unwrap_or(serde_json::Value::Null)
}
