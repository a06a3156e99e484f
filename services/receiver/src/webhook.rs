//! One delivery, from request to answer: headers, body, signature, media type, event, publish
//! (contract section 2, in that order).

use std::time::{Instant, SystemTime};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderName};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use gantry_proto::v1::{self, Provider};
use prost::Message;
use serde_json::json;
use tracing::Instrument;

use crate::metrics::{Outcome, ProviderLabels, RequestLabels};
use crate::payload::{self, EventName, Hints, PayloadError};
use crate::publish::{PublishError, Publisher};
use crate::signature::{self, Encoding, SignatureError};
use crate::state::State;

/// The longest delivery id accepted; real ones are UUIDs (36 characters).
const MAX_DELIVERY_ID_LEN: usize = 128;

/// Every way a delivery can be refused, each with its status and machine code.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No event header.
    #[error("the {0} header is missing")]
    MissingEvent(&'static str),
    /// No delivery header.
    #[error("the {0} header is missing")]
    MissingDelivery(&'static str),
    /// A delivery id that cannot be a message id.
    #[error("the delivery id must be 1 to 128 visible ASCII characters")]
    InvalidDelivery,
    /// Only the SHA-1 signature was sent.
    #[error("only the SHA-1 X-Hub-Signature was sent; Gantry requires X-Hub-Signature-256")]
    Sha1Only,
    /// The signature is missing, malformed or wrong.
    #[error("{0}")]
    Signature(#[from] SignatureError),
    /// Larger than `--max-body-bytes`.
    #[error("the body is larger than the {0}-byte limit")]
    TooLarge(usize),
    /// The body could not be read.
    #[error("the body could not be read")]
    BodyRead,
    /// Neither JSON nor a form.
    #[error("Content-Type {0:?} is not application/json or application/x-www-form-urlencoded")]
    MediaType(String),
    /// A form without a `payload` field.
    #[error("the form has no payload field")]
    Form,
    /// The payload is not JSON or not a valid event.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The event could not be stored; the sender should retry.
    #[error("the event could not be stored: {0}; retry later")]
    Unavailable(#[source] PublishError),
    /// The normalised event exceeds the NATS server's message size.
    #[error("the event is larger than the NATS server's max_payload")]
    EventTooLarge,
}

impl WebhookError {
    /// The machine-readable `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::MissingEvent(_) => "missing_event_header",
            WebhookError::MissingDelivery(_) => "missing_delivery_header",
            WebhookError::InvalidDelivery => "invalid_delivery_header",
            WebhookError::Sha1Only | WebhookError::Signature(SignatureError::Missing) => {
                "missing_signature"
            }
            WebhookError::Signature(SignatureError::Malformed) => "malformed_signature",
            WebhookError::Signature(SignatureError::Mismatch) => "invalid_signature",
            WebhookError::TooLarge(_) => "payload_too_large",
            WebhookError::BodyRead => "body_read_failed",
            WebhookError::MediaType(_) => "unsupported_media_type",
            WebhookError::Form => "invalid_form",
            WebhookError::Payload(PayloadError::Json(_)) => "invalid_json",
            WebhookError::Payload(PayloadError::Invalid { .. }) => "invalid_payload",
            WebhookError::Unavailable(PublishError::Timeout(_)) => "publish_timeout",
            WebhookError::Unavailable(PublishError::NoStream) => "stream_unavailable",
            WebhookError::Unavailable(PublishError::ShuttingDown) => "shutting_down",
            WebhookError::Unavailable(_) => "nats_unavailable",
            WebhookError::EventTooLarge => "event_too_large",
        }
    }

    fn outcome(&self) -> Outcome {
        match self.status_code() {
            StatusCode::UNAUTHORIZED => Outcome::Unauthorized,
            StatusCode::PAYLOAD_TOO_LARGE => Outcome::TooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Outcome::UnsupportedMediaType,
            StatusCode::SERVICE_UNAVAILABLE => Outcome::Unavailable,
            _ => Outcome::BadRequest,
        }
    }
}

impl ResponseError for WebhookError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebhookError::MissingEvent(_)
            | WebhookError::MissingDelivery(_)
            | WebhookError::InvalidDelivery
            | WebhookError::BodyRead
            | WebhookError::Form
            | WebhookError::Payload(_) => StatusCode::BAD_REQUEST,
            WebhookError::Sha1Only | WebhookError::Signature(_) => StatusCode::UNAUTHORIZED,
            WebhookError::TooLarge(_) | WebhookError::EventTooLarge => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            WebhookError::MediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            WebhookError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status_code());
        if let WebhookError::Unavailable(_) = self {
            r.insert_header((header::RETRY_AFTER, "5"));
        }
        if let WebhookError::TooLarge(_) = self {
            // The rest of the body was not read, so the connection cannot be reused.
            r.insert_header((header::CONNECTION, "close"));
        }
        r.json(json!({"error": self.code(), "message": self.to_string()}))
    }
}

