//! Helm's template engine (`pkg/engine`): every template of the chart and its subcharts in
//! one template set, parsed deepest path first, executed with scoped values; `include` and
//! `tpl` with Helm's recursion limit; `<no value>` erased; errors reformatted as Helm does.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::LazyLock;

use gantry_gotmpl::{
    Budget, Entries, Func, Funcs, GoError, Map, MissingKey, Template, Templates, Ty, Value,
};
use memchr::memmem::Finder;

use crate::HelmError;
use crate::ahead::ParseAhead;
use crate::chart::{Chart, Text};
use crate::funcs::encoding_markers::{WARN_END, WARN_START};
use crate::objects::{Capabilities, VALUES};

/// `include`'s recursion limit per template name.
const RECURSION_MAX: usize = 1000;

/// Per-render state of Helm's functions.
#[derive(Default)]
pub struct Host {
    included: gantry_gotmpl::FastMap<String, usize>,
    // What `tpl` made of each text: charts give it the same configuration text in every
    // template that includes it (a checksum of a config map is a render of it), and parsing
    // it again was a seventh of rendering tempo-distributed.
    tpl_parsed: gantry_gotmpl::FastMap<String, Rc<TplParse>>,
    tpl_parsed_bytes: usize,
    /// `include`s in progress.
    including: usize,
    /// What `include` gave, for calls made while no other `include` ran: a chart's templates
    /// include their `fullname` and `labels` helpers several times each with the same `.`,
    /// and those calls were a sixth of rendering 1,000 templates. Every entry was made at
    /// `remembered_at`, a count of map writes ([`gantry_gotmpl::value::map_writes`]): a write
    /// (`set`, `merge`, the next template's `.Template`) may change what a call gives, so the
    /// entries are dropped at the first call that sees another count.
    remembered: gantry_gotmpl::FastMap<IncludeKey, Remembered>,
    remembered_at: u64,
    remembered_bytes: usize,
    /// The top-level object (its identity) of the template file being rendered.
    root: Option<(usize, usize)>,
    /// The count of map writes when the last file's `.Template` was set, while every write
    /// since the first file was such a setting: the files' own actions wrote nothing.
    template_set_at: Option<u64>,
    /// A file's actions wrote a map: from then on nothing remembered outlives its file.
    wrote: bool,
    /// Whether a template (in a set) cannot see `.Template` ([`crate::blind`]), with handles
    /// that keep both addresses taken.
    blindness: gantry_gotmpl::FastMap<
        (usize, usize),
        (bool, gantry_gotmpl::Templates, Rc<gantry_gotmpl::Template>),
    >,
}

impl Host {
    /// Helm sets `.Template` on a chart's top-level object before each of its files (the
    /// writes from `before` to `after`); an answer of a template that cannot see it, given that
    /// object, holds for the next file too, while the files themselves write no map (so that
    /// nothing else can hold the top-level object).
    fn next_file(&mut self, before: u64, after: u64, root: &Map) {
        let clean = !self.wrote && self.template_set_at.is_none_or(|at| at == before);
        self.wrote = !clean;
        self.template_set_at = Some(after);
        if clean && self.remembered_at == before {
            self.remembered.retain(|_, r| r.blind);
            self.remembered_bytes = self
                .remembered
                .values()
                .filter_map(|r| r.out.go_bytes().map(<[u8]>::len))
                .sum();
            self.remembered_at = after;
        }
        self.root = identity(&Value::Map(root.clone()));
    }
}

/// One `include` call: the template set it ran in, the template, and `.` (a map or object,
/// compared by identity: Go passes maps by reference). The entry holds a handle of each, so no
/// other may take its address while it is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct IncludeKey {
    set: usize,
    template: usize,
    data: usize,
    data_type: usize,
}

struct Remembered {
    /// The nesting of template executions the call was made at: the same call at another
    /// depth may meet the limit on it.
    depth: usize,
    out: Value,
    /// Given the top-level object, by a template that cannot see `.Template`: kept for the
    /// next file.
    blind: bool,
    _pins: (gantry_gotmpl::Templates, Rc<gantry_gotmpl::Template>, Value),
}

/// How many bytes of `include` output a render remembers at once.
const REMEMBERED_MAX_BYTES: usize = 16 << 20;

/// `.` as [`IncludeKey`] compares it: a map or object by identity; other values are not
/// remembered.
fn identity(v: &Value) -> Option<(usize, usize)> {
    match v {
        Value::Map(m) => Some((
            Rc::as_ptr(&m.data) as usize,
            std::ptr::from_ref(m.ty) as usize | usize::from(m.nil),
        )),
        Value::Object(o) => Some((Rc::as_ptr(o).cast::<u8>() as usize, 0)),
        _ => None,
    }
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("included", &self.included)
            .field("tpl_parsed", &self.tpl_parsed.len())
            .finish()
    }
}

