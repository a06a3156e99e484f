//! `generators:` and `transformers:` entries holding kustomize's builtin plugin configs
//! (`apiVersion: builtin`), inline, in files or produced by a kustomization. Each runs with
//! the builtin Gantry already has; anything else (exec, container, Go or remote plugins) is
//! refused, since it would run code or fetch content.

use serde_json::{Map, Value, json};

use super::fieldspec::FieldSpec;
use super::kustomization::{Image, Kustomization};
use super::resource::{Gvk, Resource, scalar_text};
use super::{Engine, KError, KResult, ResMap, buildmeta, config, generate, kerr, transform};

/// One plugin config and where it was configured (for `configuredIn`).
pub struct PluginConfig {
    obj: Value,
    configured_in: String,
}

impl Engine<'_> {
    /// Reads the configs a `generators:`/`transformers:` list names.
    pub(super) fn plugin_configs(
        &self,
        dir: &str,
        kfile: &str,
        entries: &[String],
    ) -> KResult<Vec<PluginConfig>> {
        let mut out = Vec::new();
        for entry in entries {
            if entry.contains('\n') {
                for r in self.resources_from_text(entry, kfile)? {
                    out.push(PluginConfig {
                        obj: r.obj,
                        configured_in: kfile.to_owned(),
                    });
                }
                continue;
            }
            let p = self.resolve(dir, entry)?;
            if self.fs.is_dir(&p) {
                let (k, file) = self.load_kustomization(&p)?;
                let sub = self.accumulate_target(&p, &k, &file, ResMap::default())?;
                for r in sub.list {
                    out.push(PluginConfig {
                        obj: r.obj,
                        configured_in: file.clone(),
                    });
                }
            } else if self.fs.is_file(&p) {
                self.restrict(dir, &p)?;
                for r in self.load_resources(&p)? {
                    out.push(PluginConfig {
                        obj: r.obj,
                        configured_in: p.clone(),
                    });
                }
            } else {
                self.read(&p)?;
                return Err(kerr(format!(
                    "'{}' doesn't exist",
                    super::path::display(&p)
                )));
            }
        }
        Ok(out)
    }

    fn with_plugin_origin<T>(&self, c: &PluginConfig, f: impl FnOnce() -> T) -> T {
        let origin = self.meta.get().track.then(|| {
            let mut o = buildmeta::Origin::builtin(
                buildmeta::relative(&self.root.borrow(), &c.configured_in),
                &str_at(&c.obj, &["kind"]),
            );
            o.by_name = str_at(&c.obj, &["metadata", "name"]);
            o.by_namespace = str_at(&c.obj, &["metadata", "namespace"]);
            o
        });
        *self.plugin_origin.borrow_mut() = origin;
        let out = f();
        *self.plugin_origin.borrow_mut() = None;
        out
    }
}

fn str_at(v: &Value, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(x) => cur = x,
            None => return String::new(),
        }
    }
    scalar_text(cur)
}

fn gvk_of(c: &PluginConfig) -> Gvk {
    Gvk::from_api_version(&str_at(&c.obj, &["apiVersion"]), &str_at(&c.obj, &["kind"]))
}

fn check_builtin(c: &PluginConfig) -> KResult<Gvk> {
    let gvk = gvk_of(c);
    if gvk.version != "builtin" || !gvk.group.is_empty() {
        return Err(KError::Unsupported(format!(
            "plugin {gvk}: only builtin plugins (apiVersion: builtin) run; exec, container and Go plugins are refused"
        )));
    }
    Ok(gvk)
}

fn unknown(gvk: &Gvk) -> KError {
    kerr(format!("unable to load builtin {gvk}"))
}

/// The plugin's own fields, without its resource header.
fn args(c: &PluginConfig) -> Map<String, Value> {
    let mut m = c.obj.as_object().cloned().unwrap_or_default();
    m.remove("apiVersion");
    m.remove("kind");
    m.remove("metadata");
    m
}

fn synthetic(v: Value) -> KResult<Kustomization> {
    Kustomization::from_value(&v)
}

pub fn run_generators(
    e: &Engine<'_>,
    dir: &str,
    kfile: &str,
    configs: &[PluginConfig],
    ra: &mut ResMap,
) -> KResult<()> {
    for c in configs {
        let gvk = check_builtin(c)?;
        e.with_plugin_origin(c, || -> KResult<()> {
            match gvk.kind.as_str() {
                "ConfigMapGenerator" | "SecretGenerator" => {
                    let mut a = args(c);
                    for f in ["name", "namespace"] {
                        if a.get(f).is_none_or(|v| scalar_text(v).is_empty()) {
                            let meta = str_at(&c.obj, &["metadata", f]);
                            if !meta.is_empty() {
                                a.insert(f.into(), Value::String(meta));
                            }
                        }
                    }
                    let key = if gvk.kind == "ConfigMapGenerator" {
                        "configMapGenerator"
                    } else {
                        "secretGenerator"
                    };
                    let k = synthetic(json!({ key: [Value::Object(a)] }))?;
                    generate::run(e, dir, kfile, &k, ra)
                }
                "IAMPolicyGenerator" => iam_policy(e, c, ra),
                _ => Err(unknown(&gvk)),
            }
        })?;
    }
    Ok(())
}

