//! Helm v4's chart engine, natively: a chart directory and values in, `helm template`'s
//! output out, byte for byte, without a `helm` binary. See the crate's README for what is
//! supported and every known difference from Helm.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use gantry_gotmpl::{Budget, Map, Value};

pub mod ahead;
mod blind;
pub mod chart;
pub mod engine;
pub mod funcs;
pub mod glob;
pub mod json;
pub mod manifest;
pub mod objects;
mod pathmatch;
pub mod schema;
pub mod strvals;
pub mod tomlout;
pub mod values;
pub mod yaml;
pub mod yamlout;

pub use objects::Capabilities;

/// Why a chart did not render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelmError {
    /// The chart could not be loaded (Helm's loader message).
    #[error("{0}")]
    Chart(String),
    /// Values could not be read or merged.
    #[error("{0}")]
    Values(String),
    /// The values do not match `values.schema.json`.
    #[error(
        "values don't meet the specifications of the schema(s) in the following chart(s):\n{0}"
    )]
    Schema(String),
    /// A template failed to parse or execute (Helm's reformatted message).
    #[error("{0}")]
    Template(String),
    /// Something Helm would do that Gantry does not; it names the construct and where.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A limit on time, size or depth was exceeded.
    #[error("limit exceeded: {0}")]
    Limit(String),
}

/// The release a chart is rendered for.
#[derive(Debug, Clone)]
pub struct Release {
    /// `.Release.Name`.
    pub name: String,
    /// `.Release.Namespace`.
    pub namespace: String,
    /// `.Release.Revision`.
    pub revision: i64,
    /// `.Release.IsInstall`.
    pub is_install: bool,
    /// `.Release.IsUpgrade`.
    pub is_upgrade: bool,
}

impl Default for Release {
    fn default() -> Self {
        Release {
            name: "release-name".into(),
            namespace: "default".into(),
            revision: 1,
            is_install: true,
            is_upgrade: false,
        }
    }
}

/// A render: the chart's files, the user's values and the release.
#[derive(Debug, Clone)]
pub struct Request {
    /// Every file of the chart directory, by `/`-separated path relative to it.
    pub chart: BTreeMap<String, Vec<u8>>,
    /// Values files (`--values`), in order: a name for messages and the text.
    pub values_files: Vec<(String, String)>,
    /// `--set` expressions, in order.
    pub set: Vec<String>,
    /// `--set-string` expressions, in order, after `set`: every value a string.
    pub set_string: Vec<String>,
    /// `--api-versions`: added to Helm's default `.Capabilities.APIVersions` (a chart that
    /// renders a `ServiceMonitor` only where `monitoring.coreos.com/v1` is served, say).
    pub api_versions: Vec<String>,
    /// The release.
    pub release: Release,
    /// How long the render may take.
    pub timeout: Duration,
    /// How large one template's output may grow.
    pub max_output: usize,
    /// Whether to build `helm template`'s output too (which fails on templates that are not
    /// valid YAML, as Helm does), or only the engine's map.
    pub stream: bool,
    /// Leave what the render no longer needs (the chart, parse trees, values) to the operating
    /// system instead of freeing it: for a process that exits right after. Freed memory is
    /// handed back to the kernel at exit (`madvise`, each a TLB shootdown on the other cores):
    /// with no purging at all, a whole `gantry render` of 1,000 templates took 7 % less.
    pub keep_memory: bool,
    /// Render on the calling thread, which must have [`STACK_SIZE`] of stack, rather than on a
    /// thread of the render's own. For a process that does its whole job on one such thread:
    /// each thread takes its own allocator pages, and a second thread's were fresh memory for
    /// the kernel to zero (a whole `gantry render` of prometheus: 10 huge pages, 7 on one thread).
    pub on_caller_thread: bool,
    /// Called once when the render finds its chart large, before it reads and parses most of
    /// it: a process that lives for this one render can change its memory policy there.
    /// `gantry render` lets the kernel give it transparent huge pages, which cost a small chart
    /// more than they save. Large is [`ahead::PLANNED_MIN_TEMPLATES`] templates found before
    /// the chart is read ([`render_reading`]), or [`LARGE_CHART_BYTES`] of templates read.
    pub when_large: Option<fn()>,
    /// When the render starts a second thread to read and parse ahead of it.
    pub helper: Helper,
}

