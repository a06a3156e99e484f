//! Bad input gets its code and a JSON error; duplicates, rotation, per-repository secrets,
//! form deliveries and the side endpoints behave as the contract says.

mod common;

use anyhow::Result;
use common::{Receiver, SECRET, stream_count, unique};
use gantry_receiver::signature::Secret;
use serde_json::{Value, json};

fn push_body(repo: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "ref": "refs/heads/main",
        "before": "1111111111111111111111111111111111111111",
        "after": "2222222222222222222222222222222222222222",
        "commits": [],
        "repository": {"full_name": repo, "name": repo.split('/').nth(1), "owner": {"login": repo.split('/').next()},
                        "html_url": format!("https://github.com/{repo}")}
    }))
    .unwrap_or_default()
}

async fn expect_error(resp: reqwest::Response, status: u16, code: &str) -> Result<()> {
    let got = resp.status().as_u16();
    let text = resp.text().await?;
    assert_eq!(got, status, "body: {text}");
    let v: Value = serde_json::from_str(&text)?;
    assert_eq!(v["error"], code, "body: {text}");
    assert!(
        v["message"].as_str().is_some_and(|m| !m.is_empty()),
        "body: {text}"
    );
    assert!(
        !text.contains(SECRET),
        "a response must never contain a secret"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_get_their_codes() -> Result<()> {
    let r = Receiver::start().await?;
    let url = format!("{}/webhooks/github", r.base);
    let body = push_body("acme/app");
    let sig = gantry_tests::github_signature(SECRET.as_bytes(), &body);

    // 1. Provider headers.
    let resp = r
        .http
        .post(&url)
        .header("X-GitHub-Delivery", "d")
        .header("X-Hub-Signature-256", &sig)
        .header("Content-Type", "application/json")
        .body(body.clone())
        .send()
        .await?;
    expect_error(resp, 400, "missing_event_header").await?;
    let resp = r
        .http
        .post(&url)
        .header("X-GitHub-Event", "push")
        .header("X-Hub-Signature-256", &sig)
        .header("Content-Type", "application/json")
        .body(body.clone())
        .send()
        .await?;
    expect_error(resp, 400, "missing_delivery_header").await?;

    // 2. Signature: missing, SHA-1 only, wrong, malformed, signed with another secret.
    let base = || {
        r.http
            .post(&url)
            .header("X-GitHub-Event", "push")
            .header("X-GitHub-Delivery", unique("bad"))
            .header("Content-Type", "application/json")
    };
    expect_error(
        base().body(body.clone()).send().await?,
        401,
        "missing_signature",
    )
    .await?;
    expect_error(
        base()
            .header("X-Hub-Signature", "sha1=0123")
            .body(body.clone())
            .send()
            .await?,
        401,
        "missing_signature",
    )
    .await?;
    let wrong = gantry_tests::github_signature(b"not-the-secret", &body);
    expect_error(
        base()
            .header("X-Hub-Signature-256", &wrong)
            .body(body.clone())
            .send()
            .await?,
        401,
        "invalid_signature",
    )
    .await?;
    expect_error(
        base()
            .header("X-Hub-Signature-256", "sha256=xyz")
            .body(body.clone())
            .send()
            .await?,
        401,
        "malformed_signature",
    )
    .await?;
    // The signature covers the exact bytes: the same JSON re-serialised does not verify.
    let reserialised = serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&body)?)?;
    expect_error(
        base()
            .header("X-Hub-Signature-256", &sig)
            .body(reserialised)
            .send()
            .await?,
        401,
        "invalid_signature",
    )
    .await?;

    // 3. Body: media type, size, JSON, fields.
    let signed = |b: &[u8]| gantry_tests::github_signature(SECRET.as_bytes(), b);
    let resp = r
        .http
        .post(&url)
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", "m")
        .header("Content-Type", "text/plain")
        .header("X-Hub-Signature-256", &sig)
        .body(body.clone())
        .send()
        .await?;
    expect_error(resp, 415, "unsupported_media_type").await?;
    let bad = b"{not json".to_vec();
    expect_error(
        base()
            .header("X-Hub-Signature-256", signed(&bad))
            .body(bad)
            .send()
            .await?,
        400,
        "invalid_json",
    )
    .await?;
    let thin = br#"{"ref":"refs/heads/main"}"#.to_vec();
    expect_error(
        base()
            .header("X-Hub-Signature-256", signed(&thin))
            .body(thin)
            .send()
            .await?,
        400,
        "invalid_payload",
    )
    .await?;
    let thin_pr = br#"{"action":"opened","pull_request":{"head":{},"base":{}},"repository":{"full_name":"a/b"}}"#.to_vec();
    let resp = r
        .http
        .post(&url)
        .header("X-GitHub-Event", "pull_request")
        .header("X-GitHub-Delivery", "p")
        .header("Content-Type", "application/json")
        .header("X-Hub-Signature-256", signed(&thin_pr))
        .body(thin_pr)
        .send()
        .await?;
    expect_error(resp, 400, "invalid_payload").await?;

    // Routing.
    let resp = r.http.get(&url).send().await?;
    expect_error(resp, 405, "method_not_allowed").await?;
    let resp = r
        .http
        .post(format!("{}/webhooks/bitbucket", r.base))
        .body("{}")
        .send()
        .await?;
    expect_error(resp, 404, "not_found").await?;

    // Nothing above was stored.
    assert_eq!(stream_count(&r.js().await?).await?, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_are_refused_without_reading_them() -> Result<()> {
    let r = Receiver::start_with(|c| c.max_body_bytes = 1024).await?;
    let big = vec![b' '; 4096];
    let resp = r
        .delivery("github", "push", "big", big.clone())
        .send()
        .await?;
    expect_error(resp, 413, "payload_too_large").await?;

    // Without a Content-Length (chunked), the limit applies while reading.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(r.base.trim_start_matches("http://")).await?;
    s.write_all(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: big2\r\nX-Hub-Signature-256: sha256=00\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").await?;
    for _ in 0..4 {
        s.write_all(b"200\r\n").await?;
        s.write_all(&[b' '; 512]).await?;
        s.write_all(b"\r\n").await?;
    }
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf)).await??;
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.contains("payload_too_large"), "{head}");

    // An unsigned delivery is refused before its body is read, whatever its size.
    let mut s = tokio::net::TcpStream::connect(r.base.trim_start_matches("http://")).await?;
    s.write_all(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: unsigned\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n").await?;
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf)).await??;
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(head.contains("missing_signature"), "{head}");

    // Sending the headers of a huge delivery gets the answer before any body byte is sent.
    let mut s = tokio::net::TcpStream::connect(r.base.trim_start_matches("http://")).await?;
    s.write_all(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: huge\r\nX-Hub-Signature-256: sha256=00\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n").await?;
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf)).await??;
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn github_test_vector_over_http() -> Result<()> {
    let r = Receiver::start_with(|c| c.secrets = vec![Secret::new("It's a Secret to Everybody")])
        .await?;
    let url = format!("{}/webhooks/github", r.base);
    let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let send = |sig: &'static str| {
        r.http
            .post(&url)
            .header("X-GitHub-Event", "push")
            .header("X-GitHub-Delivery", "tv")
            .header("Content-Type", "application/json")
            .header("X-Hub-Signature-256", sig)
            .body("Hello, World!")
    };
    // The signature verifies, so the request gets as far as JSON parsing.
    expect_error(send(good).send().await?, 400, "invalid_json").await?;
    let bad = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18";
    expect_error(send(bad).send().await?, 401, "invalid_signature").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redelivery_is_stored_once() -> Result<()> {
    let r = Receiver::start().await?;
    let body = push_body("acme/app");
    let first: Value = r
        .delivery("github", "push", "same-id", body.clone())
        .send()
        .await?
        .json()
        .await?;
    let again = r.delivery("github", "push", "same-id", body).send().await?;
    assert_eq!(again.status(), 202);
    let again: Value = again.json().await?;
    assert_eq!(first["duplicate"], false);
    assert_eq!(again["duplicate"], true);
    assert_eq!(first["stream_sequence"], again["stream_sequence"]);
    assert_eq!(stream_count(&r.js().await?).await?, 1);
    // The same id from the other provider is another delivery.
    let other = r
        .delivery("gitea", "push", "same-id", push_body("acme/app"))
        .send()
        .await?;
    assert_eq!(other.json::<Value>().await?["duplicate"], false);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_and_per_repository_secrets() -> Result<()> {
    let r = Receiver::start_with(|c| {
        c.secrets = vec![Secret::new("new"), Secret::new(SECRET)];
        c.repositories
            .insert("acme/locked".to_owned(), vec![Secret::new("locked-secret")]);
    })
    .await?;
    let url = format!("{}/webhooks/github", r.base);
    let send = |secret: &str, body: Vec<u8>| {
        r.http
            .post(&url)
            .header("X-GitHub-Event", "push")
            .header("X-GitHub-Delivery", unique("rot"))
            .header("Content-Type", "application/json")
            .header(
                "X-Hub-Signature-256",
                gantry_tests::github_signature(secret.as_bytes(), &body),
            )
            .body(body)
    };
    // Either global secret works while rotating.
    assert_eq!(
        send("new", push_body("acme/app")).send().await?.status(),
        202
    );
    assert_eq!(
        send(SECRET, push_body("acme/app")).send().await?.status(),
        202
    );
    // A repository with its own secrets accepts only those, whatever the case of its name.
    assert_eq!(
        send("locked-secret", push_body("Acme/Locked"))
            .send()
            .await?
            .status(),
        202
    );
    expect_error(
        send(SECRET, push_body("acme/locked")).send().await?,
        401,
        "invalid_signature",
    )
    .await?;
    expect_error(
        send("locked-secret", push_body("acme/app")).send().await?,
        401,
        "invalid_signature",
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn form_deliveries_and_gitea_signature_variants() -> Result<()> {
    let r = Receiver::start().await?;
    let json = push_body("acme/form");
    let form = serde_urlencoded::to_string([("payload", String::from_utf8(json.clone())?)])?;

    // GitHub signs the form body as sent.
    let resp = r
        .http
        .post(format!("{}/webhooks/github", r.base))
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", unique("f"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header(
            "X-Hub-Signature-256",
            gantry_tests::github_signature(SECRET.as_bytes(), form.as_bytes()),
        )
        .body(form.clone())
        .send()
        .await?;
    assert_eq!(resp.status(), 202, "{}", resp.text().await?);

    // Gitea signs the JSON inside the form.
    let resp = r
        .http
        .post(format!("{}/webhooks/gitea", r.base))
        .header("X-Gitea-Event", "push")
        .header("X-Gitea-Delivery", unique("f"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header(
            "X-Gitea-Signature",
            gantry_tests::hmac_hex(SECRET.as_bytes(), &json),
        )
        .body(form.clone())
        .send()
        .await?;
    assert_eq!(resp.status(), 202, "{}", resp.text().await?);

    // A form without a payload field.
    let empty = "other=1";
    let resp = r
        .http
        .post(format!("{}/webhooks/github", r.base))
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", unique("f"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header(
            "X-Hub-Signature-256",
            gantry_tests::github_signature(SECRET.as_bytes(), empty.as_bytes()),
        )
        .body(empty)
        .send()
        .await?;
    expect_error(resp, 400, "invalid_form").await?;

    // Forgejo's names, and a Gitea delivery carrying only GitHub's signature header.
    let resp = r
        .http
        .post(format!("{}/webhooks/gitea", r.base))
        .header("X-Forgejo-Event", "push")
        .header("X-Forgejo-Delivery", unique("fj"))
        .header("Content-Type", "application/json")
        .header(
            "X-Forgejo-Signature",
            gantry_tests::hmac_hex(SECRET.as_bytes(), &json),
        )
        .body(json.clone())
        .send()
        .await?;
    assert_eq!(resp.status(), 202, "{}", resp.text().await?);
    let resp = r
        .http
        .post(format!("{}/webhooks/gitea", r.base))
        .header("X-Gitea-Event", "push")
        .header("X-Gitea-Delivery", unique("gh"))
        .header("Content-Type", "application/json; charset=utf-8")
        .header(
            "X-Hub-Signature-256",
            gantry_tests::github_signature(SECRET.as_bytes(), &json),
        )
        .body(json.clone())
        .send()
        .await?;
    assert_eq!(resp.status(), 202, "{}", resp.text().await?);
    // Gitea's own signature header wins over the GitHub one it also sends.
    let resp = r
        .http
        .post(format!("{}/webhooks/gitea", r.base))
        .header("X-Gitea-Event", "push")
        .header("X-Gitea-Delivery", unique("gh"))
        .header("Content-Type", "application/json")
        .header("X-Gitea-Signature", "00".repeat(32))
        .header(
            "X-Hub-Signature-256",
            gantry_tests::github_signature(SECRET.as_bytes(), &json),
        )
        .body(json)
        .send()
        .await?;
    expect_error(resp, 401, "invalid_signature").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn subjects_escape_owner_and_repository() -> Result<()> {
    let r = Receiver::start().await?;
    let resp: Value = r
        .delivery(
            "github",
            "push",
            &unique("esc"),
            push_body("my.org/my.repo"),
        )
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        resp["subject"],
        "gantry.events.github.my%2Eorg.my%2Erepo.push"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn health_readiness_and_metrics() -> Result<()> {
    let r = Receiver::start().await?;
    assert_eq!(
        r.http
            .get(format!("{}/healthz", r.base))
            .send()
            .await?
            .status(),
        200
    );
    assert_eq!(
        r.http
            .get(format!("{}/readyz", r.base))
            .send()
            .await?
            .status(),
        200
    );
    r.delivery("github", "push", &unique("m"), push_body("acme/app"))
        .send()
        .await?;
    r.delivery("github", "ping", &unique("m"), b"{}".to_vec())
        .send()
        .await?;
    let text = r
        .http
        .get(format!("{}/metrics", r.base))
        .send()
        .await?
        .text()
        .await?;
    for want in [
        r#"gantry_webhook_requests_total{provider="github",event="push",outcome="accepted"} 1"#,
        r#"gantry_webhook_requests_total{provider="github",event="ping",outcome="ignored"} 1"#,
        "gantry_webhook_request_duration_seconds_bucket{",
        "gantry_webhook_publish_duration_seconds_count 1",
    ] {
        assert!(text.contains(want), "missing {want} in\n{text}");
    }
    Ok(())
}

/// Sends a push with `traceparent: incoming` and gives the `traceparent` header of the event
/// the receiver stored.
async fn stored_traceparent(r: &Receiver, delivery: &str, incoming: &str) -> Result<String> {
    let resp: Value = r
        .delivery("github", "push", &unique(delivery), push_body("acme/app"))
        .header("traceparent", incoming)
        .send()
        .await?
        .json()
        .await?;
    let seq = resp["stream_sequence"].as_u64().unwrap_or(0);
    let (_, headers, _) = common::stored(&r.js().await?, seq).await?;
    Ok(headers
        .get("traceparent")
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incoming_trace_is_continued_on_the_stored_event() -> Result<()> {
    let r = Receiver::start().await?;
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let tp = stored_traceparent(&r, "tr", incoming).await?;
    assert!(
        tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{tp}"
    );
    assert_ne!(tp, incoming, "the receiver's own span gets a new span id");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_higher_traceparent_version_is_continued_not_restarted() -> Result<()> {
    // W3C Trace Context: a version above 00 is parsed as far as version 00 goes.
    let r = Receiver::start().await?;
    let incoming = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future-fields";
    let tp = stored_traceparent(&r, "tr1", incoming).await?;
    assert!(
        tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && tp.ends_with("-01"),
        "{tp}"
    );
    assert_eq!(tp.len(), 55, "written as version 00: {tp}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_line_break_in_the_repository_url_is_stored_not_fatal() -> Result<()> {
    // ce-source carries the payload's html_url; a NATS header cannot hold a line break, and the
    // client panics on one, so a signed payload with one must still be stored and answered.
    let r = Receiver::start().await?;
    let body = serde_json::to_vec(&json!({
        "ref": "refs/heads/main",
        "before": "1111111111111111111111111111111111111111",
        "after": "2222222222222222222222222222222222222222",
        "commits": [],
        "repository": {"full_name": "acme/app", "html_url": "https://example.com/a\r\nX-Injected: 1"}
    }))?;
    let resp = r
        .delivery("github", "push", &unique("crlf"), body)
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 202);
    let resp: Value = resp.json().await?;
    let seq = resp["stream_sequence"].as_u64().unwrap_or(0);
    let (_, headers, _) = common::stored(&r.js().await?, seq).await?;
    assert_eq!(
        headers.get("ce-source").map(|v| v.as_str().to_owned()),
        Some("https://example.com/a%0D%0AX-Injected: 1".to_owned())
    );
    assert!(headers.get("X-Injected").is_none());
    Ok(())
}
