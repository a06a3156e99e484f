//! GitHub App authentication end to end (contract section 4): the reconciler's forge is
//! `app: {appId, installationId, privateKeyFile}`; the Git host emulator issues installation
//! tokens for JWTs signed with that key, requires one for Git smart HTTP and for statuses. The
//! token is cached, and a new one is fetched when the host stops taking it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use common::*;
use gantry_forge_sim::app::AppConfig;

const ZERO: &str = "0000000000000000000000000000000000000000";
const STATIC: &str = "pusher-token";

fn openssl(args: &[&str]) -> Result<()> {
    let out = Command::new("openssl").args(args).output()?;
    ensure!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

async fn final_status(
    host: &gantry_forge_sim::ForgeSim,
    sha: &str,
) -> Result<gantry_forge_sim::Status> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = host
            .statuses(FULL, sha)
            .into_iter()
            .rfind(|s| s.context == "gantry/web/dev")
            && s.state != "pending"
        {
            return Ok(s);
        }
        if Instant::now() > deadline {
            bail!("no final status on {sha}: {:?}", host.requests());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_and_fetches_authenticate_as_the_app() -> Result<()> {
    let mut h = Harness::start().await?;
    let keys = tempfile::tempdir()?;
    let p = |n: &str| keys.path().join(n).to_string_lossy().into_owned();
    openssl(&["genrsa", "-traditional", "-out", &p("app.pem"), "2048"])?;
    openssl(&[
        "rsa",
        "-in",
        &p("app.pem"),
        "-pubout",
        "-out",
        &p("app.pub.pem"),
    ])?;

    let root = tempfile::tempdir()?;
    let host = gantry_forge_sim::ForgeSim::start(gantry_forge_sim::Config {
        tokens: vec![STATIC.to_owned()],
        app: Some(AppConfig {
            app_id: 123,
            installation_id: 456,
            public_key_pem: std::fs::read_to_string(p("app.pub.pem"))?,
            token_ttl: Duration::from_secs(3600),
        }),
        git_auth: true,
        ..gantry_forge_sim::Config::github_hosting(root.path())
    })
    .await?;
    host.hosting()
        .cloned()
        .expect("hosting")
        .repos()
        .create(FULL, "main")
        .await?;
    let url = format!("{}/{FULL}.git", host.url());
    let push_url = url.replace("http://", &format!("http://x-access-token:{STATIC}@"));
    let push = |repo: std::path::PathBuf, u: String| async move {
        let st = tokio::task::spawn_blocking(move || {
            Command::new("git")
                .args(["push", "-q", &u, "main"])
                .current_dir(repo)
                .status()
        })
        .await??;
        ensure!(st.success(), "git push");
        anyhow::Ok(())
    };
    // Unauthenticated Git is refused: the token is what lets the reconciler fetch.
    let out = Command::new("git")
        .args(["ls-remote", &url])
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()?;
    ensure!(!out.status.success(), "smart HTTP must require a token");

    let c1 = h.seed_web()?;
    push(h.repo.path().to_owned(), push_url.clone()).await?;

    // The forge and repository come from the config file, as an operator writes them.
    let cfg = keys.path().join("reconciler.yaml");
    std::fs::write(
        &cfg,
        format!(
            "forges:\n  - {{name: github, kind: github, apiUrl: \"{}\", app: {{appId: 123, installationId: 456, privateKeyFile: {}}}}}\nrepositories:\n  - {{fullName: {FULL}, forge: github, cloneUrl: \"{url}\"}}\n",
            host.url(),
            p("app.pem")
        ),
    )?;
    let args = <gantry_reconciler::Args as clap::Parser>::try_parse_from([
        "gantry-reconciler",
        "--config",
        &cfg.to_string_lossy(),
    ])?;
    let file = gantry_reconciler::Config::resolve(args, &[] as &[(&str, &str)])?;
    h.worker("w1", move |c| {
        c.forges = file.forges;
        c.repositories = file.repositories;
    })
    .await?;

    h.push(ZERO, &c1).await?;
    let s = final_status(&host, &c1).await?;
    assert_eq!(s.state, "success", "{s:?}");
    assert_eq!(
        host.app_token_exchanges(),
        1,
        "one token for the fetch and every status"
    );

    // An hour later the host no longer takes it: the next fetch and statuses get a new one.
    host.expire_app_tokens();
    h.repo.write("apps/web/cm.yaml", &configmap("web", "2"))?;
    let c2 = h.repo.commit("second")?;
    push(h.repo.path().to_owned(), push_url).await?;
    h.push(&c1, &c2).await?;
    let s = final_status(&host, &c2).await?;
    assert_eq!(s.state, "success", "{s:?}");
    assert_eq!(host.app_token_exchanges(), 2, "refreshed once");
    h.shutdown().await;
    Ok(())
}

#[test]
fn a_bad_app_block_stops_the_start_naming_the_key() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = dir.path().join("r.yaml");
    let run = |text: &str| -> Result<String> {
        std::fs::write(&cfg, text)?;
        let args = <gantry_reconciler::Args as clap::Parser>::try_parse_from([
            "gantry-reconciler",
            "--config",
            &cfg.to_string_lossy(),
        ])?;
        Ok(
            match gantry_reconciler::Config::resolve(args, &[] as &[(&str, &str)]) {
                Ok(_) => String::new(),
                Err(e) => format!("{}: {e}", e.key),
            },
        )
    };
    let e = run(
        "forges:\n  - {name: gh, kind: github, apiUrl: https://api.github.com, app: {appId: 1, installationId: 2, privateKeyFile: /nonexistent.pem}}\n",
    )?;
    assert!(e.starts_with("forges[0].app.privateKeyFile"), "{e}");
    std::fs::write(dir.path().join("bad.pem"), "not a key")?;
    let e = run(&format!(
        "forges:\n  - {{name: gh, kind: github, apiUrl: https://api.github.com, app: {{appId: 1, installationId: 2, privateKeyFile: {}}}}}\n",
        dir.path().join("bad.pem").display()
    ))?;
    assert!(e.starts_with("forges[0].app.privateKeyFile"), "{e}");
    let e = run(
        "forges:\n  - {name: gt, kind: gitea, apiUrl: https://g.example.com, app: {appId: 1, installationId: 2, privateKeyFile: /x.pem}}\n",
    )?;
    assert!(e.starts_with("forges[0].app"), "{e}");
    let e = run(
        "forges:\n  - {name: gh, kind: github, apiUrl: https://api.github.com, app: {appId: 1}}\n",
    )?;
    assert!(e.contains("installationId"), "{e}");
    Ok(())
}
