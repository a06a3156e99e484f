//! Work a helper thread does ahead of a chart's render: parsing a large chart's templates and
//! compiling any `values.schema.json`, which depend on nothing the render computes first.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, TryLockError};

use gantry_gotmpl::parse::{ParseError, Tree};

use crate::chart::{ValuesDocs, strip_bom};
use crate::schema;

/// Below this much template text a chart is parsed where it renders: starting a thread costs
/// more than it saves.
const PARSE_AHEAD_MIN_BYTES: usize = 64 << 10;

/// What the parser made of a template: its trees, by name.
pub type ParseResult = Result<HashMap<String, Tree>, ParseError>;

/// A schema's compiled form, once a thread has compiled it.
type SchemaSlot = Mutex<Option<Arc<schema::Compiled>>>;

/// A values file's documents: parsed by the helper, then taken by the render.
#[derive(Default)]
enum ValuesSlot {
    #[default]
    Free,
    Done(ValuesDocs),
    // Taken by the render (or the same text again: the render parses that one itself).
    Gone,
}

/// A chart's templates and schemas, copied out of its files and prepared by a helper thread
/// from the start of the render, while the render thread reads values and loads, processes
/// and checks the chart, then executes templates as they become ready. Parsing is the largest
/// part of a large chart's render, and each template parses alone, as Go's parser does (only
/// adding its trees to the set, in Helm's order, depends on the others). Nothing
/// reference-counted crosses: the work is plain bytes and strings.
///
/// The helper parses in the order the render needs them: the templates that define others
/// first (every execution needs them all), then the rest in Helm's execution order. The render
/// takes each template's trees when it needs them: done, or it waits while the helper is
/// parsing it, or it parses it itself when the helper has not reached it.
///
/// It reads the chart's layout as the loader will (`templates/` of the chart and of each
/// subchart folder under `charts/`, names from each `Chart.yaml`), but nothing depends on
/// that: [`crate::engine::render`] uses a tree only when its path and text are those it would
/// parse, and parses anything else itself (an archived or aliased subchart, a file
/// `.helmignore` drops).
///
/// Values files go first: loading the chart (which parses them) is the render's first step, and
/// parsing prometheus's five (112 KB, mostly comments) was 0.5 ms of it. Schemas next: the
/// render checks values against them before it needs a template, and compiling one (with the
/// check of the schema against its draft's meta-schema) was a fifth of rendering prometheus.
/// Both are found by their text, so the same holds for them.
pub struct ParseAhead {
    // Each `values.schema.json`, and what it compiles to once a thread has compiled it. A
    // thread holds the lock while it compiles, so the render waits for the helper rather than
    // compile it twice; a helper that panicked leaves the lock poisoned and the slot empty.
    schemas: Vec<(Vec<u8>, SchemaSlot)>,
    // Each `values.yaml` of the chart and its subchart folders, parsed into documents by the
    // helper before anything else (the render loads them first). A thread holds the lock
    // while it parses one, so the render waits for the helper rather than parse it twice.
    values: Vec<(String, Mutex<ValuesSlot>)>,
    // Folder of each chart (`""`, `charts/a/`, ...) → its Chart.yaml.
    charts: BTreeMap<String, Vec<u8>>,
    // (chart folder, path in the chart, text; `None` when it is not UTF-8). Shared with the
    // trees parsed from it, which keep it for the locations of errors.
    templates: Vec<(String, String, Option<Arc<str>>)>,
    // The path each template parses as and the order to parse them in, found by whichever
    // thread starts first.
    plan: OnceLock<Plan>,
    slots: Mutex<Slots>,
    // Signalled when a slot the render waits for is done.
    ready: Condvar,
}

#[derive(Default)]
struct Plan {
    // The path each template parses as.
    paths: Vec<Option<String>>,
    // Path → index in `templates`, for the templates that have one.
    index: HashMap<String, usize>,
    // Indexes in the order the helper takes them.
    order: Vec<usize>,
}

#[derive(Default)]
struct Slots {
    state: Vec<Slot>,
    // Position in the plan's order of the next template the helper looks at.
    next: usize,
    // The render is waiting for a slot.
    waiting: bool,
    // The render has ended: the helper stops.
    stop: bool,
}

#[derive(Default)]
enum Slot {
    #[default]
    Free,
    Parsing,
    Done(ParseResult),
    // Taken by the render, or given up by a helper that panicked.
    Gone,
}

impl std::fmt::Debug for ParseAhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParseAhead")
            .field("schemas", &self.schemas.len())
            .field("values", &self.values.len())
            .field("charts", &self.charts.keys())
            .field("templates", &self.templates.len())
            .finish_non_exhaustive()
    }
}

