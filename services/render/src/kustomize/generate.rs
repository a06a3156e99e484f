//! `configMapGenerator` and `secretGenerator`, and the content hash kustomize appends to
//! generated names (sha256 of a Go-`encoding/json` encoding, first 10 hex digits, remapped).

use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::kustomization::{Generator, GeneratorOptions, Kustomization};
use super::resource::{Behavior, Resource};
use super::{Engine, KResult, ResMap, kerr};

pub fn run(
    e: &Engine<'_>,
    dir: &str,
    file: &str,
    k: &Kustomization,
    ra: &mut ResMap,
) -> KResult<()> {
    if k.config_maps.is_empty() && k.secrets.is_empty() {
        return Ok(());
    }
    let mut index = ra.name_index();
    for g in &k.config_maps {
        let mut r = make(e, dir, g, k.generator_options.as_ref(), false)?;
        set_origin(e, &mut r, file, "ConfigMapGenerator");
        ra.absorb(r, &mut index)
            .map_err(|err| err.context(format!("merging from generator {}", g.name)))?;
    }
    for g in &k.secrets {
        let mut r = make(e, dir, g, k.generator_options.as_ref(), true)?;
        set_origin(e, &mut r, file, "SecretGenerator");
        ra.absorb(r, &mut index)
            .map_err(|err| err.context(format!("merging from generator {}", g.name)))?;
    }
    Ok(())
}

/// kustomize's `AddOriginAnnotation`: generated resources without an origin get the generator's.
pub fn set_origin(e: &Engine<'_>, r: &mut Resource, file: &str, kind: &str) {
    if r.build_origin.is_none()
        && let Some(o) = e.origin_of_plugin(file, kind)
    {
        r.build_origin = Some(o);
        r.touched_annotations = true;
    }
}

fn make(
    e: &Engine<'_>,
    dir: &str,
    g: &Generator,
    global: Option<&GeneratorOptions>,
    secret: bool,
) -> KResult<Resource> {
    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    for env in &g.envs {
        let p = e.resolve_file(dir, env).map_err(|err| {
            err.context(format!(
                "loading KV pairs: env source files: [{}]",
                g.envs.join(" ")
            ))
        })?;
        let text = e.read_text(&p)?;
        for (i, line) in text.lines().enumerate() {
            let line = if i == 0 {
                line.trim_start_matches('\u{feff}')
            } else {
                line
            };
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = match line.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => {
                    return Err(kerr(format!(
                        "{}: line {}: '{line}' has no value; Gantry does not read values from the environment",
                        super::path::display(&p),
                        i + 1
                    )));
                }
            };
            pairs.push((key, value.into_bytes()));
        }
    }
    for lit in &g.literals {
        let Some((k, v)) = lit.split_once('=') else {
            return Err(kerr(format!(
                "invalid literal source {lit}, expected key=value"
            )));
        };
        let v = strip_quotes(v);
        pairs.push((k.to_owned(), v.as_bytes().to_vec()));
    }
    for f in &g.files {
        let (key, rel) = match f.split_once('=') {
            Some((k, p)) => (k.to_owned(), p.to_owned()),
            None => (super::path::base(f).to_owned(), f.clone()),
        };
        let p = e.resolve(dir, &rel)?;
        if e.fs.is_dir(&p) {
            return Err(kerr(format!(
                "{}: is a directory, not a file",
                super::path::display(&p)
            )));
        }
        e.restrict(dir, &p).map_err(|err| {
            err.context(format!(
                "loading KV pairs: file sources: [{}]",
                g.files.join(" ")
            ))
        })?;
        pairs.push((key, e.read(&p)?));
    }
    let mut data = Map::new();
    let mut binary = Map::new();
    for (k, v) in pairs {
        if data.contains_key(&k) || binary.contains_key(&k) {
            return Err(kerr(format!(
                "configmap {} illegally repeats the key `{k}`",
                g.name
            )));
        }
        if secret {
            data.insert(k, Value::String(encode_base64(&v)));
        } else {
            match String::from_utf8(v) {
                Ok(s) => {
                    data.insert(k, Value::String(s));
                }
                Err(err) => {
                    binary.insert(k, Value::String(encode_base64(err.as_bytes())));
                }
            }
        }
    }
    let mut meta = Map::new();
    meta.insert("name".into(), Value::String(g.name.clone()));
    if !g.namespace.is_empty() {
        meta.insert("namespace".into(), Value::String(g.namespace.clone()));
    }
    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut disable_hash = false;
    let mut immutable = false;
    for o in [global, g.options.as_ref()].into_iter().flatten() {
        for (k, v) in &o.labels {
            labels.insert(k.clone(), Value::String(v.clone()));
        }
        for (k, v) in &o.annotations {
            annotations.insert(k.clone(), Value::String(v.clone()));
        }
        // Go's booleans cannot tell `false` from unset: either level can only turn them on
        // (kustomize's MergeGlobalOptionsIntoLocal).
        disable_hash |= o.disable_name_suffix_hash.unwrap_or(false);
        immutable |= o.immutable.unwrap_or(false);
    }
    if !labels.is_empty() {
        meta.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert(
        "kind".into(),
        Value::String(if secret { "Secret" } else { "ConfigMap" }.into()),
    );
    obj.insert("metadata".into(), Value::Object(meta));
    if secret {
        let ty = if g.secret_type.is_empty() {
            "Opaque"
        } else {
            &g.secret_type
        };
        obj.insert("type".into(), Value::String(ty.into()));
    }
    if !data.is_empty() {
        obj.insert("data".into(), Value::Object(data));
    }
    if !binary.is_empty() {
        obj.insert("binaryData".into(), Value::Object(binary));
    }
    if immutable {
        obj.insert("immutable".into(), Value::Bool(true));
    }
    let mut r = Resource::new(
        Value::Object(obj),
        format!(
            "{}: {}Generator {}",
            super::path::display(dir),
            if secret { "secret" } else { "configMap" },
            g.name
        ),
    );
    r.needs_hash = !disable_hash;
    r.behavior = match g.behavior.as_str() {
        "" | "create" => Behavior::Create,
        "merge" => Behavior::Merge,
        "replace" => Behavior::Replace,
        other => return Err(kerr(format!("unknown generator behavior '{other}'"))),
    };
    Ok(r)
}

