//! Field specs (a GVK selector and a slash-separated path) and kustomize's built-in tables of
//! them: where labels, annotations, images and replica counts live, and which fields refer to
//! which kinds by name.

use serde_json::{Map, Value};

use super::resource::Gvk;
use super::{KResult, kerr};

/// A place in objects of some kinds.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    pub gvk: Gvk,
    pub path: Vec<String>,
    pub create: bool,
}

impl FieldSpec {
    pub fn new(group: &str, version: &str, kind: &str, path: &str, create: bool) -> Self {
        FieldSpec {
            gvk: Gvk {
                group: group.into(),
                version: version.into(),
                kind: kind.into(),
            },
            path: split_path(path),
            create,
        }
    }

    pub fn path_string(&self) -> String {
        self.path.join("/")
    }
}

/// Splits a field-spec path on `/`, honouring `\/` escapes.
pub fn split_path(path: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'/') {
            cur.push('/');
            chars.next();
        } else if c == '/' {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts.retain(|p| !p.is_empty());
    parts
}

/// What to create at the end of a missing path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateKind {
    None,
    Scalar,
    Map,
}

/// Calls `f` on every node at `path` under `v`; sequences along the way are entered element by
/// element. Missing fields are created when `create` says so, as kustomize's fieldspec filter
/// does.
pub fn walk(
    v: &mut Value,
    path: &[String],
    create: CreateKind,
    f: &mut dyn FnMut(&mut Value) -> KResult<()>,
) -> KResult<()> {
    if path.is_empty() {
        return f(v);
    }
    match v {
        Value::Null => Ok(()),
        Value::Array(items) => {
            for item in items {
                walk(item, path, create, f)?;
            }
            Ok(())
        }
        Value::Object(map) => {
            let (field, is_seq) = match path[0].strip_suffix("[]") {
                Some(f) => (f, true),
                None => (path[0].as_str(), false),
            };
            let last = path.len() == 1;
            let creating = create != CreateKind::None && !is_seq;
            if !map.contains_key(field) {
                if !creating {
                    return Ok(());
                }
                let new = if last && create == CreateKind::Scalar {
                    Value::String(String::new())
                } else {
                    Value::Object(Map::new())
                };
                map.insert(field.to_owned(), new);
            }
            let child = map.get_mut(field).expect("present");
            if child.is_null() && creating {
                *child = if last && create == CreateKind::Scalar {
                    Value::String(String::new())
                } else {
                    Value::Object(Map::new())
                };
            }
            if child.is_null() && is_seq {
                return Ok(());
            }
            walk(child, &path[1..], create, f)
        }
        _ => Err(kerr(format!(
            "expected sequence or mapping node at '{}'",
            path.join("/")
        ))),
    }
}

fn spec_list(text: &str) -> Vec<FieldSpec> {
    // Compact table: "group version kind path create" per line, "-" for empty.
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let p: Vec<&str> = l.split_whitespace().collect();
            let e = |s: &str| {
                if s == "-" {
                    String::new()
                } else {
                    s.to_owned()
                }
            };
            FieldSpec {
                gvk: Gvk {
                    group: e(p[0]),
                    version: e(p[1]),
                    kind: e(p[2]),
                },
                path: split_path(p[3]),
                create: p.get(4) == Some(&"true"),
            }
        })
        .collect()
}

const METADATA_LABELS: &str = "
- - - metadata/labels true
- v1 ReplicationController spec/template/metadata/labels true
- - Deployment spec/template/metadata/labels true
- - ReplicaSet spec/template/metadata/labels true
- - DaemonSet spec/template/metadata/labels true
apps - StatefulSet spec/template/metadata/labels true
apps - StatefulSet spec/volumeClaimTemplates[]/metadata/labels true
batch - Job spec/template/metadata/labels true
batch - CronJob spec/jobTemplate/metadata/labels true
batch - CronJob spec/jobTemplate/spec/template/metadata/labels true
";

