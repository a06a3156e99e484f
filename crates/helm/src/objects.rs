//! The Go types a Helm template reaches: `common.Values` (with its methods), `.Files`
//! (`engine.files`), and `.Capabilities` with its `KubeVersion`, `APIVersions` and
//! `HelmVersion`, printed and encoded as Go prints and encodes them.

use std::any::Any;
use std::collections::BTreeMap;
use std::rc::Rc;

use gantry_gotmpl::value::{LIST_STR, MAP_ANY, MAP_STR};
use gantry_gotmpl::{
    Elem, Entries, GoError, List, ListType, Map, MapType, Method, Object, Sig, Ty, Value,
};

use crate::json::struct_fields;

/// `common.Values`.
pub static VALUES: MapType = MapType {
    name: "common.Values",
    elem: Elem::Any,
    methods: Some(values_methods),
    assignable_to_map_any: true,
};

/// `engine.files`.
pub static FILES: MapType = MapType {
    name: "engine.files",
    elem: Elem::Bytes,
    methods: Some(files_methods),
    assignable_to_map_any: false,
};

/// `common.VersionSet`.
pub static VERSION_SET: ListType = ListType {
    name: "common.VersionSet",
    elem: Elem::Str,
    methods: Some(version_set_methods),
};

fn method(
    params: &'static [Ty],
    f: impl Fn(&mut gantry_gotmpl::Runtime<'_>, &[Value]) -> Result<Value, GoError> + 'static,
) -> Method {
    Method {
        sig: Sig::new(params, None),
        f: Rc::new(f),
        go_bytes: false,
    }
}

/// Go's `common.Values.Table`.
pub fn table(m: &Map, name: &str) -> Result<Map, GoError> {
    let mut cur = Map {
        data: m.data.clone(),
        ty: &VALUES,
        nil: m.nil,
    };
    for part in name.split('.') {
        let next = cur.get(part);
        cur = match next {
            None => {
                return Err(GoError::new(format!(
                    "{} is not a table",
                    gantry_gotmpl::gofmt::quote(part)
                )));
            }
            Some(Value::Map(t)) if std::ptr::eq(t.ty, &MAP_ANY) || std::ptr::eq(t.ty, &VALUES) => {
                Map {
                    data: t.data.clone(),
                    ty: &VALUES,
                    nil: t.nil,
                }
            }
            Some(_) => {
                return Err(GoError::new(format!(
                    "{} is not a table",
                    gantry_gotmpl::gofmt::quote(part)
                )));
            }
        };
    }
    Ok(cur)
}

fn is_table(v: &Value) -> bool {
    matches!(v, Value::Map(m) if std::ptr::eq(m.ty, &MAP_ANY))
}

/// Go's `common.Values.PathValue`.
fn path_value(m: &Map, path: &str) -> Result<Value, GoError> {
    if path.is_empty() {
        return Err(GoError::new("YAML path cannot be empty"));
    }
    let parts: Vec<&str> = path.split('.').collect();
    let no_value =
        |k: &str| GoError::new(format!("{} is not a value", gantry_gotmpl::gofmt::quote(k)));
    if parts.len() == 1 {
        return match m.get(parts[0]) {
            Some(v) if !is_table(&v) => Ok(v),
            _ => Err(no_value(parts[0])),
        };
    }
    let key = parts[parts.len() - 1];
    let t = table(m, &parts[..parts.len() - 1].join(".")).map_err(|_| no_value(key))?;
    match t.get(key) {
        Some(v) if !is_table(&v) => Ok(v),
        _ => Err(no_value(key)),
    }
}

fn values_methods(m: &Map, name: &str) -> Option<Method> {
    let m = m.clone();
    Some(match name {
        "YAML" => method(&[], move |_, _| {
            crate::yamlout::marshal(&Value::Map(m.clone()))
                .map(Value::string)
                .map_err(|e| {
                    GoError::new(match e {
                        crate::yamlout::MarshalError::Json(e)
                        | crate::yamlout::MarshalError::ReadBack(e) => e,
                    })
                })
        }),
        "AsMap" => method(&[], move |_, _| {
            Ok(Value::Map(if m.is_empty() {
                Map::new()
            } else {
                Map {
                    data: m.data.clone(),
                    ty: &MAP_ANY,
                    nil: false,
                }
            }))
        }),
        "Table" => method(&[Ty::Str], move |_, a| {
            table(&m, a[0].as_str().unwrap_or("")).map(Value::Map)
        }),
        "PathValue" => method(&[Ty::Str], move |_, a| {
            path_value(&m, a[0].as_str().unwrap_or(""))
        }),
        "Encode" => method(&[Ty::Any], |_, _| {
            Err(GoError::unsupported(
                "Values.Encode (it writes to an io.Writer) is not supported by Gantry",
            ))
        }),
        _ => return None,
    })
}

/// Builds `.Files` from a chart's non-template files.
pub fn files(entries: &BTreeMap<String, Rc<[u8]>>) -> Value {
    Value::Map(Map::typed(
        entries
            .iter()
            .map(|(k, v)| (k.clone(), Value::Bytes(v.clone())))
            .collect(),
        &FILES,
    ))
}

fn bytes_of(m: &Map, name: &str) -> Rc<[u8]> {
    match m.get(name) {
        Some(Value::Bytes(b)) => b,
        _ => Rc::from(Vec::new()),
    }
}

fn files_methods(m: &Map, name: &str) -> Option<Method> {
    let m = m.clone();
    Some(match name {
        "GetBytes" => method(&[Ty::Str], move |_, a| {
            Ok(Value::Bytes(bytes_of(&m, a[0].as_str().unwrap_or(""))))
        }),
        "Get" => method(&[Ty::Str], move |_, a| {
            // A Go string holds the file's bytes as they are.
            let b = bytes_of(&m, a[0].as_str().unwrap_or(""));
            Ok(Value::go_string(b.to_vec()))
        }),
        "Glob" => method(&[Ty::Str], move |_, a| {
            let pattern = a[0].as_str().unwrap_or("");
            let g = crate::glob::Glob::compile(pattern).unwrap_or_else(crate::glob::Glob::all);
            let data = m
                .data
                .borrow()
                .iter()
                .filter(|(k, _)| g.matches(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Ok(Value::Map(Map::typed(data, &FILES)))
        }),
        "AsConfig" => method(&[], move |rt, _| files_as(&m, rt, false)),
        "AsSecrets" => method(&[], move |rt, _| files_as(&m, rt, true)),
        "Lines" => method(&[Ty::Str], move |_, a| {
            let name = a[0].as_str().unwrap_or("");
            let Some(Value::Bytes(b)) = m.get(name) else {
                return Ok(Value::List(List::typed(Vec::new(), &LIST_STR)));
            };
            if b.is_empty() {
                // Helm v4.2 indexes the last byte of an empty file.
                return Err(GoError::new("runtime error: index out of range [-1]"));
            }
            let b = b.strip_suffix(b"\n").unwrap_or(&b);
            Ok(Value::List(List::typed(
                b.split(|c| *c == b'\n')
                    .map(|l| Value::go_string(l.to_vec()))
                    .collect(),
                &LIST_STR,
            )))
        }),
        _ => return None,
    })
}

/// A file's bytes as a Go string that Gantry's string functions read as UTF-8 text.
pub fn bytes_to_string(b: &[u8]) -> Result<String, GoError> {
    String::from_utf8(b.to_vec()).map_err(|_| not_utf8())
}

/// The error of a function that does not handle a string that is not valid UTF-8.
pub fn not_utf8() -> GoError {
    GoError::unsupported(
        "this use of a string that is not valid UTF-8 (a binary file's bytes) is not supported by Gantry",
    )
}

fn files_as(m: &Map, rt: &mut gantry_gotmpl::Runtime<'_>, secrets: bool) -> Result<Value, GoError> {
    if m.nil {
        return Ok(Value::str(""));
    }
    let mut out = Entries::new();
    for (k, v) in m.data.borrow().iter() {
        let Value::Bytes(b) = v else { continue };
        let base = crate::funcs::path_base(k);
        let val = if secrets {
            use base64::Engine as _;
            Value::string(base64::engine::general_purpose::STANDARD.encode(b))
        } else {
            // string(bytes); toYAML's JSON step turns each invalid byte into U+FFFD.
            Value::go_string(b.to_vec())
        };
        if let Some(prev) = out.get(&base)
            && !gantry_gotmpl::value::deep_equal(prev, &val)
        {
            // Go keeps whichever file its random map order visits last.
            rt.budget
                .note_nondeterminism("AsConfig/AsSecrets over files with the same base name");
        }
        out.insert(base, val);
    }
    Ok(Value::str(
        &crate::yamlout::to_yaml(&Value::Map(Map::typed(out, &MAP_STR))).unwrap_or_default(),
    ))
}

fn version_set_methods(l: &List, name: &str) -> Option<Method> {
    let l = l.clone();
    match name {
        "Has" => Some(method(&[Ty::Str], move |_, a| {
            let want = a[0].as_str().unwrap_or("");
            Ok(Value::Bool(
                l.items.iter().any(|v| v.as_str() == Some(want)),
            ))
        })),
        _ => None,
    }
}

/// The Kubernetes version `.Capabilities.KubeVersion` reports.
#[derive(Debug, Clone)]
pub struct KubeVersion {
    /// `v1.36.0`.
    pub version: String,
    /// The version used for constraint checks.
    pub normalized: String,
    /// `1`.
    pub major: String,
    /// `36`.
    pub minor: String,
}

impl Object for KubeVersion {
    fn type_name(&self) -> &str {
        "common.KubeVersion"
    }
    fn kind(&self) -> &'static str {
        "struct"
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "Version" => Value::str(&self.version),
            "Major" => Value::str(&self.major),
            "Minor" => Value::str(&self.minor),
            _ => return None,
        })
    }
    fn method(&self, name: &str) -> Option<Method> {
        let me = self.clone();
        match name {
            "String" => Some(method(&[], move |_, _| {
                Ok(Value::str(if me.normalized.is_empty() {
                    &me.version
                } else {
                    &me.normalized
                }))
            })),
            "GitVersion" => Some(method(&[], move |_, _| Ok(Value::str(&me.version)))),
            _ => None,
        }
    }
    fn format(&self) -> String {
        format!(
            "{{{} {} {} {}}}",
            self.version, self.normalized, self.major, self.minor
        )
    }
    fn template_print(&self) -> String {
        if self.normalized.is_empty() {
            self.version.clone()
        } else {
            self.normalized.clone()
        }
    }
    fn json(&self) -> Result<Value, String> {
        Ok(struct_fields(vec![
            ("Version", Value::str(&self.version)),
            ("Major", Value::str(&self.major)),
            ("Minor", Value::str(&self.minor)),
        ]))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Helm's build information (`version.BuildInfo`).
#[derive(Debug, Clone)]
pub struct HelmVersion {
    /// `v4.2`.
    pub version: String,
    /// The Go version Helm was built with.
    pub go_version: String,
    /// The client-go version.
    pub kube_client_version: String,
}

impl Object for HelmVersion {
    fn type_name(&self) -> &str {
        "version.BuildInfo"
    }
    fn kind(&self) -> &'static str {
        "struct"
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "Version" => Value::str(&self.version),
            "GitCommit" | "GitTreeState" => Value::str(""),
            "GoVersion" => Value::str(&self.go_version),
            "KubeClientVersion" => Value::str(&self.kube_client_version),
            _ => return None,
        })
    }
    fn format(&self) -> String {
        format!(
            "{{{}   {} {}}}",
            self.version, self.go_version, self.kube_client_version
        )
    }
    fn json(&self) -> Result<Value, String> {
        Ok(struct_fields(vec![
            ("version", Value::str(&self.version)),
            ("go_version", Value::str(&self.go_version)),
            ("kube_client_version", Value::str(&self.kube_client_version)),
        ]))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// `.Capabilities` (`*common.Capabilities`).
#[derive(Debug, Clone)]
pub struct Capabilities {
    /// The Kubernetes version.
    pub kube_version: KubeVersion,
    /// The API versions.
    pub api_versions: Vec<String>,
    /// Helm's version.
    pub helm_version: HelmVersion,
}

/// The 55 API versions of Helm v4.2's default capabilities (client-go v0.36's scheme).
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha2",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            kube_version: KubeVersion {
                version: "v1.36.0".into(),
                normalized: "v1.36.0".into(),
                major: "1".into(),
                minor: "36".into(),
            },
            api_versions: DEFAULT_API_VERSIONS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            helm_version: HelmVersion {
                version: "v4.2".into(),
                go_version: "go1.26.6".into(),
                kube_client_version: "v1.36".into(),
            },
        }
    }
}

