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