/// When a render starts its parse helper: a second thread that reads a large chart's files and
/// parses its templates, values and schemas ahead of the render.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Helper {
    /// When the process may run on more than one core and other work does not take all of
    /// them now ([`ahead::host_has_room`]): there the helper costs more than it saves.
    #[default]
    WhenTheHostHasRoom,
    /// Always, even on one core (where it only takes turns with the render): for tests of the
    /// helper's paths on any host.
    Always,
    /// Never.
    Never,
}

impl Helper {
    /// Whether a render starting now starts the helper.
    pub fn now(self) -> bool {
        match self {
            Helper::WhenTheHostHasRoom => ahead::host_has_room(),
            Helper::Always => true,
            Helper::Never => false,
        }
    }

    /// `Always` or `Never`, as [`Helper::now`] decides: for a caller to decide before it starts
    /// the thread it will wait for. The kernel counts a thread runnable until it sleeps, so a
    /// decision taken on a new thread counts the thread that started it too while that one is
    /// on its way to wait for it.
    pub fn decided(self) -> Helper {
        if self.now() {
            Helper::Always
        } else {
            Helper::Never
        }
    }
}

/// How many bytes of templates make a chart large ([`Request::when_large`]). Whole
/// `gantry render` processes with and without transparent huge pages, alternated over the 74
/// fixture cases: from about 100 KB of templates (ingress-nginx, tempo-distributed,
/// prometheus, argo-rollouts) huge pages saved 2-11 % CPU; below 64 KB they cost 3-20 %.
pub const LARGE_CHART_BYTES: usize = 96 << 10;

/// The stack a render runs on: deeply nested templates fail with Helm's limits rather than
/// overflow it.
pub const STACK_SIZE: usize = 512 << 20;

impl Default for Request {
    fn default() -> Self {
        Request {
            chart: BTreeMap::new(),
            values_files: Vec::new(),
            set: Vec::new(),
            set_string: Vec::new(),
            api_versions: Vec::new(),
            release: Release::default(),
            timeout: Duration::from_secs(60),
            max_output: 64 << 20,
            stream: true,
            keep_memory: false,
            on_caller_thread: false,
            when_large: None,
            helper: Helper::default(),
        }
    }
}

/// A rendered chart.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// The chart's name.
    pub chart_name: String,
    /// Every template's output by path, as Helm's engine returns it (`NOTES.txt` included).
    pub templates: BTreeMap<String, String>,
    /// What `helm template --include-crds --skip-tests` prints (empty unless asked for).
    pub stream: String,
    /// Why the output may differ from one render to the next (empty when it does not).
    pub nondeterministic: Vec<String>,
    /// The bytes of each template whose output is not valid UTF-8 (a binary file printed as it
    /// is); `templates` holds its text with each invalid byte replaced by U+FFFD, as the JSON
    /// of Helm's engine output carries it.
    pub not_utf8: BTreeMap<String, Vec<u8>>,
}

/// Renders a chart. The work runs on a thread with a large stack ([`STACK_SIZE`]), unless the
/// caller is one ([`Request::on_caller_thread`]). The render answers before it frees the chart,
/// its parse trees and values, so that on a thread of its own, freeing them is off the caller's
/// path (a process that exits after printing never waits for it).
pub fn render(mut req: Request) -> Result<Rendered, HelmError> {
    if req.on_caller_thread {
        let mut answer = None;
        render_then_release(req, |r| answer = Some(r));
        return answer.unwrap_or_else(|| Err(HelmError::Limit("the render gave no answer".into())));
    }
    // Here, where this thread is the only one of the render's running.
    req.helper = req.helper.decided();
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("helm-render".into())
        .stack_size(STACK_SIZE)
        .spawn(move || {
            // The caller may have stopped waiting; the render is freed either way.
            render_then_release(req, |r| {
                let _ = tx.send(r);
            });
        })
        .map_err(|e| HelmError::Limit(format!("cannot start the render thread: {e}")))?;
    rx.recv()
        .unwrap_or_else(|_| Err(HelmError::Limit("the render thread failed".into())))
}