/// Which headers a provider's endpoint reads.
///
/// `HeaderName`s rather than `&str`: actix turns a `&str` key into an owned, freshly
/// allocated name on every lookup, and a delivery looks up about ten.
struct HeaderNames {
    event: &'static [HeaderName],
    event_type: &'static [HeaderName],
    delivery: &'static [HeaderName],
    /// Signature headers with their encodings, in order of preference.
    signature: &'static [(HeaderName, Encoding)],
}

const fn name(n: &'static str) -> HeaderName {
    HeaderName::from_static(n)
}

// Each list is a static of its own: a `HeaderName` may not be a borrowed temporary in a
// static, it has interior mutability (an atomic reference count).
static GITHUB_EVENT: [HeaderName; 1] = [name("x-github-event")];
static GITHUB_DELIVERY: [HeaderName; 1] = [name("x-github-delivery")];
static GITHUB_SIGNATURE: [(HeaderName, Encoding); 1] =
    [(name("x-hub-signature-256"), Encoding::Prefixed)];

static GITHUB: HeaderNames = HeaderNames {
    event: &GITHUB_EVENT,
    event_type: &[],
    delivery: &GITHUB_DELIVERY,
    signature: &GITHUB_SIGNATURE,
};

// Gitea also sends GitHub's headers; its own names win, GitHub's are the fallback.
static GITEA_EVENT: [HeaderName; 4] = [
    name("x-gitea-event"),
    name("x-forgejo-event"),
    name("x-gogs-event"),
    name("x-github-event"),
];
static GITEA_EVENT_TYPE: [HeaderName; 3] = [
    name("x-gitea-event-type"),
    name("x-forgejo-event-type"),
    name("x-github-event-type"),
];
static GITEA_DELIVERY: [HeaderName; 3] = [
    name("x-gitea-delivery"),
    name("x-forgejo-delivery"),
    name("x-github-delivery"),
];
static GITEA_SIGNATURE: [(HeaderName, Encoding); 3] = [
    (name("x-gitea-signature"), Encoding::Bare),
    (name("x-forgejo-signature"), Encoding::Bare),
    (name("x-hub-signature-256"), Encoding::Prefixed),
];

static GITEA: HeaderNames = HeaderNames {
    event: &GITEA_EVENT,
    event_type: &GITEA_EVENT_TYPE,
    delivery: &GITEA_DELIVERY,
    signature: &GITEA_SIGNATURE,
};

static SHA1_SIGNATURE: HeaderName = name("x-hub-signature");
static TRACEPARENT: HeaderName = name("traceparent");
static TRACESTATE: HeaderName = name("tracestate");

fn first<'a>(h: &'a HeaderMap, names: &[HeaderName]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| h.get(n).and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// `POST /webhooks/github`
pub async fn github(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<State>,
    nats: web::Data<Publisher>,
) -> HttpResponse {
    handle(Provider::Github, req, body, &state, &nats).await
}

/// `POST /webhooks/gitea`
pub async fn gitea(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<State>,
    nats: web::Data<Publisher>,
) -> HttpResponse {
    handle(Provider::Gitea, req, body, &state, &nats).await
}

