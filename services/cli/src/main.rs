//! `gantry`: the operator CLI. Each subcommand lives in its own module and returns an exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod events;
mod kube_sim;
mod render;

/// Gantry: GitOps for internal developer platforms.
#[derive(Debug, Parser)]
#[command(name = "gantry", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render an application path (plain YAML, Kustomize, Helm) as `kustomize build` would.
    Render(render::Args),
    /// Run the in-memory Kubernetes API server emulator.
    KubeSim(kube_sim::Args),
    /// Follow stored events and audit records.
    Events(events::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 64 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Render(args) => render::run(args),
        Command::KubeSim(args) => kube_sim::run(args),
        Command::Events(args) => events::run(args),
    }
}
