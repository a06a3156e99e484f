//! The commit-status API of both dialects over HTTP: create, list, validation, auth, faults.

use anyhow::Result;
use gantry_forge_sim::{Config, Fault, ForgeSim};
use serde_json::{Value, json};

const SHA: &str = "3f2a1c9e0b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e";

async fn sim() -> Result<(ForgeSim, reqwest::Client)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = ForgeSim::start(Config {
        tokens: vec!["t0k".into()],
        ..Default::default()
    })
    .await?;
    Ok((sim, reqwest::Client::new()))
}

async fn post(
    http: &reqwest::Client,
    url: String,
    auth: Option<&str>,
    body: Value,
) -> Result<(u16, Value, reqwest::header::HeaderMap)> {
    let mut req = http.post(url).json(&body);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await?;
    let code = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await?;
    Ok((
        code,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
    ))
}

#[tokio::test]
async fn github_creates_lists_and_validates() -> Result<()> {
    let (sim, http) = sim().await?;
    let url = format!("{}/repos/acme/app/statuses/{SHA}", sim.url());
    let ok = json!({"state": "success", "description": "deployed", "context": "gantry/web/dev", "target_url": "https://gantry.example.com/x"});
    let (code, body, _) = post(&http, url.clone(), Some("Bearer t0k"), ok.clone()).await?;
    assert_eq!(code, 201);
    assert_eq!(body["state"], "success");
    assert_eq!(body["context"], "gantry/web/dev");

    for (bad, want) in [
        (json!({"description": "x"}), 422),
        (json!({"state": "done"}), 422),
        (
            json!({"state": "success", "description": "x".repeat(141)}),
            422,
        ),
        (json!({"state": "success", "context": 7}), 422),
        (json!("not an object"), 400),
    ] {
        let (code, body, _) = post(&http, url.clone(), Some("Bearer t0k"), bad.clone()).await?;
        assert_eq!(code, want, "{bad} -> {body}");
    }
    let (code, _, _) = post(&http, url.clone(), None, ok.clone()).await?;
    assert_eq!(code, 401);
    let (code, body, _) = post(&http, url.clone(), Some("Bearer nope"), ok.clone()).await?;
    assert_eq!(
        (code, body["message"].as_str()),
        (401, Some("Bad credentials"))
    );
    let (code, _, _) = post(
        &http,
        format!("{}/repos/acme/app/statuses/nothex", sim.url()),
        Some("token t0k"),
        ok.clone(),
    )
    .await?;
    assert_eq!(code, 422);

    let list: Value = http
        .get(format!(
            "{}/repos/acme/app/commits/{SHA}/statuses",
            sim.url()
        ))
        .header("authorization", "Bearer t0k")
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(sim.statuses("Acme/App", SHA).len(), 1);
    Ok(())
}

#[tokio::test]
async fn gitea_follows_create_status_option() -> Result<()> {
    let (sim, http) = sim().await?;
    let url = format!("{}/api/v1/repos/acme/app/statuses/{SHA}", sim.url());
    let (code, body, _) = post(
        &http,
        url.clone(),
        Some("token t0k"),
        json!({"state": "warning", "context": "ci", "extra": "ignored"}),
    )
    .await?;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["status"], "warning");
    let (code, _, _) = post(
        &http,
        url.clone(),
        Some("token t0k"),
        json!({"state": "done"}),
    )
    .await?;
    assert_eq!(code, 400);
    let (code, _, _) = post(&http, url.clone(), Some("token t0k"), json!({"state": 1})).await?;
    assert_eq!(code, 422);
    let (code, _, _) = post(&http, url.clone(), None, json!({"state": "success"})).await?;
    assert_eq!(code, 401);
    let list: Value = http
        .get(url)
        .header("authorization", "token t0k")
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(list[0]["status"], "warning");
    Ok(())
}

#[tokio::test]
async fn injected_faults_come_first_and_in_order() -> Result<()> {
    let (sim, http) = sim().await?;
    let url = format!("{}/repos/acme/app/statuses/{SHA}", sim.url());
    sim.inject(Fault::Status(502), 1);
    sim.inject(Fault::TooManyRequests { retry_after: 2 }, 1);
    sim.inject(Fault::SecondaryRateLimit { retry_after: 3 }, 1);
    sim.inject(Fault::PrimaryRateLimit { reset_after: 30 }, 1);
    let ok = json!({"state": "pending"});
    let (code, _, _) = post(&http, url.clone(), Some("Bearer t0k"), ok.clone()).await?;
    assert_eq!(code, 502);
    let (code, _, h) = post(&http, url.clone(), Some("Bearer t0k"), ok.clone()).await?;
    assert_eq!(
        (code, h.get("retry-after").and_then(|v| v.to_str().ok())),
        (429, Some("2"))
    );
    let (code, body, h) = post(&http, url.clone(), Some("Bearer t0k"), ok.clone()).await?;
    assert_eq!(code, 403);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("secondary rate limit")
    );
    assert_eq!(
        h.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("3")
    );
    let (code, _, h) = post(&http, url.clone(), Some("Bearer t0k"), ok.clone()).await?;
    assert_eq!(code, 403);
    assert_eq!(
        h.get("x-ratelimit-remaining").and_then(|v| v.to_str().ok()),
        Some("0")
    );
    let (code, _, _) = post(&http, url, Some("Bearer t0k"), ok).await?;
    assert_eq!(code, 201);
    let codes: Vec<u16> = sim.requests().into_iter().map(|r| r.status).collect();
    assert_eq!(codes, [502, 429, 403, 403, 201]);
    Ok(())
}
