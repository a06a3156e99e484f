//! The resync (contract section 9): every repository that has an environment in `gantry-state`
//! (or is listed in the reconciler's config) gets one round per interval, run by exactly one
//! worker. Scheduling lives in the KV bucket: `<owner>.<repo>.-.-.resync` holds the next round's
//! time, and a worker claims a due round with a compare-and-set that also moves it one interval
//! on ([`StateStore::claim`]), so replicas never check the same repository twice per interval.
//! A repository's first round falls at a hash of its name within the interval, which spreads
//! repositories over time.
//!
//! A round reads the branch heads once ([`crate::heads`]: one request), and for each branch whose
//! head is not the last one handled (`<owner>.<repo>.-.-.heads`, written when a push, resync or
//! sync finished) deploys it exactly as a push event would be (ancestry, fan-out to changed
//! environments, statuses, audit records with trigger `resync`). Environments whose last attempt
//! failed transiently, or was dead-lettered, are tried again at the head.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_proto::v1::{DriftedObject, Event, EventKind, Outcome, Phase, Repository, Trigger};

use crate::audit;
use crate::metrics::ResyncOutcome;
use crate::reconcile::{EventOutcome, Reconciler};
use crate::render::short;
use crate::state::{AttemptOutcome, Check, Claim, EnvKey, EnvState, REPO_WIDE};

/// A repository the resync looks after.
#[derive(Debug, Clone)]
struct Repo {
    full_name: String,
    clone_url: String,
    provider: String,
    interval: Duration,
}

/// What one round did, for tests and the benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// Environments checked.
    pub checked: usize,
    /// Branch heads no event had announced that were deployed.
    pub recovered: usize,
    /// Environments retried after a transient failure.
    pub retried: usize,
    /// Objects found drifted.
    pub drifted: usize,
    /// Kubernetes API requests spent judging (and healing) suspects.
    pub requests: usize,
}

fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

