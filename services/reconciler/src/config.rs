//! The reconciler's options: flags, `GANTRY_*` variables, the `--config` YAML file (contract
//! section 4) and defaults, resolved in that order. Credentials are named by variable or file and
//! read here, so that a missing one is a start-up error rather than a failed deployment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gantry_config::{
    CommonArgs, Env, Error, Layers, LogFormat, NatsFile, file_duration, from_str, parse_duration,
    path,
};
pub use gantry_config::{
    ENV_CONFIG, ENV_DATA_DIR, ENV_LISTEN, ENV_LOG_FORMAT, ENV_LOG_LEVEL, ENV_NATS_REPLICAS,
    ENV_NATS_URL, ENV_SHUTDOWN_GRACE,
};
use serde::Deserialize;

/// `--worker-id`
pub const ENV_WORKER_ID: &str = "GANTRY_WORKER_ID";
/// `--concurrency`
pub const ENV_CONCURRENCY: &str = "GANTRY_CONCURRENCY";
/// `--public-url`
pub const ENV_PUBLIC_URL: &str = "GANTRY_PUBLIC_URL";
/// `--max-deliver`
pub const ENV_MAX_DELIVER: &str = "GANTRY_MAX_DELIVER";
/// `--lease-ttl`
pub const ENV_LEASE_TTL: &str = "GANTRY_LEASE_TTL";
/// `--resync-interval`
pub const ENV_RESYNC_INTERVAL: &str = "GANTRY_RESYNC_INTERVAL";

