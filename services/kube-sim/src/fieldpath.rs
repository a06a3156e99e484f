//! Field sets as server-side apply tracks them: paths into an object, their `fieldsV1` encoding,
//! and the list shapes (atomic, associative by key, set) that decide what a path names.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One step of a path: a field, a list item by its keys, a set member by value, or a list index.
/// Keys and values hold their canonical JSON, which is also their `fieldsV1` spelling.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PE {
    Field(String),
    Key(String),
    Value(String),
    Index(usize),
}

pub(crate) type Path = Vec<PE>;

/// How a list's items are told apart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ListKind {
    Atomic,
    /// Items are identified by these keys; `protocol` defaults to TCP as the schema says.
    Map(&'static [&'static str]),
    Set,
}

/// Which part of an object a field set covers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scope {
    /// The main resource of a kind with a status subresource: status is not tracked.
    MainIgnoringStatus,
    /// The main resource of a kind without a status subresource.
    Main,
    /// The `/status` subresource: only status is tracked.
    Status,
}

/// What shapes a walk needs to know.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    /// Built-in kinds have the associative lists of the Kubernetes schema; custom resources have atomic lists.
    pub builtin: bool,
    pub scope: Scope,
}

/// metadata fields that the server maintains and field management ignores.
const IGNORED_META: &[&str] = &[
    "name",
    "namespace",
    "generateName",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// The shape of the list under `field`, judged from the field name and its items.
pub(crate) fn list_kind(ctx: Ctx, in_meta: bool, field: &str, items: &[Value]) -> ListKind {
    if in_meta {
        return match field {
            "ownerReferences" => ListKind::Map(&["uid"]),
            "finalizers" => ListKind::Set,
            _ => ListKind::Atomic,
        };
    }
    if !ctx.builtin {
        return ListKind::Atomic;
    }
    let first = items.first().and_then(Value::as_object);
    let has = |k: &str| first.is_some_and(|o| o.contains_key(k));
    let kind = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => ListKind::Map(&["name"]),
        "volumeMounts" => ListKind::Map(&["mountPath"]),
        "volumeDevices" => ListKind::Map(&["devicePath"]),
        "ports" if has("containerPort") => ListKind::Map(&["containerPort", "protocol"]),
        "ports" if has("port") => ListKind::Map(&["port", "protocol"]),
        "conditions" => ListKind::Map(&["type"]),
        "hostAliases" => ListKind::Map(&["ip"]),
        "topologySpreadConstraints" => ListKind::Map(&["topologyKey", "whenUnsatisfiable"]),
        _ => ListKind::Atomic,
    };
    // Items that lack a key cannot be told apart: the real server rejects them; we own them whole.
    if let ListKind::Map(keys) = kind
        && !items.iter().all(|i| item_key(i, keys).is_some())
    {
        return ListKind::Atomic;
    }
    kind
}

/// The canonical `{"k":v,...}` of an item's keys (sorted), or None when a key is missing.
pub(crate) fn item_key(item: &Value, keys: &[&str]) -> Option<String> {
    let obj = item.as_object()?;
    let mut names: Vec<&str> = keys.to_vec();
    names.sort_unstable();
    let mut parts = Vec::new();
    for k in names {
        let v = match obj.get(k) {
            Some(v) if !v.is_null() => v.clone(),
            _ if k == "protocol" => Value::String("TCP".into()),
            _ => return None,
        };
        parts.push(format!("{}:{}", Value::String(k.into()), v));
    }
    Some(format!("{{{}}}", parts.join(",")))
}

fn key_names(key: &str) -> Vec<String> {
    serde_json::from_str::<Map<String, Value>>(key)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// LabelSelectors are atomic structs in the Kubernetes schema.
fn is_atomic_map(ctx: Ctx, m: &Map<String, Value>) -> bool {
    ctx.builtin
        && !m.is_empty()
        && m.keys()
            .all(|k| k == "matchLabels" || k == "matchExpressions")
}

/// A set of paths, as a tree; `member` says the path to this node is itself in the set.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FieldSet {
    pub member: bool,
    pub children: BTreeMap<PE, FieldSet>,
}

impl FieldSet {
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    pub fn insert(&mut self, path: &[PE]) {
        match path.split_first() {
            None => self.member = true,
            Some((head, rest)) => self.children.entry(head.clone()).or_default().insert(rest),
        }
    }

    pub fn node(&self, path: &[PE]) -> Option<&FieldSet> {
        match path.split_first() {
            None => Some(self),
            Some((head, rest)) => self.children.get(head)?.node(rest),
        }
    }