impl ParseAhead {
    /// The templates and schemas of the chart whose files are `files`; `None` when there is
    /// too little to do (a thread costs more than it saves).
    pub fn collect(files: &BTreeMap<String, Vec<u8>>) -> Option<ParseAhead> {
        let mut charts = BTreeMap::new();
        // Borrowed until the chart proves large enough to copy them for the helper.
        let mut templates: Vec<(&str, &str, &[u8])> = Vec::new();
        let mut schemas: Vec<&[u8]> = Vec::new();
        let mut values: Vec<&[u8]> = Vec::new();
        for (path, data) in files {
            let mut folder = 0;
            let mut rest = path.as_str();
            loop {
                if rest == "Chart.yaml" {
                    charts.insert(path[..folder].to_owned(), strip_bom(data).to_vec());
                    break;
                }
                if rest.starts_with("templates/") {
                    templates.push((&path[..folder], rest, strip_bom(data)));
                    break;
                }
                if rest == "values.schema.json" {
                    schemas.push(strip_bom(data));
                    break;
                }
                if rest == "values.yaml" {
                    values.push(strip_bom(data));
                    break;
                }
                let Some(sub) = rest.strip_prefix("charts/") else {
                    break;
                };
                let Some(end) = sub.find('/') else {
                    break;
                };
                folder += "charts/".len() + end + 1;
                rest = &path[folder..];
            }
        }
        let bytes: usize = templates.iter().map(|(_, _, t)| t.len()).sum::<usize>()
            + values.iter().map(|v| v.len()).sum::<usize>();
        // Any schema is worth a thread: compiling one starts with checking it against its
        // draft's meta-schema, which is compiled first.
        let count = templates.len();
        (bytes >= PARSE_AHEAD_MIN_BYTES || !schemas.is_empty()).then(|| ParseAhead {
            schemas: schemas
                .into_iter()
                .map(|s| (s.to_vec(), Mutex::new(None)))
                .collect(),
            // A file that is not UTF-8 is refused by the render, which reads it itself.
            values: values
                .into_iter()
                .filter_map(|v| std::str::from_utf8(v).ok())
                .map(|v| (v.to_owned(), Mutex::new(ValuesSlot::Free)))
                .collect(),
            charts,
            templates: templates
                .into_iter()
                .map(|(f, n, t)| {
                    let text = std::str::from_utf8(t).ok().map(Arc::from);
                    (f.to_owned(), n.to_owned(), text)
                })
                .collect(),
            plan: OnceLock::new(),
            slots: Mutex::new(Slots {
                state: std::iter::repeat_with(Slot::default).take(count).collect(),
                ..Slots::default()
            }),
            ready: Condvar::new(),
        })
    }