/// Command-line flags; absent ones fall through to the environment, the file and the defaults.
#[derive(Debug, Default, clap::Parser)]
#[command(
    name = "gantry-reconciler",
    version,
    about = "Gantry's reconciler worker"
)]
pub struct Args {
    /// The options every service takes (`--config` is the file of contract section 4).
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address for /healthz, /readyz and /metrics [default: 0.0.0.0:9090] [env: GANTRY_LISTEN]
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// This worker's name in leases and audit records [default: hostname] [env: GANTRY_WORKER_ID]
    #[arg(long)]
    pub worker_id: Option<String>,
    /// Environments reconciled at once by this worker [default: 4] [env: GANTRY_CONCURRENCY]
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Base of target_url in commit statuses [env: GANTRY_PUBLIC_URL]
    #[arg(long)]
    pub public_url: Option<String>,
    /// Where repository mirrors live [default: $TMPDIR/gantry-reconciler] [env: GANTRY_DATA_DIR]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Deliveries of one event before it goes to gantry.dlq.> [default: 5] [env: GANTRY_MAX_DELIVER]
    #[arg(long)]
    pub max_deliver: Option<i64>,
    /// How long a lease on an app and environment lasts without renewal [default: 30s] [env: GANTRY_LEASE_TTL]
    #[arg(long, value_parser = parse_duration)]
    pub lease_ttl: Option<Duration>,
    /// How often every environment is compared with its branch head and live objects, unless
    /// its `.gantry.yaml` says otherwise; at least 5s [default: 5m] [env: GANTRY_RESYNC_INTERVAL]
    #[arg(long, value_parser = parse_duration)]
    pub resync_interval: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileConfig {
    nats: Option<NatsFile>,
    listen: Option<SocketAddr>,
    worker_id: Option<String>,
    concurrency: Option<usize>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    max_deliver: Option<i64>,
    lease_ttl: Option<String>,
    shutdown_grace: Option<String>,
    log_format: Option<String>,
    log_level: Option<String>,
    #[serde(default)]
    forges: Vec<ForgeFile>,
    #[serde(default)]
    repositories: Vec<RepositoryFile>,
    #[serde(default)]
    clusters: Vec<ClusterFile>,
    resync: Option<ResyncFile>,
    trust: Option<TrustFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TrustFile {
    #[serde(default)]
    openpgp_keys: Vec<PathBuf>,
    allowed_signers: Option<PathBuf>,
    #[serde(default)]
    require: Vec<RequireFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RequireFile {
    app: String,
    environment: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ResyncFile {
    interval: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ForgeFile {
    name: String,
    kind: String,
    api_url: String,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    app: Option<AppFile>,
}

/// `app: {appId, installationId, privateKeyFile}`: authenticate as a GitHub App.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AppFile {
    app_id: u64,
    installation_id: u64,
    private_key_file: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RepositoryFile {
    full_name: String,
    forge: Option<String>,
    clone_url: Option<String>,
    username: Option<String>,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ClusterFile {
    name: String,
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    #[serde(default)]
    in_cluster: bool,
}

/// Which commit-status API a forge speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeKind {
    /// GitHub or GitHub Enterprise.
    Github,
    /// Gitea or Forgejo.
    Gitea,
}

impl ForgeKind {
    /// The label value and config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ForgeKind::Github => "github",
            ForgeKind::Gitea => "gitea",
        }
    }
}

/// A Git host that receives commit statuses.
#[derive(Clone)]
pub struct Forge {
    /// Its name in `repositories[].forge`.
    pub name: String,
    /// Its API dialect.
    pub kind: ForgeKind,
    /// `https://api.github.com`, or Gitea's base URL (`/api/v1` is appended).
    pub api_url: String,
    /// The API token (empty when `app` is set).
    pub token: String,
    /// GitHub App authentication: installation tokens for statuses and HTTPS fetches.
    pub app: Option<std::sync::Arc<gantry_forge_auth::AppAuth>>,
}

impl Forge {
    /// A forge authenticated by a fixed token.
    pub fn with_token(name: &str, kind: ForgeKind, api_url: &str, token: &str) -> Forge {
        Forge {
            name: name.to_owned(),
            kind,
            api_url: api_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            app: None,
        }
    }
}

impl std::fmt::Debug for Forge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forge")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("api_url", &self.api_url)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// A repository the reconciler deploys from.
#[derive(Clone)]
pub struct Repository {
    /// `owner/name`.
    pub full_name: String,
    /// The forge its statuses go to; `None` for the first forge of the event's provider.
    pub forge: Option<String>,
    /// Where to fetch from; `None` for the event's clone URL.
    pub clone_url: Option<String>,
    /// User name and token for HTTPS fetches.
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("full_name", &self.full_name)
            .field("forge", &self.forge)
            .field("clone_url", &self.clone_url)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// How to reach a cluster.
#[derive(Debug, Clone)]
pub enum ClusterSource {
    /// A kubeconfig file, with an optional context.
    Kubeconfig(PathBuf, Option<String>),
    /// A kubeconfig's text (tests, `gantry up`).
    KubeconfigYaml(String),
    /// The pod's service account.
    InCluster,
}

/// A cluster deployments go to.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Its name in `.gantry.yaml`'s `cluster`.
    pub name: String,
    /// How to reach it.
    pub source: ClusterSource,
}

/// The reconciler's resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where /healthz, /readyz and /metrics are served.
    pub listen: SocketAddr,
    /// The NATS servers, separated by commas.
    pub nats_url: String,
    /// Copies of what the reconciler creates in JetStream.
    pub nats_replicas: usize,
    /// This worker's id.
    pub worker_id: String,
    /// Environments reconciled at once.
    pub concurrency: usize,
    /// Base of target_url in statuses.
    pub public_url: Option<String>,
    /// Where mirrors live.
    pub data_dir: PathBuf,
    /// Deliveries before the dead-letter subject.
    pub max_deliver: i64,
    /// Lease lifetime without renewal.
    pub lease_ttl: Duration,
    /// Drain time at shutdown.
    pub shutdown_grace: Duration,
    /// Log line format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub otlp_endpoint: Option<String>,
    /// Git hosts.
    pub forges: Vec<Forge>,
    /// Repositories.
    pub repositories: Vec<Repository>,
    /// Clusters.
    pub clusters: Vec<Cluster>,
    /// Commit signatures: the trusted keys and where they are required.
    pub trust: crate::trust::Trust,
    /// First delay of a nak; doubles per delivery up to [`Config::nak_max`].
    pub nak_base: Duration,
    /// Longest nak delay.
    pub nak_max: Duration,
    /// How long one commit-status post may keep retrying before the event is nak'd.
    pub report_budget: Duration,
    /// How often verification looks at the cluster.
    pub verify_interval: Duration,
    /// The consumer's ack wait: how long a killed worker's event waits before redelivery
    /// (workers in progress extend it every third of it).
    pub ack_wait: Duration,
    /// The default resync interval (`.gantry.yaml`'s `interval` overrides it per environment).
    pub resync_interval: Duration,
}

impl Config {
    /// A configuration for tests: one forge, one cluster from a kubeconfig's text.
    pub fn for_tests(
        nats_url: &str,
        data_dir: &Path,
        forge: Forge,
        kubeconfig_yaml: String,
    ) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            nats_url: nats_url.to_owned(),
            nats_replicas: 1,
            worker_id: "test-worker".to_owned(),
            concurrency: 4,
            public_url: None,
            data_dir: data_dir.to_owned(),
            max_deliver: 5,
            lease_ttl: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
            log_format: LogFormat::Text,
            log_level: gantry_config::DEFAULT_LOG_LEVEL.to_owned(),
            otlp_endpoint: None,
            forges: vec![forge],
            repositories: Vec::new(),
            clusters: vec![Cluster {
                name: "default".to_owned(),
                source: ClusterSource::KubeconfigYaml(kubeconfig_yaml),
            }],
            trust: Default::default(),
            nak_base: Duration::from_millis(200),
            nak_max: Duration::from_secs(60),
            report_budget: Duration::from_secs(60),
            verify_interval: Duration::from_millis(200),
            ack_wait: Duration::from_secs(30),
            resync_interval: Duration::from_secs(300),
        }
    }

