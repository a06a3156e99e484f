//! `gantry render PATH`: prints what an environment's path renders to, byte for byte as
//! `kustomize build` would (plain folders and Helm charts too).

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
    /// The repository root reads are confined to (default: PATH itself).
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
    let root = match &args.root {
        Some(r) => r
            .canonicalize()
            .map_err(|e| anyhow::anyhow!("{}: {e}", r.display()))?,
        None => target.clone(),
    };
    let rel = target
        .strip_prefix(&root)
        .map_err(|_| {
            anyhow::anyhow!(
                "{} is not inside the root {}",
                target.display(),
                root.display()
            )
        })?
        .to_string_lossy()
        .replace('\\', "/");
    let fs = DirFs::new(&root)?;
    let opts = RenderOptions {
        reorder: match args.reorder {
            Order::Legacy => Reorder::Legacy,
            Order::None => Reorder::None,
        },
        ..Default::default()
    };
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
