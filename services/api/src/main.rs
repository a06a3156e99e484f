//! `gantry-api`: parses configuration, sets up logging, and serves the API until SIGTERM or
//! SIGINT.

use std::process::ExitCode;

use gantry_api::{Args, Config};
use gantry_config::{EXIT_CONFIG, LogFormat, ProcessEnv};

#[tokio::main]
async fn main() -> ExitCode {
    let args = match gantry_config::cli::parse_args::<Args>("gantry-api") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let config = match Config::resolve(args, &ProcessEnv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gantry-api: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let _telemetry = match gantry_telemetry::init(gantry_telemetry::Options {
        service_name: "gantry-api",
        json: config.log_format == LogFormat::Json,
        filter: config.log_level.clone(),
        otlp_endpoint: config.otlp_endpoint.clone(),
    }) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("gantry-api: invalid telemetry settings: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // Poll the signal future once so that its handlers are installed before the port opens: a
    // SIGTERM sent as soon as the API listens must drain it, not kill it.
    let mut shutdown = Box::pin(gantry_config::cli::shutdown_signal());
    let _ = futures::FutureExt::now_or_never(&mut shutdown);
    let listener = match std::net::TcpListener::bind(config.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("gantry-api: cannot listen on {}: {e}", config.listen);
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    tracing::info!(listen = %config.listen, nats = %config.nats_url, "gantry-api starting");
    match gantry_api::run(listener, config, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(gantry_api::Error::Nats(e)) => {
            // One line that names the cause (e.g. the server's version and the minimum).
            tracing::error!("gantry-api: {}", gantry_telemetry::error_chain(&e));
            ExitCode::from(gantry_nats::EXIT_UNAVAILABLE)
        }
        Err(e) => {
            tracing::error!(error = %anyhow::Error::from(e), "gantry-api failed");
            ExitCode::FAILURE
        }
    }
}
