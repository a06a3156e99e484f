//! The receiver's options: flags, `GANTRY_*` variables, the `--config` YAML file and defaults,
//! resolved in that order (contract sections 1 and 2).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gantry_config::{
    CommonArgs, Env, Error, Layers, LogFormat, NatsFile, file_duration, from_str, parse_duration,
    path,
};
pub use gantry_config::{
    ENV_CONFIG, ENV_LISTEN, ENV_LOG_FORMAT, ENV_LOG_LEVEL, ENV_NATS_REPLICAS, ENV_NATS_URL,
    ENV_PUBLISH_TIMEOUT, ENV_SHUTDOWN_GRACE,
};
use serde::Deserialize;

use crate::signature::Secret;

/// `--webhook-secret`, comma separated.
pub const ENV_WEBHOOK_SECRET: &str = "GANTRY_WEBHOOK_SECRET";
/// `--webhook-secret-file`
pub const ENV_WEBHOOK_SECRET_FILE: &str = "GANTRY_WEBHOOK_SECRET_FILE";
/// `--max-body-bytes`
pub const ENV_MAX_BODY_BYTES: &str = "GANTRY_MAX_BODY_BYTES";
/// `--workers`
pub const ENV_WORKERS: &str = "GANTRY_WORKERS";

/// GitHub's own cap on a delivery's size.
pub const DEFAULT_MAX_BODY_BYTES: usize = 26_214_400;

/// Command-line flags. Every flag is optional here: absent ones fall through to the
/// environment, the config file and the defaults.
#[derive(Debug, Default, clap::Parser)]
#[command(name = "gantry-receiver", version, about = "Gantry's webhook receiver")]
pub struct Args {
    /// The options every service takes.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address to serve HTTP on [default: 0.0.0.0:8080] [env: GANTRY_LISTEN]
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// A webhook secret; repeat to accept several while rotating [env: GANTRY_WEBHOOK_SECRET, comma separated]
    #[arg(long)]
    pub webhook_secret: Vec<String>,
    /// A file with one webhook secret a line [env: GANTRY_WEBHOOK_SECRET_FILE]
    #[arg(long)]
    pub webhook_secret_file: Option<PathBuf>,
    /// Largest accepted delivery [default: 26214400] [env: GANTRY_MAX_BODY_BYTES]
    #[arg(long)]
    pub max_body_bytes: Option<usize>,
    /// How long to wait for JetStream's ack before answering 503 [default: 5s] [env: GANTRY_PUBLISH_TIMEOUT]
    #[arg(long, value_parser = parse_duration)]
    pub publish_timeout: Option<Duration>,
    /// HTTP worker threads [default: one per core] [env: GANTRY_WORKERS]
    #[arg(long)]
    pub workers: Option<usize>,
}

/// The `--config` file. Unknown keys are an error, so that a typo never goes unnoticed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileConfig {
    listen: Option<SocketAddr>,
    nats_url: Option<String>,
    nats: Option<NatsFile>,
    webhook_secrets: Option<Vec<String>>,
    webhook_secret_file: Option<PathBuf>,
    max_body_bytes: Option<usize>,
    publish_timeout: Option<String>,
    shutdown_grace: Option<String>,
    log_format: Option<String>,
    log_level: Option<String>,
    workers: Option<usize>,
    #[serde(default)]
    repositories: Vec<RepositoryConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RepositoryConfig {
    full_name: String,
    secrets: Vec<String>,
}

/// The receiver's resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to serve HTTP.
    pub listen: SocketAddr,
    /// The NATS servers, separated by commas.
    pub nats_url: String,
    /// Copies of `GANTRY_EVENTS` when the receiver creates it.
    pub nats_replicas: usize,
    /// Secrets accepted for every repository without its own.
    pub secrets: Vec<Secret>,
    /// Per-repository secrets, keyed by lower-cased full name; such a repository accepts only these.
    pub repositories: HashMap<String, Vec<Secret>>,
    /// Largest accepted delivery in bytes.
    pub max_body_bytes: usize,
    /// Longest wait for JetStream's ack.
    pub publish_timeout: Duration,
    /// Longest wait for in-flight deliveries at shutdown.
    pub shutdown_grace: Duration,
    /// Log line format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// The OTLP endpoint, from `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub otlp_endpoint: Option<String>,
    /// HTTP worker threads; `None` for one per core.
    pub workers: Option<usize>,
}

