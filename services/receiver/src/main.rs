//! `gantry-receiver`: parses configuration, sets up logging, and runs the receiver until
//! SIGTERM or SIGINT.

use std::process::ExitCode;

use gantry_config::{EXIT_CONFIG, LogFormat, ProcessEnv};
use gantry_receiver::{Args, Config};

// Each webhook allocates a few dozen small buffers (body, event, headers, answer) across two
// HTTP workers; glibc's malloc spent about a sixth of the receiver's CPU on them (perf, README
// "Performance").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match gantry_config::cli::parse_args::<Args>("gantry-receiver") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let config = match Config::resolve(args, &ProcessEnv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gantry-receiver: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let _telemetry = match gantry_telemetry::init(gantry_telemetry::Options {
        service_name: "gantry-receiver",
        json: config.log_format == LogFormat::Json,
        filter: config.log_level.clone(),
        otlp_endpoint: config.otlp_endpoint.clone(),
    }) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("gantry-receiver: invalid telemetry settings: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let listener = match std::net::TcpListener::bind(config.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("gantry-receiver: cannot listen on {}: {e}", config.listen);
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    tracing::info!(listen = %config.listen, nats = %config.nats_url, "gantry-receiver starting");
    match gantry_receiver::run(listener, config, gantry_config::cli::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(gantry_receiver::Error::Nats(e)) => {
            // One line that names the cause (e.g. the server's version and the minimum).
            tracing::error!("gantry-receiver: {}", gantry_telemetry::error_chain(&e));
            ExitCode::from(gantry_nats::EXIT_UNAVAILABLE)
        }
        Err(e) => {
            tracing::error!(error = %anyhow::Error::from(e), "gantry-receiver failed");
            ExitCode::FAILURE
        }
    }
}
