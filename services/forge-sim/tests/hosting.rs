//! The emulator as a Git host: the real `git` clones and pushes over smart HTTP, every push
//! fires a signed webhook in the chosen host's format, and pull requests open and merge through
//! GitHub's and Gitea's REST paths with the events those hosts send.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use axum::body::Bytes;
use axum::http::HeaderMap;
use gantry_forge_sim::hooks::{Flavor, Webhook};
use gantry_forge_sim::hosting::HostingConfig;
use gantry_forge_sim::{Config, ForgeSim};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

type Captured = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// A webhook receiver that keeps what it gets.
async fn capture() -> Result<(String, Captured)> {
    let got: Captured = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let g = g.clone();
            async move {
                let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").expect("key");
                mac.update(&body);
                let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                assert_eq!(
                    headers
                        .get("x-hub-signature-256")
                        .and_then(|v| v.to_str().ok()),
                    Some(want.as_str())
                );
                let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                g.lock().expect("lock").push((headers, v));
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", l.local_addr()?);
    tokio::spawn(async move { axum::serve(l, app).await });
    Ok((url, got))
}

use gantry_tests::git_in as git;

async fn wait_for(got: &Captured, n: usize) -> Result<Vec<(HeaderMap, Value)>> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = got.lock().expect("lock").clone();
        if v.len() >= n {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("only {} of {n} webhooks arrived", v.len());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start(flavor: Flavor, root: &Path) -> Result<(ForgeSim, Captured)> {
    let (url, got) = capture().await?;
    let sim = ForgeSim::start(Config {
        hosting: Some(HostingConfig {
            root: root.to_path_buf(),
            flavor,
            webhooks: vec![Webhook {
                url,
                secret: "s3cret".into(),
            }],
        }),
        ..Default::default()
    })
    .await?;
    let hosting = sim.hosting().cloned().expect("hosting configured");
    hosting.repos().create("acme/platform", "main").await?;
    Ok((sim, got))
}

#[tokio::test(flavor = "multi_thread")]
async fn github_push_pull_request_and_merge() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (sim, got) = start(Flavor::Github, &tmp.path().join("repos")).await?;
    let work = tmp.path().join("work");
    let url = format!("{}/acme/platform.git", sim.url());
    let t = tmp.path().to_owned();
    let (w, u) = (work.clone(), url.clone());
    tokio::task::spawn_blocking(move || -> Result<()> {
        git(&t, &["clone", "--quiet", &u, w.to_str().unwrap_or("")])?;
        std::fs::write(w.join("app.yaml"), "a: 1\n")?;
        git(&w, &["add", "."])?;
        git(&w, &["commit", "-qm", "first"])?;
        git(&w, &["push", "-q", "origin", "main"])?;
        Ok(())
    })
    .await??;
    let hooks = wait_for(&got, 1).await?;
    let (h, p) = &hooks[0];
    assert_eq!(
        h.get("x-github-event").and_then(|v| v.to_str().ok()),
        Some("push")
    );
    assert_eq!(p["ref"], "refs/heads/main");
    assert_eq!(p["before"], "0000000000000000000000000000000000000000");
    assert_eq!(p["created"], true);
    assert_eq!(p["commits"][0]["message"], "first");
    assert_eq!(p["commits"][0]["added"][0], "app.yaml");
    assert_eq!(p["repository"]["full_name"], "acme/platform");
    let first = p["after"].as_str().unwrap_or("").to_owned();

    // A second push: before is the previous head; a branch for a pull request.
    let w = work.clone();
    let feature_head = tokio::task::spawn_blocking(move || -> Result<String> {
        std::fs::write(w.join("app.yaml"), "a: 2\n")?;
        git(&w, &["commit", "-qam", "second"])?;
        git(&w, &["push", "-q", "origin", "main"])?;
        git(&w, &["checkout", "-qb", "feature"])?;
        std::fs::write(w.join("b.yaml"), "b: 1\n")?;
        git(&w, &["add", "."])?;
        git(&w, &["commit", "-qm", "feature work"])?;
        git(&w, &["push", "-q", "origin", "feature"])?;
        git(&w, &["rev-parse", "HEAD"])
    })
    .await??;
    let hooks = wait_for(&got, 3).await?;
    assert_eq!(hooks[1].1["before"], first.as_str());
    assert_eq!(hooks[1].1["commits"][0]["modified"][0], "app.yaml");
    assert_eq!(hooks[2].1["ref"], "refs/heads/feature");

    let http = reqwest::Client::new();
    let pr: Value = http
        .post(format!("{}/repos/acme/platform/pulls", sim.url()))
        .json(&serde_json::json!({"title": "Add b", "head": "feature", "base": "main"}))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(pr["number"], 1);
    let hooks = wait_for(&got, 4).await?;
    assert_eq!(hooks[3].1["action"], "opened");
    assert_eq!(
        hooks[3].1["pull_request"]["head"]["sha"],
        feature_head.as_str()
    );

    let merged: Value = http
        .put(format!("{}/repos/acme/platform/pulls/1/merge", sim.url()))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(merged["merged"], true);
    let merge_sha = merged["sha"].as_str().unwrap_or("").to_owned();
    let hooks = wait_for(&got, 6).await?;
    let push = hooks.iter().find(|(h, p)| {
        h.get("x-github-event").and_then(|v| v.to_str().ok()) == Some("push")
            && p["after"] == merge_sha.as_str()
    });
    assert!(
        push.is_some(),
        "the merge is announced as a push of the merge commit"
    );
    let closed = hooks
        .iter()
        .find(|(_, p)| p["action"] == "closed")
        .map(|(_, p)| p.clone())
        .unwrap_or_default();
    assert_eq!(closed["pull_request"]["merged"], true);
    assert_eq!(
        closed["pull_request"]["merge_commit_sha"],
        merge_sha.as_str()
    );
    let ls =
        tokio::task::spawn_blocking(move || git(&work, &["ls-remote", &url, "refs/heads/main"]))
            .await??;
    assert!(ls.starts_with(&merge_sha), "{ls}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn gitea_lists_commits_newest_first_and_sends_its_headers() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (sim, got) = start(Flavor::Gitea, &tmp.path().join("repos")).await?;
    let work = tmp.path().join("work");
    let url = format!("{}/acme/platform.git", sim.url());
    let t = tmp.path().to_owned();
    tokio::task::spawn_blocking(move || -> Result<()> {
        git(&t, &["clone", "--quiet", &url, work.to_str().unwrap_or("")])?;
        for i in 0..3 {
            std::fs::write(work.join(format!("f{i}.yaml")), "x: 1\n")?;
            git(&work, &["add", "."])?;
            git(&work, &["commit", "-qm", &format!("c{i}")])?;
        }
        git(&work, &["push", "-q", "origin", "main"])?;
        Ok(())
    })
    .await??;
    let hooks = wait_for(&got, 1).await?;
    let (h, p) = &hooks[0];
    let hv = |n: &str| {
        h.get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(hv("x-gitea-event"), "push");
    assert_eq!(hv("x-github-event"), "push");
    assert!(!hv("x-gitea-delivery").is_empty());
    // The capture server checked X-Hub-Signature-256; Gitea's own header is the same digest.
    assert_eq!(
        format!("sha256={}", hv("x-gitea-signature")),
        hv("x-hub-signature-256")
    );
    assert_eq!(p["total_commits"], 3);
    assert_eq!(p["commits"][0]["message"], "c2", "newest first");
    assert_eq!(p["commits"][0]["id"], p["after"]);
    assert_eq!(p["repository"]["owner"]["username"], "acme");
    Ok(())
}

/// `PUT /_sandbox/webhooks {"deliver": false}` drops the webhooks of the following pushes (a lost
/// delivery) until switched back on; a bad body is a 422, not a crash.
#[tokio::test(flavor = "multi_thread")]
async fn webhooks_can_be_switched_off() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (sim, got) = start(Flavor::Github, &tmp.path().join("repos")).await?;
    let http = reqwest::Client::new();
    let switch = |on: &'static str| {
        http.put(format!("{}/_sandbox/webhooks", sim.url()))
            .header("content-type", "application/json")
            .body(on)
            .send()
    };
    let r = switch(r#"{"deliver": false}"#).await?;
    assert_eq!(r.status(), 200);
    let r = switch(r#"{"deliver": "no"}"#).await?;
    assert_eq!(r.status(), 422);
    let work = tmp.path().join("work");
    let url = format!("{}/acme/platform.git", sim.url());
    let (t, w, u) = (tmp.path().to_owned(), work.clone(), url.clone());
    tokio::task::spawn_blocking(move || -> Result<()> {
        git(&t, &["clone", "--quiet", &u, w.to_str().unwrap_or("")])?;
        std::fs::write(w.join("app.yaml"), "a: 1\n")?;
        git(&w, &["add", "."])?;
        git(&w, &["commit", "-qm", "lost"])?;
        git(&w, &["push", "-q", "origin", "main"])?;
        Ok(())
    })
    .await??;
    let listings = sim.hosting().map(|h| h.ref_listings()).unwrap_or(0);
    assert!(listings >= 2, "clone and push list refs: {listings}");
    let r = switch(r#"{"deliver": true}"#).await?;
    assert_eq!(r.status(), 200);
    let w = work.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        std::fs::write(w.join("app.yaml"), "a: 2\n")?;
        git(&w, &["commit", "-qam", "delivered"])?;
        git(&w, &["push", "-q", "origin", "main"])?;
        Ok(())
    })
    .await??;
    let hooks = wait_for(&got, 1).await?;
    // Only the second push was announced; the first one's delivery was lost.
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].1["head_commit"]["message"], "delivered");
    Ok(())
}