const COMMON_LABELS_SELECTORS: &str = "
- v1 Service spec/selector true
- v1 ReplicationController spec/selector true
- - Deployment spec/selector/matchLabels true
apps - Deployment spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels false
apps - Deployment spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels false
apps - Deployment spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels false
apps - Deployment spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels false
apps - Deployment spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels false
- - ReplicaSet spec/selector/matchLabels true
- - DaemonSet spec/selector/matchLabels true
apps - StatefulSet spec/selector/matchLabels true
apps - StatefulSet spec/volumeClaimTemplates[]/metadata/labels true
apps - StatefulSet spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels false
apps - StatefulSet spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels false
apps - StatefulSet spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels false
apps - StatefulSet spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels false
apps - StatefulSet spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels false
batch - Job spec/selector/matchLabels false
batch - CronJob spec/jobTemplate/spec/selector/matchLabels false
policy - PodDisruptionBudget spec/selector/matchLabels false
networking.k8s.io - NetworkPolicy spec/podSelector/matchLabels false
networking.k8s.io - NetworkPolicy spec/ingress/from/podSelector/matchLabels false
networking.k8s.io - NetworkPolicy spec/egress/to/podSelector/matchLabels false
";

const COMMON_ANNOTATIONS: &str = "
- - - metadata/annotations true
- v1 ReplicationController spec/template/metadata/annotations true
- - Deployment spec/template/metadata/annotations true
- - ReplicaSet spec/template/metadata/annotations true
- - DaemonSet spec/template/metadata/annotations true
- - StatefulSet spec/template/metadata/annotations true
batch - Job spec/template/metadata/annotations true
batch - CronJob spec/jobTemplate/metadata/annotations true
batch - CronJob spec/jobTemplate/spec/template/metadata/annotations true
";

const REPLICAS: &str = "
- - Deployment spec/replicas true
- - ReplicationController spec/replicas true
- - ReplicaSet spec/replicas true
- - StatefulSet spec/replicas true
";

/// kustomize's default `varReference` table: where `$(VAR)` is replaced.
const VAR_REFERENCE: &str = "
- - CronJob spec/jobTemplate/spec/template/spec/containers/args
- - CronJob spec/jobTemplate/spec/template/spec/containers/command
- - CronJob spec/jobTemplate/spec/template/spec/containers/env/value
- - CronJob spec/jobTemplate/spec/template/spec/containers/volumeMounts/mountPath
- - CronJob spec/jobTemplate/spec/template/spec/initContainers/args
- - CronJob spec/jobTemplate/spec/template/spec/initContainers/command
- - CronJob spec/jobTemplate/spec/template/spec/initContainers/env/value
- - CronJob spec/jobTemplate/spec/template/spec/initContainers/volumeMounts/mountPath
- - CronJob spec/jobTemplate/spec/template/volumes/nfs/server
- - DaemonSet spec/template/spec/containers/args
- - DaemonSet spec/template/spec/containers/command
- - DaemonSet spec/template/spec/containers/env/value
- - DaemonSet spec/template/spec/containers/volumeMounts/mountPath
- - DaemonSet spec/template/spec/initContainers/args
- - DaemonSet spec/template/spec/initContainers/command
- - DaemonSet spec/template/spec/initContainers/env/value
- - DaemonSet spec/template/spec/initContainers/volumeMounts/mountPath
- - DaemonSet spec/template/spec/volumes/nfs/server
- - Deployment spec/template/spec/containers/args
- - Deployment spec/template/spec/containers/command
- - Deployment spec/template/spec/containers/env/value
- - Deployment spec/template/spec/containers/volumeMounts/mountPath
- - Deployment spec/template/spec/initContainers/args
- - Deployment spec/template/spec/initContainers/command
- - Deployment spec/template/spec/initContainers/env/value
- - Deployment spec/template/spec/initContainers/volumeMounts/mountPath
- - Deployment spec/template/spec/volumes/nfs/server
- - Deployment spec/template/metadata/annotations
- - Ingress spec/rules/host
- - Ingress spec/tls/hosts
- - Ingress spec/tls/secretName
- - Job spec/template/spec/containers/args
- - Job spec/template/spec/containers/command
- - Job spec/template/spec/containers/env/value
- - Job spec/template/spec/containers/volumeMounts/mountPath
- - Job spec/template/spec/initContainers/args
- - Job spec/template/spec/initContainers/command
- - Job spec/template/spec/initContainers/env/value
- - Job spec/template/spec/initContainers/volumeMounts/mountPath
- - Job spec/template/spec/volumes/nfs/server
- - Pod spec/containers/args
- - Pod spec/containers/command
- - Pod spec/containers/env/value
- - Pod spec/containers/volumeMounts/mountPath
- - Pod spec/initContainers/args
- - Pod spec/initContainers/command
- - Pod spec/initContainers/env/value
- - Pod spec/initContainers/volumeMounts/mountPath
- - Pod spec/volumes/nfs/server
- - ReplicaSet spec/template/spec/containers/args
- - ReplicaSet spec/template/spec/containers/command
- - ReplicaSet spec/template/spec/containers/env/value
- - ReplicaSet spec/template/spec/containers/volumeMounts/mountPath
- - ReplicaSet spec/template/spec/initContainers/args
- - ReplicaSet spec/template/spec/initContainers/command
- - ReplicaSet spec/template/spec/initContainers/env/value
- - ReplicaSet spec/template/spec/initContainers/volumeMounts/mountPath
- - ReplicaSet spec/template/spec/volumes/nfs/server
- - Service spec/ports/port
- - Service spec/ports/targetPort
- - StatefulSet spec/template/spec/containers/args
- - StatefulSet spec/template/spec/containers/command
- - StatefulSet spec/template/spec/containers/env/value
- - StatefulSet spec/template/spec/containers/volumeMounts/mountPath
- - StatefulSet spec/template/spec/initContainers/args
- - StatefulSet spec/template/spec/initContainers/command
- - StatefulSet spec/template/spec/initContainers/env/value
- - StatefulSet spec/template/spec/initContainers/volumeMounts/mountPath
- - StatefulSet spec/volumeClaimTemplates/spec/nfs/server
- - PersistentVolume spec/nfs/server
- - - metadata/labels
- - - metadata/annotations
";

