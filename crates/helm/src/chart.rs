//! Loading a chart as Helm v4's loader does: `.helmignore` (with Helm's own rule semantics),
//! `Chart.yaml` (v2, and v1 with `requirements.yaml`), `values.yaml` (every document, merged),
//! `values.schema.json`, templates, other files, and subcharts in `charts/` as directories or
//! `.tgz` archives.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::rc::Rc;
use std::sync::Arc;

use gantry_gotmpl::parse::SharedText;
use gantry_gotmpl::value::{LIST_ANY, MAP_STR};
use gantry_gotmpl::{Entries, List, Map, Value};

use crate::HelmError;
use crate::yaml::{YVal, YamlLimits, into_value, key_string, parse_documents, to_value};

/// Largest file Helm reads from a chart.
pub const MAX_FILE_BYTES: u64 = 5 * 1024 * 1024;
/// Largest decompressed archive.
pub const MAX_ARCHIVE_BYTES: u64 = 100 * 1024 * 1024;

/// A template's text as a chart holds it.
#[derive(Debug, Clone)]
pub enum Text {
    /// UTF-8: the parser's trees share it as it is, and so does a helper that parses ahead.
    Utf8(SharedText),
    /// Not UTF-8: refused once the render parses it, kept as bytes until then.
    Bytes(Arc<[u8]>),
}

impl Text {
    /// A file's bytes as text without a copy, when they are UTF-8.
    pub fn of(data: Vec<u8>) -> Text {
        match String::from_utf8(data) {
            Ok(s) => Text::Utf8(Arc::new(s)),
            Err(e) => Text::Bytes(Arc::from(e.into_bytes())),
        }
    }

    /// The bytes of the text.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Text::Utf8(s) => s.as_bytes(),
            Text::Bytes(b) => b,
        }
    }
}

/// A chart file as the loader takes it: its bytes, or the text of a template a helper has
/// taken from the request to parse ([`Prepared::templates`]), which the chart then shares.
enum Data {
    Bytes(Vec<u8>),
    Shared(SharedText),
}

impl Data {
    fn as_bytes(&self) -> &[u8] {
        match self {
            Data::Bytes(b) => b,
            Data::Shared(s) => s.as_bytes(),
        }
    }

    fn into_bytes(self) -> Vec<u8> {
        match self {
            Data::Bytes(b) => b,
            Data::Shared(s) => {
                Arc::try_unwrap(s).map_or_else(|s| s.as_bytes().to_vec(), String::into_bytes)
            }
        }
    }
}

/// A maintainer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Maintainer {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// URL.
    pub url: String,
}

/// A dependency declared in `Chart.yaml` (or `requirements.yaml`).
#[derive(Debug, Clone, Default)]
pub struct Dependency {
    /// Name (the alias once dependencies are processed).
    pub name: String,
    /// Version constraint.
    pub version: String,
    /// Repository.
    pub repository: String,
    /// Condition paths, comma separated.
    pub condition: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Whether it is enabled.
    pub enabled: bool,
    /// `import-values` entries, as decoded (strings or maps), then rewritten to child/parent.
    pub import_values: Vec<Value>,
    /// Alias.
    pub alias: String,
}

/// `Chart.yaml`.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// name
    pub name: String,
    /// home
    pub home: String,
    /// sources
    pub sources: Vec<String>,
    /// version
    pub version: String,
    /// description
    pub description: String,
    /// keywords
    pub keywords: Vec<String>,
    /// maintainers (`None` entries are nulls, which fail validation)
    pub maintainers: Vec<Option<Maintainer>>,
    /// icon
    pub icon: String,
    /// apiVersion
    pub api_version: String,
    /// condition
    pub condition: String,
    /// tags
    pub tags: String,
    /// appVersion
    pub app_version: String,
    /// deprecated
    pub deprecated: bool,
    /// annotations (`None` when absent)
    pub annotations: Option<BTreeMap<String, String>>,
    /// kubeVersion
    pub kube_version: String,
    /// dependencies (`None` entries are nulls)
    pub dependencies: Option<Vec<Option<Dependency>>>,
    /// type
    pub chart_type: String,
}

/// A loaded chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// `Chart.yaml`.
    pub metadata: Metadata,
    /// `values.yaml`.
    pub values: Map,
    /// `values.schema.json`.
    pub schema: Option<Vec<u8>>,
    /// Templates by path (`templates/x.yaml`), in load order. Shared across threads: a
    /// helper parsing them ahead holds the same text ([`Prepared::templates`]).
    pub templates: Vec<(String, Text)>,
    /// Every other file, in load order.
    pub files: Vec<(String, Rc<[u8]>)>,
    /// Subcharts.
    pub dependencies: Vec<Chart>,
    /// What Helm's `*chart.Chart` this is once dependencies are processed (`None` before): a
    /// chart in two places of the tree may be one Helm object, named by its parent link.
    pub(crate) ident: Option<Rc<crate::values::Ident>>,
}

fn validation(msg: impl Into<String>) -> HelmError {
    HelmError::Chart(format!("validation: {}", msg.into()))
}

// --- JSON-into-struct decoding, as sigs.k8s.io/yaml does it ---

/// `y`'s fields as encoding/json meets them decoding into a struct: the last of equal keys
/// wins, in key order. Borrowed: a manifest's head is read from every rendered document, and
/// copying each document's values to read two of them was a sixth of a large chart's
/// allocations.
pub(crate) fn fields<'y>(y: &'y YVal, ctx: &str) -> Result<Vec<(Cow<'y, str>, &'y YVal)>, String> {
    match y {
        YVal::Map(entries) => {
            let mut out: Vec<(Cow<'y, str>, &'y YVal)> = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let k = match k {
                    YVal::Str(s) => Cow::Borrowed(s.as_str()),
                    k => Cow::Owned(key_string(k, v)?),
                };
                if let Some(slot) = out.iter_mut().find(|(x, _)| *x == k) {
                    slot.1 = v;
                } else {
                    out.push((k, v));
                }
            }
            // encoding/json reads the object in key order.
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        }
        YVal::Null => Ok(Vec::new()),
        other => Err(format!(
            "json: cannot unmarshal {} into Go value of type {ctx}",
            crate::yaml::json_kind(other)
        )),
    }
}

/// Whether encoding/json matches `key` to the field `field` (ASCII, as every field here is):
/// equal, or equal but for case.
pub(crate) fn name_matches(key: &str, field: &str) -> bool {
    if key.is_ascii() {
        // Lowering both allocated twice for each key and field compared.
        return key.eq_ignore_ascii_case(field);
    }
    key == field || key.to_lowercase() == field.to_lowercase()
}

