//! Transformer configurations: the field specs a kustomization adds to kustomize's built-in
//! tables with `configurations:` files and `crds:` (OpenAPI definitions whose properties carry
//! `x-kubernetes-object-ref-*` extensions). They accumulate from bases up, as kustomize's
//! `ResAccumulator.MergeConfig` does.

use serde_json::Value;

use super::fieldspec::{BackRef, FieldSpec};
use super::resource::Gvk;
use super::{Engine, KError, KResult, kerr};

/// The additions to kustomize's default transformer configuration.
#[derive(Debug, Clone, Default)]
pub struct TransformerConfig {
    pub common_labels: Vec<FieldSpec>,
    pub template_labels: Vec<FieldSpec>,
    pub labels: Vec<FieldSpec>,
    pub common_annotations: Vec<FieldSpec>,
    pub replicas: Vec<FieldSpec>,
    pub images: Vec<FieldSpec>,
    pub var_reference: Vec<FieldSpec>,
    pub name_reference: Vec<BackRef>,
}

fn same_spec(a: &FieldSpec, b: &FieldSpec) -> bool {
    a.gvk == b.gvk && a.path == b.path
}

fn merge_specs(dst: &mut Vec<FieldSpec>, src: &[FieldSpec]) {
    for s in src {
        if !dst.iter().any(|d| same_spec(d, s)) {
            dst.push(s.clone());
        }
    }
}

impl TransformerConfig {
    pub fn merge(&mut self, o: &TransformerConfig) {
        merge_specs(&mut self.common_labels, &o.common_labels);
        merge_specs(&mut self.template_labels, &o.template_labels);
        merge_specs(&mut self.labels, &o.labels);
        merge_specs(&mut self.common_annotations, &o.common_annotations);
        merge_specs(&mut self.replicas, &o.replicas);
        merge_specs(&mut self.images, &o.images);
        merge_specs(&mut self.var_reference, &o.var_reference);
        merge_backrefs(&mut self.name_reference, &o.name_reference);
    }
}

/// Merges name-back-references the way kustomize's `nbrSlice.mergeAll` does: by referred GVK.
pub fn merge_backrefs(dst: &mut Vec<BackRef>, src: &[BackRef]) {
    for b in src {
        match dst.iter_mut().find(|d| d.gvk == b.gvk) {
            Some(d) => merge_specs(&mut d.referrers, &b.referrers),
            None => dst.push(b.clone()),
        }
    }
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

fn field_spec(v: &Value) -> FieldSpec {
    FieldSpec::new(
        &text(v.get("group")),
        &text(v.get("version")),
        &text(v.get("kind")),
        &text(v.get("path")),
        matches!(v.get("create"), Some(Value::Bool(true))),
    )
}

pub fn field_specs(v: Option<&Value>, what: &str) -> KResult<Vec<FieldSpec>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items.iter().map(field_spec).collect()),
        Some(_) => Err(kerr(format!("'{what}' must be a list of field specs"))),
    }
}

