//! `gantry render PATH`: prints what an environment's path renders to, byte for byte as
//! `kustomize build` would (plain folders and Helm charts too), reading what it would read:
//! bases wherever they lie, each kustomization's own files below its folder, and with
//! `--root DIR` nothing outside DIR.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use gantry_render::{DirFs, ExternalHelm, RenderOptions, Reorder, render};

/// Output format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Output {
    /// Multi-document YAML, as `kustomize build` prints it.
    Yaml,
    /// A JSON array of the objects.
    Json,
}

/// Output order.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Order {
    /// kustomize's legacy kind order (the `kustomize build` default).
    Legacy,
    /// Input order.
    None,
}

/// Options of `gantry render`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory to render: a kustomization, a Helm chart or a folder of manifests.
    pub path: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "yaml")]
    pub output: Output,
    /// Output order, unless the kustomization sets `sortOptions`.
    #[arg(long, value_enum, default_value = "legacy")]
    pub reorder: Order,
    /// Confine every read below this directory (default: read what `kustomize build` reads:
    /// bases anywhere, each kustomization's own files below its folder).
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Helm release name (charts only; default: the directory name).
    #[arg(long)]
    pub release_name: Option<String>,
    /// Helm values files, relative to the chart (charts only).
    #[arg(long = "values")]
    pub values: Vec<String>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    match run_inner(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run_inner(args: &Args) -> anyhow::Result<()> {
    let target = args
        .path
        .canonicalize()
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.path.display()))?;
    let confine_to = match &args.root {
        Some(r) => {
            let root = r
                .canonicalize()
                .map_err(|e| anyhow::anyhow!("{}: {e}", r.display()))?;
            if !target.starts_with(&root) {
                anyhow::bail!(
                    "{} is not inside the root {}",
                    target.display(),
                    root.display()
                );
            }
            Some(fs_relative(&root))
        }
        None => None,
    };
    // The file system is the machine's, so paths in errors are the real absolute paths, as
    // kustomize prints them; `--root` narrows what may be read.
    let fs = DirFs::new("/")?;
    let opts = RenderOptions {
        reorder: match args.reorder {
            Order::Legacy => Reorder::Legacy,
            Order::None => Reorder::None,
        },
        confine_to,
        ..Default::default()
    };
    let rel = fs_relative(&target);
    let release = args.release_name.clone().unwrap_or_else(|| {
        target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "release".into())
    });
    let helm = ExternalHelm::new(release, None, args.values.clone());
    let rendered = render(&fs, &rel, &opts, Some(&helm))?;
    let text = match args.output {
        Output::Yaml => rendered.to_yaml(),
        Output::Json => serde_json::to_string_pretty(&rendered.objects)? + "\n",
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// An absolute path as a path of the file system rooted at `/`.
fn fs_relative(p: &std::path::Path) -> String {
    p.to_string_lossy()
        .trim_start_matches('/')
        .replace('\\', "/")
}