pub(crate) fn type_err(y: &YVal, strct: &str, field: &str, ty: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go struct field {strct}.{field} of type {ty}",
        crate::yaml::json_kind(y)
    )
}

pub(crate) fn scalar_string(y: &YVal) -> Option<String> {
    Some(match y {
        YVal::Str(s) => s.clone(),
        YVal::Int(i) => i.to_string(),
        YVal::Uint(u) => u.to_string(),
        YVal::Float(f) => {
            let x = *f as f32;
            let back: f64 = format!("{x:e}").parse().unwrap_or(*f);
            gantry_gotmpl::strconv::format_float(back, 'g', -1)
        }
        YVal::Bool(b) => b.to_string(),
        _ => return None,
    })
}

pub(crate) fn set_string(
    dst: &mut String,
    y: &YVal,
    strct: &str,
    field: &str,
) -> Result<(), String> {
    if matches!(y, YVal::Null) {
        return Ok(());
    }
    *dst = scalar_string(y).ok_or_else(|| type_err(y, strct, field, "string"))?;
    Ok(())
}

fn set_bool(dst: &mut bool, y: &YVal, strct: &str, field: &str) -> Result<(), String> {
    match y {
        YVal::Null => Ok(()),
        YVal::Bool(b) => {
            *dst = *b;
            Ok(())
        }
        other => Err(type_err(other, strct, field, "bool")),
    }
}

fn string_list(y: &YVal, strct: &str, field: &str) -> Result<Vec<String>, String> {
    match y {
        YVal::Null => Ok(Vec::new()),
        YVal::Seq(items) => items
            .iter()
            .map(|i| match i {
                YVal::Null => Ok(String::new()),
                other => {
                    scalar_string(other).ok_or_else(|| type_err(other, strct, field, "string"))
                }
            })
            .collect(),
        other => Err(type_err(other, strct, field, "[]string")),
    }
}

fn decode_dependency(y: &YVal) -> Result<Option<Dependency>, String> {
    if matches!(y, YVal::Null) {
        return Ok(None);
    }
    let mut d = Dependency::default();
    for (k, v) in fields(y, "chart.Dependency")? {
        let s = "Metadata.dependencies";
        if name_matches(&k, "name") {
            set_string(&mut d.name, v, s, "name")?;
        } else if name_matches(&k, "version") {
            set_string(&mut d.version, v, s, "version")?;
        } else if name_matches(&k, "repository") {
            set_string(&mut d.repository, v, s, "repository")?;
        } else if name_matches(&k, "condition") {
            set_string(&mut d.condition, v, s, "condition")?;
        } else if name_matches(&k, "tags") {
            d.tags = string_list(v, s, "tags")?;
        } else if name_matches(&k, "enabled") {
            set_bool(&mut d.enabled, v, s, "enabled")?;
        } else if name_matches(&k, "import-values") {
            d.import_values = match &v {
                YVal::Null => Vec::new(),
                YVal::Seq(items) => items
                    .iter()
                    .map(|i| to_value(i).map_err(|e| e.msg))
                    .collect::<Result<_, _>>()?,
                other => return Err(type_err(other, s, "import-values", "[]interface {}")),
            };
        } else if name_matches(&k, "alias") {
            set_string(&mut d.alias, v, s, "alias")?;
        }
    }
    Ok(Some(d))
}

fn decode_maintainer(y: &YVal) -> Result<Option<Maintainer>, String> {
    if matches!(y, YVal::Null) {
        return Ok(None);
    }
    let mut m = Maintainer::default();
    for (k, v) in fields(y, "chart.Maintainer")? {
        let s = "Metadata.maintainers";
        if name_matches(&k, "name") {
            set_string(&mut m.name, v, s, "name")?;
        } else if name_matches(&k, "email") {
            set_string(&mut m.email, v, s, "email")?;
        } else if name_matches(&k, "url") {
            set_string(&mut m.url, v, s, "url")?;
        }
    }
    Ok(Some(m))
}

/// Decodes `Chart.yaml` (or `requirements.yaml`) into `md`, as `yaml.Unmarshal(data, md)`.
pub fn decode_metadata(text: &str, md: &mut Metadata) -> Result<(), String> {
    let docs = parse_documents(text, YamlLimits::default())
        .map_err(|e| format!("error converting YAML to JSON: {}", e.msg))?;
    let doc = docs.into_iter().next().unwrap_or(YVal::Null);
    let fs = fields(&doc, "chart.Metadata")
        .map_err(|e| format!("error unmarshaling JSON: while decoding JSON: {e}"))?;
    let wrap = |e: String| format!("error unmarshaling JSON: while decoding JSON: {e}");
    let s = "Metadata";
    for (k, v) in fs {
        let r: Result<(), String> = (|| {
            if name_matches(&k, "name") {
                set_string(&mut md.name, v, s, "name")
            } else if name_matches(&k, "home") {
                set_string(&mut md.home, v, s, "home")
            } else if name_matches(&k, "sources") {
                md.sources = string_list(v, s, "sources")?;
                Ok(())
            } else if name_matches(&k, "version") {
                set_string(&mut md.version, v, s, "version")
            } else if name_matches(&k, "description") {
                set_string(&mut md.description, v, s, "description")
            } else if name_matches(&k, "keywords") {
                md.keywords = string_list(v, s, "keywords")?;
                Ok(())
            } else if name_matches(&k, "maintainers") {
                md.maintainers = match &v {
                    YVal::Null => Vec::new(),
                    YVal::Seq(items) => items
                        .iter()
                        .map(decode_maintainer)
                        .collect::<Result<_, _>>()?,
                    other => return Err(type_err(other, s, "maintainers", "[]*chart.Maintainer")),
                };
                Ok(())
            } else if name_matches(&k, "icon") {
                set_string(&mut md.icon, v, s, "icon")
            } else if name_matches(&k, "apiVersion") {
                set_string(&mut md.api_version, v, s, "apiVersion")
            } else if name_matches(&k, "condition") {
                set_string(&mut md.condition, v, s, "condition")
            } else if name_matches(&k, "tags") {
                set_string(&mut md.tags, v, s, "tags")
            } else if name_matches(&k, "appVersion") {
                set_string(&mut md.app_version, v, s, "appVersion")
            } else if name_matches(&k, "deprecated") {
                set_bool(&mut md.deprecated, v, s, "deprecated")
            } else if name_matches(&k, "annotations") {
                md.annotations = match &v {
                    YVal::Null => None,
                    YVal::Map(entries) => {
                        let mut out = BTreeMap::new();
                        for (ak, av) in entries {
                            let ak = key_string(ak, av)?;
                            let av = match av {
                                YVal::Null => String::new(),
                                other => scalar_string(other)
                                    .ok_or_else(|| type_err(other, s, "annotations", "string"))?,
                            };
                            out.insert(ak, av);
                        }
                        Some(out)
                    }
                    other => return Err(type_err(other, s, "annotations", "map[string]string")),
                };
                Ok(())
            } else if name_matches(&k, "kubeVersion") {
                set_string(&mut md.kube_version, v, s, "kubeVersion")
            } else if name_matches(&k, "dependencies") {
                md.dependencies = match &v {
                    YVal::Null => None,
                    YVal::Seq(items) => Some(
                        items
                            .iter()
                            .map(decode_dependency)
                            .collect::<Result<_, _>>()?,
                    ),
                    other => return Err(type_err(other, s, "dependencies", "[]*chart.Dependency")),
                };
                Ok(())
            } else if name_matches(&k, "type") {
                set_string(&mut md.chart_type, v, s, "type")
            } else {
                Ok(())
            }
        })();
        r.map_err(wrap)?;
    }
    Ok(())
}

