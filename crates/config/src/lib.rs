//! Layered configuration for Gantry's binaries: flags win over the environment, the environment
//! over the config file, the file over defaults (contract section 1).
//!
//! The environment is read through the [`Env`] trait so that tests inject a map instead of
//! mutating the process environment. Every error names the offending key, and binaries exit with
//! [`EXIT_CONFIG`] on one.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The exit code for a bad option or config (`EX_USAGE` from sysexits.h).
pub const EXIT_CONFIG: u8 = 64;

/// Where environment variables come from.
pub trait Env {
    /// The variable's value, if set and valid Unicode.
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Env for [(&str, &str)] {
    fn var(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

/// A configuration error: which key, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {key}: {message}")]
pub struct Error {
    /// The flag, variable or file key, as the user wrote it (`--max-body-bytes`, `GANTRY_NATS_URL`).
    pub key: String,
    /// What is wrong, in one sentence.
    pub message: String,
}

impl Error {
    /// An error about `key`.
    pub fn new(key: impl Into<String>, message: impl fmt::Display) -> Self {
        Error {
            key: key.into(),
            message: message.to_string(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "json" => Ok(LogFormat::Json),
            "text" => Ok(LogFormat::Text),
            other => Err(format!("{other:?} is neither \"json\" nor \"text\"")),
        }
    }
}

/// Parses a duration written as `5s`, `250ms`, `1m30s`, or bare seconds (`5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| format!("{s:?} is not a duration ({e})"))
}

/// One setting resolved across the layers: flag, then environment variable, then file, then
/// default. Values from the environment are parsed here; flag and file values arrive typed.
#[derive(Debug)]
pub struct Layers<'a, E: Env + ?Sized> {
    env: &'a E,
}

impl<'a, E: Env + ?Sized> Layers<'a, E> {
    /// Resolves settings against `env`.
    pub fn new(env: &'a E) -> Self {
        Layers { env }
    }

    /// The first of: `flag`, the variable `var` parsed with `parse`, `file`, `default`.
    pub fn pick<T>(
        &self,
        flag: Option<T>,
        var: &str,
        parse: impl Fn(&str) -> Result<T, String>,
        file: Option<T>,
        default: T,
    ) -> Result<T, Error> {
        if let Some(v) = flag {
            return Ok(v);
        }
        if let Some(raw) = self.env.var(var) {
            return parse(&raw).map_err(|m| Error::new(var, m));
        }
        Ok(file.unwrap_or(default))
    }

    /// The raw value of a variable.
    pub fn var(&self, var: &str) -> Option<String> {
        self.env.var(var)
    }
}

/// Parses with `FromStr`, for [`Layers::pick`].
pub fn from_str<T: FromStr>(s: &str) -> Result<T, String>
where
    T::Err: fmt::Display,
{
    s.trim()
        .parse()
        .map_err(|e| format!("{s:?} is not valid ({e})"))
}

/// Parses a path, for [`Layers::pick`].
pub fn path(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        Err("the path is empty".to_owned())
    } else {
        Ok(PathBuf::from(s))
    }
}

/// `--nats-url`: one NATS server, or several seed servers separated by commas.
pub const ENV_NATS_URL: &str = "GANTRY_NATS_URL";
/// `--nats-replicas`: how many servers keep a copy of what Gantry creates in JetStream.
pub const ENV_NATS_REPLICAS: &str = "GANTRY_NATS_REPLICAS";
/// Where NATS is when nothing says otherwise.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";
/// JetStream keeps at most five copies of a stream.
pub const MAX_NATS_REPLICAS: usize = 5;

/// The `nats:` block of a service's config file: `nats: {url: ..., replicas: 3}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsFile {
    /// One server URL, or several separated by commas.
    pub url: Option<String>,
    /// Copies of each stream, bucket and consumer Gantry creates.
    pub replicas: Option<usize>,
}

