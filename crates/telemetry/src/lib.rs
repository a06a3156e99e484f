//! Logging and tracing set-up shared by Gantry's services, and W3C `traceparent` helpers.
//!
//! Logs go to stderr as JSON lines or text. Spans become OpenTelemetry spans, exported over
//! OTLP/HTTP, only when an endpoint is configured: the OpenTelemetry layer costs several
//! microseconds a span, which a receiver storing tens of thousands of webhooks a second should
//! not pay for nothing. Without it, [`child_traceparent`] still hands one trace id from webhook to
//! reconciler to commit status.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The standard OpenTelemetry variable naming the OTLP collector's base URL.
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The standard OpenTelemetry variable naming the OTLP traces URL in full.
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// The standard variable holding the log filter (`info`, `gantry_receiver=debug,warn`, ...).
pub const RUST_LOG: &str = "RUST_LOG";
/// The informal standard (no-color.org): when set and not empty, no ANSI colour in text logs.
pub const NO_COLOR: &str = "NO_COLOR";

/// An error and its sources, joined with `": "`, for one log field or one line of output: the
/// one formatter every service uses, so that the underlying cause (an I/O error, a TLS failure,
/// a NATS timeout) is never cut off.
///
/// Many libraries (kube, the renderer) also print their source inside their own message; a
/// source whose text the message already ends with is not repeated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let m = inner.to_string();
        let m = m.trim();
        if !m.is_empty() && !s.trim_end().ends_with(m) {
            s.push_str(": ");
            s.push_str(m);
        }
        source = inner.source();
    }
    s
}

/// Errors of telemetry set-up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The OTLP exporter could not be built.
    #[error("could not build the OTLP exporter for {endpoint}")]
    Exporter {
        /// The traces URL.
        endpoint: String,
        /// What the exporter said.
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// The log filter does not parse.
    #[error("invalid log filter {filter:?}")]
    Filter {
        /// The filter as given.
        filter: String,
        /// What the parser said.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global subscriber was already installed.
    #[error("a tracing subscriber is already installed")]
    AlreadyInstalled(#[source] tracing_subscriber::util::TryInitError),
}

/// What [`init`] sets up.
#[derive(Debug, Clone)]
pub struct Options {
    /// `service.name` of exported spans.
    pub service_name: &'static str,
    /// JSON lines when true, text otherwise.
    pub json: bool,
    /// An `EnvFilter` directive; `info` when empty.
    pub filter: String,
    /// The OTLP base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`); `/v1/traces` is appended. No export when `None`.
    pub otlp_endpoint: Option<String>,
}

/// Keeps the tracer provider alive; flushes pending spans when dropped.
#[derive(Debug)]
pub struct Guard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(p) = &self.provider {
            let _ = p.shutdown();
        }
    }
}

/// Installs the global subscriber: the log layer and the OpenTelemetry layer.
pub fn init(opts: Options) -> Result<Guard, Error> {
    let filter_text = if opts.filter.trim().is_empty() {
        "info".to_owned()
    } else {
        opts.filter.clone()
    };
    let filter = EnvFilter::builder()
        .parse(&filter_text)
        .map_err(|source| Error::Filter {
            filter: filter_text,
            source,
        })?;

    let provider = match opts.otlp_endpoint.as_deref().filter(|s| !s.is_empty()) {
        Some(base) => {
            // The exporter's HTTP client is reqwest built without a default TLS provider, so
            // that ring is the only one compiled in; it must be installed before the client.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let endpoint = traces_url(base);
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(endpoint.clone())
                .build()
                .map_err(|source| Error::Exporter { endpoint, source })?;
            Some(
                SdkTracerProvider::builder()
                    .with_resource(
                        opentelemetry_sdk::Resource::builder()
                            .with_service_name(opts.service_name)
                            .build(),
                    )
                    .with_batch_exporter(exporter)
                    .build(),
            )
        }
        None => None,
    };
    EXPORTING.store(provider.is_some(), std::sync::atomic::Ordering::Relaxed);
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(opts.service_name)));
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let fmt = if opts.json {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        // Escape codes only where a terminal shows them: a log file or a pipe gets plain text.
        let ansi = colour(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            std::env::var_os(NO_COLOR).as_deref(),
        );
        tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
            .boxed()
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(Error::AlreadyInstalled)?;
    Ok(Guard { provider })
}

/// Whether text logs are coloured: only on a terminal, and never when `NO_COLOR` is set to
/// anything but the empty string.
pub fn colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The OTLP/HTTP traces URL for a base endpoint, as the OpenTelemetry specification builds it.
pub fn traces_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    }
}

static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// True when [`init`] installed an OTLP exporter. Hot paths create their spans only then: a span
/// that nobody exports still costs its formatting and bookkeeping on every request.
pub fn exporting() -> bool {
    EXPORTING.load(std::sync::atomic::Ordering::Relaxed)
}

