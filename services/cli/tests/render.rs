//! `gantry render`, the binary itself, against the real `kubectl kustomize` (kustomize v5.8):
//! on the usual layout (an overlay naming `../../base`) it prints the same bytes, a
//! kustomization's own file outside its folder fails with the same error, and `--root`
//! confines reads with an error naming the kustomization's file and line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, ensure};

fn kubectl() -> PathBuf {
    let p = gantry_tests::tools_bin().join("kubectl");
    assert!(
        p.exists(),
        "{} is missing: run `. scripts/tools.sh` (it installs kubectl with kustomize)",
        p.display()
    );
    p
}

fn write(root: &Path, rel: &str, text: &str) -> Result<()> {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().context("a parent")?)?;
    std::fs::write(p, text)?;
    Ok(())
}

fn gantry(cwd: &Path, args: &[&str]) -> Result<Output> {
    Ok(Command::new(env!("CARGO_BIN_EXE_gantry"))
        .arg("render")
        .args(args)
        .current_dir(cwd)
        .output()?)
}

/// The stdout of a `gantry render` that must have succeeded (its stderr is the error if not).
fn success(out: &Output) -> Result<String> {
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout.clone())?)
}

/// The stderr of a `gantry render` that must have failed with exit code 1.
fn failure(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn layout() -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    write(
        root,
        "apps/payments/base/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: payments\nspec:\n  \
         selector:\n    matchLabels:\n      app: payments\n  template:\n    metadata:\n      \
         labels:\n        app: payments\n    spec:\n      containers:\n      - name: app\n        \
         image: ghcr.io/acme/payments:1.0.0\n",
    )?;
    write(
        root,
        "apps/payments/base/kustomization.yaml",
        "resources:\n- deployment.yaml\nconfigMapGenerator:\n- name: settings\n  literals:\n  - MODE=yes\n",
    )?;
    write(
        root,
        "apps/payments/overlays/dev/kustomization.yaml",
        "resources:\n- ../../base\nnamespace: payments-dev\nnamePrefix: dev-\nimages:\n- name: ghcr.io/acme/payments\n  newTag: 1.1.0\n",
    )?;
    write(
        root,
        "apps/payments/overlays/bad/kustomization.yaml",
        "resources:\n- ../../base/deployment.yaml\n",
    )?;
    Ok(dir)
}

#[test]
fn renders_the_usual_layout_as_kubectl_kustomize_does() -> Result<()> {
    let dir = layout()?;
    let want = Command::new(kubectl())
        .args(["kustomize", "apps/payments/overlays/dev"])
        .current_dir(dir.path())
        .output()?;
    ensure!(
        want.status.success(),
        "kubectl kustomize failed: {}",
        String::from_utf8_lossy(&want.stderr)
    );
    let got = gantry(dir.path(), &["apps/payments/overlays/dev"])?;
    ensure!(
        got.status.success(),
        "gantry render failed: {}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&got.stdout),
        String::from_utf8_lossy(&want.stdout)
    );
    assert!(String::from_utf8_lossy(&got.stdout).contains("image: ghcr.io/acme/payments:1.1.0"));
    Ok(())
}

#[test]
fn a_file_outside_its_kustomization_fails_as_in_kubectl_kustomize() -> Result<()> {
    let dir = layout()?;
    let want = Command::new(kubectl())
        .args(["kustomize", "apps/payments/overlays/bad"])
        .current_dir(dir.path())
        .output()?;
    ensure!(!want.status.success(), "kubectl kustomize should refuse it");
    let got = gantry(dir.path(), &["apps/payments/overlays/bad"])?;
    assert!(got.stdout.is_empty());
    // kubectl says `error: `, gantry `Error: ` (as `kustomize build` does); the rest is equal.
    let want = String::from_utf8_lossy(&want.stderr);
    let got = failure(&got);
    assert_eq!(
        got.strip_prefix("Error: "),
        want.strip_prefix("error: "),
        "gantry: {got}\nkubectl: {want}"
    );
    Ok(())
}

