//! OpenAPI v3 field schemas of the built-in kinds, derived from the Kubernetes `.proto` files the
//! emulator already compiles (see `build.rs`): field names, types and the doc comments (with
//! their `+listType`, `+patchStrategy`, ... markers turned into the `x-kubernetes-*`
//! extensions), as the real server's generated OpenAPI carries them. This is what `kubectl
//! explain` reads, and what kubectl's strategic merge patches take list merge keys from.

use std::collections::{HashMap, VecDeque};
use std::sync::LazyLock;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use crate::proto;

/// Leading comments of every message and field, by (file, source path).
static COMMENTS: LazyLock<HashMap<(String, Vec<i32>), String>> = LazyLock::new(|| {
    let mut out = HashMap::new();
    let Some(pool) = proto::pool() else {
        return out;
    };
    for file in pool.files() {
        let fdp = file.file_descriptor_proto();
        for loc in fdp.source_code_info.iter().flat_map(|s| s.location.iter()) {
            if let Some(c) = &loc.leading_comments {
                out.insert((file.name().to_string(), loc.path.clone()), c.clone());
            }
        }
    }
    out
});

fn comment_of(file: &str, path: &[i32]) -> &'static str {
    COMMENTS
        .get(&(file.to_string(), path.to_vec()))
        .map_or("", String::as_str)
}

/// A doc comment split into its description (paragraphs joined as openapi-gen joins them,
/// marker lines and everything after a `---` left out) and its `+key=value` markers.
fn parse_comment(c: &str) -> (String, Vec<(String, String)>) {
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut markers = Vec::new();
    let mut cut = false;
    for line in c.lines() {
        let l = line.trim();
        if let Some(m) = l.strip_prefix('+') {
            let (k, v) = m.split_once('=').unwrap_or((m, ""));
            markers.push((k.to_string(), v.to_string()));
            continue;
        }
        if cut {
            continue;
        }
        if l == "---" {
            cut = true;
            continue;
        }
        if l.is_empty() {
            if !current.is_empty() {
                paragraphs.push(current.join(" "));
                current.clear();
            }
        } else {
            current.push(l);
        }
    }
    if !current.is_empty() {
        paragraphs.push(current.join(" "));
    }
    (paragraphs.join("\n\n"), markers)
}

/// The component name of a message, as the real OpenAPI names it.
pub(crate) fn component_name(full_name: &str) -> String {
    for (proto_prefix, openapi_prefix) in [
        ("api.", "io.k8s.api."),
        ("apimachinery.", "io.k8s.apimachinery."),
        (
            "apiextensions_apiserver.",
            "io.k8s.apiextensions-apiserver.",
        ),
        ("kube_aggregator.", "io.k8s.kube-aggregator."),
    ] {
        if let Some(rest) = full_name.strip_prefix(proto_prefix) {
            return format!("{openapi_prefix}{rest}");
        }
    }
    full_name.to_string()
}

/// Messages whose JSON form is not their fields: their whole schema.
fn special(full_name: &str) -> Option<Value> {
    Some(match full_name {
        "apimachinery.pkg.apis.meta.v1.Time" | "apimachinery.pkg.apis.meta.v1.MicroTime" => {
            json!({"type": "string", "format": "date-time"})
        }
        "apimachinery.pkg.apis.meta.v1.Duration" => json!({"type": "string"}),
        // Their Go types declare OpenAPI v3 one-of types; kubectl explain then shows the type's name.
        "apimachinery.pkg.util.intstr.IntOrString" => {
            json!({"oneOf": [{"type": "integer"}, {"type": "string"}]})
        }
        "apimachinery.pkg.api.resource.Quantity"
        | "apimachinery.pkg.api.resource.QuantityValue" => {
            json!({"oneOf": [{"type": "string"}, {"type": "number"}]})
        }
        "apimachinery.pkg.apis.meta.v1.FieldsV1" | "apimachinery.pkg.runtime.RawExtension" => {
            json!({"type": "object"})
        }
        "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSON"
        | "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray"
        | "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool"
        | "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray" => {
            json!({"x-kubernetes-preserve-unknown-fields": true})
        }
        _ => return None,
    })
}

fn scalar(kind: &Kind) -> Value {
    match kind {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 | Kind::Uint32 | Kind::Fixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
            json!({"type": "integer", "format": "int64"})
        }
        Kind::Bool => json!({"type": "boolean"}),
        Kind::Double => json!({"type": "number", "format": "double"}),
        Kind::Float => json!({"type": "number", "format": "float"}),
        Kind::Bytes => json!({"type": "string", "format": "byte"}),
        _ => json!({"type": "string"}),
    }
}

fn reference(m: &MessageDescriptor, queue: &mut VecDeque<MessageDescriptor>) -> Value {
    queue.push_back(m.clone());
    json!({"$ref": format!("#/components/schemas/{}", component_name(m.full_name()))})
}

/// The schema of one value of a field's kind (an item, for lists and maps).
fn single(kind: &Kind, queue: &mut VecDeque<MessageDescriptor>) -> Value {
    match kind {
        Kind::Message(m) => json!({"allOf": [reference(m, queue)], "default": {}}),
        other => {
            let mut s = scalar(other);
            if s["type"] == "string" {
                s["default"] = json!("");
            }
            s
        }
    }
}

