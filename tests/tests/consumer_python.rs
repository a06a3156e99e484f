//! The `.proto` files are the schema: Python's protoc (grpcio-tools) compiles them, and its
//! generated code decodes what the receiver stored and what the reconciler will publish.

mod common;

use std::process::Command;

use anyhow::{Context, Result, ensure};
use common::{Receiver, unique};
use prost::Message;
use serde_json::{Value, json};

fn python() -> std::path::PathBuf {
    let venv = gantry_tests::workspace_root().join(".tools/venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

const DECODE: &str = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
from google.protobuf import json_format
from gantry.v1 import event_pb2, audit_pb2
kind = {"event": event_pb2.Event, "audit": audit_pb2.AuditRecord}[sys.argv[2]]
m = kind()
m.ParseFromString(open(sys.argv[3], "rb").read())
print(json.dumps(json_format.MessageToDict(m, preserving_proto_field_name=True)))
"#;

fn decode_in_python(out: &std::path::Path, kind: &str, bytes: &[u8]) -> Result<Value> {
    let msg = out.join(format!("{kind}.bin"));
    std::fs::write(&msg, bytes)?;
    let o = Command::new(python())
        .arg("-c")
        .arg(DECODE)
        .arg(out)
        .arg(kind)
        .arg(&msg)
        .output()
        .context("running python")?;
    ensure!(
        o.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Ok(serde_json::from_slice(&o.stdout)?)
}

#[tokio::test(flavor = "multi_thread")]
async fn python_decodes_stored_events_and_audit_records() -> Result<()> {
    let out = tempfile::tempdir()?;
    let proto = gantry_tests::workspace_root().join("proto");
    let o = Command::new(python())
        .args(["-m", "grpc_tools.protoc", "-I"])
        .arg(&proto)
        .arg(format!("--python_out={}", out.path().display()))
        .args(["gantry/v1/event.proto", "gantry/v1/audit.proto"])
        .output()
        .context("running grpc_tools.protoc (install it with scripts/tools.sh)")?;
    ensure!(
        o.status.success(),
        "protoc failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    let r = Receiver::start().await?;
    let body = std::fs::read(gantry_tests::shared_fixture(
        "gitea/constructed/gitea-push.json",
        "a Gitea push payload built from Gitea's own structs",
    )?)?;
    let delivery = unique("py");
    let resp: Value = r
        .delivery("gitea", "push", &delivery, body)
        .send()
        .await?
        .json()
        .await?;
    let seq = resp["stream_sequence"].as_u64().context("sequence")?;
    let stream = r.js().await?.get_stream(gantry_nats::EVENTS_STREAM).await?;
    let raw = stream.get_raw_message(seq).await?;

    let e = decode_in_python(out.path(), "event", &raw.payload)?;
    assert_eq!(e["id"], format!("gitea:{delivery}"));
    assert_eq!(e["provider"], "PROVIDER_GITEA");
    assert_eq!(e["kind"], "EVENT_KIND_PUSH");
    assert_eq!(e["ref"], "refs/heads/main");
    assert_eq!(e["after"], "b5e3a9d7c1f24e6a8b0c2d4e6f8a0b1c3d5e7f90");
    assert_eq!(e["repository"]["full_name"], "acme/gitops-config");
    assert_eq!(e["commits"].as_array().map(Vec::len), Some(2));
    // Unicode in commit messages survives the trip.
    let rust = gantry_proto::v1::Event::decode(raw.payload.as_ref())?;
    assert_eq!(e["commits"][0]["message"], json!(rust.commits[0].message));
    assert!(e["received_at"].as_str().is_some_and(|t| t.ends_with('Z')));

    let audit = gantry_proto::v1::AuditRecord {
        event_id: rust.id.clone(),
        delivery_id: delivery.clone(),
        application: "payments".into(),
        environment: "dev".into(),
        revision: rust.after.clone(),
        phase: gantry_proto::v1::Phase::Apply as i32,
        outcome: gantry_proto::v1::Outcome::Succeeded as i32,
        message: "12 objects applied".into(),
        objects_applied: 12,
        duration: Some(prost_types::Duration {
            seconds: 4,
            nanos: 200_000_000,
        }),
        worker_id: "w1".into(),
        ..Default::default()
    };
    let a = decode_in_python(out.path(), "audit", &audit.encode_to_vec())?;
    assert_eq!(a["phase"], "PHASE_APPLY");
    assert_eq!(a["outcome"], "OUTCOME_SUCCEEDED");
    assert_eq!(a["objects_applied"], 12);
    assert_eq!(a["duration"], "4.200s");
    Ok(())
}

/// The README's Python audit consumer, taken from README.md itself (so the two cannot drift),
/// run with nats-py against a real server: it creates the durable pull consumer `audit-bot`,
/// fetches, decodes with protoc's classes and acks.
#[tokio::test(flavor = "multi_thread")]
async fn the_readme_python_consumer_runs_as_written() -> Result<()> {
    let readme = std::fs::read_to_string(gantry_tests::workspace_root().join("README.md"))?;
    let program = readme
        .split("```python\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .find(|b| b.contains("pull_subscribe"))
        .context("no Python consumer in README.md")?;
    ensure!(
        program.contains(r#"durable="audit-bot""#) && program.contains("nats://127.0.0.1:4222"),
        "the README's consumer changed shape:\n{program}"
    );

    let r = Receiver::start().await?;
    let body = std::fs::read(gantry_tests::shared_fixture(
        "gitea/constructed/gitea-push.json",
        "a Gitea push payload built from Gitea's own structs",
    )?)?;
    let delivery = unique("readme-py");
    let resp = r.delivery("gitea", "push", &delivery, body).send().await?;
    ensure!(resp.status() == 202, "{}", resp.text().await?);

    // As the README: generate the classes into gen/, put gen/ on sys.path.
    let work = tempfile::tempdir()?;
    let gen_dir = work.path().join("gen");
    std::fs::create_dir_all(&gen_dir)?;
    let o = Command::new(python())
        .args(["-m", "grpc_tools.protoc", "-I"])
        .arg(gantry_tests::workspace_root().join("proto"))
        .arg(format!("--python_out={}", gen_dir.display()))
        .args(["gantry/v1/event.proto", "gantry/v1/audit.proto"])
        .output()?;
    ensure!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let script = work.path().join("consumer.py");
    std::fs::write(
        &script,
        program.replace("nats://127.0.0.1:4222", &r.nats.url()),
    )?;
    let o = Command::new(python())
        .arg(&script)
        .current_dir(work.path())
        .env("PYTHONPATH", &gen_dir)
        .output()
        .context("running the README's consumer (nats-py comes from scripts/tools.sh)")?;
    ensure!(
        o.status.success(),
        "the README's consumer failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out.lines().next().unwrap_or("");
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(
        fields.get(..4),
        Some(
            &[
                "gantry.events.gitea.acme.gitops-config.push",
                "acme/gitops-config",
                "refs/heads/main",
                "b5e3a9d7c1f24e6a8b0c2d4e6f8a0b1c3d5e7f90",
            ][..]
        ),
        "{out}"
    );
    assert!(
        fields.get(4).is_some_and(|t| t.starts_with("00-")),
        "no traceparent: {out}"
    );

    // A durable pull consumer of its own, which acked what it read.
    let stream = r.js().await?.get_stream(gantry_nats::EVENTS_STREAM).await?;
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .get_consumer("audit-bot")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let info = consumer.info().await?;
    assert_eq!(info.config.durable_name.as_deref(), Some("audit-bot"));
    assert_eq!(info.num_ack_pending, 0, "{info:?}");
    assert_eq!(info.ack_floor.stream_sequence, 1, "{info:?}");
    Ok(())
}