/// Where NATS is and how Gantry's JetStream assets are replicated, resolved across the layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsSettings {
    /// The seed servers, in the order given; the client connects to any of them and learns the
    /// rest of the cluster from the server it reaches.
    pub servers: Vec<String>,
    /// Copies kept of `GANTRY_EVENTS`, `GANTRY_AUDIT`, `GANTRY_DLQ`, `gantry-state` and the
    /// reconcilers' consumer when Gantry creates them (1 to [`MAX_NATS_REPLICAS`]).
    pub replicas: usize,
}

impl NatsSettings {
    /// The servers joined with commas, as `--nats-url` takes them.
    pub fn url(&self) -> String {
        self.servers.join(",")
    }
}

/// Parses `--nats-url`: comma-separated server URLs (`nats://`, `tls://`, `ws://`, `wss://` or a
/// bare `host:port`), each with a host and, when given, a numeric port.
pub fn parse_nats_url(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (i, raw) in s.split(',').enumerate() {
        let entry = raw.trim();
        if entry.is_empty() {
            return Err(format!(
                "server {} of {s:?} is empty (separate servers with single commas)",
                i + 1
            ));
        }
        check_server(entry).map_err(|m| format!("{entry:?} {m}"))?;
        out.push(entry.to_owned());
    }
    Ok(out)
}

fn check_server(entry: &str) -> Result<(), &'static str> {
    let rest = match entry.split_once("://") {
        Some((scheme, rest)) => {
            if !matches!(scheme, "nats" | "tls" | "ws" | "wss") {
                return Err("has a scheme other than nats, tls, ws or wss");
            }
            rest
        }
        None => entry,
    };
    if rest.chars().any(char::is_whitespace) {
        return Err("contains white space");
    }
    // Credentials may sit before the host (`nats://user:pass@host:4222`).
    let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hostport = hostport.split('/').next().unwrap_or_default();
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return Err("has an unclosed IPv6 bracket"),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err("names no host");
    }
    if let Some(p) = port
        && p.parse::<u16>().is_err()
    {
        return Err("has a port that is not a number from 0 to 65535");
    }
    Ok(())
}

/// Parses `--nats-replicas`: 1 to [`MAX_NATS_REPLICAS`].
pub fn parse_nats_replicas(s: &str) -> Result<usize, String> {
    let n: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number"))?;
    check_replicas(n)
}

fn check_replicas(n: usize) -> Result<usize, String> {
    if (1..=MAX_NATS_REPLICAS).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "{n} is not between 1 and {MAX_NATS_REPLICAS} (JetStream keeps at most {MAX_NATS_REPLICAS} copies)"
        ))
    }
}

impl<'a, E: Env + ?Sized> Layers<'a, E> {
    /// Resolves `--nats-url` and `--nats-replicas` against [`ENV_NATS_URL`],
    /// [`ENV_NATS_REPLICAS`] and the file's `nats:` block; every service reads them the same way.
    pub fn nats(
        &self,
        flag_url: Option<String>,
        flag_replicas: Option<usize>,
        file: Option<&NatsFile>,
    ) -> Result<NatsSettings, Error> {
        let flag_servers = flag_url
            .map(|u| parse_nats_url(&u).map_err(|m| Error::new("--nats-url", m)))
            .transpose()?;
        let file_servers = file
            .and_then(|f| f.url.as_deref())
            .map(|u| parse_nats_url(u).map_err(|m| Error::new("nats.url", m)))
            .transpose()?;
        let servers = self.pick(
            flag_servers,
            ENV_NATS_URL,
            parse_nats_url,
            file_servers,
            vec![DEFAULT_NATS_URL.to_owned()],
        )?;
        let flag_replicas = flag_replicas
            .map(|n| check_replicas(n).map_err(|m| Error::new("--nats-replicas", m)))
            .transpose()?;
        let file_replicas = file
            .and_then(|f| f.replicas)
            .map(|n| check_replicas(n).map_err(|m| Error::new("nats.replicas", m)))
            .transpose()?;
        let replicas = self.pick(
            flag_replicas,
            ENV_NATS_REPLICAS,
            parse_nats_replicas,
            file_replicas,
            1,
        )?;
        Ok(NatsSettings { servers, replicas })
    }
}

