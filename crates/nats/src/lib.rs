//! Gantry's NATS names (streams, subjects, headers), subject-token escaping, and stream set-up.
//!
//! Every service that touches JetStream takes its names from here, so the contract's section 3
//! is written down once.

use std::fmt::Write as _;
use std::time::Duration;

use async_nats::jetstream::{self, stream};

/// The stream that stores verified webhook events.
pub const EVENTS_STREAM: &str = "GANTRY_EVENTS";
/// The subjects of [`EVENTS_STREAM`].
pub const EVENTS_SUBJECTS: &str = "gantry.events.>";
/// The stream that stores one audit record per reconcile step outcome.
pub const AUDIT_STREAM: &str = "GANTRY_AUDIT";
/// The subjects of [`AUDIT_STREAM`].
pub const AUDIT_SUBJECTS: &str = "gantry.audit.>";
/// The subjects dead-lettered events go to.
pub const DLQ_SUBJECTS: &str = "gantry.dlq.>";
/// The key-value bucket holding each app and environment's state and lease.
pub const STATE_BUCKET: &str = "gantry-state";
/// The stream that keeps dead-lettered events (subjects [`DLQ_SUBJECTS`]).
pub const DLQ_STREAM: &str = "GANTRY_DLQ";
/// The durable pull consumer on [`EVENTS_STREAM`] that every reconciler worker shares.
pub const RECONCILER_CONSUMER: &str = "gantry-reconciler";

/// JetStream's de-duplication header.
pub const HEADER_MSG_ID: &str = "Nats-Msg-Id";
/// Names the protobuf message in the body.
pub const HEADER_SCHEMA: &str = "Gantry-Schema";
/// Always `application/protobuf` on Gantry's messages.
pub const HEADER_CONTENT_TYPE: &str = "Content-Type";
/// The body's media type.
pub const CONTENT_TYPE_PROTOBUF: &str = "application/protobuf";
/// W3C trace context.
pub const HEADER_TRACEPARENT: &str = "traceparent";
/// CloudEvents binary-mode attributes (NATS protocol binding).
pub const HEADER_CE_SPECVERSION: &str = "ce-specversion";
/// CloudEvents `id`.
pub const HEADER_CE_ID: &str = "ce-id";
/// CloudEvents `source`.
pub const HEADER_CE_SOURCE: &str = "ce-source";
/// CloudEvents `type`.
pub const HEADER_CE_TYPE: &str = "ce-type";
/// CloudEvents `time`.
pub const HEADER_CE_TIME: &str = "ce-time";

/// How long JetStream remembers a `Nats-Msg-Id` to drop a redelivered webhook.
///
/// Git hosts redeliver by hand (GitHub's "Redeliver" button, Gitea's "Test delivery"), usually
/// within minutes of a failure; a longer window costs server memory at high rates.
pub const EVENTS_DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);
/// How long events are kept: long enough to replay a week of pushes after an incident.
pub const EVENTS_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The oldest nats-server Gantry runs against (contract section 3): 2.10 brought the consumer
/// and key-value APIs the reconciler relies on (multi-filter consumers, `CONSUMER.CREATE` with a
/// filter subject), and older servers leave those requests unanswered rather than refusing them.
pub const MIN_SERVER_VERSION: (u64, u64) = (2, 10);

/// The exit code of a process that cannot use the NATS server it was given (an older server,
/// or streams, consumers or buckets that cannot be set up): sysexits' `EX_UNAVAILABLE`.
pub const EXIT_UNAVAILABLE: u8 = 69;

/// Errors of stream set-up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server is older than [`MIN_SERVER_VERSION`].
    #[error(
        "nats-server {version} is not supported: Gantry needs nats-server {}.{} or newer",
        MIN_SERVER_VERSION.0,
        MIN_SERVER_VERSION.1
    )]
    ServerTooOld {
        /// The version the server announced in its INFO.
        version: String,
    },
    /// The server could not be asked about the stream.
    #[error("could not look up stream {stream}")]
    Lookup {
        /// The stream's name.
        stream: &'static str,
        /// What the client said.
        #[source]
        source: async_nats::jetstream::context::GetStreamError,
    },
    /// The stream was absent and could not be created.
    #[error("could not create stream {stream}")]
    Create {
        /// The stream's name.
        stream: &'static str,
        /// What the client said.
        #[source]
        source: async_nats::jetstream::context::CreateStreamError,
    },
}

