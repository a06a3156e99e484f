//! The reconciler's Prometheus metrics (contract section 7).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::state::AttemptOutcome;

/// `gantry_commit_status_posts_total`'s outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostOutcome {
    /// The forge took it.
    Success,
    /// It failed and will be tried again.
    Retried,
    /// The forge refused it for good (4xx).
    Rejected,
    /// Every attempt failed.
    Failed,
}

impl PostOutcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            PostOutcome::Success => "success",
            PostOutcome::Retried => "retried",
            PostOutcome::Rejected => "rejected",
            PostOutcome::Failed => "failed",
        }
    }
}

/// `gantry_resync_total`'s outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResyncOutcome {
    /// Nothing new, nothing drifted.
    Unchanged,
    /// A revision no event announced was found and deployed.
    Recovered,
    /// Live objects differ from what was applied.
    Drifted,
}

impl ResyncOutcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            ResyncOutcome::Unchanged => "unchanged",
            ResyncOutcome::Recovered => "recovered",
            ResyncOutcome::Drifted => "drifted",
        }
    }
}

/// `{app,environment,outcome}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// The app.
    pub app: String,
    /// The environment.
    pub environment: String,
    /// `success`, `failure`, `error`, `superseded`, `transient`, `dead_lettered`, `healed`;
    /// an environment with nothing to do is not counted.
    pub outcome: &'static str,
}

/// `{phase}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    /// `fetch`, `render`, `apply`, `prune`, `verify`, `report`.
    pub phase: &'static str,
}

/// `{forge,outcome}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PostLabels {
    /// `github` or `gitea`.
    pub forge: &'static str,
    /// `success`, `retried`, `rejected`, `failed`.
    pub outcome: &'static str,
}

/// `{outcome}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResyncLabels {
    /// `unchanged`, `recovered` (a revision no event announced), `drifted`.
    pub outcome: &'static str,
}

/// `{app,environment}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EnvLabels {
    /// The app.
    pub app: String,
    /// The environment.
    pub environment: String,
}

type PhaseHistograms = Family<PhaseLabels, Histogram, fn() -> Histogram>;

/// The reconciler's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `gantry_reconcile_total`
    pub reconciles: Family<ReconcileLabels, Counter>,
    /// `gantry_reconcile_duration_seconds`
    pub durations: PhaseHistograms,
    /// `gantry_applied_objects_total`
    pub applied: Counter,
    /// `gantry_pruned_objects_total`
    pub pruned: Counter,
    /// `gantry_commit_status_posts_total`
    pub posts: Family<PostLabels, Counter>,
    /// `gantry_last_applied_timestamp_seconds`
    pub last_applied: Family<EnvLabels, Gauge>,
    /// `gantry_resync_total`
    pub resyncs: Family<ResyncLabels, Counter>,
    /// `gantry_managed_objects`
    pub managed: Family<EnvLabels, Gauge>,
    /// `gantry_drifted_objects`
    pub drifted: Family<EnvLabels, Gauge>,
}

fn buckets() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let durations: PhaseHistograms = Family::new_with_constructor(buckets);
        let applied = Counter::default();
        let pruned = Counter::default();
        let posts = Family::<PostLabels, Counter>::default();
        let last_applied = Family::<EnvLabels, Gauge>::default();
        registry.register(
            "gantry_reconcile",
            "Reconciles of one app and environment, by outcome",
            reconciles.clone(),
        );
        registry.register_with_unit(
            "gantry_reconcile_duration",
            "Time spent in each reconcile phase",
            prometheus_client::registry::Unit::Seconds,
            durations.clone(),
        );
        registry.register(
            "gantry_applied_objects",
            "Objects server-side applied",
            applied.clone(),
        );
        registry.register("gantry_pruned_objects", "Objects pruned", pruned.clone());
        registry.register(
            "gantry_commit_status_posts",
            "Commit status posts, by forge and outcome",
            posts.clone(),
        );
        registry.register_with_unit(
            "gantry_last_applied_timestamp",
            "When each app and environment was last applied (Unix time)",
            prometheus_client::registry::Unit::Seconds,
            last_applied.clone(),
        );
        let resyncs = Family::<ResyncLabels, Counter>::default();
        let managed = Family::<EnvLabels, Gauge>::default();
        let drifted = Family::<EnvLabels, Gauge>::default();
        registry.register(
            "gantry_resync",
            "Resync checks of one environment, by outcome",
            resyncs.clone(),
        );
        registry.register(
            "gantry_managed_objects",
            "Objects the last applied revision of each app and environment applied",
            managed.clone(),
        );
        registry.register(
            "gantry_drifted_objects",
            "Live objects that differ from the last applied revision, as last checked",
            drifted.clone(),
        );
        Metrics {
            resyncs,
            managed,
            drifted,
            registry,
            reconciles,
            durations,
            applied,
            pruned,
            posts,
            last_applied,
        }
    }

    /// Counts one commit-status post attempt outcome.
    pub fn status_post(&self, forge: &'static str, outcome: PostOutcome) {
        self.posts
            .get_or_create(&PostLabels {
                forge,
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// Records a phase's duration.
    pub fn phase(&self, phase: &'static str, d: std::time::Duration) {
        self.durations
            .get_or_create(&PhaseLabels { phase })
            .observe(d.as_secs_f64());
    }

    /// Counts a reconcile outcome.
    pub fn reconciled(&self, app: &str, environment: &str, outcome: AttemptOutcome) {
        self.reconciles
            .get_or_create(&ReconcileLabels {
                app: app.to_owned(),
                environment: environment.to_owned(),
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// Counts one resync check outcome.
    pub fn resynced(&self, outcome: ResyncOutcome) {
        self.resyncs
            .get_or_create(&ResyncLabels {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// Sets the managed and drifted gauges of one environment.
    pub fn objects(&self, app: &str, environment: &str, managed: usize, drifted: usize) {
        let l = EnvLabels {
            app: app.to_owned(),
            environment: environment.to_owned(),
        };
        self.managed.get_or_create(&l).set(managed as i64);
        self.drifted.get_or_create(&l).set(drifted as i64);
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