impl Reconciler {
    /// Runs resync rounds until `stop`: polls the schedule of every known repository and runs
    /// the rounds this worker claims.
    pub async fn resync_loop(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let mut due: HashMap<String, i64> = HashMap::new();
        let running: Arc<Mutex<HashSet<String>>> = Arc::default();
        let mut repos: Vec<Repo> = Vec::new();
        let mut listed_at = 0i64;
        let tick = (self.config.resync_interval / 10)
            .clamp(Duration::from_millis(200), Duration::from_secs(1));
        let relist = self
            .config
            .resync_interval
            .min(Duration::from_secs(30))
            .as_millis() as i64;
        let mut rounds = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = stop.cancelled() => break,
            }
            while rounds.try_join_next().is_some() {}
            let now = now_ms();
            if now - listed_at >= relist || repos.is_empty() {
                match self.repositories().await {
                    Ok(r) => {
                        repos = r;
                        listed_at = now;
                    }
                    Err(e) => {
                        tracing::warn!(error = %crate::error::chain(&e), "listing repositories for the resync failed")
                    }
                }
            }
            for repo in &repos {
                if due.get(&repo.full_name).is_some_and(|d| *d > now) {
                    continue;
                }
                if running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains(&repo.full_name)
                {
                    continue;
                }
                match self.state.claim(&repo.full_name, repo.interval).await {
                    Ok(Claim::NotDue(at)) => {
                        due.insert(repo.full_name.clone(), at);
                    }
                    Ok(Claim::Claimed(next)) => {
                        due.insert(repo.full_name.clone(), next);
                        running
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(repo.full_name.clone());
                        let this = self.clone();
                        let repo = repo.clone();
                        let running = running.clone();
                        rounds.spawn(async move {
                            let r = this.round(&repo).await;
                            tracing::debug!(repository = %repo.full_name, round = ?r, "resync round done");
                            running
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .remove(&repo.full_name);
                        });
                    }
                    Err(e) => {
                        tracing::warn!(repository = %repo.full_name, error = %crate::error::chain(&e), "claiming a resync round failed");
                        due.insert(repo.full_name.clone(), now + 1000);
                    }
                }
            }
        }
        rounds.abort_all();
    }

    /// Every repository with a record in `gantry-state`, and those of the config with a clone
    /// URL; each with the shortest interval of its environments.
    async fn repositories(&self) -> Result<Vec<Repo>, crate::state::StateError> {
        let mut by_name: BTreeMap<String, Repo> = BTreeMap::new();
        for r in &self.config.repositories {
            if let Some(url) = &r.clone_url {
                by_name.insert(
                    r.full_name.to_ascii_lowercase(),
                    Repo {
                        full_name: r.full_name.to_ascii_lowercase(),
                        clone_url: url.clone(),
                        provider: String::new(),
                        interval: self.config.resync_interval,
                    },
                );
            }
        }
        for s in self.state.list(None).await? {
            if s.repository.is_empty() {
                continue;
            }
            let interval = if s.interval > 0 {
                Duration::from_secs(s.interval)
            } else {
                self.config.resync_interval
            };
            let e = by_name.entry(s.repository.clone()).or_insert_with(|| Repo {
                full_name: s.repository.clone(),
                clone_url: s.clone_url.clone(),
                provider: s.provider.clone(),
                interval,
            });
            if e.clone_url.is_empty() {
                e.clone_url.clone_from(&s.clone_url);
            }
            if e.provider.is_empty() {
                e.provider.clone_from(&s.provider);
            }
            if s.app != REPO_WIDE {
                e.interval = e.interval.min(interval);
            }
        }
        Ok(by_name
            .into_values()
            .filter(|r| !r.clone_url.is_empty())
            .collect())
    }

    /// One round over one repository.
    async fn round(&self, repo: &Repo) -> Round {
        let started = std::time::Instant::now();
        let mut round = Round::default();
        let states: Vec<EnvState> = match self.state.list(Some(&repo.full_name)).await {
            Ok(s) => s.into_iter().filter(|s| s.app != REPO_WIDE).collect(),
            Err(e) => {
                tracing::warn!(repository = %repo.full_name, error = %crate::error::chain(&e), "resync: reading the state failed");
                return round;
            }
        };
        let (url, credentials) = self.source(&repo.full_name, &repo.clone_url).await;
        let mirror = match self.mirrors.mirror(&repo.full_name) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(repository = %repo.full_name, error = %crate::error::chain(&e), "resync: no mirror");
                return round;
            }
        };
        let heads = match crate::heads::list(&self.http, &url, credentials.as_ref(), mirror.path())
            .await
        {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(repository = %repo.full_name, error = %crate::error::chain(&e), "resync: listing the branch heads failed");
                return round;
            }
        };
        let handled = self
            .state
            .handled(&repo.full_name)
            .await
            .unwrap_or_default();
        let mut by_branch: BTreeMap<String, Vec<EnvState>> = BTreeMap::new();
        for s in states {
            by_branch.entry(s.branch.clone()).or_default().push(s);
        }
        if by_branch.is_empty() {
            // A configured repository nothing was deployed from yet: its default branch.
            for b in ["main", "master"] {
                if heads.contains_key(b) {
                    by_branch.insert(b.to_owned(), Vec::new());
                    break;
                }
            }
        }
        for (branch, envs) in by_branch {
            let Some(head) = heads.get(&branch) else {
                continue;
            };
            round.checked += envs.len();
            let current = handled.get(&branch) == Some(head)
                || (!envs.is_empty() && envs.iter().all(|e| settled_at(e, head)));
            if !current {
                let before = envs
                    .iter()
                    .find(|e| !e.revision.is_empty())
                    .map(|e| e.revision.clone())
                    .unwrap_or_default();
                let event = self.resync_event(repo, &branch, &before, head);
                let tp = gantry_telemetry::child_traceparent(None);
                tracing::info!(repository = %repo.full_name, branch, head = %head, "resync: a head no event announced; deploying it");
                let outcome = self.run(&event, &tp, false, Trigger::Resync, None).await;
                round.recovered += 1;
                self.metrics.resynced(ResyncOutcome::Recovered);
                if outcome == EventOutcome::Done
                    && let Err(e) = self.state.set_handled(&repo.full_name, &branch, head).await
                {
                    tracing::warn!(error = %crate::error::chain(&e), "recording the handled head failed");
                }
                continue;
            }
            let mut checks = Vec::new();
            for e in &envs {
                let retry = e.last_attempt.as_ref().is_some_and(|a| {
                    matches!(
                        a.outcome,
                        AttemptOutcome::Transient | AttemptOutcome::DeadLettered
                    )
                });
                if retry {
                    let event = self.resync_event(repo, &branch, &e.revision, head);
                    let tp = gantry_telemetry::child_traceparent(None);
                    tracing::info!(repository = %repo.full_name, app = %e.app, env = %e.environment, "resync: retrying after a transient failure");
                    let _ = self
                        .run(
                            &event,
                            &tp,
                            false,
                            Trigger::Resync,
                            Some((e.app.clone(), e.environment.clone())),
                        )
                        .await;
                    round.retried += 1;
                } else if self.drift_due(e, repo.interval) {
                    checks.push(e.clone());
                }
            }
            // Drift checks are local (a cache) plus a few KV writes each: run many at once.
            let parallel = (self.config.concurrency * 8).max(8);
            let results: Vec<(EnvState, Result<Option<DriftReport>, DriftError>)> =
                futures::StreamExt::collect(futures::StreamExt::buffer_unordered(
                    futures::stream::iter(checks.into_iter().map(|e| self.check_owned(e))),
                    parallel,
                ))
                .await;
            for (e, r) in results {
                match r {
                    Ok(Some(r)) => {
                        round.drifted += r.drifted;
                        round.requests += r.requests;
                        if r.drifted == 0 {
                            self.metrics.resynced(ResyncOutcome::Unchanged);
                        }
                    }
                    Ok(None) => self.metrics.resynced(ResyncOutcome::Unchanged),
                    Err(err) => {
                        tracing::warn!(app = %e.app, env = %e.environment, error = %crate::error::chain(&err), "drift check failed");
                    }
                }
            }
        }
        self.metrics.phase("resync", started.elapsed());
        round
    }

    async fn check_owned(
        &self,
        e: EnvState,
    ) -> (EnvState, Result<Option<DriftReport>, DriftError>) {
        let r = self.check_drift(&e).await;
        (e, r)
    }

    /// Whether the environment's own interval (which may be longer than its repository's
    /// shortest, the rounds' period) has passed since its last check, to within half a round
    /// period: the checks of a round are spread over its duration (seconds for thousands of
    /// environments), so an environment checked late in one round is still due in the next.
    fn drift_due(&self, e: &EnvState, round_period: Duration) -> bool {
        let interval = if e.interval > 0 {
            Duration::from_secs(e.interval)
        } else {
            self.config.resync_interval
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        e.last_check
            .as_ref()
            .is_none_or(|c| check_due(now - c.at, interval, round_period))
    }

    fn resync_event(&self, repo: &Repo, branch: &str, before: &str, head: &str) -> Event {
        let (owner, name) = repo
            .full_name
            .split_once('/')
            .unwrap_or(("", &repo.full_name));
        let provider = match repo.provider.as_str() {
            "gitea" => gantry_proto::v1::Provider::Gitea,
            _ => gantry_proto::v1::Provider::Github,
        };
        Event {
            id: format!("resync:{}:{branch}:{head}", repo.full_name),
            provider: provider as i32,
            kind: EventKind::Push as i32,
            repository: Some(Repository {
                full_name: repo.full_name.clone(),
                owner: owner.to_owned(),
                name: name.to_owned(),
                clone_url: repo.clone_url.clone(),
                ..Default::default()
            }),
            r#ref: format!("refs/heads/{branch}"),
            before: before.to_owned(),
            after: head.to_owned(),
            ..Default::default()
        }
    }
}

