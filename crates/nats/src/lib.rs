//! Gantry's NATS names (streams, subjects, headers), subject-token escaping, and stream set-up.
//!
//! Every service that touches JetStream takes its names from here, so the contract's section 3
//! is written down once.

use std::fmt::Write as _;
use std::time::Duration;

use async_nats::ServerAddr;
use async_nats::jetstream::{self, kv, stream};

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
/// The stream behind [`STATE_BUCKET`]: JetStream names a bucket's stream `KV_<bucket>`.
pub const STATE_BUCKET_STREAM: &str = "KV_gantry-state";
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

/// The `Gantry-Schema` of event messages (the protobuf message `gantry.v1.Event`).
pub const EVENT_SCHEMA: &str = "gantry.v1.Event";
/// The CloudEvents spec version Gantry writes.
pub const CE_SPECVERSION: &str = "1.0";

/// What an event message's headers say (contract section 3).
#[derive(Debug, Clone, Copy)]
pub struct EventHeaders<'a> {
    /// `<provider>:<delivery id>`: both `Nats-Msg-Id` (JetStream drops a redelivery) and `ce-id`.
    pub id: &'a str,
    /// `ce-source`: the repository's web URL.
    pub source: &'a str,
    /// The event kind token (`push`, `pr_opened`, ...); `ce-type` is `dev.gantry.<kind>`.
    pub kind: &'a str,
    /// `ce-time`, RFC 3339.
    pub time: &'a str,
    /// W3C `traceparent`.
    pub traceparent: &'a str,
}

impl EventHeaders<'_> {
    /// The header map every event message carries. The receiver and the load generator both
    /// build theirs here, so the storage ceiling the load tool measures uses the same headers.
    ///
    /// The receiver builds one per webhook, so the names are static (a `&str` name is
    /// validated and, unless NATS knows it, copied on every insert), and a value with a line
    /// break (only a signed payload's repository URL could carry one) is written with the
    /// break percent-encoded: the client would panic on it, and a header cannot hold one.
    pub fn to_header_map(&self) -> async_nats::HeaderMap {
        use async_nats::HeaderName;
        const MSG_ID: HeaderName = HeaderName::from_static(HEADER_MSG_ID);
        const CONTENT_TYPE: HeaderName = HeaderName::from_static(HEADER_CONTENT_TYPE);
        const SCHEMA: HeaderName = HeaderName::from_static(HEADER_SCHEMA);
        const SPECVERSION: HeaderName = HeaderName::from_static(HEADER_CE_SPECVERSION);
        const ID: HeaderName = HeaderName::from_static(HEADER_CE_ID);
        const SOURCE: HeaderName = HeaderName::from_static(HEADER_CE_SOURCE);
        const TYPE: HeaderName = HeaderName::from_static(HEADER_CE_TYPE);
        const TIME: HeaderName = HeaderName::from_static(HEADER_CE_TIME);
        const TRACEPARENT: HeaderName = HeaderName::from_static(HEADER_TRACEPARENT);
        let mut h = async_nats::HeaderMap::new();
        h.insert(MSG_ID, header_value(self.id));
        h.insert(CONTENT_TYPE, CONTENT_TYPE_PROTOBUF);
        h.insert(SCHEMA, EVENT_SCHEMA);
        h.insert(SPECVERSION, CE_SPECVERSION);
        h.insert(ID, header_value(self.id));
        h.insert(SOURCE, header_value(self.source));
        h.insert(TYPE, header_value(&ce_type(self.kind)));
        h.insert(TIME, header_value(self.time));
        h.insert(TRACEPARENT, header_value(self.traceparent));
        h
    }
}

/// `v` as a header value, with CR and LF written `%0D` and `%0A`.
fn header_value(v: &str) -> async_nats::HeaderValue {
    if v.contains(['\r', '\n']) {
        async_nats::HeaderValue::from(v.replace('\r', "%0D").replace('\n', "%0A"))
    } else {
        async_nats::HeaderValue::from(v)
    }
}

