//! One event, end to end: fetch, plan, then for each environment to deploy (in parallel, up to
//! `concurrency`): lease, render, apply, prune, verify, report, audit. The result tells the
//! worker loop whether to ack or to retry the message.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry_proto::v1::{Event, EventKind, Outcome, Phase, Trigger};
use tokio::sync::{OnceCell, Semaphore};

use crate::apply::{self, ApplyError, Cluster, Ownership};
use crate::audit::{self, Auditor};
use crate::config::{ClusterSource, Config, Forge, ForgeKind};
use crate::error::{Cause, Transient, chain};
use crate::fetch::{self, Credentials, Mirror, Mirrors, Snapshot};
use crate::metrics::Metrics;
use crate::plan::{self, Environment};
use crate::render::{self, RenderFailure, short};
use crate::report::{CommitStatus, ReportError, Reporter, State};
use crate::state::{
    Attempt, AttemptOutcome, EnvKey, EnvState, Lease, ObjectRef, REPO_WIDE, Reported, StateStore,
};
use crate::verify::{self, Verdict};

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
struct Job {
    event_id: String,
    full_name: String,
    revision: String,
    /// Commits that get the statuses: the revision, and a merged pull request's head.
    shas: Vec<String>,
    forge: Option<Forge>,
    audit: audit::Context,
    mirror: Arc<Mirror>,
    snapshot: Arc<Snapshot>,
    /// Deploy every matching environment (a new branch or an unknown `before`).
    force: bool,
    /// What started it.
    trigger: Trigger,
    /// An API sync: only this app and environment, re-applied even when unchanged.
    only: Option<(String, String)>,
    /// Where the repository is fetched from, and which provider announced it; kept in the
    /// state so that the resync can reach every repository ever deployed.
    clone_url: String,
    provider: i32,
}

impl Job {
    fn key(&self, env: &Environment) -> EnvKey {
        EnvKey::new(&self.full_name, &env.app, &env.name)
    }

    fn attempt(&self, phase: Phase, outcome: AttemptOutcome, message: &str) -> Attempt {
        attempt(&self.revision, self.trigger, phase, outcome, message)
    }
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

/// The event's revision compared with one applied revision.
#[derive(Debug, Clone)]
struct Since {
    /// Paths that differ.
    changed: Arc<BTreeSet<String>>,
    /// Whether the event's revision is an ancestor of the applied one.
    older: bool,
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

    /// The cluster named `name`, for the drift check.
    pub(crate) async fn cluster_named(&self, name: &str) -> Result<Arc<Cluster>, ApplyError> {
        self.cluster(name).await
    }

    async fn cluster(&self, name: &str) -> Result<Arc<Cluster>, ApplyError> {
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
    async fn post(
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
                .await?;
        }
        self.metrics.phase("report", started.elapsed());
        Ok(())
    }

