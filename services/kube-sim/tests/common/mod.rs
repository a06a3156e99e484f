//! Starting an emulator and a kube-rs client for it.
#![allow(dead_code)]

pub mod kubectl;

use std::time::Duration;

use gantry_kube_sim::{Config, KubeSim};

pub async fn start(config: Config) -> anyhow::Result<(KubeSim, kube::Client)> {
    let sim = KubeSim::start(config).await?;
    let kc = kube::config::Kubeconfig::from_yaml(&sim.kubeconfig())?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await?;
    let client = kube::Client::try_from(cfg)?;
    Ok((sim, client))
}

/// No simulated controllers: objects stay exactly as written.
pub fn quiet() -> Config {
    Config {
        controllers: false,
        ..Config::default()
    }
}

/// Fast controllers, for health tests.
pub fn fast() -> Config {
    Config {
        ready_delay: Duration::from_millis(200),
        controller_interval: Duration::from_millis(20),
        ..Config::default()
    }
}

/// The API error inside a kube error, or a test failure.
pub fn api_err<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> Box<kube::core::Status> {
    match r {
        Err(kube::Error::Api(s)) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Polls `f` until it returns Some or the deadline passes.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