#[test]
fn root_confines_reads_and_names_the_file_and_line() -> Result<()> {
    let dir = layout()?;
    let overlays = dir.path().join("apps/payments/overlays").canonicalize()?;
    let got = gantry(
        dir.path(),
        &[
            "--root",
            "apps/payments/overlays",
            "apps/payments/overlays/dev",
        ],
    )?;
    assert_eq!(
        failure(&got),
        format!(
            "Error: {}/dev/kustomization.yaml:2: '../../base' is outside the root '{}'\n",
            overlays.display(),
            overlays.display()
        )
    );
    // With the whole checkout as the root it renders.
    let ok = gantry(dir.path(), &["--root", ".", "apps/payments/overlays/dev"])?;
    ensure!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // A path outside the root is refused before anything is read.
    let outside = gantry(
        dir.path(),
        &["--root", "apps/payments/base", "apps/payments/overlays/dev"],
    )?;
    let err = failure(&outside);
    assert!(err.contains("is not inside the root"), "{err}");
    Ok(())
}

/// Helm follows a chart's symlinks wherever they lead (VictoriaMetrics' CRD chart links its CRDs
/// from a sibling chart); `--root` still confines them.
#[test]
fn a_chart_follows_its_symlinks_unless_root_confines_them() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    write(
        root,
        "chart/Chart.yaml",
        "apiVersion: v2\nname: linked\nversion: 0.1.0\n",
    )?;
    write(
        root,
        "shared/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
    )?;
    std::fs::create_dir_all(root.join("chart/templates"))?;
    std::os::unix::fs::symlink("../../shared/cm.yaml", root.join("chart/templates/cm.yaml"))?;
    let got = gantry(root, &["chart", "--release-name", "rel"])?;
    ensure!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&got.stdout),
        "---\n# Source: linked/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rel\n"
    );
    let confined = gantry(root, &["--root", "chart", "chart"])?;
    let err = failure(&confined);
    assert!(err.contains("is outside the root"), "{err}");
    Ok(())
}

/// Helm's loader never enters a folder the chart's `.helmignore` ignores, so what lies there is
/// never read (a dangling link under `ci/` renders, as helm-python-sdk renders it); a dangling
/// link the walk meets outside such a folder still fails, ignored or not, as Helm resolves each
/// link before it asks the rules.
#[test]
fn a_chart_folder_its_helmignore_ignores_is_never_read() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    write(
        root,
        "chart/Chart.yaml",
        "apiVersion: v2\nname: ignoring\nversion: 0.1.0\n",
    )?;
    write(root, "chart/.helmignore", "ci/\n*.bak\n")?;
    write(root, "chart/ci/values.yaml", "a: 1\n")?;
    write(
        root,
        "chart/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  files: {{ len .Files | quote }}\n",
    )?;
    std::os::unix::fs::symlink("/nonexistent/x", root.join("chart/ci/broken"))?;
    let got = gantry(root, &["chart", "--release-name", "rel"])?;
    assert_eq!(
        success(&got)?,
        "---\n# Source: ignoring/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rel\ndata:\n  files: \"1\"\n"
    );
    std::os::unix::fs::symlink("/nonexistent/y", root.join("chart/gone.bak"))?;
    let err = failure(&gantry(root, &["chart", "--release-name", "rel"])?);
    assert!(err.contains("gone.bak"), "{err}");
    Ok(())
}

/// Helm prints a template whose mapping repeats a key as it is, and the Kubernetes client that
/// installs it keeps the last value (stable/kured's `restartPolicy` twice); kustomize's reading
/// would refuse it.
#[test]
fn a_chart_may_repeat_a_key_and_the_last_value_counts() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    write(
        root,
        "chart/Chart.yaml",
        "apiVersion: v2\nname: twice\nversion: 0.1.0\n",
    )?;
    let cm =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: first\n  a: last\n";
    write(root, "chart/templates/cm.yaml", cm)?;
    let got = gantry(root, &["chart"])?;
    ensure!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&got.stdout),
        format!("---\n# Source: twice/templates/cm.yaml\n{cm}")
    );
    let json = gantry(root, &["--output", "json", "chart"])?;
    ensure!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let objects: serde_json::Value = serde_json::from_slice(&json.stdout)?;
    assert_eq!(objects[0]["data"]["a"], "last");
    Ok(())
}

