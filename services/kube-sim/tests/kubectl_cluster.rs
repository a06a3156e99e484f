//! What the real kubectl 1.37 sees of the cluster itself: the built-in resource types of a
//! Kubernetes 1.35 API server (`api-resources`, categories, verbs), the objects a fresh
//! single-node cluster has (its Ready node, the `kubernetes` Service's endpoints, the system
//! PriorityClasses, the node Lease, the APIServices), the less common kinds written and read
//! back through kubectl's typed (protobuf) clients, and the reviews behind `kubectl auth`.

mod common;

use common::kubectl::Kubectl;
use common::start;
use serde_json::Value;

/// The row of a `kubectl get`/`api-resources` table whose first column is `first`, split on whitespace.
fn row<'a>(table: &'a str, first: &str) -> Option<Vec<&'a str>> {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&first))
}

#[tokio::test]
async fn api_resources_lists_the_built_in_kinds() -> anyhow::Result<()> {
    let (sim, _client) = start(common::quiet()).await?;
    let k = Kubectl::new(&sim)?;
    let out = k.ok(&["api-resources"]).await?;
    // name, short names, apiVersion, namespaced, kind, as on a real 1.35 server.
    for expected in [
        "endpoints ep v1 true Endpoints",
        "limitranges limits v1 true LimitRange",
        "persistentvolumes pv v1 false PersistentVolume",
        "podtemplates v1 true PodTemplate",
        "replicationcontrollers rc v1 true ReplicationController",
        "resourcequotas quota v1 true ResourceQuota",
        "apiservices apiregistration.k8s.io/v1 false APIService",
        "controllerrevisions apps/v1 true ControllerRevision",
        "selfsubjectreviews authentication.k8s.io/v1 false SelfSubjectReview",
        "tokenreviews authentication.k8s.io/v1 false TokenReview",
        "localsubjectaccessreviews authorization.k8s.io/v1 true LocalSubjectAccessReview",
        "selfsubjectaccessreviews authorization.k8s.io/v1 false SelfSubjectAccessReview",
        "selfsubjectrulesreviews authorization.k8s.io/v1 false SelfSubjectRulesReview",
        "subjectaccessreviews authorization.k8s.io/v1 false SubjectAccessReview",
        "certificatesigningrequests csr certificates.k8s.io/v1 false CertificateSigningRequest",
        "leases coordination.k8s.io/v1 true Lease",
        "endpointslices discovery.k8s.io/v1 true EndpointSlice",
        "ingressclasses networking.k8s.io/v1 false IngressClass",
        "runtimeclasses node.k8s.io/v1 false RuntimeClass",
        "priorityclasses pc scheduling.k8s.io/v1 false PriorityClass",
        "csidrivers storage.k8s.io/v1 false CSIDriver",
        "csinodes storage.k8s.io/v1 false CSINode",
        "csistoragecapacities storage.k8s.io/v1 true CSIStorageCapacity",
        "storageclasses sc storage.k8s.io/v1 false StorageClass",
        "volumeattachments storage.k8s.io/v1 false VolumeAttachment",
        "volumeattributesclasses vac storage.k8s.io/v1 false VolumeAttributesClass",
        "mutatingwebhookconfigurations admissionregistration.k8s.io/v1 false MutatingWebhookConfiguration",
        "validatingwebhookconfigurations admissionregistration.k8s.io/v1 false ValidatingWebhookConfiguration",
        "validatingadmissionpolicies admissionregistration.k8s.io/v1 false ValidatingAdmissionPolicy",
        "customresourcedefinitions crd,crds apiextensions.k8s.io/v1 false CustomResourceDefinition",
    ] {
        let name = expected.split(' ').next().unwrap_or_default();
        assert_eq!(
            row(&out, name).map(|r| r.join(" ")).as_deref(),
            Some(expected),
            "{out}"
        );
    }
    // `kubectl get all` is exactly Kubernetes' `all` category.
    let all = k
        .ok(&["api-resources", "--categories=all", "-o", "name"])
        .await?;
    assert_eq!(
        all.lines().collect::<Vec<_>>(),
        [
            "pods",
            "replicationcontrollers",
            "services",
            "daemonsets.apps",
            "deployments.apps",
            "replicasets.apps",
            "statefulsets.apps",
            "horizontalpodautoscalers.autoscaling",
            "cronjobs.batch",
            "jobs.batch"
        ]
    );
    let ext = k
        .ok(&["api-resources", "--categories=api-extensions", "-o", "name"])
        .await?;
    assert!(
        ext.contains("customresourcedefinitions.apiextensions.k8s.io")
            && ext.contains("apiservices.apiregistration.k8s.io")
            && ext.contains("mutatingwebhookconfigurations.admissionregistration.k8s.io"),
        "{ext}"
    );
    // Reviews only take `create`: they are not listable.
    let listable = k
        .ok(&["api-resources", "--verbs=list", "-o", "name"])
        .await?;
    assert!(listable.contains("endpointslices.discovery.k8s.io"));
    assert!(
        !listable.contains("review"),
        "reviews are create-only: {listable}"
    );
    let out = k.run(&["get", "selfsubjectaccessreviews"]).await?;
    assert!(!out.ok);
    assert_eq!(
        out.stderr.trim(),
        "Error from server (MethodNotAllowed): the server does not allow this method on the requested resource"
    );
    Ok(())
}