    async fn audit(&self, job: &Job, e: audit::Entry<'_>) -> Result<(), Transient> {
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
        let fetched = {
            let mirror = match self.mirrors.mirror(&full_name) {
                Ok(m) => m,
                Err(e) => {
                    return self.repo_failure(&audit_cx, chain(&e), last).await;
                }
            };
            let commit = match fetch::parse_revision(&revision) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(id = %event.id, error = %chain(&e), "event with a malformed revision");
                    return EventOutcome::Done;
                }
            };
            let m = mirror.clone();
            let url = url.clone();
            let before = event.before.to_ascii_lowercase();
            let used = credentials.as_ref().map(|c| c.password.clone());
            let joined = tokio::task::spawn_blocking(move || {
                m.ensure(&url, credentials.as_ref(), commit)?;
                let snap = m.snapshot(commit)?;
                let before_known = fetch::parse_revision(&before)
                    .map(|b| m.has(b))
                    .unwrap_or(false);
                Ok::<_, fetch::GitError>((snap, before_known))
            })
            .await;
            match joined {
                Ok(Ok((snap, before_known))) => (mirror, snap, before_known),
                Ok(Err(e)) => {
                    self.metrics.phase("fetch", started.elapsed());
                    // An installation token the host stopped taking must not be reused.
                    if let Some(token) = used {
                        for app in self.config.forges.iter().filter_map(|f| f.app.as_ref()) {
                            app.invalidate(&token).await;
                        }
                    }
                    return self.repo_failure(&audit_cx, chain(&e), last).await;
                }
                Err(e) => {
                    return self.repo_failure(&audit_cx, chain(&e), last).await;
                }
            }
        };
        let (mirror, snapshot, before_known) = fetched;
        self.metrics.phase("fetch", started.elapsed());
        let force = event.created || is_zero(&event.before) || !before_known;
        let job = Arc::new(Job {
            event_id: event.id.clone(),
            full_name: full_name.clone(),
            revision: revision.clone(),
            shas,
            forge,
            audit: audit_cx,
            mirror,
            snapshot,
            force,
            trigger,
            only,
            clone_url: url,
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
        let Some(text) = job.snapshot.file(plan::GANTRY_FILE) else {
            tracing::info!(repository = %full_name, revision = short(&revision), "no .gantry.yaml at this revision; nothing to deploy");
            return EventOutcome::Done;
        };
        let envs = match plan::parse(&text) {
            Ok(e) => e,
            Err(e) => return self.config_error(&job, "gantry", e.to_string()).await,
        };
        let envs: Vec<Environment> = match &job.only {
            // An API sync names its environment; the branch was looked up from it.
            Some((app, name)) => {
                let one: Vec<Environment> = envs
                    .into_iter()
                    .filter(|e| &e.app == app && &e.name == name)
                    .collect();
                if one.is_empty() {
                    let message = format!(
                        "{}: no environment {name:?} of app {app:?} at {}",
                        plan::GANTRY_FILE,
                        short(&revision)
                    );
                    return self
                        .config_error(&job, &format!("gantry/{app}/{name}"), message)
                        .await;
                }
                one
            }
            None => envs.into_iter().filter(|e| e.branch == branch).collect(),
        };
        if let Some(bad) = envs
            .iter()
            .find(|e| !self.clusters.contains_key(&e.cluster))
        {
            let msg = plan::ConfigError {
                line: bad.cluster_line,
                message: format!(
                    "cluster {:?} of {}/{} is not in the reconciler's config",
                    bad.cluster, bad.app, bad.name
                ),
            };
            return self
                .config_error(&job, &bad.context(), msg.to_string())
                .await;
        }
        let (targets, skipped) = match self.plan(&job, envs).await {
            Ok(t) => t,
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
            .reconciled(REPO_WIDE, REPO_WIDE, AttemptOutcome::Transient.as_str());
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
        let (app, env) = context
            .strip_prefix("gantry/")
            .and_then(|r| r.split_once('/'))
            .unwrap_or(("", ""));
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
                    .reconciled(&key.app, &key.environment, AttemptOutcome::Error.as_str());
                EventOutcome::Done
            }
            Err(e) => retry(vec![Transient::new(context, e)]),
        }
    }

