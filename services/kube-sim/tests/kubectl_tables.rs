//! What `kubectl get` prints for each built-in kind: the server-side Table columns of the real
//! printers (`-o wide` included), the default `NAME`/`CREATED AT` of the kinds without one (RBAC
//! roles, LimitRanges, CRDs), and a CRD's `additionalPrinterColumns` for its custom resources.

mod common;

use common::kubectl::Kubectl;
use common::{quiet, start};

/// A table's header, words joined by single spaces.
fn header(out: &str) -> String {
    out.lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The row that starts with `name`, words joined by single spaces.
fn row(out: &str, name: &str) -> String {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The row without its AGE cell (ages are times, not asserted).
fn row_without(out: &str, name: &str, age_column: usize) -> String {
    let mut cells: Vec<String> = row(out, name).split(' ').map(String::from).collect();
    if cells.len() > age_column {
        cells.remove(age_column);
    }
    cells.join(" ")
}

const MANIFEST: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: default}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read-pods, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
- {kind: User, name: jane, apiGroup: rbac.authorization.k8s.io}
- {kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}
- {kind: ServiceAccount, name: ci, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ci-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: ci, namespace: default}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: default}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: backup, image: "backup:1.0"}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: default}
spec:
  ingressClassName: nginx
  tls: [{hosts: [a.example.com], secretName: tls}]
  rules:
  - host: a.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
  - host: b.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web-pdb, namespace: default}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: default}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 5
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: fast
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: example.com/fast
volumeBindingMode: WaitForFirstConsumer
allowVolumeExpansion: true
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: data-1}
spec:
  capacity: {storage: 5Gi}
  accessModes: [ReadWriteOnce, ReadOnlyMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: fast
  claimRef: {namespace: default, name: data}
  hostPath: {path: /data/1}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: fast
  resources: {requests: {storage: 5Gi}}
---
apiVersion: v1
kind: LimitRange
metadata: {name: limits, namespace: default}
spec:
  limits: [{type: Container, default: {cpu: 500m}}]
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: leader, namespace: default}
spec: {holderIdentity: pod-a, leaseDurationSeconds: 15}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: postgres, image: "postgres:17"}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: default}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {kubernetes.io/os: linux}
      containers: [{name: agent, image: "agent:2"}]
"#;

#[tokio::test]
async fn kubectl_get_prints_the_real_printers_columns() -> anyhow::Result<()> {
    let (sim, _client) = start(quiet()).await?;
    let k = Kubectl::new(&sim)?;
    k.ok_stdin(&["apply", "-f", "-"], MANIFEST).await?;

    // Kinds without a printer: the default table convertor's NAME and CREATED AT (a timestamp).
    let roles = k.ok(&["get", "roles"]).await?;
    assert_eq!(header(&roles), "NAME CREATED AT");
    let created = row(&roles, "pod-reader");
    let ts = created.split(' ').nth(1).unwrap_or_default();
    assert!(
        ts.len() == 20 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
        "{roles}"
    );
    assert_eq!(
        header(&k.ok(&["get", "limitranges"]).await?),
        "NAME CREATED AT"
    );

    let rb = k.ok(&["get", "rolebindings", "-o", "wide"]).await?;
    assert_eq!(header(&rb), "NAME ROLE AGE USERS GROUPS SERVICEACCOUNTS");
    assert_eq!(
        row_without(&rb, "read-pods", 2),
        "read-pods Role/pod-reader jane devs default/ci"
    );
    let crb = k.ok(&["get", "clusterrolebinding", "ci-admin"]).await?;
    assert_eq!(header(&crb), "NAME ROLE AGE");
    assert_eq!(
        row_without(&crb, "ci-admin", 2),
        "ci-admin ClusterRole/cluster-admin"
    );

    let cj = k.ok(&["get", "cronjobs", "-o", "wide"]).await?;
    assert_eq!(
        header(&cj),
        "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE CONTAINERS IMAGES SELECTOR"
    );
    assert_eq!(
        row_without(&cj, "nightly", 10),
        "nightly 0 3 * * * <none> False 0 <none> backup backup:1.0 <none>"
    );

    let ing = k.ok(&["get", "ingress"]).await?;
    assert_eq!(header(&ing), "NAME CLASS HOSTS ADDRESS PORTS AGE");
    assert_eq!(
        row_without(&ing, "web", 5),
        "web nginx a.example.com,b.example.com 80, 443"
    );

    let pdb = k.ok(&["get", "pdb"]).await?;
    assert_eq!(
        header(&pdb),
        "NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE"
    );
    assert_eq!(row_without(&pdb, "web-pdb", 4), "web-pdb 1 N/A 0");

    let hpa = k.ok(&["get", "hpa"]).await?;
    assert_eq!(
        header(&hpa),
        "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE"
    );
    assert_eq!(
        row_without(&hpa, "web", 7),
        "web Deployment/web cpu: <unknown>/80% 1 5 0"
    );

    let netpol = k.ok(&["get", "netpol"]).await?;
    assert_eq!(header(&netpol), "NAME POD-SELECTOR AGE");
    assert_eq!(row_without(&netpol, "deny", 2), "deny app=web");

    let sc = k.ok(&["get", "storageclass"]).await?;
    assert_eq!(
        header(&sc),
        "NAME PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE"
    );
    assert_eq!(
        row_without(&sc, "fast", 6),
        "fast (default) example.com/fast Delete WaitForFirstConsumer true"
    );

    let pv = k.ok(&["get", "pv", "-o", "wide"]).await?;
    assert_eq!(
        header(&pv),
        "NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE VOLUMEMODE"
    );
    assert_eq!(
        row_without(&pv, "data-1", 8),
        "data-1 5Gi RWO,ROX Retain Pending default/data fast <unset> Filesystem"
    );
    let pvc = k.ok(&["get", "pvc"]).await?;
    assert_eq!(
        header(&pvc),
        "NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE"
    );
    assert_eq!(row_without(&pvc, "data", 4), "data Pending fast <unset>");

    let lease = k.ok(&["get", "lease", "leader"]).await?;
    assert_eq!(header(&lease), "NAME HOLDER AGE");
    assert_eq!(row_without(&lease, "leader", 2), "leader pod-a");

    let sts = k.ok(&["get", "sts", "-o", "wide"]).await?;
    assert_eq!(header(&sts), "NAME READY AGE CONTAINERS IMAGES");
    assert_eq!(row_without(&sts, "db", 2), "db 0/3 postgres postgres:17");
    let ds = k.ok(&["get", "ds"]).await?;
    assert_eq!(
        header(&ds),
        "NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE"
    );
    assert_eq!(
        row_without(&ds, "agent", 7),
        "agent 0 0 0 0 0 kubernetes.io/os=linux"
    );
    Ok(())
}

