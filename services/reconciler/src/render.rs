//! Rendering one environment from the tree at the commit, through gantry-render.

use gantry_render::{ExternalHelm, FileSystem, HelmRenderer, RenderOptions, Rendered};

use crate::fetch::Snapshot;
use crate::plan::Environment;

/// Why an environment did not render.
#[derive(Debug, thiserror::Error)]
pub enum RenderFailure {
    /// The environment's path does not exist at this revision.
    #[error("path {path:?} does not exist at {revision}")]
    MissingPath {
        /// The path.
        path: String,
        /// The short revision.
        revision: String,
    },
    /// The renderer refused the input; its message names the file and line.
    #[error("{0}")]
    Render(#[from] gantry_render::RenderError),
}

/// Renders `env` from `snapshot`.
pub fn render(snapshot: &Snapshot, env: &Environment) -> Result<Rendered, RenderFailure> {
    if !env.path.is_empty() && !snapshot.is_dir(&env.path) {
        return Err(RenderFailure::MissingPath {
            path: env.path.clone(),
            revision: short(&snapshot.commit.to_string()).to_owned(),
        });
    }
    let helm = env.helm.as_ref().map(|h| {
        ExternalHelm::new(
            h.release_name.clone(),
            env.namespace.clone(),
            h.values_files.clone(),
        )
    });
    let default_helm = ExternalHelm::new(env.app.clone(), env.namespace.clone(), Vec::new());
    let helm: &dyn HelmRenderer = match &helm {
        Some(h) => h,
        None => &default_helm,
    };
    // The snapshot is the repository's tree at the commit, so nothing above the repository's
    // root can be named, let alone read (contract section 10); within it, kustomize's
    // default load restrictor applies as in `kustomize build`.
    let opts = RenderOptions {
        confine_to: None,
        ..RenderOptions::default()
    };
    Ok(gantry_render::render(
        snapshot,
        &env.path,
        &opts,
        Some(helm),
    )?)
}

/// The first 7 characters of a commit id.
pub fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}
