//! `replacements`: copy a field of one resource into fields of others, with kyaml's path syntax
//! (`a.b.[name=x].c`, `*`, indexes) and the delimiter/index/create options.

use regex::Regex;
use serde_json::{Map, Value};

use super::resource::{ResId, Resource};
use super::{Engine, KResult, ResMap, kerr};

#[derive(Debug, Default, Clone)]
struct Opts {
    delimiter: String,
    index: i64,
    create: bool,
}

fn s(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn opts(v: Option<&Value>) -> Opts {
    let Some(v) = v else { return Opts::default() };
    Opts {
        delimiter: s(v.get("delimiter")),
        index: v.get("index").and_then(Value::as_i64).unwrap_or(0),
        create: v.get("create").and_then(Value::as_bool).unwrap_or(false),
    }
}

#[derive(Debug, Default, Clone)]
struct Sel {
    group: String,
    version: String,
    kind: String,
    name: String,
    namespace: String,
    label_selector: String,
    annotation_selector: String,
}

fn sel(v: &Value) -> Sel {
    Sel {
        group: s(v.get("group")),
        version: s(v.get("version")),
        kind: s(v.get("kind")),
        name: s(v.get("name")),
        namespace: s(v.get("namespace")),
        label_selector: s(v.get("labelSelector")),
        annotation_selector: s(v.get("annotationSelector")),
    }
}

fn exact_selects(id: &ResId, s: &Sel) -> bool {
    (s.group.is_empty() || s.group == id.gvk.group)
        && (s.version.is_empty() || s.version == id.gvk.version)
        && (s.kind.is_empty() || s.kind == id.gvk.kind)
        && (s.name.is_empty() || s.name == id.name)
        && (s.namespace.is_empty() || s.namespace == id.namespace)
}

fn re(p: &str) -> KResult<Option<Regex>> {
    if p.is_empty() {
        return Ok(None);
    }
    Regex::new(&format!("^(?:{p})$"))
        .map(Some)
        .map_err(|e| kerr(format!("invalid regex '{p}': {e}")))
}

fn regex_selects(id: &ResId, s: &Sel) -> KResult<bool> {
    let m = |r: Option<Regex>, v: &str| r.is_none_or(|r| r.is_match(v));
    Ok(m(re(&s.group)?, &id.gvk.group)
        && m(re(&s.version)?, &id.gvk.version)
        && m(re(&s.kind)?, &id.gvk.kind)
        && m(re(&s.name)?, &id.name)
        && m(re(&s.namespace)?, &id.namespace))
}

fn selector_of(s: &Sel) -> super::kustomization::Selector {
    super::kustomization::Selector {
        label_selector: s.label_selector.clone(),
        annotation_selector: s.annotation_selector.clone(),
        ..Default::default()
    }
}

pub fn run(e: &Engine<'_>, dir: &str, entries: &[Value], ra: &mut ResMap) -> KResult<()> {
    let mut list = Vec::new();
    for entry in entries {
        if let Some(p) = entry.get("path").and_then(Value::as_str) {
            let full = e.resolve_file(dir, p)?;
            let text = e.read_text(&full)?;
            for d in e.parse(&text, &full)? {
                match d.value {
                    Value::Array(items) => list.extend(items),
                    v => list.push(v),
                }
            }
        } else {
            list.push(entry.clone());
        }
    }
    for r in &list {
        apply_one(r, ra)?;
    }
    Ok(())
}

fn apply_one(rep: &Value, ra: &mut ResMap) -> KResult<()> {
    let source = rep
        .get("source")
        .ok_or_else(|| kerr("replacement must have a source".into()))?;
    let ssel = sel(source);
    let mut found: Option<usize> = None;
    for (i, r) in ra.list.iter().enumerate() {
        if r.all_ids().iter().any(|id| exact_selects(id, &ssel)) {
            if found.is_some() {
                return Err(kerr(format!(
                    "more than one match for source {}",
                    describe(&ssel)
                )));
            }
            found = Some(i);
        }
    }
    let Some(si) = found else {
        return Err(kerr(format!("nothing selected by {}", describe(&ssel))));
    };
    let field_path = match s(source.get("fieldPath")) {
        p if p.is_empty() => "metadata.name".to_owned(),
        p => p,
    };
    let path = split(&field_path);
    let mut values = Vec::new();
    let mut src = ra.list[si].obj.clone();
    collect(&mut src, &path, false, &mut values);
    let value = match values.into_iter().next() {
        Some(v) if !v.is_null() => v,
        _ => {
            return Err(kerr(format!(
                "fieldPath `{field_path}` is missing for replacement source {}",
                ra.list[si].cur_id()
            )));
        }
    };
    let so = opts(source.get("options"));
    let value = if so.delimiter.is_empty() {
        value
    } else {
        let text = text_of(&value);
        let parts: Vec<&str> = text.split(so.delimiter.as_str()).collect();
        if so.index < 0 || so.index as usize >= parts.len() {
            return Err(kerr(format!(
                "options.index {} is out of bounds for value {text}",
                so.index
            )));
        }
        Value::String(parts[so.index as usize].to_owned())
    };
    let targets = rep
        .get("targets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for t in &targets {
        let select = t
            .get("select")
            .ok_or_else(|| kerr("target must specify resources to select".into()))?;
        let tsel = sel(select);
        let rejects: Vec<Sel> = t
            .get("reject")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(sel).collect())
            .unwrap_or_default();
        let paths: Vec<String> = match t.get("fieldPaths").and_then(Value::as_array) {
            Some(a) if !a.is_empty() => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => vec!["metadata.name".to_owned()],
        };
        let to = opts(t.get("options"));
        for r in ra.list.iter_mut() {
            if !super::patch::id_selected(r, &selector_of(&tsel))? {
                continue;
            }
            let ids = r.all_ids();
            let mut selected = false;
            for id in &ids {
                if regex_selects(id, &tsel)? {
                    selected = true;
                }
            }
            if !selected {
                continue;
            }
            let mut rejected = false;
            for rej in &rejects {
                let any_field = !(rej.group.is_empty()
                    && rej.version.is_empty()
                    && rej.kind.is_empty()
                    && rej.name.is_empty()
                    && rej.namespace.is_empty());
                if any_field && ids.iter().any(|id| regex_selects(id, rej).unwrap_or(false)) {
                    rejected = true;
                }
                if (!rej.label_selector.is_empty() || !rej.annotation_selector.is_empty())
                    && super::patch::id_selected(r, &selector_of(rej))?
                {
                    rejected = true;
                }
            }
            if rejected {
                continue;
            }
            for p in &paths {
                set_target(r, p, &value, &to)?;
            }
        }
    }
    Ok(())
}

