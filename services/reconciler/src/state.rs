//! What each app and environment last applied, and who holds it, in the KV bucket `gantry-state`
//! (contract section 3), keyed by repository, application and environment:
//! `<owner>.<repo>.<app>.<env>.state` holds the last applied revision, its cluster, inventory and
//! render inputs, the last attempt whatever its outcome and the last resync check;
//! `<owner>.<repo>.<app>.<env>.lease` holds the worker working on it, with an expiry the holder
//! renews. `<owner>.<repo>.-.-.state` records repository-wide attempts (an unusable
//! `.gantry.yaml`, an unreachable repository). Every write of a lease is a compare-and-set on the key's revision, so two workers can
//! never both believe they hold it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why the state bucket could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// NATS failed, or a record could not be encoded (worth retrying).
    #[error("state bucket")]
    Nats(#[source] Box<dyn std::error::Error + Send + Sync>),
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

/// The commit state kept for an applied revision.
pub use crate::report::State as CommitState;

/// The final status of an applied revision, kept so that a repeated event reposts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reported {
    /// Never `pending` once stored.
    pub state: CommitState,
    /// The status description.
    pub description: String,
    /// The event whose delivery posted this status, written once the post went out: a
    /// redelivery of that same event (its ack lost in a NATS failover, or its worker killed
    /// before acking) then does not post it a second time. Other events for the revision (a
    /// pull request's merge after its push) still post it, on their own SHAs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub posted_by: String,
}

/// How an attempt ended: the `outcome` label of `gantry_reconcile_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// Applied and healthy.
    Success,
    /// Refused by the API server, or unhealthy.
    Failure,
    /// Not fetched, verified, rendered or applied for another reason.
    Error,
    /// Older than what is applied; nothing done.
    Superseded,
    /// Failed for a reason worth retrying; will be retried.
    Transient,
    /// Given up after the last delivery; the event is in the DLQ.
    DeadLettered,
    /// Drifted objects were re-applied.
    Healed,
}

impl AttemptOutcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Success => "success",
            AttemptOutcome::Failure => "failure",
            AttemptOutcome::Error => "error",
            AttemptOutcome::Superseded => "superseded",
            AttemptOutcome::Transient => "transient",
            AttemptOutcome::DeadLettered => "dead_lettered",
            AttemptOutcome::Healed => "healed",
        }
    }
}

/// The last attempt on an environment (or, for app and environment `-`, on a whole
/// repository), whatever its outcome: what `gantry status` shows even when nothing was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// The revision attempted.
    pub revision: String,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// The phase it ended in (`fetch`, `render`, ...).
    pub phase: String,
    /// What happened.
    pub message: String,
    /// `webhook`, `resync` or `api`.
    pub trigger: String,
    /// Unix seconds.
    pub at: i64,
}

/// The last resync check of an environment: live health and drift.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Unix seconds.
    pub at: i64,
    /// `Healthy`, `Progressing`, `Degraded`, `Missing`.
    pub health: String,
    /// Objects the last applied revision applied.
    pub managed: usize,
    /// Objects that differed from it when checked (after healing, when healed: see `healed`).
    pub drifted: Vec<String>,
    /// Whether the drifted objects were re-applied.
    pub healed: bool,
    /// The worker that checked.
    #[serde(default)]
    pub worker: String,
}

/// What an app and environment of one repository last applied and last attempted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvState {
    /// The applied commit; empty while nothing was ever applied.
    pub revision: String,
    /// `owner/name`.
    pub repository: String,
    /// The app (`-` for the repository-wide record).
    #[serde(default)]
    pub app: String,
    /// The environment (`-` for the repository-wide record).
    #[serde(default)]
    pub environment: String,
    /// The branch it deploys from.
    #[serde(default)]
    pub branch: String,
    /// The cluster the inventory lives in.
    #[serde(default)]
    pub cluster: String,
    /// Where the repository was fetched from, so that the resync reaches it.
    #[serde(default)]
    pub clone_url: String,
    /// The provider whose events announced it (`github`, `gitea`), for its commit statuses.
    #[serde(default)]
    pub provider: String,
    /// Its `.gantry.yaml` `interval` in seconds; 0 for the reconciler's default.
    #[serde(default)]
    pub interval: u64,
    /// Its `.gantry.yaml` `selfHeal`: re-apply drifted objects (true) or only report them.
    #[serde(default = "yes")]
    pub self_heal: bool,
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
    /// [`crate::render::inputs_digest`] of what the render read.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub inputs_digest: String,
    /// The render used random or time functions, so re-rendering the same inputs differs;
    /// kept so that this is warned about once, not on every reconcile.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nondeterministic: bool,
    /// The last attempt, failures included.
    #[serde(default)]
    pub last_attempt: Option<Attempt>,
    /// The last resync check.
    #[serde(default)]
    pub last_check: Option<Check>,
}

