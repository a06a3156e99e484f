//! Work a helper thread does ahead of a chart's render: parsing a large chart's templates and
//! compiling any `values.schema.json`, which depend on nothing the render computes first.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, TryLockError};
use std::time::{Duration, Instant};

use gantry_gotmpl::parse::{ParseError, SharedText, Tree};

use crate::chart::{MAX_FILE_BYTES, ValuesDocs, strip_bom};
use crate::schema;

/// Below this much template text a chart is parsed where it renders: starting a thread costs
/// more than it saves.
const PARSE_AHEAD_MIN_BYTES: usize = 64 << 10;

/// Below this many templates (and with no schema), a chart whose files are not read yet is
/// parsed where it renders: the fixtures' charts of 64 KB of templates and values have 16 to
/// 111 templates, and those of 24 or fewer mostly less than 64 KB.
pub const PLANNED_MIN_TEMPLATES: usize = 32;

/// How long a thread of a render that spins ([`ParseAhead::spinning`]) spins for what it waits
/// for before it sleeps: long enough for the short waits (a template the other thread is
/// parsing), short enough that a longer one costs little CPU. Spinning for up to 25 ms took a
/// core from a busy host's other work and from the render itself: with one core kept busy,
/// prometheus's chart took 13.0 ms whole process against 9.8 with 200 µs, the 1,000-template
/// chart 29.8 against 23.4; on a quiet host 25 ms and 200 µs took the same wall time and
/// 200 µs a tenth less CPU. 50 µs took less again of both (alternated, 30 and 40 rounds):
/// prometheus 14.48 -> 13.03 and 16.19 -> 14.77 ms CPU, tempo-distributed 12.74 -> 11.89 and
/// 14.05 -> 13.22, the 1,000-template chart 40.74 -> 39.81 in the second run.
const SPIN_FOR: Duration = Duration::from_micros(50);

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
///
/// A chart found but not read yet ([`ParseAhead::planned`]) starts its helper before the read:
/// the helper reads the values files and schemas itself ([`Fetch`]) and parses them while the
/// render reads the chart (about 1.5 ms of prometheus's), then reads files for the render
/// ([`Meanwhile`]) until the templates come ([`ParseAhead::provide`]). Text it read is used
/// only where it is what the render read.
pub struct ParseAhead {
    // Each `values.schema.json` (its path in the chart, its text once known), and what it
    // compiles to once a thread has compiled it. A thread holds the lock while it compiles, so
    // the render waits for the helper rather than compile it twice; a helper that panicked
    // leaves the lock poisoned and the slot empty.
    schemas: Vec<(String, OnceLock<Vec<u8>>, SchemaSlot)>,
    // Each `values.yaml` of the chart and its subchart folders (path, text once known), parsed
    // into documents by the helper before anything else (the render loads them first). A
    // thread holds the lock while it parses one, so the render waits for the helper rather
    // than parse it twice.
    values: Vec<(String, OnceLock<String>, Mutex<ValuesSlot>)>,
    // The templates, once the chart's files are read ([`ParseAhead::provide`]).
    templates: OnceLock<Templates>,
    slots: Mutex<Slots>,
    // Signalled when a slot the render waits for is done, and when the templates are provided
    // or the render has ended (the helper waits for either).
    ready: Condvar,
    // What a spinning thread watches instead: how many slots have been settled, and whether
    // the render has ended.
    settled: AtomicUsize,
    stopped: AtomicBool,
    // Whether a thread that waits spins first ([`ParseAhead::spinning`]).
    spin: bool,
    // Work the render shares once the parse is done ([`ParseAhead::lend`]), how many times it
    // has lent some (what the helper watches for while it has nothing else to do), and
    // whether the helper's work has ended (it takes no more).
    lent: Mutex<Option<Arc<dyn Lent>>>,
    lendings: AtomicUsize,
    ended: AtomicBool,
}

/// Reads a file of the chart (by its path in the chart) ahead of the render's own reading;
/// `None` when it cannot, and the render then parses what it reads itself.
pub type Fetch<'a> = &'a (dyn Fn(&str) -> Option<Vec<u8>> + Sync);

/// A [`Fetch`] owned: what a walk of the chart gives the helper ([`crate::Found`]).
pub type FetchBox<'a> = Box<dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync + 'a>;

/// One step of work the helper does for the render's read while it waits for the templates
/// (reading one more of the chart's files for it); `false` when there is none left.
pub type Meanwhile<'a> = &'a (dyn Fn() -> bool + Sync);

/// A [`Meanwhile`] owned, as a walk of the chart gives it ([`crate::Found`]).
pub type MeanwhileBox<'a> = Box<dyn Fn() -> bool + Send + Sync + 'a>;

/// Whether a chart whose files are found but not read yet has at least
/// [`PLANNED_MIN_TEMPLATES`] templates: the sign, before their sizes are known, of a chart
/// large enough for the helper and for huge pages.
pub fn many_templates<'p>(paths: impl IntoIterator<Item = &'p str>) -> bool {
    paths
        .into_iter()
        .filter(|p| matches!(role(p), Some((_, Role::Template))))
        .nth(PLANNED_MIN_TEMPLATES - 1)
        .is_some()
}

/// What a file of a chart is to the helper.
enum Role {
    Chart,
    Template,
    Schema,
    Values,
}

/// Where `path` (in a chart) sits: the length of its chart folder's prefix (`""`,
/// `charts/a/`, ...) and what it is to the helper; `None` for any other file.
fn role(path: &str) -> Option<(usize, Role)> {
    let mut folder = 0;
    let mut rest = path;
    loop {
        match rest {
            "Chart.yaml" => return Some((folder, Role::Chart)),
            "values.schema.json" => return Some((folder, Role::Schema)),
            "values.yaml" => return Some((folder, Role::Values)),
            _ if rest.starts_with("templates/") => return Some((folder, Role::Template)),
            _ => {}
        }
        let end = rest.strip_prefix("charts/")?.find('/')?;
        folder += "charts/".len() + end + 1;
        rest = &path[folder..];
    }
}

/// Whether the helper of a chart whose files are not read yet reads the file at `path` (in the
/// chart) itself ([`ParseAhead::planned`]): a values file or a schema.
pub fn reads_ahead(path: &str) -> bool {
    matches!(role(path), Some((_, Role::Values | Role::Schema)))
}

/// A chart's layout and templates, as the helper parses them.
struct Templates {
    // Folder of each chart (`""`, `charts/a/`, ...) → its Chart.yaml.
    charts: BTreeMap<String, Vec<u8>>,
    // (chart folder, path in the chart, text; `None` when it is not UTF-8). Shared with the
    // trees parsed from it, which keep it for the locations of errors.
    templates: Vec<(String, String, Option<SharedText>)>,
    // The path each template parses as and the order to parse them in, found by whichever
    // thread starts first.
    plan: OnceLock<Plan>,
}

#[derive(Default)]
struct Plan {
    // The path each template parses as.
    paths: Vec<Option<String>>,
    // Path → index in `templates`, for the templates that have one.
    index: gantry_gotmpl::FastMap<String, usize>,
    // Indexes in the order the helper takes them.
    order: Vec<usize>,
    // Whether each template may define others ([`crate::engine::defines`]): the render asks
    // too ([`ParseAhead::defines`]).
    defines: Vec<bool>,
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
            .field(
                "templates",
                &self.templates.get().map(|c| c.templates.len()),
            )
            .finish_non_exhaustive()
    }
}