/// Go's `unicode.IsPrint`-and-space sanitising of metadata strings.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if gantry_gotmpl::gofmt::is_print(c) {
                Some(c)
            } else {
                None
            }
        })
        .collect()
}

fn alias_ok(a: &str) -> bool {
    !a.is_empty()
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Metadata {
    /// `Metadata.Validate`, sanitising strings as Helm does.
    pub fn validate(&mut self) -> Result<(), HelmError> {
        for f in [
            &mut self.name,
            &mut self.description,
            &mut self.home,
            &mut self.icon,
            &mut self.condition,
            &mut self.tags,
            &mut self.app_version,
            &mut self.kube_version,
        ] {
            *f = sanitize(f);
        }
        for s in self.sources.iter_mut().chain(self.keywords.iter_mut()) {
            *s = sanitize(s);
        }
        if self.api_version.is_empty() {
            return Err(validation("chart.metadata.apiVersion is required"));
        }
        if self.name.is_empty() {
            return Err(validation("chart.metadata.name is required"));
        }
        if self.name == "." || self.name == ".." {
            return Err(validation(format!(
                "chart.metadata.name {} is not allowed",
                gantry_gotmpl::gofmt::quote(&self.name)
            )));
        }
        if self.name.contains('/') {
            return Err(validation(format!(
                "chart.metadata.name {} is invalid",
                gantry_gotmpl::gofmt::quote(&self.name)
            )));
        }
        if self.version.is_empty() {
            return Err(validation("chart.metadata.version is required"));
        }
        if crate::funcs::Version::parse(&self.version).is_err() {
            return Err(validation(format!(
                "chart.metadata.version {} is invalid",
                gantry_gotmpl::gofmt::quote(&self.version)
            )));
        }
        if !matches!(self.chart_type.as_str(), "" | "application" | "library") {
            return Err(validation(
                "chart.metadata.type must be application or library",
            ));
        }
        for m in self.maintainers.iter_mut() {
            let Some(m) = m else {
                return Err(validation(
                    "maintainers must not contain empty or null nodes",
                ));
            };
            m.name = sanitize(&m.name);
            m.email = sanitize(&m.email);
            m.url = sanitize(&m.url);
        }
        let mut seen: Vec<String> = Vec::new();
        for d in self.dependencies.iter_mut().flatten() {
            let Some(d) = d else {
                return Err(validation(
                    "dependencies must not contain empty or null nodes",
                ));
            };
            d.name = sanitize(&d.name);
            d.version = sanitize(&d.version);
            d.repository = sanitize(&d.repository);
            d.condition = sanitize(&d.condition);
            for t in d.tags.iter_mut() {
                *t = sanitize(t);
            }
            if !d.alias.is_empty() && !alias_ok(&d.alias) {
                return Err(validation(format!(
                    "dependency {} has disallowed characters in the alias",
                    gantry_gotmpl::gofmt::quote(&d.name)
                )));
            }
            let key = if d.alias.is_empty() {
                d.name.clone()
            } else {
                d.alias.clone()
            };
            if seen.contains(&key) {
                return Err(validation(format!(
                    "more than one dependency with name or alias {}",
                    gantry_gotmpl::gofmt::quote(&key)
                )));
            }
            seen.push(key);
        }
        Ok(())
    }

    /// Whether this is a library chart.
    pub fn is_library(&self) -> bool {
        self.chart_type.eq_ignore_ascii_case("library")
    }

    /// The declared dependencies.
    pub fn deps(&self) -> impl Iterator<Item = &Dependency> {
        self.dependencies.iter().flatten().flatten()
    }

    /// `.Chart` as Helm v4 builds it (`structToMap` of the metadata).
    pub fn as_map(&self) -> Map {
        let strs = |v: &[String]| {
            Value::List(List::typed(
                v.iter().map(|s| Value::str(s)).collect(),
                &LIST_ANY,
            ))
        };
        let m = Map::new();
        m.insert("Name", Value::str(&self.name));
        m.insert("Home", Value::str(&self.home));
        m.insert("Sources", strs(&self.sources));
        m.insert("Version", Value::str(&self.version));
        m.insert("Description", Value::str(&self.description));
        m.insert("Keywords", strs(&self.keywords));
        m.insert(
            "Maintainers",
            Value::List(List::new(
                self.maintainers
                    .iter()
                    .map(|mt| match mt {
                        None => Value::Nil,
                        Some(mt) => {
                            let x = Map::new();
                            x.insert("Name", Value::str(&mt.name));
                            x.insert("Email", Value::str(&mt.email));
                            x.insert("URL", Value::str(&mt.url));
                            Value::Map(x)
                        }
                    })
                    .collect(),
            )),
        );
        m.insert("Icon", Value::str(&self.icon));
        m.insert("APIVersion", Value::str(&self.api_version));
        m.insert("Condition", Value::str(&self.condition));
        m.insert("Tags", Value::str(&self.tags));
        m.insert("AppVersion", Value::str(&self.app_version));
        m.insert("Deprecated", Value::Bool(self.deprecated));
        m.insert(
            "Annotations",
            Value::Map(match &self.annotations {
                None => Map {
                    nil: true,
                    ..Map::typed(Entries::new(), &MAP_STR)
                },
                Some(a) => Map::typed(
                    a.iter().map(|(k, v)| (k.clone(), Value::str(v))).collect(),
                    &MAP_STR,
                ),
            }),
        );
        m.insert("KubeVersion", Value::str(&self.kube_version));
        m.insert(
            "Dependencies",
            Value::List(List::new(
                self.deps()
                    .map(|d| {
                        let x = Map::new();
                        x.insert("Name", Value::str(&d.name));
                        x.insert("Version", Value::str(&d.version));
                        x.insert("Repository", Value::str(&d.repository));
                        x.insert("Condition", Value::str(&d.condition));
                        x.insert("Tags", strs(&d.tags));
                        x.insert("Enabled", Value::Bool(d.enabled));
                        x.insert(
                            "ImportValues",
                            Value::List(List::new(d.import_values.clone())),
                        );
                        x.insert("Alias", Value::str(&d.alias));
                        Value::Map(x)
                    })
                    .collect(),
            )),
        );
        m.insert("Type", Value::str(&self.chart_type));
        m
    }
}

// --- .helmignore ---

#[derive(Debug)]
struct Rule {
    pattern: String,
    negate: bool,
    must_dir: bool,
    kind: RuleKind,
    shape: Shape,
}

/// How a rule's pattern matches. Most of a `.helmignore`'s file rules are a name (`.DS_Store`)
/// or `*` and a suffix (`*.swp`), which need no general match: that was 14,000 instructions a
/// file for prometheus's 167 files, on the render's way to its first template.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// No `*`, `?`, `[` or `\`: the name itself.
    Literal,
    /// `*` then a literal: a name ending with it, with no `/` before it.
    StarSuffix,
    /// Anything else, matched as `filepath.Match` does.
    General,
}