pub fn var_references() -> Vec<FieldSpec> {
    spec_list(VAR_REFERENCE)
}

/// `commonLabels` and `labels` with `includeSelectors`: metadata, templates and selectors.
pub fn common_labels() -> Vec<FieldSpec> {
    let mut v = spec_list(COMMON_LABELS_SELECTORS);
    v.extend(spec_list(METADATA_LABELS));
    v
}

/// Metadata and template labels (`labels` with `includeTemplates`).
pub fn template_labels() -> Vec<FieldSpec> {
    let mut v = spec_list(METADATA_LABELS);
    v.retain(|f| !f.path.iter().any(|p| p == "volumeClaimTemplates[]"));
    v
}

pub fn common_annotations() -> Vec<FieldSpec> {
    spec_list(COMMON_ANNOTATIONS)
}

pub fn replicas() -> Vec<FieldSpec> {
    spec_list(REPLICAS)
}

/// A kind that can be referred to by name, and the fields that refer to it.
#[derive(Debug, Clone)]
pub struct BackRef {
    pub gvk: Gvk,
    pub referrers: Vec<FieldSpec>,
}

const POD_KINDS: &[(&str, &str, &str)] = &[
    ("v1", "Pod", "spec"),
    ("", "PodTemplate", "template/spec"),
    ("", "Deployment", "spec/template/spec"),
    ("", "ReplicaSet", "spec/template/spec"),
    ("", "DaemonSet", "spec/template/spec"),
    ("", "StatefulSet", "spec/template/spec"),
    ("", "Job", "spec/template/spec"),
    ("", "CronJob", "spec/jobTemplate/spec/template/spec"),
];

