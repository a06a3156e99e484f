//! The reconciler on a NATS cluster: `--nats-replicas` reaches every stream, the state bucket and
//! the durable consumer it creates; what exists with other replicas is reported, never changed.

mod common;

use std::time::Duration;

use anyhow::{Result, bail};
use async_nats::jetstream;
use common::{TOKEN, init_logs};
use gantry_reconciler::Config;
use gantry_reconciler::config::{Forge, ForgeKind};
use gantry_tests::NatsCluster;
use tokio::sync::oneshot;

/// A worker's config against `url` that never reaches a forge or a cluster (no event arrives).
fn idle_config(url: &str, data: &std::path::Path, replicas: usize) -> Config {
    let mut c = Config::for_tests(
        url,
        data,
        Forge {
            name: "github".into(),
            kind: ForgeKind::Github,
            api_url: "http://127.0.0.1:9".into(),
            token: TOKEN.into(),
            app: None,
        },
        String::new(),
    );
    c.nats_replicas = replicas;
    c
}

/// Runs a worker until it is ready; returns its stop handle and task.
async fn ready_worker(
    config: Config,
) -> Result<(
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), gantry_reconciler::Error>>,
)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(gantry_reconciler::run(listener, config, async move {
        let _ = rx.await;
    }));
    let http = reqwest::Client::new();
    for _ in 0..400 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return Ok((tx, task));
        }
        if task.is_finished() {
            bail!("the worker stopped: {:?}", task.await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the worker did not become ready")
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_reach_every_stream_the_bucket_and_the_consumer() -> Result<()> {
    init_logs();
    let cluster = NatsCluster::start(3)?;
    let data = tempfile::tempdir()?;
    let (stop, task) = ready_worker(idle_config(&cluster.url(), data.path(), 3)).await?;

    let js = jetstream::new(async_nats::connect(cluster.urls()).await?);
    for name in [
        gantry_nats::EVENTS_STREAM,
        gantry_nats::AUDIT_STREAM,
        gantry_nats::DLQ_STREAM,
        gantry_nats::STATE_BUCKET_STREAM,
    ] {
        let mut s = js.get_stream(name).await?;
        let info = s.info().await?;
        assert_eq!(info.config.num_replicas, 3, "{name}");
    }
    let stream = js.get_stream(gantry_nats::EVENTS_STREAM).await?;
    let mut consumer: jetstream::consumer::PullConsumer = stream
        .get_consumer(gantry_nats::RECONCILER_CONSUMER)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let info = consumer.info().await?;
    assert_eq!(info.config.num_replicas, 3);
    assert_eq!(
        info.cluster.as_ref().map(|c| c.replicas.len()),
        Some(2),
        "{:?}",
        info.cluster
    );
    let _ = stop.send(());
    task.await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_bucket_with_other_replicas_is_reported_and_used() -> Result<()> {
    init_logs();
    let cluster = NatsCluster::start(3)?;
    let js = jetstream::new(async_nats::connect(cluster.urls()).await?);
    let (_, created) = gantry_nats::ensure_state_bucket(&js, 1).await?;
    assert_eq!(created, gantry_nats::StreamStatus::Created);
    let (kv, found) = gantry_nats::ensure_state_bucket(&js, 3).await?;
    assert_eq!(
        found,
        gantry_nats::StreamStatus::Differs(vec![
            "replicas: server has 1, Gantry expects 3".to_owned()
        ])
    );
    kv.put("probe", "x".into()).await?;
    let mut s = js.get_stream(gantry_nats::STATE_BUCKET_STREAM).await?;
    assert_eq!(s.info().await?.config.num_replicas, 1);

    // A worker asked for 3 starts on it as it is.
    let data = tempfile::tempdir()?;
    let (stop, task) = ready_worker(idle_config(&cluster.url(), data.path(), 3)).await?;
    assert_eq!(s.info().await?.config.num_replicas, 1);
    let _ = stop.send(());
    task.await??;
    Ok(())
}
