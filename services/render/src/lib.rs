//! Gantry's render engine: turns an environment's path in a repository into Kubernetes objects.
//! Plain folders and Kustomize overlays are rendered natively, matching `kustomize build` byte
//! for byte; Helm charts are rendered by Gantry's own engine (`gantry-helm`) as `helm template`
//! would, or by an external `helm` behind the same [`HelmRenderer`] trait when asked.
//!
//! Rendering reads only through a [`FileSystem`] rooted at the repository, so the reconciler can
//! render a git tree at a commit; [`Rendered::inputs`] lists every path that was read.

#![deny(missing_docs)]

pub mod fs;
pub mod helm;
mod kustomize;
mod path;
pub mod yaml;

use std::collections::BTreeSet;

use serde_json::Value;

pub use fs::{DirFs, FileSystem, FsError, MemFs, PathMap};
/// When the native Helm engine starts its parse helper ([`NativeHelm::helper`]).
pub use gantry_helm::Helper as HelmHelper;
/// The stack the native Helm engine renders on ([`NativeHelm::on_caller_thread`]).
pub use gantry_helm::STACK_SIZE as HELM_STACK_SIZE;
pub use helm::{ExternalHelm, HelmError, HelmOutput, HelmRenderer, HelmRequest, NativeHelm};

/// Output order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reorder {
    /// kustomize's legacy kind order (what `kustomize build` does by default).
    #[default]
    Legacy,
    /// Input order.
    None,
}

/// Safety limits. Exceeding one is an error naming it.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest file read.
    pub max_file_bytes: u64,
    /// Total bytes read by one render.
    pub max_total_bytes: u64,
    /// YAML documents in one file.
    pub max_documents: usize,
    /// YAML nesting depth.
    pub max_depth: usize,
    /// YAML nodes in one file, aliases expanded.
    pub max_nodes: usize,
    /// Resources in one file.
    pub max_resources: usize,
    /// Kustomizations nested within each other (also stops cycles).
    pub max_kustomization_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 8 << 20,
            max_total_bytes: 256 << 20,
            max_documents: 20_000,
            max_depth: 100,
            max_nodes: 5_000_000,
            max_resources: 50_000,
            max_kustomization_depth: 64,
        }
    }
}

/// Which files a kustomization may load (kustomize's `--load-restrictor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadRestrictor {
    /// `LoadRestrictionsRootOnly`, kustomize's default: a kustomization's own files
    /// (resources, patches, generator sources, configurations, ...) lie in or below its
    /// folder; bases and components may lie anywhere.
    #[default]
    RootOnly,
    /// `LoadRestrictionsNone`: files may lie anywhere reads are allowed.
    None,
}

/// Options of a render.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Output order when the kustomization has no `sortOptions`.
    pub reorder: Reorder,
    /// Safety limits.
    pub limits: Limits,
    /// Refuse a folder without a kustomization, as `kustomize build` does (Gantry's own
    /// default renders such a folder's manifests).
    pub require_kustomization: bool,
    /// kustomize's load restrictor.
    pub load_restrictor: LoadRestrictor,
    /// A directory of the file system (relative to its root) that every read must stay
    /// below, whatever the kustomizations name; `None` is the file system's root.
    pub confine_to: Option<String>,
}

/// The objects of a render and the repository paths it read.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// The rendered objects, in output order.
    pub objects: Vec<Value>,
    /// Every repository path read (files; directories listed are included too).
    pub inputs: BTreeSet<String>,
    /// Why a chart's output may differ between two renders of the same input (random and
    /// time functions); empty when it does not.
    pub nondeterministic: Vec<String>,
}

impl Rendered {
    /// The objects as `kustomize build` prints them.
    pub fn to_yaml(&self) -> String {
        yaml::to_yaml_stream(self.objects.iter())
    }
}

/// Why a render failed. Messages name the file and, where known, the line.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A YAML syntax error.
    #[error("{path}:{line}: {message}")]
    Yaml {
        /// The repository path, shown from the root (`/app/x.yaml`).
        path: String,
        /// 1-based line, 0 if unknown.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The directory holds no kustomization (kustomize's `MissingKustomizationFileError`).
    #[error(
        "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{dir}'"
    )]
    NoKustomization {
        /// The directory, shown from the root.
        dir: String,
    },
    /// A feature Gantry refuses to render.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A path leads outside the directory reads are confined to.
    #[error("{}", escapes_message(file, *line, reference, root))]
    Escapes {
        /// The file that names the path, shown from the root (`""` when none does).
        file: String,
        /// Its line there, 0 if unknown.
        line: usize,
        /// The path as written.
        reference: String,
        /// The directory reads are confined to, shown from the root.
        root: String,
    },
    /// A limit was exceeded.
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// Reading failed.
    #[error(transparent)]
    Fs(FsError),
    /// kustomize semantics refused the input (the message follows kustomize's).
    #[error("{0}")]
    Kustomize(String),
    /// Helm failed.
    #[error(transparent)]
    Helm(#[from] HelmError),
}

