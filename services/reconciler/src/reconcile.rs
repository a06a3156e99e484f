//! One event, end to end: fetch, plan, then for each environment to deploy (in parallel, up to
//! `concurrency`): lease, render, apply, prune, verify, report, audit. The result tells the
//! worker loop whether to ack or to retry the message.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry_proto::v1::{Event, EventKind, Outcome, Phase, Trigger};
use tokio::sync::{OnceCell, Semaphore};
use tracing::Instrument;

use crate::apply::{self, ApplyError, Cluster, Ownership};
use crate::audit::{self, Auditor};
use crate::config::{ClusterSource, Config, Forge, ForgeKind};
use crate::error::{Cause, Failure, Stop, Transient, chain};
use crate::fetch::{self, Credentials, FetchFailure, Mirror, Mirrors, Snapshot};
use crate::metrics::Metrics;
use crate::plan::{self, Action, Environment, Planned};
use crate::render::{RenderedEnv, short};
use crate::report::{CommitStatus, ReportError, Reporter, State};
use crate::state::{
    Attempt, AttemptOutcome, EnvKey, EnvState, Lease, ObjectRef, REPO_WIDE, Reported, StateStore,
};

/// The revision an environment last applied and what it applied.
pub(crate) type AppliedSet = (String, Arc<Vec<apply::Applied>>);

/// What the worker does with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// Ack: everything is applied, reported and audited (or there was nothing to do).
    Done,
    /// Nak: a transient failure; `failed` lists the contexts that did not finish.
    Retry {
        /// Why.
        reason: String,
        /// Contexts (`gantry/<app>/<env>`, or `gantry` for the whole repository) left unfinished.
        failed: Vec<String>,
        /// The earliest sensible retry, when a host said so.
        after: Option<Duration>,
    },
}

/// Everything a reconcile needs, shared by all tasks of one worker.
pub struct Reconciler {
    pub(crate) config: Config,
    pub(crate) mirrors: Mirrors,
    pub(crate) state: StateStore,
    pub(crate) auditor: Auditor,
    pub(crate) reporter: Reporter,
    pub(crate) metrics: Arc<Metrics>,
    clusters: HashMap<String, OnceCell<Arc<Cluster>>>,
    slots: Arc<Semaphore>,
    pub(crate) http: reqwest::Client,
    /// Drift watch caches, per cluster.
    pub(crate) watches: std::sync::Mutex<HashMap<String, Arc<crate::drift::Watches>>>,
    /// What each environment's last applied revision applied, as this worker last knew it.
    pub(crate) applied_sets: std::sync::Mutex<HashMap<EnvKey, AppliedSet>>,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("worker", &self.config.worker_id)
            .finish()
    }
}

/// The event-wide facts every environment task reads.
pub(crate) struct Job {
    pub(crate) event_id: String,
    pub(crate) full_name: String,
    pub(crate) revision: String,
    /// Commits that get the statuses: the revision, and a merged pull request's head.
    pub(crate) shas: Vec<String>,
    forge: Option<Forge>,
    audit: audit::Context,
    pub(crate) mirror: Arc<Mirror>,
    pub(crate) snapshot: Arc<Snapshot>,
    /// Deploy every matching environment (a new branch or an unknown `before`).
    pub(crate) force: bool,
    /// What started it.
    trigger: Trigger,
    /// An API sync: only this app and environment, re-applied even when unchanged.
    pub(crate) only: Option<(String, String)>,
    /// Where the repository is fetched from, and which provider announced it; kept in the
    /// state so that the resync can reach every repository ever deployed.
    pub(crate) clone_url: String,
    /// What the fetch used, for fetching again a commit another worker applied.
    credentials: Option<Credentials>,
    pub(crate) provider: i32,
}

impl Job {
    pub(crate) fn key(&self, env: &Environment) -> EnvKey {
        EnvKey::new(&self.full_name, &env.app, &env.name)
    }

    pub(crate) fn attempt(&self, phase: Phase, outcome: AttemptOutcome, message: &str) -> Attempt {
        attempt(&self.revision, self.trigger, phase, outcome, message)
    }

    /// Whether the job's revision is an ancestor of the `applied` one (never go backwards).
    pub(crate) fn is_older_than(&self, applied: &str) -> bool {
        applied != self.revision
            && fetch::parse_revision(applied)
                .is_ok_and(|a| self.mirror.is_ancestor(self.snapshot.commit, a) == Some(true))
    }
}

/// One environment's reconcile: the event's facts, the environment, the lease it runs under
/// and what it last applied. Every phase reads it.
pub(crate) struct Run<'a> {
    pub(crate) job: &'a Job,
    pub(crate) env: &'a Environment,
    pub(crate) key: EnvKey,
    /// `gantry/<app>/<env>`.
    pub(crate) context: String,
    /// The short revision, as messages name it.
    pub(crate) rev: String,
    /// Where namespaced objects without a namespace go.
    namespace: String,
    /// When the reconcile of this environment began.
    pub(crate) started: Instant,
    lease: &'a Lease,
    /// The environment's record before this reconcile.
    pub(crate) previous: Option<EnvState>,
}

