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
}

impl NatsServer {
    /// Starts a server and waits until it accepts connections.
    pub fn start() -> Result<Self> {
        let store = tempfile::tempdir().context("creating the JetStream store directory")?;
        let port = free_port()?;
        let mut server = NatsServer {
            child: None,
            port,
            store,
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
        let bin = nats_server_bin();
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