fn yes() -> bool {
    true
}

/// The identity of a state record: repository, application and environment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvKey {
    /// `owner/name`, lower-cased (Git hosts treat names case-insensitively).
    pub repository: String,
    /// The app, `-` for the repository-wide record.
    pub app: String,
    /// The environment, `-` for the repository-wide record.
    pub environment: String,
}

impl EnvKey {
    /// The key of `app`/`environment` of `repository`.
    pub fn new(repository: &str, app: &str, environment: &str) -> EnvKey {
        EnvKey {
            repository: repository.to_ascii_lowercase(),
            app: app.to_owned(),
            environment: environment.to_owned(),
        }
    }

    /// The repository-wide record (`.gantry.yaml` unusable, repository unreachable).
    pub fn repository(repository: &str) -> EnvKey {
        EnvKey::new(repository, REPO_WIDE, REPO_WIDE)
    }

    fn kv(&self, what: &str) -> String {
        let (owner, name) = self
            .repository
            .split_once('/')
            .unwrap_or(("", self.repository.as_str()));
        format!(
            "{}.{}.{}.{}.{what}",
            key_token(owner),
            key_token(name),
            key_token(&self.app),
            key_token(&self.environment)
        )
    }
}

/// The app and environment name of repository-wide records.
pub const REPO_WIDE: &str = "-";

#[derive(Debug, Serialize, Deserialize)]
struct LeaseRecord {
    worker: String,
    token: String,
    /// Unix milliseconds.
    expires: i64,
}

/// The resync schedule of one repository: `<owner>.<repo>.-.-.resync`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Schedule {
    /// Unix milliseconds of the next round.
    next: i64,
    /// The worker that claimed the last round.
    worker: String,
    /// Unix milliseconds of that claim.
    claimed: i64,
}

/// What [`StateStore::claim`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This worker runs the round now; the next is due at the given Unix milliseconds.
    Claimed(i64),
    /// Not due before the given Unix milliseconds (another worker may have claimed it).
    NotDue(i64),
}

