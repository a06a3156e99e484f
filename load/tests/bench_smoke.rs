//! Runs every phase of `gantry-load bench` briefly against the real receiver, started in this
//! process on a real nats-server, so the benchmark's code path (stream checks, the JetStream
//! baseline, the fixed-rate phase, the table) runs in CI. Checks only what was stored and
//! counted; the timings it prints are not asserted.

use std::time::Duration;

use gantry_load::BenchArgs;
use gantry_load::bench::{self, BenchReport, InProcess, UnderTest};
use gantry_load::driver::ClientKind;
use gantry_receiver::Config;
use gantry_tests::NatsServer;
use tokio::sync::oneshot;

const SECRET: &str = "bench-smoke-secret";

/// The flags every run shares: four connections, a short measurement, and the in-process
/// hyper client; a run changes what it tests with struct update syntax.
fn smoke_args() -> BenchArgs {
    BenchArgs {
        receiver_bin: None,
        no_build: true,
        concurrency: 4,
        duration: Duration::from_millis(400),
        warmup: Duration::from_millis(100),
        rate: 100.0,
        payloads: 16,
        seed: 5,
        client: ClientKind::Hyper,
        healthz_only: false,
        wrk: gantry_load::cli::WrkUse::Never,
        wrk_threads: 2,
        nats_cluster: 0,
    }
}

/// Runs `gantry-load bench` with `args` against a receiver started in this process on
/// `nats_url` with `replicas` stream replicas, and gives its report.
async fn bench_in_process(
    nats_url: &str,
    replicas: usize,
    name: &str,
    args: BenchArgs,
) -> BenchReport {
    let mut config = Config::for_tests(nats_url, SECRET);
    config.nats_replicas = replicas;
    config.workers = Some(1);
    config.shutdown_grace = Duration::from_secs(1);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let receiver = tokio::spawn(gantry_receiver::run(listener, config, async move {
        let _ = stopped.await;
    }));
    let sut = UnderTest {
        receiver: addr,
        receiver_pid: None,
        receiver_name: name.into(),
        nats_url: nats_url.into(),
        nats_pid: None,
        secret: SECRET.into(),
    };
    let report = bench::measure(&args, &sut, &mut InProcess)
        .await
        .expect("bench");
    // Not awaited: a graceful stop of the in-process receiver is the receiver's own tests'
    // business, and the test's runtime ends its tasks.
    let _ = stop.send(());
    drop(receiver);
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_phases_run_against_the_real_receiver_and_match_the_stream() {
    let nats = NatsServer::start().expect("nats-server (install it with scripts/tools.sh)");
    let report = bench_in_process(&nats.url(), 1, "in-process receiver", smoke_args()).await;
    let (stored, accepted) = report.stored.expect("phase (a) ran");
    assert!(accepted > 0, "some webhooks were accepted");
    assert_eq!(stored, accepted, "every 202 is in the stream");
    assert!(report.consistent());
    assert!(report.healthz > 0.0);
    assert!(report.webhooks.is_some_and(|w| w > 0.0));
    assert!(report.jetstream.is_some_and(|j| j > 0.0));
    assert!(report.combined_ceiling().is_some());
    assert!(report.fixed_rate_p99_us.is_some());
    assert_eq!(report.rows.len(), 4);
    for row in &report.rows {
        assert_eq!((row.non_2xx, row.errors), (0, 0), "{}", row.name);
    }
    let figures = report.figures();
    assert!(figures.contains("W / combined ceiling"), "{figures}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrk_drives_the_closed_loop_phases_and_every_counted_202_is_stored() {
    if gantry_load::wrk::find().is_none() {
        eprintln!("skipped: wrk is not on PATH (apt-get install wrk)");
        return;
    }
    let nats = NatsServer::start().expect("nats-server (install it with scripts/tools.sh)");
    let args = BenchArgs {
        duration: Duration::from_secs(1),
        payloads: 4,
        seed: 6,
        wrk: gantry_load::cli::WrkUse::Always,
        wrk_threads: 1,
        ..smoke_args()
    };
    let report = bench_in_process(&nats.url(), 1, "in-process receiver", args).await;
    let (stored, accepted) = report.stored.expect("phase (a) ran");
    assert!(accepted > 0, "wrk's webhooks were accepted");
    assert!(
        report.consistent(),
        "stored {stored}, counted {accepted}, slack {}",
        report.stored_slack
    );
    assert!(report.healthz > 0.0);
    for row in &report.rows {
        assert_eq!((row.non_2xx, row.errors), (0, 0), "{}", row.name);
    }
    assert!(
        report
            .client_notes
            .iter()
            .any(|n| n.contains("µs of CPU per request")),
        "{:?}",
        report.client_notes
    );
}

/// The phases run against a 3-server R3 cluster given as a list of seed servers (what
/// `--nats-cluster 3` measures), and every 202 is in the replicated stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phases_run_against_an_r3_cluster() {
    let cluster = gantry_tests::NatsCluster::start(3).expect("cluster");
    let args = BenchArgs {
        nats_cluster: 3,
        ..smoke_args()
    };
    let name = "in-process receiver on an R3 cluster";
    let report = bench_in_process(&cluster.url(), 3, name, args).await;
    let (stored, accepted) = report.stored.expect("phase (a) ran");
    assert!(accepted > 0, "some webhooks were accepted");
    assert_eq!(stored, accepted, "every 202 is in the replicated stream");
}