impl Shape {
    fn of(pattern: &str) -> Shape {
        let meta = |c: char| matches!(c, '*' | '?' | '[' | '\\');
        match pattern.strip_prefix('*') {
            _ if !pattern.contains(meta) => Shape::Literal,
            Some(rest) if !rest.contains(meta) => Shape::StarSuffix,
            _ => Shape::General,
        }
    }
}

impl Rule {
    fn matches(&self, name: &str) -> bool {
        match self.shape {
            Shape::Literal => self.pattern == name,
            Shape::StarSuffix => {
                let suffix = &self.pattern[1..];
                // `*` stops at a separator: the part before the suffix has none.
                name.len() >= suffix.len()
                    && name.ends_with(suffix)
                    && !name.as_bytes()[..name.len() - suffix.len()].contains(&b'/')
            }
            Shape::General => crate::pathmatch::matches(&self.pattern, name),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum RuleKind {
    Rooted,
    Path,
    Base,
}

/// Helm's `.helmignore` rules.
#[derive(Debug, Default)]
pub struct Ignore(Vec<Rule>);

impl Ignore {
    /// Parses `.helmignore`.
    pub fn parse(text: &str) -> Result<Ignore, HelmError> {
        let mut r = Ignore::default();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for line in text.lines() {
            r.add(line)?;
        }
        Ok(r)
    }

    /// Adds Helm's default rule (`templates/.?*`).
    pub fn add_defaults(&mut self) {
        let _ = self.add("templates/.?*");
    }

    fn add(&mut self, rule: &str) -> Result<(), HelmError> {
        let rule = rule.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err(HelmError::Chart(
                "double-star (**) syntax is not supported".into(),
            ));
        }
        if crate::pathmatch::validate(rule).is_err() {
            return Err(HelmError::Chart("syntax error in pattern".into()));
        }
        let mut rule = rule;
        let negate = rule.starts_with('!');
        if negate {
            rule = &rule[1..];
        }
        let must_dir = rule.ends_with('/');
        if must_dir {
            rule = rule.trim_end_matches('/');
        }
        let (kind, pattern) = if let Some(r) = rule.strip_prefix('/') {
            (RuleKind::Rooted, r)
        } else if rule.contains('/') {
            (RuleKind::Path, rule)
        } else {
            (RuleKind::Base, rule)
        };
        self.0.push(Rule {
            pattern: pattern.to_owned(),
            negate,
            must_dir,
            kind,
            shape: Shape::of(pattern),
        });
        Ok(())
    }

    /// Whether `path` (a directory when `is_dir`) is ignored.
    pub fn ignored(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        let base = path.rsplit('/').next().unwrap_or(path);
        for r in &self.0 {
            // A folder's rule (`ci/`) decides a file without matching it: most rules of a
            // `.helmignore` are folders', and most paths a chart's walk asks about are files.
            if r.must_dir && !is_dir {
                if r.negate {
                    return true;
                }
                continue;
            }
            let name = match r.kind {
                RuleKind::Base => base,
                _ => path,
            };
            let m = r.matches(name);
            if r.negate {
                if !m {
                    return true;
                }
                continue;
            }
            if m {
                return true;
            }
        }
        false
    }
}

/// Orders paths as Helm's directory walk visits them (sorted names at each level).
fn walk_order(a: &str, b: &str) -> std::cmp::Ordering {
    // The order of `a.split('/').cmp(b.split('/'))`, without splitting at each comparison:
    // bytes compared with `/` below every other byte, and the end below `/`.
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let same = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let at = |s: &[u8]| {
        s.get(same)
            .map(|&c| if c == b'/' { 0 } else { u16::from(c) + 1 })
    };
    at(a).cmp(&at(b))
}

/// Loads a chart directory given as its files (paths relative to the chart, `/`-separated).
/// The files move into the chart: a copy of every file was a tenth of a whole `gantry render`
/// of a chart with large `.Files` (dashboards, CRDs).
pub fn load_dir(files: BTreeMap<String, Vec<u8>>) -> Result<Chart, HelmError> {
    load_dir_with(files, &Prepared::NONE)
}

/// Finds a values file's documents parsed ahead, by its text.
pub type ValuesLookup<'a> = &'a dyn Fn(&str) -> Option<ValuesDocs>;

/// The templates a helper has taken from a chart's files, by path in the chart, with their
/// text (UTF-8, without its byte-order mark).
pub type SharedTemplates<'a> = &'a dyn Fn() -> Vec<(String, SharedText)>;

/// What a helper has prepared of a chart before it is loaded ([`crate::ahead`]).
pub struct Prepared<'a> {
    /// A values file's documents, parsed.
    pub values: ValuesLookup<'a>,
    /// The templates the helper that parses them took from the files given to the loader
    /// (which no longer hold them): the chart keeps their text as the helper shares it rather
    /// than a copy of its own (a chart's CRD templates can be megabytes).
    pub templates: SharedTemplates<'a>,
}

impl std::fmt::Debug for Prepared<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared").finish_non_exhaustive()
    }
}

