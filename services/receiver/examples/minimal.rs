//! The least a webhook receiver on this stack can do, to measure against: actix-web, HMAC-SHA256
//! over the body, one JetStream publish per request awaited for its ack on a NATS connection per
//! HTTP worker, `202` with a fixed body. No JSON parsing, no event, no metrics, no logging.
//!
//! `cargo build --release -p gantry-receiver --example minimal`, then
//! `target/release/examples/minimal 127.0.0.1:8090 nats://127.0.0.1:4222 SECRET` and the same wrk
//! script as the receiver (README, "Performance"): the gap between the two is what Gantry's own
//! work (parsing, normalising, headers, metrics) costs; the gap between this and `/healthz` is
//! what HMAC and a stored publish cost.

use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{Hmac, Mac};
use sha2::Sha256;

struct Shared {
    secret: Vec<u8>,
    n: AtomicU64,
}

async fn hook(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
    js: web::Data<async_nats::jetstream::Context>,
) -> HttpResponse {
    let sig = req
        .headers()
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|v| hex::decode(v).ok());
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&shared.secret) else {
        return HttpResponse::InternalServerError().finish();
    };
    mac.update(&body);
    if sig.is_none_or(|s| mac.verify_slice(&s).is_err()) {
        return HttpResponse::Unauthorized().finish();
    }
    let n = shared.n.fetch_add(1, Ordering::Relaxed);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        "Nats-Msg-Id",
        format!("minimal:{n}:{}", std::process::id()).as_str(),
    );
    let ack = async {
        js.publish_with_headers("gantry.events.minimal.acme.app.push", headers, body)
            .await?
            .await
    };
    match ack.await {
        Ok(a) => HttpResponse::Accepted()
            .content_type("application/json")
            .body(format!("{{\"stream_sequence\":{}}}", a.sequence)),
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8090".to_owned());
    let nats = args
        .next()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned());
    let secret = args.next().unwrap_or_default().into_bytes();
    let shared = web::Data::new(Shared {
        secret,
        n: AtomicU64::new(0),
    });
    HttpServer::new(move || {
        let nats = nats.clone();
        App::new()
            .app_data(shared.clone())
            .app_data(web::PayloadConfig::new(26_214_400))
            .data_factory(move || {
                let nats = nats.clone();
                async move {
                    let client = async_nats::connect(nats).await?;
                    Ok::<_, async_nats::ConnectError>(async_nats::jetstream::new(client))
                }
            })
            .route("/webhooks/github", web::post().to(hook))
            .route("/healthz", web::get().to(healthz))
    })
    .bind(listen)?
    .run()
    .await
}
