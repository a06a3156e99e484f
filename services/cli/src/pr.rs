//! `gantry pr open|merge`: pull requests on the sandbox's Git host, through the provider's own
//! REST paths, so that the host fires the pull_request (and, on merge, push) webhooks. A person
//! reads one line (number, URL, head → base); `--output json` prints the host's JSON instead.

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
    /// `text` (one line for a person) or `json` (the Git host's pull request, one line).
    #[arg(long, global = true, value_enum, default_value = "text")]
    output: Output,
}

/// How `gantry pr` prints what the Git host answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    /// `Opened pull request #1 web-1.2.0 → main: URL`.
    Text,
    /// The Git host's JSON.
    Json,
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
    let merging = match &args.command {
        Command::Merge { number } => Some(*number),
        Command::Open { .. } => None,
    };
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
        let body = match send(req).await {
            Ok(body) => body,
            Err(e) => return fail(e, &sandbox.forge_api),
        };
        let Some(number) = merging else {
            print(args.output, &body, &opened_line(&body));
            return ExitCode::SUCCESS;
        };
        // The merge answer carries no branch names (and Gitea's no body at all): the pull
        // request, read back, names them and the merge commit.
        let pull = match send(http.get(format!("{base}/{number}"))).await {
            Ok(p) => p,
            Err(e) => return fail(e, &sandbox.forge_api),
        };
        let json = if body.is_object() {
            body
        } else {
            json!({"sha": pull["merge_commit_sha"], "merged": true})
        };
        print(args.output, &json, &merged_line(&pull, number));
        ExitCode::SUCCESS
    })
}

/// Why a request to the Git host did not succeed.
enum Failure {
    Unreachable(reqwest::Error),
    Refused(reqwest::StatusCode, String),
}

/// Sends `req`; the answer's JSON (`null` for an empty body) when it is a success.
async fn send(req: reqwest::RequestBuilder) -> Result<Value, Failure> {
    let resp = req.send().await.map_err(Failure::Unreachable)?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        Ok(body)
    } else {
        let message = body["message"].as_str().unwrap_or("").to_owned();
        Err(Failure::Refused(status, message))
    }
}

fn fail(f: Failure, forge_api: &str) -> ExitCode {
    match f {
        Failure::Unreachable(e) => {
            eprintln!("gantry pr: cannot reach the Git host at {forge_api}: {e}");
            ExitCode::from(69)
        }
        Failure::Refused(status, message) => {
            eprintln!("gantry pr: the Git host answered {status}: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print(output: Output, json: &Value, line: &str) {
    match output {
        Output::Json => println!("{json}"),
        Output::Text => println!("{line}"),
    }
}

fn branches(pull: &Value) -> String {
    format!(
        "{} \u{2192} {}",
        pull["head"]["ref"].as_str().unwrap_or("?"),
        pull["base"]["ref"].as_str().unwrap_or("?")
    )
}

/// `Opened pull request #1 web-1.2.0 → main: URL`.
fn opened_line(pull: &Value) -> String {
    format!(
        "Opened pull request #{} {}: {}",
        pull["number"].as_u64().unwrap_or(0),
        branches(pull),
        pull["html_url"].as_str().unwrap_or("")
    )
}

/// `Merged pull request #1 web-1.2.0 → main as 3f2a1c9: URL`.
fn merged_line(pull: &Value, number: u64) -> String {
    let sha: String = pull["merge_commit_sha"]
        .as_str()
        .unwrap_or("")
        .chars()
        .take(7)
        .collect();
    format!(
        "Merged pull request #{number} {} as {sha}: {}",
        branches(pull),
        pull["html_url"].as_str().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_reads_number_branches_and_url() {
        let pull = json!({
            "number": 3, "html_url": "http://127.0.0.1:1/acme/platform/pulls/3",
            "head": {"ref": "web-1.2.0"}, "base": {"ref": "main"},
            "merge_commit_sha": "3f2a1c9e0b7d4c1a8e5f6b2d9c0a7e4f1b3d5c6a",
        });
        assert_eq!(
            opened_line(&pull),
            "Opened pull request #3 web-1.2.0 \u{2192} main: http://127.0.0.1:1/acme/platform/pulls/3"
        );
        assert_eq!(
            merged_line(&pull, 3),
            "Merged pull request #3 web-1.2.0 \u{2192} main as 3f2a1c9: http://127.0.0.1:1/acme/platform/pulls/3"
        );
    }
}
