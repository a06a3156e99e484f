//! The receiver never answers 2xx for an event JetStream has not stored: across a NATS outage,
//! with NATS absent at start-up, and through a graceful shutdown.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use async_nats::jetstream::stream;
use common::{Receiver, stream_count, unique};
use gantry_tests::NatsServer;
use serde_json::{Value, json};

fn push_body(n: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "ref": "refs/heads/main",
        "before": "1111111111111111111111111111111111111111",
        "after": format!("{n:040x}"),
        "repository": {"full_name": "acme/app", "html_url": "https://github.com/acme/app"}
    }))
    .unwrap_or_default()
}

/// Every Nats-Msg-Id stored in the events stream.
async fn stored_ids(r: &Receiver) -> Result<HashSet<String>> {
    let js = r.js().await?;
    let n = stream_count(&js).await?;
    let s = js.get_stream(gantry_nats::EVENTS_STREAM).await?;
    let mut ids = HashSet::new();
    for seq in 1..=n {
        if let Ok(m) = s.get_raw_message(seq).await
            && let Some(id) = m.headers.get("Nats-Msg-Id")
        {
            ids.insert(id.as_str().to_owned());
        }
    }
    Ok(ids)
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_outage_gives_503s_and_loses_nothing_acknowledged() -> Result<()> {
    let mut r = Receiver::start_with(|c| c.publish_timeout = Duration::from_millis(1500)).await?;
    let mut accepted = Vec::new();
    let (mut before, mut during, mut after) = (0, 0, 0);
    let mut phase = 0; // 0: NATS up, 1: NATS down, 2: NATS back
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 0;
    while Instant::now() < deadline {
        n += 1;
        let id = format!("outage-{n}");
        let resp = r
            .delivery("github", "push", &id, push_body(n))
            .send()
            .await?;
        let status = resp.status().as_u16();
        match status {
            202 => accepted.push(format!("github:{id}")),
            503 => {
                assert!(
                    resp.headers().contains_key("retry-after"),
                    "503 without Retry-After"
                );
                let v: Value = resp.json().await?;
                assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()));
            }
            other => panic!("unexpected status {other}"),
        }
        match phase {
            0 => {
                before += usize::from(status == 202);
                if before == 20 {
                    r.nats.stop();
                    phase = 1;
                }
            }
            1 => {
                during += usize::from(status == 503);
                if during == 1 {
                    let ready = r
                        .http
                        .get(format!("{}/readyz", r.base))
                        .send()
                        .await?
                        .status();
                    assert_eq!(ready, 503, "readyz must follow the NATS connection");
                }
                if during == 10 {
                    r.nats.restart()?;
                    phase = 2;
                }
            }
            _ => {
                after += usize::from(status == 202);
                if after == 20 {
                    break;
                }
            }
        }
    }
    ensure!(during >= 10, "saw only {during} 503s while NATS was down");
    ensure!(after >= 20, "only {after} 202s after NATS came back");
    let stored = stored_ids(&r).await?;
    let missing: Vec<_> = accepted.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {missing:?}"
    );
    r.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn starts_without_nats_and_becomes_ready_when_it_appears() -> Result<()> {
    let mut nats = NatsServer::start()?;
    nats.stop();
    let mut r = Receiver::start_unready(nats, |c| c.publish_timeout = Duration::from_millis(500))?;
    let health = async {
        for _ in 0..100 {
            if let Ok(resp) = r.http.get(format!("{}/healthz", r.base)).send().await {
                return Ok(resp.status().as_u16());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("no /healthz answer")
    };
    assert_eq!(health.await?, 200);
    assert_eq!(
        r.http
            .get(format!("{}/readyz", r.base))
            .send()
            .await?
            .status(),
        503
    );
    let resp = r
        .delivery("github", "push", "early", push_body(1))
        .send()
        .await?;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));

    r.nats.restart()?;
    r.wait_ready().await?;
    let resp = r
        .delivery("github", "push", "early", push_body(1))
        .send()
        .await?;
    assert_eq!(resp.status(), 202);
    r.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_differently_configured_stream_is_reported_not_changed() -> Result<()> {
    let nats = NatsServer::start()?;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await?);
    js.create_stream(stream::Config {
        name: gantry_nats::EVENTS_STREAM.to_owned(),
        subjects: vec!["gantry.events.>".to_owned()],
        storage: stream::StorageType::Memory,
        ..Default::default()
    })
    .await?;
    let r = Receiver::start_on(nats, |_| {}).await?;
    let ready: Value = r
        .http
        .get(format!("{}/readyz", r.base))
        .send()
        .await?
        .json()
        .await?;
    let diffs = ready["stream_differences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        diffs
            .iter()
            .any(|d| d.as_str().is_some_and(|d| d.starts_with("storage"))),
        "{ready}"
    );
    let mut s = js.get_stream(gantry_nats::EVENTS_STREAM).await?;
    assert_eq!(s.info().await?.config.storage, stream::StorageType::Memory);
    // It still stores events.
    let resp = r
        .delivery("github", "push", &unique("mem"), push_body(3))
        .send()
        .await?;
    assert_eq!(resp.status(), 202);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_shutdown_finishes_in_flight_deliveries_and_refuses_new_ones() -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut r = Receiver::start().await?;
    let addr = r.base.trim_start_matches("http://").to_owned();
    let body = push_body(42);
    let sig = gantry_tests::github_signature(common::SECRET.as_bytes(), &body);
    let mut s = tokio::net::TcpStream::connect(&addr).await?;
    let head = format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: inflight\r\nX-Hub-Signature-256: {sig}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(&body[..10]).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;

    r.trigger_shutdown();
    // The listener closes: new connections are refused (waited for, not slept for).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(&addr).await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "new connections were still accepted 10s into the shutdown"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The request already in flight completes and is stored.
    s.write_all(&body[10..]).await?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await??;
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 202"), "{text}");
    r.shutdown().await?;
    let ids = stored_ids(&r).await?;
    assert!(ids.contains("github:inflight"));
    Ok(())
}
