//! `gantry-load`: the command line over the library (see `load/README.md`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gantry_load::cli::BadOption;
use gantry_load::{BenchArgs, PipelineArgs, SendArgs, bench, pipeline, send};

/// Load generator for Gantry's receiver: signed GitHub push webhooks, HDR latencies, and a
/// one-command benchmark against the HTTP and JetStream ceilings.
#[derive(Debug, Parser)]
#[command(name = "gantry-load", version)]
struct Cli {
    /// Runtime threads for the generator. 1 keeps it to one core, leaving the other to the
    /// server under test on a 2-core machine.
    #[arg(long, global = true, env = "GANTRY_LOAD_THREADS", default_value_t = 1)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send webhooks (or GETs) to a running server and report throughput and latency.
    Send(SendArgs),
    /// Start nats-server and the receiver, measure webhooks/s against the /healthz and
    /// JetStream ceilings, p99 at a fixed rate and the receiver's RSS; print a table.
    Bench(BenchArgs),
    /// Start nats-server, the receiver, reconciler workers and the Kubernetes and Git host
    /// emulators; measure webhook-to-status latency, events/s with 1 and 2 workers, and a big
    /// repository's full sync and the worker's peak RSS.
    Pipeline(PipelineArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let rendered = e.render().to_string();
            let line = rendered.lines().next().unwrap_or("error: bad option");
            eprintln!("{line}");
            return ExitCode::from(64);
        }
    };
    let runtime = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Send(args) => send(args).await.map(|_| true),
            Command::Bench(args) => bench::run(args).await.map(|r| r.consistent()),
            Command::Pipeline(args) => pipeline::run(args).await.map(|()| true),
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) if e.downcast_ref::<BadOption>().is_some() => {
            eprintln!("error: {e}");
            ExitCode::from(64)
        }
        Err(e) if e.downcast_ref::<gantry_nats::Error>().is_some() => {
            // An older nats-server: one line naming its version and the minimum, as every
            // Gantry binary exits.
            eprintln!("error: {e}");
            ExitCode::from(gantry_nats::EXIT_UNAVAILABLE)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
