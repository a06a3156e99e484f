//! `gantry render PATH`: prints what an environment's path renders to, byte for byte as
//! `kustomize build` would, reading what it would read (bases wherever they lie, each
//! kustomization's own files below its folder, with `--root DIR` nothing outside DIR), or for
//! a Helm chart as `helm template` would, following the chart's symlinks as Helm does unless
//! `--root DIR` confines them (contract section 10).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use gantry_render::{
    DirFs, HELM_STACK_SIZE, HelmHelper, NativeHelm, RenderOptions, Reorder, is_chart, render,
    render_chart, render_chart_stream,
};

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
    /// The directory to render: a kustomization, a Helm chart or a folder of manifests; or a
    /// packaged Helm chart (`.tgz`).
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
    /// Helm release name (charts only; default `release-name`, as `helm template`).
    #[arg(long)]
    pub release_name: Option<String>,
    /// Helm release namespace (charts only; default `default`; `-n` as in `helm template`).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Helm values file, as `helm template --values` (charts only; repeatable, later wins).
    #[arg(long = "values", short = 'f')]
    pub values: Vec<PathBuf>,
    /// Helm `--set KEY=VALUE` (charts only; repeatable, applied after the values files).
    #[arg(long = "set")]
    pub set: Vec<String>,
    /// Helm `--set-string KEY=VALUE`: every value a string, as `1e5` or `true` are meant when
    /// they are an image tag or a commit (charts only; repeatable, applied after `--set`).
    #[arg(long = "set-string")]
    pub set_string: Vec<String>,
    /// Helm `--api-versions`: API versions added to Helm's default `.Capabilities.APIVersions`
    /// (charts only; repeatable or comma-separated, as `helm template -a`).
    #[arg(long = "api-versions", short = 'a', value_delimiter = ',')]
    pub api_versions: Vec<String>,
    /// Print, instead of the manifests, a JSON object of each template's path and rendered
    /// text as Helm's engine returns them (`NOTES.txt` excluded).
    #[arg(long)]
    pub helm_templates: bool,
}

