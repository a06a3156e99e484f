//! Values as Helm composes them: `CoalesceValues` and `MergeValues` (chart defaults, subchart
//! defaults, `global`, parent overrides, `null` deleting a default), and dependency processing
//! (`condition`, `tags`, `alias`, `import-values`).

use gantry_gotmpl::value::{MAP_ANY, deep_copy};
use gantry_gotmpl::{Map, Value};

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::chart::{Chart, Dependency};
use crate::funcs::semver_compatible;
use crate::objects::{VALUES, table};

fn is_table(v: &Value) -> bool {
    matches!(v, Value::Map(m) if std::ptr::eq(m.ty, &MAP_ANY))
}

fn as_table(v: &Value) -> Option<Map> {
    match v {
        Value::Map(m) if std::ptr::eq(m.ty, &MAP_ANY) => Some(m.clone()),
        _ => None,
    }
}

fn copy_map(m: &Map) -> Map {
    match deep_copy(&Value::Map(m.clone())) {
        Value::Map(c) => Map {
            ty: &MAP_ANY,
            nil: false,
            ..c
        },
        _ => Map::new(),
    }
}

/// What [`copy_map`] gives, for a map read for the last time: its entries moved out when
/// nothing else holds any part of it (Helm's copy then protects nothing), a copy otherwise.
fn take_or_copy(m: &Map) -> Map {
    if gantry_gotmpl::value::is_unshared(m) {
        Map::from_map(std::mem::take(&mut *m.data_mut()))
    } else {
        copy_map(m)
    }
}

/// `CoalesceValues(chart, vals)`; the error is Helm's message for a subchart's values that are
/// not a map.
pub fn coalesce_values(c: &Chart, vals: &Map) -> Result<Map, String> {
    let dest = copy_map(vals);
    coalesce(c, &dest, "", false, false)?;
    Ok(dest)
}

/// [`coalesce_values`] for the render, the last use of the charts' values and of the user's:
/// those that nothing else holds any part of are used as they are instead of being copied
/// (copying the charts' was a seventh of loading a large values file; copying the user's was a
/// fifth of the 1,000-template chart's fresh memory, each page of it a fault).
pub fn coalesce_values_last(c: &Chart, vals: &Map) -> Result<Map, String> {
    let dest = take_or_copy(vals);
    coalesce(c, &dest, "", false, true)?;
    Ok(dest)
}

/// `MergeValues(chart, vals)`: as coalescing, but `null` values are kept.
pub fn merge_values(c: &Chart, vals: &Map) -> Result<Map, String> {
    let dest = copy_map(vals);
    coalesce(c, &dest, "", true, false)?;
    Ok(dest)
}

fn concat_prefix(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_owned()
    } else {
        format!("{a}.{b}")
    }
}

fn coalesce(c: &Chart, dest: &Map, prefix: &str, merge: bool, last: bool) -> Result<(), String> {
    coalesce_chart_values(c, dest, prefix, merge, last);
    coalesce_deps(c, dest, prefix, merge, last)
}

fn coalesce_deps(
    c: &Chart,
    dest: &Map,
    prefix: &str,
    merge: bool,
    last: bool,
) -> Result<(), String> {
    for sub in &c.dependencies {
        let name = &sub.metadata.name;
        match dest.get(name) {
            None => dest.insert(name.clone(), Value::Map(Map::new())),
            Some(v) if is_table(&v) => {}
            Some(v) => {
                let shown = gantry_gotmpl::gofmt::sprintf("%t", &[v]).unwrap_or_default();
                return Err(format!("type mismatch on {name}: {shown}"));
            }
        }
        if let Some(Value::Map(dv)) = dest.get(name) {
            let sub_prefix = concat_prefix(prefix, &c.metadata.name);
            coalesce_globals(&dv, dest);
            coalesce(sub, &dv, &sub_prefix, merge, last)?;
            dest.insert(name.clone(), Value::Map(dv));
        }
    }
    Ok(())
}

