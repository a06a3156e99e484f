//! Differential test against the real kustomize: a seeded generator writes random overlays
//! (bases, overlays, components, patches, generators, prefixes, labels, images) over realistic
//! Deployments, Services and ConfigMaps; Gantry and kustomize render each one, and any
//! difference fails the test and is saved under `target/render-diff/` for triage.
//!
//! The overlays also use YAML 1.1 scalars in JSON 6902 patch values (`y`, `on`, `0x1F`,
//! `on:` as a key), vars, replacements, components (with their own patches, labels and
//! generators) and generators with `merge`/`replace` behaviours and options.
//!
//! `RENDER_DIFF_SEEDS` (comma separated, default `42,7,2024`) and `RENDER_DIFF_CASES` (per
//! seed, default 200) choose the run; `RENDER_DIFF_SEED` runs one seed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gantry_render::{DirFs, RenderOptions, render};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Plain scalars that YAML 1.1 (how kustomize reads JSON 6902 patches) types differently from
/// YAML 1.2, written unquoted into patch values.
const YAML11: &[&str] = &[
    "y",
    "Y",
    "yes",
    "No",
    "on",
    "OFF",
    "n",
    "0x1F",
    "012",
    "0o17",
    "1:20",
    "2024-01-02",
    "1e3",
    ".5",
    "+1",
    "~",
    "null",
    "true",
    "plain",
    "0b101",
    "-0x1",
];

const TRICKY: &[&str] = &[
    "true",
    "yes",
    "no",
    "on",
    "1.0",
    "0x1F",
    "012",
    "1e3",
    "",
    "a: b",
    "#hash",
    "- dash",
    "null",
    "~",
    " lead",
    "trail ",
    "multi\nline\n",
    "two\n\nbreaks",
    "é ü ñ",
    "tab\there",
    "\"quoted\"",
    "it's",
    "a very long value that goes on and on well past the eighty column limit of the yaml emitter here",
    "1:20",
    "2024-01-02",
    "@at",
    "*star",
    "&amp",
    "!bang",
    "%pct",
    "`tick",
    "{brace}",
    "[bracket]",
    "x,y",
    "<<",
    "=",
    ".5",
    "+1",
    "-1",
    "NaN",
    "3",
    "0",
    "plain",
];

fn q(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

struct Case {
    dir: PathBuf,
}

fn write(p: &Path, text: &str) {
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, text).expect("write");
}

fn deployment(rng: &mut StdRng, name: &str, cm: &str, secret: Option<&str>) -> String {
    let mut s = String::new();
    let replicas = rng.random_range(1..5);
    let _ = write!(
        s,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  labels:\n    app: {name}\n"
    );
    if rng.random_bool(0.4) {
        let _ = write!(s, "  annotations:\n    note: {}\n", q(pick(rng, TRICKY)));
    }
    let _ = write!(
        s,
        "spec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n"
    );
    if rng.random_bool(0.3) {
        s.push_str("      serviceAccountName: runner\n");
    }
    s.push_str("      containers:\n");
    let n = rng.random_range(1..3);
    for i in 0..n {
        let image = pick(
            rng,
            &[
                "nginx:1.25",
                "nginx",
                "registry.example.com:5000/team/api:v2",
                "busybox@sha256:abc123",
            ],
        );
        let _ = write!(
            s,
            "      - name: c{i}\n        image: {image}\n        ports:\n        - containerPort: {}\n",
            8080 + i
        );
        s.push_str("        env:\n");
        let _ = write!(
            s,
            "        - name: MODE\n          value: {}\n",
            q(pick(rng, TRICKY))
        );
        let _ = write!(
            s,
            "        - name: FROM_CM\n          valueFrom:\n            configMapKeyRef:\n              name: {cm}\n              key: k0\n"
        );
        if let Some(sec) = secret {
            let _ = write!(
                s,
                "        envFrom:\n        - secretRef:\n            name: {sec}\n"
            );
        }
        if rng.random_bool(0.3) {
            s.push_str("        args: [\"--flag\", \"--other=1\"]\n");
        }
    }
    let _ = write!(
        s,
        "      volumes:\n      - name: config\n        configMap:\n          name: {cm}\n"
    );
    s
}