type TplParse = Result<Vec<(String, Rc<gantry_gotmpl::Template>)>, String>;

/// How much `tpl` text a render remembers parses of; beyond it, texts are parsed at each call.
const TPL_PARSED_MAX_BYTES: usize = 16 << 20;

struct Renderable {
    text: Text,
    vals: Map,
    base_path: String,
}

/// The built-in objects of the top-level chart.
#[derive(Debug)]
pub struct TopValues {
    /// `.Values`.
    pub values: Map,
    /// `.Release`.
    pub release: Map,
    /// `.Capabilities`.
    pub capabilities: Capabilities,
}

fn values_typed(m: &Map) -> Map {
    Map {
        data: m.data.clone(),
        ty: &VALUES,
        nil: false,
    }
}

fn table_of(values: &Map, name: &str) -> Option<Map> {
    crate::objects::table(values, name).ok()
}

fn rec_all(
    c: &Chart,
    full_path: &str,
    is_root: bool,
    parent: &Map,
    caps: &Value,
    out: &mut Vec<(String, Renderable)>,
) -> Map {
    let full_path = c.full_path_or(full_path);
    let full_path = full_path.as_ref();
    let sub_charts = Map::new();
    let meta = c.metadata.as_map();
    meta.insert("IsRoot", Value::Bool(is_root));
    let next = Map::typed(Entries::new(), &VALUES);
    next.insert("Chart", Value::Map(meta));
    let files: BTreeMap<String, Rc<[u8]>> = c.files.iter().cloned().collect();
    next.insert("Files", crate::objects::files(&files));
    next.insert("Release", parent.get("Release").unwrap_or(Value::Nil));
    next.insert("Capabilities", caps.clone());
    next.insert("Values", Value::Map(Map::typed(Entries::new(), &VALUES)));
    next.insert("Subcharts", Value::Map(sub_charts.clone()));
    if is_root {
        next.insert("Values", parent.get("Values").unwrap_or(Value::Nil));
    } else if let Some(vs) = table_of(parent, &["Values.", c.metadata.name.as_str()].concat()) {
        next.insert("Values", Value::Map(vs));
    }
    for child in &c.dependencies {
        let child_path = [full_path, "/charts/", child.metadata.name.as_str()].concat();
        let sub = rec_all(child, &child_path, false, &next, caps, out);
        sub_charts.insert(child.metadata.name.clone(), Value::Map(sub));
    }
    let library = c.metadata.is_library();
    // Joined once per chart and per template without `format!` (two thousand of them were
    // 1.3M instructions of the 1,000-template chart's render thread).
    let base_path = [full_path, "/templates"].concat();
    for (name, data) in &c.templates {
        let base = name.rsplit('/').next().unwrap_or(name);
        if library && !base.starts_with('_') {
            continue;
        }
        out.push((
            [full_path, "/", name].concat(),
            Renderable {
                text: data.clone(),
                vals: next.clone(),
                base_path: base_path.clone(),
            },
        ));
    }
    next
}

/// Helm's parse order: deepest paths first, then reverse name order. Each path's depth is
/// counted once, not at each of the sort's comparisons (counting them there was 1.6 % of the
/// instructions of a whole `gantry render` of prometheus).
fn sort_templates<T>(items: &mut Vec<(String, T)>) {
    let mut by_depth: Vec<(usize, (String, T))> =
        items.drain(..).map(|it| (depth(&it.0), it)).collect();
    // Paths are distinct: an unstable sort gives the same order.
    by_depth.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.0.cmp(&a.1.0)));
    items.extend(by_depth.into_iter().map(|(_, it)| it));
}

/// How many folders deep a template's path is: its `/`s.
pub(crate) fn depth(path: &str) -> usize {
    memchr::memchr_iter(b'/', path.as_bytes()).count()
}

/// The order of [`sort_templates`], which is also the order templates execute in.
pub(crate) fn execution_order(a: &str, b: &str) -> std::cmp::Ordering {
    depth(b).cmp(&depth(a)).then_with(|| b.cmp(a))
}

/// Whether a template's text may define templates (`define`, `block`): only those add names
/// other than their own to the set. A false positive costs only order.
pub(crate) fn defines(text: &[u8]) -> bool {
    // The searchers are made once, not at each of a chart's thousand calls.
    static DEFINE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"define"));
    static BLOCK: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"block"));
    DEFINE.find(text).is_some() || BLOCK.find(text).is_some()
}