impl ParseAhead {
    /// The templates and schemas of the chart whose files are `files`; `None` when there is
    /// too little to do (a thread costs more than it saves).
    pub fn collect(files: &mut BTreeMap<String, Vec<u8>>) -> Option<ParseAhead> {
        let mut bytes = 0;
        let mut schemas = false;
        for (path, data) in files.iter() {
            match role(path) {
                Some((_, Role::Template | Role::Values)) => bytes += data.len(),
                Some((_, Role::Schema)) => schemas = true,
                _ => {}
            }
        }
        // Any schema is worth a thread: compiling one starts with checking it against its
        // draft's meta-schema, which is compiled first.
        if bytes < PARSE_AHEAD_MIN_BYTES && !schemas {
            return None;
        }
        let ahead = ParseAhead::planned_all(files.keys().map(String::as_str));
        for (path, text, _) in &ahead.values {
            // A file that is not UTF-8 is refused by the render, which reads it itself.
            if let Ok(t) = std::str::from_utf8(strip_bom(&files[path])) {
                let _ = text.set(t.to_owned());
            }
        }
        for (path, text, _) in &ahead.schemas {
            let _ = text.set(strip_bom(&files[path]).to_vec());
        }
        ahead.provide(files);
        Some(ahead)
    }

    /// The helper's work for a chart whose files are found (`paths`, in the chart) but not
    /// read yet: it reads the values files and schemas itself ([`ParseAhead::work`]), while
    /// the render reads the chart, then parses the templates once they are provided
    /// ([`ParseAhead::provide`]). `None` when there is too little to do: no schema and fewer
    /// than [`PLANNED_MIN_TEMPLATES`] templates (their sizes are not known yet).
    pub fn planned<'p>(paths: impl IntoIterator<Item = &'p str> + Clone) -> Option<ParseAhead> {
        let schemas = paths
            .clone()
            .into_iter()
            .any(|p| matches!(role(p), Some((_, Role::Schema))));
        (schemas || many_templates(paths.clone())).then(|| ParseAhead::planned_all(paths))
    }

    fn planned_all<'p>(paths: impl IntoIterator<Item = &'p str>) -> ParseAhead {
        let (mut values, mut schemas) = (Vec::new(), Vec::new());
        for p in paths {
            match role(p) {
                Some((_, Role::Values)) => {
                    values.push((p.to_owned(), OnceLock::new(), Mutex::default()));
                }
                Some((_, Role::Schema)) => {
                    schemas.push((p.to_owned(), OnceLock::new(), Mutex::new(None)));
                }
                _ => {}
            }
        }
        ParseAhead {
            schemas,
            values,
            templates: OnceLock::new(),
            slots: Mutex::default(),
            ready: Condvar::new(),
            settled: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            spin: false,
            lent: Mutex::new(None),
            lendings: AtomicUsize::new(0),
            ended: AtomicBool::new(false),
        }
    }

    /// This helper and the render spin for what they wait for (up to [`SPIN_FOR`]) before they
    /// sleep: for a render that is the process's one job, on a machine whose other cores have
    /// nothing else to do. A core left idle while its thread sleeps may be slow to wake: on a
    /// virtual machine it is a virtual CPU the host must schedule again. On this project's
    /// two-core VMs, ftrace showed a thread woken on the idle core run 2.1 ms later
    /// (`sched_wakeup_new` to `sched_switch`, in a whole process of 23 ms). Alternated, spinning
    /// took prometheus's whole process from 15.0 to 13.9 ms, tempo-distributed's from 14.4 to
    /// 13.2 (spinning then for up to 25 ms; [`SPIN_FOR`] says why it is shorter now). On a
    /// single core it sleeps at once (its thread could not run while another spins).
    pub fn spinning(mut self) -> ParseAhead {
        self.spin = true;
        self
    }

    /// `ready()` once it holds, spinning for it when this render spins ([`spin_until`]); `None`
    /// when it did not, and the caller sleeps instead.
    fn spin_for<T>(&self, mut ready: impl FnMut() -> Option<T>) -> Option<T> {
        if self.spin {
            spin_until(ready)
        } else {
            ready()
        }
    }

    /// Gives the helper the chart's files, once read: it parses their templates next. Only the
    /// first call counts. The templates that are UTF-8 are taken out of `files`, not copied:
    /// the loader takes them back as the helper shares them ([`ParseAhead::shared_templates`]).
    /// A copy of each was a twentieth of argo-rollouts' whole process (a megabyte of CRDs,
    /// copied on the render thread while the helper waited for it). A file too large for the
    /// loader is left for it to refuse.
    pub fn provide(&self, files: &mut BTreeMap<String, Vec<u8>>) {
        if self.templates.get().is_some() {
            return;
        }
        let mut charts = BTreeMap::new();
        for (path, data) in files.iter() {
            if let Some((folder, Role::Chart)) = role(path) {
                charts.insert(path[..folder].to_owned(), strip_bom(data).to_vec());
            }
        }
        let taken: Vec<(String, Vec<u8>)> = files
            .extract_if(.., |path, data| {
                matches!(role(path), Some((_, Role::Template)))
                    && data.len() as u64 <= MAX_FILE_BYTES
            })
            .collect();
        let mut templates = Vec::with_capacity(taken.len());
        for (mut path, mut data) in taken {
            // Taken because `role` found it a template: its folder is found again.
            let folder = role(&path).map_or(0, |(folder, _)| folder);
            let bom = data.len() - strip_bom(&data).len();
            data.drain(..bom);
            let text = match String::from_utf8(data) {
                Ok(text) => Some(Arc::new(text)),
                // Given back as it was: the render refuses it in order.
                Err(e) => {
                    let mut data = e.into_bytes();
                    data.splice(..0, b"\xef\xbb\xbf"[..bom].iter().copied());
                    files.insert(path.clone(), data);
                    None
                }
            };
            let name = path.split_off(folder);
            templates.push((path, name, text));
        }
        let count = templates.len();
        let provided = Templates {
            charts,
            templates,
            plan: OnceLock::new(),
        };
        let mut g = self.lock();
        if self.templates.set(provided).is_ok() {
            g.state = std::iter::repeat_with(Slot::default).take(count).collect();
        }
        drop(g);
        self.ready.notify_all();
    }

    /// How many bytes of UTF-8 templates [`ParseAhead::provide`] took from the chart's files.
    pub fn template_bytes(&self) -> usize {
        self.templates.get().map_or(0, |t| {
            let texts = t.templates.iter().filter_map(|(_, _, text)| text.as_ref());
            texts.map(|text| text.len()).sum()
        })
    }

    /// The templates [`ParseAhead::provide`] took from the chart's files, by path, with the
    /// text the helper parses: the chart keeps the same, not a copy.
    pub fn shared_templates(&self) -> Vec<(String, SharedText)> {
        let Some(t) = self.templates.get() else {
            return Vec::new();
        };
        let shared = t.templates.iter().filter_map(|(folder, name, text)| {
            Some(([folder.as_str(), name].concat(), Arc::clone(text.as_ref()?)))
        });
        shared.collect()
    }

    fn plan(&self) -> Option<(&Templates, &Plan)> {
        let t = self.templates.get()?;
        Some((t, t.plan()))
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // A thread that panicked holding the lock left the slots consistent: each change is
        // one assignment.
        lock(&self.slots)
    }
}