/// `dev.gantry.<kind>`, without an allocation for the contract's kinds.
pub fn ce_type(kind: &str) -> std::borrow::Cow<'static, str> {
    use std::borrow::Cow;
    match kind {
        "push" => Cow::Borrowed("dev.gantry.push"),
        "pr_opened" => Cow::Borrowed("dev.gantry.pr_opened"),
        "pr_updated" => Cow::Borrowed("dev.gantry.pr_updated"),
        "pr_closed" => Cow::Borrowed("dev.gantry.pr_closed"),
        "pr_merged" => Cow::Borrowed("dev.gantry.pr_merged"),
        "sync" => Cow::Borrowed("dev.gantry.sync"),
        other => Cow::Owned(format!("dev.gantry.{other}")),
    }
}

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
    /// The state bucket exists but could not be opened.
    #[error("could not open the key-value bucket {STATE_BUCKET}")]
    OpenBucket(#[source] async_nats::jetstream::context::KeyValueError),
    /// The state bucket was absent and could not be created.
    #[error("could not create the key-value bucket {STATE_BUCKET}")]
    CreateBucket(#[source] async_nats::jetstream::context::CreateKeyValueError),
    /// A server address the client cannot use.
    #[error("invalid NATS server address {address:?}")]
    ServerAddr {
        /// The address as given.
        address: String,
        /// Why the client refused it.
        #[source]
        source: std::io::Error,
    },
}

/// Why a service's NATS client could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A server address in the URL is unusable.
    #[error("cannot use NATS URL {url:?}")]
    Address {
        /// The URL as given.
        url: String,
        /// Which server and why.
        #[source]
        source: Error,
    },
    /// The client refused the options.
    #[error("cannot use NATS URL {url:?}")]
    Connect {
        /// The URL as given.
        url: String,
        /// What the client said.
        #[source]
        source: async_nats::ConnectError,
    },
}

/// Creates a long-running service's client for `url` (seed servers separated by commas) with
/// `options` (its name, its event callback). It connects in the background and reconnects
/// forever, so the service starts, and answers 503, even while NATS is down; and it comes back
/// quickly after an outage (50 ms doubling to 1 s), where the default backoff grows to several
/// seconds.
pub async fn connect_service(
    url: &str,
    options: async_nats::ConnectOptions,
) -> Result<async_nats::Client, ConnectError> {
    let servers = server_addrs_from_url(url).map_err(|source| ConnectError::Address {
        url: url.to_owned(),
        source,
    })?;
    options
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((50u64 << attempts.min(5)).min(1_000))
        })
        .connect(servers)
        .await
        .map_err(|source| ConnectError::Connect {
            url: url.to_owned(),
            source,
        })
}

/// Parses seed servers (from `--nats-url`, split at commas) into the addresses a
/// `ConnectOptions::connect` takes. Given several, the client picks one, learns the rest of the
/// cluster from it, and reconnects to another when the one it uses goes away.
pub fn server_addrs(servers: &[String]) -> Result<Vec<ServerAddr>, Error> {
    servers
        .iter()
        .map(|s| {
            s.trim()
                .parse::<ServerAddr>()
                .map_err(|source| Error::ServerAddr {
                    address: s.clone(),
                    source,
                })
        })
        .collect()
}

