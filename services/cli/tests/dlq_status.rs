//! `gantry dlq list|replay` and `gantry status` against a real nats-server: the binary as an
//! operator runs it.

use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use gantry_reconciler::state::{
    Attempt, AttemptOutcome, Check, CommitState, EnvKey, EnvState, Reported, StateStore,
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

fn gantry(args: &[&str]) -> Result<(i32, String, String)> {
    let out = Command::new(BIN).args(args).output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_list_and_replay() -> Result<()> {
    let nats = gantry_tests::NatsServer::start()?;
    let url = nats.url();
    let js = async_nats::jetstream::new(async_nats::connect(&url).await?);
    for (cfg, name) in [
        (
            gantry_nats::events_stream_config(1),
            gantry_nats::EVENTS_STREAM,
        ),
        (gantry_nats::dlq_stream_config(1), gantry_nats::DLQ_STREAM),
    ] {
        gantry_nats::ensure_stream(&js, &cfg, name).await?;
    }
    let (code, out, _) = gantry(&["dlq", "list", "--nats-url", &url])?;
    assert_eq!((code, out.trim()), (0, "The DLQ is empty."));
    let event = gantry_proto::v1::Event {
        id: "github:d1".into(),
        after: "3f2a1c9e0b7d4c1a8e5f6b2d9c0a7e4f1b3d5c6a".into(),
        ..Default::default()
    };
    for i in 0..2 {
        let mut h = async_nats::HeaderMap::new();
        h.insert(gantry_nats::HEADER_MSG_ID, format!("dlq:{i}").as_str());
        h.insert("Gantry-Dlq-Reason", "fetch failed: unreachable");
        h.insert(
            "Gantry-Dlq-Subject",
            "gantry.events.github.acme.platform.push",
        );
        h.insert("Gantry-Dlq-Deliveries", "5");
        js.publish_with_headers(
            "gantry.dlq.github.acme.platform.push",
            h,
            prost::Message::encode_to_vec(&event).into(),
        )
        .await?
        .await?;
    }
    let (code, out, err) = gantry(&["dlq", "list", "--nats-url", &url, "--output", "json"])?;
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Value> = out
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], 1);
    assert_eq!(
        rows[0]["subject"],
        "gantry.events.github.acme.platform.push"
    );
    assert_eq!(rows[0]["reason"], "fetch failed: unreachable");
    assert_eq!(rows[0]["deliveries"], 5);
    assert_eq!(rows[0]["event_id"], "github:d1");

    let (code, _, err) = gantry(&["dlq", "replay", "99", "--nats-url", &url])?;
    assert_eq!(code, 66, "{err}");
    assert!(err.contains("no DLQ entry has id 99"), "{err}");
    let (code, out, err) = gantry(&["dlq", "replay", "1", "--nats-url", &url])?;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("replayed 1 to gantry.events.github.acme.platform.push"),
        "{out}"
    );
    let events = js.get_stream(gantry_nats::EVENTS_STREAM).await?;
    let m = events.get_raw_message(1).await?;
    assert_eq!(
        m.subject.as_str(),
        "gantry.events.github.acme.platform.push"
    );
    assert!(m.headers.get("Gantry-Dlq-Reason").is_none());
    let (code, out, _) = gantry(&["dlq", "replay", "--all", "--nats-url", &url])?;
    assert_eq!(code, 0);
    assert!(out.contains("replayed 2"), "{out}");
    let (_, out, _) = gantry(&["dlq", "list", "--nats-url", &url])?;
    assert_eq!(out.trim(), "The DLQ is empty.");
    let (code, _, err) = gantry(&["dlq", "list", "--nats-url", "nats://127.0.0.1:1"])?;
    assert_eq!(code, 69, "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_attempts_health_and_drift() -> Result<()> {
    let nats = gantry_tests::NatsServer::start()?;
    let url = nats.url();
    let js = async_nats::jetstream::new(async_nats::connect(&url).await?);
    let (code, out, _) = gantry(&["status", "--nats-url", &url])?;
    assert_eq!(
        (code, out.trim()),
        (
            0,
            format!(
                "NATS {url} (from --nats-url), bucket gantry-state: missing: no reconciler has \
                 used this NATS server, nothing deployed"
            )
            .as_str()
        )
    );
    let s = StateStore::open(&js, "w", Duration::from_secs(5)).await?;
    let attempt = |rev: &str, outcome, message: &str| Attempt {
        revision: rev.into(),
        outcome,
        phase: "render".into(),
        message: message.into(),
        trigger: "webhook".into(),
        at: time::OffsetDateTime::now_utc().unix_timestamp(),
    };
    // A repository whose .gantry.yaml is unusable: nothing applied anywhere.
    s.attempted(
        &EnvKey::repository("acme/broken"),
        attempt(
            "aaaaaaa1",
            AttemptOutcome::Error,
            ".gantry.yaml:3: unknown field `prnue`",
        ),
    )
    .await?;
    // A failure after a success, with drift found at the last check.
    s.put(
        &EnvKey::new("acme/platform", "web", "dev"),
        &EnvState {
            revision: "bbbbbbb2".into(),
            reported: Some(Reported {
                state: CommitState::Success,
                description: "deployed bbbbbbb in 1.0s".into(),
                posted_by: String::new(),
            }),
            applied_at: 1,
            last_attempt: Some(attempt(
                "ccccccc3",
                AttemptOutcome::Error,
                "render failed: x.yaml:1",
            )),
            last_check: Some(Check {
                at: time::OffsetDateTime::now_utc().unix_timestamp(),
                health: "Healthy".into(),
                managed: 2,
                drifted: vec!["Deployment/web-dev/web (spec.replicas)".into()],
                healed: true,
                worker: "w".into(),
            }),
            ..Default::default()
        },
    )
    .await?;
    let (code, out, err) = gantry(&["status", "--nats-url", &url, "--output", "json"])?;
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Value> = out
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(rows.len(), 2, "{out}");
    let broken = &rows[0];
    assert_eq!(broken["repository"], "acme/broken");
    assert_eq!(broken["app"], "-");
    assert_eq!(broken["revision"], Value::Null);
    assert_eq!(broken["last_attempt"]["outcome"], "error");
    let web = &rows[1];
    assert_eq!(web["revision"], "bbbbbbb2", "the good revision still runs");
    assert_eq!(web["last_attempt"]["revision"], "ccccccc3");
    assert_eq!(web["last_attempt"]["outcome"], "error");
    assert_eq!(web["health"], "Healthy");
    assert_eq!(web["drifted"][0], "Deployment/web-dev/web (spec.replicas)");
    assert!(web["last_checked"].is_i64());
    let (code, table, _) = gantry(&["status", "--nats-url", &url])?;
    assert_eq!(code, 0);
    assert!(table.contains("ccccccc error: render failed"), "{table}");
    assert!(table.contains("1 healed"), "{table}");
    assert!(table.contains("acme/broken"), "{table}");
    assert!(
        table.starts_with(&format!(
            "NATS {url} (from --nats-url), bucket gantry-state: 1 environment, 1 repository-wide record\n"
        )),
        "{table}"
    );
    let (code, _, err) = gantry(&["status", "--nats-url", &url, "--output", "yaml"])?;
    assert_eq!(code, 64, "{err}");
    Ok(())
}