impl Templates {
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
            let n = self.templates.len();
            plan.index.reserve(n);
            plan.order.reserve(n);
            plan.paths.reserve(n);
            let mut defines = Vec::with_capacity(n);
            // A chart's templates come together: its path is looked up once for them all (a
            // lookup for each was most of the plan's samples, in `memcmp`).
            let mut last: Option<(&str, Option<&String>)> = None;
            for (i, (folder, name, text)) in self.templates.iter().enumerate() {
                defines.push(
                    text.as_deref()
                        .is_some_and(|t| crate::engine::defines(t.as_bytes())),
                );
                let chart = match last {
                    Some((f, chart)) if f == folder => chart,
                    _ => {
                        let chart = charts.get(folder.as_str());
                        last = Some((folder, chart));
                        chart
                    }
                };
                // Text that is not UTF-8 is refused, in order, by the render.
                let path = chart
                    .filter(|_| text.is_some())
                    .map(|chart| [chart.as_str(), "/", name].concat());
                if let Some(p) = &path {
                    plan.index.insert(p.clone(), i);
                    plan.order.push(i);
                }
                plan.paths.push(path);
            }
            let paths = &plan.paths;
            let path = |i: usize| paths[i].as_deref().unwrap_or_default();
            // `engine::execution_order`, each path's depth counted once.
            let depth: Vec<usize> = (0..paths.len())
                .map(|i| crate::engine::depth(path(i)))
                .collect();
            // Templates that define others first, each part in execution order. Paths are
            // distinct, so an unstable sort gives the same order; and a chart's templates come
            // in ascending order, which that order reverses: one run, which the sort reverses
            // in a pass (sorting them all at once, those that define others breaking the run,
            // was a third of the plan).
            let (mut first, mut rest): (Vec<usize>, Vec<usize>) =
                plan.order.iter().partition(|&&i| defines[i]);
            let execution = |a: &usize, b: &usize| {
                depth[*b]
                    .cmp(&depth[*a])
                    .then_with(|| path(*b).cmp(path(*a)))
            };
            first.sort_unstable_by(execution);
            rest.sort_unstable_by(execution);
            first.append(&mut rest);
            plan.order = first;
            plan.defines = defines;
            plan
        })
    }
}

impl ParseAhead {
    /// The helper's work: [`ParseAhead::parse_all`], then the work the render lends it
    /// ([`ParseAhead::lend`]) until the render ends.
    pub fn work(
        &self,
        func_names: &gantry_gotmpl::FastSet<&str>,
        fetch: Option<Fetch<'_>>,
        meanwhile: Option<Meanwhile<'_>>,
    ) {
        // However the helper's work ends (a panic too), it takes no more work.
        let _ended = Ended(self);
        if self.parse_all(func_names, fetch, meanwhile) {
            self.take_lent();
        }
    }

    /// Parses the values files and compiles the schemas no thread has taken (reading with
    /// `fetch` those whose text it was not given), waits for the templates
    /// ([`ParseAhead::provide`]), doing steps of `meanwhile` until they come or it has none
    /// left, then parses templates no thread has taken yet, in the plan's order, until none is
    /// left (`true`) or the render has ended.
    fn parse_all(
        &self,
        func_names: &gantry_gotmpl::FastSet<&str>,
        fetch: Option<Fetch<'_>>,
        meanwhile: Option<Meanwhile<'_>>,
    ) -> bool {
        for (path, text, slot) in &self.values {
            let Some(text) = known_or_fetched(text, path, fetch, |d| {
                String::from_utf8(strip_bom(&d).to_vec()).ok()
            }) else {
                continue;
            };
            // Locked means the render has it; poisoned, that a helper failed on it.
            if let Ok(mut slot) = slot.try_lock()
                && matches!(*slot, ValuesSlot::Free)
            {
                *slot = ValuesSlot::Done(crate::chart::parse_values(text));
            }
        }
        for (path, text, slot) in &self.schemas {
            let Some(text) = known_or_fetched(text, path, fetch, |d| Some(strip_bom(&d).to_vec()))
            else {
                continue;
            };
            // Locked means another thread has it; poisoned, that a helper failed on it.
            if let Ok(mut slot) = slot.try_lock()
                && slot.is_none()
            {
                *slot = Some(Arc::new(schema::compile(text)));
            }
        }
        let provided = || {
            (self.templates.get().is_some() || self.stopped.load(Ordering::Acquire)).then_some(())
        };
        // The render is reading the chart: the helper, done with the values and schemas, reads
        // some of it for the render rather than wait.
        if let Some(step) = meanwhile {
            while provided().is_none() && step() {}
        }
        if self.spin_for(provided).is_none() {
            let mut g = self.lock();
            while self.templates.get().is_none() && !g.stop {
                g = self.ready.wait(g).unwrap_or_else(|p| p.into_inner());
            }
        }
        let Some((_, plan)) = self.plan() else {
            return false;
        };
        let has = |n: &str| func_names.contains(n);
        loop {
            let i = {
                let mut g = self.lock();
                if g.stop {
                    return false;
                }
                let free = plan.order[g.next..]
                    .iter()
                    .position(|&i| matches!(g.state[i], Slot::Free));
                let Some(at) = free else {
                    break;
                };
                g.next += at + 1;
                let i = plan.order[g.next - 1];
                g.state[i] = Slot::Parsing;
                i
            };
            self.parse_claimed(i, &has);
        }
        true
    }

    /// Nothing is left to parse: the helper takes the work the render lends it until the
    /// render ends. It spins a moment for it (a helper asleep must be woken), then sleeps
    /// until the render lends more or ends: a helper spinning until the render's end took as
    /// much CPU as the render's last executions, and on a busy host took the core the render
    /// needed.
    fn take_lent(&self) {
        let mut lendings = 0;
        loop {
            let lent = self.lendings.load(Ordering::Acquire);
            if lent != lendings {
                lendings = lent;
                let work = lock(&self.lent).clone();
                if let Some(work) = work {
                    while work.step() {}
                }
            }
            let more = || {
                (self.lendings.load(Ordering::Acquire) != lendings
                    || self.stopped.load(Ordering::Acquire))
                .then_some(())
            };
            if self.spin_for(more).is_none() {
                let mut g = self.lock();
                while more().is_none() && !g.stop {
                    g = self.ready.wait(g).unwrap_or_else(|p| p.into_inner());
                }
            }
            if self.stopped.load(Ordering::Acquire) {
                break;
            }
        }
    }

    /// Offers `work` to the helper once it has nothing left to parse, and does it here too:
    /// each thread takes the next item no thread has taken ([`Shared::collect`]). What the
    /// helper has not taken by then is the render's; a helper that has ended never takes it.
    pub fn lend<D, R>(&self, work: Shared<D, R>) -> (D, Vec<R>)
    where
        D: Send + Sync + 'static,
        R: Send + 'static,
    {
        let work = Arc::new(work);
        // Closed once the helper's work has ended (it spins for what comes next only so long).
        let open = !self.stopped.load(Ordering::Acquire) && !self.ended.load(Ordering::Acquire);
        if open {
            *lock(&self.lent) = Some(work.clone());
            // Under the lock the helper checks the count in before it sleeps: it sees the new
            // count or is woken.
            let _g = self.lock();
            self.lendings.fetch_add(1, Ordering::Release);
            self.ready.notify_all();
        }
        Shared::collect(work, || {
            lock(&self.lent).take();
        })
    }

