//! Helm charts in the reconciler: Gantry's own engine by default (no helm binary), values files
//! anywhere in the repository and inline values, `helm: {engine: external}`, and charts whose
//! render is nondeterministic.

mod common;

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use common::*;
use gantry_proto::v1::{Outcome, Phase};
use gantry_reconciler::state::{EnvKey, EnvState, StateStore};
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};

const ZERO: &str = "0000000000000000000000000000000000000000";

const CHART: &str = "apiVersion: v2\nname: web\nversion: 0.1.0\nappVersion: \"1.27\"\n";

const HELPERS: &str = r#"{{- define "web.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "web.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
"#;

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "web.fullname" . }}
  labels:
    {{- include "web.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      {{- include "web.labels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "web.labels" . | nindent 8 }}
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
"#;

const CONFIGMAP: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "web.fullname" . }}
  namespace: {{ .Release.Namespace }}
data:
  greeting: {{ .Values.greeting | quote }}
  {{- with .Values.extra }}
  extra: {{ . | quote }}
  {{- end }}
"#;

const VALUES: &str = "replicaCount: 1\nimage:\n  repository: nginx\n  tag: \"\"\ngreeting: hello\n";

fn write_chart(h: &Harness) -> Result<()> {
    h.repo.write("charts/web/Chart.yaml", CHART)?;
    h.repo.write("charts/web/values.yaml", VALUES)?;
    h.repo.write("charts/web/templates/_helpers.tpl", HELPERS)?;
    h.repo
        .write("charts/web/templates/deployment.yaml", DEPLOYMENT)?;
    h.repo
        .write("charts/web/templates/configmap.yaml", CONFIGMAP)?;
    Ok(())
}

fn gantry_yaml(helm: &str) -> String {
    format!(
        "apps:\n  - name: web\n    environments:\n      - name: dev\n        branch: main\n        path: charts/web\n        namespace: web-dev\n        healthTimeout: 30s\n        helm: {helm}\n"
    )
}