fn coalesce_globals(dest: &Map, src: &Map) {
    let dg = match dest.get("global") {
        None => Map::new(),
        Some(v) => match as_table(&v) {
            Some(m) => m,
            None => return,
        },
    };
    let sg = match src.get("global") {
        None => Map::new(),
        Some(v) => match as_table(&v) {
            Some(m) => m,
            None => return,
        },
    };
    let entries: Vec<(String, Value)> = sg
        .data
        .borrow()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, val) in entries {
        if let Some(vm) = as_table(&val) {
            // A shallow copy, as Helm's copyMap.
            let vv = Map::from_map(vm.data.borrow().clone());
            match dg.get(&key) {
                None => dg.insert(key, Value::Map(vv)),
                Some(destv) => {
                    if let Some(destvmap) = as_table(&destv) {
                        coalesce_tables(&vv, &destvmap, true);
                        dg.insert(key, Value::Map(vv));
                    }
                }
            }
        } else if let Some(dv) = dg.get(&key)
            && is_table(&dv)
        {
            // A table is never replaced by a scalar.
        } else {
            dg.insert(key, val);
        }
    }
    dest.insert("global", Value::Map(dg));
}

fn clean_nil_values(m: &Map) {
    // In place: copying out every key of a large table (and each value, to look at it) was
    // most of coalescing a chart of 1,000 apps. The tables within are collected before any is
    // visited, so that no table is borrowed while another is changed.
    let tables: Vec<Map> = {
        let mut data = m.data_mut();
        data.retain(|_, v| !matches!(v, Value::Nil));
        data.values().filter_map(as_table).collect()
    };
    for t in &tables {
        clean_nil_values(t);
    }
}

fn coalesce_chart_values(c: &Chart, v: &Map, _prefix: &str, merge: bool, last: bool) {
    let vc = if last {
        take_or_copy(&c.values)
    } else {
        copy_map(&c.values)
    };
    let entries: Vec<(String, Value)> = vc
        .data
        .borrow()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, val) in entries {
        match v.get(&key) {
            Some(value) => {
                if matches!(value, Value::Nil) && !merge {
                    v.remove(&key);
                } else if let Some(dest) = as_table(&value)
                    && let Some(src) = as_table(&val)
                {
                    let merge = merge || c.dependencies.iter().any(|d| d.metadata.name == key);
                    if !merge {
                        clean_nil_values(&src);
                    }
                    coalesce_tables(&dest, &src, merge);
                }
            }
            None => {
                if !merge {
                    if matches!(val, Value::Nil) {
                        continue;
                    }
                    if let Some(sub) = as_table(&val) {
                        clean_nil_values(&sub);
                    }
                }
                v.insert(key, val);
            }
        }
    }
}

/// `coalesceTablesFullKey`: `dst` wins; its `null`s delete (unless merging).
///
/// What to change is found with both maps only borrowed, then done: no key or value is copied
/// out of a table whose keys both sides hold (copying every entry of every table out first was
/// most of coalescing a chart of 1,000 apps). Go visits `src` in random order, so the order of
/// the changes to distinct keys is not Helm's to define either.
pub fn coalesce_tables(dst: &Map, src: &Map, merge: bool) {
    if dst.ptr_eq(src) {
        return;
    }
    // Helm first writes `dst`'s nulls into `src`; a null of `dst` over a value `src` held is
    // then deleted, unless merging.
    let dst_nils: Vec<String> = dst
        .data
        .borrow()
        .iter()
        .filter(|(_, v)| matches!(v, Value::Nil))
        .map(|(k, _)| k.clone())
        .collect();
    let mut deletes = Vec::new();
    for k in dst_nils {
        let held = matches!(src.data.borrow().get(&k), Some(v) if !matches!(v, Value::Nil));
        if held && !merge {
            deletes.push(k.clone());
        }
        src.insert(k, Value::Nil);
    }
    let mut inserts = Vec::new();
    let mut tables = Vec::new();
    {
        let (d, s) = (dst.data.borrow(), src.data.borrow());
        for (key, val) in s.iter() {
            match d.get(key) {
                None => inserts.push((key.clone(), val.clone())),
                Some(dv) => {
                    if let Some(sv) = as_table(val)
                        && let Some(dm) = as_table(dv)
                    {
                        tables.push((dm, sv));
                    }
                }
            }
        }
    }
    for k in deletes {
        dst.remove(&k);
    }
    for (k, v) in inserts {
        dst.insert(k, v);
    }
    for (dm, sv) in tables {
        coalesce_tables(&dm, &sv, merge);
    }
}

/// Helm's `pathToMap`.
fn path_to_map(path: &str, data: Map) -> Map {
    if path == "." {
        return data;
    }
    let mut cur = data;
    for part in path.split('.').rev() {
        let m = Map::new();
        m.insert(part, Value::Map(cur));
        cur = m;
    }
    cur
}

