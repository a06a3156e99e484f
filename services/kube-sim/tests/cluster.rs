//! The simulated cluster: rollouts, failure injection, jobs, volumes, services, CRDs and snapshots.

mod common;

use common::{api_err, eventually, fast, quiet, start};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery;
use serde_json::{Value, json};

fn workload(kind: &str, name: &str, image: &str, extra_spec: Value) -> Value {
    let mut spec = json!({
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "main", "image": image}]}}
    });
    for (k, v) in extra_spec.as_object().cloned().unwrap_or_default() {
        spec[k] = v;
    }
    json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": "default"}, "spec": spec})
}

fn apply() -> PatchParams {
    PatchParams::apply("gantry").force()
}

fn condition<'a>(
    d: &'a Deployment,
    ty: &str,
) -> Option<&'a k8s_openapi::api::apps::v1::DeploymentCondition> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == ty)
}

#[tokio::test]
async fn deployment_rolls_out_and_reports_health() -> anyhow::Result<()> {
    let (_sim, client) = start(fast()).await?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.patch(
        "web",
        &apply(),
        &Patch::Apply(workload(
            "Deployment",
            "web",
            "nginx:1",
            json!({"replicas": 3}),
        )),
    )
    .await?;
    let healthy = |generation: i64| {
        let api = api.clone();
        move || {
            let api = api.clone();
            async move {
                let d = api.get("web").await.ok()?;
                let s = d.status.clone()?;
                let done = s.observed_generation == Some(generation)
                    && s.updated_replicas == Some(3)
                    && s.available_replicas == Some(3)
                    && s.replicas == Some(3)
                    && condition(&d, "Available").is_some_and(|c| c.status == "True")
                    && condition(&d, "Progressing")
                        .is_some_and(|c| c.reason.as_deref() == Some("NewReplicaSetAvailable"));
                done.then_some(d)
            }
        }
    };
    eventually("web available", healthy(1)).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let running = pods.list(&ListParams::default().labels("app=web")).await?;
    assert_eq!(running.items.len(), 3);
    assert!(
        running
            .items
            .iter()
            .all(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
    );

    // A new image is a new generation, a new ReplicaSet and new pods.
    api.patch(
        "web",
        &apply(),
        &Patch::Apply(workload(
            "Deployment",
            "web",
            "nginx:2",
            json!({"replicas": 3}),
        )),
    )
    .await?;
    let d = eventually("web rolled out", healthy(2)).await;
    assert_eq!(d.metadata.generation, Some(2));
    let images: Vec<String> = pods
        .list(&ListParams::default().labels("app=web"))
        .await?
        .items
        .iter()
        .filter_map(|p| p.spec.as_ref().and_then(|s| s.containers[0].image.clone()))
        .collect();
    assert_eq!(images, ["nginx:2"; 3]);

    // Deleting the Deployment takes its ReplicaSets and pods with it.
    api.delete("web", &DeleteParams::background()).await?;
    eventually("pods gone", || {
        let pods = pods.clone();
        async move {
            pods.list(&ListParams::default().labels("app=web"))
                .await
                .ok()?
                .items
                .is_empty()
                .then_some(())
        }
    })
    .await;
    Ok(())
}

#[tokio::test]
async fn crashloop_and_pullfail_exceed_the_progress_deadline() -> anyhow::Result<()> {
    let (_sim, client) = start(fast()).await?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, tag, reason) in [
        ("crash", "crashloop", "CrashLoopBackOff"),
        ("pull", "pullfail", "ImagePullBackOff"),
    ] {
        let cfg = workload(
            "Deployment",
            name,
            &format!("registry.example/app:{tag}"),
            json!({"progressDeadlineSeconds": 1}),
        );
        api.patch(name, &apply(), &Patch::Apply(cfg)).await?;
        let d = eventually("deadline exceeded", || {
            let api = api.clone();
            async move {
                let d = api.get(name).await.ok()?;
                let p = condition(&d, "Progressing")?;
                (p.status == "False" && p.reason.as_deref() == Some("ProgressDeadlineExceeded"))
                    .then_some(d)
            }
        })
        .await;
        assert_eq!(
            condition(&d, "Available").map(|c| c.status.as_str()),
            Some("False")
        );
        assert_eq!(d.status.as_ref().and_then(|s| s.available_replicas), None);
        let pod = pods
            .list(&ListParams::default().labels(&format!("app={name}")))
            .await?
            .items
            .remove(0);
        let waiting = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c[0].state.as_ref())
            .and_then(|s| s.waiting.as_ref());
        assert_eq!(waiting.and_then(|w| w.reason.as_deref()), Some(reason));
    }
    Ok(())
}

