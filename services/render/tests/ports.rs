//! Built-in strategic merge of container and Service `ports`: kyaml merges them on
//! `x-kubernetes-list-map-keys` (`containerPort`/`port` with `protocol`), so 53/UDP and 53/TCP
//! are two elements, kept in place; ports without `protocol` merge on the number alone, in the
//! one-key order. Checked against the live kustomize (pykustomize, kustomize v5.8).

mod common;

use gantry_render::{DirFs, RenderOptions, render};

const APP: &str = r##"apiVersion: apps/v1
kind: Deployment
metadata:
  name: dns
spec:
  template:
    spec:
      containers:
      - name: dns
        image: coredns
        ports:
        - {name: metrics, containerPort: 9153, protocol: TCP}
        - {name: dns, containerPort: 53, protocol: UDP}
        - {name: dns-tcp, containerPort: 53, protocol: TCP}
      - name: web
        image: nginx
        ports:
        - {name: http, containerPort: 80}
        - {name: admin, containerPort: 81}
---
apiVersion: v1
kind: Service
metadata:
  name: dns
spec:
  ports:
  - {name: metrics, port: 9153, protocol: TCP}
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - {name: http, port: 80}
  - {name: admin, port: 81}
"##;

const KUSTOMIZATION: &str = r##"resources: [app.yaml]
patches:
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: dns
    spec:
      template:
        spec:
          containers:
          - name: dns
            ports:
            - {containerPort: 53, protocol: TCP, hostPort: 5353}
            - {containerPort: 53, protocol: UDP, hostPort: 5354}
            - {containerPort: 8053, protocol: UDP, name: dns-alt}
          - name: web
            ports:
            - {containerPort: 81, hostPort: 8081}
            - {containerPort: 8080, name: alt}
- patch: |-
    apiVersion: v1
    kind: Service
    metadata:
      name: dns
    spec:
      ports:
      - {port: 53, protocol: TCP, targetPort: 5353}
      - {port: 53, protocol: UDP, targetPort: 5354}
- patch: |-
    apiVersion: v1
    kind: Service
    metadata:
      name: web
    spec:
      ports:
      - {port: 81, targetPort: 8081}
"##;

#[test]
fn ports_merge_on_number_and_protocol_as_kustomize_does() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    common::write_tree(
        dir.path(),
        &[("app.yaml", APP), ("kustomization.yaml", KUSTOMIZATION)],
    );
    let want =
        common::kustomize_build(dir.path()).map_err(|e| anyhow::anyhow!("kustomize fails: {e}"))?;
    let got = render(
        &DirFs::new(dir.path())?,
        "",
        &RenderOptions::default(),
        None,
    )?
    .to_yaml();
    assert_eq!(got, want);
    // What the case is about: 53/UDP and 53/TCP stay two ports, each patched in place.
    assert!(
        got.contains("hostPort: 5354\n          name: dns\n          protocol: UDP"),
        "{got}"
    );
    assert!(
        got.contains("hostPort: 5353\n          name: dns-tcp\n          protocol: TCP"),
        "{got}"
    );
    Ok(())
}

/// A patch port that lacks `protocol` where the port it meets has one has no effect in kyaml
/// (its `mergeValues` rewrites the element as it was); one carrying both keys merges.
#[test]
fn patch_ports_without_protocol_meet_ports_with_one_as_in_kustomize() -> anyhow::Result<()> {
    const D: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        ports:\n        - {containerPort: 80, protocol: TCP, name: a}\n        - {containerPort: 81, protocol: TCP}\n        - {containerPort: 80, protocol: UDP}\n";
    for port in [
        "{containerPort: 80, hostPort: 1}",
        "{containerPort: 81, hostPort: 2}",
        "{containerPort: 82}",
        "{containerPort: 80, protocol: UDP, hostPort: 3}",
        "{containerPort: 81, protocol: TCP, hostPort: 4}",
    ] {
        let k = format!(
            "resources: [d.yaml]\npatches:\n- patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: d\n    spec:\n      template:\n        spec:\n          containers:\n          - name: c\n            ports:\n            - {port}\n"
        );
        let dir = tempfile::tempdir()?;
        common::write_tree(dir.path(), &[("d.yaml", D), ("kustomization.yaml", &k)]);
        let want = common::kustomize_build(dir.path())
            .map_err(|e| anyhow::anyhow!("kustomize fails: {e}"))?;
        let got = render(
            &DirFs::new(dir.path())?,
            "",
            &RenderOptions::default(),
            None,
        )?
        .to_yaml();
        assert_eq!(got, want, "patching {port}");
    }
    Ok(())
}
