//! `patches`, `patchesStrategicMerge` and `patchesJson6902`: loading patches, choosing their
//! targets (by id, or by selector with regexes and label/annotation selectors) and applying them.

use regex::Regex;
use serde_json::Value;

use super::kustomization::{Patch, Selector};
use super::resource::{Gvk, ResId, Resource};
use super::{Engine, KError, KResult, ResMap, kerr, smp};

/// A patch as kustomize's `PatchTransformer` loads it: the text (inline text trimmed), where
/// it came from (for errors) and how kustomize names its source (`[patch: "..."]`).
struct Loaded {
    text: String,
    origin: String,
    source: String,
}

fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Loads a `patches` entry given as a path or inline text.
fn patch_text(e: &Engine<'_>, dir: &str, p: &Patch) -> KResult<Loaded> {
    let inline = p.patch.as_deref().map(str::trim).unwrap_or_default();
    let path = p.path.as_deref().unwrap_or_default();
    match (path.is_empty(), inline.is_empty()) {
        (false, true) => {
            let full = e.resolve_file(dir, path).map_err(|err| {
                err.context(format!("failed to get the patch file from path({path})"))
            })?;
            Ok(Loaded {
                text: e.read_text(&full)?,
                origin: full,
                source: format!("[path: {}]", go_quote(path)),
            })
        }
        (true, false) => Ok(Loaded {
            text: inline.to_owned(),
            origin: format!("{dir}/<inline patch>"),
            source: format!("[patch: {}]", go_quote(inline)),
        }),
        (false, false) => Err(kerr("patch and path can't be set at the same time".into())),
        (true, true) => Err(kerr("must specify one of patch and path".into())),
    }
}

/// A `patchesStrategicMerge` entry's patches: a file, or inline YAML.
fn strategic_merge_patches(e: &Engine<'_>, dir: &str, entry: &str) -> KResult<Vec<Resource>> {
    let looks_inline = entry.contains('\n')
        || entry.trim_start().starts_with("apiVersion:")
        || entry.trim_start().starts_with("kind:");
    let (text, origin) = if looks_inline {
        (entry.to_owned(), format!("{dir}/<inline patch>"))
    } else {
        let full = e.resolve_file(dir, entry)?;
        (e.read_text(&full)?, full)
    };
    e.resources_from_text(&text, &origin)
}

/// `patchesStrategicMerge`: one `PatchStrategicMergeTransformer` for every entry, which
/// refuses a list whose files hold no patch at all.
pub fn strategic_merge_entries(
    e: &Engine<'_>,
    dir: &str,
    entries: &[String],
    ra: &mut ResMap,
) -> KResult<()> {
    let mut patches = Vec::new();
    for entry in entries {
        patches.extend(strategic_merge_patches(e, dir, entry)?);
    }
    if patches.is_empty() {
        return Err(kerr(format!(
            "patch appears to be empty; files=[{}], Patch=",
            entries.join(" ")
        )));
    }
    for patch in patches {
        let idx = ra.get_by_id(&patch.cur_id())?;
        apply_sm(e, ra, idx, &patch, false, false);
    }
    ra.list.retain(|r| !r.is_empty_object());
    Ok(())
}

/// Applies a strategic merge patch to resource `idx`, keeping its identity unless allowed.
fn apply_sm(
    e: &Engine<'_>,
    ra: &mut ResMap,
    idx: usize,
    patch: &Resource,
    allow_name: bool,
    allow_kind: bool,
) {
    let schema = e.smp_schema();
    let r = &mut ra.list[idx];
    let (name, ns, kind) = (r.name(), r.namespace(), r.kind());
    if allow_name || allow_kind {
        r.store_previous_id();
    }
    let gvk = r.gvk();
    let mut body = patch.obj.clone();
    if let Some(o) = body.as_object_mut() {
        // The target keeps its apiVersion.
        o.remove("apiVersion");
    }
    if !smp::apply(&mut r.obj, &body, &gvk, schema.as_deref()) {
        return;
    }
    if let Some(o) = r.obj.as_object_mut() {
        o.insert("apiVersion".into(), Value::String(gvk.api_version()));
    }
    if !allow_kind {
        r.set_kind(&kind);
    }
    if !allow_name {
        r.set_name(&name);
    }
    r.set_namespace(&ns);
}

