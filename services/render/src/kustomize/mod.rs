//! A native Kustomize engine: accumulates resources, components and generators, runs the
//! built-in transformers in kustomize's order, then fixes name references and adds hashes.

mod buildmeta;
mod config;
mod fieldspec;
mod generate;
mod kustomization;
mod nameref;
mod openapi;
mod patch;
mod plugins;
mod replace;
pub(crate) mod resource;
mod smp;
mod sort;
mod transform;
mod vars;

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::fs::{FileSystem, FsError};
use crate::{Limits, Reorder, path};
use kustomization::Kustomization;
use resource::{Behavior, ResId, Resource};

/// The names kustomize looks for in a directory.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Engine errors. The public error wraps these with the file they concern.
#[derive(Debug, thiserror::Error)]
pub enum KError {
    #[error("{0}")]
    Msg(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("{path}:{line}: {message}")]
    Yaml {
        path: String,
        line: usize,
        message: String,
    },
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{0}")]
    Limit(String),
    #[error(
        "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{}'",
        path::display(.0)
    )]
    NoKustomization(String),
    /// A reference leads outside the directory reads are confined to.
    #[error("{file}:{line}: '{reference}' is outside the root '{root}'")]
    Outside {
        /// The kustomization that names it, shown from the root.
        file: String,
        /// Its line there (0 when not found).
        line: usize,
        reference: String,
        /// The directory reads are confined to, shown from the root.
        root: String,
    },
    #[error("{prefix}: {source}")]
    Context {
        prefix: String,
        #[source]
        source: Box<KError>,
    },
}

impl KError {
    pub fn context(self, prefix: impl Into<String>) -> KError {
        KError::Context {
            prefix: prefix.into(),
            source: Box::new(self),
        }
    }
}

pub type KResult<T> = Result<T, KError>;

pub fn kerr(msg: String) -> KError {
    KError::Msg(msg)
}

/// The ordered set of resources being built.
#[derive(Debug, Default, Clone)]
pub struct ResMap {
    pub list: Vec<Resource>,
    /// Transformer configuration added by this kustomization and the ones below it.
    pub config: config::TransformerConfig,
    pub vars: Vec<vars::Var>,
}

impl ResMap {
    pub fn append_all(&mut self, other: ResMap) -> KResult<()> {
        self.config.merge(&other.config);
        for v in other.vars {
            vars::add(&mut self.vars, v)?;
        }
        // Index current names so that adding n resources to m stays O(n + m).
        let mut by_name: std::collections::HashMap<String, Vec<usize>> =
            std::collections::HashMap::new();
        for (i, r) in self.list.iter().enumerate() {
            by_name.entry(r.name_ref().to_owned()).or_default().push(i);
        }
        for r in other.list {
            let id = r.cur_id();
            if let Some(idxs) = by_name.get(&id.name)
                && let Some(&j) = idxs.iter().find(|&&j| self.list[j].cur_id().equals(&id))
            {
                return Err(kerr(format!(
                    "may not add resource with an already registered id: {id} (from {}, already added from {})",
                    r.origin, self.list[j].origin
                )));
            }
            by_name.entry(id.name).or_default().push(self.list.len());
            self.list.push(r);
        }
        Ok(())
    }

    /// `matching_any_id` for ids with a given name, skipping others cheaply.
    pub fn matching_named(&self, name: &str, f: impl Fn(&ResId) -> bool) -> Vec<usize> {
        self.list
            .iter()
            .enumerate()
            .filter(|(_, r)| r.has_name(name))
            .filter(|(_, r)| r.prev_ids.iter().any(&f) || f(&r.cur_id()))
            .map(|(i, _)| i)
            .collect()
    }

    /// kustomize's `GetById`: one match by any id, falling back to ignoring the namespace.
    pub fn get_by_id(&self, id: &ResId) -> KResult<usize> {
        let m = self.matching_named(&id.name, |x| x.equals(id));
        match m.len() {
            1 => Ok(m[0]),
            0 => {
                let loose = self.matching_named(&id.name, |x| x.gvkn_equals(id));
                if loose.len() == 1 {
                    Ok(loose[0])
                } else {
                    Err(kerr(format!(
                        "no matches for Id {id}; failed to find unique target for patch {id}"
                    )))
                }
            }
            _ => Err(kerr(format!(
                "multiple matches for Id {id}; failed to find unique target for patch {id}"
            ))),
        }
    }

