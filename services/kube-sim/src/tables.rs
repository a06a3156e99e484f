//! Server-side Tables (`as=Table;g=meta.k8s.io;v=v1`), what `kubectl get` prints: the columns and
//! cells of the real server's printers (`pkg/printers/internalversion`) for each built-in kind,
//! priority-1 columns (`-o wide`) included; the default `NAME`/`CREATED AT` of the kinds that
//! have no printer; and a CRD's `additionalPrinterColumns` for its custom resources.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::registry::ResourceType;

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// apimachinery's `duration.HumanDuration`: 42s, 5m10s, 3h, 2d4h, 12d, 3y45d.
pub(crate) fn human_duration(s: i64) -> String {
    let with = |big: i64, unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{unit}")
        } else {
            format!("{big}{unit}{small}{small_unit}")
        }
    };
    if s < -1 {
        return "<invalid>".into();
    }
    let s = s.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match s {
        s if s < 120 => format!("{s}s"),
        _ if m < 10 => with(m, "m", s % 60, "s"),
        _ if m < 3 * 60 => format!("{m}m"),
        _ if h < 8 => with(h, "h", m % 60, "m"),
        _ if h < 48 => format!("{h}h"),
        _ if h < 8 * 24 => with(d, "d", h % 24, "h"),
        _ if h < 2 * 365 * 24 => format!("{d}d"),
        _ if h < 8 * 365 * 24 => with(d / 365, "y", d % 365, "d"),
        _ => format!("{}y", d / 365),
    }
}

/// How long ago a timestamp was, as the printers show an age.
pub(crate) fn human_age(created: &str) -> String {
    match parse_time(created) {
        Some(t) => human_duration((OffsetDateTime::now_utc() - t).whole_seconds()),
        None => "<unknown>".into(),
    }
}