/// Whether an environment needs nothing at `head`: applied there, or its last attempt there
/// ended for good (a render error is not retried every interval; a new commit is needed).
fn settled_at(e: &EnvState, head: &str) -> bool {
    e.revision == head
        || e.last_attempt.as_ref().is_some_and(|a| {
            a.revision == head
                && !matches!(
                    a.outcome,
                    AttemptOutcome::Transient | AttemptOutcome::DeadLettered
                )
        })
}

/// Why a drift check could not be made; the next round tries again.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    /// The state bucket failed.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// The cluster could not be read or written.
    #[error(transparent)]
    Apply(#[from] crate::apply::ApplyError),
    /// A drift record was not stored.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    /// The applied revision could not be fetched or read.
    #[error(transparent)]
    Git(#[from] crate::fetch::GitError),
    /// `.gantry.yaml` at the applied revision is unusable.
    #[error(transparent)]
    Config(#[from] crate::plan::ConfigError),
    /// The applied revision no longer renders.
    #[error(transparent)]
    Render(#[from] crate::render::RenderFailure),
    /// A task on the blocking pool did not finish.
    #[error("a blocking task did not finish")]
    Join(#[from] tokio::task::JoinError),
    /// The applied revision has no `.gantry.yaml`.
    #[error("no .gantry.yaml at {revision}")]
    NoGantryFile {
        /// The short revision.
        revision: String,
    },
    /// The applied revision's `.gantry.yaml` no longer names the environment.
    #[error("{app}/{environment} is not in .gantry.yaml at {revision}")]
    NotInGantryFile {
        /// The app.
        app: String,
        /// The environment.
        environment: String,
        /// The short revision.
        revision: String,
    },
}

/// What a drift check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriftReport {
    /// Objects the last applied revision applied.
    pub managed: usize,
    /// Objects that differed.
    pub drifted: usize,
    /// Whether they were all re-applied.
    pub healed: bool,
    /// Kubernetes API requests spent judging (and healing) suspects: one each.
    pub requests: usize,
}

impl Reconciler {
    /// The drift check of one environment, under its lease (skipped while another worker holds
    /// it: that worker is deploying it). Never posts a commit status.
    pub(crate) async fn check_drift(
        &self,
        s: &EnvState,
    ) -> Result<Option<DriftReport>, DriftError> {
        if s.revision.is_empty() || s.reported.is_none() || s.inventory.is_empty() {
            return Ok(None);
        }
        let key = EnvKey::new(&s.repository, &s.app, &s.environment);
        let lease = match self.state.acquire(&key, Duration::ZERO).await {
            Ok(l) => l,
            Err(crate::state::StateError::Held { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let keep = lease.keep_alive();
        let result = self.drift_held(&key, s).await;
        drop(keep);
        lease.release().await;
        result.map(Some)
    }

    async fn drift_held(&self, key: &EnvKey, s: &EnvState) -> Result<DriftReport, DriftError> {
        let cluster_name = if s.cluster.is_empty() {
            "default"
        } else {
            &s.cluster
        };
        let cluster = self.cluster_named(cluster_name).await?;
        let watches = {
            let mut w = self.watches.lock().unwrap_or_else(|p| p.into_inner());
            w.entry(cluster_name.to_owned())
                .or_insert_with(|| Arc::new(crate::drift::Watches::new(&cluster)))
                .clone()
        };
        let set = self.applied_set(key, s, &cluster, &watches).await?;
        let started = std::time::Instant::now();
        let checked = crate::drift::check(&cluster, &watches, &set, s.self_heal).await?;
        let took = started.elapsed();
        let drifted = &checked.drifted;
        let mut health = "Healthy";
        for (i, v) in &checked.live {
            let h = crate::verify::live_health(&set[*i].reference.kind, v);
            if h == "Degraded" || (h == "Progressing" && health == "Healthy") {
                health = h;
            }
        }
        if drifted.iter().any(|d| d.missing && !d.healed) {
            health = "Missing";
        } else if drifted.iter().any(|d| d.missing) {
            health = "Progressing";
        }
        let healed: Vec<&crate::drift::Drifted> = drifted.iter().filter(|d| d.healed).collect();
        let report = DriftReport {
            managed: set.len(),
            drifted: drifted.len(),
            healed: !drifted.is_empty() && healed.len() == drifted.len(),
            requests: checked.requests,
        };
        let names: Vec<String> = drifted
            .iter()
            .map(|d| {
                let r = &set[d.index].reference;
                if d.missing {
                    format!("{r} (missing)")
                } else {
                    format!("{r} ({})", d.fields.join(", "))
                }
            })
            .collect();
        if !drifted.is_empty() {
            self.metrics.resynced(ResyncOutcome::Drifted);
            let object = |d: &crate::drift::Drifted| {
                let r = &set[d.index].reference;
                DriftedObject {
                    api_version: r.api_version.clone(),
                    kind: r.kind.clone(),
                    namespace: r.namespace.clone(),
                    name: r.name.clone(),
                    fields: d.fields.clone(),
                    missing: d.missing,
                }
            };
            let cx = audit::Context {
                event_id: format!("drift:{}:{}:{}", s.repository, s.app, s.environment),
                delivery_id: String::new(),
                repository: s.repository.clone(),
                revision: s.revision.clone(),
                traceparent: gantry_telemetry::child_traceparent(None),
                trigger: Trigger::Resync,
            };
            let message = format!(
                "{} of {} objects drifted from {}: {}",
                drifted.len(),
                set.len(),
                short(&s.revision),
                names.join("; ")
            );
            self.auditor
                .record(
                    &cx,
                    audit::Entry {
                        app: &s.app,
                        environment: &s.environment,
                        phase: Phase::Drift,
                        outcome: Outcome::Drifted,
                        message,
                        drifted: drifted.iter().map(object).collect(),
                        ..Default::default()
                    },
                )
                .await?;
            tracing::info!(app = %s.app, env = %s.environment, drifted = drifted.len(), self_heal = s.self_heal, "drift found");
            // With selfHeal the check's one apply per drifted object has already healed it.
            if !healed.is_empty() {
                self.metrics.applied.inc_by(healed.len() as u64);
                self.auditor
                    .record(
                        &cx,
                        audit::Entry {
                            app: &s.app,
                            environment: &s.environment,
                            phase: Phase::Drift,
                            outcome: Outcome::Healed,
                            message: format!(
                                "re-applied {} drifted objects at {}",
                                healed.len(),
                                short(&s.revision)
                            ),
                            applied: healed.len() as u32,
                            duration: Some(took),
                            drifted: healed.iter().map(|d| object(d)).collect(),
                            ..Default::default()
                        },
                    )
                    .await?;
                self.metrics
                    .reconciled(&s.app, &s.environment, AttemptOutcome::Healed);
            }
        }
        // Healed objects differ no more; unhealed drift stays counted.
        let still = report.drifted - healed.len();
        self.metrics
            .objects(&s.app, &s.environment, report.managed, still);
        let check = Check {
            at: time::OffsetDateTime::now_utc().unix_timestamp(),
            health: health.to_owned(),
            managed: report.managed,
            drifted: names,
            healed: report.healed,
            worker: self.config.worker_id.clone(),
        };
        self.state
            .update(key, |st| st.last_check = Some(check))
            .await?;
        // What was found and healed before a request failed is recorded above; the failure
        // still fails the check.
        match checked.failed {
            Some(e) => Err(e.into()),
            None => Ok(report),
        }
    }

    /// What the last applied revision of `s` applied: this worker's copy, else rendered again
    /// from the mirror at that revision (the same render, labels and annotations).
    async fn applied_set(
        &self,
        key: &EnvKey,
        s: &EnvState,
        cluster: &crate::apply::Cluster,
        watches: &crate::drift::Watches,
    ) -> Result<Arc<Vec<crate::apply::Applied>>, DriftError> {
        if let Some((rev, set)) = self
            .applied_sets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            && *rev == s.revision
        {
            return Ok(set.clone());
        }
        let commit = crate::fetch::parse_revision(&s.revision)?;
        let mirror = self.mirrors.mirror(&s.repository)?;
        let (url, credentials) = self.source(&s.repository, &s.clone_url).await;
        let snap = tokio::task::spawn_blocking(move || {
            mirror.ensure(&url, credentials.as_ref(), commit)?;
            mirror.snapshot(commit)
        })
        .await??;
        let text = snap
            .file(crate::plan::GANTRY_FILE)
            .ok_or_else(|| DriftError::NoGantryFile {
                revision: short(&s.revision).to_owned(),
            })?;
        let env = crate::plan::parse(&text)?
            .into_iter()
            .find(|e| e.app == s.app && e.name == s.environment)
            .ok_or_else(|| DriftError::NotInGantryFile {
                app: s.app.clone(),
                environment: s.environment.clone(),
                revision: short(&s.revision).to_owned(),
            })?;
        let env2 = env.clone();
        // A nondeterministic chart is rendered twice: the fields that differ between the two
        // are its random or time values, which this render cannot know.
        let (rendered, again) = tokio::task::spawn_blocking(move || {
            let first = crate::render::render(&snap, &env2)?;
            let again = if first.nondeterministic.is_empty() {
                None
            } else {
                Some(crate::render::render(&snap, &env2)?)
            };
            Ok::<_, crate::render::RenderFailure>((first, again))
        })
        .await??;
        let namespace = env
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let own = crate::apply::Ownership {
            app: &s.app,
            environment: &s.environment,
            revision: &s.revision,
            repository: &s.repository,
            default_namespace: &namespace,
        };
        let mut set = cluster.manifests(&rendered.objects, &own).await?;
        if let Some(again) = again {
            let other = cluster.manifests(&again.objects, &own).await?;
            keep_generated_values(&mut set, &other, watches).await?;
        }
        set.retain(|a| {
            s.inventory
                .iter()
                .any(|r| crate::apply::same_object(r, &a.reference))
        });
        let set = Arc::new(set);
        self.applied_sets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone(), (s.revision.clone(), set.clone()));
        Ok(set)
    }
}

/// What a nondeterministic chart applied cannot be rendered again: its random and time values
/// (the fields where two renders of the same revision differ) are taken from the live objects,
/// so they are neither reported as drift nor replaced by new values when drift elsewhere is
/// healed. An object that is gone keeps the new render's values.
async fn keep_generated_values(
    set: &mut [crate::apply::Applied],
    other: &[crate::apply::Applied],
    watches: &crate::drift::Watches,
) -> Result<(), crate::apply::ApplyError> {
    for a in set.iter_mut() {
        let Some(b) = other
            .iter()
            .find(|b| crate::apply::same_object(&a.reference, &b.reference))
        else {
            continue;
        };
        let mut pointers = Vec::new();
        differing(&a.object, &b.object, String::new(), &mut pointers);
        if pointers.is_empty() {
            continue;
        }
        let store = watches.store(&a.resource).await?;
        let Some(live) = crate::drift::cached(&store, a) else {
            continue;
        };
        for p in pointers {
            if let (Some(v), Some(slot)) = (live.pointer(&p), a.object.pointer_mut(&p)) {
                *slot = v.clone();
            }
        }
    }
    Ok(())
}

/// JSON pointers of the values that differ between `a` and `b`.
fn differing(a: &serde_json::Value, b: &serde_json::Value, at: String, out: &mut Vec<String>) {
    use serde_json::Value;
    let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) => differing(v, w, format!("{at}/{}", escape(k)), out),
                    None => out.push(format!("{at}/{}", escape(k))),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                differing(v, w, format!("{at}/{i}"), out);
            }
        }
        _ if a != b => out.push(at),
        _ => {}
    }
}

/// Whether a check `elapsed_secs` ago is old enough for an environment of `interval` whose
/// repository has a round every `round_period` (see `drift_due`).
fn check_due(elapsed_secs: i64, interval: Duration, round_period: Duration) -> bool {
    elapsed_secs as f64 >= interval.as_secs_f64() - round_period.as_secs_f64() / 2.0
}

#[cfg(test)]
mod tests {
    use super::{check_due, differing};
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn a_check_late_in_the_last_round_is_due_in_this_one() {
        let s = Duration::from_secs;
        // Rounds every 30 s; an environment checked 8 s into the last round (whose checks took
        // 10 s) is 22 s old when this round starts: still due, so every round checks it.
        assert!(check_due(22, s(30), s(30)));
        assert!(check_due(30, s(30), s(30)));
        // Checked a moment ago (another replica, a deploy's check): not due.
        assert!(!check_due(5, s(30), s(30)));
        // An environment of 90 s in a repository whose rounds come every 30 s is checked every
        // third round: not at 30 s or 60 s, at 90 s.
        assert!(!check_due(30, s(90), s(30)));
        assert!(!check_due(60, s(90), s(30)));
        assert!(check_due(90, s(90), s(30)));
        assert!(check_due(80, s(90), s(30)));
    }

    #[test]
    fn differing_names_each_changed_leaf() {
        let mut out = Vec::new();
        differing(
            &json!({"data": {"p": "a", "q": "same"}, "metadata": {"annotations": {"x/y": "1"}}, "list": [1, 2]}),
            &json!({"data": {"p": "b", "q": "same"}, "metadata": {"annotations": {"x/y": "2"}}, "list": [1, 3]}),
            String::new(),
            &mut out,
        );
        assert_eq!(out, ["/data/p", "/list/1", "/metadata/annotations/x~1y"]);
    }
}
