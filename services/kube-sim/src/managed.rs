//! Field management: `metadata.managedFields` for every write, and server-side apply with its
//! conflicts, forced takeover and removal of fields an applier stops sending.

use serde_json::{Value, json};

use crate::fieldpath::{
    Ctx, FieldSet, Path, ROOT, Scope, merge, path_string, remove_path, set_from_object, value_at,
};
use crate::status::ApiError;

/// One `managedFields` entry.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: String,
    set: FieldSet,
}

impl Entry {
    fn same_owner(
        &self,
        manager: &str,
        operation: &str,
        api_version: &str,
        subresource: &str,
    ) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource == subresource
            // Appliers are one owner across versions; updaters are one per version.
            && (operation == "Apply" || self.api_version == api_version)
    }

    /// How the real server names a manager in conflict messages.
    fn label(&self) -> String {
        if self.operation == "Update" {
            format!("{:?} using {}", self.manager, self.api_version)
        } else {
            format!("{:?}", self.manager)
        }
    }
}

fn subresource(ctx: Ctx) -> &'static str {
    if ctx.scope == Scope::Status {
        "status"
    } else {
        ""
    }
}

fn read(obj: &Value) -> Vec<Entry> {
    let Some(list) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .map(|e| {
            let s = |k: &str| {
                e.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            Entry {
                manager: s("manager"),
                operation: s("operation"),
                api_version: s("apiVersion"),
                time: s("time"),
                subresource: s("subresource"),
                set: e
                    .get("fieldsV1")
                    .map(FieldSet::from_fields_v1)
                    .unwrap_or_default(),
            }
        })
        .collect()
}

fn write(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    let list: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": e.set.to_fields_v1(),
            });
            if !e.subresource.is_empty() {
                v["subresource"] = json!(e.subresource);
            }
            v
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Members of `set` that the write sets to a new value (or adds), as structured-merge-diff compares.
fn changed(set: &FieldSet, before: Option<&Value>, after: &Value) -> FieldSet {
    let mut out = FieldSet::default();
    for p in set.members() {
        let old = before.and_then(|b| value_at(b, &p));
        let leaf = set.node(&p).is_none_or(|n| n.children.is_empty());
        let differs = match old {
            None => true,
            Some(o) => leaf && value_at(after, &p) != Some(o),
        };
        if differs {
            out.insert(&p);
        }
    }
    out
}

/// What to strip from an apply configuration before merging, as the server resets those fields.
fn scoped_config(cfg: &Value, ctx: Ctx) -> Value {
    let mut c = cfg.clone();
    if let Some(m) = c.as_object_mut() {
        match ctx.scope {
            Scope::MainIgnoringStatus => {
                m.remove("status");
            }
            Scope::Status => m.retain(|k, _| k == "status" || k == "apiVersion" || k == "kind"),
            Scope::Main => {}
        }
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
            meta.remove("resourceVersion");
        }
    }
    c
}

/// Server-side apply of `cfg` by `manager` onto `live` (None: the object is created).
pub(crate) fn apply(
    live: Option<&Value>,
    cfg: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    ctx: Ctx,
    now: &str,
) -> Result<Value, ApiError> {
    let sub = subresource(ctx);
    let mut entries = live.map(read).unwrap_or_default();
    let cfg = scoped_config(cfg, ctx);
    let new_set = set_from_object(&cfg, ctx);
    let base = live.cloned().unwrap_or_else(|| json!({}));
    let mut merged = merge(Some(&base), &cfg, ROOT, false, ctx);
    // Apply never changes apiVersion/kind of the stored object.
    if let (Some(l), Some(m)) = (live, merged.as_object_mut()) {
        for k in ["apiVersion", "kind"] {
            if let Some(v) = l.get(k) {
                m.insert(k.into(), v.clone());
            }
        }
    }

    let changed = changed(&new_set, live, &merged);
    let mut conflicts: Vec<(String, Path)> = Vec::new();
    for e in entries
        .iter()
        .filter(|e| !e.same_owner(manager, "Apply", api_version, sub))
    {
        for p in changed.members() {
            if e.set.contains(&p) {
                conflicts.push((e.label(), p));
            }
        }
    }
    if !conflicts.is_empty() {
        if !force {
            return Err(conflict_error(conflicts));
        }
        for e in entries
            .iter_mut()
            .filter(|e| !e.same_owner(manager, "Apply", api_version, sub))
        {
            e.set.subtract(&changed);
        }
    }

    let previous = entries
        .iter()
        .position(|e| e.same_owner(manager, "Apply", api_version, sub))
        .map(|i| entries.remove(i));
    if let Some(prev) = &previous {
        let mut keep = new_set.clone();
        for e in &entries {
            keep.union(&e.set);
        }
        for p in prev.set.members() {
            if !keep.covers(&p) {
                remove_path(&mut merged, &p, &keep);
            }
        }
    }
    let entry = Entry {
        manager: manager.to_string(),
        operation: "Apply".into(),
        api_version: api_version.to_string(),
        time: now.to_string(),
        subresource: sub.to_string(),
        set: new_set,
    };
    // The applier keeps its place in the list, as the real server does.
    match previous {
        Some(_) => {
            let pos = live
                .map(read)
                .unwrap_or_default()
                .iter()
                .position(|e| e.same_owner(manager, "Apply", api_version, sub))
                .unwrap_or(entries.len())
                .min(entries.len());
            entries.insert(pos, entry);
        }
        None => entries.push(entry),
    }
    for e in &mut entries {
        e.set.retain_present(&merged);
    }
    write(&mut merged, entries);
    Ok(merged)
}