impl Prepared<'_> {
    /// Nothing prepared.
    pub const NONE: Prepared<'static> = Prepared {
        values: &|_| None,
        templates: &Vec::new,
    };
}

/// [`load_dir`], taking what a helper has `prepared` where it has it.
pub fn load_dir_with(
    files: BTreeMap<String, Vec<u8>>,
    prepared: &Prepared<'_>,
) -> Result<Chart, HelmError> {
    let mut rules = match files.get(".helmignore") {
        Some(b) => Ignore::parse(&String::from_utf8_lossy(b))?,
        None => Ignore::default(),
    };
    rules.add_defaults();
    let shared = (prepared.templates)();
    let mut entries: Vec<(String, Data)> = Vec::with_capacity(files.len() + shared.len());
    entries.extend(files.into_iter().map(|(p, d)| (p, Data::Bytes(d))));
    entries.extend(shared.into_iter().map(|(p, t)| (p, Data::Shared(t))));
    entries.sort_by(|a, b| walk_order(&a.0, &b.0));
    let mut out = Vec::with_capacity(entries.len());
    // Each folder is checked once, not once for every file below it.
    let mut dirs: HashMap<String, bool> = HashMap::new();
    'files: for (p, data) in entries {
        // A directory the rules ignore hides everything under it.
        for (i, _) in p.match_indices('/') {
            let dir = &p[..i];
            let ignored = match dirs.get(dir) {
                Some(&v) => v,
                None => {
                    let v = rules.ignored(dir, true);
                    dirs.insert(dir.to_owned(), v);
                    v
                }
            };
            if ignored {
                continue 'files;
            }
        }
        if rules.ignored(&p, false) {
            continue;
        }
        if data.as_bytes().len() as u64 > MAX_FILE_BYTES {
            return Err(HelmError::Chart(format!(
                "chart file {} is larger than the maximum file size {MAX_FILE_BYTES}",
                gantry_gotmpl::gofmt::quote(p.rsplit('/').next().unwrap_or(&p))
            )));
        }
        // A shared text has lost its mark already.
        let data = match data {
            Data::Bytes(mut b) => {
                let bom = b.len() - strip_bom(&b).len();
                b.drain(..bom);
                Data::Bytes(b)
            }
            shared => shared,
        };
        out.push((p, data));
    }
    load_files_with(out, prepared)
}

/// A chart file without its UTF-8 byte-order mark, which Helm's loader drops from every file.
pub(crate) fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\xef\xbb\xbf").unwrap_or(b)
}

fn text(data: &[u8], name: &str) -> Result<String, HelmError> {
    text_of(data.to_vec(), name)
}

/// A file the chart no longer needs as bytes, as text without a copy (a values file can be
/// hundreds of kilobytes).
fn text_of(data: Vec<u8>, name: &str) -> Result<String, HelmError> {
    String::from_utf8(data).map_err(|_| {
        HelmError::Unsupported(format!(
            "{name} is not valid UTF-8 (not supported by Gantry)"
        ))
    })
}

/// `loader.LoadValues`: every YAML document of a values file, merged. Helm reads the chart's
/// `values.yaml` and each `--values` file with it. Documents are split as k8s.io's
/// `YAMLReader` splits them, at lines starting with `---` (only spaces or a comment may follow),
/// and each is parsed on its own, so an error names its line within its document and is
/// wrapped as `cannot unmarshal yaml document: ...`.
///
/// Each document the fast reader takes is built straight into values; the others are parsed
/// and converted as [`values_from`] converts what a helper thread parsed, in the same order, so
/// the first failure is the same.
pub fn load_values(data: &str) -> Result<Map, HelmError> {
    let data = &*line_ended(data);
    let mut values = Map::new();
    let (docs, bad) = split_values(data);
    for doc in docs {
        merge_into(&mut values, built_maps(&data[doc])?);
    }
    match bad {
        Some(after) => Err(bad_separator(&after)),
        None => Ok(values),
    }
}

/// A values file split into its documents, each parsed, in the order [`load_values`] reads
/// them: what a helper thread prepares while the render reads the chart ([`crate::ahead`]).
/// It holds nothing reference-counted, so it crosses threads.
#[derive(Debug)]
pub struct ValuesDocs {
    steps: Vec<DocStep>,
    // The length of the text they were made of: [`values_from`] must be given that text.
    len: usize,
}

#[derive(Debug)]
enum DocStep {
    Parsed(Result<Vec<YVal>, crate::yaml::YamlError>),
    // A document (where it is in the file's text) that the render builds straight into values:
    // checked, not parsed, as values are not `Send` and building nodes to convert them cost
    // more than the render's building them.
    Direct(std::ops::Range<usize>),
    // A separator line followed by something other than a comment: where reading stops.
    BadSeparator(String),
}

/// Splits and parses a values file as [`load_values`] does, without making values of it.
pub fn parse_values(data: &str) -> ValuesDocs {
    let data = &*line_ended(data);
    let (docs, bad) = split_values(data);
    let mut steps: Vec<DocStep> = docs
        .into_iter()
        .map(|doc| {
            if crate::yaml::values_map_would(&data[doc.clone()], YamlLimits::default()) {
                DocStep::Direct(doc)
            } else {
                DocStep::Parsed(parse_documents(&data[doc], YamlLimits::default()))
            }
        })
        .collect();
    steps.extend(bad.map(DocStep::BadSeparator));
    ValuesDocs {
        steps,
        len: data.len(),
    }
}

/// The text as k8s.io's `YAMLReader` hands it to the parser: its line reader gives every line
/// back with a `\n`, the last one too, so a block scalar that ends a file without a line break
/// keeps one (`k: |` then `  x` reads as `"x\n"`, as `fromYaml` of the same text does not).
fn line_ended(data: &str) -> Cow<'_, str> {
    if data.is_empty() || data.ends_with('\n') {
        Cow::Borrowed(data)
    } else {
        Cow::Owned(format!("{data}\n"))
    }
}

