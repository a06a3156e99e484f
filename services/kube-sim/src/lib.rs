//! An in-memory Kubernetes API server emulator that speaks the real wire protocol, so that
//! kube-rs and kubectl work against it unmodified. See the crate README for what it covers.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

mod controllers;
mod defaults;
mod discovery;
mod endpoints;
mod events;
mod fieldpath;
mod managed;
mod openapi;
mod patch;
mod proto;
mod registry;
mod schema;
mod seed;
mod selector;
mod server;
mod status;
mod store;
mod tables;

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a pod takes to start (and a PVC to bind, a Job to finish) in the simulated cluster.
    pub ready_delay: Duration,
    /// How often the simulated controllers look at the cluster.
    pub controller_interval: Duration,
    /// Run the simulated workload controllers (pods, rollouts, jobs, volumes). Off, objects stay as
    /// written; namespace termination and garbage collection still run, as they are part of the API's contract.
    pub controllers: bool,
    /// How many changes watches can resume across; an older resourceVersion gets 410 Gone.
    pub event_history: usize,
    /// Load state from this file at start (when it exists) and save it there on shutdown and periodically.
    pub snapshot: Option<PathBuf>,
    /// How often to save the snapshot while running.
    pub snapshot_interval: Duration,
    /// Counts every request served, for benchmarks that measure what a client costs the API
    /// server.
    pub request_counter: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ready_delay: Duration::from_secs(1),
            controller_interval: Duration::from_millis(100),
            controllers: true,
            event_history: 10_000,
            snapshot: None,
            snapshot_interval: Duration::from_secs(5),
            request_counter: None,
        }
    }
}

/// What can stop the emulator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("serving the API failed")]
    Serve(#[source] std::io::Error),
    #[error("reading or writing {0}")]
    Io(PathBuf, #[source] std::io::Error),
    #[error("snapshot {0} is not usable: {1}")]
    Snapshot(PathBuf, String),
    #[error("the emulator task failed")]
    Join(#[source] tokio::task::JoinError),
}

/// A kubeconfig that points kubectl and kube-rs at an emulator listening on `addr` (plain HTTP).
pub fn kubeconfig(addr: SocketAddr) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-sim\n  cluster:\n    server: http://{addr}\ncontexts:\n- name: kube-sim\n  context:\n    cluster: kube-sim\n    user: kube-sim\n    namespace: default\ncurrent-context: kube-sim\nusers:\n- name: kube-sim\n  user: {{}}\npreferences: {{}}\n"
    )
}

/// Serves the Kubernetes API on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let addr = listener.local_addr().map_err(Error::Serve)?;
    let store = store::Store::new(config.event_history);
    {
        let mut inner = store.lock();
        match &config.snapshot {
            Some(path) if path.exists() => inner.load(path)?,
            _ => seed::seed(&mut inner),
        }
    }
    let cancel = CancellationToken::new();
    let app = Arc::new(server::App {
        store,
        config: config.clone(),
        cancel: cancel.clone(),
        addr: addr.to_string(),
    });
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(controllers::run(app.clone())));
    if let Some(path) = config.snapshot.clone() {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut saved = app.store.lock().rv;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(app.config.snapshot_interval) => {}
                    _ = app.cancel.cancelled() => return,
                }
                let inner = app.store.lock();
                if inner.rv != saved {
                    match inner.save(&path) {
                        Ok(()) => saved = inner.rv,
                        Err(e) => tracing::warn!(error = %e, "saving the snapshot failed"),
                    }
                }
            }
        }));
    }
    let mut router = axum::Router::new()
        .fallback(server::handle)
        .with_state(app.clone());
    if let Some(counter) = config.request_counter.clone() {
        router = router.layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                next.run(req)
            },
        ));
    }
    let stop = cancel.clone();
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            stop.cancel();
        })
        .await;
    cancel.cancel();
    for t in tasks {
        let _ = t.await;
    }
    if let Some(path) = &config.snapshot {
        app.store.lock().save(path)?;
    }
    served.map_err(Error::Serve)
}

/// An emulator running in this process on 127.0.0.1, for tests and `gantry up`.
/// Dropping it stops the server.
#[derive(Debug)]
pub struct KubeSim {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), Error>>>,
}

impl KubeSim {
    /// Starts an emulator on a free port of 127.0.0.1.
    pub async fn start(config: Config) -> Result<Self, Error> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::Serve)?;
        let addr = listener.local_addr().map_err(Error::Serve)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, config, async move {
            let _ = stopped.await;
        }));
        Ok(KubeSim {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig for this emulator.
    pub fn kubeconfig(&self) -> String {
        kubeconfig(self.addr)
    }

    /// Stops the server and waits for it (and its final snapshot).
    pub async fn stop(mut self) -> Result<(), Error> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.task.take() {
            Some(t) => t.await.map_err(Error::Join)?,
            None => Ok(()),
        }
    }
}

impl Drop for KubeSim {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}
