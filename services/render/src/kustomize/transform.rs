//! The built-in transformers, run in kustomize's order for one kustomization, and the final
//! steps of a build (hash suffixes, build-annotation clean-up).

use serde_json::{Map, Value};

use super::fieldspec::{self, CreateKind, FieldSpec, walk};
use super::kustomization::{Image, Kustomization};
use super::resource::{Gvk, Resource};
use super::{Engine, KResult, ResMap, generate, kerr, patch, replace};

pub fn run(
    e: &Engine<'_>,
    dir: &str,
    file: &str,
    k: &Kustomization,
    ra: &mut ResMap,
) -> KResult<()> {
    let ctx = |err: super::KError| err.context(super::path::display(file));
    let record = |ra: &mut ResMap, kind: &str| e.record_transformer(ra, file, kind);
    if !k.patches_sm.is_empty() {
        patch::strategic_merge_entries(e, dir, &k.patches_sm, ra).map_err(ctx)?;
        record(ra, "PatchStrategicMergeTransformer");
    }
    for p in &k.patches {
        patch::patch_entry(e, dir, p, ra).map_err(ctx)?;
        record(ra, "PatchTransformer");
    }
    if !k.namespace.is_empty() {
        namespace(ra, &k.namespace)?;
        record(ra, "NamespaceTransformer");
    }
    if !k.name_prefix.is_empty() {
        prefix_suffix(ra, &k.name_prefix, true)?;
        record(ra, "PrefixTransformer");
    }
    if !k.name_suffix.is_empty() {
        prefix_suffix(ra, &k.name_suffix, false)?;
        record(ra, "SuffixTransformer");
    }
    let cfg = ra.config.clone();
    let with = |mut base: Vec<FieldSpec>, extra: &[FieldSpec]| {
        base.extend(extra.iter().cloned());
        base
    };
    for l in &k.labels {
        let mut specs = l.fields.clone();
        if l.include_selectors {
            specs.extend(with(fieldspec::common_labels(), &cfg.common_labels));
        } else {
            specs.push(FieldSpec::new("", "", "", "metadata/labels", true));
            if l.include_templates {
                specs.extend(with(fieldspec::template_labels(), &cfg.template_labels));
            }
        }
        if l.include_volume_claim_templates {
            specs.push(FieldSpec::new(
                "apps",
                "",
                "StatefulSet",
                "spec/volumeClaimTemplates[]/metadata/labels",
                true,
            ));
        }
        specs.extend(cfg.labels.iter().cloned());
        set_entries(ra, &l.pairs, &specs)?;
        record(ra, "LabelTransformer");
    }
    if !k.common_labels.is_empty() || !k.labels.is_empty() {
        set_entries(
            ra,
            &k.common_labels,
            &with(fieldspec::common_labels(), &cfg.common_labels),
        )?;
        record(ra, "LabelTransformer");
    }
    if !k.common_annotations.is_empty() {
        set_entries(
            ra,
            &k.common_annotations,
            &with(fieldspec::common_annotations(), &cfg.common_annotations),
        )?;
        record(ra, "AnnotationsTransformer");
    }
    for p in &k.patches_json {
        patch::json6902_entry(e, dir, p, ra).map_err(ctx)?;
        record(ra, "PatchJson6902Transformer");
    }
    for (name, count) in &k.replicas {
        replicas(
            ra,
            name,
            *count,
            &with(fieldspec::replicas(), &cfg.replicas),
        )?;
        record(ra, "ReplicaCountTransformer");
    }
    for img in &k.images {
        images(ra, img, &cfg.images)?;
        record(ra, "ImageTagTransformer");
    }
    if !k.replacements.is_empty() {
        replace::run(e, dir, &k.replacements, ra).map_err(ctx)?;
        record(ra, "ReplacementTransformer");
    }
    Ok(())
}

