//! The scenarios: monorepo diffs, push + pr_merged, fail-fast, bad input, Git host
//! failures, dead-lettering, two workers, and a worker killed mid-apply.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use anyhow::Result;
use common::*;
use gantry_forge_sim::Fault;
use gantry_proto::v1::{Outcome, Phase};

const ZERO: &str = "0000000000000000000000000000000000000000";

fn applies(audit: &[(String, gantry_proto::v1::AuditRecord)], app: &str, rev: &str) -> usize {
    audit
        .iter()
        .filter(|(_, r)| {
            r.application == app
                && r.revision == rev
                && r.phase == Phase::Apply as i32
                && r.outcome == Outcome::Succeeded as i32
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_to_one_app_of_fifty_deploys_that_app_only() -> Result<()> {
    let mut h = Harness::start().await?;
    let names: Vec<String> = (0..50).map(|i| format!("app-{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    h.repo.write(".gantry.yaml", &gantry_yaml(&refs))?;
    h.repo
        .write("bases/shared.yaml", &configmap("unused", "x"))?;
    for n in &names {
        h.repo
            .write(&format!("apps/{n}/cm.yaml"), &configmap(n, "1"))?;
    }
    let c1 = h.repo.commit("fifty apps")?;
    h.worker("w1", |c| c.concurrency = 8).await?;
    h.push(ZERO, &c1).await?;
    for n in &names {
        let s = h
            .final_status(&c1, &format!("gantry/{n}/dev"), Duration::from_secs(60))
            .await?;
        assert_eq!(s.state, "success", "{n}: {s:?}");
    }

    h.repo
        .write("apps/app-07/cm.yaml", &configmap("app-07", "2"))?;
    h.repo
        .write("bases/shared.yaml", &configmap("unused", "y"))?;
    let c2 = h.repo.commit("change app-07")?;
    let t = Instant::now();
    h.push(&c1, &c2).await?;
    let s = h
        .final_status(&c2, "gantry/app-07/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success", "{s:?}");
    eprintln!("one-app change to success: {:?}", t.elapsed());
    // Every other app is recorded skipped, without a status or an apply.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let audit = h.audit().await?;
        let skipped = audit
            .iter()
            .filter(|(_, r)| {
                r.revision == c2
                    && r.outcome == Outcome::Skipped as i32
                    && r.phase == Phase::Apply as i32
            })
            .count();
        if skipped == 49 {
            assert_eq!(applies(&audit, "app-07", &c2), 1);
            assert_eq!(
                audit
                    .iter()
                    .filter(|(_, r)| r.revision == c2
                        && r.phase == Phase::Apply as i32
                        && r.outcome == Outcome::Succeeded as i32)
                    .count(),
                1
            );
            break;
        }
        assert!(Instant::now() < deadline, "{skipped} skipped records");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let contexts: Vec<String> = h
        .forge
        .statuses(FULL, &c2)
        .into_iter()
        .map(|s| s.context)
        .collect();
    assert!(
        contexts.iter().all(|c| c == "gantry/app-07/dev"),
        "{contexts:?}"
    );
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_and_its_pr_merged_apply_once() -> Result<()> {
    let mut h = Harness::start().await?;
    let c1 = h.seed_web()?;
    h.worker("w1", |_| {}).await?;
    h.push(ZERO, &c1).await?;
    h.final_status(&c1, "gantry/web/dev", Duration::from_secs(30))
        .await?;

    h.repo.git(&["checkout", "-q", "-b", "feature"])?;
    h.repo.write("apps/web/cm.yaml", &configmap("web", "2"))?;
    let head = h.repo.commit("feature")?;
    h.repo.git(&["checkout", "-q", "main"])?;
    h.repo.git(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge pull request #7",
        "feature",
    ])?;
    let merge = h.repo.head()?;
    let push = h.push_event(&c1, &merge);
    let merged = h.merged_event(&c1, &merge, &head);
    h.publish(push).await?;
    h.publish(merged).await?;

    let s = h
        .final_status(&merge, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success");
    let s = h
        .final_status(&head, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(
        s.state, "success",
        "the pull request's head gets the status too"
    );
    // Wait for both events to be settled, then count applies.
    reports(&h, &merge, 2).await?;
    assert_eq!(applies(&h.audit().await?, "web", &merge), 1, "applied once");
    h.shutdown().await;
    Ok(())
}

/// Waits until `n` report records of `rev` are audited and returns the last one's message.
async fn reports(h: &Harness, rev: &str, n: usize) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let audit = h.audit().await?;
        let found: Vec<_> = audit
            .iter()
            .filter(|(_, r)| r.revision == rev && r.phase == Phase::Report as i32)
            .collect();
        if found.len() >= n {
            return Ok(found[n - 1].1.message.clone());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} report records of {rev}",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_event_posts_only_a_status_the_host_does_not_show() -> Result<()> {
    let mut h = Harness::start().await?;
    let c1 = h.seed_web()?;
    h.worker("w1", |_| {}).await?;
    h.push(ZERO, &c1).await?;
    h.final_status(&c1, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    reports(&h, &c1, 1).await?;

    // The same push delivered again: the host already shows its outcome, which is what a
    // redelivery sees when its first delivery posted and was killed before recording so.
    h.push(ZERO, &c1).await?;
    let message = reports(&h, &c1, 2).await?;
    assert!(message.contains("already shown"), "{message}");
    let states = |h: &Harness| {
        h.statuses(&c1, "gantry/web/dev")
            .into_iter()
            .map(|s| s.state)
            .collect::<Vec<_>>()
    };
    assert_eq!(states(&h), ["pending", "success"]);

    // Someone else marks the commit failed; the next delivery shows Gantry's outcome again.
    let resp = reqwest::Client::new()
        .post(format!("{}/repos/{FULL}/statuses/{c1}", h.forge.url()))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"state": "failure", "context": "gantry/web/dev"}))
        .send()
        .await?;
    assert!(resp.status().is_success(), "{}", resp.status());
    h.push(ZERO, &c1).await?;
    let message = reports(&h, &c1, 3).await?;
    assert!(message.contains("reposted"), "{message}");
    assert_eq!(states(&h), ["pending", "success", "failure", "success"]);
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashloop_fails_within_seconds() -> Result<()> {
    let mut h = Harness::start().await?;
    h.repo
        .write(".gantry.yaml", &gantry_yaml(&["web"]).replace("30s", "5m"))?;
    h.repo.write(
        "apps/web/deploy.yaml",
        &deployment("web", "app:crashloop", 2),
    )?;
    let c1 = h.repo.commit("crash")?;
    h.worker("w1", |_| {}).await?;
    let t = Instant::now();
    h.push(ZERO, &c1).await?;
    let s = h
        .final_status(&c1, "gantry/web/dev", Duration::from_secs(20))
        .await?;
    assert_eq!(s.state, "failure", "{s:?}");
    assert!(s.description.contains("CrashLoopBackOff"), "{s:?}");
    assert!(t.elapsed() < Duration::from_secs(20));
    eprintln!("crashloop to failure: {:?}", t.elapsed());
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gives_clear_errors_and_applies_nothing() -> Result<()> {
    let mut h = Harness::start().await?;
    h.worker("w1", |_| {}).await?;

    // A typo in .gantry.yaml: error on the repository context, naming file and line.
    h.repo.write(
        ".gantry.yaml",
        &gantry_yaml(&["web"]).replace("namespace:", "namespaec:"),
    )?;
    h.repo.write("apps/web/cm.yaml", &configmap("web", "1"))?;
    let c1 = h.repo.commit("typo")?;
    h.push(ZERO, &c1).await?;
    let s = h
        .final_status(&c1, "gantry", Duration::from_secs(20))
        .await?;
    assert_eq!(s.state, "error");
    assert!(
        s.description
            .starts_with(".gantry.yaml:7: unknown field `namespaec`"),
        "{s:?}"
    );
    assert!(s.description.contains("namespaec"), "{s:?}");

    // An unknown cluster: error naming the line of `cluster`.
    h.repo.write(
        ".gantry.yaml",
        &format!("{}        cluster: nowhere\n", gantry_yaml(&["web"])),
    )?;
    let c2 = h.repo.commit("cluster")?;
    h.push(&c1, &c2).await?;
    let s = h
        .final_status(&c2, "gantry/web/dev", Duration::from_secs(20))
        .await?;
    assert_eq!(s.state, "error");
    assert!(
        s.description
            .starts_with(".gantry.yaml:9: cluster \"nowhere\""),
        "{s:?}"
    );

    // A render error: the renderer's message, with file and line, cut to 140 characters.
    h.repo.write(".gantry.yaml", &gantry_yaml(&["web"]))?;
    h.repo.write(
        "apps/web/bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [unclosed\n",
    )?;
    let c3 = h.repo.commit("bad yaml")?;
    h.push(&c2, &c3).await?;
    let s = h
        .final_status(&c3, "gantry/web/dev", Duration::from_secs(20))
        .await?;
    assert_eq!(s.state, "error");
    assert!(s.description.contains("apps/web/bad.yaml:3"), "{s:?}");
    assert!(s.description.chars().count() <= 140);
    let audit = h.audit().await?;
    let full = audit
        .iter()
        .find(|(_, r)| {
            r.revision == c3
                && r.phase == Phase::Render as i32
                && r.outcome == Outcome::Failed as i32
        })
        .map(|(_, r)| r.message.clone())
        .unwrap_or_default();
    assert!(full.contains("apps/web/bad.yaml:3"), "{full}");
    assert!(
        !full.ends_with('…'),
        "the audit record keeps the full text: {full}"
    );

    // An object the API server rejects: failure naming it, and the valid one is not applied
    // either, because the whole set is dry-run first.
    h.repo.remove("apps/web/bad.yaml")?;
    h.repo.write(
        "apps/web/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: broken\nspec:\n  selector:\n    matchLabels: {app: x}\n  template:\n    metadata:\n      labels: {app: y}\n    spec:\n      containers: []\n",
    )?;
    let c4 = h.repo.commit("invalid deployment")?;
    h.push(&c3, &c4).await?;
    let s = h
        .final_status(&c4, "gantry/web/dev", Duration::from_secs(20))
        .await?;
    assert_eq!(s.state, "failure", "{s:?}");
    assert!(s.description.contains("Deployment/web-dev/broken"), "{s:?}");
    assert!(h.names("v1", "ConfigMap", "web-dev").await?.is_empty());

    // A missing path: error, nothing pruned.
    h.repo.remove("apps/web/deploy.yaml")?;
    let c5 = h.repo.commit("fixed")?;
    h.push(&c4, &c5).await?;
    assert_eq!(
        h.final_status(&c5, "gantry/web/dev", Duration::from_secs(20))
            .await?
            .state,
        "success"
    );
    h.repo.remove("apps/web")?;
    let c6 = h.repo.commit("gone")?;
    h.push(&c5, &c6).await?;
    let s = h
        .final_status(&c6, "gantry/web/dev", Duration::from_secs(20))
        .await?;
    assert_eq!(s.state, "error");
    assert!(s.description.contains("does not exist"), "{s:?}");
    assert_eq!(h.names("v1", "ConfigMap", "web-dev").await?, ["web"]);
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_host_answering_502_then_200_gets_each_status_once() -> Result<()> {
    let mut h = Harness::start().await?;
    let c1 = h.seed_web()?;
    h.worker("w1", |_| {}).await?;
    h.forge.inject(Fault::Status(502), 1);
    h.forge.inject(Fault::TooManyRequests { retry_after: 1 }, 1);
    h.push(ZERO, &c1).await?;
    let s = h
        .final_status(&c1, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success");
    let states: Vec<String> = h
        .statuses(&c1, "gantry/web/dev")
        .into_iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(states, ["pending", "success"]);
    let codes: Vec<u16> = h.forge.requests().into_iter().map(|r| r.status).collect();
    assert_eq!(codes, [502, 429, 201, 201]);
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_git_host_ends_in_the_dlq_with_an_error_status() -> Result<()> {
    let mut h = Harness::start().await?;
    h.worker("w1", |c| {
        c.max_deliver = 3;
        c.nak_base = Duration::from_millis(100);
    })
    .await?;
    let mut ev = h.push_event(ZERO, "1111111111111111111111111111111111111111");
    if let Some(r) = ev.repository.as_mut() {
        r.clone_url = "file:///nonexistent/gantry/repo.git".into();
    }
    h.publish(ev).await?;
    let s = h
        .final_status(
            "1111111111111111111111111111111111111111",
            "gantry",
            Duration::from_secs(30),
        )
        .await?;
    assert_eq!(s.state, "error");
    assert!(
        s.description.contains("gave up after 3 deliveries"),
        "{s:?}"
    );
    assert!(
        s.description
            .contains("gantry.dlq.github.acme.platform.push"),
        "{s:?}"
    );
    let dlq =
        h.js.get_stream(gantry_nats::DLQ_STREAM)
            .await?
            .get_info()
            .await?;
    assert_eq!(dlq.state.messages, 1);
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_apply_each_environment_once_and_in_order() -> Result<()> {
    let mut h = Harness::start().await?;
    let names: Vec<String> = (0..6).map(|i| format!("svc-{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    h.repo.write(".gantry.yaml", &gantry_yaml(&refs))?;
    h.worker("w1", |c| c.concurrency = 2).await?;
    h.worker("w2", |c| c.concurrency = 2).await?;
    // Rounds of three quick pushes until both workers have worked (which worker pulls an event
    // is NATS's choice; with both pulling, the first round almost always spreads), at most five.
    let mut revs: Vec<String> = Vec::new();
    let mut prev = ZERO.to_owned();
    let mut round = 0;
    let workers = loop {
        for _ in 0..3 {
            for n in &names {
                h.repo.write(
                    &format!("apps/{n}/cm.yaml"),
                    &configmap(n, &round.to_string()),
                )?;
            }
            let rev = h.repo.commit(&format!("round {round}"))?;
            h.push(&prev, &rev).await?;
            prev = rev.clone();
            revs.push(rev);
            round += 1;
        }
        for n in &names {
            let s = h
                .final_status(&prev, &format!("gantry/{n}/dev"), Duration::from_secs(60))
                .await?;
            assert_eq!(s.state, "success", "{n}: {s:?}");
        }
        // Every event acked: nothing can still be applied after this.
        h.settled(Duration::from_secs(60)).await?;
        let workers: BTreeSet<String> = h
            .audit()
            .await?
            .iter()
            .filter(|(_, r)| r.phase == Phase::Apply as i32)
            .map(|(_, r)| r.worker_id.clone())
            .collect();
        if workers.len() == 2 || round >= 15 {
            break workers;
        }
    };
    assert_eq!(
        workers,
        BTreeSet::from(["w1".to_owned(), "w2".to_owned()]),
        "both workers applied something after {round} pushes"
    );
    let audit = h.audit().await?;
    let order: HashMap<&str, usize> = revs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.as_str(), i))
        .collect();
    for n in &names {
        let applied: Vec<usize> = audit
            .iter()
            .filter(|(_, r)| {
                r.application == *n
                    && r.phase == Phase::Apply as i32
                    && r.outcome == Outcome::Succeeded as i32
            })
            .filter_map(|(_, r)| order.get(r.revision.as_str()).copied())
            .collect();
        // Each revision at most once (a superseded one not at all), never after a newer one,
        // and the newest applied.
        let mut sorted = applied.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            applied, sorted,
            "{n}: applied in order, each once: {applied:?}"
        );
        assert_eq!(applied.last(), Some(&(revs.len() - 1)), "{n}: {applied:?}");
    }
    h.shutdown().await;
    Ok(())
}

/// Commits web's ConfigMap with `value` on top of `before`, pushes it, and waits until
/// `gantry/web/dev` reports success on the commit and the stream has settled; gives the commit.
async fn deploy_web_value(
    h: &mut Harness,
    before: &str,
    value: &str,
    message: &str,
) -> Result<String> {
    h.repo.write("apps/web/cm.yaml", &configmap("web", value))?;
    let c = h.repo.commit(message)?;
    h.push(before, &c).await?;
    let s = h
        .final_status(&c, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success", "{s:?}");
    h.settled(Duration::from_secs(30)).await?;
    Ok(c)
}

/// A worker whose mirror predates what another worker applied must not take the environment
/// back: a late event for an older commit is superseded, not applied over the newer one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_event_is_superseded_by_what_another_worker_applied() -> Result<()> {
    let mut h = Harness::start().await?;
    let c0 = h.seed_web()?;
    let w1 = h.worker("w1", |_| ()).await?;
    h.push(ZERO, &c0).await?;
    let c1 = deploy_web_value(&mut h, &c0, "2", "second").await?;
    // w1's mirror now ends at c1; c2 is fetched and applied by w2 alone.
    h.kill(w1);
    let w2 = h.worker("w2", |_| ()).await?;
    deploy_web_value(&mut h, &c1, "3", "third").await?;
    h.kill(w2);
    // The same data directory: the mirror that has never seen c2.
    h.worker("w1", |_| ()).await?;
    h.push(&c0, &c1).await?;
    h.settled(Duration::from_secs(30)).await?;
    let audit = h.audit().await?;
    assert_eq!(applies(&audit, "web", &c1), 1, "c1 applied again over c2");
    let cm: k8s_openapi::api::core::v1::ConfigMap =
        kube::Api::namespaced(h.client.clone(), "web-dev")
            .get("web")
            .await?;
    assert_eq!(
        cm.data.and_then(|d| d.get("value").cloned()).as_deref(),
        Some("3")
    );
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_apply_converges_after_redelivery() -> Result<()> {
    let mut h = Harness::start().await?;
    h.repo.write(".gantry.yaml", &gantry_yaml(&["web"]))?;
    h.repo
        .write("apps/web/deploy.yaml", &deployment("web", "nginx:1.27", 3))?;
    h.repo.write("apps/web/cm.yaml", &configmap("web", "1"))?;
    let c1 = h.repo.commit("first")?;
    let fast = |c: &mut gantry_reconciler::Config| {
        c.ack_wait = Duration::from_secs(2);
        c.lease_ttl = Duration::from_secs(2);
    };
    let w1 = h.worker("w1", fast).await?;
    h.push(ZERO, &c1).await?;
    // Kill it as soon as work has started (the pending status is out).
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.statuses(&c1, "gantry/web/dev").is_empty() {
        assert!(Instant::now() < deadline, "no pending status");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    h.kill(w1);
    h.worker("w2", fast).await?;
    let s = h
        .final_status(&c1, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success", "{s:?}");
    assert_eq!(h.names("apps/v1", "Deployment", "web-dev").await?, ["web"]);
    assert_eq!(h.names("v1", "ConfigMap", "web-dev").await?, ["web"]);
    // The one event was delivered again after w1 died (the consumer delivered more often than
    // the stream holds messages), and w2 is the worker that finished it.
    h.settled(Duration::from_secs(30)).await?;
    let mut consumer: async_nats::jetstream::consumer::PullConsumer =
        h.js.get_consumer_from_stream(gantry_nats::RECONCILER_CONSUMER, gantry_nats::EVENTS_STREAM)
            .await?;
    let info = consumer.info().await?;
    assert_eq!(info.delivered.stream_sequence, 1, "{info:?}");
    assert!(
        info.delivered.consumer_sequence >= 2,
        "no redelivery after the kill: {info:?}"
    );
    let audit = h.audit().await?;
    let by = |phase: Phase, outcome: Outcome| -> BTreeSet<String> {
        audit
            .iter()
            .filter(|(_, r)| {
                r.revision == c1 && r.phase == phase as i32 && r.outcome == outcome as i32
            })
            .map(|(_, r)| r.worker_id.clone())
            .collect()
    };
    assert_eq!(
        by(Phase::Verify, Outcome::Succeeded),
        BTreeSet::from(["w2".to_owned()]),
        "the worker that finished"
    );
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_over_git_smart_http() -> Result<()> {
    let mut h = Harness::start().await?;
    let root = tempfile::tempdir()?;
    let host =
        gantry_forge_sim::ForgeSim::start(gantry_forge_sim::Config::github_hosting(root.path()))
            .await?;
    let hosting = host.hosting().cloned().expect("hosting");
    hosting.repos().create(FULL, "main").await?;
    let url = format!("{}/{FULL}.git", host.url());
    let c1 = h.seed_web()?;
    let repo_dir = h.repo.path().to_owned();
    let u = url.clone();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new("git")
            .args(["push", "-q", &u, "main"])
            .current_dir(repo_dir)
            .status()
    })
    .await??;
    h.worker("w1", |_| {}).await?;
    let mut ev = h.push_event(ZERO, &c1);
    if let Some(r) = ev.repository.as_mut() {
        r.clone_url = url;
    }
    h.publish(ev).await?;
    let s = h
        .final_status(&c1, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success", "{s:?}");
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitea_statuses_use_gitea_api() -> Result<()> {
    let mut h = Harness::start().await?;
    let c1 = h.seed_web()?;
    let api = h.forge.url();
    h.worker("w1", move |c| {
        c.forges = vec![gantry_reconciler::config::Forge {
            name: "gitea".into(),
            kind: gantry_reconciler::config::ForgeKind::Gitea,
            api_url: api,
            token: TOKEN.into(),
            app: None,
        }];
    })
    .await?;
    let mut ev = h.push_event(ZERO, &c1);
    ev.provider = gantry_proto::v1::Provider::Gitea as i32;
    h.publish(ev).await?;
    let s = h
        .final_status(&c1, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!((s.state.as_str(), s.api), ("success", "gitea"));
    reports(&h, &c1, 1).await?;
    // A repeated event reads Gitea's list and finds its status already shown.
    let mut again = h.push_event(ZERO, &c1);
    again.provider = gantry_proto::v1::Provider::Gitea as i32;
    h.publish(again).await?;
    let message = reports(&h, &c1, 2).await?;
    assert!(message.contains("already shown"), "{message}");
    assert_eq!(h.statuses(&c1, "gantry/web/dev").len(), 2);
    let requests = h.forge.requests();
    assert!(
        requests.iter().all(|r| r.status < 300
            && (r.path.starts_with("/api/v1/repos/acme/platform/statuses/")
                || r.path.starts_with("/api/v1/repos/acme/platform/commits/"))),
        "{requests:?}"
    );
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_render_prunes_only_with_allow_empty() -> Result<()> {
    let mut h = Harness::start().await?;
    let c1 = h.seed_web()?;
    h.worker("w1", |_| {}).await?;
    h.push(ZERO, &c1).await?;
    assert_eq!(
        h.final_status(&c1, "gantry/web/dev", Duration::from_secs(30))
            .await?
            .state,
        "success"
    );

    h.repo.remove("apps/web/cm.yaml")?;
    h.repo.write("apps/web/README.md", "nothing to deploy\n")?;
    let c2 = h.repo.commit("empty")?;
    h.push(&c1, &c2).await?;
    let s = h
        .final_status(&c2, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "error");
    assert!(s.description.contains("renders no objects"), "{s:?}");
    assert_eq!(h.names("v1", "ConfigMap", "web-dev").await?, ["web"]);

    h.repo.write(
        ".gantry.yaml",
        &format!("{}        allowEmpty: true\n", gantry_yaml(&["web"])),
    )?;
    let c3 = h.repo.commit("allow empty")?;
    h.push(&c2, &c3).await?;
    let s = h
        .final_status(&c3, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success", "{s:?}");
    assert!(
        s.description.contains("0 objects applied, 1 pruned"),
        "{s:?}"
    );
    assert!(h.names("v1", "ConfigMap", "web-dev").await?.is_empty());
    h.shutdown().await;
    Ok(())
}