fn int(o: &Value, ptr: &str) -> i64 {
    o.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn opt_text(o: &Value, ptr: &str) -> Option<String> {
    o.pointer(ptr)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// The string at `ptr`, or `or` when it is missing or empty.
fn text_or(o: &Value, ptr: &str, or: &str) -> String {
    opt_text(o, ptr).unwrap_or_else(|| or.into())
}

/// The string at `ptr`, or `<none>` as the printers show a missing value.
fn text(o: &Value, ptr: &str) -> String {
    text_or(o, ptr, "<none>")
}

/// The string at `ptr`, empty when missing (a Go string field printed as is).
fn plain(o: &Value, ptr: &str) -> String {
    text_or(o, ptr, "")
}

fn array<'a>(o: &'a Value, ptr: &str) -> &'a [Value] {
    o.pointer(ptr)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn len(o: &Value, ptr: &str) -> i64 {
    match o.pointer(ptr) {
        Some(Value::Array(a)) => a.len() as i64,
        Some(Value::Object(m)) => m.len() as i64,
        _ => 0,
    }
}

/// A Go `*bool` as `printBoolPtr` shows it.
fn bool_ptr(o: &Value, ptr: &str) -> String {
    match o.pointer(ptr).and_then(Value::as_bool) {
        Some(true) => "True".into(),
        Some(false) => "False".into(),
        None => "<unset>".into(),
    }
}

fn age(o: &Value) -> Value {
    json!(human_age(
        o.pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
            .unwrap_or_default()
    ))
}

/// A column: name, type, priority (1: only with `-o wide`).
type Col = (&'static str, &'static str, u8);

const NAME: Col = ("Name", "string", 0);
const AGE: Col = ("Age", "string", 0);
const CONTAINERS: Col = ("Containers", "string", 1);
const IMAGES: Col = ("Images", "string", 1);
const SELECTOR: Col = ("Selector", "string", 1);

/// The columns of a built-in kind, in the real printers' order; None for kinds without a printer.
fn columns(t: &ResourceType) -> Option<Vec<Col>> {
    let s = |n: &'static str| (n, "string", 0u8);
    let i = |n: &'static str| (n, "integer", 0u8);
    let b = |n: &'static str| (n, "boolean", 0u8);
    Some(match (t.group.as_str(), t.kind.as_str()) {
        ("apps", "Deployment") => vec![
            NAME,
            s("Ready"),
            s("Up-to-date"),
            s("Available"),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
        ("apps", "ReplicaSet") | ("", "ReplicationController") => vec![
            NAME,
            i("Desired"),
            i("Current"),
            i("Ready"),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
        ("apps", "StatefulSet") => vec![NAME, s("Ready"), AGE, CONTAINERS, IMAGES],
        ("apps", "DaemonSet") => vec![
            NAME,
            i("Desired"),
            i("Current"),
            i("Ready"),
            i("Up-to-date"),
            i("Available"),
            s("Node Selector"),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
        ("apps", "ControllerRevision") => vec![NAME, s("Controller"), s("Revision"), AGE],
        ("", "Pod") => vec![
            NAME,
            s("Ready"),
            s("Status"),
            s("Restarts"),
            AGE,
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        ("", "PodTemplate") => vec![NAME, s("Containers"), s("Images"), s("Pod Labels")],
        ("", "Service") => vec![
            NAME,
            s("Type"),
            s("Cluster-IP"),
            s("External-IP"),
            s("Port(s)"),
            AGE,
            SELECTOR,
        ],
        ("", "Endpoints") => vec![NAME, s("Endpoints"), AGE],
        ("", "Namespace") => vec![NAME, s("Status"), AGE],
        ("", "ConfigMap") => vec![NAME, s("Data"), AGE],
        ("", "Secret") => vec![NAME, s("Type"), s("Data"), AGE],
        ("", "ServiceAccount") => vec![NAME, s("Secrets"), AGE],
        ("", "Node") => vec![
            NAME,
            s("Status"),
            s("Roles"),
            AGE,
            s("Version"),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ],
        ("", "PersistentVolume") => vec![
            NAME,
            s("Capacity"),
            s("Access Modes"),
            s("Reclaim Policy"),
            s("Status"),
            s("Claim"),
            s("StorageClass"),
            s("VolumeAttributesClass"),
            s("Reason"),
            AGE,
            ("VolumeMode", "string", 1),
        ],
        ("", "PersistentVolumeClaim") => vec![
            NAME,
            s("Status"),
            s("Volume"),
            s("Capacity"),
            s("Access Modes"),
            s("StorageClass"),
            s("VolumeAttributesClass"),
            AGE,
            ("VolumeMode", "string", 1),
        ],
        ("", "ResourceQuota") => vec![NAME, s("Request"), s("Limit"), AGE],
        ("", "Event") => vec![
            s("Last Seen"),
            s("Type"),
            s("Reason"),
            s("Object"),
            ("Subobject", "string", 1),
            ("Source", "string", 1),
            s("Message"),
            ("First Seen", "string", 1),
            ("Count", "string", 1),
            ("Name", "string", 1),
        ],
        ("batch", "Job") => vec![
            NAME,
            s("Status"),
            s("Completions"),
            s("Duration"),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
        ("batch", "CronJob") => vec![
            NAME,
            s("Schedule"),
            s("Timezone"),
            b("Suspend"),
            i("Active"),
            s("Last Schedule"),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
        ("networking.k8s.io", "Ingress") => {
            vec![NAME, s("Class"), s("Hosts"), s("Address"), s("Ports"), AGE]
        }
        ("networking.k8s.io", "IngressClass") => vec![NAME, s("Controller"), s("Parameters"), AGE],
        ("networking.k8s.io", "NetworkPolicy") => vec![NAME, s("Pod-Selector"), AGE],
        ("autoscaling", "HorizontalPodAutoscaler") => vec![
            NAME,
            s("Reference"),
            s("Targets"),
            s("MinPods"),
            s("MaxPods"),
            s("Replicas"),
            AGE,
        ],
        ("policy", "PodDisruptionBudget") => vec![
            NAME,
            s("Min Available"),
            s("Max Unavailable"),
            i("Allowed Disruptions"),
            AGE,
        ],
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => vec![
            NAME,
            s("Role"),
            AGE,
            ("Users", "string", 1),
            ("Groups", "string", 1),
            ("ServiceAccounts", "string", 1),
        ],
        ("storage.k8s.io", "StorageClass") => vec![
            NAME,
            s("Provisioner"),
            s("ReclaimPolicy"),
            s("VolumeBindingMode"),
            s("AllowVolumeExpansion"),
            AGE,
        ],
        ("storage.k8s.io", "CSIDriver") => vec![
            NAME,
            b("AttachRequired"),
            b("PodInfoOnMount"),
            b("StorageCapacity"),
            s("TokenRequests"),
            b("RequiresRepublish"),
            s("Modes"),
            AGE,
        ],
        ("storage.k8s.io", "CSINode") => vec![NAME, i("Drivers"), AGE],
        ("storage.k8s.io", "CSIStorageCapacity") => {
            vec![NAME, s("StorageClassName"), s("Capacity")]
        }
        ("storage.k8s.io", "VolumeAttachment") => vec![
            NAME,
            ("Attacher", "string", 0),
            s("PV"),
            s("Node"),
            b("Attached"),
            AGE,
        ],
        ("storage.k8s.io", "VolumeAttributesClass") => vec![NAME, s("DriverName"), AGE],
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
        ) => vec![NAME, i("Webhooks"), AGE],
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => {
            vec![NAME, i("Validations"), s("ParamKind"), AGE]
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding") => {
            vec![NAME, s("PolicyName"), s("ParamRef"), AGE]
        }
        ("apiregistration.k8s.io", "APIService") => {
            vec![NAME, s("Service"), s("Available"), AGE]
        }
        ("scheduling.k8s.io", "PriorityClass") => vec![
            NAME,
            i("Value"),
            b("Global-Default"),
            AGE,
            s("PreemptionPolicy"),
        ],
        ("coordination.k8s.io", "Lease") => vec![NAME, s("Holder"), AGE],
        ("node.k8s.io", "RuntimeClass") => vec![NAME, s("Handler"), AGE],
        ("discovery.k8s.io", "EndpointSlice") => {
            vec![NAME, s("AddressType"), s("Ports"), s("Endpoints"), AGE]
        }
        ("certificates.k8s.io", "CertificateSigningRequest") => vec![
            NAME,
            AGE,
            s("SignerName"),
            s("Requestor"),
            s("RequestedDuration"),
            s("Condition"),
        ],
        _ => return None,
    })
}

/// `a,b` of a pod template's container names and images (`layoutContainerCells`).
fn containers_images(o: &Value, ptr: &str) -> (Value, Value) {
    let cs = array(o, ptr);
    let join = |field: &str| {
        json!(
            cs.iter()
                .map(|c| c.get(field).and_then(Value::as_str).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    (join("name"), join("image"))
}

/// A LabelSelector as `metav1.FormatLabelSelector` prints it.
pub(crate) fn selector_string(sel: Option<&Value>) -> String {
    let Some(sel) = sel else {
        return "<none>".into();
    };
    let mut parts: Vec<(String, String)> = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in m {
            parts.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
        let mut values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let s = match e
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => continue,
        };
        parts.push((key.to_string(), s));
    }
    if parts.is_empty() {
        return "<none>".into();
    }
    // The selector's requirements print sorted by key, as labels.Selector sorts them.
    parts.sort();
    parts
        .into_iter()
        .map(|(_, s)| s)
        .collect::<Vec<_>>()
        .join(",")
}

/// A label map as `labels.FormatLabels` prints it: `k=v,...` sorted, `<none>` when empty.
fn format_labels(o: &Value, ptr: &str) -> String {
    match o.pointer(ptr).and_then(Value::as_object) {
        Some(m) if !m.is_empty() => {
            let mut kv: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            kv.sort();
            kv.join(",")
        }
        _ => "<none>".into(),
    }
}

/// `a,b,c + 2 more...` (`listWithMoreString`), `<unset>` when empty.
fn list_with_more(items: &[String], max: usize) -> String {
    if items.is_empty() {
        return "<unset>".into();
    }
    let shown = items[..items.len().min(max)].join(",");
    if items.len() > max {
        format!("{shown} + {} more...", items.len() - max)
    } else {
        shown
    }
}

/// Access modes as `GetAccessModesAsString` abbreviates them.
fn access_modes(o: &Value, ptr: &str) -> String {
    let modes: Vec<&str> = array(o, ptr).iter().filter_map(Value::as_str).collect();
    let mut out = Vec::new();
    for (full, short) in [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ] {
        if modes.contains(&full) {
            out.push(short);
        }
    }
    out.join(",")
}

fn has_condition(o: &Value, ty: &str) -> bool {
    array(o, "/status/conditions")
        .iter()
        .find(|c| c["type"] == ty)
        .is_some_and(|c| c["status"] == "True")
}

/// The status column of `kubectl get pods`, as printPod works it out.
fn pod_status(o: &Value) -> String {
    let mut reason = opt_text(o, "/status/reason").unwrap_or_else(|| plain(o, "/status/phase"));
    if array(o, "/status/conditions")
        .iter()
        .any(|c| c["type"] == "PodScheduled" && c["reason"] == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }
    let mut has_running = false;
    for s in array(o, "/status/containerStatuses").iter().rev() {
        if let Some(r) = opt_text(s, "/state/waiting/reason") {
            reason = r;
        } else if let Some(r) = opt_text(s, "/state/terminated/reason") {
            reason = r;
        } else if s.pointer("/state/terminated").is_some() {
            reason = match int(s, "/state/terminated/signal") {
                0 => format!("ExitCode:{}", int(s, "/state/terminated/exitCode")),
                sig => format!("Signal:{sig}"),
            };
        } else if s.get("ready") == Some(&json!(true)) && s.pointer("/state/running").is_some() {
            has_running = true;
        }
    }
    if reason == "Completed" && has_running {
        reason = if has_condition(o, "Ready") {
            "Running".into()
        } else {
            "NotReady".into()
        };
    }
    let phase = plain(o, "/status/phase");
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        if o.pointer("/status/reason") == Some(&json!("NodeLost")) {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }
    reason
}

fn pod_cells(o: &Value) -> Vec<Value> {
    let statuses = array(o, "/status/containerStatuses");
    let total = len(o, "/spec/containers");
    let ready = statuses
        .iter()
        .filter(|s| s.get("ready") == Some(&json!(true)) && s.pointer("/state/running").is_some())
        .count();
    let restarts: i64 = statuses.iter().map(|s| int(s, "/restartCount")).sum();
    let last_restart = statuses
        .iter()
        .filter_map(|s| {
            s.pointer("/lastState/terminated/finishedAt")
                .and_then(Value::as_str)
        })
        .max();
    let restarts = match last_restart {
        Some(t) if restarts > 0 => format!("{restarts} ({} ago)", human_age(t)),
        _ => restarts.to_string(),
    };
    let gates = array(o, "/spec/readinessGates");
    let gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conds = array(o, "/status/conditions");
        let ok = gates
            .iter()
            .filter(|g| {
                conds
                    .iter()
                    .find(|c| c["type"] == g["conditionType"])
                    .is_some_and(|c| c["status"] == "True")
            })
            .count();
        format!("{ok}/{}", gates.len())
    };
    vec![
        json!(format!("{ready}/{total}")),
        json!(pod_status(o)),
        json!(restarts),
        age(o),
        json!(text(o, "/status/podIPs/0/ip")),
        json!(text(o, "/spec/nodeName")),
        json!(text(o, "/status/nominatedNodeName")),
        json!(gates),
    ]
}

/// Load balancer ingress IPs or hostnames, sorted and deduplicated (`loadBalancerStatusStringer`).
fn lb_ingress(o: &Value) -> Vec<String> {
    let mut out: Vec<String> = array(o, "/status/loadBalancer/ingress")
        .iter()
        .filter_map(|i| opt_text(i, "/ip").or_else(|| opt_text(i, "/hostname")))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn service_cells(o: &Value) -> Vec<Value> {
    let ports: Vec<String> = array(o, "/spec/ports")
        .iter()
        .map(|p| match int(p, "/nodePort") {
            0 => format!("{}/{}", int(p, "/port"), plain(p, "/protocol")),
            np => format!("{}:{np}/{}", int(p, "/port"), plain(p, "/protocol")),
        })
        .collect();
    let external_ips: Vec<String> = array(o, "/spec/externalIPs")
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    let ty = plain(o, "/spec/type");
    let external = match ty.as_str() {
        "ClusterIP" | "NodePort" if !external_ips.is_empty() => external_ips.join(","),
        "ClusterIP" | "NodePort" => "<none>".into(),
        "LoadBalancer" => {
            let mut all = lb_ingress(o);
            all.extend(external_ips);
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => plain(o, "/spec/externalName"),
        _ => "<unknown>".into(),
    };
    vec![
        json!(ty),
        json!(text(o, "/spec/clusterIPs/0")),
        json!(external),
        json!(if ports.is_empty() {
            "<none>".to_string()
        } else {
            ports.join(",")
        }),
        age(o),
        json!(format_labels(o, "/spec/selector")),
    ]
}

fn event_cells(o: &Value) -> Vec<Value> {
    let first = opt_text(o, "/firstTimestamp")
        .or_else(|| opt_text(o, "/eventTime"))
        .map_or_else(|| "<unknown>".to_string(), |t| human_age(&t));
    let mut last = opt_text(o, "/lastTimestamp").map_or_else(|| first.clone(), |t| human_age(&t));
    let mut count = int(o, "/count");
    if o.get("series").is_some_and(Value::is_object) {
        last = opt_text(o, "/series/lastObservedTime")
            .map_or_else(|| "<unknown>".to_string(), |t| human_age(&t));
        count = int(o, "/series/count");
    } else if count == 0 {
        count = 1;
    }
    let kind = plain(o, "/involvedObject/kind").to_ascii_lowercase();
    let target = match opt_text(o, "/involvedObject/name") {
        Some(n) => format!("{kind}/{n}"),
        None => kind,
    };
    let component =
        opt_text(o, "/source/component").unwrap_or_else(|| plain(o, "/reportingComponent"));
    let instance = opt_text(o, "/source/host").unwrap_or_else(|| plain(o, "/reportingInstance"));
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last),
        json!(plain(o, "/type")),
        json!(plain(o, "/reason")),
        json!(target),
        json!(plain(o, "/involvedObject/fieldPath")),
        json!(source),
        json!(plain(o, "/message").trim()),
        json!(first),
        json!(count),
        json!(plain(o, "/metadata/name")),
    ]
}

fn job_cells(o: &Value) -> Vec<Value> {
    let completions = match o.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(c) => format!("{}/{c}", int(o, "/status/succeeded")),
        None => match int(o, "/spec/parallelism") {
            p if p > 1 => format!("{}/1 of {p}", int(o, "/status/succeeded")),
            _ => format!("{}/1", int(o, "/status/succeeded")),
        },
    };
    let start = opt_text(o, "/status/startTime").and_then(|s| parse_time(&s));
    let end = opt_text(o, "/status/completionTime").and_then(|s| parse_time(&s));
    let duration = match (start, end) {
        (None, _) => String::new(),
        (Some(s), None) => human_duration((OffsetDateTime::now_utc() - s).whole_seconds()),
        (Some(s), Some(e)) => human_duration((e - s).whole_seconds()),
    };
    let status = if has_condition(o, "Complete") {
        "Complete"
    } else if has_condition(o, "Failed") {
        "Failed"
    } else if o.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else if has_condition(o, "Suspended") {
        "Suspended"
    } else if has_condition(o, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (c, i) = containers_images(o, "/spec/template/spec/containers");
    vec![
        json!(status),
        json!(completions),
        json!(duration),
        age(o),
        c,
        i,
        json!(selector_string(o.pointer("/spec/selector"))),
    ]
}

/// The HPA's TARGETS column (`formatHPAMetrics`): current/target per metric, two at most.
fn hpa_targets(o: &Value) -> String {
    let specs = array(o, "/spec/metrics");
    if specs.is_empty() {
        return "<none>".into();
    }
    let statuses = array(o, "/status/currentMetrics");
    let q = |v: Option<&Value>| -> Option<String> {
        v.and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let unknown = || "<unknown>".to_string();
    let mut list = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status = statuses.get(i);
        let ty = spec.get("type").and_then(Value::as_str).unwrap_or_default();
        let key = match ty {
            "External" => "external",
            "Pods" => "pods",
            "Object" => "object",
            "Resource" => "resource",
            "ContainerResource" => "containerResource",
            _ => {
                list.push("<unknown type>".to_string());
                continue;
            }
        };
        let target = spec.pointer(&format!("/{key}/target"));
        let current = status.and_then(|s| s.pointer(&format!("/{key}/current")));
        let tq = |f: &str| q(target.and_then(|t| t.get(f)));
        let cq = |f: &str| q(current.and_then(|c| c.get(f)));
        let entry = match ty {
            "Resource" | "ContainerResource" => {
                let name = spec
                    .pointer(&format!("/{key}/name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if let Some(avg) = tq("averageValue") {
                    format!(
                        "{name}: {}/{avg}",
                        cq("averageValue").unwrap_or_else(unknown)
                    )
                } else {
                    let cur = cq("averageUtilization").map_or_else(unknown, |u| format!("{u}%"));
                    let tgt = tq("averageUtilization")
                        .map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
                    format!("{name}: {cur}/{tgt}")
                }
            }
            "Pods" => format!(
                "{}/{}",
                cq("averageValue").unwrap_or_else(unknown),
                tq("averageValue").unwrap_or_default()
            ),
            _ => match tq("averageValue") {
                Some(avg) => format!("{}/{avg} (avg)", cq("averageValue").unwrap_or_else(unknown)),
                None => format!(
                    "{}/{}",
                    cq("value").unwrap_or_else(unknown),
                    tq("value").unwrap_or_default()
                ),
            },
        };
        list.push(entry);
    }
    if list.len() > 2 {
        let more = list.len() - 2;
        format!("{} + {more} more...", list[..2].join(", "))
    } else {
        list.join(", ")
    }
}

/// A PDB's minAvailable/maxUnavailable (an IntOrString) or N/A.
fn int_or_string(o: &Value, ptr: &str) -> String {
    match o.pointer(ptr) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "N/A".into(),
    }
}

/// The Users, Groups and ServiceAccounts of a binding's subjects (`rbac.SubjectsStrings`).
fn subjects(o: &Value) -> [String; 3] {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for s in array(o, "/subjects") {
        let name = plain(s, "/name");
        match s.get("kind").and_then(Value::as_str) {
            Some("User") => users.push(name),
            Some("Group") => groups.push(name),
            Some("ServiceAccount") => sas.push(match opt_text(s, "/namespace") {
                Some(ns) => format!("{ns}/{name}"),
                None => name,
            }),
            _ => {}
        }
    }
    [users.join(", "), groups.join(", "), sas.join(", ")]
}

/// The Endpoints column: `ip:port` per address and port, three at most (`formatEndpoints`).
fn endpoints(o: &Value) -> String {
    let subsets = array(o, "/subsets");
    if subsets.is_empty() {
        return "<none>".into();
    }
    let mut list = Vec::new();
    for ss in subsets {
        let addrs: Vec<String> = array(ss, "/addresses")
            .iter()
            .map(|a| plain(a, "/ip"))
            .collect();
        let ports = array(ss, "/ports");
        if ports.is_empty() {
            list.extend(addrs);
            continue;
        }
        for p in ports {
            for a in &addrs {
                let host = if a.contains(':') {
                    format!("[{a}]")
                } else {
                    a.clone()
                };
                list.push(format!("{host}:{}", int(p, "/port")));
            }
        }
    }
    if list.len() > 3 {
        format!("{} + {} more...", list[..3].join(","), list.len() - 3)
    } else {
        list.join(",")
    }
}

/// An object's controller as `kind.group/name` (a ControllerRevision's CONTROLLER).
fn controller_of(o: &Value) -> String {
    array(o, "/metadata/ownerReferences")
        .iter()
        .find(|r| r.get("controller") == Some(&json!(true)))
        .map_or_else(
            || "<none>".to_string(),
            |r| {
                let group = plain(r, "/apiVersion")
                    .rsplit_once('/')
                    .map(|(g, _)| g.to_string())
                    .unwrap_or_default();
                let kind = plain(r, "/kind");
                let gk = if group.is_empty() {
                    kind
                } else {
                    format!("{kind}.{group}")
                };
                format!("{}/{}", gk.to_ascii_lowercase(), plain(r, "/name"))
            },
        )
}

fn is_default_class(o: &Value, annotations: &[&str]) -> bool {
    annotations.iter().any(|a| {
        o.pointer("/metadata/annotations")
            .and_then(|m| m.get(*a))
            .and_then(Value::as_str)
            == Some("true")
    })
}

/// The REQUEST and LIMIT columns of a ResourceQuota: `name: used/hard` from its status.
fn quota_columns(o: &Value) -> (String, String) {
    let hard = o.pointer("/status/hard").and_then(Value::as_object);
    let mut names: Vec<&String> = hard.map(|h| h.keys().collect()).unwrap_or_default();
    names.sort();
    let (mut req, mut lim) = (Vec::new(), Vec::new());
    for n in names {
        let q = |ptr: String| -> String {
            match o.pointer(&ptr) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => "0".into(),
            }
        };
        let esc = n.replace('~', "~0").replace('/', "~1");
        let cell = format!(
            "{n}: {}/{}",
            q(format!("/status/used/{esc}")),
            q(format!("/status/hard/{esc}"))
        );
        if n.split('.').next() == Some("limits") && n.contains('.') {
            lim.push(cell);
        } else {
            req.push(cell);
        }
    }
    (req.join(", "), lim.join(", "))
}

fn node_cells(o: &Value) -> Vec<Value> {
    let mut status: Vec<String> = array(o, "/status/conditions")
        .iter()
        .filter(|c| c["type"] == "Ready")
        .take(1)
        .map(|c| {
            if c["status"] == "True" {
                "Ready".to_string()
            } else {
                "NotReady".to_string()
            }
        })
        .collect();
    if status.is_empty() {
        status.push("Unknown".into());
    }
    if o.pointer("/spec/unschedulable") == Some(&json!(true)) {
        status.push("SchedulingDisabled".into());
    }
    let mut roles: Vec<String> = o
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                        (!r.is_empty()).then(|| r.to_string())
                    } else if k == "kubernetes.io/role" {
                        v.as_str().filter(|s| !s.is_empty()).map(String::from)
                    } else {
                        None
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    roles.dedup();
    let addr = |ty: &str| {
        array(o, "/status/addresses")
            .iter()
            .find(|x| x["type"] == ty)
            .map_or_else(|| "<none>".to_string(), |x| plain(x, "/address"))
    };
    vec![
        json!(status.join(",")),
        json!(if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles.join(",")
        }),
        age(o),
        json!(plain(o, "/status/nodeInfo/kubeletVersion")),
        json!(addr("InternalIP")),
        json!(addr("ExternalIP")),
        json!(text_or(o, "/status/nodeInfo/osImage", "<unknown>")),
        json!(text_or(o, "/status/nodeInfo/kernelVersion", "<unknown>")),
        json!(text_or(
            o,
            "/status/nodeInfo/containerRuntimeVersion",
            "<unknown>"
        )),
    ]
}

/// The cells after NAME of a built-in kind with a printer.
fn builtin_cells(t: &ResourceType, o: &Value) -> Vec<Value> {
    let tpl = "/spec/template/spec/containers";
    let sel = || json!(selector_string(o.pointer("/spec/selector")));
    match (t.group.as_str(), t.kind.as_str()) {
        ("apps", "Deployment") => {
            let (c, i) = containers_images(o, tpl);
            vec![
                json!(format!(
                    "{}/{}",
                    int(o, "/status/readyReplicas"),
                    int(o, "/spec/replicas")
                )),
                json!(int(o, "/status/updatedReplicas")),
                json!(int(o, "/status/availableReplicas")),
                age(o),
                c,
                i,
                sel(),
            ]
        }
        ("apps", "ReplicaSet") | ("", "ReplicationController") => {
            let (c, i) = containers_images(o, tpl);
            let selector = if t.kind == "ReplicaSet" {
                sel()
            } else {
                json!(format_labels(o, "/spec/selector"))
            };
            vec![
                json!(int(o, "/spec/replicas")),
                json!(int(o, "/status/replicas")),
                json!(int(o, "/status/readyReplicas")),
                age(o),
                c,
                i,
                selector,
            ]
        }
        ("apps", "StatefulSet") => {
            let (c, i) = containers_images(o, tpl);
            vec![
                json!(format!(
                    "{}/{}",
                    int(o, "/status/readyReplicas"),
                    int(o, "/spec/replicas")
                )),
                age(o),
                c,
                i,
            ]
        }
        ("apps", "DaemonSet") => {
            let (c, i) = containers_images(o, tpl);
            vec![
                json!(int(o, "/status/desiredNumberScheduled")),
                json!(int(o, "/status/currentNumberScheduled")),
                json!(int(o, "/status/numberReady")),
                json!(int(o, "/status/updatedNumberScheduled")),
                json!(int(o, "/status/numberAvailable")),
                json!(format_labels(o, "/spec/template/spec/nodeSelector")),
                age(o),
                c,
                i,
                sel(),
            ]
        }
        ("apps", "ControllerRevision") => {
            vec![json!(controller_of(o)), json!(int(o, "/revision")), age(o)]
        }
        ("", "Pod") => pod_cells(o),
        ("", "PodTemplate") => {
            let (c, i) = containers_images(o, "/template/spec/containers");
            vec![c, i, json!(format_labels(o, "/template/metadata/labels"))]
        }
        ("", "Service") => service_cells(o),
        ("", "Endpoints") => vec![json!(endpoints(o)), age(o)],
        ("", "Namespace") => vec![json!(plain(o, "/status/phase")), age(o)],
        ("", "ConfigMap") => vec![json!(len(o, "/data") + len(o, "/binaryData")), age(o)],
        ("", "Secret") => vec![json!(plain(o, "/type")), json!(len(o, "/data")), age(o)],
        ("", "ServiceAccount") => vec![json!(len(o, "/secrets")), age(o)],
        ("", "Node") => node_cells(o),
        ("", "PersistentVolume") => {
            let claim = match o.pointer("/spec/claimRef") {
                Some(r) if r.is_object() => {
                    format!("{}/{}", plain(r, "/namespace"), plain(r, "/name"))
                }
                _ => String::new(),
            };
            let phase = if o.pointer("/metadata/deletionTimestamp").is_some() {
                "Terminating".to_string()
            } else {
                plain(o, "/status/phase")
            };
            let class = opt_text(
                o,
                "/metadata/annotations/volume.beta.kubernetes.io~1storage-class",
            )
            .unwrap_or_else(|| plain(o, "/spec/storageClassName"));
            vec![
                json!(plain(o, "/spec/capacity/storage")),
                json!(access_modes(o, "/spec/accessModes")),
                json!(plain(o, "/spec/persistentVolumeReclaimPolicy")),
                json!(phase),
                json!(claim),
                json!(class),
                json!(text_or(o, "/spec/volumeAttributesClassName", "<unset>")),
                json!(plain(o, "/status/reason")),
                age(o),
                json!(text_or(o, "/spec/volumeMode", "<unset>")),
            ]
        }
        ("", "PersistentVolumeClaim") => {
            let phase = if o.pointer("/metadata/deletionTimestamp").is_some() {
                "Terminating".to_string()
            } else {
                plain(o, "/status/phase")
            };
            let bound = opt_text(o, "/spec/volumeName").is_some();
            let class = opt_text(
                o,
                "/metadata/annotations/volume.beta.kubernetes.io~1storage-class",
            )
            .unwrap_or_else(|| plain(o, "/spec/storageClassName"));
            vec![
                json!(phase),
                json!(plain(o, "/spec/volumeName")),
                json!(if bound {
                    plain(o, "/status/capacity/storage")
                } else {
                    String::new()
                }),
                json!(if bound {
                    access_modes(o, "/status/accessModes")
                } else {
                    String::new()
                }),
                json!(class),
                json!(text_or(o, "/spec/volumeAttributesClassName", "<unset>")),
                age(o),
                json!(text_or(o, "/spec/volumeMode", "<unset>")),
            ]
        }
        ("", "ResourceQuota") => {
            let (req, lim) = quota_columns(o);
            vec![json!(req), json!(lim), age(o)]
        }
        ("batch", "Job") => job_cells(o),
        ("batch", "CronJob") => {
            let (c, i) = containers_images(o, "/spec/jobTemplate/spec/template/spec/containers");
            vec![
                json!(plain(o, "/spec/schedule")),
                json!(text(o, "/spec/timeZone")),
                json!(bool_ptr(o, "/spec/suspend")),
                json!(len(o, "/status/active")),
                json!(
                    opt_text(o, "/status/lastScheduleTime")
                        .map_or_else(|| "<none>".to_string(), |t| human_age(&t))
                ),
                age(o),
                c,
                i,
                json!(selector_string(
                    o.pointer("/spec/jobTemplate/spec/selector")
                )),
            ]
        }
        ("networking.k8s.io", "Ingress") => {
            let rules = array(o, "/spec/rules");
            let hosts: Vec<String> = rules.iter().filter_map(|r| opt_text(r, "/host")).collect();
            let hosts = if hosts.is_empty() {
                "*".to_string()
            } else if rules.len() > 3 && hosts.len() >= 3 {
                format!("{} + {} more...", hosts[..3].join(","), rules.len() - 3)
            } else {
                hosts.join(",")
            };
            let ports = if array(o, "/spec/tls").is_empty() {
                "80"
            } else {
                "80, 443"
            };
            vec![
                json!(text(o, "/spec/ingressClassName")),
                json!(hosts),
                json!(lb_ingress(o).join(",")),
                json!(ports),
                age(o),
            ]
        }
        ("networking.k8s.io", "IngressClass") => {
            let params = match o.pointer("/spec/parameters") {
                Some(p) if p.is_object() => {
                    let kind = match opt_text(p, "/apiGroup") {
                        Some(g) => format!("{}.{g}", plain(p, "/kind")),
                        None => plain(p, "/kind"),
                    };
                    format!("{kind}/{}", plain(p, "/name"))
                }
                _ => "<none>".into(),
            };
            vec![json!(plain(o, "/spec/controller")), json!(params), age(o)]
        }
        ("networking.k8s.io", "NetworkPolicy") => vec![
            json!(selector_string(o.pointer("/spec/podSelector"))),
            age(o),
        ],
        ("autoscaling", "HorizontalPodAutoscaler") => vec![
            json!(format!(
                "{}/{}",
                plain(o, "/spec/scaleTargetRef/kind"),
                plain(o, "/spec/scaleTargetRef/name")
            )),
            json!(hpa_targets(o)),
            json!(
                o.pointer("/spec/minReplicas")
                    .and_then(Value::as_i64)
                    .map_or_else(|| "<unset>".to_string(), |n| n.to_string())
            ),
            json!(int(o, "/spec/maxReplicas")),
            json!(int(o, "/status/currentReplicas")),
            age(o),
        ],
        ("policy", "PodDisruptionBudget") => vec![
            json!(int_or_string(o, "/spec/minAvailable")),
            json!(int_or_string(o, "/spec/maxUnavailable")),
            json!(int(o, "/status/disruptionsAllowed")),
            age(o),
        ],
        ("rbac.authorization.k8s.io", _) => {
            let [users, groups, sas] = subjects(o);
            vec![
                json!(format!(
                    "{}/{}",
                    plain(o, "/roleRef/kind"),
                    plain(o, "/roleRef/name")
                )),
                age(o),
                json!(users),
                json!(groups),
                json!(sas),
            ]
        }
        ("storage.k8s.io", "StorageClass") => vec![
            json!(plain(o, "/provisioner")),
            json!(text_or(o, "/reclaimPolicy", "Delete")),
            json!(text_or(o, "/volumeBindingMode", "Immediate")),
            json!(
                o.get("allowVolumeExpansion")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            ),
            age(o),
        ],
        ("storage.k8s.io", "CSIDriver") => {
            let b = |f: &str, d: bool| json!(o.pointer(f).and_then(Value::as_bool).unwrap_or(d));
            let tokens = match o.pointer("/spec/tokenRequests").and_then(Value::as_array) {
                Some(ts) => ts
                    .iter()
                    .map(|t| plain(t, "/audience"))
                    .collect::<Vec<_>>()
                    .join(","),
                None => "<unset>".into(),
            };
            let modes: Vec<&str> = array(o, "/spec/volumeLifecycleModes")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            vec![
                b("/spec/attachRequired", true),
                b("/spec/podInfoOnMount", false),
                b("/spec/storageCapacity", false),
                json!(tokens),
                b("/spec/requiresRepublish", false),
                json!(if modes.is_empty() {
                    "<none>".to_string()
                } else {
                    modes.join(",")
                }),
                age(o),
            ]
        }
        ("storage.k8s.io", "CSINode") => vec![json!(len(o, "/spec/drivers")), age(o)],
        ("storage.k8s.io", "CSIStorageCapacity") => vec![
            json!(plain(o, "/storageClassName")),
            json!(text_or(o, "/capacity", "<unset>")),
        ],
        ("storage.k8s.io", "VolumeAttachment") => vec![
            json!(plain(o, "/spec/attacher")),
            json!(plain(o, "/spec/source/persistentVolumeName")),
            json!(plain(o, "/spec/nodeName")),
            json!(
                o.pointer("/status/attached")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            ),
            age(o),
        ],
        ("storage.k8s.io", "VolumeAttributesClass") => vec![json!(plain(o, "/driverName")), age(o)],
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => {
            let pk = match o.pointer("/spec/paramKind") {
                Some(p) if p.is_object() => {
                    format!("{}/{}", plain(p, "/apiVersion"), plain(p, "/kind"))
                }
                _ => "<unset>".into(),
            };
            vec![json!(len(o, "/spec/validations")), json!(pk), age(o)]
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding") => {
            let pr = match o.pointer("/spec/paramRef") {
                Some(p) if p.is_object() => match (opt_text(p, "/name"), opt_text(p, "/namespace"))
                {
                    (Some(n), Some(ns)) => format!("{ns}/{n}"),
                    (Some(n), None) => format!("*/{n}"),
                    (None, _) if p.get("selector").is_some() => selector_string(p.get("selector")),
                    _ => "<unset>".into(),
                },
                _ => "<unset>".into(),
            };
            vec![json!(plain(o, "/spec/policyName")), json!(pr), age(o)]
        }
        ("admissionregistration.k8s.io", _) => vec![json!(len(o, "/webhooks")), age(o)],
        ("apiregistration.k8s.io", "APIService") => {
            let service = match o.pointer("/spec/service") {
                Some(s) if s.is_object() => {
                    format!("{}/{}", plain(s, "/namespace"), plain(s, "/name"))
                }
                _ => "Local".into(),
            };
            let available = array(o, "/status/conditions")
                .iter()
                .find(|c| c["type"] == "Available")
                .map_or_else(
                    || "Unknown".to_string(),
                    |c| {
                        if c["status"] == "True" {
                            "True".to_string()
                        } else {
                            format!("{} ({})", plain(c, "/status"), plain(c, "/reason"))
                        }
                    },
                );
            vec![json!(service), json!(available), age(o)]
        }
        ("scheduling.k8s.io", "PriorityClass") => vec![
            json!(int(o, "/value")),
            json!(
                o.get("globalDefault")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            ),
            age(o),
            json!(plain(o, "/preemptionPolicy")),
        ],
        ("coordination.k8s.io", "Lease") => vec![json!(plain(o, "/spec/holderIdentity")), age(o)],
        ("node.k8s.io", "RuntimeClass") => vec![json!(plain(o, "/handler")), age(o)],
        ("discovery.k8s.io", "EndpointSlice") => {
            let ports: Vec<String> = array(o, "/ports")
                .iter()
                .map(|p| match p.get("port").and_then(Value::as_i64) {
                    Some(n) => n.to_string(),
                    None => text_or(p, "/name", "*"),
                })
                .collect();
            let addrs: Vec<String> = array(o, "/endpoints")
                .iter()
                .flat_map(|e| {
                    array(e, "/addresses")
                        .iter()
                        .filter_map(|a| a.as_str().map(String::from))
                })
                .collect();
            vec![
                json!(plain(o, "/addressType")),
                json!(list_with_more(&ports, 3)),
                json!(list_with_more(&addrs, 3)),
                age(o),
            ]
        }
        ("certificates.k8s.io", "CertificateSigningRequest") => {
            let conds = array(o, "/status/conditions");
            let has = |ty: &str| conds.iter().any(|c| c["type"] == ty);
            let mut status = if has("Denied") {
                "Denied".to_string()
            } else if has("Approved") {
                "Approved".to_string()
            } else {
                "Pending".to_string()
            };
            if has("Failed") {
                status.push_str(",Failed");
            }
            if opt_text(o, "/status/certificate").is_some() {
                status.push_str(",Issued");
            }
            vec![
                age(o),
                json!(text(o, "/spec/signerName")),
                json!(plain(o, "/spec/username")),
                json!(
                    o.pointer("/spec/expirationSeconds")
                        .and_then(Value::as_i64)
                        .map_or_else(|| "<none>".to_string(), human_duration)
                ),
                json!(status),
            ]
        }
        _ => vec![age(o)],
    }
}

/// A custom resource's column from its CRD's `additionalPrinterColumns`.
struct CrdColumn {
    name: String,
    ty: String,
    format: String,
    description: String,
    priority: i64,
    path: String,
}

fn crd_columns(t: &ResourceType, version: &str) -> Vec<CrdColumn> {
    let cols = t
        .printer_columns
        .iter()
        .find(|(v, _)| v == version)
        .map(|(_, c)| c.as_slice())
        .unwrap_or_default();
    if cols.is_empty() {
        // A CRD without columns gets the defaulted Age column.
        return vec![CrdColumn {
            name: "Age".into(),
            ty: "date".into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            path: ".metadata.creationTimestamp".into(),
        }];
    }
    cols.iter()
        .map(|c| CrdColumn {
            name: plain(c, "/name"),
            ty: plain(c, "/type"),
            format: plain(c, "/format"),
            description: plain(c, "/description"),
            priority: int(c, "/priority"),
            path: plain(c, "/jsonPath"),
        })
        .collect()
}

/// The value at a simple JSONPath (`.a.b`, `.a[0]`, `.a[?(@.k=="v")].b`), the only kind a CRD's
/// printer columns may use.
fn json_path<'a>(o: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut cur = o;
    let mut rest = path.trim_start_matches('$');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            cur = cur.get(&r[..end])?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            rest = &r[end + 1..];
            if let Some(filter) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (field, want) = filter.split_once("==")?;
                let want = want.trim().trim_matches(|c| c == '"' || c == '\'');
                cur = cur.as_array()?.iter().find(|item| {
                    item.pointer(&format!("/{}", field.trim().replace('.', "/")))
                        .is_some_and(|v| match v {
                            Value::String(s) => s == want,
                            other => serde_json::from_str::<Value>(want).is_ok_and(|w| &w == other),
                        })
                })?;
            } else {
                cur = cur.get(inner.parse::<usize>().ok()?)?;
            }
        } else {
            return None;
        }
    }
    Some(cur)
}

/// A cell of a custom resource's column, as the CRD table convertor types it.
fn crd_cell(col: &CrdColumn, o: &Value) -> Value {
    let Some(v) = json_path(o, &col.path) else {
        return Value::Null;
    };
    match col.ty.as_str() {
        "string" => match v {
            Value::String(s) => json!(s),
            Value::Null => Value::Null,
            other => json!(other.to_string()),
        },
        "integer" => v.as_i64().map_or(Value::Null, |n| json!(n)),
        "number" => v.as_f64().map_or(Value::Null, |n| json!(n)),
        "boolean" => v.as_bool().map_or(Value::Null, |b| json!(b)),
        "date" => match v.as_str() {
            Some(s) if parse_time(s).is_some() => json!(human_age(s)),
            Some(_) => json!("<invalid>"),
            None => Value::Null,
        },
        _ => Value::Null,
    }
}

fn name_of(o: &Value) -> String {
    plain(o, "/metadata/name")
}

/// A `meta.k8s.io/v1` Table of the given objects.
pub(crate) fn table(
    t: &ResourceType,
    version: &str,
    objects: &[&Value],
    list_meta: Value,
    include: &str,
) -> Value {
    let def = |name: &str, ty: &str, format: &str, priority: i64, description: &str| json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority});
    let name_col = def(
        "Name",
        "string",
        "name",
        0,
        "Name must be unique within a namespace.",
    );
    let (defs, rows): (Vec<Value>, Vec<Vec<Value>>) = if !t.builtin {
        let cols = crd_columns(t, version);
        let mut defs = vec![name_col];
        defs.extend(
            cols.iter()
                .map(|c| def(&c.name, &c.ty, &c.format, c.priority, &c.description)),
        );
        let rows = objects
            .iter()
            .map(|o| {
                let mut row = vec![json!(name_of(o))];
                row.extend(cols.iter().map(|c| crd_cell(c, o)));
                row
            })
            .collect();
        (defs, rows)
    } else if let Some(cols) = columns(t) {
        let defs = cols
            .iter()
            .map(|(name, ty, priority)| {
                let format = if *name == "Name" { "name" } else { "" };
                def(name, ty, format, i64::from(*priority), "")
            })
            .collect();
        let rows = objects
            .iter()
            .map(|o| {
                if t.kind == "Event" && t.group.is_empty() {
                    // An Event's row starts with Last Seen; its name is the last column.
                    return event_cells(o);
                }
                let mut name = name_of(o);
                let default_annotations: &[&str] = match t.kind.as_str() {
                    "StorageClass" => &[
                        "storageclass.kubernetes.io/is-default-class",
                        "storageclass.beta.kubernetes.io/is-default-class",
                    ],
                    "VolumeAttributesClass" => &["storage.kubernetes.io/is-default-class"],
                    _ => &[],
                };
                if is_default_class(o, default_annotations) {
                    name.push_str(" (default)");
                }
                let mut row = vec![json!(name)];
                row.extend(builtin_cells(t, o));
                row
            })
            .collect();
        (defs, rows)
    } else {
        // The kinds without a printer get the default table convertor's columns.
        let defs = vec![
            name_col,
            def(
                "Created At",
                "date",
                "",
                0,
                "CreationTimestamp is a timestamp representing the server time when this object was created.",
            ),
        ];
        let rows = objects
            .iter()
            .map(|o| {
                vec![
                    json!(name_of(o)),
                    json!(plain(o, "/metadata/creationTimestamp")),
                ]
            })
            .collect();
        (defs, rows)
    };
    let rows: Vec<Value> = objects
        .iter()
        .zip(rows)
        .map(|(o, cells)| {
            let object = match include {
                "None" => Value::Null,
                "Object" => (*o).clone(),
                _ => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or(json!({}))}),
            };
            json!({"cells": cells, "object": object})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_print_as_label_selectors_do() {
        let sel = json!({"matchLabels": {"tier": "web", "app": "a"}, "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "dev"]}, {"key": "gone", "operator": "DoesNotExist"}]});
        assert_eq!(
            selector_string(Some(&sel)),
            "app=a,env in (dev,prod),!gone,tier=web"
        );
        assert_eq!(selector_string(None), "<none>");
    }

    #[test]
    fn durations_print_as_human_durations() {
        assert_eq!(human_duration(42), "42s");
        assert_eq!(human_duration(310), "5m10s");
        assert_eq!(human_duration(3 * 3600 + 5), "3h");
        assert_eq!(human_duration(300), "5m");
        assert_eq!(human_duration(-5), "<invalid>");
        assert_eq!(human_duration(50 * 3600), "2d2h");
        assert_eq!(human_duration(400 * 86400), "400d");
        assert_eq!(human_duration(800 * 86400), "2y70d");
    }

    #[test]
    fn json_paths_of_printer_columns() {
        let o = json!({"spec": {"replicas": 3}, "status": {"conditions": [
            {"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        assert_eq!(json_path(&o, ".spec.replicas"), Some(&json!(3)));
        assert_eq!(
            json_path(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(&json!("True"))
        );
        assert_eq!(
            json_path(&o, ".status.conditions[0].type"),
            Some(&json!("Synced"))
        );
        assert_eq!(json_path(&o, ".spec.missing"), None);
    }
}