#[tokio::test]
async fn a_fresh_cluster_has_what_a_real_one_has() -> anyhow::Result<()> {
    let (sim, _client) = start(common::quiet()).await?;
    let k = Kubectl::new(&sim)?;
    let nodes = k.ok(&["get", "nodes"]).await?;
    let node = row(&nodes, "kube-sim").expect("the node is listed");
    assert_eq!((node[1], node[4]), ("Ready", "v1.35.0"), "{nodes}");
    let ready = k
        .ok(&[
            "get",
            "node",
            "kube-sim",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ])
        .await?;
    assert_eq!(ready, "True");
    // The API server's own Service, with its Endpoints and EndpointSlice.
    let svc = k
        .ok(&[
            "get",
            "service",
            "kubernetes",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ])
        .await?;
    assert_eq!(svc, "10.96.0.1");
    let ep = k
        .ok(&[
            "get",
            "endpoints",
            "kubernetes",
            "-o",
            "jsonpath={.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}",
        ])
        .await?;
    assert_eq!(ep, "10.0.0.1:6443");
    let slice = k
        .ok(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=kubernetes",
            "-o",
            "name",
        ])
        .await?;
    assert_eq!(slice.trim(), "endpointslice.discovery.k8s.io/kubernetes");
    let pcs = k.ok(&["get", "priorityclasses", "-o", "name"]).await?;
    assert_eq!(
        pcs.lines().collect::<Vec<_>>(),
        [
            "priorityclass.scheduling.k8s.io/system-cluster-critical",
            "priorityclass.scheduling.k8s.io/system-node-critical"
        ]
    );
    let holder = k
        .ok(&[
            "get",
            "lease",
            "kube-sim",
            "-n",
            "kube-node-lease",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ])
        .await?;
    assert_eq!(holder, "kube-sim");
    let apis = k.ok(&["get", "apiservices", "-o", "name"]).await?;
    for name in ["v1.", "v1.apps", "v2.autoscaling", "v1.discovery.k8s.io"] {
        assert!(
            apis.lines()
                .any(|l| l == format!("apiservice.apiregistration.k8s.io/{name}")),
            "{apis}"
        );
    }
    Ok(())
}