/// Parses one configuration file.
pub fn parse(v: &Value, file: &str) -> KResult<TransformerConfig> {
    let Value::Object(m) = v else {
        if v.is_null() {
            return Ok(TransformerConfig::default());
        }
        return Err(kerr(format!(
            "{file}: a transformer configuration must be a mapping"
        )));
    };
    let mut c = TransformerConfig::default();
    for (k, v) in m {
        match k.as_str() {
            "commonLabels" => c.common_labels = field_specs(Some(v), k)?,
            "templateLabels" => c.template_labels = field_specs(Some(v), k)?,
            "labels" => c.labels = field_specs(Some(v), k)?,
            "commonAnnotations" => c.common_annotations = field_specs(Some(v), k)?,
            "replicas" => c.replicas = field_specs(Some(v), k)?,
            "images" => c.images = field_specs(Some(v), k)?,
            "varReference" => c.var_reference = field_specs(Some(v), k)?,
            "nameReference" => {
                let Value::Array(items) = v else {
                    return Err(kerr(format!("{file}: 'nameReference' must be a list")));
                };
                for item in items {
                    c.name_reference.push(BackRef {
                        gvk: Gvk {
                            group: text(item.get("group")),
                            version: text(item.get("version")),
                            kind: text(item.get("kind")),
                        },
                        referrers: field_specs(item.get("fieldSpecs"), "fieldSpecs")?,
                    });
                }
            }
            // Gantry's prefix, suffix and namespace transformers use kustomize's defaults only.
            "namePrefix" | "nameSuffix" | "namespace" => {
                return Err(KError::Unsupported(format!(
                    "'{k}' field specs in transformer configuration {file}"
                )));
            }
            other => {
                return Err(kerr(format!(
                    "{file}: unknown field \"{other}\" in transformer configuration"
                )));
            }
        }
    }
    Ok(c)
}

/// Loads the `configurations:` and `crds:` files of a kustomization at `dir`.
pub fn load(
    e: &Engine<'_>,
    dir: &str,
    configurations: &[String],
    crds: &[String],
) -> KResult<TransformerConfig> {
    let mut c = TransformerConfig::default();
    for f in configurations {
        let p = e.resolve_file(dir, f)?;
        let text = e.read_text(&p)?;
        let docs = e.parse(&text, &p)?;
        for d in docs {
            c.merge(&parse(&d.value, &super::path::display(&p))?);
        }
    }
    for f in crds {
        let p = e.resolve_file(dir, f)?;
        let text = e.read_text(&p)?;
        let docs = e.parse(&text, &p)?;
        for d in docs {
            c.merge(&from_crd_definitions(&d.value));
        }
    }
    Ok(c)
}

/// kustomize's `LoadConfigFromCRDs`: every definition that looks like a kind (it has `kind`,
/// `apiVersion` and `metadata` properties) is walked through its `$ref`s, and each property
/// annotated with `x-kubernetes-object-ref-kind` becomes a name reference at `<path>/name`.
pub fn from_crd_definitions(defs: &Value) -> TransformerConfig {
    let mut c = TransformerConfig::default();
    let Value::Object(map) = defs else { return c };
    let mut names: Vec<&String> = map.keys().collect();
    names.sort();
    for name in names {
        let props = &map[name]["Schema"]["properties"];
        if ["kind", "apiVersion", "metadata"]
            .iter()
            .all(|k| props.get(k).is_some())
        {
            let kind = name.rsplit('.').next().unwrap_or(name);
            let mut path = Vec::new();
            crd_walk(&mut c, map, kind, name, &mut path, 0);
        }
    }
    c
}

fn crd_walk(
    c: &mut TransformerConfig,
    map: &serde_json::Map<String, Value>,
    kind: &str,
    type_name: &str,
    path: &mut Vec<String>,
    depth: usize,
) {
    // Definitions can refer to each other in cycles.
    if depth > 32 {
        return;
    }
    let Some(Value::Object(props)) = map.get(type_name).map(|d| &d["Schema"]["properties"]) else {
        return;
    };
    for (prop, schema) in props {
        if let Some(ref_kind) = schema
            .get("x-kubernetes-object-ref-kind")
            .and_then(Value::as_str)
        {
            let version = text(schema.get("x-kubernetes-object-ref-api-version"));
            let mut p = path.clone();
            p.push(prop.clone());
            p.push("name".into());
            merge_backrefs(
                &mut c.name_reference,
                &[BackRef {
                    gvk: Gvk {
                        group: String::new(),
                        version,
                        kind: ref_kind.into(),
                    },
                    referrers: vec![FieldSpec::new("", "", kind, &p.join("/"), false)],
                }],
            );
        }
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            path.push(prop.clone());
            crd_walk(c, map, kind, r, path, depth + 1);
            path.pop();
        }
    }
}
