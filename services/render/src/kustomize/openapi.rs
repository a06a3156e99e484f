//! The `openapi` kustomization field: which schema strategic merge patches consult, with
//! kustomize's global, set-once semantics and kyaml's lookups in a custom schema file.

use std::collections::HashMap;
use std::rc::Rc;

use serde_json::Value;

use super::kustomization::OpenApi;
use super::{Engine, KResult, kerr};
use crate::path;

/// The only Kubernetes schema version kyaml has built in (and its default).
const BUILTIN_VERSION: &str = "v1.21.2";

/// A custom schema file: its definitions, indexed by `x-kubernetes-group-version-kind`.
#[derive(Debug, Default)]
pub struct Schema {
    defs: HashMap<String, Value>,
    by_type: HashMap<(String, String), String>,
}

/// kyaml's process-wide schema setting, which one render owns here.
#[derive(Debug, Default)]
pub struct State {
    version: String,
    custom: Option<Rc<Schema>>,
}

impl State {
    fn is_set(&self) -> bool {
        !self.version.is_empty() || self.custom.is_some()
    }
}

impl Schema {
    /// Parses a schema file (JSON or YAML, already decoded) as kyaml's `AddDefinitions` does:
    /// every definition is kept for `$ref`s, and the ones naming GVKs index resource types.
    pub fn from_value(v: &Value, file: &str) -> KResult<Schema> {
        let invalid = |why: &str| kerr(format!("invalid schema file {file}: {why}"));
        let Value::Object(top) = v else {
            return Err(invalid("not a mapping"));
        };
        let mut s = Schema::default();
        let defs = match top.get("definitions") {
            None | Some(Value::Null) => return Ok(s),
            Some(Value::Object(d)) => d,
            Some(_) => return Err(invalid("definitions is not a mapping")),
        };
        for (name, def) in defs {
            if !def.is_object() {
                return Err(invalid(&format!("definition {name} is not a mapping")));
            }
            s.defs.insert(name.clone(), def.clone());
            let Some(Value::Array(gvks)) = def.get("x-kubernetes-group-version-kind") else {
                continue;
            };
            for g in gvks {
                let (Some(Value::String(version)), Some(Value::String(kind))) =
                    (g.get("version"), g.get("kind"))
                else {
                    continue;
                };
                let api_version = match g.get("group") {
                    Some(Value::String(group)) if !group.is_empty() => {
                        format!("{group}/{version}")
                    }
                    _ => version.clone(),
                };
                s.by_type.insert((api_version, kind.clone()), name.clone());
            }
        }
        Ok(s)
    }

    /// The schema of a resource type, if the file defines it.
    pub fn root(&self, api_version: &str, kind: &str) -> Option<&Value> {
        let name = self
            .by_type
            .get(&(api_version.to_owned(), kind.to_owned()))?;
        self.defs.get(name)
    }

    fn resolve<'a>(&'a self, s: &'a Value) -> Option<&'a Value> {
        match s.get("$ref") {
            Some(Value::String(r)) => self.defs.get(r.strip_prefix("#/definitions/")?),
            Some(_) => None,
            None => Some(s),
        }
    }

    /// kyaml's `ResourceSchema.Field`: a property, else the `additionalProperties` value
    /// schema, with one `$ref` resolved.
    pub fn field<'a>(&'a self, s: &'a Value, name: &str) -> Option<&'a Value> {
        let f = match s.get("properties").and_then(|p| p.get(name)) {
            Some(f) => f,
            None => s.get("additionalProperties").filter(|a| a.is_object())?,
        };
        self.resolve(f)
    }

    /// kyaml's `ResourceSchema.Elements`: the item schema of an `array`, `$ref`s resolved.
    pub fn elements<'a>(&'a self, s: &'a Value) -> Option<&'a Value> {
        let is_array = match s.get("type") {
            Some(Value::String(t)) => t == "array",
            Some(Value::Array(t)) => t.len() == 1 && t[0] == "array",
            _ => false,
        };
        if !is_array {
            return None;
        }
        let mut item = s.get("items")?;
        for _ in 0..64 {
            if item.get("$ref").is_none() {
                return Some(item);
            }
            item = self.resolve(item)?;
        }
        None
    }

    /// kyaml's `PatchStrategyAndKeyList`: the strategy, and the merge keys
    /// (`x-kubernetes-list-map-keys` first, else `x-kubernetes-patch-merge-key`).
    pub fn strategy_and_keys<'a>(&self, s: &'a Value) -> (&'a str, Vec<&'a str>) {
        let Some(Value::String(strategy)) = s.get("x-kubernetes-patch-strategy") else {
            return ("", Vec::new());
        };
        if let Some(Value::Array(keys)) = s.get("x-kubernetes-list-map-keys") {
            return (strategy, keys.iter().filter_map(Value::as_str).collect());
        }
        match s.get("x-kubernetes-patch-merge-key") {
            Some(Value::String(k)) => (strategy, vec![k.as_str()]),
            _ => (strategy, Vec::new()),
        }
    }
}

impl Engine<'_> {
    /// kustomize's `openapi.SetSchema`: the top kustomization (`reset`) always sets the
    /// schema; a kustomization below it only when none is set yet. The schema file is read
    /// either way, as kustomize loads it before deciding.
    pub(super) fn set_openapi(&self, dir: &str, api: Option<&OpenApi>, reset: bool) -> KResult<()> {
        let (version, file) = match api {
            Some(a) => (a.version.as_deref(), a.path.as_deref()),
            None => (None, None),
        };
        let custom = match file {
            Some(f) => {
                let p = self.resolve_file(dir, f)?;
                let text = self.read_text(&p)?;
                let docs = self.parse(&text, &p)?;
                let value = docs.into_iter().next().map(|d| d.value);
                Some(Schema::from_value(
                    value.as_ref().unwrap_or(&Value::Null),
                    &path::display(&p),
                )?)
            }
            None => None,
        };
        let mut st = self.openapi.borrow_mut();
        if st.is_set() && !reset {
            return Ok(());
        }
        match (version, custom) {
            (Some(_), Some(_)) => {
                return Err(kerr(
                    "builtin version and custom schema provided, cannot use both".into(),
                ));
            }
            (Some(v), None) => {
                if v != BUILTIN_VERSION && !v.is_empty() {
                    return Err(kerr("the specified OpenAPI version is not built in".into()));
                }
                // kyaml leaves a custom schema in place (it wins); within one build none
                // can be set yet when a version is.
                st.version = v.to_owned();
            }
            (None, Some(s)) => st.custom = Some(Rc::new(s)),
            // kyaml clears only the version here: a custom schema set earlier stays.
            (None, None) => st.version.clear(),
        }
        Ok(())
    }

    /// The custom schema strategic merge patches use now, if one is set.
    pub(super) fn smp_schema(&self) -> Option<Rc<Schema>> {
        self.openapi.borrow().custom.clone()
    }
}
