//! The three non-apply patch flavours: JSON patch, JSON merge patch and strategic merge patch.

use serde_json::{Map, Value};

use crate::status::ApiError;

/// Patch content types the server accepts, and which of them apply to custom resources.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let ct = ct.split(';').next().unwrap_or_default().trim();
        match ct {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml"
            | "application/apply-patch+json"
            | "application/apply-patch+cbor" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

/// Applies a JSON patch (RFC 6902).
pub(crate) fn json_patch(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let p: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("json: cannot unmarshal JSON patch: {e}")))?;
    json_patch::patch(target, &p).map_err(|e| {
        ApiError::new(
            422,
            "Invalid",
            format!("the server rejected our request due to an error in our request: {e}"),
        )
    })
}

/// Applies a JSON merge patch (RFC 7386).
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "json: cannot unmarshal merge patch: not an object",
        ));
    }
    json_patch::merge(target, patch);
    Ok(())
}

/// The `patchMergeKey` of a list field of the built-in kinds, chosen from its items.
fn merge_key(field: &str, in_meta: bool, items: &[Value]) -> Option<&'static str> {
    let first = items.iter().find_map(Value::as_object);
    let has = |k: &str| first.is_some_and(|o| o.contains_key(k));
    if in_meta {
        return (field == "ownerReferences").then_some("uid");
    }
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "ports" if has("containerPort") => Some("containerPort"),
        "ports" if has("port") => Some("port"),
        "conditions" => Some("type"),
        "hostAliases" => Some("ip"),
        "topologySpreadConstraints" => Some("topologyKey"),
        _ => None,
    }
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// Applies a strategic merge patch to an object of a built-in kind.
pub(crate) fn strategic_merge(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "json: cannot unmarshal strategic merge patch: not an object",
        ));
    }
    merge_map(target, patch, true);
    Ok(())
}

fn merge_map(target: &mut Value, patch: &Value, root: bool) {
    let Some(pm) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if pm.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = strip_directives(patch);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(tm) = target.as_object_mut() else {
        return;
    };
    if let Some(keep) = pm.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        tm.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in pm {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(del)) = (tm.get_mut(field), v.as_array()) {
                list.retain(|i| !del.contains(i));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        let in_meta = root && k == "metadata";
        match v {
            Value::Null => {
                tm.remove(k);
            }
            Value::Object(_) => {
                let slot = tm.entry(k.clone()).or_insert(Value::Null);
                if v.get("$patch").and_then(Value::as_str) == Some("delete") {
                    tm.remove(k);
                } else if in_meta {
                    merge_meta(slot, v);
                } else {
                    merge_map(slot, v, false);
                }
            }
            Value::Array(items) => {
                let slot = tm.entry(k.clone()).or_insert(Value::Array(Vec::new()));
                merge_list(slot, items, k, false);
            }
            _ => {
                tm.insert(k.clone(), v.clone());
            }
        }
    }
}

fn merge_meta(target: &mut Value, patch: &Value) {
    let Some(pm) = patch.as_object() else { return };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(tm) = target.as_object_mut() else {
        return;
    };
    for (k, v) in pm {
        match (k.as_str(), v) {
            (_, Value::Null) => {
                tm.remove(k);
            }
            ("finalizers", Value::Array(items)) => {
                let slot = tm.entry(k.clone()).or_insert(Value::Array(Vec::new()));
                if let Some(list) = slot.as_array_mut() {
                    for i in items {
                        if !list.contains(i) {
                            list.push(i.clone());
                        }
                    }
                }
            }
            (_, Value::Array(items)) => {
                let slot = tm.entry(k.clone()).or_insert(Value::Array(Vec::new()));
                merge_list(slot, items, k, true);
            }
            (_, Value::Object(_)) => {
                merge_map(tm.entry(k.clone()).or_insert(Value::Null), v, false)
            }
            _ => {
                tm.insert(k.clone(), v.clone());
            }
        }
    }
}

fn merge_list(target: &mut Value, items: &[Value], field: &str, in_meta: bool) {
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *target = Value::Array(
            items
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .map(strip_directives)
                .collect(),
        );
        return;
    }
    let Some(key) = merge_key(field, in_meta, items) else {
        *target = strip_directives(&Value::Array(items.to_vec()));
        return;
    };
    if !target.is_array() {
        *target = Value::Array(Vec::new());
    }
    let Some(list) = target.as_array_mut() else {
        return;
    };
    for item in items {
        let Some(id) = item.get(key) else {
            continue;
        };
        let pos = list.iter().position(|t| t.get(key) == Some(id));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(p), true) => {
                list.remove(p);
            }
            (None, true) => {}
            (Some(p), false) => merge_map(&mut list[p], item, false),
            (None, false) => list.push(strip_directives(item)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merge_by_key_and_directives() {
        let mut d = json!({"metadata": {"finalizers": ["a"]}, "spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1", "args": ["x"]}, {"name": "side", "image": "busybox"}]}}}});
        let patch = json!({"metadata": {"finalizers": ["b"]}, "spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:2"}, {"name": "side", "$patch": "delete"}, {"name": "new", "image": "x"}]}}}});
        strategic_merge(&mut d, &patch).expect("patch");
        assert_eq!(
            d,
            json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:2", "args": ["x"]}, {"name": "new", "image": "x"}]}}}})
        );
    }

    #[test]
    fn json_patch_errors_are_api_errors() {
        let mut d = json!({"a": 1});
        let err = json_patch(&mut d, &json!([{"op": "remove", "path": "/missing"}]))
            .expect_err("missing");
        assert_eq!(err.code, 422);
        let err = json_patch(&mut d, &json!({"op": "nope"})).expect_err("shape");
        assert_eq!(err.code, 400);
    }
}
