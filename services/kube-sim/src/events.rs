//! Events (`v1` Event objects) the simulated controllers, scheduler and kubelet record, as theirs
//! do on a real cluster: `kubectl get events` and `kubectl describe` show them. A repeat of the
//! same event (same object, reason, message and source) bumps `count` and `lastTimestamp`.

use serde_json::{Value, json};

use crate::fieldpath::Scope;
use crate::server::{Op, WriteOpts, now, write};
use crate::store::{Inner, name_of, namespace_of, uid_of};

/// Who records an event: the component (and host, for the kubelet), and the field manager its
/// writes are recorded under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source {
    pub component: &'static str,
    pub host: Option<&'static str>,
    pub manager: &'static str,
}

pub(crate) const DEPLOYMENT_CONTROLLER: Source = Source {
    component: "deployment-controller",
    host: None,
    manager: "kube-controller-manager",
};
pub(crate) const REPLICASET_CONTROLLER: Source = Source {
    component: "replicaset-controller",
    host: None,
    manager: "kube-controller-manager",
};
pub(crate) const SCHEDULER: Source = Source {
    component: "default-scheduler",
    host: None,
    manager: "kube-scheduler",
};
pub(crate) const KUBELET: Source = Source {
    component: "kubelet",
    host: Some(crate::controllers::NODE),
    manager: "kubelet",
};

/// One event about `object`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event<'a> {
    pub warning: bool,
    pub reason: &'a str,
    pub message: &'a str,
    /// The part of the object it is about, such as `spec.containers{web}`.
    pub field_path: Option<&'a str>,
}

impl<'a> Event<'a> {
    pub fn normal(reason: &'a str, message: &'a str) -> Self {
        Event {
            warning: false,
            reason,
            message,
            field_path: None,
        }
    }

    pub fn warning(reason: &'a str, message: &'a str) -> Self {
        Event {
            warning: true,
            ..Self::normal(reason, message)
        }
    }

    pub fn on(self, field_path: &'a str) -> Self {
        Event {
            field_path: Some(field_path),
            ..self
        }
    }
}

/// Records `ev` about `object` (which must carry apiVersion and kind).
pub(crate) fn record(inner: &mut Inner, object: &Value, source: Source, ev: Event<'_>) {
    let Some(rt) = inner.registry.by_kind("", "Event").cloned() else {
        return;
    };
    let ns = match namespace_of(object) {
        "" => "default".to_string(),
        ns => ns.to_string(),
    };
    let now = now();
    let same = inner.list(&rt.key(), Some(&ns)).into_iter().find(|e| {
        e.pointer("/involvedObject/uid").and_then(Value::as_str) == Some(uid_of(object))
            && e.get("reason").and_then(Value::as_str) == Some(ev.reason)
            && e.get("message").and_then(Value::as_str) == Some(ev.message)
            && e.pointer("/source/component").and_then(Value::as_str) == Some(source.component)
            && e.pointer("/involvedObject/fieldPath")
                .and_then(Value::as_str)
                == ev.field_path
    });
    let opts = WriteOpts {
        manager: source.manager,
        op: Op::Update,
        scope: Scope::Main,
        dry_run: false,
    };
    if let Some(old) = same {
        let mut e = (*old).clone();
        e["count"] = json!(e.get("count").and_then(Value::as_i64).unwrap_or(1) + 1);
        e["lastTimestamp"] = json!(now);
        let _ = write(inner, &rt, "v1", Some(&old), e, opts);
        return;
    }
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    let mut involved = json!({
        "kind": object.get("kind").cloned().unwrap_or_default(),
        "name": name_of(object),
        "uid": uid_of(object),
        "apiVersion": object.get("apiVersion").cloned().unwrap_or_default(),
        "resourceVersion": object.pointer("/metadata/resourceVersion").cloned().unwrap_or_default(),
    });
    if !namespace_of(object).is_empty() {
        involved["namespace"] = json!(namespace_of(object));
    }
    if let Some(fp) = ev.field_path {
        involved["fieldPath"] = json!(fp);
    }
    let mut src = json!({"component": source.component});
    if let Some(h) = source.host {
        src["host"] = json!(h);
    }
    let e = json!({
        "metadata": {"name": format!("{}.{nanos:x}", name_of(object)), "namespace": ns},
        "involvedObject": involved,
        "reason": ev.reason,
        "message": ev.message,
        "source": src,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": if ev.warning { "Warning" } else { "Normal" },
        "reportingComponent": source.component,
        "reportingInstance": source.host.unwrap_or_default(),
    });
    let opts = WriteOpts {
        op: Op::Create,
        ..opts
    };
    if let Err(e) = write(inner, &rt, "v1", None, e, opts) {
        tracing::warn!(reason = ev.reason, error = %e.message, "recording an event failed");
    }
}
