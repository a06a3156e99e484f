//! What the reconcilers last applied and attempted, read from the `gantry-state` bucket through
//! the reconciler's own reader and record type (keys `<owner>.<repo>.<app>.<env>.state`).

use async_nats::jetstream;
use gantry_reconciler::state::{EnvState, REPO_WIDE};

/// Why the bucket could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading the {bucket} bucket")]
pub struct StateError {
    bucket: &'static str,
    #[source]
    source: gantry_reconciler::state::StateError,
}

/// One environment's record.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The app.
    pub app: String,
    /// The environment.
    pub environment: String,
    /// The record.
    pub state: EnvState,
}

/// Every environment's record (repository-wide records left out). An absent bucket means
/// nothing was applied yet.
pub async fn list(js: &jetstream::Context) -> Result<Vec<Entry>, StateError> {
    let all = gantry_reconciler::state::read_all(js, None)
        .await
        .map_err(|source| StateError {
            bucket: gantry_nats::STATE_BUCKET,
            source,
        })?;
    Ok(all
        .into_iter()
        .filter(|s| s.app != REPO_WIDE && !s.app.is_empty())
        .map(|s| Entry {
            app: s.app.clone(),
            environment: s.environment.clone(),
            state: s,
        })
        .collect())
}
