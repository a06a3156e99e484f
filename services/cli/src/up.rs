//! `gantry up`: the whole pipeline on one machine (contract section 8). A NATS server with
//! JetStream, the Kubernetes API emulator, a Git host emulator serving a seeded example platform
//! repository, the receiver, one reconciler and the self-service API, until Ctrl-C. A second `gantry up` on the same
//! `--dir` resumes: same ports, same repository, same JetStream and cluster state.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use gantry_forge_sim::hooks::{Flavor, Webhook};
use gantry_forge_sim::hosting::HostingConfig;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// The repository `gantry up` seeds and deploys from.
pub const REPOSITORY: &str = "acme/platform";

/// The repository holding the self-service API's RBAC rules.
pub const RBAC_REPOSITORY: &str = "acme/platform-rbac";

/// The rules the sandbox starts with: its static token may do everything.
const RBAC_YAML: &str = include_str!("../sandbox/platform-rbac/rbac.yaml");

/// The example platform, written into the seeded repository's first commit.
const PLATFORM: &[(&str, &str)] = &[
    (
        ".gantry.yaml",
        include_str!("../sandbox/platform/gantry.yaml"),
    ),
    ("README.md", include_str!("../sandbox/platform/README.md")),
    (
        "apps/payments/base/kustomization.yaml",
        include_str!("../sandbox/platform/apps/payments/base/kustomization.yaml"),
    ),
    (
        "apps/payments/base/deployment.yaml",
        include_str!("../sandbox/platform/apps/payments/base/deployment.yaml"),
    ),
    (
        "apps/payments/base/service.yaml",
        include_str!("../sandbox/platform/apps/payments/base/service.yaml"),
    ),
    (
        "apps/payments/overlays/dev/kustomization.yaml",
        include_str!("../sandbox/platform/apps/payments/overlays/dev/kustomization.yaml"),
    ),
    (
        "apps/payments/overlays/dev/namespace.yaml",
        include_str!("../sandbox/platform/apps/payments/overlays/dev/namespace.yaml"),
    ),
    (
        "apps/payments/overlays/prod/kustomization.yaml",
        include_str!("../sandbox/platform/apps/payments/overlays/prod/kustomization.yaml"),
    ),
    (
        "apps/payments/overlays/prod/namespace.yaml",
        include_str!("../sandbox/platform/apps/payments/overlays/prod/namespace.yaml"),
    ),
    (
        "apps/web/base/kustomization.yaml",
        include_str!("../sandbox/platform/apps/web/base/kustomization.yaml"),
    ),
    (
        "apps/web/base/deployment.yaml",
        include_str!("../sandbox/platform/apps/web/base/deployment.yaml"),
    ),
    (
        "apps/web/base/service.yaml",
        include_str!("../sandbox/platform/apps/web/base/service.yaml"),
    ),
    (
        "apps/web/overlays/dev/kustomization.yaml",
        include_str!("../sandbox/platform/apps/web/overlays/dev/kustomization.yaml"),
    ),
    (
        "apps/web/overlays/dev/namespace.yaml",
        include_str!("../sandbox/platform/apps/web/overlays/dev/namespace.yaml"),
    ),
    (
        "apps/web/overlays/prod/kustomization.yaml",
        include_str!("../sandbox/platform/apps/web/overlays/prod/kustomization.yaml"),
    ),
    (
        "apps/web/overlays/prod/namespace.yaml",
        include_str!("../sandbox/platform/apps/web/overlays/prod/namespace.yaml"),
    ),
    (
        "apps/catalog/chart/Chart.yaml",
        include_str!("../sandbox/platform/apps/catalog/chart/Chart.yaml"),
    ),
    (
        "apps/catalog/chart/values.yaml",
        include_str!("../sandbox/platform/apps/catalog/chart/values.yaml"),
    ),
    (
        "apps/catalog/chart/values.schema.json",
        include_str!("../sandbox/platform/apps/catalog/chart/values.schema.json"),
    ),
    (
        "apps/catalog/chart/templates/_helpers.tpl",
        include_str!("../sandbox/platform/apps/catalog/chart/templates/_helpers.tpl"),
    ),
    (
        "apps/catalog/chart/templates/configmap.yaml",
        include_str!("../sandbox/platform/apps/catalog/chart/templates/configmap.yaml"),
    ),
    (
        "apps/catalog/chart/templates/deployment.yaml",
        include_str!("../sandbox/platform/apps/catalog/chart/templates/deployment.yaml"),
    ),
    (
        "apps/catalog/chart/templates/service.yaml",
        include_str!("../sandbox/platform/apps/catalog/chart/templates/service.yaml"),
    ),
    (
        "apps/catalog/chart/templates/NOTES.txt",
        include_str!("../sandbox/platform/apps/catalog/chart/templates/NOTES.txt"),
    ),
    (
        "apps/catalog/values-dev.yaml",
        include_str!("../sandbox/platform/apps/catalog/values-dev.yaml"),
    ),
    (
        "apps/catalog/values-prod.yaml",
        include_str!("../sandbox/platform/apps/catalog/values-prod.yaml"),
    ),
];

