//! Rendering one environment from the tree at the commit, through gantry-render: Gantry's own
//! Helm engine for charts unless `.gantry.yaml` asks for `helm: {engine: external}`.

use std::collections::BTreeSet;

use gantry_render::{ExternalHelm, FileSystem, HelmRenderer, NativeHelm, RenderOptions, Rendered};
use sha2::{Digest, Sha256};

use crate::fetch::Snapshot;
use crate::plan::{Environment, HelmEngine};
use std::time::Instant;

use gantry_proto::v1::{Outcome, Phase};

use crate::audit;
use crate::error::{Failure, Stop};
use crate::reconcile::{Reconciler, Run};
use crate::report::State as CommitState;
use crate::state::{EnvState, Reported};

/// How inline `helm.values` are named in the engine's messages.
pub const INLINE_VALUES: &str = ".gantry.yaml helm.values";

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
    #[error(transparent)]
    Render(#[from] gantry_render::RenderError),
}

/// The Helm renderer for `env`'s chart: its `helm` settings (release name, values files,
/// inline values, engine), or the app's name as release name and the native engine.
fn helm_renderer(env: &Environment) -> Box<dyn HelmRenderer> {
    let (release, files, values, engine) = match &env.helm {
        Some(h) => (
            h.release_name.clone(),
            h.values_files.clone(),
            h.values.as_ref().map(|v| {
                // JSON is YAML, and the engine reads values as YAML.
                vec![(INLINE_VALUES.to_owned(), v.to_string())]
            }),
            h.engine,
        ),
        None => (env.app.clone(), Vec::new(), None, HelmEngine::Native),
    };
    let values = values.unwrap_or_default();
    match engine {
        HelmEngine::Native => {
            let mut n = NativeHelm::new(release, env.namespace.clone(), files);
            n.values = values;
            Box::new(n)
        }
        HelmEngine::External => {
            let mut x = ExternalHelm::new(release, env.namespace.clone(), files);
            x.values = values;
            Box::new(x)
        }
    }
}

/// Renders `env` from `snapshot`.
pub fn render(snapshot: &Snapshot, env: &Environment) -> Result<Rendered, RenderFailure> {
    if !env.path.is_empty() && !snapshot.is_dir(&env.path) {
        return Err(RenderFailure::MissingPath {
            path: env.path.clone(),
            revision: short(&snapshot.commit.to_string()).to_owned(),
        });
    }
    let helm = helm_renderer(env);
    // The snapshot is the repository's tree at the commit, so nothing above the repository's
    // root can be named, let alone read (contract section 10): chart files and values files
    // alike; within it, kustomize's default load restrictor applies as in `kustomize build`.
    let opts = RenderOptions {
        confine_to: None,
        ..RenderOptions::default()
    };
    Ok(gantry_render::render(
        snapshot,
        &env.path,
        &opts,
        Some(helm.as_ref()),
    )?)
}

/// A digest of the content of every input a render read (files, and the listing of folders):
/// equal digests mean the render saw the same inputs, whatever commit they came from.
pub fn inputs_digest(fs: &dyn FileSystem, inputs: &BTreeSet<String>) -> String {
    let mut h = Sha256::new();
    for path in inputs {
        h.update(path.as_bytes());
        h.update([0]);
        if let Ok(data) = fs.read(path) {
            h.update(b"f");
            h.update((data.len() as u64).to_le_bytes());
            h.update(&data);
        } else if let Ok(names) = fs.list_dir(path) {
            h.update(b"d");
            for n in names {
                h.update(n.as_bytes());
                h.update([0]);
            }
        } else {
            h.update(b"-");
        }
    }
    hex::encode(&h.finalize()[..16])
}

/// The first 7 characters of a commit id.
pub fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// What the render phase hands on to apply.
#[derive(Debug)]
pub(crate) struct RenderedEnv {
    /// The objects, and the files the render read.
    pub rendered: Rendered,
    /// The digest of every input the render read, to tell a re-render of the same inputs.
    pub inputs_digest: String,
    /// Whether the render draws random or time values.
    pub nondeterministic: bool,
}