/// Where a values file's documents are in it, and what follows the separator line where
/// reading stops (one followed by something other than a comment). The reader returns a
/// document when it meets the separator after it, having checked that separator first; each
/// document is parsed before anything after it is read.
fn split_values(data: &str) -> (Vec<std::ops::Range<usize>>, Option<String>) {
    let mut docs = Vec::new();
    let mut start = 0;
    for (line, end) in separator_lines(data) {
        let after = data[line + 3..end].trim();
        if !after.is_empty() && !after.starts_with('#') {
            return (docs, Some(after.to_owned()));
        }
        if line > start {
            docs.push(start..line);
        }
        start = end;
    }
    if data.len() > start {
        docs.push(start..data.len());
    }
    (docs, None)
}

/// Where each line that starts with `---` begins and ends (after its `\n`), found by `memchr`
/// rather than by splitting a values file into all its lines (3,500 searches for prometheus's).
fn separator_lines(data: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let bytes = data.as_bytes();
    let first = data.starts_with("---").then_some(0);
    first
        .into_iter()
        .chain(memchr::memmem::find_iter(bytes, b"\n---").map(|i| i + 1))
        .map(move |line| {
            let end = memchr::memchr(b'\n', &bytes[line..]).map_or(bytes.len(), |i| line + i + 1);
            (line, end)
        })
}

/// The values of a file's documents, merged; the first failure in reading order is the error.
/// `text` is the file [`parse_values`] made `docs` of (given another, it is loaded afresh).
pub fn values_from(docs: ValuesDocs, text: &str) -> Result<Map, HelmError> {
    let text = &*line_ended(text);
    if docs.len != text.len() {
        return load_values(text);
    }
    let mut values = Map::new();
    for step in docs.steps {
        match step {
            DocStep::Parsed(parsed) => merge_into(&mut values, doc_maps(parsed)?),
            DocStep::Direct(r) => match text.get(r) {
                Some(doc) => merge_into(&mut values, built_maps(doc)?),
                None => return load_values(text),
            },
            DocStep::BadSeparator(after) => return Err(bad_separator(&after)),
        }
    }
    Ok(values)
}

fn merge_into(values: &mut Map, maps: Vec<Map>) {
    for m in maps {
        *values = merge_maps(values, &m);
    }
}

/// The maps of one values document, built straight from its text where the fast reader
/// takes it, else parsed and converted (the slow path's words for every failure).
fn built_maps(doc: &str) -> Result<Vec<Map>, HelmError> {
    match crate::yaml::values_map(doc, YamlLimits::default()) {
        Some(m) => Ok(vec![m]),
        None => doc_maps(parse_documents(doc, YamlLimits::default())),
    }
}

fn bad_separator(after: &str) -> HelmError {
    HelmError::Values(format!(
        "error reading yaml document: invalid Yaml document separator: {after}"
    ))
}

/// The maps of one values document's parse, to be merged in turn.
fn doc_maps(parsed: Result<Vec<YVal>, crate::yaml::YamlError>) -> Result<Vec<Map>, HelmError> {
    let failed = |msg: String| HelmError::Values(format!("cannot unmarshal yaml document: {msg}"));
    let docs = parsed.map_err(|e| failed(format!("error converting YAML to JSON: {}", e.msg)))?;
    let mut maps = Vec::with_capacity(docs.len());
    for d in docs {
        maps.push(match d {
            YVal::Null => Map::new(),
            y @ YVal::Map(_) => match into_value(y).map_err(|e| failed(e.msg))? {
                Value::Map(m) => m,
                _ => Map::new(),
            },
            other => {
                return Err(failed(format!(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    crate::yaml::json_kind(&other)
                )));
            }
        });
    }
    Ok(maps)
}

/// `loader.MergeMaps`.
pub fn merge_maps(a: &Map, b: &Map) -> Map {
    let out = Map::from_map(a.data.borrow().clone());
    for (k, v) in b.data.borrow().iter() {
        if let Value::Map(vm) = v
            && std::ptr::eq(vm.ty, &gantry_gotmpl::value::MAP_ANY)
            && let Some(Value::Map(bv)) = out.get(k)
            && std::ptr::eq(bv.ty, &gantry_gotmpl::value::MAP_ANY)
        {
            out.insert(k.clone(), Value::Map(merge_maps(&bv, vm)));
            continue;
        }
        out.insert(k.clone(), v.clone());
    }
    out
}

/// `loader.LoadFiles`.
pub fn load_files(files: Vec<(String, Vec<u8>)>) -> Result<Chart, HelmError> {
    let files = files.into_iter().map(|(p, d)| (p, Data::Bytes(d)));
    load_files_with(files.collect(), &Prepared::NONE)
}

