//! Running a Gantry binary in a test: waiting until it serves (a port, an HTTP answer, a line it
//! prints), the answers every binary owes to bad options and to a nats-server older than 2.10,
//! and an HTTP server that captures what a binary sends (an OTLP/HTTP collector's stand-in).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::workspace_root;

/// Calls `probe` every 50 ms until it gives a value, for at most `within`; fails naming `what`
/// after that.
pub fn poll<T>(what: &str, within: Duration, mut probe: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("no {what} within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// [`poll`] on behalf of `child`: fails at once when the child exits first, and kills it when
/// the time runs out, so a failing test leaves no process behind.
pub fn wait_for<T>(
    child: &mut Child,
    what: &str,
    within: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Result<T> {
    let mut exited = None;
    let found = poll(what, within, || {
        if let Some(v) = probe() {
            return Some(Some(v));
        }
        exited = child.try_wait().ok().flatten();
        exited.map(|_| None)
    });
    match found {
        Ok(Some(v)) => Ok(v),
        Ok(None) => bail!(
            "pid {} exited ({}) before {what}",
            child.id(),
            exited.map(|s| s.to_string()).unwrap_or_default()
        ),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

/// Waits until `child` accepts connections on 127.0.0.1:`port`.
pub fn wait_listening(child: &mut Child, port: u16, within: Duration) -> Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for(child, &format!("listener on {addr}"), within, || {
        TcpStream::connect(addr).ok().map(drop)
    })
}

/// Waits until `child` speaks NATS on 127.0.0.1:`port`: a connection is greeted with `INFO`.
/// A bare TCP accept was not enough: a full run once saw a client's first connection to a
/// server that had just accepted the probe reset by the peer.
pub fn wait_nats(child: &mut Child, port: u16, within: Duration) -> Result<()> {
    wait_for(
        child,
        &format!("a NATS greeting on 127.0.0.1:{port}"),
        within,
        || nats_greets(port).then_some(()),
    )
}

/// Whether a connection to 127.0.0.1:`port` is greeted with NATS's `INFO`.
pub fn nats_greets(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let greeting = || -> Option<bool> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
        s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
        let mut head = [0u8; 5];
        s.read_exact(&mut head).ok()?;
        Some(&head == b"INFO ")
    };
    greeting().unwrap_or(false)
}

/// Waits until `child` answers `GET path` on 127.0.0.1:`port` with `status`.
pub fn wait_http_status(
    child: &mut Child,
    port: u16,
    path: &str,
    status: u16,
    within: Duration,
) -> Result<()> {
    wait_for(child, &format!("{status} to GET {path}"), within, || {
        (http_status(port, path) == Some(status)).then_some(())
    })
}

/// The status code of `GET path` on 127.0.0.1:`port`, over HTTP/1.0 so the answer ends with
/// the connection.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Sends `request` (a whole HTTP/1.1 request that says `Connection: close`) to 127.0.0.1:`port`
/// and gives the whole answer; None when the port does not answer.
pub fn http_exchange(port: u16, request: &[u8]) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(request).ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// Reads `from` (a child's piped stdout or stderr) up to the first line for which `found` holds
/// and gives that line, or None when the stream ends first. The rest is drained on a thread, so
/// the child never blocks on a full pipe.
pub fn read_until_line(
    from: impl Read + Send + 'static,
    mut found: impl FnMut(&str) -> bool,
) -> Option<String> {
    let mut lines = BufReader::new(from).lines();
    let line = lines.by_ref().map_while(Result::ok).find(|l| found(l));
    std::thread::spawn(move || lines.for_each(drop));
    line
}

/// The tool `name` from `.tools/venv/bin` (where `scripts/tools.sh` installs nats-server,
/// kubectl and Python), else whatever `PATH` has under that name.
pub fn tool(name: &str) -> PathBuf {
    let installed = tools_bin().join(name);
    if installed.exists() {
        installed
    } else {
        PathBuf::from(name)
    }
}

/// `.tools/venv/bin`, where `scripts/tools.sh` installs the tools tests run.
pub fn tools_bin() -> PathBuf {
    workspace_root().join(".tools/venv/bin")
}

/// Runs the real kubectl ([`tool`]) with `kubeconfig`; gives its stdout, trimmed, or fails
/// with its stderr.
pub fn kubectl(kubeconfig: impl AsRef<OsStr>, args: &[&str]) -> Result<String> {
    let out = Command::new(tool("kubectl"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .context("running kubectl (scripts/tools.sh installs it)")?;
    ensure!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// One bad invocation of a binary: its flags, its whole environment, and the key its one-line
/// error must name.
pub type UsageCase<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);

/// Runs `bin` once per case, with the case's environment only, and checks that each exits 64
/// with exactly one line on stderr, naming the case's key.
pub fn assert_usage_errors(bin: impl AsRef<OsStr>, cases: &[UsageCase]) -> Result<()> {
    for (args, env, key) in cases {
        let out = Command::new(bin.as_ref())
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        ensure!(
            out.status.code() == Some(64),
            "{args:?} {env:?}: exit {:?}, not 64: {err}",
            out.status.code()
        );
        ensure!(
            err.trim_end().lines().count() == 1,
            "{args:?}: one line expected, got {err:?}"
        );
        ensure!(err.contains(key), "{args:?}: {err:?} does not name {key}");
    }
    Ok(())
}

/// The version the nats-server at `bin` reports, e.g. `2.9.10`.
pub fn nats_server_version(bin: &Path) -> Result<String> {
    let out = Command::new(bin)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", bin.display()))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .trim_start_matches('v')
        .to_owned())
}

/// Checks how a Gantry binary refuses a nats-server older than 2.10: `child` (spawned with
/// stderr piped) exits 69 within 60 s, with exactly one stderr line naming the server's
/// `version` and "2.10 or newer".
pub fn assert_refuses_old_nats(child: Child, version: &str) -> Result<()> {
    let (status, err) = crate::exit_within(child, Duration::from_secs(60))?;
    ensure!(status.code() == Some(69), "exit {status}, not 69: {err}");
    let naming = err
        .lines()
        .filter(|l| l.contains(version) && l.contains("2.10 or newer"))
        .count();
    ensure!(naming == 1, "one line naming {version} and 2.10: {err}");
    Ok(())
}

/// One request [`capture_http`] received: its path and its body.
pub type Captured = (String, Vec<u8>);

/// A one-thread HTTP server on 127.0.0.1 that answers 200 to every request and sends each
/// request's path and body (as much as `Content-Length` says) to the channel: enough to stand in
/// for an OTLP/HTTP collector. Returns its base URL.
pub fn capture_http() -> Result<(String, mpsc::Receiver<Captured>)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 16 * 1024];
            let (head_end, len) = loop {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break (0, 0),
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    break (i + 4, len);
                }
            };
            if head_end == 0 {
                continue;
            }
            while buf.len() < head_end + len {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
            let end = buf.len().min(head_end + len);
            if tx.send((path, buf[head_end..end].to_vec())).is_err() {
                return;
            }
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    Ok((url, rx))
}
