//! Telling the truth about every attempt: state keyed by repository, application and environment,
//! attempts recorded and counted even when nothing was applied, environments moved between
//! clusters, and a DLQ that never loses an event. Real nats-server, kube-sim and forge-sim.

mod common;

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use common::*;
use gantry_reconciler::state::{AttemptOutcome, EnvKey, EnvState, StateStore};

const ZERO: &str = "0000000000000000000000000000000000000000";

async fn state(h: &Harness, repo: &str, app: &str, env: &str) -> Result<Option<EnvState>> {
    let s = StateStore::open(&h.js, "reader", Duration::from_secs(5)).await?;
    Ok(s.get(&EnvKey::new(repo, app, env)).await?)
}

/// Polls `state` until `ok` holds.
async fn state_until(
    h: &Harness,
    repo: &str,
    app: &str,
    env: &str,
    ok: impl Fn(&EnvState) -> bool,
) -> Result<EnvState> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = state(h, repo, app, env).await?
            && ok(&s)
        {
            return Ok(s);
        }
        if Instant::now() > deadline {
            bail!(
                "state of {repo} {app}/{env} never matched: {:?}",
                state(h, repo, app, env).await?
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn total(app: &str, env: &str, outcome: &str) -> String {
    format!("gantry_reconcile_total{{app=\"{app}\",environment=\"{env}\",outcome=\"{outcome}\"}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attempt_is_recorded_and_counted_even_before_apply() -> Result<()> {
    let mut h = Harness::start().await?;
    let w = h.worker("w1", |_| {}).await?;
    let base = h.workers[w].base.clone();

    // A bad .gantry.yaml: nothing applied, yet the repository's record and the counter say so.
    h.repo.write(
        ".gantry.yaml",
        &gantry_yaml(&["web"]).replace("namespace:", "namespaec:"),
    )?;
    h.repo.write("apps/web/cm.yaml", &configmap("web", "1"))?;
    let c1 = h.repo.commit("typo")?;
    h.push(ZERO, &c1).await?;
    let s = state_until(&h, FULL, "-", "-", |s| s.last_attempt.is_some()).await?;
    let a = s.last_attempt.expect("attempt");
    assert_eq!(a.outcome, AttemptOutcome::Error);
    assert_eq!(a.revision, c1);
    assert!(a.message.contains("namespaec"), "{a:?}");
    assert_eq!(metric(&base, &total("-", "-", "error")).await?, 1.0);

    // A render error before anything was ever applied: the environment has a record with its
    // failed attempt and no applied revision.
    h.repo.write(".gantry.yaml", &gantry_yaml(&["web"]))?;
    h.repo.write(
        "apps/web/bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [unclosed\n",
    )?;
    let c2 = h.repo.commit("bad yaml")?;
    h.push(&c1, &c2).await?;
    let s = state_until(&h, FULL, "web", "dev", |s| s.last_attempt.is_some()).await?;
    assert_eq!(s.revision, "");
    let a = s.last_attempt.expect("attempt");
    assert_eq!(
        (a.outcome, a.phase.as_str()),
        (AttemptOutcome::Error, "render")
    );
    assert!(a.message.contains("apps/web/bad.yaml:3"), "{a:?}");
    assert_eq!(metric(&base, &total("web", "dev", "error")).await?, 1.0);

    // Fixed: success.
    h.repo.remove("apps/web/bad.yaml")?;
    let c3 = h.repo.commit("fixed")?;
    h.push(&c2, &c3).await?;
    let s = h
        .final_status(&c3, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success", "{s:?}");
    let ok = state_until(&h, FULL, "web", "dev", |s| s.revision == c3).await?;
    assert_eq!(ok.cluster, "default");
    assert_eq!(ok.branch, "main");

    // A change that touches no input of web/dev: nothing to do, not counted.
    let counted = |o: &'static str| {
        let base = base.clone();
        async move { metric(&base, &total("web", "dev", o)).await }
    };
    let success_before = counted("success").await?;
    h.repo.write("README.md", "docs\n")?;
    let c4 = h.repo.commit("docs")?;
    h.push(&c3, &c4).await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let audit = h.audit().await?;
        if audit
            .iter()
            .any(|(s, r)| s == "gantry.audit.web.dev.skipped" && r.revision == c4)
        {
            break;
        }
        assert!(Instant::now() < deadline, "no skipped record for {c4}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(counted("success").await?, success_before);

    // A failure after a success: the failure is the last attempt, the good revision still runs.
    h.repo.write("apps/web/bad.yaml", "kind: [\n")?;
    let c5 = h.repo.commit("broken again")?;
    h.push(&c4, &c5).await?;
    let s = state_until(&h, FULL, "web", "dev", |s| {
        s.last_attempt.as_ref().is_some_and(|a| a.revision == c5)
    })
    .await?;
    assert_eq!(s.revision, c3, "the last good revision is still applied");
    assert_eq!(
        s.last_attempt.map(|a| a.outcome),
        Some(AttemptOutcome::Error)
    );
    assert_eq!(counted("error").await?, 2.0);
    assert_eq!(h.names("v1", "ConfigMap", "web-dev").await?, ["web"]);
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_repositories_with_the_same_names_never_prune_each_other() -> Result<()> {
    let mut h = Harness::start().await?;
    h.worker("w1", |_| {}).await?;
    // Both repositories deploy app web, environment dev, into the same namespace.
    h.repo.write(".gantry.yaml", &gantry_yaml(&["web"]))?;
    h.repo
        .write("apps/web/a.yaml", &configmap("from-one", "1"))?;
    let one = h.repo.commit("one")?;
    let other = GitRepo::new()?;
    other.write(".gantry.yaml", &gantry_yaml(&["web"]))?;
    other.write("apps/web/b.yaml", &configmap("from-two", "2"))?;
    let two = other.commit("two")?;

    h.push(ZERO, &one).await?;
    let mut ev = h.push_event(ZERO, &two);
    if let Some(r) = ev.repository.as_mut() {
        r.full_name = "acme/other".into();
        r.name = "other".into();
        r.clone_url = other.url();
    }
    h.publish(ev).await?;
    assert_eq!(
        h.final_status(&one, "gantry/web/dev", Duration::from_secs(30))
            .await?
            .state,
        "success"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while state(&h, "acme/other", "web", "dev")
        .await?
        .is_none_or(|s| s.reported.is_none())
    {
        assert!(Instant::now() < deadline, "acme/other never deployed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        h.names("v1", "ConfigMap", "web-dev").await?,
        ["from-one", "from-two"]
    );
    let a = state(&h, FULL, "web", "dev").await?.expect("one");
    let b = state(&h, "acme/other", "web", "dev").await?.expect("two");
    assert_eq!(
        (a.revision.as_str(), b.revision.as_str()),
        (one.as_str(), two.as_str())
    );
    assert_eq!(a.inventory.len(), 1);
    assert_eq!(b.inventory.len(), 1);

    // The first repository drops its ConfigMap: only its own is pruned.
    h.repo.remove("apps/web/a.yaml")?;
    h.repo
        .write("apps/web/c.yaml", &configmap("from-one-c", "3"))?;
    let one2 = h.repo.commit("swap")?;
    h.push(&one, &one2).await?;
    let s = h
        .final_status(&one2, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success", "{s:?}");
    assert!(s.description.contains("1 pruned"), "{s:?}");
    assert_eq!(
        h.names("v1", "ConfigMap", "web-dev").await?,
        ["from-one-c", "from-two"]
    );
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_moved_to_another_cluster_is_pruned_from_the_old_one() -> Result<()> {
    let mut h = Harness::start().await?;
    let second = gantry_kube_sim::KubeSim::start(gantry_kube_sim::Config {
        ready_delay: Duration::from_millis(200),
        controller_interval: Duration::from_millis(50),
        ..Default::default()
    })
    .await?;
    let kc = second.kubeconfig();
    h.worker("w1", move |c| {
        c.clusters.push(gantry_reconciler::config::Cluster {
            name: "second".into(),
            source: gantry_reconciler::config::ClusterSource::KubeconfigYaml(kc),
        })
    })
    .await?;
    let c1 = h.seed_web()?;
    h.push(ZERO, &c1).await?;
    assert_eq!(
        h.final_status(&c1, "gantry/web/dev", Duration::from_secs(30))
            .await?
            .state,
        "success"
    );
    assert_eq!(h.names("v1", "ConfigMap", "web-dev").await?, ["web"]);

    h.repo.write(
        ".gantry.yaml",
        &format!("{}        cluster: second\n", gantry_yaml(&["web"])),
    )?;
    let c2 = h.repo.commit("move to second")?;
    h.push(&c1, &c2).await?;
    let s = h
        .final_status(&c2, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success", "{s:?}");
    assert!(s.description.contains("1 pruned"), "{s:?}");
    assert!(h.names("v1", "ConfigMap", "web-dev").await?.is_empty());
    let client = kube_client(&second).await?;
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client, "web-dev");
    assert!(cms.get_opt("web").await?.is_some());
    assert_eq!(
        state(&h, FULL, "web", "dev").await?.map(|s| s.cluster),
        Some("second".into())
    );
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dlq_never_loses_an_event() -> Result<()> {
    let mut h = Harness::start().await?;
    let w = h
        .worker("w1", |c| {
            c.max_deliver = 2;
            c.nak_base = Duration::from_millis(100);
            c.nak_max = Duration::from_millis(300);
        })
        .await?;
    let base = h.workers[w].base.clone();
    // The DLQ is gone: giving up cannot store the event, so it must stay unacked.
    h.js.delete_stream(gantry_nats::DLQ_STREAM).await?;
    let sha = "1111111111111111111111111111111111111111";
    let mut ev = h.push_event(ZERO, sha);
    if let Some(r) = ev.repository.as_mut() {
        r.clone_url = "file:///nonexistent/gantry/repo.git".into();
    }
    h.publish(ev).await?;
    // Garbage on an event subject is dead-lettered too, never dropped.
    h.js.publish(
        "gantry.events.github.acme.platform.push",
        bytes::Bytes::from_static(b"\xff\xffnot protobuf"),
    )
    .await?
    .await?;
    let consumer = async |h: &Harness| -> Result<u64> {
        let mut c: async_nats::jetstream::consumer::PullConsumer =
            h.js.get_stream(gantry_nats::EVENTS_STREAM)
                .await?
                .get_consumer(gantry_nats::RECONCILER_CONSUMER)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        let info = c.info().await?;
        Ok(info.num_ack_pending as u64 + info.num_pending)
    };
    // Past max_deliver with no DLQ: both events are still held by the consumer.
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(
        &base,
        "gantry_reconcile_total{app=\"-\",environment=\"-\",outcome=\"transient\"}",
    )
    .await?
        < 4.0
    {
        assert!(Instant::now() < deadline, "no redeliveries");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(consumer(&h).await?, 2, "both events are still pending");
    // The DLQ comes back: both are stored there, then acked.
    gantry_nats::ensure_stream(
        &h.js,
        &gantry_nats::dlq_stream_config(1),
        gantry_nats::DLQ_STREAM,
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n =
            h.js.get_stream(gantry_nats::DLQ_STREAM)
                .await?
                .get_info()
                .await?
                .state
                .messages;
        if n == 2 && consumer(&h).await? == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "DLQ has {n} messages");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(metric(&base, &total("-", "-", "dead_lettered")).await?, 1.0);
    let s = state(&h, FULL, "-", "-").await?.expect("repository record");
    assert_eq!(
        s.last_attempt.map(|a| a.outcome),
        Some(AttemptOutcome::DeadLettered)
    );
    h.shutdown().await;
    Ok(())
}