fn load_files_with(
    files: Vec<(String, Data)>,
    prepared: &Prepared<'_>,
) -> Result<Chart, HelmError> {
    let mut md: Option<Metadata> = None;
    for (name, data) in &files {
        if name == "Chart.yaml" {
            let mut m = Metadata::default();
            decode_metadata(&text(data.as_bytes(), "Chart.yaml")?, &mut m)
                .map_err(|e| HelmError::Chart(format!("cannot load Chart.yaml: {e}")))?;
            if m.api_version.is_empty() {
                m.api_version = "v1".into();
            }
            md = Some(m);
        }
    }
    let mut c = Chart {
        metadata: Metadata::default(),
        values: Map::new(),
        schema: None,
        templates: Vec::new(),
        files: Vec::new(),
        dependencies: Vec::new(),
        ident: None,
    };
    let mut subcharts: BTreeMap<String, Vec<(String, Data)>> = BTreeMap::new();
    let mut has_md = md.is_some();
    let mut md = md.unwrap_or_default();
    for (name, data) in files {
        let data = match data {
            Data::Shared(t) if name.starts_with("templates/") => {
                c.templates.push((name, Text::Utf8(t)));
                continue;
            }
            // A subchart's template: kept as it is for the subchart's own load.
            Data::Shared(t) if name.starts_with("charts/") && !name.ends_with(".prov") => {
                let (cname, rest) = in_subchart(&name);
                subcharts
                    .entry(cname)
                    .or_default()
                    .push((rest, Data::Shared(t)));
                continue;
            }
            d => d.into_bytes(),
        };
        match name.as_str() {
            "Chart.yaml" | "Chart.lock" => {}
            "values.yaml" => {
                let text = text_of(data, "values.yaml")?;
                c.values = match (prepared.values)(&text) {
                    Some(docs) => values_from(docs, &text),
                    None => load_values(&text),
                }
                .map_err(|e| HelmError::Values(format!("cannot load values.yaml: {e}")))?;
            }
            "values.schema.json" => c.schema = Some(data),
            "requirements.yaml" => {
                has_md = true;
                decode_metadata(&text(&data, "requirements.yaml")?, &mut md)
                    .map_err(|e| HelmError::Chart(format!("cannot load requirements.yaml: {e}")))?;
                if md.api_version == "v1" {
                    c.files.push((name, Rc::from(data)));
                }
            }
            "requirements.lock" => {
                has_md = true;
                if md.api_version == "v1" {
                    c.files.push((name, Rc::from(data)));
                }
            }
            n if n.starts_with("templates/") => c.templates.push((name, Text::of(data))),
            n if n.starts_with("charts/") => {
                if n.ends_with(".prov") {
                    c.files.push((name, Rc::from(data)));
                    continue;
                }
                let (cname, rest) = in_subchart(n);
                subcharts
                    .entry(cname)
                    .or_default()
                    .push((rest, Data::Bytes(data)));
            }
            _ => c.files.push((name, Rc::from(data))),
        }
    }
    if !has_md {
        return Err(HelmError::Chart("Chart.yaml file is missing".into()));
    }
    md.validate()?;
    if md.api_version == "v3" {
        return Err(HelmError::Unsupported(
            "charts with apiVersion v3 are not supported by Gantry".into(),
        ));
    }
    c.metadata = md;
    for (n, files) in subcharts {
        if n.starts_with('_') || n.starts_with('.') {
            continue;
        }
        let sc = if n.ends_with(".tgz") {
            let (fname, data) = &files[0];
            if *fname != n {
                return Err(HelmError::Chart(format!(
                    "error unpacking subchart tar in {}: expected {n}, got {fname}",
                    c.metadata.name
                )));
            }
            load_archive(data.as_bytes())
        } else {
            let buff: Vec<(String, Data)> = files
                .into_iter()
                .filter_map(|(name, data)| {
                    name.split_once('/')
                        .map(|(_, rest)| (rest.to_owned(), data))
                })
                .collect();
            load_files_with(buff, prepared)
        };
        let sc = sc.map_err(|e| {
            HelmError::Chart(format!(
                "error unpacking subchart {n} in {}: {e}",
                c.metadata.name
            ))
        })?;
        c.dependencies.push(sc);
    }
    Ok(c)
}

/// The subchart a path under `charts/` belongs to (its folder or archive name), and the path
/// in it.
fn in_subchart(path: &str) -> (String, String) {
    let rest = &path["charts/".len()..];
    (
        rest.split('/').next().unwrap_or("").to_owned(),
        rest.to_owned(),
    )
}

/// Loads a `.tgz` chart archive.
pub fn load_archive(data: &[u8]) -> Result<Chart, HelmError> {
    load_files(archive_files(data)?)
}

