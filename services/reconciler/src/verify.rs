//! Health of an applied set until `healthTimeout`: workloads rolled out, Jobs complete, PVCs
//! bound, everything else present; and failing fast when a pod of the new rollout is in
//! CrashLoopBackOff, ImagePullBackOff or ErrImagePull, instead of waiting out the deadline.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::apply::{Applied, ApplyError, Cluster};
use gantry_proto::v1::{Outcome, Phase};

use crate::error::Stop;
use crate::reconcile::{Reconciler, Run};
use crate::report::State as CommitState;

/// Container waiting reasons that fail verification at once.
pub const FAIL_FAST_REASONS: [&str; 3] = ["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull"];

/// How verification ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Everything is healthy.
    Healthy,
    /// Something failed, or the deadline passed; the sentence says what.
    Failed(String),
}

#[derive(Debug)]
enum Health {
    Ready,
    Waiting(String),
    Failed(String),
}

fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn condition<'a>(v: &'a Value, kind: &str) -> Option<&'a Value> {
    v.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

fn generation_observed(v: &Value) -> bool {
    int(v, "/status/observedGeneration") >= int(v, "/metadata/generation")
}

fn health(kind: &str, v: &Value) -> Health {
    let replicas = v
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    match kind {
        "Deployment" => {
            if let Some(c) = condition(v, "Progressing")
                && c["reason"] == "ProgressDeadlineExceeded"
            {
                return Health::Failed(format!(
                    "progress deadline exceeded: {}",
                    c["message"].as_str().unwrap_or_default()
                ));
            }
            if !generation_observed(v) {
                return Health::Waiting("rollout not yet observed".into());
            }
            let updated = int(v, "/status/updatedReplicas");
            let available = int(v, "/status/availableReplicas");
            let ready = int(v, "/status/readyReplicas");
            let total = int(v, "/status/replicas");
            if updated < replicas || available < replicas || ready < replicas || total > updated {
                return Health::Waiting(format!(
                    "{available} of {replicas} replicas available, {updated} updated"
                ));
            }
            Health::Ready
        }
        "StatefulSet" => {
            if !generation_observed(v) {
                return Health::Waiting("rollout not yet observed".into());
            }
            let ready = int(v, "/status/readyReplicas");
            let current = v.pointer("/status/currentRevision");
            let update = v.pointer("/status/updateRevision");
            if ready < replicas || (update.is_some() && current != update) {
                return Health::Waiting(format!("{ready} of {replicas} replicas ready"));
            }
            Health::Ready
        }
        "DaemonSet" => {
            if !generation_observed(v) {
                return Health::Waiting("rollout not yet observed".into());
            }
            let desired = int(v, "/status/desiredNumberScheduled");
            let updated = int(v, "/status/updatedNumberScheduled");
            let available = int(v, "/status/numberAvailable");
            if updated < desired || available < desired {
                return Health::Waiting(format!("{available} of {desired} pods available"));
            }
            Health::Ready
        }
        "Job" => {
            if let Some(c) = condition(v, "Failed")
                && c["status"] == "True"
            {
                return Health::Failed(format!(
                    "job failed: {}",
                    c["reason"].as_str().unwrap_or_default()
                ));
            }
            match condition(v, "Complete") {
                Some(c) if c["status"] == "True" => Health::Ready,
                _ => Health::Waiting("not complete".into()),
            }
        }
        "PersistentVolumeClaim" => match v.pointer("/status/phase").and_then(Value::as_str) {
            Some("Bound") => Health::Ready,
            Some("Lost") => Health::Failed("claim lost".into()),
            other => Health::Waiting(format!("phase {}", other.unwrap_or("Pending"))),
        },
        "Pod" => match v.pointer("/status/phase").and_then(Value::as_str) {
            Some("Succeeded") => Health::Ready,
            Some("Failed") => Health::Failed("pod failed".into()),
            Some("Running") if condition(v, "Ready").is_some_and(|c| c["status"] == "True") => {
                Health::Ready
            }
            _ => Health::Waiting("pod not ready".into()),
        },
        _ => Health::Ready,
    }
}

