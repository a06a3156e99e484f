//! The harness Gantry's tests share: a real `nats-server` per test, fixtures, webhook signing,
//! and throw-away Git repositories.
//!
//! Like async-nats's own test harness, every test starts its own server on a free port with a
//! temporary store, and the server is killed when the handle drops, so tests run anywhere and in
//! parallel without sharing state.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hmac::{Hmac, Mac};
use sha2::Sha256;

mod git;
mod process;
mod short_strings;
pub use git::{GitRepo, configmap, git_in, init_logs};
pub use process::{
    Captured, UsageCase, assert_refuses_old_nats, assert_usage_errors, capture_http, http_exchange,
    http_status, kubectl, nats_greets, nats_server_version, poll, read_until_line, tool, tools_bin,
    wait_for, wait_http_status, wait_listening, wait_nats,
};
pub use short_strings::up_to;

/// Names the `nats-server` binary to use; otherwise `.tools/venv/bin`, then `PATH`.
pub const NATS_SERVER_BIN_ENV: &str = "GANTRY_NATS_SERVER_BIN";

/// A `nats-server` with JetStream on a free loopback port, killed on drop.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
    /// Flags beyond the port, JetStream and the store (a cluster member's name, routes, monitor).
    extra: Vec<String>,
    /// The HTTP monitoring port, when the server serves one.
    monitor: Option<u16>,
    bin: PathBuf,
    config: Option<PathBuf>,
}

/// Debian's own `nats-server` package (2.9.10 on Debian 12): older than Gantry supports, which
/// is what the version-refusal tests need.
pub const DEBIAN_NATS_SERVER: &str = "/usr/sbin/nats-server";

/// [`DEBIAN_NATS_SERVER`] when it is installed; otherwise prints why a test is skipped.
pub fn old_nats_server(test: &str) -> Option<PathBuf> {
    let p = PathBuf::from(DEBIAN_NATS_SERVER);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "{test}: skipped: {DEBIAN_NATS_SERVER} (Debian's nats-server 2.9) is not installed; `apt-get install nats-server` provides it"
        );
        None
    }
}

impl NatsServer {
    /// Starts a server and waits until it accepts connections.
    pub fn start() -> Result<Self> {
        Self::start_bin(nats_server_bin())
    }

    /// Starts the `nats-server` at `bin` (another version than the usual one).
    pub fn start_bin(bin: PathBuf) -> Result<Self> {
        Self::start_full(bin, None)
    }

    /// Starts a server with `config` as its configuration file (e.g. `max_payload: 2048`); the
    /// port, address and store still come from the command line.
    pub fn start_with_config(config: &str) -> Result<Self> {
        Self::start_full(nats_server_bin(), Some(config))
    }

    fn start_full(bin: PathBuf, config: Option<&str>) -> Result<Self> {
        let store = tempfile::tempdir().context("creating the JetStream store directory")?;
        let port = free_port()?;
        let config = match config {
            Some(text) => {
                let path = store.path().join("nats-server.conf");
                std::fs::write(&path, text).context("writing the nats-server configuration")?;
                Some(path)
            }
            None => None,
        };
        let mut server = NatsServer {
            child: None,
            port,
            store,
            extra: Vec::new(),
            monitor: None,
            bin,
            config,
        };
        server.spawn()?;
        Ok(server)
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on, kept across [`NatsServer::stop`] and [`NatsServer::restart`].
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server, keeping its store, to simulate an outage.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same store.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()
    }

    fn spawn(&mut self) -> Result<()> {
        let bin = self.bin.clone();
        let mut command = Command::new(&bin);
        if let Some(c) = &self.config {
            command.arg("-c").arg(c);
        }
        let mut child = command
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store.path())
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (install it with scripts/tools.sh)",
                    bin.display()
                )
            })?;
        wait_nats(&mut child, self.port, Duration::from_secs(15))
            .context("nats-server did not listen")?;
        self.child = Some(child);
        Ok(())
    }
}

