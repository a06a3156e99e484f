//! The GitHub App endpoint: `POST /app/installations/{id}/access_tokens` issues a token only for
//! a JWT signed with the app's key, for the app, unexpired and at most 10 minutes long; the token
//! then works on the status API, and stops working once expired.

use std::process::Command;
use std::time::Duration;

use anyhow::{Result, ensure};
use gantry_forge_auth::AppKey;
use gantry_forge_sim::app::AppConfig;

fn keypair(dir: &std::path::Path, name: &str) -> Result<(AppKey, String)> {
    let key = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    for args in [
        vec![
            "genrsa",
            "-traditional",
            "-out",
            key.to_str().unwrap_or(""),
            "2048",
        ],
        vec![
            "rsa",
            "-in",
            key.to_str().unwrap_or(""),
            "-pubout",
            "-out",
            public.to_str().unwrap_or(""),
        ],
    ] {
        let out = Command::new("openssl").args(&args).output()?;
        ensure!(out.status.success(), "openssl {args:?}");
    }
    Ok((
        AppKey::from_pem(&std::fs::read_to_string(key)?)?,
        std::fs::read_to_string(public)?,
    ))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn tokens_only_for_the_apps_own_fresh_jwts() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir()?;
    let (key, public) = keypair(dir.path(), "app")?;
    let (other, _) = keypair(dir.path(), "other")?;
    let sim = gantry_forge_sim::ForgeSim::start(gantry_forge_sim::Config {
        tokens: vec!["static".into()],
        app: Some(AppConfig {
            app_id: 7,
            installation_id: 99,
            public_key_pem: public,
            token_ttl: Duration::from_secs(3600),
        }),
        ..Default::default()
    })
    .await?;
    let http = reqwest::Client::new();
    let exchange = |jwt: String, id: u64| {
        let http = http.clone();
        let url = format!("{}/app/installations/{id}/access_tokens", sim.url());
        async move {
            let r = http.post(url).bearer_auth(jwt).send().await?;
            let code = r.status().as_u16();
            let body: serde_json::Value = r.json().await?;
            anyhow::Ok((code, body))
        }
    };
    let t = now();
    let (code, body) = exchange(other.jwt(7, t)?, 99).await?;
    assert_eq!(code, 401, "wrongly signed: {body}");
    let (code, body) = exchange(key.jwt(7, t - 3600)?, 99).await?;
    assert_eq!(code, 401, "expired: {body}");
    let (code, _) = exchange(key.jwt(8, t)?, 99).await?;
    assert_eq!(code, 401, "another app");
    let (code, _) = exchange(key.jwt(7, t)?, 98).await?;
    assert_eq!(code, 404, "another installation");
    let (code, _) = exchange("not.a.jwt".into(), 99).await?;
    assert_eq!(code, 401);
    assert_eq!(sim.app_token_exchanges(), 0);

    let (code, body) = exchange(key.jwt(7, t)?, 99).await?;
    assert_eq!(code, 201, "{body}");
    let token = body["token"].as_str().unwrap_or_default().to_owned();
    assert!(token.starts_with("ghs_"), "{body}");
    let expires = time::OffsetDateTime::parse(
        body["expires_at"].as_str().unwrap_or_default(),
        &time::format_description::well_known::Rfc3339,
    )?;
    assert!((expires.unix_timestamp() - t - 3600).abs() < 5);

    let post = |token: String| {
        let http = http.clone();
        let url = format!(
            "{}/repos/acme/platform/statuses/{}",
            sim.url(),
            "a".repeat(40)
        );
        async move {
            anyhow::Ok(
                http.post(url)
                    .bearer_auth(token)
                    .json(&serde_json::json!({"state": "success", "context": "c"}))
                    .send()
                    .await?
                    .status()
                    .as_u16(),
            )
        }
    };
    assert_eq!(post(token.clone()).await?, 201);
    sim.expire_app_tokens();
    assert_eq!(post(token).await?, 401, "an expired installation token");
    assert_eq!(post("ghs_made_up".into()).await?, 401);
    Ok(())
}