/// Runs the subcommand, all of it on one thread with the stack a chart's render needs: each
/// thread takes its own allocator pages, so a render on a second thread could not reuse the
/// pages reading the chart had touched, and fresh pages are memory the kernel must zero.
pub fn run(args: Args) -> ExitCode {
    // Decided before the render thread starts: counted from it, `main` on its way to `join`
    // would be one of the runnable threads that make the host look busy.
    let helper = HelmHelper::WhenTheHostHasRoom.decided();
    let worker = std::thread::Builder::new()
        .name("gantry-render".into())
        .stack_size(HELM_STACK_SIZE)
        .spawn(move || {
            let done = run_inner(&args, helper);
            if done.is_ok() {
                // Everything is written. Ending the process here spares this thread's end:
                // glibc hands its whole 512 MiB stack back (`madvise`), `main` is woken and
                // unmaps it (each a TLB shootdown on the other cores), only to exit: 1.0 to
                // 1.8 ms of every `gantry render`, alternated, from a chart of one template up.
                let _ = std::io::stdout().flush();
                std::process::exit(0);
            }
            done
        })
        .map_err(|e| anyhow::anyhow!("cannot start the render thread: {e}"))
        .and_then(|w| {
            w.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the render thread failed")))
        });
    match worker {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run_inner(args: &Args, helper: HelmHelper) -> anyhow::Result<()> {
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
    if !is_chart(&fs, &rel) {
        if args.helm_templates
            || !args.values.is_empty()
            || !args.set.is_empty()
            || !args.set_string.is_empty()
            || !args.api_versions.is_empty()
            || args.release_name.is_some()
            || args.namespace.is_some()
        {
            anyhow::bail!(
                "{} holds no Chart.yaml: --values, --set, --set-string, --api-versions, --release-name, --namespace and --helm-templates apply to Helm charts only",
                args.path.display()
            );
        }
        let rendered = render(&fs, &rel, &opts, None)?;
        let text = match args.output {
            Output::Yaml => rendered.to_yaml(),
            Output::Json => serde_json::to_string_pretty(&rendered.objects)? + "\n",
        };
        print(&text)?;
        return Ok(());
    }
    let mut helm = NativeHelm::new(
        args.release_name
            .clone()
            .unwrap_or_else(|| "release-name".into()),
        args.namespace.clone(),
        Vec::new(),
    );
    for v in &args.values {
        let text =
            std::fs::read_to_string(v).map_err(|e| anyhow::anyhow!("{}: {e}", v.display()))?;
        helm.values.push((v.display().to_string(), text));
    }
    helm.set = args.set.clone();
    helm.set_string = args.set_string.clone();
    helm.api_versions = args.api_versions.clone();
    helm.templates_only = args.helm_templates;
    // The process exits after printing: freeing the render (here and on the render thread)
    // only to hand the pages back to the kernel at exit is work for nothing (7 % of a large
    // chart's whole process), so its memory is left to the operating system, as compilers do.
    helm.keep_memory = true;
    helm.on_caller_thread = true;
    helm.helper = helper;
    // `main` turned transparent huge pages off, which suits a small chart; a large one touches
    // enough fresh memory that 2 MiB pages (one fault each, not 512) pay for their zeroing.
    helm.when_large = Some(huge_pages);
    // Like Helm, a chart's symlinks are followed wherever they lead (VictoriaMetrics' CRD chart
    // links its CRDs from a sibling chart); `--root` confines them.
    // Only JSON output needs the stream read back as objects; YAML prints the stream as
    // `helm template` does, with what that reading would refuse (a document without `kind`).
    let mut chart = match args.output {
        Output::Json => render_chart(&fs, &rel, &opts, Some(&helm))?,
        Output::Yaml => render_chart_stream(&fs, &rel, &opts, Some(&helm))?,
    };
    if !chart.nondeterministic.is_empty() {
        eprintln!(
            "warning: this chart renders differently each time ({})",
            chart.nondeterministic.join(", ")
        );
    }
    if args.helm_templates {
        // In the key order a JSON object of them is written in: the map is sorted.
        let map = chart
            .templates
            .iter()
            .filter(|(k, _)| !k.ends_with("/NOTES.txt"))
            .map(|(k, v)| (k.as_str(), v.as_str()));
        // Written as it is serialised: a chart's CRDs make megabytes of JSON, and a string of
        // them grown by doubling is fresh memory the kernel must zero page by page.
        let mut out = std::io::stdout().lock();
        let size: usize = chart
            .templates
            .iter()
            .map(|(k, v)| k.len() + v.len() + 8)
            .sum();
        room_for(&out, size);
        crate::jsonout::write_pretty_map(&mut out, map)?;
        out.write_all(b"\n")?;
        out.flush()?;
        std::mem::forget((chart, fs));
        return Ok(());
    }
    let text = match args.output {
        Output::Yaml => std::mem::take(&mut chart.stream),
        Output::Json => serde_json::to_string_pretty(&chart.objects)? + "\n",
    };
    print(&text)?;
    std::mem::forget((text, chart, fs));
    Ok(())
}

/// Writes `text` to stdout, with room for all of it in a pipe ([`room_for`]).
fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    room_for(&out, text.len());
    out.write_all(text.as_bytes())
}

/// Makes a pipe on stdout hold `size` bytes (up to 1 MiB, the system's usual limit for a
/// pipe), so that the output is written without stopping at each 64 KiB for the reader to
/// drain it: the 1,000-template chart's 930 KB took 21.95 ms to the reader's end, 21.49 ms
/// with room for it (alternated, read through a pipe as `gantry render | kubectl apply -f -`
/// reads it; the benchmark writes to /dev/null). Anything but a pipe (a file, a terminal)
/// refuses, and nothing changes.
fn room_for(out: impl std::os::fd::AsFd, size: usize) {
    const DEFAULT_PIPE: usize = 64 << 10;
    if size > DEFAULT_PIPE {
        let _ = rustix::pipe::fcntl_setpipe_size(out, size.min(1 << 20));
    }
}

/// An absolute path as a path of the file system rooted at `/`.
fn fs_relative(p: &std::path::Path) -> String {
    p.to_string_lossy()
        .trim_start_matches('/')
        .replace('\\', "/")
}

/// Lets the kernel give this process transparent huge pages again (`main` turned them off):
/// a large chart's render touches 10-20 MB of fresh memory, in 2,000-3,000 page faults of
/// 4 KiB. With 2 MiB pages the 1,000-template chart took 11-16 % less CPU on one core,
/// prometheus's 4-10 % less on two (alternated whole processes).
fn huge_pages() {
    let _ = rustix::thread::disable_transparent_huge_pages(false);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipe grows to hold a large output, up to 1 MiB; a small one is left as it is.
    #[test]
    fn a_pipe_makes_room_for_the_output() {
        let (_, small) = rustix::pipe::pipe().expect("a pipe");
        let before = rustix::pipe::fcntl_getpipe_size(&small).expect("its size");
        room_for(&small, 1000);
        assert_eq!(
            rustix::pipe::fcntl_getpipe_size(&small).expect("its size"),
            before
        );
        let (_, large) = rustix::pipe::pipe().expect("a pipe");
        room_for(&large, 900 << 10);
        assert!(rustix::pipe::fcntl_getpipe_size(&large).expect("its size") >= 900 << 10);
        // A file is not a pipe: nothing happens, and nothing fails.
        let file = tempfile::tempfile().expect("a file");
        room_for(&file, 900 << 10);
    }
}