const STORAGE_AND_FRIENDS: &str = r#"
apiVersion: v1
kind: PersistentVolume
metadata: {name: data-1}
spec:
  capacity: {storage: 5Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: fast
  hostPath: {path: /data/1}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
provisioner: example.com/fast
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: leader, namespace: default}
spec: {holderIdentity: pod-a, leaseDurationSeconds: 15}
---
apiVersion: v1
kind: Endpoints
metadata: {name: external, namespace: default}
subsets:
- addresses: [{ip: 192.0.2.10}]
  ports: [{name: http, port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: external-abc
  namespace: default
  labels: {kubernetes.io/service-name: external}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: [192.0.2.10]
  conditions: {ready: true}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: quota, namespace: default}
spec:
  hard: {pods: "10"}
"#;

#[tokio::test]
async fn the_less_common_kinds_round_trip_through_kubectl() -> anyhow::Result<()> {
    let (sim, _client) = start(common::quiet()).await?;
    let k = Kubectl::new(&sim)?;
    // `kubectl create -f` sends each object as protobuf through its typed clients.
    let out = k
        .ok_stdin(&["create", "-f", "-"], STORAGE_AND_FRIENDS)
        .await?;
    for line in [
        "persistentvolume/data-1 created",
        "storageclass.storage.k8s.io/fast created",
        "lease.coordination.k8s.io/leader created",
        "endpoints/external created",
        "endpointslice.discovery.k8s.io/external-abc created",
        "ingressclass.networking.k8s.io/nginx created",
        "resourcequota/quota created",
    ] {
        assert!(out.lines().any(|l| l == line), "{out}");
    }
    // The generator commands build the object themselves.
    assert_eq!(
        k.ok(&[
            "create",
            "priorityclass",
            "high",
            "--value=1000",
            "--description=batch"
        ])
        .await?,
        "priorityclass.scheduling.k8s.io/high created\n"
    );
    let pc: Value = serde_json::from_str(&k.ok(&["get", "pc", "high", "-o", "json"]).await?)?;
    assert_eq!(
        (pc["value"].as_i64(), pc["description"].as_str()),
        (Some(1000), Some("batch"))
    );
    // An embedded (inline) source survives protobuf both ways: describe reads it back typed.
    let pv = k.ok(&["describe", "pv", "data-1"]).await?;
    assert!(
        pv.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["Type:", "HostPath", "(bare", "host", "directory", "volume)"]),
        "{pv}"
    );
    assert!(
        pv.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Path:", "/data/1"]),
        "{pv}"
    );
    let names = k
        .ok(&[
            "get",
            "pv,sc,ingressclass,lease,ep,endpointslice,quota",
            "-n",
            "default",
            "-o",
            "name",
        ])
        .await?;
    for name in [
        "persistentvolume/data-1",
        "storageclass.storage.k8s.io/fast",
        "ingressclass.networking.k8s.io/nginx",
        "lease.coordination.k8s.io/leader",
        "endpoints/external",
        "endpointslice.discovery.k8s.io/external-abc",
        "resourcequota/quota",
    ] {
        assert!(names.lines().any(|l| l == name), "{names}");
    }
    let out = k.ok(&["delete", "pv", "data-1", "--wait=false"]).await?;
    assert_eq!(out, "persistentvolume \"data-1\" deleted\n");
    Ok(())
}

const ACCESS_REVIEW_BOTH: &str = r#"
apiVersion: authorization.k8s.io/v1
kind: SelfSubjectAccessReview
spec:
  resourceAttributes: {verb: get, resource: pods}
  nonResourceAttributes: {verb: get, path: /healthz}
"#;

