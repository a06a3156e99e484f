//! `openapi` custom schemas: strategic merge follows the schema's merge keys and strategies for
//! the kinds it defines and no built-in table at all, as kustomize v5 does. Checked against the
//! live kustomize (pykustomize, kustomize v5.8).

mod common;

use gantry_render::{DirFs, RenderOptions, render};

const FILES: &[(&str, &str)] = &[
    (
        "base/crd.yaml",
        r##"apiVersion: example.com/v1alpha1
kind: MyCRD
metadata:
  name: service
  finalizers: [a]
spec:
  template:
    spec:
      containers:
      - name: server
        image: server
        ports:
        - {name: grpc, protocol: TCP, containerPort: 8080}
        - {name: dns, protocol: UDP, containerPort: 53}
      - name: side
        image: side
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - name: a
        image: a
      - name: b
        image: b
"##,
    ),
    (
        "base/kustomization.yaml",
        r##"resources: [crd.yaml]
openapi:
  path: schema.yaml
patches:
- patch: |-
    apiVersion: example.com/v1alpha1
    kind: MyCRD
    metadata:
      name: service
      finalizers: [b]
    spec:
      template:
        spec:
          containers:
          - name: new
            image: new
          - name: server
            image: nginx
            ports:
            - {containerPort: 53, protocol: UDP, name: dns2}
            - {containerPort: 9090, protocol: TCP, name: metrics}
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: d
    spec:
      template:
        spec:
          containers:
          - name: a
            image: z
"##,
    ),
    (
        "base/schema.yaml",
        r##"definitions:
  v1alpha1.MyCRD:
    properties:
      apiVersion:
        type: string
      kind:
        type: string
      metadata:
        type: object
      spec:
        properties:
          template:
            "$ref": "#/definitions/io.k8s.api.core.v1.PodTemplateSpec"
        type: object
      status:
        properties:
          success:
            type: boolean
        type: object
    type: object
    x-kubernetes-group-version-kind:
      - group: example.com
        kind: MyCRD
        version: v1alpha1
      - group: ""
        kind: MyCRD
        version: v1alpha1
  io.k8s.api.core.v1.PodTemplateSpec:
    properties:
      metadata:
        "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
      spec:
        "$ref": "#/definitions/io.k8s.api.core.v1.PodSpec"
    type: object
  io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta:
    properties:
      name:
        type: string
    type: object
  io.k8s.api.core.v1.PodSpec:
    properties:
      containers:
        items:
          "$ref": "#/definitions/io.k8s.api.core.v1.Container"
        type: array
        x-kubernetes-patch-merge-key: name
        x-kubernetes-patch-strategy: merge
    type: object
  io.k8s.api.core.v1.Container:
    properties:
      command:
        items:
          type: string
        type: array
      image:
        type: string
      name:
        type: string
      ports:
        items:
          "$ref": "#/definitions/io.k8s.api.core.v1.ContainerPort"
        type: array
        x-kubernetes-list-map-keys:
          - containerPort
          - protocol
        x-kubernetes-list-type: map
        x-kubernetes-patch-merge-key: containerPort
        x-kubernetes-patch-strategy: merge
    type: object
  io.k8s.api.core.v1.ContainerPort:
    properties:
      containerPort:
        type: integer
      name:
        type: string
      protocol:
        type: string
    type: object
"##,
    ),
    (
        "kustomization.yaml",
        r##"resources: [base]
patches:
- patch: |-
    apiVersion: example.com/v1alpha1
    kind: MyCRD
    metadata:
      name: service
    spec:
      template:
        spec:
          containers:
          - name: side
            $patch: delete
"##,
    ),
];

#[test]
fn custom_schema_merge_keys_match_kustomize() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    common::write_tree(dir.path(), FILES);
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
    Ok(())
}
