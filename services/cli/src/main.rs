//! `gantry`: the operator CLI. Each subcommand lives in its own module and returns an exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod dlq;
mod events;
mod jsonout;
mod kube_sim;
mod locate;
mod pr;
mod render;
mod status;
mod up;
mod verify_commit;

// `gantry render` of a chart allocates and frees many small values; glibc's malloc/free (with
// its consolidations) were about 15 % of a render's CPU, which mimalloc's free lists take away.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Gantry: GitOps for internal developer platforms.
#[derive(Debug, Parser)]
#[command(name = "gantry", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const RENDER_ABOUT: &str =
    "Render an application path (plain YAML, Kustomize, Helm) as `kustomize build` would";

/// `gantry render` alone: what its arguments parse against when it is the subcommand. A chart
/// render lives milliseconds, and building every subcommand's arguments (touching their code
/// for the first time) to parse them was 0.4 ms of a small chart's 3 ms whole process,
/// alternated; its help and errors are the same, as no other subcommand appears in them.
#[derive(Debug, Parser)]
#[command(name = "gantry", version, about)]
struct RenderCli {
    #[command(subcommand)]
    command: RenderOnly,
}

#[derive(Debug, Subcommand)]
enum RenderOnly {
    #[command(about = RENDER_ABOUT)]
    Render(render::Args),
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole pipeline on this machine: NATS, a Kubernetes API emulator, a Git host
    /// emulator with an example repository, the receiver and a reconciler.
    Up(up::Args),
    /// Show apps × environments: revision, health, last outcome.
    Status(status::Args),
    /// Open or merge a pull request on the sandbox's Git host.
    Pr(pr::Args),
    #[command(about = RENDER_ABOUT)]
    Render(render::Args),
    /// Run the in-memory Kubernetes API server emulator.
    KubeSim(kube_sim::Args),
    /// Follow stored events and audit records.
    Events(events::Args),
    /// Check that a commit carries a trusted OpenPGP or SSH signature (the reconciler's gate).
    VerifyCommit(verify_commit::Args),
    /// List and replay the events the reconcilers dead-lettered.
    Dlq(dlq::Args),
}

fn main() -> ExitCode {
    // A command that lives milliseconds (a small chart's render) never earns back the 2 MiB the
    // kernel zeroes on a transparent huge page's first touch: with them, the fixtures' charts of
    // less than 64 KB of templates took 3-20 % more CPU. `render` turns them back on for a large
    // chart (render.rs); children inherit the flag, so the long-lived commands clear it again.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    if std::env::args_os().nth(1).is_some_and(|a| a == "render") {
        return match RenderCli::try_parse() {
            Ok(RenderCli {
                command: RenderOnly::Render(args),
            }) => render::run(args),
            Err(e) => usage(&e),
        };
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e),
    };
    match cli.command {
        Command::Up(args) => {
            long_lived();
            up::run(args)
        }
        Command::Status(args) => status::run(args),
        Command::Pr(args) => pr::run(args),
        Command::Render(args) => render::run(args),
        Command::KubeSim(args) => {
            long_lived();
            kube_sim::run(args)
        }
        Command::Events(args) => events::run(args),
        Command::VerifyCommit(args) => verify_commit::run(args),
        Command::Dlq(args) => dlq::run(args),
    }
}

/// Prints a parse error (exit code 64) or the help or version asked for (0).
fn usage(e: &clap::Error) -> ExitCode {
    let code = if e.use_stderr() { 64 } else { 0 };
    let _ = e.print();
    ExitCode::from(code)
}

/// A command that serves for hours (and the processes it starts) is left to the kernel's
/// huge-page policy again (mimalloc asks for them on its arena): there the fewer TLB misses
/// pay for the zeroing.
fn long_lived() {
    let _ = rustix::thread::disable_transparent_huge_pages(false);
}