    /// Parses template `i`, which this thread has marked `Parsing`, and settles its slot.
    fn parse_claimed(&self, i: usize, has: &dyn Fn(&str) -> bool) {
        // A parse that panics gives its slot up, so that no thread waits for it.
        let claim = Claim {
            ahead: self,
            i,
            done: false,
        };
        // Only a thread that found the plan claims a template.
        let Some((t, plan)) = self.plan() else {
            return;
        };
        // Only templates with a path and UTF-8 text are in the order.
        let text = t.templates[i].2.clone().unwrap_or_default();
        let path = plan.paths[i].as_deref().unwrap_or_default();
        // Only a text that names one can give a regular-expression function its pattern.
        let patterns = memchr::memmem::find(text.as_bytes(), b"egex").is_some();
        let parsed = gantry_gotmpl::parse::parse_shared(path, text, has);
        if patterns && let Ok(trees) = &parsed {
            trees.values().for_each(crate::funcs::compile_patterns);
        }
        claim.done(parsed);
    }

    /// What the parser made of the template `path` whose text is `text`: while the helper
    /// parses it, parses others the helper has not reached ([`ParseAhead::help`]), then waits;
    /// `None` when the render must parse it itself (no thread has started it, the helper failed
    /// on it, or it is not a template this chart's layout gives).
    pub fn take(&self, path: &str, text: &[u8], has: &dyn Fn(&str) -> bool) -> Option<ParseResult> {
        let (_, i) = self.planned_as(path, text)?;
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
                            // Settled under the lock: a count read here moves once it is.
                            let seen = self.settled.load(Ordering::Acquire);
                            drop(g);
                            let moved = self.spin_for(|| {
                                (self.settled.load(Ordering::Acquire) != seen).then_some(())
                            });
                            g = self.lock();
                            if moved.is_none() && matches!(g.state[i], Slot::Parsing) {
                                g.waiting = true;
                                g = self.ready.wait(g).unwrap_or_else(|p| p.into_inner());
                            }
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
    /// helper had nothing left to do. `false` when none is left (or the templates are not
    /// provided yet).
    pub fn help(&self, has: &dyn Fn(&str) -> bool) -> bool {
        let Some((_, plan)) = self.plan() else {
            return false;
        };
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

    /// Whether the template `path` with text `text` may define others, as the plan found
    /// ([`crate::engine::defines`]); `None` when the plan has no such template.
    pub fn defines(&self, path: &str, text: &[u8]) -> Option<bool> {
        let (plan, i) = self.planned_as(path, text)?;
        Some(plan.defines[i])
    }

    /// The plan and the index of the template `path`, when the helper's text for it is `text`
    /// (the render's text is the helper's own when the chart took it from the helper,
    /// [`ParseAhead::shared_templates`]: the same bytes need no comparing).
    fn planned_as(&self, path: &str, text: &[u8]) -> Option<(&Plan, usize)> {
        let (t, plan) = self.plan()?;
        let &i = plan.index.get(path)?;
        let s = t.templates[i].2.as_deref()?.as_bytes();
        (std::ptr::eq(s, text) || s == text).then_some((plan, i))
    }

    /// The documents of the values file whose text is `text`, parsed by the helper (waiting
    /// while it parses them); `None` when the render must parse them itself (not collected,
    /// not read by the helper yet, or already taken).
    pub fn values(&self, text: &str) -> Option<ValuesDocs> {
        // The same text may be in more than one slot (a user's values file that is the
        // chart's own): each is taken once.
        for (_, t, slot) in &self.values {
            if t.get().is_none_or(|t| t != text) {
                continue;
            }
            let mut slot = self
                .spin_for(|| try_lock(slot))
                .unwrap_or_else(|| lock(slot));
            match std::mem::replace(&mut *slot, ValuesSlot::Gone) {
                ValuesSlot::Done(docs) => return Some(docs),
                ValuesSlot::Free => return None,
                ValuesSlot::Gone => {}
            }
        }
        None
    }

    /// Adds the user's values files (their text), which the helper parses before the chart's:
    /// the render reads them first ([`crate::user_values`]), and their text is known before the
    /// chart is read.
    pub fn with_user_values(mut self, texts: impl IntoIterator<Item = String>) -> ParseAhead {
        let user: Vec<_> = texts
            .into_iter()
            .map(|t| (String::new(), OnceLock::from(t), Mutex::default()))
            .collect();
        self.values.splice(0..0, user);
        self
    }

    /// Tells the helper the render has ended (or failed before it began): what it has not
    /// started is not needed.
    pub fn stop(&self) {
        self.lock().stop = true;
        self.stopped.store(true, Ordering::Release);
        self.ready.notify_all();
    }

    /// What `text` (a schema of the chart) compiles to: while the helper compiles it, parses
    /// templates the helper has not reached ([`ParseAhead::help`]), then waits; compiles it
    /// here when no thread has (`None` for a schema not collected, or not read by the helper
    /// yet).
    pub fn schema(&self, text: &[u8], has: &dyn Fn(&str) -> bool) -> Option<Arc<schema::Compiled>> {
        let (_, _, slot) = self
            .schemas
            .iter()
            .find(|(_, t, _)| t.get().is_some_and(|t| t == text))?;
        let mut slot = loop {
            if let Some(g) = try_lock(slot) {
                break g;
            }
            if !self.help(has) {
                break self
                    .spin_for(|| try_lock(slot))
                    .unwrap_or_else(|| lock(slot));
            }
        };
        Some(
            slot.get_or_insert_with(|| Arc::new(schema::compile(text)))
                .clone(),
        )
    }
}

/// Items of work ([`ParseAhead::lend`]) that the helper may take a share of.
pub trait Lent: Send + Sync {
    /// Does the next item no thread has taken; `false` when none is left.
    fn step(&self) -> bool;
}

/// Independent items of work over data `D`: `run(data, i)` for each `i` below `n`, done by
/// whichever thread takes `i` first. Each result is kept until the render collects them all.
pub struct Shared<D, R> {
    data: D,
    run: fn(&D, usize) -> R,
    next: AtomicUsize,
    // Each item's result, and its state (`TAKEN` from before a thread takes it, `DONE`, or
    // `DROPPED` by a thread that panicked in it: the render then does it again).
    results: Vec<Mutex<Option<R>>>,
    states: Vec<std::sync::atomic::AtomicU8>,
}

impl<D, R> std::fmt::Debug for Shared<D, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("items", &self.states.len())
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

const TAKEN: u8 = 0;
const DONE: u8 = 1;
const DROPPED: u8 = 2;

impl<D, R> Shared<D, R> {
    /// `n` items of `run` over `data`.
    pub fn new(data: D, n: usize, run: fn(&D, usize) -> R) -> Shared<D, R> {
        Shared {
            data,
            run,
            next: AtomicUsize::new(0),
            results: (0..n).map(|_| Mutex::new(None)).collect(),
            states: (0..n)
                .map(|_| std::sync::atomic::AtomicU8::new(TAKEN))
                .collect(),
        }
    }

    /// Every item's result, in order, and the data back: this thread does the items no thread
    /// has taken, waits for those another is doing, and does again any whose thread failed.
    /// `release` drops the other owners' way to it, after which they keep it only while they
    /// finish a step.
    fn collect(mut this: Arc<Self>, release: impl FnOnce()) -> (D, Vec<R>) {
        while this.step_here() {}
        release();
        for i in 0..this.states.len() {
            // Every item is taken by now: one not settled is being done by another thread.
            let state = &this.states[i];
            let settled = || (state.load(Ordering::Acquire) != TAKEN).then_some(());
            if spin_until(settled).is_none() {
                // A thread that stopped mid-item (descheduled for long): wait for it anyway.
                while settled().is_none() {
                    std::thread::yield_now();
                }
            }
            if state.load(Ordering::Acquire) == DROPPED {
                let r = (this.run)(&this.data, i);
                *lock(&this.results[i]) = Some(r);
            }
        }
        // The helper lets go of it as soon as its last step returns.
        let inner = loop {
            match Arc::try_unwrap(this) {
                Ok(inner) => break inner,
                Err(shared) => {
                    this = shared;
                    std::hint::spin_loop();
                    std::thread::yield_now();
                }
            }
        };
        let results = inner
            .results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.into_inner()
                    .unwrap_or_else(|p| p.into_inner())
                    .unwrap_or_else(|| (inner.run)(&inner.data, i))
            })
            .collect();
        (inner.data, results)
    }