fn values_of(m: &Map) -> Map {
    Map {
        data: m.data.clone(),
        ty: &VALUES,
        nil: false,
    }
}

/// What Helm's `*chart.Chart` is to dependency processing beyond its contents: its name, its
/// parent link (`ChartFullPath`, which names the chart's templates, follows it), its
/// `Metadata.Dependencies` and, once processed, its subcharts.
///
/// Helm (`getAliasDependency`) replaces each declared subchart with a copy (named by the alias,
/// if any) whose own subcharts are shallow copies re-parented to it; the copies' subcharts in
/// turn are the very objects the original holds, still parented where they were. A chart
/// processes (and re-parents) its subcharts only when its `Chart.yaml` declares dependencies,
/// so those grandchildren keep their old parent (`p/charts/s/charts/m/charts/x` under the
/// alias `twin`), and a shallow copy shares its `Metadata` with the chart it copies: what
/// processing one changes (an alias for a name, a dependency dropped) the other then sees.
/// Here each place in the tree is a chart of its own, so what one Helm object is in several
/// places is kept once, in its `Ident`: its parent link, its dependencies, and (for an object
/// reachable from several places, `shared`) its subcharts as its last processing left them.
#[derive(Debug)]
pub(crate) struct Ident {
    name: String,
    parent: RefCell<Option<Rc<Ident>>>,
    meta: Rc<RefCell<MetaDeps>>,
    shared: Cell<bool>,
    deps: RefCell<Option<Vec<Chart>>>,
}

impl Ident {
    fn new(name: &str, parent: Option<Rc<Ident>>, meta: Rc<RefCell<MetaDeps>>) -> Rc<Ident> {
        Rc::new(Ident {
            name: name.to_owned(),
            parent: RefCell::new(parent),
            meta,
            shared: Cell::new(false),
            deps: RefCell::new(None),
        })
    }

    /// `ChartFullPath`: the names along the parent links, joined by `/charts/`.
    pub(crate) fn full_path(&self) -> String {
        let mut names = vec![self.name.clone()];
        let mut up = self.parent.borrow().clone();
        while let Some(p) = up {
            names.push(p.name.clone());
            up = p.parent.borrow().clone();
        }
        names.reverse();
        names.join("/charts/")
    }
}

type MetaDeps = Option<Vec<Option<Dependency>>>;

fn ident(c: &Chart) -> Rc<Ident> {
    c.ident.clone().expect("a processed chart has its ident")
}

/// The loader's objects: each chart parented by the one holding it.
fn identify(c: &mut Chart, parent: Option<Rc<Ident>>) {
    let me = Ident::new(
        &c.metadata.name,
        parent,
        Rc::new(RefCell::new(c.metadata.dependencies.clone())),
    );
    for d in c.dependencies.iter_mut() {
        identify(d, Some(me.clone()));
    }
    c.ident = Some(me);
}

/// A chart's subcharts as Helm's object holds them now: those its last processing left, when
/// it is reachable from another place that was processed.
fn current_deps(c: &mut Chart) {
    let me = ident(c);
    if let Some(deps) = me.deps.borrow().as_ref() {
        c.dependencies = deps.clone();
    }
}

/// `SetDependencies`: each subchart's parent link is `c`.
fn adopt(c: &Chart) {
    let me = ident(c);
    for d in &c.dependencies {
        *ident(d).parent.borrow_mut() = Some(me.clone());
    }
}

/// `getAliasDependency`'s copy of `found`: its own name (the alias, if any) and dependencies,
/// its subcharts shallow copies parented to it (sharing their dependencies with the
/// originals), and theirs the originals' own.
fn alias_copy(found: &Chart, alias: &str) -> Chart {
    let mut copy = found.clone();
    current_deps(&mut copy);
    let of = ident(found);
    let meta = of.meta.borrow().clone();
    copy.metadata.dependencies = meta.clone();
    if !alias.is_empty() {
        copy.metadata.name = alias.to_owned();
    }
    let me = Ident::new(
        &copy.metadata.name,
        of.parent.borrow().clone(),
        Rc::new(RefCell::new(meta)),
    );
    for child in copy.dependencies.iter_mut() {
        current_deps(child);
        let was = ident(child);
        child.ident = Some(Ident::new(&was.name, Some(me.clone()), was.meta.clone()));
        for grandchild in &child.dependencies {
            ident(grandchild).shared.set(true);
        }
    }
    copy.ident = Some(me);
    copy
}

