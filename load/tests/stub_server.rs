//! Runs the generator briefly against an in-process stub of the receiver's HTTP contract, so the
//! whole send path (payloads, signing, pacing, counting, histograms) runs in CI in a second or
//! two. Asserts what was sent and counted, never how fast.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gantry_load::driver::{self, ClientKind, Load, Plan, Target};
use gantry_load::payload::{self, DeliveryIds, MAX_BODY, MIN_BODY};
use gantry_load::{SendArgs, send};
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use tokio::net::TcpListener;

const SECRET: &str = "stub-secret";

/// What the stub saw.
#[derive(Default)]
struct Seen {
    deliveries: Mutex<HashSet<String>>,
    accepted: AtomicU64,
    refused: AtomicU64,
    bad: Mutex<Vec<String>>,
    gets: AtomicU64,
}

/// Like the receiver: verifies the signature and headers, answers 202 with the contract's body,
/// except every 7th webhook, which gets a 503 as when NATS is down.
async fn handle(
    seen: Arc<Seen>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() == hyper::Method::GET && req.uri().path() == "/healthz" {
        seen.gets.fetch_add(1, Ordering::Relaxed);
        return Ok(Response::new(Full::new(Bytes::from_static(b"ok"))));
    }
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (event, delivery, signature, ctype) = (
        header("x-github-event"),
        header("x-github-delivery"),
        header("x-hub-signature-256"),
        header("content-type"),
    );
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            seen.bad.lock().expect("lock").push(format!("body: {e}"));
            return Ok(status(400, "{}"));
        }
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(&body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let mut problems = Vec::new();
    if signature != expected {
        problems.push("signature");
    }
    if event != "push" {
        problems.push("event");
    }
    if ctype != "application/json" {
        problems.push("content-type");
    }
    if !(MIN_BODY..=MAX_BODY).contains(&body.len()) {
        problems.push("size");
    }
    if serde_json::from_slice::<serde_json::Value>(&body).is_err() {
        problems.push("json");
    }
    if !seen
        .deliveries
        .lock()
        .expect("lock")
        .insert(delivery.clone())
    {
        problems.push("repeated delivery id");
    }
    if !problems.is_empty() {
        seen.bad.lock().expect("lock").push(problems.join(", "));
        return Ok(status(401, "{}"));
    }
    let n = seen.accepted.load(Ordering::Relaxed) + seen.refused.load(Ordering::Relaxed);
    if n % 7 == 6 {
        seen.refused.fetch_add(1, Ordering::Relaxed);
        return Ok(status(
            503,
            r#"{"error":"nats_unavailable","message":"down"}"#,
        ));
    }
    seen.accepted.fetch_add(1, Ordering::Relaxed);
    let answer = format!(
        r#"{{"delivery":"{delivery}","subject":"gantry.events.github.acme.platform.push","stream_sequence":{n},"duplicate":false}}"#
    );
    Ok(status(202, &answer))
}

fn status(code: u16, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())));
    *r.status_mut() = hyper::StatusCode::from_u16(code).expect("valid code");
    r
}

async fn stub() -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Seen::default());
    let state = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let state = state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

fn args(addr: SocketAddr) -> SendArgs {
    SendArgs {
        url: format!("http://{addr}/webhooks/github"),
        secret: Some(format!("{SECRET},an-older-secret")),
        get: false,
        rate: None,
        concurrency: 8,
        duration: Some(Duration::from_secs(5)),
        requests: Some(300),
        warmup: Duration::ZERO,
        payloads: 32,
        seed: 3,
        request_timeout: Duration::from_secs(5),
        client: ClientKind::Hyper,
    }
}

#[tokio::test]
async fn closed_loop_sends_signed_unique_webhooks_and_counts_every_answer() {
    let (addr, seen) = stub().await;
    let outcome = send(&args(addr)).await.expect("send");

    assert_eq!(*seen.bad.lock().expect("lock"), Vec::<String>::new());
    assert_eq!(seen.deliveries.lock().expect("lock").len(), 300);
    assert_eq!(outcome.total(), 300);
    assert_eq!(outcome.ok, seen.accepted.load(Ordering::Relaxed));
    assert_eq!(outcome.non_2xx(), seen.refused.load(Ordering::Relaxed));
    assert_eq!(outcome.statuses.get(&503).copied(), Some(outcome.non_2xx()));
    assert!(outcome.non_2xx() > 0);
    assert_eq!(outcome.io_errors, 0);
    assert_eq!(outcome.duplicates, 0);
    assert_eq!(outcome.latency.len(), outcome.ok, "one latency per 2xx");
}

#[tokio::test]
async fn open_loop_sends_exactly_the_requested_count() {
    let (addr, seen) = stub().await;
    let mut a = args(addr);
    a.rate = Some(400.0);
    a.requests = Some(60);
    a.concurrency = 4;
    let outcome = send(&a).await.expect("send");
    assert_eq!(outcome.total(), 60);
    assert_eq!(seen.deliveries.lock().expect("lock").len(), 60);
    assert_eq!(*seen.bad.lock().expect("lock"), Vec::<String>::new());
}

#[tokio::test]
async fn reqwest_client_and_get_mode_work_too() {
    let (addr, seen) = stub().await;
    let target = Target::parse(&format!("http://{addr}/healthz")).expect("target");
    let plan = Plan {
        concurrency: 4,
        rate: None,
        duration: Duration::from_secs(5),
        requests: Some(40),
        request_timeout: Duration::from_secs(5),
    };
    for client in [ClientKind::Hyper, ClientKind::Reqwest] {
        let o = driver::run(&target, &Load::Get, &plan, client)
            .await
            .expect("run");
        assert_eq!((o.ok, o.non_2xx(), o.io_errors), (40, 0, 0), "{client:?}");
    }
    assert_eq!(seen.gets.load(Ordering::Relaxed), 80);

    let hooks = payload::generate(8, SECRET.as_bytes(), 9).expect("payloads");
    let load = Load::Webhooks {
        hooks: Arc::new(hooks),
        ids: Arc::new(DeliveryIds::new()),
    };
    let webhooks = target.with_path("/webhooks/github").expect("path");
    let o = driver::run(&webhooks, &load, &plan, ClientKind::Reqwest)
        .await
        .expect("run");
    assert_eq!(o.total(), 40);
    assert_eq!(*seen.bad.lock().expect("lock"), Vec::<String>::new());
}

#[tokio::test]
async fn a_dead_target_gives_errors_not_a_hang() {
    let port = gantry_tests::free_port().expect("port");
    let mut a = args(SocketAddr::from(([127, 0, 0, 1], port)));
    a.duration = Some(Duration::from_millis(300));
    a.requests = None;
    let outcome = send(&a).await.expect("send");
    assert_eq!(outcome.ok, 0);
    assert!(outcome.io_errors > 0);
}

#[tokio::test]
async fn other_hosts_and_missing_secrets_are_refused() {
    let mut a = args(SocketAddr::from(([127, 0, 0, 1], 9)));
    a.url = "http://192.168.0.10:8080/webhooks/github".into();
    assert!(send(&a).await.is_err());
    let mut b = args(SocketAddr::from(([127, 0, 0, 1], 9)));
    b.secret = None;
    assert!(send(&b).await.is_err());
}