impl<'a> Run<'a> {
    fn new(
        job: &'a Job,
        env: &'a Environment,
        lease: &'a Lease,
        previous: Option<EnvState>,
    ) -> Run<'a> {
        Run {
            key: job.key(env),
            context: env.context(),
            rev: short(&job.revision).to_owned(),
            namespace: env
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_owned()),
            started: Instant::now(),
            job,
            env,
            lease,
            previous,
        }
    }

    /// What was last applied, if anything (a record may hold only failed attempts).
    pub(crate) fn applied_before(&self) -> Option<&EnvState> {
        self.previous.as_ref().filter(|p| !p.revision.is_empty())
    }

    /// A renewal that found the lease taken over means another worker may be writing: stop
    /// before the next write and let the redelivery converge.
    pub(crate) fn held(&self) -> Result<(), Transient> {
        if self.lease.lost() {
            Err(self.transient(Cause::LeaseLost {
                app: self.env.app.clone(),
                environment: self.env.name.clone(),
            }))
        } else {
            Ok(())
        }
    }

    /// Stores the environment's record, retrying a failed write (50 ms doubling to 1 s) while
    /// the lease is held and for at most one renewal period, so the lease is still ours when the
    /// last try lands. Giving up at once during a NATS failover (a stream's leader changing)
    /// made the event's redelivery apply the same revision a second time.
    pub(crate) async fn store(
        &self,
        state: &StateStore,
        record: &EnvState,
    ) -> Result<(), Transient> {
        let give_up = Instant::now() + self.lease.renewal_period();
        let mut wait = Duration::from_millis(50);
        loop {
            match state.put(&self.key, record).await {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() + wait < give_up && !self.lease.lost() => {
                    tracing::warn!(context = %self.context, error = %chain(&e), retry_in = ?wait, "storing the state failed");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
                Err(e) => return Err(self.transient(e)),
            }
        }
    }

    /// A transient failure of this environment.
    pub(crate) fn transient(&self, cause: impl Into<Cause>) -> Transient {
        Transient::new(&self.context, cause)
    }

    /// An audit record of this environment.
    pub(crate) fn entry(
        &self,
        phase: Phase,
        outcome: Outcome,
        message: String,
    ) -> audit::Entry<'_> {
        audit::Entry {
            app: &self.env.app,
            environment: &self.env.name,
            phase,
            outcome,
            message,
            ..Default::default()
        }
    }

    /// The labels and annotations every object of this environment gets.
    pub(crate) fn ownership(&self) -> Ownership<'_> {
        Ownership {
            app: &self.env.app,
            environment: &self.env.name,
            revision: &self.job.revision,
            repository: &self.job.full_name,
            default_namespace: &self.namespace,
        }
    }
}

/// The span of one phase of one environment: a child of the `reconcile` span.
macro_rules! phase_span {
    ($name:literal, $run:expr $(, $($field:tt)*)?) => {
        tracing::info_span!(
            $name,
            app = %$run.env.app,
            environment = %$run.env.name,
            revision = %$run.rev
            $(, $($field)*)?
        )
    };
}

/// An [`Attempt`] stamped now.
pub(crate) fn attempt(
    revision: &str,
    trigger: Trigger,
    phase: Phase,
    outcome: AttemptOutcome,
    message: &str,
) -> Attempt {
    Attempt {
        revision: revision.to_owned(),
        outcome,
        phase: phase
            .as_str_name()
            .trim_start_matches("PHASE_")
            .to_ascii_lowercase(),
        message: crate::report::truncate(message, 2000),
        trigger: trigger_name(trigger).to_owned(),
        at: time::OffsetDateTime::now_utc().unix_timestamp(),
    }
}

/// `webhook`, `resync` or `api`.
pub fn trigger_name(t: Trigger) -> &'static str {
    match t {
        Trigger::Resync => "resync",
        Trigger::Api => "api",
        _ => "webhook",
    }
}

const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

fn is_zero(sha: &str) -> bool {
    sha.is_empty() || sha.bytes().all(|b| b == b'0')
}

impl Reconciler {
    /// A reconciler over opened NATS handles.
    pub fn new(
        config: Config,
        state: StateStore,
        auditor: Auditor,
        metrics: Arc<Metrics>,
    ) -> Reconciler {
        let clusters = config
            .clusters
            .iter()
            .map(|c| (c.name.clone(), OnceCell::new()))
            .collect();
        Reconciler {
            mirrors: Mirrors::new(config.data_dir.join("mirrors")),
            slots: Arc::new(Semaphore::new(config.concurrency)),
            config,
            state,
            auditor,
            reporter: Reporter::new(),
            metrics,
            clusters,
            http: reqwest::Client::new(),
            watches: Default::default(),
            applied_sets: Default::default(),
        }
    }

    /// The cluster named `name`, for the drift check and the prune of a moved environment.
    pub(crate) async fn cluster_named(&self, name: &str) -> Result<Arc<Cluster>, ApplyError> {
        self.cluster(name).await
    }

    /// Whether `name` is a configured cluster.
    pub(crate) fn has_cluster(&self, name: &str) -> bool {
        self.clusters.contains_key(name)
    }