fn describe(s: &Sel) -> String {
    let id = ResId {
        gvk: super::resource::Gvk {
            group: s.group.clone(),
            version: s.version.clone(),
            kind: s.kind.clone(),
        },
        name: s.name.clone(),
        namespace: s.namespace.clone(),
    };
    id.to_string()
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => crate::yaml::number_text(n),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        _ => String::new(),
    }
}

fn set_target(r: &mut Resource, field_path: &str, value: &Value, o: &Opts) -> KResult<()> {
    let path = split(field_path);
    let mut hits = 0;
    let mut err = None;
    visit(&mut r.obj, &path, o.create, &mut |t| {
        hits += 1;
        let mut v = value.clone();
        if !o.delimiter.is_empty() {
            let Some(cur) = t
                .as_str()
                .map(str::to_owned)
                .or_else(|| (!t.is_object() && !t.is_array()).then(|| text_of(t)))
            else {
                err = Some(kerr(
                    "delimiter option can only be used with scalar nodes".into(),
                ));
                return;
            };
            let mut parts: Vec<String> =
                cur.split(o.delimiter.as_str()).map(str::to_owned).collect();
            let nv = text_of(&v);
            if o.index < 0 {
                parts.insert(0, nv);
            } else if o.index as usize >= parts.len() {
                parts.push(nv);
            } else {
                parts[o.index as usize] = nv;
            }
            v = Value::String(parts.join(&o.delimiter));
        }
        let scalar_target = !t.is_object() && !t.is_array();
        let scalar_value = !v.is_object() && !v.is_array();
        if scalar_target && scalar_value {
            // kyaml copies the text and keeps the target's tag.
            let text = text_of(&v);
            *t = match t {
                Value::String(_) => Value::String(text),
                _ => crate::yaml::resolve_plain(&text),
            };
        } else {
            *t = v;
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    if hits == 0 {
        return Err(kerr(if o.create {
            format!("unable to find or create field \"{field_path}\" in replacement target")
        } else {
            format!("unable to find field \"{field_path}\" in replacement target")
        }));
    }
    Ok(())
}

/// Splits `a.b.[k=v.w].c` on dots outside brackets.
fn split(p: &str) -> Vec<String> {
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

fn collect(v: &mut Value, path: &[String], create: bool, out: &mut Vec<Value>) {
    visit(v, path, create, &mut |t| out.push(t.clone()));
}

fn visit(v: &mut Value, path: &[String], create: bool, f: &mut dyn FnMut(&mut Value)) {
    let Some(seg) = path.first() else {
        f(v);
        return;
    };
    let rest = &path[1..];
    if let Some(inner) = seg.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let Some((k, want)) = inner.split_once('=') else {
            return;
        };
        if let Value::Array(items) = v {
            let mut matched = false;
            for item in items.iter_mut() {
                if item.get(k).map(text_of).as_deref() == Some(want) {
                    matched = true;
                    visit(item, rest, create, f);
                }
            }
            if !matched && create {
                let mut m = Map::new();
                m.insert(k.to_owned(), Value::String(want.to_owned()));
                items.push(Value::Object(m));
                if let Some(last) = items.last_mut() {
                    visit(last, rest, create, f);
                }
            }
        }
        return;
    }
    if seg == "*" {
        match v {
            Value::Array(items) => items.iter_mut().for_each(|i| visit(i, rest, create, f)),
            Value::Object(m) => m.values_mut().for_each(|i| visit(i, rest, create, f)),
            _ => {}
        }
        return;
    }
    match v {
        Value::Array(items) => {
            if let Ok(i) = seg.parse::<usize>() {
                // kyaml's PathGetter appends the element one past the end when creating.
                if i == items.len() && create {
                    items.push(if rest.is_empty() {
                        Value::Null
                    } else {
                        Value::Object(Map::new())
                    });
                }
                if let Some(item) = items.get_mut(i) {
                    visit(item, rest, create, f);
                }
            }
        }
        Value::Object(m) => {
            if !m.contains_key(seg.as_str()) {
                if !create {
                    return;
                }
                let fresh = if rest
                    .first()
                    .is_some_and(|s| s.starts_with('[') || s.parse::<usize>().is_ok())
                {
                    Value::Array(Vec::new())
                } else if rest.is_empty() {
                    Value::Null
                } else {
                    Value::Object(Map::new())
                };
                m.insert(seg.clone(), fresh);
            }
            if let Some(c) = m.get_mut(seg.as_str()) {
                if c.is_null() && create && !rest.is_empty() {
                    *c = Value::Object(Map::new());
                }
                visit(c, rest, create, f);
            }
        }
        Value::Null if create => {
            *v = Value::Object(Map::new());
            visit(v, path, create, f);
        }
        _ => {}
    }
}