fn field_schema(field: &FieldDescriptor, queue: &mut VecDeque<MessageDescriptor>) -> Value {
    let mut s = if field.is_map() {
        let value_kind = match field.kind() {
            Kind::Message(entry) => entry.map_entry_value_field().kind(),
            other => other,
        };
        json!({"type": "object", "additionalProperties": single(&value_kind, queue)})
    } else if field.is_list() {
        json!({"type": "array", "items": single(&field.kind(), queue)})
    } else {
        match field.kind() {
            Kind::Message(m) => json!({"allOf": [reference(&m, queue)]}),
            other => scalar(&other),
        }
    };
    let parent = field.parent_message();
    let (description, markers) =
        parse_comment(comment_of(parent.parent_file().name(), field.path()));
    if !description.is_empty() {
        s["description"] = json!(description);
    }
    let mut map_keys = Vec::new();
    for (k, v) in markers {
        match k.as_str() {
            "patchMergeKey" => s["x-kubernetes-patch-merge-key"] = json!(v),
            "patchStrategy" => s["x-kubernetes-patch-strategy"] = json!(v),
            "listType" => s["x-kubernetes-list-type"] = json!(v),
            "listMapKey" => map_keys.push(v),
            "mapType" => s["x-kubernetes-map-type"] = json!(v),
            _ => {}
        }
    }
    if !map_keys.is_empty() {
        s["x-kubernetes-list-map-keys"] = json!(map_keys);
    }
    s
}

/// The properties of a message, embedded (`json:",inline"`) messages' fields included.
fn properties(
    m: &MessageDescriptor,
    props: &mut Map<String, Value>,
    queue: &mut VecDeque<MessageDescriptor>,
) {
    for field in m.fields() {
        if proto::is_inline(m, &field) {
            if let Kind::Message(inner) = field.kind() {
                properties(&inner, props, queue);
            }
            continue;
        }
        props.insert(proto::json_name(m, &field), field_schema(&field, queue));
    }
}

fn message_schema(m: &MessageDescriptor, queue: &mut VecDeque<MessageDescriptor>) -> Value {
    let (description, markers) = parse_comment(comment_of(m.parent_file().name(), m.path()));
    let mut s = special(m.full_name()).unwrap_or_else(|| {
        let mut props = Map::new();
        properties(m, &mut props, queue);
        json!({"type": "object", "properties": props})
    });
    if !description.is_empty() {
        s["description"] = json!(description);
    }
    if markers
        .iter()
        .any(|(k, v)| k == "structType" && v == "atomic")
    {
        s["x-kubernetes-map-type"] = json!("atomic");
    }
    s
}

/// The description openapi-gen gives every kind's `apiVersion` and `kind`.
const API_VERSION_DOC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DOC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// Adds the schema of a kind (and every message it reaches) to `out`; None when the API has no
/// message for it.
pub(crate) fn add_kind(
    api_version: &str,
    kind: &str,
    gvk: &Value,
    out: &mut Map<String, Value>,
) -> Option<String> {
    let m = proto::kind_descriptor(api_version, kind)?;
    let mut queue = VecDeque::new();
    let mut top = message_schema(&m, &mut queue);
    if let Some(props) = top["properties"].as_object_mut() {
        let mut with_type = Map::new();
        with_type.insert(
            "apiVersion".into(),
            json!({"type": "string", "description": API_VERSION_DOC}),
        );
        with_type.insert(
            "kind".into(),
            json!({"type": "string", "description": KIND_DOC}),
        );
        with_type.extend(std::mem::take(props));
        *props = with_type;
    }
    top["x-kubernetes-group-version-kind"] = json!([gvk]);
    let name = component_name(m.full_name());
    out.insert(name.clone(), top);
    while let Some(next) = queue.pop_front() {
        let n = component_name(next.full_name());
        if out.contains_key(&n) {
            continue;
        }
        let s = message_schema(&next, &mut queue);
        out.insert(n, s);
    }
    Some(name)
}

/// Adds ObjectMeta (and what it reaches), which custom resources' schemas refer to.
pub(crate) fn add_object_meta(out: &mut Map<String, Value>) -> Option<String> {
    let m = proto::message_by_name("apimachinery.pkg.apis.meta.v1.ObjectMeta")?;
    let mut queue = VecDeque::from([m.clone()]);
    while let Some(next) = queue.pop_front() {
        let n = component_name(next.full_name());
        if out.contains_key(&n) {
            continue;
        }
        let s = message_schema(&next, &mut queue);
        out.insert(n, s);
    }
    Some(component_name(m.full_name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_become_descriptions_and_markers_extensions() {
        let (d, m) = parse_comment(
            " Number of desired pods.\n Defaults to 1.\n\n Second paragraph.\n +optional\n +listType=map\n ---\n TODO: internal\n",
        );
        assert_eq!(
            d,
            "Number of desired pods. Defaults to 1.\n\nSecond paragraph."
        );
        assert_eq!(
            m,
            [
                ("optional".to_string(), String::new()),
                ("listType".to_string(), "map".to_string())
            ]
        );
    }

    #[test]
    fn a_deployment_schema_has_its_fields_and_patch_keys() {
        let gvk = json!({"group": "apps", "version": "v1", "kind": "Deployment"});
        let mut out = Map::new();
        let name = add_kind("apps/v1", "Deployment", &gvk, &mut out).expect("Deployment");
        assert_eq!(name, "io.k8s.api.apps.v1.Deployment");
        let spec = &out["io.k8s.api.apps.v1.DeploymentSpec"];
        assert_eq!(spec["properties"]["replicas"]["type"], "integer");
        assert!(
            spec["properties"]["replicas"]["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("Number of desired pods."))
        );
        let containers = &out["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
        // Embedded structs' fields are the outer object's, as in JSON.
        let volume = &out["io.k8s.api.core.v1.Volume"]["properties"];
        assert!(volume.get("configMap").is_some() && volume.get("volumeSource").is_none());
        assert_eq!(
            out["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["format"],
            "date-time"
        );
    }
}
