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

/// Each GitHub rule the README lists, one request each, checked by its status code, the
/// `errors[]` entry GitHub sends (field and code) and its message; and what is accepted.
#[tokio::test]
async fn every_github_validation_rule_the_readme_lists() -> Result<()> {
    let (sim, http) = sim().await?;
    let url = format!("{}/repos/acme/app/statuses/{SHA}", sim.url());
    // (body, status, errors[0].field, errors[0].code, message prefix)
    let cases = [
        (json!([1]), 400, "", "", "Problems parsing JSON"),
        (
            json!({}),
            422,
            "state",
            "missing_field",
            "Invalid request.\n\n\"state\" wasn't supplied.",
        ),
        (
            json!({"state": null}),
            422,
            "state",
            "missing_field",
            "Invalid request.",
        ),
        (
            json!({"state": "done"}),
            422,
            "state",
            "invalid",
            "Invalid request.\n\n\"done\" is not a member of",
        ),
        (
            json!({"state": 1}),
            422,
            "state",
            "invalid",
            "Invalid request.\n\n1 is not a member of",
        ),
        (
            json!({"state": "success", "description": 1}),
            422,
            "description",
            "invalid",
            "Invalid request.\n\nFor 'description', the value is not a string or null.",
        ),
        (
            json!({"state": "success", "target_url": []}),
            422,
            "target_url",
            "invalid",
            "Invalid request.\n\nFor 'target_url'",
        ),
        (
            json!({"state": "success", "context": {}}),
            422,
            "context",
            "invalid",
            "Invalid request.\n\nFor 'context'",
        ),
        (
            json!({"state": "success", "description": "é".repeat(141)}),
            422,
            "description",
            "custom",
            "Validation Failed: description is too long (maximum is 140 characters)",
        ),
        (
            json!({"state": "success", "target_url": "ftp://x"}),
            422,
            "target_url",
            "custom",
            "Validation Failed: target_url is not a valid URL",
        ),
    ];
    for (body, want, field, code, message) in cases {
        let (got, answer, _) = post(&http, url.clone(), Some("Bearer t0k"), body.clone()).await?;
        assert_eq!(got, want, "{body} -> {answer}");
        let text = answer["message"].as_str().unwrap_or("");
        assert!(text.starts_with(message), "{body} -> {text:?}");
        if want == 422 {
            assert_eq!(answer["errors"][0]["field"], field, "{body} -> {answer}");
            assert_eq!(answer["errors"][0]["code"], code, "{body} -> {answer}");
            assert_eq!(
                answer["errors"][0]["resource"], "Status",
                "{body} -> {answer}"
            );
        }
    }
    // The sha: 40 or 64 hex digits, else 422 naming it.
    let bad = format!("{}/repos/acme/app/statuses/{}", sim.url(), "g".repeat(40));
    let (got, answer, _) =
        post(&http, bad, Some("Bearer t0k"), json!({"state": "success"})).await?;
    assert_eq!(got, 422);
    assert_eq!(
        answer["message"],
        format!("No commit found for SHA: {}", "g".repeat(40))
    );
    assert_eq!(answer["errors"][0]["field"], "sha");
    let sha256 = "a".repeat(64);
    let ok = format!("{}/repos/acme/app/statuses/{sha256}", sim.url());
    let (got, _, _) = post(&http, ok, Some("Bearer t0k"), json!({"state": "pending"})).await?;
    assert_eq!(got, 201);
    // Accepted: null strings, exactly 140 characters, http and https URLs; context `default`.
    for body in [
        json!({"state": "error", "description": null, "target_url": null, "context": null}),
        json!({"state": "failure", "description": "é".repeat(140)}),
        json!({"state": "success", "target_url": "http://x.example/1"}),
        json!({"state": "success", "target_url": "https://x.example/1"}),
    ] {
        let (got, answer, _) = post(&http, url.clone(), Some("Bearer t0k"), body.clone()).await?;
        assert_eq!(got, 201, "{body} -> {answer}");
        assert_eq!(answer["context"], "default", "{body} -> {answer}");
    }
    // Auth: missing and unknown tokens, each with GitHub's message; `token` works like `Bearer`.
    let (got, answer, _) = post(&http, url.clone(), None, json!({"state": "success"})).await?;
    assert_eq!(
        (got, answer["message"].as_str()),
        (401, Some("Requires authentication"))
    );
    let (got, _, _) = post(
        &http,
        url.clone(),
        Some("token t0k"),
        json!({"state": "success"}),
    )
    .await?;
    assert_eq!(got, 201);
    Ok(())
}

/// Gitea's rules: every field an optional string (422 with Go's binding message), the state one
/// of five (400), unknown fields ignored; a missing token is "token is required".
#[tokio::test]
async fn every_gitea_validation_rule_the_readme_lists() -> Result<()> {
    let (sim, http) = sim().await?;
    let url = format!("{}/api/v1/repos/acme/app/statuses/{SHA}", sim.url());
    for key in ["state", "description", "target_url", "context"] {
        let mut body = json!({"state": "success"});
        body[key] = json!(5);
        let (got, answer, _) = post(&http, url.clone(), Some("token t0k"), body).await?;
        assert_eq!(got, 422, "{key}: {answer}");
        assert_eq!(
            answer["message"],
            format!(
                "json: cannot unmarshal into Go struct field CreateStatusOption.{key} of type string"
            )
        );
    }
    let (got, _, _) = post(&http, url.clone(), Some("token t0k"), json!("x")).await?;
    assert_eq!(got, 422);
    for state in ["pending", "success", "error", "failure", "warning"] {
        let body = json!({"state": state, "unknown": {"nested": true}});
        let (got, answer, _) = post(&http, url.clone(), Some("Bearer t0k"), body).await?;
        assert_eq!(got, 201, "{state}: {answer}");
        assert_eq!(answer["status"], state);
    }
    let (got, answer, _) = post(&http, url.clone(), Some("token t0k"), json!({})).await?;
    assert_eq!(got, 400, "an absent state is no state: {answer}");
    assert_eq!(answer["message"], "invalid commit status state: \"\"");
    let (got, answer, _) = post(&http, url.clone(), None, json!({"state": "success"})).await?;
    assert_eq!(
        (got, answer["message"].as_str()),
        (401, Some("token is required"))
    );
    let (got, answer, _) = post(
        &http,
        url.clone(),
        Some("token wrong"),
        json!({"state": "success"}),
    )
    .await?;
    assert_eq!(got, 401, "{answer}");
    Ok(())
}
