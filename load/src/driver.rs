//! The load loop: C keep-alive connections sending for a duration or a request count, either
//! closed loop (each connection sends its next request as soon as the last answer arrives) or
//! open loop at a fixed rate.
//!
//! The open loop follows wrk2: request `i` is due at `start + i/rate`, whichever connection is
//! free takes it, and its latency runs from that due time, not from when a connection got round
//! to sending it. A stalled server therefore shows up as latency instead of silently lowering the
//! offered load (coordinated omission).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::header::{CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::payload::{DeliveryIds, Webhook};

const X_GITHUB_EVENT: HeaderName = HeaderName::from_static("x-github-event");
const X_GITHUB_DELIVERY: HeaderName = HeaderName::from_static("x-github-delivery");
const X_HUB_SIGNATURE_256: HeaderName = HeaderName::from_static("x-hub-signature-256");

/// Highest latency the histograms hold; longer ones are recorded as this.
const MAX_LATENCY_US: u64 = 60_000_000;

/// An `http://` URL on the loopback interface: the only kind of target this tool accepts.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: Uri,
    pub addr: SocketAddr,
    authority: HeaderValue,
    path: Uri,
}

impl Target {
    /// Parses `url`, refusing anything but plain HTTP to 127.0.0.0/8, `localhost` or `[::1]`.
    pub fn parse(url: &str) -> Result<Target> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("--url {url:?} is not a URL"))?;
        if uri.scheme_str() != Some("http") {
            bail!("--url {url:?}: only http:// is supported");
        }
        let host = uri.host().context("--url has no host")?;
        let ip: IpAddr = match host {
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            h => h
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .with_context(|| format!("--url host {h:?} must be a loopback address"))?,
        };
        if !ip.is_loopback() {
            bail!(
                "--url host {host} is not a loopback address: gantry-load only targets this machine"
            );
        }
        let port = uri.port_u16().unwrap_or(80);
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).parse()?;
        let authority = HeaderValue::from_str(uri.authority().map_or(host, |a| a.as_str()))?;
        Ok(Target {
            addr: SocketAddr::new(ip, port),
            authority,
            path,
            url: uri,
        })
    }

    /// The same server with another path, e.g. `/healthz` beside `/webhooks/github`.
    pub fn with_path(&self, path: &str) -> Result<Target> {
        Target::parse(&format!("http://{}{path}", self.addr))
    }
}

/// What each request carries.
#[derive(Debug, Clone)]
pub enum Load {
    /// Signed GitHub push deliveries, cycling through `hooks`, each with a fresh delivery id.
    Webhooks {
        hooks: Arc<Vec<Webhook>>,
        ids: Arc<DeliveryIds>,
    },
    /// A bodiless `GET` (e.g. `/healthz`, the HTTP ceiling).
    Get,
}

/// How much load, and how it is paced.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Connections (closed loop), or the most requests in flight (open loop).
    pub concurrency: usize,
    /// Requests per second for the open loop; `None` sends as fast as answers come back.
    pub rate: Option<f64>,
    /// Stop sending after this long.
    pub duration: Duration,
    /// Stop sending after this many requests, if sooner.
    pub requests: Option<u64>,
    /// A request not answered within this counts as a timeout and its connection is dropped.
    pub request_timeout: Duration,
}

/// Which HTTP client sends the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientKind {
    /// One hyper HTTP/1.1 connection per worker, driven in the worker's own task.
    Hyper,
    /// A shared reqwest client with a keep-alive pool (kept to compare against).
    Reqwest,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Microseconds, 2xx answers only (from the due time in the open loop).
    pub latency: Histogram<u64>,
    /// 2xx answers.
    pub ok: u64,
    /// 2xx answers whose body says `"duplicate": true`.
    pub duplicates: u64,
    /// Non-2xx answers by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Connection failures and requests without an answer (timeouts included).
    pub io_errors: u64,
    /// Requests not answered within the request timeout (also counted in `io_errors`).
    pub timeouts: u64,
    /// From the start to the last answer.
    pub elapsed: Duration,
}

impl Outcome {
    fn empty() -> Outcome {
        Outcome {
            latency: new_histogram(),
            ok: 0,
            duplicates: 0,
            statuses: BTreeMap::new(),
            io_errors: 0,
            timeouts: 0,
            elapsed: Duration::ZERO,
        }
    }

    /// 2xx answers per second.
    pub fn throughput(&self) -> f64 {
        per_second(self.ok, self.elapsed)
    }

    /// Answers that were not 2xx.
    pub fn non_2xx(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// Every request that got an answer or failed.
    pub fn total(&self) -> u64 {
        self.ok + self.non_2xx() + self.io_errors
    }

    fn merge(&mut self, other: &Outcome) {
        // Both histograms share the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.ok += other.ok;
        self.duplicates += other.duplicates;
        for (code, n) in &other.statuses {
            *self.statuses.entry(*code).or_default() += n;
        }
        self.io_errors += other.io_errors;
        self.timeouts += other.timeouts;
    }
}

/// A histogram of microseconds from 1 µs to a minute at 3 significant figures.
pub fn new_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, MAX_LATENCY_US, 3) {
        Ok(h) => h,
        Err(_) => unreachable!("constant, valid bounds"),
    }
}