#[tokio::test]
async fn kubectl_auth_can_i_and_whoami() -> anyhow::Result<()> {
    let (sim, _client) = start(common::quiet()).await?;
    let k = Kubectl::new(&sim)?;
    assert_eq!(k.ok(&["auth", "can-i", "get", "pods"]).await?, "yes\n");
    assert_eq!(
        k.ok(&[
            "auth",
            "can-i",
            "delete",
            "deployments",
            "-n",
            "kube-system"
        ])
        .await?,
        "yes\n"
    );
    assert_eq!(k.ok(&["auth", "can-i", "get", "/healthz"]).await?, "yes\n");
    let list = k.ok(&["auth", "can-i", "--list"]).await?;
    assert_eq!(
        row(&list, "*.*").map(|r| r.join(" ")).as_deref(),
        Some("*.* [] [] [*]"),
        "{list}"
    );
    let who = k.ok(&["auth", "whoami"]).await?;
    assert_eq!(
        row(&who, "Username").map(|r| r.join(" ")).as_deref(),
        Some("Username kubernetes-admin"),
        "{who}"
    );
    assert_eq!(
        row(&who, "Groups").map(|r| r.join(" ")).as_deref(),
        Some("Groups [system:masters system:authenticated]"),
        "{who}"
    );
    // A review naming both a resource and a URL is invalid, with the real message.
    let out = k
        .run_with(&["create", "-f", "-"], Some(ACCESS_REVIEW_BOTH), &[])
        .await?;
    assert!(!out.ok);
    assert!(
        out.stderr.contains(
            "exactly one of nonResourceAttributes or resourceAttributes must be specified"
        ),
        "{}",
        out.stderr
    );
    Ok(())
}

const EXPLAINED_CRD: &str = r#"
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
    schema:
      openAPIV3Schema:
        type: object
        description: A widget of the example API.
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, description: How many parts the widget has.}
"#;

#[tokio::test]
async fn kubectl_explain_reads_the_field_schemas() -> anyhow::Result<()> {
    let (sim, _client) = start(common::quiet()).await?;
    let k = Kubectl::new(&sim)?;
    let out = k.ok(&["explain", "deployment.spec.replicas"]).await?;
    assert!(out.contains("KIND:       Deployment"), "{out}");
    assert!(out.contains("FIELD: replicas <integer>"), "{out}");
    assert!(out.contains("Number of desired pods."), "{out}");
    let out = k
        .ok(&[
            "explain",
            "pods.spec.containers.readinessProbe.httpGet.port",
        ])
        .await?;
    assert!(out.contains("FIELD: port <IntOrString>"), "{out}");
    // An embedded struct's fields are the outer object's, as in the JSON.
    let out = k
        .ok(&["explain", "pod.spec.volumes.configMap.name"])
        .await?;
    assert!(out.contains("FIELD: name <string>"), "{out}");
    let out = k.ok(&["explain", "service.spec"]).await?;
    assert!(out.contains("clusterIP\t<string>"), "{out}");
    let out = k.run(&["explain", "deployment.spec.nonsense"]).await?;
    assert!(!out.ok);
    assert!(
        out.stderr.contains("field \"nonsense\" does not exist"),
        "{}",
        out.stderr
    );
    // A custom resource is explained from its CRD's schema.
    k.ok_stdin(&["apply", "-f", "-"], EXPLAINED_CRD).await?;
    let out = k.ok(&["explain", "widgets.spec.size"]).await?;
    assert!(out.contains("How many parts the widget has."), "{out}");
    // The CRD's group version is registered as a local APIService, and goes with the CRD.
    let apis = common::eventually("the CRD's APIService", || async {
        k.ok(&["get", "apiservice", "v1.example.com"]).await.ok()
    })
    .await;
    assert_eq!(
        row(&apis, "v1.example.com")
            .map(|r| r[1..3].join(" "))
            .as_deref(),
        Some("Local True")
    );
    k.ok(&["delete", "crd", "widgets.example.com"]).await?;
    common::eventually("the APIService to go", || async {
        let out = k.ok(&["get", "apiservices", "-o", "name"]).await.ok()?;
        (!out.contains("v1.example.com")).then_some(())
    })
    .await;
    Ok(())
}

const SERVED: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default, labels: {tier: front}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
"#;

