//! `POST …/sync`: publishes a `gantry.v1.Event` of kind `sync` on
//! `gantry.events.api.<owner>.<repo>.sync` and answers 202 once JetStream stored it. The
//! `Idempotency-Key` header becomes the event's id and its `Nats-Msg-Id`, so a retried request
//! inside the stream's duplicate window is the same sync, not a second one.

use std::sync::Arc;
use std::time::SystemTime;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use async_nats::jetstream::context::PublishErrorKind;
use gantry_git::{Mirror, ObjectId, Resolved};
use gantry_proto::v1;
use prost::Message;
use serde::Deserialize;
use serde_json::json;

use crate::audit::ApiRecord;
use crate::auth::Actor;
use crate::server::{ApiError, AppState, Target, rfc3339};

/// The header that makes a retried request the same request.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncBody {
    revision: Option<String>,
}

/// What a request is told when its revision cannot name a commit.
pub const REVISION_FORMAT: &str = "revision must be a commit id: 4 to 64 hexadecimal digits, full or abbreviated as git prints it";

/// Whether `s` is a full commit id (SHA-1 or SHA-256, hexadecimal).
pub fn is_commit_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The commit that `revision` (full, or abbreviated as `gantry status` and `git log --oneline`
/// print it) names in `repository`'s mirror, which the caller has just fetched.
pub async fn resolve_revision(
    mirror: Arc<Mirror>,
    revision: &str,
    repository: &str,
) -> Result<ObjectId, ApiError> {
    let rev = revision.to_owned();
    let resolved = tokio::task::spawn_blocking(move || mirror.resolve_commit(&rev))
        .await
        .map_err(|e| ApiError::unavailable(format!("resolving {revision}: {e}")))?;
    match resolved {
        Ok(Resolved::Commit(id)) => Ok(id),
        Ok(Resolved::Unknown) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_an_ancestor",
            format!("no commit of {repository} is named {revision}"),
        )),
        Ok(Resolved::Ambiguous(ids)) => Err(ApiError::bad_request(format!(
            "{revision} is ambiguous in {repository}: {} commits start with it ({}); give more digits",
            ids.len(),
            ids.iter()
                .take(5)
                .map(|i| i.to_hex_with_len(12).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        Err(gantry_git::GitError::BadRevision(_)) => Err(ApiError::bad_request(REVISION_FORMAT)),
        Err(e) => Err(ApiError::unavailable(gantry_telemetry::error_chain(&e))),
    }
}

/// Parses a JSON object body, `{}` when empty.
pub fn parse_json<T: serde::de::DeserializeOwned + Default>(raw: &[u8]) -> Result<T, ApiError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(raw)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid: {e}")))
}

/// Handles a sync request.
pub async fn sync(
    s: &AppState,
    req: &HttpRequest,
    raw: &[u8],
    actor: &Actor,
    t: &Target,
    rec: &mut ApiRecord,
) -> Result<HttpResponse, ApiError> {
    let body: SyncBody = parse_json(raw)?;
    let mut revision = body.revision.unwrap_or_default().to_ascii_lowercase();
    if !revision.is_empty() && !gantry_git::is_commit_prefix(&revision) {
        return Err(ApiError::bad_request(REVISION_FORMAT));
    }
    // The event carries a full id, so every reconciler reads the same commit: an abbreviation
    // is resolved here, against the repository as it is now.
    if !revision.is_empty() && !is_commit_id(&revision) {
        s.catalog
            .refresh_repo(&t.repository)
            .await
            .map_err(|e| ApiError::unavailable(format!("cannot fetch {}: {e}", t.repository)))?;
        let mirror = s
            .catalog
            .mirror(&t.repository)
            .map_err(|e| ApiError::unavailable(gantry_telemetry::error_chain(&e)))?;
        revision = resolve_revision(mirror, &revision, &t.repository)
            .await?
            .to_string();
    }
    rec.revision = revision.clone();
    let key = match req.headers().get(IDEMPOTENCY_KEY) {
        None => None,
        Some(v) => {
            let k = v.to_str().ok().filter(|k| {
                !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic())
            });
            match k {
                Some(k) => Some(k.to_owned()),
                None => {
                    return Err(ApiError::bad_request(
                        "Idempotency-Key must be 1 to 255 visible ASCII characters",
                    ));
                }
            }
        }
    };
    let request = key.unwrap_or_else(|| rec.request_id.clone());
    let (owner, name) = t.repository.split_once('/').unwrap_or((&t.repository, ""));
    let repo_cfg = s.config.repository(&t.repository);
    let clone_url = repo_cfg.map(|r| r.clone_url.clone()).unwrap_or_default();
    let web_url = gantry_git::redact(clone_url.trim_end_matches(".git"));
    let branch = t
        .decl
        .as_ref()
        .map(|d| d.branch.clone())
        .unwrap_or_default();
    let now = SystemTime::now();
    let event = v1::Event {
        id: request.clone(),
        provider: v1::Provider::Api as i32,
        delivery_id: request.clone(),
        kind: v1::EventKind::Sync as i32,
        received_at: Some(prost_types::Timestamp::from(now)),
        repository: Some(v1::Repository {
            full_name: t.repository.clone(),
            owner: owner.to_owned(),
            name: name.to_owned(),
            clone_url,
            web_url: web_url.clone(),
            default_branch: String::new(),
        }),
        r#ref: if branch.is_empty() {
            String::new()
        } else {
            format!("refs/heads/{branch}")
        },
        after: revision.clone(),
        sender: Some(v1::Person {
            name: actor.display(),
            email: actor.email.clone(),
            username: actor.subject.clone(),
        }),
        sync: Some(v1::SyncRequest {
            application: t.app.clone(),
            environment: t.environment.clone(),
            revision: revision.clone(),
            actor: Some(actor.to_proto()),
            request_id: request.clone(),
        }),
        ..Default::default()
    };
    let subject = gantry_nats::event_subject(
        v1::Provider::Api.token(),
        owner,
        name,
        v1::EventKind::Sync.token(),
    );
    let msg_id = format!("api:{request}");
    let mut h = async_nats::HeaderMap::new();
    h.insert(gantry_nats::HEADER_MSG_ID, msg_id.as_str());
    h.insert(
        gantry_nats::HEADER_CONTENT_TYPE,
        gantry_nats::CONTENT_TYPE_PROTOBUF,
    );
    h.insert(gantry_nats::HEADER_SCHEMA, v1::EVENT_SCHEMA);
    h.insert(gantry_nats::HEADER_CE_SPECVERSION, "1.0");
    h.insert(gantry_nats::HEADER_CE_ID, request.as_str());
    let source = if web_url.is_empty() {
        format!("urn:gantry:api:{}", t.repository)
    } else {
        web_url
    };
    h.insert(gantry_nats::HEADER_CE_SOURCE, source.as_str());
    h.insert(gantry_nats::HEADER_CE_TYPE, "dev.gantry.sync");
    h.insert(gantry_nats::HEADER_CE_TIME, rfc3339(now).as_str());
    h.insert(gantry_nats::HEADER_TRACEPARENT, rec.traceparent.as_str());

    if s.client.connection_state() != async_nats::connection::State::Connected {
        return Err(ApiError::unavailable("NATS is not connected; retry later"));
    }
    let attempt = async {
        s.js.publish_with_headers(subject.clone(), h, event.encode_to_vec().into())
            .await?
            .await
    };
    let ack = match tokio::time::timeout(s.config.publish_timeout, attempt).await {
        Err(_) => {
            return Err(ApiError::unavailable(format!(
                "JetStream did not store the sync within {:?}; retry with the same Idempotency-Key",
                s.config.publish_timeout
            )));
        }
        Ok(Err(e)) => {
            return Err(match e.kind() {
                PublishErrorKind::MaxPayloadExceeded => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the event is larger than NATS accepts",
                ),
                _ => ApiError::unavailable(format!("JetStream refused the sync: {e}")),
            });
        }
        Ok(Ok(ack)) => ack,
    };
    Ok(HttpResponse::Accepted().json(json!({
        "request": request,
        "stream_sequence": ack.sequence,
        "duplicate": ack.duplicate,
        "subject": subject,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_ids() {
        assert!(is_commit_id(&"a".repeat(40)));
        assert!(is_commit_id(&"0".repeat(64)));
        assert!(!is_commit_id("abc"));
        assert!(!is_commit_id(&"g".repeat(40)));
    }
}
