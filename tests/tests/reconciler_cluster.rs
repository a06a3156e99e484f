//! The reconciler on a NATS cluster: `--nats-replicas` reaches every stream, the state bucket and
//! the durable consumer it creates; what exists with other replicas is reported, never changed.
//! With the receivers in front of it, a burst survives a lost nats-server and a killed worker.

use std::time::Duration;

use anyhow::{Result, bail};
use async_nats::jetstream;
use gantry_reconciler::Config;
use gantry_reconciler::config::{Forge, ForgeKind};
use gantry_tests::{GitRepo, NatsCluster, configmap};
use tokio::sync::oneshot;

/// A worker's config against `url` that never reaches a forge or a cluster (no event arrives).
fn idle_config(url: &str, data: &std::path::Path, replicas: usize) -> Config {
    let mut c = Config::for_tests(
        url,
        data,
        Forge {
            name: "github".into(),
            kind: ForgeKind::Github,
            api_url: "http://127.0.0.1:9".into(),
            token: TOKEN.into(),
            app: None,
        },
        String::new(),
    );
    c.nats_replicas = replicas;
    c
}

/// Runs a worker until it is ready; returns its stop handle and task.
async fn ready_worker(
    config: Config,
) -> Result<(
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), gantry_reconciler::Error>>,
)> {
    // reqwest panics when built before any rustls provider is installed, and the worker that
    // installs one runs on another task: install it here so the order never matters.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(gantry_reconciler::run(listener, config, async move {
        let _ = rx.await;
    }));
    let http = reqwest::Client::new();
    for _ in 0..400 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return Ok((tx, task));
        }
        if task.is_finished() {
            bail!("the worker stopped: {:?}", task.await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the worker did not become ready")
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_reach_every_stream_the_bucket_and_the_consumer() -> Result<()> {
    gantry_tests::init_logs("warn,gantry_reconciler=info");
    let cluster = NatsCluster::start(3)?;
    let data = tempfile::tempdir()?;
    let (stop, task) = ready_worker(idle_config(&cluster.url(), data.path(), 3)).await?;

    let js = jetstream::new(async_nats::connect(cluster.urls()).await?);
    for name in [
        gantry_nats::EVENTS_STREAM,
        gantry_nats::AUDIT_STREAM,
        gantry_nats::DLQ_STREAM,
        gantry_nats::STATE_BUCKET_STREAM,
    ] {
        let mut s = js.get_stream(name).await?;
        let info = s.info().await?;
        assert_eq!(info.config.num_replicas, 3, "{name}");
    }
    let stream = js.get_stream(gantry_nats::EVENTS_STREAM).await?;
    let mut consumer: jetstream::consumer::PullConsumer = stream
        .get_consumer(gantry_nats::RECONCILER_CONSUMER)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let info = consumer.info().await?;
    assert_eq!(info.config.num_replicas, 3);
    assert_eq!(
        info.cluster.as_ref().map(|c| c.replicas.len()),
        Some(2),
        "{:?}",
        info.cluster
    );
    let _ = stop.send(());
    task.await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_bucket_with_other_replicas_is_reported_and_used() -> Result<()> {
    gantry_tests::init_logs("warn,gantry_reconciler=info");
    let cluster = NatsCluster::start(3)?;
    let js = jetstream::new(async_nats::connect(cluster.urls()).await?);
    let (_, created) = gantry_nats::ensure_state_bucket(&js, 1).await?;
    assert_eq!(created, gantry_nats::StreamStatus::Created);
    let (kv, found) = gantry_nats::ensure_state_bucket(&js, 3).await?;
    assert_eq!(
        found,
        gantry_nats::StreamStatus::Differs(vec![
            "replicas: server has 1, Gantry expects 3".to_owned()
        ])
    );
    kv.put("probe", "x".into()).await?;
    let mut s = js.get_stream(gantry_nats::STATE_BUCKET_STREAM).await?;
    assert_eq!(s.info().await?.config.num_replicas, 1);

    // A worker asked for 3 starts on it as it is.
    let data = tempfile::tempdir()?;
    let (stop, task) = ready_worker(idle_config(&cluster.url(), data.path(), 3)).await?;
    assert_eq!(s.info().await?.config.num_replicas, 1);
    let _ = stop.send(());
    task.await??;
    Ok(())
}

/// A signed GitHub push delivery, as a Git host sends it.
fn push_delivery(
    http: &reqwest::Client,
    receiver: &str,
    delivery: &str,
    body: &[u8],
) -> reqwest::RequestBuilder {
    http.post(format!("{receiver}/webhooks/github"))
        .header("Content-Type", "application/json")
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", delivery)
        .header(
            "X-Hub-Signature-256",
            gantry_tests::github_signature(SECRET.as_bytes(), body),
        )
        .body(body.to_vec())
}

const SECRET: &str = "cluster-secret";
const TOKEN: &str = "forge-token";
const FULL: &str = "acme/platform";
const ZERO: &str = "0000000000000000000000000000000000000000";

/// One push: environment `app`, its branch, before and after.
struct Push {
    app: String,
    before: String,
    after: String,
    delivery: String,
}

/// Every Nats-Msg-Id stored in `GANTRY_EVENTS`, in order.
async fn stored_ids(js: &jetstream::Context) -> Result<Vec<String>> {
    let mut s = js.get_stream(gantry_nats::EVENTS_STREAM).await?;
    let info = s.info().await?;
    let mut ids = Vec::new();
    for seq in info.state.first_sequence..=info.state.last_sequence {
        let m = s.get_raw_message(seq).await?;
        if let Some(id) = m.headers.get(gantry_nats::HEADER_MSG_ID) {
            ids.push(id.as_str().to_owned());
        }
    }
    Ok(ids)
}

/// Waits until the reconcilers' consumer has nothing pending and nothing unacknowledged.
async fn settled(js: &jetstream::Context, within: Duration) -> Result<()> {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Ok(stream) = js.get_stream(gantry_nats::EVENTS_STREAM).await
            && let Ok(mut c) = stream
                .get_consumer::<jetstream::consumer::pull::Config>(gantry_nats::RECONCILER_CONSUMER)
                .await
            && let Ok(info) = c.info().await
            && info.num_pending == 0
            && info.num_ack_pending == 0
        {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!("events were still pending after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_survives_a_lost_nats_server_and_a_killed_reconciler() -> Result<()> {
    use gantry_proto::v1::{Outcome, Phase};
    use std::collections::{BTreeMap, HashMap};

    gantry_tests::init_logs("warn,gantry_reconciler=info");
    let _ = rustls::crypto::ring::default_provider().install_default();
    const APPS: usize = 8;
    const ROUNDS: usize = 3;

    let mut cluster = NatsCluster::start(3)?;
    let kube = gantry_kube_sim::KubeSim::start(gantry_kube_sim::Config {
        ready_delay: Duration::from_millis(100),
        controller_interval: Duration::from_millis(50),
        ..Default::default()
    })
    .await?;
    let forge = gantry_forge_sim::ForgeSim::start(gantry_forge_sim::Config {
        tokens: vec![TOKEN.to_owned()],
        ..Default::default()
    })
    .await?;

    // One environment per app, each deployed from a branch of its own, so that every push
    // names exactly one environment and every revision is that environment's newest for a while.
    let repo = GitRepo::new()?;
    let apps: Vec<String> = (0..APPS).map(|i| format!("svc{i}")).collect();
    let mut yaml = String::from("apps:\n");
    for a in &apps {
        yaml.push_str(&format!(
            "  - name: {a}\n    environments:\n      - name: dev\n        branch: b-{a}\n        path: apps/{a}\n        namespace: {a}-dev\n        healthTimeout: 30s\n"
        ));
    }
    repo.write(".gantry.yaml", &yaml)?;
    for a in &apps {
        repo.write(&format!("apps/{a}/cm.yaml"), &configmap(a, "base"))?;
    }
    let base = repo.commit("base")?;
    let mut rounds: Vec<Vec<Push>> = (0..ROUNDS).map(|_| Vec::new()).collect();
    let mut newest: HashMap<String, String> = HashMap::new();
    for a in &apps {
        repo.git(&["checkout", "-q", "-b", &format!("b-{a}"), &base])?;
        let mut prev = ZERO.to_owned();
        for (r, round) in rounds.iter_mut().enumerate() {
            repo.write(&format!("apps/{a}/cm.yaml"), &configmap(a, &r.to_string()))?;
            let sha = repo.commit(&format!("{a} round {r}"))?;
            round.push(Push {
                app: a.clone(),
                before: prev.clone(),
                after: sha.clone(),
                delivery: format!("{a}-{r}"),
            });
            prev = sha.clone();
            newest.insert(a.clone(), sha);
        }
    }

    // Two receivers and two reconcilers, every one given every server.
    let mut receivers = Vec::new();
    let mut receiver_stops = Vec::new();
    for _ in 0..2 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        receivers.push(format!("http://{}", listener.local_addr()?));
        let mut c = gantry_receiver::Config::for_tests(&cluster.url(), SECRET);
        c.nats_replicas = 3;
        c.publish_timeout = Duration::from_secs(2);
        let (tx, rx) = oneshot::channel::<()>();
        receiver_stops.push(tx);
        tokio::spawn(gantry_receiver::run(listener, c, async move {
            let _ = rx.await;
        }));
    }
    let data = tempfile::tempdir()?;
    let worker_config = |name: &str| {
        let mut c = Config::for_tests(
            &cluster.url(),
            &data.path().join(name),
            Forge {
                name: "github".into(),
                kind: ForgeKind::Github,
                api_url: forge.url(),
                token: TOKEN.into(),
                app: None,
            },
            kube.kubeconfig(),
        );
        c.worker_id = name.to_owned();
        c.nats_replicas = 3;
        c.concurrency = 4;
        // A killed worker's event comes back after ack_wait; its lease frees after lease_ttl.
        c.ack_wait = Duration::from_secs(3);
        c.lease_ttl = Duration::from_secs(6);
        c.report_budget = Duration::from_secs(20);
        // A redelivered event waiting for the killed worker's lease backs off at most this.
        c.nak_max = Duration::from_secs(2);
        c
    };
    let (w1_stop, w1) = ready_worker(worker_config("w1")).await?;
    let (w2_stop, w2) = ready_worker(worker_config("w2")).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    for r in &receivers {
        let mut ok = false;
        for _ in 0..400 {
            if let Ok(resp) = http.get(format!("{r}/readyz")).send().await
                && resp.status() == 200
            {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::ensure!(ok, "receiver {r} did not become ready");
    }
    let js = jetstream::new(async_nats::connect(cluster.urls()).await?);

    // Sends one delivery as a Git host does: alternate receivers, redeliver on anything but 2xx.
    let mut accepted: Vec<String> = Vec::new();
    let mut unavailable = 0usize;
    let mut turn = 0usize;
    let mut deliver = async |p: &Push, accepted: &mut Vec<String>| -> Result<()> {
        let body = serde_json::to_vec(&serde_json::json!({
            "ref": format!("refs/heads/b-{}", p.app),
            "before": p.before,
            "after": p.after,
            "repository": {
                "full_name": FULL,
                "clone_url": repo.url(),
                "html_url": "https://github.com/acme/platform",
                "default_branch": "main",
            },
        }))?;
        for _ in 0..100 {
            turn += 1;
            let r = &receivers[turn % receivers.len()];
            match push_delivery(&http, r, &p.delivery, &body).send().await {
                Ok(resp) if resp.status().is_success() => {
                    accepted.push(format!("github:{}", p.delivery));
                    return Ok(());
                }
                Ok(resp) => {
                    anyhow::ensure!(
                        resp.status() == 503 && resp.headers().contains_key("retry-after"),
                        "{}: {}",
                        resp.status(),
                        resp.text().await.unwrap_or_default()
                    );
                    unavailable += 1;
                }
                Err(e) => bail!("delivery {} failed: {e}", p.delivery),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("delivery {} was never accepted", p.delivery)
    };

    // Round 0 with every server up.
    for p in &rounds[0] {
        deliver(p, &mut accepted).await?;
    }
    // Lose the server leading GANTRY_EVENTS (the one the acks come from) in the middle of the
    // burst, while the reconcilers work on round 0.
    let leader = {
        let mut s = js.get_stream(gantry_nats::EVENTS_STREAM).await?;
        let info = s.info().await?;
        info.cluster
            .clone()
            .and_then(|c| c.leader)
            .and_then(|l| l.trim_start_matches('n').parse::<usize>().ok())
            .map_or(0, |n| n - 1)
    };
    cluster.kill(leader);
    for p in &rounds[1] {
        deliver(p, &mut accepted).await?;
    }
    cluster.restart(leader)?;
    // Kill one reconciler mid-deploy: whichever first has its render record for a round-2
    // revision out (its apply comes next) is aborted at once, as SIGKILL would: nothing acked,
    // no lease released. The other must finish everything.
    let round2: std::collections::HashSet<String> =
        rounds[2].iter().map(|p| p.after.clone()).collect();
    let round2_watch = round2.clone();
    let watch = async_nats::connect(cluster.urls()).await?;
    let mut records_seen = watch.subscribe("gantry.audit.>").await?;
    watch.flush().await?;
    let aborts = [("w1", w1.abort_handle()), ("w2", w2.abort_handle())];
    let killer = tokio::spawn(async move {
        use futures::StreamExt;
        while let Some(m) = records_seen.next().await {
            if let Ok(r) =
                <gantry_proto::v1::AuditRecord as prost::Message>::decode(m.payload.as_ref())
                && r.phase == Phase::Render as i32
                && round2_watch.contains(&r.revision)
                && let Some((name, abort)) = aborts.iter().find(|(n, _)| *n == r.worker_id)
            {
                abort.abort();
                return Some((name.to_string(), r.revision));
            }
        }
        None
    });
    for p in &rounds[2] {
        deliver(p, &mut accepted).await?;
    }
    let killed_at = tokio::time::timeout(Duration::from_secs(30), killer)
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    let Some((victim, _)) = killed_at.clone() else {
        bail!("no reconciler rendered a round-2 revision within 30s");
    };
    let (survivor_stop, survivor) = if victim == "w1" {
        let _ = w1.await;
        drop(w1_stop);
        (w2_stop, w2)
    } else {
        let _ = w2.await;
        drop(w2_stop);
        (w1_stop, w1)
    };

    // Every environment ends at its newest revision.
    for a in &apps {
        let sha = &newest[a];
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let st = forge.statuses(FULL, sha);
            if let Some(s) = st
                .iter()
                .rev()
                .find(|s| s.context == format!("gantry/{a}/dev") && s.state != "pending")
            {
                assert_eq!(s.state, "success", "{a}: {s:?}");
                break;
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "{a}: no final status on its newest revision {sha}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    settled(&js, Duration::from_secs(60)).await?;

    // Every delivery answered 2xx is in the stream, once.
    let stored = stored_ids(&js).await?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &stored {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    for id in &accepted {
        assert_eq!(counts.get(id.as_str()), Some(&1), "{id} stored {counts:?}");
    }
    assert_eq!(stored.len(), APPS * ROUNDS);

    // The audit trail has no gap: sequences 1..=last, none deleted.
    let mut audit_stream = js.get_stream(gantry_nats::AUDIT_STREAM).await?;
    let ai = audit_stream.info().await?;
    assert_eq!(ai.config.num_replicas, 3);
    assert_eq!(ai.state.first_sequence, 1);
    assert_eq!(ai.state.messages, ai.state.last_sequence, "{:?}", ai.state);
    let mut records = Vec::new();
    for seq in 1..=ai.state.last_sequence {
        let m = audit_stream.get_raw_message(seq).await?;
        records.push(<gantry_proto::v1::AuditRecord as prost::Message>::decode(
            m.payload.as_ref(),
        )?);
    }

    // What the killed reconciler was deploying (maybe several at once) and had not reported:
    // the survivor starts those over. Their apply may then happen twice (the same objects,
    // server-side applied once by the victim before it died and once by the survivor) and their
    // `pending` be posted twice; their final status is still posted once. Everything else must
    // hold exactly, across the NATS failover too.
    let interrupted: std::collections::HashSet<&str> = records
        .iter()
        .filter(|r| r.worker_id == victim && !r.revision.is_empty())
        .filter(|r| {
            !records.iter().any(|q| {
                q.worker_id == victim && q.revision == r.revision && q.phase == Phase::Report as i32
            })
        })
        .map(|r| r.revision.as_str())
        .collect();
    // Exactly one apply per revision that was applied, and the newest one applied.
    let mut applies: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for r in &records {
        if r.phase == Phase::Apply as i32 && r.outcome == Outcome::Succeeded as i32 {
            applies
                .entry((r.application.clone(), r.revision.clone()))
                .or_default()
                .push(r.worker_id.clone());
        }
    }
    for ((app, rev), workers) in &applies {
        let by_others = workers.iter().filter(|w| **w != victim).count();
        if interrupted.contains(rev.as_str()) {
            assert!(by_others <= 1, "{app} {rev} applied by {workers:?}");
        } else {
            assert_eq!(workers.len(), 1, "{app} {rev} applied by {workers:?}");
        }
    }
    for a in &apps {
        assert!(
            applies.contains_key(&(a.clone(), newest[a].clone())),
            "{a}: its newest revision was never applied"
        );
    }
    // Every status posted once: one of each state per revision and context.
    for (sha, s) in forge.all_statuses(FULL) {
        if interrupted.contains(sha.as_str()) && s.state == "pending" {
            continue;
        }
        let same = forge
            .statuses(FULL, &sha)
            .iter()
            .filter(|t| t.context == s.context && t.state == s.state)
            .count();
        if same != 1 {
            for r in records.iter().filter(|r| r.revision == sha) {
                eprintln!(
                    "audit {} {} phase {} outcome {} worker {} trigger {}: {}",
                    r.application,
                    r.revision,
                    r.phase,
                    r.outcome,
                    r.worker_id,
                    r.trigger,
                    r.message
                );
            }
        }
        assert_eq!(
            same,
            1,
            "{sha} {}: {} posted {same} times: {:?}",
            s.context,
            s.state,
            forge.statuses(FULL, &sha)
        );
    }
    // The live objects are the newest revision's.
    for a in &apps {
        let kc = kube::config::Kubeconfig::from_yaml(&kube.kubeconfig())?;
        let client = kube::Client::try_from(
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?,
        )?;
        let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(client, &format!("{a}-dev"));
        let cm = cms.get(a).await?;
        let value = cm.data.and_then(|d| d.get("value").cloned());
        assert_eq!(value.as_deref(), Some(&*(ROUNDS - 1).to_string()), "{a}");
    }
    eprintln!(
        "cluster burst: {} deliveries, {} answered 503 and redelivered, {} audit records, {} applies, killed mid-deploy {:?}",
        accepted.len(),
        unavailable,
        records.len(),
        applies.len(),
        killed_at
    );
    let _ = survivor_stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), survivor).await;
    for tx in receiver_stops {
        let _ = tx.send(());
    }
    Ok(())
}
