//! `gantry dlq list` and `gantry dlq replay ID|--all` (contract section 9): show the events the
//! reconcilers gave up on (stream `GANTRY_DLQ`), and publish them again to the subject they were
//! consumed from. A replayed event leaves the DLQ only once `GANTRY_EVENTS` has stored it again.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use async_nats::jetstream;
use gantry_config::{Env, ProcessEnv};
use gantry_reconciler::worker::{HEADER_DLQ_REASON, HEADER_DLQ_SUBJECT};
use prost::Message as _;
use serde_json::json;

/// Exit code when NATS or the stream cannot be reached (`EX_UNAVAILABLE`).
const EXIT_UNAVAILABLE: u8 = 69;
/// Exit code when the named DLQ entry does not exist (`EX_NOINPUT`).
const EXIT_NOINPUT: u8 = 66;

/// Options of `gantry dlq`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// List dead-lettered events: id (the DLQ sequence), subject, reason, deliveries.
    List(ListArgs),
    /// Publish dead-lettered events again to the subject they came from, then remove them
    /// from the DLQ.
    Replay(ReplayArgs),
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// `table` or `json` (one object a line).
    #[arg(long, default_value = "table")]
    output: String,
    /// NATS server [default: nats://127.0.0.1:4222] [env: GANTRY_NATS_URL]
    #[arg(long)]
    nats_url: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// The DLQ id (sequence) to replay, as `gantry dlq list` shows it.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    id: Option<u64>,
    /// Replay every dead-lettered event.
    #[arg(long)]
    all: bool,
    /// NATS server [default: nats://127.0.0.1:4222] [env: GANTRY_NATS_URL]
    #[arg(long)]
    nats_url: Option<String>,
}

/// One dead-lettered event.
struct Entry {
    id: u64,
    subject: String,
    original: String,
    reason: String,
    deliveries: String,
    event: Option<gantry_proto::v1::Event>,
    message: async_nats::jetstream::message::StreamMessage,
}

/// Runs `gantry dlq`.
pub fn run(args: Args) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gantry dlq: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        match args.command {
            Command::List(a) => list(a, &ProcessEnv).await,
            Command::Replay(a) => replay(a, &ProcessEnv).await,
        }
    })
}

fn url(flag: Option<String>, env: &(impl Env + ?Sized)) -> Result<String, ExitCode> {
    // As `gantry status`: the sandbox in the current directory when nothing names a server.
    let cwd = std::env::current_dir().unwrap_or_default();
    crate::locate::nats_url(flag.as_deref(), None, env, &cwd)
        .map(|(url, _)| url)
        .map_err(|e| {
            eprintln!("gantry dlq: {e}");
            ExitCode::from(gantry_config::EXIT_CONFIG)
        })
}

async fn stream(url: &str) -> Result<jetstream::stream::Stream, ExitCode> {
    let client = match tokio::time::timeout(Duration::from_secs(5), async_nats::connect(url)).await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            eprintln!("gantry dlq: cannot connect to NATS at {url}: {e}");
            return Err(ExitCode::from(EXIT_UNAVAILABLE));
        }
        Err(_) => {
            eprintln!("gantry dlq: NATS at {url} did not answer within 5s");
            return Err(ExitCode::from(EXIT_UNAVAILABLE));
        }
    };
    let js = jetstream::new(client);
    js.get_stream(gantry_nats::DLQ_STREAM).await.map_err(|e| {
        eprintln!(
            "gantry dlq: the stream {} is not available: {e}",
            gantry_nats::DLQ_STREAM
        );
        ExitCode::from(EXIT_UNAVAILABLE)
    })
}