fn service(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector:\n    app: {name}\n  ports:\n  - port: 80\n    targetPort: 8080\n"
    )
}

fn literals(rng: &mut StdRng, n: usize) -> String {
    let mut s = String::from("  literals:\n");
    for i in 0..n {
        let v = pick(rng, TRICKY).replace('\n', " ");
        let _ = writeln!(s, "  - {}", q(&format!("k{i}={v}")));
    }
    s
}

fn generate(rng: &mut StdRng, root: &Path) -> Case {
    let bases = if rng.random_bool(0.3) { 2 } else { 1 };
    let mut deploy_names = Vec::new();
    for b in 0..bases {
        let dir = root.join(format!("base{b}"));
        let name = format!("{}{}", pick(rng, &["web", "api", "worker"]), b);
        let cm = format!("settings{b}");
        let use_secret = rng.random_bool(0.4);
        let secret = use_secret.then(|| format!("creds{b}"));
        write(
            &dir.join("deployment.yaml"),
            &deployment(rng, &name, &cm, secret.as_deref()),
        );
        write(&dir.join("service.yaml"), &service(&name));
        let mut k = String::from("resources:\n- deployment.yaml\n- service.yaml\n");
        if rng.random_bool(0.3) {
            write(
                &dir.join("sa.yaml"),
                "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: runner\n",
            );
            k.push_str("- sa.yaml\n");
        }
        let _ = write!(k, "configMapGenerator:\n- name: {cm}\n");
        let n = rng.random_range(1..4);
        k.push_str(&literals(rng, n));
        if rng.random_bool(0.3) {
            write(
                &dir.join("app.properties"),
                &format!("a=1\nb={}\n", pick(rng, TRICKY).replace('\n', " ")),
            );
            k.push_str("  files:\n  - app.properties\n");
        }
        if let Some(sec) = &secret {
            let _ = write!(k, "secretGenerator:\n- name: {sec}\n");
            k.push_str(&literals(rng, 2));
        }
        if bases > 1 || rng.random_bool(0.2) {
            let _ = writeln!(k, "nameSuffix: -b{b}");
        }
        if rng.random_bool(0.3) {
            let _ = write!(
                k,
                "commonLabels:\n  tier: {}\n",
                q(pick(rng, &["backend", "front end", "1"]))
            );
        }
        write(&dir.join("kustomization.yaml"), &k);
        deploy_names.push(name);
    }
    let ov = root.join("overlay");
    let mut k = String::from("resources:\n");
    for b in 0..bases {
        let _ = writeln!(k, "- ../base{b}");
    }
    if rng.random_bool(0.3) {
        write(
            &ov.join("extra.yaml"),
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  key: {}\n  other: {}\n",
                q(pick(rng, TRICKY)),
                q(pick(rng, TRICKY))
            ),
        );
        k.push_str("- extra.yaml\n");
    }
    if rng.random_bool(0.5) {
        let _ = writeln!(k, "namePrefix: {}-", pick(rng, &["dev", "prod", "team-a"]));
    }
    if rng.random_bool(0.5) {
        let _ = writeln!(
            k,
            "namespace: {}",
            pick(rng, &["apps", "payments-dev", "default"])
        );
    }
    match rng.random_range(0..3) {
        0 => {
            let _ = write!(
                k,
                "commonLabels:\n  env: {}\n",
                q(pick(rng, &["dev", "prod", "true"]))
            );
        }
        1 => {
            let _ = write!(
                k,
                "labels:\n- pairs:\n    owner: {}\n  includeSelectors: {}\n  includeTemplates: {}\n",
                q(pick(rng, &["team", "42"])),
                rng.random_bool(0.5),
                rng.random_bool(0.5)
            );
        }
        _ => {}
    }
    if rng.random_bool(0.4) {
        let _ = write!(k, "commonAnnotations:\n  note: {}\n", q(pick(rng, TRICKY)));
    }
    if rng.random_bool(0.5) {
        match rng.random_range(0..3) {
            0 => k.push_str("images:\n- name: nginx\n  newTag: \"1.27\"\n"),
            1 => k.push_str("images:\n- name: nginx\n  newName: mirror.example.com/nginx\n"),
            _ => k.push_str("images:\n- name: busybox\n  digest: sha256:def456\n"),
        }
    }
    let target = deploy_names[rng.random_range(0..deploy_names.len())].clone();
    if rng.random_bool(0.4) {
        let _ = write!(
            k,
            "replicas:\n- name: {target}\n  count: {}\n",
            rng.random_range(0..9)
        );
    }
    let mut patches = String::new();
    if rng.random_bool(0.5) {
        let env = q(pick(rng, TRICKY));
        let _ = write!(
            patches,
            "- patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: {target}\n    spec:\n      template:\n        spec:\n          containers:\n          - name: c0\n            env:\n            - name: EXTRA\n              value: {env}\n            - name: MODE\n              value: patched\n"
        );
    }
    if rng.random_bool(0.3) {
        let _ = write!(
            patches,
            "- target:\n    kind: Deployment\n  patch: |-\n    - op: replace\n      path: /spec/replicas\n      value: 7\n    - op: add\n      path: /metadata/labels/patched\n      value: \"yes\"\n"
        );
    }
    if rng.random_bool(0.3) {
        let _ = write!(
            patches,
            "- target:\n    kind: Service\n  patch: |-\n    apiVersion: v1\n    kind: Service\n    metadata:\n      name: any\n      annotations:\n        svc: {}\n",
            q(pick(rng, TRICKY))
        );
    }
    if !patches.is_empty() {
        k.push_str("patches:\n");
        k.push_str(&patches);
    }
    if rng.random_bool(0.3) {
        write(
            &ov.join("sm.yaml"),
            &format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {target}\nspec:\n  template:\n    spec:\n      containers:\n      - name: sidecar\n        image: envoy:v1\n"
            ),
        );
        k.push_str("patchesStrategicMerge:\n- sm.yaml\n");
    }
    if rng.random_bool(0.4) {
        k.push_str("configMapGenerator:\n- name: settings0\n  behavior: merge\n");
        k.push_str(&literals(rng, 2));
    }
    if rng.random_bool(0.2) {
        k.push_str("generatorOptions:\n  disableNameSuffixHash: true\n");
    }
    if rng.random_bool(0.35) {
        // JSON 6902 values read as YAML 1.1: scalars, a flow mapping with YAML 1.1 keys, a list.
        let a = pick(rng, YAML11);
        let b = pick(rng, YAML11);
        let c = pick(rng, YAML11);
        let value = match rng.random_range(0..3) {
            0 => a.to_owned(),
            1 => format!("{{x: {a}, on: {b}, k{}: {c}}}", rng.random_range(0..3)),
            _ => format!("[{a}, {b}, {c}]"),
        };
        let _ = write!(
            k,
            "patchesJson6902:\n- target:\n    group: apps\n    version: v1\n    kind: Deployment\n    name: {target}\n  patch: |-\n    - op: add\n      path: /spec/template/metadata/annotations\n      value: {{}}\n    - op: add\n      path: /spec/template/metadata/annotations/extra\n      value: {value}\n    - op: add\n      path: /metadata/labels/flag\n      value: {}\n",
            pick(rng, YAML11)
        );
    }
    if rng.random_bool(0.3) {
        // A var naming the first base's Service, used in container args and an env value.
        let svc = format!("{}{}", deploy_names[0], if bases > 1 { "-b0" } else { "" });
        let _ = write!(
            k,
            "vars:\n- name: SVC_NAME\n  objref:\n    kind: Service\n    name: {svc}\n    apiVersion: v1\n- name: SVC_PORT\n  objref:\n    kind: Service\n    name: {svc}\n    apiVersion: v1\n  fieldref:\n    fieldpath: spec.ports[0].port\n"
        );
        write(
            &ov.join("uses-vars.yaml"),
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: probe\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: probe\n        image: busybox\n        args: [\"wget\", \"http://$(SVC_NAME):$(SVC_PORT)/\"]\n        env:\n        - name: PORT\n          value: $(SVC_PORT)\n        - name: ESCAPED\n          value: $$(SVC_NAME)\n",
        );
        k = k.replacen("resources:\n", "resources:\n- uses-vars.yaml\n", 1);
    }
    if bases == 1 && rng.random_bool(0.3) {
        // Replacements: the Service's name into an env value, a port into another field, and
        // a delimited part of an image.
        let _ = write!(
            k,
            "replacements:\n- source:\n    kind: Service\n    fieldPath: metadata.name\n  targets:\n  - select:\n      kind: Deployment\n    fieldPaths:\n    - spec.template.spec.containers.[name=c0].env.[name=MODE].value\n- source:\n    kind: Service\n    fieldPath: spec.ports.0.port\n  targets:\n  - select:\n      kind: Deployment\n      name: {target}\n    fieldPaths:\n    - spec.template.spec.containers.0.ports.0.containerPort\n    options:\n      create: true\n- source:\n    kind: Deployment\n    name: {target}\n    fieldPath: metadata.name\n  targets:\n  - select:\n      kind: Deployment\n    fieldPaths:\n    - spec.template.spec.containers.0.image\n    options:\n      delimiter: ':'\n      index: {}\n",
            rng.random_range(0..2)
        );
    }
    if rng.random_bool(0.35) {
        let comp = root.join("component");
        let mut c = String::from(
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonAnnotations:\n  component: \"on\"\n",
        );
        if rng.random_bool(0.5) {
            let _ = write!(
                c,
                "labels:\n- pairs:\n    feature: {}\n  includeTemplates: true\n",
                q(pick(rng, &["x", "yes", "7"]))
            );
        }
        if rng.random_bool(0.5) {
            let _ = write!(
                c,
                "patches:\n- target:\n    kind: Deployment\n  patch: |-\n    - op: add\n      path: /spec/template/spec/containers/0/env/-\n      value: {{name: FROM_COMPONENT, value: {}}}\n",
                pick(rng, YAML11)
            );
        }
        if rng.random_bool(0.5) {
            let _ = write!(
                c,
                "configMapGenerator:\n- name: settings0\n  behavior: {}\n",
                pick(rng, &["merge", "replace"])
            );
            c.push_str(&literals(rng, 1));
        }
        write(&comp.join("kustomization.yaml"), &c);
        k.push_str("components:\n- ../component\n");
    }
    if rng.random_bool(0.3) {
        // Generators with behaviours and options, in the overlay.
        let behaviour = pick(rng, &["merge", "replace"]);
        let _ = write!(
            k,
            "secretGenerator:\n- name: overlay-secret\n  type: {}\n  options:\n    labels:\n      generated: {}\n    annotations:\n      note: {}\n",
            pick(rng, &["Opaque", "kubernetes.io/tls"]),
            q(pick(rng, &["yes", "1", "secret"])),
            q(pick(rng, TRICKY))
        );
        k.push_str(&literals(rng, 2));
        if let Some(at) = k.find("configMapGenerator:\n") {
            // Another entry in the overlay's existing list.
            let entry =
                format!("configMapGenerator:\n- name: settings0\n  behavior: {behaviour}\n");
            k.replace_range(at..at + "configMapGenerator:\n".len(), &entry);
            let body = format!(
                "  options:\n    disableNameSuffixHash: {}\n    labels:\n      merged: {}\n{}",
                rng.random_bool(0.3),
                q(pick(rng, &["true", "x"])),
                literals(rng, 1)
            );
            let insert_at = at + entry.len();
            k.insert_str(insert_at, &body);
        } else {
            let _ = write!(
                k,
                "configMapGenerator:\n- name: settings0\n  behavior: {behaviour}\n  options:\n    disableNameSuffixHash: {}\n    labels:\n      merged: {}\n",
                rng.random_bool(0.3),
                q(pick(rng, &["true", "x"]))
            );
            k.push_str(&literals(rng, 1));
        }
    }
    write(&ov.join("kustomization.yaml"), &k);
    Case { dir: ov }
}