fn escapes_message(file: &str, line: usize, reference: &str, root: &str) -> String {
    match (file.is_empty(), line) {
        (true, _) => format!("'{reference}' is outside the root '{root}'"),
        (false, 0) => format!("{file}: '{reference}' is outside the root '{root}'"),
        (false, n) => format!("{file}:{n}: '{reference}' is outside the root '{root}'"),
    }
}

fn convert(e: kustomize::KError) -> RenderError {
    use kustomize::KError as K;
    fn root(e: &K) -> &K {
        match e {
            K::Context { source, .. } => root(source),
            other => other,
        }
    }
    if let K::NoKustomization(dir) = &e {
        return RenderError::NoKustomization {
            dir: path::display(dir),
        };
    }
    match root(&e) {
        K::Unsupported(f) => return RenderError::Unsupported(f.clone()),
        K::Fs(FsError::Escapes(p)) => {
            return RenderError::Escapes {
                file: String::new(),
                line: 0,
                reference: path::display(p),
                root: "/".into(),
            };
        }
        K::Outside {
            file,
            line,
            reference,
            root,
        } => {
            return RenderError::Escapes {
                file: file.clone(),
                line: *line,
                reference: reference.clone(),
                root: root.clone(),
            };
        }
        K::Limit(m) => return RenderError::Limit(m.clone()),
        K::Yaml {
            path,
            line,
            message,
        } => {
            return RenderError::Yaml {
                path: path.clone(),
                line: *line,
                message: message.clone(),
            };
        }
        _ => {}
    }
    match e {
        K::Fs(f) => RenderError::Fs(f),
        other => RenderError::Kustomize(other.to_string()),
    }
}

/// Renders the environment at `dir` (repository-relative; `""` is the root): a kustomization,
/// a Helm chart (with `helm`, or Gantry's own engine when `None`) or a plain folder of
/// manifests.
pub fn render(
    fs: &dyn FileSystem,
    dir: &str,
    opts: &RenderOptions,
    helm: Option<&dyn HelmRenderer>,
) -> Result<Rendered, RenderError> {
    if path::is_remote(dir) {
        return Err(RenderError::Unsupported(format!("remote path '{dir}'")));
    }
    let confine = match &opts.confine_to {
        Some(c) => path::clean(c.trim_end_matches('/')).ok_or_else(|| RenderError::Escapes {
            file: String::new(),
            line: 0,
            reference: c.clone(),
            root: "/".into(),
        })?,
        None => String::new(),
    };
    let escapes = || RenderError::Escapes {
        file: String::new(),
        line: 0,
        reference: dir.to_owned(),
        root: path::display(&confine),
    };
    let dir = path::clean(dir.trim_end_matches('/')).ok_or_else(escapes)?;
    if !path::within(&dir, &confine) {
        return Err(escapes());
    }
    if !fs.is_dir(&dir) {
        return Err(RenderError::Fs(FsError::NotFound(dir)));
    }
    let engine = kustomize::Engine::new(
        fs,
        opts.limits.clone(),
        confine,
        opts.load_restrictor == LoadRestrictor::RootOnly,
    );
    let mut nondeterministic = Vec::new();
    let result = render_with(&engine, &dir, opts, helm, &mut nondeterministic);
    let mut inputs = engine.reads.into_inner();
    match result {
        Ok(objects) => {
            inputs.insert(dir);
            Ok(Rendered {
                objects,
                inputs,
                nondeterministic,
            })
        }
        Err(e) => Err(e),
    }
}

/// A chart's render with everything `gantry render` prints: `helm template`'s stream, the
/// engine's template map, and the parsed objects.
#[derive(Debug, Clone, Default)]
pub struct ChartRender {
    /// What `helm template --include-crds --skip-tests` prints.
    pub stream: String,
    /// Each template's output by path (native engine only; `NOTES.txt` included).
    pub templates: std::collections::BTreeMap<String, String>,
    /// The objects, in the stream's order.
    pub objects: Vec<Value>,
    /// Why the output may differ between two renders of the same input.
    pub nondeterministic: Vec<String>,
}

/// Whether `dir` holds a Helm chart (`Chart.yaml`) or is a packaged one (`.tgz`).
pub fn is_chart(fs: &dyn FileSystem, dir: &str) -> bool {
    let dir = path::clean(dir.trim_end_matches('/')).unwrap_or_default();
    fs.is_file(&path::join(&dir, "Chart.yaml").unwrap_or_default()) || helm::is_archive(fs, &dir)
}

