//! What each app and environment last applied, and who holds it, in the KV bucket `gantry-state`
//! (contract section 3). `<app>.<env>.state` holds the last applied revision, its inventory and
//! render inputs; `<app>.<env>.lease` holds the worker working on it, with an expiry the holder
//! renews. Every write of a lease is a compare-and-set on the key's revision, so two workers can
//! never both believe they hold it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};

/// Why the state bucket could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// NATS failed (worth retrying).
    #[error("state bucket: {0}")]
    Nats(String),
    /// Another worker held the lease for longer than we were willing to wait.
    #[error("{key} is held by worker {holder}")]
    Held {
        /// The lease key.
        key: String,
        /// The holder's worker id.
        holder: String,
    },
}

/// One applied object, as the inventory keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// `apps/v1`, `v1`, ...
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `Deployment`, ...
    pub kind: String,
    /// Empty for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// The final status of an applied revision, kept so that a repeated event reposts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reported {
    /// `success`, `failure` or `error`.
    pub state: String,
    /// The status description.
    pub description: String,
}

/// What an app and environment last applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvState {
    /// The applied commit.
    pub revision: String,
    /// `owner/name`.
    pub repository: String,
    /// [`crate::plan::Environment::digest`] of the settings it was applied with.
    pub config_digest: String,
    /// Every repository path its render read.
    pub inputs: Vec<String>,
    /// Every object it applied: exactly what the next revision may prune.
    pub inventory: Vec<ObjectRef>,
    /// The verification outcome; `None` while it is being verified.
    pub reported: Option<Reported>,
    /// Unix seconds of the apply.
    pub applied_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct LeaseRecord {
    worker: String,
    token: String,
    /// Unix milliseconds.
    expires: i64,
}

/// The bucket, seen by one worker.
#[derive(Debug, Clone)]
pub struct StateStore {
    kv: kv::Store,
    worker: String,
    ttl: Duration,
}

/// Escapes a name for a KV key: the subject escaping with `=` for `%`, which keys forbid.
fn key_token(s: &str) -> String {
    gantry_nats::escape_token(s).replace('%', "=")
}

fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

fn nats_err(e: impl std::fmt::Display) -> StateError {
    StateError::Nats(e.to_string())
}

impl StateStore {
    /// Opens (creating when absent, on one server) the bucket.
    pub async fn open(
        js: &async_nats::jetstream::Context,
        worker: &str,
        ttl: Duration,
    ) -> Result<StateStore, StateError> {
        Self::open_replicated(js, worker, ttl, 1).await
    }

    /// Opens the bucket, creating it on `replicas` servers when absent. An existing bucket with
    /// other replicas is used as it is and the difference logged.
    pub async fn open_replicated(
        js: &async_nats::jetstream::Context,
        worker: &str,
        ttl: Duration,
        replicas: usize,
    ) -> Result<StateStore, StateError> {
        let (kv, status) = gantry_nats::ensure_state_bucket(js, replicas)
            .await
            .map_err(nats_err)?;
        match status {
            gantry_nats::StreamStatus::Differs(d) => tracing::warn!(
                bucket = gantry_nats::STATE_BUCKET,
                differences = ?d,
                "bucket settings differ from Gantry's; it is left unchanged"
            ),
            s => tracing::debug!(bucket = gantry_nats::STATE_BUCKET, status = ?s, "bucket ready"),
        }
        Ok(StateStore {
            kv,
            worker: worker.to_owned(),
            ttl,
        })
    }

    fn key(app: &str, env: &str, what: &str) -> String {
        format!("{}.{}.{what}", key_token(app), key_token(env))
    }

    /// The last applied state, if any.
    pub async fn get(&self, app: &str, env: &str) -> Result<Option<EnvState>, StateError> {
        let key = Self::key(app, env, "state");
        match self.kv.entry(key).await.map_err(nats_err)? {
            Some(e) if e.operation == kv::Operation::Put => {
                // An unreadable record is treated as absent: the environment is then redeployed
                // in full, which converges.
                Ok(serde_json::from_slice(&e.value).ok())
            }
            _ => Ok(None),
        }
    }

