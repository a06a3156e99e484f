//! The receiver's Prometheus metrics (contract section 7).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of `gantry_webhook_requests_total`. Every value comes from a fixed set.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `github` or `gitea`.
    pub provider: &'static str,
    /// `push`, `pull_request`, `ping`, `other`, or `unknown` when the header was missing.
    pub event: &'static str,
    /// See [`Outcome`].
    pub outcome: &'static str,
}

/// Labels of `gantry_webhook_request_duration_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    /// `github` or `gitea`.
    pub provider: &'static str,
}

/// The fixed set of request outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored in JetStream (202).
    Accepted,
    /// JetStream already had this delivery (202, `"duplicate": true`).
    Duplicate,
    /// Understood and deliberately not published (200).
    Ignored,
    /// Missing headers, bad JSON, a payload lacking fields (400).
    BadRequest,
    /// Missing or wrong signature (401).
    Unauthorized,
    /// Over `--max-body-bytes` (413).
    TooLarge,
    /// Neither JSON nor a form (415).
    UnsupportedMediaType,
    /// NATS down or slow (503).
    Unavailable,
}

impl Outcome {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::BadRequest => "bad_request",
            Outcome::Unauthorized => "unauthorized",
            Outcome::TooLarge => "too_large",
            Outcome::UnsupportedMediaType => "unsupported_media_type",
            Outcome::Unavailable => "unavailable",
        }
    }
}

type HistogramFamily = Family<ProviderLabels, Histogram, fn() -> Histogram>;

/// The receiver's metrics and the registry that exposes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `gantry_webhook_requests_total{provider,event,outcome}`
    pub requests: Family<RequestLabels, Counter>,
    /// `gantry_webhook_request_duration_seconds{provider}`
    pub request_duration: HistogramFamily,
    /// `gantry_webhook_publish_duration_seconds`
    pub publish_duration: Histogram,
}

/// Buckets from 250µs to 10s: a stored publish takes about a millisecond, a slow one seconds.
fn latency_buckets() -> Histogram {
    Histogram::new([
        0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        10.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let request_duration: HistogramFamily = Family::new_with_constructor(latency_buckets);
        let publish_duration = latency_buckets();
        registry.register(
            "gantry_webhook_requests",
            "Webhook deliveries by provider, event and outcome",
            requests.clone(),
        );
        registry.register(
            "gantry_webhook_request_duration_seconds",
            "Time from a delivery's arrival to its answer",
            request_duration.clone(),
        );
        registry.register(
            "gantry_webhook_publish_duration_seconds",
            "Time from publishing an event to JetStream's ack",
            publish_duration.clone(),
        );
        Metrics {
            registry,
            requests,
            request_duration,
            publish_duration,
        }
    }
}

impl Metrics {
    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