/// The GKE flavour of kustomize's `IAMPolicyGenerator`: a ServiceAccount bound to a Google
/// service account by annotation.
fn iam_policy(e: &Engine<'_>, c: &PluginConfig, ra: &mut ResMap) -> KResult<()> {
    let cloud = str_at(&c.obj, &["cloud"]);
    if cloud != "gke" {
        return Err(kerr(format!(
            "IAMPolicyGenerator: cloud '{cloud}' is not supported (only gke)"
        )));
    }
    let name = str_at(&c.obj, &["kubernetesService", "name"]);
    let ns = str_at(&c.obj, &["kubernetesService", "namespace"]);
    let gsa = str_at(&c.obj, &["serviceAccount", "name"]);
    let project = str_at(&c.obj, &["serviceAccount", "projectId"]);
    let mut meta = Map::new();
    meta.insert(
        "annotations".into(),
        json!({ "iam.gke.io/gcp-service-account":
            format!("{gsa}@{project}.iam.gserviceaccount.com") }),
    );
    meta.insert("name".into(), Value::String(name));
    if !ns.is_empty() {
        meta.insert("namespace".into(), Value::String(ns));
    }
    let obj = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta});
    let mut r = Resource::new(obj, c.configured_in.clone());
    if let Some(o) = e.origin_of_plugin(&c.configured_in, "IAMPolicyGenerator") {
        r.build_origin = Some(o);
        r.touched_annotations = true;
    }
    let mut index = ra.name_index();
    ra.absorb(r, &mut index)
}

fn specs(c: &PluginConfig) -> KResult<Vec<FieldSpec>> {
    config::field_specs(c.obj.get("fieldSpecs"), "fieldSpecs")
}

fn string_pairs(v: Option<&Value>) -> Vec<(String, String)> {
    match v {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), scalar_text(v))).collect(),
        _ => Vec::new(),
    }
}

pub fn run_transformers(
    e: &Engine<'_>,
    dir: &str,
    kfile: &str,
    configs: &[PluginConfig],
    ra: &mut ResMap,
) -> KResult<()> {
    for c in configs {
        let gvk = check_builtin(c)?;
        e.with_plugin_origin(c, || run_transformer(e, dir, kfile, c, &gvk, ra))?;
    }
    Ok(())
}

fn run_transformer(
    e: &Engine<'_>,
    dir: &str,
    kfile: &str,
    c: &PluginConfig,
    gvk: &Gvk,
    ra: &mut ResMap,
) -> KResult<()> {
    let a = args(c);
    let via_kustomization = |v: Value, ra: &mut ResMap| -> KResult<()> {
        let k = synthetic(v)?;
        transform::run(e, dir, kfile, &k, ra)
    };
    match gvk.kind.as_str() {
        "PatchTransformer" => {
            return via_kustomization(json!({ "patches": [Value::Object(a)] }), ra);
        }
        "PatchJson6902Transformer" => {
            let mut p = Map::new();
            for f in ["target", "path"] {
                if let Some(v) = a.get(f) {
                    p.insert(f.into(), v.clone());
                }
            }
            if let Some(v) = a.get("jsonOp") {
                p.insert("patch".into(), v.clone());
            }
            return via_kustomization(json!({ "patchesJson6902": [Value::Object(p)] }), ra);
        }
        "PatchStrategicMergeTransformer" => {
            let mut entries: Vec<Value> = match a.get("paths") {
                Some(Value::Array(p)) => p.clone(),
                _ => Vec::new(),
            };
            if let Some(v) = a.get("patches") {
                entries.push(v.clone());
            }
            return via_kustomization(json!({ "patchesStrategicMerge": entries }), ra);
        }
        "ReplacementTransformer" => {
            return via_kustomization(
                json!({ "replacements": a.get("replacements").cloned().unwrap_or(json!([])) }),
                ra,
            );
        }
        _ => {}
    }
    let fs = specs(c)?;
    match gvk.kind.as_str() {
        "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
            if fs.iter().any(|f| f.path_string() != "metadata/name") {
                return Err(KError::Unsupported(format!(
                    "{}: field specs other than metadata/name",
                    gvk.kind
                )));
            }
            let select = |g: &Gvk| fs.iter().any(|f| g.is_selected_by(&f.gvk));
            transform::prefix_suffix_where(ra, &str_at(&c.obj, &["prefix"]), true, &select)?;
            transform::prefix_suffix_where(ra, &str_at(&c.obj, &["suffix"]), false, &select)?;
        }
        "LabelTransformer" => {
            transform::set_entries(ra, &string_pairs(a.get("labels")), &fs)?;
        }
        "AnnotationsTransformer" => {
            transform::set_entries(ra, &string_pairs(a.get("annotations")), &fs)?;
        }
        "NamespaceTransformer" => {
            if fs.iter().any(|f| f.path_string() != "metadata/namespace") {
                return Err(KError::Unsupported(
                    "NamespaceTransformer: field specs other than metadata/namespace".into(),
                ));
            }
            let ns = str_at(&c.obj, &["metadata", "namespace"]);
            if !ns.is_empty() && !fs.is_empty() {
                transform::namespace(ra, &ns)?;
            }
        }
        "ImageTagTransformer" => {
            let t = c.obj.get("imageTag").cloned().unwrap_or(Value::Null);
            let img = Image {
                name: str_at(&t, &["name"]),
                new_name: str_at(&t, &["newName"]),
                new_tag: str_at(&t, &["newTag"]),
                digest: str_at(&t, &["digest"]),
            };
            transform::images(ra, &img, &fs)?;
        }
        "ReplicaCountTransformer" => {
            let name = str_at(&c.obj, &["replica", "name"]);
            let count = c
                .obj
                .get("replica")
                .and_then(|r| r.get("count"))
                .and_then(Value::as_i64)
                .ok_or_else(|| {
                    kerr("ReplicaCountTransformer: replica.count must be an integer".into())
                })?;
            transform::replicas(ra, &name, count, &fs)?;
        }
        _ => return Err(unknown(gvk)),
    }
    e.record_transformer(ra, kfile, &gvk.kind);
    Ok(())
}
