//! The resync: a push whose webhook was lost is deployed by the next round, exactly as the push
//! would have been; two replicas share the rounds so each environment is checked once per
//! interval; an API sync reconciles one environment. Real nats-server, kube-sim, forge-sim (Git
//! over smart HTTP) and git.

mod common;

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use common::*;
use gantry_forge_sim::ForgeSim;
use gantry_proto::v1::{Event, EventKind, Outcome, Phase, Provider, SyncRequest, Trigger};
use gantry_reconciler::state::{EnvKey, StateStore};

const ZERO: &str = "0000000000000000000000000000000000000000";
const INTERVAL: Duration = Duration::from_secs(5);

/// A Git host serving acme/platform over smart HTTP, with no webhooks: every delivery is lost.
async fn host() -> Result<(ForgeSim, tempfile::TempDir, String)> {
    let root = tempfile::tempdir()?;
    let host = ForgeSim::start(gantry_forge_sim::Config::github_hosting(root.path())).await?;
    host.hosting()
        .cloned()
        .expect("hosting")
        .repos()
        .create(FULL, "main")
        .await?;
    let url = format!("{}/{FULL}.git", host.url());
    Ok((host, root, url))
}

async fn push_to(h: &Harness, url: &str) -> Result<()> {
    let dir = h.repo.path().to_owned();
    let u = url.to_owned();
    let ok = tokio::task::spawn_blocking(move || {
        std::process::Command::new("git")
            .args(["push", "-q", &u, "main"])
            .current_dir(dir)
            .status()
    })
    .await??;
    if !ok.success() {
        bail!("git push failed");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_webhook_was_lost_is_deployed_by_the_resync() -> Result<()> {
    let mut h = Harness::start().await?;
    let (host, _root, url) = host().await?;
    h.repo
        .write(".gantry.yaml", &gantry_yaml(&["web", "api"]))?;
    h.repo.write("apps/web/cm.yaml", &configmap("web", "1"))?;
    h.repo.write("apps/api/cm.yaml", &configmap("api", "1"))?;
    let c1 = h.repo.commit("first")?;
    push_to(&h, &url).await?;
    let w = h.worker("w1", |c| c.resync_interval = INTERVAL).await?;
    let base = h.workers[w].base.clone();
    // The first push is announced.
    let mut ev = h.push_event(ZERO, &c1);
    if let Some(r) = ev.repository.as_mut() {
        r.clone_url = url.clone();
    }
    h.publish(ev).await?;
    assert_eq!(
        h.final_status(&c1, "gantry/web/dev", Duration::from_secs(30))
            .await?
            .state,
        "success"
    );

    // The second one is not: its webhook was lost. The resync finds the new head and deploys
    // it, to the changed environment only, with statuses, as the push would have.
    h.repo.write("apps/web/cm.yaml", &configmap("web", "2"))?;
    let c2 = h.repo.commit("web 2")?;
    let pushed = Instant::now();
    push_to(&h, &url).await?;
    let s = h.final_status(&c2, "gantry/web/dev", INTERVAL * 6).await?;
    eprintln!(
        "lost webhook deployed by the resync {:?} after the push (interval {INTERVAL:?})",
        pushed.elapsed()
    );
    assert_eq!(s.state, "success", "{s:?}");
    let states: Vec<String> = h
        .statuses(&c2, "gantry/web/dev")
        .into_iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(states, ["pending", "success"]);
    assert!(
        h.statuses(&c2, "gantry/api/dev").is_empty(),
        "api/dev did not change: no status"
    );
    let audit = h.audit().await?;
    let applied = audit
        .iter()
        .find(|(_, r)| {
            r.revision == c2
                && r.phase == Phase::Apply as i32
                && r.outcome == Outcome::Succeeded as i32
        })
        .map(|(_, r)| r.clone())
        .expect("an apply record");
    assert_eq!(applied.trigger, Trigger::Resync as i32);
    assert!(
        applied.event_id.starts_with("resync:"),
        "{}",
        applied.event_id
    );
    assert!(
        audit
            .iter()
            .any(|(s, r)| s == "gantry.audit.api.dev.skipped" && r.revision == c2),
        "api/dev is skipped"
    );
    assert!(metric(&base, "gantry_resync_total{outcome=\"recovered\"}").await? >= 1.0);
    drop(host);
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_check_each_environment_once_per_interval() -> Result<()> {
    let mut h = Harness::start().await?;
    let (host, _root, url) = host().await?;
    let c1 = h.seed_web()?;
    push_to(&h, &url).await?;
    let a = h.worker("a", |c| c.resync_interval = INTERVAL).await?;
    let b = h.worker("b", |c| c.resync_interval = INTERVAL).await?;
    let mut ev = h.push_event(ZERO, &c1);
    if let Some(r) = ev.repository.as_mut() {
        r.clone_url = url.clone();
    }
    h.publish(ev).await?;
    assert_eq!(
        h.final_status(&c1, "gantry/web/dev", Duration::from_secs(30))
            .await?
            .state,
        "success"
    );
    // Every check writes the environment's record; follow its writes over three rounds.
    let state = StateStore::open(&h.js, "reader", Duration::from_secs(5)).await?;
    let key = EnvKey::new(FULL, "web", "dev");
    let mut checks: Vec<(i64, String)> = Vec::new();
    let deadline = Instant::now() + INTERVAL * 10;
    while checks.len() < 3 {
        if let Some(c) = state.get(&key).await?.and_then(|s| s.last_check)
            && checks.last().is_none_or(|l| l.0 != c.at)
        {
            checks.push((c.at, c.worker));
        }
        assert!(
            Instant::now() < deadline,
            "only {checks:?} within ten intervals"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listings_before = host.hosting().map(|x| x.ref_listings()).unwrap_or(0);
    // No two checks of the environment within one interval, whichever worker ran them.
    for pair in checks.windows(2) {
        assert!(
            pair[1].0 - pair[0].0 >= INTERVAL.as_secs() as i64 - 1,
            "two checks within one interval: {checks:?}"
        );
    }
    let mut total = 0.0;
    for w in [a, b] {
        total += metric(
            &h.workers[w].base,
            "gantry_resync_total{outcome=\"unchanged\"}",
        )
        .await?;
    }
    eprintln!(
        "checks {checks:?}; unchanged checks counted by both workers {total}; ref listings {listings_before}"
    );
    drop(host);
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_sync_reconciles_one_environment_and_refuses_older_revisions() -> Result<()> {
    let mut h = Harness::start().await?;
    h.repo
        .write(".gantry.yaml", &gantry_yaml(&["web", "api"]))?;
    h.repo.write("apps/web/cm.yaml", &configmap("web", "1"))?;
    h.repo.write("apps/api/cm.yaml", &configmap("api", "1"))?;
    let c1 = h.repo.commit("first")?;
    h.repo.write("apps/web/cm.yaml", &configmap("web", "2"))?;
    let c2 = h.repo.commit("second")?;
    h.worker("w1", |_| {}).await?;
    h.push(ZERO, &c2).await?;
    assert_eq!(
        h.final_status(&c2, "gantry/web/dev", Duration::from_secs(30))
            .await?
            .state,
        "success"
    );
    let sync = |h: &mut Harness, app: &str, revision: &str| -> Event {
        let mut ev = h.push_event(ZERO, ZERO);
        ev.kind = EventKind::Sync as i32;
        ev.provider = Provider::Api as i32;
        ev.r#ref = String::new();
        ev.before = String::new();
        ev.after = revision.to_owned();
        ev.sync = Some(SyncRequest {
            application: app.to_owned(),
            environment: "dev".into(),
            revision: revision.to_owned(),
            request_id: format!("req-{app}-{revision}"),
            ..Default::default()
        });
        ev
    };
    // At the branch head: web/dev only, re-applied, audited with trigger api.
    let ev = sync(&mut h, "web", "");
    h.publish(ev).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let audit = h.audit().await?;
        if audit.iter().any(|(s, r)| {
            s == "gantry.audit.web.dev.succeeded"
                && r.phase == Phase::Report as i32
                && r.trigger == Trigger::Api as i32
                && r.revision == c2
        }) {
            assert!(
                !audit
                    .iter()
                    .any(|(s, r)| s.starts_with("gantry.audit.api.")
                        && r.trigger == Trigger::Api as i32),
                "api/dev was not asked for"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no api-triggered report");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // An older revision than the applied one: refused as superseded, nothing applied.
    let ev = sync(&mut h, "web", &c1);
    h.publish(ev).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let audit = h.audit().await?;
        if audit.iter().any(|(s, r)| {
            s == "gantry.audit.web.dev.superseded"
                && r.revision == c1
                && r.trigger == Trigger::Api as i32
        }) {
            break;
        }
        assert!(Instant::now() < deadline, "no superseded record");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        StateStore::open(&h.js, "reader", Duration::from_secs(5))
            .await?
            .get(&EnvKey::new(FULL, "web", "dev"))
            .await?
            .map(|s| s.revision),
        Some(c2)
    );
    h.shutdown().await;
    Ok(())
}