    /// Which environments to deploy: those without a state, with changed settings, or whose
    /// path or render inputs changed since what they last applied; returns those and the
    /// unchanged rest. Superseded and repeated revisions are decided under the lease.
    async fn plan(
        &self,
        job: &Job,
        envs: Vec<Environment>,
    ) -> Result<(Vec<Environment>, Vec<Environment>), Transient> {
        let states: Vec<(Environment, Option<EnvState>)> = {
            let mut futs = Vec::with_capacity(envs.len());
            for env in envs {
                let state = self.state.clone();
                let key = job.key(&env);
                futs.push(async move {
                    let st = state.get(&key).await;
                    (env, st)
                });
            }
            let mut out = Vec::new();
            let results: Vec<_> = futures::StreamExt::collect(futures::StreamExt::buffered(
                futures::stream::iter(futs),
                64,
            ))
            .await;
            for (env, st) in results {
                match st {
                    Ok(s) => out.push((env, s)),
                    Err(e) => {
                        return Err(Transient::new(env.context(), e));
                    }
                }
            }
            out
        };
        let mut diffs: HashMap<String, Option<Since>> = HashMap::new();
        let mut targets = Vec::new();
        let mut skipped = Vec::new();
        for (env, st) in states {
            let deploy = match &st {
                _ if job.only.is_some() => true,
                None => true,
                Some(s) if s.revision.is_empty() => true,
                Some(_) if job.force => true,
                Some(s) if s.revision == job.revision => true,
                Some(s) if s.config_digest != env.digest() => true,
                Some(s) => {
                    let since = match diffs.get(&s.revision) {
                        Some(d) => d.clone(),
                        None => {
                            let d = self.changed_since(job, &s.revision).await;
                            diffs.insert(s.revision.clone(), d.clone());
                            d
                        }
                    };
                    match since {
                        None => true,
                        // An older revision is decided (superseded) under the lease.
                        Some(since) => {
                            since.older || plan::touches(&since.changed, &env.path, &s.inputs)
                        }
                    }
                }
            };
            if deploy {
                targets.push(env);
            } else {
                skipped.push(env);
            }
        }
        Ok((targets, skipped))
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

    /// What changed between `since` and the job's revision, computed once per distinct applied
    /// revision of an event; `None` when `since` is unknown.
    async fn changed_since(&self, job: &Job, since: &str) -> Option<Since> {
        let commit = fetch::parse_revision(since).ok()?;
        let mirror = job.mirror.clone();
        let now = job.snapshot.clone();
        tokio::task::spawn_blocking(move || {
            if !mirror.has(commit) {
                return None;
            }
            let old = mirror.snapshot(commit).ok()?;
            Some(Since {
                changed: Arc::new(old.changed_paths(&now)),
                older: mirror.is_ancestor(now.commit, commit) == Some(true),
            })
        })
        .await
        .ok()
        .flatten()
    }

    /// One environment under its lease.
    async fn environment(&self, job: &Job, env: &Environment) -> Result<(), Transient> {
        let context = env.context();
        let key = job.key(env);
        let lease = self
            .state
            .acquire(&key, self.config.lease_ttl * 2)
            .await
            .map_err(|e| Transient::new(&context, Cause::Lease(e)))?;
        let keep = lease.keep_alive();
        let result = self.deploy(job, env, &lease).await;
        drop(keep);
        lease.release().await;
        if let Err(t) = &result {
            self.metrics
                .reconciled(&env.app, &env.name, AttemptOutcome::Transient.as_str());
            let reason = t.reason();
            let a = job.attempt(Phase::Apply, AttemptOutcome::Transient, &reason);
            if let Err(e) = self.state.attempted(&key, a).await {
                tracing::warn!(error = %chain(&e), "recording the attempt failed");
            }
            tracing::warn!(app = %env.app, env = %env.name, %reason, "reconcile will be retried");
        }
        result
    }

    async fn deploy(&self, job: &Job, env: &Environment, lease: &Lease) -> Result<(), Transient> {
        let context = env.context();
        // A renewal that found the lease taken over means another worker may be writing: stop
        // before the next write and let the redelivery converge.
        let held = || {
            if lease.lost() {
                Err(Transient::new(
                    &context,
                    Cause::LeaseLost {
                        app: env.app.clone(),
                        environment: env.name.clone(),
                    },
                ))
            } else {
                Ok(())
            }
        };
        let rev = short(&job.revision).to_owned();
        let started = Instant::now();
        let key = job.key(env);
        let previous = self
            .state
            .get(&key)
            .await
            .map_err(|e| Transient::new(context.clone(), e))?;
        let entry = |phase: Phase, outcome: Outcome, message: String| audit::Entry {
            app: &env.app,
            environment: &env.name,
            phase,
            outcome,
            message,
            ..Default::default()
        };

        // What was last applied, if anything (a record may hold only failed attempts).
        let applied_before = previous.as_ref().filter(|p| !p.revision.is_empty());
        if let Some(prev) = applied_before {
            // The same revision again (a push and its pr_merged, or a redelivery): report only.
            // An API sync re-applies it instead.
            if prev.revision == job.revision
                && job.only.is_none()
                && let Some(rep) = &prev.reported
            {
                let message = if rep.posted_by == job.event_id {
                    format!(
                        "{rev} is already applied and this event posted its status {}",
                        rep.state.as_str()
                    )
                } else {
                    self.post(job, &context, rep.state, &rep.description)
                        .await
                        .map_err(|e| Transient::new(&context, e))?;
                    format!(
                        "{rev} is already applied; status {} reposted",
                        rep.state.as_str()
                    )
                };
                self.audit(job, entry(Phase::Report, Outcome::Skipped, message))
                    .await?;
                return Ok(());
            }
            // Never go backwards.
            if prev.revision != job.revision
                && let Ok(applied) = fetch::parse_revision(&prev.revision)
                && job.mirror.is_ancestor(job.snapshot.commit, applied) == Some(true)
            {
                self.audit(
                    job,
                    entry(
                        Phase::Apply,
                        Outcome::Superseded,
                        format!(
                            "{rev} is older than {}, which is already applied",
                            short(&prev.revision)
                        ),
                    ),
                )
                .await?;
                self.metrics
                    .reconciled(&env.app, &env.name, AttemptOutcome::Superseded.as_str());
                let a = job.attempt(
                    Phase::Apply,
                    AttemptOutcome::Superseded,
                    &format!(
                        "{rev} is older than {}, which is already applied",
                        short(&prev.revision)
                    ),
                );
                self.state
                    .attempted(&key, a)
                    .await
                    .map_err(|e| Transient::new(context.clone(), e))?;
                return Ok(());
            }
        }

        // Signatures (contract section 11): before anything of the revision is rendered.
        if self.config.trust.required(env) {
            let t = Instant::now();
            let (mirror, commit) = (job.mirror.clone(), job.snapshot.commit);
            let trust = self.config.trust.clone();
            let verdict = tokio::task::spawn_blocking(move || trust.check(&mirror, commit))
                .await
                .map_err(|e| Transient::new(&context, e))?
                .map_err(|e| Transient::new(&context, e))?;
            self.audit(
                job,
                audit::Entry {
                    duration: Some(t.elapsed()),
                    signature: Some(crate::trust::record(&verdict)),
                    ..entry(
                        Phase::Verify,
                        if verdict.trusted() {
                            Outcome::Succeeded
                        } else {
                            Outcome::Denied
                        },
                        crate::trust::message(&job.revision, &verdict),
                    )
                },
            )
            .await?;
            if !verdict.trusted() {
                let description = crate::trust::refusal(&job.revision, &verdict);
                tracing::warn!(event = %job.event_id, app = %env.app, env = %env.name, %description, detail = %verdict.detail, "refused an untrusted commit");
                return self
                    .conclude(job, env, Phase::Verify, State::Error, description)
                    .await;
            }
        }

        self.post(job, &context, State::Pending, &format!("deploying {rev}"))
            .await
            .map_err(|e| Transient::new(&context, e))?;

        // Render.
        let t = Instant::now();
        let snapshot = job.snapshot.clone();
        let env2 = env.clone();
        let rendered = tokio::task::spawn_blocking(move || {
            render::render(&snapshot, &env2).map(|r| {
                let digest = render::inputs_digest(snapshot.as_ref(), &r.inputs);
                (r, digest)
            })
        })
        .await
        .map_err(|e| Transient::new(context.clone(), e))?;
        self.metrics.phase("render", t.elapsed());
        let (rendered, inputs_digest) = match rendered {
            Ok(r) => r,
            Err(e) => {
                let full = chain(&e);
                let description = match &e {
                    RenderFailure::MissingPath { .. } => full.clone(),
                    RenderFailure::Render(_) => format!("render failed: {full}"),
                };
                return self
                    .finish(job, env, Phase::Render, State::Error, description, full)
                    .await;
            }
        };
        if rendered.objects.is_empty() && !env.allow_empty {
            let msg = format!(
                "{} renders no objects at {rev}; nothing applied or pruned (set allowEmpty: true to allow it)",
                env.path
            );
            return self
                .finish(job, env, Phase::Render, State::Error, msg.clone(), msg)
                .await;
        }
        let nondeterministic = !rendered.nondeterministic.is_empty();
        let mut message = format!(
            "rendered {} objects from {} files",
            rendered.objects.len(),
            rendered.inputs.len()
        );
        // Said once per environment (the state remembers it), not on every reconcile.
        if nondeterministic && !previous.as_ref().is_some_and(|p| p.nondeterministic) {
            let why = rendered.nondeterministic.join(", ");
            tracing::warn!(app = %env.app, env = %env.name, functions = %why,
                "the render is nondeterministic: re-rendering the same inputs differs, and is not taken for a change");
            message.push_str(&format!(
                "; nondeterministic ({why}): a re-render of the same inputs differs and is not taken for a change"
            ));
        }
        self.audit(
            job,
            audit::Entry {
                duration: Some(t.elapsed()),
                nondeterministic,
                ..entry(Phase::Render, Outcome::Succeeded, message)
            },
        )
        .await?;

        // A nondeterministic render of the inputs already applied (a forced redeploy, a commit
        // that changed nothing it reads) differs only by its random or time values: applying it
        // would rotate generated passwords and certificates for no change in Git. Keep what is
        // applied and carry its status over to this revision.
        if nondeterministic
            && let Some(prev) = applied_before
            && prev.inputs_digest == inputs_digest
            && prev.config_digest == env.digest()
            && let Some(rep) = &prev.reported
        {
            return self.unchanged_render(job, env, prev, rep).await;
        }

        // Apply.
        held()?;
        let t = Instant::now();
        let cluster = match self.cluster(&env.cluster).await {
            Ok(c) => c,
            Err(e) => {
                return Err(Transient::new(context, e));
            }
        };
        let namespace = env
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let own = Ownership {
            app: &env.app,
            environment: &env.name,
            revision: &job.revision,
            repository: &job.full_name,
            default_namespace: &namespace,
        };
        let applied = match cluster.apply(&rendered.objects, &own).await {
            Ok(a) => a,
            Err(e @ ApplyError::Unavailable { .. }) => {
                let t = Transient::new(context, e);
                let _ = self
                    .audit(
                        job,
                        entry(
                            Phase::Apply,
                            Outcome::Failed,
                            format!("{} (will retry)", t.reason()),
                        ),
                    )
                    .await;
                return Err(t);
            }
            Err(e @ ApplyError::Rejected { .. }) => {
                let full = format!("apply of {rev} refused: {e}");
                return self
                    .finish(job, env, Phase::Apply, State::Failure, full.clone(), full)
                    .await;
            }
            Err(e) => {
                let full = format!("apply of {rev} failed: {e}");
                return self
                    .finish(job, env, Phase::Apply, State::Error, full.clone(), full)
                    .await;
            }
        };
        self.metrics.phase("apply", t.elapsed());
        self.metrics.applied.inc_by(applied.len() as u64);
        self.applied_sets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                key.clone(),
                (job.revision.clone(), Arc::new(applied.clone())),
            );
        self.audit(
            job,
            audit::Entry {
                applied: applied.len() as u32,
                duration: Some(t.elapsed()),
                ..entry(
                    Phase::Apply,
                    Outcome::Succeeded,
                    format!("applied {} objects at {rev}", applied.len()),
                )
            },
        )
        .await?;

        // Prune.
        let t = Instant::now();
        let inventory: Vec<ObjectRef> = applied.iter().map(|a| a.reference.clone()).collect();
        // An environment moved to another cluster leaves nothing stale in the new one; its
        // whole previous inventory is pruned from the old one instead.
        let moved_from = applied_before
            .map(|p| p.cluster.clone())
            .filter(|c| !c.is_empty() && *c != env.cluster);
        let stale: Vec<ObjectRef> = applied_before
            .filter(|_| moved_from.is_none())
            .map(|p| {
                p.inventory
                    .iter()
                    .filter(|old| !inventory.iter().any(|n| apply::same_object(old, n)))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        held()?;
        let pruned = if env.prune && !stale.is_empty() {
            match cluster.prune(&stale, &own).await {
                Ok(p) => p,
                Err(e @ ApplyError::Unavailable { .. }) => {
                    return Err(Transient::new(context, e));
                }
                Err(e) => {
                    let full = format!("prune at {rev} failed: {e}");
                    return self
                        .finish(job, env, Phase::Prune, State::Failure, full.clone(), full)
                        .await;
                }
            }
        } else {
            Vec::new()
        };
        let mut pruned = pruned;
        if let (Some(old), Some(prev), true) = (&moved_from, applied_before, env.prune) {
            match self.cluster(old).await {
                Ok(c) => match c.prune(&prev.inventory, &own).await {
                    Ok(p) => pruned.extend(p),
                    Err(e @ ApplyError::Unavailable { .. }) => {
                        return Err(Transient::new(
                            context,
                            Cause::PruneMoved {
                                cluster: old.clone(),
                                source: e,
                            },
                        ));
                    }
                    Err(e) => {
                        let full = format!("prune from cluster {old} at {rev} failed: {e}");
                        return self
                            .finish(job, env, Phase::Prune, State::Failure, full.clone(), full)
                            .await;
                    }
                },
                // A cluster no longer configured cannot be cleaned; say so and go on.
                Err(e) => {
                    tracing::warn!(app = %env.app, env = %env.name, cluster = %old, error = %chain(&e), "cannot prune from the previous cluster");
                }
            }
        }
        self.metrics.phase("prune", t.elapsed());
        self.metrics.pruned.inc_by(pruned.len() as u64);
        self.audit(
            job,
            audit::Entry {
                pruned: pruned.len() as u32,
                duration: Some(t.elapsed()),
                ..entry(
                    Phase::Prune,
                    if env.prune {
                        Outcome::Succeeded
                    } else {
                        Outcome::Skipped
                    },
                    if env.prune {
                        format!("pruned {} objects", pruned.len())
                    } else {
                        format!("prune is off; {} objects left in place", stale.len())
                    },
                )
            },
        )
        .await?;
        held()?;
        let mut state = EnvState {
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
            inputs: rendered.inputs.iter().cloned().collect(),
            inventory,
            reported: None,
            applied_at: time::OffsetDateTime::now_utc().unix_timestamp(),
            inputs_digest,
            nondeterministic,
            last_attempt: previous.as_ref().and_then(|p| p.last_attempt.clone()),
            last_check: None,
        };
        self.state
            .put(&key, &state)
            .await
            .map_err(|e| Transient::new(context.clone(), e))?;
        self.metrics
            .last_applied
            .get_or_create(&crate::metrics::EnvLabels {
                app: env.app.clone(),
                environment: env.name.clone(),
            })
            .set(state.applied_at);

        // Verify.
        let t = Instant::now();
        let verdict = match verify::verify(
            &cluster,
            &applied,
            env.health_timeout,
            self.config.verify_interval,
        )
        .await
        {
            Ok(v) => v,
            Err(e @ ApplyError::Unavailable { .. }) => {
                return Err(Transient::new(context, e));
            }
            Err(e) => Verdict::Failed(chain(&e)),
        };
        self.metrics.phase("verify", t.elapsed());
        let (final_state, description, outcome, metric) = match &verdict {
            Verdict::Healthy => (
                State::Success,
                format!(
                    "deployed {rev} in {:.1}s: {} objects applied, {} pruned",
                    started.elapsed().as_secs_f64(),
                    applied.len(),
                    pruned.len()
                ),
                Outcome::Succeeded,
                "success",
            ),
            Verdict::Failed(why) => (
                State::Failure,
                format!("{rev} is unhealthy: {why}"),
                Outcome::Failed,
                "failure",
            ),
        };
        self.audit(
            job,
            audit::Entry {
                duration: Some(t.elapsed()),
                ..entry(Phase::Verify, outcome, description.clone())
            },
        )
        .await?;
        state.reported = Some(Reported {
            state: final_state,
            description: description.clone(),
            posted_by: String::new(),
        });
        let outcome_of = if final_state == State::Success {
            AttemptOutcome::Success
        } else {
            AttemptOutcome::Failure
        };
        state.last_attempt = Some(job.attempt(Phase::Verify, outcome_of, &description));
        self.state
            .put(&key, &state)
            .await
            .map_err(|e| Transient::new(context.clone(), e))?;
        self.post(job, &context, final_state, &description)
            .await
            .map_err(|e| Transient::new(&context, e))?;
        // Remember that this event posted it. Should this write fail, a redelivery posts the
        // status once more, which is the lesser harm than never posting it.
        if let Some(rep) = state.reported.as_mut() {
            rep.posted_by = job.event_id.clone();
            if let Err(e) = self.state.put(&key, &state).await {
                tracing::warn!(error = %chain(&e), "recording the posted status failed");
            }
        }
        self.audit(
            job,
            entry(
                Phase::Report,
                Outcome::Succeeded,
                format!("posted {} on {}", final_state.as_str(), job.shas.join(", ")),
            ),
        )
        .await?;
        self.metrics.reconciled(&env.app, &env.name, metric);
        tracing::info!(event = %job.event_id, app = %env.app, env = %env.name, revision = %rev, state = final_state.as_str(), %description, "reconciled");
        Ok(())
    }

    /// A nondeterministic re-render of unchanged inputs: nothing is applied or pruned; the
    /// state moves to this revision and the applied revision's status is posted on it.
    async fn unchanged_render(
        &self,
        job: &Job,
        env: &Environment,
        prev: &EnvState,
        rep: &Reported,
    ) -> Result<(), Transient> {
        let context = env.context();
        let rev = short(&job.revision).to_owned();
        let since = short(&prev.revision).to_owned();
        self.audit(
            job,
            audit::Entry {
                app: &env.app,
                environment: &env.name,
                phase: Phase::Apply,
                outcome: Outcome::Skipped,
                message: format!(
                    "no input of {} changed since {since}; its nondeterministic re-render is not a change, so nothing is applied",
                    env.path
                ),
                nondeterministic: true,
                ..Default::default()
            },
        )
        .await?;
        let description = format!("{rev}: no input changed since {since}; {}", rep.description);
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
        self.state
            .put(&job.key(env), &state)
            .await
            .map_err(|e| Transient::new(context.clone(), e))?;
        self.post(job, &context, rep.state, &description)
            .await
            .map_err(|e| Transient::new(&context, e))?;
        self.audit(
            job,
            audit::Entry {
                app: &env.app,
                environment: &env.name,
                phase: Phase::Report,
                outcome: Outcome::Succeeded,
                message: format!("posted {} on {}", rep.state.as_str(), job.shas.join(", ")),
                ..Default::default()
            },
        )
        .await?;
        self.metrics.reconciled(&env.app, &env.name, "unchanged");
        Ok(())
    }

    /// Ends a reconcile that failed for good: audit the full text, post the cut status.
    async fn finish(
        &self,
        job: &Job,
        env: &Environment,
        phase: Phase,
        state: State,
        description: String,
        full: String,
    ) -> Result<(), Transient> {
        self.audit(
            job,
            audit::Entry {
                app: &env.app,
                environment: &env.name,
                phase,
                outcome: Outcome::Failed,
                message: full,
                ..Default::default()
            },
        )
        .await?;
        self.conclude(job, env, phase, state, description).await
    }

    /// Records the failed attempt in the state, posts its status and counts it (after its audit
    /// record was written).
    async fn conclude(
        &self,
        job: &Job,
        env: &Environment,
        phase: Phase,
        state: State,
        description: String,
    ) -> Result<(), Transient> {
        let context = env.context();
        let outcome = if state == State::Failure {
            AttemptOutcome::Failure
        } else {
            AttemptOutcome::Error
        };
        let a = job.attempt(phase, outcome, &description);
        let (branch, url, provider) = (
            env.branch.clone(),
            job.clone_url.clone(),
            provider_name(job.provider),
        );
        let interval = env.interval.map_or(0, |d| d.as_secs());
        let self_heal = env.self_heal;
        self.state
            .update(&job.key(env), move |s| {
                s.last_attempt = Some(a);
                s.interval = interval;
                s.self_heal = self_heal;
                s.branch = branch;
                s.clone_url = url;
                s.provider = provider.to_owned();
            })
            .await
            .map_err(|e| Transient::new(context.clone(), e))?;
        self.post(job, &context, state, &description)
            .await
            .map_err(|e| Transient::new(&context, e))?;
        self.metrics
            .reconciled(&env.app, &env.name, outcome.as_str());
        tracing::warn!(event = %job.event_id, app = %env.app, env = %env.name, state = state.as_str(), %description, "reconcile failed");
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
            let (app, env) = context
                .strip_prefix("gantry/")
                .and_then(|r| r.split_once('/'))
                .unwrap_or((REPO_WIDE, REPO_WIDE));
            self.metrics
                .reconciled(app, env, AttemptOutcome::DeadLettered.as_str());
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