/// Names the `nats-server` binary when `--nats-server-bin` is not given.
pub const ENV_NATS_SERVER_BIN: &str = "GANTRY_NATS_SERVER_BIN";
/// `--shutdown-grace`'s environment variable, the same as every service's.
pub const ENV_SHUTDOWN_GRACE: &str = gantry_config::ENV_SHUTDOWN_GRACE;

/// Which Git host the sandbox imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// GitHub's webhooks and commit-status API.
    Github,
    /// Gitea's webhooks and commit-status API.
    Gitea,
}

impl Provider {
    fn name(self) -> &'static str {
        match self {
            Provider::Github => "github",
            Provider::Gitea => "gitea",
        }
    }
}

/// Options of `gantry up`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the sandbox keeps its state and writes sandbox.json.
    #[arg(long, default_value = crate::locate::DEFAULT_SANDBOX_DIR)]
    pub dir: PathBuf,
    /// Which Git host to imitate.
    #[arg(long, value_enum, default_value = "github")]
    pub provider: Provider,
    /// The nats-server binary [default: $GANTRY_NATS_SERVER_BIN, else nats-server on PATH]
    #[arg(long)]
    pub nats_server_bin: Option<PathBuf>,
    /// How long SIGTERM or Ctrl-C may take to stop everything; the receiver and reconciler
    /// drain within it, and whatever still waits then is abandoned.
    #[arg(long, env = ENV_SHUTDOWN_GRACE, default_value = "25s", value_parser = gantry_config::parse_duration)]
    pub shutdown_grace: Duration,
    /// How often the reconciler compares every environment with its branch head and live
    /// objects (at least 5s).
    #[arg(long, default_value = "5m", value_parser = gantry_config::parse_duration)]
    pub resync_interval: Duration,
    /// Every environment deploys only commits signed by a trusted key (contract section 11).
    #[arg(long)]
    pub require_signed_commits: bool,
    /// Armored OpenPGP public keys to trust (`gpg --export --armor KEY`); repeatable.
    #[arg(long = "openpgp-keys")]
    pub openpgp_keys: Vec<PathBuf>,
    /// SSH keys to trust, in git's `gpg.ssh.allowedSignersFile` format.
    #[arg(long)]
    pub allowed_signers: Option<PathBuf>,
    /// The trust policy built from the three flags above.
    #[arg(skip)]
    pub trust: gantry_reconciler::trust::Trust,
    /// An OIDC issuer whose tokens gantry-api also accepts (besides the sandbox's static token).
    #[arg(long, requires = "oidc_audience")]
    pub oidc_issuer: Option<String>,
    /// The audience those tokens must carry.
    #[arg(long, requires = "oidc_issuer")]
    pub oidc_audience: Option<String>,
}

/// `DIR/sandbox.json`, as the contract fixes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SandboxJson {
    /// Clone URL of the seeded repository.
    pub git_url: String,
    /// `owner/name`.
    pub repository: String,
    /// `github` or `gitea`.
    pub provider: String,
    /// Kubeconfig path for kubectl.
    pub kubeconfig: String,
    /// Base URL of the provider's REST API.
    pub forge_api: String,
    /// Base URL of the receiver.
    pub receiver: String,
    /// The NATS URL.
    pub nats_url: String,
    /// Base URL of the reconciler's `/metrics`.
    #[serde(default)]
    pub reconciler: String,
    /// Base URL of gantry-api.
    #[serde(default)]
    pub api: String,
    /// A static token the RBAC repository grants every action.
    #[serde(default)]
    pub api_token: String,
    /// Clone URL of the RBAC repository.
    #[serde(default)]
    pub rbac_git_url: String,
}

/// Ports and secrets kept across runs, so that clones and kubeconfigs stay valid.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Persisted {
    ports: BTreeMap<String, u16>,
    webhook_secret: String,
    forge_token: String,
    provider: Option<Provider>,
    #[serde(default)]
    api_token: String,
}

