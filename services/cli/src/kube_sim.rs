//! `gantry kube-sim`: placeholder until its crate lands.

use std::process::ExitCode;

/// Options of `gantry kube-sim`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("gantry kube-sim: not built yet");
    ExitCode::from(70)
}