    pub fn contains(&self, path: &[PE]) -> bool {
        self.node(path).is_some_and(|n| n.member)
    }

    /// The path or something under it is in the set.
    pub fn covers(&self, path: &[PE]) -> bool {
        self.node(path).is_some_and(|n| !n.is_empty())
    }

    pub fn union(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (k, v) in &other.children {
            self.children.entry(k.clone()).or_default().union(v);
        }
    }

    pub fn subtract(&mut self, other: &FieldSet) {
        if other.member {
            self.member = false;
        }
        for (k, v) in &other.children {
            if let Some(mine) = self.children.get_mut(k) {
                mine.subtract(v);
            }
        }
        self.prune();
    }

    pub fn prune(&mut self) {
        self.children.retain(|_, c| {
            c.prune();
            !c.is_empty()
        });
    }

    /// Every member path.
    pub fn members(&self) -> Vec<Path> {
        let mut out = Vec::new();
        let mut prefix = Vec::new();
        self.collect(&mut prefix, &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (k, c) in &self.children {
            prefix.push(k.clone());
            c.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Keeps only the members whose value exists in `obj`.
    pub fn retain_present(&mut self, obj: &Value) {
        for p in self.members() {
            if value_at(obj, &p).is_none() {
                self.remove(&p);
            }
        }
        self.prune();
    }

    fn remove(&mut self, path: &[PE]) {
        match path.split_first() {
            None => self.member = false,
            Some((head, rest)) => {
                if let Some(c) = self.children.get_mut(head) {
                    c.remove(rest);
                }
            }
        }
    }

    /// The `fieldsV1` encoding.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, c) in &self.children {
            if c.is_empty() {
                continue;
            }
            let name = match k {
                PE::Field(f) => format!("f:{f}"),
                PE::Key(j) => format!("k:{j}"),
                PE::Value(j) => format!("v:{j}"),
                PE::Index(i) => format!("i:{i}"),
            };
            m.insert(name, c.to_fields_v1());
        }
        Value::Object(m)
    }

    /// Decodes `fieldsV1`; what does not parse is left out rather than failing the write.
    pub fn from_fields_v1(v: &Value) -> FieldSet {
        let mut set = FieldSet::default();
        let Some(m) = v.as_object() else { return set };
        if m.is_empty() {
            set.member = true;
            return set;
        }
        for (k, c) in m {
            if k == "." {
                set.member = true;
                continue;
            }
            let pe = if let Some(f) = k.strip_prefix("f:") {
                PE::Field(f.into())
            } else if let Some(j) = k.strip_prefix("k:") {
                // Re-canonicalise so that keys compare equal to what we compute.
                match serde_json::from_str::<Map<String, Value>>(j) {
                    Ok(obj) => {
                        let names: Vec<&str> = obj.keys().map(String::as_str).collect();
                        match item_key(&Value::Object(obj.clone()), &names) {
                            Some(s) => PE::Key(s),
                            None => continue,
                        }
                    }
                    Err(_) => continue,
                }
            } else if let Some(j) = k.strip_prefix("v:") {
                match serde_json::from_str::<Value>(j) {
                    Ok(v) => PE::Value(v.to_string()),
                    Err(_) => continue,
                }
            } else if let Some(i) = k.strip_prefix("i:") {
                match i.parse() {
                    Ok(i) => PE::Index(i),
                    Err(_) => continue,
                }
            } else {
                continue;
            };
            set.children.insert(pe, FieldSet::from_fields_v1(c));
        }
        set
    }
}

/// The path as structured-merge-diff prints it in conflict messages: `.spec.containers[name="web"].image`.
pub(crate) fn path_string(path: &[PE]) -> String {
    let mut s = String::new();
    for pe in path {
        match pe {
            PE::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            PE::Key(j) => {
                let m: Map<String, Value> = serde_json::from_str(j).unwrap_or_default();
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                s.push_str(&format!("[{}]", parts.join(",")));
            }
            PE::Value(j) => s.push_str(&format!("[={j}]")),
            PE::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// The field set an object (or an apply configuration) covers within `ctx.scope`.
pub(crate) fn set_from_object(obj: &Value, ctx: Ctx) -> FieldSet {
    let mut set = FieldSet::default();
    let Some(m) = obj.as_object() else { return set };
    for (k, v) in m {
        let tracked = match k.as_str() {
            "apiVersion" | "kind" => false,
            "status" => ctx.scope != Scope::MainIgnoringStatus,
            _ => ctx.scope != Scope::Status,
        };
        if !tracked {
            continue;
        }
        let node = set.children.entry(PE::Field(k.clone())).or_default();
        if k == "metadata" {
            if let Some(meta) = v.as_object() {
                for (mk, mv) in meta {
                    if IGNORED_META.contains(&mk.as_str()) {
                        continue;
                    }
                    let child = node.children.entry(PE::Field(mk.clone())).or_default();
                    walk(mv, mk, true, ctx, child);
                }
            }
            continue;
        }
        walk(v, k, false, ctx, node);
    }
    set.prune();
    set
}

fn walk(v: &Value, field: &str, in_meta: bool, ctx: Ctx, node: &mut FieldSet) {
    match v {
        Value::Object(m) if m.is_empty() || is_atomic_map(ctx, m) => node.member = true,
        Value::Object(m) => {
            for (k, c) in m {
                walk(
                    c,
                    k,
                    false,
                    ctx,
                    node.children.entry(PE::Field(k.clone())).or_default(),
                );
            }
        }
        Value::Array(items) => match list_kind(ctx, in_meta, field, items) {
            ListKind::Atomic => node.member = true,
            ListKind::Set => {
                for i in items {
                    node.children
                        .entry(PE::Value(i.to_string()))
                        .or_default()
                        .member = true;
                }
            }
            ListKind::Map(keys) => {
                for i in items {
                    let Some(key) = item_key(i, keys) else {
                        continue;
                    };
                    let child = node.children.entry(PE::Key(key)).or_default();
                    child.member = true;
                    if let Some(m) = i.as_object() {
                        for (k, c) in m {
                            walk(
                                c,
                                k,
                                false,
                                ctx,
                                child.children.entry(PE::Field(k.clone())).or_default(),
                            );
                        }
                    }
                }
            }
        },
        _ => node.member = true,
    }
}

fn find_item<'a>(items: &'a [Value], key: &str) -> Option<(usize, &'a Value)> {
    let names = key_names(key);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    items
        .iter()
        .enumerate()
        .find(|(_, i)| item_key(i, &names).as_deref() == Some(key))
}

/// The value a path names in an object, if present.
pub(crate) fn value_at<'a>(obj: &'a Value, path: &[PE]) -> Option<&'a Value> {
    let mut cur = obj;
    for pe in path {
        cur = match pe {
            PE::Field(f) => cur.as_object()?.get(f)?,
            PE::Key(k) => find_item(cur.as_array()?, k)?.1,
            PE::Value(j) => cur.as_array()?.iter().find(|i| i.to_string() == *j)?,
            PE::Index(i) => cur.as_array()?.get(*i)?,
        };
    }
    Some(cur)
}

fn value_at_mut<'a>(obj: &'a mut Value, path: &[PE]) -> Option<&'a mut Value> {
    let mut cur = obj;
    for pe in path {
        cur = match pe {
            PE::Field(f) => cur.as_object_mut()?.get_mut(f)?,
            PE::Key(k) => {
                let idx = find_item(cur.as_array()?, k)?.0;
                cur.as_array_mut()?.get_mut(idx)?
            }
            PE::Value(j) => cur
                .as_array_mut()?
                .iter_mut()
                .find(|i| i.to_string() == *j)?,
            PE::Index(i) => cur.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some(cur)
}

/// Removes what a path names; then removes the maps above it that this left empty,
/// unless `keep` still covers them.
pub(crate) fn remove_path(obj: &mut Value, path: &[PE], keep: &FieldSet) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let Some(container) = value_at_mut(obj, parent) else {
        return;
    };
    match last {
        PE::Field(f) => {
            if let Some(m) = container.as_object_mut() {
                m.remove(f);
            }
        }
        PE::Key(k) => {
            if let Some(idx) = container
                .as_array()
                .and_then(|a| find_item(a, k))
                .map(|(i, _)| i)
                && let Some(a) = container.as_array_mut()
            {
                a.remove(idx);
            }
        }
        PE::Value(j) => {
            if let Some(a) = container.as_array_mut() {
                a.retain(|i| i.to_string().as_str() != j.as_str());
            }
        }
        PE::Index(i) => {
            if let Some(a) = container.as_array_mut()
                && *i < a.len()
            {
                a.remove(*i);
            }
        }
    }
    // Parents that only held what was removed go too, as they did in the applier's config.
    if parent.len() >= 2 && !keep.covers(parent) {
        let empty = match value_at(obj, parent) {
            Some(Value::Object(m)) => m.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        };
        if empty {
            remove_path(obj, parent, keep);
        }
    } else if parent.len() == 1 && !keep.covers(parent) {
        // A top-level field such as `data` or `spec` left empty.
        if let Some(PE::Field(f)) = parent.first()
            && f != "metadata"
            && matches!(value_at(obj, parent), Some(Value::Object(m)) if m.is_empty())
            && let Some(m) = obj.as_object_mut()
        {
            m.remove(f);
        }
    }
}

