//! The in-memory object store: every object as JSON, one resourceVersion counter, and the bounded
//! event log that watches replay from.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::Error;
use crate::registry::Registry;

/// (group, plural): where a kind's objects live, whatever version they are served at.
pub(crate) type ResKey = (String, String);
/// (namespace, name); the namespace is empty for cluster-scoped objects.
pub(crate) type ObjKey = (String, String);

pub(crate) const CRD_KEY: (&str, &str) = ("apiextensions.k8s.io", "customresourcedefinitions");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change, as watches see it. `old` lets filtered watches turn label changes into ADDED/DELETED.
#[derive(Debug)]
pub(crate) struct Event {
    pub rv: u64,
    pub key: ResKey,
    pub namespace: String,
    pub ty: EventType,
    pub object: Arc<Value>,
    pub old: Option<Arc<Value>>,
}

/// The resourceVersion a watch asked for is older than the log keeps.
#[derive(Debug)]
pub(crate) struct Gone {
    pub oldest: u64,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub rv: u64,
    objects: HashMap<ResKey, BTreeMap<ObjKey, Arc<Value>>>,
    log: VecDeque<Arc<Event>>,
    log_cap: usize,
    pub registry: Registry,
    pub next_ip: u32,
    changed: bool,
}

/// The store, shared by the HTTP handlers and the simulated controllers.
#[derive(Debug)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
    notify: watch::Sender<u64>,
}

/// A locked store; dropping it wakes the watches if anything changed.
pub(crate) struct Guard<'a> {
    inner: MutexGuard<'a, Inner>,
    notify: &'a watch::Sender<u64>,
}

impl std::ops::Deref for Guard<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl std::ops::DerefMut for Guard<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.inner
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.inner.changed {
            self.inner.changed = false;
            self.notify.send_replace(self.inner.rv);
        }
    }
}

impl Store {
    pub fn new(log_cap: usize) -> Self {
        let (notify, _) = watch::channel(0);
        Store {
            inner: Mutex::new(Inner {
                rv: 0,
                objects: HashMap::new(),
                log: VecDeque::new(),
                log_cap: log_cap.max(1),
                registry: Registry::new(),
                next_ip: 1,
                changed: false,
            }),
            notify,
        }
    }

