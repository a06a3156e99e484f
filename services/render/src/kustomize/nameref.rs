//! Fixes name references after names changed (prefixes, suffixes, hashes, patches): each
//! referring field holding an old name of a resource of the referred kind gets its new name.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::fieldspec::{BackRef, CreateKind, FieldSpec, walk};
use super::resource::{Gvk, ResId, Resource};
use super::{KResult, ResMap, kerr};

struct Candidate {
    prefixes: Vec<String>,
    suffixes: Vec<String>,
    prev: Vec<ResId>,
    cur: ResId,
    kind: String,
    org_gvk: Gvk,
}

pub fn fix(rm: &mut ResMap, refs: &[BackRef]) -> KResult<()> {
    let snapshot: Vec<Candidate> = rm
        .list
        .iter()
        .map(|r| Candidate {
            prefixes: r.prefixes.clone(),
            suffixes: r.suffixes.clone(),
            prev: r.prev_ids.clone(),
            cur: r.cur_id(),
            kind: r.kind(),
            org_gvk: r.org_id().gvk,
        })
        .collect();
    let mut index: HashMap<String, Vec<usize>> = HashMap::new();
    for (j, c) in snapshot.iter().enumerate() {
        let mut names: Vec<&str> = c.prev.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for n in names {
            index.entry(n.to_owned()).or_default().push(j);
        }
    }
    for i in 0..rm.list.len() {
        let referrer_id = rm.list[i].cur_id();
        let affixes = (rm.list[i].prefixes.clone(), rm.list[i].suffixes.clone());
        let referrer_org = rm.list[i].org_id();
        let rb_namespaces = role_binding_namespaces(&rm.list[i]);
        for br in refs {
            for spec in &br.referrers {
                if !referrer_org.gvk.is_selected_by(&spec.gvk) {
                    continue;
                }
                let obj = &mut rm.list[i].obj;
                let role_ref = role_ref_gvk(obj);
                let ctx = Ctx {
                    all: &snapshot,
                    index: &index,
                    rb_namespaces: &rb_namespaces,
                    referrer: &referrer_id,
                    affixes: &affixes,
                };
                apply(obj, spec, br, &ctx, role_ref.as_ref())?;
            }
        }
    }
    Ok(())
}

fn role_binding_namespaces(r: &Resource) -> HashSet<String> {
    let mut out = HashSet::new();
    let k = r.kind();
    if k != "RoleBinding" && k != "ClusterRoleBinding" {
        return out;
    }
    if let Some(Value::Array(subjects)) = r.obj.get("subjects") {
        for s in subjects {
            if let Some(ns) = s.get("namespace").and_then(Value::as_str) {
                out.insert(ns.to_owned());
            }
        }
    }
    out
}

fn role_ref_gvk(obj: &Value) -> Option<Gvk> {
    let rr = obj.get("roleRef")?;
    let kind = rr.get("kind").and_then(Value::as_str).unwrap_or_default();
    let group = rr
        .get("apiGroup")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Some(Gvk {
        group: group.into(),
        version: String::new(),
        kind: kind.into(),
    })
}

struct Ctx<'a> {
    all: &'a [Candidate],
    /// Candidates by every previous name they had.
    index: &'a HashMap<String, Vec<usize>>,
    rb_namespaces: &'a HashSet<String>,
    referrer: &'a ResId,
    affixes: &'a (Vec<String>, Vec<String>),
}

fn apply(
    obj: &mut Value,
    spec: &FieldSpec,
    br: &BackRef,
    ctx: &Ctx<'_>,
    role_ref: Option<&Gvk>,
) -> KResult<()> {
    let all = ctx.all;
    let is_role_ref = spec.path_string() == "roleRef/name";
    walk(obj, &spec.path, CreateKind::None, &mut |v| {
        match v {
            Value::String(old) => {
                if let Some(j) = select(
                    old,
                    None,
                    br,
                    ctx,
                    if is_role_ref { role_ref } else { None },
                )? {
                    *old = all[j].cur.name.clone();
                }
            }
            Value::Array(items) => {
                for item in items.iter_mut() {
                    match item {
                        Value::String(old) => {
                            if let Some(j) = select(old, None, br, ctx, None)? {
                                *old = all[j].cur.name.clone();
                            }
                        }
                        Value::Object(_) => set_mapping(item, br, ctx)?,
                        _ => {}
                    }
                }
            }
            Value::Object(_) => set_mapping(v, br, ctx)?,
            _ => {}
        }
        Ok(())
    })
}

