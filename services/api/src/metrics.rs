//! `gantry-api`'s Prometheus metrics (contract section 7): `gantry_api_requests_total{route,code}`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Labels of `gantry_api_requests_total`; `route` is a route template, never a raw path, so the
/// label set stays bounded whatever callers send.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `apps`, `environment`, `sync`, `rollback`, `healthz`, `readyz`, `metrics` or `other`.
    pub route: &'static str,
    /// The HTTP status code.
    pub code: u16,
}

/// The metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `gantry_api_requests_total{route,code}`
    pub requests: Family<RequestLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "gantry_api_requests",
            "API requests by route and HTTP status code",
            requests.clone(),
        );
        Metrics { registry, requests }
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn count(&self, route: &'static str, code: u16) {
        self.requests
            .get_or_create(&RequestLabels { route, code })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