/// Runs `gantry up` until Ctrl-C or SIGTERM.
pub fn run(mut args: Args) -> ExitCode {
    if args.resync_interval < Duration::from_secs(5) {
        eprintln!("gantry up: invalid --resync-interval: must be at least 5s");
        return ExitCode::from(gantry_config::EXIT_CONFIG);
    }
    match sandbox_trust(&args) {
        Ok(t) => args.trust = t,
        Err(m) => {
            eprintln!("gantry up: {m}");
            return ExitCode::from(gantry_config::EXIT_CONFIG);
        }
    }
    // Every component logs through one subscriber; `GANTRY_LOG_LEVEL` tunes it.
    let _telemetry = gantry_telemetry::init(gantry_telemetry::Options {
        service_name: "gantry-sandbox",
        json: false,
        filter: std::env::var(gantry_config::ENV_LOG_LEVEL)
            .unwrap_or_else(|_| gantry_config::DEFAULT_LOG_LEVEL.to_owned()),
        otlp_endpoint: std::env::var(gantry_telemetry::OTEL_EXPORTER_OTLP_ENDPOINT).ok(),
    });
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gantry up: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match rt.block_on(up(args, gantry_config::cli::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gantry up: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    };
    // Tasks abandoned at the end of the grace must not hold the process.
    rt.shutdown_timeout(Duration::from_millis(200));
    code
}

/// The reconciler's trust policy from `--require-signed-commits`, `--openpgp-keys` and
/// `--allowed-signers`: with the first, every app and environment requires a signature.
fn sandbox_trust(args: &Args) -> Result<gantry_reconciler::trust::Trust, String> {
    let policy = gantry_trust::Policy::load(&args.openpgp_keys, args.allowed_signers.as_deref())
        .map_err(|e| e.to_string())?;
    if args.require_signed_commits && policy.openpgp.is_empty() && policy.ssh.is_empty() {
        return Err(
            "--require-signed-commits needs a trusted key: --openpgp-keys FILE or --allowed-signers FILE"
                .into(),
        );
    }
    let require = if args.require_signed_commits {
        vec![gantry_reconciler::trust::Require {
            app: "*".into(),
            environment: "*".into(),
        }]
    } else {
        Vec::new()
    };
    Ok(gantry_reconciler::trust::Trust { policy, require })
}

/// 69 when the NATS server cannot be used (too old, or refusing the streams, consumer or
/// bucket), as the receiver and reconciler exit; 1 otherwise.
fn exit_code(e: &anyhow::Error) -> u8 {
    let unusable_nats = e.chain().any(|c| {
        c.is::<gantry_nats::Error>()
            || matches!(
                c.downcast_ref::<gantry_receiver::Error>(),
                Some(gantry_receiver::Error::Nats(_))
            )
            || c.downcast_ref::<gantry_reconciler::Error>()
                .is_some_and(|r| r.exit_code() == gantry_nats::EXIT_UNAVAILABLE)
    });
    if unusable_nats {
        gantry_nats::EXIT_UNAVAILABLE
    } else {
        1
    }
}

/// Connects once to the sandbox's NATS server and refuses it when it is older than Gantry
/// supports, before anything else starts on it.
async fn check_nats(url: &str) -> Result<()> {
    let client = tokio::time::timeout(Duration::from_secs(10), async_nats::connect(url))
        .await
        .context("nats-server did not answer within 10s")?
        .with_context(|| format!("connecting to {url}"))?;
    gantry_nats::check_server(&client)?;
    Ok(())
}

fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Binds `name`'s remembered port when it is free, else a new one, and remembers it.
fn bind(p: &mut Persisted, name: &str) -> Result<TcpListener> {
    if let Some(&port) = p.ports.get(name)
        && let Ok(l) = TcpListener::bind(("127.0.0.1", port))
    {
        return Ok(l);
    }
    let l =
        TcpListener::bind("127.0.0.1:0").with_context(|| format!("binding a port for {name}"))?;
    p.ports.insert(name.to_owned(), l.local_addr()?.port());
    Ok(l)
}

fn find_nats_server(flag: Option<PathBuf>) -> PathBuf {
    if let Some(p) = flag {
        return p;
    }
    if let Some(p) = std::env::var_os(ENV_NATS_SERVER_BIN) {
        return PathBuf::from(p);
    }
    PathBuf::from("nats-server")
}

async fn wait_for_port(addr: SocketAddr, what: &str) -> Result<()> {
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{what} did not listen on {addr} within 15s")
}

async fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let out = tokio::process::Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=Gantry Sandbox",
            "-c",
            "user.email=sandbox@gantry.invalid",
        ])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Pushes the example platform as the repository's first commit, through the Git host's smart
/// HTTP endpoint, so that the push fires the webhook that starts the first deployment.
async fn seed(git_url: &str) -> Result<()> {
    let work = tempfile::tempdir()?;
    for (path, text) in PLATFORM {
        let p = work.path().join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&p, text)?;
    }
    git(work.path(), &["init", "-q", "-b", "main"]).await?;
    git(work.path(), &["add", "."]).await?;
    git(
        work.path(),
        &[
            "commit",
            "-q",
            "-m",
            "Example platform: payments and web, dev and prod",
        ],
    )
    .await?;
    git(work.path(), &["push", "-q", git_url, "main"]).await?;
    Ok(())
}

/// Pushes `files` as a repository's first commit.
async fn seed_files(git_url: &str, files: &[(&str, &str)], message: &str) -> Result<()> {
    let work = tempfile::tempdir()?;
    for (path, text) in files {
        std::fs::write(work.path().join(path), text)?;
    }
    git(work.path(), &["init", "-q", "-b", "main"]).await?;
    git(work.path(), &["add", "."]).await?;
    git(work.path(), &["commit", "-q", "-m", message]).await?;
    git(work.path(), &["push", "-q", git_url, "main"]).await?;
    Ok(())
}