fn header(m: &async_nats::jetstream::message::StreamMessage, name: &str) -> String {
    m.headers
        .get(name)
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

fn entry(message: async_nats::jetstream::message::StreamMessage) -> Entry {
    let subject = message.subject.to_string();
    let mut original = header(&message, HEADER_DLQ_SUBJECT);
    if original.is_empty()
        && let Some(rest) = subject.strip_prefix("gantry.dlq.")
    {
        original = format!("gantry.events.{rest}");
    }
    Entry {
        id: message.sequence,
        reason: header(&message, HEADER_DLQ_REASON),
        deliveries: header(&message, "Gantry-Dlq-Deliveries"),
        event: gantry_proto::v1::Event::decode(message.payload.as_ref()).ok(),
        subject,
        original,
        message,
    }
}

/// Every stored entry, oldest first.
async fn entries(stream: &mut jetstream::stream::Stream) -> Result<Vec<Entry>, String> {
    let info = stream.info().await.map_err(|e| e.to_string())?;
    let (first, last) = (info.state.first_sequence, info.state.last_sequence);
    let mut out = Vec::new();
    if info.state.messages == 0 {
        return Ok(out);
    }
    for seq in first..=last {
        match stream.get_raw_message(seq).await {
            Ok(m) => out.push(entry(m)),
            // Removed (replayed) sequences leave gaps.
            Err(_) => continue,
        }
    }
    Ok(out)
}

async fn list(args: ListArgs, env: &(impl Env + ?Sized)) -> ExitCode {
    if args.output != "table" && args.output != "json" {
        eprintln!(
            "gantry dlq list: invalid --output: {:?} is neither \"table\" nor \"json\"",
            args.output
        );
        return ExitCode::from(gantry_config::EXIT_CONFIG);
    }
    let url = match url(args.nats_url, env) {
        Ok(u) => u,
        Err(c) => return c,
    };
    let mut stream = match stream(&url).await {
        Ok(s) => s,
        Err(c) => return c,
    };
    let all = match entries(&mut stream).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("gantry dlq list: {e}");
            return ExitCode::from(EXIT_UNAVAILABLE);
        }
    };
    let mut out = std::io::stdout().lock();
    if args.output == "json" {
        for e in &all {
            let ev = e.event.as_ref();
            let line = json!({
                "id": e.id,
                "subject": e.original,
                "dlq_subject": e.subject,
                "reason": e.reason,
                "deliveries": e.deliveries.parse::<u64>().ok(),
                "time": e.message.time.unix_timestamp(),
                "event_id": ev.map(|v| &v.id),
                "repository": ev.and_then(|v| v.repository.as_ref()).map(|r| &r.full_name),
                "ref": ev.map(|v| &v.r#ref),
                "revision": ev.map(|v| &v.after),
            });
            let _ = writeln!(out, "{line}");
        }
        return ExitCode::SUCCESS;
    }
    if all.is_empty() {
        let _ = writeln!(out, "The DLQ is empty.");
        return ExitCode::SUCCESS;
    }
    let _ = writeln!(out, "ID\tSUBJECT\tREVISION\tDELIVERIES\tREASON");
    for e in &all {
        let rev: String = e
            .event
            .as_ref()
            .map(|v| v.after.chars().take(7).collect())
            .unwrap_or_else(|| "-".to_owned());
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            e.id,
            e.original,
            rev,
            if e.deliveries.is_empty() {
                "-"
            } else {
                &e.deliveries
            },
            e.reason
        );
    }
    ExitCode::SUCCESS
}

async fn replay(args: ReplayArgs, env: &(impl Env + ?Sized)) -> ExitCode {
    let url = match url(args.nats_url, env) {
        Ok(u) => u,
        Err(c) => return c,
    };
    let mut stream = match stream(&url).await {
        Ok(s) => s,
        Err(c) => return c,
    };
    let chosen: Vec<Entry> = if args.all {
        match entries(&mut stream).await {
            Ok(e) => e,
            Err(e) => {
                eprintln!("gantry dlq replay: {e}");
                return ExitCode::from(EXIT_UNAVAILABLE);
            }
        }
    } else {
        let id = args.id.unwrap_or_default();
        match stream.get_raw_message(id).await {
            Ok(m) => vec![entry(m)],
            Err(_) => {
                eprintln!("gantry dlq replay: no DLQ entry has id {id}");
                return ExitCode::from(EXIT_NOINPUT);
            }
        }
    };
    let js = jetstream::new(match async_nats::connect(url.as_str()).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gantry dlq replay: cannot connect to NATS at {url}: {e}");
            return ExitCode::from(EXIT_UNAVAILABLE);
        }
    });
    let mut out = std::io::stdout().lock();
    for e in chosen {
        // The original headers without the DLQ's own.
        let dlq_only = [
            HEADER_DLQ_REASON,
            HEADER_DLQ_SUBJECT,
            "Gantry-Dlq-Deliveries",
            "Gantry-Dlq-Stream-Sequence",
            gantry_nats::HEADER_MSG_ID,
        ];
        let mut headers = async_nats::HeaderMap::new();
        for (name, values) in e.message.headers.iter() {
            if dlq_only
                .iter()
                .any(|d| d.eq_ignore_ascii_case(name.as_ref()))
            {
                continue;
            }
            for v in values {
                headers.append(name.clone(), v.clone());
            }
        }
        // A fresh id: the original one may still be in the duplicate window.
        headers.insert(
            gantry_nats::HEADER_MSG_ID,
            format!("replay:{}:{}", e.id, uuid::Uuid::new_v4()).as_str(),
        );
        let stored = match js
            .publish_with_headers(e.original.clone(), headers, e.message.payload.clone())
            .await
        {
            Ok(ack) => ack.await.map_err(|x| x.to_string()),
            Err(x) => Err(x.to_string()),
        };
        match stored {
            Ok(ack) => {
                if let Err(x) = stream.delete_message(e.id).await {
                    eprintln!(
                        "gantry dlq replay: {} was replayed but is still in the DLQ: {x}",
                        e.id
                    );
                }
                let _ = writeln!(
                    out,
                    "replayed {} to {} (stream sequence {})",
                    e.id, e.original, ack.sequence
                );
            }
            Err(x) => {
                eprintln!(
                    "gantry dlq replay: {} could not be stored on {}: {x}",
                    e.id, e.original
                );
                return ExitCode::from(EXIT_UNAVAILABLE);
            }
        }
    }
    ExitCode::SUCCESS
}