fn include_fn() -> Func {
    Func::new(&[Ty::Str, Ty::Any], None, |rt, a| {
        let name = a[0].as_str().unwrap_or("");
        let tree = rt.lookup(name);
        let writes = gantry_gotmpl::value::map_writes();
        let depth = rt.budget.depth();
        let key = tree.as_ref().and_then(|t| {
            let (data, data_type) = identity(&a[1])?;
            Some(IncludeKey {
                set: rt.set.id(),
                template: Rc::as_ptr(t) as usize,
                data,
                data_type,
            })
        });
        let host = rt
            .host
            .downcast_mut::<Host>()
            .ok_or_else(|| GoError::unsupported("include outside a Helm render"))?;
        // Only a call no other include is running around is remembered or answered from
        // memory: the names' recursion counts are then all zero, as they were when it ran.
        let outermost = host.including == 0;
        if outermost && let Some(k) = &key {
            if host.remembered_at != writes {
                host.remembered.clear();
                host.remembered_bytes = 0;
                host.remembered_at = writes;
            } else if let Some(r) = host.remembered.get(k)
                && r.depth == depth
            {
                return Ok(r.out.clone());
            }
        }
        // A name's counter is made once and kept at zero between calls: no copy of the name
        // for each of a chart's thousands of includes.
        let n = match host.included.get_mut(name) {
            Some(n) => n,
            None => host.included.entry(name.to_owned()).or_insert(0),
        };
        if *n > RECURSION_MAX {
            return Err(GoError::new(format!(
                "rendering template has a nested reference name: {name}: unable to execute template"
            )));
        }
        *n += 1;
        host.including += 1;
        let calls = rt.budget.nondeterministic_calls();
        let r = match &tree {
            Some(t) => rt.execute_tree(name, t, a[1].clone()),
            None => rt.execute(name, a[1].clone()),
        };
        let same = calls == rt.budget.nondeterministic_calls()
            && writes == gantry_gotmpl::value::map_writes();
        let Some(h) = rt.host.downcast_mut::<Host>() else {
            return r.map(Value::go_string);
        };
        if let Some(n) = h.included.get_mut(name) {
            *n -= 1;
        }
        h.including -= 1;
        let out = Value::go_string(r?);
        // Remembered only when it wrote no map and called nothing random or timed: a second
        // call must then give what the first gave.
        if outermost
            && same
            && let (Some(k), Some(t)) = (key, tree)
            && let Some(len) = out.go_bytes().map(<[u8]>::len)
            && h.remembered_bytes + len <= REMEMBERED_MAX_BYTES
        {
            h.remembered_bytes += len;
            let of_root = h.root == Some((k.data, k.data_type));
            let blind = of_root
                && match h.blindness.get(&(k.set, k.template)) {
                    Some((b, ..)) => *b,
                    None => {
                        let b = crate::blind::blind(rt, &t);
                        let pins = (b, rt.set.clone(), t.clone());
                        if let Some(h) = rt.host.downcast_mut::<Host>() {
                            h.blindness.insert((k.set, k.template), pins);
                        }
                        b
                    }
                };
            let pins = (rt.set.clone(), t, a[1].clone());
            if let Some(h) = rt.host.downcast_mut::<Host>() {
                h.remembered.insert(
                    k,
                    Remembered {
                        depth,
                        out: out.clone(),
                        blind,
                        _pins: pins,
                    },
                );
            }
        }
        Ok(out)
    })
}

/// Helm's `strings.ReplaceAll(out, "<no value>", "")`, on the bytes of a Go string.
fn strip_no_value(out: Vec<u8>) -> Vec<u8> {
    const NV: &[u8] = b"<no value>";
    // Made once: making the searcher was most of the call for a template without the text.
    static FINDER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(NV));
    let finder = &*FINDER;
    let Some(first) = finder.find(&out) else {
        return out;
    };
    let mut res = Vec::with_capacity(out.len());
    res.extend_from_slice(&out[..first]);
    let mut i = first + NV.len();
    while let Some(j) = finder.find(&out[i..]) {
        res.extend_from_slice(&out[i..i + j]);
        i += j + NV.len();
    }
    res.extend_from_slice(&out[i..]);
    res
}