/// `helm template` reads only each document's head, so a document that is no Kubernetes object
/// is printed as it is; only `--output json`, which needs objects, refuses it.
#[test]
fn a_chart_document_without_kind_prints_as_helm_template_prints_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    write(
        root,
        "chart/Chart.yaml",
        "apiVersion: v2\nname: plain\nversion: 0.1.0\n",
    )?;
    let doc = "settings:\n  mode: {{ .Values.mode | default \"fast\" }}\n";
    write(root, "chart/templates/settings.yaml", doc)?;
    let got = success(&gantry(root, &["chart"])?)?;
    assert_eq!(
        got,
        "---\n# Source: plain/templates/settings.yaml\nsettings:\n  mode: fast\n"
    );
    let err = failure(&gantry(root, &["--output", "json", "chart"])?);
    assert!(err.contains("missing kind in object"), "{err}");
    Ok(())
}

#[test]
fn json_output_and_missing_paths() -> Result<()> {
    let dir = layout()?;
    let got = gantry(
        dir.path(),
        &["--output", "json", "apps/payments/overlays/dev"],
    )?;
    ensure!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    let objects: serde_json::Value = serde_json::from_slice(&got.stdout)?;
    let names: Vec<&str> = objects
        .as_array()
        .context("an array")?
        .iter()
        .filter_map(|o| o["metadata"]["name"].as_str())
        .collect();
    // Legacy order: the ConfigMap before the Deployment, names prefixed and hashed.
    assert_eq!(names.len(), 2);
    assert!(names[0].starts_with("dev-settings-"), "{names:?}");
    assert_eq!(names[1], "dev-payments");
    let missing = gantry(dir.path(), &["apps/nothing"])?;
    let err = failure(&missing);
    assert!(err.starts_with("Error: apps/nothing: "), "{err}");
    Ok(())
}

#[test]
fn a_packaged_chart_renders_as_its_folder_does() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    write(
        root,
        "web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 1.2.0\ndependencies:\n- name: cache\n  version: 0.1.0\n",
    )?;
    write(root, "web/values.yaml", "replicas: 1\ncache:\n  size: 2\n")?;
    write(
        root,
        "web/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Chart.Name }}\n  namespace: {{ .Release.Namespace }}\ndata:\n  replicas: {{ .Values.replicas | quote }}\n",
    )?;
    write(
        root,
        "web/charts/cache/Chart.yaml",
        "apiVersion: v2\nname: cache\nversion: 0.1.0\n",
    )?;
    write(
        root,
        "web/charts/cache/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cache\ndata:\n  size: {{ .Values.size | quote }}\n",
    )?;
    write(root, "prod.yaml", "replicas: 3\ncache:\n  size: 5\n")?;
    // `helm package` makes the same layout: one top folder named after the chart.
    let st = Command::new("tar")
        .args(["czf", "web-1.2.0.tgz", "web"])
        .current_dir(root)
        .status()?;
    ensure!(st.success(), "tar failed");
    for extra in [&[][..], &["--helm-templates"][..]] {
        let args = |chart: &'static str| {
            let mut a = vec![chart, "-f", "prod.yaml", "--release-name", "shop"];
            a.extend_from_slice(extra);
            a
        };
        let folder = success(&gantry(root, &args("web"))?)?;
        let packaged = success(&gantry(root, &args("web-1.2.0.tgz"))?)?;
        assert_eq!(packaged, folder);
    }
    let text = success(&gantry(root, &["web-1.2.0.tgz", "-f", "prod.yaml"])?)?;
    assert!(
        text.contains("replicas: \"3\"") && text.contains("size: \"5\""),
        "{text}"
    );
    // --set-string after --set, as Helm orders them: `007` stays as written; `-n` as in Helm.
    let out = gantry(
        root,
        &[
            "web",
            "-n",
            "shop",
            "--set",
            "replicas=7",
            "--set-string",
            "replicas=007",
        ],
    )?;
    let text = success(&out)?;
    assert!(
        text.contains("replicas: \"007\"") && text.contains("namespace: shop"),
        "{text}"
    );

    std::fs::write(root.join("broken.tgz"), b"not gzip at all")?;
    let err = failure(&gantry(root, &["broken.tgz"])?);
    assert!(err.starts_with("Error: reading chart archive: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    Ok(())
}

#[test]
fn api_versions_reach_the_charts_capabilities() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    write(
        root,
        "mon/Chart.yaml",
        "apiVersion: v2\nname: mon\nversion: 0.1.0\n",
    )?;
    write(
        root,
        "mon/templates/sm.yaml",
        "{{- range list \"monitoring.coreos.com/v1\" \"example.com/v2\" \"apps/v1\" }}\n{{ . }}: {{ $.Capabilities.APIVersions.Has . }}\n{{- end }}\n",
    )?;
    let out = gantry(
        root,
        &[
            "mon",
            "--helm-templates",
            "-a",
            "monitoring.coreos.com/v1,example.com/v2",
        ],
    )?;
    let map: std::collections::BTreeMap<String, String> = serde_json::from_str(&success(&out)?)?;
    assert_eq!(
        map["mon/templates/sm.yaml"],
        "\nmonitoring.coreos.com/v1: true\nexample.com/v2: true\napps/v1: true\n"
    );
    let out = gantry(root, &["mon", "--helm-templates"])?;
    let map: std::collections::BTreeMap<String, String> = serde_json::from_str(&success(&out)?)?;
    assert_eq!(
        map["mon/templates/sm.yaml"],
        "\nmonitoring.coreos.com/v1: false\nexample.com/v2: false\napps/v1: true\n"
    );
    Ok(())
}

