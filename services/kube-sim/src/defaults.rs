//! Defaulting and validation that the real API server does on write, for the fields clients see.

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::registry::ResourceType;
use crate::status::ApiError;
use crate::store::Inner;

fn set_default(obj: &mut Value, ptr: &[&str], v: Value) {
    let mut cur = obj;
    for (i, k) in ptr.iter().enumerate() {
        if !cur.is_object() {
            return;
        }
        let last = i == ptr.len() - 1;
        let slot = cur.as_object_mut().map(|m| {
            m.entry(k.to_string())
                .or_insert(if last { Value::Null } else { json!({}) })
        });
        let Some(slot) = slot else { return };
        if last {
            if slot.is_null() {
                *slot = v;
            }
            return;
        }
        cur = slot;
    }
}

fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, &["restartPolicy"], json!("Always"));
    set_default(spec, &["dnsPolicy"], json!("ClusterFirst"));
    set_default(spec, &["schedulerName"], json!("default-scheduler"));
    set_default(spec, &["terminationGracePeriodSeconds"], json!(30));
    set_default(spec, &["securityContext"], json!({}));
    for list in ["containers", "initContainers"] {
        let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in cs {
            if !c.is_object() {
                continue;
            }
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
            let tag = image_tag(image);
            let policy = if tag.is_none() || tag == Some("latest") {
                "Always"
            } else {
                "IfNotPresent"
            };
            set_default(c, &["imagePullPolicy"], json!(policy));
            set_default(
                c,
                &["terminationMessagePath"],
                json!("/dev/termination-log"),
            );
            set_default(c, &["terminationMessagePolicy"], json!("File"));
            set_default(c, &["resources"], json!({}));
            if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports.iter_mut().filter(|p| p.is_object()) {
                    set_default(p, &["protocol"], json!("TCP"));
                }
            }
        }
    }
}

/// The tag of an image reference (`nginx:1.27` gives `1.27`), None when it has none.
pub(crate) fn image_tag(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last.split_once(':').map(|(_, t)| t)
}

