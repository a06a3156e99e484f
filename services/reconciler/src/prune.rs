//! Prune (contract section 5): what the environment's last applied revision applied and this
//! one no longer renders is deleted, only when it still carries the environment's labels. An
//! environment moved to another cluster leaves nothing stale in the new one: its whole previous
//! inventory is pruned from the old cluster instead.

use std::time::Instant;

use gantry_proto::v1::{Outcome, Phase};

use crate::apply::{self, ApplyError, Cluster};
use crate::audit;
use crate::error::{Cause, Failure, Stop};
use crate::reconcile::{Reconciler, Run};
use crate::report::State as CommitState;
use crate::state::{EnvState, ObjectRef};

/// What the prune phase is to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// Objects the previous revision applied on this cluster and this one does not.
    pub objects: Vec<ObjectRef>,
    /// The cluster the environment was applied to before, when it moved.
    pub moved_from: Option<String>,
}

/// The stale set of an environment now on `cluster` that applied `inventory`, given its last
/// applied record.
pub fn stale(applied_before: Option<&EnvState>, cluster: &str, inventory: &[ObjectRef]) -> Stale {
    let moved_from = applied_before
        .map(|p| p.cluster.clone())
        .filter(|c| !c.is_empty() && c != cluster);
    let objects = applied_before
        .filter(|_| moved_from.is_none())
        .map(|p| {
            p.inventory
                .iter()
                .filter(|old| !inventory.iter().any(|n| apply::same_object(old, n)))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Stale {
        objects,
        moved_from,
    }
}

impl Reconciler {
    /// Prune: deletes the stale set (when the environment prunes); returns what was deleted.
    pub(crate) async fn prune_phase(
        &self,
        run: &Run<'_>,
        cluster: &Cluster,
        inventory: &[ObjectRef],
    ) -> Result<Vec<ObjectRef>, Stop> {
        let t = Instant::now();
        let env = run.env;
        let own = run.ownership();
        let stale = stale(run.applied_before(), &env.cluster, inventory);
        run.held()?;
        let mut pruned = Vec::new();
        if env.prune && !stale.objects.is_empty() {
            match cluster.prune(&stale.objects, &own).await {
                Ok(p) => pruned = p,
                Err(e @ ApplyError::Unavailable { .. }) => return Err(run.transient(e).into()),
                Err(e) => {
                    let full = format!("prune at {} failed: {}", run.rev, crate::error::chain(&e));
                    return Err(Failure::new(Phase::Prune, CommitState::Failure, full).into());
                }
            }
        }
        if let (Some(old), Some(prev), true) = (&stale.moved_from, run.applied_before(), env.prune)
        {
            match self.cluster_named(old).await {
                Ok(c) => match c.prune(&prev.inventory, &own).await {
                    Ok(p) => pruned.extend(p),
                    Err(e @ ApplyError::Unavailable { .. }) => {
                        return Err(run
                            .transient(Cause::PruneMoved {
                                cluster: old.clone(),
                                source: e,
                            })
                            .into());
                    }
                    Err(e) => {
                        let full = format!(
                            "prune from cluster {old} at {} failed: {}",
                            run.rev,
                            crate::error::chain(&e)
                        );
                        return Err(Failure::new(Phase::Prune, CommitState::Failure, full).into());
                    }
                },
                // A cluster no longer configured cannot be cleaned; say so and go on.
                Err(e) => {
                    tracing::warn!(app = %env.app, env = %env.name, cluster = %old, error = %crate::error::chain(&e), "cannot prune from the previous cluster");
                }
            }
        }
        self.metrics.phase("prune", t.elapsed());
        self.metrics.pruned.inc_by(pruned.len() as u64);
        let (outcome, message) = if env.prune {
            (
                Outcome::Succeeded,
                format!("pruned {} objects", pruned.len()),
            )
        } else {
            (
                Outcome::Skipped,
                format!(
                    "prune is off; {} objects left in place",
                    stale.objects.len()
                ),
            )
        };
        self.audit(
            run.job,
            audit::Entry {
                pruned: pruned.len() as u32,
                duration: Some(t.elapsed()),
                ..run.entry(Phase::Prune, outcome, message)
            },
        )
        .await?;
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(kind: &str, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: "v1".into(),
            kind: kind.into(),
            namespace: "ns".into(),
            name: name.into(),
        }
    }

    #[test]
    fn stale_is_what_the_last_revision_applied_and_this_one_does_not() {
        let prev = EnvState {
            revision: "a".repeat(40),
            cluster: "one".into(),
            inventory: vec![obj("ConfigMap", "kept"), obj("ConfigMap", "gone")],
            ..Default::default()
        };
        let now = [obj("ConfigMap", "kept"), obj("Secret", "new")];
        let s = stale(Some(&prev), "one", &now);
        assert_eq!(s.objects, [obj("ConfigMap", "gone")]);
        assert_eq!(s.moved_from, None);
        // Moved: nothing is stale on the new cluster; the old one is named instead.
        let s = stale(Some(&prev), "two", &now);
        assert!(s.objects.is_empty());
        assert_eq!(s.moved_from.as_deref(), Some("one"));
        // Never applied: nothing to prune.
        assert_eq!(
            stale(None, "one", &now),
            Stale {
                objects: Vec::new(),
                moved_from: None
            }
        );
    }
}