fn render_then_release(mut req: Request, answer: impl FnOnce(Result<Rendered, HelmError>)) {
    let mut spent = engine::Spent::new();
    answer(render_here(&mut req, &mut spent));
    if req.keep_memory {
        std::mem::forget((spent, req));
    } else {
        drop(spent);
    }
}

/// User values: each file's documents merged, then `--set`, then `--set-string` (Helm's order).
pub fn user_values(req: &Request) -> Result<Map, HelmError> {
    user_values_with(req, None)
}

/// [`user_values`], with each file's documents taken from `ahead` where its helper parsed them.
fn user_values_with(req: &Request, ahead: Option<&ahead::ParseAhead>) -> Result<Map, HelmError> {
    let mut base = Map::new();
    for (name, text) in &req.values_files {
        let m = match ahead.and_then(|a| a.values(text)) {
            Some(docs) => chart::values_from(docs, text),
            None => chart::load_values(text),
        }
        .map_err(|e| HelmError::Values(format!("failed to parse {name}: {e}")))?;
        base = chart::merge_maps(&base, &m);
    }
    for expr in &req.set {
        strvals::parse_into(expr, &base, false)
            .map_err(|e| HelmError::Values(format!("failed parsing --set data: {e}")))?;
    }
    for expr in &req.set_string {
        strvals::parse_into(expr, &base, true)
            .map_err(|e| HelmError::Values(format!("failed parsing --set-string data: {e}")))?;
    }
    Ok(base)
}

/// What `helm template` (not Helm's engine) checks before it renders: the chart's type, that
/// every dependency `Chart.yaml` declares is in `charts/`, and the release name.
fn check_installable(chart: &chart::Chart, release: &str) -> Result<(), HelmError> {
    if !matches!(chart.metadata.chart_type.as_str(), "" | "application") {
        return Err(HelmError::Chart(format!(
            "{} charts are not installable",
            chart.metadata.chart_type
        )));
    }
    let missing: Vec<&str> = chart
        .metadata
        .dependencies
        .iter()
        .flatten()
        .flatten()
        .filter(|d| !chart.dependencies.iter().any(|c| c.metadata.name == d.name))
        .map(|d| d.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(HelmError::Chart(format!(
            "an error occurred while checking for chart dependencies. You may need to run 'helm dependency build' to fetch missing dependencies: found in Chart.yaml, but missing in charts/ directory: {}",
            missing.join(", ")
        )));
    }
    static VALID: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let valid = VALID.get_or_init(|| {
        regex::Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
            .expect("a valid pattern")
    });
    if release.is_empty() {
        return Err(HelmError::Chart(
            "release name check failed: release name \"\": no name provided".into(),
        ));
    }
    if release.len() > 53 || !valid.is_match(release) {
        return Err(HelmError::Chart(format!(
            "release name check failed: release name {}: invalid release name, must match regex {} and the length must not be longer than 53",
            gantry_gotmpl::gofmt::quote(release),
            valid.as_str()
        )));
    }
    Ok(())
}

/// A chart found but not read yet: its files (by path in the chart, as a walk found them), and
/// a reader of those the parse helper reads ahead of the render ([`ahead::reads_ahead`]).
pub struct Found<'f> {
    /// Every file of the chart, by path in it.
    pub paths: Vec<String>,
    /// Reads a file of the chart ahead of the render ([`ahead::Fetch`]).
    pub fetch: ahead::FetchBox<'f>,
    /// What the helper does for `read` once its own reading is done, while `read` runs
    /// ([`ahead::Meanwhile`]).
    pub meanwhile: Option<ahead::MeanwhileBox<'f>>,
}

impl std::fmt::Debug for Found<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found")
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

