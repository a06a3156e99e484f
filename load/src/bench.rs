//! `gantry-load bench`: one command that starts a `nats-server` and the receiver (as its own
//! process, so its RSS is its own) and measures, at the same concurrency:
//!
//! - (b) H, the receiver's `GET /healthz` rate: the HTTP ceiling of that server on this machine;
//! - (a) W, webhooks answered 202 (stored in JetStream), checked against the stream's count;
//! - (c) J, raw async-nats JetStream publish-with-ack against the same nats-server, with messages
//!   of the size the receiver stored: the storage ceiling;
//! - W/H, W/J and W against the combined ceiling 1/(1/H + 1/J) (a receiver that spent no time of
//!   its own would still pay for one HTTP exchange and one stored publish per webhook);
//! - (d) latency at a fixed rate, open loop, and (e) the receiver's RSS at that rate.
//!
//! Everything is printed next to its target; nothing here asserts a timing.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use async_nats::HeaderMap;
use async_nats::jetstream;
use bytes::Bytes;
use gantry_nats as n;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::task::JoinSet;

use crate::cli::{BadOption, BenchArgs, WrkUse, describe_payloads};
use crate::driver::{self, Load, Outcome, Plan, Schedule, Target, new_histogram, record};
use crate::payload::{self, DeliveryIds};
use crate::procstat;
use crate::report::{self, Row, thousands};
use crate::wrk;

use gantry_nats::EVENTS_STREAM;
const BASELINE_STREAM: &str = "GANTRY_LOAD_BASELINE";
const BASELINE_SUBJECT: &str = "gantry.loadbaseline.github.acme.platform.push";
/// The webhook secret the started receiver takes.
pub(crate) const SECRET: &str = "gantry-load-bench-secret";

const TARGET_COMBINED: f64 = 0.70;
const TARGET_WEBHOOKS: f64 = 30_000.0;
const TARGET_P99_US: u64 = 10_000;
const TARGET_RSS_KIB: u64 = 50 * 1024;

/// What a bench run measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub rows: Vec<Row>,
    pub healthz: f64,
    pub webhooks: Option<f64>,
    pub jetstream: Option<f64>,
    pub fixed_rate_p99_us: Option<u64>,
    pub rss_kib: Option<u64>,
    pub hwm_kib: Option<u64>,
    /// `(stored in the stream during phase a, 202s not marked duplicate)`.
    pub stored: Option<(u64, u64)>,
    /// How many more than the 202s counted may be stored: wrk stops with requests in flight
    /// (at most one per connection) that are stored but never counted. 0 for the own client,
    /// which waits for every answer.
    pub stored_slack: u64,
    /// The client's CPU per request and saturation warnings, printed under the figures.
    pub client_notes: Vec<String>,
}

impl BenchReport {
    /// Every webhook answered 202 is in the stream, and nothing else is.
    pub fn consistent(&self) -> bool {
        self.stored.is_none_or(|(stored, accepted)| {
            stored >= accepted && stored - accepted <= self.stored_slack
        })
    }

    /// 1/(1/H + 1/J): the best webhooks/s a receiver adding no cost of its own could reach.
    pub fn combined_ceiling(&self) -> Option<f64> {
        let j = self.jetstream?;
        (self.healthz > 0.0 && j > 0.0).then(|| 1.0 / (1.0 / self.healthz + 1.0 / j))
    }