/// kustomize's `jsonPatchFromBytes`: JSON as is, anything else read as YAML 1.1 first; the
/// operations must be a list of mappings.
fn json_ops(e: &Engine<'_>, text: &str, origin: &str) -> KResult<Vec<Value>> {
    if text.is_empty() {
        return Err(kerr("empty json patch operations".into()));
    }
    let value = if text.starts_with('[') {
        serde_json::from_str(text).map_err(|err| kerr(format!("invalid JSON patch: {err}")))?
    } else {
        e.parse_yaml11(text, origin)?
            .into_iter()
            .next()
            .map(|d| d.value)
            .unwrap_or(Value::Null)
    };
    match value {
        Value::Array(ops) if ops.iter().all(Value::is_object) => Ok(ops),
        _ => Err(kerr("not a list of JSON patch operations".into())),
    }
}

/// A `patches` entry: a strategic merge patch or a JSON 6902 one, decided as kustomize's
/// `PatchTransformer` decides.
pub fn patch_entry(e: &Engine<'_>, dir: &str, p: &Patch, ra: &mut ResMap) -> KResult<()> {
    let l = patch_text(e, dir, p)?;
    let sm = e.resources_from_text(&l.text, &l.origin);
    let json = json_ops(e, &l.text, &l.origin);
    match (&sm, &json) {
        (Ok(s), Ok(j)) if !s.is_empty() && !j.is_empty() => {
            return Err(kerr(format!(
                "illegally qualifies as both an SM and JSON patch: {}",
                l.source
            )));
        }
        (Err(_), Err(_)) => {
            // A YAML syntax error names the file and line; other failures read as kustomize's.
            if let Err(err @ KError::Yaml { .. }) = sm {
                return Err(err);
            }
            return Err(kerr(format!(
                "unable to parse SM or JSON patch from {}",
                l.source
            )));
        }
        _ => {}
    }
    let patches = match sm {
        Ok(patches) => patches,
        Err(_) => {
            let Some(target) = &p.target else {
                return Err(kerr(format!(
                    "must specify a target for JSON patch {}",
                    l.source
                )));
            };
            let ops = json.unwrap_or_default();
            return apply_json(ra, target, &Value::Array(ops), &l.origin);
        }
    };
    match &p.target {
        None => {
            for patch in &patches {
                let idx = ra.get_by_id(&patch.cur_id())?;
                apply_sm(e, ra, idx, patch, p.allow_name_change, p.allow_kind_change);
            }
        }
        Some(target) => {
            let selected = select(ra, target)?;
            for patch in &patches {
                for &idx in &selected {
                    apply_sm(e, ra, idx, patch, p.allow_name_change, p.allow_kind_change);
                }
            }
        }
    }
    ra.list.retain(|r| !r.is_empty_object());
    Ok(())
}

/// A `patchesJson6902` entry, validated as kustomize's `PatchJson6902Transformer` does.
pub fn json6902_entry(e: &Engine<'_>, dir: &str, p: &Patch, ra: &mut ResMap) -> KResult<()> {
    let Some(target) = p.target.as_ref().filter(|t| !t.name.is_empty()) else {
        return Err(kerr("must specify the target name".into()));
    };
    let path = p.path.as_deref().unwrap_or_default();
    let op = p.patch.as_deref().unwrap_or_default();
    let (text, origin) = match (path.is_empty(), op.is_empty()) {
        (true, true) => return Err(kerr("empty file path and empty jsonOp".into())),
        (false, false) => {
            return Err(kerr("must specify a file path or jsonOp, not both".into()));
        }
        (false, true) => {
            let full = e.resolve_file(dir, path)?;
            let text = e.read_text(&full)?;
            if text.is_empty() {
                return Err(kerr(format!("patch file '{path}' empty seems to be empty")));
            }
            (text, full)
        }
        (true, false) => (op.to_owned(), format!("{dir}/<inline patch>")),
    };
    let ops = json_ops(e, &text, &origin).map_err(|err| err.context(format!("decoding {text}")))?;
    if ops.is_empty() {
        return Err(kerr(format!(
            "patch appears to be empty; file={path}, JsonOp={text}"
        )));
    }
    apply_json(ra, target, &Value::Array(ops), &origin)
}

