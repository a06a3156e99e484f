//! Server-side apply of a rendered set, and pruning of what the previous revision applied and
//! this one no longer renders (contract section 5).
//!
//! Objects are dynamic, resolved through discovery (cached per group version). The whole set is
//! validated with a server-side dry run before any write, so a bad object leaves nothing half
//! applied; only objects that cannot be validated before their Namespace or CRD exists are
//! checked again after that first stage is written. Namespaces and CRDs are applied first.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use kube::core::ApiResource;
use serde_json::{Value, json};

use crate::state::ObjectRef;
use std::sync::Arc;
use std::time::Instant;

use gantry_proto::v1::{Outcome, Phase};

use crate::audit;
use crate::error::{Failure, Stop, chain};
use crate::reconcile::{Reconciler, Run};
use crate::report::State as CommitState;

/// The field manager of every apply.
pub const FIELD_MANAGER: &str = "gantry";
/// `app.kubernetes.io/managed-by`
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// `gantry.dev/app`
pub const LABEL_APP: &str = "gantry.dev/app";
/// `gantry.dev/environment`
pub const LABEL_ENV: &str = "gantry.dev/environment";
/// `gantry.dev/revision`
pub const ANNOTATION_REVISION: &str = "gantry.dev/revision";
/// `gantry.dev/repository`: `owner/name`, so that two repositories using the same app and
/// environment names never prune or heal each other's objects (label values cannot hold `/`).
pub const ANNOTATION_REPOSITORY: &str = "gantry.dev/repository";

/// Requests in flight at once against one API server for one environment.
const PARALLEL: usize = 8;

/// Why applying or pruning failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The API server refused an object (422 Invalid, 403 Forbidden, 409, 400, unknown kind).
    #[error("{object}: {reason}")]
    Rejected {
        /// `Kind/namespace/name`.
        object: String,
        /// The server's reason and message.
        reason: String,
    },
    /// A rendered object is malformed (no kind, no name); `index` counts from 1.
    #[error("rendered object {index} has no apiVersion, kind or metadata.name")]
    Malformed {
        /// Its place in the rendered set.
        index: usize,
    },
    /// The API server could not be reached or answered 5xx/429 (worth retrying). `what` names
    /// the request (and the server's answer when there is one); `source` is the client's
    /// error when the request failed before any answer.
    #[error("the API server: {what}")]
    Unavailable {
        /// The request, and what the server answered.
        what: String,
        /// Why the request failed, when no answer came.
        #[source]
        source: Option<kube::Error>,
    },
    /// The cluster is not in the reconciler's configuration.
    #[error("cluster {cluster}: not in the reconciler's config")]
    UnknownCluster {
        /// The cluster's name.
        cluster: String,
    },
    /// The cluster's credentials or address are unusable.
    #[error("cluster {cluster}")]
    Cluster {
        /// The cluster's name.
        cluster: String,
        /// What the kubeconfig reader or the client said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ApplyError {
    /// An outage with no underlying client error (a watch that never filled, a server that
    /// serves no Namespaces).
    pub fn unavailable(what: impl Into<String>) -> ApplyError {
        ApplyError::Unavailable {
            what: what.into(),
            source: None,
        }
    }
}

/// Kind to (resource, namespaced), for one group version.
type Kinds = HashMap<String, (ApiResource, bool)>;

/// One cluster: a client and a discovery cache.
pub struct Cluster {
    client: kube::Client,
    /// `apiVersion` to its kinds.
    kinds: Mutex<HashMap<String, Kinds>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cluster")
    }
}

/// One applied object with what is needed to read it back.
#[derive(Debug, Clone)]
pub struct Applied {
    /// Its identity.
    pub reference: ObjectRef,
    /// Its resource.
    pub resource: ApiResource,
    /// What was applied.
    pub object: Value,
}

/// The server's answer to [`Cluster::reapply`].
#[derive(Debug)]
pub enum Reapplied {
    /// The object as the server holds it after the apply (or would, for a dry run).
    Applied {
        /// The server's answer.
        object: Value,
        /// Whether the apply created it.
        created: bool,
    },
    /// It is no longer at the resourceVersion the apply was conditional on.
    Stale,
}