/// [`server_addrs`] of a comma-separated list.
pub fn server_addrs_from_url(url: &str) -> Result<Vec<ServerAddr>, Error> {
    let list: Vec<String> = url
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    server_addrs(&list)
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
            // An address the client cannot parse never becomes usable.
            Error::ServerAddr { .. } => true,
            // The client folds a refusal and a lost request into one kind here, so these are
            // retried: a refusal then fails again, visibly, each time.
            Error::OpenBucket(_) | Error::CreateBucket(_) => false,
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

/// The configuration `GANTRY_EVENTS` is created with, kept on `replicas` servers.
pub fn events_stream_config(replicas: usize) -> stream::Config {
    stream::Config {
        name: EVENTS_STREAM.to_owned(),
        subjects: vec![EVENTS_SUBJECTS.to_owned()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age: EVENTS_MAX_AGE,
        duplicate_window: EVENTS_DUPLICATE_WINDOW,
        num_replicas: replicas.max(1),
        ..Default::default()
    }
}

/// The configuration `GANTRY_AUDIT` is created with.
pub fn audit_stream_config(replicas: usize) -> stream::Config {
    stream::Config {
        name: AUDIT_STREAM.to_owned(),
        subjects: vec![AUDIT_SUBJECTS.to_owned()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age: Duration::from_secs(30 * 24 * 3600),
        num_replicas: replicas.max(1),
        ..Default::default()
    }
}

/// The configuration `GANTRY_DLQ` is created with: events that exhausted their deliveries, kept
/// as long as events are so that an operator can inspect and replay them.
pub fn dlq_stream_config(replicas: usize) -> stream::Config {
    stream::Config {
        name: DLQ_STREAM.to_owned(),
        subjects: vec![DLQ_SUBJECTS.to_owned()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age: EVENTS_MAX_AGE,
        num_replicas: replicas.max(1),
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
    // An operator who moved a stream to more (or fewer) servers on purpose keeps it so; Gantry
    // only says that it would have created it otherwise.
    cmp(
        "replicas",
        have.num_replicas.max(1).to_string(),
        want.num_replicas.max(1).to_string(),
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

/// The configuration the `gantry-state` bucket is created with: one value per key (the lease
/// and the state are compare-and-set, so history would only cost space), on `replicas` servers.
pub fn state_bucket_config(replicas: usize) -> kv::Config {
    kv::Config {
        bucket: STATE_BUCKET.to_owned(),
        history: 1,
        storage: stream::StorageType::File,
        num_replicas: replicas.max(1),
        description: "Gantry: last applied revision and lease per app and environment".to_owned(),
        ..Default::default()
    }
}

/// Opens the `gantry-state` bucket, creating it with [`state_bucket_config`] when absent. An
/// existing bucket is never changed: differences (its replicas) are reported as
/// [`StreamStatus::Differs`] for the caller to log, as for the streams.
pub async fn ensure_state_bucket(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<(kv::Store, StreamStatus), Error> {
    match js.get_stream(STATE_BUCKET_STREAM).await {
        Ok(s) => {
            let have = s.cached_info().config.num_replicas.max(1);
            let want = replicas.max(1);
            let store = js
                .get_key_value(STATE_BUCKET)
                .await
                .map_err(Error::OpenBucket)?;
            let status = if have == want {
                StreamStatus::Matches
            } else {
                StreamStatus::Differs(vec![format!(
                    "replicas: server has {have}, Gantry expects {want}"
                )])
            };
            Ok((store, status))
        }
        Err(e) if is_not_found(&e) => {
            match js.create_key_value(state_bucket_config(replicas)).await {
                Ok(store) => Ok((store, StreamStatus::Created)),
                // Another worker may have created it a moment before; then it opens.
                Err(source) => match js.get_key_value(STATE_BUCKET).await {
                    Ok(store) => Ok((store, StreamStatus::Matches)),
                    Err(_) => Err(Error::CreateBucket(source)),
                },
            }
        }
        Err(source) => Err(Error::Lookup {
            stream: STATE_BUCKET_STREAM,
            source,
        }),
    }
}

/// The replicas setting of an existing consumer against what Gantry would create; `None` when
/// they agree. Zero means "as many as the stream", which agrees with the stream's own count.
pub fn consumer_replicas_difference(
    have: usize,
    stream_replicas: usize,
    want: usize,
) -> Option<String> {
    let have = if have == 0 { stream_replicas } else { have }.max(1);
    (have != want.max(1)).then(|| {
        format!(
            "replicas: server has {have}, Gantry expects {}",
            want.max(1)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn event_headers_carry_the_contract_set() {
        let h = EventHeaders {
            id: "github:d1",
            source: "https://github.com/acme/app",
            kind: "pr_merged",
            time: "2025-06-15T13:01:51Z",
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        }
        .to_header_map();
        let get = |k: &str| h.get(k).map(|v| v.as_str().to_owned()).unwrap_or_default();
        assert_eq!(get("Nats-Msg-Id"), "github:d1");
        assert_eq!(get("ce-id"), "github:d1");
        assert_eq!(get("Content-Type"), "application/protobuf");
        assert_eq!(get("Gantry-Schema"), "gantry.v1.Event");
        assert_eq!(get("ce-specversion"), "1.0");
        assert_eq!(get("ce-source"), "https://github.com/acme/app");
        assert_eq!(get("ce-type"), "dev.gantry.pr_merged");
        assert_eq!(get("ce-time"), "2025-06-15T13:01:51Z");
        assert!(get("traceparent").starts_with("00-4bf92f35"));
        assert_eq!(ce_type("other"), "dev.gantry.other");
    }

    #[test]
    fn line_breaks_in_header_values_are_percent_encoded_not_fatal() {
        let h = EventHeaders {
            id: "github:d1",
            source: "https://example.com/a\r\nX-Injected: 1",
            kind: "push",
            time: "2025-06-15T13:01:51Z",
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        }
        .to_header_map();
        assert_eq!(
            h.get("ce-source").map(|v| v.as_str()),
            Some("https://example.com/a%0D%0AX-Injected: 1")
        );
        assert!(h.get("X-Injected").is_none());
    }

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

    #[test]
    fn replicas_reach_every_created_asset() {
        for cfg in [
            events_stream_config(3),
            audit_stream_config(3),
            dlq_stream_config(3),
        ] {
            assert_eq!(cfg.num_replicas, 3, "{}", cfg.name);
        }
        assert_eq!(events_stream_config(0).num_replicas, 1);
        assert_eq!(state_bucket_config(3).num_replicas, 3);
        let diffs = differences(&events_stream_config(1), &events_stream_config(3));
        assert_eq!(diffs, vec!["replicas: server has 1, Gantry expects 3"]);
        assert!(differences(&events_stream_config(3), &events_stream_config(3)).is_empty());
        assert_eq!(consumer_replicas_difference(0, 3, 3), None);
        assert_eq!(
            consumer_replicas_difference(1, 3, 3).as_deref(),
            Some("replicas: server has 1, Gantry expects 3")
        );
    }

    #[test]
    fn seed_servers_parse() {
        let addrs = server_addrs_from_url("nats://a:4222, nats://b:4223,c").unwrap();
        assert_eq!(addrs.len(), 3);
        assert!(matches!(
            server_addrs_from_url("nats://a:4222,http://b"),
            Err(Error::ServerAddr { address, .. }) if address == "http://b"
        ));
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
