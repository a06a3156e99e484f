//! `gantry up` end to end, as a new user meets it: clone the seeded repository with the real
//! git, push changes, and watch commit statuses and the cluster (through the real kubectl).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

struct Sandbox {
    child: Child,
    dir: PathBuf,
    info: Value,
    http: reqwest::blocking::Client,
}

impl Sandbox {
    fn start(dir: &Path, provider: &str) -> Result<Sandbox> {
        let _ = std::fs::remove_file(dir.join("sandbox.json"));
        let mut child = Command::new(BIN)
            .args(["up", "--provider", provider, "--dir"])
            .arg(dir)
            .env("GANTRY_NATS_SERVER_BIN", gantry_tests::nats_server_bin())
            .env("PATH", tools_path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.with_extension("out"))?)
            .stderr(std::fs::File::create(dir.with_extension("log"))?)
            .spawn()?;
        let info =
            gantry_tests::wait_for(&mut child, "sandbox.json", Duration::from_secs(60), || {
                std::fs::read(dir.join("sandbox.json")).ok()
            })
            .with_context(|| log(dir))?;
        let info = serde_json::from_slice::<Value>(&info)?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Sandbox {
            child,
            dir: dir.to_owned(),
            info,
            http: reqwest::blocking::Client::new(),
        })
    }

    /// The guide `gantry up` printed, once it is complete (its last line names `up --dir`).
    fn guide(&self) -> Result<String> {
        let out = self.dir.with_extension("out");
        gantry_tests::poll("complete guide", Duration::from_secs(30), || {
            std::fs::read_to_string(&out)
                .ok()
                .filter(|o| o.contains("Ctrl-C stops everything"))
        })
        .with_context(|| {
            let so_far = std::fs::read_to_string(&out).unwrap_or_default();
            format!("{so_far}\n{}", log(&self.dir))
        })
    }

    fn get(&self, key: &str) -> String {
        self.info[key].as_str().unwrap_or("").to_owned()
    }

    /// The statuses of `sha`, newest first, through the provider's list API.
    fn statuses(&self, sha: &str) -> Result<Vec<Value>> {
        let (api, repo) = (self.get("forge_api"), self.get("repository"));
        let url = if self.get("provider") == "gitea" {
            format!("{api}/api/v1/repos/{repo}/statuses/{sha}")
        } else {
            format!("{api}/repos/{repo}/commits/{sha}/statuses")
        };
        let resp = self
            .http
            .get(&url)
            .send()
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let text = resp.text()?;
        ensure!(status.is_success(), "GET {url}: {status}: {text}");
        serde_json::from_str(&text).with_context(|| format!("GET {url}: {text}"))
    }

    /// Waits until the newest status of `context` on `sha` is final, and returns its state.
    fn wait_final(&self, sha: &str, context: &str, within: Duration) -> Result<(String, String)> {
        let deadline = Instant::now() + within;
        loop {
            let list = self.statuses(sha)?;
            let key = if self.get("provider") == "gitea" {
                "status"
            } else {
                "state"
            };
            let mut mine: Vec<&Value> = list.iter().filter(|s| s["context"] == context).collect();
            mine.sort_by_key(|s| s["id"].as_u64().unwrap_or(0));
            if let Some(last) = mine.last() {
                let state = last[key]
                    .as_str()
                    .or(last["state"].as_str())
                    .unwrap_or("")
                    .to_owned();
                if state != "pending" {
                    return Ok((state, last["description"].as_str().unwrap_or("").to_owned()));
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "no final {context} status on {sha} within {within:?}: {list:?}\n{}",
                    log(&self.dir)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stop(mut self) -> Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait()? {
                ensure!(s.success(), "gantry up exited with {s}: {}", log(&self.dir));
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("gantry up did not stop within 30s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // SIGTERM first, so that gantry up stops its nats-server child instead of orphaning it.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
    }
}

/// PATH with the tools scripts/tools.sh installs first, as scripts/up runs `gantry up`: the
/// guide names the kubectl it finds there.
fn tools_path() -> std::ffi::OsString {
    let venv = gantry_tests::tools_bin();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(venv).chain(std::env::split_paths(&rest))).unwrap_or(rest)
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default()
}

use gantry_tests::git_in as git;

/// Runs `script` with `sh` as a fresh login would: none of this process's environment, the
/// system PATH only, so that neither gantry nor kubectl is found unless the command names it.
fn fresh_shell(script: &str, cwd: &Path) -> Result<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", cwd)
        .output()?;
    ensure!(
        out.status.success(),
        "`{script}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The command on the guide line containing `needle`, without its step label.
fn guide_command<'a>(guide: &'a str, needle: &str) -> Result<&'a str> {
    let line = guide
        .lines()
        .find(|l| l.contains(needle))
        .with_context(|| format!("no line with {needle:?} in the guide:\n{guide}"))?;
    // Steps are a 25-column label, then the command.
    Ok(line.get(25..).unwrap_or("").trim())
}

/// The status context of every environment the sandbox seeds (`sandbox/platform/gantry.yaml`).
const SEEDED_CONTEXTS: [&str; 6] = [
    "gantry/payments/dev",
    "gantry/payments/prod",
    "gantry/web/dev",
    "gantry/web/prod",
    "gantry/catalog/dev",
    "gantry/catalog/prod",
];

/// What every sandbox test starts from: a sandbox of `provider` in `tmp/<folder>`, and a clone
/// of its repository at `tmp/platform` with its seeded head.
struct Started {
    tmp: tempfile::TempDir,
    dir: PathBuf,
    sb: Sandbox,
    clone: PathBuf,
    seed: String,
}

fn start_and_clone(folder: &str, provider: &str) -> Result<Started> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join(folder);
    std::fs::create_dir_all(&dir)?;
    let sb = Sandbox::start(&dir, provider)?;
    let clone = tmp.path().join("platform");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            &sb.get("git_url"),
            clone.to_str().unwrap_or(""),
        ],
    )?;
    let seed = git(&clone, &["rev-parse", "HEAD"])?;
    Ok(Started {
        tmp,
        dir,
        sb,
        clone,
        seed,
    })
}