    fn step_here(&self) -> bool {
        let i = self.next.fetch_add(1, Ordering::AcqRel);
        let Some(state) = self.states.get(i) else {
            return false;
        };
        // An item whose run panics is marked for the render to do again.
        let dropped = Dropped(state);
        let r = (self.run)(&self.data, i);
        *lock(&self.results[i]) = Some(r);
        state.store(DONE, Ordering::Release);
        std::mem::forget(dropped);
        true
    }
}

impl<D: Send + Sync, R: Send> Lent for Shared<D, R> {
    fn step(&self) -> bool {
        self.step_here()
    }
}

/// Marks an item `DROPPED` when its thread unwinds out of it.
struct Dropped<'a>(&'a std::sync::atomic::AtomicU8);

impl Drop for Dropped<'_> {
    fn drop(&mut self) {
        self.0.store(DROPPED, Ordering::Release);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each change under it is one assignment: a thread that panicked left it consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `ready()` once it holds, spinning for it up to [`SPIN_FOR`]; `None` when it did not (at once
/// on a single core, where the thread waited for could not run while this one spins).
pub(crate) fn spin_until<T>(mut ready: impl FnMut() -> Option<T>) -> Option<T> {
    if let Some(t) = ready() {
        return Some(t);
    }
    if !more_than_one_core() {
        return None;
    }
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            std::hint::spin_loop();
        }
        if let Some(t) = ready() {
            return Some(t);
        }
        if start.elapsed() > SPIN_FOR {
            return None;
        }
    }
}

/// Whether this process may run on more than one core: on one, a thread that spins (or does
/// work for another ahead of time) takes the core from the thread it would help.
pub fn more_than_one_core() -> bool {
    static MORE: OnceLock<bool> = OnceLock::new();
    *MORE.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}

/// The kernel's load figures: the fourth field counts the threads runnable at this moment,
/// over the threads that exist (`0.52 0.58 0.59 3/245 12345`).
const LOADAVG: &str = "/proc/loadavg";

/// Whether a second thread would not only take turns with other work: the process may run on
/// more than one core, and the other threads runnable on the host (the kernel's count at this
/// moment, less the caller) do not take every core this process may run on. On a host whose
/// cores are all taken the helper only takes turns with the render and the other work: with a
/// build and a differential test on both cores, a whole `gantry render` of the 1,000-template
/// chart took 42.6 ms with the helper and 37.2 without (31.6 and 25.9 ms of CPU). The count
/// is the kernel's own (no average), read in three system calls; it includes threads that are
/// runnable for a moment (a process started from a shell counted one more in two runs of
/// three), so one other thread on a two-core host is not enough to give the helper up. Where
/// it cannot be read, the host has room.
pub fn host_has_room() -> bool {
    use std::io::Read as _;
    if !more_than_one_core() {
        return false;
    }
    let mut text = [0u8; 128];
    match std::fs::File::open(LOADAVG).and_then(|mut f| f.read(&mut text)) {
        Ok(n) => room_in(&text[..n], host_cores()),
        Err(_) => true,
    }
}

/// The cores this process may run on (its affinity, not a CPU quota: the runnable count is
/// the host's).
fn host_cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| {
        rustix::thread::sched_getaffinity(None).map_or_else(
            |_| std::thread::available_parallelism().map_or(1, |n| n.get()),
            |set| set.count() as usize,
        )
    })
}

/// Whether `loadavg` (the text of [`LOADAVG`]) counts fewer threads runnable besides the
/// caller than there are `cores`; a text that does not read as the kernel's leaves room.
fn room_in(loadavg: &[u8], cores: usize) -> bool {
    let runnable = std::str::from_utf8(loadavg)
        .ok()
        .and_then(|t| t.split_ascii_whitespace().nth(3))
        .and_then(|f| f.split_once('/'))
        .and_then(|(r, _)| r.parse::<usize>().ok());
    runnable.is_none_or(|r| r.saturating_sub(1) < cores)
}

/// `m`'s lock when no other thread holds it (a thread that panicked holding it left what it
/// guards as it was).
fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// The text of the file at `path`: the one `text` was given, or else what `fetch` reads there,
/// made text by `make` and kept in `text`; `None` when neither gives one.
fn known_or_fetched<'t, T>(
    text: &'t OnceLock<T>,
    path: &str,
    fetch: Option<Fetch<'_>>,
    make: impl FnOnce(Vec<u8>) -> Option<T>,
) -> Option<&'t T> {
    if let Some(t) = text.get() {
        return Some(t);
    }
    let made = fetch.and_then(|f| f(path)).and_then(make)?;
    Some(text.get_or_init(|| made))
}

/// Marks the helper's work ended, however it ends: the render lends it nothing more
/// ([`ParseAhead::lend`]).
struct Ended<'a>(&'a ParseAhead);

