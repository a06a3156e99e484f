//! Built-in strategic merge of container and Service `ports`: kyaml merges them on
//! `x-kubernetes-list-map-keys` (`containerPort`/`port` with `protocol`), so 53/UDP and 53/TCP
//! are two elements, kept in place; ports without `protocol` merge on the number alone, in the
//! one-key order (output recorded with `kubectl kustomize`, kubectl 1.37, kustomize v5.8.1).

use gantry_render::{MemFs, RenderOptions, render};

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

const EXPECTED: &str = r##"apiVersion: v1
kind: Service
metadata:
  name: dns
spec:
  ports:
  - name: metrics
    port: 9153
    protocol: TCP
  - name: dns
    port: 53
    protocol: UDP
    targetPort: 5354
  - name: dns-tcp
    port: 53
    protocol: TCP
    targetPort: 5353
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - name: admin
    port: 81
    targetPort: 8081
  - name: http
    port: 80
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: dns
spec:
  template:
    spec:
      containers:
      - image: coredns
        name: dns
        ports:
        - containerPort: 8053
          name: dns-alt
          protocol: UDP
        - containerPort: 9153
          name: metrics
          protocol: TCP
        - containerPort: 53
          hostPort: 5354
          name: dns
          protocol: UDP
        - containerPort: 53
          hostPort: 5353
          name: dns-tcp
          protocol: TCP
      - image: nginx
        name: web
        ports:
        - containerPort: 81
          hostPort: 8081
          name: admin
        - containerPort: 8080
          name: alt
        - containerPort: 80
          name: http
"##;

#[test]
fn ports_merge_on_number_and_protocol_as_kustomize_does() -> anyhow::Result<()> {
    let mut fs = MemFs::new();
    fs.insert("app.yaml", APP.as_bytes().to_vec());
    fs.insert("kustomization.yaml", KUSTOMIZATION.as_bytes().to_vec());
    let r = render(&fs, "", &RenderOptions::default(), None)?;
    assert_eq!(r.to_yaml(), EXPECTED);
    Ok(())
}