/// `--config`: the service's YAML file of options.
pub const ENV_CONFIG: &str = "GANTRY_CONFIG";
/// `--shutdown-grace`: how long in-flight work may take to finish on SIGTERM or SIGINT.
pub const ENV_SHUTDOWN_GRACE: &str = "GANTRY_SHUTDOWN_GRACE";
/// `--log-format`: `json` or `text`.
pub const ENV_LOG_FORMAT: &str = "GANTRY_LOG_FORMAT";
/// `--log-level`: the log filter, as `RUST_LOG` takes it.
pub const ENV_LOG_LEVEL: &str = "GANTRY_LOG_LEVEL";
/// `--listen` of the receiver and the reconciler (the API's is `GANTRY_API_LISTEN`, contract
/// section 12, so that it can share a pod's environment with them).
pub const ENV_LISTEN: &str = "GANTRY_LISTEN";
/// `--data-dir` of the reconciler and the API: where repository mirrors live.
pub const ENV_DATA_DIR: &str = "GANTRY_DATA_DIR";
/// `--publish-timeout` of the receiver and the API: the longest wait for JetStream's ack.
pub const ENV_PUBLISH_TIMEOUT: &str = "GANTRY_PUBLISH_TIMEOUT";
/// The OTLP collector's base URL, by its OpenTelemetry name.
pub const ENV_OTLP_ENDPOINT: &str = gantry_telemetry::OTEL_EXPORTER_OTLP_ENDPOINT;

/// Contract section 1: SIGTERM drains for this long unless told otherwise.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);
/// The log filter when none is given.
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// `--publish-timeout` when none is given.
pub const DEFAULT_PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// The flags every service takes, flattened into its own (`#[command(flatten)]`). Each is
/// optional: an absent one falls through to the environment, the file and the default.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct CommonArgs {
    /// YAML file with this service's options [env: GANTRY_CONFIG]
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// NATS server URL; several seed servers of a cluster separated by commas [default: nats://127.0.0.1:4222] [env: GANTRY_NATS_URL]
    #[arg(long)]
    pub nats_url: Option<String>,
    /// Copies kept of each stream, bucket and consumer this service creates in JetStream (1 to 5) [default: 1] [env: GANTRY_NATS_REPLICAS]
    #[arg(long, value_parser = parse_nats_replicas)]
    pub nats_replicas: Option<usize>,
    /// How long in-flight work may take to finish on SIGTERM [default: 25s] [env: GANTRY_SHUTDOWN_GRACE]
    #[arg(long, value_parser = parse_duration)]
    pub shutdown_grace: Option<Duration>,
    /// `json` or `text` [default: text] [env: GANTRY_LOG_FORMAT]
    #[arg(long)]
    pub log_format: Option<LogFormat>,
    /// Log filter, as RUST_LOG [default: info] [env: GANTRY_LOG_LEVEL]
    #[arg(long)]
    pub log_level: Option<String>,
}

/// The file keys every service reads the same way (`nats`, `shutdownGrace`, `logFormat`,
/// `logLevel`), as the service's own file struct parsed them; durations and formats are
/// checked here so an error names the key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommonFile {
    /// `nats: {url, replicas}`.
    pub nats: Option<NatsFile>,
    /// `shutdownGrace`.
    pub shutdown_grace: Option<String>,
    /// `logFormat`.
    pub log_format: Option<String>,
    /// `logLevel`.
    pub log_level: Option<String>,
}

/// The [`CommonFile`] of a service's file struct `$file`, whose fields of the same names and
/// types are moved out of it. A macro, not `#[serde(flatten)]` of a shared struct: serde ignores
/// `deny_unknown_fields` beside `flatten`, and a typo in any key of the file must be an error,
/// so each service's struct declares the common keys itself and this is the one place that
/// knows which they are.
#[macro_export]
macro_rules! common_file {
    ($file:ident) => {
        $crate::CommonFile {
            nats: $file.nats,
            shutdown_grace: $file.shutdown_grace,
            log_format: $file.log_format,
            log_level: $file.log_level,
        }
    };
}