    /// Names (current and previous) to indexes, for `absorb`.
    pub fn name_index(&self) -> std::collections::HashMap<String, Vec<usize>> {
        let mut idx: std::collections::HashMap<String, Vec<usize>> =
            std::collections::HashMap::new();
        for (i, r) in self.list.iter().enumerate() {
            idx.entry(r.name_ref().to_owned()).or_default().push(i);
            for p in &r.prev_ids {
                idx.entry(p.name.clone()).or_default().push(i);
            }
        }
        idx
    }

    /// Adds generated resources: create, or merge/replace an existing one. `index` is
    /// `name_index()`, kept up to date here.
    pub fn absorb(
        &mut self,
        r: Resource,
        index: &mut std::collections::HashMap<String, Vec<usize>>,
    ) -> KResult<()> {
        let id = r.cur_id();
        let mut m: Vec<usize> = index
            .get(&id.name)
            .map(|v| v.as_slice())
            .unwrap_or_default()
            .iter()
            .copied()
            .map(|i| (i, &self.list[i]))
            .filter(|(_, x)| x.prev_ids.iter().any(|p| p.equals(&id)) || x.cur_id().equals(&id))
            .map(|(i, _)| i)
            .collect();
        m.sort_unstable();
        m.dedup();
        match m.len() {
            0 => match r.behavior {
                Behavior::Merge | Behavior::Replace => Err(kerr(format!(
                    "id {id} does not exist; cannot merge or replace"
                ))),
                Behavior::Create => {
                    index
                        .entry(id.name.clone())
                        .or_default()
                        .push(self.list.len());
                    self.list.push(r);
                    Ok(())
                }
            },
            1 => {
                let old = self.list[m[0]].clone();
                let mut new = r;
                match new.behavior {
                    Behavior::Replace => generate::copy_merge_meta(&mut new, &old),
                    Behavior::Merge => {
                        // kustomize restores the origin of what a merge lands in.
                        let origin = old.build_origin.clone();
                        generate::copy_merge_meta(&mut new, &old);
                        if origin.is_some() {
                            new.build_origin = origin;
                        }
                        generate::merge_data(&mut new, &old);
                    }
                    Behavior::Create => {
                        return Err(kerr(format!(
                            "id {id} exists; behavior must be merge or replace"
                        )));
                    }
                }
                self.list[m[0]] = new;
                Ok(())
            }
            _ => Err(kerr(format!(
                "found multiple objects that could accept merge of {id}"
            ))),
        }
    }
}

/// One render: the file system, what was read, and the limits.
pub struct Engine<'a> {
    pub fs: &'a dyn FileSystem,
    pub reads: RefCell<BTreeSet<String>>,
    pub limits: Limits,
    bytes_read: RefCell<u64>,
    depth: RefCell<usize>,
    /// The top kustomization's `buildMetadata`, and its directory (origins are relative to it).
    meta: Cell<buildmeta::Options>,
    root: RefCell<String>,
    /// The origin of the builtin plugin config running now, if any.
    plugin_origin: RefCell<Option<buildmeta::Origin>>,
    /// The `openapi` schema setting, global to a build as in kyaml.
    openapi: RefCell<openapi::State>,
    /// The directory every read stays below (`""`: the file system's root).
    confine: String,
    /// kustomize's default load restrictor: a kustomization's own files lie below its folder.
    root_only: bool,
    /// The directories being accumulated, outermost first (kustomize's chain of loaders).
    loaders: RefCell<Vec<String>>,
}

impl std::fmt::Debug for Engine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

/// From this many files, [`Engine::read_many`] reads with a second thread: below it, starting
/// one costs more than it saves.
const PARALLEL_READ_MIN_FILES: usize = 32;

impl<'a> Engine<'a> {
    /// An engine whose reads stay below `confine` and, when `root_only`, each kustomization's
    /// own files below its folder.
    pub fn new(fs: &'a dyn FileSystem, limits: Limits, confine: String, root_only: bool) -> Self {
        Engine {
            fs,
            reads: RefCell::new(BTreeSet::new()),
            limits,
            bytes_read: RefCell::new(0),
            depth: RefCell::new(0),
            meta: Cell::new(buildmeta::Options::default()),
            root: RefCell::new(String::new()),
            plugin_origin: RefCell::new(None),
            openapi: RefCell::new(openapi::State::default()),
            confine,
            root_only,
            loaders: RefCell::new(Vec::new()),
        }
    }

