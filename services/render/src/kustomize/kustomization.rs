//! The kustomization file: decoded from YAML with Go's case-insensitive field matching, with
//! unsupported fields refused by name.

use serde_json::{Map, Value};

use super::{KResult, kerr};

#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub label_selector: String,
    pub annotation_selector: String,
}

#[derive(Debug, Clone, Default)]
pub struct Patch {
    pub path: Option<String>,
    pub patch: Option<String>,
    pub target: Option<Selector>,
    pub allow_name_change: bool,
    pub allow_kind_change: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Image {
    pub name: String,
    pub new_name: String,
    pub new_tag: String,
    pub digest: String,
}

#[derive(Debug, Clone, Default)]
pub struct GeneratorOptions {
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    pub disable_name_suffix_hash: Option<bool>,
    pub immutable: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct Generator {
    pub name: String,
    pub namespace: String,
    pub behavior: String,
    pub literals: Vec<String>,
    pub files: Vec<String>,
    pub envs: Vec<String>,
    pub options: Option<GeneratorOptions>,
    pub secret_type: String,
}

#[derive(Debug, Clone, Default)]
pub struct LabelSet {
    pub pairs: Vec<(String, String)>,
    pub include_selectors: bool,
    pub include_templates: bool,
    pub include_volume_claim_templates: bool,
    pub fields: Vec<super::fieldspec::FieldSpec>,
}

#[derive(Debug, Clone, Default)]
pub struct SortOptions {
    pub order: String,
    pub order_first: Option<Vec<String>>,
    pub order_last: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct Kustomization {
    pub kind: String,
    pub api_version: String,
    pub resources: Vec<String>,
    pub components: Vec<String>,
    pub namespace: String,
    pub name_prefix: String,
    pub name_suffix: String,
    pub common_labels: Vec<(String, String)>,
    pub labels: Vec<LabelSet>,
    pub common_annotations: Vec<(String, String)>,
    pub images: Vec<Image>,
    pub replicas: Vec<(String, i64)>,
    pub patches: Vec<Patch>,
    pub patches_sm: Vec<String>,
    pub patches_json: Vec<Patch>,
    pub config_maps: Vec<Generator>,
    pub secrets: Vec<Generator>,
    pub generator_options: Option<GeneratorOptions>,
    pub replacements: Vec<Value>,
    pub sort_options: Option<SortOptions>,
    pub build_metadata: Vec<String>,
    pub vars: Vec<super::vars::Var>,
    pub configurations: Vec<String>,
    pub crds: Vec<String>,
    pub generators: Vec<String>,
    pub transformers: Vec<String>,
    /// `openapi`: which schema strategic merge uses (`version` and `path`, as written).
    pub openapi: Option<OpenApi>,
}

/// The `openapi` field, a `map[string]string` in kustomize (keys are case-sensitive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenApi {
    pub version: Option<String>,
    pub path: Option<String>,
}

fn lower_keys(v: &Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(k.to_ascii_lowercase(), v.clone());
            }
            out
        }
        _ => Map::new(),
    }
}

/// The JSON type name Go's `encoding/json` reports.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// kustomize decodes the kustomization (after YAML 1.1 to JSON) into typed Go structs, so a
/// value of the wrong type fails with Go's error, naming the value's JSON path (list indexes and
/// map keys included, as current Go prints it).
fn type_err(v: &Value, path: &str, go_type: &str) -> super::KError {
    kerr(format!(
        "invalid Kustomization: json: cannot unmarshal {} into Go struct field Kustomization.{path} of type {go_type}",
        json_type(v)
    ))
}

fn string(v: Option<&Value>, field: &str) -> KResult<String> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(type_err(other, field, "string")),
    }
}

fn bool_field(v: Option<&Value>, field: &str) -> KResult<bool> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(type_err(other, field, "bool")),
    }
}

fn opt_bool(v: Option<&Value>, field: &str) -> KResult<Option<bool>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(type_err(other, field, "bool")),
    }
}

fn strings(v: Option<&Value>, field: &str) -> KResult<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, x)| string(Some(x), &format!("{field}.{i}")))
            .collect(),
        Some(other) => Err(type_err(other, field, "[]string")),
    }
}

fn string_map(v: Option<&Value>, field: &str) -> KResult<Vec<(String, String)>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| Ok((k.clone(), string(Some(v), &format!("{field}.{k}"))?)))
            .collect(),
        Some(other) => Err(type_err(other, field, "map[string]string")),
    }
}

