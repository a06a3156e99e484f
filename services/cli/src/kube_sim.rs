//! `gantry kube-sim`: runs the in-memory Kubernetes API emulator until interrupted, and writes a kubeconfig for it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use gantry_kube_sim::Config;

/// Options of `gantry kube-sim`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (plain HTTP). Port 0 picks a free port; the kubeconfig names the real one.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Where to write a kubeconfig that points kubectl and kube-rs at the emulator.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Keep state in this file: loaded at start when present, saved periodically and on exit.
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// How long simulated pods take to become ready (and PVCs to bind, Jobs to complete).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    ready_delay: Duration,
    /// Do not run the simulated controllers: objects stay exactly as written.
    #[arg(long)]
    no_controllers: bool,
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gantry kube-sim: cannot start the runtime: {e}");
            return ExitCode::from(70);
        }
    };
    rt.block_on(serve(args))
}

async fn serve(args: Args) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("gantry kube-sim: listen: cannot bind {}: {e}", args.listen);
            return ExitCode::from(64);
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gantry kube-sim: listen: {e}");
            return ExitCode::from(70);
        }
    };
    let kubeconfig = gantry_kube_sim::kubeconfig(addr);
    if let Some(path) = &args.kubeconfig
        && let Err(e) = std::fs::write(path, &kubeconfig)
    {
        eprintln!(
            "gantry kube-sim: kubeconfig: cannot write {}: {e}",
            path.display()
        );
        return ExitCode::from(64);
    }
    let config = Config {
        ready_delay: args.ready_delay,
        controllers: !args.no_controllers,
        snapshot: args.snapshot.clone(),
        ..Config::default()
    };
    match &args.kubeconfig {
        Some(p) => eprintln!(
            "gantry kube-sim: serving http://{addr}; kubeconfig written to {}",
            p.display()
        ),
        None => eprintln!("gantry kube-sim: serving http://{addr}"),
    }
    let shutdown = async {
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                        return;
                    }
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    };
    match gantry_kube_sim::run(listener, config, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gantry kube-sim: {e}");
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                eprintln!("  caused by: {s}");
                src = s.source();
            }
            ExitCode::from(70)
        }
    }
}