    /// The figures and ratios, each next to its target.
    pub fn figures(&self) -> String {
        let mut s = String::new();
        let pct = |x: f64| format!("{:.1}%", x * 100.0);
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        let mut line = |what: &str, value: String, target: &str, ok: Option<bool>| {
            let _ = writeln!(
                s,
                "{what:<46} {value:>12}   {target:<12} {}",
                ok.map(verdict).unwrap_or("")
            );
        };
        line("figure", "value".into(), "target", None);
        line(
            "H   GET /healthz per second",
            thousands(self.healthz),
            "",
            None,
        );
        if let Some(j) = self.jetstream {
            line(
                "J   JetStream publish+ack per second",
                thousands(j),
                "",
                None,
            );
        }
        if let Some(c) = self.combined_ceiling() {
            line("    combined ceiling 1/(1/H + 1/J)", thousands(c), "", None);
        }
        if let Some(w) = self.webhooks {
            line(
                "W   webhooks stored (202) per second",
                thousands(w),
                ">= 30,000/s",
                Some(w >= TARGET_WEBHOOKS),
            );
            if self.healthz > 0.0 {
                line("    W / H", pct(w / self.healthz), "", None);
            }
            if let Some(j) = self.jetstream.filter(|j| *j > 0.0) {
                line("    W / J", pct(w / j), "", None);
            }
            if let Some(c) = self.combined_ceiling() {
                line(
                    "    W / combined ceiling",
                    pct(w / c),
                    ">= 70%",
                    Some(w / c >= TARGET_COMBINED),
                );
            }
        }
        if let Some(p99) = self.fixed_rate_p99_us {
            line(
                "    p99 at the fixed rate",
                report::ms(p99),
                "< 10 ms",
                Some(p99 < TARGET_P99_US),
            );
        }
        if let Some(rss) = self.rss_kib {
            line(
                "    receiver VmRSS at the fixed rate (max)",
                mib(rss),
                "< 50 MiB",
                Some(rss < TARGET_RSS_KIB),
            );
        }
        if let Some(hwm) = self.hwm_kib {
            line(
                "    receiver VmHWM (peak of the whole run)",
                mib(hwm),
                "",
                None,
            );
        }
        if let Some((stored, accepted)) = self.stored {
            if self.stored_slack == 0 {
                line(
                    "    stream messages added = 202s (not duplicate)",
                    format!("{stored} = {accepted}"),
                    "equal",
                    Some(stored == accepted),
                );
            } else {
                line(
                    "    stream messages added - 202s counted",
                    format!("{}", stored as i128 - accepted as i128),
                    &format!("0..={}", self.stored_slack),
                    Some(self.consistent()),
                );
            }
        }
        for note in &self.client_notes {
            let _ = writeln!(s, "{note}");
        }
        s
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Runs the whole benchmark (starting nats-server and the receiver binary) and prints its table.
pub async fn run(args: &BenchArgs) -> Result<BenchReport> {
    validate(args)?;
    let receiver_bin = service_bin(
        "gantry-receiver",
        args.receiver_bin.as_deref(),
        args.no_build,
    )?;
    let nats = gantry_tests::NatsServer::start()?;
    let logs = tempfile::tempdir()?;
    let mut receiver = Receiver::start(&receiver_bin, &nats.url(), logs.path()).await?;
    let sut = UnderTest {
        receiver: receiver.addr,
        receiver_pid: Some(receiver.pid),
        receiver_name: receiver_bin.display().to_string(),
        nats_url: nats.url(),
        nats_pid: procstat::find_process(&["nats-server", &nats.port().to_string()]),
        secret: SECRET.to_owned(),
    };
    let report = measure(args, &sut, &mut receiver).await;
    receiver.stop().await;
    let report = report?;
    if args.nats_cluster == 0 {
        return Ok(report);
    }
    // The same phases against a cluster: every stored webhook costs a replication round trip.
    drop(nats);
    let n = args.nats_cluster;
    let cluster = gantry_tests::NatsCluster::start(n)?;
    let replicas = n.to_string();
    let mut receiver = Receiver::start_with(
        &receiver_bin,
        &cluster.url(),
        logs.path(),
        &["--nats-replicas", &replicas],
    )
    .await?;
    let sut = UnderTest {
        receiver: receiver.addr,
        receiver_pid: Some(receiver.pid),
        receiver_name: format!("{} on a {n}-server cluster (R{n})", receiver_bin.display()),
        nats_url: cluster.url(),
        nats_pid: None,
        secret: SECRET.to_owned(),
    };
    let clustered = measure(args, &sut, &mut receiver).await;
    receiver.stop().await;
    let clustered = clustered?;
    if let (Some(one), Some(many)) = (report.webhooks, clustered.webhooks) {
        println!(
            "stored webhooks/s: 1 server {one:.0}, {n}-server cluster R{n} {many:.0}; cluster/single ratio {:.2}",
            many / one
        );
    }
    anyhow::ensure!(
        clustered.consistent(),
        "on the cluster, a webhook answered 202 is missing from the stream"
    );
    Ok(report)
}

fn validate(args: &BenchArgs) -> Result<()> {
    if args.concurrency == 0 {
        return Err(BadOption::new("--concurrency must be at least 1").into());
    }
    if !(args.rate > 0.0 && args.rate.is_finite()) {
        return Err(BadOption::new("--rate must be a positive number").into());
    }
    if args.payloads == 0 {
        return Err(BadOption::new("--payloads must be at least 1").into());
    }
    Ok(())
}

/// The receiver and nats-server to measure, however they were started.
#[derive(Debug, Clone)]
pub struct UnderTest {
    pub receiver: SocketAddr,
    /// For CPU and RSS figures; `None` when it runs inside this process (tests).
    pub receiver_pid: Option<u32>,
    /// Shown in the heading.
    pub receiver_name: String,
    pub nats_url: String,
    pub nats_pid: Option<u32>,
    /// The receiver's webhook secret.
    pub secret: String,
}

/// Checks between phases that the receiver still runs, and what to show when it failed.
pub trait Watch {
    /// An error if the receiver is gone.
    fn check(&mut self) -> Result<()>;
    /// The end of its log, for error messages.
    fn log_tail(&self) -> String;
}

/// For a receiver running inside this process: nothing to watch.
#[derive(Debug)]
pub struct InProcess;

impl Watch for InProcess {
    fn check(&mut self) -> Result<()> {
        Ok(())
    }
    fn log_tail(&self) -> String {
        String::new()
    }
}

/// Measures a running receiver (phases in the module doc) and prints the table.
pub async fn measure(
    args: &BenchArgs,
    sut: &UnderTest,
    watch: &mut dyn Watch,
) -> Result<BenchReport> {
    validate(args)?;
    let nats_client = async_nats::connect(gantry_nats::server_addrs_from_url(&sut.nats_url)?)
        .await
        .context("connecting to nats-server")?;
    gantry_nats::check_server(&nats_client)?;
    let js = jetstream::new(nats_client);
    wait_ready(sut.receiver, &js, watch).await?;

    let webhooks_target = Target::parse(&format!("http://{}/webhooks/github", sut.receiver))?;
    let healthz_target = webhooks_target.with_path("/healthz")?;
    let hooks = payload::generate(args.payloads, sut.secret.as_bytes(), args.seed)?;
    let payload_note = describe_payloads(&hooks);
    let load = Load::Webhooks {
        hooks: Arc::new(hooks),
        ids: Arc::new(DeliveryIds::new()),
    };
    let closed = Plan {
        concurrency: args.concurrency,
        rate: None,
        duration: args.duration,
        requests: None,
        request_timeout: Duration::from_secs(10),
    };
    let pids = [
        ("load", None),
        ("receiver", sut.receiver_pid),
        ("nats", sut.nats_pid),
    ];
    let wrk = match args.wrk {
        WrkUse::Never => None,
        WrkUse::Auto => wrk::find(),
        WrkUse::Always => Some(wrk::find().context("--wrk always, but wrk is not on PATH")?),
    };
    let client_name = match &wrk {
        Some(_) => format!(
            "wrk -t{} for (a) and (b), {} client for (c) and (d)",
            args.wrk_threads,
            format!("{:?}", args.client).to_lowercase()
        ),
        None => format!("{} client", format!("{:?}", args.client).to_lowercase()),
    };

    println!(
        "gantry-load bench: receiver {}, {} connections, {} per phase, {}, {}",
        sut.receiver_name,
        args.concurrency,
        report::secs(args.duration),
        client_name,
        payload_note,
    );

    if !args.warmup.is_zero() {
        let warm = Plan {
            duration: args.warmup,
            ..closed.clone()
        };
        let o = driver::run(&webhooks_target, &load, &warm, args.client).await?;
        watch.check()?;
        if o.ok == 0 {
            bail!(
                "the receiver accepted none of the warm-up webhooks (answers {:?}, io errors {}); its log:\n{}",
                o.statuses,
                o.io_errors,
                watch.log_tail()
            );
        }
    }

    let mut rows = Vec::new();
    let mut client_notes = Vec::new();
    let cpu = CpuProbe::begin(&pids);
    let healthz = match &wrk {
        Some(bin) => {
            let r = wrk::run(
                bin,
                &healthz_target.url.to_string(),
                &wrk::get_script(),
                args.wrk_threads,
                args.concurrency,
                args.duration,
            )
            .await?;
            rows.push(wrk_row("(b) GET /healthz          H", &r, cpu.end()));
            client_notes.extend(wrk_notes("(b)", &r));
            r.ok_per_second()
        }
        None => {
            let h = driver::run(&healthz_target, &Load::Get, &closed, args.client).await?;
            let cpu = cpu.end();
            client_notes.extend(own_client_notes("(b)", &cpu, h.ok + h.non_2xx()));
            rows.push(row("(b) GET /healthz          H", &h, cpu));
            h.throughput()
        }
    };
    watch.check()?;
    let mut report = BenchReport {
        rows,
        healthz,
        webhooks: None,
        jetstream: None,
        fixed_rate_p99_us: None,
        rss_kib: None,
        hwm_kib: None,
        stored: None,
        stored_slack: 0,
        client_notes,
    };
    if args.healthz_only {
        print!("\n{}", report::table(&report.rows));
        return Ok(report);
    }

    let before = stream_state(&js, EVENTS_STREAM).await?;
    let cpu = CpuProbe::begin(&pids);
    let (webhooks, accepted) = match (&wrk, &load) {
        (Some(bin), Load::Webhooks { hooks, .. }) => {
            let script = wrk::webhook_script(hooks, webhooks_target.url.path())?;
            let r = wrk::run(
                bin,
                &webhooks_target.url.to_string(),
                &script,
                args.wrk_threads,
                args.concurrency,
                args.duration,
            )
            .await?;
            report
                .rows
                .push(wrk_row("(a) webhooks, 202       W", &r, cpu.end()));
            report.client_notes.extend(wrk_notes("(a)", &r));
            report.stored_slack = args.concurrency as u64;
            (r.ok_per_second(), r.requests.saturating_sub(r.bad_status))
        }
        _ => {
            let w = driver::run(&webhooks_target, &load, &closed, args.client).await?;
            let cpu = cpu.end();
            report
                .client_notes
                .extend(own_client_notes("(a)", &cpu, w.ok + w.non_2xx()));
            report.rows.push(row("(a) webhooks, 202       W", &w, cpu));
            (w.throughput(), w.ok - w.duplicates)
        }
    };
    watch.check()?;
    let after = stream_state(&js, EVENTS_STREAM).await?;
    report.webhooks = Some(webhooks);
    report.stored = Some((after.messages - before.messages, accepted));
    let added = (after.messages - before.messages).max(1);
    let stored_size = (after.bytes - before.bytes) / added;

    let cpu = CpuProbe::begin(&pids);
    let j = jetstream_ceiling(&js, args.concurrency, args.duration, stored_size).await?;
    report
        .rows
        .push(row("(c) JetStream publish+ack J", &j, cpu.end()));
    report.jetstream = Some(j.throughput());

    let fixed = Plan {
        rate: Some(args.rate),
        ..closed.clone()
    };
    let cpu = CpuProbe::begin(&pids);
    let pid = sut.receiver_pid;
    let sample_rss = async {
        let mut max = None;
        let end = Instant::now() + args.duration;
        while Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Some(m) = pid.and_then(procstat::memory) {
                max = max.max(Some(m.rss_kib));
            }
        }
        max
    };
    let (d, rss) = tokio::join!(
        driver::run(&webhooks_target, &load, &fixed, args.client),
        sample_rss
    );
    let d = d?;
    let name = format!("(d) webhooks at {}/s", thousands(args.rate));
    report.rows.push(row(&format!("{name:<25}"), &d, cpu.end()));
    watch.check()?;
    report.fixed_rate_p99_us = Some(report::percentiles(&d.latency)[2]);
    report.rss_kib = rss;
    // The kernel updates VmHWM lazily; it is never below an RSS we saw.
    report.hwm_kib = pid
        .and_then(procstat::memory)
        .map(|m| m.hwm_kib.max(rss.unwrap_or(0)));

    println!(
        "stored event: {} bytes on average in {EVENTS_STREAM} (J publishes messages of that size)\n",
        stored_size
    );
    print!("{}", report::table(&report.rows));
    println!();
    print!("{}", report.figures());
    if !report.consistent() {
        println!("error: the stream's message count does not match the 202 answers");
    }
    Ok(report)
}

/// A table row from a wrk run; wrk's CPU is shown as `wrk`.
fn wrk_row(name: &str, r: &wrk::WrkRun, mut cpu: Vec<(&'static str, f64)>) -> Row {
    // The generator itself only waits while wrk runs; wrk is the client.
    cpu.retain(|(who, _)| *who != "load");
    if let Some(c) = r.cores() {
        cpu.insert(0, ("wrk", c));
    }
    Row {
        name: name.to_owned(),
        per_second: r.ok_per_second(),
        latency: new_histogram(),
        non_2xx: r.bad_status,
        errors: r.errors,
        cpu,
        fixed_percentiles: Some(r.percentiles),
    }
}

/// The client's CPU per request, and a warning when it kept its threads busy.
fn wrk_notes(phase: &str, r: &wrk::WrkRun) -> Vec<String> {
    let mut notes = Vec::new();
    if let (Some(us), Some(cores)) = (r.cpu_per_request_us(), r.cores()) {
        notes.push(format!(
            "client {phase}: wrk used {us:.1} µs of CPU per request ({cores:.2} cores over {} threads)",
            r.threads
        ));
    }
    if r.saturated() {
        notes.push(format!(
            "WARNING {phase}: wrk kept its {} threads busy: this figure is the client's ceiling, not the server's",
            r.threads
        ));
    }
    notes
}

/// The same for the built-in client (`load` in the CPU column, one runtime thread by default).
fn own_client_notes(phase: &str, cpu: &[(&'static str, f64)], answers: u64) -> Vec<String> {
    let Some(&(_, cores)) = cpu.iter().find(|(who, _)| *who == "load") else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    if answers > 0 {
        notes.push(format!("client {phase}: gantry-load used {cores:.2} cores"));
    }
    if cores >= 0.9 {
        notes.push(format!(
            "WARNING {phase}: gantry-load's client used {cores:.2} cores, a whole core: this figure may be the client's ceiling; install wrk or pass --threads 2"
        ));
    }
    notes
}

fn row(name: &str, o: &Outcome, cpu: Vec<(&'static str, f64)>) -> Row {
    Row {
        cpu,
        ..Row::from_outcome(name, o)
    }
}

/// The Gantry binary `name` to start: `explicit` (a `--…-bin` flag), else the one beside this
/// executable. Started by `cargo run`, it first builds that one with the same profile so the
/// numbers are never those of a stale binary.
pub(crate) fn service_bin(name: &str, explicit: Option<&Path>, no_build: bool) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_owned());
    }
    let exe = std::env::current_exe().context("locating gantry-load")?;
    let dir = exe.parent().context("gantry-load has no parent folder")?;
    let bin = dir.join(name);
    if let (false, Some(cargo)) = (no_build, std::env::var_os("CARGO")) {
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev".to_owned(),
            Some(other) => other.to_owned(),
        };
        eprintln!("gantry-load: building {name} (--profile {profile})");
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", name, "--bin", name, "--profile"])
            .arg(&profile)
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("running cargo build -p {name}"))?;
        if !status.success() {
            bail!("cargo build -p {name} failed ({status})");
        }
    }
    if !bin.exists() {
        bail!(
            "{} not found: build it (cargo build --release -p {name}) or pass its --…-bin flag",
            bin.display()
        );
    }
    Ok(bin)
}