fn tpl_fn() -> Func {
    Func::new(&[Ty::Str, Ty::Any], None, |rt, a| {
        let text = a[0].as_str().unwrap_or("");
        let clone = rt.set.layer();
        let name = clone.name().to_owned();
        let remembered = rt
            .host
            .downcast_ref::<Host>()
            .and_then(|h| h.tpl_parsed.get(text).cloned());
        let parsed = remembered.unwrap_or_else(|| {
            let p = Rc::new(clone.parse_runnable(&name, text).map_err(|e| e.msg));
            if let Some(h) = rt.host.downcast_mut::<Host>()
                && h.tpl_parsed_bytes + text.len() <= TPL_PARSED_MAX_BYTES
            {
                h.tpl_parsed_bytes += text.len();
                h.tpl_parsed.insert(text.to_owned(), p.clone());
            }
            p
        });
        let tree = match &*parsed {
            Ok(templates) => {
                // An empty definition keeps one the set already has, which may be in a
                // template the render has not added yet (the text itself, empty or not, is
                // named like no template file).
                if templates
                    .iter()
                    .any(|(n, t)| n != &name && gantry_gotmpl::parse::is_empty_list(&t.tree.root))
                {
                    rt.complete_set();
                }
                clone.add_shared(&name, || std::sync::Arc::new(text.to_owned()), templates)
            }
            Err(msg) => {
                return Err(GoError::wrap(
                    format!(
                        "cannot parse template {}: ",
                        gantry_gotmpl::gofmt::quote(text)
                    ),
                    GoError::new(msg.clone()),
                ));
            }
        };
        let out = rt
            .with_set(clone, |rt| rt.execute_tree(&name, &tree, a[1].clone()))
            .map_err(|e| {
                GoError::wrap(
                    format!(
                        "error during tpl function execution for {}: ",
                        gantry_gotmpl::gofmt::quote(text)
                    ),
                    e,
                )
            })?;
        Ok(Value::go_string(strip_no_value(out)))
    })
}

/// The functions of a render: Sprig's, Helm's, `include` and `tpl`.
pub fn funcs() -> Rc<Funcs> {
    let mut m = crate::funcs::functions();
    m.insert("include".into(), include_fn());
    m.insert("tpl".into(), tpl_fn());
    Rc::new(Funcs::with_builtins(m))
}

/// The output of the engine: template path → rendered text, and why it might differ from
/// one render to the next.
#[derive(Debug, Clone, Default)]
pub struct EngineOutput {
    /// Every non-partial template's output.
    pub templates: BTreeMap<String, String>,
    /// Reasons the output is nondeterministic (empty when it is not).
    pub nondeterministic: Vec<String>,
    /// The bytes of each template whose output is not valid UTF-8 (a binary file printed as it
    /// is); `templates` holds them with each invalid byte replaced by U+FFFD.
    pub not_utf8: BTreeMap<String, Vec<u8>>,
}