/// `gantry render`'s arguments are parsed without the other subcommands' (a render lives
/// milliseconds): its help is the one `gantry help render` prints from the whole command, and
/// a bad argument is still a usage error (exit code 64) naming it.
#[test]
fn render_parsed_alone_has_the_whole_commands_help_and_errors() -> Result<()> {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_gantry"))
            .args(args)
            .output()
    };
    let alone = run(&["render", "--help"])?;
    let whole = run(&["help", "render"])?;
    ensure!(alone.status.success() && whole.status.success());
    assert_eq!(
        String::from_utf8(alone.stdout)?,
        String::from_utf8(whole.stdout)?
    );
    let bad = run(&["render", "--bogus", "x"])?;
    assert_eq!(bad.status.code(), Some(64));
    let err = String::from_utf8(bad.stderr)?;
    assert!(
        err.contains("unexpected argument '--bogus'") && err.contains("Usage: gantry render"),
        "{err}"
    );
    Ok(())
}

/// A chart with a schema is read while a helper thread reads its values files and schemas
/// ahead and parses them: the helper reads only what the render may. A values file linked to a
/// FIFO outside `--root` fails the render as any file outside does; had the helper opened the
/// FIFO, it would wait for a writer forever.
#[test]
fn reading_ahead_never_opens_what_root_confines() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    write(
        root,
        "chart/Chart.yaml",
        "apiVersion: v2\nname: ahead\nversion: 0.1.0\n",
    )?;
    write(root, "chart/values.schema.json", "{\"type\": \"object\"}")?;
    write(
        root,
        "chart/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name }}\n",
    )?;
    let made = Command::new("mkfifo")
        .arg(root.join("outside.fifo"))
        .status()?;
    ensure!(made.success(), "mkfifo failed");
    std::os::unix::fs::symlink("../outside.fifo", root.join("chart/values.yaml"))?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["render", "--root", "chart", "chart"])
        .current_dir(root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait()?.is_none() {
        if std::time::Instant::now() > deadline {
            child.kill()?;
            anyhow::bail!("the render waited on the FIFO outside the root");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output()?;
    let err = failure(&out);
    assert!(err.contains("is outside the root"), "{err}");
    Ok(())
}