impl Drop for Ended<'_> {
    fn drop(&mut self) {
        self.0.ended.store(true, Ordering::Release);
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
        self.ahead.settled.fetch_add(1, Ordering::Release);
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

    /// The kernel's count of runnable threads includes the caller: the host has room while
    /// the others take fewer than all its cores. A text that does not read as the kernel's
    /// leaves room (the render is right either way).
    #[test]
    fn the_host_has_room_while_other_threads_leave_a_core() {
        let load = |runnable: &str| format!("0.52 0.58 0.59 {runnable}/245 12345\n");
        assert!(room_in(load("1").as_bytes(), 2));
        assert!(room_in(load("2").as_bytes(), 2));
        assert!(!room_in(load("3").as_bytes(), 2));
        assert!(!room_in(load("9").as_bytes(), 2));
        assert!(room_in(load("4").as_bytes(), 4));
        assert!(!room_in(load("5").as_bytes(), 4));
        assert!(room_in(load("1").as_bytes(), 1));
        assert!(!room_in(load("2").as_bytes(), 1));
        for odd in [
            "",
            "0.52 0.58",
            "0.52 0.58 0.59 x/245 1",
            "a b c 3 d",
            "\u{ff}",
        ] {
            assert!(room_in(odd.as_bytes(), 2), "{odd:?}");
        }
        assert!(room_in(&[0xff, 0xfe], 2));
        // This host's own figures read (whatever they say now).
        if let Ok(text) = std::fs::read(LOADAVG) {
            let fields = String::from_utf8_lossy(&text);
            let runnable = fields
                .split_whitespace()
                .nth(3)
                .and_then(|f| f.split_once('/'));
            assert!(runnable.is_some_and(|(r, _)| r.parse::<usize>().is_ok_and(|r| r >= 1)));
        }
    }

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
        let ahead =
            ParseAhead::collect(&mut files.clone()).expect("a schema makes the helper worth it");
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
        let ahead =
            ParseAhead::collect(&mut files.clone()).expect("a schema makes the helper worth it");
        ahead.parse_all(&funcs.names(), None, None);
        let docs = ahead.values(text).expect("parsed by the helper");
        let ours = crate::chart::values_from(docs, text).expect("values");
        let theirs = crate::chart::load_values(text).expect("values");
        assert_eq!(
            crate::json::to_serde(&Value::Map(ours)).expect("json"),
            crate::json::to_serde(&Value::Map(theirs)).expect("json")
        );
        assert!(ahead.values(text).is_none(), "taken once");
        assert!(ahead.values("c: 1\n").is_none(), "not collected");
        let err = crate::chart::values_from(
            ahead.values("- not a map\n").expect("parsed"),
            "- not a map\n",
        )
        .expect_err("a list is not values");
        assert_eq!(
            err.to_string(),
            crate::chart::load_values("- not a map\n")
                .expect_err("a list is not values")
                .to_string()
        );
    }

    /// The plan's finding of which templates may define others is the render's to ask, for
    /// the text the plan saw only.
    #[test]
    fn the_plan_tells_which_templates_define() {
        let files = chart();
        let ahead =
            ParseAhead::collect(&mut files.clone()).expect("a schema makes the helper worth it");
        let text = |p: &str| files[p].as_slice();
        for (p, defines) in [
            ("templates/_helpers.tpl", true),
            ("templates/a.yaml", false),
            ("templates/z.yaml", false),
        ] {
            assert_eq!(
                ahead.defines(&format!("c/{p}"), text(p)),
                Some(defines),
                "{p}"
            );
            assert_eq!(defines, crate::engine::defines(text(p)), "{p}");
        }
        assert_eq!(
            ahead.defines("c/templates/a.yaml", b"{{ define \"x\" }}{{ end }}"),
            None
        );
        assert_eq!(ahead.defines("c/templates/none.yaml", b""), None);
    }

    /// Waits until no template is left to parse or being parsed.
    fn wait_until_parsed(ahead: &ParseAhead) {
        while ahead
            .lock()
            .state
            .iter()
            .any(|s| matches!(s, Slot::Free | Slot::Parsing))
        {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A helper with nothing left to parse sleeps until the render lends it work, and takes
    /// some: the render's first item waits until another thread has done one. Once the render
    /// has ended the helper (`stop`), its work has ended, and work lent then is not offered to
    /// it: the render does every item itself, in order.
    #[test]
    fn a_sleeping_helper_takes_lent_work_until_the_render_ends() {
        let files = chart();
        let funcs = crate::engine::funcs();
        let names = funcs.names();
        let ahead =
            ParseAhead::collect(&mut files.clone()).expect("a schema makes the helper worth it");
        assert!(!ahead.spin, "a helper that does not spin sleeps at once");
        // Item 0 waits (on whichever thread took it) until some other item is done elsewhere.
        struct Data {
            render: std::thread::ThreadId,
            elsewhere: AtomicBool,
        }
        fn waits(d: &Data, i: usize) -> usize {
            if std::thread::current().id() != d.render {
                d.elsewhere.store(true, Ordering::Release);
            } else if i == 0 {
                let start = Instant::now();
                while !d.elsewhere.load(Ordering::Acquire)
                    && start.elapsed() < Duration::from_secs(20)
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            i * 3
        }
        std::thread::scope(|scope| {
            let helper = scope.spawn(|| ahead.work(&names, None, None));
            // Every template parsed: the helper has nothing left but what is lent.
            wait_until_parsed(&ahead);
            std::thread::sleep(Duration::from_millis(50));
            assert!(!helper.is_finished(), "the helper waits for lent work");
            let data = Data {
                render: std::thread::current().id(),
                elsewhere: AtomicBool::new(false),
            };
            let (data, out) = ahead.lend(Shared::new(data, 40, waits));
            assert_eq!(out, (0..40).map(|i| i * 3).collect::<Vec<_>>());
            assert!(
                data.elsewhere.load(Ordering::Acquire),
                "the helper took some"
            );
            ahead.stop();
            helper.join().expect("the helper ends");
        });
        assert!(ahead.ended.load(Ordering::Acquire), "the helper has ended");
        let offered = ahead.lendings.load(Ordering::Acquire);
        fn twice(_: &(), i: usize) -> usize {
            2 * i
        }
        let (_, out) = ahead.lend(Shared::new((), 30, twice));
        assert_eq!(out, (0..30).map(|i| 2 * i).collect::<Vec<_>>());
        assert_eq!(
            ahead.lendings.load(Ordering::Acquire),
            offered,
            "nothing was offered"
        );
        assert!(lock(&ahead.lent).is_none());
    }

    /// The user's values files are parsed by the helper too, each slot taken once: a user's
    /// file with the chart's own text is found twice, then parsed by the render.
    #[test]
    fn user_values_files_are_parsed_ahead_each_once() {
        let text = "a: 1\n---\nb: [x]\n";
        let mut files = chart();
        files.insert("values.yaml".into(), text.as_bytes().to_vec());
        let funcs = crate::engine::funcs();
        let ahead = ParseAhead::collect(&mut files.clone())
            .expect("a schema makes the helper worth it")
            .with_user_values([text, "c: {d: 2}\n", "- not a map\n"].map(String::from));
        ahead.parse_all(&funcs.names(), None, None);
        let json =
            |m: gantry_gotmpl::value::Map| crate::json::to_serde(&Value::Map(m)).expect("json");
        for t in [text, text, "c: {d: 2}\n"] {
            let docs = ahead.values(t).expect("parsed by the helper");
            let ours = crate::chart::values_from(docs, t).expect("values");
            let theirs = crate::chart::load_values(t).expect("values");
            assert_eq!(json(ours), json(theirs), "{t:?}");
        }
        assert!(ahead.values(text).is_none(), "both slots taken");
        assert!(ahead.values("c: {d: 2}\n").is_none(), "taken once");
        let docs = ahead.values("- not a map\n").expect("parsed");
        assert!(
            crate::chart::values_from(docs, "- not a map\n").is_err(),
            "a list is not values"
        );
    }

    /// A chart not read yet: the helper reads its values file and schema itself and parses
    /// them while the render reads, then parses the templates provided; the render takes what
    /// the helper read only where its own read gave the same text.
    #[test]
    fn a_planned_helper_reads_values_and_schemas_ahead_and_waits_for_the_templates() {
        let mut files = chart();
        files.insert("values.yaml".into(), b"z: 1\n".to_vec());
        files.insert(
            "charts/s/Chart.yaml".into(),
            b"name: s\nversion: 1.0.0\n".to_vec(),
        );
        files.insert("charts/s/values.yaml".into(), b"s: 1\n".to_vec());
        let paths: Vec<&str> = files.keys().map(String::as_str).collect();
        let ahead = ParseAhead::planned(paths.iter().copied()).expect("a schema is worth it");
        let funcs = crate::engine::funcs();
        let has = |f: &str| funcs.has(f);
        let names = funcs.names();
        // The subchart's values changed between the helper's read and the render's.
        let fetch = |p: &str| match p {
            "charts/s/values.yaml" => Some(b"s: 2\n".to_vec()),
            _ => files.get(p).cloned(),
        };
        let trees = std::thread::scope(|scope| {
            let helper = scope.spawn(|| ahead.work(&names, Some(&fetch), None));
            ahead.provide(&mut files.clone());
            wait_until_parsed(&ahead);
            // Parsed, it waits for work the render lends until the render ends.
            ahead.stop();
            helper.join().expect("the helper ends with the render");
            ahead.take("c/templates/a.yaml", &files["templates/a.yaml"], &has)
        });
        assert!(trees.expect("parsed by the helper").is_ok());
        assert!(ahead.values("z: 1\n").is_some(), "read and parsed ahead");
        assert!(ahead.values("s: 1\n").is_none(), "the render's own text");
        assert!(
            ahead.schema(b"{}", &has).is_some(),
            "read and compiled ahead"
        );
        assert!(ahead.schema(b"{ }", &has).is_none(), "not this text");
        // A render that fails before the templates are read ends a waiting helper, sleeping or
        // spinning.
        for spin in [false, true] {
            let mut unread = ParseAhead::planned(paths.iter().copied()).expect("worth it");
            if spin {
                unread = unread.spinning();
            }
            std::thread::scope(|scope| {
                let helper = scope.spawn(|| unread.work(&names, Some(&|_: &str| None), None));
                std::thread::sleep(std::time::Duration::from_millis(5));
                unread.stop();
                helper.join().expect("the helper ends");
            });
            assert!(!unread.help(&has), "no templates were provided");
        }
    }

    /// A render whose helper and render thread spin while they wait for each other gives what
    /// one that sleeps gives: 200 templates, each waited for or parsed by whichever is first.
    #[test]
    fn a_spinning_render_gives_what_a_sleeping_one_gives() {
        let mut files = chart();
        for i in 0..200 {
            let t = format!("{{{{ range until {i} }}}}{{{{ include \"c.name\" $ }}}}{{{{ end }}}}");
            files.insert(format!("templates/t{i}.yaml"), t.into_bytes());
        }
        let paths: Vec<String> = files.keys().cloned().collect();
        let fetch = |p: &str| files.get(p).cloned();
        let render = |on_caller_thread: bool, helper: crate::Helper| {
            let req = crate::Request {
                on_caller_thread,
                stream: false,
                helper,
                ..crate::Request::default()
            };
            let body = || {
                crate::render_reading(req, found(&paths, fetch), |req, _| -> Result<(), ()> {
                    req.chart = files.clone();
                    Ok(())
                })
            };
            // The caller's thread must have the render's stack.
            std::thread::scope(|s| {
                std::thread::Builder::new()
                    .stack_size(crate::STACK_SIZE)
                    .spawn_scoped(s, body)
                    .expect("a thread")
                    .join()
                    .expect("no panic")
            })
            .expect("read")
            .expect("rendered")
            .templates
        };
        let sleeping = render(false, crate::Helper::Always);
        assert_eq!(sleeping.len(), 202, "every template but the partial");
        assert_eq!(sleeping["c/templates/t3.yaml"], "ccc");
        for _ in 0..5 {
            assert_eq!(render(true, crate::Helper::Always), sleeping);
        }
        assert_eq!(render(true, crate::Helper::Never), sleeping, "no helper");
    }

    /// A read that panics before the templates are provided does not leave the render waiting
    /// for a helper that waits for them: the panic reaches the caller.
    #[test]
    fn a_read_that_panics_stops_the_waiting_helper() {
        let paths: Vec<String> = chart().into_keys().collect();
        let req = crate::Request {
            on_caller_thread: true,
            helper: crate::Helper::Always,
            ..crate::Request::default()
        };
        let fetch = |_: &str| None;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::render_reading(req, found(&paths, fetch), |_, _| -> Result<(), ()> {
                panic!("the read failed")
            })
        }));
        assert!(outcome.is_err(), "the read's panic reaches the caller");
    }

    /// The helper starts before the walk: a walk that fails or panics, or finds a chart too
    /// small for it, ends the helper waiting for its work, and the render answers (or the
    /// panic reaches the caller) rather than wait for it.
    #[test]
    fn a_helper_started_before_the_walk_ends_with_it() {
        let req = || crate::Request {
            on_caller_thread: true,
            helper: crate::Helper::Always,
            ..crate::Request::default()
        };
        let unread = |_: &mut crate::Request, _| -> Result<(), &str> { panic!("not read") };
        let failed = crate::render_reading(req(), || Err("the walk failed"), unread);
        assert_eq!(failed.err(), Some("the walk failed"));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::render_reading(
                req(),
                || -> Result<crate::Found<'_>, ()> { panic!() },
                |_, _| Ok(()),
            )
        }));
        assert!(panicked.is_err(), "the walk's panic reaches the caller");
        let mut files = chart();
        files.remove("values.schema.json");
        let paths: Vec<String> = files.keys().cloned().collect();
        assert!(ParseAhead::planned(paths.iter().map(String::as_str)).is_none());
        let small = crate::render_reading(
            crate::Request {
                stream: false,
                ..req()
            },
            found(&paths, |_| None),
            |req, busy| {
                assert!(!busy, "no helper works meanwhile");
                req.chart = files.clone();
                Ok(())
            },
        );
        let rendered = small.expect("read").expect("rendered");
        assert_eq!(rendered.templates["c/templates/a.yaml"], "a: c");
    }

    /// A chart planned for its schema alone is not taken for large before its read: a small
    /// chart would pay for zeroing huge pages. One of [`PLANNED_MIN_TEMPLATES`] templates is,
    /// once, before its read.
    #[test]
    fn only_many_templates_make_a_chart_large_before_its_read() {
        use std::sync::atomic::Ordering::SeqCst;
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        fn large() {
            CALLS.fetch_add(1, SeqCst);
        }
        for (extra, calls) in [(0, 0), (PLANNED_MIN_TEMPLATES, 1)] {
            let mut files = chart();
            for i in 0..extra {
                files.insert(format!("templates/x{i}.yaml"), b"x: y\n".to_vec());
            }
            let paths: Vec<String> = files.keys().cloned().collect();
            assert!(ParseAhead::planned(paths.iter().map(String::as_str)).is_some());
            let before = CALLS.load(SeqCst);
            let req = crate::Request {
                on_caller_thread: true,
                helper: crate::Helper::Always,
                when_large: Some(large),
                ..crate::Request::default()
            };
            let out = crate::render_reading(req, found(&paths, |_| None), |req, _| {
                assert_eq!(CALLS.load(SeqCst) - before, calls, "before the read");
                req.chart = files.clone();
                Ok(())
            });
            let rendered = out.expect("read").expect("rendered");
            assert_eq!(rendered.templates["c/templates/a.yaml"], "a: c");
            assert_eq!(CALLS.load(SeqCst) - before, calls, "{extra} more templates");
        }
    }

    /// A walk's result for [`crate::render_reading`]: the chart's files and what reads ahead.
    fn found<'f>(
        paths: &'f [String],
        fetch: impl Fn(&str) -> Option<Vec<u8>> + Send + Sync + 'f,
    ) -> impl FnOnce() -> Result<crate::Found<'f>, ()> {
        let paths = paths.to_vec();
        move || {
            Ok(crate::Found {
                paths,
                fetch: Box::new(fetch),
                meanwhile: None,
            })
        }
    }

    /// A helper that panics (here in its `fetch`) is not the render's panic: it is caught on
    /// the helper's thread, which nothing joins, and the render parses what the helper did not.
    #[test]
    fn a_helper_that_panics_leaves_the_render_to_answer() {
        let files = chart();
        let paths: Vec<String> = files.keys().cloned().collect();
        let req = crate::Request {
            on_caller_thread: true,
            helper: crate::Helper::Always,
            release: crate::Release {
                name: "rel".into(),
                namespace: "ns".into(),
                ..crate::Release::default()
            },
            ..crate::Request::default()
        };
        let fetch = |_: &str| -> Option<Vec<u8>> { panic!("the helper's read failed") };
        let outcome =
            crate::render_reading(req, found(&paths, fetch), |req, _| -> Result<(), ()> {
                req.chart = files;
                Ok(())
            });
        let rendered = outcome
            .expect("the read succeeded")
            .expect("the render answers");
        assert_eq!(rendered.templates["c/templates/a.yaml"], "a: c");
    }

    /// The helper takes the templates that are UTF-8 out of the files rather than copying
    /// them, and the chart keeps the helper's text of each: the render then takes the helper's
    /// trees without comparing texts byte by byte. What the helper does not take (a text that
    /// is not UTF-8, a file larger than the loader reads) is left in the files as it was.
    #[test]
    fn the_chart_shares_the_helpers_template_text() {
        let mut files = chart();
        files.insert(
            "templates/bom.yaml".into(),
            b"\xef\xbb\xbfb: {{ include \"c.name\" . }}".to_vec(),
        );
        let not_utf8 = b"\xef\xbb\xbfx: \xff".to_vec();
        files.insert("templates/x.yaml".into(), not_utf8.clone());
        let large = vec![b'#'; MAX_FILE_BYTES as usize + 1];
        files.insert("templates/large.yaml".into(), large.clone());
        files.insert(
            "charts/sub/Chart.yaml".into(),
            b"apiVersion: v2\nname: sub\nversion: 1.0.0\n".to_vec(),
        );
        files.insert("charts/sub/templates/s.yaml".into(), b"s: 1".to_vec());
        let before = files.clone();
        let ahead = ParseAhead::collect(&mut files).expect("a schema is worth it");
        let shared: BTreeMap<String, SharedText> = ahead.shared_templates().into_iter().collect();
        let left: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(
            left,
            [
                "Chart.yaml",
                "charts/sub/Chart.yaml",
                "templates/large.yaml",
                "templates/x.yaml",
                "values.schema.json"
            ]
        );
        assert_eq!(files["templates/x.yaml"], not_utf8, "given back as it was");
        assert_eq!(files["templates/large.yaml"], large);
        for (path, text) in &shared {
            assert_eq!(text.as_bytes(), strip_bom(&before[path]), "{path}");
        }
        assert_eq!(shared.len(), 5, "{:?}", shared.keys());
        // Given again, nothing more is taken.
        let mut again = before.clone();
        ahead.provide(&mut again);
        assert_eq!(again, before);

        files.remove("templates/large.yaml");
        let prepared = crate::chart::Prepared {
            values: &|_| None,
            templates: &|| ahead.shared_templates(),
        };
        let chart = crate::chart::load_dir_with(files, &prepared).expect("loads");
        let in_chart = |c: &crate::chart::Chart, folder: &str| {
            for (name, text) in &c.templates {
                let path = format!("{folder}{name}");
                match (text, shared.get(&path)) {
                    (crate::chart::Text::Utf8(t), Some(held)) => {
                        assert!(Arc::ptr_eq(t, held), "{path} is the helper's text");
                    }
                    (crate::chart::Text::Bytes(b), None) => assert_eq!(&b[..], &not_utf8[3..]),
                    _ => panic!("{path}: {text:?}"),
                }
            }
            c.templates.len()
        };
        assert_eq!(in_chart(&chart, ""), 5);
        assert_eq!(in_chart(&chart.dependencies[0], "charts/sub/"), 1);
        let funcs = crate::engine::funcs();
        let names = funcs.names();
        ahead.parse_all(&names, None, None);
        let has = |f: &str| funcs.has(f);
        let (_, a) = chart
            .templates
            .iter()
            .find(|(n, _)| n == "templates/a.yaml")
            .expect("a.yaml");
        assert!(
            ahead
                .take("c/templates/a.yaml", a.as_bytes(), &has)
                .is_some()
        );
    }

    /// A chart loaded from files whose templates the helper took is the chart loaded from the
    /// files as they were read: `.helmignore` still hides a taken template (and a folder of
    /// them), and the templates come in the same order with the same text.
    #[test]
    fn a_chart_loaded_from_taken_templates_is_the_chart_read() {
        let mut files = chart();
        files.insert(
            ".helmignore".into(),
            b"templates/skip.yaml\nold/\n".to_vec(),
        );
        files.insert("templates/skip.yaml".into(), b"skip: 1".to_vec());
        files.insert("templates/old/x.yaml".into(), b"x: 1".to_vec());
        files.insert("templates/old.yaml".into(), b"old: 1".to_vec());
        let read = files.clone();
        let ahead = ParseAhead::collect(&mut files).expect("a schema is worth it");
        assert!(!files.contains_key("templates/skip.yaml"), "taken");
        let prepared = crate::chart::Prepared {
            values: &|_| None,
            templates: &|| ahead.shared_templates(),
        };
        let shared = crate::chart::load_dir_with(files, &prepared).expect("loads");
        let alone = crate::chart::load_dir(read).expect("loads");
        let texts = |c: &crate::chart::Chart| -> Vec<(String, Vec<u8>)> {
            let t = c.templates.iter();
            t.map(|(n, t)| (n.clone(), t.as_bytes().to_vec())).collect()
        };
        assert_eq!(texts(&shared), texts(&alone));
        let names: Vec<String> = texts(&shared).into_iter().map(|(n, _)| n).collect();
        assert!(
            !names
                .iter()
                .any(|n| n.contains("skip") || n.contains("old/"))
        );
        assert!(names.contains(&"templates/old.yaml".to_owned()));
    }

    /// Shared work gives every result in order and its data back, whether the render does it
    /// all or a helper takes items at once; an item whose run panics on the helper is done
    /// again by the render.
    #[test]
    fn shared_work_is_done_once_in_order_and_a_failed_item_again() {
        fn square(_: &Vec<u32>, i: usize) -> usize {
            i * i
        }
        let alone = Shared::new(vec![7u32], 50, square);
        let (data, out) = Shared::collect(Arc::new(alone), || {});
        assert_eq!(data, vec![7]);
        assert_eq!(out, (0..50).map(|i| i * i).collect::<Vec<_>>());

        // Fails on any thread but the one named in the data, at item 3.
        fn picky(render: &std::thread::ThreadId, i: usize) -> usize {
            assert!(i != 3 || std::thread::current().id() == *render, "item 3");
            i + 1
        }
        for _ in 0..20 {
            let work = Arc::new(Shared::new(std::thread::current().id(), 200, picky));
            let out = std::thread::scope(|scope| {
                let theirs: Arc<dyn Lent> = work.clone();
                scope.spawn(move || {
                    while std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| theirs.step()))
                        .unwrap_or(true)
                    {}
                });
                Shared::collect(work, || {}).1
            });
            assert_eq!(out, (1..=200).collect::<Vec<_>>());
        }
    }
}