/// The files of a `.tgz` chart archive by path relative to its top folder, with Helm's checks
/// (no links, nothing outside the folder, sizes bounded).
pub fn archive_files(data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, HelmError> {
    let gz = flate2::read::GzDecoder::new(data);
    let mut ar = tar::Archive::new(gz.take(MAX_ARCHIVE_BYTES + 1));
    let mut files = Vec::new();
    let mut total: u64 = 0;
    let entries = ar
        .entries()
        .map_err(|e| HelmError::Chart(format!("reading chart archive: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| HelmError::Chart(format!("reading chart archive: {e}")))?;
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        if !kind.is_file() {
            return Err(HelmError::Chart(
                "chart archives may hold only regular files (Gantry refuses links)".into(),
            ));
        }
        let raw = entry
            .path()
            .map_err(|e| HelmError::Chart(format!("reading chart archive: {e}")))?
            .to_string_lossy()
            .replace('\\', "/");
        let parts: Vec<&str> = raw.split('/').collect();
        let n = parts[1..].join("/");
        if n.starts_with('/') {
            return Err(HelmError::Chart(
                "chart illegally contains absolute paths".into(),
            ));
        }
        let n = crate::funcs::path_clean_pub(&n);
        if n == "." {
            return Err(HelmError::Chart(format!(
                "chart illegally contains content outside the base directory: {}",
                gantry_gotmpl::gofmt::quote(&raw)
            )));
        }
        if n.starts_with("..") {
            return Err(HelmError::Chart(
                "chart illegally references parent directory".into(),
            ));
        }
        if parts[0] == "Chart.yaml" {
            return Err(HelmError::Chart("chart yaml not in base directory".into()));
        }
        let size = entry.header().size().unwrap_or(0);
        if size > MAX_FILE_BYTES {
            return Err(HelmError::Chart(format!(
                "decompressed chart file {} is larger than the maximum file size {MAX_FILE_BYTES}",
                gantry_gotmpl::gofmt::quote(&raw)
            )));
        }
        total += size;
        if total > MAX_ARCHIVE_BYTES {
            return Err(HelmError::Chart(format!(
                "decompressed chart is larger than the maximum size {MAX_ARCHIVE_BYTES}"
            )));
        }
        let mut buf = Vec::with_capacity(size as usize);
        entry
            .read_to_end(&mut buf)
            .map_err(|e| HelmError::Chart(format!("reading chart archive: {e}")))?;
        let bom = buf.len() - strip_bom(&buf).len();
        buf.drain(..bom);
        files.push((n, buf));
    }
    if files.is_empty() {
        return Err(HelmError::Chart("no files in chart archive".into()));
    }
    Ok(files)
}

impl Chart {
    /// The path Helm names the chart's templates and CRDs by: its `ChartFullPath`, which follows
    /// the parent links dependency processing left (`values::Ident`) and may point elsewhere
    /// than the tree; `in_tree` before dependencies are processed.
    pub(crate) fn full_path_or<'a>(&self, in_tree: &'a str) -> Cow<'a, str> {
        match &self.ident {
            Some(ident) => Cow::Owned(ident.full_path()),
            None => Cow::Borrowed(in_tree),
        }
    }

    /// The chart's files with a `crds/` prefix and a manifest extension, then its
    /// dependencies', with their full paths (Helm's `ChartFullPath` once dependencies are
    /// processed: `full_path` is then not read).
    pub fn crd_objects(&self, full_path: &str) -> Vec<(String, Rc<[u8]>)> {
        let mut out = Vec::new();
        let full_path = self.full_path_or(full_path);
        let full_path = full_path.as_ref();
        for (name, data) in &self.files {
            let lower = name.to_ascii_lowercase();
            let ext = lower
                .rsplit('/')
                .next()
                .and_then(|b| b.rfind('.').map(|i| &b[i..]))
                .unwrap_or("");
            if name.starts_with("crds/") && matches!(ext, ".yaml" | ".yml" | ".json") {
                out.push((format!("{full_path}/{name}"), data.clone()));
            }
        }
        for d in &self.dependencies {
            out.extend(d.crd_objects(&format!("{full_path}/charts/{}", d.metadata.name)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values built straight from the text are those parsed and converted, and a values file
    /// that fails, fails with the same words, whichever document fails first and why.
    #[test]
    fn values_built_directly_are_those_parsed_and_converted() {
        let show = |r: Result<Map, HelmError>| match r {
            Ok(m) => format!("{:?}", Value::Map(m)),
            Err(e) => format!("error: {e}"),
        };
        let mut texts: Vec<String> = [
            "a: 1\nb: [x, {y: 2.5}]\nc: {d: \"e\", f: null}\n",
            "# only a comment\n",
            "",
            "a: 1\n---\nb: 2\n---\na: 3\n",
            "a: 1\n--- x\nb: 2\n",
            "a: .inf\n",
            "a: 1\nb: [1, .nan]\n",
            "- a\n",
            "just text\n",
            "1: one\n\"1\": two\ntrue: t\n1.5: f\n",
            "~: nil key\n",
            "0xFFFFFFFFFFFFFFFF: big\n",
            "a: &x {b: 1}\nc: *x\n",
            "a: {b: 1, b: 2}\na: [z]\n",
            "a: 1\n---\n- not a map\n---\nb: {c: .inf}\n",
            "a: |\n  block\n  text\nb: >-\n  folded\n  more\n",
            "a:\tb\n",
            "%YAML 1.1\n---\na: 1\n",
            "a: 1\n...\nb: 2\n",
        ]
        .map(String::from)
        .to_vec();
        if let Ok(root) = gantry_tests::shared_fixture("helm/cases", "the Helm cases") {
            for case in std::fs::read_dir(root).into_iter().flatten().flatten() {
                for f in ["values.yaml", "chart/values.yaml"] {
                    if let Ok(t) = std::fs::read_to_string(case.path().join(f)) {
                        texts.push(t);
                    }
                }
            }
        }
        // Every document parsed into nodes and converted.
        let slow = |t: &str| -> Result<Map, HelmError> {
            let (docs, bad) = split_values(t);
            let mut values = Map::new();
            for doc in docs {
                merge_into(
                    &mut values,
                    doc_maps(parse_documents(&t[doc], YamlLimits::default()))?,
                );
            }
            match bad {
                Some(after) => Err(bad_separator(&after)),
                None => Ok(values),
            }
        };
        for t in &texts {
            let want = show(slow(t));
            assert_eq!(show(load_values(t)), want, "{t:?}");
            assert_eq!(show(values_from(parse_values(t), t)), want, "{t:?}");
        }
        assert!(texts.len() > 100, "the cases' values files were read");
        // Most real values files take the direct path: a drop here means a common shape lost it.
        let direct = texts
            .iter()
            .filter(|t| crate::yaml::values_map(t, YamlLimits::default()).is_some())
            .count();
        assert!(
            direct * 10 >= texts.len() * 7,
            "{direct} of {}",
            texts.len()
        );
    }

    /// Every pattern and name of up to four characters over `.helmignore`'s usual characters:
    /// a rule's shortcut (a name, or `*` and a suffix) matches as `filepath.Match` does.
    #[test]
    fn rule_shapes_match_as_the_pattern_does() {
        let patterns = gantry_tests::up_to(&["a", ".", "/", "*", "?", "é"], 4);
        let names = gantry_tests::up_to(&["a", "b", ".", "/", "é"], 4);
        let mut shortcuts = 0;
        for p in &patterns {
            if crate::pathmatch::validate(p).is_err() {
                continue;
            }
            let rule = Rule {
                pattern: p.clone(),
                negate: false,
                must_dir: false,
                kind: RuleKind::Path,
                shape: Shape::of(p),
            };
            shortcuts += usize::from(rule.shape != Shape::General);
            for n in &names {
                assert_eq!(
                    rule.matches(n),
                    crate::pathmatch::matches(p, n),
                    "pattern {p:?} against {n:?}"
                );
            }
        }
        assert!(shortcuts > 400, "{shortcuts} patterns took a shortcut");
    }

    /// Every string of up to seven characters over the separator's: the lines `memchr` finds
    /// are the lines a split into lines finds starting with `---`.
    #[test]
    fn separator_lines_are_the_lines_starting_with_three_dashes() {
        for data in gantry_tests::up_to(&["-", "\n", "a", "#", "\r"], 7) {
            let mut by_lines = Vec::new();
            let mut pos = 0;
            for line in data.split_inclusive('\n') {
                if line.starts_with("---") {
                    by_lines.push((pos, pos + line.len()));
                }
                pos += line.len();
            }
            let found: Vec<_> = separator_lines(&data).collect();
            assert_eq!(found, by_lines, "{data:?}");
        }
    }

    /// Every path of up to three characters over an alphabet of `/`, bytes below and above it
    /// and a multi-byte character: the walk orders each pair as their `/`-separated parts do.
    #[test]
    fn the_walk_orders_paths_by_their_parts() {
        let paths = gantry_tests::up_to(&["a", "/", "-", ".", "0", "\0", "é", "~"], 3);
        for a in &paths {
            for b in &paths {
                assert_eq!(
                    walk_order(a, b),
                    a.split('/').cmp(b.split('/')),
                    "{a:?} against {b:?}"
                );
            }
        }
    }

    /// Helm's `ignore.Rules.Ignore`: a folder's rule (`ci/`) never matches a file, and a
    /// negated folder's rule (`!keep/`) ignores every file, matched or not.
    #[test]
    fn folder_rules_decide_files_as_helm_does() {
        let r = Ignore::parse("ci/\n*.bak\n").expect("parses");
        assert!(r.ignored("ci", true));
        assert!(!r.ignored("ci", false), "a file named like a folder's rule");
        assert!(r.ignored("templates/x.bak", false));
        assert!(!r.ignored("templates/x.yaml", false));
        let negated = Ignore::parse("!keep/\n").expect("parses");
        assert!(
            negated.ignored("keep/a.yaml", false),
            "Helm ignores the file"
        );
        assert!(!negated.ignored("keep", true));
        assert!(negated.ignored("other", true));
        let file_negated = Ignore::parse("!a.yaml\n").expect("parses");
        assert!(!file_negated.ignored("a.yaml", false));
        assert!(file_negated.ignored("b.yaml", false));
    }
}
