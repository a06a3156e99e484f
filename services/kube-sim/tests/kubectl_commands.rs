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

/// Waits until the Deployment has `n` available replicas, all of its current template.
async fn rolled_out(api: &Api<Deployment>, name: &str, n: i32) {
    eventually(&format!("{name} to roll out {n} replicas"), || {
        let api = api.clone();
        let name = name.to_string();
        async move {
            let d = api.get(&name).await.ok()?;
            let s = d.status?;
            (s.observed_generation == d.metadata.generation
                && s.updated_replicas == Some(n)
                && s.available_replicas == Some(n)
                && s.replicas == Some(n))
            .then_some(())
        }
    })
    .await;
}

/// kubectl's table output as rows of whitespace-separated cells (cells here have no spaces).
fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

fn managed_by(d: &Deployment) -> Vec<(String, String, String)> {
    d.metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|e| {
            (
                e.manager.clone().unwrap_or_default(),
                e.operation.clone().unwrap_or_default(),
                e.subresource.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn triple(m: &str, op: &str, sub: &str) -> (String, String, String) {
    (m.into(), op.into(), sub.into())
}

async fn deployment_ready(
    k: &Kubectl,
    client: &kube::Client,
    name: &str,
    replicas: i32,
) -> anyhow::Result<Api<Deployment>> {
    k.ok(&[
        "create",
        "deployment",
        name,
        "--image=nginx:1.27",
        &format!("--replicas={replicas}"),
    ])
    .await?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    rolled_out(&api, name, replicas).await;
    Ok(api)
}

#[tokio::test]
async fn get_wide_has_the_server_side_columns() -> anyhow::Result<()> {
    let (sim, client) = start(fast()).await?;
    let k = Kubectl::new(&sim)?;
    deployment_ready(&k, &client, "web", 2).await?;
    let d = rows(&k.ok(&["get", "deployments", "-o", "wide"]).await?);
    assert_eq!(
        d[0],
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert_eq!(
        (
            d[1][0].as_str(),
            d[1][1].as_str(),
            d[1][2].as_str(),
            d[1][3].as_str()
        ),
        ("web", "2/2", "2", "2")
    );
    assert_eq!(&d[1][5..], ["nginx", "nginx:1.27", "app=web"]);
    let rs = rows(&k.ok(&["get", "replicasets", "-o", "wide"]).await?);
    assert_eq!(
        rs[0],
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    let hash = rs[1][0]
        .strip_prefix("web-")
        .expect("the ReplicaSet is web-<hash>")
        .to_string();
    assert_eq!(&rs[1][1..4], ["2", "2", "2"]);
    assert_eq!(
        &rs[1][5..],
        [
            "nginx",
            "nginx:1.27",
            &format!("app=web,pod-template-hash={hash}")
        ]
    );
    let pods = rows(&k.ok(&["get", "pods", "-o", "wide"]).await?);
    assert_eq!(
        pods[0],
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED",
            "NODE",
            "READINESS",
            "GATES"
        ]
    );
    assert_eq!(pods.len(), 3, "{pods:?}");
    for p in &pods[1..] {
        assert!(p[0].starts_with(&format!("web-{hash}-")), "{p:?}");
        assert_eq!(&p[1..4], ["1/1", "Running", "0"]);
        assert!(p[5].starts_with("10.244."), "{p:?}");
        assert_eq!(&p[6..], ["kube-sim", "<none>", "<none>"]);
    }
    // Without -o wide the priority-1 columns stay hidden.
    let plain = rows(&k.ok(&["get", "deployments"]).await?);
    assert_eq!(
        plain[0],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    Ok(())
}

const APP: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        env: [{name: MODE, value: blue}, {name: DEBUG, value: "0"}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: "1", b: "2"}
"#;

#[tokio::test]
async fn apply_client_side() -> anyhow::Result<()> {
    let (sim, client) = start(fast()).await?;
    let k = Kubectl::new(&sim)?;
    let out = k.ok_stdin(&["apply", "-f", "-"], APP).await?;
    assert_eq!(out, "deployment.apps/web created\nconfigmap/cfg created\n");
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d = api.get("web").await?;
    let last: Value = serde_json::from_str(
        d.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("kubectl.kubernetes.io/last-applied-configuration"))
            .expect("the last-applied annotation"),
    )?;
    assert_eq!(last["spec"]["replicas"], 2);
    assert_eq!(
        last["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    assert!(managed_by(&d).contains(&triple("kubectl-client-side-apply", "Update", "")));

    // Someone else adds an env var and a data key; the next apply changes the image, drops DEBUG
    // and b, and keeps what it never managed: a three-way strategic merge.
    k.ok(&["set", "env", "deployment/web", "EXTRA=1"]).await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    k.ok(&[
        "patch",
        "configmap",
        "cfg",
        "--type=merge",
        "-p",
        r#"{"data":{"c":"3"}}"#,
    ])
    .await?;
    let changed = APP
        .replace("nginx:1.27", "nginx:1.28")
        .replace(r#", {name: DEBUG, value: "0"}"#, "")
        .replace(r#"data: {a: "1", b: "2"}"#, r#"data: {a: "1"}"#);
    let out = k.ok_stdin(&["apply", "-f", "-"], &changed).await?;
    assert_eq!(
        out,
        "deployment.apps/web configured\nconfigmap/cfg configured\n"
    );
    let d = api.get("web").await?;
    let c = &d
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod spec")
        .containers[0];
    assert_eq!(c.image.as_deref(), Some("nginx:1.28"));
    let env: Vec<(String, Option<String>)> = c
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect();
    assert_eq!(
        env,
        [
            ("MODE".to_string(), Some("blue".to_string())),
            ("EXTRA".to_string(), Some("1".to_string()))
        ]
    );
    let data = cms.get("cfg").await?.data.expect("data");
    assert_eq!(
        data.into_iter().collect::<Vec<_>>(),
        [
            ("a".to_string(), "1".to_string()),
            ("c".to_string(), "3".to_string())
        ]
    );
    // Applied again: nothing changes on the server. (kubectl still sends the Deployment a patch
    // that only orders the env list its own way, and so says "configured".)
    let before = api.get("web").await?;
    let out = k.ok_stdin(&["apply", "-f", "-"], &changed).await?;
    assert!(out.ends_with("configmap/cfg unchanged\n"), "{out}");
    let after = api.get("web").await?;
    let last = |d: &Deployment| {
        d.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("kubectl.kubernetes.io/last-applied-configuration"))
            .cloned()
    };
    assert_eq!(
        (after.metadata.generation, last(&after), after.spec),
        (before.metadata.generation, last(&before), before.spec)
    );
    Ok(())
}

#[tokio::test]
async fn apply_server_side_and_dry_run() -> anyhow::Result<()> {
    let (sim, client) = start(fast()).await?;
    let k = Kubectl::new(&sim)?;
    let out = k
        .ok_stdin(&["apply", "--server-side", "-f", "-"], APP)
        .await?;
    assert_eq!(
        out,
        "deployment.apps/web serverside-applied\nconfigmap/cfg serverside-applied\n"
    );
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d = api.get("web").await?;
    assert!(managed_by(&d).contains(&triple("kubectl", "Apply", "")));
    let generation = d.metadata.generation;
    let out = k
        .ok_stdin(
            &["apply", "--server-side", "--dry-run=server", "-f", "-"],
            &APP.replace("replicas: 2", "replicas: 5"),
        )
        .await?;
    assert!(
        out.contains("deployment.apps/web serverside-applied (server dry run)"),
        "{out}"
    );
    // Nothing was stored: the spec and its generation are as before (the controllers keep
    // writing status, so the resourceVersion is no measure of it).
    let d = api.get("web").await?;
    assert_eq!(
        (d.spec.expect("spec").replicas, d.metadata.generation),
        (Some(2), generation)
    );
    Ok(())
}

#[tokio::test]
async fn label_and_annotate() -> anyhow::Result<()> {
    let (sim, client) = start(fast()).await?;
    let k = Kubectl::new(&sim)?;
    k.ok(&["create", "deployment", "web", "--image=nginx:1.27"])
        .await?;
    assert_eq!(
        k.ok(&["label", "deployment", "web", "tier=frontend"])
            .await?,
        "deployment.apps/web labeled\n"
    );
    assert_eq!(
        k.ok(&["annotate", "deployment", "web", "owner=team-a"])
            .await?,
        "deployment.apps/web annotated\n"
    );
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d = api.get("web").await?;
    assert_eq!(
        d.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("tier"))
            .map(String::as_str),
        Some("frontend")
    );
    assert_eq!(
        d.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("owner"))
            .map(String::as_str),
        Some("team-a")
    );
    let m = managed_by(&d);
    assert!(
        m.contains(&triple("kubectl-label", "Update", ""))
            && m.contains(&triple("kubectl-annotate", "Update", "")),
        "{m:?}"
    );
    // Changing a label needs --overwrite, as on a real server (kubectl checks it against the live object).
    let out = k
        .run(&["label", "deployment", "web", "tier=backend"])
        .await?;
    assert!(
        !out.ok
            && out
                .stderr
                .contains("'tier' already has a value (frontend), and --overwrite is false"),
        "{}",
        out.stderr
    );
    assert_eq!(
        k.ok(&["label", "deployment", "web", "tier-"]).await?,
        "deployment.apps/web unlabeled\n"
    );
    let d = api.get("web").await?;
    assert!(
        d.metadata
            .labels
            .as_ref()
            .is_none_or(|l| !l.contains_key("tier"))
    );
    // Selected by label.
    k.ok(&["label", "deployment", "web", "tier=frontend"])
        .await?;
    let out = k
        .ok(&["get", "deployments", "-l", "tier=frontend", "-o", "name"])
        .await?;
    assert_eq!(out, "deployment.apps/web\n");
    Ok(())
}

#[tokio::test]
async fn scale_records_the_scale_subresource() -> anyhow::Result<()> {
    let (sim, client) = start(fast()).await?;
    let k = Kubectl::new(&sim)?;
    let api = deployment_ready(&k, &client, "web", 2).await?;
    assert_eq!(
        k.ok(&["scale", "deployment", "web", "--replicas=3"])
            .await?,
        "deployment.apps/web scaled\n"
    );
    rolled_out(&api, "web", 3).await;
    let d = api.get("web").await?;
    // kubectl scale sends no fieldManager: the real server names the manager after the user agent.
    assert!(
        managed_by(&d).contains(&triple("kubectl", "Update", "scale")),
        "{:?}",
        managed_by(&d)
    );
    let events = k
        .ok(&[
            "get",
            "events",
            "--field-selector",
            "reason=ScalingReplicaSet",
        ])
        .await?;
    assert!(events.contains("from 2 to 3"), "{events}");
    // A precondition that does not hold is refused.
    let out = k
        .run(&[
            "scale",
            "deployment",
            "web",
            "--current-replicas=5",
            "--replicas=1",
        ])
        .await?;
    assert!(
        !out.ok && out.stderr.contains("Expected replicas to be 5, was 3"),
        "{}",
        out.stderr
    );
    Ok(())
}

#[tokio::test]
async fn patch_strategic_merge_and_json() -> anyhow::Result<()> {
    let (sim, client) = start(fast()).await?;
    let k = Kubectl::new(&sim)?;
    k.ok(&["create", "deployment", "web", "--image=nginx:1.27"])
        .await?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    // Strategic: containers merge by name, the image stays.
    let out = k
        .ok(&["patch", "deployment", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"A","value":"1"}]}]}}}}"#])
        .await?;
    assert_eq!(out, "deployment.apps/web patched\n");
    let c = api
        .get("web")
        .await?
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod")
        .containers;
    assert_eq!((c.len(), c[0].image.as_deref()), (1, Some("nginx:1.27")));
    assert_eq!(c[0].env.as_ref().map(|e| e[0].name.as_str()), Some("A"));
    // Merge: a list is replaced whole.
    k.ok(&["patch", "deployment", "web", "--type=merge", "-p", r#"{"metadata":{"labels":{"m":"1"}},"spec":{"template":{"spec":{"containers":[{"name":"other","image":"busybox:1"}]}}}}"#])
        .await?;
    let d = api.get("web").await?;
    assert_eq!(
        d.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("m"))
            .map(String::as_str),
        Some("1")
    );
    let c = d.spec.expect("spec").template.spec.expect("pod").containers;
    assert_eq!(
        c.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["other"]
    );
    // JSON patch, with a test that holds and one that does not.
    k.ok(&["patch", "deployment", "web", "--type=json", "-p", r#"[{"op":"test","path":"/spec/replicas","value":1},{"op":"replace","path":"/spec/replicas","value":4}]"#])
        .await?;
    assert_eq!(api.get("web").await?.spec.expect("spec").replicas, Some(4));
    let out = k
        .run(&[
            "patch",
            "deployment",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"test","path":"/spec/replicas","value":1}]"#,
        ])
        .await?;
    assert!(!out.ok, "{}", out.stdout);
    assert!(managed_by(&api.get("web").await?).contains(&triple("kubectl-patch", "Update", "")));
    // Nothing to change: kubectl says so. It compares the object it read with the patch's
    // answer, so the deployment controller must be done writing status in between.
    rolled_out(&api, "web", 4).await;
    let out = k
        .ok(&[
            "patch",
            "deployment",
            "web",
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"m":"1"}}}"#,
        ])
        .await?;
    assert_eq!(out, "deployment.apps/web patched (no change)\n");
    Ok(())
}