fn set_tag(clone: &Path, app: &str, env: &str, tag: &str) -> Result<()> {
    let p = clone.join(format!("apps/{app}/overlays/{env}/kustomization.yaml"));
    let text = std::fs::read_to_string(&p)?;
    let re: String = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("newTag:") {
                format!("    newTag: {tag}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&p, re + "\n")?;
    Ok(())
}

const VALIDATE: &str = r##"
import json, sys
from openapi_schema_validator import OAS30Validator
spec = json.load(open(sys.argv[1]))
statuses = json.load(open(sys.argv[2]))
op = spec["paths"]["/repos/{owner}/{repo}/statuses/{sha}"]["post"]
request = op["requestBody"]["content"]["application/json"]["schema"]
response = {"$ref": "#/components/schemas/status", "components": spec["components"]}
errors = []
for s in statuses:
    body = {k: s[k] for k in ("state", "target_url", "description", "context") if k in s}
    for schema, doc, what in ((request, body, "request"), (response, s, "status")):
        for e in OAS30Validator(schema).iter_errors(doc):
            errors.append(f"{what} {s.get('context')}: {e.message}")
    if len(s.get("description") or "") > 140:
        errors.append(f"{s.get('context')}: description over GitHub's 140 characters")
print("\n".join(errors))
sys.exit(1 if errors else 0)
"##;

/// Checks statuses against the request body of `POST /repos/{owner}/{repo}/statuses/{sha}` and
/// the `status` schema in GitHub's published OpenAPI description (`@octokit/openapi`).
fn validate_against_github_openapi(statuses: &[Value], tmp: &Path) -> Result<()> {
    ensure!(!statuses.is_empty(), "no statuses to validate");
    let spec = gantry_tests::workspace_root()
        .join(".tools/node_modules/@octokit/openapi/generated/api.github.com.json");
    ensure!(
        spec.exists(),
        "{} is missing: run scripts/tools.sh",
        spec.display()
    );
    let file = tmp.join("statuses.json");
    std::fs::write(&file, serde_json::to_vec(statuses)?)?;
    let venv = gantry_tests::workspace_root().join(".tools/venv/bin/python");
    let python = if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    };
    let out = Command::new(python)
        .arg("-c")
        .arg(VALIDATE)
        .arg(&spec)
        .arg(&file)
        .output()?;
    ensure!(
        out.status.success(),
        "statuses invalid by GitHub's OpenAPI description:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[test]
fn github_sandbox_push_crashloop_revert_and_pull_request() -> Result<()> {
    // The default folder name, so that `gantry status` run beside it finds it.
    let Started {
        tmp,
        dir,
        sb,
        clone,
        seed,
    } = start_and_clone(".gantry-sandbox", "github")?;
    // Every seeded environment first: one still deploying the seed has no applied revision to
    // compare a push with, so the push rightly deploys it too (and posts its status there).
    let declared = std::fs::read_to_string(clone.join(".gantry.yaml"))?
        .lines()
        .filter(|l| l.trim_start().starts_with("path:"))
        .count();
    assert_eq!(
        declared,
        SEEDED_CONTEXTS.len(),
        "SEEDED_CONTEXTS is out of date"
    );
    for context in SEEDED_CONTEXTS {
        let (state, desc) = sb.wait_final(&seed, context, Duration::from_secs(60))?;
        assert_eq!(state, "success", "{context}: {desc}");
    }

    // 2–3: bump an image tag and push; the new image is in the cluster.
    set_tag(&clone, "payments", "dev", "1.1.0")?;
    git(&clone, &["commit", "-qam", "payments 1.1.0"])?;
    git(&clone, &["push", "-q"])?;
    let bump = git(&clone, &["rev-parse", "HEAD"])?;
    let (state, desc) = sb.wait_final(&bump, "gantry/payments/dev", Duration::from_secs(30))?;
    assert_eq!(state, "success", "{desc}");
    let image = gantry_tests::kubectl(
        sb.get("kubeconfig"),
        &[
            "get",
            "deploy",
            "payments",
            "-n",
            "payments-dev",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
    )?;
    assert_eq!(image, "ghcr.io/acme/payments:1.1.0");
    // Only the changed environment was deployed.
    let contexts: Vec<Value> = sb
        .statuses(&bump)?
        .iter()
        .map(|s| s["context"].clone())
        .collect();
    assert!(
        contexts.iter().all(|c| c == "gantry/payments/dev"),
        "{contexts:?}"
    );

    // 4: a crash-looping image fails fast.
    set_tag(&clone, "payments", "dev", "crashloop")?;
    git(&clone, &["commit", "-qam", "crashloop"])?;
    git(&clone, &["push", "-q"])?;
    let bad = git(&clone, &["rev-parse", "HEAD"])?;
    let started = Instant::now();
    let (state, desc) = sb.wait_final(&bad, "gantry/payments/dev", Duration::from_secs(60))?;
    assert_eq!(state, "failure", "{desc}");
    assert!(started.elapsed() < Duration::from_secs(60));

    // 5: the revert rolls back.
    git(&clone, &["revert", "--no-edit", "HEAD"])?;
    git(&clone, &["push", "-q"])?;
    let revert = git(&clone, &["rev-parse", "HEAD"])?;
    let (state, desc) = sb.wait_final(&revert, "gantry/payments/dev", Duration::from_secs(60))?;
    assert_eq!(state, "success", "{desc}");

    // A merged pull request: the status shows on its head and on the merge commit.
    git(&clone, &["checkout", "-qb", "web-1.2.0"])?;
    set_tag(&clone, "web", "prod", "1.2.0")?;
    git(&clone, &["commit", "-qam", "web 1.2.0 in prod"])?;
    git(&clone, &["push", "-q", "origin", "web-1.2.0"])?;
    let head = git(&clone, &["rev-parse", "HEAD"])?;
    let d = dir.to_str().unwrap_or("");
    let out = Command::new(BIN)
        .args(["pr", "open", "--dir", d, "--head", "web-1.2.0"])
        .output()?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A person reads the number, the branches and the URL; JSON only on request.
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let n = line
        .strip_prefix("Opened pull request #")
        .and_then(|rest| rest.split(' ').next())
        .with_context(|| format!("gantry pr open printed {line:?}"))?
        .to_owned();
    ensure!(
        line.contains("web-1.2.0 \u{2192} main: http://") && line.ends_with(&format!("/pulls/{n}")),
        "gantry pr open printed {line:?}"
    );
    let out = Command::new(BIN)
        .args(["pr", "merge", "--output", "json", "--dir", d, &n])
        .output()?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged: Value = serde_json::from_slice(&out.stdout)?;
    let merge = merged["sha"].as_str().unwrap_or("").to_owned();
    let (state, desc) = sb.wait_final(&merge, "gantry/web/prod", Duration::from_secs(60))?;
    assert_eq!(state, "success", "{desc}");
    let (state, _) = sb.wait_final(&head, "gantry/web/prod", Duration::from_secs(30))?;
    assert_eq!(state, "success");

    // Every recorded status is valid by GitHub's own OpenAPI description of the API.
    let mut all = Vec::new();
    for sha in [&seed, &bump, &bad, &revert, &merge, &head] {
        all.extend(sb.statuses(sha)?);
    }
    validate_against_github_openapi(&all, tmp.path())?;

    // gantry status shows the table.
    let out = Command::new(BIN).args(["status", "--dir", d]).output()?;
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("payments") && table.contains("Healthy"),
        "{table}"
    );

    // Run beside the sandbox without --dir, it reads the sandbox's NATS and says so.
    let out = Command::new(BIN)
        .arg("status")
        .current_dir(tmp.path())
        .env_remove("GANTRY_NATS_URL")
        .output()?;
    let table = String::from_utf8_lossy(&out.stdout);
    let first = table.lines().next().unwrap_or("").to_owned();
    assert!(
        table.contains("payments") && table.contains("Healthy"),
        "{table}"
    );
    // --output json: one object a line on stdout, what was read on stderr.
    let out = Command::new(BIN)
        .args(["status", "--output", "json", "--dir", d])
        .output()?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let row = rows
        .iter()
        .find(|r| r["app"] == "web" && r["environment"] == "prod")
        .with_context(|| format!("no web/prod row: {rows:?}"))?;
    assert_eq!(row["revision"], merge.as_str(), "{row}");
    assert_eq!(row["status"], "success", "{row}");
    // The first line of the table named the sandbox's server and counted these rows.
    assert_eq!(
        first,
        format!(
            "NATS {} (from .gantry-sandbox/sandbox.json), bucket gantry-state: {} environments",
            sb.get("nats_url"),
            rows.len()
        ),
        "{table}"
    );
    assert!(rows.len() >= 4, "{rows:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("gantry status: NATS nats://"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The guide's commands work as printed, in a shell that has neither gantry nor kubectl on
    // PATH; so do the bare commands after `source DIR/env`.
    let guide = sb.guide()?;
    let status_cmd = guide_command(&guide, " status --dir ")?;
    let table = fresh_shell(status_cmd, tmp.path())?;
    assert!(table.contains("payments"), "{status_cmd}: {table}");
    let kubectl_cmd = guide_command(&guide, " get deploy -n payments-dev")?;
    let deploys = fresh_shell(kubectl_cmd, tmp.path())?;
    assert!(deploys.contains("payments"), "{kubectl_cmd}: {deploys}");
    let both = fresh_shell(
        &format!(
            ". {}/env && gantry status && kubectl get deploy -n web-prod -o name",
            dir.display()
        ),
        tmp.path(),
    )?;
    assert!(
        both.contains("(from $GANTRY_NATS_URL)") && both.contains("deployment.apps/web"),
        "{both}"
    );

    // Its log, written to a file, is plain text: colour is for terminals only.
    let text = log(&dir);
    ensure!(
        !text.is_empty() && !text.contains('\u{1b}'),
        "gantry up's log file is empty or has ANSI escape codes:\n{text}"
    );

    // Ctrl-C stops cleanly, nats-server through SIGTERM (it logs the signal it trapped); a
    // second `gantry up` on the same folder resumes, appending to the same nats.log.
    let before = sb.info.clone();
    sb.stop()?;
    let nats_log = std::fs::read_to_string(dir.join("nats.log"))?;
    assert!(
        nats_log.contains("Trapped \"terminated\" signal"),
        "nats-server was not stopped with SIGTERM:\n{nats_log}"
    );
    let sb = Sandbox::start(&dir, "github")?;
    assert_eq!(sb.info, before, "same ports, same repository");
    let guide = sb.guide()?;
    let nats_log = std::fs::read_to_string(dir.join("nats.log"))?;
    assert_eq!(
        nats_log.matches("--- gantry up started").count(),
        2,
        "nats.log was not appended to:\n{nats_log}"
    );
    assert!(
        nats_log.contains("Trapped \"terminated\" signal"),
        "{nats_log}"
    );
    // The resumed guide says where the repository is and what is deployed, not clone + bump.
    git(&clone, &["checkout", "-q", "main"])?;
    git(&clone, &["pull", "-q"])?;
    let main_head = git(&clone, &["rev-parse", "HEAD"])?;
    assert!(
        guide.contains(&format!("acme/platform main is at {}", &main_head[..7])),
        "{guide}"
    );
    assert!(guide.contains("What is deployed"), "{guide}");
    assert!(!guide.contains("newTag: 1.0.0"), "{guide}");
    set_tag(&clone, "payments", "dev", "1.3.0")?;
    git(&clone, &["commit", "-qam", "payments 1.3.0"])?;
    git(&clone, &["push", "-q"])?;
    let again = git(&clone, &["rev-parse", "HEAD"])?;
    let (state, desc) = sb.wait_final(&again, "gantry/payments/dev", Duration::from_secs(60))?;
    assert_eq!(state, "success", "{desc}");
    sb.stop()
}

#[test]
fn gitea_sandbox_push_deploys() -> Result<()> {
    // `_tmp` keeps the folders until the test ends.
    let Started {
        tmp: _tmp,
        sb,
        clone,
        seed,
        ..
    } = start_and_clone("sandbox", "gitea")?;
    set_tag(&clone, "web", "dev", "2.0.0")?;
    git(&clone, &["commit", "-qam", "web 2.0.0"])?;
    git(&clone, &["push", "-q"])?;
    let sha = git(&clone, &["rev-parse", "HEAD"])?;
    let (state, desc) = sb.wait_final(&sha, "gantry/web/dev", Duration::from_secs(60))?;
    assert_eq!(state, "success", "{desc}");
    let web_dev_image = || {
        gantry_tests::kubectl(
            sb.get("kubeconfig"),
            &[
                "get",
                "deploy",
                "web",
                "-n",
                "web-dev",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].image}",
            ],
        )
    };
    assert_eq!(web_dev_image()?, "ghcr.io/acme/web:2.0.0");

    // gantry-api: the sandbox token may read, sync and roll back; the rules come from the
    // RBAC repository.
    let (api, token) = (sb.get("api"), sb.get("api_token"));
    assert!(sb.get("rbac_git_url").ends_with("/acme/platform-rbac.git"));
    let apps: Value = sb
        .http
        .get(format!("{api}/api/v1/apps"))
        .bearer_auth(&token)
        .send()?
        .json()?;
    let listed = apps["apps"].as_array().cloned().unwrap_or_default();
    assert!(
        listed
            .iter()
            .any(|a| a["app"] == "web" && a["environment"] == "dev"),
        "{apps}"
    );
    let r = sb
        .http
        .post(format!("{api}/api/v1/apps/web/environments/dev/sync"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "sandbox-test")
        .body("{}")
        .send()?;
    assert_eq!(r.status().as_u16(), 202);
    assert_eq!(
        sb.http
            .get(format!("{api}/api/v1/apps"))
            .send()?
            .status()
            .as_u16(),
        401
    );
    // A rollback through the API is a commit on main that the pipeline deploys.
    let r = sb
        .http
        .post(format!("{api}/api/v1/apps/web/environments/dev/rollback"))
        .bearer_auth(&token)
        .body(format!(r#"{{"revision": "{seed}"}}"#))
        .send()?;
    assert_eq!(r.status().as_u16(), 202);
    let rolled: Value = r.json()?;
    let commit = rolled["commit"].as_str().unwrap_or_default().to_owned();
    let (state, desc) = sb.wait_final(&commit, "gantry/web/dev", Duration::from_secs(60))?;
    assert_eq!(state, "success", "{desc}");
    assert_ne!(web_dev_image()?, "ghcr.io/acme/web:2.0.0");
    git(&clone, &["pull", "-q"])?;
    assert_eq!(
        git(
            &clone,
            &["diff", &seed, "HEAD", "--", "apps/web/overlays/dev"]
        )?,
        ""
    );

    // A sync through the API deploys: with webhooks lost, a push waits for it.
    let r = sb
        .http
        .put(format!("{}/_sandbox/webhooks", sb.get("forge_api")))
        .body(r#"{"deliver": false}"#)
        .send()?;
    assert!(r.status().is_success());
    set_tag(&clone, "web", "dev", "3.0.0")?;
    git(&clone, &["commit", "-qam", "web 3.0.0, webhook lost"])?;
    git(&clone, &["push", "-q"])?;
    let sha3 = git(&clone, &["rev-parse", "HEAD"])?;
    let r = sb
        .http
        .post(format!("{api}/api/v1/apps/web/environments/dev/sync"))
        .bearer_auth(&token)
        .body("{}")
        .send()?;
    assert_eq!(r.status().as_u16(), 202);
    let (state, desc) = sb.wait_final(&sha3, "gantry/web/dev", Duration::from_secs(60))?;
    assert_eq!(state, "success", "{desc}");
    assert_eq!(web_dev_image()?, "ghcr.io/acme/web:3.0.0");
    sb.stop()
}

#[test]
fn sandbox_helm_app_deploys_per_environment() -> Result<()> {
    // `_tmp` keeps the folders until the test ends.
    let Started {
        tmp: _tmp,
        sb,
        clone,
        seed,
        ..
    } = start_and_clone("sandbox", "github")?;
    // The seeded chart is rendered by Gantry's own engine (no helm anywhere) once per
    // environment, each with its values file.
    for env in ["dev", "prod"] {
        let (state, desc) = sb.wait_final(
            &seed,
            &format!("gantry/catalog/{env}"),
            Duration::from_secs(60),
        )?;
        assert_eq!(state, "success", "{env}: {desc}");
    }
    let kc = sb.get("kubeconfig");
    let deploy = |ns: &str, path: &str| {
        gantry_tests::kubectl(
            &kc,
            &[
                "get",
                "deploy",
                "catalog",
                "-n",
                ns,
                "-o",
                &format!("jsonpath={path}"),
            ],
        )
    };
    assert_eq!(deploy("catalog-dev", "{.spec.replicas}")?, "1");
    assert_eq!(deploy("catalog-prod", "{.spec.replicas}")?, "2");
    assert_eq!(
        deploy("catalog-prod", "{.spec.template.spec.containers[0].image}")?,
        "ghcr.io/acme/catalog:1.0.0"
    );
    assert_eq!(
        deploy(
            "catalog-prod",
            "{.spec.template.spec.containers[0].resources.requests.cpu}"
        )?,
        "100m"
    );
    assert_eq!(
        deploy("catalog-dev", "{.metadata.labels.helm\\.sh/chart}")?,
        "catalog-0.1.0"
    );
    let flags = gantry_tests::kubectl(
        &kc,
        &[
            "get",
            "configmap",
            "catalog-config",
            "-n",
            "catalog-dev",
            "-o",
            "jsonpath={.data.LOG_LEVEL} {.data.FEATURE_FLAGS}",
        ],
    )?;
    assert_eq!(flags, "debug new-search");
    let svc = gantry_tests::kubectl(
        &kc,
        &[
            "get",
            "service",
            "catalog",
            "-n",
            "catalog-prod",
            "-o",
            "jsonpath={.spec.ports[0].port}",
        ],
    )?;
    assert_eq!(svc, "80");

    // A change to dev's values file deploys dev only, with the new image.
    let p = clone.join("apps/catalog/values-dev.yaml");
    let text = std::fs::read_to_string(&p)?.replace("tag: \"1.0.0\"", "tag: \"1.1.0\"");
    std::fs::write(&p, text)?;
    git(&clone, &["commit", "-qam", "catalog 1.1.0 in dev"])?;
    git(&clone, &["push", "-q"])?;
    let bump = git(&clone, &["rev-parse", "HEAD"])?;
    let (state, desc) = sb.wait_final(&bump, "gantry/catalog/dev", Duration::from_secs(60))?;
    assert_eq!(state, "success", "{desc}");
    assert_eq!(
        deploy("catalog-dev", "{.spec.template.spec.containers[0].image}")?,
        "ghcr.io/acme/catalog:1.1.0"
    );
    assert_eq!(
        deploy("catalog-prod", "{.spec.template.spec.containers[0].image}")?,
        "ghcr.io/acme/catalog:1.0.0"
    );
    assert!(
        sb.statuses(&bump)?
            .iter()
            .all(|s| s["context"] == "gantry/catalog/dev")
    );
    sb.stop()
}