/// Renders every template of `chart` (already processed) with `top`. The template set and the
/// per-template values go into `spent` instead of being freed here (see [`crate::render`]).
///
/// Helm parses every template, then executes them in order. Here a template executes as soon
/// as it and every template that defines others are in the set, while `ahead`'s helper thread
/// parses the rest: the output is the same because a template that defines nothing adds only
/// its own name, and a lookup of a name the set lacks first adds the template of that name
/// (`SetBuilder::complete_for`). Any parse error, once all are parsed, wins over an
/// execution error, as in Helm.
pub fn render(
    chart: &Chart,
    top: &TopValues,
    budget: &mut Budget,
    spent: &mut Spent,
    funcs: Rc<Funcs>,
    ahead: Option<&ParseAhead>,
) -> Result<EngineOutput, HelmError> {
    let caps = Value::Object(Rc::new(top.capabilities.clone()));
    let root = Map::new();
    root.insert("Values", Value::Map(values_typed(&top.values)));
    root.insert("Release", Value::Map(top.release.clone()));
    let mut found = Vec::new();
    rec_all(chart, &chart.metadata.name, true, &root, &caps, &mut found);
    // Built at once from the charts' (mostly sorted) order: a thousand inserts of paths that
    // share their first twenty bytes were 1.2M instructions of the render thread. As with the
    // inserts, a path found twice keeps its last template.
    let tpls: BTreeMap<String, Renderable> = found.into_iter().collect();

    // Each path with its template, in order: the render then finds each by its index.
    let mut order: Vec<(String, &Renderable)> = tpls.iter().map(|(k, r)| (k.clone(), r)).collect();
    sort_templates(&mut order);
    let (keys, rend): (Vec<String>, Vec<&Renderable>) = order.into_iter().unzip();
    let mut set = SetBuilder::new(&keys, rend, &tpls, ahead, funcs.clone());
    // Every execution needs every definition.
    let definers: Vec<usize> = (0..keys.len())
        .filter(|&i| {
            let text = set.rend[i].text.as_bytes();
            // The helper's plan has looked (a thousand searches of the text, twice).
            ahead
                .and_then(|a| a.defines(&keys[i], text))
                .unwrap_or_else(|| defines(text))
        })
        .collect();
    for &i in &definers {
        if set.obtain(i).is_err() {
            return Err(set.first_error());
        }
    }
    for &i in &definers {
        set.add(i);
    }
    // A definition named like a template that defines nothing: which one the set keeps
    // depends on the order of all, so all are added in order before anything executes.
    if set.redefines_a_template(&definers) {
        set = set.in_order(funcs);
        set.complete();
    }
    let complete = |name: Option<&str>| match name {
        Some(name) => set.complete_for(name),
        None => set.complete(),
    };
    let mut host = Host::default();
    let mut out = EngineOutput::default();
    for (i, name) in keys.iter().enumerate() {
        let base = name.rsplit('/').next().unwrap_or(name);
        if base.starts_with('_') {
            continue;
        }
        // A parse error found while completing the set is the render's error.
        if set.obtain(i).is_err() || set.state.borrow().error.is_some() {
            return Err(set.first_error());
        }
        set.add(i);
        let r = set.rend[i];
        let before = gantry_gotmpl::value::map_writes();
        let tm = Map::typed(Entries::new(), &VALUES);
        tm.insert("Name", Value::str(name));
        tm.insert("BasePath", Value::str(&r.base_path));
        r.vals.insert("Template", Value::Map(tm));
        host.next_file(before, gantry_gotmpl::value::map_writes(), &r.vals);
        let text = match set.set.execute_pending(
            name,
            Value::Map(r.vals.clone()),
            &mut host,
            budget,
            Some(&complete),
        ) {
            Ok(t) => t,
            Err(e) => return Err(set.parse_error().unwrap_or_else(|| exec_error(name, &e))),
        };
        let mut text = strip_no_value(text);
        // Kept until the render's end: a buffer that grew by doubling is half empty, and
        // the pages it spans are fresh memory each (the buffer it leaves serves the next).
        if text.capacity() - text.len() > text.len() / 8 {
            text = text.as_slice().to_vec();
        }
        match String::from_utf8(text) {
            Ok(t) => {
                out.templates.insert(name.clone(), t);
            }
            Err(e) => {
                // Helm's engine returns the bytes as they are; the text form is what its
                // JSON (the SDK's, `--helm-templates`) carries, each invalid byte a U+FFFD.
                let raw = e.into_bytes();
                out.templates
                    .insert(name.clone(), gantry_gotmpl::go_lossy(&raw));
                out.not_utf8.insert(name.clone(), raw);
            }
        }
    }
    // Partials that define nothing are parsed too, and may fail.
    if let Some(e) = set.last_parse_error() {
        return Err(e);
    }
    out.nondeterministic = budget.nondeterminism.iter().cloned().collect();
    let SetBuilder { set, state, .. } = set;
    spent.push(Box::new((set, state, tpls, host)));
    Ok(out)
}

type Runnable = Vec<(String, Rc<Template>)>;

/// The template set of one render, filled in Helm's order as execution needs it.
struct SetBuilder<'x> {
    set: Templates,
    keys: &'x [String],
    tpls: &'x BTreeMap<String, Renderable>,
    // Each key's template, by the key's index: not looked up by name at each of the render's
    // passes (four searches of the map per template).
    rend: Vec<&'x Renderable>,
    ahead: Option<&'x ParseAhead>,
    state: RefCell<BuildState>,
}

#[derive(Default)]
struct BuildState {
    // Each template's parse (by its index in `keys`), once obtained.
    parsed: Vec<Option<Result<Runnable, HelmError>>>,
    added: Vec<bool>,
    complete: bool,
    // The error of the first template, in order, that failed to parse, once all are parsed.
    error: Option<HelmError>,
}

