//! `gantry-api`'s options: flags, `GANTRY_*` variables, the `--config` YAML file (contract
//! section 12) and defaults, resolved in that order. Files the options name (the tokens file,
//! forge tokens) are read here, so that a missing one is a start-up error naming its key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gantry_config::{
    CommonArgs, Env, Error, Layers, LogFormat, NatsFile, from_str, parse_duration, path,
};
pub use gantry_config::{
    ENV_CONFIG, ENV_DATA_DIR, ENV_LOG_FORMAT, ENV_LOG_LEVEL, ENV_NATS_REPLICAS, ENV_NATS_URL,
    ENV_OTLP_ENDPOINT, ENV_PUBLISH_TIMEOUT, ENV_SHUTDOWN_GRACE,
};
use serde::Deserialize;

use crate::tokens::StaticTokens;

/// `--listen`: the API's own name (contract section 12).
pub const ENV_LISTEN: &str = "GANTRY_API_LISTEN";
/// `--rbac-interval`
pub const ENV_RBAC_INTERVAL: &str = "GANTRY_RBAC_INTERVAL";
/// `--oidc-issuer`
pub const ENV_OIDC_ISSUER: &str = "GANTRY_OIDC_ISSUER";
/// `--oidc-audience`
pub const ENV_OIDC_AUDIENCE: &str = "GANTRY_OIDC_AUDIENCE";
/// `--tokens-file`
pub const ENV_TOKENS_FILE: &str = "GANTRY_TOKENS_FILE";