    /// Reads a repository file, recording it and enforcing the size limits.
    pub fn read(&self, p: &str) -> KResult<Vec<u8>> {
        self.reads.borrow_mut().insert(p.to_owned());
        self.check_real(p)?;
        let data = self.fs.read(p)?;
        self.account(p, data)
    }

    /// Reads many files as [`Engine::read`] would one after the other, stopping at the first
    /// error; when `threads`, a long list on a file system that gains from it
    /// ([`FileSystem::concurrent_reads`]) is read by two threads. Opening and reading a chart's
    /// files (prometheus: 167 of them) was a third of rendering it, and the system calls of one
    /// file do not wait for another's. The limits are enforced in order, so the result is what
    /// the serial reads give; the threads stop reading once the total is over. Whether the host
    /// has a core for the second thread is the caller's to say (the Helm render decides it once:
    /// `gantry_helm::Helper`); a caller with a thread of its own busy meanwhile reads on this
    /// one alone: a second reader would take that thread's core.
    ///
    /// The bytes of the file at an index that another thread read (confined as this read
    /// would be) are taken from `ahead` (`None`: read here). The limits and errors are those
    /// of the serial reads still.
    pub fn read_many(
        &self,
        paths: &[String],
        threads: bool,
        ahead: &(dyn Fn(usize) -> Option<Vec<u8>> + Sync),
    ) -> KResult<Vec<Vec<u8>>> {
        let mut checked = Vec::with_capacity(paths.len());
        for p in paths {
            self.reads.borrow_mut().insert(p.clone());
            checked.push(self.check_real(p).map(|()| p.as_str()));
        }
        // The files to read: those the confinement check let through.
        let targets: Vec<Option<&str>> = checked.iter().map(|c| c.as_ref().ok().copied()).collect();
        let limit = self.limits.max_total_bytes;
        let seen = AtomicU64::new(*self.bytes_read.borrow());
        let fs = self.fs;
        // `None`: not read (refused, or the total was over by then).
        let read = |(i, p): (usize, &Option<&str>)| -> Option<Result<Vec<u8>, FsError>> {
            let p = (*p)?;
            if seen.load(Ordering::Relaxed) > limit {
                return None;
            }
            let r = ahead(i).map_or_else(|| fs.read(p), Ok);
            if let Ok(d) = &r {
                seen.fetch_add(d.len() as u64, Ordering::Relaxed);
            }
            Some(r)
        };
        let mut raw: Vec<_> = (0..paths.len()).map(|_| None).collect();
        if threads && paths.len() >= PARALLEL_READ_MIN_FILES && fs.concurrent_reads() {
            // The other thread takes every second file: neighbours are alike in size.
            let theirs = std::thread::scope(|scope| {
                let helper = std::thread::Builder::new()
                    .name("read-files".into())
                    .spawn_scoped(scope, || {
                        targets
                            .iter()
                            .enumerate()
                            .skip(1)
                            .step_by(2)
                            .map(read)
                            .collect::<Vec<_>>()
                    });
                for (slot, t) in raw.iter_mut().zip(targets.iter().enumerate()).step_by(2) {
                    *slot = read(t);
                }
                helper.ok().and_then(|h| h.join().ok())
            });
            // A helper that could not start or failed leaves its files to the loop below.
            for (slot, r) in raw
                .iter_mut()
                .skip(1)
                .step_by(2)
                .zip(theirs.into_iter().flatten())
            {
                *slot = r;
            }
        } else {
            for (slot, t) in raw.iter_mut().zip(targets.iter().enumerate()) {
                *slot = read(t);
            }
        }
        let mut out = Vec::with_capacity(paths.len());
        for ((p, c), r) in paths.iter().zip(checked).zip(raw) {
            c?;
            let data = match r {
                Some(r) => r?,
                None => self.fs.read(p)?,
            };
            out.push(self.account(p, data)?);
        }
        Ok(out)
    }

    /// Enforces the size limits on a file just read and counts it in the total.
    fn account(&self, p: &str, data: Vec<u8>) -> KResult<Vec<u8>> {
        if data.len() as u64 > self.limits.max_file_bytes {
            return Err(KError::Limit(format!(
                "{}: file is {} bytes, more than the limit of {}",
                path::display(p),
                data.len(),
                self.limits.max_file_bytes
            )));
        }
        let mut total = self.bytes_read.borrow_mut();
        *total += data.len() as u64;
        if *total > self.limits.max_total_bytes {
            return Err(KError::Limit(format!(
                "more than {} bytes read in total",
                self.limits.max_total_bytes
            )));
        }
        Ok(data)
    }