fn apply_json(ra: &mut ResMap, target: &Selector, ops: &Value, origin: &str) -> KResult<()> {
    let patch: json_patch::Patch = serde_json::from_value(ops.clone()).map_err(|err| {
        kerr(format!(
            "{}: invalid JSON patch: {err}",
            super::path::display(origin)
        ))
    })?;
    let selected = select(ra, target)?;
    for idx in selected {
        let r = &mut ra.list[idx];
        r.store_previous_id();
        json_patch::patch(&mut r.obj, &patch.0).map_err(|err| {
            kerr(format!(
                "{}: applying JSON patch to {}: {err}",
                super::path::display(origin),
                r.cur_id()
            ))
        })?;
        super::transform::finalize_annotations(r);
    }
    Ok(())
}

fn anchored(pattern: &str) -> KResult<Option<Regex>> {
    if pattern.is_empty() {
        return Ok(None);
    }
    Regex::new(&format!("^(?:{pattern})$"))
        .map(Some)
        .map_err(|err| KError::Msg(format!("invalid selector regex '{pattern}': {err}")))
}

fn matches(re: &Option<Regex>, s: &str) -> bool {
    re.as_ref().is_none_or(|r| r.is_match(s))
}

/// kustomize's `ResMap.Select`.
pub fn select(ra: &ResMap, s: &Selector) -> KResult<Vec<usize>> {
    let name = anchored(&s.name)?;
    let ns = anchored(&s.namespace)?;
    let group = anchored(&s.group)?;
    let version = anchored(&s.version)?;
    let kind = anchored(&s.kind)?;
    let labels = parse_label_selector(&s.label_selector)?;
    let annotations = parse_label_selector(&s.annotation_selector)?;
    let mut out = Vec::new();
    for (i, r) in ra.list.iter().enumerate() {
        let cur = r.cur_id();
        let org = r.org_id();
        if !matches(&ns, &org.effective_namespace()) && !matches(&ns, &cur.effective_namespace()) {
            continue;
        }
        if !matches(&name, &org.name) && !matches(&name, &cur.name) {
            continue;
        }
        let g: Gvk = r.gvk();
        if !matches(&group, &g.group) || !matches(&version, &g.version) || !matches(&kind, &g.kind)
        {
            continue;
        }
        if !labels_match(&labels, &r.labels()) || !labels_match(&annotations, &r.annotations()) {
            continue;
        }
        out.push(i);
    }
    Ok(out)
}

/// Whether a resource id is selected by a selector (used by replacements).
pub fn id_selected(r: &Resource, s: &Selector) -> KResult<bool> {
    let mut rm = ResMap::default();
    rm.list.push(r.clone());
    Ok(!select(&rm, s)?.is_empty())
}

#[derive(Debug)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// Kubernetes label-selector syntax: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`.
fn parse_label_selector(s: &str) -> KResult<Vec<Req>> {
    let mut reqs = Vec::new();
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let set = |rest: &str| -> Vec<String> {
            rest.trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .split(',')
                .map(|v| v.trim().to_owned())
                .collect()
        };
        if let Some((k, rest)) = part.split_once(" notin ") {
            reqs.push(Req::NotIn(k.trim().into(), set(rest)));
        } else if let Some((k, rest)) = part.split_once(" in ") {
            reqs.push(Req::In(k.trim().into(), set(rest)));
        } else if let Some((k, v)) = part.split_once("!=") {
            reqs.push(Req::Ne(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = part.split_once("==") {
            reqs.push(Req::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = part.split_once('=') {
            reqs.push(Req::Eq(k.trim().into(), v.trim().into()));
        } else if let Some(k) = part.strip_prefix('!') {
            reqs.push(Req::NotExists(k.trim().into()));
        } else {
            reqs.push(Req::Exists(part.into()));
        }
    }
    Ok(reqs)
}

fn labels_match(reqs: &[Req], labels: &[(String, String)]) -> bool {
    let get = |k: &str| {
        labels
            .iter()
            .find(|(lk, _)| lk == k)
            .map(|(_, v)| v.as_str())
    };
    reqs.iter().all(|r| match r {
        Req::Eq(k, v) => get(k) == Some(v.as_str()),
        Req::Ne(k, v) => get(k) != Some(v.as_str()),
        Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
        Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
        Req::Exists(k) => get(k).is_some(),
        Req::NotExists(k) => get(k).is_none(),
    })
}

/// Ids of a selector, for error messages.
#[allow(dead_code)]
pub fn describe(s: &Selector) -> ResId {
    ResId {
        gvk: Gvk {
            group: s.group.clone(),
            version: s.version.clone(),
            kind: s.kind.clone(),
        },
        name: s.name.clone(),
        namespace: s.namespace.clone(),
    }
}