/// Command-line flags; absent ones fall through to the environment, the file and the defaults.
#[derive(Debug, Default, clap::Parser)]
#[command(name = "gantry-api", version, about = "Gantry's self-service API")]
pub struct Args {
    /// The options every service takes (`--config` is the file of contract section 12).
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address to serve on [default: 0.0.0.0:8090] [env: GANTRY_API_LISTEN]
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Where repository mirrors live [default: $TMPDIR/gantry-api] [env: GANTRY_DATA_DIR]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// How long a sync may wait for JetStream's ack [default: 5s] [env: GANTRY_PUBLISH_TIMEOUT]
    #[arg(long, value_parser = parse_duration)]
    pub publish_timeout: Option<Duration>,
    /// How often RBAC rules and repositories are re-read besides on pushes [default: 1m] [env: GANTRY_RBAC_INTERVAL]
    #[arg(long, value_parser = parse_duration)]
    pub rbac_interval: Option<Duration>,
    /// An OIDC issuer whose tokens are accepted (overrides `oidc.issuer`) [env: GANTRY_OIDC_ISSUER]
    #[arg(long)]
    pub oidc_issuer: Option<String>,
    /// The audience tokens must carry (overrides `oidc.audience`) [env: GANTRY_OIDC_AUDIENCE]
    #[arg(long)]
    pub oidc_audience: Option<String>,
    /// Static tokens, `name sha256-hex group,group` a line (overrides `tokensFile`) [env: GANTRY_TOKENS_FILE]
    #[arg(long)]
    pub tokens_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileConfig {
    nats: Option<NatsFile>,
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    oidc: Option<OidcFile>,
    tokens_file: Option<PathBuf>,
    rbac: Option<RbacFile>,
    #[serde(default)]
    forges: Vec<ForgeFile>,
    #[serde(default)]
    repositories: Vec<RepositoryFile>,
    shutdown_grace: Option<String>,
    log_format: Option<String>,
    log_level: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OidcFile {
    issuer: String,
    audience: String,
    groups_claim: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RbacFile {
    repository: Option<String>,
    branch: Option<String>,
    path: Option<String>,
    file: Option<PathBuf>,
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

/// Which REST dialect a forge speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeKind {
    /// GitHub and GitHub Enterprise.
    Github,
    /// Gitea and Forgejo.
    Gitea,
}

/// A Git host's REST API.
#[derive(Clone)]
pub struct Forge {
    /// The name repositories refer to.
    pub name: String,
    /// Its dialect.
    pub kind: ForgeKind,
    /// `https://api.github.com`, or Gitea's base URL.
    pub api_url: String,
    /// The token (empty when none is configured).
    pub token: String,
}

impl std::fmt::Debug for Forge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forge")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// A repository the API knows.
#[derive(Clone)]
pub struct Repository {
    /// `owner/name`.
    pub full_name: String,
    /// The forge's name, when commits and pull requests go through one.
    pub forge: Option<String>,
    /// Where to fetch from.
    pub clone_url: String,
    /// User name and token for fetches.
    pub credentials: Option<gantry_git::Credentials>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("full_name", &self.full_name)
            .field("forge", &self.forge)
            .field("clone_url", &self.clone_url)
            .finish_non_exhaustive()
    }
}

impl Repository {
    /// `owner` and `name`.
    pub fn split(&self) -> (&str, &str) {
        self.full_name
            .split_once('/')
            .unwrap_or((&self.full_name, ""))
    }
}

/// An OIDC issuer whose tokens are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oidc {
    /// The `iss` value and the base of discovery.
    pub issuer: String,
    /// The `aud` tokens must carry.
    pub audience: String,
    /// The claim holding the caller's groups.
    pub groups_claim: String,
    /// The least time between two JWKS fetches caused by unknown key ids.
    pub jwks_min_refetch: Duration,
}

/// Where the RBAC rules come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RbacSource {
    /// A file on disk.
    File(PathBuf),
    /// A file in a Git repository, read at the branch head.
    Git {
        /// `owner/name`; must be in `repositories` unless `clone_url` says where.
        repository: String,
        /// The branch.
        branch: String,
        /// The file's path in the repository.
        path: String,
    },
    /// No rules: everything is denied.
    None,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to serve.
    pub listen: SocketAddr,
    /// NATS servers, separated by commas.
    pub nats_url: String,
    /// Copies of the streams the API creates.
    pub nats_replicas: usize,
    /// Mirrors live here.
    pub data_dir: PathBuf,
    /// How long to wait for JetStream's ack of a sync.
    pub publish_timeout: Duration,
    /// How often rules and repositories are re-read without a push.
    pub refresh_interval: Duration,
    /// The OIDC issuer, if any.
    pub oidc: Option<Oidc>,
    /// Static tokens.
    pub tokens: StaticTokens,
    /// Where rules come from.
    pub rbac: RbacSource,
    /// Git hosts.
    pub forges: Vec<Forge>,
    /// Repositories.
    pub repositories: Vec<Repository>,
    /// Shutdown grace.
    pub shutdown_grace: Duration,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// OTLP endpoint.
    pub otlp_endpoint: Option<String>,
}