    pub fn read_text(&self, p: &str) -> KResult<String> {
        let data = self.read(p)?;
        String::from_utf8(data).map_err(|_| kerr(format!("{}: not valid UTF-8", path::display(p))))
    }

    /// Parses the YAML documents of a text that came from `p`.
    pub fn parse(&self, text: &str, p: &str) -> KResult<Vec<crate::yaml::ParsedDoc>> {
        crate::yaml::parse_documents(text, &self.limits).map_err(|e| KError::Yaml {
            path: path::display(p),
            line: e.line,
            message: e.message,
        })
    }

    /// Parses YAML as sigs.k8s.io/yaml's `YAMLToJSON` does (YAML 1.1), for what kustomize
    /// converts that way: JSON 6902 patches.
    pub fn parse_yaml11(&self, text: &str, p: &str) -> KResult<Vec<crate::yaml::ParsedDoc>> {
        crate::yaml::parse_documents_yaml11(text, &self.limits).map_err(|e| KError::Yaml {
            path: path::display(p),
            line: e.line,
            message: e.message,
        })
    }

    /// Resolves a reference in a kustomization at `dir`: a path that stays below the
    /// directory reads are confined to.
    pub fn resolve(&self, dir: &str, reference: &str) -> KResult<String> {
        if path::is_remote(reference) {
            return Err(KError::Unsupported(format!(
                "remote resource '{reference}'"
            )));
        }
        match path::join(dir, reference) {
            Some(p) if path::within(&p, &self.confine) => Ok(p),
            _ => Err(self.outside(dir, reference)),
        }
    }

    /// Resolves a file that the kustomization at `dir` loads, under kustomize's default load
    /// restrictor (`LoadRestrictionsRootOnly`): it must lie in or below `dir`, symlinks
    /// resolved. Bases and components (directories) are not restricted.
    pub fn resolve_file(&self, dir: &str, reference: &str) -> KResult<String> {
        let p = self.resolve(dir, reference)?;
        self.restrict(dir, &p)?;
        Ok(p)
    }

    /// kustomize's `RestrictionRootOnly` for a file `p` loaded by the kustomization at `dir`.
    pub fn restrict(&self, dir: &str, p: &str) -> KResult<()> {
        if !self.root_only {
            return Ok(());
        }
        let real = |x: &str| self.fs.canonical(x).unwrap_or_else(|_| x.to_owned());
        if path::within(&real(p), &real(dir)) {
            return Ok(());
        }
        Err(kerr(format!(
            "security; file '{}' is not in or below '{}'",
            path::display(p),
            path::display(dir)
        )))
    }

    /// A symlink on `p` must not lead outside the directory reads are confined to.
    pub fn check_real(&self, p: &str) -> KResult<()> {
        if self.confine.is_empty() {
            return Ok(());
        }
        let real = |x: &str| self.fs.canonical(x).unwrap_or_else(|_| x.to_owned());
        if path::within(&real(p), &real(&self.confine)) {
            Ok(())
        } else {
            Err(KError::Outside {
                file: String::new(),
                line: 0,
                reference: path::display(p),
                root: path::display(&self.confine),
            })
        }
    }

    /// The error for `reference`, named in the kustomization at `dir`, leading outside: it
    /// names that kustomization and the line the reference is on.
    fn outside(&self, dir: &str, reference: &str) -> KError {
        let file = self.find_kustomization(dir).ok().flatten();
        let line = file
            .as_deref()
            .and_then(|f| self.fs.read(f).ok())
            .and_then(|b| {
                String::from_utf8_lossy(&b)
                    .lines()
                    .position(|l| l.contains(reference))
            })
            .map_or(0, |i| i + 1);
        KError::Outside {
            file: path::display(file.as_deref().unwrap_or(dir)),
            line,
            reference: reference.to_owned(),
            root: path::display(&self.confine),
        }
    }

    /// kustomize's loader chain check when entering the directory `candidate`: it must not
    /// contain a directory being accumulated (that would be a cycle).
    fn check_cycle(&self, candidate: &str) -> KResult<()> {
        let real = |x: &str| self.fs.canonical(x).unwrap_or_else(|_| x.to_owned());
        let c = real(candidate);
        for visited in self.loaders.borrow().iter().rev() {
            let v = real(visited);
            if path::within(&v, &c) {
                return Err(kerr(format!(
                    "cycle detected: candidate root '{}' contains visited root '{}'",
                    path::display(&c),
                    path::display(&v)
                )));
            }
        }
        Ok(())
    }