/// A JetStream cluster of `nats-server` processes on loopback ports, each with its own store,
/// client, cluster and monitoring port, routed to all the others; every server is killed on drop.
///
/// Servers can be killed ([`NatsCluster::kill`]: SIGKILL, the store kept, as when a machine is
/// lost) and started again with the same name, ports and store ([`NatsCluster::restart`]).
#[derive(Debug)]
pub struct NatsCluster {
    servers: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts `n` servers and waits until every one serves clients and JetStream has a meta
    /// leader that all of them follow (each server's `/healthz` answers 200).
    pub fn start(n: usize) -> Result<Self> {
        let cluster_ports = (0..n).map(|_| free_port()).collect::<Result<Vec<_>>>()?;
        let cluster_name = format!("gantry-test-{}", std::process::id());
        let mut servers = Vec::with_capacity(n);
        for (i, &cport) in cluster_ports.iter().enumerate() {
            let routes: Vec<String> = cluster_ports
                .iter()
                .filter(|&&p| p != cport)
                .map(|p| format!("nats://127.0.0.1:{p}"))
                .collect();
            let monitor = free_port()?;
            let store = tempfile::tempdir().context("creating the JetStream store directory")?;
            servers.push(NatsServer {
                child: None,
                port: free_port()?,
                store,
                bin: nats_server_bin(),
                config: None,
                extra: vec![
                    "--server_name".to_owned(),
                    format!("n{}", i + 1),
                    "--cluster_name".to_owned(),
                    cluster_name.clone(),
                    "--cluster".to_owned(),
                    format!("nats://127.0.0.1:{cport}"),
                    "--routes".to_owned(),
                    routes.join(","),
                    "-m".to_owned(),
                    monitor.to_string(),
                ],
                monitor: Some(monitor),
            });
        }
        let mut cluster = NatsCluster { servers };
        for s in &mut cluster.servers {
            s.spawn()?;
        }
        // A bound, not a measurement: three servers electing a meta leader took over 30 s once
        // on a 2-core machine busy compiling.
        cluster.wait_healthy(Duration::from_secs(90))?;
        Ok(cluster)
    }

    /// Every server's URL, joined with commas as `--nats-url` takes them.
    pub fn url(&self) -> String {
        self.urls().join(",")
    }

    /// Each server's `nats://127.0.0.1:PORT`.
    pub fn urls(&self) -> Vec<String> {
        self.servers.iter().map(NatsServer::url).collect()
    }

    /// How many servers the cluster has.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// True for a cluster of no servers.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Server `i`.
    pub fn server(&self, i: usize) -> &NatsServer {
        &self.servers[i]
    }

    /// Kills server `i` with SIGKILL, keeping its store.
    pub fn kill(&mut self, i: usize) {
        self.servers[i].stop();
    }

    /// Starts server `i` again with its name, ports and store; it rejoins the cluster and
    /// catches up on what it missed. Waits until it serves clients (not until it caught up).
    pub fn restart(&mut self, i: usize) -> Result<()> {
        self.servers[i].restart()
    }

    /// True while server `i` runs.
    pub fn running(&self, i: usize) -> bool {
        self.servers[i].child.is_some()
    }

    /// Waits until every running server's `/healthz` answers 200: JetStream enabled, a meta
    /// leader known, the server's streams and consumers current.
    pub fn wait_healthy(&self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        for s in self.servers.iter().filter(|s| s.child.is_some()) {
            let left = deadline.saturating_duration_since(Instant::now());
            poll(
                &format!("healthy nats-server on port {}", s.port),
                left,
                || s.healthy().then_some(()),
            )?;
        }
        Ok(())
    }
}

