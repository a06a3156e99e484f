//! kubectl's everyday commands against the emulator, one test each, with the real kubectl 1.37:
//! its typed clients send and accept Kubernetes protobuf, its printers ask for server-side Tables.
//! Each test checks what kubectl printed and the state the server ends up with.

mod common;

use common::kubectl::Kubectl;
use common::{eventually, fast, start};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::Api;
use serde_json::Value;

/// The managers recorded in an object's managedFields, with their operations.
fn managers(
    mf: Option<&Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry>>,
) -> Vec<(String, String)> {
    mf.into_iter()
        .flatten()
        .map(|e| {
            (
                e.manager.clone().unwrap_or_default(),
                e.operation.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn pair(m: &str, op: &str) -> (String, String) {
    (m.to_string(), op.to_string())
}

#[tokio::test]
async fn create_namespace() -> anyhow::Result<()> {
    let (sim, client) = start(fast()).await?;
    let k = Kubectl::new(&sim)?;
    assert_eq!(
        k.ok(&["create", "namespace", "demo"]).await?,
        "namespace/demo created\n"
    );
    let ns = Api::<Namespace>::all(client).get("demo").await?;
    assert_eq!(
        ns.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/metadata.name"))
            .map(String::as_str),
        Some("demo")
    );
    assert_eq!(ns.status.and_then(|s| s.phase).as_deref(), Some("Active"));
    assert!(
        managers(ns.metadata.managed_fields.as_ref()).contains(&pair("kubectl-create", "Update"))
    );
    // Again: the real AlreadyExists error.
    let out = k.run(&["create", "namespace", "demo"]).await?;
    assert!(!out.ok);
    assert_eq!(
        out.stderr.trim(),
        "Error from server (AlreadyExists): namespaces \"demo\" already exists"
    );
    Ok(())
}

#[tokio::test]
async fn create_deployment() -> anyhow::Result<()> {
    let (sim, client) = start(fast()).await?;
    let k = Kubectl::new(&sim)?;
    k.ok(&["create", "namespace", "demo"]).await?;
    let out = k
        .ok(&[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=2",
            "--port=80",
            "-n",
            "demo",
        ])
        .await?;
    assert_eq!(out, "deployment.apps/web created\n");
    let api: Api<Deployment> = Api::namespaced(client.clone(), "demo");
    let d = api.get("web").await?;
    let spec = d.spec.clone().expect("spec");
    assert_eq!(spec.replicas, Some(2));
    let sel = spec.selector.match_labels.clone().unwrap_or_default();
    assert_eq!(sel.get("app").map(String::as_str), Some("web"));
    let strategy = spec.strategy.clone().expect("strategy");
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    let ru = strategy.rolling_update.expect("rollingUpdate defaulted");
    assert_eq!(
        ru.max_surge,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("25%".into()))
    );
    let c = &spec.template.spec.as_ref().expect("pod spec").containers[0];
    assert_eq!(
        (c.name.as_str(), c.image.as_deref()),
        ("nginx", Some("nginx:1.27"))
    );
    assert_eq!(c.ports.as_ref().map(|p| p[0].container_port), Some(80));
    assert!(
        managers(d.metadata.managed_fields.as_ref()).contains(&pair("kubectl-create", "Update"))
    );
    eventually("web to be available", || {
        let api = api.clone();
        async move {
            let d = api.get("web").await.ok()?;
            (d.status?.available_replicas == Some(2)).then_some(())
        }
    })
    .await;
    // A zero the client chose survives the protobuf round trip (a pointer field in Go).
    k.ok(&[
        "create",
        "deployment",
        "idle",
        "--image=nginx:1.27",
        "--replicas=0",
        "-n",
        "demo",
    ])
    .await?;
    assert_eq!(api.get("idle").await?.spec.expect("spec").replicas, Some(0));
    Ok(())
}

#[tokio::test]
async fn create_configmap_from_literal() -> anyhow::Result<()> {
    let (sim, client) = start(fast()).await?;
    let k = Kubectl::new(&sim)?;
    let out = k
        .ok(&[
            "create",
            "configmap",
            "cfg",
            "--from-literal=a=1",
            "--from-literal=greeting=hello world",
        ])
        .await?;
    assert_eq!(out, "configmap/cfg created\n");
    let cm = Api::<ConfigMap>::namespaced(client, "default")
        .get("cfg")
        .await?;
    let data = cm.data.expect("data");
    assert_eq!(data.get("a").map(String::as_str), Some("1"));
    assert_eq!(
        data.get("greeting").map(String::as_str),
        Some("hello world")
    );
    Ok(())
}

#[tokio::test]
async fn create_secret_generic() -> anyhow::Result<()> {
    let (sim, client) = start(fast()).await?;
    let k = Kubectl::new(&sim)?;
    let out = k
        .ok(&[
            "create",
            "secret",
            "generic",
            "db",
            "--from-literal=password=s3cret",
            "--from-literal=user=app",
        ])
        .await?;
    assert_eq!(out, "secret/db created\n");
    let s = Api::<Secret>::namespaced(client, "default")
        .get("db")
        .await?;
    assert_eq!(s.type_.as_deref(), Some("Opaque"));
    let data = s.data.expect("data");
    assert_eq!(
        data.get("password").map(|b| b.0.as_slice()),
        Some(&b"s3cret"[..])
    );
    assert_eq!(data.get("user").map(|b| b.0.as_slice()), Some(&b"app"[..]));
    // What kubectl reads back (over protobuf for describe) shows the sizes, not the values.
    let described = k.ok(&["describe", "secret", "db"]).await?;
    assert!(described.contains("password:  6 bytes"), "{described}");
    Ok(())
}

#[tokio::test]
async fn get_yaml_and_json() -> anyhow::Result<()> {
    let (sim, _client) = start(fast()).await?;
    let k = Kubectl::new(&sim)?;
    k.ok(&["create", "deployment", "web", "--image=nginx:1.27"])
        .await?;
    let yaml = k.ok(&["get", "deployment", "web", "-o", "yaml"]).await?;
    let d: Value = serde_saphyr::from_str(&yaml)?;
    assert_eq!(d["kind"], "Deployment");
    assert_eq!(d["apiVersion"], "apps/v1");
    assert_eq!(d["metadata"]["name"], "web");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    // kubectl hides managedFields unless asked.
    assert!(d["metadata"].get("managedFields").is_none(), "{yaml}");
    let json = k.ok(&["get", "deployments", "-o", "json"]).await?;
    let list: Value = serde_json::from_str(&json)?;
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][0]["kind"], "Deployment");
    assert_eq!(list["items"][0]["metadata"]["name"], "web");
    let name = k
        .ok(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.strategy.type}",
        ])
        .await?;
    assert_eq!(name, "RollingUpdate");
    Ok(())
}

#[tokio::test]
async fn describe_deployment() -> anyhow::Result<()> {
    let (sim, client) = start(fast()).await?;
    let k = Kubectl::new(&sim)?;
    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=2",
    ])
    .await?;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    eventually("web to be available", || {
        let api = api.clone();
        async move { (api.get("web").await.ok()?.status?.available_replicas == Some(2)).then_some(()) }
    })
    .await;
    let out = k.ok(&["describe", "deployment", "web"]).await?;
    for line in [
        "Name:                   web",
        "Namespace:              default",
        "Selector:               app=web",
        "Replicas:               2 desired | 2 updated | 2 total | 2 available | 0 unavailable",
        "StrategyType:           RollingUpdate",
        "RollingUpdateStrategy:  25% max unavailable, 25% max surge",
        "    Image:         nginx:1.27",
        "  Available      True    MinimumReplicasAvailable",
        "  Progressing    True    NewReplicaSetAvailable",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
    Ok(())
}
