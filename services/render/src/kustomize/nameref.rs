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
    /// kustomize's `OrgId().EffectiveNamespace()`.
    org_ns: String,
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
            org_ns: r.org_id().effective_namespace(),
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
        let applies = refs.iter().any(|br| {
            br.referrers
                .iter()
                .any(|spec| referrer_org.gvk.is_selected_by(&spec.gvk))
        });
        if !applies {
            continue;
        }
        // kustomize's SubsetThatCouldBeReferencedByResource, which reads these first.
        let rb_namespaces = if referrer_id.is_cluster_scoped() {
            HashSet::new()
        } else {
            role_binding_namespaces(&rm.list[i])?
        };
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
                apply(obj, spec, br, &ctx, role_ref.as_ref()).map_err(|e| {
                    e.context(format!(
                        "updating name reference in '{}' field of '{referrer_id}'",
                        spec.path_string()
                    ))
                })?;
            }
        }
    }
    Ok(())
}

/// kustomize's `getNamespacesForRoleBinding`: the namespaces of a RoleBinding's
/// ServiceAccount subjects, which may then refer across namespaces.
fn role_binding_namespaces(r: &Resource) -> KResult<HashSet<String>> {
    let mut out = HashSet::new();
    if r.kind() != "RoleBinding" {
        return Ok(out);
    }
    if let Some(Value::Array(subjects)) = r.obj.get("subjects") {
        for s in subjects {
            let (Some(ns), Some(kind)) = (s.get("namespace"), s.get("kind")) else {
                continue;
            };
            if kind.as_str() != Some("ServiceAccount") {
                continue;
            }
            match ns {
                Value::String(n) => {
                    out.insert(n.clone());
                }
                _ => {
                    return Err(kerr(format!(
                        "Invalid Input: namespace is blank for resource \"{}\"\n",
                        r.cur_id()
                    )));
                }
            }
        }
    }
    Ok(out)
}

/// kustomize's `getRoleRefGvk`: without `roleRef.apiGroup` and `roleRef.kind` every
/// candidate is accepted.
fn role_ref_gvk(obj: &Value) -> Option<Gvk> {
    let rr = obj.get("roleRef")?;
    let group = rr.get("apiGroup").filter(|v| !v.is_null())?;
    let kind = rr.get("kind").filter(|v| !v.is_null())?;
    Some(Gvk {
        group: super::resource::scalar_text(group),
        version: String::new(),
        kind: super::resource::scalar_text(kind),
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
    let Some(name) = m.get("name") else {
        return Err(kerr("path config error; no 'name' field in node".into()));
    };
    let old = super::resource::scalar_text(name);
    let ns = m.get("namespace").map(super::resource::scalar_text);
    if let Some(j) = select(&old, Some(ns.as_deref()), br, ctx, None)? {
        let referral = &all[j].cur;
        if referral.name == old && referral.namespace.is_empty() {
            return Ok(());
        }
        m.insert("name".into(), Value::String(referral.name.clone()));
        if !referral.namespace.is_empty() {
            m.insert(
                "namespace".into(),
                Value::String(referral.namespace.clone()),
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

/// kustomize's `selectReferral`. `mapping` is `Some(namespace field)` for a referring
/// mapping (`subjects`), `None` for a scalar.
fn select(
    old: &str,
    mapping: Option<Option<&str>>,
    br: &BackRef,
    ctx: &Ctx<'_>,
    role_ref: Option<&Gvk>,
) -> KResult<Option<usize>> {
    let (all, referrer) = (ctx.all, ctx.referrer);
    let Some(named) = ctx.index.get(old) else {
        return Ok(None);
    };
    // SubsetThatCouldBeReferencedByResource.
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
        .collect();
    // filterMapCandidatesByNamespace: by original namespace if any has it, else current.
    if let Some(Some(ns)) = mapping {
        if c.iter().any(|&j| all[j].org_ns == ns) {
            c.retain(|&j| all[j].org_ns == ns);
        } else {
            c.retain(|&j| all[j].cur.effective_namespace() == ns);
        }
    }
    c.retain(|&j| all[j].prev.iter().any(|id| id.name == old));
    c.retain(|&j| all[j].prev.iter().any(|id| id.gvk.is_selected_by(&br.gvk)));
    if let Some(g) = role_ref {
        c.retain(|&j| all[j].prev.iter().any(|id| id.gvk.is_selected_by(g)));
    }
    if !referrer.is_cluster_scoped() {
        c.retain(|&j| {
            all[j].cur.is_cluster_scoped()
                || all[j].kind == "ServiceAccount"
                || all[j].cur.ns_equals(referrer)
        });
    }
    if c.len() == 1 {
        return Ok(Some(c[0]));
    }
    c.retain(|&j| affixes_equal(&all[j], ctx.affixes, true));
    if c.len() > 1 {
        c.retain(|&j| affixes_equal(&all[j], ctx.affixes, false));
    }
    match c.len() {
        0 => Ok(None),
        1 => Ok(Some(c[0])),
        _ => {
            let first = &all[c[0]].cur;
            let identical = c.iter().all(|&j| {
                all[j].cur.name == first.name
                    && (mapping.is_none() || all[j].cur.namespace == first.namespace)
            });
            if identical {
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