/// The live health of one object as `gantry status` shows it: `Healthy`, `Progressing` or
/// `Degraded`.
pub fn live_health(kind: &str, v: &Value) -> &'static str {
    match health(kind, v) {
        Health::Ready => "Healthy",
        Health::Waiting(_) => "Progressing",
        Health::Failed(_) => "Degraded",
    }
}

/// A label selector as a query string.
fn selector(v: &Value) -> Option<String> {
    let sel = v.pointer("/spec/selector")?;
    let mut parts = Vec::new();
    if let Some(m) = sel["matchLabels"].as_object() {
        for (k, val) in m {
            parts.push(format!("{k}={}", val.as_str().unwrap_or_default()));
        }
    }
    if let Some(exprs) = sel["matchExpressions"].as_array() {
        for e in exprs {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&str> = e["values"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match e["operator"].as_str().unwrap_or_default() {
                "In" => parts.push(format!("{key} in ({})", values.join(","))),
                "NotIn" => parts.push(format!("{key} notin ({})", values.join(","))),
                "Exists" => parts.push(key.to_owned()),
                "DoesNotExist" => parts.push(format!("!{key}")),
                _ => {}
            }
        }
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

/// The first failing container of `pods`, as `pod P container C: Reason`.
fn crashing(pods: &[Value]) -> Option<String> {
    for p in pods {
        for list in ["/status/initContainerStatuses", "/status/containerStatuses"] {
            for c in p
                .pointer(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let reason = c
                    .pointer("/state/waiting/reason")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if FAIL_FAST_REASONS.contains(&reason) {
                    return Some(format!(
                        "pod {} container {}: {reason}",
                        p.pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or_default(),
                        c["name"].as_str().unwrap_or_default()
                    ));
                }
            }
        }
    }
    None
}

/// Pods of the workload's current rollout.
async fn new_pods(
    cluster: &Cluster,
    kind: &str,
    v: &Value,
    ns: &str,
) -> Result<Vec<Value>, ApplyError> {
    let Some(sel) = selector(v) else {
        return Ok(Vec::new());
    };
    // Until the controller has observed this generation, its newest ReplicaSet is still the
    // previous rollout's: judging those pods would fail a revert of a crash-looping image.
    let generation = v.pointer("/metadata/generation").and_then(Value::as_i64);
    let observed = v
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    if generation.is_some() && observed < generation {
        return Ok(Vec::new());
    }
    match kind {
        "Deployment" => {
            let uid = v
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let sets = cluster.list("apps/v1", "ReplicaSet", ns, &sel).await?;
            let newest = sets
                .iter()
                .filter(|rs| {
                    rs.pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .is_some_and(|o| o.iter().any(|r| r["uid"] == uid))
                })
                .max_by_key(|rs| {
                    rs.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse::<i64>().ok())
                        .unwrap_or(0)
                });
            let Some(hash) = newest.and_then(|rs| {
                rs.pointer("/metadata/labels/pod-template-hash")
                    .and_then(Value::as_str)
            }) else {
                return Ok(Vec::new());
            };
            cluster
                .list("v1", "Pod", ns, &format!("{sel},pod-template-hash={hash}"))
                .await
        }
        "StatefulSet" => {
            let pods = cluster.list("v1", "Pod", ns, &sel).await?;
            let rev = v.pointer("/status/updateRevision").and_then(Value::as_str);
            Ok(pods
                .into_iter()
                .filter(|p| {
                    rev.is_none()
                        || p.pointer("/metadata/labels/controller-revision-hash")
                            .and_then(Value::as_str)
                            == rev
                })
                .collect())
        }
        _ => cluster.list("v1", "Pod", ns, &sel).await,
    }
}

/// Watches `applied` until healthy, failed, or `timeout`.
pub async fn verify(
    cluster: &Cluster,
    applied: &[Applied],
    timeout: Duration,
    interval: Duration,
) -> Result<Verdict, ApplyError> {
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<&Applied> = applied.iter().collect();
    let mut pause = Duration::from_millis(50).min(interval);
    loop {
        let mut still = Vec::new();
        let mut last_wait = String::new();
        for a in pending {
            let Some(obj) = cluster.get(a).await? else {
                still.push(a);
                last_wait = format!("{} does not exist", a.reference);
                continue;
            };
            match health(&a.reference.kind, &obj) {
                Health::Ready => {}
                Health::Failed(why) => {
                    return Ok(Verdict::Failed(format!("{}: {why}", a.reference)));
                }
                Health::Waiting(why) => {
                    if matches!(
                        a.reference.kind.as_str(),
                        "Deployment" | "StatefulSet" | "DaemonSet" | "Job"
                    ) {
                        let pods =
                            new_pods(cluster, &a.reference.kind, &obj, &a.reference.namespace)
                                .await?;
                        if let Some(c) = crashing(&pods) {
                            return Ok(Verdict::Failed(format!("{}: {c}", a.reference)));
                        }
                    }
                    last_wait = format!("{}: {why}", a.reference);
                    still.push(a);
                }
            }
        }
        if still.is_empty() {
            return Ok(Verdict::Healthy);
        }
        if Instant::now() + pause > deadline {
            return Ok(Verdict::Failed(format!(
                "not healthy after {}s: {last_wait}",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(pause).await;
        // Rollouts usually finish within moments: look again soon, then less and less often.
        pause = (pause * 2).min(interval);
        pending = still;
    }
}

/// How the verify phase ended, as the report phase posts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    /// `success` or `failure`.
    pub state: CommitState,
    /// The status description.
    pub description: String,
}

impl Checked {
    /// The verdict on revision `rev` as a status: what was applied and pruned in how long, or
    /// why it is unhealthy.
    pub(crate) fn new(
        verdict: &Verdict,
        rev: &str,
        took: Duration,
        applied: usize,
        pruned: usize,
    ) -> Checked {
        match verdict {
            Verdict::Healthy => Checked {
                state: CommitState::Success,
                description: format!(
                    "deployed {rev} in {:.1}s: {applied} objects applied, {pruned} pruned",
                    took.as_secs_f64(),
                ),
            },
            Verdict::Failed(why) => Checked {
                state: CommitState::Failure,
                description: format!("{rev} is unhealthy: {why}"),
            },
        }
    }
}

impl Reconciler {
    /// Verify: watches the applied set until healthy, failed or `healthTimeout`. An unreachable
    /// cluster is retried; any other error is the verdict.
    pub(crate) async fn verify_phase(
        &self,
        run: &Run<'_>,
        cluster: &Cluster,
        applied: &[Applied],
        pruned: usize,
    ) -> Result<Checked, Stop> {
        let t = Instant::now();
        let verdict = match verify(
            cluster,
            applied,
            run.env.health_timeout,
            self.config.verify_interval,
        )
        .await
        {
            Ok(v) => v,
            Err(e @ ApplyError::Unavailable { .. }) => return Err(run.transient(e).into()),
            Err(e) => Verdict::Failed(crate::error::chain(&e)),
        };
        self.metrics.phase("verify", t.elapsed());
        let checked = Checked::new(
            &verdict,
            &run.rev,
            run.started.elapsed(),
            applied.len(),
            pruned,
        );
        let outcome = if checked.state == CommitState::Success {
            Outcome::Succeeded
        } else {
            Outcome::Failed
        };
        self.audit(
            run.job,
            crate::audit::Entry {
                duration: Some(t.elapsed()),
                ..run.entry(Phase::Verify, outcome, checked.description.clone())
            },
        )
        .await?;
        Ok(checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_health() {
        let d = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}});
        assert!(matches!(health("Deployment", &d), Health::Ready));
        let d = json!({"metadata": {"generation": 3}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}});
        assert!(matches!(health("Deployment", &d), Health::Waiting(_)));
        let d = json!({"metadata": {"generation": 1}, "spec": {},
            "status": {"observedGeneration": 1, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}});
        assert!(matches!(health("Deployment", &d), Health::Failed(_)));
    }

    #[test]
    fn selectors_and_crashes() {
        let d = json!({"spec": {"selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}}});
        assert_eq!(selector(&d).as_deref(), Some("app=web,tier in (a,b)"));
        let pods = vec![
            json!({"metadata": {"name": "web-1"}, "status": {"containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}),
        ];
        assert_eq!(
            crashing(&pods).as_deref(),
            Some("pod web-1 container app: CrashLoopBackOff")
        );
    }
}