    /// Stores the applied state.
    pub async fn put(&self, app: &str, env: &str, state: &EnvState) -> Result<(), StateError> {
        let key = Self::key(app, env, "state");
        let value = serde_json::to_vec(state).map_err(nats_err)?;
        self.kv.put(key, value.into()).await.map_err(nats_err)?;
        Ok(())
    }

    /// Takes the lease on `app`/`env`, waiting up to `wait` while another worker holds it.
    pub async fn acquire(&self, app: &str, env: &str, wait: Duration) -> Result<Lease, StateError> {
        let key = Self::key(app, env, "lease");
        let token = uuid::Uuid::new_v4().to_string();
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_millis(20);
        loop {
            let record = LeaseRecord {
                worker: self.worker.clone(),
                token: token.clone(),
                expires: now_ms() + self.ttl.as_millis() as i64,
            };
            let value: bytes::Bytes = serde_json::to_vec(&record).map_err(nats_err)?.into();
            let holder = match self.kv.entry(key.clone()).await.map_err(nats_err)? {
                None => match self.kv.create(&key, value).await {
                    Ok(rev) => return Ok(self.lease(key, token, rev)),
                    Err(_) => None,
                },
                Some(e) => {
                    let current: Option<LeaseRecord> = serde_json::from_slice(&e.value).ok();
                    let free = e.operation != kv::Operation::Put
                        || current.as_ref().is_none_or(|c| c.expires <= now_ms());
                    if free {
                        match self.kv.update(&key, value, e.revision).await {
                            Ok(rev) => return Ok(self.lease(key, token, rev)),
                            Err(_) => None,
                        }
                    } else {
                        current.map(|c| c.worker)
                    }
                }
            };
            if Instant::now() >= deadline {
                return Err(StateError::Held {
                    key,
                    holder: holder.unwrap_or_else(|| "another worker".to_owned()),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    fn lease(&self, key: String, token: String, revision: u64) -> Lease {
        Lease {
            inner: Arc::new(LeaseInner {
                store: self.clone(),
                key,
                token,
                revision: AtomicU64::new(revision),
                lost: AtomicBool::new(false),
            }),
        }
    }
}

#[derive(Debug)]
struct LeaseInner {
    store: StateStore,
    key: String,
    token: String,
    revision: AtomicU64,
    lost: AtomicBool,
}

/// A held lease. [`Lease::keep_alive`] renews it; [`Lease::release`] gives it up.
#[derive(Debug, Clone)]
pub struct Lease {
    inner: Arc<LeaseInner>,
}

impl Lease {
    async fn write(&self, expires: i64) -> Result<(), StateError> {
        let i = &self.inner;
        let record = LeaseRecord {
            worker: i.store.worker.clone(),
            token: i.token.clone(),
            expires,
        };
        let value = serde_json::to_vec(&record).map_err(nats_err)?;
        let rev = i
            .store
            .kv
            .update(&i.key, value.into(), i.revision.load(Ordering::SeqCst))
            .await
            .map_err(|e| {
                i.lost.store(true, Ordering::SeqCst);
                nats_err(e)
            })?;
        i.revision.store(rev, Ordering::SeqCst);
        Ok(())
    }

    /// Renews the lease every third of its lifetime until the returned handle is dropped.
    pub fn keep_alive(&self) -> tokio_util::task::AbortOnDropHandle<()> {
        let lease = self.clone();
        tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
            let ttl = lease.inner.store.ttl;
            loop {
                tokio::time::sleep(ttl / 3).await;
                if let Err(e) = lease.write(now_ms() + ttl.as_millis() as i64).await {
                    tracing::warn!(key = %lease.inner.key, error = %e, "renewing the lease failed");
                    if lease.lost() {
                        return;
                    }
                }
            }
        }))
    }

    /// Whether a renewal found the lease taken over.
    pub fn lost(&self) -> bool {
        self.inner.lost.load(Ordering::SeqCst)
    }

    /// Gives the lease up so the next worker need not wait for the expiry.
    pub async fn release(&self) {
        if let Err(e) = self.write(0).await {
            tracing::debug!(key = %self.inner.key, error = %e, "releasing the lease failed; it will expire");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_valid_kv_keys() {
        assert_eq!(
            StateStore::key("pay.ments", "dev", "lease"),
            "pay=2Ements.dev.lease"
        );
        assert_eq!(StateStore::key("a b", "x", "state"), "a=20b.x.state");
    }
}
