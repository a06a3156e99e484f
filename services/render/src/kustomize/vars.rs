//! kustomize's `vars`: `$(NAME)` references in the `varReference` fields, replaced at the end
//! of a build by a field of the resource each var names (`objref` + `fieldref`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::fieldspec::{CreateKind, FieldSpec, walk};
use super::resource::{Gvk, ResId, scalar_text};
use super::{KError, KResult, ResMap, kerr};

#[derive(Debug, Clone)]
pub struct Var {
    pub name: String,
    pub gvk: Gvk,
    pub obj_name: String,
    pub namespace: String,
    pub field_path: String,
}

impl std::fmt::Display for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{{{} {{{} {} {} {} {}}} {{{}}}}}",
            self.name,
            self.gvk.group,
            self.gvk.version,
            self.gvk.kind,
            self.obj_name,
            self.namespace,
            self.field_path
        )
    }
}

fn text(v: Option<&Value>) -> String {
    v.map(scalar_text).unwrap_or_default()
}

/// Parses the `vars:` entries, with kustomize's defaults (`metadata.name`).
pub fn parse(v: Option<&Value>) -> KResult<Vec<Var>> {
    let Some(Value::Array(items)) = v else {
        return match v {
            None | Some(Value::Null) => Ok(Vec::new()),
            _ => Err(kerr("field 'vars' must be a list".into())),
        };
    };
    let mut out = Vec::new();
    for item in items {
        let name = text(item.get("name"));
        if name.is_empty() {
            return Err(kerr("var has no name".into()));
        }
        let o = item.get("objref").cloned().unwrap_or(Value::Null);
        let api_version = text(o.get("apiVersion"));
        let gvk = if api_version.is_empty() {
            Gvk {
                group: text(o.get("group")),
                version: text(o.get("version")),
                kind: text(o.get("kind")),
            }
        } else {
            Gvk::from_api_version(&api_version, &text(o.get("kind")))
        };
        let mut field_path = text(item.get("fieldref").and_then(|f| f.get("fieldpath")));
        if field_path.is_empty() {
            field_path = "metadata.name".into();
        }
        out.push(Var {
            name,
            gvk,
            obj_name: text(o.get("name")),
            namespace: text(o.get("namespace")),
            field_path,
        });
    }
    Ok(out)
}

/// `ResAccumulator.MergeVars`: binds each var to the one resource its objref names (by any
/// id it had), then adds it to the set, refusing duplicates.
pub fn merge(ra: &mut ResMap, incoming: &[Var]) -> KResult<()> {
    for v in incoming {
        let target = ResId {
            gvk: v.gvk.clone(),
            name: v.obj_name.clone(),
            namespace: v.namespace.clone(),
        };
        let exact = !target.namespace.is_empty() || target.is_cluster_scoped();
        let matched: Vec<usize> = ra
            .list
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                // GetMatchingResourcesByAnyId: any id it ever had, the current one included.
                r.all_ids().iter().any(|id| {
                    if exact {
                        id.equals(&target)
                    } else {
                        id.gvkn_equals(&target)
                    }
                })
            })
            .map(|(i, _)| i)
            .collect();
        if matched.len() > 1 {
            return Err(kerr(format!(
                "found {} resId matches for var {v} (unable to disambiguate)",
                matched.len()
            )));
        }
        if let Some(&i) = matched.first() {
            ra.list[i].ref_vars.push(v.name.clone());
        }
    }
    for v in incoming {
        add(&mut ra.vars, v.clone())?;
    }
    Ok(())
}

pub fn add(set: &mut Vec<Var>, v: Var) -> KResult<()> {
    if set.iter().any(|x| x.name == v.name) {
        return Err(kerr(format!("var '{}' already encountered", v.name)));
    }
    set.push(v);
    Ok(())
}