/// Records `d` in microseconds, clamped to the histogram's range.
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(MAX_LATENCY_US);
    h.saturating_record(us.clamp(1, MAX_LATENCY_US));
}

/// `n / elapsed`, or 0 for an empty interval.
pub fn per_second(n: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 { n as f64 / s } else { 0.0 }
}

/// Hands out request numbers and their due times, and says when to stop.
#[derive(Debug)]
pub struct Schedule {
    next: AtomicU64,
    start: Instant,
    deadline: Instant,
    max: u64,
    rate: Option<f64>,
}

impl Schedule {
    pub fn new(plan: &Plan) -> Schedule {
        let start = Instant::now();
        Schedule {
            next: AtomicU64::new(0),
            start,
            deadline: start + plan.duration,
            max: plan.requests.unwrap_or(u64::MAX),
            rate: plan.rate.filter(|r| *r > 0.0),
        }
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    /// The next request's number and due time, or `None` when the run is over. In the open
    /// loop the caller sleeps until the due time.
    pub fn claim(&self) -> Option<(u64, Instant)> {
        let now = Instant::now();
        if now >= self.deadline {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        if n >= self.max {
            return None;
        }
        let due = match self.rate {
            None => now,
            Some(rate) => self.start + Duration::from_secs_f64(n as f64 / rate),
        };
        (due < self.deadline).then_some((n, due))
    }

    /// Whether new requests may still start.
    pub fn open(&self) -> bool {
        Instant::now() < self.deadline && self.next.load(Ordering::Relaxed) < self.max
    }
}

struct Shared {
    target: Target,
    load: Load,
    plan: Plan,
    schedule: Schedule,
}

impl Shared {
    fn request(&self, n: u64, uri: &Uri) -> Request<Bytes> {
        let (method, body) = match &self.load {
            Load::Webhooks { hooks, .. } => {
                let i = usize::try_from(n).unwrap_or(0) % hooks.len().max(1);
                (
                    Method::POST,
                    hooks.get(i).map(|h| h.body.clone()).unwrap_or_default(),
                )
            }
            Load::Get => (Method::GET, Bytes::new()),
        };
        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = uri.clone();
        let h = req.headers_mut();
        h.insert(HOST, self.target.authority.clone());
        h.insert(
            USER_AGENT,
            HeaderValue::from_static("GitHub-Hookshot/gantry-load"),
        );
        if let Load::Webhooks { hooks, ids } = &self.load {
            let i = usize::try_from(n).unwrap_or(0) % hooks.len().max(1);
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            h.insert(X_GITHUB_EVENT, HeaderValue::from_static("push"));
            h.insert(X_GITHUB_DELIVERY, ids.next());
            if let Some(hook) = hooks.get(i) {
                h.insert(X_HUB_SIGNATURE_256, hook.signature.clone());
            }
        }
        req
    }

    fn answered(&self, out: &mut Outcome, status: u16, body: &[u8], due: Instant) {
        if (200..300).contains(&status) {
            out.ok += 1;
            record(&mut out.latency, due.elapsed());
            if is_duplicate(body) {
                out.duplicates += 1;
            }
        } else {
            *out.statuses.entry(status).or_default() += 1;
        }
    }
}

fn is_duplicate(body: &[u8]) -> bool {
    let needle = b"\"duplicate\":";
    body.windows(needle.len())
        .position(|w| w == needle)
        .is_some_and(|i| {
            body[i + needle.len()..]
                .trim_ascii_start()
                .starts_with(b"true")
        })
}

/// Runs `plan` against `target` and returns what it measured.
pub async fn run(target: &Target, load: &Load, plan: &Plan, client: ClientKind) -> Result<Outcome> {
    if plan.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if let Load::Webhooks { hooks, .. } = load
        && hooks.is_empty()
    {
        bail!("no payloads to send");
    }
    let reqwest_client = match client {
        ClientKind::Hyper => None,
        ClientKind::Reqwest => {
            // reqwest is built without a default TLS provider; plain HTTP still needs one set.
            let _ = rustls::crypto::ring::default_provider().install_default();
            Some(
                reqwest::Client::builder()
                    .pool_max_idle_per_host(plan.concurrency)
                    .tcp_nodelay(true)
                    .build()?,
            )
        }
    };
    let shared = Arc::new(Shared {
        target: target.clone(),
        load: load.clone(),
        plan: plan.clone(),
        schedule: Schedule::new(plan),
    });
    let mut set = JoinSet::new();
    for _ in 0..plan.concurrency {
        let shared = Arc::clone(&shared);
        match &reqwest_client {
            None => set.spawn(hyper_worker(shared)),
            Some(c) => set.spawn(reqwest_worker(shared, c.clone())),
        };
    }
    // Workers stop claiming at the deadline and each request has its own timeout; this outer
    // bound only guards against a bug leaving a worker stuck.
    let bound = plan.duration + plan.request_timeout + Duration::from_secs(5);
    let mut total = Outcome::empty();
    let mut last = shared.schedule.start();
    let joined = tokio::time::timeout(bound, async {
        while let Some(r) = set.join_next().await {
            let (out, finished) = r.context("load worker panicked")?;
            total.merge(&out);
            last = last.max(finished);
        }
        anyhow::Ok(())
    })
    .await;
    match joined {
        Ok(r) => r?,
        Err(_) => {
            set.abort_all();
            bail!("load workers did not stop within {bound:?}");
        }
    }
    total.elapsed = last.saturating_duration_since(shared.schedule.start());
    Ok(total)
}

enum ConnEnd {
    Done,
    Lost,
}

async fn hyper_worker(shared: Arc<Shared>) -> (Outcome, Instant) {
    let mut out = Outcome::empty();
    let mut last = shared.schedule.start();
    while shared.schedule.open() {
        let stream = match TcpStream::connect(shared.target.addr).await {
            Ok(s) => s,
            Err(_) => {
                out.io_errors += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        {
            Ok(pair) => pair,
            Err(_) => {
                out.io_errors += 1;
                continue;
            }
        };
        // The connection is polled in this task beside the request loop: no cross-task wake-up
        // per request. Dropping the sender at the end lets the connection finish.
        let (end, _) =
            futures::future::join(hyper_requests(&shared, sender, &mut out, &mut last), conn).await;
        if let ConnEnd::Done = end {
            break;
        }
    }
    (out, last)
}

async fn hyper_requests(
    shared: &Shared,
    mut sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    out: &mut Outcome,
    last: &mut Instant,
) -> ConnEnd {
    let timeout = shared.plan.request_timeout;
    while let Some((n, due)) = shared.schedule.claim() {
        tokio::time::sleep_until(due.into()).await;
        let req = shared.request(n, &shared.target.path).map(Full::new);
        let exchange = async {
            sender.ready().await?;
            let resp = sender.send_request(req).await?;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok((status, body))) => {
                shared.answered(out, status, &body, due);
                *last = Instant::now();
            }
            Ok(Err(_)) => {
                out.io_errors += 1;
                return ConnEnd::Lost;
            }
            Err(_) => {
                out.io_errors += 1;
                out.timeouts += 1;
                return ConnEnd::Lost;
            }
        }
    }
    ConnEnd::Done
}

async fn reqwest_worker(shared: Arc<Shared>, client: reqwest::Client) -> (Outcome, Instant) {
    let mut out = Outcome::empty();
    let mut last = shared.schedule.start();
    let timeout = shared.plan.request_timeout;
    while let Some((n, due)) = shared.schedule.claim() {
        tokio::time::sleep_until(due.into()).await;
        let req = match reqwest::Request::try_from(shared.request(n, &shared.target.url)) {
            Ok(r) => r,
            Err(_) => {
                out.io_errors += 1;
                continue;
            }
        };
        let exchange = async {
            let resp = client.execute(req).await?;
            let status = resp.status().as_u16();
            let body = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok((status, body))) => {
                shared.answered(&mut out, status, &body, due);
                last = Instant::now();
            }
            Ok(Err(_)) => out.io_errors += 1,
            Err(_) => {
                out.io_errors += 1;
                out.timeouts += 1;
            }
        }
    }
    (out, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_targets_are_accepted() {
        for ok in [
            "http://127.0.0.1:8080/webhooks/github",
            "http://localhost:1/healthz",
            "http://127.1.2.3:9/",
            "http://[::1]:8080/x",
        ] {
            Target::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "https://127.0.0.1:8080/",
            "http://10.0.0.1:8080/",
            "http://192.168.1.1/",
            "http://example.com/",
            "not a url",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad} accepted");
        }
        let t = Target::parse("http://127.0.0.1:8080/webhooks/github").expect("parse");
        assert_eq!(
            t.with_path("/healthz").expect("path").url.path(),
            "/healthz"
        );
    }

    #[test]
    fn duplicate_flag_is_read_from_the_answer() {
        assert!(is_duplicate(br#"{"delivery":"a","duplicate":true}"#));
        assert!(is_duplicate(br#"{"duplicate": true, "x": 1}"#));
        assert!(!is_duplicate(br#"{"delivery":"a","duplicate":false}"#));
        assert!(!is_duplicate(b"{}"));
    }

    #[test]
    fn open_loop_due_times_follow_the_rate_and_stop_at_the_count() {
        let plan = Plan {
            concurrency: 1,
            rate: Some(100.0),
            duration: Duration::from_secs(60),
            requests: Some(3),
            request_timeout: Duration::from_secs(1),
        };
        let s = Schedule::new(&plan);
        let due: Vec<_> = std::iter::from_fn(|| s.claim()).collect();
        assert_eq!(due.len(), 3);
        assert_eq!(due[2].1 - due[0].1, Duration::from_millis(20));
        assert!(s.claim().is_none());
    }
}