    /// The kustomization file in `dir`, if any.
    pub fn find_kustomization(&self, dir: &str) -> KResult<Option<String>> {
        let mut found = Vec::new();
        for name in KUSTOMIZATION_FILES {
            let p = path::join(dir, name).unwrap_or_default();
            if self.fs.is_file(&p) {
                found.push(p);
            }
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => Err(kerr(format!(
                "Found multiple kustomization files under: {}",
                path::display(dir)
            ))),
        }
    }

    fn load_kustomization(&self, dir: &str) -> KResult<(Kustomization, String)> {
        let Some(file) = self.find_kustomization(dir)? else {
            return Err(KError::NoKustomization(dir.to_owned()));
        };
        let text = self.read_text(&file)?;
        let docs =
            crate::yaml::parse_kustomization(&text, &self.limits).map_err(|e| KError::Yaml {
                path: path::display(&file),
                line: e.line,
                message: e.message,
            })?;
        let k = Kustomization::from_value(&docs).map_err(|e| e.context(path::display(&file)))?;
        Ok((k, file))
    }

    /// Builds the kustomization at `dir` with the final steps (hashes, name references).
    pub fn build(&self, dir: &str, reorder: Reorder) -> KResult<Vec<Resource>> {
        // A component built directly is built as a kustomization (kustomize allows it).
        let (k, file) = self.load_kustomization(dir)?;
        self.meta
            .set(buildmeta::Options::from_list(&k.build_metadata));
        *self.root.borrow_mut() = dir.to_owned();
        self.set_openapi(dir, k.openapi.as_ref(), true)?;
        let mut rm = self.accumulate_target(dir, &k, &file, ResMap::default())?;
        transform::add_hashes(&mut rm)?;
        let mut refs = fieldspec::name_references();
        config::merge_backrefs(&mut refs, &rm.config.name_reference);
        nameref::fix(&mut rm, &refs)?;
        let mut var_specs = fieldspec::var_references();
        var_specs.extend(rm.config.var_reference.iter().cloned());
        vars::resolve(&mut rm, &var_specs)?;
        rm.list.retain(|r| {
            !r.annotations()
                .iter()
                .any(|(k, v)| k == "config.kubernetes.io/local-config" && v == "true")
        });
        let meta = self.meta.get();
        for r in &mut rm.list {
            transform::finalize(r);
            buildmeta::write(r, meta);
        }
        let order = match &k.sort_options {
            Some(s) if s.order == "fifo" => None,
            Some(s) => Some((s.order_first.clone(), s.order_last.clone())),
            None => match reorder {
                Reorder::Legacy => Some((None, None)),
                Reorder::None => None,
            },
        };
        if let Some((first, last)) = order {
            sort::legacy(&mut rm.list, first, last);
        }
        Ok(rm.list)
    }

    /// The origin of resources read from `file`, when origins are tracked.
    fn origin_of_file(&self, file: &str) -> Option<buildmeta::Origin> {
        self.meta
            .get()
            .track
            .then(|| buildmeta::Origin::file(buildmeta::relative(&self.root.borrow(), file)))
    }

    /// The origin of what a builtin plugin configured in `kfile` made or changed.
    pub fn origin_of_plugin(&self, kfile: &str, kind: &str) -> Option<buildmeta::Origin> {
        if let Some(o) = self.plugin_origin.borrow().as_ref() {
            return Some(o.clone());
        }
        self.meta.get().track.then(|| {
            buildmeta::Origin::builtin(buildmeta::relative(&self.root.borrow(), kfile), kind)
        })
    }

    /// Records that a builtin transformer configured in `kfile` ran over every resource.
    pub fn record_transformer(&self, ra: &mut ResMap, kfile: &str, kind: &str) {
        if let Some(o) = self.origin_of_plugin(kfile, kind) {
            for r in &mut ra.list {
                r.touched_annotations = true;
                if r.build_origin.is_none() {
                    r.build_origin = Some(o.clone());
                } else {
                    r.transformations.push(o.clone());
                }
            }
        }
    }

