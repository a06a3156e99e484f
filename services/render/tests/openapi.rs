//! `openapi` custom schemas: strategic merge follows the schema's merge keys and strategies for
//! the kinds it defines and no built-in table at all, as kustomize v5 does (output recorded with
//! `kubectl kustomize`, kustomize v5.5).

use gantry_render::{MemFs, RenderOptions, render};

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

const EXPECTED: &str = r##"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - image: z
        name: a
---
apiVersion: example.com/v1alpha1
kind: MyCRD
metadata:
  finalizers:
  - b
  name: service
spec:
  template:
    spec:
      containers:
      - image: new
        name: new
      - image: nginx
        name: server
        ports:
        - containerPort: 9090
          name: metrics
          protocol: TCP
        - containerPort: 8080
          name: grpc
          protocol: TCP
        - containerPort: 53
          name: dns2
          protocol: UDP
"##;

#[test]
fn custom_schema_merge_keys_match_kustomize() -> anyhow::Result<()> {
    let mut fs = MemFs::new();
    for (p, c) in FILES {
        fs.insert(p, c.as_bytes().to_vec());
    }
    let r = render(&fs, "", &RenderOptions::default(), None)?;
    assert_eq!(r.to_yaml(), EXPECTED);
    Ok(())
}
