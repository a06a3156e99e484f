//! What every request handler shares: configuration, the control NATS connection and the metrics.

use crate::config::Config;
use crate::metrics::Metrics;
use crate::publish::Publisher;
use crate::signature::Secret;

/// Shared by all workers through `web::Data`.
#[derive(Debug)]
pub struct State {
    /// The resolved configuration.
    pub config: Config,
    /// The control connection: sets up and watches the events stream. Events themselves are
    /// published on each HTTP worker's own connection (see `server::build`).
    pub control: Publisher,
    /// The metrics.
    pub metrics: Metrics,
    /// Set once shutdown begins: when deliveries still waiting for an ack must give up.
    pub stopping: Stopping,
}

/// The moment in-flight deliveries must have their answer by, once shutdown has begun.
///
/// A `watch` rather than a deadline read once: a delivery already waiting for its ack when
/// SIGTERM arrives must learn of the deadline too. It works across the HTTP workers' runtimes.
#[derive(Debug)]
pub struct Stopping(tokio::sync::watch::Sender<Option<std::time::Instant>>);

impl Default for Stopping {
    fn default() -> Self {
        Stopping(tokio::sync::watch::Sender::new(None))
    }
}

impl Stopping {
    /// Starts the countdown: deliveries give up at `deadline`.
    pub fn begin(&self, deadline: std::time::Instant) {
        self.0.send_replace(Some(deadline));
    }

    /// Completes at the deadline once shutdown has begun; never before.
    pub async fn deadline(&self) {
        let mut rx = self.0.subscribe();
        let deadline = match rx.wait_for(Option::is_some).await {
            Ok(d) => *d,
            Err(_) => None,
        };
        match deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    }
}

impl State {
    /// The secrets a delivery must be signed with: its repository's own, when configured,
    /// else the global ones. The repository is read from the unverified payload only to pick
    /// the list; a forged name can only select secrets the forger does not know.
    pub fn secrets_for(&self, json: &[u8]) -> &[Secret] {
        if !self.config.repositories.is_empty()
            && let Some(name) = crate::payload::claimed_repository(json)
            && let Some(list) = self.config.repositories.get(&name.to_ascii_lowercase())
        {
            return list;
        }
        &self.config.secrets
    }
}