/// kyaml's `encodeBase64`: base64 broken into 70-character lines, each ending in a newline,
/// when it is longer than one line.
fn encode_base64(data: &[u8]) -> String {
    const LINE: usize = 70;
    let enc = base64::engine::general_purpose::STANDARD.encode(data);
    if enc.len() <= LINE {
        return enc;
    }
    let mut out = String::with_capacity(enc.len() + enc.len() / LINE + 1);
    for chunk in enc.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

fn strip_quotes(v: &str) -> &str {
    let b = v.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

/// `CopyMergeMetaDataFieldsFrom(old)`: labels and annotations merged (new wins), name,
/// namespace and kustomize's own state taken from the old resource.
pub fn copy_merge_meta(new: &mut Resource, old: &Resource) {
    for field in ["labels", "annotations"] {
        let mut merged = Map::new();
        for (k, v) in old
            .string_map(field)
            .into_iter()
            .chain(new.string_map(field))
        {
            merged.insert(k, Value::String(v));
        }
        let meta = new.metadata_mut();
        if merged.is_empty() {
            meta.remove(field);
        } else {
            meta.insert(field.into(), Value::Object(merged));
        }
    }
    new.set_name(&old.name());
    new.set_namespace(&old.namespace());
    // Build annotations come from the old resource (`mergeStringMapsWithBuildAnnotations`),
    // and the hash survives only when the new one asks for it too: merging into a resource
    // that was not generated leaves its name alone.
    new.needs_hash = old.needs_hash && new.needs_hash;
    new.prev_ids = old.prev_ids.clone();
    new.touched_annotations = old.touched_annotations;
    new.prefixes = old.prefixes.clone();
    new.suffixes = old.suffixes.clone();
    // Origin annotations merge as plain annotations (the new generator's origin wins); the
    // transformation history is the old resource's.
    if new.build_origin.is_none() {
        new.build_origin = old.build_origin.clone();
    }
    if new.transformations.is_empty() {
        new.transformations = old.transformations.clone();
    }
}

/// `MergeDataMapFrom` and `MergeBinaryDataMapFrom`: old entries, overridden by new ones.
pub fn merge_data(new: &mut Resource, old: &Resource) {
    for field in ["data", "binaryData"] {
        let mut merged = old
            .obj
            .get(field)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(Value::Object(n)) = new.obj.get(field) {
            for (k, v) in n {
                merged.insert(k.clone(), v.clone());
            }
        }
        if let Some(o) = new.obj.as_object_mut() {
            if merged.is_empty() {
                o.remove(field);
            } else {
                o.insert(field.into(), Value::Object(merged));
            }
        }
    }
}

/// The suffix kustomize appends: ConfigMaps and Secrets hash kind, type, data; others all.
pub fn hash(r: &Resource) -> KResult<String> {
    let get = |f: &str| -> Value {
        match r.obj.get(f) {
            None => Value::String(String::new()),
            Some(Value::Object(m)) => Value::Object(m.clone()),
            Some(Value::String(s)) => Value::String(s.clone()),
            Some(Value::Null) => Value::String(String::new()),
            Some(other) => Value::String(other.to_string()),
        }
    };
    let encoded = match r.kind().as_str() {
        // kyaml looks up "metadata/name" as one field name, which never exists: the name is "".
        "ConfigMap" => {
            let mut m = Map::new();
            m.insert("kind".into(), Value::String("ConfigMap".into()));
            m.insert("name".into(), Value::String(String::new()));
            m.insert("data".into(), get("data"));
            if let Some(Value::Object(b)) = r.obj.get("binaryData") {
                m.insert("binaryData".into(), Value::Object(b.clone()));
            }
            go_json(&Value::Object(m))
        }
        "Secret" => {
            let mut m = Map::new();
            m.insert("kind".into(), Value::String("Secret".into()));
            m.insert("type".into(), get("type"));
            m.insert("name".into(), Value::String(String::new()));
            m.insert("data".into(), get("data"));
            if let Some(Value::Object(b)) = r.obj.get("stringData") {
                m.insert("stringData".into(), Value::Object(b.clone()));
            }
            go_json(&Value::Object(m))
        }
        _ => go_json(&r.obj),
    };
    let digest = Sha256::digest(encoded.as_bytes());
    let hexed = hex::encode(digest);
    Ok(hexed[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect())
}

/// JSON as Go's `encoding/json` writes it: sorted keys, HTML characters and U+2028/9 escaped.
pub fn go_json(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&m[k]));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let s = serde_json::to_string(&sorted(v)).unwrap_or_default();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}
