//! What kustomize reads as YAML 1.1 (sigs.k8s.io/yaml's `YAMLToJSON`, goyaml.v2): JSON 6902
//! patch values (`y`, `on`, `0x1F` and keys like `on:`), and the kustomization itself, whose
//! values of the wrong type fail with Go's typed-decoding error. Each case is checked against
//! the live kustomize (pykustomize): the same output, or the same error.

mod common;

use gantry_render::{DirFs, RenderOptions, render};

const CM: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    app: a\ndata:\n  k: v\n";

fn json_patch(value: &str) -> String {
    format!(
        "resources:\n- cm.yaml\npatches:\n- target:\n    kind: ConfigMap\n  patch: |-\n    - op: add\n      path: /data/x\n      value: {value}\n"
    )
}

#[test]
fn yaml11_scalars_and_typed_kustomizations_match_kustomize() -> anyhow::Result<()> {
    let mut kustomizations: Vec<String> = [
        "{x: y, on: 1, n: 0x1F, d: 1:20, e: 2024-01-02, f: 012, g: .5, h: ~, i: off}",
        "[yes, No, ON, 'y', \"on\", 1e3, 0b11, +1, -0x1]",
        "y",
        "{labels: {x: y}}",
        "2024-01-02",
    ]
    .iter()
    .map(|v| json_patch(v))
    .collect();
    kustomizations.push(
        "resources:\n- cm.yaml\npatches:\n- target:\n    kind: ConfigMap\n  patch: |-\n    - op: add\n      path: /metadata/labels/x\n      value: on\n".into(),
    );
    kustomizations.push(
        "resources:\n- cm.yaml\npatchesJson6902:\n- target:\n    version: v1\n    kind: ConfigMap\n    name: a\n  patch: |-\n    - {op: replace, path: /data/k, value: Off}\n".into(),
    );
    for bad in [
        "commonLabels:\n  a: yes",
        "commonLabels:\n  a: 1",
        "commonAnnotations:\n  a: on",
        "namespace: 012",
        "namePrefix: y",
        "images:\n- name: nginx\n  newTag: 1.0",
        "labels:\n- pairs:\n    a: yes",
        "replicas:\n- name: a\n  count: '3'",
        "configMapGenerator:\n- name: 1",
        "commonLabels: [a]",
        "resources: cm.yaml",
    ] {
        kustomizations.push(format!("resources:\n- cm.yaml\n{bad}\n"));
    }
    let mut differences = Vec::new();
    for k in &kustomizations {
        let dir = tempfile::tempdir()?;
        common::write_tree(dir.path(), &[("cm.yaml", CM), ("kustomization.yaml", k)]);
        let want = common::kustomize_build(dir.path());
        let got = render(
            &DirFs::new(dir.path())?,
            "",
            &RenderOptions::default(),
            None,
        )
        .map(|r| r.to_yaml())
        .map_err(|e| e.to_string());
        let same = match (&got, &want) {
            (Ok(a), Ok(b)) => a == b,
            // Gantry names the kustomization before kustomize's own message.
            (Err(a), Err(b)) => a.ends_with(b.trim_start_matches("kustomize build failed: ")),
            _ => false,
        };
        if !same {
            differences.push(format!("{k}\n  gantry:    {got:?}\n  kustomize: {want:?}"));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} differ:\n{}",
        differences.len(),
        kustomizations.len(),
        differences.join("\n")
    );
    Ok(())
}
