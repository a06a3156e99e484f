//! What the reconcilers last applied, read from the `gantry-state` bucket through the
//! reconciler's own record type. Keys end in `<app>.<env>.state` (any tokens before them, such
//! as a repository, are ignored: the record names its repository itself).

use async_nats::jetstream::{self, kv};
use futures::TryStreamExt;
use gantry_reconciler::state::EnvState;

/// Why the bucket could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading the {bucket} bucket: {message}")]
pub struct StateError {
    bucket: &'static str,
    message: String,
}

fn err(e: impl std::fmt::Display) -> StateError {
    StateError {
        bucket: gantry_nats::STATE_BUCKET,
        message: e.to_string(),
    }
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

fn unkey(token: &str) -> Option<String> {
    gantry_nats::unescape_token(&token.replace('=', "%"))
}

/// `(app, env)` of a state key.
pub fn parse_key(key: &str) -> Option<(String, String)> {
    let mut parts = key.rsplit('.');
    if parts.next()? != "state" {
        return None;
    }
    let env = unkey(parts.next()?)?;
    let app = unkey(parts.next()?)?;
    Some((app, env))
}

/// Every state record. An absent bucket means nothing was applied yet.
pub async fn list(js: &jetstream::Context) -> Result<Vec<Entry>, StateError> {
    let store = match js.get_key_value(gantry_nats::STATE_BUCKET).await {
        Ok(s) => s,
        Err(e) if e.kind() == jetstream::context::KeyValueErrorKind::GetBucket => {
            // Distinguish "no bucket" from "no server": only the former is empty state.
            return match js
                .get_stream(format!("KV_{}", gantry_nats::STATE_BUCKET))
                .await
            {
                Err(se)
                    if matches!(se.kind(), jetstream::context::GetStreamErrorKind::JetStream(j)
                        if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
                {
                    Ok(Vec::new())
                }
                Err(se) => Err(err(se)),
                Ok(_) => Err(err(e)),
            };
        }
        Err(e) => return Err(err(e)),
    };
    let keys: Vec<String> = store
        .keys()
        .await
        .map_err(err)?
        .try_collect()
        .await
        .map_err(err)?;
    let mut out = Vec::new();
    for key in keys {
        let Some((app, environment)) = parse_key(&key) else {
            continue;
        };
        // The repository-wide record (an unusable `.gantry.yaml`) is no environment.
        if app == gantry_reconciler::state::REPO_WIDE {
            continue;
        }
        if let Some(e) = store.entry(key).await.map_err(err)?
            && e.operation == kv::Operation::Put
            && let Ok(state) = serde_json::from_slice::<EnvState>(&e.value)
        {
            out.push(Entry {
                app,
                environment,
                state,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(
            parse_key("pay=2Ements.dev.state"),
            Some(("pay.ments".to_owned(), "dev".to_owned()))
        );
        assert_eq!(
            parse_key("acme.platform.web.prod.state"),
            Some(("web".to_owned(), "prod".to_owned()))
        );
        assert_eq!(parse_key("web.prod.lease"), None);
    }
}