/// Fills in the defaults of the built-in kinds. `live` is the stored object on update.
pub(crate) fn apply(rt: &ResourceType, obj: &mut Value, live: Option<&Value>, inner: &mut Inner) {
    if !rt.builtin {
        return;
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => {
            let name = obj["metadata"]["name"].clone();
            set_default(
                obj,
                &["metadata", "labels", "kubernetes.io/metadata.name"],
                name.clone(),
            );
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
            set_default(obj, &["spec", "finalizers"], json!(["kubernetes"]));
            set_default(obj, &["status", "phase"], json!("Active"));
        }
        ("", "Pod") => {
            if let Some(spec) = obj.get_mut("spec") {
                default_pod_spec(spec);
            }
            set_default(obj, &["status", "phase"], json!("Pending"));
            set_default(obj, &["status", "qosClass"], json!("BestEffort"));
        }
        ("", "Secret") => {
            set_default(obj, &["type"], json!("Opaque"));
            if let Some(Value::Object(sd)) =
                obj.as_object_mut().and_then(|m| m.remove("stringData"))
            {
                for (k, v) in sd {
                    let enc = base64::engine::general_purpose::STANDARD
                        .encode(v.as_str().unwrap_or_default());
                    set_default(obj, &["data"], json!({}));
                    obj["data"][k] = json!(enc);
                }
            }
        }
        ("", "Service") => default_service(obj, live, inner),
        ("", "PersistentVolumeClaim") => {
            set_default(obj, &["spec", "volumeMode"], json!("Filesystem"));
            set_default(obj, &["status", "phase"], json!("Pending"));
        }
        ("apps", "Deployment") => {
            set_default(obj, &["spec", "replicas"], json!(1));
            set_default(obj, &["spec", "progressDeadlineSeconds"], json!(600));
            set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
            // Field by field, as SetDefaults_Deployment does: kubectl's typed clients send an empty
            // `strategy: {}`, which must still become a 25%/25% RollingUpdate.
            set_default(obj, &["spec", "strategy", "type"], json!("RollingUpdate"));
            if obj.pointer("/spec/strategy/type") == Some(&json!("RollingUpdate")) {
                for k in ["maxUnavailable", "maxSurge"] {
                    set_default(obj, &["spec", "strategy", "rollingUpdate", k], json!("25%"));
                }
            }
            default_template(obj);
        }
        ("apps", "ReplicaSet") => {
            set_default(obj, &["spec", "replicas"], json!(1));
            default_template(obj);
        }
        ("apps", "StatefulSet") => {
            set_default(obj, &["spec", "replicas"], json!(1));
            set_default(obj, &["spec", "podManagementPolicy"], json!("OrderedReady"));
            set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
            set_default(
                obj,
                &["spec", "updateStrategy", "type"],
                json!("RollingUpdate"),
            );
            if obj.pointer("/spec/updateStrategy/type") == Some(&json!("RollingUpdate")) {
                set_default(
                    obj,
                    &["spec", "updateStrategy", "rollingUpdate", "partition"],
                    json!(0),
                );
            }
            default_template(obj);
        }
        ("apps", "DaemonSet") => {
            set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
            set_default(
                obj,
                &["spec", "updateStrategy", "type"],
                json!("RollingUpdate"),
            );
            if obj.pointer("/spec/updateStrategy/type") == Some(&json!("RollingUpdate")) {
                let path = ["spec", "updateStrategy", "rollingUpdate"];
                set_default(
                    obj,
                    &[path[0], path[1], path[2], "maxUnavailable"],
                    json!(1),
                );
                set_default(obj, &[path[0], path[1], path[2], "maxSurge"], json!(0));
            }
            default_template(obj);
        }
        ("batch", "Job") => {
            set_default(obj, &["spec", "completions"], json!(1));
            set_default(obj, &["spec", "parallelism"], json!(1));
            set_default(obj, &["spec", "backoffLimit"], json!(6));
            set_default(obj, &["spec", "completionMode"], json!("NonIndexed"));
            set_default(obj, &["spec", "suspend"], json!(false));
            // The Job controller's own selector, as the real server generates it.
            let uid = obj["metadata"]["uid"].clone();
            let name = obj["metadata"]["name"].clone();
            if obj.pointer("/spec/manualSelector") != Some(&json!(true)) && live.is_none() {
                obj["spec"]["selector"] =
                    json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
                for (k, v) in [
                    ("batch.kubernetes.io/controller-uid", &uid),
                    ("batch.kubernetes.io/job-name", &name),
                    ("controller-uid", &uid),
                    ("job-name", &name),
                ] {
                    set_default(
                        obj,
                        &["spec", "template", "metadata", "labels", k],
                        v.clone(),
                    );
                }
            }
            default_template(obj);
        }
        ("", "PersistentVolume") => {
            set_default(
                obj,
                &["spec", "persistentVolumeReclaimPolicy"],
                json!("Retain"),
            );
            set_default(obj, &["spec", "volumeMode"], json!("Filesystem"));
            set_default(obj, &["status", "phase"], json!("Pending"));
        }
        ("", "ReplicationController") => {
            set_default(obj, &["spec", "replicas"], json!(1));
            // An RC without a selector selects its template's labels, as SetDefaults does.
            if let Some(labels) = obj.pointer("/spec/template/metadata/labels").cloned() {
                set_default(obj, &["spec", "selector"], labels);
            }
            default_template(obj);
        }
        ("storage.k8s.io", "StorageClass") => {
            set_default(obj, &["reclaimPolicy"], json!("Delete"));
            set_default(obj, &["volumeBindingMode"], json!("Immediate"));
        }
        ("scheduling.k8s.io", "PriorityClass") => {
            set_default(obj, &["preemptionPolicy"], json!("PreemptLowerPriority"));
        }
        ("batch", "CronJob") => {
            set_default(obj, &["spec", "concurrencyPolicy"], json!("Allow"));
            set_default(obj, &["spec", "suspend"], json!(false));
            set_default(obj, &["spec", "successfulJobsHistoryLimit"], json!(3));
            set_default(obj, &["spec", "failedJobsHistoryLimit"], json!(1));
        }
        _ => {}
    }
}