/// Each chart as Helm's objects end: the subcharts and dependencies its object holds last.
fn settle(c: &mut Chart) {
    current_deps(c);
    c.metadata.dependencies = ident(c).meta.borrow().clone();
    for d in c.dependencies.iter_mut() {
        settle(d);
    }
}

/// `ProcessDependencies`: enables and disables subcharts, applies aliases, then imports
/// values.
pub fn process_dependencies(c: &mut Chart, user: &Map) -> Result<(), String> {
    identify(c, None);
    let mut kept = Vec::new();
    let done = process_enabled(c, user, "", &mut kept);
    if done.is_ok() {
        settle(c);
    }
    // Subcharts kept for shared objects hold their parents' links: let go of them.
    for k in kept {
        k.deps.take();
    }
    done?;
    process_imports(c)
}

fn process_enabled(
    c: &mut Chart,
    v: &Map,
    path: &str,
    kept: &mut Vec<Rc<Ident>>,
) -> Result<(), String> {
    let me = ident(c);
    let Some(current) = me.meta.borrow().clone() else {
        return Ok(());
    };
    if me.shared.get() {
        // Processed from another place before: what that left is what this one finds.
        current_deps(c);
        for d in &c.dependencies {
            ident(d).shared.set(true);
        }
    }
    let reqs: Vec<Dependency> = current.into_iter().flatten().collect();
    let mut chart_deps: Vec<Chart> = Vec::new();
    for existing in &c.dependencies {
        let declared = reqs.iter().any(|r| {
            existing.metadata.name == r.name
                && semver_compatible(&r.version, &existing.metadata.version)
        });
        if !declared {
            chart_deps.push(existing.clone());
        }
    }
    let mut new_reqs = reqs.clone();
    for req in new_reqs.iter_mut() {
        if let Some(found) = c.dependencies.iter().find(|ch| {
            ch.metadata.name == req.name && semver_compatible(&req.version, &ch.metadata.version)
        }) {
            chart_deps.push(alias_copy(found, &req.alias));
        }
        if !req.alias.is_empty() {
            req.name = req.alias.clone();
        }
        req.enabled = true;
    }
    c.dependencies = chart_deps;
    adopt(c);
    set_reqs(c, &new_reqs);
    let cvals = coalesce_values(c, v)?;
    // Tags.
    if let Ok(vt) = table(&values_of(&cvals), "tags") {
        for r in new_reqs.iter_mut() {
            let (mut has_true, mut has_false) = (false, false);
            for k in &r.tags {
                if let Some(Value::Bool(b)) = vt.get(k) {
                    if b {
                        has_true = true;
                    } else {
                        has_false = true;
                    }
                }
            }
            if !has_true && has_false {
                r.enabled = false;
            } else if has_true || !has_false {
                r.enabled = true;
            }
        }
    }
    // Conditions: the first path that holds a boolean decides.
    let cv = values_of(&cvals);
    for r in new_reqs.iter_mut() {
        for cond in r.condition.trim().split(',') {
            if cond.is_empty() {
                continue;
            }
            if let Ok(Value::Bool(b)) = path_value(&cv, &format!("{path}{cond}")) {
                r.enabled = b;
                break;
            }
        }
    }
    let rm: Vec<String> = new_reqs
        .iter()
        .filter(|r| !r.enabled)
        .map(|r| r.name.clone())
        .collect();
    let mut cd: Vec<Chart> = std::mem::take(&mut c.dependencies)
        .into_iter()
        .filter(|n| !rm.contains(&n.metadata.name))
        .collect();
    let cd_meta: Vec<Dependency> = new_reqs
        .into_iter()
        .filter(|n| !rm.contains(&n.name))
        .collect();
    for t in cd.iter_mut() {
        let sub = format!("{path}{}.", t.metadata.name);
        process_enabled(t, &cvals, &sub, kept)?;
    }
    c.metadata.dependencies = if cd_meta.is_empty() {
        None
    } else {
        Some(cd_meta.into_iter().map(Some).collect())
    };
    *me.meta.borrow_mut() = c.metadata.dependencies.clone();
    c.dependencies = cd;
    adopt(c);
    if me.shared.get() {
        *me.deps.borrow_mut() = Some(c.dependencies.clone());
        kept.push(me);
    }
    Ok(())
}

fn set_reqs(c: &mut Chart, reqs: &[Dependency]) {
    c.metadata.dependencies = Some(reqs.iter().cloned().map(Some).collect());
}