#[tokio::test]
async fn set_image_rolls_out_a_new_replicaset() -> anyhow::Result<()> {
    let (sim, client) = start(fast()).await?;
    let k = Kubectl::new(&sim)?;
    let api = deployment_ready(&k, &client, "web", 2).await?;
    assert_eq!(
        k.ok(&["set", "image", "deployment/web", "nginx=nginx:1.28"])
            .await?,
        "deployment.apps/web image updated\n"
    );
    rolled_out(&api, "web", 2).await;
    let d = api.get("web").await?;
    assert!(managed_by(&d).contains(&triple("kubectl-set", "Update", "")));
    let rs = rows(
        &k.ok(&[
            "get",
            "replicasets",
            "-o",
            "wide",
            "--sort-by=.metadata.annotations.deployment\\.kubernetes\\.io/revision",
        ])
        .await?,
    );
    assert_eq!(rs.len(), 3, "{rs:?}");
    assert_eq!(
        (rs[1][1..4].join(" "), rs[1][6].as_str()),
        ("0 0 0".to_string(), "nginx:1.27")
    );
    assert_eq!(
        (rs[2][1..4].join(" "), rs[2][6].as_str()),
        ("2 2 2".to_string(), "nginx:1.28")
    );
    let out = k
        .ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await?;
    assert!(
        out.ends_with("deployment \"web\" successfully rolled out\n"),
        "{out}"
    );
    Ok(())
}