fn default_template(obj: &mut Value) {
    if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
        default_pod_spec(spec);
    }
}

fn default_service(obj: &mut Value, live: Option<&Value>, inner: &mut Inner) {
    set_default(obj, &["spec", "type"], json!("ClusterIP"));
    set_default(obj, &["spec", "sessionAffinity"], json!("None"));
    let ty = obj
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if let Some(ports) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter(|p| p.is_object()) {
            set_default(p, &["protocol"], json!("TCP"));
            let port = p.get("port").cloned().unwrap_or(Value::Null);
            set_default(p, &["targetPort"], port);
        }
    }
    if ty == "ExternalName" {
        return;
    }
    // The cluster IP is allocated once and kept, as a real server keeps it across updates.
    let kept = live.and_then(|l| l.pointer("/spec/clusterIP")).cloned();
    if obj
        .pointer("/spec/clusterIP")
        .is_none_or(|v| v.as_str().is_none_or(str::is_empty))
    {
        let ip = match kept {
            Some(ip) => ip,
            None => {
                let n = inner.next_ip;
                inner.next_ip += 1;
                json!(format!("10.96.{}.{}", n / 250, n % 250 + 1))
            }
        };
        obj["spec"]["clusterIP"] = ip;
    }
    let ip = obj["spec"]["clusterIP"].clone();
    obj["spec"]["clusterIPs"] = json!([ip]);
    set_default(obj, &["spec", "ipFamilies"], json!(["IPv4"]));
    set_default(obj, &["spec", "ipFamilyPolicy"], json!("SingleStack"));
    set_default(obj, &["spec", "internalTrafficPolicy"], json!("Cluster"));
    if ty == "NodePort" || ty == "LoadBalancer" {
        set_default(obj, &["spec", "externalTrafficPolicy"], json!("Cluster"));
        let live_ports = live
            .and_then(|l| l.pointer("/spec/ports"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(ports) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for (i, p) in ports.iter_mut().enumerate() {
                if p.get("nodePort").is_none() {
                    let kept = live_ports.get(i).and_then(|lp| lp.get("nodePort")).cloned();
                    p["nodePort"] =
                        kept.unwrap_or_else(|| json!(30000 + (inner.next_ip % 2000) + i as u32));
                }
            }
        }
    }
    set_default(obj, &["status", "loadBalancer"], json!({}));
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn is_label_value(s: &str) -> bool {
    s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_none_or(|b| b.is_ascii_alphanumeric())
}

fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    prefix.is_none_or(is_dns_subdomain) && !name.is_empty() && is_label_value(name)
}