fn python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        std::env::var("GANTRY_TOOLS_DIR")
            .ok()
            .map(|d| PathBuf::from(d).join("venv/bin/python")),
        Some(root.join(".tools/venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| p.exists())
}

#[test]
fn differential_against_kustomize() {
    let seeds: Vec<u64> = match std::env::var("RENDER_DIFF_SEED") {
        Ok(one) => vec![one.parse().expect("RENDER_DIFF_SEED is a number")],
        Err(_) => std::env::var("RENDER_DIFF_SEEDS")
            .unwrap_or_else(|_| "42,7,2024".into())
            .split(',')
            .map(|s| s.trim().parse().expect("RENDER_DIFF_SEEDS are numbers"))
            .collect(),
    };
    let cases: usize = std::env::var("RENDER_DIFF_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let mut differing = 0;
    for seed in seeds {
        differing += run_seed(seed, cases);
    }
    assert_eq!(differing, 0, "{differing} cases differ from kustomize");
}

/// Runs `cases` random overlays of one seed; returns how many differ.
fn run_seed(seed: u64, cases: usize) -> usize {
    let py = python().expect("the kustomize oracle needs .tools/venv (run `. scripts/tools.sh`)");
    let work = tempfile::tempdir().expect("tempdir");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut all = Vec::new();
    for i in 0..cases {
        let root = work.path().join(format!("case{i}"));
        all.push((root.clone(), generate(&mut rng, &root)));
    }
    let mut child = Command::new(&py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle.py"))
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("oracle starts");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        for (_, c) in &all {
            writeln!(
                stdin,
                "{}\t{}\tunspecified\tRootOnly",
                c.dir.display(),
                c.dir.join("oracle").display()
            )
            .expect("write");
        }
    }
    let done = child.wait_with_output().expect("oracle");
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(
        done.status.success(),
        "the kustomize oracle (pykustomize) failed: {stderr}"
    );
    // Which oracle ran, as it says itself.
    println!("{}", stderr.trim());
    let saved = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/render-diff");
    let _ = std::fs::remove_dir_all(saved.join(format!("seed{seed}")));
    let (mut same, mut both_fail, mut same_error, mut failures) = (0, 0, 0, Vec::new());
    for (i, (root, c)) in all.iter().enumerate() {
        let fs = DirFs::new(root).expect("root");
        let ours = render(&fs, "overlay", &RenderOptions::default(), None);
        let want = std::fs::read_to_string(c.dir.join("oracle.yaml")).ok();
        let ok = match (&ours, &want) {
            (Ok(r), Some(w)) => &r.to_yaml() == w,
            (Err(e), None) => {
                // Both fail: count it apart, and compare the messages (kustomize shows real
                // paths, Gantry paths from the case's root).
                both_fail += 1;
                let theirs = std::fs::read_to_string(c.dir.join("oracle.err"))
                    .expect("the oracle wrote an error")
                    .trim_start_matches("kustomize build failed: ")
                    .replace(&root.display().to_string(), "");
                if e.to_string() == theirs {
                    same_error += 1;
                } else {
                    println!(
                        "  both fail, messages differ in case {i}:\n    gantry:    {e}\n    kustomize: {theirs}"
                    );
                }
                true
            }
            _ => false,
        };
        if ok {
            same += 1;
        } else {
            let dest = saved.join(format!("seed{seed}")).join(format!("case{i}"));
            let _ = std::fs::remove_dir_all(&dest);
            copy_dir(root, &dest);
            let got = match &ours {
                Ok(r) => r.to_yaml(),
                Err(e) => format!("error: {e}"),
            };
            write(&dest.join("gantry.out"), &got);
            failures.push(dest.display().to_string());
        }
    }
    println!(
        "differential (seed {seed}): {same} identical ({both_fail} of them where both fail, \
         {same_error} with the same message), {} different of {cases}",
        failures.len()
    );
    for f in &failures {
        println!("  saved for triage: {f}");
    }
    failures.len()
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).expect("read").flatten() {
        let p = e.path();
        let d = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &d);
        } else {
            if let Some(parent) = d.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::copy(&p, &d).expect("copy");
        }
    }
}
