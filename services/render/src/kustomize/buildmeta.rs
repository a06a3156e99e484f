//! `buildMetadata`: kustomize's `config.kubernetes.io/origin` and
//! `alpha.config.kubernetes.io/transformations` annotations, recorded on resources while they
//! are built and written out at the end when the top kustomization asks for them.

use serde_json::{Map, Value};

use super::resource::Resource;

pub const ORIGIN_KEY: &str = "config.kubernetes.io/origin";
pub const TRANSFORMATIONS_KEY: &str = "alpha.config.kubernetes.io/transformations";

/// Where a resource came from, or which plugin touched it (kustomize's `resource.Origin`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub path: String,
    pub configured_in: String,
    pub by_api_version: String,
    pub by_kind: String,
    pub by_name: String,
    pub by_namespace: String,
}

impl Origin {
    pub fn file(path: String) -> Self {
        Origin {
            path,
            ..Default::default()
        }
    }

    pub fn builtin(configured_in: String, kind: &str) -> Self {
        Origin {
            configured_in,
            by_api_version: "builtin".into(),
            by_kind: kind.into(),
            ..Default::default()
        }
    }

    /// The fields in `resource.Origin`'s struct order, empty ones omitted.
    fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.path.is_empty() {
            out.push(format!("path: {}", scalar(&self.path)));
        }
        if !self.configured_in.is_empty() {
            out.push(format!("configuredIn: {}", scalar(&self.configured_in)));
        }
        let by = [
            ("apiVersion", &self.by_api_version),
            ("kind", &self.by_kind),
            ("name", &self.by_name),
            ("namespace", &self.by_namespace),
        ];
        if by.iter().any(|(_, v)| !v.is_empty()) {
            out.push("configuredBy:".into());
            for (k, v) in by {
                if !v.is_empty() {
                    out.push(format!("  {k}: {}", scalar(v)));
                }
            }
        }
        out
    }

    pub fn to_yaml(&self) -> String {
        self.lines().iter().map(|l| format!("{l}\n")).collect()
    }
}

/// A list of origins, as the transformations annotation holds them.
pub fn list_yaml(list: &[Origin]) -> String {
    let mut out = String::new();
    for o in list {
        for (i, l) in o.lines().iter().enumerate() {
            out.push_str(if i == 0 { "- " } else { "  " });
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

fn scalar(s: &str) -> String {
    // A document holding just a plain scalar may end with an open-ended `...` marker.
    let doc = crate::yaml::to_yaml_document(&Value::String(s.to_owned()));
    let doc = doc.trim_end_matches('\n');
    doc.strip_suffix("\n...").unwrap_or(doc).to_owned()
}

/// What the top kustomization's `buildMetadata` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Origins and transformations are tracked (any option is set).
    pub track: bool,
    pub origin: bool,
    pub transformations: bool,
}

impl Options {
    pub fn from_list(list: &[String]) -> Self {
        Options {
            track: !list.is_empty(),
            origin: list.iter().any(|s| s == "originAnnotations"),
            transformations: list.iter().any(|s| s == "transformerAnnotations"),
        }
    }
}

/// `target` relative to the directory `base` (both repository-relative and clean), as
/// `filepath.Join` of the references that led there would spell it.
pub fn relative(base: &str, target: &str) -> String {
    let b: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
    let t: Vec<&str> = target.split('/').filter(|s| !s.is_empty()).collect();
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<&str> = vec![".."; b.len() - common];
    parts.extend(&t[common..]);
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// Writes the requested annotations on a finished resource.
pub fn write(r: &mut Resource, opts: Options) {
    let mut add: Vec<(&str, String)> = Vec::new();
    if opts.origin
        && let Some(o) = &r.build_origin
    {
        add.push((ORIGIN_KEY, o.to_yaml()));
    }
    if opts.transformations && !r.transformations.is_empty() {
        add.push((TRANSFORMATIONS_KEY, list_yaml(&r.transformations)));
    }
    if add.is_empty() {
        return;
    }
    let meta = r.metadata_mut();
    let ann = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if !ann.is_object() {
        *ann = Value::Object(Map::new());
    }
    if let Value::Object(m) = ann {
        for (k, v) in add {
            m.insert(k.into(), Value::String(v));
        }
    }
}