#[tokio::test]
async fn statefulsets_daemonsets_jobs_volumes_services() -> anyhow::Result<()> {
    let (_sim, client) = start(fast()).await?;
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    sts.patch(
        "db",
        &apply(),
        &Patch::Apply(workload(
            "StatefulSet",
            "db",
            "postgres:17",
            json!({"replicas": 2, "serviceName": "db"}),
        )),
    )
    .await?;
    let ds: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    ds.patch(
        "agent",
        &apply(),
        &Patch::Apply(workload("DaemonSet", "agent", "agent:1", json!({}))),
    )
    .await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "migrate:1"}]}}}});
    jobs.patch("migrate", &apply(), &Patch::Apply(job)).await?;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}});
    pvcs.patch("data", &apply(), &Patch::Apply(pvc)).await?;
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"}, "spec": {"selector": {"app": "db"}, "ports": [{"port": 5432}]}});
    let created = svcs.patch("db", &apply(), &Patch::Apply(svc)).await?;
    let ip = created
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.clone())
        .expect("cluster IP at creation");
    assert!(ip.starts_with("10.96."), "{ip}");

    eventually("statefulset ready", || {
        let sts = sts.clone();
        async move {
            let s = sts.get("db").await.ok()?.status?;
            (s.ready_replicas == Some(2)
                && s.observed_generation == Some(1)
                && s.current_revision == s.update_revision)
                .then_some(())
        }
    })
    .await;
    eventually("daemonset ready", || {
        let ds = ds.clone();
        async move {
            let s = ds.get("agent").await.ok()?.status?;
            (s.number_ready == 1
                && s.desired_number_scheduled == 1
                && s.observed_generation == Some(1))
            .then_some(())
        }
    })
    .await;
    eventually("job complete", || {
        let jobs = jobs.clone();
        async move {
            let s = jobs.get("migrate").await.ok()?.status?;
            let complete = s
                .conditions?
                .iter()
                .any(|c| c.type_ == "Complete" && c.status == "True");
            (complete && s.succeeded == Some(1)).then_some(())
        }
    })
    .await;
    eventually("pvc bound", || {
        let pvcs = pvcs.clone();
        async move {
            (pvcs.get("data").await.ok()?.status?.phase.as_deref() == Some("Bound")).then_some(())
        }
    })
    .await;
    // Re-applying the service keeps its cluster IP.
    let again = svcs
        .patch("db", &apply(), &Patch::Apply(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"}, "spec": {"selector": {"app": "db"}, "ports": [{"port": 5433}]}})))
        .await?;
    assert_eq!(again.spec.and_then(|s| s.cluster_ip), Some(ip));
    Ok(())
}

#[tokio::test]
async fn custom_resources_are_served_once_their_crd_exists() -> anyhow::Result<()> {
    let (_sim, client) = start(quiet()).await?;
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let widget: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}}),
    )?;
    let err = api_err(widgets.patch("w", &apply(), &Patch::Apply(&widget)).await);
    assert_eq!(err.code, 404);

    let crd_ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        "customresourcedefinitions",
    );
    let crds: Api<DynamicObject> = Api::all_with(client.clone(), &crd_ar);
    let crd: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))?;
    let created = crds
        .patch("widgets.example.com", &apply(), &Patch::Apply(&crd))
        .await?;
    let established = created.data["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        });
    assert!(established, "{}", created.data);

    // Discovery sees it, and it serves.
    let d = discovery::Discovery::new(client.clone()).run().await?;
    assert!(d.groups().any(|g| g.name() == "example.com"));
    let w = widgets.patch("w", &apply(), &Patch::Apply(&widget)).await?;
    assert_eq!(w.data["spec"]["size"], 3);
    assert_eq!(w.metadata.generation, Some(1));
    // Strategic merge is for built-in kinds only, as on a real server.
    let err = api_err(
        widgets
            .patch(
                "w",
                &PatchParams::default(),
                &Patch::Strategic(json!({"spec": {"size": 4}})),
            )
            .await,
    );
    assert_eq!(
        (err.code, err.reason.as_str()),
        (415, "UnsupportedMediaType")
    );
    let w = widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 4}})),
        )
        .await?;
    assert_eq!(w.metadata.generation, Some(2));
    assert_eq!(widgets.list(&ListParams::default()).await?.items.len(), 1);

    // Deleting the CRD deletes its objects and stops serving them.
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await?;
    assert_eq!(api_err(widgets.get("w").await).code, 404);
    assert_eq!(
        api_err(widgets.list(&ListParams::default()).await).code,
        404
    );
    Ok(())
}

#[tokio::test]
async fn snapshot_survives_a_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("state.json");
    let config = gantry_kube_sim::Config {
        snapshot: Some(path.clone()),
        ..quiet()
    };
    let (sim, client) = start(config.clone()).await?;
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), "default");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept"}, "data": {"k": "v"}});
    let before = cms.patch("kept", &apply(), &Patch::Apply(cm)).await?;
    sim.stop().await?;
    assert!(path.exists());

    let (_sim, client) = start(config).await?;
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), "default");
    let after = cms.get("kept").await?;
    assert_eq!(after.metadata.uid, before.metadata.uid);
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
    assert_eq!(
        after.data.and_then(|d| d.get("k").cloned()).as_deref(),
        Some("v")
    );

    // A corrupt snapshot is a clear error, not a crash.
    std::fs::write(&path, "{not json")?;
    let err = gantry_kube_sim::KubeSim::start(gantry_kube_sim::Config {
        snapshot: Some(path),
        ..quiet()
    })
    .await?
    .stop()
    .await;
    assert!(
        matches!(err, Err(gantry_kube_sim::Error::Snapshot(..))),
        "{err:?}"
    );
    Ok(())
}