/// kustomize's default name-reference table.
pub fn name_references() -> Vec<BackRef> {
    let mut refs = Vec::new();
    let hpa = |kind: &str| BackRef {
        gvk: Gvk {
            group: String::new(),
            version: String::new(),
            kind: kind.into(),
        },
        referrers: vec![FieldSpec::new(
            "",
            "",
            "HorizontalPodAutoscaler",
            "spec/scaleTargetRef/name",
            false,
        )],
    };
    for k in [
        "Deployment",
        "ReplicationController",
        "ReplicaSet",
        "StatefulSet",
    ] {
        refs.push(hpa(k));
    }
    // ConfigMap
    let mut cm = Vec::new();
    for (v, kind, base) in POD_KINDS {
        for p in [
            "volumes/configMap/name",
            "containers/env/valueFrom/configMapKeyRef/name",
            "initContainers/env/valueFrom/configMapKeyRef/name",
            "containers/envFrom/configMapRef/name",
            "initContainers/envFrom/configMapRef/name",
            "volumes/projected/sources/configMap/name",
        ] {
            cm.push(FieldSpec::new("", v, kind, &format!("{base}/{p}"), false));
        }
    }
    cm.push(FieldSpec::new(
        "",
        "",
        "Node",
        "spec/configSource/configMap",
        false,
    ));
    cm.push(FieldSpec::new("", "", "Role", "rules/resourceNames", false));
    cm.push(FieldSpec::new(
        "",
        "",
        "ClusterRole",
        "rules/resourceNames",
        false,
    ));
    cm.push(FieldSpec::new(
        "",
        "",
        "Ingress",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap",
        false,
    ));
    refs.push(BackRef {
        gvk: Gvk {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
        },
        referrers: cm,
    });
    // Secret
    let mut sec = Vec::new();
    for (v, kind, base) in POD_KINDS {
        for p in [
            "volumes/secret/secretName",
            "containers/env/valueFrom/secretKeyRef/name",
            "initContainers/env/valueFrom/secretKeyRef/name",
            "containers/envFrom/secretRef/name",
            "initContainers/envFrom/secretRef/name",
            "imagePullSecrets/name",
            "volumes/projected/sources/secret/name",
        ] {
            sec.push(FieldSpec::new("", v, kind, &format!("{base}/{p}"), false));
        }
    }
    for (k, p) in [
        ("Ingress", "spec/tls/secretName"),
        (
            "Ingress",
            "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
        ),
        (
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
        ),
        (
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
        ),
        ("ServiceAccount", "imagePullSecrets/name"),
        ("StorageClass", "parameters/secretName"),
        ("StorageClass", "parameters/adminSecretName"),
        ("StorageClass", "parameters/userSecretName"),
        ("StorageClass", "parameters/secretRef"),
        ("Role", "rules/resourceNames"),
        ("ClusterRole", "rules/resourceNames"),
        ("PersistentVolume", "spec/azureFile/secretName"),
    ] {
        sec.push(FieldSpec::new("", "", k, p, false));
    }
    sec.push(FieldSpec::new(
        "serving.knative.dev",
        "v1",
        "Service",
        "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
        false,
    ));
    refs.push(BackRef {
        gvk: Gvk {
            group: String::new(),
            version: "v1".into(),
            kind: "Secret".into(),
        },
        referrers: sec,
    });
    // Service
    refs.push(BackRef {
        gvk: Gvk {
            group: String::new(),
            version: "v1".into(),
            kind: "Service".into(),
        },
        referrers: vec![
            FieldSpec::new("apps", "", "StatefulSet", "spec/serviceName", false),
            FieldSpec::new(
                "",
                "",
                "Ingress",
                "spec/rules/http/paths/backend/serviceName",
                false,
            ),
            FieldSpec::new("", "", "Ingress", "spec/backend/serviceName", false),
            FieldSpec::new(
                "",
                "",
                "Ingress",
                "spec/rules/http/paths/backend/service/name",
                false,
            ),
            FieldSpec::new("", "", "Ingress", "spec/defaultBackend/service/name", false),
            FieldSpec::new(
                "apiregistration.k8s.io",
                "",
                "APIService",
                "spec/service/name",
                false,
            ),
            FieldSpec::new(
                "admissionregistration.k8s.io",
                "",
                "ValidatingWebhookConfiguration",
                "webhooks/clientConfig/service",
                false,
            ),
            FieldSpec::new(
                "admissionregistration.k8s.io",
                "",
                "MutatingWebhookConfiguration",
                "webhooks/clientConfig/service",
                false,
            ),
        ],
    });
    let rbac = "rbac.authorization.k8s.io";
    refs.push(BackRef {
        gvk: Gvk {
            group: rbac.into(),
            version: String::new(),
            kind: "Role".into(),
        },
        referrers: vec![FieldSpec::new(
            rbac,
            "",
            "RoleBinding",
            "roleRef/name",
            false,
        )],
    });
    refs.push(BackRef {
        gvk: Gvk {
            group: rbac.into(),
            version: String::new(),
            kind: "ClusterRole".into(),
        },
        referrers: vec![
            FieldSpec::new(rbac, "", "RoleBinding", "roleRef/name", false),
            FieldSpec::new(rbac, "", "ClusterRoleBinding", "roleRef/name", false),
        ],
    });
    let pod_field = |field: &str| -> Vec<FieldSpec> {
        let mut v = vec![FieldSpec::new(
            "",
            "",
            "Pod",
            &format!("spec/{field}"),
            false,
        )];
        for k in [
            "StatefulSet",
            "Deployment",
            "ReplicationController",
            "Job",
            "DaemonSet",
        ] {
            v.push(FieldSpec::new(
                "",
                "",
                k,
                &format!("spec/template/spec/{field}"),
                false,
            ));
        }
        v.push(FieldSpec::new(
            "",
            "",
            "CronJob",
            &format!("spec/jobTemplate/spec/template/spec/{field}"),
            false,
        ));
        v
    };
    let mut sa = vec![
        FieldSpec::new(rbac, "", "RoleBinding", "subjects", false),
        FieldSpec::new(rbac, "", "ClusterRoleBinding", "subjects", false),
    ];
    sa.extend(pod_field("serviceAccountName"));
    refs.push(BackRef {
        gvk: Gvk {
            group: String::new(),
            version: "v1".into(),
            kind: "ServiceAccount".into(),
        },
        referrers: sa,
    });
    refs.push(BackRef {
        gvk: Gvk {
            group: String::new(),
            version: "v1".into(),
            kind: "PersistentVolumeClaim".into(),
        },
        referrers: pod_field("volumes/persistentVolumeClaim/claimName"),
    });
    refs.push(BackRef {
        gvk: Gvk {
            group: String::new(),
            version: "v1".into(),
            kind: "PersistentVolume".into(),
        },
        referrers: vec![
            FieldSpec::new("", "", "PersistentVolumeClaim", "spec/volumeName", false),
            FieldSpec::new("", "", "ClusterRole", "rules/resourceNames", false),
        ],
    });
    refs.push(BackRef {
        gvk: Gvk {
            group: "storage.k8s.io".into(),
            version: "v1".into(),
            kind: "StorageClass".into(),
        },
        referrers: vec![
            FieldSpec::new("", "", "PersistentVolume", "spec/storageClassName", false),
            FieldSpec::new(
                "",
                "",
                "PersistentVolumeClaim",
                "spec/storageClassName",
                false,
            ),
            FieldSpec::new(
                "",
                "",
                "StatefulSet",
                "spec/volumeClaimTemplates/spec/storageClassName",
                false,
            ),
        ],
    });
    refs.push(BackRef {
        gvk: Gvk {
            group: "scheduling.k8s.io".into(),
            version: "v1".into(),
            kind: "PriorityClass".into(),
        },
        referrers: pod_field("priorityClassName"),
    });
    refs.push(BackRef {
        gvk: Gvk {
            group: "networking.k8s.io/v1".into(),
            version: "v1".into(),
            kind: "IngressClass".into(),
        },
        referrers: vec![FieldSpec::new(
            "",
            "",
            "Ingress",
            "spec/ingressClassName",
            false,
        )],
    });
    refs.push(BackRef {
        gvk: Gvk {
            group: "admissionregistration.k8s.io".into(),
            version: String::new(),
            kind: "ValidatingAdmissionPolicy".into(),
        },
        referrers: vec![FieldSpec::new(
            "admissionregistration.k8s.io",
            "",
            "ValidatingAdmissionPolicyBinding",
            "spec/policyName",
            false,
        )],
    });
    refs
}
