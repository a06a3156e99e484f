//! `gantry status` (contract section 9): per repository, app and environment, the last applied
//! revision, the last attempt (failures included, even when nothing was ever applied), live
//! health, drift and when it was last checked, from the `gantry-state` bucket. It always says
//! which NATS server and bucket it read, and whether the bucket was missing or empty.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use async_nats::jetstream;
use gantry_reconciler::state::{CommitState, EnvState};
use serde_json::json;

/// Options of `gantry status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A sandbox folder: its sandbox.json names the NATS server [default: ./.gantry-sandbox
    /// when it has a sandbox.json and neither --nats-url nor GANTRY_NATS_URL is given]
    #[arg(long)]
    dir: Option<PathBuf>,
    /// NATS server [default: nats://127.0.0.1:4222] [env: GANTRY_NATS_URL]
    #[arg(long)]
    nats_url: Option<String>,
    /// `table` or `json` (one object a line).
    #[arg(long, default_value = "table")]
    output: String,
}

/// One row: one repository, app and environment (app and environment `-` for attempts that
/// concern the whole repository).
type Row = EnvState;

/// Runs `gantry status`.
pub fn run(args: Args) -> ExitCode {
    if args.output != "table" && args.output != "json" {
        eprintln!(
            "gantry status: invalid --output: {:?} is neither \"table\" nor \"json\"",
            args.output
        );
        return ExitCode::from(gantry_config::EXIT_CONFIG);
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let located = crate::locate::nats_url(
        args.nats_url.as_deref(),
        args.dir.as_deref(),
        &gantry_config::ProcessEnv,
        &cwd,
    );
    let (url, source) = match located {
        Ok(u) => u,
        Err(e) => {
            eprintln!("gantry status: {e}");
            return ExitCode::from(gantry_config::EXIT_CONFIG);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gantry status: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(rows(&url)) {
        Ok((bucket, rows)) => {
            let read = format!(
                "NATS {url} ({source}), bucket {}: {}",
                gantry_nats::STATE_BUCKET,
                bucket.describe(&rows)
            );
            // JSON lines stay machine-readable on stdout; the person reading a table sees it there.
            if args.output == "json" {
                eprintln!("gantry status: {read}");
            } else {
                println!("{read}");
            }
            print(&rows, &args.output);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gantry status: {e}");
            ExitCode::from(69)
        }
    }
}

/// Prints the table `gantry status` prints for the server at `url` (for `gantry up`'s guide on
/// resume); the bucket's state when there is no row to show.
pub async fn print_table(url: &str) -> Result<(), String> {
    let (bucket, rows) = rows(url).await?;
    if rows.is_empty() {
        println!("  {}", bucket.describe(&rows));
    }
    print(&rows, "table");
    Ok(())
}

/// What was found where the state bucket should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bucket {
    /// No reconciler ever used this server.
    Missing,
    /// The bucket exists.
    Found,
}

impl Bucket {
    fn describe(self, rows: &[Row]) -> String {
        let wide = rows
            .iter()
            .filter(|r| r.app == gantry_reconciler::state::REPO_WIDE)
            .count();
        let envs = rows.len() - wide;
        let plural = |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
        match (self, envs, wide) {
            (Bucket::Missing, _, _) => {
                "missing: no reconciler has used this NATS server, nothing deployed".to_owned()
            }
            (Bucket::Found, 0, 0) => "empty: nothing deployed yet".to_owned(),
            (Bucket::Found, n, 0) => plural(n, "environment"),
            (Bucket::Found, n, w) => format!(
                "{}, {}",
                plural(n, "environment"),
                plural(w, "repository-wide record")
            ),
        }
    }
}

async fn rows(url: &str) -> Result<(Bucket, Vec<Row>), String> {
    let client = tokio::time::timeout(Duration::from_secs(5), async_nats::connect(url))
        .await
        .map_err(|_| format!("NATS at {url} did not answer within 5s"))?
        .map_err(|e| format!("cannot connect to NATS at {url}: {e}"))?;
    gantry_nats::check_server(&client).map_err(|e| e.to_string())?;
    let js = jetstream::new(client);
    // A bucket is the stream KV_<name>: only "stream not found" means no reconciler ever ran;
    // any other failure (a timeout, no JetStream) is an error, not an empty table.
    let bucket = gantry_nats::STATE_BUCKET;
    match js.get_stream(format!("KV_{bucket}")).await {
        Ok(_) => {}
        Err(e) => {
            if let jetstream::context::GetStreamErrorKind::JetStream(j) = e.kind()
                && j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
            {
                return Ok((Bucket::Missing, Vec::new()));
            }
            return Err(format!("reading the {bucket} bucket on {url}: {e}"));
        }
    }
    let mut out = gantry_reconciler::state::read_all(&js, None)
        .await
        .map_err(|e| e.to_string())?;
    out.sort_by(|a, b| {
        (&a.repository, &a.app, &a.environment).cmp(&(&b.repository, &b.app, &b.environment))
    });
    Ok((Bucket::Found, out))
}

/// Live health as the last resync check saw it; before any check, what verification said.
fn health(s: &EnvState) -> &str {
    if s.revision.is_empty() {
        return "-";
    }
    if let Some(c) = &s.last_check
        && !c.health.is_empty()
    {
        return &c.health;
    }
    match s.reported.as_ref().map(|r| r.state) {
        Some(CommitState::Success) => "Healthy",
        Some(CommitState::Failure) => "Degraded",
        Some(CommitState::Error) => "Error",
        Some(CommitState::Pending) => "Unknown",
        None => "Progressing",
    }
}

fn ago(unix: i64) -> String {
    if unix <= 0 {
        return "-".to_owned();
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let s = (now - unix).max(0);
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        3600..86400 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86400),
    }
}

fn short(sha: &str) -> String {
    if sha.is_empty() {
        "-".to_owned()
    } else {
        sha.chars().take(7).collect()
    }
}

/// The outcome the LAST ATTEMPT column prints and the time of that very outcome (WHEN): never
/// a newer time next to an older outcome.
fn shown(r: &Row) -> (String, i64) {
    match (&r.last_attempt, &r.reported) {
        (Some(a), _) => (
            format!(
                "{} {}: {}",
                short(&a.revision),
                a.outcome.as_str(),
                a.message
            ),
            a.at,
        ),
        (None, Some(rep)) => (
            format!("{}: {}", rep.state.as_str(), rep.description),
            r.applied_at,
        ),
        (None, None) => ("-".to_owned(), 0),
    }
}

fn print(rows: &[Row], output: &str) {
    let mut out = std::io::stdout().lock();
    if output == "json" {
        for r in rows {
            let line = json!({
                "repository": r.repository,
                "app": r.app,
                "environment": r.environment,
                "revision": (!r.revision.is_empty()).then_some(&r.revision),
                "applied_at": (r.applied_at > 0).then_some(r.applied_at),
                "status": r.reported.as_ref().map(|x| x.state.as_str()),
                "description": r.reported.as_ref().map(|x| &x.description),
                "health": health(r),
                "objects": r.inventory.len(),
                "last_attempt": r.last_attempt.as_ref().map(|a| json!({
                    "revision": a.revision, "outcome": a.outcome.as_str(), "phase": a.phase,
                    "message": a.message, "trigger": a.trigger, "time": a.at,
                })),
                "drifted": r.last_check.as_ref().map(|c| &c.drifted),
                "last_checked": r.last_check.as_ref().map(|c| c.at),
            });
            let _ = writeln!(out, "{line}");
        }
        return;
    }
    if rows.is_empty() {
        return;
    }
    let mut table = vec![[
        "REPOSITORY".to_owned(),
        "APP".to_owned(),
        "ENV".to_owned(),
        "APPLIED".to_owned(),
        "HEALTH".to_owned(),
        "DRIFT".to_owned(),
        "LAST ATTEMPT".to_owned(),
        "WHEN".to_owned(),
        "CHECKED".to_owned(),
    ]];
    for r in rows {
        let (attempt, when) = shown(r);
        let drift = match &r.last_check {
            Some(c) if c.drifted.is_empty() => "none".to_owned(),
            Some(c) if c.healed => format!("{} healed", c.drifted.len()),
            Some(c) => format!("{} drifted", c.drifted.len()),
            None => "-".to_owned(),
        };
        table.push([
            r.repository.clone(),
            r.app.clone(),
            r.environment.clone(),
            short(&r.revision),
            health(r).to_owned(),
            drift,
            gantry_reconciler::report::truncate(&attempt, 80),
            ago(when),
            ago(r.last_check.as_ref().map_or(0, |c| c.at)),
        ]);
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &table {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_reconciler::state::{Attempt, AttemptOutcome};

    #[test]
    fn when_is_the_time_of_the_outcome_shown() {
        // The attempt shown is the last one; WHEN is its time even when an apply is newer.
        let r = EnvState {
            revision: "a".repeat(40),
            applied_at: 2000,
            last_attempt: Some(Attempt {
                revision: "b".repeat(40),
                outcome: AttemptOutcome::Failure,
                phase: "verify".to_owned(),
                message: "rollout failed".to_owned(),
                trigger: "webhook".to_owned(),
                at: 1500,
            }),
            ..Default::default()
        };
        assert_eq!(
            shown(&r),
            ("bbbbbbb failure: rollout failed".to_owned(), 1500)
        );
        let nothing = EnvState::default();
        assert_eq!(shown(&nothing), ("-".to_owned(), 0));
    }
}