fn selector(v: Option<&Value>, list: &str) -> KResult<Option<Selector>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let m = lower_keys(v);
    Ok(Some(Selector {
        group: string(m.get("group"), &format!("{list}.target.ResId.Gvk.group"))?,
        version: string(
            m.get("version"),
            &format!("{list}.target.ResId.Gvk.version"),
        )?,
        kind: string(m.get("kind"), &format!("{list}.target.ResId.Gvk.kind"))?,
        name: string(m.get("name"), &format!("{list}.target.ResId.name"))?,
        namespace: string(
            m.get("namespace"),
            &format!("{list}.target.ResId.namespace"),
        )?,
        label_selector: string(
            m.get("labelselector"),
            &format!("{list}.target.labelSelector"),
        )?,
        annotation_selector: string(
            m.get("annotationselector"),
            &format!("{list}.target.annotationSelector"),
        )?,
    }))
}

fn gen_options(v: Option<&Value>, path: &str) -> KResult<Option<GeneratorOptions>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let m = lower_keys(v);
    Ok(Some(GeneratorOptions {
        labels: string_map(m.get("labels"), &format!("{path}.labels"))?,
        annotations: string_map(m.get("annotations"), &format!("{path}.annotations"))?,
        disable_name_suffix_hash: opt_bool(
            m.get("disablenamesuffixhash"),
            &format!("{path}.disableNameSuffixHash"),
        )?,
        immutable: opt_bool(m.get("immutable"), &format!("{path}.immutable"))?,
    }))
}

/// `configMapGenerator` (`ConfigMapArgs`) or `secretGenerator` (`SecretArgs`) entries.
fn generators(v: Option<&Value>, list: &str, args: &str) -> KResult<Vec<Generator>> {
    let mut out = Vec::new();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(out);
    };
    let Value::Array(items) = v else {
        return Err(type_err(v, list, &format!("[]types.{args}")));
    };
    for (idx, item) in items.iter().enumerate() {
        let ga = format!("{list}.{idx}");
        let kv = ga.clone();
        let m = lower_keys(item);
        let mut envs = strings(m.get("envs"), &format!("{kv}.envs"))?;
        let env = string(m.get("env"), &format!("{kv}.env"))?;
        if !env.is_empty() {
            envs.push(env);
        }
        out.push(Generator {
            name: string(m.get("name"), &format!("{ga}.name"))?,
            namespace: string(m.get("namespace"), &format!("{ga}.namespace"))?,
            behavior: string(m.get("behavior"), &format!("{ga}.behavior"))?,
            literals: strings(m.get("literals"), &format!("{kv}.literals"))?,
            files: strings(m.get("files"), &format!("{kv}.files"))?,
            envs,
            options: gen_options(m.get("options"), &format!("{ga}.options"))?,
            secret_type: string(m.get("type"), &format!("{ga}.type"))?,
        });
    }
    Ok(out)
}

/// Features kustomize has that Gantry refuses rather than renders wrongly.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("helmcharts", "helmCharts"),
    ("helmglobals", "helmGlobals"),
    ("helmchartinflationgenerator", "helmChartInflationGenerator"),
    ("validators", "validators (plugins)"),
    ("imagetags", "imageTags"),
];

const KNOWN: &[&str] = &[
    "apiversion",
    "kind",
    "metadata",
    "resources",
    "bases",
    "components",
    "namespace",
    "nameprefix",
    "namesuffix",
    "commonlabels",
    "labels",
    "commonannotations",
    "images",
    "replicas",
    "patches",
    "patchesstrategicmerge",
    "patchesjson6902",
    "configmapgenerator",
    "secretgenerator",
    "generatoroptions",
    "replacements",
    "sortoptions",
    "buildmetadata",
    "vars",
    "configurations",
    "crds",
    "generators",
    "transformers",
    "openapi",
];