/// Renders a chart whose files are still to be found and read: `find` walks the chart, and
/// `read` reads what it found into the request. On the caller's thread
/// ([`Request::on_caller_thread`]), the parse helper's thread starts before `find` does, so
/// that it is running by the time it has work: on these two-core VMs the helper, started on the
/// idle core just before the read, first ran 0.2 to 5.8 ms after the read began (uprobes,
/// median 0.6), and a walk of prometheus takes 0.6 ms. Alternated against the spinning alone,
/// prometheus's whole process went from 13.9 to 12.6 ms (200 rounds); a chart too small for
/// the helper, whose thread then ends at once, was no slower. For a chart with a schema or many
/// templates ([`ahead::ParseAhead::planned`]), the helper reads the chart's values files and
/// schemas with the walk's `fetch` and parses and compiles them while `read` runs, then does
/// the walk's `meanwhile` (reading files for `read`) until `read` is done, then parses the
/// templates `read` gave. `fetch` must read only what `read` may read; what it gives is
/// used only where its text is what `read` gave. Without the helper, the chart is read, then
/// rendered as by [`render`]. `read` is told to read on its own thread alone when the helper is
/// working meanwhile, where a second thread reading would take its core (with one reader,
/// prometheus's whole process took 0.45 ms less, alternated), and when [`Request::helper`]
/// gives the render no second thread: the one decision serves both. With the helper working,
/// the render is the process's one job, and the helper and the render spin for what they wait
/// for from each other before they sleep ([`ahead::ParseAhead::spinning`]). The values files `req` holds before `read` (their text
/// known up front) are given to the helper to parse, and the render takes its documents where
/// the request `read` makes has the same text: `read` sets the request's own values files.
/// Until the walk gives it work, the helper touches pages of the render thread's heap, which
/// the render frees before the read (`warm_while`).
pub fn render_reading<'f, E>(
    mut req: Request,
    find: impl FnOnce() -> Result<Found<'f>, E>,
    read: impl FnOnce(&mut Request, bool) -> Result<(), E>,
) -> Result<Result<Rendered, HelmError>, E> {
    if !req.on_caller_thread {
        find()?;
        read(&mut req, false)?;
        return Ok(render(req));
    }
    // Made only for a render with the helper: a render without one makes its own.
    let funcs = std::cell::OnceCell::new();
    let job = Job::default();
    let warm = std::sync::Mutex::new(None);
    let mut spent = engine::Spent::new();
    let helping = req.helper.now();
    let out = std::thread::scope(|scope| {
        // Memory of the render thread's own heap, whose pages the helper touches while it
        // waits for the walk, so that the render's next allocations find them mapped.
        let block: Vec<u8> = if helping {
            Vec::with_capacity(WARM_BYTES)
        } else {
            Vec::new()
        };
        let helper = spawn_helper(scope, helping, || {
            warm_while(block, || job.0.get().is_some(), &warm);
            if let Some((ahead, fetch, meanwhile, names)) = job.wait() {
                ahead.work(names, Some(fetch), meanwhile);
            }
        });
        // Whatever ends the render before the helper has its work (an error, a panic) ends
        // the helper too, or the scope would wait for it.
        let mut give = GiveOnDrop {
            job: &job,
            helper: helper.clone(),
        };
        let Found {
            paths,
            fetch,
            meanwhile,
        } = find()?;
        let planned = ahead::ParseAhead::planned(paths.iter().map(String::as_str));
        // Before the read: the chart's files and the values files' documents are a large
        // part of the fresh memory a large chart touches. The read sets the request again,
        // and the hook is called once. Not for a chart planned only for its schema: a small
        // chart would pay for zeroing its 2 MiB pages (prometheus-ipmi-exporter, 7 templates
        // and a schema, spent a third of its process there); the template bytes decide once
        // they are read.
        // Many templates plan a parse-ahead too ([`ahead::ParseAhead::planned`]).
        let large = ahead::many_templates(paths.iter().map(String::as_str))
            .then(|| req.when_large.take())
            .flatten();
        if let Some(large) = large {
            large();
        }
        let called = large.is_some();
        let read = |req: &mut Request, busy| {
            read(req, busy)?;
            if called {
                req.when_large = None;
            }
            Ok(())
        };
        let Some(ahead) = planned.filter(|_| helper.is_some()) else {
            give.set(None);
            read(&mut req, !helping)?;
            return Ok(render(std::mem::take(&mut req)));
        };
        // The values files given before the read are the helper's: `read` gives the request's.
        let given = std::mem::take(&mut req.values_files);
        let ahead = ahead.with_user_values(given.into_iter().map(|(_, text)| text));
        let funcs = funcs.get_or_init(engine::funcs);
        give.set(Some((ahead.spinning(), fetch, meanwhile, funcs.names())));
        // Freed here, by the thread whose heap it is, before the read allocates: the pages the
        // helper touched are then the first the render's allocations take. The helper hands it
        // back within one step of `warm_while` of seeing its work.
        drop(ahead::spin_until(|| warm.lock().ok()?.take()));
        let ahead = job.0.get().and_then(Option::as_ref).map(|(a, ..)| a);
        read_and_render(&mut req, &mut spent, funcs, ahead, true, read)
    });
    // The templates' copies and the compiled schemas are freed after the answer, not before.
    if let Some((a, ..)) = job.0.into_inner().flatten() {
        spent.push(Box::new(a));
    }
    if req.keep_memory {
        std::mem::forget((spent, req));
    } else {
        drop(spent);
    }
    out
}

