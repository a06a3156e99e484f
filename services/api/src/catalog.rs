//! Which apps and environments exist: each configured repository's `.gantry.yaml` at every
//! branch head (an environment belongs to the branch whose `.gantry.yaml` names that branch, as
//! the reconciler sees it), re-read when the repository is pushed, at an interval, and when a
//! request names an app not seen yet.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::config::Repository;
use gantry_git::{Mirror, ObjectId};

/// One environment as `.gantry.yaml` declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvDecl {
    /// `owner/name`.
    pub repository: String,
    /// The app.
    pub app: String,
    /// The environment.
    pub environment: String,
    /// Its branch.
    pub branch: String,
    /// Its path.
    pub path: String,
    /// The branch head it was read at.
    pub head: String,
}

#[derive(Debug, Default)]
struct RepoCatalog {
    envs: Vec<EnvDecl>,
    error: Option<String>,
    heads: BTreeMap<String, ObjectId>,
}

/// The catalog of every repository, and their mirrors.
#[derive(Debug)]
pub struct Catalog {
    root: PathBuf,
    repos: Vec<Repository>,
    mirrors: Mutex<HashMap<String, Arc<Mirror>>>,
    state: RwLock<HashMap<String, RepoCatalog>>,
    last_refresh: Mutex<Option<Instant>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl Catalog {
    /// A catalog of `repos`, mirrored under `root`.
    pub fn new(root: PathBuf, repos: Vec<Repository>) -> Catalog {
        Catalog {
            root,
            repos,
            mirrors: Mutex::new(HashMap::new()),
            state: RwLock::new(HashMap::new()),
            last_refresh: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The configured repository named `full_name`.
    pub fn repository(&self, full_name: &str) -> Option<&Repository> {
        self.repos
            .iter()
            .find(|r| r.full_name.eq_ignore_ascii_case(full_name))
    }

    /// The mirror of a configured repository.
    pub fn mirror(&self, full_name: &str) -> Result<Arc<Mirror>, gantry_git::GitError> {
        let key = full_name.to_ascii_lowercase();
        let mut g = self.mirrors.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = g.get(&key) {
            return Ok(m.clone());
        }
        let m = Arc::new(Mirror::open(&self.root, &key)?);
        g.insert(key, m.clone());
        Ok(m)
    }

    /// Fetches `full_name` and re-reads its `.gantry.yaml` files; returns its branch heads.
    pub async fn refresh_repo(
        self: &Arc<Self>,
        full_name: &str,
    ) -> Result<BTreeMap<String, ObjectId>, String> {
        let Some(repo) = self.repository(full_name).cloned() else {
            return Err(format!("{full_name} is not a configured repository"));
        };
        let me = self.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mirror = me
                .mirror(&repo.full_name)
                .map_err(|e| gantry_telemetry::error_chain(&e))?;
            let heads = mirror
                .fetch(&repo.clone_url, repo.credentials.as_ref())
                .map_err(|e| gantry_telemetry::error_chain(&e))?;
            let mut envs = Vec::new();
            let mut errors = Vec::new();
            for (branch, head) in &heads {
                let text = match mirror.file(*head, gantry_reconciler::plan::GANTRY_FILE) {
                    Ok(Some(t)) => t,
                    Ok(None) => continue,
                    Err(e) => {
                        errors.push(format!("{branch}: {}", gantry_telemetry::error_chain(&e)));
                        continue;
                    }
                };
                match gantry_reconciler::plan::parse(&text) {
                    Ok(list) => {
                        envs.extend(list.into_iter().filter(|e| &e.branch == branch).map(|e| {
                            EnvDecl {
                                repository: repo.full_name.clone(),
                                app: e.app,
                                environment: e.name,
                                branch: e.branch,
                                path: e.path,
                                head: head.to_string(),
                            }
                        }))
                    }
                    Err(e) => errors.push(format!("{branch}: {e}")),
                }
            }
            Ok::<_, String>((heads, envs, errors))
        })
        .await
        .map_err(|e| e.to_string())?;
        let key = full_name.to_ascii_lowercase();
        match result {
            Ok((heads, envs, errors)) => {
                let mut g = self.state.write().unwrap_or_else(|p| p.into_inner());
                let entry = g.entry(key).or_default();
                entry.envs = envs;
                entry.heads = heads.clone();
                entry.error = (!errors.is_empty()).then(|| errors.join("; "));
                Ok(heads)
            }
            Err(e) => {
                let mut g = self.state.write().unwrap_or_else(|p| p.into_inner());
                g.entry(key).or_default().error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Re-reads every repository.
    pub async fn refresh_all(self: &Arc<Self>) {
        let _g = self.refreshing.lock().await;
        for r in self.repos.clone() {
            if let Err(e) = self.refresh_repo(&r.full_name).await {
                tracing::warn!(repository = %r.full_name, error = %e, "cannot read the repository's apps");
            }
        }
        *self.last_refresh.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// Re-reads every repository unless that happened within `min_age` (a request naming an
    /// unknown app must not make the API fetch on every call).
    pub async fn refresh_if_older(self: &Arc<Self>, min_age: Duration) {
        let fresh = self
            .last_refresh
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| t.elapsed() < min_age);
        if !fresh {
            self.refresh_all().await;
        }
    }

    /// Whether every repository was read (or tried) at least once.
    pub fn initialized(&self) -> bool {
        self.last_refresh
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Every declared environment.
    pub fn envs(&self) -> Vec<EnvDecl> {
        let g = self.state.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<EnvDecl> = g.values().flat_map(|c| c.envs.iter().cloned()).collect();
        out.sort_by(|a, b| {
            (&a.repository, &a.app, &a.environment).cmp(&(&b.repository, &b.app, &b.environment))
        });
        out
    }

    /// Repositories whose last read failed, with why.
    pub fn errors(&self) -> BTreeMap<String, String> {
        let g = self.state.read().unwrap_or_else(|p| p.into_inner());
        g.iter()
            .filter_map(|(k, v)| v.error.clone().map(|e| (k.clone(), e)))
            .collect()
    }
}
