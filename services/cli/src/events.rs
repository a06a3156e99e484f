//! `gantry events tail`: prints stored events or audit records as JSON lines, decoded with the
//! `gantry.v1` schema, following the stream until interrupted or `--count` is reached.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use gantry_config::{Env, ProcessEnv};
use serde_json::json;

/// `--nats-url`
pub const ENV_NATS_URL: &str = gantry_config::ENV_NATS_URL;
/// Exit code when NATS or the stream cannot be reached (`EX_UNAVAILABLE`).
const EXIT_UNAVAILABLE: u8 = gantry_nats::EXIT_UNAVAILABLE;

/// Options of `gantry events`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print events (or, with --audit, audit records) as JSON lines as they are stored.
    Tail(TailArgs),
}

#[derive(Debug, clap::Args)]
struct TailArgs {
    /// Follow GANTRY_AUDIT instead of GANTRY_EVENTS.
    #[arg(long)]
    audit: bool,
    /// Only subjects matching this filter (repeatable), e.g. 'gantry.events.github.acme.>'.
    #[arg(long)]
    subject: Vec<String>,
    /// Start with the first stored message instead of the next new one.
    #[arg(long)]
    all: bool,
    /// Stop after this many messages.
    #[arg(long)]
    count: Option<u64>,
    /// NATS server [env: GANTRY_NATS_URL] [default: ./.gantry-sandbox's, else
    /// nats://127.0.0.1:4222]
    #[arg(long)]
    nats_url: Option<String>,
}

/// Runs `gantry events`.
pub fn run(args: Args) -> ExitCode {
    let Command::Tail(tail) = args.command;
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gantry events: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        tokio::select! {
            code = run_tail(tail, &ProcessEnv) => code,
            _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
        }
    })
}

async fn run_tail(args: TailArgs, env: &(impl Env + ?Sized)) -> ExitCode {
    // As `gantry status`: the sandbox in the current directory when nothing names a server.
    let cwd = std::env::current_dir().unwrap_or_default();
    let (url, source) = match crate::locate::nats_url(args.nats_url.as_deref(), None, env, &cwd) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("gantry events: {e}");
            return ExitCode::from(gantry_config::EXIT_CONFIG);
        }
    };
    let (stream_name, default_filter) = if args.audit {
        (gantry_nats::AUDIT_STREAM, gantry_nats::AUDIT_SUBJECTS)
    } else {
        (gantry_nats::EVENTS_STREAM, gantry_nats::EVENTS_SUBJECTS)
    };
    let client = match tokio::time::timeout(
        Duration::from_secs(5),
        async_nats::ConnectOptions::new()
            .name("gantry-events-tail")
            .connect(url.as_str()),
    )
    .await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            eprintln!("gantry events: cannot connect to NATS at {url} ({source}): {e}");
            return ExitCode::from(EXIT_UNAVAILABLE);
        }
        Err(_) => {
            eprintln!("gantry events: NATS at {url} ({source}) did not answer within 5s");
            return ExitCode::from(EXIT_UNAVAILABLE);
        }
    };
    if let Err(e) = gantry_nats::check_server(&client) {
        eprintln!("gantry events: {e}");
        return ExitCode::from(EXIT_UNAVAILABLE);
    }
    let js = jetstream::new(client);
    let stream = match js.get_stream(stream_name).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "gantry events: stream {stream_name} is not available on {url} ({source}): {e}"
            );
            return ExitCode::from(EXIT_UNAVAILABLE);
        }
    };
    let filters = if args.subject.is_empty() {
        vec![default_filter.to_owned()]
    } else {
        args.subject
    };
    let config = consumer::pull::OrderedConfig {
        filter_subjects: filters,
        deliver_policy: if args.all {
            consumer::DeliverPolicy::All
        } else {
            consumer::DeliverPolicy::New
        },
        ..Default::default()
    };
    let mut messages = match stream.create_consumer(config).await {
        Ok(c) => match c.messages().await {
            Ok(m) => m,
            Err(e) => {
                eprintln!("gantry events: cannot read {stream_name}: {e}");
                return ExitCode::from(EXIT_UNAVAILABLE);
            }
        },
        Err(e) => {
            eprintln!("gantry events: cannot follow {stream_name}: {e}");
            return ExitCode::from(EXIT_UNAVAILABLE);
        }
    };
    let mut printed = 0u64;
    let mut out = std::io::stdout().lock();
    while args.count.is_none_or(|n| printed < n) {
        let Some(next) = messages.next().await else {
            break;
        };
        let msg = match next {
            Ok(m) => m,
            Err(e) => {
                eprintln!("gantry events: {e}");
                return ExitCode::from(EXIT_UNAVAILABLE);
            }
        };
        let line = render(&msg);
        // A closed stdout (`| head`) ends the tail quietly.
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            break;
        }
        printed += 1;
    }
    ExitCode::SUCCESS
}

/// One message as a JSON object: where it is stored, its headers of interest, and its body
/// decoded with the schema its `Gantry-Schema` header names.
fn render(msg: &jetstream::Message) -> serde_json::Value {
    let header = |name: &str| {
        msg.headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| v.as_str().to_owned())
    };
    let schema = header(gantry_nats::HEADER_SCHEMA);
    let mut line = json!({
        "subject": msg.subject.as_str(),
        "schema": schema,
        "traceparent": header(gantry_nats::HEADER_TRACEPARENT),
    });
    if let Ok(info) = msg.info() {
        line["stream"] = json!(info.stream);
        line["stream_sequence"] = json!(info.stream_sequence);
    }
    match schema
        .as_deref()
        .map(|s| gantry_proto::json::to_json(s, &msg.payload))
    {
        Some(Ok(v)) => line["message"] = v,
        Some(Err(e)) => line["error"] = json!(e.to_string()),
        None => line["error"] = json!("the message has no Gantry-Schema header"),
    }
    line
}