#[tokio::test]
async fn kubectl_get_prints_the_system_objects_as_a_real_cluster() -> anyhow::Result<()> {
    let (sim, _client) = start(quiet()).await?;
    let k = Kubectl::new(&sim)?;
    let nodes = k.ok(&["get", "nodes", "-o", "wide"]).await?;
    assert_eq!(
        header(&nodes),
        "NAME STATUS ROLES AGE VERSION INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME"
    );
    let node = row_without(&nodes, "kube-sim", 3);
    assert!(
        node.starts_with("kube-sim Ready control-plane v1.35.0 10.0.0.1 <none> "),
        "{nodes}"
    );
    let ep = k.ok(&["get", "endpoints"]).await?;
    assert_eq!(header(&ep), "NAME ENDPOINTS AGE");
    assert_eq!(
        row_without(&ep, "kubernetes", 2),
        "kubernetes 10.0.0.1:6443"
    );
    let slices = k.ok(&["get", "endpointslices"]).await?;
    assert_eq!(header(&slices), "NAME ADDRESSTYPE PORTS ENDPOINTS AGE");
    assert_eq!(
        row_without(&slices, "kubernetes", 4),
        "kubernetes IPv4 6443 10.0.0.1"
    );
    let pc = k.ok(&["get", "priorityclasses"]).await?;
    assert_eq!(
        header(&pc),
        "NAME VALUE GLOBAL-DEFAULT AGE PREEMPTIONPOLICY"
    );
    assert_eq!(
        row_without(&pc, "system-node-critical", 3),
        "system-node-critical 2000001000 false PreemptLowerPriority"
    );
    let apis = k.ok(&["get", "apiservices"]).await?;
    assert_eq!(header(&apis), "NAME SERVICE AVAILABLE AGE");
    assert_eq!(row_without(&apis, "v1.apps", 3), "v1.apps Local True");
    k.ok(&["create", "serviceaccount", "ci"]).await?;
    let sa = k.ok(&["get", "serviceaccounts"]).await?;
    assert_eq!(header(&sa), "NAME SECRETS AGE");
    assert_eq!(row_without(&sa, "ci", 2), "ci 0");
    let svc = k.ok(&["get", "svc", "-o", "wide"]).await?;
    assert_eq!(
        row_without(&svc, "kubernetes", 5),
        "kubernetes ClusterIP 10.96.0.1 <none> 443/TCP <none>"
    );
    Ok(())
}

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    - {name: Color, type: string, jsonPath: .spec.color, priority: 1}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
"#;

const WIDGET: &str = r#"
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: default}
spec: {size: 3, color: blue}
status:
  conditions: [{type: Synced, status: "False"}, {type: Ready, status: "True"}]
"#;

#[tokio::test]
async fn custom_resources_print_their_crds_printer_columns() -> anyhow::Result<()> {
    let (sim, _client) = start(quiet()).await?;
    let k = Kubectl::new(&sim)?;
    k.ok_stdin(&["apply", "-f", "-"], CRD).await?;
    let crds = k.ok(&["get", "crd"]).await?;
    assert_eq!(header(&crds), "NAME CREATED AT");
    k.ok_stdin(&["apply", "-f", "-"], WIDGET).await?;
    let out = k.ok(&["get", "widgets"]).await?;
    assert_eq!(header(&out), "NAME SIZE READY AGE");
    // Without a status subresource, the status is stored as sent.
    assert_eq!(row_without(&out, "w1", 3), "w1 3 True");
    let wide = k.ok(&["get", "widgets", "-o", "wide"]).await?;
    // kubectl keeps the columns in the CRD's order, the wide ones included.
    assert_eq!(header(&wide), "NAME SIZE READY COLOR AGE");
    assert_eq!(row_without(&wide, "w1", 4), "w1 3 True blue");
    Ok(())
}