    fn enter(&self, dir: &str) -> KResult<DepthGuard<'_, 'a>> {
        let depth = {
            let mut d = self.depth.borrow_mut();
            *d += 1;
            *d
        };
        self.loaders.borrow_mut().push(dir.to_owned());
        let guard = DepthGuard(self);
        if depth > self.limits.max_kustomization_depth {
            return Err(KError::Limit(format!(
                "kustomizations nested deeper than {} levels at {} (a cycle?)",
                self.limits.max_kustomization_depth,
                path::display(dir)
            )));
        }
        Ok(guard)
    }

    fn accumulate_target(
        &self,
        dir: &str,
        k: &Kustomization,
        file: &str,
        ra: ResMap,
    ) -> KResult<ResMap> {
        let _guard = self.enter(dir)?;
        if k.kind == "Component"
            && !k.api_version.is_empty()
            && k.api_version != "kustomize.config.k8s.io/v1alpha1"
        {
            return Err(kerr(format!(
                "apiVersion for Component should be kustomize.config.k8s.io/v1alpha1, got {}",
                k.api_version
            )));
        }
        let mut ra = self
            .accumulate_resources(dir, &k.resources, ra)
            .map_err(|e| e.context("accumulating resources"))?;
        if !k.configurations.is_empty() || !k.crds.is_empty() {
            let c = config::load(self, dir, &k.configurations, &k.crds)
                .map_err(|e| e.context(path::display(file)))?;
            ra.config.merge(&c);
        }
        generate::run(self, dir, file, k, &mut ra)?;
        if !k.generators.is_empty() {
            let configs = self.plugin_configs(dir, file, &k.generators)?;
            plugins::run_generators(self, dir, file, &configs, &mut ra)?;
        }
        for c in &k.components {
            ra = self
                .accumulate_component(dir, c, ra)
                .map_err(|e| e.context("accumulating components"))?;
        }
        transform::run(self, dir, file, k, &mut ra)?;
        if !k.transformers.is_empty() {
            let configs = self.plugin_configs(dir, file, &k.transformers)?;
            plugins::run_transformers(self, dir, file, &configs, &mut ra)?;
        }
        vars::merge(&mut ra, &k.vars)?;
        Ok(ra)
    }

    fn accumulate_component(&self, dir: &str, reference: &str, ra: ResMap) -> KResult<ResMap> {
        let sub = self.resolve(dir, reference)?;
        if !self.fs.is_dir(&sub) {
            // kustomize's loader.New, quoted with %q.
            let why = if self.fs.is_file(&sub) {
                format!("'{}': file is not directory", path::display(&sub))
            } else {
                format!(
                    "not a valid directory: '{}' doesn't exist",
                    path::display(&sub)
                )
            };
            return Err(kerr(format!(
                "loader.New {}",
                serde_json::to_string(&format!("must build at directory: {why}"))
                    .unwrap_or_default()
            )));
        }
        self.check_cycle(&sub)
            .map_err(|e| kerr(format!("loader.New \"{e}\"")))?;
        self.check_real(&sub)?;
        let (k, file) = self.load_kustomization(&sub)?;
        if k.kind != "Component" {
            return Err(kerr(format!(
                "accumulateDirectory: \"expected kind 'Component' for path '{}' but got '{}'\"",
                path::display(&sub),
                if k.kind.is_empty() {
                    "Kustomization"
                } else {
                    &k.kind
                }
            )));
        }
        self.set_openapi(&sub, k.openapi.as_ref(), false)?;
        self.accumulate_target(&sub, &k, &file, ra)
    }

