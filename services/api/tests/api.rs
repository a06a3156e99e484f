//! `gantry-api` against a real nats-server, real Git repositories on the Git host emulator and a
//! real receiver: static tokens, RBAC from Git (and a pushed change), the read endpoints, sync,
//! the audit trail, metrics and the JSON errors.

mod common;

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use async_nats::jetstream::{self, consumer};
use common::*;
use futures::StreamExt;
use gantry_proto::v1;
use prost::Message;
use serde_json::Value;

const WEB_DEV: &str = "/api/v1/apps/web/environments/dev";
const WEB_PROD: &str = "/api/v1/apps/web/environments/prod";

/// Every message stored on `stream` so far (subject, headers, payload).
async fn stored(
    nats_url: &str,
    stream: &str,
    filter: &str,
) -> Result<Vec<async_nats::jetstream::Message>> {
    let client = async_nats::connect(nats_url).await?;
    let js = jetstream::new(client);
    let s = js.get_stream(stream).await?;
    let pending = s.get_info().await?.state.messages;
    let c = s
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: filter.to_owned(),
            ..Default::default()
        })
        .await?;
    let mut out = Vec::new();
    if pending == 0 {
        return Ok(out);
    }
    let mut msgs = c.messages().await?;
    loop {
        let next = tokio::time::timeout(Duration::from_millis(500), msgs.next()).await;
        match next {
            Ok(Some(m)) => {
                let m = m.map_err(|e| anyhow::anyhow!("{e}"))?;
                let left = m.info().map(|i| i.pending).unwrap_or(0);
                out.push(m);
                if left == 0 {
                    break;
                }
            }
            _ => break,
        }
    }
    Ok(out)
}