/// gantry-api's configuration in the sandbox: both repositories through the sandbox forge, the
/// rules from the RBAC repository, the sandbox token, and the OIDC issuer when one was given.
#[allow(clippy::too_many_arguments)]
fn api_config(
    args: &Args,
    p: &Persisted,
    nats_url: &str,
    dir: &Path,
    forge_url: &str,
    forge_kind: gantry_reconciler::config::ForgeKind,
    git_url: &str,
) -> Result<gantry_api::Config> {
    let mut c = gantry_api::Config::for_tests(nats_url, &dir.join("api"));
    c.forges = vec![gantry_api::config::Forge {
        name: "sandbox".to_owned(),
        kind: match forge_kind {
            gantry_reconciler::config::ForgeKind::Gitea => gantry_api::config::ForgeKind::Gitea,
            _ => gantry_api::config::ForgeKind::Github,
        },
        api_url: forge_url.to_owned(),
        token: p.forge_token.clone(),
    }];
    c.repositories = [
        (REPOSITORY, git_url.to_owned()),
        (
            RBAC_REPOSITORY,
            format!("{forge_url}/{RBAC_REPOSITORY}.git"),
        ),
    ]
    .into_iter()
    .map(|(name, url)| gantry_api::config::Repository {
        full_name: name.to_owned(),
        forge: Some("sandbox".to_owned()),
        clone_url: url,
        credentials: None,
    })
    .collect();
    c.tokens = gantry_api::tokens::StaticTokens::parse(&format!(
        "sandbox {} sandbox\n",
        gantry_api::tokens::hash_token(&p.api_token)
    ))
    .map_err(anyhow::Error::msg)?;
    c.rbac = gantry_api::config::RbacSource::Git {
        repository: RBAC_REPOSITORY.to_owned(),
        branch: "main".to_owned(),
        path: "rbac.yaml".to_owned(),
    };
    c.shutdown_grace = args.shutdown_grace;
    if let (Some(issuer), Some(audience)) = (&args.oidc_issuer, &args.oidc_audience) {
        c.oidc = Some(gantry_api::config::Oidc {
            issuer: issuer.trim_end_matches('/').to_owned(),
            audience: audience.clone(),
            groups_claim: "groups".to_owned(),
            jwks_min_refetch: gantry_api::oidc::DEFAULT_MIN_REFETCH,
        });
    }
    Ok(c)
}

/// Waits (up to 30s) until gantry-api has read its rules and repositories, so that the guide's
/// curl line works as soon as it is printed.
async fn wait_api_ready(api_url: &str) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{api_url}/readyz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("gantry up: gantry-api is not ready yet; see {api_url}/readyz");
}