    fn accumulate_resources(&self, dir: &str, refs: &[String], mut ra: ResMap) -> KResult<ResMap> {
        for reference in refs {
            let p = self.resolve(dir, reference)?;
            if self.fs.is_dir(&p) {
                // kustomize tries the path as a file first; its error leads the message.
                let as_file = if self.root_only {
                    format!("'{}' must resolve to a file", path::display(&p))
                } else {
                    format!("read {}: is a directory", path::display(&p))
                };
                let ctx = |e: KError| {
                    e.context(format!(
                        "accumulation err='accumulating resources from '{reference}': {as_file}'"
                    ))
                };
                self.check_cycle(&p).map_err(ctx)?;
                self.check_real(&p)?;
                let (k, file) = self.load_kustomization(&p).map_err(|e| {
                    ctx(e.context(format!(
                        "couldn't make target for path '{}'",
                        path::display(&p)
                    )))
                })?;
                if k.kind == "Component" {
                    return Err(ctx(kerr(format!(
                        "expected kind != 'Component' for path '{}'",
                        path::display(&p)
                    ))));
                }
                self.set_openapi(&p, k.openapi.as_ref(), false)?;
                let sub = self
                    .accumulate_target(&p, &k, &file, ResMap::default())
                    .map_err(|e| {
                        ctx(e.context(format!(
                            "recursed accumulation of path '{}'",
                            path::display(&p)
                        )))
                    })?;
                ra.append_all(sub)?;
            } else if self.fs.is_file(&p) {
                self.restrict(dir, &p).map_err(|e| {
                    kerr(format!(
                        "accumulation err='accumulating resources from '{reference}': {e}': must build at directory: '{}': file is not directory",
                        path::display(&p)
                    ))
                })?;
                let mut list = self.load_resources(&p)?;
                if let Some(origin) = self.origin_of_file(&p) {
                    for r in &mut list {
                        r.build_origin = Some(origin.clone());
                        r.touched_annotations = true;
                    }
                }
                ra.append_all(ResMap {
                    list,
                    ..Default::default()
                })?;
            } else {
                // Reading reports a symlink leaving the root as such.
                self.read(&p)?;
                return Err(kerr(format!(
                    "accumulation err='accumulating resources from '{reference}': '{}' doesn't exist'",
                    path::display(&p)
                )));
            }
        }
        Ok(ra)
    }

    /// Reads the resources of one file: documents, with `List` kinds flattened.
    pub fn load_resources(&self, p: &str) -> KResult<Vec<Resource>> {
        let text = self.read_text(p)?;
        self.resources_from_text(&text, p)
    }

    pub fn resources_from_text(&self, text: &str, p: &str) -> KResult<Vec<Resource>> {
        let docs = self.parse(text, p)?;
        self.resources_from_docs(docs, p)
    }

    /// The resources of a chart's `helm template` stream, read as the Kubernetes client reads
    /// what Helm installs (sigs.k8s.io/yaml): a repeated key keeps its last value, where
    /// kustomize's reading refuses it.
    pub fn resources_from_helm_stream(&self, text: &str, p: &str) -> KResult<Vec<Resource>> {
        let docs = crate::yaml::parse_documents_last_key_wins(text, &self.limits).map_err(|e| {
            KError::Yaml {
                path: path::display(p),
                line: e.line,
                message: e.message,
            }
        })?;
        self.resources_from_docs(docs, p)
    }

    fn resources_from_docs(
        &self,
        docs: Vec<crate::yaml::ParsedDoc>,
        p: &str,
    ) -> KResult<Vec<Resource>> {
        let mut out = Vec::new();
        for d in docs {
            let origin = format!("{}:{}", path::display(p), d.line);
            flatten(d.value, &origin, &mut out)?;
        }
        if out.len() > self.limits.max_resources {
            return Err(KError::Limit(format!(
                "more than {} resources",
                self.limits.max_resources
            )));
        }
        Ok(out)
    }
}

/// Leaves a kustomization's directory when dropped.
struct DepthGuard<'e, 'a>(&'e Engine<'a>);

impl Drop for DepthGuard<'_, '_> {
    fn drop(&mut self) {
        *self.0.depth.borrow_mut() -= 1;
        self.0.loaders.borrow_mut().pop();
    }
}

fn flatten(v: Value, origin: &str, out: &mut Vec<Resource>) -> KResult<()> {
    let Value::Object(mut m) = v else {
        return Err(kerr(format!("{origin}: a resource must be a mapping")));
    };
    let kind = m
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if kind.ends_with("List") && m.get("items").is_some_and(Value::is_array) {
        if let Some(Value::Array(items)) = m.remove("items") {
            for item in items {
                flatten(item, origin, out)?;
            }
        }
        return Ok(());
    }
    if kind.is_empty() {
        return Err(kerr(format!("{origin}: missing kind in object")));
    }
    let mut r = Resource::new(Value::Object(m), origin.to_owned());
    if r.annotations()
        .iter()
        .any(|(k, v)| k == "kustomize.config.k8s.io/needs-hash" && v == "true")
    {
        r.needs_hash = true;
    }
    out.push(r);
    Ok(())
}

/// Sorts resources in kustomize's legacy order.
pub fn sort_legacy(list: &mut [Resource]) {
    sort::legacy(list, None, None);
}