impl Config {
    /// A configuration for tests: defaults, no OIDC, no tokens, no rules.
    pub fn for_tests(nats_url: &str, data_dir: &Path) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            nats_url: nats_url.to_owned(),
            nats_replicas: 1,
            data_dir: data_dir.to_path_buf(),
            publish_timeout: gantry_config::DEFAULT_PUBLISH_TIMEOUT,
            refresh_interval: Duration::from_secs(60),
            oidc: None,
            tokens: StaticTokens::default(),
            rbac: RbacSource::None,
            forges: Vec::new(),
            repositories: Vec::new(),
            shutdown_grace: Duration::from_secs(5),
            log_format: LogFormat::Text,
            log_level: gantry_config::DEFAULT_LOG_LEVEL.to_owned(),
            otlp_endpoint: None,
        }
    }

    /// The repository named `full_name` (case-insensitive).
    pub fn repository(&self, full_name: &str) -> Option<&Repository> {
        self.repositories
            .iter()
            .find(|r| r.full_name.eq_ignore_ascii_case(full_name))
    }

    /// The forge a repository's commits and pull requests go through.
    pub fn forge_of(&self, repo: &Repository) -> Option<&Forge> {
        let name = repo.forge.as_deref()?;
        self.forges.iter().find(|f| f.name == name)
    }

    /// Resolves flags, environment, file and defaults.
    pub fn resolve<E: Env + ?Sized>(args: Args, env: &E) -> Result<Config, Error> {
        let l = Layers::new(env);
        let (config_path, file): (_, FileConfig) = l.config_file(args.common.config.clone())?;
        let base = config_path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let listen = l.pick(
            args.listen,
            ENV_LISTEN,
            from_str,
            file.listen,
            SocketAddr::from(([0, 0, 0, 0], 8090)),
        )?;
        let common = l.common(args.common, gantry_config::common_file!(file))?;
        let data_dir = l.pick(
            args.data_dir,
            ENV_DATA_DIR,
            path,
            file.data_dir,
            std::env::temp_dir().join("gantry-api"),
        )?;
        let publish_timeout = l.pick(
            args.publish_timeout,
            ENV_PUBLISH_TIMEOUT,
            parse_duration,
            None,
            gantry_config::DEFAULT_PUBLISH_TIMEOUT,
        )?;
        if publish_timeout.is_zero() {
            return Err(Error::new("--publish-timeout", "must be more than zero"));
        }
        let file_interval = match file.rbac.as_ref().and_then(|r| r.interval.as_deref()) {
            Some(s) => Some(parse_duration(s).map_err(|m| Error::new("rbac.interval", m))?),
            None => None,
        };
        let refresh_interval = l.pick(
            args.rbac_interval,
            ENV_RBAC_INTERVAL,
            parse_duration,
            file_interval,
            Duration::from_secs(60),
        )?;
        if refresh_interval < Duration::from_secs(1) {
            return Err(Error::new("--rbac-interval", "must be at least 1s"));
        }

        // OIDC: the flags and variables override the file's issuer and audience.
        let issuer = l.pick(
            args.oidc_issuer.map(Some),
            ENV_OIDC_ISSUER,
            |s| Ok(Some(s.to_owned())),
            file.oidc.as_ref().map(|o| Some(o.issuer.clone())),
            None,
        )?;
        let audience = l.pick(
            args.oidc_audience.map(Some),
            ENV_OIDC_AUDIENCE,
            |s| Ok(Some(s.to_owned())),
            file.oidc.as_ref().map(|o| Some(o.audience.clone())),
            None,
        )?;
        let oidc = match (issuer, audience) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(Error::new(
                    "--oidc-audience",
                    "an OIDC issuer needs the audience its tokens must carry",
                ));
            }
            (None, Some(_)) => {
                return Err(Error::new("--oidc-issuer", "an audience needs an issuer"));
            }
            (Some(issuer), Some(audience)) => {
                let key = "--oidc-issuer";
                let u = reqwest::Url::parse(&issuer)
                    .map_err(|e| Error::new(key, format!("{issuer:?} is not a URL ({e})")))?;
                if u.scheme() != "https" && u.scheme() != "http" {
                    return Err(Error::new(key, "the issuer must be an http(s) URL"));
                }
                if audience.is_empty() {
                    return Err(Error::new("--oidc-audience", "must not be empty"));
                }
                Some(Oidc {
                    issuer: issuer.trim_end_matches('/').to_owned(),
                    audience,
                    groups_claim: file
                        .oidc
                        .as_ref()
                        .and_then(|o| o.groups_claim.clone())
                        .unwrap_or_else(|| "groups".to_owned()),
                    jwks_min_refetch: crate::oidc::DEFAULT_MIN_REFETCH,
                })
            }
        };

        let tokens_path = l.pick(
            args.tokens_file.map(Some),
            ENV_TOKENS_FILE,
            |s| path(s).map(Some),
            file.tokens_file.map(|p| Some(base.join(p))),
            None,
        )?;
        let tokens = match tokens_path {
            None => StaticTokens::default(),
            Some(p) => {
                let text = std::fs::read_to_string(&p).map_err(|e| {
                    Error::new("tokensFile", format!("cannot read {}: {e}", p.display()))
                })?;
                StaticTokens::parse(&text).map_err(|e| Error::new("tokensFile", e))?
            }
        };

        let mut forges = Vec::new();
        for (i, f) in file.forges.into_iter().enumerate() {
            let key = |k: &str| format!("forges[{i}].{k}");
            let kind = match f.kind.as_str() {
                "github" => ForgeKind::Github,
                "gitea" | "forgejo" => ForgeKind::Gitea,
                other => {
                    return Err(Error::new(
                        key("kind"),
                        format!("{other:?} is neither github nor gitea"),
                    ));
                }
            };
            let token = secret(env, &base, f.token_env, f.token_file, &key)?.unwrap_or_default();
            forges.push(Forge {
                name: f.name,
                kind,
                api_url: f.api_url.trim_end_matches('/').to_owned(),
                token,
            });
        }
        let mut repositories = Vec::new();
        for (i, r) in file.repositories.into_iter().enumerate() {
            let key = |k: &str| format!("repositories[{i}].{k}");
            if r.full_name.split('/').count() != 2 || r.full_name.split('/').any(str::is_empty) {
                return Err(Error::new(key("fullName"), "must be owner/name"));
            }
            if let Some(f) = &r.forge
                && !forges.iter().any(|x| &x.name == f)
            {
                return Err(Error::new(key("forge"), format!("no forge is named {f:?}")));
            }
            let token = secret(env, &base, r.token_env, r.token_file, &key)?;
            let clone_url = match r.clone_url {
                Some(u) => u,
                None => match r
                    .forge
                    .as_ref()
                    .and_then(|f| forges.iter().find(|x| &x.name == f))
                {
                    Some(f)
                        if f.kind == ForgeKind::Github && f.api_url == "https://api.github.com" =>
                    {
                        format!("https://github.com/{}.git", r.full_name)
                    }
                    Some(f) => format!("{}/{}.git", f.api_url, r.full_name),
                    None => {
                        return Err(Error::new(key("cloneUrl"), "needed when no forge is named"));
                    }
                },
            };
            repositories.push(Repository {
                full_name: r.full_name,
                forge: r.forge,
                clone_url,
                credentials: token.map(|password| gantry_git::Credentials {
                    username: r.username.unwrap_or_else(|| "x-access-token".to_owned()),
                    password,
                }),
            });
        }

        let rbac = match file.rbac {
            None => RbacSource::None,
            Some(r) => match (r.file, r.repository) {
                (Some(f), None) => RbacSource::File(base.join(f)),
                (None, Some(repo)) => {
                    if !repositories
                        .iter()
                        .any(|x| x.full_name.eq_ignore_ascii_case(&repo))
                    {
                        return Err(Error::new(
                            "rbac.repository",
                            format!(
                                "{repo} is not listed in repositories (its clone URL comes from there)"
                            ),
                        ));
                    }
                    RbacSource::Git {
                        repository: repo,
                        branch: r.branch.unwrap_or_else(|| "main".to_owned()),
                        path: r.path.unwrap_or_else(|| "rbac.yaml".to_owned()),
                    }
                }
                (Some(_), Some(_)) => {
                    return Err(Error::new(
                        "rbac",
                        "give either file or repository, not both",
                    ));
                }
                (None, None) => return Err(Error::new("rbac", "give file or repository")),
            },
        };

        Ok(Config {
            listen,
            nats_url: common.nats.url(),
            nats_replicas: common.nats.replicas,
            data_dir,
            publish_timeout,
            refresh_interval,
            oidc,
            tokens,
            rbac,
            forges,
            repositories,
            shutdown_grace: common.shutdown_grace,
            log_format: common.log_format,
            log_level: common.log_level,
            otlp_endpoint: common.otlp_endpoint,
        })
    }
}