type Cause = (String, &'static str, String);

fn required(field: &str) -> Cause {
    (
        field.to_string(),
        "FieldValueRequired",
        "Required value".to_string(),
    )
}

fn invalid(field: &str, value: &Value, why: &str) -> Cause {
    (
        field.to_string(),
        "FieldValueInvalid",
        format!("Invalid value: {value}: {why}"),
    )
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/// Validates an object about to be stored; the error is the real server's 422.
pub(crate) fn validate(
    rt: &ResourceType,
    obj: &Value,
    live: Option<&Value>,
) -> Result<(), ApiError> {
    let mut causes: Vec<Cause> = Vec::new();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let rbac = rt.group == "rbac.authorization.k8s.io";
    if name.is_empty() {
        causes.push((
            "metadata.name".into(),
            "FieldValueRequired",
            "Required value: name or generateName is required".into(),
        ));
    } else if matches!(rt.kind.as_str(), "Namespace" | "Service") {
        if !is_dns_label(name) {
            causes.push(invalid("metadata.name", &json!(name), LABEL_MSG));
        }
    } else if rbac {
        if name.contains('/') || name.contains('%') || name == "." || name == ".." {
            causes.push(invalid(
                "metadata.name",
                &json!(name),
                "may not contain '/' or '%'",
            ));
        }
    } else if rt.kind == "APIService" {
        // An APIService is named after what it serves (`v1.` is the core group's).
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
        let want = format!("{}.{}", s("/spec/version"), s("/spec/group"));
        if name != want {
            causes.push(invalid(
                "metadata.name",
                &json!(name),
                &format!("must be {want}"),
            ));
        }
    } else if !is_dns_subdomain(name) {
        causes.push(invalid("metadata.name", &json!(name), SUBDOMAIN_MSG));
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if !is_qualified_name(k) {
                causes.push(invalid("metadata.labels", &json!(k), "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"));
            }
            match v.as_str() {
                Some(s) if is_label_value(s) => {}
                _ => causes.push(invalid("metadata.labels", v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")),
            }
        }
    }
    if let Some(ann) = obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        for (k, v) in ann {
            if !v.is_string() {
                causes.push(invalid(
                    &format!("metadata.annotations.{k}"),
                    v,
                    "must be a string",
                ));
            }
        }
    }
    if rt.builtin {
        match (rt.group.as_str(), rt.kind.as_str()) {
            ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
                validate_workload(obj, &mut causes);
                let old_sel = live.and_then(|l| l.pointer("/spec/selector"));
                if let Some(old) = old_sel
                    && obj.pointer("/spec/selector") != Some(old)
                {
                    causes.push(invalid(
                        "spec.selector",
                        obj.pointer("/spec/selector").unwrap_or(&Value::Null),
                        "field is immutable",
                    ));
                }
            }
            ("batch", "Job") => {
                validate_pod_spec(
                    obj.pointer("/spec/template/spec"),
                    "spec.template.spec",
                    &mut causes,
                );
                let rp = obj
                    .pointer("/spec/template/spec/restartPolicy")
                    .and_then(Value::as_str);
                if !matches!(rp, Some("Never" | "OnFailure")) {
                    causes.push((
                        "spec.template.spec.restartPolicy".into(),
                        "FieldValueNotSupported",
                        format!(
                            "Unsupported value: {:?}: supported values: \"OnFailure\", \"Never\"",
                            rp.unwrap_or_default()
                        ),
                    ));
                }
            }
            ("batch", "CronJob")
                if obj
                    .pointer("/spec/schedule")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty) =>
            {
                causes.push(required("spec.schedule"));
            }
            ("", "Pod") => validate_pod_spec(obj.get("spec"), "spec", &mut causes),
            ("", "Service") => {
                let ports = obj
                    .pointer("/spec/ports")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for (i, p) in ports.iter().enumerate() {
                    match p.get("port").and_then(Value::as_i64) {
                        Some(n) if (1..=65535).contains(&n) => {}
                        Some(n) => causes.push(invalid(
                            &format!("spec.ports[{i}].port"),
                            &json!(n),
                            "must be between 1 and 65535, inclusive",
                        )),
                        None => causes.push(required(&format!("spec.ports[{i}].port"))),
                    }
                }
                if let (Some(old), Some(new)) = (
                    live.and_then(|l| l.pointer("/spec/clusterIP")),
                    obj.pointer("/spec/clusterIP"),
                ) && old != new
                {
                    causes.push(invalid(
                        "spec.clusterIPs[0]",
                        new,
                        "may not change once set",
                    ));
                }
            }
            ("", "ConfigMap" | "Secret") => {
                for field in ["data", "binaryData"] {
                    if let Some(m) = obj.get(field).and_then(Value::as_object) {
                        for (k, v) in m {
                            let ok_key = !k.is_empty()
                                && k.len() <= 253
                                && k.bytes().all(|b| {
                                    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
                                });
                            if !ok_key {
                                causes.push(invalid(field, &json!(k), "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"));
                            }
                            if !v.is_string() {
                                causes.push(invalid(
                                    &format!("{field}[{k}]"),
                                    v,
                                    "must be a string",
                                ));
                            }
                        }
                    }
                }
            }
            ("apiextensions.k8s.io", "CustomResourceDefinition") => {
                validate_crd(obj, name, &mut causes)
            }
            _ => {}
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&rt.kind, &rt.group, name, &causes))
    }
}

