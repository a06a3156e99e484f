//! `gantry-reconciler`: parses configuration, sets up logging, and runs a worker until SIGTERM
//! or SIGINT.

use std::process::ExitCode;

use gantry_config::{EXIT_CONFIG, LogFormat, ProcessEnv};
use gantry_reconciler::{Args, Config};

#[tokio::main]
async fn main() -> ExitCode {
    let args = match gantry_config::cli::parse_args::<Args>("gantry-reconciler") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let config = match Config::resolve(args, &ProcessEnv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gantry-reconciler: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let _telemetry = match gantry_telemetry::init(gantry_telemetry::Options {
        service_name: "gantry-reconciler",
        json: config.log_format == LogFormat::Json,
        filter: config.log_level.clone(),
        otlp_endpoint: config.otlp_endpoint.clone(),
    }) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("gantry-reconciler: invalid telemetry settings: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let listener = match std::net::TcpListener::bind(config.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("gantry-reconciler: cannot listen on {}: {e}", config.listen);
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    tracing::info!(listen = %config.listen, nats = %config.nats_url, worker = %config.worker_id, "gantry-reconciler starting");
    match gantry_reconciler::run(listener, config, gantry_config::cli::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line naming the cause: an old NATS server, a stream that cannot be set up.
            let code = e.exit_code();
            tracing::error!("gantry-reconciler: {:#}", anyhow::Error::from(e));
            ExitCode::from(code)
        }
    }
}
