//! Drift, with the real kubectl against kube-sim: `kubectl scale`, `patch` and `delete` on
//! managed objects are found by the next resync and healed (only reported with
//! `selfHeal: false`); a field another manager owns is not drift; drift posts no commit status.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use common::*;
use gantry_proto::v1::{AuditRecord, Outcome, Phase};
use gantry_reconciler::state::{EnvKey, EnvState, StateStore};

const ZERO: &str = "0000000000000000000000000000000000000000";

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .context("running kubectl (scripts/tools.sh puts it on PATH)")?;
    if !out.status.success() {
        bail!("kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `.gantry.yaml` with web (self-healing) and api (`selfHeal: false`), checked every 5s.
fn config() -> String {
    let mut s = String::from("apps:\n");
    for (app, heal) in [("web", true), ("api", false)] {
        s.push_str(&format!(
            "  - name: {app}\n    environments:\n      - name: dev\n        branch: main\n        path: apps/{app}\n        namespace: {app}-dev\n        healthTimeout: 30s\n        interval: 5s\n        selfHeal: {heal}\n"
        ));
    }
    s
}

async fn env_state(h: &Harness, app: &str) -> Result<EnvState> {
    let s = StateStore::open(&h.js, "reader", Duration::from_secs(5)).await?;
    s.get(&EnvKey::new(FULL, app, "dev"))
        .await?
        .context("no state")
}

/// Waits for a drift record of `app` with `outcome` newer than `after` records.
async fn drift_record(
    h: &Harness,
    app: &str,
    outcome: Outcome,
    after: usize,
) -> Result<(usize, AuditRecord)> {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let audit = h.audit().await?;
        let found = audit
            .iter()
            .enumerate()
            .skip(after)
            .find(|(_, (_, r))| {
                r.application == app
                    && r.phase == Phase::Drift as i32
                    && r.outcome == outcome as i32
            })
            .map(|(i, (_, r))| (i + 1, r.clone()));
        if let Some(f) = found {
            return Ok(f);
        }
        if Instant::now() > deadline {
            bail!("no {outcome:?} drift record for {app}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until a check of `app` started after `since` (Unix seconds) is recorded.
async fn checked_after(h: &Harness, app: &str, since: i64) -> Result<EnvState> {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let s = env_state(h, app).await?;
        if s.last_check.as_ref().is_some_and(|c| c.at > since) {
            return Ok(s);
        }
        if Instant::now() > deadline {
            bail!("no check of {app} after {since}: {:?}", s.last_check);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_changes_are_found_and_healed_unless_self_heal_is_off() -> Result<()> {
    let mut h = Harness::start().await?;
    let kc_dir = tempfile::tempdir()?;
    let kc = kc_dir.path().join("kubeconfig");
    std::fs::write(&kc, h.kube.kubeconfig())?;
    h.repo.write(".gantry.yaml", &config())?;
    for app in ["web", "api"] {
        h.repo.write(
            &format!("apps/{app}/deploy.yaml"),
            &deployment(app, "nginx:1.27", 2),
        )?;
        h.repo.write(
            &format!("apps/{app}/cm.yaml"),
            &configmap(&format!("{app}-config"), "a"),
        )?;
    }
    let c1 = h.repo.commit("first")?;
    let w = h
        .worker("w1", |c| c.resync_interval = Duration::from_secs(5))
        .await?;
    let base = h.workers[w].base.clone();
    h.push(ZERO, &c1).await?;
    for app in ["web", "api"] {
        let s = h
            .final_status(&c1, &format!("gantry/{app}/dev"), Duration::from_secs(30))
            .await?;
        assert_eq!(s.state, "success", "{s:?}");
    }
    let statuses_before = h.forge.statuses(FULL, &c1).len();

    // A clean check first: nothing drifted, the objects are counted.
    let s = checked_after(&h, "web", 0).await?;
    let check = s.last_check.expect("check");
    assert!(check.drifted.is_empty(), "{check:?}");
    assert_eq!(check.managed, 2);
    assert_eq!(
        metric(
            &base,
            "gantry_managed_objects{app=\"web\",environment=\"dev\"}"
        )
        .await?,
        2.0
    );

    // kubectl scale: spec.replicas drifted, then healed back to 2.
    kubectl(
        &kc,
        &["scale", "deployment/web", "-n", "web-dev", "--replicas=5"],
    )?;
    let (seen, rec) = drift_record(&h, "web", Outcome::Drifted, 0).await?;
    let obj = rec
        .drifted
        .iter()
        .find(|d| d.kind == "Deployment")
        .expect("the deployment");
    assert_eq!(obj.fields, ["spec.replicas"], "{rec:?}");
    assert_eq!(rec.objects_drifted, 1);
    let (seen, _) = drift_record(&h, "web", Outcome::Healed, seen).await?;
    assert_eq!(
        kubectl(
            &kc,
            &[
                "get",
                "deployment/web",
                "-n",
                "web-dev",
                "-o",
                "jsonpath={.spec.replicas}"
            ]
        )?,
        "2"
    );

    // kubectl patch of a ConfigMap's data, and kubectl delete of another: both found, both healed.
    kubectl(
        &kc,
        &[
            "patch",
            "configmap/web-config",
            "-n",
            "web-dev",
            "--type=merge",
            "-p",
            r#"{"data":{"value":"hacked"}}"#,
        ],
    )?;
    let (seen, rec) = drift_record(&h, "web", Outcome::Drifted, seen).await?;
    assert!(
        rec.drifted
            .iter()
            .any(|d| d.name == "web-config" && d.fields == ["data.value"]),
        "{rec:?}"
    );
    let (seen, _) = drift_record(&h, "web", Outcome::Healed, seen).await?;
    assert_eq!(
        kubectl(
            &kc,
            &[
                "get",
                "configmap/web-config",
                "-n",
                "web-dev",
                "-o",
                "jsonpath={.data.value}"
            ]
        )?,
        "a"
    );
    kubectl(&kc, &["delete", "configmap/web-config", "-n", "web-dev"])?;
    let (seen, rec) = drift_record(&h, "web", Outcome::Drifted, seen).await?;
    assert!(
        rec.drifted
            .iter()
            .any(|d| d.name == "web-config" && d.missing),
        "{rec:?}"
    );
    let (seen, _) = drift_record(&h, "web", Outcome::Healed, seen).await?;
    assert_eq!(
        kubectl(
            &kc,
            &[
                "get",
                "configmap/web-config",
                "-n",
                "web-dev",
                "-o",
                "jsonpath={.data.value}"
            ]
        )?,
        "a"
    );

    // Fields Gantry never applied belong to whoever set them: not drift.
    kubectl(
        &kc,
        &[
            "annotate",
            "deployment/web",
            "-n",
            "web-dev",
            "team=payments",
        ],
    )?;
    kubectl(
        &kc,
        &[
            "label",
            "configmap/web-config",
            "-n",
            "web-dev",
            "owner=ops",
        ],
    )?;
    kubectl(
        &kc,
        &[
            "patch",
            "deployment/web",
            "-n",
            "web-dev",
            "--type=merge",
            "-p",
            r#"{"spec":{"minReadySeconds":3}}"#,
        ],
    )?;
    let changed = now();
    let s = checked_after(&h, "web", changed + 1).await?;
    assert!(
        s.last_check.as_ref().is_some_and(|c| c.drifted.is_empty()),
        "{:?}",
        s.last_check
    );

    // selfHeal: false: reported and counted, left alone.
    kubectl(
        &kc,
        &["scale", "deployment/api", "-n", "api-dev", "--replicas=4"],
    )?;
    let (_, rec) = drift_record(&h, "api", Outcome::Drifted, 0).await?;
    assert!(
        rec.drifted.iter().any(|d| d.fields == ["spec.replicas"]),
        "{rec:?}"
    );
    let s = checked_after(&h, "api", now() + 1).await?;
    assert_eq!(
        s.last_check.as_ref().map(|c| (c.drifted.len(), c.healed)),
        Some((1, false))
    );
    assert_eq!(
        kubectl(
            &kc,
            &[
                "get",
                "deployment/api",
                "-n",
                "api-dev",
                "-o",
                "jsonpath={.spec.replicas}"
            ]
        )?,
        "4"
    );
    assert_eq!(
        metric(
            &base,
            "gantry_drifted_objects{app=\"api\",environment=\"dev\"}"
        )
        .await?,
        1.0
    );
    assert!(
        !h.audit()
            .await?
            .iter()
            .any(|(_, r)| r.application == "api" && r.outcome == Outcome::Healed as i32),
        "api/dev was not healed"
    );
    assert!(
        metric(
            &base,
            "gantry_reconcile_total{app=\"web\",environment=\"dev\",outcome=\"healed\"}"
        )
        .await?
            >= 3.0
    );
    assert!(metric(&base, "gantry_resync_total{outcome=\"drifted\"}").await? >= 4.0);

    // Drift never posts a commit status.
    assert_eq!(h.forge.statuses(FULL, &c1).len(), statuses_before);
    let _ = seen;
    h.shutdown().await;
    Ok(())
}

/// Judging a suspect against kube-sim, counting its requests: one each. Gantry's own apply that
/// the watch cache has not caught up with is not drift (the conditional apply is refused and
/// changes nothing); a null the server drops is not drift; a change behind Gantry's back is, and
/// the one apply heals it (or, without self-heal, a dry run leaves it); a deleted object is
/// re-created, and an object the cache has not seen yet is not missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspect_is_judged_with_one_request() -> Result<()> {
    use gantry_reconciler::apply::{Applied, Cluster, Ownership};
    use gantry_reconciler::drift::{Verdict, judge};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    init_logs();
    let counter = Arc::new(AtomicU64::new(0));
    let kube = gantry_kube_sim::KubeSim::start(gantry_kube_sim::Config {
        controllers: false,
        request_counter: Some(counter.clone()),
        ..Default::default()
    })
    .await?;
    let client = kube_client(&kube).await?;
    let cluster = Cluster::new(client.clone());
    let own = |revision| Ownership {
        app: "web",
        environment: "dev",
        revision,
        repository: FULL,
        default_namespace: "web-dev",
    };
    let manifest = |value: &str| {
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "web-config"}, "data": {"value": value}})
    };
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client.clone(), "web-dev");
    let value = |cm: &k8s_openapi::api::core::v1::ConfigMap| {
        cm.data.as_ref().and_then(|d| d.get("value")).cloned()
    };
    let json = |cm: &k8s_openapi::api::core::v1::ConfigMap| serde_json::to_value(cm);
    // Judges `a` against `cached`; returns the verdict and the requests it took.
    let judged = async |a: &Applied,
                        cached: Option<&serde_json::Value>,
                        heal: bool|
           -> Result<(Verdict, u64)> {
        let before = counter.load(Ordering::SeqCst);
        let v = judge(&cluster, a, cached, heal).await?;
        Ok((v, counter.load(Ordering::SeqCst) - before))
    };

    cluster.apply(&[manifest("a")], &own("c1")).await?;
    let first = cms.get("web-config").await?;

    // Gantry applies revision c2; the cache still holds c1's object.
    let c2 = cluster.apply(&[manifest("b")], &own("c2")).await?;
    let a = &c2[0];
    let current = cms.get("web-config").await?;
    assert_eq!(
        judged(a, Some(&json(&first)?), true).await?,
        (Verdict::Stale, 1)
    );
    let after = cms.get("web-config").await?;
    assert_eq!(
        after.metadata.resource_version,
        current.metadata.resource_version
    );

    // A null in the manifest is a suspect (the live object has no such field), but the server
    // drops it: the answer equals the cache.
    let mut with_null = a.clone();
    with_null.object["data"]["unset"] = serde_json::Value::Null;
    assert_eq!(
        judged(&with_null, Some(&json(&current)?), true).await?,
        (Verdict::Unchanged, 1)
    );

    // A change behind Gantry's back: drift, and the one apply healed it.
    let hand_edit = kube::api::Patch::Merge(serde_json::json!({"data": {"value": "hacked"}}));
    cms.patch("web-config", &Default::default(), &hand_edit)
        .await?;
    let edited = json(&cms.get("web-config").await?)?;
    let drifted = Verdict::Drifted {
        fields: vec!["data.value".into()],
        missing: false,
    };
    // Without self-heal a dry run judges it and leaves it.
    assert_eq!(judged(a, Some(&edited), false).await?, (drifted.clone(), 1));
    assert_eq!(
        value(&cms.get("web-config").await?).as_deref(),
        Some("hacked")
    );
    assert_eq!(judged(a, Some(&edited), true).await?, (drifted, 1));
    let healed = cms.get("web-config").await?;
    assert_eq!(value(&healed).as_deref(), Some("b"));

    // Deleted: re-created, and that is drift. Judged again while the cache has not seen the
    // new object: it exists, so it is not missing.
    cms.delete("web-config", &Default::default()).await?;
    let missing = Verdict::Drifted {
        fields: Vec::new(),
        missing: true,
    };
    assert_eq!(judged(a, None, true).await?, (missing, 1));
    assert_eq!(value(&cms.get("web-config").await?).as_deref(), Some("b"));
    assert_eq!(judged(a, None, true).await?, (Verdict::Stale, 1));
    Ok(())
}