pub(super) fn namespace(ra: &mut ResMap, ns: &str) -> KResult<()> {
    for r in &mut ra.list {
        if r.is_empty_object() {
            continue;
        }
        r.store_previous_id();
        let gvk = r.gvk();
        if !gvk.is_cluster_scoped() {
            r.set_namespace(ns);
        }
        // kustomize's namespace field specs: a v1 Namespace takes the new namespace as its
        // name, and an APIService's service gets it (created when absent).
        if gvk.kind == "Namespace" && r.str_at(&["apiVersion"]) == "v1" {
            r.set_name(ns);
        }
        if (gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding")
            && let Some(Value::Array(subjects)) = r.obj.get_mut("subjects")
        {
            for s in subjects {
                let Some(m) = s.as_object_mut() else { continue };
                let is_default_sa = m.get("name").and_then(Value::as_str) == Some("default")
                    && m.get("kind")
                        .and_then(Value::as_str)
                        .is_none_or(|k| k == "ServiceAccount");
                if is_default_sa {
                    m.insert("namespace".into(), Value::String(ns.into()));
                }
            }
        }
        for spec in [
            FieldSpec::new(
                "apiregistration.k8s.io",
                "",
                "APIService",
                "spec/service/namespace",
                true,
            ),
            FieldSpec::new(
                "apiextensions.k8s.io",
                "",
                "CustomResourceDefinition",
                "spec/conversion/webhook/clientConfig/service/namespace",
                false,
            ),
        ] {
            if gvk.is_selected_by(&spec.gvk) {
                let create = if spec.create {
                    CreateKind::Scalar
                } else {
                    CreateKind::None
                };
                walk(&mut r.obj, &spec.path, create, &mut |v| {
                    *v = Value::String(ns.into());
                    Ok(())
                })?;
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for r in &ra.list {
        let mut id = r.cur_id();
        if id.namespace == "default" {
            id.namespace.clear();
        }
        if !seen.insert(id.clone()) {
            return Err(kerr(format!(
                "namespace transformation produces ID conflict: {id}"
            )));
        }
    }
    Ok(())
}

fn skip_prefix(gvk: &Gvk) -> bool {
    gvk.kind == "CustomResourceDefinition"
        || gvk.kind == "Namespace"
        || (gvk.group == "apiregistration.k8s.io" && gvk.kind == "APIService")
}

fn prefix_suffix(ra: &mut ResMap, affix: &str, prefix: bool) -> KResult<()> {
    prefix_suffix_where(ra, affix, prefix, &|_| true)
}

/// Adds a prefix or suffix to the names of the resources whose kind `select` accepts.
pub(super) fn prefix_suffix_where(
    ra: &mut ResMap,
    affix: &str,
    prefix: bool,
    select: &dyn Fn(&Gvk) -> bool,
) -> KResult<()> {
    if affix.is_empty() {
        return Ok(());
    }
    for r in &mut ra.list {
        if skip_prefix(&r.org_id().gvk) || skip_prefix(&r.gvk()) || !select(&r.gvk()) {
            continue;
        }
        if prefix {
            r.prefixes.push(affix.to_owned());
        } else {
            r.suffixes.push(affix.to_owned());
        }
        r.store_previous_id();
        let name = r.name();
        let new = if prefix {
            format!("{affix}{name}")
        } else {
            format!("{name}{affix}")
        };
        r.set_name(&new);
    }
    Ok(())
}

/// Sets `key: value` in the maps at each matching field spec (labels and annotations).
pub(super) fn set_entries(
    ra: &mut ResMap,
    pairs: &[(String, String)],
    specs: &[FieldSpec],
) -> KResult<()> {
    // kustomize's LabelTransformer and AnnotationsTransformer do nothing without entries (no
    // empty maps are created).
    if pairs.is_empty() {
        return Ok(());
    }
    for r in &mut ra.list {
        let gvk = r.gvk();
        for spec in specs {
            if !gvk.is_selected_by(&spec.gvk) {
                continue;
            }
            let create = if spec.create {
                CreateKind::Map
            } else {
                CreateKind::None
            };
            walk(&mut r.obj, &spec.path, create, &mut |v| {
                if v.is_null() {
                    *v = Value::Object(Map::new());
                }
                let Some(m) = v.as_object_mut() else {
                    return Err(kerr("expected a mapping for labels or annotations".into()));
                };
                for (k, val) in pairs {
                    m.insert(k.clone(), Value::String(val.clone()));
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

pub(super) fn replicas(
    ra: &mut ResMap,
    name: &str,
    count: i64,
    specs: &[FieldSpec],
) -> KResult<()> {
    let matches = ra.matching_named(name, |id| id.name == name);
    for i in matches {
        let r = &mut ra.list[i];
        let gvk = r.gvk();
        for spec in specs {
            if gvk.is_selected_by(&spec.gvk) {
                walk(&mut r.obj, &spec.path, CreateKind::Scalar, &mut |v| {
                    *v = Value::Number(count.into());
                    Ok(())
                })?;
            }
        }
    }
    Ok(())
}

/// Splits an image reference into name, tag and digest, as kustomize's `image.Split`.
pub fn split_image(image: &str) -> (String, String, String) {
    let slash = image.find('/').filter(|&i| i > 0).unwrap_or(0);
    let search = &image[slash..];
    let id = search.find('@').map(|i| i + slash);
    let ic = search.find(':').map(|i| i + slash);
    match (ic, id) {
        (None, None) => (image.to_owned(), String::new(), String::new()),
        (ic, Some(id)) if ic.is_none_or(|c| id < c) => (
            image[..id].to_owned(),
            String::new(),
            image[id + 1..].to_owned(),
        ),
        (Some(ic), Some(id)) => (
            image[..ic].to_owned(),
            image[ic + 1..id].to_owned(),
            image[id + 1..].to_owned(),
        ),
        (Some(ic), None) => (
            image[..ic].to_owned(),
            image[ic + 1..].to_owned(),
            String::new(),
        ),
        (None, Some(_)) => unreachable!("handled above"),
    }
}

pub(super) fn update_image(v: &mut Value, img: &Image) {
    let Value::String(s) = v else { return };
    let (name, mut tag, mut digest) = split_image(s);
    if name != img.name {
        return;
    }
    let mut new = if img.new_name.is_empty() {
        name
    } else {
        img.new_name.clone()
    };
    if !img.new_tag.is_empty() && !img.digest.is_empty() {
        tag = img.new_tag.clone();
        digest = img.digest.clone();
    } else if !img.new_tag.is_empty() {
        tag = img.new_tag.clone();
        digest.clear();
    } else if !img.digest.is_empty() {
        tag.clear();
        digest = img.digest.clone();
    }
    if !tag.is_empty() {
        new.push(':');
        new.push_str(&tag);
    }
    if !digest.is_empty() {
        new.push('@');
        new.push_str(&digest);
    }
    *s = new;
}

/// kustomize's legacy image filter: every `containers`/`initContainers` list anywhere.
fn images_legacy(v: &mut Value, img: &Image) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if (k == "containers" || k == "initContainers")
                    && child.is_array()
                    && let Value::Array(items) = child
                {
                    for c in items.iter_mut() {
                        if let Some(image) = c.get_mut("image") {
                            update_image(image, img);
                        }
                    }
                }
                images_legacy(child, img);
            }
        }
        Value::Array(items) => {
            for i in items {
                images_legacy(i, img);
            }
        }
        _ => {}
    }
}

pub(super) fn images(ra: &mut ResMap, img: &Image, extra: &[FieldSpec]) -> KResult<()> {
    for r in &mut ra.list {
        images_legacy(&mut r.obj, img);
        let gvk = r.gvk();
        for spec in extra {
            if gvk.is_selected_by(&spec.gvk) {
                walk(&mut r.obj, &spec.path, CreateKind::None, &mut |v| {
                    update_image(v, img);
                    Ok(())
                })?;
            }
        }
    }
    Ok(())
}

/// Adds content hashes to the names of generated (and `needs-hash`) resources.
pub fn add_hashes(ra: &mut ResMap) -> KResult<()> {
    for r in &mut ra.list {
        if r.needs_hash {
            let h = generate::hash(r)?;
            r.store_previous_id();
            let name = format!("{}-{}", r.name(), h);
            r.set_name(&name);
        }
    }
    Ok(())
}

/// Removes kustomize's build annotations the way `RemoveBuildAnnotations` does: the
/// annotations go through a string map, and an emptied map disappears.
pub fn finalize(r: &mut Resource) {
    let Some(meta) = r.obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let mut remove = false;
    if let Some(Value::Object(ann)) = meta.get_mut("annotations") {
        ann.remove("kustomize.config.k8s.io/needs-hash");
        ann.remove("kustomize.config.k8s.io/behavior");
        if ann.is_empty() {
            remove = r.touched_annotations;
        } else {
            for v in ann.values_mut() {
                if !v.is_string() {
                    *v = Value::String(super::resource::scalar_text(v));
                }
            }
        }
    }
    if remove {
        meta.remove("annotations");
    }
}

/// Annotations after `SetAnnotations(GetAnnotations())`: every value becomes a string.
pub fn finalize_annotations(r: &mut Resource) {
    if let Some(Value::Object(ann)) = r
        .obj
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    {
        for v in ann.values_mut() {
            if !v.is_string() {
                *v = Value::String(super::resource::scalar_text(v));
            }
        }
    }
}
