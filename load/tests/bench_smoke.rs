//! Runs every phase of `gantry-load bench` briefly against the real receiver, started in this
//! process on a real nats-server, so the benchmark's code path (stream checks, the JetStream
//! baseline, the fixed-rate phase, the table) runs in CI. Checks only what was stored and
//! counted; the timings it prints are not asserted.

use std::time::Duration;

use gantry_load::BenchArgs;
use gantry_load::bench::{self, InProcess, UnderTest};
use gantry_load::driver::ClientKind;
use gantry_receiver::Config;
use gantry_tests::NatsServer;
use tokio::sync::oneshot;

const SECRET: &str = "bench-smoke-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_phases_run_against_the_real_receiver_and_match_the_stream() {
    let nats = NatsServer::start().expect("nats-server (install it with scripts/tools.sh)");
    let mut config = Config::for_tests(&nats.url(), SECRET);
    config.workers = Some(1);
    config.shutdown_grace = Duration::from_secs(1);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let receiver = tokio::spawn(gantry_receiver::run(listener, config, async move {
        let _ = stopped.await;
    }));

    let args = BenchArgs {
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
    };
    let sut = UnderTest {
        receiver: addr,
        receiver_pid: None,
        receiver_name: "in-process receiver".into(),
        nats_url: nats.url(),
        nats_pid: None,
        secret: SECRET.into(),
    };
    let report = bench::measure(&args, &sut, &mut InProcess)
        .await
        .expect("bench");

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

    // Not awaited: a graceful stop of the in-process receiver is the receiver's own tests'
    // business, and the test's runtime ends its tasks.
    let _ = stop.send(());
    drop(receiver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrk_drives_the_closed_loop_phases_and_every_counted_202_is_stored() {
    if gantry_load::wrk::find().is_none() {
        eprintln!("skipped: wrk is not on PATH (apt-get install wrk)");
        return;
    }
    let nats = NatsServer::start().expect("nats-server (install it with scripts/tools.sh)");
    let mut config = Config::for_tests(&nats.url(), SECRET);
    config.workers = Some(1);
    config.shutdown_grace = Duration::from_secs(1);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let receiver = tokio::spawn(gantry_receiver::run(listener, config, async move {
        let _ = stopped.await;
    }));
    let args = BenchArgs {
        receiver_bin: None,
        no_build: true,
        concurrency: 4,
        duration: Duration::from_secs(1),
        warmup: Duration::from_millis(100),
        rate: 100.0,
        payloads: 4,
        seed: 6,
        client: ClientKind::Hyper,
        healthz_only: false,
        wrk: gantry_load::cli::WrkUse::Always,
        wrk_threads: 1,
        nats_cluster: 0,
    };
    let sut = UnderTest {
        receiver: addr,
        receiver_pid: None,
        receiver_name: "in-process receiver".into(),
        nats_url: nats.url(),
        nats_pid: None,
        secret: SECRET.into(),
    };
    let report = bench::measure(&args, &sut, &mut InProcess)
        .await
        .expect("bench");
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
    let _ = stop.send(());
    drop(receiver);
}

/// The phases run against a 3-server R3 cluster given as a list of seed servers (what
/// `--nats-cluster 3` measures), and every 202 is in the replicated stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phases_run_against_an_r3_cluster() {
    let cluster = gantry_tests::NatsCluster::start(3).expect("cluster");
    let mut config = Config::for_tests(&cluster.url(), SECRET);
    config.nats_replicas = 3;
    config.workers = Some(1);
    config.shutdown_grace = Duration::from_secs(1);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let receiver = tokio::spawn(gantry_receiver::run(listener, config, async move {
        let _ = stopped.await;
    }));
    let args = BenchArgs {
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
        nats_cluster: 3,
    };
    let sut = UnderTest {
        receiver: addr,
        receiver_pid: None,
        receiver_name: "in-process receiver on an R3 cluster".into(),
        nats_url: cluster.url(),
        nats_pid: None,
        secret: SECRET.into(),
    };
    let report = bench::measure(&args, &sut, &mut InProcess)
        .await
        .expect("bench");
    let (stored, accepted) = report.stored.expect("phase (a) ran");
    assert!(accepted > 0, "some webhooks were accepted");
    assert_eq!(stored, accepted, "every 202 is in the replicated stream");
    let _ = stop.send(());
    let _ = receiver.await;
}