/// The receiver under test, killed on drop.
pub(crate) struct Receiver {
    child: Child,
    pub(crate) pid: u32,
    pub(crate) addr: SocketAddr,
    log: PathBuf,
}

impl Receiver {
    pub(crate) async fn start(bin: &Path, nats_url: &str, log_dir: &Path) -> Result<Receiver> {
        Self::start_with(bin, nats_url, log_dir, &[]).await
    }

    async fn start_with(
        bin: &Path,
        nats_url: &str,
        log_dir: &Path,
        extra: &[&str],
    ) -> Result<Receiver> {
        let port = gantry_tests::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = log_dir.join("receiver.log");
        let out = std::fs::File::create(&log)?;
        let child = Command::new(bin)
            .args(["--listen", &addr.to_string(), "--nats-url", nats_url])
            .args(["--webhook-secret", SECRET, "--log-format", "json"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id().context("the receiver exited at once")?;
        Ok(Receiver {
            child,
            pid,
            addr,
            log,
        })
    }

    pub(crate) async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

impl Watch for Receiver {
    fn check(&mut self) -> Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!(
                "the receiver exited ({status}); its log:\n{}",
                self.log_tail()
            );
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// Waits until `/healthz` answers 200 and the events stream exists.
pub(crate) async fn wait_ready(
    addr: SocketAddr,
    js: &jetstream::Context,
    watch: &mut dyn Watch,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        watch.check()?;
        if get_status(addr, "/healthz").await == Some(200)
            && js.get_stream(EVENTS_STREAM).await.is_ok()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the receiver was not ready (GET /healthz 200 and stream {EVENTS_STREAM}) within 30s; its log:\n{}",
                watch.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One `GET path` on a fresh connection; `None` if it failed or took over 2s.
async fn get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let exchange = async {
        let stream = TcpStream::connect(addr).await.ok()?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
                .await
                .ok()?;
        let req = http::Request::get(path)
            .header(http::header::HOST, addr.to_string())
            .body(Empty::new())
            .ok()?;
        let (resp, _) = futures::future::join(
            async {
                let r = sender.send_request(req).await.ok()?;
                let status = r.status().as_u16();
                r.into_body().collect().await.ok()?;
                drop(sender);
                Some(status)
            },
            conn,
        )
        .await;
        resp
    };
    tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .ok()
        .flatten()
}

#[derive(Debug, Clone, Copy)]
struct StreamState {
    messages: u64,
    bytes: u64,
}

async fn stream_state(js: &jetstream::Context, name: &str) -> Result<StreamState> {
    let mut stream = js
        .get_stream(name)
        .await
        .with_context(|| format!("looking up stream {name}"))?;
    let info = stream
        .info()
        .await
        .with_context(|| format!("reading stream {name}"))?;
    Ok(StreamState {
        messages: info.state.messages,
        bytes: info.state.bytes,
    })
}

/// Phase (c): `concurrency` tasks publishing with ack, each waiting for its ack before the next,
/// into a stream configured like the receiver's (same storage, duplicate window, limits), with
/// the receiver's header set and messages of the size it stored. One client, as the receiver has.
async fn jetstream_ceiling(
    js: &jetstream::Context,
    concurrency: usize,
    duration: Duration,
    stored_size: u64,
) -> Result<Outcome> {
    let mut events = js.get_stream(EVENTS_STREAM).await?;
    let mut config = events.info().await?.config.clone();
    config.name = BASELINE_STREAM.to_owned();
    config.subjects = vec!["gantry.loadbaseline.>".to_owned()];
    config.metadata.clear();
    config.description = Some("gantry-load's storage ceiling".to_owned());
    js.create_stream(config)
        .await
        .context("creating the baseline stream")?;

    let headers_len = headers("github:00000000-0000-4000-8000-000000000000")
        .iter()
        .fold("NATS/1.0\r\n\r\n".len(), |n, (k, vs)| {
            n + vs
                .iter()
                .map(|v| AsRef::<str>::as_ref(k).len() + v.as_str().len() + 4)
                .sum::<usize>()
        });
    // JetStream counts subject, headers, payload and ~22 bytes of framing per stored message.
    let overhead = (BASELINE_SUBJECT.len() + headers_len + 22) as u64;
    let size = usize::try_from(stored_size.saturating_sub(overhead).max(64)).unwrap_or(64);
    let body = Bytes::from(vec![b'x'; size]);

    let plan = Plan {
        concurrency,
        rate: None,
        duration,
        requests: None,
        request_timeout: Duration::from_secs(10),
    };
    let schedule = Arc::new(Schedule::new(&plan));
    let ids = Arc::new(DeliveryIds::new());
    let mut set = JoinSet::new();
    for _ in 0..concurrency {
        let (js, schedule, ids, body) = (js.clone(), schedule.clone(), ids.clone(), body.clone());
        set.spawn(async move {
            let mut out = (new_histogram(), 0u64, 0u64, schedule.start());
            while let Some((_, due)) = schedule.claim() {
                let id = ids.next();
                let msg_id = format!("github:{}", id.to_str().unwrap_or_default());
                let publish = async {
                    js.publish_with_headers(BASELINE_SUBJECT, headers(&msg_id), body.clone())
                        .await?
                        .await
                        .map_err(anyhow::Error::from)
                };
                match tokio::time::timeout(plan.request_timeout, publish).await {
                    Ok(Ok(_)) => {
                        record(&mut out.0, due.elapsed());
                        out.1 += 1;
                        out.3 = Instant::now();
                    }
                    _ => out.2 += 1,
                }
            }
            out
        });
    }
    let mut total = Outcome {
        latency: new_histogram(),
        ok: 0,
        duplicates: 0,
        statuses: Default::default(),
        io_errors: 0,
        timeouts: 0,
        elapsed: Duration::ZERO,
    };
    let mut last = schedule.start();
    let bound = duration + Duration::from_secs(15);
    tokio::time::timeout(bound, async {
        while let Some(r) = set.join_next().await {
            let (h, ok, errors, finished) = r.context("publisher panicked")?;
            let _ = total.latency.add(&h);
            total.ok += ok;
            total.io_errors += errors;
            last = last.max(finished);
        }
        anyhow::Ok(())
    })
    .await
    .context("JetStream publishers did not stop")??;
    total.elapsed = last.saturating_duration_since(schedule.start());
    Ok(total)
}

/// The header set the receiver puts on every event, from the function the receiver uses.
fn headers(msg_id: &str) -> HeaderMap {
    n::EventHeaders {
        id: msg_id,
        source: "https://github.com/acme/platform",
        kind: "push",
        time: "2025-06-15T13:01:51.123456Z",
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }
    .to_header_map()
}

/// CPU used by a few processes over an interval, in cores, and by everything else on the
/// machine (`other`: other people's builds on a shared machine make a run unrepresentative).
struct CpuProbe {
    pids: Vec<(&'static str, Option<u32>, Option<Duration>)>,
    machine: Option<Duration>,
    started: Instant,
}

impl CpuProbe {
    fn begin(pids: &[(&'static str, Option<u32>)]) -> CpuProbe {
        CpuProbe {
            pids: pids
                .iter()
                .filter(|(name, pid)| pid.is_some() || *name == "load")
                .map(|(name, pid)| (*name, *pid, procstat::cpu_time(*pid)))
                .collect(),
            machine: procstat::machine_busy(),
            started: Instant::now(),
        }
    }

    fn end(self) -> Vec<(&'static str, f64)> {
        let wall = self.started.elapsed().as_secs_f64().max(1e-9);
        let mut used: Vec<(&'static str, f64)> = self
            .pids
            .into_iter()
            .filter_map(|(name, pid, start)| {
                let used = procstat::cpu_time(pid)?.checked_sub(start?)?;
                Some((name, used.as_secs_f64() / wall))
            })
            .collect();
        if let (Some(start), Some(now)) = (self.machine, procstat::machine_busy()) {
            let ours: f64 = used.iter().map(|(_, c)| c).sum();
            let all = now.saturating_sub(start).as_secs_f64() / wall;
            used.push(("other", (all - ours).max(0.0)));
        }
        used
    }
}