/// What every service resolves the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    /// Where NATS is and how many copies Gantry's JetStream assets keep.
    pub nats: NatsSettings,
    /// Drain time at shutdown.
    pub shutdown_grace: Duration,
    /// Log line format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// The OTLP collector's base URL; no export when `None`.
    pub otlp_endpoint: Option<String>,
}

/// A duration from the config file, or an error naming its `key`.
pub fn file_duration(key: &str, v: Option<&str>) -> Result<Option<Duration>, Error> {
    v.map(|s| parse_duration(s).map_err(|m| Error::new(key, m)))
        .transpose()
}

/// Reads a service's YAML config file. An empty file is the defaults; an unknown key or a bad
/// value is an error on `--config` naming the file and, as serde words it, the key.
pub fn read_yaml<T: serde::de::DeserializeOwned + Default>(p: &Path) -> Result<T, Error> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| Error::new("--config", format!("cannot read {}: {e}", p.display())))?;
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    serde_saphyr::from_str(&text).map_err(|e| {
        let msg = e.to_string().replace('\n', " ");
        Error::new("--config", format!("{}: {msg}", p.display()))
    })
}

impl<'a, E: Env + ?Sized> Layers<'a, E> {
    /// `--config` over [`ENV_CONFIG`]: the file's path, and its contents (the defaults when no
    /// file is named).
    pub fn config_file<T: serde::de::DeserializeOwned + Default>(
        &self,
        flag: Option<PathBuf>,
    ) -> Result<(Option<PathBuf>, T), Error> {
        let p = self.pick(
            flag.map(Some),
            ENV_CONFIG,
            |s| path(s).map(Some),
            None,
            None,
        )?;
        let file = match &p {
            Some(p) => read_yaml(p)?,
            None => T::default(),
        };
        Ok((p, file))
    }