/// Starts everything, writes sandbox.json, prints the guide, and runs until `shutdown` or until
/// the receiver or reconciler stops on an error; `--shutdown-grace` bounds the stop.
pub async fn up(
    args: Args,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    // One stop signal for everything: SIGTERM may arrive during start-up, and a component that
    // fails stops the others the same way.
    let stop_tx = std::sync::Arc::new(watch::channel(false).0);
    let _signal = {
        let tx = stop_tx.clone();
        AbortOnDrop(tokio::spawn(async move {
            shutdown.await;
            eprintln!("gantry up: stopping");
            tx.send_replace(true);
        }))
    };
    let stop_requested = || {
        let mut rx = stop_tx.subscribe();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let grace = args.shutdown_grace;
    let dir = std::path::absolute(&args.dir).unwrap_or(args.dir.clone());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let state_file = dir.join("state.json");
    let mut p: Persisted = std::fs::read(&state_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if p.webhook_secret.is_empty() {
        p.webhook_secret = random_hex();
    }
    if p.forge_token.is_empty() {
        p.forge_token = random_hex();
    }
    if p.api_token.is_empty() {
        p.api_token = random_hex();
    }
    if let Some(prev) = p.provider
        && prev != args.provider
    {
        bail!(
            "{} was created for {}; use another --dir for {}",
            dir.display(),
            prev.name(),
            args.provider.name()
        );
    }
    p.provider = Some(args.provider);

    // NATS with JetStream, as a child process.
    let nats_port = bind(&mut p, "nats")?.local_addr()?.port();
    let nats_bin = find_nats_server(args.nats_server_bin.clone());
    std::fs::create_dir_all(dir.join("nats"))?;
    let nats_log = open_log(&dir.join("nats.log"))?;
    let mut nats = tokio::process::Command::new(&nats_bin)
        .args([
            "-a",
            "127.0.0.1",
            "-p",
            &nats_port.to_string(),
            "-js",
            "-sd",
        ])
        .arg(dir.join("nats"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(nats_log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (install it with scripts/tools.sh, or pass --nats-server-bin)",
                nats_bin.display()
            )
        })?;
    let nats_url = format!("nats://127.0.0.1:{nats_port}");
    let ready = async {
        wait_for_port(SocketAddr::from(([127, 0, 0, 1], nats_port)), "nats-server").await?;
        check_nats(&nats_url).await
    };
    let ready = tokio::select! {
        r = ready => r,
        () = stop_requested() => Ok(()),
    };
    if ready.is_err() || *stop_tx.borrow() {
        let _ = nats.start_kill();
        let _ = nats.wait().await;
        return ready;
    }

    let stop_rx = stop_tx.subscribe();
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    // The Kubernetes API emulator, its state kept in DIR.
    let kube_listener = bind(&mut p, "kube")?;
    kube_listener.set_nonblocking(true)?;
    let kube_addr = kube_listener.local_addr()?;
    let kubeconfig_path = dir.join("kubeconfig");
    let kubeconfig = gantry_kube_sim::kubeconfig(kube_addr);
    std::fs::write(&kubeconfig_path, &kubeconfig)?;
    let kube = tokio::spawn(gantry_kube_sim::run(
        tokio::net::TcpListener::from_std(kube_listener)?,
        gantry_kube_sim::Config {
            snapshot: Some(dir.join("kube-state.json")),
            ..Default::default()
        },
        stopped(stop_rx.clone()),
    ));

    // The receiver.
    let receiver_listener = bind(&mut p, "receiver")?;
    let receiver_url = format!("http://{}", receiver_listener.local_addr()?);
    let mut receiver_config = gantry_receiver::Config::for_tests(&nats_url, &p.webhook_secret);
    receiver_config.listen = receiver_listener.local_addr()?;
    receiver_config.shutdown_grace = grace;
    let receiver_run =
        gantry_receiver::run(receiver_listener, receiver_config, stopped(stop_rx.clone()));
    let mut receiver = tokio::spawn(async move { receiver_run.await.map_err(anyhow::Error::from) });

    // The Git host: repositories, webhooks to the receiver, commit statuses.
    let forge_listener = bind(&mut p, "forge")?;
    forge_listener.set_nonblocking(true)?;
    let forge_url = format!("http://{}", forge_listener.local_addr()?);
    let flavor = match args.provider {
        Provider::Github => Flavor::Github,
        Provider::Gitea => Flavor::Gitea,
    };
    let forge = gantry_forge_sim::ForgeSim::start_on(
        tokio::net::TcpListener::from_std(forge_listener)?,
        gantry_forge_sim::Config {
            tokens: vec![p.forge_token.clone()],
            hosting: Some(HostingConfig {
                root: dir.join("git"),
                flavor,
                webhooks: vec![Webhook {
                    url: format!("{receiver_url}/webhooks/{}", args.provider.name()),
                    secret: p.webhook_secret.clone(),
                }],
            }),
            ..Default::default()
        },
    )?;
    let hosting = forge
        .hosting()
        .cloned()
        .context("the Git host emulator has no hosting")?;
    let git_url = format!("{forge_url}/{REPOSITORY}.git");

    // One reconciler.
    let reconciler_listener = bind(&mut p, "reconciler")?;
    let forge_kind = match args.provider {
        Provider::Github => gantry_reconciler::config::ForgeKind::Github,
        Provider::Gitea => gantry_reconciler::config::ForgeKind::Gitea,
    };
    let mut rc = gantry_reconciler::Config::for_tests(
        &nats_url,
        &dir.join("reconciler"),
        gantry_reconciler::config::Forge {
            name: "sandbox".to_owned(),
            kind: forge_kind,
            api_url: forge_url.clone(),
            token: p.forge_token.clone(),
            app: None,
        },
        kubeconfig.clone(),
    );
    rc.listen = reconciler_listener.local_addr()?;
    rc.worker_id = "sandbox".to_owned();
    rc.public_url = Some(format!("{forge_url}/{REPOSITORY}"));
    rc.repositories = vec![gantry_reconciler::config::Repository {
        full_name: REPOSITORY.to_owned(),
        forge: Some("sandbox".to_owned()),
        clone_url: Some(git_url.clone()),
        credentials: None,
    }];
    rc.shutdown_grace = grace;
    rc.resync_interval = args.resync_interval;
    rc.trust = args.trust.clone();
    let rc_listen = rc.listen;
    let reconciler_run = gantry_reconciler::run(reconciler_listener, rc, stopped(stop_rx.clone()));
    let mut reconciler =
        tokio::spawn(async move { reconciler_run.await.map_err(anyhow::Error::from) });
    // The self-service API, its rules in a repository of their own.
    let rbac_git_url = format!("{forge_url}/{RBAC_REPOSITORY}.git");
    let api_listener = bind(&mut p, "api")?;
    let api_url = format!("http://{}", api_listener.local_addr()?);
    let api_config = api_config(&args, &p, &nats_url, &dir, &forge_url, forge_kind, &git_url)?;
    let api_run = gantry_api::run(api_listener, api_config, stopped(stop_rx.clone()));
    let mut api = tokio::spawn(async move { api_run.await.map_err(anyhow::Error::from) });
    std::fs::write(&state_file, serde_json::to_vec_pretty(&p)?)?;
    if !hosting.repos().exists(RBAC_REPOSITORY) {
        hosting.repos().create(RBAC_REPOSITORY, "main").await?;
        seed_files(
            &rbac_git_url,
            &[("rbac.yaml", RBAC_YAML)],
            "RBAC rules for gantry-api",
        )
        .await?;
    }

    // Seed the repository once; its first push deploys everything.
    let fresh = !hosting.repos().exists(REPOSITORY);
    let seeded = async {
        if fresh {
            hosting.repos().create(REPOSITORY, "main").await?;
            // The receiver must be listening for the seed's webhook; the Git host retries anyway.
            wait_for_port(
                receiver_url.trim_start_matches("http://").parse()?,
                "the receiver",
            )
            .await?;
            seed(&git_url).await?;
        }
        wait_api_ready(&api_url).await;
        anyhow::Ok(())
    };
    let mut failed: Option<anyhow::Error> = None;
    let (mut receiver_done, mut reconciler_done, mut api_done) = (None, None, None);
    tokio::select! {
        r = seeded => failed = r.err(),
        () = stop_requested() => {}
        r = &mut receiver => receiver_done = Some(r),
        r = &mut reconciler => reconciler_done = Some(r),
        r = &mut api => api_done = Some(r),
    }
    if failed.is_none()
        && receiver_done.is_none()
        && reconciler_done.is_none()
        && api_done.is_none()
        && !*stop_tx.borrow()
    {
        let sandbox = SandboxJson {
            git_url: git_url.clone(),
            repository: REPOSITORY.to_owned(),
            provider: args.provider.name().to_owned(),
            kubeconfig: kubeconfig_path.display().to_string(),
            forge_api: forge_url.clone(),
            receiver: receiver_url.clone(),
            nats_url: nats_url.clone(),
            reconciler: format!("http://{rc_listen}"),
            api: api_url.clone(),
            api_token: p.api_token.clone(),
            rbac_git_url: rbac_git_url.clone(),
        };
        failed = std::fs::write(
            dir.join("sandbox.json"),
            serde_json::to_vec_pretty(&sandbox)?,
        )
        .context("writing sandbox.json")
        .err();
        let tools = Tools::find();
        if failed.is_none() {
            failed = write_env_file(&dir, &sandbox, &tools).err();
        }
        let resumed = if fresh {
            None
        } else {
            Some(resumed_state(&hosting).await)
        };
        print_guide(&sandbox, &dir, &tools, resumed.as_deref());
        if !args.trust.require.is_empty() {
            println!(
                "\nSigned commits are required: only commits signed by a key of --openpgp-keys or \
                 --allowed-signers deploy (git commit -S); the unsigned seed commit is refused."
            );
        }
        if !fresh {
            // What is deployed, read from the reconcilers' state as `gantry status` reads it.
            println!(
                "\nWhat is deployed ({} status --dir {}):",
                tools.gantry,
                dir.display()
            );
            if let Err(e) = crate::status::print_table(&nats_url).await {
                println!("  (cannot read it: {e})");
            }
        }
        println!(
            "\nCtrl-C stops everything; `{} up --dir {}` resumes.",
            tools.gantry,
            dir.display()
        );
        if failed.is_none() {
            tokio::select! {
                () = stop_requested() => {}
                r = &mut receiver => receiver_done = Some(r),
                r = &mut reconciler => reconciler_done = Some(r),
                r = &mut api => api_done = Some(r),
            }
        }
    }

    // A component that stopped on its own is a failure the user must see. The components watch
    // the same stop signal, so one may finish before the select sees the signal: that is a
    // clean stop. A task seen finished must never be polled again below.
    let stopping = *stop_tx.borrow();
    let (receiver_running, reconciler_running, api_running) = (
        receiver_done.is_none(),
        reconciler_done.is_none(),
        api_done.is_none(),
    );
    for (name, done) in [
        ("receiver", &mut receiver_done),
        ("reconciler", &mut reconciler_done),
        ("api", &mut api_done),
    ] {
        if failed.is_none()
            && let Some(joined) = done.take()
        {
            failed = match joined {
                Ok(Ok(())) if stopping => None,
                Ok(Ok(())) => Some(anyhow::anyhow!("the {name} stopped unexpectedly")),
                Ok(Err(e)) => Some(e.context(format!("the {name} stopped"))),
                Err(e) => Some(anyhow::Error::from(e).context(format!("the {name} task failed"))),
            };
        }
    }
    stop_tx.send_replace(true);

    // The grace bounds the whole stop: the receiver and reconciler drain within it, and what
    // still runs at its end is abandoned (aborted), so a NATS server that is gone or a stuck
    // component can never keep the sandbox from exiting.
    let deadline = tokio::time::Instant::now() + grace;
    let pending = [
        ("api", api, api_running),
        ("reconciler", reconciler, reconciler_running),
        ("receiver", receiver, receiver_running),
    ];
    for (name, mut task, running) in pending {
        if !running {
            continue;
        }
        match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => eprintln!("gantry up: {name} stopped with an error: {e:#}"),
            Ok(Err(e)) => eprintln!("gantry up: {name} task failed: {e}"),
            Err(_) => {
                eprintln!(
                    "gantry up: {name} did not stop within the {grace:?} grace; abandoning it"
                );
                task.abort();
            }
        }
    }
    match tokio::time::timeout_at(deadline, kube).await {
        Ok(Ok(Ok(()))) | Err(_) => {}
        Ok(Ok(Err(e))) => eprintln!("gantry up: kube-sim stopped with an error: {e:#}"),
        Ok(Err(e)) => eprintln!("gantry up: kube-sim task failed: {e}"),
    }
    let _ = tokio::time::timeout_at(deadline, forge.stop()).await;
    stop_child(&mut nats, "nats-server", NATS_STOP_GRACE).await;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long nats-server gets to flush JetStream and exit after SIGTERM before it is killed.
const NATS_STOP_GRACE: Duration = Duration::from_secs(10);
/// A log past this size is moved to `<name>.1` (replacing the previous one) at the next start.
const LOG_ROTATE_BYTES: u64 = 10 * 1024 * 1024;

/// Opens a child's log for appending, so that the previous run's lines (how it stopped) survive
/// the next start; a log past [`LOG_ROTATE_BYTES`] is first moved to `<name>.1`.
fn open_log(path: &Path) -> Result<std::fs::File> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
        let mut old = path.as_os_str().to_owned();
        old.push(".1");
        std::fs::rename(path, &old).with_context(|| format!("rotating {}", path.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    std::io::Write::write_all(
        &mut f,
        format!("--- gantry up started {now} ---\n").as_bytes(),
    )?;
    Ok(f)
}

/// SIGTERM, then SIGKILL if `child` has not exited within `grace`: nats-server shuts JetStream
/// down cleanly on SIGTERM, while SIGKILL may leave its store to be recovered at the next start.
async fn stop_child(child: &mut tokio::process::Child, name: &str, grace: Duration) {
    let Some(pid) = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(id as i32))
    else {
        return; // already reaped
    };
    if rustix::process::kill_process(pid, rustix::process::Signal::TERM).is_ok()
        && let Ok(waited) = tokio::time::timeout(grace, child.wait()).await
    {
        if let Err(e) = waited {
            eprintln!("gantry up: waiting for {name}: {e}");
        }
        return;
    }
    eprintln!("gantry up: {name} did not exit within {grace:?} of SIGTERM; killing it");
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// Absolute paths of the commands the guide prints: the user's shell has neither this binary
/// (scripts/up runs it from target/) nor kubectl (in .tools/venv/bin) on its PATH.
struct Tools {
    gantry: String,
    kubectl: String,
    kubectl_found: bool,
}

impl Tools {
    fn find() -> Tools {
        let gantry = std::env::current_exe()
            .ok()
            .and_then(|p| std::path::absolute(p).ok())
            .map_or_else(|| "gantry".to_owned(), |p| p.display().to_string());
        let kubectl = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join("kubectl"))
            .find(|p| p.is_file())
            .and_then(|p| std::path::absolute(p).ok());
        Tools {
            gantry,
            kubectl_found: kubectl.is_some(),
            kubectl: kubectl.map_or_else(|| "kubectl".to_owned(), |p| p.display().to_string()),
        }
    }
}

/// Single-quotes `s` for a POSIX shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `DIR/env`: `source` it in any shell to get `gantry` and `kubectl` on PATH, pointed at this
/// sandbox, so that the README's bare commands work as printed.
fn write_env_file(dir: &Path, s: &SandboxJson, tools: &Tools) -> Result<()> {
    let mut path_dirs: Vec<String> = Vec::new();
    for bin in [&tools.gantry, &tools.kubectl] {
        if let Some(d) = Path::new(bin).parent().filter(|d| d.is_absolute()) {
            let d = sh_quote(&d.display().to_string());
            if !path_dirs.contains(&d) {
                path_dirs.push(d);
            }
        }
    }
    path_dirs.push("\"$PATH\"".to_owned());
    let text = format!(
        "# Written by `gantry up`: `source {env}` puts gantry and kubectl on PATH and points\n\
         # them at this sandbox (kubectl through KUBECONFIG, gantry status and events through\n\
         # GANTRY_NATS_URL). GANTRY_SANDBOX_* are sandbox.json's URLs: the example repository's\n\
         # clone URL, the Git host's API and the reconciler's base URL (/metrics).\n\
         export PATH={path}\n\
         export KUBECONFIG={kubeconfig}\n\
         export {nats_env}={nats}\n\
         export GANTRY_SANDBOX_GIT_URL={git}\n\
         export GANTRY_SANDBOX_FORGE_API={forge}\n\
         export GANTRY_SANDBOX_RECONCILER={reconciler}\n",
        env = dir.join("env").display(),
        path = path_dirs.join(":"),
        kubeconfig = sh_quote(&s.kubeconfig),
        nats_env = crate::events::ENV_NATS_URL,
        nats = sh_quote(&s.nats_url),
        git = sh_quote(&s.git_url),
        forge = sh_quote(&s.forge_api),
        reconciler = sh_quote(&s.reconciler),
    );
    std::fs::write(dir.join("env"), text).with_context(|| format!("writing {}/env", dir.display()))
}

/// One line on what a resumed sandbox holds: where its repository's main branch is.
async fn resumed_state(hosting: &gantry_forge_sim::hosting::Hosting) -> String {
    let repos = hosting.repos();
    let head = match repos.refs(REPOSITORY).await {
        Ok(refs) => refs.get("refs/heads/main").cloned(),
        Err(e) => return format!("{REPOSITORY} cannot be read: {e}"),
    };
    let Some(head) = head else {
        return format!("{REPOSITORY} has no main branch");
    };
    let subject = match repos.commit(REPOSITORY, &head).await {
        Ok(c) => c.message.lines().next().unwrap_or("").to_owned(),
        Err(_) => String::new(),
    };
    format!(
        "{REPOSITORY} main is at {} {subject:?}",
        &head[..head.len().min(7)]
    )
}

fn print_guide(s: &SandboxJson, dir: &Path, tools: &Tools, resumed: Option<&str>) {
    let statuses = match s.provider.as_str() {
        "gitea" => format!(
            "{}/api/v1/repos/{}/statuses/$(git rev-parse HEAD)",
            s.forge_api, s.repository
        ),
        _ => format!(
            "{}/repos/{}/commits/$(git rev-parse HEAD)/statuses",
            s.forge_api, s.repository
        ),
    };
    let (gantry, kubectl, dir) = (&tools.gantry, &tools.kubectl, dir.display());
    let (git_url, kubeconfig) = (&s.git_url, &s.kubeconfig);
    let kubectl_note = if tools.kubectl_found {
        ""
    } else {
        "\n  (kubectl is not on PATH: `. scripts/tools.sh` installs it into .tools/venv/bin)"
    };
    let header = match resumed {
        None => format!(
            "Gantry sandbox is up ({}). The example platform was just pushed; its first \
             deployment is running.",
            s.provider
        ),
        Some(state) => format!(
            "Gantry sandbox resumed ({}) from {dir}: {state}. JetStream and the cluster kept \
             their state; commit statuses start empty.",
            s.provider
        ),
    };
    // Resumed: the repository already has its history and the user a clone; the first two
    // steps (clone, the 1.0.0 → 1.1.0 bump) would be wrong advice.
    let start = match resumed {
        None => format!(
            "\
1. Clone it:             git clone {git_url} platform && cd platform
2. Bump an image tag:    sed -i 's/newTag: 1.0.0/newTag: 1.1.0/' apps/payments/overlays/dev/kustomization.yaml
                         git commit -am 'payments 1.1.0' && git push"
        ),
        Some(_) => format!(
            "\
1. In your clone:        git pull     (no clone yet? git clone {git_url} platform && cd platform)
2. Change and push:      edit apps/<app>/overlays/<env>/kustomization.yaml, git commit -a && git push"
        ),
    };
    println!(
        "\
{header}

  repository   {git_url}
  receiver     {receiver}
  forge API    {forge_api}
  NATS         {nats_url}
  API          {api}   (token in sandbox.json; rules in {rbac_git_url})
  kubeconfig   {kubeconfig}
  details      {dir}/sandbox.json
  shell        source {dir}/env   # puts gantry and kubectl on PATH for this sandbox{kubectl_note}

Every command works as printed (steps 2 to 5 in the clone):
{start}
3. Watch it deploy:      {gantry} status --dir {dir}
                         curl -s {statuses}
                         KUBECONFIG={kubeconfig} {kubectl} get deploy -n payments-dev -o wide
4. Break it:             sed -i 's/newTag: .*/newTag: crashloop/' apps/payments/overlays/dev/kustomization.yaml
                         git commit -am 'crashloop' && git push      # failure within seconds
5. Roll back:            git revert --no-edit HEAD && git push        # success again
   Pull requests:        git checkout -b my-branch && git commit -am '...' && git push origin my-branch
                         {gantry} pr open --dir {dir} --head my-branch
                         {gantry} pr merge --dir {dir} 1
   Events:               {gantry} events tail --nats-url {nats_url} --all
6. Sync through the API: curl -s -X POST -H 'Authorization: Bearer {api_token}' -H 'Idempotency-Key: demo-1' \\
                           {api}/api/v1/apps/payments/environments/dev/sync -d '{{}}'
                         curl -s -H 'Authorization: Bearer {api_token}' {api}/api/v1/apps",
        receiver = s.receiver,
        forge_api = s.forge_api,
        nats_url = s.nats_url,
        api = s.api,
        api_token = s.api_token,
        rbac_git_url = s.rbac_git_url,
    );
}