    pub fn lock(&self) -> Guard<'_> {
        // A handler that panicked mid-write leaves consistent JSON behind: keep serving.
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        Guard {
            inner,
            notify: &self.notify,
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub(crate) fn name_of(obj: &Value) -> &str {
    meta_str(obj, "name")
}

pub(crate) fn namespace_of(obj: &Value) -> &str {
    meta_str(obj, "namespace")
}

pub(crate) fn uid_of(obj: &Value) -> &str {
    meta_str(obj, "uid")
}

impl Inner {
    pub fn get(&self, key: &ResKey, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.objects
            .get(key)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Objects of a kind, in (namespace, name) order; `ns` None means all namespaces.
    pub fn list(&self, key: &ResKey, ns: Option<&str>) -> Vec<Arc<Value>> {
        let Some(m) = self.objects.get(key) else {
            return Vec::new();
        };
        match ns {
            None => m.values().cloned().collect(),
            Some(ns) => m
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, v)| v.clone())
                .collect(),
        }
    }

    fn record(
        &mut self,
        key: &ResKey,
        ns: &str,
        ty: EventType,
        object: Arc<Value>,
        old: Option<Arc<Value>>,
    ) {
        self.log.push_back(Arc::new(Event {
            rv: self.rv,
            key: key.clone(),
            namespace: ns.to_string(),
            ty,
            object,
            old,
        }));
        while self.log.len() > self.log_cap {
            self.log.pop_front();
        }
        self.changed = true;
    }

    /// Stores an object under a new resourceVersion and logs ADDED or MODIFIED.
    pub fn put(&mut self, key: &ResKey, mut obj: Value) -> Arc<Value> {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let ns = namespace_of(&obj).to_string();
        let name = name_of(&obj).to_string();
        let obj = Arc::new(obj);
        let old = self
            .objects
            .entry(key.clone())
            .or_default()
            .insert((ns.clone(), name), obj.clone());
        let ty = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(key, &ns, ty, obj.clone(), old);
        if (key.0.as_str(), key.1.as_str()) == CRD_KEY {
            self.refresh_crds();
        }
        obj
    }

    /// Removes an object and logs DELETED; removing a CRD removes its custom resources too.
    pub fn remove(&mut self, key: &ResKey, ns: &str, name: &str) -> Option<Arc<Value>> {
        let old = self
            .objects
            .get_mut(key)?
            .remove(&(ns.to_string(), name.to_string()))?;
        self.rv += 1;
        let mut gone = (*old).clone();
        gone["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let gone = Arc::new(gone);
        self.record(key, ns, EventType::Deleted, gone.clone(), Some(old));
        if (key.0.as_str(), key.1.as_str()) == CRD_KEY {
            if let Some(rt) = crate::registry::from_crd(&gone) {
                for o in self.list(&rt.key(), None) {
                    self.remove(&rt.key(), namespace_of(&o), name_of(&o));
                }
            }
            self.refresh_crds();
        }
        Some(gone)
    }

    fn refresh_crds(&mut self) {
        let key = (CRD_KEY.0.to_string(), CRD_KEY.1.to_string());
        let crds = self.list(&key, None);
        self.registry.set_crds(crds.iter().map(|c| c.as_ref()));
    }

    /// Deletes every object whose owners are all gone, as the garbage collector does, until none is left.
    pub fn collect_garbage(&mut self) {
        loop {
            let uids: HashSet<String> = self
                .objects
                .values()
                .flat_map(|m| m.values())
                .map(|o| uid_of(o).to_string())
                .collect();
            let mut orphans = Vec::new();
            for (key, m) in &self.objects {
                for o in m.values() {
                    let Some(refs) = o
                        .pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                    else {
                        continue;
                    };
                    if !refs.is_empty()
                        && refs.iter().all(|r| {
                            !uids.contains(r.get("uid").and_then(Value::as_str).unwrap_or_default())
                        })
                    {
                        orphans.push((
                            key.clone(),
                            namespace_of(o).to_string(),
                            name_of(o).to_string(),
                        ));
                    }
                }
            }
            if orphans.is_empty() {
                return;
            }
            for (key, ns, name) in orphans {
                self.remove(&key, &ns, &name);
            }
        }
    }

    /// Events after `since`, or Gone when the log no longer reaches back that far.
    pub fn events_since(&self, since: u64) -> Result<Vec<Arc<Event>>, Gone> {
        let oldest = self.log.front().map_or(self.rv + 1, |e| e.rv);
        if since + 1 < oldest && since < self.rv {
            return Err(Gone { oldest });
        }
        Ok(self.log.iter().filter(|e| e.rv > since).cloned().collect())
    }

    /// The oldest resourceVersion a watch can still start from.
    pub fn oldest_resumable(&self) -> u64 {
        self.log.front().map_or(self.rv, |e| e.rv - 1)
    }

    pub fn all_objects(&self) -> Vec<(ResKey, Arc<Value>)> {
        let mut out = Vec::new();
        for (k, m) in &self.objects {
            for o in m.values() {
                out.push((k.clone(), o.clone()));
            }
        }
        out
    }

    /// Writes every object to `path` as JSON, atomically (write then rename).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let mut objects: Vec<Value> = Vec::new();
        let mut keys: Vec<&ResKey> = self.objects.keys().collect();
        keys.sort();
        for k in keys {
            for o in self.objects[k].values() {
                objects.push(json!({"group": k.0, "resource": k.1, "object": o.as_ref()}));
            }
        }
        let doc = json!({"kind": "GantryKubeSimSnapshot", "resourceVersion": self.rv, "objects": objects});
        let tmp = path.with_extension("tmp");
        let bytes = serde_json::to_vec(&doc)
            .map_err(|e| Error::Snapshot(path.to_path_buf(), e.to_string()))?;
        std::fs::write(&tmp, bytes).map_err(|e| Error::Io(tmp.clone(), e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::Io(path.to_path_buf(), e))
    }

    /// Loads a snapshot written by `save`. The event log starts empty: older watches get 410 Gone.
    pub fn load(&mut self, path: &Path) -> Result<(), Error> {
        let bytes = std::fs::read(path).map_err(|e| Error::Io(path.to_path_buf(), e))?;
        let doc: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Snapshot(path.to_path_buf(), e.to_string()))?;
        let bad = |why: &str| Error::Snapshot(path.to_path_buf(), why.to_string());
        let rv = doc
            .get("resourceVersion")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("no resourceVersion"))?;
        let objects = doc
            .get("objects")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no objects"))?;
        self.objects.clear();
        for o in objects {
            let group = o
                .get("group")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("object without group"))?;
            let resource = o
                .get("resource")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("object without resource"))?;
            let obj = o
                .get("object")
                .filter(|v| v.is_object())
                .ok_or_else(|| bad("object without body"))?;
            self.objects
                .entry((group.to_string(), resource.to_string()))
                .or_default()
                .insert(
                    (namespace_of(obj).to_string(), name_of(obj).to_string()),
                    Arc::new(obj.clone()),
                );
        }
        self.rv = rv;
        self.log.clear();
        self.refresh_crds();
        Ok(())
    }
}