    fn plan(&self) -> &Plan {
        self.plan.get_or_init(|| {
            // Each chart's path in the template set; a parent's folder sorts before its
            // children's.
            let mut charts: HashMap<&str, String> = HashMap::new();
            for (folder, yaml) in &self.charts {
                let mut md = crate::chart::Metadata::default();
                let Ok(text) = std::str::from_utf8(yaml) else {
                    continue;
                };
                if crate::chart::decode_metadata(text, &mut md).is_err() {
                    continue;
                }
                let path = if folder.is_empty() {
                    md.name
                } else {
                    let inner = &folder[..folder.len() - 1];
                    let Some(parent) = inner
                        .rfind("charts/")
                        .and_then(|cut| charts.get(&inner[..cut]))
                    else {
                        continue;
                    };
                    format!("{parent}/charts/{}", md.name)
                };
                charts.insert(folder, path);
            }
            let mut plan = Plan::default();
            let mut defines = Vec::with_capacity(self.templates.len());
            for (i, (folder, name, text)) in self.templates.iter().enumerate() {
                defines.push(
                    text.as_deref()
                        .is_some_and(|t| crate::engine::defines(t.as_bytes())),
                );
                // Text that is not UTF-8 is refused, in order, by the render.
                let path = charts
                    .get(folder.as_str())
                    .filter(|_| text.is_some())
                    .map(|chart| format!("{chart}/{name}"));
                if let Some(p) = &path {
                    plan.index.insert(p.clone(), i);
                    plan.order.push(i);
                }
                plan.paths.push(path);
            }
            let paths = &plan.paths;
            let path = |i: usize| paths[i].as_deref().unwrap_or_default();
            plan.order.sort_by(|&a, &b| {
                defines[b]
                    .cmp(&defines[a])
                    .then_with(|| crate::engine::execution_order(path(a), path(b)))
            });
            plan
        })
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // A thread that panicked holding the lock left the slots consistent: each change is
        // one assignment.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The helper's work: parses the values files and compiles the schemas no thread has taken,
    /// then parses templates no thread has taken yet, in the plan's order, until none is left or
    /// the render has ended.
    pub fn work(&self, func_names: &std::collections::HashSet<&str>) {
        for (text, slot) in &self.values {
            // Locked means the render has it; poisoned, that a helper failed on it.
            if let Ok(mut slot) = slot.try_lock()
                && matches!(*slot, ValuesSlot::Free)
            {
                *slot = ValuesSlot::Done(crate::chart::parse_values(text));
            }
        }
        for (text, slot) in &self.schemas {
            // Locked means another thread has it; poisoned, that a helper failed on it.
            if let Ok(mut slot) = slot.try_lock()
                && slot.is_none()
            {
                *slot = Some(Arc::new(schema::compile(text)));
            }
        }
        let has = |n: &str| func_names.contains(n);
        let plan = self.plan();
        loop {
            let i = {
                let mut g = self.lock();
                if g.stop {
                    return;
                }
                let free = plan.order[g.next..]
                    .iter()
                    .position(|&i| matches!(g.state[i], Slot::Free));
                let Some(at) = free else {
                    return;
                };
                g.next += at + 1;
                let i = plan.order[g.next - 1];
                g.state[i] = Slot::Parsing;
                i
            };
            self.parse_claimed(i, &has);
        }
    }

    /// Parses template `i`, which this thread has marked `Parsing`, and settles its slot.
    fn parse_claimed(&self, i: usize, has: &dyn Fn(&str) -> bool) {
        let plan = self.plan();
        // A parse that panics gives its slot up, so that no thread waits for it.
        let claim = Claim {
            ahead: self,
            i,
            done: false,
        };
        // Only templates with a path and UTF-8 text are in the order.
        let text = self.templates[i].2.clone().unwrap_or_else(|| Arc::from(""));
        let path = plan.paths[i].as_deref().unwrap_or_default();
        claim.done(gantry_gotmpl::parse::parse_shared(path, text, has));
    }

    /// What the parser made of the template `path` whose text is `text`: while the helper
    /// parses it, parses others the helper has not reached ([`ParseAhead::help`]), then waits;
    /// `None` when the render must parse it itself (no thread has started it, the helper failed
    /// on it, or it is not a template this chart's layout gives).
    pub fn take(&self, path: &str, text: &[u8], has: &dyn Fn(&str) -> bool) -> Option<ParseResult> {
        let &i = self.plan().index.get(path)?;
        if self.templates[i].2.as_deref().map(str::as_bytes) != Some(text) {
            return None;
        }
        let mut g = self.lock();
        loop {
            match std::mem::take(&mut g.state[i]) {
                Slot::Done(r) => {
                    g.state[i] = Slot::Gone;
                    return Some(r);
                }
                Slot::Parsing => {
                    g.state[i] = Slot::Parsing;
                    drop(g);
                    if !self.help(has) {
                        g = self.lock();
                        if matches!(g.state[i], Slot::Parsing) {
                            g.waiting = true;
                            g = self.ready.wait(g).unwrap_or_else(|p| p.into_inner());
                        }
                        continue;
                    }
                    g = self.lock();
                }
                Slot::Free | Slot::Gone => {
                    g.state[i] = Slot::Gone;
                    return None;
                }
            }
        }
    }

    /// Parses the first template in the plan's order that no thread has started, as the
    /// helper would: what the render does instead of waiting for the helper (one template at
    /// a time, so that it goes on as soon as what it waits for is ready). The render executes
    /// in that order, so what it parses here is what it executes next: taken from the back,
    /// the templates it parsed were left to execute at the end, on one thread, while the
    /// helper had nothing left to do. `false` when none is left.
    pub fn help(&self, has: &dyn Fn(&str) -> bool) -> bool {
        let plan = self.plan();
        let i = {
            let mut g = self.lock();
            let next = g.next;
            let Some(at) = plan.order[next..]
                .iter()
                .position(|&i| matches!(g.state[i], Slot::Free))
            else {
                return false;
            };
            let i = plan.order[next + at];
            g.state[i] = Slot::Parsing;
            i
        };
        self.parse_claimed(i, has);
        true
    }

    /// The documents of the values file whose text is `text`, parsed by the helper (waiting
    /// while it parses them); `None` when the render must parse them itself (not collected,
    /// or already taken).
    pub fn values(&self, text: &str) -> Option<ValuesDocs> {
        let (_, slot) = self.values.iter().find(|(t, _)| t == text)?;
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        match std::mem::replace(&mut *slot, ValuesSlot::Gone) {
            ValuesSlot::Done(docs) => Some(docs),
            ValuesSlot::Free | ValuesSlot::Gone => None,
        }
    }

    /// Tells the helper the render has ended: what it has not started is not needed.
    pub fn stop(&self) {
        self.lock().stop = true;
    }

    /// What `text` (a schema of the chart) compiles to: while the helper compiles it, parses
    /// templates the helper has not reached ([`ParseAhead::help`]), then waits; compiles it
    /// here when no thread has (`None` for a schema not collected).
    pub fn schema(&self, text: &[u8], has: &dyn Fn(&str) -> bool) -> Option<Arc<schema::Compiled>> {
        let (_, slot) = self.schemas.iter().find(|(t, _)| t == text)?;
        let mut slot = loop {
            match slot.try_lock() {
                Ok(g) => break g,
                Err(TryLockError::Poisoned(p)) => break p.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    if !self.help(has) {
                        break slot.lock().unwrap_or_else(|p| p.into_inner());
                    }
                }
            }
        };
        Some(
            slot.get_or_insert_with(|| Arc::new(schema::compile(text)))
                .clone(),
        )
    }
}