/// Records a non-apply write (create, update, patch) by `manager`: it takes the fields it changed.
/// `scale` marks a write through the scale subresource, recorded as such by a real server.
pub(crate) fn track_update(
    live: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    ctx: Ctx,
    now: &str,
    scale: bool,
) {
    let sub = if scale { "scale" } else { subresource(ctx) };
    let mut entries = live.map(read).unwrap_or_default();
    let set = set_from_object(new, ctx);
    let changed = changed(&set, live, new);
    for e in entries
        .iter_mut()
        .filter(|e| !e.same_owner(manager, "Update", api_version, sub))
    {
        e.set.subtract(&changed);
    }
    if !changed.is_empty() {
        match entries
            .iter_mut()
            .find(|e| e.same_owner(manager, "Update", api_version, sub))
        {
            Some(e) => {
                e.set.union(&changed);
                e.time = now.to_string();
            }
            None => entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: now.to_string(),
                subresource: sub.to_string(),
                set: changed,
            }),
        }
    }
    for e in &mut entries {
        e.set.retain_present(new);
    }
    write(new, entries);
}

/// The 409 a real server answers an apply with when it would change fields others own.
fn conflict_error(mut conflicts: Vec<(String, Path)>) -> ApiError {
    conflicts.sort_by(|a, b| (&a.0, path_string(&a.1)).cmp(&(&b.0, path_string(&b.1))));
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {m}"), "field": path_string(p)}))
        .collect();
    let message = if conflicts.len() == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            conflicts[0].0,
            path_string(&conflicts[0].1)
        )
    } else {
        let mut lines = Vec::new();
        let mut last: Option<&str> = None;
        for (m, p) in &conflicts {
            if last != Some(m.as_str()) {
                lines.push(format!("conflicts with {m}:"));
                last = Some(m);
            }
            lines.push(format!("- {}", path_string(p)));
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    ApiError {
        details: Some(json!({"causes": causes})),
        ..ApiError::new(409, "Conflict", message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: Ctx = Ctx {
        builtin: true,
        scope: Scope::Main,
    };

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"}, "data": data})
    }

    #[test]
    fn conflicts_force_and_removal() {
        let a = apply(
            None,
            &cm(json!({"x": "1", "y": "2"})),
            "a",
            false,
            "v1",
            CTX,
            "t",
        )
        .expect("create");
        // Same values: shared ownership, no conflict.
        let b = apply(Some(&a), &cm(json!({"x": "1"})), "b", false, "v1", CTX, "t").expect("share");
        let err = apply(Some(&b), &cm(json!({"x": "9"})), "b", false, "v1", CTX, "t")
            .expect_err("conflict");
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"a\": .data.x"
        );
        let forced =
            apply(Some(&b), &cm(json!({"x": "9"})), "b", true, "v1", CTX, "t").expect("force");
        assert_eq!(forced["data"], json!({"x": "9", "y": "2"}));
        // a stops sending y, which only it owned: removed. x is b's now, so it stays.
        let mut bare = cm(json!({}));
        bare.as_object_mut().expect("object").remove("data");
        let after = apply(Some(&forced), &bare, "a", false, "v1", CTX, "t").expect("remove");
        assert_eq!(after["data"], json!({"x": "9"}));
        let managers: Vec<&str> = after["metadata"]["managedFields"]
            .as_array()
            .expect("managed")
            .iter()
            .map(|e| e["manager"].as_str().expect("manager"))
            .collect();
        assert_eq!(managers, vec!["b"]);
    }

    #[test]
    fn update_takes_ownership_from_applier() {
        let a = apply(None, &cm(json!({"x": "1"})), "a", false, "v1", CTX, "t").expect("create");
        let mut edited = a.clone();
        edited["data"]["x"] = json!("2");
        track_update(Some(&a), &mut edited, "kubectl-edit", "v1", CTX, "t", false);
        let err = apply(
            Some(&edited),
            &cm(json!({"x": "1"})),
            "a",
            false,
            "v1",
            CTX,
            "t",
        )
        .expect_err("conflict");
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1: .data.x"
        );
    }
}