#[tokio::test]
async fn rollout_restart_and_undo() -> anyhow::Result<()> {
    let (sim, client) = start(fast()).await?;
    let k = Kubectl::new(&sim)?;
    let api = deployment_ready(&k, &client, "web", 2).await?;
    assert_eq!(
        k.ok(&["rollout", "restart", "deployment/web"]).await?,
        "deployment.apps/web restarted\n"
    );
    let d = api.get("web").await?;
    let restarted = d
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get("kubectl.kubernetes.io/restartedAt"))
        .cloned();
    assert!(restarted.is_some());
    assert!(managed_by(&d).contains(&triple("kubectl-rollout", "Update", "")));
    let out = k
        .ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await?;
    assert!(
        out.contains("deployment \"web\" successfully rolled out"),
        "{out}"
    );
    k.ok(&["set", "image", "deployment/web", "nginx=nginx:1.28"])
        .await?;
    k.ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await?;
    // Back to revision 2 (the restart): its ReplicaSet comes back as revision 4.
    assert_eq!(
        k.ok(&["rollout", "undo", "deployment/web"]).await?,
        "deployment.apps/web rolled back\n"
    );
    rolled_out(&api, "web", 2).await;
    let d = api.get("web").await?;
    let tpl = &d.spec.as_ref().expect("spec").template;
    assert_eq!(
        tpl.spec.as_ref().expect("pod").containers[0]
            .image
            .as_deref(),
        Some("nginx:1.27")
    );
    assert_eq!(
        tpl.metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get("kubectl.kubernetes.io/restartedAt"))
            .cloned(),
        restarted
    );
    let history = rows(&k.ok(&["rollout", "history", "deployment/web"]).await?);
    let revisions: Vec<&str> = history[2..]
        .iter()
        .filter(|r| !r.is_empty())
        .map(|r| r[0].as_str())
        .collect();
    assert_eq!(revisions, ["1", "3", "4"]);
    assert_eq!(
        d.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("deployment.kubernetes.io/revision"))
            .map(String::as_str),
        Some("4")
    );
    Ok(())
}