impl RenderedEnv {
    /// The applied revision's record and status when this render is a nondeterministic re-render
    /// of the inputs already applied (a forced redeploy, a commit that changed nothing it reads):
    /// it differs only by its random or time values, and applying it would rotate generated
    /// passwords and certificates for no change in Git.
    pub(crate) fn unchanged<'p>(
        &self,
        applied: Option<&'p EnvState>,
        config_digest: &str,
    ) -> Option<(&'p EnvState, &'p Reported)> {
        let prev = applied.filter(|_| self.nondeterministic)?;
        if prev.inputs_digest != self.inputs_digest || prev.config_digest != config_digest {
            return None;
        }
        prev.reported.as_ref().map(|rep| (prev, rep))
    }
}

impl Reconciler {
    /// Render: the environment's path at the revision, on the blocking pool. A render that fails
    /// or (unless allowed) renders nothing ends the reconcile with `error`.
    pub(crate) async fn render_phase(&self, run: &Run<'_>) -> Result<RenderedEnv, Stop> {
        let t = Instant::now();
        let snapshot = run.job.snapshot.clone();
        let env = run.env.clone();
        let rendered = tokio::task::spawn_blocking(move || {
            render(&snapshot, &env).map(|r| {
                let digest = inputs_digest(snapshot.as_ref(), &r.inputs);
                (r, digest)
            })
        })
        .await
        .map_err(|e| run.transient(e))?;
        self.metrics.phase("render", t.elapsed());
        let (rendered, inputs_digest) = rendered.map_err(|e| {
            let full = crate::error::chain(&e);
            let description = match &e {
                RenderFailure::MissingPath { .. } => full.clone(),
                RenderFailure::Render(_) => format!("render failed: {full}"),
            };
            Failure {
                phase: Phase::Render,
                state: CommitState::Error,
                description,
                audit: Some(full),
            }
        })?;
        let env = run.env;
        if rendered.objects.is_empty() && !env.allow_empty {
            return Err(Failure::new(
                Phase::Render,
                CommitState::Error,
                format!(
                    "{} renders no objects at {}; nothing applied or pruned (set allowEmpty: true to allow it)",
                    env.path, run.rev
                ),
            )
            .into());
        }
        let nondeterministic = !rendered.nondeterministic.is_empty();
        let mut message = format!(
            "rendered {} objects from {} files",
            rendered.objects.len(),
            rendered.inputs.len()
        );
        // Said once per environment (the state remembers it), not on every reconcile.
        if nondeterministic && !run.previous.as_ref().is_some_and(|p| p.nondeterministic) {
            let why = rendered.nondeterministic.join(", ");
            tracing::warn!(app = %env.app, env = %env.name, functions = %why,
                "the render is nondeterministic: re-rendering the same inputs differs, and is not taken for a change");
            message.push_str(&format!(
                "; nondeterministic ({why}): a re-render of the same inputs differs and is not taken for a change"
            ));
        }
        self.audit(
            run.job,
            audit::Entry {
                duration: Some(t.elapsed()),
                nondeterministic,
                ..run.entry(Phase::Render, Outcome::Succeeded, message)
            },
        )
        .await?;
        Ok(RenderedEnv {
            rendered,
            inputs_digest,
            nondeterministic,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_nondeterministic_render_of_the_applied_inputs_is_unchanged() {
        let reported = Reported {
            state: CommitState::Success,
            description: "deployed".into(),
            posted_by: String::new(),
        };
        let applied = EnvState {
            revision: "a".repeat(40),
            inputs_digest: "inputs".into(),
            config_digest: "config".into(),
            reported: Some(reported.clone()),
            ..Default::default()
        };
        let render = |digest: &str, nondeterministic: bool| RenderedEnv {
            rendered: Rendered {
                objects: Vec::new(),
                inputs: BTreeSet::new(),
                nondeterministic: Vec::new(),
            },
            inputs_digest: digest.into(),
            nondeterministic,
        };
        let same = render("inputs", true);
        let (prev, rep) = same
            .unchanged(Some(&applied), "config")
            .expect("a re-render of the same inputs");
        assert_eq!((prev, rep), (&applied, &reported));
        assert!(
            render("inputs", false)
                .unchanged(Some(&applied), "config")
                .is_none()
        );
        assert!(
            render("other", true)
                .unchanged(Some(&applied), "config")
                .is_none()
        );
        assert!(same.unchanged(Some(&applied), "changed settings").is_none());
        assert!(same.unchanged(None, "config").is_none());
        let unreported = EnvState {
            reported: None,
            ..applied.clone()
        };
        assert!(same.unchanged(Some(&unreported), "config").is_none());
    }
}