/// Renders the chart at `dir` with `helm` (Gantry's engine when `None`): the stream and the
/// objects read from it.
pub fn render_chart(
    fs: &dyn FileSystem,
    dir: &str,
    opts: &RenderOptions,
    helm: Option<&dyn HelmRenderer>,
) -> Result<ChartRender, RenderError> {
    chart_render(fs, dir, opts, helm, true)
}

/// Renders the chart at `dir` as [`render_chart`] does, without reading the stream back as
/// objects (`objects` is empty). `helm template` checks only each document's head, so it prints
/// a document that is no Kubernetes object (no `kind`), which reading it as objects refuses;
/// and reading a large chart's stream back took about as long as rendering it.
pub fn render_chart_stream(
    fs: &dyn FileSystem,
    dir: &str,
    opts: &RenderOptions,
    helm: Option<&dyn HelmRenderer>,
) -> Result<ChartRender, RenderError> {
    chart_render(fs, dir, opts, helm, false)
}

fn chart_render(
    fs: &dyn FileSystem,
    dir: &str,
    opts: &RenderOptions,
    helm: Option<&dyn HelmRenderer>,
    with_objects: bool,
) -> Result<ChartRender, RenderError> {
    let confine = match &opts.confine_to {
        Some(c) => path::clean(c.trim_end_matches('/')).ok_or_else(|| RenderError::Escapes {
            file: String::new(),
            line: 0,
            reference: c.clone(),
            root: "/".into(),
        })?,
        None => String::new(),
    };
    let escapes = || RenderError::Escapes {
        file: String::new(),
        line: 0,
        reference: dir.to_owned(),
        root: path::display(&confine),
    };
    let dir = path::clean(dir.trim_end_matches('/')).ok_or_else(escapes)?;
    if !path::within(&dir, &confine) {
        return Err(escapes());
    }
    let engine = kustomize::Engine::new(
        fs,
        opts.limits.clone(),
        confine,
        opts.load_restrictor == LoadRestrictor::RootOnly,
    );
    engine.check_real(&dir).map_err(convert)?;
    let native;
    let helm = match helm {
        Some(h) => h,
        None => {
            native = NativeHelm::new("release-name", None, Vec::new());
            &native
        }
    };
    let out = helm::render_chart(&engine, &dir, helm)?;
    let objects = if out.stream.is_empty() || !with_objects {
        Vec::new()
    } else {
        engine
            .resources_from_helm_stream(&out.stream, &format!("{dir}/<helm template>"))
            .map_err(convert)?
    };
    Ok(ChartRender {
        stream: out.stream,
        templates: out.templates,
        objects: objects.into_iter().map(|r| r.obj).collect(),
        nondeterministic: out.nondeterministic,
    })
}

fn render_with(
    engine: &kustomize::Engine<'_>,
    dir: &str,
    opts: &RenderOptions,
    helm: Option<&dyn HelmRenderer>,
    nondeterministic: &mut Vec<String>,
) -> Result<Vec<Value>, RenderError> {
    engine.check_real(dir).map_err(convert)?;
    if engine.find_kustomization(dir).map_err(convert)?.is_some() {
        let list = engine.build(dir, opts.reorder).map_err(convert)?;
        return Ok(list.into_iter().map(|r| r.obj).collect());
    }
    if opts.require_kustomization {
        return Err(RenderError::NoKustomization {
            dir: path::display(dir),
        });
    }
    let chart = path::join(dir, "Chart.yaml").unwrap_or_default();
    if engine.fs.is_file(&chart) {
        let native;
        let helm = match helm {
            Some(h) => h,
            None => {
                native = NativeHelm::new("release-name", None, Vec::new());
                &native
            }
        };
        engine.read(&chart).map_err(convert)?;
        let out = helm::render_chart(engine, dir, helm)?;
        *nondeterministic = out.nondeterministic;
        let objects = engine
            .resources_from_helm_stream(&out.stream, &format!("{dir}/<helm template>"))
            .map_err(convert)?;
        return Ok(objects.into_iter().map(|r| r.obj).collect());
    }
    plain_folder(engine, dir, opts)
}

/// A folder without a kustomization: every `*.yaml`, `*.yml` and `*.json` file in it.
fn plain_folder(
    engine: &kustomize::Engine<'_>,
    dir: &str,
    opts: &RenderOptions,
) -> Result<Vec<Value>, RenderError> {
    let names = engine.fs.list_dir(dir).map_err(RenderError::Fs)?;
    let mut resources = Vec::new();
    for name in names {
        if !(name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json")) {
            continue;
        }
        let p = path::join(dir, &name).unwrap_or_default();
        if !engine.fs.is_file(&p) {
            continue;
        }
        resources.extend(engine.load_resources(&p).map_err(convert)?);
    }
    if opts.reorder == Reorder::Legacy {
        kustomize::sort_legacy(&mut resources);
    }
    Ok(resources.into_iter().map(|r| r.obj).collect())
}