impl<'x> SetBuilder<'x> {
    fn new(
        keys: &'x [String],
        rend: Vec<&'x Renderable>,
        tpls: &'x BTreeMap<String, Renderable>,
        ahead: Option<&'x ParseAhead>,
        funcs: Rc<Funcs>,
    ) -> SetBuilder<'x> {
        let set = Templates::new("gotpl", funcs, MissingKey::Zero);
        set.reserve(keys.len());
        let state = BuildState {
            parsed: vec![None; keys.len()],
            added: vec![false; keys.len()],
            ..BuildState::default()
        };
        SetBuilder {
            set,
            keys,
            tpls,
            rend,
            ahead,
            state: RefCell::new(state),
        }
    }

    /// The same templates in a fresh set, none added yet.
    fn in_order(self, funcs: Rc<Funcs>) -> SetBuilder<'x> {
        let fresh = SetBuilder::new(self.keys, self.rend, self.tpls, self.ahead, funcs);
        fresh.state.borrow_mut().parsed = self.state.into_inner().parsed;
        fresh
    }

    /// Parses template `i` unless it has been (or takes the helper's parse); its error is the
    /// render's only if no earlier template fails to parse.
    fn obtain(&self, i: usize) -> Result<(), ()> {
        if let Some(r) = &self.state.borrow().parsed[i] {
            return r.as_ref().map(|_| ()).map_err(|_| ());
        }
        let name = &self.keys[i];
        let text = &self.rend[i].text;
        // The helper's text is UTF-8: a text it parsed needs no checking again.
        let parsed = self
            .ahead
            .and_then(|a| a.take(name, text.as_bytes(), &|f| self.set.has_func(f)))
            .map(|trees| trees.map(gantry_gotmpl::exec::runnable));
        let r = match parsed.map_or_else(
            || match text {
                Text::Utf8(s) => Ok(self.set.parse_runnable_shared(name, s.clone())),
                Text::Bytes(_) => Err(()),
            },
            Ok,
        ) {
            Err(_) => Err(HelmError::Unsupported(format!(
                "{name} is not valid UTF-8 (not supported by Gantry)"
            ))),
            Ok(trees) => trees.map_err(|e| HelmError::Template(cleanup_parse_error(name, &e.msg))),
        };
        let ok = r.is_ok();
        self.state.borrow_mut().parsed[i] = Some(r);
        if ok { Ok(()) } else { Err(()) }
    }

    /// Adds template `i`, already obtained without error, to the set.
    fn add(&self, i: usize) {
        let mut st = self.state.borrow_mut();
        if st.added[i] {
            return;
        }
        st.added[i] = true;
        if let Some(Ok(templates)) = &st.parsed[i] {
            let name = &self.keys[i];
            let text = || match &self.rend[i].text {
                Text::Utf8(s) => s.clone(),
                Text::Bytes(_) => std::sync::Arc::default(),
            };
            self.set.add_shared(name, text, templates);
        }
    }

    /// Whether a template in `definers` defines a name that a template defining nothing has.
    fn redefines_a_template(&self, definers: &[usize]) -> bool {
        let st = self.state.borrow();
        definers.iter().any(|&i| {
            let Some(Ok(templates)) = &st.parsed[i] else {
                return false;
            };
            templates.iter().any(|(n, _)| {
                n != &self.keys[i]
                    && self
                        .tpls
                        .get(n)
                        .is_some_and(|r| !defines(r.text.as_bytes()))
            })
        })
    }

    /// Adds what a lookup of `name` finds in the complete set, and only that: a chart's
    /// templates commonly include another file's output (`include (print $.Template.BasePath
    /// "/configmap.yaml") . | sha256sum`), and completing the set there had the render parse
    /// every template left at its first one, while the helper could have gone on with them.
    /// Every template that defines others is in the set before anything executes, and one
    /// that defines nothing adds only its own name (when a definition shadows such a name, the
    /// set was completed in order), so the template of that path is all a lookup needs; a name
    /// no template has is missing from the complete set too. A template that fails to parse
    /// completes the set, whose first error, in order, is the render's.
    fn complete_for(&self, name: &str) {
        if self.state.borrow().complete {
            return;
        }
        let Ok(i) = self.keys.binary_search_by(|k| execution_order(k, name)) else {
            return;
        };
        if self.obtain(i).is_err() {
            self.complete();
            return;
        }
        self.add(i);
    }

    /// Parses and adds, in order, every template not yet added, stopping at the first that
    /// fails to parse (Helm's parse loop).
    fn complete(&self) {
        if std::mem::replace(&mut self.state.borrow_mut().complete, true) {
            return;
        }
        for i in 0..self.keys.len() {
            if self.obtain(i).is_err() {
                let mut st = self.state.borrow_mut();
                if let Some(Err(e)) = &st.parsed[i] {
                    st.error = Some(e.clone());
                }
                return;
            }
            self.add(i);
        }
    }

    /// The first error, in order, of parsing every template (Helm reports it before any
    /// execution error).
    fn parse_error(&self) -> Option<HelmError> {
        self.complete();
        self.state.borrow_mut().error.take()
    }

    /// [`SetBuilder::parse_error`] after the last execution.
    fn last_parse_error(&self) -> Option<HelmError> {
        self.complete();
        self.state.borrow_mut().error.take()
    }

    /// The render's error after a template failed to parse: the first, in order, of all.
    fn first_error(&self) -> HelmError {
        self.parse_error()
            .unwrap_or_else(|| HelmError::Template("a template failed to parse".to_owned()))
    }
}