/// The helper's work, once the walk has found it: the plan, the reader of the files it reads
/// ahead, what it does for the read meanwhile, and the functions' names (for the parser).
type Work<'f, 'n> = (
    ahead::ParseAhead,
    ahead::FetchBox<'f>,
    Option<ahead::MeanwhileBox<'f>>,
    gantry_gotmpl::FastSet<&'n str>,
);

/// What a helper started before the walk waits for: its work, or `None` when there is none.
#[derive(Default)]
struct Job<'f, 'n>(std::sync::OnceLock<Option<Work<'f, 'n>>>);

impl<'f, 'n> Job<'f, 'n> {
    /// The helper's work once it is given, spinning before it sleeps as
    /// [`ahead::ParseAhead::spinning`] does (the walk is short).
    fn wait(
        &self,
    ) -> Option<(
        &ahead::ParseAhead,
        ahead::Fetch<'_>,
        Option<ahead::Meanwhile<'_>>,
        &gantry_gotmpl::FastSet<&'n str>,
    )> {
        let given = match ahead::spin_until(|| self.0.get()) {
            Some(given) => given,
            None => loop {
                if let Some(given) = self.0.get() {
                    break given;
                }
                // Unparked once the job is set; a spurious wake-up only looks again.
                std::thread::park_timeout(Duration::from_millis(10));
            },
        };
        let (ahead, fetch, meanwhile, names) = given.as_ref()?;
        Some((ahead, &**fetch, meanwhile.as_deref().map(|m| m as _), names))
    }
}

/// Gives the helper its work (or none), once: on [`GiveOnDrop::set`] or when dropped.
struct GiveOnDrop<'j, 'f, 'n> {
    job: &'j Job<'f, 'n>,
    helper: Option<std::thread::Thread>,
}

impl<'f, 'n> GiveOnDrop<'_, 'f, 'n> {
    fn set(&mut self, work: Option<Work<'f, 'n>>) {
        let _ = self.job.0.set(work);
        if let Some(h) = self.helper.take() {
            h.unpark();
        }
    }
}

impl Drop for GiveOnDrop<'_, '_, '_> {
    fn drop(&mut self) {
        self.set(None);
    }
}

/// The most of the render thread's memory the helper touches while the walk runs (it touches
/// what it can before the walk ends; the rest is only reserved).
const WARM_BYTES: usize = 8 << 20;

/// Touches `block`'s pages (filling its capacity with zeros, 16 KiB at a time) until `done` or
/// full, then hands it back through `back`. A page fault costs about 1.5 µs on a quiet
/// two-core Firecracker host, and the render thread takes hundreds of them on its way to the
/// first template while the helper waits for the walk with nothing to do: with the helper
/// taking them first, alternated over 60 rounds, the 1,000-template chart 21.54 → 20.59 ms,
/// prometheus 8.39 → 7.63, tempo-distributed 7.40 → 6.86, a chart of two templates
/// (argocd-apps) 2.92 → 2.53.
fn warm_while(
    mut block: Vec<u8>,
    done: impl Fn() -> bool,
    back: &std::sync::Mutex<Option<Vec<u8>>>,
) {
    const STEP: usize = 16 << 10;
    while !done() && block.len() < block.capacity() {
        let n = (block.capacity() - block.len()).min(STEP);
        block.extend(std::iter::repeat_n(0u8, n));
    }
    if let Ok(mut b) = back.lock() {
        *b = Some(block);
    }
}