/// Sorts the `kube::Error` of a request on `object` into a rejection or an outage.
pub fn classify(object: &str, e: kube::Error) -> ApplyError {
    match e {
        kube::Error::Api(s) if s.code == 429 || s.code >= 500 => {
            ApplyError::unavailable(format!("{object}: {} {}", s.code, s.message))
        }
        kube::Error::Api(s) => ApplyError::Rejected {
            object: object.to_owned(),
            reason: if s.reason.is_empty() {
                s.message.clone()
            } else {
                format!("{} ({})", s.message, s.reason)
            },
        },
        other => ApplyError::Unavailable {
            what: object.to_owned(),
            source: Some(other),
        },
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// The labels every applied object gets.
#[derive(Debug, Clone)]
pub struct Ownership<'a> {
    /// The app.
    pub app: &'a str,
    /// The environment.
    pub environment: &'a str,
    /// The commit.
    pub revision: &'a str,
    /// `owner/name` of the repository.
    pub repository: &'a str,
    /// Where namespaced objects without a namespace go.
    pub default_namespace: &'a str,
}

fn stage(kind: &str, api_version: &str) -> u8 {
    match (kind, api_version) {
        ("Namespace", "v1") => 0,
        ("CustomResourceDefinition", v) if v.starts_with("apiextensions.k8s.io/") => 0,
        _ => 1,
    }
}

/// What a CRD in the set will serve: `(group, kind)`.
fn crd_serves(obj: &Value) -> Option<(String, String)> {
    let group = obj.pointer("/spec/group")?.as_str()?;
    let kind = obj.pointer("/spec/names/kind")?.as_str()?;
    Some((group.to_owned(), kind.to_owned()))
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

impl Cluster {
    /// A cluster reached with `client`.
    pub fn new(client: kube::Client) -> Cluster {
        Cluster {
            client,
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// The client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Resolves a kind; `Ok(None)` when the server does not serve it.
    pub async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
        refresh: bool,
    ) -> Result<Option<(ApiResource, bool)>, ApplyError> {
        if !refresh {
            let kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(gv) = kinds.get(api_version) {
                return Ok(gv.get(kind).cloned());
            }
        }
        let list = if api_version.contains('/') {
            self.client.list_api_group_resources(api_version).await
        } else {
            self.client.list_core_api_resources(api_version).await
        };
        let list = match list {
            Ok(l) => l,
            Err(e) if is_not_found(&e) => {
                // The group version does not exist (yet); remember nothing so a CRD can add it.
                return Ok(None);
            }
            Err(e) => return Err(classify(&format!("discovery of {api_version}"), e)),
        };
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), api_version.to_owned()),
        };
        let mut map = HashMap::new();
        for r in &list.resources {
            if r.name.contains('/') {
                continue;
            }
            map.insert(
                r.kind.clone(),
                (
                    ApiResource {
                        group: group.clone(),
                        version: version.clone(),
                        api_version: api_version.to_owned(),
                        kind: r.kind.clone(),
                        plural: r.name.clone(),
                    },
                    r.namespaced,
                ),
            );
        }
        let found = map.get(kind).cloned();
        self.kinds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(api_version.to_owned(), map);
        Ok(found)
    }

    fn api(&self, ar: &ApiResource, namespace: &str) -> Api<DynamicObject> {
        if namespace.is_empty() {
            Api::all_with(self.client.clone(), ar)
        } else {
            Api::namespaced_with(self.client.clone(), namespace, ar)
        }
    }

    async fn patch(&self, a: &Applied, dry_run: bool) -> Result<(), kube::Error> {
        let mut pp = PatchParams::apply(FIELD_MANAGER).force();
        pp.dry_run = dry_run;
        self.api(&a.resource, &a.reference.namespace)
            .patch(&a.reference.name, &pp, &Patch::Apply(&a.object))
            .await
            .map(|_| ())
    }

    /// Labels, annotates and resolves `objects`; Namespaces and CRDs first. Objects whose kind
    /// a CRD of the same set will serve are returned separately, unresolved.
    async fn prepare(
        &self,
        objects: &[Value],
        own: &Ownership<'_>,
    ) -> Result<(Vec<Applied>, Vec<Value>), ApplyError> {
        let served: BTreeSet<(String, String)> = objects.iter().filter_map(crd_serves).collect();
        let mut ready = Vec::new();
        let mut later = Vec::new();
        for (i, obj) in objects.iter().enumerate() {
            let mut obj = obj.clone();
            let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_owned();
            let kind = obj["kind"].as_str().unwrap_or_default().to_owned();
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if api_version.is_empty() || kind.is_empty() || name.is_empty() {
                return Err(ApplyError::Malformed { index: i + 1 });
            }
            if !obj["metadata"].is_object() {
                obj["metadata"] = json!({});
            }
            let meta = &mut obj["metadata"];
            if !meta["labels"].is_object() {
                meta["labels"] = json!({});
            }
            meta["labels"][LABEL_MANAGED_BY] = json!("gantry");
            meta["labels"][LABEL_APP] = json!(own.app);
            meta["labels"][LABEL_ENV] = json!(own.environment);
            if !meta["annotations"].is_object() {
                meta["annotations"] = json!({});
            }
            meta["annotations"][ANNOTATION_REVISION] = json!(own.revision);
            meta["annotations"][ANNOTATION_REPOSITORY] = json!(own.repository.to_ascii_lowercase());
            for k in [
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "managedFields",
                "generation",
            ] {
                if let Some(m) = meta.as_object_mut() {
                    m.remove(k);
                }
            }
            match self.resolve(&api_version, &kind, false).await? {
                Some((resource, namespaced)) => {
                    let namespace = if namespaced {
                        let ns = obj
                            .pointer("/metadata/namespace")
                            .and_then(Value::as_str)
                            .filter(|s| !s.is_empty())
                            .unwrap_or(own.default_namespace)
                            .to_owned();
                        obj["metadata"]["namespace"] = json!(ns);
                        ns
                    } else {
                        if let Some(m) = obj["metadata"].as_object_mut() {
                            m.remove("namespace");
                        }
                        String::new()
                    };
                    ready.push(Applied {
                        reference: ObjectRef {
                            api_version,
                            kind,
                            namespace,
                            name,
                        },
                        resource,
                        object: obj,
                    });
                }
                None if served.contains(&(group_of(&api_version).to_owned(), kind.clone())) => {
                    later.push(obj)
                }
                None => {
                    return Err(ApplyError::Rejected {
                        object: format!("{kind}/{name}"),
                        reason: format!("the server does not serve {kind} in {api_version}"),
                    });
                }
            }
        }
        ready.sort_by_key(|a| stage(&a.reference.kind, &a.reference.api_version));
        Ok((ready, later))
    }

    /// Dry-runs every object; returns the ones that could not be validated because their
    /// namespace is created by this same set.
    async fn dry_run(
        &self,
        set: Vec<Applied>,
        new_namespaces: &BTreeSet<String>,
    ) -> Result<(Vec<Applied>, Vec<Applied>), ApplyError> {
        let mut futs = Vec::with_capacity(set.len());
        for a in set {
            futs.push(async move {
                let r = self.patch(&a, true).await;
                (a, r)
            });
        }
        let results: Vec<(Applied, Result<(), kube::Error>)> = futures::stream::iter(futs)
            .buffered(PARALLEL)
            .collect()
            .await;
        let mut ok = Vec::new();
        let mut deferred = Vec::new();
        for (a, r) in results {
            match r {
                Ok(()) => ok.push(a),
                Err(e) if is_not_found(&e) && new_namespaces.contains(&a.reference.namespace) => {
                    deferred.push(a)
                }
                Err(e) => return Err(classify(&a.reference.to_string(), e)),
            }
        }
        Ok((ok, deferred))
    }

    async fn write(&self, set: &[Applied]) -> Result<(), ApplyError> {
        let mut futs = Vec::with_capacity(set.len());
        for a in set {
            futs.push(async move {
                self.patch(a, false)
                    .await
                    .map_err(|e| classify(&a.reference.to_string(), e))
            });
        }
        let results: Vec<Result<(), ApplyError>> = futures::stream::iter(futs)
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// The objects as [`Cluster::apply`] would send them (labels, annotations, namespaces),
    /// without sending anything: what a drift check compares the live objects with. Kinds the
    /// server does not serve are left out.
    pub async fn manifests(
        &self,
        objects: &[Value],
        own: &Ownership<'_>,
    ) -> Result<Vec<Applied>, ApplyError> {
        let served: Vec<Value> = {
            let mut v = Vec::new();
            for o in objects {
                let av = o["apiVersion"].as_str().unwrap_or_default();
                let kind = o["kind"].as_str().unwrap_or_default();
                if self.resolve(av, kind, false).await?.is_some() {
                    v.push(o.clone());
                }
            }
            v
        };
        Ok(self.prepare(&served, own).await?.0)
    }

    /// Server-side applies one object again (a dry run when asked), on condition that it is
    /// still at `resource_version` when one is given (the server answers 409 otherwise, as for
    /// any write that names a resourceVersion). The server's answer and whether it created the
    /// object (201) are returned, so a caller can tell a change it made from one it did not.
    pub async fn reapply(
        &self,
        a: &Applied,
        resource_version: Option<&str>,
        dry_run: bool,
    ) -> Result<Reapplied, ApplyError> {
        let what = a.reference.to_string();
        let mut object = a.object.clone();
        if let Some(rv) = resource_version {
            object["metadata"]["resourceVersion"] = json!(rv);
        }
        let mut pp = PatchParams::apply(FIELD_MANAGER).force();
        pp.dry_run = dry_run;
        let api = self.api(&a.resource, &a.reference.namespace);
        let request = kube::core::Request::new(api.resource_url())
            .patch(&a.reference.name, &pp, &Patch::Apply(&object))
            .map_err(|e| ApplyError::Rejected {
                object: what.clone(),
                reason: format!("the apply request cannot be built: {e}"),
            })?;
        // `Api::patch` drops the status code, which is the only sign of a creation.
        let response = self
            .client
            .send(request.map(kube::client::Body::from))
            .await
            .map_err(|e| classify(&what, e))?;
        let code = response.status();
        let body = response
            .into_body()
            .collect_bytes()
            .await
            .map_err(|e| classify(&what, e))?;
        if code.is_success() {
            let object = serde_json::from_slice(&body).map_err(|e| {
                ApplyError::unavailable(format!("{what}: the apply's answer is not JSON: {e}"))
            })?;
            return Ok(Reapplied::Applied {
                object,
                created: code.as_u16() == 201,
            });
        }
        if code.as_u16() == 409 && resource_version.is_some() {
            // A forced apply has no field conflicts: the object moved past the version given.
            return Ok(Reapplied::Stale);
        }
        let mut status = serde_json::from_slice::<kube::core::Status>(&body).unwrap_or_else(|_| {
            kube::core::Status::failure(String::from_utf8_lossy(&body).trim(), "")
        });
        if status.code == 0 {
            status.code = code.as_u16();
        }
        Err(classify(&what, kube::Error::Api(status.boxed())))
    }

    /// Validates the whole set with a dry run, then applies it: Namespaces and CRDs, then the rest.
    pub async fn apply(
        &self,
        objects: &[Value],
        own: &Ownership<'_>,
    ) -> Result<Vec<Applied>, ApplyError> {
        let (ready, later) = self.prepare(objects, own).await?;
        let mut new_namespaces: BTreeSet<String> = ready
            .iter()
            .filter(|a| a.reference.kind == "Namespace" && a.reference.api_version == "v1")
            .map(|a| a.reference.name.clone())
            .collect();
        // The environment's own namespace is created when missing, as Argo CD's
        // CreateNamespace does, but it is not in the inventory: pruning never deletes it.
        let ns_resource = self
            .resolve("v1", "Namespace", false)
            .await?
            .map(|(r, _)| r)
            .ok_or_else(|| ApplyError::unavailable("the server does not serve Namespaces"))?;
        let mut create_namespace = None;
        if !new_namespaces.contains(own.default_namespace) {
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ns_resource);
            match api.get_opt(own.default_namespace).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    create_namespace = Some(own.default_namespace.to_owned());
                    new_namespaces.insert(own.default_namespace.to_owned());
                }
                Err(e) => return Err(classify(&format!("Namespace/{}", own.default_namespace), e)),
            }
        }
        let (valid, deferred) = self.dry_run(ready, &new_namespaces).await?;
        let (first, rest): (Vec<Applied>, Vec<Applied>) = valid
            .into_iter()
            .partition(|a| stage(&a.reference.kind, &a.reference.api_version) == 0);
        if let Some(ns) = create_namespace {
            let a = Applied {
                reference: ObjectRef {
                    api_version: "v1".into(),
                    kind: "Namespace".into(),
                    namespace: String::new(),
                    name: ns.clone(),
                },
                resource: ns_resource,
                object: json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ns, "labels": {LABEL_MANAGED_BY: "gantry"}}}),
            };
            self.patch(&a, false)
                .await
                .map_err(|e| classify(&a.reference.to_string(), e))?;
        }
        self.write(&first).await?;
        let mut second = rest;
        if !deferred.is_empty() || !later.is_empty() {
            let mut again = deferred;
            if !later.is_empty() {
                again.extend(self.resolve_later(later, own).await?);
            }
            let (valid, still) = self.dry_run(again, &BTreeSet::new()).await?;
            debug_assert!(still.is_empty());
            second.extend(valid);
        }
        self.write(&second).await?;
        let mut all = first;
        all.extend(second);
        Ok(all)
    }

    /// Resolves custom resources once their CRDs, just applied, are served.
    async fn resolve_later(
        &self,
        later: Vec<Value>,
        own: &Ownership<'_>,
    ) -> Result<Vec<Applied>, ApplyError> {
        for attempt in 0..50 {
            let mut missing = false;
            for obj in &later {
                let av = obj["apiVersion"].as_str().unwrap_or_default();
                let kind = obj["kind"].as_str().unwrap_or_default();
                if self.resolve(av, kind, attempt > 0).await?.is_none() {
                    missing = true;
                }
            }
            if !missing {
                let (ready, none) = self.prepare(&later, own).await?;
                debug_assert!(none.is_empty());
                return Ok(ready);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let obj = &later[0];
        Err(ApplyError::Rejected {
            object: format!(
                "{}/{}",
                obj["kind"].as_str().unwrap_or_default(),
                obj.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            ),
            reason: "its CustomResourceDefinition was applied but is not served after 5s".into(),
        })
    }

    /// Deletes `stale` objects that still carry this app's and environment's labels; returns how
    /// many were deleted. Namespaces and CRDs go last.
    pub async fn prune(
        &self,
        stale: &[ObjectRef],
        own: &Ownership<'_>,
    ) -> Result<Vec<ObjectRef>, ApplyError> {
        let mut order: Vec<&ObjectRef> = stale.iter().collect();
        order.sort_by_key(|r| std::cmp::Reverse(stage(&r.kind, &r.api_version)));
        let mut deleted = Vec::new();
        for r in order {
            let Some((ar, _)) = self.resolve(&r.api_version, &r.kind, false).await? else {
                continue;
            };
            let api = self.api(&ar, &r.namespace);
            let obj = match api.get_opt(&r.name).await {
                Ok(Some(o)) => o,
                Ok(None) => continue,
                Err(e) => return Err(classify(&r.to_string(), e)),
            };
            let labels = obj.metadata.labels.clone().unwrap_or_default();
            let ours = labels.get(LABEL_MANAGED_BY).map(String::as_str) == Some("gantry")
                && labels.get(LABEL_APP).map(String::as_str) == Some(own.app)
                && labels.get(LABEL_ENV).map(String::as_str) == Some(own.environment);
            let same_repository = obj
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_REPOSITORY))
                .is_none_or(|r| r.eq_ignore_ascii_case(own.repository));
            if !ours || !same_repository || obj.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: obj.metadata.uid.clone(),
                    resource_version: None,
                }),
                propagation_policy: Some(kube::api::PropagationPolicy::Background),
                ..Default::default()
            };
            match api.delete(&r.name, &dp).await {
                Ok(_) => deleted.push(r.clone()),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(classify(&r.to_string(), e)),
            }
        }
        Ok(deleted)
    }

    /// Reads one object back; `None` when absent.
    pub async fn get(&self, a: &Applied) -> Result<Option<Value>, ApplyError> {
        match self
            .api(&a.resource, &a.reference.namespace)
            .get_opt(&a.reference.name)
            .await
        {
            Ok(Some(o)) => Ok(Some(serde_json::to_value(o).unwrap_or(Value::Null))),
            Ok(None) => Ok(None),
            Err(e) => Err(classify(&a.reference.to_string(), e)),
        }
    }

    /// Lists objects of a core or group kind in `namespace` matching `selector`.
    pub async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        selector: &str,
    ) -> Result<Vec<Value>, ApplyError> {
        let Some((ar, _)) = self.resolve(api_version, kind, false).await? else {
            return Ok(Vec::new());
        };
        let lp = kube::api::ListParams::default().labels(selector);
        match self.api(&ar, namespace).list(&lp).await {
            Ok(l) => Ok(l
                .items
                .into_iter()
                .map(|o| serde_json::to_value(o).unwrap_or(Value::Null))
                .collect()),
            Err(e) => Err(classify(&format!("{kind} in {namespace}"), e)),
        }
    }
}