/// What a render no longer needs, freed after its answer is sent: freeing a large chart's
/// parse trees and values is a tenth of its render.
pub type Spent = Vec<Box<dyn std::any::Any>>;

/// Helm's `cleanupParseError`.
pub fn cleanup_parse_error(name: &str, msg: &str) -> String {
    let tokens: Vec<&str> = msg.split(": ").collect();
    if tokens.len() == 1 {
        return format!("parse error in ({name}): {msg}");
    }
    format!(
        "parse error at ({}): {}",
        tokens[1],
        tokens[tokens.len() - 1]
    )
}

fn exec_error(name: &str, e: &GoError) -> HelmError {
    if let Some(g) = e.gantry_cause() {
        return match g.kind {
            gantry_gotmpl::ErrorKind::Limit => HelmError::Limit(format!("{name}: {}", g.msg)),
            _ => HelmError::Unsupported(format!(
                "{}: {}",
                location_of(e).unwrap_or_else(|| name.to_owned()),
                g.msg
            )),
        };
    }
    HelmError::Template(reformat_exec_error(name, e))
}

/// The first `name:line:col` of an exec error.
fn location_of(e: &GoError) -> Option<String> {
    let rest = e.msg.strip_prefix("template: ")?;
    rest.split(": ").next().map(str::to_owned)
}

#[derive(PartialEq)]
struct Traceable {
    location: String,
    message: String,
    executed: String,
}

impl Traceable {
    fn text(&self) -> String {
        let mut s = String::new();
        if !self.location.is_empty() {
            s.push_str(&format!("{}\n  ", self.location));
        }
        if !self.executed.is_empty() {
            s.push_str(&format!("{}\n    ", self.executed));
        }
        if !self.message.is_empty() {
            s.push_str(&format!("{}\n", self.message));
        }
        s
    }
}

fn parse_traceable(s: &str) -> Option<Traceable> {
    let remainder = s.strip_prefix("template: ")?;
    if remainder.starts_with("no template ") {
        return Some(Traceable {
            location: String::new(),
            message: s.to_owned(),
            executed: String::new(),
        });
    }
    if let Some((tname, after)) = remainder.split_once(": executing ") {
        if let Some(rest) = after.strip_prefix('"')
            && let Some(end) = rest.find('"')
        {
            let func = &rest[..end];
            let after_func = &rest[end + 1..];
            if let Some(after_at) = after_func.strip_prefix(" at <")
                && let Some((loc, msg)) = after_at.split_once(">: ")
            {
                let msg = match msg.find(" template:") {
                    Some(i) => &msg[..i],
                    None => msg,
                };
                return Some(Traceable {
                    location: tname.to_owned(),
                    message: msg.to_owned(),
                    executed: format!("executing \"{func}\" at <{loc}>:"),
                });
            }
        }
        return None;
    }
    let sep = remainder.rfind(": ")?;
    let mut msg = &remainder[sep + 2..];
    if let Some(i) = msg.find(" template:") {
        msg = &msg[..i];
    }
    Some(Traceable {
        location: remainder[..sep].to_owned(),
        message: msg.to_owned(),
        executed: String::new(),
    })
}

