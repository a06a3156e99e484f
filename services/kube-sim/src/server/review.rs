//! Reviews (`authorization.k8s.io` access reviews, `authentication.k8s.io` self-subject and token
//! reviews): create-only resources a real server answers without storing anything. The emulator
//! has no authentication or authorization, so every subject is the cluster admin and every
//! request is allowed; `kubectl auth can-i` and `kubectl auth whoami` then answer as on a
//! single-user development cluster.

use http::StatusCode;
use serde_json::{Value, json};

use super::{Reply, Req, Target};
use crate::status::ApiError;

/// Who every request is, as a kubeadm or kind cluster's admin kubeconfig is.
pub(crate) const USERNAME: &str = "kubernetes-admin";
pub(crate) const GROUPS: &[&str] = &["system:masters", "system:authenticated"];
/// Why an access review is allowed (shown by `kubectl auth can-i -v`).
const ALLOWED_REASON: &str = "the emulator has no authorization: every request is allowed";

fn user_info() -> Value {
    json!({"username": USERNAME, "groups": GROUPS})
}

/// The spec of an access review must name a resource or a non-resource URL, not both.
fn check_attributes(t: &Target, spec: &Value) -> Result<(), ApiError> {
    let res = spec.get("resourceAttributes").is_some_and(|v| !v.is_null());
    let non = spec
        .get("nonResourceAttributes")
        .is_some_and(|v| !v.is_null());
    if res == non {
        let value = if res {
            spec.get("resourceAttributes").cloned().unwrap_or_default()
        } else {
            Value::Null
        };
        let shown = if res {
            format!("{value}")
        } else {
            "null".to_string()
        };
        return Err(ApiError::invalid(
            &t.rt.kind,
            &t.rt.group,
            "",
            &[(
                "spec.resourceAttributes".to_string(),
                "FieldValueInvalid",
                format!(
                    "Invalid value: {shown}: exactly one of nonResourceAttributes or resourceAttributes must be specified"
                ),
            )],
        ));
    }
    Ok(())
}

pub(super) fn create(t: &Target, req: &Req) -> Result<Reply, ApiError> {
    if t.rt.namespaced && t.ns.is_none() {
        return Err(ApiError::no_route());
    }
    let body = req.parse_body()?;
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON or YAML object",
        ));
    }
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let status = match t.rt.kind.as_str() {
        "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            check_attributes(t, &spec)?;
            json!({"allowed": true, "reason": ALLOWED_REASON})
        }
        "SelfSubjectRulesReview" => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        "SelfSubjectReview" => json!({"userInfo": user_info()}),
        "TokenReview" => {
            let mut s = json!({"authenticated": true, "user": user_info()});
            if let Some(a) = spec.get("audiences") {
                s["audiences"] = a.clone();
            }
            s
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    let mut metadata = body
        .get("metadata")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if t.rt.namespaced {
        metadata["namespace"] = json!(t.ns());
    }
    let mut out = json!({
        "kind": t.rt.kind,
        "apiVersion": t.api_version(),
        "metadata": metadata,
        "status": status,
    });
    // A SelfSubjectReview has no spec: who is asking is the whole question.
    if t.rt.kind != "SelfSubjectReview" {
        out["spec"] = spec;
    }
    Ok(Reply::Object(StatusCode::CREATED, out))
}
