//! The receiver's 413 and 503 answers that need NATS to misbehave, each with its code and JSON
//! body as contract section 2 gives them: an event over the server's `max_payload`, a stream
//! that is gone, an ack that never comes, and a shutdown whose grace ends before the ack.

mod common;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use common::{Receiver, unique};
use futures::StreamExt;
use gantry_tests::NatsServer;
use serde_json::{Value, json};

fn push_body(commits: usize) -> Vec<u8> {
    let commits: Vec<Value> = (0..commits)
        .map(|i| {
            json!({
                "id": format!("{i:040x}"),
                "message": format!("commit {i}: {}", "a long message line ".repeat(20)),
                "timestamp": "2025-06-15T13:01:51Z",
                "added": [format!("apps/payments/file-{i}.yaml")],
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "ref": "refs/heads/main",
        "before": "1111111111111111111111111111111111111111",
        "after": "2222222222222222222222222222222222222222",
        "repository": {"full_name": "acme/app", "html_url": "https://github.com/acme/app"},
        "commits": commits,
    }))
    .unwrap_or_default()
}

/// Checks status, `Retry-After` on 503s, and the `{"error", "message"}` body.
async fn expect_error(resp: reqwest::Response, status: u16, code: &str) -> Result<()> {
    ensure!(
        resp.status().as_u16() == status,
        "status {} instead of {status}",
        resp.status()
    );
    if status == 503 {
        ensure!(
            resp.headers().contains_key("retry-after"),
            "503 without Retry-After"
        );
    }
    let body: Value = resp.json().await.context("the error body is JSON")?;
    ensure!(body["error"] == code, "{body}");
    ensure!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    ensure!(
        body.as_object().is_some_and(|o| o.len() == 2),
        "only error and message: {body}"
    );
    Ok(())
}

/// Deletes the events stream and subscribes a plain NATS client to its subjects that never
/// answers: a publish then reaches a listener but no ack ever comes, as when JetStream is slow.
async fn swallow_events(r: &Receiver) -> Result<async_nats::Subscriber> {
    let client = async_nats::connect(r.nats.url()).await?;
    let js = async_nats::jetstream::new(client.clone());
    js.delete_stream(gantry_nats::EVENTS_STREAM).await?;
    let sub = client.subscribe(gantry_nats::EVENTS_SUBJECTS).await?;
    client.flush().await?;
    Ok(sub)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_over_the_servers_max_payload_is_413_event_too_large() -> Result<()> {
    let nats = NatsServer::start_with_config("max_payload: 4096\n")?;
    let r = Receiver::start_on(nats, |_| {}).await?;
    // A body well under --max-body-bytes whose event is over the server's 4 KiB.
    let body = push_body(40);
    assert!(body.len() > 8 * 1024);
    let resp = r
        .delivery("github", "push", &unique("big"), body)
        .send()
        .await?;
    expect_error(resp, 413, "event_too_large").await?;
    // A small one still goes through.
    let resp = r
        .delivery("github", "push", &unique("small"), push_body(1))
        .send()
        .await?;
    assert_eq!(resp.status(), 202);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_stream_is_503_stream_unavailable() -> Result<()> {
    let r = Receiver::start().await?;
    let js = r.js().await?;
    // The receiver's start-up task may still be setting the stream up when /readyz first
    // answers 200, and it recreates a stream deleted under it: a 202 here means that happened.
    // Delete again until a delivery meets the missing stream (a few rounds at most).
    for _ in 0..10 {
        let _ = js.delete_stream(gantry_nats::EVENTS_STREAM).await;
        let resp = r
            .delivery("github", "push", &unique("nostream"), push_body(1))
            .send()
            .await?;
        if resp.status() == 202 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        return expect_error(resp, 503, "stream_unavailable").await;
    }
    anyhow::bail!("every delivery was stored: the deleted stream kept coming back")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ack_that_does_not_come_in_time_is_503_publish_timeout() -> Result<()> {
    let r = Receiver::start_with(|c| c.publish_timeout = Duration::from_millis(500)).await?;
    let mut swallowed = swallow_events(&r).await?;
    let resp = r
        .delivery("github", "push", &unique("slow"), push_body(1))
        .send()
        .await?;
    expect_error(resp, 503, "publish_timeout").await?;
    // The event did reach NATS: it was the ack that never came.
    let got = tokio::time::timeout(Duration::from_secs(10), swallowed.next()).await?;
    assert!(got.is_some());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_waiting_for_its_ack_at_the_end_of_the_grace_gets_503_and_run_returns()
-> Result<()> {
    let grace = Duration::from_secs(2);
    let mut r = Receiver::start_with(|c| {
        c.publish_timeout = Duration::from_secs(120);
        c.shutdown_grace = grace;
    })
    .await?;
    let mut swallowed = swallow_events(&r).await?;
    let request = r
        .delivery("github", "push", &unique("inflight"), push_body(1))
        .send();
    let response = tokio::spawn(request);
    // The event reached NATS: the delivery now waits for an ack that will not come.
    let got = tokio::time::timeout(Duration::from_secs(30), swallowed.next()).await?;
    assert!(got.is_some());
    r.trigger_shutdown();
    let resp = tokio::time::timeout(grace + Duration::from_secs(20), response).await???;
    expect_error(resp, 503, "shutting_down").await?;
    let task = r.task.take().context("the receiver task")?;
    tokio::time::timeout(grace + Duration::from_secs(20), task)
        .await
        .context("run() did not return after the grace")???;
    Ok(())
}