/// The W3C `traceparent` of `span`, or `None` when the span has no valid trace context
/// (no OpenTelemetry layer is installed, or the span is disabled).
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if !sc.is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut Carrier(&mut carrier));
    carrier.remove("traceparent")
}

/// Makes the trace described by a W3C `traceparent` (and optional `tracestate`) the parent of
/// `span`. A malformed header is ignored: tracing must never reject a request.
pub fn set_parent(span: &tracing::Span, traceparent: &str, tracestate: Option<&str>) {
    let mut carrier = HashMap::new();
    carrier.insert("traceparent".to_owned(), traceparent.to_owned());
    if let Some(ts) = tracestate {
        carrier.insert("tracestate".to_owned(), ts.to_owned());
    }
    let cx = TraceContextPropagator::new().extract(&Carrier(&mut carrier));
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// A `traceparent` for work done on behalf of `incoming` (a W3C `traceparent` header, if any):
/// the same trace id and flags with a fresh span id, or a fresh sampled trace when `incoming` is
/// absent or malformed. Used where no OpenTelemetry span gives the ids.
pub fn child_traceparent(incoming: Option<&str>) -> String {
    // A thread-local generator, not a system call per id: the receiver makes one per webhook.
    let span_id = rand::random::<u64>().max(1);
    if let Some((trace, flags)) = incoming.and_then(parse_traceparent) {
        return format!("00-{trace}-{span_id:016x}-{flags}");
    }
    let trace = rand::random::<u128>().max(1);
    format!("00-{trace:032x}-{span_id:016x}-01")
}

/// The trace id and flags of a valid `traceparent`, as a version-00 header would carry them.
///
/// W3C Trace Context, "Versioning of traceparent": a version higher than `00` (and not the
/// invalid `ff`) is parsed as far as version 00 goes (trace id, parent id, flags, each followed
/// by a dash or the end), and only the sampled flag is kept, since the other bits mean nothing
/// in version 00. Version 00 itself must have exactly four fields.
fn parse_traceparent(h: &str) -> Option<(&str, String)> {
    let h = h.trim();
    let mut parts = h.split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    if !hex(version, 2) || version == "ff" {
        return None;
    }
    let future = version != "00";
    if !future && parts.next().is_some() {
        return None;
    }
    if !(hex(trace, 32) && nonzero(trace) && hex(parent, 16) && nonzero(parent) && hex(flags, 2)) {
        return None;
    }
    let flags = if future {
        let bits = u8::from_str_radix(flags, 16).ok()?;
        format!("{:02x}", bits & 0x01)
    } else {
        flags.to_owned()
    };
    Some((trace, flags))
}

/// The lower-case hex trace id of `span`, or an empty string without trace context.
pub fn trace_id(span: &tracing::Span) -> String {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if sc.is_valid() {
        sc.trace_id().to_string()
    } else {
        String::new()
    }
}

struct Carrier<'a>(&'a mut HashMap<String, String>);

impl Injector for Carrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

impl Extractor for Carrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_and_never_with_no_color() {
        use std::ffi::OsStr;
        assert!(colour(true, None));
        assert!(
            colour(true, Some(OsStr::new(""))),
            "an empty NO_COLOR is unset"
        );
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(
            !colour(false, None),
            "a file or a pipe gets no escape codes"
        );
        assert!(!colour(false, Some(OsStr::new("1"))));
    }

    #[test]
    fn child_traceparent_keeps_the_trace() {
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let child = child_traceparent(Some(incoming));
        assert!(child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(child.ends_with("-01"));
        assert_ne!(child, incoming);
        for bad in [
            "",
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            // Version 00 has exactly four fields; ff is never valid.
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // A future version still needs version 00's fields, each ended by a dash or the end.
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        ] {
            let fresh = child_traceparent(Some(bad));
            assert_eq!(fresh.len(), 55);
            assert!(parse_traceparent(&fresh).is_some());
            assert!(!fresh.contains("4bf92f35"));
        }
    }

    #[test]
    fn a_higher_version_is_parsed_as_far_as_version_00_goes() {
        // W3C Trace Context: a higher version is parsed, not restarted; extra fields after
        // the flags are ignored and only the sampled bit of the flags is kept.
        for (incoming, flags) in [
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "01",
            ),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what-the-future-adds",
                "01",
            ),
            (
                "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x",
                "00",
            ),
        ] {
            let child = child_traceparent(Some(incoming));
            assert!(
                child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
                "{incoming}: {child}"
            );
            assert!(child.ends_with(&format!("-{flags}")), "{incoming}: {child}");
            assert_eq!(child.len(), 55);
        }
    }

    #[test]
    fn traces_url_follows_the_spec() {
        assert_eq!(
            traces_url("http://collector:4318"),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://collector:4318/"),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(traces_url("http://c/v1/traces"), "http://c/v1/traces");
    }
}