fn secret<E: Env + ?Sized>(
    env: &E,
    base: &Path,
    var: Option<String>,
    file: Option<PathBuf>,
    key: &dyn Fn(&str) -> String,
) -> Result<Option<String>, Error> {
    match (var, file) {
        (Some(v), None) => match env.var(&v) {
            Some(t) if !t.is_empty() => Ok(Some(t)),
            _ => Err(Error::new(key("tokenEnv"), format!("{v} is not set"))),
        },
        (None, Some(f)) => {
            let p = base.join(f);
            std::fs::read_to_string(&p)
                .map(|t| Some(t.trim().to_owned()))
                .map_err(|e| {
                    Error::new(
                        key("tokenFile"),
                        format!("cannot read {}: {e}", p.display()),
                    )
                })
        }
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(Error::new(
            key("tokenEnv"),
            "give tokenEnv or tokenFile, not both",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(yaml: &str, env: &[(&str, &str)]) -> Result<Config, Error> {
        let dir = tempfile::tempdir().map_err(|e| Error::new("tmp", e))?;
        let p = dir.path().join("api.yaml");
        std::fs::write(&p, yaml).map_err(|e| Error::new("tmp", e))?;
        Config::resolve(
            Args {
                common: gantry_config::CommonArgs {
                    config: Some(p),
                    ..Default::default()
                },
                ..Default::default()
            },
            env,
        )
    }

    #[test]
    fn rbac_repository_must_be_listed() {
        let e = resolve("rbac: {repository: acme/rbac}\n", &[]).unwrap_err();
        assert_eq!(e.key, "rbac.repository");
        let c = resolve(
            "rbac: {repository: acme/rbac}\nrepositories: [{fullName: acme/rbac, cloneUrl: http://h/acme/rbac.git}]\n",
            &[],
        );
        assert!(matches!(c.map(|c| c.rbac), Ok(RbacSource::Git { .. })));
    }

    #[test]
    fn oidc_needs_both_and_flags_win() {
        let e = resolve("", &[(ENV_OIDC_ISSUER, "https://idp")]).unwrap_err();
        assert_eq!(e.key, "--oidc-audience");
        let c = resolve(
            "oidc: {issuer: https://a/, audience: x}\n",
            &[(ENV_OIDC_ISSUER, "https://b")],
        );
        let o = c.ok().and_then(|c| c.oidc);
        assert_eq!(
            o.map(|o| (o.issuer, o.audience)),
            Some(("https://b".to_owned(), "x".to_owned()))
        );
    }

    #[test]
    fn nats_servers_and_replicas() {
        let c = resolve(
            "nats: {url: \"nats://a:4222,nats://b:4222\", replicas: 3}\n",
            &[],
        )
        .expect("resolves");
        assert_eq!(c.nats_url, "nats://a:4222,nats://b:4222");
        assert_eq!(c.nats_replicas, 3);
        let c = resolve("", &[(ENV_NATS_REPLICAS, "5")]).expect("resolves");
        assert_eq!(c.nats_replicas, 5);
        let e = resolve("nats: {replicas: 0}\n", &[]).unwrap_err();
        assert_eq!(e.key, "nats.replicas");
    }

    #[test]
    fn the_options_every_service_takes_come_from_the_file_too() {
        let c = resolve("shutdownGrace: 3s\nlogFormat: json\nlogLevel: debug\n", &[])
            .expect("resolves");
        assert_eq!(c.shutdown_grace, Duration::from_secs(3));
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.log_level, "debug");
        let c = resolve("shutdownGrace: 3s\n", &[(ENV_SHUTDOWN_GRACE, "9s")]).expect("resolves");
        assert_eq!(c.shutdown_grace, Duration::from_secs(9));
        let e = resolve("shutdownGrace: soon\n", &[]).unwrap_err();
        assert_eq!(e.key, "shutdownGrace");
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = resolve("rbak: {}\n", &[]).unwrap_err();
        assert_eq!(e.key, "--config");
        assert!(e.message.contains("rbak"), "{e}");
    }
}
