//! Command-line options and the `send` command: one load run against a URL.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use crate::driver::{self, ClientKind, Load, Outcome, Plan, Target};
use crate::payload::{self, DeliveryIds};
use crate::report;

/// `gantry-load send`: one run against a receiver that is already up.
#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// Where to send: http:// on 127.0.0.0/8, localhost or [::1] only.
    #[arg(
        long,
        env = "GANTRY_LOAD_URL",
        default_value = "http://127.0.0.1:8080/webhooks/github"
    )]
    pub url: String,
    /// Signs each body (HMAC-SHA256, `X-Hub-Signature-256`); the first of a comma-separated list.
    #[arg(long, env = "GANTRY_WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Send bodiless GETs (e.g. to /healthz) instead of webhooks.
    #[arg(long)]
    pub get: bool,
    /// Open loop: this many requests per second, latency from each request's due time.
    /// Without it: closed loop, each connection sends again as soon as it is answered.
    #[arg(long, env = "GANTRY_LOAD_RATE")]
    pub rate: Option<f64>,
    /// Connections (closed loop) or most requests in flight (open loop).
    #[arg(long, env = "GANTRY_LOAD_CONCURRENCY", default_value_t = 64)]
    pub concurrency: usize,
    /// How long to send [default: 10s, or 10m when --requests is given].
    #[arg(long, env = "GANTRY_LOAD_DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Stop after this many requests, if that comes before --duration.
    #[arg(long, env = "GANTRY_LOAD_REQUESTS")]
    pub requests: Option<u64>,
    /// Unmeasured load before the run, to warm connections and caches.
    #[arg(long, env = "GANTRY_LOAD_WARMUP", default_value = "0s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Distinct bodies generated (and signed) before the run; requests cycle through them.
    #[arg(long, env = "GANTRY_LOAD_PAYLOADS", default_value_t = 1024)]
    pub payloads: usize,
    /// Seed for the payload generator.
    #[arg(long, env = "GANTRY_LOAD_SEED", default_value_t = 1)]
    pub seed: u64,
    /// A request unanswered after this counts as a timeout.
    #[arg(long, env = "GANTRY_LOAD_REQUEST_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
    /// HTTP client (hyper is cheaper per request; reqwest is there to compare).
    #[arg(long, env = "GANTRY_LOAD_CLIENT", value_enum, default_value_t = ClientKind::Hyper)]
    pub client: ClientKind,
}

impl SendArgs {
    /// The run's pacing and bounds: `--duration` defaults to 10s, or 10 minutes as an upper
    /// bound when only `--requests` is given.
    pub fn plan(&self) -> Plan {
        let duration = self.duration.unwrap_or(if self.requests.is_some() {
            Duration::from_secs(600)
        } else {
            Duration::from_secs(10)
        });
        Plan {
            concurrency: self.concurrency,
            rate: self.rate,
            duration,
            requests: self.requests,
            request_timeout: self.request_timeout,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.concurrency == 0 {
            return Err(BadOption::new("--concurrency must be at least 1").into());
        }
        if self.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
            return Err(BadOption::new("--rate must be a positive number").into());
        }
        if self.payloads == 0 {
            return Err(BadOption::new("--payloads must be at least 1").into());
        }
        if !self.get && self.secret.as_deref().is_none_or(str::is_empty) {
            return Err(BadOption::new(
                "--secret (or GANTRY_WEBHOOK_SECRET) is required to sign webhooks",
            )
            .into());
        }
        Ok(())
    }
}

/// A bad command-line option; the binary exits with code 64 for it, as the contract asks.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadOption(pub String);

impl BadOption {
    pub fn new(message: impl Into<String>) -> BadOption {
        BadOption(message.into())
    }
}

/// The first secret of a comma-separated list, as the receiver's `GANTRY_WEBHOOK_SECRET` takes.
pub fn first_secret(s: &str) -> &str {
    s.split(',').next().unwrap_or(s).trim()
}

/// `gantry-load bench`: starts nats-server and the receiver and measures them (see `bench`).
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// The receiver binary [default: gantry-receiver next to this executable].
    #[arg(long, env = "GANTRY_LOAD_RECEIVER_BIN")]
    pub receiver_bin: Option<std::path::PathBuf>,
    /// Do not run `cargo build -p gantry-receiver` first (only done when started by cargo
    /// and --receiver-bin is not given).
    #[arg(long)]
    pub no_build: bool,
    /// Connections for the webhook, /healthz and JetStream phases.
    #[arg(long, env = "GANTRY_LOAD_CONCURRENCY", default_value_t = 64)]
    pub concurrency: usize,
    /// Length of each measured phase.
    #[arg(long, env = "GANTRY_LOAD_DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Unmeasured webhooks before the first phase.
    #[arg(long, env = "GANTRY_LOAD_WARMUP", default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// The fixed rate of phase (d), webhooks per second.
    #[arg(long, env = "GANTRY_LOAD_RATE", default_value_t = 1000.0)]
    pub rate: f64,
    /// Distinct bodies generated (and signed) before the run.
    #[arg(long, env = "GANTRY_LOAD_PAYLOADS", default_value_t = 1024)]
    pub payloads: usize,
    /// Seed for the payload generator.
    #[arg(long, env = "GANTRY_LOAD_SEED", default_value_t = 1)]
    pub seed: u64,
    /// HTTP client for the HTTP phases.
    #[arg(long, env = "GANTRY_LOAD_CLIENT", value_enum, default_value_t = ClientKind::Hyper)]
    pub client: ClientKind,
    /// Run only the /healthz phase (to compare HTTP clients: the client must not be the limit).
    #[arg(long)]
    pub healthz_only: bool,
    /// Drive the closed-loop phases (a) and (b) with wrk: `auto` when it is on PATH.
    #[arg(long, env = "GANTRY_LOAD_WRK", value_enum, default_value_t = WrkUse::Auto)]
    pub wrk: WrkUse,
    /// wrk's threads (`-t`).
    #[arg(long, env = "GANTRY_LOAD_WRK_THREADS", default_value_t = 2)]
    pub wrk_threads: usize,
    /// Also measure against a JetStream cluster of this many nats-servers, with streams of as
    /// many replicas (3: R3), and print its stored webhooks/s beside the single server's.
    #[arg(long, env = "GANTRY_LOAD_NATS_CLUSTER", default_value_t = 0)]
    pub nats_cluster: usize,
}