impl Kustomization {
    pub fn from_value(v: &Value) -> KResult<Self> {
        if !v.is_object() {
            return Err(kerr("kustomization must be a mapping".into()));
        }
        let m = lower_keys(v);
        for (key, _) in m.iter() {
            if let Some((_, name)) = UNSUPPORTED.iter().find(|(k, _)| k == key) {
                return Err(super::KError::Unsupported(format!(
                    "kustomization field '{name}'"
                )));
            }
            if !KNOWN.contains(&key.as_str()) {
                return Err(kerr(format!(
                    "invalid Kustomization: json: unknown field \"{key}\""
                )));
            }
        }
        let mut k = Kustomization {
            kind: string(m.get("kind"), "kind")?,
            api_version: string(m.get("apiversion"), "apiVersion")?,
            ..Default::default()
        };
        k.resources = strings(m.get("resources"), "resources")?;
        k.resources.extend(strings(m.get("bases"), "bases")?);
        k.components = strings(m.get("components"), "components")?;
        k.vars = super::vars::parse(m.get("vars"))?;
        k.configurations = strings(m.get("configurations"), "configurations")?;
        k.crds = strings(m.get("crds"), "crds")?;
        if let Some(o) = m.get("openapi").filter(|v| !v.is_null()) {
            let Value::Object(o) = o else {
                return Err(kerr("field 'openapi' must be a map of strings".into()));
            };
            let mut api = OpenApi::default();
            for (key, v) in o {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return Err(kerr(format!("field 'openapi.{key}' must be a string"))),
                };
                match key.as_str() {
                    "version" => api.version = Some(v),
                    "path" => api.path = Some(v),
                    // kustomize ignores other keys of the map.
                    _ => {}
                }
            }
            k.openapi = Some(api);
        }
        k.generators = strings(m.get("generators"), "generators")?;
        k.transformers = strings(m.get("transformers"), "transformers")?;
        k.build_metadata = strings(m.get("buildmetadata"), "buildMetadata")?;
        for opt in &k.build_metadata {
            match opt.as_str() {
                "originAnnotations" | "transformerAnnotations" => {}
                // Its value names the kustomize release, which Gantry is not.
                "managedByLabel" => {
                    return Err(super::KError::Unsupported(
                        "buildMetadata option 'managedByLabel'".into(),
                    ));
                }
                other => {
                    return Err(kerr(format!("invalid buildMetadata option: {other}")));
                }
            }
        }
        k.namespace = string(m.get("namespace"), "namespace")?;
        k.name_prefix = string(m.get("nameprefix"), "namePrefix")?;
        k.name_suffix = string(m.get("namesuffix"), "nameSuffix")?;
        k.common_labels = string_map(m.get("commonlabels"), "commonLabels")?;
        k.common_annotations = string_map(m.get("commonannotations"), "commonAnnotations")?;
        if let Some(Value::Array(items)) = m.get("labels") {
            for (idx, item) in items.iter().enumerate() {
                let l = lower_keys(item);
                let mut fields = Vec::new();
                if let Some(Value::Array(fs)) = l.get("fields") {
                    for (fidx, f) in fs.iter().enumerate() {
                        let f = lower_keys(f);
                        let mut spec = super::fieldspec::FieldSpec::new(
                            &string(f.get("group"), &format!("labels.{idx}.fields.{fidx}.group"))?,
                            &string(
                                f.get("version"),
                                &format!("labels.{idx}.fields.{fidx}.version"),
                            )?,
                            &string(f.get("kind"), &format!("labels.{idx}.fields.{fidx}.kind"))?,
                            &string(f.get("path"), &format!("labels.{idx}.fields.{fidx}.path"))?,
                            false,
                        );
                        spec.create = bool_field(
                            f.get("create"),
                            &format!("labels.{idx}.fields.{fidx}.create"),
                        )?;
                        fields.push(spec);
                    }
                }
                k.labels.push(LabelSet {
                    pairs: string_map(l.get("pairs"), &format!("labels.{idx}.pairs"))?,
                    include_selectors: bool_field(
                        l.get("includeselectors"),
                        &format!("labels.{idx}.includeSelectors"),
                    )?,
                    include_templates: bool_field(
                        l.get("includetemplates"),
                        &format!("labels.{idx}.includeTemplates"),
                    )?,
                    include_volume_claim_templates: bool_field(
                        l.get("includevolumeclaimtemplates"),
                        &format!("labels.{idx}.includeVolumeClaimTemplates"),
                    )?,
                    fields,
                });
            }
        }
        if let Some(Value::Array(items)) = m.get("images") {
            for (idx, item) in items.iter().enumerate() {
                let i = lower_keys(item);
                k.images.push(Image {
                    name: string(i.get("name"), &format!("images.{idx}.name"))?,
                    new_name: string(i.get("newname"), &format!("images.{idx}.newName"))?,
                    new_tag: string(i.get("newtag"), &format!("images.{idx}.newTag"))?,
                    digest: string(i.get("digest"), &format!("images.{idx}.digest"))?,
                });
            }
        }
        if let Some(Value::Array(items)) = m.get("replicas") {
            for (idx, item) in items.iter().enumerate() {
                let r = lower_keys(item);
                let count = match r.get("count") {
                    None | Some(Value::Null) => 0,
                    Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
                        kerr(format!(
                            "invalid Kustomization: json: cannot unmarshal number {n} into Go struct field Kustomization.replicas.{idx}.count of type int64"
                        ))
                    })?,
                    Some(other) => return Err(type_err(other, &format!("replicas.{idx}.count"), "int64")),
                };
                k.replicas.push((
                    string(r.get("name"), &format!("replicas.{idx}.name"))?,
                    count,
                ));
            }
        }
        if let Some(Value::Array(items)) = m.get("patches") {
            for (idx, item) in items.iter().enumerate() {
                let p = lower_keys(item);
                let opts = lower_keys(p.get("options").unwrap_or(&Value::Null));
                k.patches.push(Patch {
                    path: Some(string(p.get("path"), &format!("patches.{idx}.path"))?)
                        .filter(|s| !s.is_empty()),
                    patch: Some(string(p.get("patch"), &format!("patches.{idx}.patch"))?)
                        .filter(|s| !s.is_empty()),
                    target: selector(p.get("target"), &format!("patches.{idx}"))?,
                    allow_name_change: bool_field(
                        opts.get("allownamechange"),
                        &format!("patches.{idx}.options.allowNameChange"),
                    )?,
                    allow_kind_change: bool_field(
                        opts.get("allowkindchange"),
                        &format!("patches.{idx}.options.allowKindChange"),
                    )?,
                });
            }
        }
        k.patches_sm = strings(m.get("patchesstrategicmerge"), "patchesStrategicMerge")?;
        if let Some(Value::Array(items)) = m.get("patchesjson6902") {
            for (idx, item) in items.iter().enumerate() {
                let p = lower_keys(item);
                k.patches_json.push(Patch {
                    path: Some(string(
                        p.get("path"),
                        &format!("patchesJson6902.{idx}.path"),
                    )?)
                    .filter(|s| !s.is_empty()),
                    patch: Some(string(
                        p.get("patch"),
                        &format!("patchesJson6902.{idx}.patch"),
                    )?)
                    .filter(|s| !s.is_empty()),
                    target: selector(p.get("target"), &format!("patchesJson6902.{idx}"))?,
                    allow_name_change: true,
                    allow_kind_change: true,
                });
            }
        }
        k.config_maps = generators(
            m.get("configmapgenerator"),
            "configMapGenerator",
            "ConfigMapArgs",
        )?;
        k.secrets = generators(m.get("secretgenerator"), "secretGenerator", "SecretArgs")?;
        k.generator_options = gen_options(m.get("generatoroptions"), "generatorOptions")?;
        if let Some(Value::Array(items)) = m.get("replacements") {
            k.replacements = items.clone();
        }
        if let Some(so) = m.get("sortoptions").filter(|v| !v.is_null()) {
            let s = lower_keys(so);
            let legacy = lower_keys(s.get("legacysortoptions").unwrap_or(&Value::Null));
            let order = string(s.get("order"), "sortOptions.order")?;
            if order != "legacy" && order != "fifo" {
                return Err(kerr(
                    "the field 'sortOptions.order' must be one of [fifo, legacy]".into(),
                ));
            }
            let legacy_set = s.get("legacysortoptions").is_some_and(|v| !v.is_null());
            if order == "fifo" && legacy_set {
                return Err(kerr("the field 'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo', not 'legacy'".into()));
            }
            k.sort_options = Some(SortOptions {
                order,
                order_first: legacy
                    .get("orderfirst")
                    .map(|v| strings(Some(v), "sortOptions.legacySortOptions.orderFirst"))
                    .transpose()?,
                order_last: legacy
                    .get("orderlast")
                    .map(|v| strings(Some(v), "sortOptions.legacySortOptions.orderLast"))
                    .transpose()?,
            });
        }
        Ok(k)
    }
}
