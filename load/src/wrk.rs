//! Drives `gantry-load bench`'s closed-loop HTTP phases with `wrk` when it is on `PATH`.
//!
//! wrk is a C client that spends far less CPU per request than any Rust client this crate can
//! build on two shared cores; with it the /healthz ceiling is the server's, not the generator's.
//! A Lua script sends signed pushes (a few of the generated bodies in turn, each request with its
//! own delivery id) and prints one line of figures at the end; wrk's own CPU time is read from
//! `/proc` once it has exited (a zombie's times are final), so the client's cost per request is
//! known and a saturated client is reported instead of silently capping the figures.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::AsyncReadExt;

use crate::payload::Webhook;
use crate::procstat;

/// The marker of the line the scripts' `done` prints.
const MARK: &str = "GANTRY-WRK";

/// Bodies a webhook script carries at most; more only makes the script bigger.
const MAX_BODIES: usize = 16;

/// What one wrk run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct WrkRun {
    /// Completed requests (any status).
    pub requests: u64,
    /// Answers with a status of 400 or more (wrk's `errors.status`).
    pub bad_status: u64,
    /// Connect, read and write errors and timeouts.
    pub errors: u64,
    /// The measured time.
    pub elapsed: Duration,
    /// p50, p90, p99, p99.9 and max, in microseconds.
    pub percentiles: [u64; 5],
    /// CPU time wrk used, user plus system.
    pub cpu: Option<Duration>,
    /// wrk's threads.
    pub threads: usize,
}

impl WrkRun {
    /// Answers below 400 per second.
    pub fn ok_per_second(&self) -> f64 {
        self.requests.saturating_sub(self.bad_status) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The client's CPU cores over the run.
    pub fn cores(&self) -> Option<f64> {
        Some(self.cpu?.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9))
    }

    /// The client's CPU time per request, in microseconds.
    pub fn cpu_per_request_us(&self) -> Option<f64> {
        (self.requests > 0).then(|| {
            self.cpu
                .map(|c| c.as_secs_f64() * 1e6 / self.requests as f64)
        })?
    }

    /// True when the client kept its threads busy (90% or more of each): the rate is then
    /// the client's ceiling, not the server's.
    pub fn saturated(&self) -> bool {
        self.cores()
            .is_some_and(|c| c >= 0.9 * self.threads.max(1) as f64)
    }
}

/// `wrk` on `PATH`, if any.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("wrk"))
        .find(|p| p.is_file())
}

/// The `done` function both scripts end with: one line with the figures this module reads.
fn done_function() -> String {
    format!(
        r#"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("{MARK} %d %d %d %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, 0))
end
"#
    )
}

/// A script for plain GETs.
pub fn get_script() -> String {
    done_function()
}

/// A script that posts `hooks` (the first few) in turn to `path`, signed, each request with a
/// delivery id of its own so that JetStream stores every one.
pub fn webhook_script(hooks: &[Webhook], path: &str) -> Result<String> {
    if hooks.is_empty() {
        bail!("no payloads to send");
    }
    let mut s = String::from("local bodies = {}\nlocal sigs = {}\n");
    for (i, h) in hooks.iter().take(MAX_BODIES).enumerate() {
        let sig = h.signature.to_str().context("a signature is not ASCII")?;
        let _ = writeln!(s, "bodies[{}] = {}", i + 1, lua_string(&h.body));
        let _ = writeln!(s, "sigs[{}] = \"{sig}\"", i + 1);
    }
    let _ = write!(
        s,
        r#"
local count = #bodies
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local n = 0
local prefix = nil
local headers = {{}}
headers["Content-Type"] = "application/json"
headers["X-GitHub-Event"] = "push"
request = function()
  if prefix == nil then
    math.randomseed(os.time() * 1000 + (tid or 0))
    prefix = string.format("wrk-%08x-%d-", math.random(0, 2147483647), tid or 0)
  end
  n = n + 1
  local i = (n % count) + 1
  headers["X-GitHub-Delivery"] = prefix .. n
  headers["X-Hub-Signature-256"] = sigs[i]
  return wrk.format("POST", "{path}", headers, bodies[i])
end
"#
    );
    s.push_str(&done_function());
    Ok(s)
}

/// A Lua string literal holding `bytes` exactly (decimal escapes for everything unusual).
fn lua_string(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 16);
    s.push('"');
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\{b:03}");
            }
        }
    }
    s.push('"');
    s
}

/// Runs `wrk` with `script` against `url` for `duration` over `connections` connections.
pub async fn run(
    wrk: &Path,
    url: &str,
    script: &str,
    threads: usize,
    connections: usize,
    duration: Duration,
) -> Result<WrkRun> {
    let dir = tempfile::tempdir()?;
    let script_path = dir.path().join("gantry-load.lua");
    std::fs::write(&script_path, script)?;
    let threads = threads.clamp(1, connections.max(1));
    let secs = duration.as_secs().max(1);
    let mut child = tokio::process::Command::new(wrk)
        .args([
            "-t",
            &threads.to_string(),
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{secs}s"),
            "--timeout",
            "10s",
            "-s",
        ])
        .arg(&script_path)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", wrk.display()))?;
    let pid = child.id();
    let started = Instant::now();
    let mut out = String::new();
    let mut stdout = child.stdout.take().context("wrk's stdout")?;
    let bound = Duration::from_secs(secs) + Duration::from_secs(30);
    tokio::time::timeout(bound, stdout.read_to_string(&mut out))
        .await
        .context("wrk did not finish")??;
    // Its output ends when it exits; until it is reaped its times in /proc are final.
    let cpu = final_cpu(pid).await;
    let status = child.wait().await?;
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err).await;
    }
    if !status.success() {
        bail!("wrk failed ({status}): {}{}", out.trim(), err.trim());
    }
    let mut run = parse(&out).with_context(|| format!("reading wrk's output: {out}"))?;
    run.cpu = cpu;
    run.threads = threads;
    if run.elapsed.is_zero() {
        run.elapsed = started.elapsed();
    }
    Ok(run)
}

/// The CPU time of `pid` once it is a zombie (has exited but is not yet reaped).
async fn final_cpu(pid: Option<u32>) -> Option<Duration> {
    let pid = pid?;
    for _ in 0..200 {
        if procstat::state(pid) == Some('Z') {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    procstat::cpu_time(Some(pid))
}

/// Reads the line the script's `done` printed.
fn parse(out: &str) -> Result<WrkRun> {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix(MARK))
        .context("no figures line")?;
    let n: Vec<u64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("a figure is not a number")?;
    if n.len() < 9 {
        bail!("{} figures instead of 10", n.len());
    }
    Ok(WrkRun {
        requests: n[0],
        elapsed: Duration::from_micros(n[1]),
        bad_status: n[2],
        errors: n[3],
        percentiles: [n[4], n[5], n[6], n[7], n[8]],
        cpu: None,
        threads: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_done_line() -> Result<()> {
        let out =
            "Running 1s test\n  2 threads\nGANTRY-WRK 1000 2000000 3 1 100 200 300 400 500 0\n";
        let r = parse(out)?;
        assert_eq!(r.requests, 1000);
        assert_eq!(r.bad_status, 3);
        assert_eq!(r.errors, 1);
        assert_eq!(r.percentiles, [100, 200, 300, 400, 500]);
        assert!((r.ok_per_second() - 498.5).abs() < 1e-9);
        Ok(())
    }

    #[test]
    fn lua_strings_keep_every_byte() {
        assert_eq!(lua_string(b"a\"b\\c\n\xff"), "\"a\\\"b\\\\c\\010\\255\"");
    }
}