/// Helm's `reformatExecErrorMsg`.
pub fn reformat_exec_error(name: &str, e: &GoError) -> String {
    if !e.exec {
        return e.msg.clone();
    }
    let tokens: Vec<&str> = e.msg.splitn(3, ": ").collect();
    if tokens.len() != 3 {
        return format!("execution error in ({name}): {}", e.msg);
    }
    let location = tokens[1];
    if let Some(start) = tokens[2].find(WARN_START)
        && let Some(end) = tokens[2].rfind(WARN_END)
        && end >= start + WARN_START.len()
    {
        return format!(
            "execution error at ({location}): {}",
            &tokens[2][start + WARN_START.len()..end]
        );
    }
    let mut locs: Vec<Traceable> = Vec::new();
    for level in e.chain() {
        match parse_traceable(&level.msg) {
            Some(t) => {
                if locs.last() != Some(&t) {
                    locs.push(t);
                }
            }
            None => return e.msg.clone(),
        }
    }
    let s: String = locs.iter().map(Traceable::text).collect();
    s.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates(texts: &[(&str, &str)]) -> (Vec<String>, BTreeMap<String, Renderable>) {
        let tpls: BTreeMap<String, Renderable> = texts
            .iter()
            .map(|(name, text)| {
                let r = Renderable {
                    text: Text::Utf8(std::sync::Arc::new((*text).to_owned())),
                    vals: Map::new(),
                    base_path: "c/templates".into(),
                };
                (format!("c/templates/{name}"), r)
            })
            .collect();
        let mut order: Vec<(String, ())> = tpls.keys().map(|k| (k.clone(), ())).collect();
        sort_templates(&mut order);
        (order.into_iter().map(|(k, _)| k).collect(), tpls)
    }

    fn builder<'x>(keys: &'x [String], tpls: &'x BTreeMap<String, Renderable>) -> SetBuilder<'x> {
        let rend = keys.iter().map(|k| &tpls[k]).collect();
        SetBuilder::new(keys, rend, tpls, None, funcs())
    }

    /// Helm's parse order, each path's depth counted once: deepest first, then names in
    /// reverse, as the comparison of two paths orders them.
    #[test]
    fn templates_sort_deepest_first_then_by_reverse_name() {
        let mut keys: Vec<String> = [
            "c/templates/b.yaml",
            "c/charts/s/templates/a.yaml",
            "c/templates/a.yaml",
            "c/templates/z/deep.yaml",
            "c/charts/s/templates/_h.tpl",
            "c/templates/a-b.yaml",
        ]
        .map(String::from)
        .to_vec();
        let mut by_comparison = keys.clone();
        by_comparison.sort_by(|a, b| execution_order(a, b));
        let mut order: Vec<(String, usize)> = keys.drain(..).zip(0..).collect();
        sort_templates(&mut order);
        // Each path keeps what it came with.
        assert_eq!(
            order
                .iter()
                .find(|(k, _)| k == "c/templates/a.yaml")
                .map(|o| o.1),
            Some(2)
        );
        keys.extend(order.into_iter().map(|(k, _)| k));
        assert_eq!(keys, by_comparison);
        assert_eq!(
            keys,
            [
                "c/charts/s/templates/a.yaml",
                "c/charts/s/templates/_h.tpl",
                "c/templates/z/deep.yaml",
                "c/templates/b.yaml",
                "c/templates/a.yaml",
                "c/templates/a-b.yaml",
            ]
        );
    }

    fn added<'k>(set: &SetBuilder<'k>) -> Vec<&'k str> {
        let st = set.state.borrow();
        let names = set.keys.iter().zip(&st.added);
        let base = |k: &'k String| k.strip_prefix("c/templates/").unwrap_or(k);
        names.filter(|(_, a)| **a).map(|(k, _)| base(k)).collect()
    }

    /// A lookup of a template file adds that file alone: the others stay for the helper to
    /// parse, in order, while the render executes.
    #[test]
    fn a_lookup_adds_only_the_template_it_names() {
        let (keys, tpls) = templates(&[("z.yaml", "z"), ("m.yaml", "m"), ("a.yaml", "a")]);
        let set = builder(&keys, &tpls);
        set.complete_for("c/templates/a.yaml");
        assert_eq!(added(&set), ["a.yaml"]);
        assert!(
            set.state.borrow().parsed[1].is_none(),
            "m.yaml is not parsed"
        );
        // No template has this name, so the complete set lacks it too.
        set.complete_for("c/templates/nowhere.yaml");
        assert_eq!(added(&set), ["a.yaml"]);
        set.complete();
        assert_eq!(added(&set), ["z.yaml", "m.yaml", "a.yaml"]);
        assert!(set.parse_error().is_none());
    }

    /// When the template a lookup names does not parse, the render's error is the first, in
    /// Helm's order, of all templates that do not.
    #[test]
    fn a_lookup_of_a_template_that_does_not_parse_completes_the_set() {
        let (keys, tpls) = templates(&[
            ("z.yaml", "z"),
            ("m.yaml", "{{ if }}"),
            ("a.yaml", "{{ end }}"),
        ]);
        let set = builder(&keys, &tpls);
        set.complete_for("c/templates/a.yaml");
        assert!(set.state.borrow().complete);
        let err = set.parse_error().expect("a template does not parse");
        assert!(err.to_string().contains("m.yaml"), "{err}");
    }

    #[test]
    fn strip_no_value_removes_every_occurrence() {
        let s = |t: &str| String::from_utf8(strip_no_value(t.as_bytes().to_vec())).unwrap();
        assert_eq!(s("a: <no value>\nb: x<no value>y<no value>"), "a: \nb: xy");
        assert_eq!(s("<no value><no value>"), "");
        assert_eq!(s("<no value"), "<no value");
        assert_eq!(s("<no <no value>value>"), "<no value>");
        assert_eq!(s(""), "");
    }
}