/// The API's audit records, oldest first.
async fn api_records(nats_url: &str) -> Result<Vec<v1::AuditRecord>> {
    Ok(
        stored(nats_url, gantry_nats::AUDIT_STREAM, "gantry.audit.>")
            .await?
            .into_iter()
            .filter_map(|m| v1::AuditRecord::decode(m.payload.clone()).ok())
            .filter(|r| r.phase == v1::Phase::Api as i32)
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_rbac_reads_and_errors() -> Result<()> {
    let h = Harness::start(Setup::default()).await?;

    // 401 without a token or with a wrong one, with WWW-Authenticate: Bearer.
    let (code, headers, body) = h
        .call(reqwest::Method::GET, "/api/v1/apps", None, None)
        .await?;
    assert_eq!(code, 401);
    assert_eq!(body["error"], "unauthenticated");
    let www = headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(www.starts_with("Bearer"), "{www}");
    let (code, body) = h.get("/api/v1/apps", Some("not-a-token")).await?;
    assert_eq!(
        (code, body["error"].as_str()),
        (401, Some("unauthenticated"))
    );

    // The platform's token sees every environment; a developer only web/dev.
    let (code, body) = h.get("/api/v1/apps", Some(IDP_TOKEN)).await?;
    assert_eq!(code, 200, "{body}");
    let names = |v: &Value| -> Vec<String> {
        v["apps"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        format!(
                            "{}/{}",
                            x["app"].as_str().unwrap_or(""),
                            x["environment"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(names(&body), ["api/dev", "web/dev", "web/prod"]);
    assert_eq!(body["apps"][0]["repository"], "acme/platform");
    assert_eq!(body["apps"][1]["path"], "apps/web/dev");
    assert_eq!(body["apps"][1]["health"], "unknown");
    let (code, body) = h.get("/api/v1/apps", Some(DEV_TOKEN)).await?;
    assert_eq!(code, 200);
    assert_eq!(names(&body), ["web/dev"]);

    // One environment: allowed, forbidden, unknown.
    let (code, body) = h.get(WEB_DEV, Some(DEV_TOKEN)).await?;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["branch"], "main");
    assert!(body["audit"].is_array());
    let (code, body) = h.get(WEB_PROD, Some(DEV_TOKEN)).await?;
    assert_eq!((code, body["error"].as_str()), (403, Some("forbidden")));
    let (code, body) = h
        .get("/api/v1/apps/nope/environments/dev", Some(IDP_TOKEN))
        .await?;
    assert_eq!((code, body["error"].as_str()), (404, Some("not_found")));
    let (code, _) = h
        .get("/api/v1/apps/web/environments/qa", Some(IDP_TOKEN))
        .await?;
    assert_eq!(code, 404);
    // A developer may sync web/dev but not roll it back.
    let (code, body) = h
        .post(&format!("{WEB_DEV}/rollback"), Some(DEV_TOKEN), "{}")
        .await?;
    assert_eq!((code, body["error"].as_str()), (403, Some("forbidden")));

    // Malformed and oversized bodies, bad revisions, unknown paths and methods.
    let (code, body) = h
        .post(&format!("{WEB_DEV}/sync"), Some(IDP_TOKEN), "{not json")
        .await?;
    assert_eq!((code, body["error"].as_str()), (400, Some("bad_request")));
    let (code, _) = h
        .post(
            &format!("{WEB_DEV}/sync"),
            Some(IDP_TOKEN),
            r#"{"revision": "HEAD"}"#,
        )
        .await?;
    assert_eq!(code, 400);
    let (code, _) = h
        .post(
            &format!("{WEB_DEV}/sync"),
            Some(IDP_TOKEN),
            r#"{"revison": "x"}"#,
        )
        .await?;
    assert_eq!(code, 400, "unknown fields are refused");
    let big = format!(
        r#"{{"revision": "{}"}}"#,
        "a".repeat(gantry_api::MAX_BODY_BYTES)
    );
    let (code, body) = h
        .post(&format!("{WEB_DEV}/sync"), Some(IDP_TOKEN), &big)
        .await?;
    assert_eq!(
        (code, body["error"].as_str()),
        (413, Some("payload_too_large"))
    );
    let (code, body) = h.get("/api/v2/nothing", Some(IDP_TOKEN)).await?;
    assert_eq!((code, body["error"].as_str()), (404, Some("not_found")));
    let (code, _, body) = h
        .call(reqwest::Method::DELETE, WEB_DEV, Some(IDP_TOKEN), None)
        .await?;
    assert_eq!(
        (code, body["error"].as_str()),
        (405, Some("method_not_allowed"))
    );

    // Every request above that was not a probe is audited with its actor and outcome.
    let records = api_records(&h.nats.url()).await?;
    let denied: Vec<&v1::AuditRecord> = records
        .iter()
        .filter(|r| r.outcome == v1::Outcome::Denied as i32)
        .collect();
    assert!(
        denied.iter().any(|r| r.actor.is_none()),
        "the 401s are audited without an actor"
    );
    let forbidden = denied
        .iter()
        .find(|r| r.application == "web" && r.environment == "prod")
        .context("the 403 on web/prod is audited")?;
    let actor = forbidden.actor.clone().unwrap_or_default();
    assert_eq!(actor.subject, "dev");
    assert_eq!(actor.groups, ["developers"]);
    assert_eq!(actor.method, v1::AuthMethod::StaticToken as i32);
    assert_eq!(forbidden.trigger, v1::Trigger::Api as i32);
    assert!(
        records
            .iter()
            .any(|r| r.outcome == v1::Outcome::Succeeded as i32
                && r.application == "web"
                && r.environment == "dev")
    );

    // Metrics count requests by route and code.
    let text = h
        .http
        .get(format!("{}/metrics", h.api))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        text.contains(r#"gantry_api_requests_total{route="apps",code="401"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"gantry_api_requests_total{route="environment",code="403"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"gantry_api_requests_total{route="sync",code="413"} 1"#),
        "{text}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_publishes_once_per_idempotency_key_and_503_without_nats() -> Result<()> {
    let mut h = Harness::start(Setup::default()).await?;
    let path = format!("{WEB_DEV}/sync");
    let send = |key: Option<&'static str>, body: &'static str| {
        let mut r = h
            .http
            .post(format!("{}{path}", h.api))
            .bearer_auth(DEV_TOKEN)
            .body(body);
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        r.send()
    };
    let r = send(Some("deploy-42"), "{}").await?;
    assert_eq!(r.status().as_u16(), 202);
    let first: Value = r.json().await?;
    assert_eq!(first["request"], "deploy-42");
    assert_eq!(first["duplicate"], false);
    assert_eq!(first["subject"], "gantry.events.api.acme.platform.sync");
    let r = send(Some("deploy-42"), "{}").await?;
    assert_eq!(r.status().as_u16(), 202);
    let again: Value = r.json().await?;
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["stream_sequence"], first["stream_sequence"]);
    let rev = "0123456789abcdef0123456789abcdef01234567";
    let r = send(
        None,
        r#"{"revision": "0123456789abcdef0123456789abcdef01234567"}"#,
    )
    .await?;
    assert_eq!(r.status().as_u16(), 202);

    let events = stored(
        &h.nats.url(),
        gantry_nats::EVENTS_STREAM,
        "gantry.events.api.>",
    )
    .await?;
    assert_eq!(events.len(), 2, "the retried request is not a second sync");
    let m = &events[0];
    let header = |n: &str| {
        m.headers
            .as_ref()
            .and_then(|h| h.get(n))
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header("Nats-Msg-Id"), "api:deploy-42");
    assert_eq!(header("Gantry-Schema"), "gantry.v1.Event");
    assert_eq!(header("ce-type"), "dev.gantry.sync");
    assert_eq!(header("ce-id"), "deploy-42");
    let e = v1::Event::decode(m.payload.clone())?;
    assert_eq!(e.kind, v1::EventKind::Sync as i32);
    assert_eq!(e.provider, v1::Provider::Api as i32);
    assert_eq!(e.r#ref, "refs/heads/main");
    let s = e.sync.clone().context("the sync request")?;
    assert_eq!(
        (s.application.as_str(), s.environment.as_str()),
        ("web", "dev")
    );
    let actor = s.actor.context("the actor")?;
    assert_eq!(actor.subject, "dev");
    assert_eq!(actor.method, v1::AuthMethod::StaticToken as i32);
    let e2 = v1::Event::decode(events[1].payload.clone())?;
    assert_eq!(e2.sync.map(|s| s.revision), Some(rev.to_owned()));

    // NATS down: 503 with Retry-After, never a 2xx.
    h.nats.stop();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = send(Some("deploy-43"), "{}").await?;
        let code = r.status().as_u16();
        assert_ne!(code / 100, 2, "a sync was acknowledged without NATS");
        if code == 503 {
            assert!(r.headers().get("retry-after").is_some());
            let v: Value = r.json().await?;
            assert_eq!(v["error"], "unavailable");
            break;
        }
        if Instant::now() > deadline {
            bail!("no 503 while NATS is down (last {code})");
        }
    }
    let (code, _) = h.get("/readyz", None).await?;
    assert_eq!(code, 503);
    h.nats.restart()?;
    h.wait_ready().await?;
    let r = send(Some("deploy-43"), "{}").await?;
    assert_eq!(r.status().as_u16(), 202);
    h.stop_api().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pushed_rbac_change_takes_effect_and_a_bad_file_keeps_the_last_rules() -> Result<()> {
    let h = Harness::start(Setup::default()).await?;
    let (code, _) = h.get(WEB_PROD, Some(DEV_TOKEN)).await?;
    assert_eq!(code, 403);

    let widened = RULES.replace(
        r#"environments: ["dev"]"#,
        r#"environments: ["dev", "prod"]"#,
    );
    let sha = h
        .push(
            "acme/platform-rbac",
            &[("rbac.yaml", &widened)],
            "developers may read prod",
        )
        .await?;
    h.wait_for("the pushed rules", |v, _| {
        v["rbac"]["origin"]
            .as_str()
            .is_some_and(|o| o.contains(&sha))
    })
    .await?;
    let (code, body) = h.get(WEB_PROD, Some(DEV_TOKEN)).await?;
    assert_eq!(code, 200, "{body}");

    let bad = h
        .push(
            "acme/platform-rbac",
            &[("rbac.yaml", "rules: [{subjects: [nobody]")],
            "broken",
        )
        .await?;
    let v = h
        .wait_for("the broken rules to be reported", |v, _| {
            v["rbac"]["error"]
                .as_str()
                .is_some_and(|e| e.contains(&bad))
        })
        .await?;
    assert_eq!(
        v["status"], "ready",
        "the last good rules stay in force: {v}"
    );
    assert!(
        v["rbac"]["origin"]
            .as_str()
            .is_some_and(|o| o.contains(&sha))
    );
    let (code, _) = h.get(WEB_PROD, Some(DEV_TOKEN)).await?;
    assert_eq!(code, 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_from_a_file_and_ambiguous_apps() -> Result<()> {
    let mut setup = Setup::default();
    setup
        .repos
        .push(("acme/other", vec![(".gantry.yaml", GANTRY_YAML.to_owned())]));
    setup.tweak = Box::new(|c, dir| {
        let p = dir.join("rbac.yaml");
        std::fs::write(&p, RULES).ok();
        c.rbac = gantry_api::config::RbacSource::File(p);
    });
    let h = Harness::start(setup).await?;
    let (code, body) = h.get(WEB_DEV, Some(IDP_TOKEN)).await?;
    assert_eq!(
        (code, body["error"].as_str()),
        (409, Some("ambiguous_app")),
        "{body}"
    );
    let (code, body) = h
        .get(&format!("{WEB_DEV}?repository=acme/other"), Some(IDP_TOKEN))
        .await?;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["repository"], "acme/other");
    let (code, body) = h.get("/api/v1/apps", Some(DEV_TOKEN)).await?;
    assert_eq!(code, 200);
    assert_eq!(body["apps"].as_array().map(Vec::len), Some(2), "{body}");
    let (code, body) = h.get("/readyz", None).await?;
    assert_eq!(code, 200);
    assert!(
        body["rbac"]["origin"]
            .as_str()
            .is_some_and(|o| o.starts_with("file:"))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn state_and_audit_records_show_in_the_reads() -> Result<()> {
    let h = Harness::start(Setup::default()).await?;
    let js = jetstream::new(async_nats::connect(h.nats.url()).await?);
    // What a reconciler writes: the applied state and its audit records.
    let store =
        gantry_reconciler::state::StateStore::open(&js, "w1", Duration::from_secs(30)).await?;
    let sha = "89abcdef0123456789abcdef0123456789abcdef";
    store
        .put(
            &gantry_reconciler::state::EnvKey::new("acme/platform", "web", "dev"),
            &gantry_reconciler::state::EnvState {
                revision: sha.to_owned(),
                repository: "acme/platform".to_owned(),
                reported: Some(gantry_reconciler::state::Reported {
                    state: gantry_reconciler::state::CommitState::Success,
                    description: "deployed".to_owned(),
                    posted_by: String::new(),
                }),
                applied_at: 1_700_000_000,
                ..Default::default()
            },
        )
        .await?;
    let auditor = gantry_reconciler::audit::Auditor::new(js.clone(), "w1");
    let cx = gantry_reconciler::audit::Context {
        repository: "acme/platform".to_owned(),
        revision: sha.to_owned(),
        ..Default::default()
    };
    auditor
        .record(
            &cx,
            gantry_reconciler::audit::Entry {
                app: "web",
                environment: "dev",
                phase: v1::Phase::Verify,
                outcome: v1::Outcome::Succeeded,
                message: "healthy".to_owned(),
                ..Default::default()
            },
        )
        .await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let (code, body) = h.get(WEB_DEV, Some(DEV_TOKEN)).await?;
        assert_eq!(code, 200, "{body}");
        if body["last_outcome"]["outcome"] == "succeeded" {
            break body;
        }
        if Instant::now() > deadline {
            bail!("the audit record never showed: {body}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(body["revision"], sha);
    assert_eq!(body["health"], "healthy");
    assert_eq!(body["last_outcome"]["phase"], "verify");
    let audit = body["audit"].as_array().cloned().unwrap_or_default();
    assert!(
        audit
            .iter()
            .any(|r| r["phase"] == "PHASE_VERIFY" || r["phase"] == "verify"),
        "{body}"
    );
    Ok(())
}
