//! Work a helper thread does ahead of a chart's render: parsing a large chart's templates and
//! compiling any `values.schema.json`, which depend on nothing the render computes first.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use gantry_gotmpl::parse::{ParseError, Tree};

use crate::chart::strip_bom;
use crate::schema;

/// Below this much template text a chart is parsed where it renders: starting a thread costs
/// more than it saves.
const PARSE_AHEAD_MIN_BYTES: usize = 64 << 10;

/// Templates parsed ahead: the path each was parsed as → the text parsed and what the parser
/// made of it.
pub type Parsed<'a> = HashMap<String, (&'a [u8], ParseResult)>;

type ParseResult = Result<HashMap<String, Tree>, ParseError>;

/// What one thread parsed: each template's index and its trees.
pub type ParsedPart = Vec<(usize, ParseResult)>;

/// A schema's compiled form, once a thread has compiled it.
type SchemaSlot = Mutex<Option<Arc<schema::Compiled>>>;

/// A chart's templates and schemas, copied out of its files and prepared by two threads: a
/// helper from the start of the render, while this thread reads values and loads, processes
/// and checks the chart, then this one too, taking what is left. Parsing is the largest part
/// of a large chart's render, and each template parses alone, as Go's parser does (only adding
/// its trees to the set, in Helm's order, depends on the others). Nothing reference-counted
/// crosses: the work is plain bytes and strings.
///
/// It reads the chart's layout as the loader will (`templates/` of the chart and of each
/// subchart folder under `charts/`, names from each `Chart.yaml`), but nothing depends on
/// that: [`crate::engine::render`] uses a tree only when its path and text are those it would
/// parse, and parses anything else itself (an archived or aliased subchart, a file
/// `.helmignore` drops).
///
/// Schemas go first: the render checks values against them before it needs a template, and
/// compiling one (with the check of the schema against its draft's meta-schema) was a fifth
/// of rendering prometheus. A schema is found by its bytes, so the same holds for it.
pub struct ParseAhead {
    // Each `values.schema.json`, and what it compiles to once a thread has compiled it. A
    // thread holds the lock while it compiles, so the render waits for the helper rather than
    // compile it twice; a helper that panicked leaves the lock poisoned and the slot empty.
    schemas: Vec<(Vec<u8>, SchemaSlot)>,
    // Folder of each chart (`""`, `charts/a/`, ...) → its Chart.yaml.
    charts: BTreeMap<String, Vec<u8>>,
    // (chart folder, path in the chart, text)
    templates: Vec<(String, String, Vec<u8>)>,
    // The path each template parses as, found by whichever thread starts first.
    paths: std::sync::OnceLock<Vec<Option<String>>>,
    next: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for ParseAhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParseAhead")
            .field("schemas", &self.schemas.len())
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
        let bytes: usize = templates.iter().map(|(_, _, t)| t.len()).sum();
        // Any schema is worth a thread: compiling one starts with checking it against its
        // draft's meta-schema, which is compiled first.
        (bytes >= PARSE_AHEAD_MIN_BYTES || !schemas.is_empty()).then(|| ParseAhead {
            schemas: schemas
                .into_iter()
                .map(|s| (s.to_vec(), Mutex::new(None)))
                .collect(),
            charts,
            templates: templates
                .into_iter()
                .map(|(f, n, t)| (f.to_owned(), n.to_owned(), t.to_vec()))
                .collect(),
            paths: std::sync::OnceLock::new(),
            next: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    fn paths(&self) -> &[Option<String>] {
        self.paths.get_or_init(|| {
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
            self.templates
                .iter()
                .map(|(folder, name, _)| charts.get(folder.as_str()).map(|p| format!("{p}/{name}")))
                .collect()
        })
    }

    /// Compiles the schemas no thread has taken, then parses templates no thread has taken
    /// yet, until none is left.
    pub fn work(&self, func_names: &std::collections::HashSet<&str>) -> ParsedPart {
        for (text, slot) in &self.schemas {
            // Locked means another thread has it; poisoned, that a helper failed on it.
            if let Ok(mut slot) = slot.try_lock()
                && slot.is_none()
            {
                *slot = Some(Arc::new(schema::compile(text)));
            }
        }
        let has = |n: &str| func_names.contains(n);
        let paths = self.paths();
        let mut out = Vec::new();
        loop {
            let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (Some(path), Some((_, _, text))) = (paths.get(i), self.templates.get(i)) else {
                return out;
            };
            // Text that is not UTF-8 is refused, in order, by `render`.
            if let (Some(path), Ok(t)) = (path, std::str::from_utf8(text)) {
                out.push((i, gantry_gotmpl::parse::parse(path, t, &has)));
            }
        }
    }

    /// What `text` (a schema of the chart) compiles to: waits while the helper compiles it,
    /// and compiles it here when no thread has (`None` for a schema not collected).
    pub fn schema(&self, text: &[u8]) -> Option<Arc<schema::Compiled>> {
        let (_, slot) = self.schemas.iter().find(|(t, _)| t == text)?;
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        Some(
            slot.get_or_insert_with(|| Arc::new(schema::compile(text)))
                .clone(),
        )
    }

    /// Takes part in the work, then gathers the helper's. A helper that panicked loses what it
    /// had taken, and [`crate::engine::render`] parses that itself.
    pub fn finish(
        &self,
        func_names: &std::collections::HashSet<&str>,
        helper: Option<std::thread::ScopedJoinHandle<'_, ParsedPart>>,
    ) -> Parsed<'_> {
        let mut parts = self.work(func_names);
        if let Some(Ok(theirs)) = helper.map(|h| h.join()) {
            parts.extend(theirs);
        }
        let paths = self.paths();
        parts
            .into_iter()
            .filter_map(|(i, r)| Some((paths[i].clone()?, (&self.templates[i].2[..], r))))
            .collect()
    }
}