    /// Resolves flags, then `env`, then the config file, then defaults.
    pub fn resolve<E: Env + ?Sized>(args: Args, env: &E) -> Result<Config, Error> {
        let l = Layers::new(env);
        let (_, file): (_, FileConfig) = l.config_file(args.common.config.clone())?;
        let listen = l.pick(
            args.listen,
            ENV_LISTEN,
            from_str,
            file.listen,
            SocketAddr::from(([0, 0, 0, 0], 9090)),
        )?;
        let common = l.common(args.common, gantry_config::common_file!(file))?;
        let worker_id = l.pick(
            args.worker_id,
            ENV_WORKER_ID,
            |s| Ok(s.to_owned()),
            file.worker_id.filter(|s| !s.is_empty()),
            hostname(),
        )?;
        let concurrency = l.pick(
            args.concurrency,
            ENV_CONCURRENCY,
            from_str,
            file.concurrency,
            4,
        )?;
        if concurrency == 0 {
            return Err(Error::new("concurrency", "must be at least 1"));
        }
        let public_url = l
            .pick(
                args.public_url,
                ENV_PUBLIC_URL,
                |s| Ok(s.to_owned()),
                file.public_url,
                String::new(),
            )?
            .trim_end_matches('/')
            .to_owned();
        let data_dir = l.pick(
            args.data_dir,
            ENV_DATA_DIR,
            path,
            file.data_dir,
            std::env::temp_dir().join("gantry-reconciler"),
        )?;
        let max_deliver = l.pick(
            args.max_deliver,
            ENV_MAX_DELIVER,
            from_str,
            file.max_deliver,
            5,
        )?;
        if max_deliver < 1 {
            return Err(Error::new("maxDeliver", "must be at least 1"));
        }
        let lease_ttl = l.pick(
            args.lease_ttl,
            ENV_LEASE_TTL,
            parse_duration,
            file_duration("leaseTtl", file.lease_ttl.as_deref())?,
            Duration::from_secs(30),
        )?;
        if lease_ttl < Duration::from_secs(1) {
            return Err(Error::new("leaseTtl", "must be at least 1s"));
        }
        let resync_interval = l.pick(
            args.resync_interval,
            ENV_RESYNC_INTERVAL,
            parse_duration,
            file_duration(
                "resync.interval",
                file.resync.and_then(|r| r.interval).as_deref(),
            )?,
            Duration::from_secs(300),
        )?;
        if resync_interval < crate::plan::MIN_INTERVAL {
            return Err(Error::new("resync.interval", "must be at least 5s"));
        }

        let mut forges = Vec::new();
        for (i, f) in file.forges.into_iter().enumerate() {
            let key = format!("forges[{i}]");
            let kind = match f.kind.as_str() {
                "github" => ForgeKind::Github,
                "gitea" | "forgejo" => ForgeKind::Gitea,
                other => {
                    return Err(Error::new(
                        format!("{key}.kind"),
                        format!("{other:?} is neither \"github\" nor \"gitea\""),
                    ));
                }
            };
            if !(f.api_url.starts_with("http://") || f.api_url.starts_with("https://")) {
                return Err(Error::new(
                    format!("{key}.apiUrl"),
                    format!("{:?} is not an http(s) URL", f.api_url),
                ));
            }
            let api_url = f.api_url.trim_end_matches('/').to_owned();
            let app = match f.app {
                Some(a) => Some(std::sync::Arc::new(github_app(&key, kind, &api_url, a)?)),
                None => None,
            };
            let token = match secret(&l, &key, f.token_env, f.token_file)? {
                Some(t) => t,
                None if app.is_some() => String::new(),
                None => {
                    return Err(Error::new(
                        format!("{key}.tokenEnv"),
                        "a forge needs tokenEnv, tokenFile or app",
                    ));
                }
            };
            if forges.iter().any(|x: &Forge| x.name == f.name) {
                return Err(Error::new(
                    format!("{key}.name"),
                    format!("{:?} is listed twice", f.name),
                ));
            }
            forges.push(Forge {
                name: f.name,
                kind,
                api_url,
                token,
                app,
            });
        }
        let mut repositories = Vec::new();
        for (i, r) in file.repositories.into_iter().enumerate() {
            let key = format!("repositories[{i}]");
            if r.full_name.split('/').count() != 2 {
                return Err(Error::new(
                    format!("{key}.fullName"),
                    format!("{:?} is not \"owner/name\"", r.full_name),
                ));
            }
            if let Some(name) = &r.forge
                && !forges.iter().any(|f| &f.name == name)
            {
                return Err(Error::new(
                    format!("{key}.forge"),
                    format!("no forge is named {name:?}"),
                ));
            }
            let token = secret(&l, &key, r.token_env, r.token_file)?;
            repositories.push(Repository {
                full_name: r.full_name,
                forge: r.forge,
                clone_url: r.clone_url,
                credentials: token
                    .map(|t| (r.username.unwrap_or_else(|| "x-access-token".to_owned()), t)),
            });
        }
        let mut clusters = Vec::new();
        for (i, c) in file.clusters.into_iter().enumerate() {
            let key = format!("clusters[{i}]");
            let source = match (c.kubeconfig, c.in_cluster) {
                (Some(p), false) => ClusterSource::Kubeconfig(p, c.context),
                (None, true) => ClusterSource::InCluster,
                _ => {
                    return Err(Error::new(
                        key,
                        "set exactly one of kubeconfig and inCluster",
                    ));
                }
            };
            clusters.push(Cluster {
                name: c.name,
                source,
            });
        }
        let trust = match file.trust {
            Some(t) => resolve_trust(t)?,
            None => Default::default(),
        };
        Ok(Config {
            listen,
            nats_url: common.nats.url(),
            nats_replicas: common.nats.replicas,
            worker_id,
            concurrency,
            public_url: (!public_url.is_empty()).then_some(public_url),
            data_dir,
            max_deliver,
            lease_ttl,
            shutdown_grace: common.shutdown_grace,
            log_format: common.log_format,
            log_level: common.log_level,
            otlp_endpoint: common.otlp_endpoint,
            forges,
            repositories,
            clusters,
            trust,
            nak_base: Duration::from_secs(2),
            nak_max: Duration::from_secs(120),
            report_budget: Duration::from_secs(120),
            verify_interval: Duration::from_millis(500),
            ack_wait: Duration::from_secs(30),
            resync_interval,
        })
    }
}

