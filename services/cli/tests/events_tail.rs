//! `gantry events tail` prints stored messages as JSON lines decoded with the gantry.v1 schema.

use std::process::Command;

use anyhow::Result;
use prost::Message;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

#[tokio::test(flavor = "multi_thread")]
async fn tails_events_and_audit_records_as_json_lines() -> Result<()> {
    let nats = gantry_tests::NatsServer::start()?;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await?);
    js.create_stream(gantry_nats::events_stream_config(1))
        .await?;
    js.create_stream(gantry_nats::audit_stream_config(1))
        .await?;
    for (i, kind) in [
        (1, gantry_proto::v1::EventKind::Push),
        (2, gantry_proto::v1::EventKind::PrMerged),
    ] {
        let e = gantry_proto::v1::Event {
            id: format!("github:{i}"),
            kind: kind as i32,
            after: "2222222222222222222222222222222222222222".into(),
            ..Default::default()
        };
        let mut h = async_nats::HeaderMap::new();
        h.insert(gantry_nats::HEADER_SCHEMA, gantry_proto::v1::EVENT_SCHEMA);
        h.insert(
            gantry_nats::HEADER_TRACEPARENT,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        );
        let subject = gantry_nats::event_subject("github", "acme", "my.repo", kind.token());
        js.publish_with_headers(subject, h, e.encode_to_vec().into())
            .await?
            .await?;
    }
    let a = gantry_proto::v1::AuditRecord {
        application: "payments".into(),
        outcome: gantry_proto::v1::Outcome::Succeeded as i32,
        ..Default::default()
    };
    let mut h = async_nats::HeaderMap::new();
    h.insert(gantry_nats::HEADER_SCHEMA, gantry_proto::v1::AUDIT_SCHEMA);
    js.publish_with_headers(
        gantry_nats::audit_subject("payments", "dev", "succeeded"),
        h,
        a.encode_to_vec().into(),
    )
    .await?
    .await?;

    let out = Command::new(BIN)
        .args([
            "events",
            "tail",
            "--all",
            "--count",
            "2",
            "--nats-url",
            &nats.url(),
        ])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0]["subject"],
        "gantry.events.github.acme.my%2Erepo.push"
    );
    assert_eq!(lines[0]["stream_sequence"], 1);
    assert_eq!(lines[0]["message"]["kind"], "EVENT_KIND_PUSH");
    assert_eq!(lines[1]["message"]["kind"], "EVENT_KIND_PR_MERGED");
    assert_eq!(
        lines[0]["traceparent"],
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );

    // A subject filter, and the audit stream.
    let out = Command::new(BIN)
        .args([
            "events",
            "tail",
            "--all",
            "--count",
            "1",
            "--subject",
            "gantry.events.*.*.*.pr_merged",
        ])
        .env("GANTRY_NATS_URL", nats.url())
        .output()?;
    let line: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(line["message"]["id"], "github:2");
    let out = Command::new(BIN)
        .args([
            "events",
            "tail",
            "--audit",
            "--all",
            "--count",
            "1",
            "--nats-url",
            &nats.url(),
        ])
        .output()?;
    let line: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(line["message"]["application"], "payments");
    assert_eq!(line["message"]["outcome"], "OUTCOME_SUCCEEDED");
    Ok(())
}

#[test]
fn unreachable_nats_exits_69_with_one_line() -> Result<()> {
    let port = gantry_tests::free_port()?;
    let out = Command::new(BIN)
        .args([
            "events",
            "tail",
            "--nats-url",
            &format!("nats://127.0.0.1:{port}"),
        ])
        .output()?;
    assert_eq!(out.status.code(), Some(69));
    let err = String::from_utf8(out.stderr)?;
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let out = Command::new(BIN)
        .args(["events", "tail", "--count", "x"])
        .output()?;
    assert_eq!(out.status.code(), Some(64));
    Ok(())
}