impl Capabilities {
    fn api_list(&self) -> Value {
        Value::List(List::typed(
            self.api_versions.iter().map(|s| Value::str(s)).collect(),
            &VERSION_SET,
        ))
    }
}

impl Object for Capabilities {
    fn type_name(&self) -> &str {
        "*common.Capabilities"
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "KubeVersion" => Value::Object(Rc::new(self.kube_version.clone())),
            "APIVersions" => self.api_list(),
            "HelmVersion" => Value::Object(Rc::new(self.helm_version.clone())),
            _ => return None,
        })
    }
    fn method(&self, name: &str) -> Option<Method> {
        let me = self.clone();
        match name {
            "Copy" => Some(method(&[], move |_, _| {
                Ok(Value::Object(Rc::new(me.clone())))
            })),
            _ => None,
        }
    }
    fn format(&self) -> String {
        let apis = gantry_gotmpl::gofmt::format_v(&self.api_list()).unwrap_or_default();
        format!(
            "&{{{} {} {}}}",
            self.kube_version.format(),
            apis,
            self.helm_version.format()
        )
    }
    fn template_print(&self) -> String {
        // A template prints the struct a pointer points to.
        self.format().trim_start_matches('&').to_owned()
    }
    fn json(&self) -> Result<Value, String> {
        Ok(struct_fields(vec![
            ("KubeVersion", self.kube_version.json()?),
            ("APIVersions", self.api_list()),
            ("HelmVersion", self.helm_version.json()?),
        ]))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