impl NatsServer {
    /// True when the server's monitoring endpoint answers `/healthz` with 200 (a server without
    /// one: when it greets a client, as [`NatsServer::start`] waits for).
    pub fn healthy(&self) -> bool {
        let Some(port) = self.monitor else {
            return nats_greets(self.port);
        };
        http_status(port, "/healthz") == Some(200)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `nats-server` binary: `$GANTRY_NATS_SERVER_BIN`, else the one `scripts/tools.sh`
/// installed, else whatever `PATH` has.
pub fn nats_server_bin() -> PathBuf {
    if let Some(p) = std::env::var_os(NATS_SERVER_BIN_ENV) {
        return PathBuf::from(p);
    }
    tool("nats-server")
}

/// Sends SIGTERM to `child` and waits for it to exit, for at most `bound`; gives its exit status
/// and how long it took. Waiting happens on a thread blocked in `wait`, so the answer comes the
/// moment the process exits (an event, not a poll). A child still running at `bound` is killed
/// and reported as an error.
pub fn terminate_within(
    mut child: Child,
    bound: Duration,
) -> Result<(std::process::ExitStatus, Duration)> {
    let pid = child.id();
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let term = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .context("running kill -TERM")?;
    if !term.success() {
        bail!("kill -TERM {pid} failed");
    }
    match rx.recv_timeout(bound) {
        Ok(status) => Ok((status.context("waiting for the child")?, started.elapsed())),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            bail!("pid {pid} did not exit within {bound:?} of SIGTERM")
        }
    }
}

/// Waits for `child` to exit on its own, for at most `bound` (killed after that); gives its
/// exit status and everything it wrote to stderr, when stderr was piped.
pub fn exit_within(
    mut child: Child,
    bound: Duration,
) -> Result<(std::process::ExitStatus, String)> {
    let pid = child.id();
    let stderr = child.stderr.take();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut err = String::new();
        if let Some(mut s) = stderr {
            let _ = std::io::Read::read_to_string(&mut s, &mut err);
        }
        let _ = tx.send((child.wait(), err));
    });
    match rx.recv_timeout(bound) {
        Ok((status, err)) => Ok((status.context("waiting for the child")?, err)),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            bail!("pid {pid} did not exit within {bound:?}")
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1, below the kernel's ephemeral range when
/// there is room: a port from that range can be taken, between this probe and the server's
/// own bind, by any outgoing connection (a NATS cluster's routes, a test's HTTP client), and the
/// server then fails to start. Each call in a process gets another port.
pub fn free_port() -> Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOWEST: u32 = 10_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok());
    if let Some(low) = ephemeral_low.filter(|&l| l > LOWEST + 1_000) {
        let span = low - LOWEST;
        // Processes that run at once (nextest) start far apart.
        let start = std::process::id().wrapping_mul(7_919) % span;
        for _ in 0..span.min(2_000) {
            let port = LOWEST + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
            let port = u16::try_from(port).context("a port below the ephemeral range")?;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    let l = TcpListener::bind("127.0.0.1:0").context("binding a probe socket")?;
    Ok(l.local_addr()?.port())
}

/// The workspace root (the folder holding the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `shared/` beside the checkout: the conformance fixtures (`shared/fixtures`, described by its
/// README.md) and the contract (`shared/spec/contract.md`). They are not in this repository: the
/// project's steering repository lays them beside every developer's checkout and CI's clone.
pub fn shared_dir() -> PathBuf {
    let root = workspace_root();
    root.parent()
        .map_or_else(|| root.join(".."), Path::to_path_buf)
        .join("shared")
}

/// `shared/<rel>` beside the checkout, or, when it is missing, an error naming the full path,
/// `what` lives there, and where `shared/` comes from: a test that needs shared data says so
/// instead of failing with a bare `No such file or directory`.
pub fn shared_path(rel: &str, what: &str) -> Result<PathBuf> {
    let p = shared_dir().join(rel);
    if p.exists() {
        return Ok(p);
    }
    bail!(
        "{} is missing: it holds {what}. shared/ lies beside the checkout ({}); it is not in \
         this repository but laid there, with the contract in shared/spec, for every checkout \
         and CI clone",
        p.display(),
        shared_dir().display()
    )
}

/// `shared/fixtures/<rel>` (see [`shared_path`]).
pub fn shared_fixture(rel: &str, what: &str) -> Result<PathBuf> {
    shared_path(&format!("fixtures/{rel}"), what)
}

/// The folder of `@octokit/webhooks-examples` that `scripts/tools.sh` installs.
pub fn octokit_examples() -> PathBuf {
    workspace_root().join(".tools/node_modules/@octokit/webhooks-examples")
}

/// `sha256=<hex>`: the value of `X-Hub-Signature-256` for `body` under `secret`.
pub fn github_signature(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hmac_hex(secret, body))
}

/// Lower-case hex HMAC-SHA256 of `body` under `secret` (Gitea's `X-Gitea-Signature`).
pub fn hmac_hex(secret: &[u8], body: &[u8]) -> String {
    // Hmac accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_shared_path_is_named_with_what_lives_there() {
        let err = shared_path("fixtures/no-such-folder", "the cases of a test")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let want = shared_dir().join("fixtures/no-such-folder");
        assert!(
            err.starts_with(&format!(
                "{} is missing: it holds the cases of a test.",
                want.display()
            )),
            "{err}"
        );
        assert!(!want.to_string_lossy().contains(".."), "{}", want.display());
    }
}