/// Starts the parse helper's thread, which runs `work` (a panic in it is not the render's:
/// the render parses what the helper gave up). The thread is detached as it starts (its handle
/// dropped): the scope still waits for its work to end, but a joined thread's stack (all of
/// `STACK_SIZE`) is unmapped by the thread that joins it, a TLB shootdown on the other core on
/// the way to the answer (so is a thread's that ended before it was detached). A detached
/// thread's stack goes to glibc's cache, where the next helper takes it. `None` when it could
/// not start, or when not `helping` ([`Helper::now`]).
fn spawn_helper<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    helping: bool,
    work: impl FnOnce() + Send + 'scope,
) -> Option<std::thread::Thread> {
    // Without a core of its own the helper only takes turns with the render, in a second heap
    // of fresh pages and with a switch at each template it is parsing when the render needs it.
    if !helping {
        return None;
    }
    std::thread::Builder::new()
        .name("helm-parse".into())
        .stack_size(STACK_SIZE)
        .spawn_scoped(scope, move || {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        })
        .ok()
        .map(|h| h.thread().clone())
}

fn render_here(req: &mut Request, spent: &mut engine::Spent) -> Result<Rendered, HelmError> {
    let funcs = engine::funcs();
    let Some(ahead) = ahead::ParseAhead::collect(&mut req.chart) else {
        return render_loaded(req, spent, &funcs, &|_| None, None);
    };
    let ahead = ahead.with_user_values(req.values_files.iter().map(|(_, t)| t.clone()));
    let names = funcs.names();
    let out = std::thread::scope(|scope| {
        let started =
            spawn_helper(scope, req.helper.now(), || ahead.work(&names, None, None)).is_some();
        let read = |_: &mut Request, _| Ok::<(), std::convert::Infallible>(());
        match read_and_render(req, spent, &funcs, Some(&ahead), started, read) {
            Ok(out) => out,
            Err(never) => match never {},
        }
    });
    // The templates' copies and the compiled schemas are freed after the answer, not before.
    spent.push(Box::new(ahead));
    out
}

/// Reads the chart with `read` and renders it, with `ahead`'s helper on a thread of its own
/// (when `helper_started`) from before `read` to the end of the render.
fn read_and_render<E>(
    req: &mut Request,
    spent: &mut engine::Spent,
    funcs: &Rc<gantry_gotmpl::Funcs>,
    ahead: Option<&ahead::ParseAhead>,
    helper_started: bool,
    read: impl FnOnce(&mut Request, bool) -> Result<(), E>,
) -> Result<Result<Rendered, HelmError>, E> {
    // A helper waits for the templates until the render provides them or stops it: a read or
    // render that panics stops it too, or the scope would wait for it forever.
    let stop = StopOnDrop(ahead);
    let out = read(req, helper_started).map(|()| {
        if let Some(a) = ahead {
            a.provide(&mut req.chart);
            if let Some(large) = req.when_large
                && a.template_bytes() >= LARGE_CHART_BYTES
            {
                large();
            }
        }
        let has = |f: &str| funcs.has(f);
        let schemas = |text: &[u8]| ahead.and_then(|a| a.schema(text, &has));
        render_loaded(req, spent, funcs, &schemas, ahead)
    });
    // The helper need not parse what an early error left unused.
    drop(stop);
    out
}

/// Tells the helper the render has ended when dropped, on an answer or a panic alike.
struct StopOnDrop<'a>(Option<&'a ahead::ParseAhead>);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(a) = self.0 {
            a.stop();
        }
    }
}

