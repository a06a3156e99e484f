//! Layered configuration for Gantry's binaries: flags win over the environment, the environment
//! over the config file, the file over defaults (contract section 1).
//!
//! The environment is read through the [`Env`] trait so that tests inject a map instead of
//! mutating the process environment. Every error names the offending key, and binaries exit with
//! [`EXIT_CONFIG`] on one.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
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
