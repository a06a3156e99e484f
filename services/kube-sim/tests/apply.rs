//! Server-side apply and the other patch flavours through kube-rs, as the reconciler uses them.

mod common;

use common::{api_err, quiet, start};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery;
use serde_json::{Value, json};

fn deploy(replicas: i64, image: &str, extra_label: Option<&str>) -> Value {
    let mut labels = json!({"app": "web", "app.kubernetes.io/managed-by": "gantry"});
    if let Some(l) = extra_label {
        labels[l] = json!("yes");
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": labels, "annotations": {"gantry.dev/revision": "abc"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                {"name": "main", "image": image, "ports": [{"containerPort": 8080}]}
            ]}}
        }
    })
}

fn gantry(force: bool) -> PatchParams {
    let pp = PatchParams::apply("gantry");
    if force { pp.force() } else { pp }
}

fn managers(obj: &kube::core::ObjectMeta) -> Vec<(String, String)> {
    obj.managed_fields
        .iter()
        .flatten()
        .map(|m| {
            (
                m.manager.clone().unwrap_or_default(),
                m.operation.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn apply_creates_then_conflicts_force_and_removes() -> anyhow::Result<()> {
    let (_sim, client) = start(quiet()).await?;
    let (ar, _) =
        discovery::pinned_kind(&client, &GroupVersionKind::gvk("apps", "v1", "Deployment")).await?;
    let dynamic: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let typed: Api<Deployment> = Api::namespaced(client.clone(), "default");

    // Absent: created, with an Apply entry for gantry.
    let cfg: DynamicObject = serde_json::from_value(deploy(2, "nginx:1", Some("extra")))?;
    let created = dynamic
        .patch("web", &gantry(true), &Patch::Apply(&cfg))
        .await?;
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(
        managers(&created.metadata),
        [("gantry".into(), "Apply".into())]
    );
    let fields =
        serde_json::to_value(&created.metadata.managed_fields.as_ref().expect("mf")[0].fields_v1)?;
    assert!(fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"main\"}"]["f:image"].is_object(), "{fields}");

    // Re-applying the same thing changes nothing, not even the resourceVersion.
    let again = dynamic
        .patch("web", &gantry(true), &Patch::Apply(&cfg))
        .await?;
    assert_eq!(
        again.metadata.resource_version,
        created.metadata.resource_version
    );

    // Someone scales it with a plain update: they now own spec.replicas.
    let mut scaled = typed.get("web").await?;
    scaled.spec.as_mut().expect("spec").replicas = Some(5);
    typed
        .replace(
            "web",
            &PostParams {
                field_manager: Some("hpa-ish".into()),
                ..Default::default()
            },
            &scaled,
        )
        .await?;

    // Applying a different replicas without force: 409 naming the field and the other manager.
    let cfg3: DynamicObject = serde_json::from_value(deploy(3, "nginx:1", Some("extra")))?;
    let err = api_err(
        dynamic
            .patch("web", &gantry(false), &Patch::Apply(&cfg3))
            .await,
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        err.message,
        "Apply failed with 1 conflict: conflict with \"hpa-ish\" using apps/v1: .spec.replicas"
    );
    let causes = err
        .details
        .as_ref()
        .map(|d| d.causes.clone())
        .unwrap_or_default();
    assert_eq!(causes.len(), 1);
    assert_eq!(causes[0].field, ".spec.replicas");
    assert_eq!(causes[0].reason, "FieldManagerConflict");

    // With force gantry takes it back.
    let forced = dynamic
        .patch("web", &gantry(true), &Patch::Apply(&cfg3))
        .await?;
    assert_eq!(forced.data["spec"]["replicas"], 3);
    assert_eq!(
        forced.metadata.generation,
        Some(3),
        "two spec changes since creation"
    );

    // Stop sending the extra label and the port: both were gantry's alone, so both go.
    let mut cfg4 = deploy(3, "nginx:2", None);
    cfg4["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .expect("c")
        .remove("ports");
    let cfg4: DynamicObject = serde_json::from_value(cfg4)?;
    let pruned = dynamic
        .patch("web", &gantry(true), &Patch::Apply(&cfg4))
        .await?;
    assert!(
        pruned
            .metadata
            .labels
            .as_ref()
            .expect("labels")
            .get("extra")
            .is_none()
    );
    let container = &pruned.data["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx:2");
    assert!(container.get("ports").is_none(), "{container}");
    // Defaults the server set are not removed.
    assert_eq!(container["imagePullPolicy"], "IfNotPresent");
    assert_eq!(pruned.metadata.generation, Some(4));

    // A label change alone does not bump generation.
    let mut cfg5 = deploy(3, "nginx:2", Some("other"));
    cfg5["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .expect("c")
        .remove("ports");
    let cfg5: DynamicObject = serde_json::from_value(cfg5)?;
    let relabeled = dynamic
        .patch("web", &gantry(false), &Patch::Apply(&cfg5))
        .await?;
    assert_eq!(relabeled.metadata.generation, Some(4));

    // Conflicts across several fields and managers are listed per manager.
    let mut other = typed.get("web").await?;
    other
        .metadata
        .labels
        .as_mut()
        .expect("labels")
        .insert("app".into(), "changed".into());
    typed
        .replace(
            "web",
            &PostParams {
                field_manager: Some("editor".into()),
                ..Default::default()
            },
            &other,
        )
        .await?;
    let mut cm_edit = typed.get("web").await?;
    cm_edit.spec.as_mut().expect("spec").replicas = Some(9);
    typed
        .replace(
            "web",
            &PostParams {
                field_manager: Some("scaler".into()),
                ..Default::default()
            },
            &cm_edit,
        )
        .await?;
    let err = api_err(
        dynamic
            .patch("web", &gantry(false), &Patch::Apply(&cfg5))
            .await,
    );
    assert_eq!(
        err.message,
        "Apply failed with 2 conflicts: conflicts with \"editor\" using apps/v1:\n- .metadata.labels.app\nconflicts with \"scaler\" using apps/v1:\n- .spec.replicas"
    );
    Ok(())
}

#[tokio::test]
async fn apply_errors_are_real_statuses() -> anyhow::Result<()> {
    let (_sim, client) = start(quiet()).await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    // No field manager: the real server refuses.
    let cm: ConfigMap = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
    )?;
    let err = api_err(
        api.patch("c", &PatchParams::default(), &Patch::Apply(&cm))
            .await,
    );
    assert_eq!(err.code, 400);
    // Name mismatch.
    let err = api_err(
        api.patch("other", &PatchParams::apply("gantry"), &Patch::Apply(&cm))
            .await,
    );
    assert_eq!((err.code, err.reason.as_str()), (400, "BadRequest"));
    // Missing namespace.
    let in_missing: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    let err = api_err(
        in_missing
            .patch("c", &PatchParams::apply("gantry"), &Patch::Apply(&cm))
            .await,
    );
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    // Invalid object.
    let bad: ConfigMap = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"bad key!": "x"}}),
    )?;
    let err = api_err(
        api.patch("c", &PatchParams::apply("gantry"), &Patch::Apply(&bad))
            .await,
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    Ok(())
}

#[tokio::test]
async fn merge_strategic_and_json_patches() -> anyhow::Result<()> {
    let (_sim, client) = start(quiet()).await?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(deploy(1, "nginx:1", None))?;
    api.create(&PostParams::default(), &d).await?;

    // Strategic merge: containers merge by name.
    let sm = json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox"}]}}}});
    let after = api
        .patch("web", &PatchParams::default(), &Patch::Strategic(sm))
        .await?;
    let names: Vec<String> = after
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod")
        .containers
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, ["main", "side"]);

    // Merge patch: lists are replaced whole.
    let mp = json!({"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "busybox"}]}}}});
    let after = api
        .patch("web", &PatchParams::default(), &Patch::Merge(mp))
        .await?;
    let names: Vec<String> = after
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod")
        .containers
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, ["only"]);

    // JSON patch, with a failing test op giving an error and no change.
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/spec/replicas", "value": 4}]))?;
    let after = api
        .patch("web", &PatchParams::default(), &Patch::Json::<()>(jp))
        .await?;
    assert_eq!(after.spec.expect("spec").replicas, Some(4));
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 1}]))?;
    let err = api_err(
        api.patch("web", &PatchParams::default(), &Patch::Json::<()>(jp))
            .await,
    );
    assert_eq!(err.code, 422);

    // Dry run changes nothing.
    let dry = api
        .patch(
            "web",
            &PatchParams::default().dry_run(),
            &Patch::Merge(json!({"spec": {"replicas": 7}})),
        )
        .await?;
    assert_eq!(dry.spec.expect("spec").replicas, Some(7));
    assert_eq!(api.get("web").await?.spec.expect("spec").replicas, Some(4));
    let dry_create: Deployment = serde_json::from_value(
        json!({"metadata": {"name": "ghost"}, "spec": deploy(1, "x:1", None)["spec"]}),
    )?;
    api.create(
        &PostParams {
            dry_run: true,
            ..Default::default()
        },
        &dry_create,
    )
    .await?;
    assert_eq!(api_err(api.get("ghost").await).code, 404);
    api.delete(
        "web",
        &DeleteParams {
            dry_run: true,
            ..Default::default()
        },
    )
    .await?;
    assert!(api.get("web").await.is_ok());
    Ok(())
}
