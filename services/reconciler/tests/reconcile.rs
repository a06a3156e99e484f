//! End to end: events on a real JetStream, a real git repository, the Kubernetes API emulator and
//! the Git host emulator.

mod common;

use std::time::{Duration, Instant};

use anyhow::Result;
use common::*;
use gantry_proto::v1::{Outcome, Phase};

const ZERO: &str = "0000000000000000000000000000000000000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_deploy_then_prune_then_superseded() -> Result<()> {
    let mut h = Harness::start().await?;
    h.repo.write(".gantry.yaml", &gantry_yaml(&["web"]))?;
    h.repo
        .write("apps/web/deploy.yaml", &deployment("web", "nginx:1.27", 2))?;
    h.repo
        .write("apps/web/config.yaml", &configmap("web-config", "a"))?;
    h.repo
        .write("apps/web/extra.yaml", &configmap("web-extra", "x"))?;
    let c1 = h.repo.commit("first")?;
    h.worker("w1", |_| {}).await?;

    let t = Instant::now();
    h.push(ZERO, &c1).await?;
    let s = h
        .final_status(&c1, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success", "{s:?}");
    assert!(
        s.description.starts_with(&format!("deployed {}", &c1[..7])),
        "{s:?}"
    );
    assert!(s.description.contains("3 objects applied"), "{s:?}");
    eprintln!("first deploy: {:?}", t.elapsed());
    let states: Vec<String> = h
        .statuses(&c1, "gantry/web/dev")
        .into_iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(states, ["pending", "success"]);
    assert_eq!(
        h.names("v1", "ConfigMap", "web-dev").await?,
        ["web-config", "web-extra"]
    );
    assert_eq!(h.names("apps/v1", "Deployment", "web-dev").await?, ["web"]);

    // Audit: fetch, render, apply, prune, verify, report, each stored with its schema header.
    let audit = h.audit().await?;
    let phases: Vec<(i32, i32)> = audit
        .iter()
        .filter(|(_, r)| r.revision == c1)
        .map(|(_, r)| (r.phase, r.outcome))
        .collect();
    for want in [
        Phase::Fetch,
        Phase::Render,
        Phase::Apply,
        Phase::Prune,
        Phase::Verify,
        Phase::Report,
    ] {
        assert!(
            phases.contains(&(want as i32, Outcome::Succeeded as i32)),
            "{want:?} missing from {phases:?}"
        );
    }
    assert!(
        audit
            .iter()
            .any(|(s, _)| s == "gantry.audit.web.dev.succeeded")
    );
    assert!(
        audit
            .iter()
            .all(|(_, r)| r.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736")
    );

    // Remove a file: its ConfigMap is pruned, the rest stays.
    h.repo.remove("apps/web/extra.yaml")?;
    let c2 = h.repo.commit("drop extra")?;
    h.push(&c1, &c2).await?;
    let s = h
        .final_status(&c2, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success", "{s:?}");
    assert!(s.description.contains("1 pruned"), "{s:?}");
    assert_eq!(h.names("v1", "ConfigMap", "web-dev").await?, ["web-config"]);

    // An older revision arriving late is superseded: nothing applied, no status on it.
    let before = h.statuses(&c1, "gantry/web/dev").len();
    h.push(ZERO, &c1).await?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let audit = h.audit().await?;
        if audit.iter().any(|(s, r)| {
            s == "gantry.audit.web.dev.superseded"
                && r.revision == c1
                && r.outcome == Outcome::Superseded as i32
        }) {
            break;
        }
        assert!(Instant::now() < deadline, "no superseded record");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(h.statuses(&c1, "gantry/web/dev").len(), before);
    assert_eq!(h.names("v1", "ConfigMap", "web-dev").await?, ["web-config"]);
    h.shutdown().await;
    Ok(())
}