/// Whether two references name the same object, ignoring the API version (a version bump of the
/// same kind must not prune it).
pub fn same_object(a: &ObjectRef, b: &ObjectRef) -> bool {
    group_of(&a.api_version) == group_of(&b.api_version)
        && a.kind == b.kind
        && a.namespace == b.namespace
        && a.name == b.name
}

impl Reconciler {
    /// Apply: the rendered set, server-side, on the environment's cluster. An unreachable
    /// cluster is retried; an object the server refuses fails the reconcile (`failure`), any
    /// other error ends it (`error`).
    pub(crate) async fn apply_phase(
        &self,
        run: &Run<'_>,
        objects: &[Value],
    ) -> Result<(Arc<Cluster>, Vec<Applied>), Stop> {
        run.held()?;
        let t = Instant::now();
        let cluster = self
            .cluster(&run.env.cluster)
            .await
            .map_err(|e| run.transient(e))?;
        let applied = match cluster.apply(objects, &run.ownership()).await {
            Ok(a) => a,
            Err(e @ ApplyError::Unavailable { .. }) => {
                let t = run.transient(e);
                let _ = self
                    .audit(
                        run.job,
                        run.entry(
                            Phase::Apply,
                            Outcome::Failed,
                            format!("{} (will retry)", t.reason()),
                        ),
                    )
                    .await;
                return Err(t.into());
            }
            Err(e) => {
                let (state, verb) = match e {
                    ApplyError::Rejected { .. } => (CommitState::Failure, "refused"),
                    _ => (CommitState::Error, "failed"),
                };
                let full = format!("apply of {} {verb}: {}", run.rev, chain(&e));
                return Err(Failure::new(Phase::Apply, state, full).into());
            }
        };
        self.metrics.phase("apply", t.elapsed());
        self.metrics.applied.inc_by(applied.len() as u64);
        self.applied_sets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                run.key.clone(),
                (run.job.revision.clone(), Arc::new(applied.clone())),
            );
        self.audit(
            run.job,
            audit::Entry {
                applied: applied.len() as u32,
                duration: Some(t.elapsed()),
                ..run.entry(
                    Phase::Apply,
                    Outcome::Succeeded,
                    format!("applied {} objects at {}", applied.len(), run.rev),
                )
            },
        )
        .await?;
        Ok((cluster, applied))
    }
}