/// `gantry-load pipeline`: starts nats-server, the receiver, reconciler workers and both
/// emulators, and measures webhook-to-status latency, events/s and a big repository's full sync.
#[derive(Debug, Clone, clap::Args)]
pub struct PipelineArgs {
    /// The receiver binary [default: gantry-receiver next to this executable].
    #[arg(long, env = "GANTRY_LOAD_RECEIVER_BIN")]
    pub receiver_bin: Option<std::path::PathBuf>,
    /// The reconciler binary [default: gantry-reconciler next to this executable].
    #[arg(long, env = "GANTRY_LOAD_RECONCILER_BIN")]
    pub reconciler_bin: Option<std::path::PathBuf>,
    /// Do not run `cargo build` for the receiver and the reconciler first (only done when
    /// started by cargo and their --…-bin flag is not given).
    #[arg(long)]
    pub no_build: bool,
    /// Latency samples: one-app changes, each timed from POST to its `success` status.
    #[arg(long, env = "GANTRY_LOAD_ROUNDS", default_value_t = 30)]
    pub rounds: usize,
    /// Apps of the big repository (3 environments each).
    #[arg(long, env = "GANTRY_LOAD_APPS", default_value_t = 1000)]
    pub apps: usize,
    /// `--concurrency` of the big repository's worker.
    #[arg(long, env = "GANTRY_LOAD_WORKER_CONCURRENCY", default_value_t = 32)]
    pub concurrency: usize,
    /// Tiny sizes (3 rounds, 4 apps, a 10-app big repository), for CI.
    #[arg(long)]
    pub smoke: bool,
}

/// Whether `bench` drives its closed-loop phases with wrk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WrkUse {
    /// wrk when it is on PATH, else `--client`.
    Auto,
    /// wrk, or fail when it is missing.
    Always,
    /// Never: `--client` for every phase.
    Never,
}

/// Runs `args` once (after an unmeasured warm-up, if asked) and prints the summary.
pub async fn send(args: &SendArgs) -> Result<Outcome> {
    args.validate()?;
    let target = Target::parse(&args.url).map_err(|e| BadOption::new(format!("{e:#}")))?;
    let (load, what) = if args.get {
        (Load::Get, format!("GET {}", target.url))
    } else {
        let secret = first_secret(args.secret.as_deref().unwrap_or_default());
        let hooks = payload::generate(args.payloads, secret.as_bytes(), args.seed)?;
        let what = format!("POST {} ({})", target.url, describe_payloads(&hooks));
        let load = Load::Webhooks {
            hooks: Arc::new(hooks),
            ids: Arc::new(DeliveryIds::new()),
        };
        (load, what)
    };
    let plan = args.plan();
    if !args.warmup.is_zero() {
        let warm = Plan {
            duration: args.warmup,
            requests: None,
            ..plan.clone()
        };
        driver::run(&target, &load, &warm, args.client).await?;
    }
    let mode = match plan.rate {
        Some(r) => format!(
            "open loop at {}/s, up to {} in flight, {}{}",
            report::thousands(r),
            plan.concurrency,
            report::secs(plan.duration),
            plan.requests
                .map(|n| format!(" or {n} requests"))
                .unwrap_or_default()
        ),
        None => format!(
            "closed loop, {} connections, {}{}",
            plan.concurrency,
            report::secs(plan.duration),
            plan.requests
                .map(|n| format!(" or {n} requests"))
                .unwrap_or_default()
        ),
    };
    let outcome = driver::run(&target, &load, &plan, args.client).await?;
    print!("{}", report::summary(&what, &mode, &outcome));
    Ok(outcome)
}

/// `1024 push payloads, 4.0–8.0 KiB, mean 6.0 KiB`.
pub fn describe_payloads(hooks: &[payload::Webhook]) -> String {
    let sizes = hooks.iter().map(|h| h.body.len());
    let min = sizes.clone().min().unwrap_or(0);
    let max = sizes.clone().max().unwrap_or(0);
    let mean = sizes.sum::<usize>() as f64 / hooks.len().max(1) as f64;
    format!(
        "{} push payloads, {:.1}–{:.1} KiB, mean {:.1} KiB",
        hooks.len(),
        min as f64 / 1024.0,
        max as f64 / 1024.0,
        mean / 1024.0
    )
}