/// Where a repository's first round falls within its interval: a hash of its name, so that
/// repositories are spread over the interval instead of firing at once.
pub fn offset(repository: &str, interval: Duration) -> Duration {
    let h = Sha256::digest(repository.to_ascii_lowercase().as_bytes());
    let n = u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
    let ms = interval.as_millis().max(1) as u64;
    Duration::from_millis(n % ms)
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

fn nats_err(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StateError {
    StateError::Nats(e.into())
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

    /// The record of `key`, if any.
    pub async fn get(&self, key: &EnvKey) -> Result<Option<EnvState>, StateError> {
        if let Some(s) = self.read(key.kv("state")).await? {
            return Ok(Some(s));
        }
        // Before records were keyed by repository they were `<app>.<env>.state`; one that
        // names this repository is still this environment's, so its inventory is not lost.
        let legacy = format!(
            "{}.{}.state",
            key_token(&key.app),
            key_token(&key.environment)
        );
        Ok(self
            .read(legacy)
            .await?
            .filter(|s| s.repository.eq_ignore_ascii_case(&key.repository))
            .map(|mut s| {
                s.app.clone_from(&key.app);
                s.environment.clone_from(&key.environment);
                s
            }))
    }

    async fn read(&self, key: String) -> Result<Option<EnvState>, StateError> {
        // An unreadable record is treated as absent: the environment is then redeployed in
        // full, which converges.
        Ok(self
            .latest(&key)
            .await?
            .and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// The value of `key`, read from the bucket stream's leader; `None` when absent or
    /// deleted. Not `kv::Store::entry`: the bucket allows direct gets, which any replica
    /// answers, and one that has not yet applied the last write gives the record before it.
    /// A worker that took an environment over after a failover then read a revision as not yet
    /// applied (or its status as not yet posted) and did it again: one revision applied twice
    /// in 31 runs of the cluster burst test.
    async fn latest(&self, key: &str) -> Result<Option<bytes::Bytes>, StateError> {
        let subject = format!("{}{key}", self.kv.prefix);
        match self
            .kv
            .stream
            .get_last_raw_message_by_subject(&subject)
            .await
        {
            Ok(m) => {
                let deleted = m
                    .headers
                    .get("KV-Operation")
                    .is_some_and(|op| op.as_str() != "PUT")
                    || m.headers.get("Nats-Marker-Reason").is_some();
                Ok((!deleted).then_some(m.payload))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(nats_err(e)),
        }
    }

    /// Stores the record.
    pub async fn put(&self, key: &EnvKey, state: &EnvState) -> Result<(), StateError> {
        let mut state = state.clone();
        state.repository.clone_from(&key.repository);
        state.app.clone_from(&key.app);
        state.environment.clone_from(&key.environment);
        let value = serde_json::to_vec(&state).map_err(nats_err)?;
        self.kv
            .put(key.kv("state"), value.into())
            .await
            .map_err(nats_err)?;
        Ok(())
    }

    /// Reads the record (an empty one when absent), changes it and stores it. Callers hold the
    /// environment's lease, or write the repository-wide record, which only records attempts.
    pub async fn update(
        &self,
        key: &EnvKey,
        change: impl FnOnce(&mut EnvState),
    ) -> Result<EnvState, StateError> {
        let mut state = self.get(key).await?.unwrap_or_default();
        change(&mut state);
        self.put(key, &state).await?;
        Ok(state)
    }

    /// Records the last attempt on `key`.
    pub async fn attempted(&self, key: &EnvKey, attempt: Attempt) -> Result<(), StateError> {
        self.update(key, |s| s.last_attempt = Some(attempt))
            .await
            .map(|_| ())
    }

    /// Claims the resync round of `repository` when it is due. The claim is a compare-and-set
    /// of its schedule that also moves the next round one interval on, so each round is run
    /// by exactly one worker however many replicas ask.
    pub async fn claim(&self, repository: &str, interval: Duration) -> Result<Claim, StateError> {
        let key = EnvKey::repository(repository).kv("resync");
        let now = now_ms();
        let every = interval.as_millis().max(1) as i64;
        let write = |next: i64| {
            serde_json::to_vec(&Schedule {
                next,
                worker: self.worker.clone(),
                claimed: now,
            })
            .map(bytes::Bytes::from)
            .map_err(nats_err)
        };
        match self.kv.entry(key.clone()).await.map_err(nats_err)? {
            Some(e) if e.operation == kv::Operation::Put => {
                let s: Schedule = serde_json::from_slice(&e.value).unwrap_or_default();
                // A shortened interval takes effect at once.
                let due = s.next.min(now + every);
                if due > now {
                    return Ok(Claim::NotDue(due));
                }
                // Keep the repository's phase: the next round is the first slot after now.
                let behind = (now - due) / every + 1;
                let next = due + behind * every;
                match self.kv.update(&key, write(next)?, e.revision).await {
                    Ok(_) => Ok(Claim::Claimed(next)),
                    Err(_) => Ok(Claim::NotDue(now + 200)),
                }
            }
            _ => {
                let first = now + offset(repository, interval).as_millis() as i64;
                let value = write(first)?;
                let _ = self.kv.create(&key, value).await;
                Ok(Claim::NotDue(first))
            }
        }
    }

    /// The branch heads of `repository` whose events were handled to the end, by branch.
    pub async fn handled(&self, repository: &str) -> Result<BTreeMap<String, String>, StateError> {
        let key = EnvKey::repository(repository).kv("heads");
        Ok(self
            .latest(&key)
            .await?
            .map(|v| serde_json::from_slice(&v).unwrap_or_default())
            .unwrap_or_default())
    }

    /// Records that `head` of `branch` was handled to the end (webhook, resync or sync), so the
    /// resync knows that no event is missing for it.
    pub async fn set_handled(
        &self,
        repository: &str,
        branch: &str,
        head: &str,
    ) -> Result<(), StateError> {
        let key = EnvKey::repository(repository).kv("heads");
        let mut heads = self.handled(repository).await?;
        if heads.get(branch).map(String::as_str) == Some(head) {
            return Ok(());
        }
        heads.insert(branch.to_owned(), head.to_owned());
        let value = serde_json::to_vec(&heads).map_err(nats_err)?;
        self.kv.put(key, value.into()).await.map_err(nats_err)?;
        Ok(())
    }

    /// Every record, or those of one repository.
    pub async fn list(&self, repository: Option<&str>) -> Result<Vec<EnvState>, StateError> {
        list_in(&self.kv, repository).await
    }

    /// Takes the lease on `key`, waiting up to `wait` while another worker holds it.
    pub async fn acquire(&self, key: &EnvKey, wait: Duration) -> Result<Lease, StateError> {
        let key = key.kv("lease");
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

/// Every record in the bucket (none when it does not exist yet), or those of one repository:
/// for `gantry status` and the API, which only read.
pub async fn read_all(
    js: &async_nats::jetstream::Context,
    repository: Option<&str>,
) -> Result<Vec<EnvState>, StateError> {
    match js.get_key_value(gantry_nats::STATE_BUCKET).await {
        Ok(kv) => list_in(&kv, repository).await,
        Err(_) => Ok(Vec::new()),
    }
}

/// The newest value of each `.state` key, read with one ordered consumer.
async fn list_in(kv: &kv::Store, repository: Option<&str>) -> Result<Vec<EnvState>, StateError> {
    use futures::StreamExt;
    let filter = match repository {
        Some(r) => {
            let k = EnvKey::new(r, "x", "x").kv("state");
            let mut parts: Vec<&str> = k.split('.').collect();
            parts[2] = "*";
            parts[3] = "*";
            format!("$KV.{}.{}", gantry_nats::STATE_BUCKET, parts.join("."))
        }
        None => format!("$KV.{}.*.*.*.*.state", gantry_nats::STATE_BUCKET),
    };
    let consumer = kv
        .stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            filter_subject: filter,
            deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::LastPerSubject,
            ..Default::default()
        })
        .await
        .map_err(nats_err)?;
    let mut out = Vec::new();
    if consumer.cached_info().num_pending == 0 {
        return Ok(out);
    }
    let mut messages = consumer.messages().await.map_err(nats_err)?;
    while let Some(m) = messages.next().await {
        let m = m.map_err(nats_err)?;
        let left = m.info().map(|i| i.pending).unwrap_or(0);
        let deleted = m
            .headers
            .as_ref()
            .and_then(|h| h.get("KV-Operation"))
            .is_some();
        if !deleted && let Ok(s) = serde_json::from_slice::<EnvState>(&m.payload) {
            out.push(s);
        }
        if left == 0 {
            break;
        }
    }
    Ok(out)
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
                    tracing::warn!(key = %lease.inner.key, error = %crate::error::chain(&e), "renewing the lease failed");
                    if lease.lost() {
                        return;
                    }
                }
            }
        }))
    }

    /// How often the lease is renewed (a third of its lifetime). While [`Lease::lost`] is
    /// false, the lease stays valid for at least this long from any moment.
    pub fn renewal_period(&self) -> Duration {
        self.inner.store.ttl / 3
    }

    /// Whether a renewal found the lease taken over.
    pub fn lost(&self) -> bool {
        self.inner.lost.load(Ordering::SeqCst)
    }

    /// Gives the lease up so the next worker need not wait for the expiry.
    pub async fn release(&self) {
        if let Err(e) = self.write(0).await {
            tracing::debug!(key = %self.inner.key, error = %crate::error::chain(&e), "releasing the lease failed; it will expire");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_valid_kv_keys() {
        assert_eq!(
            EnvKey::new("Acme/My.Repo", "pay.ments", "dev").kv("lease"),
            "acme.my=2Erepo.pay=2Ements.dev.lease"
        );
        assert_eq!(EnvKey::repository("acme/x").kv("state"), "acme.x.-.-.state");
    }
}