async fn handle(
    provider: Provider,
    req: HttpRequest,
    body: web::Payload,
    state: &State,
    nats: &Publisher,
) -> HttpResponse {
    let started = Instant::now();
    let names = match provider {
        Provider::Gitea => &GITEA,
        _ => &GITHUB,
    };
    let event_header = first(req.headers(), names.event);
    let event_name = event_header.map(EventName::parse);
    let delivery = first(req.headers(), names.delivery).unwrap_or("");
    // The span exists for the OTLP exporter; without one it would only cost (its fields are
    // formatted for the log layer on every request), so it is left out and the few log lines
    // name the delivery themselves.
    let exporting = gantry_telemetry::exporting();
    let span = if exporting {
        tracing::info_span!(
            "webhook",
            otel.name = "POST /webhooks",
            otel.kind = "server",
            provider = provider.token(),
            event = event_header.unwrap_or(""),
            delivery = delivery,
        )
    } else {
        tracing::Span::none()
    };
    if exporting
        && let Some(tp) = req
            .headers()
            .get(&TRACEPARENT)
            .and_then(|v| v.to_str().ok())
    {
        let ts = req.headers().get(&TRACESTATE).and_then(|v| v.to_str().ok());
        gantry_telemetry::set_parent(&span, tp, ts);
    }
    let result = process(provider, names, &req, body, state, nats)
        .instrument(span.clone())
        .await;
    let (response, outcome) = match result {
        Ok((response, outcome)) => (response, outcome),
        Err(e) => {
            let _enter = span.enter();
            let provider = provider.token();
            if e.status_code().is_server_error() {
                tracing::warn!(provider, delivery, error = %gantry_telemetry::error_chain(&e), code = e.code(), "delivery not stored");
            } else {
                tracing::info!(provider, delivery, error = %e, code = e.code(), "delivery refused");
            }
            (e.error_response(), e.outcome())
        }
    };
    let m = &state.metrics;
    m.requests
        .get_or_create(&RequestLabels {
            provider: provider.token(),
            event: event_name.map_or("unknown", EventName::label),
            outcome: outcome.label(),
        })
        .inc();
    m.request_duration
        .get_or_create(&ProviderLabels {
            provider: provider.token(),
        })
        .observe(started.elapsed().as_secs_f64());
    response
}

enum Media {
    Json,
    Form,
    Other(String),
}

fn media(req: &HttpRequest) -> Media {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Media::Json
    } else if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Media::Form
    } else {
        Media::Other(ct.to_owned())
    }
}

async fn read_body(
    req: &HttpRequest,
    mut body: web::Payload,
    limit: usize,
) -> Result<Bytes, WebhookError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared
        && len > limit as u64
    {
        return Err(WebhookError::TooLarge(limit));
    }
    // A body that arrived with its request head (most webhooks fit in one read) is one chunk:
    // it is kept as it is, and only a body in several chunks is copied into one buffer.
    let Some(first) = body.next().await else {
        return Ok(Bytes::new());
    };
    let first = first.map_err(|_| WebhookError::BodyRead)?;
    if first.len() > limit {
        return Err(WebhookError::TooLarge(limit));
    }
    let Some(second) = body.next().await else {
        return Ok(first);
    };
    let second = second.map_err(|_| WebhookError::BodyRead)?;
    // Trust a declared length only so far: a client may announce 25 MiB and send nothing.
    let mut buf = BytesMut::with_capacity(declared.map_or(8 * 1024, |l| (l as usize).min(1 << 20)));
    buf.extend_from_slice(&first);
    let mut next = Some(second);
    while let Some(chunk) = next {
        if buf.len() + chunk.len() > limit {
            return Err(WebhookError::TooLarge(limit));
        }
        buf.extend_from_slice(&chunk);
        next = match body.next().await {
            Some(c) => Some(c.map_err(|_| WebhookError::BodyRead)?),
            None => None,
        };
    }
    Ok(buf.freeze())
}

#[derive(serde::Deserialize)]
struct Form {
    payload: Option<String>,
}