/// Checks the version a connected server announced in its INFO against
/// [`MIN_SERVER_VERSION`]. A version that cannot be read (a fork, a build with a suffix that
/// hides the numbers) is let through: refusing it would block servers that work.
pub fn check_server_version(version: &str) -> Result<(), Error> {
    match parse_version(version) {
        Some((major, minor)) if (major, minor) < MIN_SERVER_VERSION => Err(Error::ServerTooOld {
            version: version.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Checks the server `client` is connected to; see [`check_server_version`]. Call it once the
/// client is connected: before that the client knows no server version.
pub fn check_server(client: &async_nats::Client) -> Result<(), Error> {
    check_server_version(&client.server_info().version)
}

/// `major.minor` of a nats-server version such as `2.9.10`, `v2.10.0-beta.1` or `2.12`.
fn parse_version(v: &str) -> Option<(u64, u64)> {
    let v = v.trim().trim_start_matches('v');
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor_text = parts.next()?;
    let digits = minor_text
        .find(|c: char| !c.is_ascii_digit())
        .map_or(minor_text, |i| &minor_text[..i]);
    Some((major, digits.parse().ok()?))
}

impl Error {
    /// True when the server answered and said no (a JetStream API error, an old server): trying
    /// again cannot help, so a service reports it and exits. False for what passes with time
    /// (a timeout, a lost connection), which a service retries.
    pub fn is_refusal(&self) -> bool {
        use async_nats::jetstream::context::{CreateStreamErrorKind, GetStreamErrorKind};
        match self {
            Error::ServerTooOld { .. } => true,
            Error::Lookup { source, .. } => {
                matches!(source.kind(), GetStreamErrorKind::JetStream(_))
            }
            Error::Create { source, .. } => matches!(
                source.kind(),
                CreateStreamErrorKind::JetStream(_) | CreateStreamErrorKind::JetStreamUnavailable
            ),
        }
    }
}

/// Escapes one subject token: bytes outside `[A-Za-z0-9_-]` become `%XX` (upper-case hex).
///
/// The result never contains `.`, `*`, `>` or white space, so a repository named `my.repo` or
/// `a>b` can never reach into another repository's subjects. The escaping is injective, so
/// subscribers can invert it with [`unescape_token`]. NATS forbids empty tokens, so an empty
/// input is written `-`; callers validate names before building subjects.
pub fn escape_token(raw: &str) -> String {
    if raw.is_empty() {
        return "-".to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    for &b in raw.as_bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Reverses [`escape_token`]; `None` when the token is not a valid escape.
pub fn unescape_token(token: &str) -> Option<String> {
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = token.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `gantry.events.<provider>.<owner>.<repo>.<kind>`, with owner and repo escaped.
pub fn event_subject(provider: &str, owner: &str, repo: &str, kind: &str) -> String {
    format!(
        "gantry.events.{provider}.{}.{}.{kind}",
        escape_token(owner),
        escape_token(repo)
    )
}

/// `gantry.audit.<app>.<environment>.<outcome>`, with app and environment escaped.
pub fn audit_subject(app: &str, environment: &str, outcome: &str) -> String {
    format!(
        "gantry.audit.{}.{}.{outcome}",
        escape_token(app),
        escape_token(environment)
    )
}

/// The configuration `GANTRY_EVENTS` is created with.
pub fn events_stream_config() -> stream::Config {
    stream::Config {
        name: EVENTS_STREAM.to_owned(),
        subjects: vec![EVENTS_SUBJECTS.to_owned()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age: EVENTS_MAX_AGE,
        duplicate_window: EVENTS_DUPLICATE_WINDOW,
        ..Default::default()
    }
}

/// The configuration `GANTRY_AUDIT` is created with.
pub fn audit_stream_config() -> stream::Config {
    stream::Config {
        name: AUDIT_STREAM.to_owned(),
        subjects: vec![AUDIT_SUBJECTS.to_owned()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age: Duration::from_secs(30 * 24 * 3600),
        ..Default::default()
    }
}

/// The configuration `GANTRY_DLQ` is created with: events that exhausted their deliveries, kept
/// as long as events are so that an operator can inspect and replay them.
pub fn dlq_stream_config() -> stream::Config {
    stream::Config {
        name: DLQ_STREAM.to_owned(),
        subjects: vec![DLQ_SUBJECTS.to_owned()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age: EVENTS_MAX_AGE,
        ..Default::default()
    }
}

/// The dead-letter subject of an event subject: `gantry.events.X` becomes `gantry.dlq.X`.
pub fn dlq_subject(event_subject: &str) -> String {
    match event_subject.strip_prefix("gantry.events.") {
        Some(rest) => format!("gantry.dlq.{rest}"),
        None => format!("gantry.dlq.{}", escape_token(event_subject)),
    }
}

/// What [`ensure_stream`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamStatus {
    /// The stream was absent and has been created as asked.
    Created,
    /// The stream exists with the settings Gantry relies on.
    Matches,
    /// The stream exists with other settings. It was left as it is; each entry names a setting,
    /// what the server has and what Gantry would create.
    Differs(Vec<String>),
}

/// Makes sure `want.name` exists: creates it when absent; when present, compares the settings
/// Gantry relies on and reports differences without ever changing the stream, because an
/// operator may have tuned it on purpose.
pub async fn ensure_stream(
    js: &jetstream::Context,
    want: &stream::Config,
    name: &'static str,
) -> Result<StreamStatus, Error> {
    use async_nats::jetstream::context::GetStreamErrorKind;
    match js.get_stream(name).await {
        Ok(mut s) => {
            let have = s
                .info()
                .await
                .map(|i| i.config.clone())
                .map_err(|e| Error::Lookup {
                    stream: name,
                    source: async_nats::jetstream::context::GetStreamError::with_source(
                        GetStreamErrorKind::Request,
                        e,
                    ),
                })?;
            let diffs = differences(&have, want);
            Ok(if diffs.is_empty() {
                StreamStatus::Matches
            } else {
                StreamStatus::Differs(diffs)
            })
        }
        Err(e) if is_not_found(&e) => {
            js.create_stream(want.clone())
                .await
                .map_err(|source| Error::Create {
                    stream: name,
                    source,
                })?;
            Ok(StreamStatus::Created)
        }
        Err(source) => Err(Error::Lookup {
            stream: name,
            source,
        }),
    }
}

fn is_not_found(e: &async_nats::jetstream::context::GetStreamError) -> bool {
    use async_nats::jetstream::context::GetStreamErrorKind;
    matches!(e.kind(), GetStreamErrorKind::JetStream(j)
        if j.error_code() == async_nats::jetstream::ErrorCode::STREAM_NOT_FOUND)
}

fn differences(have: &stream::Config, want: &stream::Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut cmp = |what: &str, h: String, w: String| {
        if h != w {
            out.push(format!("{what}: server has {h}, Gantry expects {w}"));
        }
    };
    cmp(
        "subjects",
        format!("{:?}", have.subjects),
        format!("{:?}", want.subjects),
    );
    cmp(
        "storage",
        format!("{:?}", have.storage),
        format!("{:?}", want.storage),
    );
    cmp(
        "retention",
        format!("{:?}", have.retention),
        format!("{:?}", want.retention),
    );
    // Zero asks for the server's default window, so any window the server chose matches it.
    if !want.duplicate_window.is_zero() {
        cmp(
            "duplicate_window",
            format!("{:?}", have.duplicate_window),
            format!("{:?}", want.duplicate_window),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn servers_older_than_2_10_are_refused_with_both_versions_named() {
        for old in ["2.9.10", "v2.9.25", "1.4.0", "2.2.0-beta.3"] {
            let e = check_server_version(old).expect_err(old).to_string();
            assert!(e.contains(old) && e.contains("2.10 or newer"), "{e}");
        }
        for ok in ["2.10.0", "2.10.0-RC.1", "v2.15.1", "3.0.0", "", "unknown"] {
            assert!(check_server_version(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn escapes_as_the_contract_says() {
        assert_eq!(escape_token("my.repo"), "my%2Erepo");
        assert_eq!(escape_token("Acme_Co-1"), "Acme_Co-1");
        assert_eq!(escape_token("a b*>"), "a%20b%2A%3E");
        assert_eq!(escape_token("Ø"), "%C3%98");
        assert_eq!(
            event_subject("github", "acme", "my.repo", "push"),
            "gantry.events.github.acme.my%2Erepo.push"
        );
        assert_eq!(
            audit_subject("pay.ments", "dev", "succeeded"),
            "gantry.audit.pay%2Ements.dev.succeeded"
        );
    }

    proptest! {
        #[test]
        fn escaped_tokens_are_single_safe_tokens_and_invert(s in "\\PC{1,40}") {
            let t = escape_token(&s);
            prop_assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'%'));
            prop_assert_eq!(unescape_token(&t), Some(s));
        }
    }
}