/// A forge's GitHub App: the private key is read now, so a missing or malformed one stops the
/// start naming `forges[i].app.privateKeyFile`.
fn github_app(
    key: &str,
    kind: ForgeKind,
    api_url: &str,
    a: AppFile,
) -> Result<gantry_forge_auth::AppAuth, Error> {
    if kind != ForgeKind::Github {
        return Err(Error::new(
            format!("{key}.app"),
            "GitHub App authentication is for kind: github",
        ));
    }
    let pk = format!("{key}.app.privateKeyFile");
    let pem = std::fs::read_to_string(&a.private_key_file).map_err(|e| {
        Error::new(
            pk.clone(),
            format!("cannot read {}: {e}", a.private_key_file.display()),
        )
    })?;
    let app_key =
        gantry_forge_auth::AppKey::from_pem(&pem).map_err(|e| Error::new(pk, e.to_string()))?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("gantry-reconciler/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::new(format!("{key}.app"), e.to_string()))?;
    Ok(gantry_forge_auth::AppAuth::new(
        client,
        api_url,
        a.app_id,
        a.installation_id,
        app_key,
    ))
}

/// Loads the trusted keys now, so that an unreadable or malformed key file stops the start.
fn resolve_trust(t: TrustFile) -> Result<crate::trust::Trust, Error> {
    let policy = gantry_trust::Policy::load(&t.openpgp_keys, t.allowed_signers.as_deref())
        .map_err(|e| {
            let key = match &e {
                gantry_trust::Error::AllowedSigners { .. } => "trust.allowedSigners",
                gantry_trust::Error::Io { path, .. }
                    if Some(path.as_path()) == t.allowed_signers.as_deref() =>
                {
                    "trust.allowedSigners"
                }
                _ => "trust.openpgpKeys",
            };
            Error::new(key, e.to_string())
        })?;
    if !t.require.is_empty() && policy.openpgp.is_empty() && policy.ssh.is_empty() {
        return Err(Error::new(
            "trust.require",
            "signatures are required but no key is trusted (set openpgpKeys or allowedSigners)",
        ));
    }
    let mut require = Vec::new();
    for (i, r) in t.require.into_iter().enumerate() {
        if r.app.is_empty() || r.environment.is_empty() {
            return Err(Error::new(
                format!("trust.require[{i}]"),
                "app and environment must be non-empty patterns (use \"*\" for any)",
            ));
        }
        require.push(crate::trust::Require {
            app: r.app,
            environment: r.environment,
        });
    }
    Ok(crate::trust::Trust { policy, require })
}

/// A credential named by a variable or a file; never written inline.
fn secret<E: Env + ?Sized>(
    l: &Layers<'_, E>,
    key: &str,
    var: Option<String>,
    file: Option<PathBuf>,
) -> Result<Option<String>, Error> {
    if let Some(var) = var {
        return match l.var(&var).filter(|v| !v.trim().is_empty()) {
            Some(v) => Ok(Some(v.trim().to_owned())),
            None => Err(Error::new(
                format!("{key}.tokenEnv"),
                format!("the variable {var} is not set"),
            )),
        };
    }
    if let Some(p) = file {
        let text = std::fs::read_to_string(&p).map_err(|e| {
            Error::new(
                format!("{key}.tokenFile"),
                format!("cannot read {}: {e}", p.display()),
            )
        })?;
        return Ok(Some(text.trim().to_owned()));
    }
    Ok(None)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("reconciler-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(a: &[&str]) -> Args {
        let mut v = vec!["gantry-reconciler"];
        v.extend_from_slice(a);
        Args::try_parse_from(v).expect("flags parse")
    }

    #[test]
    fn the_contract_example_resolves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("r.yaml");
        std::fs::write(
            &f,
            "nats: {url: nats://file:4222}\nworkerId: \"\"\nconcurrency: 4\npublicUrl: \"\"\nforges:\n  - {name: github, kind: github, apiUrl: https://api.github.com, tokenEnv: GITHUB_TOKEN}\n  - {name: gitea,  kind: gitea,  apiUrl: https://gitea.example.com, tokenEnv: GITEA_TOKEN}\nrepositories:\n  - {fullName: acme/platform, forge: github, cloneUrl: https://github.com/acme/platform.git}\nclusters:\n  - {name: default, kubeconfig: /etc/gantry/kubeconfig}\nresync: {interval: 5m}\n",
        )
        .expect("write");
        let fp = f.to_str().expect("utf-8");
        let env: &[(&str, &str)] = &[
            ("GITHUB_TOKEN", "ghp_x"),
            ("GITEA_TOKEN", "gt"),
            (ENV_CONCURRENCY, "8"),
        ];
        let c = Config::resolve(args(&["--config", fp]), env).expect("resolves");
        assert_eq!(c.nats_url, "nats://file:4222");
        assert_eq!(c.nats_replicas, 1);
        assert_eq!(c.concurrency, 8);
        assert_eq!(c.listen.to_string(), "0.0.0.0:9090");
        assert_eq!(c.forges.len(), 2);
        assert_eq!(c.forges[1].kind, ForgeKind::Gitea);
        assert_eq!(c.resync_interval, Duration::from_secs(300));
        assert!(!c.worker_id.is_empty());
        assert!(!format!("{c:?}").contains("ghp_x"));
    }

    #[test]
    fn nats_servers_and_replicas() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("r.yaml");
        std::fs::write(
            &f,
            "nats: {url: \"nats://a:4222, nats://b:4222\", replicas: 3}\n",
        )
        .expect("write");
        let fp = f.to_str().expect("utf-8");
        let none: &[(&str, &str)] = &[];
        let c = Config::resolve(args(&["--config", fp]), none).expect("resolves");
        assert_eq!(c.nats_url, "nats://a:4222,nats://b:4222");
        assert_eq!(c.nats_replicas, 3);
        let env: &[(&str, &str)] = &[(ENV_NATS_REPLICAS, "5")];
        let c = Config::resolve(args(&["--config", fp]), env).expect("resolves");
        assert_eq!(c.nats_replicas, 5);
        let c = Config::resolve(args(&["--config", fp, "--nats-replicas", "2"]), env)
            .expect("resolves");
        assert_eq!(c.nats_replicas, 2);
        std::fs::write(&f, "nats: {replicas: 9}\n").expect("write");
        let e = Config::resolve(args(&["--config", fp]), none).expect_err("9 replicas");
        assert_eq!(e.key, "nats.replicas");
        std::fs::write(&f, "nats: {replica: 3}\n").expect("write");
        let e = Config::resolve(args(&["--config", fp]), none).expect_err("unknown key");
        assert_eq!(e.key, "--config");
    }

    #[test]
    fn unknown_keys_and_missing_tokens_name_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("r.yaml");
        std::fs::write(&f, "concurency: 4\n").expect("write");
        let e = Config::resolve(
            args(&["--config", f.to_str().expect("utf-8")]),
            &[] as &[(&str, &str)],
        )
        .expect_err("unknown key");
        assert!(e.to_string().contains("concurency"), "{e}");

        std::fs::write(
            &f,
            "forges:\n  - {name: gh, kind: github, apiUrl: https://api.github.com, tokenEnv: NOPE}\n",
        )
        .expect("write");
        let e = Config::resolve(
            args(&["--config", f.to_str().expect("utf-8")]),
            &[] as &[(&str, &str)],
        )
        .expect_err("missing token");
        assert_eq!(e.key, "forges[0].tokenEnv");
        let e = Config::resolve(args(&["--concurrency", "0"]), &[] as &[(&str, &str)])
            .expect_err("zero");
        assert_eq!(e.key, "concurrency");
    }
}