fn path_value(m: &Map, path: &str) -> Result<Value, ()> {
    let parts: Vec<&str> = path.split('.').collect();
    if parts.len() == 1 {
        return match m.get(parts[0]) {
            Some(v) if !is_table(&v) => Ok(v),
            _ => Err(()),
        };
    }
    let key = parts[parts.len() - 1];
    let t = table(m, &parts[..parts.len() - 1].join(".")).map_err(|_| ())?;
    match t.get(key) {
        Some(v) if !is_table(&v) => Ok(v),
        _ => Err(()),
    }
}

fn process_imports(c: &mut Chart) -> Result<(), String> {
    for d in c.dependencies.iter_mut() {
        process_imports(d)?;
    }
    if c.metadata.dependencies.is_none() {
        return Ok(());
    }
    let cvals = merge_values(c, &Map::new())?;
    let cv = values_of(&cvals);
    let b = Map::new();
    let mut deps: Vec<crate::chart::Dependency> = c.metadata.deps().cloned().collect();
    for r in deps.iter_mut() {
        let mut outiv = Vec::new();
        for riv in &r.import_values {
            match riv {
                Value::Map(iv) => {
                    let show = |v: Option<Value>| {
                        gantry_gotmpl::gofmt::format_v(&v.unwrap_or(Value::Nil)).unwrap_or_default()
                    };
                    let child = show(iv.get("child"));
                    let parent = show(iv.get("parent"));
                    let m = Map::typed(Default::default(), &gantry_gotmpl::value::MAP_STR);
                    m.insert("child", Value::string(child.clone()));
                    m.insert("parent", Value::string(parent.clone()));
                    outiv.push(Value::Map(m));
                    let Ok(vv) = table(&cv, &format!("{}.{child}", r.name)) else {
                        continue;
                    };
                    let src = path_to_map(&parent, as_map(&vv));
                    coalesce_tables(&b, &src, true);
                }
                Value::String(iv) => {
                    let child = format!("exports.{iv}");
                    let m = Map::typed(Default::default(), &gantry_gotmpl::value::MAP_STR);
                    m.insert("child", Value::string(child.clone()));
                    m.insert("parent", Value::str("."));
                    outiv.push(Value::Map(m));
                    let Ok(vm) = table(&cv, &format!("{}.{child}", r.name)) else {
                        continue;
                    };
                    coalesce_tables(&b, &as_map(&vm), true);
                }
                _ => {}
            }
        }
        r.import_values = outiv;
    }
    c.metadata.dependencies = Some(deps.into_iter().map(Some).collect());
    if b.is_empty() {
        // Nothing imported: `cvals` is already a copy that nothing else holds, and Helm's
        // second copy (which keeps what `b` took from `cvals` from being shared) has nothing
        // to guard.
        c.values = cvals;
        return Ok(());
    }
    let copy = copy_map(&cvals);
    coalesce_tables(&copy, &b, true);
    c.values = copy;
    Ok(())
}

/// `Values.AsMap`: the same map as a `map[string]interface{}`.
fn as_map(v: &Map) -> Map {
    if v.is_empty() {
        return Map::new();
    }
    Map {
        data: v.data.clone(),
        ty: &MAP_ANY,
        nil: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: Vec<(&str, Value)>) -> Map {
        Map::from_map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }

    #[test]
    fn nulls_go_at_every_depth_and_a_shared_table_is_cleaned_once_for_all() {
        let shared = table(vec![("gone", Value::Nil), ("kept", Value::Int(1))]);
        let inner = table(vec![
            ("gone", Value::Nil),
            (
                "list",
                Value::List(gantry_gotmpl::List::new(vec![Value::Nil])),
            ),
            ("shared", Value::Map(shared.clone())),
        ]);
        let top = table(vec![
            ("a", Value::Nil),
            ("b", Value::Map(inner)),
            ("c", Value::Map(shared.clone())),
            ("d", Value::str("x")),
        ]);
        clean_nil_values(&top);
        let keys = |m: &Map| m.data.borrow().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&top), ["b", "c", "d"]);
        let Some(Value::Map(inner)) = top.get("b") else {
            panic!("b is a table")
        };
        // Only tables are cleaned: a list keeps its nulls.
        assert_eq!(keys(&inner), ["list", "shared"]);
        assert_eq!(keys(&shared), ["kept"]);
    }
}