fn render_loaded(
    req: &mut Request,
    spent: &mut engine::Spent,
    funcs: &Rc<gantry_gotmpl::Funcs>,
    schemas: schema::Lookup<'_>,
    ahead: Option<&ahead::ParseAhead>,
) -> Result<Rendered, HelmError> {
    let user = user_values_with(req, ahead)?;
    let prepared = chart::Prepared {
        values: &|text| ahead.and_then(|a| a.values(text)),
        templates: &|| {
            ahead
                .map(ahead::ParseAhead::shared_templates)
                .unwrap_or_default()
        },
    };
    let mut chart = chart::load_dir_with(std::mem::take(&mut req.chart), &prepared)?;
    if req.stream {
        check_installable(&chart, &req.release.name)?;
    }
    values::process_dependencies(&mut chart, &user).map_err(|e| {
        // `helm template` (the install action) wraps the message; Helm's engine alone does not.
        HelmError::Values(if req.stream {
            format!("chart dependencies processing failed: {e}")
        } else {
            e
        })
    })?;
    let vals = values::coalesce_values_last(&chart, &user).map_err(HelmError::Values)?;
    schema::check(&chart, &vals, schemas)?;
    let mut caps = Capabilities::default();
    caps.api_versions.extend(req.api_versions.iter().cloned());
    // `helm template` checks it (its install action); the engine alone, whose map
    // `--helm-templates` prints, does not.
    if req.stream
        && !chart.metadata.kube_version.is_empty()
        && !funcs::semver_compatible(&chart.metadata.kube_version, &caps.kube_version.normalized)
    {
        return Err(HelmError::Chart(format!(
            "chart requires kubeVersion: {} which is incompatible with Kubernetes {}",
            chart.metadata.kube_version, caps.kube_version.version
        )));
    }
    let release = Map::new();
    release.insert("Name", Value::str(&req.release.name));
    release.insert("Namespace", Value::str(&req.release.namespace));
    release.insert("IsUpgrade", Value::Bool(req.release.is_upgrade));
    release.insert("IsInstall", Value::Bool(req.release.is_install));
    release.insert("Revision", Value::Int(req.release.revision));
    release.insert("Service", Value::str("Helm"));
    let top = engine::TopValues {
        values: vals,
        release,
        capabilities: caps,
    };
    let mut budget = Budget::new(Some(Instant::now() + req.timeout), req.max_output, 3_000);
    let mut out = engine::render(&chart, &top, &mut budget, spent, funcs.clone(), ahead)?;
    let stream = if req.stream {
        manifest::template_stream(&chart, &mut out.templates, &out.not_utf8, ahead)?
    } else {
        String::new()
    };
    let rendered = Rendered {
        chart_name: chart.metadata.name.clone(),
        templates: out.templates,
        stream,
        nondeterministic: out.nondeterministic,
        not_utf8: out.not_utf8,
    };
    spent.push(Box::new((chart, top, user)));
    Ok(rendered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A policy decided is `Always` or `Never`, and stays so; one core never has room for the helper.
    #[test]
    fn a_decided_helper_stays_decided() {
        assert_eq!(Helper::Always.decided(), Helper::Always);
        assert_eq!(Helper::Never.decided(), Helper::Never);
        let now = Helper::WhenTheHostHasRoom.decided();
        assert_ne!(now, Helper::WhenTheHostHasRoom);
        assert_eq!(now.decided(), now);
        if !ahead::more_than_one_core() {
            assert_eq!(now, Helper::Never, "one core never has room for the helper");
        }
    }

    /// The helper touches the block until it has work, a step at a time, and always hands the
    /// block back: untouched when the work is there at once, full when it never comes.
    #[test]
    fn the_warmed_block_comes_back_touched_until_the_work_arrives() {
        let back = Mutex::new(None);
        warm_while(Vec::with_capacity(1 << 20), || true, &back);
        let b = back.lock().unwrap().take().expect("handed back");
        assert_eq!((b.len(), b.capacity() >= 1 << 20), (0, true));

        warm_while(Vec::with_capacity(100 << 10), || false, &back);
        let b = back.lock().unwrap().take().expect("handed back");
        assert_eq!(b.len(), b.capacity());
        assert!(b.iter().all(|&x| x == 0));

        let asked = std::cell::Cell::new(0);
        let done = || {
            asked.set(asked.get() + 1);
            asked.get() > 3
        };
        warm_while(Vec::with_capacity(1 << 20), done, &back);
        let b = back.lock().unwrap().take().expect("handed back");
        assert_eq!(b.len(), 3 * (16 << 10), "three steps before the work came");
    }
}