/// Splits a var's field path on dots outside brackets.
fn split_field_path(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in p.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            '.' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in split_field_path(path) {
        let (field, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part.as_str(), ""),
        };
        if !field.is_empty() {
            cur = cur.get(field)?;
        }
        let mut rest = rest;
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let sel = &r[..end];
            rest = &r[end + 1..];
            let items = cur.as_array()?;
            cur = match sel.split_once('=') {
                Some((k, val)) => items
                    .iter()
                    .find(|x| x.get(k).map(scalar_text).as_deref() == Some(val))?,
                None => items.get(sel.parse::<usize>().ok()?)?,
            };
        }
    }
    Some(cur)
}

/// `ResAccumulator.ResolveVars`: values from the bound resources, then `$(NAME)` replaced in
/// every `varReference` field.
pub fn resolve(ra: &mut ResMap, specs: &[FieldSpec]) -> KResult<()> {
    let mut sorted = ra.vars.clone();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut values: BTreeMap<String, Value> = BTreeMap::new();
    for v in &sorted {
        let Some(r) = ra.list.iter().find(|r| r.ref_vars.contains(&v.name)) else {
            return Err(kerr(format!(
                "var '{v}' cannot be mapped to a field in the set of known resources"
            )));
        };
        let value = match lookup(&r.obj, &v.field_path) {
            Some(x) if !x.is_null() => x.clone(),
            _ => {
                return Err(kerr(format!(
                    "field specified in var '{v}' not found in corresponding resource"
                )));
            }
        };
        if value.is_object() || value.is_array() {
            return Err(KError::Unsupported(format!(
                "var '{}' refers to a mapping or a list",
                v.name
            )));
        }
        values.insert(v.name.clone(), value);
    }
    if values.is_empty() {
        return Ok(());
    }
    for r in &mut ra.list {
        let gvk = r.gvk();
        for spec in specs {
            if !gvk.is_selected_by(&spec.gvk) {
                continue;
            }
            walk(&mut r.obj, &spec.path, CreateKind::None, &mut |node| {
                set(node, &values)
            })?;
        }
    }
    Ok(())
}

fn set(node: &mut Value, values: &BTreeMap<String, Value>) -> KResult<()> {
    match node {
        Value::String(s) => {
            *node = expand(s, values);
        }
        Value::Object(m) => {
            for v in m.values_mut() {
                if let Value::String(s) = v {
                    *v = expand(s, values);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                let Value::String(s) = item else {
                    return Err(kerr("invalid value type expect a string".into()));
                };
                *item = expand(s, values);
            }
        }
        _ => {}
    }
    Ok(())
}

/// kustomize's `expansion.Expand`: `$(NAME)` becomes the value (keeping its type when it is
/// the whole string), `$$` escapes, unknown names are left alone.
pub fn expand(input: &str, values: &BTreeMap<String, Value>) -> Value {
    let b = input.as_bytes();
    let mut out = String::new();
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < b.len() {
        if b[cursor] == b'$' && cursor + 1 < b.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let (read, is_var, advance) = match rest.as_bytes()[0] {
                b'$' => ("$".to_owned(), false, 1),
                b'(' => match rest[1..].find(')') {
                    Some(i) => (rest[1..i + 1].to_owned(), true, i + 2),
                    None => ("$(".to_owned(), false, 1),
                },
                _ => {
                    let ch = rest.chars().next().unwrap_or_default();
                    (format!("${ch}"), false, ch.len_utf8())
                }
            };
            if is_var {
                match values.get(&read) {
                    Some(v) => {
                        if input.len() == read.len() + 3 && input.starts_with("$(") {
                            return v.clone();
                        }
                        out.push_str(&scalar_text(v));
                    }
                    None => {
                        out.push_str("$(");
                        out.push_str(&read);
                        out.push(')');
                    }
                }
            } else {
                out.push_str(&read);
            }
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    if checkpoint < input.len() {
        out.push_str(&input[checkpoint..]);
    }
    Value::String(out)
}