#[tokio::test]
async fn services_get_endpoints_and_endpointslices_of_their_pods() -> anyhow::Result<()> {
    let (sim, _client) = start(common::fast()).await?;
    let k = Kubectl::new(&sim)?;
    k.ok_stdin(&["apply", "-f", "-"], SERVED).await?;
    k.ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await?;
    // The controller catches up with the ready pods on its next pass.
    let ep = common::eventually("two ready endpoints", || async {
        let out = k
            .ok(&["get", "endpoints", "web", "-o", "json"])
            .await
            .ok()?;
        let ep: Value = serde_json::from_str(&out).ok()?;
        (ep.pointer("/subsets/0/addresses")?.as_array()?.len() == 2).then_some(ep)
    })
    .await;
    // The named target port resolves to the container port.
    assert_eq!(
        ep.pointer("/subsets/0/ports/0"),
        Some(&serde_json::json!({"name": "http", "port": 8080, "protocol": "TCP"}))
    );
    assert_eq!(
        ep.pointer("/metadata/labels/tier"),
        Some(&serde_json::json!("front"))
    );
    assert_eq!(
        ep.pointer("/subsets/0/addresses/0/targetRef/kind"),
        Some(&serde_json::json!("Pod"))
    );
    let slices: Value = serde_json::from_str(
        &k.ok(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=web",
            "-o",
            "json",
        ])
        .await?,
    )?;
    let slice = &slices["items"][0];
    assert_eq!(slices["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(slice["endpoints"].as_array().map(Vec::len), Some(2));
    assert_eq!(slice["endpoints"][0]["conditions"]["ready"], true);
    assert_eq!(slice["ports"][0]["port"], 8080);
    assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
    let table = k.ok(&["get", "endpoints", "web"]).await?;
    let cells = row(&table, "web").expect("listed");
    assert!(
        cells[1].ends_with(":8080") && cells[1].contains(','),
        "{table}"
    );
    // Scaling down shrinks them; deleting the Service takes them away.
    k.ok(&["scale", "deployment/web", "--replicas=1"]).await?;
    common::eventually("one endpoint", || async {
        let out = k
            .ok(&[
                "get",
                "endpoints",
                "web",
                "-o",
                "jsonpath={.subsets[0].addresses[*].ip}",
            ])
            .await
            .ok()?;
        (out.split_whitespace().count() == 1).then_some(())
    })
    .await;
    k.ok(&["delete", "service", "web"]).await?;
    common::eventually("the endpoints to go", || async {
        let out = k
            .ok(&[
                "get",
                "endpoints,endpointslices",
                "-l",
                "tier=front",
                "-o",
                "name",
            ])
            .await
            .ok()?;
        out.trim().is_empty().then_some(())
    })
    .await;
    Ok(())
}

const CLAIM: &str = r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: standard
  resources: {requests: {storage: 2Gi}}
"#;

#[tokio::test]
async fn a_bound_claim_has_a_provisioned_volume_that_goes_with_it() -> anyhow::Result<()> {
    let (sim, _client) = start(common::fast()).await?;
    let k = Kubectl::new(&sim)?;
    k.ok_stdin(&["apply", "-f", "-"], CLAIM).await?;
    k.ok(&[
        "wait",
        "pvc/data",
        "--for=jsonpath={.status.phase}=Bound",
        "--timeout=60s",
    ])
    .await?;
    let volume = k
        .ok(&["get", "pvc", "data", "-o", "jsonpath={.spec.volumeName}"])
        .await?;
    let pvs = k.ok(&["get", "pv"]).await?;
    let pv = row(&pvs, &volume).expect("the volume is listed");
    // NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS ...
    assert_eq!(
        pv[1..7],
        ["2Gi", "RWO", "Delete", "Bound", "default/data", "standard"],
        "{pvs}"
    );
    k.ok(&["delete", "pvc", "data"]).await?;
    common::eventually("the volume to be reclaimed", || async {
        let out = k.ok(&["get", "pv", "-o", "name"]).await.ok()?;
        out.trim().is_empty().then_some(())
    })
    .await;
    Ok(())
}