impl Config {
    /// A configuration for tests: listen anywhere, one secret, everything else default.
    pub fn for_tests(nats_url: &str, secret: &str) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            nats_url: nats_url.to_owned(),
            nats_replicas: 1,
            secrets: vec![Secret::new(secret)],
            repositories: HashMap::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            publish_timeout: gantry_config::DEFAULT_PUBLISH_TIMEOUT,
            shutdown_grace: gantry_config::DEFAULT_SHUTDOWN_GRACE,
            log_format: LogFormat::Text,
            log_level: gantry_config::DEFAULT_LOG_LEVEL.to_owned(),
            otlp_endpoint: None,
            workers: Some(2),
        }
    }

    /// Resolves flags, then `env`, then the config file, then defaults.
    pub fn resolve<E: Env + ?Sized>(args: Args, env: &E) -> Result<Config, Error> {
        let l = Layers::new(env);
        let (_, mut file): (_, FileConfig) = l.config_file(args.common.config.clone())?;

        let listen = l.pick(
            args.listen,
            ENV_LISTEN,
            from_str,
            file.listen,
            SocketAddr::from(([0, 0, 0, 0], 8080)),
        )?;
        // `natsUrl` is the older spelling of `nats: {url}`; one of them, not both.
        let mut nats_file = file.nats.clone().unwrap_or_default();
        if let Some(u) = file.nats_url.clone() {
            if nats_file.url.is_some() {
                return Err(Error::new(
                    "natsUrl",
                    "is set beside nats.url; keep only nats.url",
                ));
            }
            nats_file.url = Some(u);
        }
        file.nats = Some(nats_file);
        let common = l.common(args.common, gantry_config::common_file!(file))?;
        let flag_secrets = (!args.webhook_secret.is_empty()).then_some(args.webhook_secret);
        let mut secrets: Vec<String> = l.pick(
            flag_secrets,
            ENV_WEBHOOK_SECRET,
            |s| Ok(s.split(',').map(str::to_owned).collect()),
            file.webhook_secrets,
            Vec::new(),
        )?;
        let secret_file = l.pick(
            args.webhook_secret_file.map(Some),
            ENV_WEBHOOK_SECRET_FILE,
            |s| path(s).map(Some),
            file.webhook_secret_file.map(Some),
            None,
        )?;
        if let Some(p) = secret_file {
            secrets.extend(read_secret_file(&p)?);
        }
        let secrets: Vec<Secret> = secrets
            .into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .map(Secret::new)
            .collect();

        let mut repositories = HashMap::new();
        for (i, r) in file.repositories.into_iter().enumerate() {
            let key = format!("repositories[{i}]");
            if !r.full_name.contains('/') {
                return Err(Error::new(
                    format!("{key}.fullName"),
                    format!("{:?} is not \"owner/name\"", r.full_name),
                ));
            }
            let list: Vec<Secret> = r
                .secrets
                .iter()
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .map(Secret::new)
                .collect();
            if list.is_empty() {
                return Err(Error::new(
                    format!("{key}.secrets"),
                    "lists no secret; a repository with its own entry accepts only its own secrets",
                ));
            }
            repositories.insert(r.full_name.to_ascii_lowercase(), list);
        }
        if secrets.is_empty() && repositories.is_empty() {
            return Err(Error::new(
                "--webhook-secret",
                "no webhook secret is configured (use --webhook-secret, GANTRY_WEBHOOK_SECRET, --webhook-secret-file or --config)",
            ));
        }

        let max_body_bytes = l.pick(
            args.max_body_bytes,
            ENV_MAX_BODY_BYTES,
            from_str,
            file.max_body_bytes,
            DEFAULT_MAX_BODY_BYTES,
        )?;
        if max_body_bytes == 0 {
            return Err(Error::new("--max-body-bytes", "must be at least 1"));
        }
        let publish_timeout = l.pick(
            args.publish_timeout,
            ENV_PUBLISH_TIMEOUT,
            parse_duration,
            file_duration("publishTimeout", file.publish_timeout.as_deref())?,
            gantry_config::DEFAULT_PUBLISH_TIMEOUT,
        )?;
        if publish_timeout.is_zero() {
            return Err(Error::new("--publish-timeout", "must be longer than 0s"));
        }
        let workers = l.pick(
            args.workers.map(Some),
            ENV_WORKERS,
            |s| from_str(s).map(Some),
            file.workers.map(Some),
            None,
        )?;
        if workers == Some(0) {
            return Err(Error::new("--workers", "must be at least 1"));
        }
        Ok(Config {
            listen,
            nats_url: common.nats.url(),
            nats_replicas: common.nats.replicas,
            secrets,
            repositories,
            max_body_bytes,
            publish_timeout,
            shutdown_grace: common.shutdown_grace,
            log_format: common.log_format,
            log_level: common.log_level,
            otlp_endpoint: common.otlp_endpoint,
            workers,
        })
    }
}