async fn get(h: &Harness, api_version: &str, kind: &str, name: &str) -> Result<DynamicObject> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    let api: Api<DynamicObject> = Api::namespaced_with(h.client.clone(), "web-dev", &ar);
    api.get(name).await.context(format!("{kind} {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_deploys_through_the_native_engine() -> Result<()> {
    let mut h = Harness::start().await?;
    write_chart(&h)?;
    h.repo.write(
        "envs/dev/values.yaml",
        "replicaCount: 2\ngreeting: from dev\n",
    )?;
    h.repo.write(
        ".gantry.yaml",
        &gantry_yaml(
            "{releaseName: shop, valuesFiles: [../../envs/dev/values.yaml], values: {extra: inline}}",
        ),
    )?;
    let c1 = h.repo.commit("a chart")?;
    h.worker("w1", |_| {}).await?;
    h.push(ZERO, &c1).await?;
    let s = h
        .final_status(&c1, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success", "{s:?}");
    assert!(s.description.contains("2 objects applied"), "{s:?}");

    // The release name, the values file outside the chart and the inline values all count.
    let d = get(&h, "apps/v1", "Deployment", "shop-web").await?;
    assert_eq!(d.data["spec"]["replicas"], 2, "{:?}", d.data);
    assert_eq!(
        d.data["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    let cm = get(&h, "v1", "ConfigMap", "shop-web").await?;
    assert_eq!(cm.data["data"]["greeting"], "from dev");
    assert_eq!(cm.data["data"]["extra"], "inline");

    // The values file is an input of the render: changing only it redeploys.
    h.repo
        .write("envs/dev/values.yaml", "replicaCount: 3\ngreeting: again\n")?;
    let c2 = h.repo.commit("dev values")?;
    h.push(&c1, &c2).await?;
    let s = h
        .final_status(&c2, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success", "{s:?}");
    let cm = get(&h, "v1", "ConfigMap", "shop-web").await?;
    assert_eq!(cm.data["data"]["greeting"], "again");

    // A template the engine refuses fails the render with the template's file and line.
    h.repo.write(
        "charts/web/templates/bad.yaml",
        "kind: ConfigMap\n\n{{ nosuchfunc 1 }}\n",
    )?;
    let c3 = h.repo.commit("bad template")?;
    h.push(&c2, &c3).await?;
    let s = h
        .final_status(&c3, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "error", "{s:?}");
    let audit = h.audit().await?;
    let failed = audit
        .iter()
        .find(|(_, r)| r.revision == c3 && r.phase == Phase::Render as i32)
        .map(|(_, r)| r.message.clone())
        .unwrap_or_default();
    assert!(
        failed.contains("web/templates/bad.yaml:3") && failed.contains("nosuchfunc"),
        "{failed}"
    );
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_values_file_outside_the_repository_is_refused() -> Result<()> {
    let mut h = Harness::start().await?;
    write_chart(&h)?;
    h.repo.write(
        ".gantry.yaml",
        &gantry_yaml("{valuesFiles: [../../../etc/passwd]}"),
    )?;
    let c1 = h.repo.commit("escape")?;
    h.worker("w1", |_| {}).await?;
    h.push(ZERO, &c1).await?;
    // An unusable .gantry.yaml fails the repository-wide `gantry` status, naming the line.
    let s = h
        .final_status(&c1, "gantry", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "error", "{s:?}");
    assert!(s.description.contains(".gantry.yaml:9"), "{s:?}");
    assert!(h.names("v1", "ConfigMap", "web-dev").await?.is_empty());
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_external_runs_the_helm_binary() -> Result<()> {
    if std::process::Command::new("helm")
        .arg("version")
        .output()
        .is_ok()
    {
        eprintln!("a helm binary is on PATH; this test proves the path without one");
        return Ok(());
    }
    let mut h = Harness::start().await?;
    write_chart(&h)?;
    h.repo
        .write(".gantry.yaml", &gantry_yaml("{engine: external}"))?;
    let c1 = h.repo.commit("external")?;
    h.worker("w1", |_| {}).await?;
    h.push(ZERO, &c1).await?;
    let s = h
        .final_status(&c1, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    // No helm here: the external engine was asked for, and says so.
    assert_eq!(s.state, "error", "{s:?}");
    assert!(s.description.contains("helm is not available"), "{s:?}");
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nondeterministic_rerender_is_not_a_change() -> Result<()> {
    let mut h = Harness::start().await?;
    write_chart(&h)?;
    h.repo.write(
        "charts/web/templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ include \"web.fullname\" . }}\ndata:\n  password: {{ randAlphaNum 24 | b64enc | quote }}\n",
    )?;
    h.repo
        .write(".gantry.yaml", &gantry_yaml("{releaseName: shop}"))?;
    let c1 = h.repo.commit("a chart with a generated password")?;
    h.worker("w1", |_| {}).await?;
    h.push(ZERO, &c1).await?;
    let s = h
        .final_status(&c1, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success", "{s:?}");
    let password = get(&h, "v1", "Secret", "shop-web").await?.data["data"]["password"].clone();
    assert!(password.is_string(), "{password:?}");

    // A commit that changes nothing the chart reads, delivered as if the branch were new (so
    // every environment is re-rendered): the new random password is not applied.
    h.repo.write("README.md", "docs\n")?;
    let c2 = h.repo.commit("docs")?;
    h.push(ZERO, &c2).await?;
    let s = h
        .final_status(&c2, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success", "{s:?}");
    assert!(
        s.description.starts_with(&format!(
            "{}: no input changed since {}",
            &c2[..7],
            &c1[..7]
        )),
        "{s:?}"
    );
    let again = get(&h, "v1", "Secret", "shop-web").await?.data["data"]["password"].clone();
    assert_eq!(again, password);

    // The audit records say so: both renders are marked nondeterministic, the warning is in
    // the first only, and the second apply is skipped.
    let audit = h.audit().await?;
    let renders: Vec<_> = audit
        .iter()
        .filter(|(_, r)| r.phase == Phase::Render as i32 && r.outcome == Outcome::Succeeded as i32)
        .map(|(_, r)| r)
        .collect();
    assert_eq!(renders.len(), 2, "{renders:?}");
    assert!(renders.iter().all(|r| r.nondeterministic), "{renders:?}");
    assert!(
        renders[0]
            .message
            .contains("nondeterministic (randAlphaNum)"),
        "{}",
        renders[0].message
    );
    assert!(
        !renders[1].message.contains("nondeterministic"),
        "{}",
        renders[1].message
    );
    assert!(audit.iter().any(|(_, r)| r.revision == c2
        && r.phase == Phase::Apply as i32
        && r.outcome == Outcome::Skipped as i32
        && r.nondeterministic));
    assert!(!audit.iter().any(|(_, r)| r.revision == c2
        && r.phase == Phase::Apply as i32
        && r.outcome == Outcome::Succeeded as i32));

    // A change to what the chart reads is a change: it is applied (with a new password).
    h.repo.write(
        "charts/web/values.yaml",
        &VALUES.replace("replicaCount: 1", "replicaCount: 2"),
    )?;
    let c3 = h.repo.commit("two replicas")?;
    h.push(&c2, &c3).await?;
    let s = h
        .final_status(&c3, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success", "{s:?}");
    assert!(s.description.starts_with("deployed"), "{s:?}");
    let d = get(&h, "apps/v1", "Deployment", "shop-web").await?;
    assert_eq!(d.data["spec"]["replicas"], 2);
    h.shutdown().await;
    Ok(())
}

/// Waits until a drift check of web/dev by `worker` is recorded.
async fn checked_by(h: &Harness, worker: &str) -> Result<EnvState> {
    let store = StateStore::open(&h.js, "reader", Duration::from_secs(5)).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        let s = store
            .get(&EnvKey::new(FULL, "web", "dev"))
            .await?
            .context("no state")?;
        if s.last_check.as_ref().is_some_and(|c| c.worker == worker) {
            return Ok(s);
        }
        if std::time::Instant::now() > deadline {
            bail!("no check by {worker}: {:?}", s.last_check);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nondeterministic_chart_is_not_drift() -> Result<()> {
    let mut h = Harness::start().await?;
    write_chart(&h)?;
    h.repo.write(
        "charts/web/templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ include \"web.fullname\" . }}\n  annotations:\n    generated: {{ randAlphaNum 8 | quote }}\ndata:\n  password: {{ randAlphaNum 24 | b64enc | quote }}\n",
    )?;
    h.repo.write(
        ".gantry.yaml",
        &gantry_yaml("{releaseName: shop}")
            .replace("        helm:", "        interval: 5s\n        helm:"),
    )?;
    let c1 = h.repo.commit("a chart with a generated password")?;
    let w1 = h
        .worker("w1", |c| c.resync_interval = Duration::from_secs(5))
        .await?;
    h.push(ZERO, &c1).await?;
    let s = h
        .final_status(&c1, "gantry/web/dev", Duration::from_secs(30))
        .await?;
    assert_eq!(s.state, "success", "{s:?}");
    let secret = get(&h, "v1", "Secret", "shop-web").await?;
    // A worker that did not apply it (so renders the revision again, with other random values)
    // checks it: the random fields are not drift, and nothing is re-applied.
    h.kill(w1);
    h.worker("w2", |c| c.resync_interval = Duration::from_secs(5))
        .await?;
    let s = checked_by(&h, "w2").await?;
    let check = s.last_check.context("check")?;
    assert!(check.drifted.is_empty(), "{check:?}");
    assert!(!check.healed, "{check:?}");
    let again = get(&h, "v1", "Secret", "shop-web").await?;
    assert_eq!(again.data["data"], secret.data["data"]);
    assert_eq!(
        again.metadata.annotations, secret.metadata.annotations,
        "generated annotation kept"
    );

    // Real drift on such an object is still found and healed, keeping the generated values.
    let api: Api<DynamicObject> = Api::namespaced_with(
        h.client.clone(),
        "web-dev",
        &ApiResource::from_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment")),
    );
    api.patch(
        "shop-web",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(serde_json::json!({"spec": {"replicas": 4}})),
    )
    .await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        let d = get(&h, "apps/v1", "Deployment", "shop-web").await?;
        if d.data["spec"]["replicas"] == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never healed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = get(&h, "v1", "Secret", "shop-web").await?;
    assert_eq!(after.data["data"], secret.data["data"]);
    h.shutdown().await;
    Ok(())
}
