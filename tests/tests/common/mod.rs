//! Starts a real nats-server and the receiver in-process, and sends signed deliveries to it.
#![allow(dead_code)]

use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_nats::jetstream;
use gantry_receiver::Config;
use gantry_tests::NatsServer;
use tokio::sync::oneshot;

pub const SECRET: &str = "test-secret";

/// A receiver running in this process against its own nats-server.
pub struct Receiver {
    pub nats: NatsServer,
    pub base: String,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<Result<(), gantry_receiver::Error>>>,
}

pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

impl Receiver {
    pub async fn start() -> Result<Receiver> {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Result<Receiver> {
        let nats = NatsServer::start()?;
        Self::start_on(nats, tweak).await
    }

    pub async fn start_on(nats: NatsServer, tweak: impl FnOnce(&mut Config)) -> Result<Receiver> {
        let r = Self::start_unready(nats, tweak)?;
        r.wait_ready().await?;
        Ok(r)
    }

    /// Starts the receiver without waiting for it to become ready.
    pub fn start_unready(nats: NatsServer, tweak: impl FnOnce(&mut Config)) -> Result<Receiver> {
        let mut config = Config::for_tests(&nats.url(), SECRET);
        tweak(&mut config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let base = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(gantry_receiver::run(listener, config, async move {
            let _ = rx.await;
        }));
        Ok(Receiver {
            nats,
            base,
            http: http_client(),
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    pub async fn wait_ready(&self) -> Result<()> {
        for _ in 0..300 {
            if let Ok(r) = self.http.get(format!("{}/readyz", self.base)).send().await
                && r.status() == 200
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the receiver did not become ready within 15s")
    }

    /// Stops the receiver gracefully and waits for it.
    pub async fn shutdown(&mut self) -> Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await??;
        }
        Ok(())
    }

    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub async fn js(&self) -> Result<jetstream::Context> {
        let c = async_nats::connect(self.nats.url()).await?;
        Ok(jetstream::new(c))
    }

    /// A request to `path` signed the way `provider` signs, with `event` and `delivery` headers.
    pub fn delivery(
        &self,
        provider: &str,
        event: &str,
        delivery: &str,
        body: Vec<u8>,
    ) -> reqwest::RequestBuilder {
        let url = format!("{}/webhooks/{provider}", self.base);
        let mut rb = self
            .http
            .post(url)
            .header("Content-Type", "application/json");
        rb = match provider {
            "gitea" => rb
                .header("X-Gitea-Event", event)
                .header("X-Gitea-Delivery", delivery)
                .header("X-GitHub-Event", event)
                .header("X-GitHub-Delivery", delivery)
                .header(
                    "X-Gitea-Signature",
                    gantry_tests::hmac_hex(SECRET.as_bytes(), &body),
                )
                .header(
                    "X-Hub-Signature-256",
                    gantry_tests::github_signature(SECRET.as_bytes(), &body),
                ),
            _ => rb
                .header("X-GitHub-Event", event)
                .header("X-GitHub-Delivery", delivery)
                .header(
                    "X-Hub-Signature-256",
                    gantry_tests::github_signature(SECRET.as_bytes(), &body),
                ),
        };
        rb.body(body)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// The stored message with `seq`, decoded.
pub async fn stored(
    js: &jetstream::Context,
    seq: u64,
) -> Result<(gantry_proto::v1::Event, async_nats::HeaderMap, String)> {
    use prost::Message;
    let stream = js.get_stream(gantry_nats::EVENTS_STREAM).await?;
    let m = stream
        .get_raw_message(seq)
        .await
        .with_context(|| format!("message {seq}"))?;
    let event = gantry_proto::v1::Event::decode(m.payload.as_ref())?;
    Ok((event, m.headers, m.subject.to_string()))
}

pub async fn stream_count(js: &jetstream::Context) -> Result<u64> {
    let mut s = js.get_stream(gantry_nats::EVENTS_STREAM).await?;
    Ok(s.info().await?.state.messages)
}

pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