#[tokio::test]
async fn events_from_the_controllers() -> anyhow::Result<()> {
    let (sim, client) = start(fast()).await?;
    let k = Kubectl::new(&sim)?;
    deployment_ready(&k, &client, "web", 1).await?;
    let out = k.ok(&["get", "events"]).await?;
    let lines = rows(&out);
    assert_eq!(
        lines[0],
        ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    for (reason, object, message) in [
        (
            "ScalingReplicaSet",
            "deployment/web",
            "Scaled up replica set web-",
        ),
        ("SuccessfulCreate", "replicaset/web-", "Created pod: web-"),
        (
            "Scheduled",
            "pod/web-",
            "Successfully assigned default/web-",
        ),
        ("Started", "pod/web-", "Started container nginx"),
    ] {
        assert!(
            out.lines().any(|l| l.contains(reason)
                && l.contains(object)
                && l.contains(message)
                && l.contains("Normal")),
            "no {reason} event in\n{out}"
        );
    }
    let wide = rows(&k.ok(&["get", "events", "-o", "wide"]).await?);
    assert_eq!(
        wide[0],
        [
            "LAST",
            "SEEN",
            "TYPE",
            "REASON",
            "OBJECT",
            "SUBOBJECT",
            "SOURCE",
            "MESSAGE",
            "FIRST",
            "SEEN",
            "COUNT",
            "NAME"
        ]
    );
    let described = k.ok(&["describe", "deployment", "web"]).await?;
    assert!(
        described
            .lines()
            .any(|l| l.contains("Normal  ScalingReplicaSet")
                && l.contains("deployment-controller")
                && l.contains("Scaled up replica set web-")),
        "{described}"
    );
    Ok(())
}

#[tokio::test]
async fn a_crashlooping_rollout_leaves_the_old_pods_serving() -> anyhow::Result<()> {
    let (sim, client) = start(fast()).await?;
    let k = Kubectl::new(&sim)?;
    let api = deployment_ready(&k, &client, "web", 4).await?;
    k.ok(&[
        "patch",
        "deployment",
        "web",
        "-p",
        r#"{"spec":{"progressDeadlineSeconds":3}}"#,
    ])
    .await?;
    k.ok(&["set", "image", "deployment/web", "nginx=nginx:crashloop"])
        .await?;
    // 4 replicas, 25% surge and unavailability: at most 5 pods, at least 3 available. The new
    // ReplicaSet gets its surge pod and one more as an old pod goes; then nothing may move.
    let out = k
        .run(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await?;
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("deployment \"web\" exceeded its progress deadline"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    let d = api.get("web").await?;
    let s = d.status.expect("status");
    assert_eq!(
        (s.replicas, s.updated_replicas, s.available_replicas),
        (Some(5), Some(2), Some(3))
    );
    let available = s
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Available")
        .expect("Available");
    assert_eq!(available.status, "True");
    let rs = rows(
        &k.ok(&[
            "get",
            "replicasets",
            "-o",
            "wide",
            "--sort-by=.metadata.annotations.deployment\\.kubernetes\\.io/revision",
        ])
        .await?,
    );
    assert_eq!(
        (rs[1][1..4].join(" "), rs[1][6].as_str()),
        ("3 3 3".to_string(), "nginx:1.27")
    );
    assert_eq!(
        (rs[2][1..4].join(" "), rs[2][6].as_str()),
        ("2 2 0".to_string(), "nginx:crashloop")
    );
    let pods = k.ok(&["get", "pods"]).await?;
    assert_eq!(pods.matches("CrashLoopBackOff").count(), 2, "{pods}");
    assert_eq!(pods.matches("Running").count(), 3, "{pods}");
    let events = k
        .ok(&["get", "events", "--field-selector", "type=Warning"])
        .await?;
    assert!(
        events.contains("BackOff") && events.contains("Back-off restarting failed container nginx"),
        "{events}"
    );
    Ok(())
}

#[tokio::test]
async fn delete_background_and_foreground() -> anyhow::Result<()> {
    let (sim, client) = start(fast()).await?;
    let k = Kubectl::new(&sim)?;
    let api = deployment_ready(&k, &client, "web", 2).await?;
    deployment_ready(&k, &client, "fg", 2).await?;
    let out = k.ok(&["delete", "deployment", "web"]).await?;
    assert!(out.starts_with("deployment.apps \"web\" deleted"), "{out}");
    let out = k
        .ok(&["delete", "deployment", "fg", "--cascade=foreground"])
        .await?;
    assert!(out.starts_with("deployment.apps \"fg\" deleted"), "{out}");
    // kubectl waited for the object to go, which in foreground means its dependents went first.
    assert!(api.get_opt("fg").await?.is_none());
    let left = k
        .ok(&["get", "replicasets,pods", "-l", "app=fg", "-o", "name"])
        .await?;
    assert_eq!(left, "");
    eventually("web's pods to go", || {
        let k = &k;
        async move {
            let out = k
                .ok(&["get", "pods", "-l", "app=web", "-o", "name"])
                .await
                .ok()?;
            out.is_empty().then_some(())
        }
    })
    .await;
    let out = k.run(&["delete", "deployment", "web"]).await?;
    assert!(
        !out.ok && out.stderr.contains("deployments.apps \"web\" not found"),
        "{}",
        out.stderr
    );
    Ok(())
}

#[tokio::test]
async fn wait_for_condition_available() -> anyhow::Result<()> {
    let (sim, _client) = start(fast()).await?;
    let k = Kubectl::new(&sim)?;
    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=2",
    ])
    .await?;
    let out = k
        .ok(&[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "--timeout=60s",
        ])
        .await?;
    assert_eq!(out, "deployment.apps/web condition met\n");
    k.ok(&["create", "deployment", "bad", "--image=app:pullfail"])
        .await?;
    let out = k
        .run(&[
            "wait",
            "--for=condition=Available",
            "deployment/bad",
            "--timeout=2s",
        ])
        .await?;
    assert!(
        !out.ok
            && out
                .stderr
                .contains("timed out waiting for the condition on deployments/bad"),
        "{}",
        out.stderr
    );
    Ok(())
}

#[tokio::test]
async fn edit_with_a_scripted_editor() -> anyhow::Result<()> {
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
    // kubectl runs an EDITOR with spaces through the shell, so no script file is written and run.
    let editor =
        r#"sed -i -e 's/replicas: 2/replicas: 4/' -e 's/image: nginx:1.27/image: nginx:1.28/'"#;
    let out = k
        .run_with(
            &["edit", "deployment", "web"],
            None,
            &[("EDITOR", editor), ("KUBE_EDITOR", editor)],
        )
        .await?;
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "deployment.apps/web edited\n");
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d = api.get("web").await?;
    let spec = d.spec.clone().expect("spec");
    assert_eq!(spec.replicas, Some(4));
    assert_eq!(
        spec.template.spec.expect("pod").containers[0]
            .image
            .as_deref(),
        Some("nginx:1.28")
    );
    assert!(managed_by(&d).contains(&triple("kubectl-edit", "Update", "")));
    // An edit that changes nothing.
    let out = k
        .run_with(
            &["edit", "deployment", "web"],
            None,
            &[("KUBE_EDITOR", "true")],
        )
        .await?;
    assert!(
        out.ok && out.stderr.contains("Edit cancelled, no changes made."),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    Ok(())
}