/// The `field` name `merge` is given for a whole object.
pub(crate) const ROOT: &str = "\u{0}";

/// Merges an apply configuration into a live object as structured-merge-diff does:
/// maps field by field, associative lists item by item, sets by value, everything else replaced.
pub(crate) fn merge(
    live: Option<&Value>,
    cfg: &Value,
    field: &str,
    in_meta: bool,
    ctx: Ctx,
) -> Value {
    match (live, cfg) {
        (Some(Value::Object(l)), Value::Object(c)) if !is_atomic_map(ctx, c) => {
            let mut out = l.clone();
            for (k, v) in c {
                let child_in_meta = field == ROOT && k == "metadata";
                let merged = if child_in_meta {
                    merge_meta(l.get(k), v, ctx)
                } else {
                    merge(l.get(k), v, k, in_meta, ctx)
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Some(Value::Array(l)), Value::Array(c)) => match list_kind(ctx, in_meta, field, c) {
            ListKind::Atomic => cfg.clone(),
            ListKind::Set => {
                let mut out = l.clone();
                for i in c {
                    if !out.contains(i) {
                        out.push(i.clone());
                    }
                }
                Value::Array(out)
            }
            ListKind::Map(keys) => {
                if list_kind(ctx, in_meta, field, l) == ListKind::Atomic && !l.is_empty() {
                    return cfg.clone();
                }
                let mut out = l.clone();
                for i in c {
                    let Some(key) = item_key(i, keys) else {
                        continue;
                    };
                    match out
                        .iter()
                        .position(|o| item_key(o, keys).as_deref() == Some(key.as_str()))
                    {
                        Some(pos) => out[pos] = merge(Some(&out[pos]), i, "", false, ctx),
                        None => out.push(i.clone()),
                    }
                }
                Value::Array(out)
            }
        },
        _ => cfg.clone(),
    }
}

fn merge_meta(live: Option<&Value>, cfg: &Value, ctx: Ctx) -> Value {
    let (Some(Value::Object(l)), Value::Object(c)) = (live, cfg) else {
        return merge(live, cfg, "metadata", true, ctx);
    };
    let mut out = l.clone();
    for (k, v) in c {
        if IGNORED_META.contains(&k.as_str())
            && k != "name"
            && k != "namespace"
            && k != "generateName"
        {
            continue;
        }
        out.insert(k.clone(), merge(l.get(k), v, k, true, ctx));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CTX: Ctx = Ctx {
        builtin: true,
        scope: Scope::MainIgnoringStatus,
    };

    #[test]
    fn fields_v1_round_trips() {
        let obj = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a/b"]},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}}},
            "status": {"replicas": 1}
        });
        let set = set_from_object(&obj, CTX);
        let enc = set.to_fields_v1();
        assert_eq!(
            enc,
            json!({
                "f:metadata": {"f:finalizers": {"v:\"a/b\"": {}}, "f:labels": {"f:app": {}}},
                "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}, "f:ports": {
                        "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}}}}}
            })
        );
        assert_eq!(FieldSet::from_fields_v1(&enc), set);
        let p = vec![
            PE::Field("spec".into()),
            PE::Field("template".into()),
            PE::Field("spec".into()),
            PE::Field("containers".into()),
            PE::Key("{\"name\":\"web\"}".into()),
            PE::Field("image".into()),
        ];
        assert!(set.contains(&p));
        assert_eq!(value_at(&obj, &p), Some(&json!("nginx")));
        assert_eq!(
            path_string(&p),
            ".spec.template.spec.containers[name=\"web\"].image"
        );
    }

    #[test]
    fn merge_keeps_other_items_and_replaces_atomic_lists() {
        let live = json!({"spec": {"containers": [{"name": "a", "image": "x", "args": ["1"]}, {"name": "b", "image": "y"}]}});
        let cfg = json!({"spec": {"containers": [{"name": "a", "image": "z", "args": ["2"]}]}});
        let out = merge(Some(&live), &cfg, ROOT, false, CTX);
        assert_eq!(
            out,
            json!({"spec": {"containers": [{"name": "a", "image": "z", "args": ["2"]}, {"name": "b", "image": "y"}]}})
        );
    }
}