fn read_secret_file(p: &Path) -> Result<Vec<String>, Error> {
    let text = std::fs::read_to_string(p).map_err(|e| {
        Error::new(
            "--webhook-secret-file",
            format!("cannot read {}: {e}", p.display()),
        )
    })?;
    Ok(text.lines().map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(a: &[&str]) -> Args {
        let mut v = vec!["gantry-receiver"];
        v.extend_from_slice(a);
        Args::try_parse_from(v).expect("flags parse")
    }

    #[test]
    fn defaults_and_env_secrets() {
        let env: &[(&str, &str)] = &[(ENV_WEBHOOK_SECRET, "a,b")];
        let c = Config::resolve(args(&[]), env).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(c.nats_url, "nats://127.0.0.1:4222");
        assert_eq!(c.secrets, vec![Secret::new("a"), Secret::new("b")]);
        assert_eq!(c.max_body_bytes, 26_214_400);
        assert_eq!(c.publish_timeout, Duration::from_secs(5));
        assert_eq!(c.shutdown_grace, Duration::from_secs(25));
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.yaml");
        std::fs::write(
            &f,
            "natsUrl: nats://file:4222\npublishTimeout: 9s\nrepositories:\n  - fullName: Acme/App\n    secrets: [s1, s2]\n",
        )
        .unwrap();
        let fp = f.to_str().unwrap();
        let env: &[(&str, &str)] = &[(ENV_NATS_URL, "nats://env:4222"), (ENV_CONFIG, fp)];
        let c = Config::resolve(args(&["--webhook-secret", "x"]), env).unwrap();
        assert_eq!(c.nats_url, "nats://env:4222");
        assert_eq!(c.publish_timeout, Duration::from_secs(9));
        assert_eq!(c.repositories["acme/app"].len(), 2);
        let c = Config::resolve(
            args(&["--webhook-secret", "x", "--nats-url", "nats://flag:1"]),
            env,
        )
        .unwrap();
        assert_eq!(c.nats_url, "nats://flag:1");
    }

    #[test]
    fn nats_servers_and_replicas() {
        let env: &[(&str, &str)] = &[(ENV_WEBHOOK_SECRET, "a")];
        let c = Config::resolve(args(&[]), env).unwrap();
        assert_eq!(c.nats_replicas, 1);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.yaml");
        std::fs::write(
            &f,
            "nats: {url: \"nats://a:4222,nats://b:4222\", replicas: 3}\n",
        )
        .unwrap();
        let fp = f.to_str().unwrap();
        let c = Config::resolve(args(&["--config", fp]), env).unwrap();
        assert_eq!(c.nats_url, "nats://a:4222,nats://b:4222");
        assert_eq!(c.nats_replicas, 3);
        let env: &[(&str, &str)] = &[(ENV_WEBHOOK_SECRET, "a"), (ENV_NATS_REPLICAS, "5")];
        let c = Config::resolve(args(&["--config", fp]), env).unwrap();
        assert_eq!(c.nats_replicas, 5);
        let c = Config::resolve(args(&["--config", fp, "--nats-replicas", "1"]), env).unwrap();
        assert_eq!(c.nats_replicas, 1);

        let env: &[(&str, &str)] = &[(ENV_WEBHOOK_SECRET, "a"), (ENV_NATS_REPLICAS, "0")];
        let e = Config::resolve(args(&[]), env).unwrap_err();
        assert_eq!(e.key, ENV_NATS_REPLICAS);
        let env: &[(&str, &str)] = &[(ENV_WEBHOOK_SECRET, "a"), (ENV_NATS_URL, "nats://a,")];
        let e = Config::resolve(args(&[]), env).unwrap_err();
        assert_eq!(e.key, ENV_NATS_URL);
        assert!(Args::try_parse_from(["r", "--nats-replicas", "6"]).is_err());
        std::fs::write(&f, "natsUrl: nats://x\nnats: {url: nats://y}\n").unwrap();
        let e = Config::resolve(args(&["--config", fp]), env).unwrap_err();
        assert_eq!(e.key, "natsUrl");
    }

    #[test]
    fn errors_name_the_key() {
        let env: &[(&str, &str)] = &[(ENV_MAX_BODY_BYTES, "lots")];
        let e = Config::resolve(args(&["--webhook-secret", "x"]), env).unwrap_err();
        assert_eq!(e.key, ENV_MAX_BODY_BYTES);
        let e = Config::resolve(args(&[]), &[] as &[(&str, &str)]).unwrap_err();
        assert_eq!(e.key, "--webhook-secret");

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.yaml");
        std::fs::write(&f, "natsUrl: x\nwebhookSecret: oops\n").unwrap();
        let e = Config::resolve(
            args(&["--config", f.to_str().unwrap(), "--webhook-secret", "x"]),
            &[] as &[(&str, &str)],
        )
        .unwrap_err();
        assert_eq!(e.key, "--config");
        assert!(e.message.contains("webhookSecret"), "{e}");
    }
}