/// A template the helper is parsing; dropped unfinished (a panic), it gives the slot up.
struct Claim<'a> {
    ahead: &'a ParseAhead,
    i: usize,
    done: bool,
}

impl Claim<'_> {
    fn done(mut self, r: ParseResult) {
        self.settle(Slot::Done(r));
        self.done = true;
    }

    fn settle(&self, slot: Slot) {
        let mut g = self.ahead.lock();
        g.state[self.i] = slot;
        if g.waiting {
            g.waiting = false;
            self.ahead.ready.notify_all();
        }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.settle(Slot::Gone);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_gotmpl::Value;

    fn chart() -> BTreeMap<String, Vec<u8>> {
        [
            ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n"),
            ("values.schema.json", "{}"),
            (
                "templates/_helpers.tpl",
                "{{ define \"c.name\" }}c{{ end }}",
            ),
            ("templates/a.yaml", "a: {{ include \"c.name\" . }}"),
            ("templates/z.yaml", "z: {{ .Values.z | quote }}"),
        ]
        .into_iter()
        .map(|(p, t)| (p.to_owned(), t.as_bytes().to_vec()))
        .collect()
    }

    /// Instead of waiting, the render parses the next template in the helper's order (the
    /// one that defines others here), each parse once; what no thread has started, it parses
    /// itself when it needs it.
    #[test]
    fn the_render_helps_at_the_front_of_the_helpers_order() {
        let files = chart();
        let funcs = crate::engine::funcs();
        let has = |f: &str| funcs.has(f);
        let ahead = ParseAhead::collect(&files).expect("a schema makes the helper worth it");
        assert!(ahead.help(&has));
        let text = |p: &str| files[p].clone();
        let taken = |p: &str| ahead.take(&format!("c/{p}"), &text(p), &has);
        let trees = taken("templates/_helpers.tpl")
            .expect("the first in order (the definer) was parsed")
            .expect("it parses");
        assert!(trees.contains_key("c.name"));
        // Helm executes names of one depth in reverse order: z.yaml is next.
        assert!(ahead.help(&has), "the next one is free");
        assert!(
            taken("templates/z.yaml").is_some(),
            "the help took the next in order"
        );
        assert!(
            taken("templates/a.yaml").is_none(),
            "not started: the render parses it"
        );
        // Nothing is left for a second help: every slot is taken.
        assert!(!ahead.help(&has));
    }

    /// The helper parses each values file first; the render takes the documents once and makes
    /// the same values of them as a parse of its own, and parses any other text itself.
    #[test]
    fn values_files_parsed_ahead_are_taken_once() {
        let text = "a: 1\n---\nb: [x]\n";
        let mut files = chart();
        files.insert("values.yaml".into(), text.as_bytes().to_vec());
        files.insert("charts/s/values.yaml".into(), b"- not a map\n".to_vec());
        let funcs = crate::engine::funcs();
        let ahead = ParseAhead::collect(&files).expect("a schema makes the helper worth it");
        ahead.work(&funcs.names());
        let docs = ahead.values(text).expect("parsed by the helper");
        let ours = crate::chart::values_from(docs).expect("values");
        let theirs = crate::chart::load_values(text).expect("values");
        assert_eq!(
            crate::json::to_serde(&Value::Map(ours)).expect("json"),
            crate::json::to_serde(&Value::Map(theirs)).expect("json")
        );
        assert!(ahead.values(text).is_none(), "taken once");
        assert!(ahead.values("c: 1\n").is_none(), "not collected");
        let err = crate::chart::values_from(ahead.values("- not a map\n").expect("parsed"))
            .expect_err("a list is not values");
        assert_eq!(
            err.to_string(),
            crate::chart::load_values("- not a map\n")
                .expect_err("a list is not values")
                .to_string()
        );
    }
}
