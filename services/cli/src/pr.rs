//! `gantry pr open|merge`: pull requests on the sandbox's Git host, through the provider's own
//! REST paths, so that the host fires the pull_request (and, on merge, push) webhooks.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};

/// Options of `gantry pr`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    /// The sandbox folder (its sandbox.json names the Git host).
    #[arg(long, global = true, default_value = ".gantry-sandbox")]
    dir: PathBuf,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Open a pull request from --head into --base.
    Open {
        /// The branch with the changes (push it first).
        #[arg(long)]
        head: String,
        /// The branch to merge into.
        #[arg(long, default_value = "main")]
        base: String,
        /// The title.
        #[arg(long)]
        title: Option<String>,
    },
    /// Merge pull request NUMBER with a merge commit.
    Merge {
        /// The pull request's number.
        number: u64,
    },
}

/// Runs `gantry pr`.
pub fn run(args: Args) -> ExitCode {
    let path = args.dir.join("sandbox.json");
    let sandbox: crate::up::SandboxJson = match std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "gantry pr: invalid --dir: cannot read {}: {e} (is `gantry up` running there?)",
                path.display()
            );
            return ExitCode::from(gantry_config::EXIT_CONFIG);
        }
    };
    let prefix = if sandbox.provider == "gitea" {
        "/api/v1"
    } else {
        ""
    };
    let base = format!(
        "{}{prefix}/repos/{}/pulls",
        sandbox.forge_api, sandbox.repository
    );
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gantry pr: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let req = match args.command {
        Command::Open {
            head,
            base: into,
            title,
        } => http.post(&base).json(&json!({
            "title": title.unwrap_or_else(|| format!("Merge {head} into {into}")),
            "head": head,
            "base": into,
        })),
        Command::Merge { number } if sandbox.provider == "gitea" => http
            .post(format!("{base}/{number}/merge"))
            .json(&json!({"Do": "merge"})),
        Command::Merge { number } => http.put(format!("{base}/{number}/merge")),
    };
    rt.block_on(async {
        match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                if status.is_success() {
                    println!("{body}");
                    ExitCode::SUCCESS
                } else {
                    eprintln!(
                        "gantry pr: the Git host answered {status}: {}",
                        body["message"].as_str().unwrap_or("")
                    );
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!(
                    "gantry pr: cannot reach the Git host at {}: {e}",
                    sandbox.forge_api
                );
                ExitCode::from(69)
            }
        }
    })
}