    pub(crate) async fn cluster(&self, name: &str) -> Result<Arc<Cluster>, ApplyError> {
        let unknown = || ApplyError::UnknownCluster {
            cluster: name.to_owned(),
        };
        let cell = self.clusters.get(name).ok_or_else(unknown)?;
        let source = self
            .config
            .clusters
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.source.clone());
        cell.get_or_try_init(|| async move {
            let err = |e: Box<dyn std::error::Error + Send + Sync>| ApplyError::Cluster {
                cluster: name.to_owned(),
                source: e,
            };
            let mut cfg = match source {
                Some(ClusterSource::KubeconfigYaml(text)) => {
                    let kc =
                        kube::config::Kubeconfig::from_yaml(&text).map_err(|e| err(e.into()))?;
                    kube::Config::from_custom_kubeconfig(kc, &Default::default())
                        .await
                        .map_err(|e| err(e.into()))?
                }
                Some(ClusterSource::Kubeconfig(path, context)) => {
                    let kc =
                        kube::config::Kubeconfig::read_from(&path).map_err(|e| err(e.into()))?;
                    let opts = kube::config::KubeConfigOptions {
                        context,
                        ..Default::default()
                    };
                    kube::Config::from_custom_kubeconfig(kc, &opts)
                        .await
                        .map_err(|e| err(e.into()))?
                }
                Some(ClusterSource::InCluster) => {
                    kube::Config::incluster().map_err(|e| err(e.into()))?
                }
                None => return Err(unknown()),
            };
            cfg.connect_timeout = Some(Duration::from_secs(5));
            cfg.read_timeout = Some(Duration::from_secs(30));
            let client = kube::Client::try_from(cfg).map_err(|e| err(e.into()))?;
            Ok(Arc::new(Cluster::new(client)))
        })
        .await
        .cloned()
    }

    fn forge_for(&self, event: &Event) -> Option<Forge> {
        let full_name = event
            .repository
            .as_ref()
            .map(|r| r.full_name.as_str())
            .unwrap_or_default();
        let repo = self
            .config
            .repositories
            .iter()
            .find(|r| r.full_name.eq_ignore_ascii_case(full_name));
        if let Some(name) = repo.and_then(|r| r.forge.as_ref()) {
            return self.config.forges.iter().find(|f| &f.name == name).cloned();
        }
        let kind = match event.provider() {
            gantry_proto::v1::Provider::Gitea => ForgeKind::Gitea,
            _ => ForgeKind::Github,
        };
        self.config.forges.iter().find(|f| f.kind == kind).cloned()
    }

    fn target_url(&self, context: &str, sha: &str) -> Option<String> {
        self.config
            .public_url
            .as_ref()
            .map(|base| format!("{base}/{context}/{sha}"))
    }

    /// Posts `state` on every status commit of the job.
    pub(crate) async fn post(
        &self,
        job: &Job,
        context: &str,
        state: State,
        description: &str,
    ) -> Result<(), ReportError> {
        let Some(forge) = &job.forge else {
            tracing::error!(repository = %job.full_name, context, state = state.as_str(), description,
                "no forge is configured for this repository; the commit status cannot be posted");
            return Ok(());
        };
        let started = Instant::now();
        for sha in &job.shas {
            self.post_on(forge, job, sha, context, state, description)
                .await?;
        }
        self.metrics.phase("report", started.elapsed());
        Ok(())
    }

    /// Posts `state` on one commit of the job.
    async fn post_on(
        &self,
        forge: &Forge,
        job: &Job,
        sha: &str,
        context: &str,
        state: State,
        description: &str,
    ) -> Result<(), ReportError> {
        let status = CommitStatus {
            state,
            description: description.to_owned(),
            context: context.to_owned(),
            target_url: self.target_url(context, sha),
        };
        self.reporter
            .post(
                &self.metrics,
                forge,
                &job.full_name,
                sha,
                &status,
                self.config.report_budget,
            )
            .await
    }

    /// Posts an applied revision's stored outcome again on each of the event's SHAs where the
    /// host does not already show it, and says on how many it did. An event that posted the
    /// status and was then redelivered before it could record so (its worker killed, the state
    /// write lost in a NATS failover) must not post it a second time; a host that cannot be read
    /// gets the status again, the lesser harm.
    pub(crate) async fn repost(
        &self,
        job: &Job,
        context: &str,
        state: State,
        description: &str,
    ) -> Result<usize, ReportError> {
        let Some(forge) = &job.forge else {
            return self
                .post(job, context, state, description)
                .await
                .map(|()| 0);
        };
        let mut posted = 0;
        for sha in &job.shas {
            match self
                .reporter
                .shown(forge, &job.full_name, sha, context)
                .await
            {
                Ok(Some(shown)) if shown.says(state, description) => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(%sha, context, error = %chain(&e), "reading the shown status failed; posting it again")
                }
            }
            self.post_on(forge, job, sha, context, state, description)
                .await?;
            posted += 1;
        }
        Ok(posted)
    }

    pub(crate) async fn audit(&self, job: &Job, e: audit::Entry<'_>) -> Result<(), Transient> {
        let context = if e.app.is_empty() {
            "gantry".to_owned()
        } else {
            crate::report::status_context(e.app, e.environment)
        };
        self.auditor
            .record(&job.audit, e)
            .await
            .map_err(|e| Transient::new(context, e))
    }

    /// Handles one event. `last` is true on the last allowed delivery.
    pub async fn handle(&self, event: &Event, traceparent: &str, last: bool) -> EventOutcome {
        match event.kind() {
            EventKind::Push | EventKind::PrMerged => {
                self.run(event, traceparent, last, Trigger::Webhook, None)
                    .await
            }
            EventKind::Sync => self.sync(event, traceparent, last).await,
            kind => {
                tracing::debug!(id = %event.id, kind = kind.token(), "nothing to deploy for this event");
                EventOutcome::Done
            }
        }
    }

    /// Where `full_name` is fetched from, and with which credentials: the repository's own, else
    /// an installation token of its forge's GitHub App (the repository's forge, or the first
    /// GitHub forge with an app).
    pub(crate) async fn source(
        &self,
        full_name: &str,
        event_url: &str,
    ) -> (String, Option<Credentials>) {
        let repo_cfg = self
            .config
            .repositories
            .iter()
            .find(|r| r.full_name.eq_ignore_ascii_case(full_name));
        let url = repo_cfg
            .and_then(|r| r.clone_url.clone())
            .unwrap_or_else(|| event_url.to_owned());
        let mut credentials = repo_cfg
            .and_then(|r| r.credentials.clone())
            .map(|(username, password)| Credentials { username, password });
        if credentials.is_none() {
            let forge = match repo_cfg.and_then(|r| r.forge.as_ref()) {
                Some(name) => self.config.forges.iter().find(|f| &f.name == name),
                None => self
                    .config
                    .forges
                    .iter()
                    .find(|f| f.kind == ForgeKind::Github && f.app.is_some()),
            };
            if let Some(app) = forge.and_then(|f| f.app.as_ref()) {
                match app.token().await {
                    Ok(password) => {
                        credentials = Some(Credentials {
                            username: "x-access-token".to_owned(),
                            password,
                        })
                    }
                    Err(e) => {
                        tracing::warn!(repository = full_name, error = %chain(&e), "no installation token for the fetch; fetching without credentials")
                    }
                }
            }
        }
        (url, credentials)
    }

    /// An API sync request: finds the environment's branch and revision (its head when none is
    /// given), then reconciles that environment only.
    async fn sync(&self, event: &Event, traceparent: &str, last: bool) -> EventOutcome {
        let (Some(req), Some(repository)) = (&event.sync, &event.repository) else {
            tracing::warn!(id = %event.id, "sync event without its request or repository");
            return EventOutcome::Done;
        };
        let key = EnvKey::new(&repository.full_name, &req.application, &req.environment);
        let known = match self.state.get(&key).await {
            Ok(s) => s,
            Err(e) => {
                return EventOutcome::Retry {
                    reason: chain(&e),
                    failed: vec![format!("gantry/{}/{}", req.application, req.environment)],
                    after: None,
                };
            }
        };
        // Statuses go to the forge whose events deployed it before (the API is no forge).
        let provider = match known.as_ref().map(|s| s.provider.as_str()) {
            Some("gitea") => gantry_proto::v1::Provider::Gitea,
            _ => gantry_proto::v1::Provider::Github,
        };
        let branch = plan::branch_of(&event.r#ref)
            .map(str::to_owned)
            .or_else(|| known.map(|s| s.branch).filter(|b| !b.is_empty()))
            .or_else(|| Some(repository.default_branch.clone()).filter(|b| !b.is_empty()))
            .unwrap_or_else(|| "main".to_owned());
        let mut revision = if req.revision.is_empty() {
            event.after.to_ascii_lowercase()
        } else {
            req.revision.to_ascii_lowercase()
        };
        if is_zero(&revision) {
            let cx = audit::Context {
                event_id: event.id.clone(),
                delivery_id: event.delivery_id.clone(),
                repository: repository.full_name.clone(),
                revision: String::new(),
                traceparent: traceparent.to_owned(),
                trigger: Trigger::Api,
            };
            let (url, credentials) = self
                .source(&repository.full_name, &repository.clone_url)
                .await;
            let mirror = match self.mirrors.mirror(&repository.full_name) {
                Ok(m) => m,
                Err(e) => return self.repo_failure(&cx, chain(&e), last).await,
            };
            let heads =
                crate::heads::list(&self.http, &url, credentials.as_ref(), mirror.path()).await;
            match heads.map(|h| h.get(&branch).cloned()) {
                Ok(Some(head)) => revision = head,
                Ok(None) => {
                    return self
                        .repo_failure(&cx, format!("branch {branch} does not exist"), last)
                        .await;
                }
                Err(e) => return self.repo_failure(&cx, chain(&e), last).await,
            }
        }
        let mut resolved = event.clone();
        resolved.provider = provider as i32;
        resolved.r#ref = format!("refs/heads/{branch}");
        resolved.after = revision;
        let only = Some((req.application.clone(), req.environment.clone()));
        self.run(&resolved, traceparent, last, Trigger::Api, only)
            .await
    }

    /// Deploys a push (or a merged pull request, a resync's newer head, an API sync) of one
    /// branch: fetch, plan, then every environment to deploy.
    pub(crate) async fn run(
        &self,
        event: &Event,
        traceparent: &str,
        last: bool,
        trigger: Trigger,
        only: Option<(String, String)>,
    ) -> EventOutcome {
        let kind = event.kind();
        let Some(branch) = plan::branch_of(&event.r#ref) else {
            return EventOutcome::Done;
        };
        let revision = event.after.to_ascii_lowercase();
        if is_zero(&revision) {
            return EventOutcome::Done;
        }
        let Some(repository) = event.repository.as_ref() else {
            tracing::warn!(id = %event.id, "event without a repository");
            return EventOutcome::Done;
        };
        let full_name = repository.full_name.clone();
        let (url, credentials) = self.source(&full_name, &repository.clone_url).await;
        let mut shas = vec![revision.clone()];
        if kind == EventKind::PrMerged
            && let Some(pr) = &event.pull_request
        {
            let head = pr.head_sha.to_ascii_lowercase();
            if !is_zero(&head) && head != revision {
                shas.push(head);
            }
        }
        let forge = self.forge_for(event);
        let audit_cx = audit::Context {
            event_id: event.id.clone(),
            delivery_id: event.delivery_id.clone(),
            repository: full_name.clone(),
            revision: revision.clone(),
            traceparent: traceparent.to_owned(),
            trigger,
        };

        // Fetch.
        let started = Instant::now();
        let fetched = self
            .fetch_phase(
                &full_name,
                &revision,
                &event.before,
                &url,
                credentials.clone(),
            )
            .instrument(
                tracing::info_span!("fetch", repository = %full_name, revision = short(&revision)),
            )
            .await;
        let fetched = match fetched {
            Ok(f) => f,
            Err(FetchFailure::Malformed(e)) => {
                tracing::warn!(id = %event.id, error = %chain(&e), "event with a malformed revision");
                return EventOutcome::Done;
            }
            Err(e) => return self.repo_failure(&audit_cx, chain(&e), last).await,
        };
        let force = event.created || is_zero(&event.before) || !fetched.before_known;
        let job = Arc::new(Job {
            event_id: event.id.clone(),
            full_name: full_name.clone(),
            revision: revision.clone(),
            shas,
            forge,
            audit: audit_cx,
            mirror: fetched.mirror,
            snapshot: fetched.snapshot,
            force,
            trigger,
            only,
            clone_url: url,
            credentials,
            provider: event.provider,
        });
        if let Err(t) = self
            .audit(
                &job,
                audit::Entry {
                    phase: Phase::Fetch,
                    outcome: Outcome::Succeeded,
                    message: format!("fetched {} of {full_name}", short(&revision)),
                    duration: Some(started.elapsed()),
                    ..Default::default()
                },
            )
            .await
        {
            return retry(vec![t]);
        }

        // Plan.
        let planned = self
            .plan_phase(&job, branch)
            .instrument(
                tracing::info_span!("plan", repository = %full_name, revision = short(&revision)),
            )
            .await;
        let (targets, skipped) = match planned {
            Ok(Planned::Deploy { targets, skipped }) => (targets, skipped),
            Ok(Planned::Nothing) => return EventOutcome::Done,
            Ok(Planned::Unusable { context, message }) => {
                return self.config_error(&job, &context, message).await;
            }
            Err(t) => return retry(vec![t]),
        };

        // Deploy, up to `concurrency` environments at once.
        let mut tasks = Vec::new();
        for env in targets {
            let slots = self.slots.clone();
            let job = job.clone();
            tasks.push(async move {
                let _permit = slots.acquire_owned().await;
                self.environment(&job, &env).await
            });
        }
        // The `skipped` records are written alongside, off the changed environments' path.
        let (results, recorded) = futures::join!(
            futures::future::join_all(tasks),
            self.record_skipped(&job, skipped)
        );
        let mut failed: Vec<Transient> = results.into_iter().filter_map(Result::err).collect();
        failed.extend(recorded.err());
        if failed.is_empty() {
            if job.only.is_none()
                && let Err(e) = self.state.set_handled(&full_name, branch, &revision).await
            {
                // The resync then deploys this head once more, which is harmless.
                tracing::warn!(error = %chain(&e), "recording the handled head failed");
            }
            EventOutcome::Done
        } else {
            retry(failed)
        }
    }

    /// A failure before any environment is known (fetch): a transient one, retried; on the last
    /// delivery the worker posts the `error` status and dead-letters the event. Counted and
    /// recorded as the repository-wide attempt (app and environment `-`).
    async fn repo_failure(&self, cx: &audit::Context, reason: String, last: bool) -> EventOutcome {
        tracing::warn!(repository = %cx.repository, error = %reason, last, "fetch failed");
        let _ = self
            .auditor
            .record(
                cx,
                audit::Entry {
                    phase: Phase::Fetch,
                    outcome: Outcome::Failed,
                    message: reason.clone(),
                    ..Default::default()
                },
            )
            .await;
        self.metrics
            .reconciled(REPO_WIDE, REPO_WIDE, AttemptOutcome::Transient);
        let key = EnvKey::repository(&cx.repository);
        let message = format!("fetch failed: {reason}");
        let a = attempt(
            &cx.revision,
            cx.trigger,
            Phase::Fetch,
            AttemptOutcome::Transient,
            &message,
        );
        if let Err(e) = self.state.attempted(&key, a).await {
            tracing::warn!(error = %chain(&e), "recording the attempt failed");
        }
        EventOutcome::Retry {
            reason: message,
            failed: vec!["gantry".to_owned()],
            after: None,
        }
    }

    /// `.gantry.yaml` is unusable: an `error` status naming file and line, nothing applied.
    async fn config_error(&self, job: &Job, context: &str, message: String) -> EventOutcome {
        tracing::warn!(repository = %job.full_name, revision = short(&job.revision), %message, "unusable .gantry.yaml");
        let (app, env) = crate::report::context_parts(context).unwrap_or(("", ""));
        if let Err(t) = self
            .audit(
                job,
                audit::Entry {
                    app,
                    environment: env,
                    phase: Phase::Render,
                    outcome: Outcome::Failed,
                    message: message.clone(),
                    ..Default::default()
                },
            )
            .await
        {
            return retry(vec![t]);
        }
        let key = if app.is_empty() {
            EnvKey::repository(&job.full_name)
        } else {
            EnvKey::new(&job.full_name, app, env)
        };
        let a = job.attempt(Phase::Render, AttemptOutcome::Error, &message);
        if let Err(e) = self.state.attempted(&key, a).await {
            return retry(vec![Transient::new(context.to_owned(), e)]);
        }
        match self.post(job, context, State::Error, &message).await {
            Ok(()) => {
                self.metrics
                    .reconciled(&key.app, &key.environment, AttemptOutcome::Error);
                EventOutcome::Done
            }
            Err(e) => retry(vec![Transient::new(context, e)]),
        }
    }

    /// One `skipped` audit record per environment whose inputs did not change.
    async fn record_skipped(&self, job: &Job, skipped: Vec<Environment>) -> Result<(), Transient> {
        let mut records = Vec::with_capacity(skipped.len());
        for env in skipped {
            let auditor = self.auditor.clone();
            let cx = job.audit.clone();
            let message = format!(
                "no input of {}/{} changed at {}",
                env.app,
                env.name,
                short(&job.revision)
            );
            records.push(async move {
                auditor
                    .record(
                        &cx,
                        audit::Entry {
                            app: &env.app,
                            environment: &env.name,
                            phase: Phase::Apply,
                            outcome: Outcome::Skipped,
                            message,
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(|e| Transient::new(env.context(), e))
            });
        }
        let results: Vec<Result<(), Transient>> = futures::StreamExt::collect(
            futures::StreamExt::buffer_unordered(futures::stream::iter(records), 64),
        )
        .await;
        results.into_iter().collect()
    }

    /// One environment under its lease.
    async fn environment(&self, job: &Job, env: &Environment) -> Result<(), Transient> {
        let key = job.key(env);
        let lease = self
            .state
            .acquire(&key, self.config.lease_ttl * 2)
            .await
            .map_err(|e| Transient::new(env.context(), Cause::Lease(e)))?;
        let keep = lease.keep_alive();
        let result = self.deploy(job, env, &lease).await;
        drop(keep);
        lease.release().await;
        if let Err(t) = &result {
            self.metrics
                .reconciled(&env.app, &env.name, AttemptOutcome::Transient);
            let reason = t.reason();
            let a = job.attempt(Phase::Apply, AttemptOutcome::Transient, &reason);
            if let Err(e) = self.state.attempted(&key, a).await {
                tracing::warn!(error = %chain(&e), "recording the attempt failed");
            }
            tracing::warn!(app = %env.app, env = %env.name, %reason, "reconcile will be retried");
        }
        result
    }

    /// Runs the phases of one environment; a failure for good is recorded and reported here.
    async fn deploy(&self, job: &Job, env: &Environment, lease: &Lease) -> Result<(), Transient> {
        let previous = self
            .state
            .get(&job.key(env))
            .await
            .map_err(|e| Transient::new(env.context(), e))?;
        if let Some(p) = previous.as_ref().filter(|p| !p.revision.is_empty()) {
            self.know_applied(job, &p.revision)
                .await
                .map_err(|e| Transient::new(env.context(), e))?;
        }
        let run = Run::new(job, env, lease, previous);
        match self.pipeline(&run).await {
            Ok(()) | Err(Stop::Settled) => Ok(()),
            Err(Stop::Retry(t)) => Err(t),
            Err(Stop::Fail(f)) => self.fail(&run, f).await,
        }
    }

    /// Makes sure the mirror holds the commit the environment last applied. Another worker may
    /// have applied a commit pushed after this worker's fetch; without it, whether the job's
    /// revision is older cannot be answered, and deploying it would take the environment back.
    /// A commit the host no longer has (a force push) cannot be newer than anything: no error.
    async fn know_applied(&self, job: &Job, applied: &str) -> Result<(), Cause> {
        let Ok(commit) = fetch::parse_revision(applied) else {
            return Ok(());
        };
        if job.mirror.has(commit) {
            return Ok(());
        }
        let (mirror, url, credentials) = (
            job.mirror.clone(),
            job.clone_url.clone(),
            job.credentials.clone(),
        );
        match tokio::task::spawn_blocking(move || mirror.ensure(&url, credentials.as_ref(), commit))
            .await?
        {
            Ok(()) | Err(fetch::GitError::MissingCommit(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The pipeline of one environment: each phase takes what the one before produced, and
    /// stops it with a retry, a failure for good, or nothing left to do.
    async fn pipeline(&self, run: &Run<'_>) -> Result<(), Stop> {
        let action = plan::action(
            &run.job.revision,
            &run.job.event_id,
            run.job.only.is_some(),
            run.applied_before(),
            |applied| run.job.is_older_than(applied),
        );
        if action != Action::Deploy {
            return self.settle(run, action).await;
        }
        if self.config.trust.required(run.env) {
            self.signature_phase(run)
                .instrument(phase_span!("signature", run))
                .await?;
        }
        self.post(
            run.job,
            &run.context,
            State::Pending,
            &format!("deploying {}", run.rev),
        )
        .await
        .map_err(|e| run.transient(e))?;
        let rendered = self
            .render_phase(run)
            .instrument(phase_span!("render", run))
            .await?;
        if let Some((prev, rep)) = rendered.unchanged(run.applied_before(), &run.env.digest()) {
            return self.unchanged_render(run, prev, rep).await;
        }
        let (cluster, applied) = self
            .apply_phase(run, &rendered.rendered.objects)
            .instrument(phase_span!("apply", run))
            .await?;
        let inventory: Vec<ObjectRef> = applied.iter().map(|a| a.reference.clone()).collect();
        let pruned = self
            .prune_phase(run, &cluster, &inventory)
            .instrument(phase_span!("prune", run))
            .await?;
        let state = self.record_applied(run, &rendered, inventory).await?;
        let checked = self
            .verify_phase(run, &cluster, &applied, pruned.len())
            .instrument(phase_span!("verify", run))
            .await?;
        self.report_phase(run, state, checked)
            .instrument(phase_span!("report", run))
            .await
    }

    /// Ends the reconcile of a revision that needs no deploy: the applied one again (its status
    /// reposted unless this event posted it) or an older one (superseded).
    async fn settle(&self, run: &Run<'_>, action: Action) -> Result<(), Stop> {
        let rev = &run.rev;
        match action {
            Action::Deploy => return Ok(()),
            Action::Repost {
                reported,
                posted_by_this_event,
            } => {
                let message = if posted_by_this_event {
                    format!(
                        "{rev} is already applied and this event posted its status {}",
                        reported.state.as_str()
                    )
                } else {
                    let posted = self
                        .repost(run.job, &run.context, reported.state, &reported.description)
                        .await
                        .map_err(|e| run.transient(e))?;
                    if posted == 0 && run.job.forge.is_some() {
                        format!(
                            "{rev} is already applied and its status {} is already shown",
                            reported.state.as_str()
                        )
                    } else {
                        format!(
                            "{rev} is already applied; status {} reposted",
                            reported.state.as_str()
                        )
                    }
                };
                self.audit(run.job, run.entry(Phase::Report, Outcome::Skipped, message))
                    .await?;
            }
            Action::Superseded { applied } => {
                let message = format!(
                    "{rev} is older than {}, which is already applied",
                    short(&applied)
                );
                self.audit(
                    run.job,
                    run.entry(Phase::Apply, Outcome::Superseded, message.clone()),
                )
                .await?;
                self.metrics
                    .reconciled(&run.env.app, &run.env.name, AttemptOutcome::Superseded);
                let a = run
                    .job
                    .attempt(Phase::Apply, AttemptOutcome::Superseded, &message);
                self.state
                    .attempted(&run.key, a)
                    .await
                    .map_err(|e| run.transient(e))?;
            }
        }
        Err(Stop::Settled)
    }

    /// Stores the environment's record once its revision is applied and pruned, before the
    /// verdict: a crash during verify must not lose the inventory.
    async fn record_applied(
        &self,
        run: &Run<'_>,
        rendered: &RenderedEnv,
        inventory: Vec<ObjectRef>,
    ) -> Result<EnvState, Stop> {
        run.held()?;
        let (job, env) = (run.job, run.env);
        let state = EnvState {
            revision: job.revision.clone(),
            repository: job.full_name.clone(),
            app: env.app.clone(),
            environment: env.name.clone(),
            branch: env.branch.clone(),
            cluster: env.cluster.clone(),
            clone_url: job.clone_url.clone(),
            provider: provider_name(job.provider).to_owned(),
            interval: env.interval.map_or(0, |d| d.as_secs()),
            self_heal: env.self_heal,
            config_digest: env.digest(),
            inputs: rendered.rendered.inputs.iter().cloned().collect(),
            inventory,
            reported: None,
            applied_at: time::OffsetDateTime::now_utc().unix_timestamp(),
            inputs_digest: rendered.inputs_digest.clone(),
            nondeterministic: rendered.nondeterministic,
            last_attempt: run.previous.as_ref().and_then(|p| p.last_attempt.clone()),
            last_check: None,
        };
        run.store(&self.state, &state).await?;
        self.metrics
            .last_applied
            .get_or_create(&crate::metrics::EnvLabels {
                app: env.app.clone(),
                environment: env.name.clone(),
            })
            .set(state.applied_at);
        Ok(state)
    }

    /// A nondeterministic re-render of unchanged inputs: nothing is applied or pruned; the
    /// state moves to this revision and the applied revision's status is posted on it.
    async fn unchanged_render(
        &self,
        run: &Run<'_>,
        prev: &EnvState,
        rep: &Reported,
    ) -> Result<(), Stop> {
        let (job, env) = (run.job, run.env);
        let since = short(&prev.revision).to_owned();
        self.audit(
            job,
            audit::Entry {
                nondeterministic: true,
                ..run.entry(
                    Phase::Apply,
                    Outcome::Skipped,
                    format!(
                        "no input of {} changed since {since}; its nondeterministic re-render is not a change, so nothing is applied",
                        env.path
                    ),
                )
            },
        )
        .await?;
        let description = format!(
            "{}: no input changed since {since}; {}",
            run.rev, rep.description
        );
        let outcome = if rep.state == State::Success {
            AttemptOutcome::Success
        } else {
            AttemptOutcome::Failure
        };
        let state = EnvState {
            revision: job.revision.clone(),
            last_attempt: Some(job.attempt(Phase::Apply, outcome, &description)),
            ..prev.clone()
        };
        run.store(&self.state, &state).await?;
        self.post(job, &run.context, rep.state, &description)
            .await
            .map_err(|e| run.transient(e))?;
        self.audit(
            job,
            run.entry(
                Phase::Report,
                Outcome::Succeeded,
                format!("posted {} on {}", rep.state.as_str(), job.shas.join(", ")),
            ),
        )
        .await?;
        // A status was posted on a new revision: a real sync, counted as the attempt recorded
        // above (the contract has no `unchanged` outcome; an untouched environment is not counted).
        self.metrics.reconciled(&env.app, &env.name, outcome);
        Err(Stop::Settled)
    }

    /// Ends a reconcile that failed for good: audits the full text (unless its phase did),
    /// records the failed attempt in the state, posts its status and counts it.
    async fn fail(&self, run: &Run<'_>, f: Failure) -> Result<(), Transient> {
        let (job, env) = (run.job, run.env);
        if let Some(full) = f.audit {
            self.audit(job, run.entry(f.phase, Outcome::Failed, full))
                .await?;
        }
        let outcome = if f.state == State::Failure {
            AttemptOutcome::Failure
        } else {
            AttemptOutcome::Error
        };
        let a = job.attempt(f.phase, outcome, &f.description);
        let (branch, url, provider) = (
            env.branch.clone(),
            job.clone_url.clone(),
            provider_name(job.provider),
        );
        let interval = env.interval.map_or(0, |d| d.as_secs());
        let self_heal = env.self_heal;
        self.state
            .update(&run.key, move |s| {
                s.last_attempt = Some(a);
                s.interval = interval;
                s.self_heal = self_heal;
                s.branch = branch;
                s.clone_url = url;
                s.provider = provider.to_owned();
            })
            .await
            .map_err(|e| run.transient(e))?;
        self.post(job, &run.context, f.state, &f.description)
            .await
            .map_err(|e| run.transient(e))?;
        self.metrics.reconciled(&env.app, &env.name, outcome);
        tracing::warn!(event = %job.event_id, app = %env.app, env = %env.name, state = f.state.as_str(), description = %f.description, "reconcile failed");
        Ok(())
    }

    /// On the last delivery: posts `error` on every unfinished context, saying the event was
    /// dead-lettered.
    pub async fn give_up(&self, event: &Event, failed: &[String], reason: &str, dlq_subject: &str) {
        let description = format!(
            "gave up after {} deliveries, event moved to {dlq_subject}: {reason}",
            self.config.max_deliver
        );
        let full_name = event
            .repository
            .as_ref()
            .map(|r| r.full_name.clone())
            .unwrap_or_default();
        let trigger = if event.kind() == EventKind::Sync {
            Trigger::Api
        } else {
            Trigger::Webhook
        };
        for context in failed {
            let (app, env) =
                crate::report::context_parts(context).unwrap_or((REPO_WIDE, REPO_WIDE));
            self.metrics
                .reconciled(app, env, AttemptOutcome::DeadLettered);
            if full_name.is_empty() {
                continue;
            }
            let a = attempt(
                &event.after.to_ascii_lowercase(),
                trigger,
                Phase::Report,
                AttemptOutcome::DeadLettered,
                &description,
            );
            if let Err(e) = self
                .state
                .attempted(&EnvKey::new(&full_name, app, env), a)
                .await
            {
                tracing::warn!(error = %chain(&e), "recording the dead-lettered attempt failed");
            }
        }
        let Some(forge) = self.forge_for(event) else {
            return;
        };
        let Some(repo) = &event.repository else {
            return;
        };
        let mut shas = vec![event.after.to_ascii_lowercase()];
        if let Some(pr) = &event.pull_request
            && event.kind() == EventKind::PrMerged
            && !is_zero(&pr.head_sha)
            && pr.head_sha != event.after
        {
            shas.push(pr.head_sha.to_ascii_lowercase());
        }
        for context in failed {
            for sha in &shas {
                if is_zero(sha) || sha == ZERO_SHA {
                    continue;
                }
                let status = CommitStatus {
                    state: State::Error,
                    description: description.clone(),
                    context: context.clone(),
                    target_url: self.target_url(context, sha),
                };
                if let Err(e) = self
                    .reporter
                    .post(
                        &self.metrics,
                        &forge,
                        &repo.full_name,
                        sha,
                        &status,
                        self.config.report_budget,
                    )
                    .await
                {
                    tracing::error!(context, sha, error = %chain(&e), "the dead-letter error status could not be posted; the event is in the DLQ");
                }
            }
        }
    }
}

/// The provider's name as the state keeps it.
pub(crate) fn provider_name(p: i32) -> &'static str {
    match gantry_proto::v1::Provider::try_from(p) {
        Ok(gantry_proto::v1::Provider::Gitea) => "gitea",
        Ok(gantry_proto::v1::Provider::Api) => "api",
        _ => "github",
    }
}

fn retry(failed: Vec<Transient>) -> EventOutcome {
    let reason = failed.first().map(Transient::reason).unwrap_or_default();
    let after = failed.iter().filter_map(Transient::after).max();
    let mut contexts: Vec<String> = failed.into_iter().map(|t| t.context).collect();
    contexts.sort();
    contexts.dedup();
    EventOutcome::Retry {
        reason,
        failed: contexts,
        after,
    }
}