fn validate_workload(obj: &Value, causes: &mut Vec<Cause>) {
    let selector = obj.pointer("/spec/selector");
    match selector {
        None | Some(Value::Null) => causes.push(required("spec.selector")),
        Some(sel) => {
            let labels = obj
                .pointer("/spec/template/metadata/labels")
                .cloned()
                .unwrap_or(json!({}));
            let wanted = sel
                .get("matchLabels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if sel.get("matchLabels").is_none() && sel.get("matchExpressions").is_none() {
                causes.push(invalid(
                    "spec.selector",
                    sel,
                    "empty selector is invalid for deployment",
                ));
            }
            if wanted.iter().any(|(k, v)| labels.get(k) != Some(v)) {
                causes.push(invalid(
                    "spec.template.metadata.labels",
                    &labels,
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
    validate_pod_spec(
        obj.pointer("/spec/template/spec"),
        "spec.template.spec",
        causes,
    );
}

fn validate_pod_spec(spec: Option<&Value>, at: &str, causes: &mut Vec<Cause>) {
    let containers = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    let Some(containers) = containers.filter(|c| !c.is_empty()) else {
        causes.push(required(&format!("{at}.containers")));
        return;
    };
    for (i, c) in containers.iter().enumerate() {
        match c.get("name").and_then(Value::as_str) {
            Some(n) if is_dns_label(n) => {}
            Some(n) => causes.push(invalid(
                &format!("{at}.containers[{i}].name"),
                &json!(n),
                LABEL_MSG,
            )),
            None => causes.push(required(&format!("{at}.containers[{i}].name"))),
        }
        if c.get("image")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            causes.push(required(&format!("{at}.containers[{i}].image")));
        }
    }
}

fn validate_crd(obj: &Value, name: &str, causes: &mut Vec<Cause>) {
    let group = obj
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let plural = obj
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if group.is_empty() {
        causes.push(required("spec.group"));
    }
    if plural.is_empty() {
        causes.push(required("spec.names.plural"));
    }
    if obj
        .pointer("/spec/names/kind")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        causes.push(required("spec.names.kind"));
    }
    let versions = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push(required("spec.versions"));
    } else if versions
        .iter()
        .filter(|v| v.get("storage") == Some(&json!(true)))
        .count()
        != 1
    {
        causes.push(invalid(
            "spec.versions",
            &Value::Null,
            "must have exactly one version marked as storage version",
        ));
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(invalid(
            "metadata.name",
            &json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
}

/// Status the real apiextensions controller gives an accepted CRD.
pub(crate) fn crd_status(obj: &mut Value, now: &str) {
    let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let cond = |t: &str, reason: &str, msg: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": msg});
    let stored: Vec<Value> = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage") == Some(&json!(true)))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    let mut status = Map::new();
    status.insert("acceptedNames".into(), names);
    status.insert(
        "conditions".into(),
        json!([
            cond("NamesAccepted", "NoConflicts", "no conflicts found"),
            cond(
                "Established",
                "InitialNamesAccepted",
                "the initial names have been accepted"
            )
        ]),
    );
    status.insert("storedVersions".into(), Value::Array(stored));
    obj["status"] = Value::Object(status);
}
