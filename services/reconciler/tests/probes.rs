//! What the README claims of the reconciler's HTTP endpoints, scraped from a running worker:
//! `/healthz` while alive, `/readyz` following the NATS connection, and `/metrics` with every
//! family the contract names after one real deployment.

mod common;

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use common::*;

const ZERO: &str = "0000000000000000000000000000000000000000";

async fn get(url: &str) -> Result<(u16, String, String)> {
    let resp = reqwest::get(url).await?;
    let code = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    Ok((code, ctype, resp.text().await?))
}

/// Polls `url` until it answers `code`.
async fn wait_code(url: &str, code: u16, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let got = get(url).await.map(|g| g.0).unwrap_or(0);
        if got == code {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{url} answered {got}, not {code}, for {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_metrics_as_the_readme_says() -> Result<()> {
    let mut h = Harness::start().await?;
    h.repo.write(".gantry.yaml", &gantry_yaml(&["web"]))?;
    h.repo
        .write("apps/web/deploy.yaml", &deployment("web", "nginx:1.27", 1))?;
    h.repo.write("apps/web/cm.yaml", &configmap("web", "1"))?;
    let c1 = h.repo.commit("first")?;
    let w = h.worker("w1", |_| {}).await?;
    let base = h.workers[w].base.clone();
    h.push(ZERO, &c1).await?;
    let s = h
        .final_status(&c1, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success", "{s:?}");

    let (code, _, _) = get(&format!("{base}/healthz")).await?;
    assert_eq!(code, 200);
    let (code, _, body) = get(&format!("{base}/readyz")).await?;
    assert_eq!(code, 200, "{body}");

    let (code, ctype, text) = get(&format!("{base}/metrics")).await?;
    assert_eq!(code, 200);
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    let sample = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .map(|l| l.rsplit(' ').next().unwrap_or("").to_owned())
    };
    assert_eq!(
        sample(r#"gantry_reconcile_total{app="web",environment="dev",outcome="success"}"#)
            .as_deref(),
        Some("1"),
        "{text}"
    );
    for family in [
        r#"gantry_reconcile_duration_seconds_bucket{"#,
        "gantry_applied_objects_total ",
        "gantry_pruned_objects_total ",
        r#"gantry_commit_status_posts_total{"#,
        r#"gantry_last_applied_timestamp_seconds{app="web",environment="dev"}"#,
    ] {
        assert!(sample(family).is_some(), "no {family} sample in:\n{text}");
    }
    assert_eq!(
        sample("gantry_applied_objects_total ").as_deref(),
        Some("2"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("gantry_commit_status_posts_total{")
                && l.contains(r#"outcome="success""#)),
        "{text}"
    );
    let applied: f64 =
        sample(r#"gantry_last_applied_timestamp_seconds{app="web",environment="dev"}"#)
            .unwrap_or_default()
            .parse()?;
    assert!(applied > 1.7e9, "a Unix time: {applied}");

    // NATS gone: not ready, still alive. Back: ready again.
    h.nats.stop();
    wait_code(&format!("{base}/readyz"), 503, Duration::from_secs(30)).await?;
    assert_eq!(get(&format!("{base}/healthz")).await?.0, 200);
    h.nats.restart()?;
    wait_code(&format!("{base}/readyz"), 200, Duration::from_secs(30)).await?;
    h.shutdown().await;
    Ok(())
}