async fn process(
    provider: Provider,
    names: &HeaderNames,
    req: &HttpRequest,
    body: web::Payload,
    state: &State,
    nats: &Publisher,
) -> Result<(HttpResponse, Outcome), WebhookError> {
    // 1. Provider headers.
    let headers = req.headers();
    let event =
        first(headers, names.event).ok_or(WebhookError::MissingEvent(names.event[0].as_str()))?;
    let delivery = first(headers, names.delivery)
        .ok_or(WebhookError::MissingDelivery(names.delivery[0].as_str()))?;
    if delivery.len() > MAX_DELIVERY_ID_LEN || !delivery.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(WebhookError::InvalidDelivery);
    }
    let signature = names.signature.iter().find_map(|(n, enc)| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty())
            .map(|v| (v, *enc))
    });
    let event_type = first(headers, names.event_type);
    // 2a. An unsigned delivery is refused before its body is read: nobody can make the
    //     receiver buffer megabytes without knowing a secret.
    let Some((sig, encoding)) = signature else {
        if provider == Provider::Github && headers.contains_key(&SHA1_SIGNATURE) {
            return Err(WebhookError::Sha1Only);
        }
        return Err(SignatureError::Missing.into());
    };

    let body = read_body(req, body, state.config.max_body_bytes).await?;
    let media = media(req);
    let form_json = match media {
        Media::Form => Some(
            serde_urlencoded::from_bytes::<Form>(&body)
                .ok()
                .and_then(|f| f.payload)
                .map(Bytes::from),
        ),
        _ => None,
    };

    // 2b. The signature over the bytes the provider signed: GitHub signs the body as sent,
    //     Gitea signs the JSON inside a form.
    let signed: &[u8] = match (provider, &form_json) {
        (Provider::Gitea, Some(Some(json))) => json,
        _ => &body,
    };
    let json: &[u8] = match &form_json {
        Some(Some(json)) => json,
        _ => &body,
    };
    let secrets = state.secrets_for(json);
    signature::verify(secrets, signed, sig, encoding)?;

    // 3. Media type and body.
    let json = match (media, form_json) {
        (Media::Json, _) => body.clone(),
        (Media::Form, Some(Some(json))) => json,
        (Media::Form, _) => return Err(WebhookError::Form),
        (Media::Other(ct), _) => return Err(WebhookError::MediaType(ct)),
    };

    // 4. Event.
    let outcome = payload::normalise(
        provider,
        EventName::parse(event),
        Hints { event_type },
        delivery,
        &json,
    )?;
    let mut event = match outcome {
        payload::Outcome::Ignore(reason) => {
            tracing::debug!(ignored = reason, "delivery ignored");
            return Ok((
                HttpResponse::Ok().json(json!({"ignored": reason, "delivery": delivery})),
                Outcome::Ignored,
            ));
        }
        payload::Outcome::Publish(e) => e,
    };

    // 5. Publish and wait for the stream's ack.
    let now = SystemTime::now();
    event.received_at = Some(prost_types::Timestamp::from(now));
    let kind = v1::EventKind::try_from(event.kind).unwrap_or(v1::EventKind::Unspecified);
    // normalise() always sets the repository; the default only keeps this path panic-free.
    let no_repo = v1::Repository::default();
    let repo = event.repository.as_ref().unwrap_or(&no_repo);
    let subject = async_nats::Subject::from(gantry_nats::event_subject(
        provider.token(),
        &repo.owner,
        &repo.name,
        kind.token(),
    ));
    let source = if repo.web_url.is_empty() {
        std::borrow::Cow::Owned(format!(
            "urn:gantry:{}:{}",
            provider.token(),
            repo.full_name
        ))
    } else {
        std::borrow::Cow::Borrowed(repo.web_url.as_str())
    };
    let exported = if gantry_telemetry::exporting() {
        gantry_telemetry::traceparent(&tracing::Span::current())
    } else {
        None
    };
    let traceparent = exported.unwrap_or_else(|| {
        gantry_telemetry::child_traceparent(headers.get(&TRACEPARENT).and_then(|v| v.to_str().ok()))
    });
    let time = rfc3339(now);
    let h = gantry_nats::EventHeaders {
        id: &event.id,
        source: &source,
        kind: kind.token(),
        time: &time,
        traceparent: &traceparent,
    };

    let published = Instant::now();
    let ack = nats
        .publish(
            subject.clone(),
            &h,
            Bytes::from(event.encode_to_vec()),
            state.stopping.deadline(),
        )
        .await;
    state
        .metrics
        .publish_duration
        .observe(published.elapsed().as_secs_f64());
    let ack = match ack {
        Ok(ack) => ack,
        Err(PublishError::TooLarge(_)) => return Err(WebhookError::EventTooLarge),
        Err(e) => return Err(WebhookError::Unavailable(e)),
    };
    // Debug, not info: at tens of thousands of deliveries a second a line each would cost more
    // than the rest of the request; the stream itself is the record of what was stored.
    tracing::debug!(
        subject = %subject,
        stream_sequence = ack.sequence,
        duplicate = ack.duplicate,
        "delivery stored"
    );
    let outcome = if ack.duplicate {
        Outcome::Duplicate
    } else {
        Outcome::Accepted
    };
    // A struct, not a json! map: serialised straight into the body without building a tree.
    #[derive(serde::Serialize)]
    struct Accepted<'a> {
        delivery: &'a str,
        subject: &'a str,
        stream_sequence: u64,
        duplicate: bool,
    }
    Ok((
        HttpResponse::Accepted().json(Accepted {
            delivery,
            subject: subject.as_str(),
            stream_sequence: ack.sequence,
            duplicate: ack.duplicate,
        }),
        outcome,
    ))
}

fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_header_names_the_proto_message() {
        assert_eq!(gantry_nats::EVENT_SCHEMA, gantry_proto::v1::EVENT_SCHEMA);
    }
}
