//! `gantry render`: placeholder until its crate lands.

use std::process::ExitCode;

/// Options of `gantry render`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("gantry render: not built yet");
    ExitCode::from(70)
}