fn set_mapping(v: &mut Value, br: &BackRef, ctx: &Ctx<'_>) -> KResult<()> {
    let all = ctx.all;
    let Some(m) = v.as_object_mut() else {
        return Ok(());
    };
    if let Some(kind) = m.get("kind").and_then(Value::as_str)
        && kind != br.gvk.kind
    {
        return Ok(());
    }
    let Some(old) = m.get("name").and_then(Value::as_str).map(str::to_owned) else {
        return Ok(());
    };
    let ns = m
        .get("namespace")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(j) = select(&old, ns.as_deref(), br, ctx, None)? {
        m.insert("name".into(), Value::String(all[j].cur.name.clone()));
        // The subject follows the referral's namespace when it has one.
        if !all[j].cur.namespace.is_empty() {
            m.insert(
                "namespace".into(),
                Value::String(all[j].cur.namespace.clone()),
            );
        }
    }
    Ok(())
}

fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() > b.len() { (b, a) } else { (a, b) };
    let diff = long.len() - short.len();
    if short.is_empty() {
        return diff == 0;
    }
    (0..short.len()).all(|i| long[i + diff] == short[i])
}

fn affixes_equal(c: &Candidate, r: &(Vec<String>, Vec<String>), allow_empty: bool) -> bool {
    if allow_empty {
        (c.prefixes.is_empty() || r.0.is_empty() || same_ending(&c.prefixes, &r.0))
            && (c.suffixes.is_empty() || r.1.is_empty() || same_ending(&c.suffixes, &r.1))
    } else {
        same_ending(&c.prefixes, &r.0) && same_ending(&c.suffixes, &r.1)
    }
}

fn select(
    old: &str,
    ns: Option<&str>,
    br: &BackRef,
    ctx: &Ctx<'_>,
    role_ref: Option<&Gvk>,
) -> KResult<Option<usize>> {
    let (all, referrer) = (ctx.all, ctx.referrer);
    let Some(named) = ctx.index.get(old) else {
        return Ok(None);
    };
    let mut c: Vec<usize> = named
        .iter()
        .copied()
        .filter(|&j| {
            let id = &all[j].cur;
            referrer.is_cluster_scoped()
                || id.is_cluster_scoped()
                || id.ns_equals(referrer)
                || ctx.rb_namespaces.contains(&id.namespace)
        })
        .filter(|&j| all[j].prev.iter().any(|id| id.name == old))
        .filter(|&j| all[j].prev.iter().any(|id| id.gvk.is_selected_by(&br.gvk)))
        .filter(|&j| role_ref.is_none_or(|g| all[j].org_gvk.is_selected_by(g)))
        .collect();
    if let Some(ns) = ns {
        let want = ResId {
            namespace: ns.to_owned(),
            ..Default::default()
        };
        c.retain(|&j| {
            all[j].prev.iter().any(|id| id.ns_equals(&want)) || all[j].cur.ns_equals(&want)
        });
    } else if !referrer.is_cluster_scoped() {
        c.retain(|&j| {
            all[j].cur.is_cluster_scoped()
                || all[j].kind == "ServiceAccount"
                || all[j].cur.ns_equals(referrer)
        });
    }
    if c.len() > 1 {
        c.retain(|&j| affixes_equal(&all[j], ctx.affixes, true));
    }
    if c.len() > 1 {
        c.retain(|&j| affixes_equal(&all[j], ctx.affixes, false));
    }
    match c.len() {
        0 => Ok(None),
        1 => Ok(Some(c[0])),
        _ => {
            let first = &all[c[0]].cur.name;
            if c.iter().all(|&j| &all[j].cur.name == first) {
                Ok(Some(c[0]))
            } else {
                let ids: Vec<String> = c.iter().map(|&j| all[j].cur.to_string()).collect();
                Err(kerr(format!(
                    "found multiple possible referrals: {}",
                    ids.join(", ")
                )))
            }
        }
    }
}
