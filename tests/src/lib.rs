//! The harness Gantry's tests share: a real `nats-server` per test, fixtures, and webhook signing.
//!
//! Like async-nats's own test harness, every test starts its own server on a free port with a
//! temporary store, and the server is killed when the handle drops, so tests run anywhere and in
//! parallel without sharing state.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Names the `nats-server` binary to use; otherwise `.tools/venv/bin`, then `PATH`.
pub const NATS_SERVER_BIN_ENV: &str = "GANTRY_NATS_SERVER_BIN";

/// A `nats-server` with JetStream on a free loopback port, killed on drop.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
    bin: PathBuf,
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
        let store = tempfile::tempdir().context("creating the JetStream store directory")?;
        let port = free_port()?;
        let mut server = NatsServer {
            child: None,
            port,
            store,
            bin,
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
        let child = Command::new(&bin)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store.path())
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
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline {
                bail!("nats-server did not listen on {addr} within 15s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
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
    let tools = workspace_root().join(".tools/venv/bin/nats-server");
    if tools.exists() {
        return tools;
    }
    PathBuf::from("nats-server")
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

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> Result<u16> {
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

/// `../shared/fixtures` beside the checkout.
pub fn shared_fixtures() -> PathBuf {
    workspace_root().join("../shared/fixtures")
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
