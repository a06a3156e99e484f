//! `gantry status`: a table of apps × environments (revision, health, last outcome, when), read
//! from the `gantry-state` bucket and the newest audit record of each environment. It always
//! says which NATS server and bucket it read, and whether the bucket was missing or empty.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use async_nats::jetstream;
use futures::TryStreamExt;
use gantry_reconciler::state::EnvState;
use prost::Message;
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

/// One row.
#[derive(Debug)]
struct Row {
    app: String,
    env: String,
    state: EnvState,
    last: Option<(String, String, i64)>,
}

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
                bucket.describe(rows.len())
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
        println!("  {}", bucket.describe(0));
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
    fn describe(self, rows: usize) -> String {
        match (self, rows) {
            (Bucket::Missing, _) => {
                "missing: no reconciler has used this NATS server, nothing deployed".to_owned()
            }
            (Bucket::Found, 0) => "empty: nothing deployed yet".to_owned(),
            (Bucket::Found, 1) => "1 environment".to_owned(),
            (Bucket::Found, n) => format!("{n} environments"),
        }
    }
}

fn unescape_key_token(t: &str) -> String {
    gantry_nats::unescape_token(&t.replace('=', "%")).unwrap_or_else(|| t.to_owned())
}

async fn rows(url: &str) -> Result<(Bucket, Vec<Row>), String> {
    let client = tokio::time::timeout(Duration::from_secs(5), async_nats::connect(url))
        .await
        .map_err(|_| format!("NATS at {url} did not answer within 5s"))?
        .map_err(|e| format!("cannot connect to NATS at {url}: {e}"))?;
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
    let kv = js
        .get_key_value(bucket)
        .await
        .map_err(|e| format!("reading the {bucket} bucket on {url}: {e}"))?;
    let keys: Vec<String> = kv
        .keys()
        .await
        .map_err(|e| e.to_string())?
        .try_collect()
        .await
        .map_err(|e| e.to_string())?;
    let audit = js.get_stream(gantry_nats::AUDIT_STREAM).await.ok();
    let mut out = Vec::new();
    for key in keys {
        let mut parts = key.split('.');
        let (Some(app), Some(env), Some("state"), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Some(entry) = kv.get(&key).await.map_err(|e| e.to_string())? else {
            continue;
        };
        let Ok(state) = serde_json::from_slice::<EnvState>(&entry) else {
            continue;
        };
        let (app, env) = (unescape_key_token(app), unescape_key_token(env));
        let mut last: Option<(String, String, i64)> = None;
        if let Some(audit) = &audit {
            for outcome in ["started", "succeeded", "failed", "skipped", "superseded"] {
                let subject = gantry_nats::audit_subject(&app, &env, outcome);
                if let Ok(m) = audit.get_last_raw_message_by_subject(&subject).await
                    && let Ok(rec) = gantry_proto::v1::AuditRecord::decode(m.payload.as_ref())
                {
                    let when = rec.time.as_ref().map_or(0, |t| t.seconds);
                    if last.as_ref().is_none_or(|l| when >= l.2) {
                        let phase = gantry_proto::v1::Phase::try_from(rec.phase)
                            .map(|p| {
                                p.as_str_name()
                                    .trim_start_matches("PHASE_")
                                    .to_ascii_lowercase()
                            })
                            .unwrap_or_default();
                        last = Some((format!("{phase} {outcome}"), rec.message, when));
                    }
                }
            }
        }
        out.push(Row {
            app,
            env,
            state,
            last,
        });
    }
    out.sort_by(|a, b| (&a.app, &a.env).cmp(&(&b.app, &b.env)));
    Ok((Bucket::Found, out))
}

fn health(s: &EnvState) -> &'static str {
    match s.reported.as_ref().map(|r| r.state.as_str()) {
        Some("success") => "Healthy",
        Some("failure") => "Degraded",
        Some("error") => "Error",
        Some(_) => "Unknown",
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

fn print(rows: &[Row], output: &str) {
    let mut out = std::io::stdout().lock();
    if output == "json" {
        for r in rows {
            let line = json!({
                "app": r.app, "environment": r.env, "revision": r.state.revision,
                "health": health(&r.state),
                "status": r.state.reported.as_ref().map(|x| &x.state),
                "description": r.state.reported.as_ref().map(|x| &x.description),
                "applied_at": r.state.applied_at,
                "objects": r.state.inventory.len(),
                "last_audit": r.last.as_ref().map(|l| json!({"step": l.0, "message": l.1, "time": l.2})),
            });
            let _ = writeln!(out, "{line}");
        }
        return;
    }
    if rows.is_empty() {
        return;
    }
    let mut table = vec![[
        "APP".to_owned(),
        "ENV".to_owned(),
        "REVISION".to_owned(),
        "HEALTH".to_owned(),
        "LAST OUTCOME".to_owned(),
        "WHEN".to_owned(),
    ]];
    for r in rows {
        let outcome = match (&r.state.reported, &r.last) {
            (Some(rep), _) => format!("{}: {}", rep.state, rep.description),
            (None, Some(l)) => format!("{}: {}", l.0, l.1),
            (None, None) => "-".to_owned(),
        };
        let when = r
            .last
            .as_ref()
            .map_or(r.state.applied_at, |l| l.2.max(r.state.applied_at));
        table.push([
            r.app.clone(),
            r.env.clone(),
            r.state.revision.chars().take(7).collect(),
            health(&r.state).to_owned(),
            gantry_reconciler::report::truncate(&outcome, 72),
            ago(when),
        ]);
    }
    let widths: Vec<usize> = (0..6)
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