    /// Resolves the options of [`CommonArgs`] (but `--config`, read first by
    /// [`Layers::config_file`]) against their variables, `file` and defaults.
    pub fn common(&self, args: CommonArgs, file: CommonFile) -> Result<Common, Error> {
        let nats = self.nats(args.nats_url, args.nats_replicas, file.nats.as_ref())?;
        let shutdown_grace = self.pick(
            args.shutdown_grace,
            ENV_SHUTDOWN_GRACE,
            parse_duration,
            file_duration("shutdownGrace", file.shutdown_grace.as_deref())?,
            DEFAULT_SHUTDOWN_GRACE,
        )?;
        let file_format = file
            .log_format
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|m: String| Error::new("logFormat", m))?;
        let log_format = self.pick(
            args.log_format,
            ENV_LOG_FORMAT,
            from_str,
            file_format,
            LogFormat::Text,
        )?;
        let log_level = self.pick(
            args.log_level,
            ENV_LOG_LEVEL,
            |s| Ok(s.to_owned()),
            file.log_level,
            DEFAULT_LOG_LEVEL.to_owned(),
        )?;
        let otlp_endpoint = self.var(ENV_OTLP_ENDPOINT).filter(|s| !s.is_empty());
        Ok(Common {
            nats,
            shutdown_grace,
            log_format,
            log_level,
            otlp_endpoint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let env: &[(&str, &str)] = &[("GANTRY_X", "7")];
        let l = Layers::new(env);
        assert_eq!(l.pick(Some(1), "GANTRY_X", from_str, Some(3), 4), Ok(1));
        assert_eq!(l.pick(None, "GANTRY_X", from_str, Some(3), 4), Ok(7));
        assert_eq!(l.pick(None, "GANTRY_Y", from_str, Some(3), 4), Ok(3));
        assert_eq!(l.pick(None, "GANTRY_Y", from_str::<i32>, None, 4), Ok(4));
    }

    #[test]
    fn a_bad_env_value_names_the_variable() {
        let env: &[(&str, &str)] = &[("GANTRY_X", "seven")];
        let err = Layers::new(env)
            .pick(None, "GANTRY_X", from_str::<u64>, None, 4)
            .unwrap_err();
        assert_eq!(err.key, "GANTRY_X");
        assert!(err.to_string().starts_with("invalid GANTRY_X: "));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn nats_urls_and_replicas() {
        assert_eq!(
            parse_nats_url("nats://a:4222, nats://b:4222 ,c:4222").unwrap(),
            vec!["nats://a:4222", "nats://b:4222", "c:4222"]
        );
        assert_eq!(parse_nats_url("tls://u:p@[::1]:4222/").unwrap().len(), 1);
        for bad in [
            "",
            "nats://a:4222,",
            "nats://a:4222,,nats://b",
            "http://a:4222",
            "nats://:4222",
            "nats://a:port",
            "a b:1",
        ] {
            assert!(parse_nats_url(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(parse_nats_replicas("3"), Ok(3));
        assert!(parse_nats_replicas("0").is_err());
        assert!(parse_nats_replicas("6").is_err());
        assert!(parse_nats_replicas("three").is_err());
    }

    #[test]
    fn nats_settings_resolve_across_layers() {
        let none: &[(&str, &str)] = &[];
        let d = Layers::new(none).nats(None, None, None).unwrap();
        assert_eq!(d.servers, vec![DEFAULT_NATS_URL]);
        assert_eq!(d.replicas, 1);

        let file = NatsFile {
            url: Some("nats://f1:4222,nats://f2:4222".to_owned()),
            replicas: Some(3),
        };
        let f = Layers::new(none).nats(None, None, Some(&file)).unwrap();
        assert_eq!(f.url(), "nats://f1:4222,nats://f2:4222");
        assert_eq!(f.replicas, 3);

        let env: &[(&str, &str)] = &[(ENV_NATS_URL, "nats://e:1"), (ENV_NATS_REPLICAS, "5")];
        let e = Layers::new(env).nats(None, None, Some(&file)).unwrap();
        assert_eq!((e.url(), e.replicas), ("nats://e:1".to_owned(), 5));
        let fl = Layers::new(env)
            .nats(Some("x:1,y:2".to_owned()), Some(1), Some(&file))
            .unwrap();
        assert_eq!((fl.servers.len(), fl.replicas), (2, 1));

        let bad: &[(&str, &str)] = &[(ENV_NATS_REPLICAS, "9")];
        assert_eq!(
            Layers::new(bad).nats(None, None, None).unwrap_err().key,
            ENV_NATS_REPLICAS
        );
        let e = Layers::new(none).nats(None, Some(0), None).unwrap_err();
        assert_eq!(e.key, "--nats-replicas");
        let file = NatsFile {
            url: Some("nats://a,".to_owned()),
            replicas: None,
        };
        assert_eq!(
            Layers::new(none)
                .nats(None, None, Some(&file))
                .unwrap_err()
                .key,
            "nats.url"
        );
        let file = NatsFile {
            url: None,
            replicas: Some(7),
        };
        assert_eq!(
            Layers::new(none)
                .nats(None, None, Some(&file))
                .unwrap_err()
                .key,
            "nats.replicas"
        );
    }

    #[test]
    fn common_options_resolve_across_layers() {
        let none: &[(&str, &str)] = &[];
        let c = Layers::new(none)
            .common(CommonArgs::default(), CommonFile::default())
            .unwrap();
        assert_eq!(c.nats.url(), DEFAULT_NATS_URL);
        assert_eq!(c.shutdown_grace, DEFAULT_SHUTDOWN_GRACE);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.log_level, DEFAULT_LOG_LEVEL);
        assert_eq!(c.otlp_endpoint, None);

        let file = CommonFile {
            shutdown_grace: Some("7s".to_owned()),
            log_format: Some("json".to_owned()),
            log_level: Some("debug".to_owned()),
            ..Default::default()
        };
        let env: &[(&str, &str)] = &[
            (ENV_SHUTDOWN_GRACE, "3s"),
            (ENV_OTLP_ENDPOINT, "http://otel:4318"),
        ];
        let c = Layers::new(env)
            .common(CommonArgs::default(), file.clone())
            .unwrap();
        assert_eq!(c.shutdown_grace, Duration::from_secs(3));
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.log_level, "debug");
        assert_eq!(c.otlp_endpoint.as_deref(), Some("http://otel:4318"));
        let flags = CommonArgs {
            shutdown_grace: Some(Duration::from_secs(1)),
            log_level: Some("warn".to_owned()),
            ..Default::default()
        };
        let c = Layers::new(env).common(flags, file).unwrap();
        assert_eq!(
            (c.shutdown_grace, c.log_level.as_str()),
            (Duration::from_secs(1), "warn")
        );

        for (file, key) in [
            (
                CommonFile {
                    shutdown_grace: Some("soon".to_owned()),
                    ..Default::default()
                },
                "shutdownGrace",
            ),
            (
                CommonFile {
                    log_format: Some("xml".to_owned()),
                    ..Default::default()
                },
                "logFormat",
            ),
        ] {
            let e = Layers::new(none)
                .common(CommonArgs::default(), file)
                .unwrap_err();
            assert_eq!(e.key, key);
        }
        let bad: &[(&str, &str)] = &[(ENV_LOG_FORMAT, "xml")];
        let e = Layers::new(bad)
            .common(CommonArgs::default(), CommonFile::default())
            .unwrap_err();
        assert_eq!(e.key, ENV_LOG_FORMAT);
    }

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        a: Option<u32>,
    }

    #[test]
    fn config_files_are_read_once_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.yaml");
        let none: &[(&str, &str)] = &[];
        let (p, s) = Layers::new(none).config_file::<Sample>(None).unwrap();
        assert_eq!((p, s.a), (None, None));

        std::fs::write(&f, "a: 3\n").unwrap();
        let fp = f.to_str().unwrap();
        let env: &[(&str, &str)] = &[(ENV_CONFIG, fp)];
        let (p, s) = Layers::new(env).config_file::<Sample>(None).unwrap();
        assert_eq!((p.as_deref(), s.a), (Some(f.as_path()), Some(3)));

        std::fs::write(&f, "  \n").unwrap();
        let (_, s) = Layers::new(env).config_file::<Sample>(None).unwrap();
        assert_eq!(s.a, None);

        std::fs::write(&f, "b: 3\n").unwrap();
        let e = Layers::new(env).config_file::<Sample>(None).unwrap_err();
        assert_eq!(e.key, "--config");
        assert!(e.message.contains('b') && !e.message.contains('\n'), "{e}");
        let e = Layers::new(none)
            .config_file::<Sample>(Some(dir.path().join("absent.yaml")))
            .unwrap_err();
        assert!(e.message.starts_with("cannot read"), "{e}");
    }
}

/// What every Gantry binary's `main` does before and after its own work.
pub mod cli {
    use std::process::ExitCode;

    /// Parses the process's arguments. `--help` and `--version` print and give `Err(0)`; a bad
    /// flag prints one line, `<bin>: <what is wrong>`, and gives `Err(`[`super::EXIT_CONFIG`]`)`.
    pub fn parse_args<A: clap::Parser>(bin: &str) -> Result<A, ExitCode> {
        match A::try_parse() {
            Ok(a) => Ok(a),
            Err(e) if !e.use_stderr() => {
                let _ = e.print();
                Err(ExitCode::SUCCESS)
            }
            Err(e) => {
                let text = e.to_string();
                let line = text.lines().next().unwrap_or("invalid arguments");
                eprintln!("{bin}: {}", line.trim_start_matches("error: "));
                Err(ExitCode::from(super::EXIT_CONFIG))
            }
        }
    }

    /// Completes on the first SIGTERM or SIGINT: the signal to drain and exit.
    pub async fn shutdown_signal() {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
