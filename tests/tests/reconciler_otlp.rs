//! One webhook's trace over OTLP/HTTP, as a real collector receives it: the receiver's
//! `POST /webhooks` span, the reconciler's `reconcile` span as its child, every phase of the
//! deploy as a child of `reconcile`, and one span per commit-status post with its attempt count.
//! The collector is an HTTP server on 127.0.0.1 taking `POST /v1/traces` (protobuf
//! `ExportTraceServiceRequest`); the services run in-process with the exporter
//! `gantry_telemetry::init` installs.
//!
//! Its own test binary: the tracing subscriber is global to the process. It lives in the
//! workspace's tests, as it runs two services, on the reconciler tests' harness (included from
//! there, so the harness is written once).

#[path = "../../services/reconciler/tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use tokio::sync::oneshot;

const SECRET: &str = "otlp-secret";
const ZERO: &str = "0000000000000000000000000000000000000000";

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a AnyValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_from_the_webhook_to_the_commit_status() -> Result<()> {
    let (endpoint, exported) = gantry_tests::capture_http()?;
    let telemetry = gantry_telemetry::init(gantry_telemetry::Options {
        service_name: "gantry-reconciler",
        json: false,
        filter: "warn,gantry_reconciler=info,gantry_receiver=info".into(),
        otlp_endpoint: Some(endpoint),
    })?;
    let mut h = Harness::start().await?;
    h.repo.write(".gantry.yaml", &gantry_yaml(&["web"]))?;
    h.repo
        .write("apps/web/config.yaml", &configmap("web-config", "a"))?;
    let c1 = h.repo.commit("first")?;
    h.worker("w1", |_| {}).await?;

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let receiver = format!("http://{}", listener.local_addr()?);
    let (stop_receiver, stopped) = oneshot::channel::<()>();
    let receiver_task = tokio::spawn(gantry_receiver::run(
        listener,
        gantry_receiver::Config::for_tests(&h.nats.url(), SECRET),
        async move {
            let _ = stopped.await;
        },
    ));
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..400 {
        if let Ok(r) = http.get(format!("{receiver}/readyz")).send().await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ensure!(ready, "the receiver did not become ready");

    let body = serde_json::to_vec(&serde_json::json!({
        "ref": "refs/heads/main",
        "before": ZERO,
        "after": c1,
        "repository": {
            "full_name": FULL,
            "clone_url": h.repo.url(),
            "html_url": "https://github.com/acme/platform",
            "default_branch": "main",
        },
    }))?;
    let resp = http
        .post(format!("{receiver}/webhooks/github"))
        .header("Content-Type", "application/json")
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", "otlp-1")
        .header(
            "X-Hub-Signature-256",
            gantry_tests::github_signature(SECRET.as_bytes(), &body),
        )
        .body(body)
        .send()
        .await?;
    ensure!(resp.status().is_success(), "webhook: {}", resp.status());
    let s = h
        .final_status(&c1, "gantry/web/dev", Duration::from_secs(60))
        .await?;
    assert_eq!(s.state, "success", "{s:?}");
    // Acked: the reconcile span has ended. Then everything stops and the exporter flushes.
    h.settled(Duration::from_secs(30)).await?;
    h.shutdown().await;
    let _ = stop_receiver.send(());
    let _ = receiver_task.await;
    tokio::task::spawn_blocking(move || drop(telemetry)).await?;

    let mut spans: Vec<Span> = Vec::new();
    while let Ok((path, payload)) = exported.try_recv() {
        assert_eq!(path, "/v1/traces");
        let request = ExportTraceServiceRequest::decode(payload.as_slice())
            .context("the export is an ExportTraceServiceRequest")?;
        for rs in request.resource_spans {
            for ss in rs.scope_spans {
                spans.extend(ss.spans);
            }
        }
    }
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let Some(webhook) = spans.iter().find(|s| s.name == "POST /webhooks") else {
        bail!("no POST /webhooks span among {names:?}");
    };
    let trace: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == webhook.trace_id)
        .collect();
    let one = |name: &str| -> Result<&Span> {
        let found: Vec<&&Span> = trace.iter().filter(|s| s.name == name).collect();
        ensure!(
            found.len() == 1,
            "{} {name:?} spans in the webhook's trace; it holds {:?}",
            found.len(),
            trace.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        Ok(found[0])
    };
    let reconcile = one("reconcile")?;
    assert_eq!(
        reconcile.parent_span_id, webhook.span_id,
        "reconcile continues the webhook's span"
    );
    let mut phase_ids = HashMap::new();
    for phase in [
        "fetch", "plan", "render", "apply", "prune", "verify", "report",
    ] {
        let span = one(phase)?;
        assert_eq!(
            span.parent_span_id, reconcile.span_id,
            "{phase} is a child of reconcile"
        );
        phase_ids.insert(span.span_id.clone(), phase);
    }
    // Two posts: `pending` while deploying, then `success` from the report phase; each made
    // once, and each a span of its own.
    let mut posts: Vec<&&Span> = trace
        .iter()
        .filter(|s| s.name == "POST commit status")
        .collect();
    posts.sort_by_key(|s| s.start_time_unix_nano);
    type Post<'a> = (Option<&'a AnyValue>, Option<&'a str>, Option<&'a AnyValue>);
    let states: Vec<Post> = posts
        .iter()
        .map(|s| {
            (
                attribute(s, "state"),
                phase_ids
                    .get(&s.parent_span_id)
                    .copied()
                    .or((s.parent_span_id == reconcile.span_id).then_some("reconcile")),
                attribute(s, "attempts"),
            )
        })
        .collect();
    let pending = AnyValue::StringValue("pending".into());
    let success = AnyValue::StringValue("success".into());
    let once = AnyValue::IntValue(1);
    assert_eq!(
        states,
        [
            (Some(&pending), Some("reconcile"), Some(&once)),
            (Some(&success), Some("report"), Some(&once)),
        ],
        "status posts (state, parent, attempts)"
    );
    Ok(())
}
