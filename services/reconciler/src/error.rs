//! How an error becomes text: one formatter, used wherever an error turns into a commit-status
//! description, an audit message, a retry reason or a log line, so that the underlying cause
//! (an I/O error, a TLS failure, a NATS timeout) is never cut off; and the one way a reconcile
//! that stopped short is turned into a retry.

use std::time::Duration;

use crate::apply::ApplyError;
use crate::audit::AuditError;
use crate::fetch::GitError;
use crate::report::ReportError;
use crate::state::StateError;

/// The error's message followed by each of its sources (shared by every service).
pub use gantry_telemetry::error_chain as chain;

/// Why one environment's reconcile stopped short and is retried (the message is nak'd).
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The state bucket failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// Another worker held the environment's lease for longer than a worker waits.
    #[error(transparent)]
    Lease(StateError),
    /// A renewal found the lease taken over: another worker may be writing.
    #[error("lost the lease on {app}/{environment}")]
    LeaseLost {
        /// The app.
        app: String,
        /// The environment.
        environment: String,
    },
    /// An audit record was not stored.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A commit status was not posted within the budget.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The cluster could not be reached.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// The cluster an environment moved away from could not be reached to prune it.
    #[error("pruning from cluster {cluster}")]
    PruneMoved {
        /// The previous cluster.
        cluster: String,
        /// What failed there.
        #[source]
        source: ApplyError,
    },
    /// The mirror could not be read (signature checks).
    #[error(transparent)]
    Fetch(#[from] GitError),
    /// A task on the blocking pool panicked or was cancelled.
    #[error("a blocking task did not finish")]
    Join(#[from] tokio::task::JoinError),
}

/// A transient failure of one status context (`gantry/<app>/<env>`, or `gantry`).
#[derive(Debug)]
pub struct Transient {
    /// The context left unfinished.
    pub context: String,
    /// Why (boxed: some causes carry a whole client error, and a `Result` is passed along
    /// every phase).
    pub cause: Box<Cause>,
}

impl Transient {
    /// The one constructor: a context and the typed error that stopped it.
    pub fn new(context: impl Into<String>, cause: impl Into<Cause>) -> Transient {
        Transient {
            context: context.into(),
            cause: Box::new(cause.into()),
        }
    }

    /// The reason as retries, logs and the DLQ header show it.
    pub fn reason(&self) -> String {
        chain(self.cause.as_ref())
    }

    /// The earliest sensible retry: what a forge asked for, or a second for a held lease.
    pub fn after(&self) -> Option<Duration> {
        match self.cause.as_ref() {
            Cause::Report(ReportError::Unavailable { retry_after, .. }) => *retry_after,
            Cause::Lease(_) => Some(Duration::from_secs(1)),
            _ => None,
        }
    }
}

/// Why the phases of one environment stopped before the last.
#[derive(Debug)]
pub enum Stop {
    /// A transient failure: the event is retried.
    Retry(Transient),
    /// A failure for good: recorded, audited and reported; the event is done.
    Fail(Failure),
    /// Nothing is left to do (a status reposted, a superseded revision, an unchanged render).
    Settled,
}

/// A reconcile that failed for good, as it is recorded and reported.
#[derive(Debug)]
pub struct Failure {
    /// The phase that failed.
    pub phase: gantry_proto::v1::Phase,
    /// `failure` (the cluster refused or the rollout failed) or `error` (the revision is unusable).
    pub state: crate::report::State,
    /// The status description.
    pub description: String,
    /// The audit message, when the phase did not write its own record of the failure.
    pub audit: Option<String>,
}

impl Failure {
    /// A failure whose status description is also its audit message.
    pub fn new(
        phase: gantry_proto::v1::Phase,
        state: crate::report::State,
        message: String,
    ) -> Failure {
        Failure {
            phase,
            state,
            description: message.clone(),
            audit: Some(message),
        }
    }
}

impl From<Transient> for Stop {
    fn from(t: Transient) -> Stop {
        Stop::Retry(t)
    }
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Stop {
        Stop::Fail(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("storing the state")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("state bucket")]
    struct Middle(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("reading 'a.yaml': {0}")]
    struct Inline(#[source] std::io::Error);

    #[test]
    fn every_source_is_joined_once() {
        let e = Outer(Middle(std::io::Error::other("connection reset")));
        assert_eq!(
            chain(&e),
            "storing the state: state bucket: connection reset"
        );
        let e = Inline(std::io::Error::other("permission denied"));
        assert_eq!(chain(&e), "reading 'a.yaml': permission denied");
        assert_eq!(chain(&std::io::Error::other("plain")), "plain");
    }

    #[test]
    fn a_transient_takes_its_reason_and_delay_from_its_cause() {
        let forge = Transient::new(
            "gantry/web/dev",
            ReportError::Unavailable {
                forge: "github".into(),
                context: "gantry/web/dev".into(),
                last: crate::report::PostFailure::Status(503),
                retry_after: Some(Duration::from_secs(7)),
            },
        );
        assert_eq!(forge.after(), Some(Duration::from_secs(7)));
        assert_eq!(
            forge.reason(),
            "posting the gantry/web/dev status to github kept failing: HTTP 503"
        );
        let held = Transient::new(
            "gantry/web/dev",
            Cause::Lease(StateError::Held {
                key: "acme.platform.web.dev.lease".into(),
                holder: "w2".into(),
            }),
        );
        assert_eq!(held.after(), Some(Duration::from_secs(1)));
        assert_eq!(
            held.reason(),
            "acme.platform.web.dev.lease is held by worker w2"
        );
        let state = Transient::new(
            "gantry",
            StateError::Nats(Box::new(std::io::Error::other("timed out"))),
        );
        assert_eq!(state.after(), None);
        assert_eq!(state.reason(), "state bucket: timed out");
    }
}
