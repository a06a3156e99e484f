//! Kubernetes protobuf (`application/vnd.kubernetes.protobuf`): the `k8s\0` + `runtime.Unknown`
//! envelope, and conversion between the stored JSON and the API's messages, driven by the
//! descriptors compiled from the Kubernetes `.proto` files (see `build.rs`). Objects stay stored as
//! JSON; protobuf is only how they travel, as on a real server.

use std::collections::HashMap;
use std::sync::LazyLock;

use base64::Engine;
use prost::Message;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    ReflectMessage, Value as PValue,
};
use serde_json::{Map, Value};

/// The media type of protobuf bodies.
pub(crate) const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
/// The media type of a protobuf watch stream (length-delimited frames).
pub(crate) const WATCH_MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf;stream=watch";
const MAGIC: &[u8; 4] = b"k8s\0";

const META: &str = "apimachinery.pkg.apis.meta.v1";
const TIME: &str = "apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "apimachinery.pkg.apis.meta.v1.MicroTime";
const DURATION: &str = "apimachinery.pkg.apis.meta.v1.Duration";
const FIELDS_V1: &str = "apimachinery.pkg.apis.meta.v1.FieldsV1";
const INT_OR_STRING: &str = "apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "apimachinery.pkg.api.resource.Quantity";
const QUANTITY_VALUE: &str = "apimachinery.pkg.api.resource.QuantityValue";
const RAW_EXTENSION: &str = "apimachinery.pkg.runtime.RawExtension";
const UNKNOWN: &str = "apimachinery.pkg.runtime.Unknown";
const CRD_PKG: &str = "apiextensions_apiserver.pkg.apis.apiextensions.v1";

static POOL: LazyLock<Option<DescriptorPool>> = LazyLock::new(|| {
    match DescriptorPool::decode(&include_bytes!(concat!(env!("OUT_DIR"), "/k8s.pb"))[..]) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::error!(error = %e, "the compiled Kubernetes descriptors do not load: protobuf is off");
            None
        }
    }
});

/// Why a protobuf body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    )]
    NoMagic,
    #[error("the protobuf envelope is malformed")]
    Envelope(#[source] prost::DecodeError),
    #[error("no protobuf message is known for {api_version} {kind}")]
    UnknownKind { api_version: String, kind: String },
    #[error("the protobuf body of {kind} is malformed")]
    Body {
        kind: String,
        #[source]
        source: prost::DecodeError,
    },
}

/// The proto package of an API group (the packages are those of the `.proto` files compiled).
fn package(group: &str) -> Option<&'static str> {
    Some(match group {
        "" => "api.core",
        "apps" => "api.apps",
        "batch" => "api.batch",
        "networking.k8s.io" => "api.networking",
        "autoscaling" => "api.autoscaling",
        "policy" => "api.policy",
        "rbac.authorization.k8s.io" => "api.rbac",
        "events.k8s.io" => "api.events",
        "authentication.k8s.io" => "api.authentication",
        "authorization.k8s.io" => "api.authorization",
        "certificates.k8s.io" => "api.certificates",
        "storage.k8s.io" => "api.storage",
        "admissionregistration.k8s.io" => "api.admissionregistration",
        "scheduling.k8s.io" => "api.scheduling",
        "coordination.k8s.io" => "api.coordination",
        "node.k8s.io" => "api.node",
        "discovery.k8s.io" => "api.discovery",
        "apiregistration.k8s.io" => "kube_aggregator.pkg.apis.apiregistration",
        "apiextensions.k8s.io" => "apiextensions_apiserver.pkg.apis.apiextensions",
        "meta.k8s.io" => "apimachinery.pkg.apis.meta",
        _ => return None,
    })
}

/// The compiled descriptors, when they loaded.
pub(crate) fn pool() -> Option<&'static DescriptorPool> {
    POOL.as_ref()
}

/// A message by its full proto name.
pub(crate) fn message_by_name(name: &str) -> Option<MessageDescriptor> {
    POOL.as_ref()?.get_message_by_name(name)
}

/// The message of a kind of the API itself (not the meta/v1 fallback `descriptor` allows).
pub(crate) fn kind_descriptor(api_version: &str, kind: &str) -> Option<MessageDescriptor> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    message_by_name(&format!("{}.{version}.{kind}", package(group)?))
}

/// The message of an object of this apiVersion and kind, when the API defines one.
fn descriptor(api_version: &str, kind: &str) -> Option<MessageDescriptor> {
    let pool = POOL.as_ref()?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let own =
        package(group).and_then(|p| pool.get_message_by_name(&format!("{p}.{version}.{kind}")));
    // Status, DeleteOptions, WatchEvent and the like are meta/v1 messages sent under any group version.
    own.or_else(|| pool.get_message_by_name(&format!("{META}.{kind}")))
}

/// Reads a protobuf request body into the JSON object it stands for, apiVersion and kind included.
pub(crate) fn decode(body: &[u8]) -> Result<Value, DecodeError> {
    let rest = body.strip_prefix(MAGIC).ok_or(DecodeError::NoMagic)?;
    let pool = POOL.as_ref().ok_or_else(|| DecodeError::UnknownKind {
        api_version: String::new(),
        kind: String::new(),
    })?;
    let unknown_desc =
        pool.get_message_by_name(UNKNOWN)
            .ok_or_else(|| DecodeError::UnknownKind {
                api_version: String::new(),
                kind: "Unknown".into(),
            })?;
    let unknown = DynamicMessage::decode(unknown_desc, rest).map_err(DecodeError::Envelope)?;
    let type_meta = unknown.get_field_by_name("typeMeta");
    let (api_version, kind) = match type_meta.as_deref() {
        Some(PValue::Message(tm)) => (str_field(tm, "apiVersion"), str_field(tm, "kind")),
        _ => (String::new(), String::new()),
    };
    let raw = match unknown.get_field_by_name("raw").as_deref() {
        Some(PValue::Bytes(b)) => b.clone(),
        _ => Default::default(),
    };
    let desc = descriptor(&api_version, &kind).ok_or_else(|| DecodeError::UnknownKind {
        api_version: api_version.clone(),
        kind: kind.clone(),
    })?;
    let msg = DynamicMessage::decode(desc, raw).map_err(|source| DecodeError::Body {
        kind: kind.clone(),
        source,
    })?;
    let mut obj = from_message(&msg).unwrap_or_else(|| Value::Object(Map::new()));
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(api_version));
        m.insert("kind".into(), Value::String(kind));
    }
    Ok(obj)
}

fn str_field(m: &DynamicMessage, name: &str) -> String {
    match m.get_field_by_name(name).as_deref() {
        Some(PValue::String(s)) => s.clone(),
        _ => String::new(),
    }
}

fn message_bytes(v: &Value) -> Option<(String, String, Vec<u8>)> {
    let api_version = v.get("apiVersion")?.as_str()?.to_string();
    let kind = v.get("kind")?.as_str()?.to_string();
    let desc = descriptor(&api_version, &kind)?;
    Some((api_version, kind, to_message(v, &desc).encode_to_vec()))
}

/// Encodes an object, list or Status in the envelope; None when the API has no message for it.
pub(crate) fn encode(v: &Value) -> Option<Vec<u8>> {
    let (api_version, kind, raw) = message_bytes(v)?;
    let pool = POOL.as_ref()?;
    let mut unknown = DynamicMessage::new(pool.get_message_by_name(UNKNOWN)?);
    let mut tm =
        DynamicMessage::new(pool.get_message_by_name("apimachinery.pkg.runtime.TypeMeta")?);
    tm.set_field_by_name("apiVersion", PValue::String(api_version));
    tm.set_field_by_name("kind", PValue::String(kind));
    unknown.set_field_by_name("typeMeta", PValue::Message(tm));
    unknown.set_field_by_name("raw", PValue::Bytes(raw.into()));
    let mut out = MAGIC.to_vec();
    out.extend(unknown.encode_to_vec());
    Some(out)
}

/// One frame of a protobuf watch stream: a length-prefixed `metav1.WatchEvent` whose object is
/// itself enveloped, as the real server's length-delimited framer writes it.
pub(crate) fn watch_frame(ty: &str, object: &Value) -> Option<Vec<u8>> {
    let pool = POOL.as_ref()?;
    let inner = encode(object)?;
    let mut raw = DynamicMessage::new(pool.get_message_by_name(RAW_EXTENSION)?);
    raw.set_field_by_name("raw", PValue::Bytes(inner.into()));
    let mut ev = DynamicMessage::new(pool.get_message_by_name(&format!("{META}.WatchEvent"))?);
    ev.set_field_by_name("type", PValue::String(ty.to_string()));
    ev.set_field_by_name("object", PValue::Message(raw));
    let body = ev.encode_to_vec();
    let len = u32::try_from(body.len()).ok()?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend(body);
    Some(out)
}

/// The JSON name of a field: the proto names are the JSON names, except in CRD schemas.
pub(crate) fn json_name(msg: &MessageDescriptor, field: &FieldDescriptor) -> String {
    let name = field.name();
    if msg.full_name() == format!("{CRD_PKG}.JSONSchemaProps") {
        match name {
            "ref" => return "$ref".into(),
            "schema" => return "$schema".into(),
            n if n.starts_with("xKubernetes") => {
                let mut out = String::from("x");
                for c in n[1..].chars() {
                    if c.is_ascii_uppercase() {
                        out.push('-');
                        out.push(c.to_ascii_lowercase());
                    } else {
                        out.push(c);
                    }
                }
                return out;
            }
            _ => {}
        }
    }
    name.to_string()
}

// ---- JSON to protobuf ----

fn to_message(v: &Value, desc: &MessageDescriptor) -> DynamicMessage {
    if let Some(m) = special_to(v, desc) {
        return m;
    }
    let mut msg = DynamicMessage::new(desc.clone());
    let Some(obj) = v.as_object() else {
        return msg;
    };
    for field in desc.fields() {
        if is_inline(desc, &field) {
            // The embedded struct's fields sit in the outer JSON object.
            if let Kind::Message(inner) = field.kind() {
                msg.set_field(&field, PValue::Message(to_message(v, &inner)));
            }
            continue;
        }
        let Some(fv) = obj.get(&json_name(desc, &field)) else {
            continue;
        };
        if let Some(pv) = to_field(fv, &field) {
            msg.set_field(&field, pv);
        }
    }
    msg
}

/// Go structs embedded with `json:",inline"`: their message is a field of the outer message,
/// while their JSON fields are the outer object's (a volume's `configMap`, a probe's `httpGet`).
const INLINE: &[(&str, &str)] = &[
    ("api.core.v1.Volume", "volumeSource"),
    ("api.core.v1.PersistentVolumeSpec", "persistentVolumeSource"),
    ("api.core.v1.Probe", "handler"),
    ("api.core.v1.EphemeralContainer", "ephemeralContainerCommon"),
    ("api.networking.v1.IngressRule", "ingressRuleValue"),
    ("api.admissionregistration.v1.RuleWithOperations", "rule"),
    (
        "api.admissionregistration.v1.NamedRuleWithOperations",
        "ruleWithOperations",
    ),
];

pub(crate) fn is_inline(msg: &MessageDescriptor, field: &FieldDescriptor) -> bool {
    // ConfigMap and Secret references (volume, projection, env source, key selector) embed
    // their `name` this way.
    field.name() == "localObjectReference"
        || INLINE
            .iter()
            .any(|(m, f)| *m == msg.full_name() && *f == field.name())
}

fn to_field(v: &Value, field: &FieldDescriptor) -> Option<PValue> {
    if v.is_null() {
        return None;
    }
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return None;
        };
        let value_kind = entry.map_entry_value_field().kind();
        let map: HashMap<MapKey, PValue> = v
            .as_object()?
            .iter()
            .filter_map(|(k, item)| {
                Some((MapKey::String(k.clone()), to_single(item, &value_kind)?))
            })
            .collect();
        return Some(PValue::Map(map));
    }
    if field.is_list() {
        let kind = field.kind();
        let items: Vec<PValue> = v
            .as_array()?
            .iter()
            .filter_map(|item| to_single(item, &kind))
            .collect();
        return Some(PValue::List(items));
    }
    to_single(v, &field.kind())
}

fn int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn to_single(v: &Value, kind: &Kind) -> Option<PValue> {
    Some(match kind {
        Kind::String => PValue::String(match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return None,
        }),
        Kind::Bool => PValue::Bool(v.as_bool()?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => PValue::I32(i32::try_from(int(v)?).ok()?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => PValue::I64(int(v)?),
        Kind::Uint32 | Kind::Fixed32 => PValue::U32(u32::try_from(int(v)?).ok()?),
        Kind::Uint64 | Kind::Fixed64 => PValue::U64(u64::try_from(int(v)?).ok()?),
        Kind::Double => PValue::F64(v.as_f64()?),
        Kind::Float => PValue::F32(v.as_f64()? as f32),
        Kind::Bytes => PValue::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str()?)
                .ok()?
                .into(),
        ),
        Kind::Message(d) => PValue::Message(to_message(v, d)),
        Kind::Enum(_) => return None,
    })
}

fn with_fields(desc: &MessageDescriptor, fields: Vec<(&str, PValue)>) -> DynamicMessage {
    let mut m = DynamicMessage::new(desc.clone());
    for (name, v) in fields {
        m.set_field_by_name(name, v);
    }
    m
}

fn raw_json(v: &Value) -> PValue {
    PValue::Bytes(serde_json::to_vec(v).unwrap_or_default().into())
}

/// The types whose JSON form is not their message's fields.
fn special_to(v: &Value, desc: &MessageDescriptor) -> Option<DynamicMessage> {
    let name = desc.full_name();
    let m = match name {
        TIME | MICRO_TIME => {
            let t = time::OffsetDateTime::parse(
                v.as_str()?,
                &time::format_description::well_known::Rfc3339,
            )
            .ok()?;
            let mut f = vec![("seconds", PValue::I64(t.unix_timestamp()))];
            if name == MICRO_TIME {
                f.push(("nanos", PValue::I32(t.nanosecond() as i32)));
            }
            with_fields(desc, f)
        }
        DURATION => with_fields(
            desc,
            vec![("duration", PValue::I64(parse_go_duration(v.as_str()?)?))],
        ),
        INT_OR_STRING => match v {
            Value::String(s) => with_fields(
                desc,
                vec![
                    ("type", PValue::I64(1)),
                    ("strVal", PValue::String(s.clone())),
                ],
            ),
            other => with_fields(
                desc,
                vec![
                    ("type", PValue::I64(0)),
                    ("intVal", PValue::I32(i32::try_from(int(other)?).ok()?)),
                ],
            ),
        },
        QUANTITY | QUANTITY_VALUE => {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            with_fields(desc, vec![("string", PValue::String(s))])
        }
        RAW_EXTENSION => with_fields(desc, vec![("raw", raw_json(v))]),
        FIELDS_V1 => with_fields(desc, vec![("Raw", raw_json(v))]),
        _ if name == format!("{CRD_PKG}.JSON") => with_fields(desc, vec![("raw", raw_json(v))]),
        _ if name == format!("{CRD_PKG}.JSONSchemaPropsOrBool") => match v {
            Value::Bool(b) => with_fields(desc, vec![("allows", PValue::Bool(*b))]),
            other => {
                let schema = desc.get_field_by_name("schema")?;
                let Kind::Message(sd) = schema.kind() else {
                    return None;
                };
                with_fields(
                    desc,
                    vec![
                        ("allows", PValue::Bool(true)),
                        ("schema", PValue::Message(to_message(other, &sd))),
                    ],
                )
            }
        },
        _ if name == format!("{CRD_PKG}.JSONSchemaPropsOrArray") => {
            let schema = desc.get_field_by_name("schema")?;
            let Kind::Message(sd) = schema.kind() else {
                return None;
            };
            match v {
                Value::Array(a) => with_fields(
                    desc,
                    vec![(
                        "jSONSchemas",
                        PValue::List(
                            a.iter()
                                .map(|s| PValue::Message(to_message(s, &sd)))
                                .collect(),
                        ),
                    )],
                ),
                other => with_fields(
                    desc,
                    vec![("schema", PValue::Message(to_message(other, &sd)))],
                ),
            }
        }
        _ if name == format!("{CRD_PKG}.JSONSchemaPropsOrStringArray") => match v {
            Value::Array(a) => with_fields(
                desc,
                vec![(
                    "property",
                    PValue::List(
                        a.iter()
                            .filter_map(|s| s.as_str().map(|s| PValue::String(s.into())))
                            .collect(),
                    ),
                )],
            ),
            other => {
                let schema = desc.get_field_by_name("schema")?;
                let Kind::Message(sd) = schema.kind() else {
                    return None;
                };
                with_fields(
                    desc,
                    vec![("schema", PValue::Message(to_message(other, &sd)))],
                )
            }
        },
        _ => return None,
    };
    Some(m)
}

// ---- protobuf to JSON ----

/// Fields that are pointers in the Go types, where a zero value is a choice and must survive.
/// Every other zero scalar is dropped, as Go's generated marshalling writes non-pointer fields
/// unconditionally and their JSON form omits them when empty.
const KEEP_ZERO: &[&str] = &[
    "replicas",
    "minReplicas",
    "suspend",
    "immutable",
    "automountServiceAccountToken",
    "backoffLimit",
    "backoffLimitPerIndex",
    "maxFailedIndexes",
    "parallelism",
    "completions",
    "terminationGracePeriodSeconds",
    "gracePeriodSeconds",
    "revisionHistoryLimit",
    "ttlSecondsAfterFinished",
    "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit",
    "activeDeadlineSeconds",
    "startingDeadlineSeconds",
    "progressDeadlineSeconds",
    "runAsUser",
    "runAsGroup",
    "fsGroup",
    "runAsNonRoot",
    "privileged",
    "allowPrivilegeEscalation",
    "readOnlyRootFilesystem",
    "enableServiceLinks",
    "shareProcessNamespace",
    "hostUsers",
    "setHostnameAsFQDN",
    "partition",
    "allocateLoadBalancerNodePorts",
    "orphanDependents",
    "allowVolumeExpansion",
];

fn from_message(m: &DynamicMessage) -> Option<Value> {
    let desc = m.descriptor();
    if let Some(v) = special_from(m, &desc) {
        return v;
    }
    let mut out = Map::new();
    for (field, val) in m.fields() {
        if let Some(j) = from_field(&field, val) {
            match j {
                Value::Object(inner) if is_inline(&desc, &field) => out.extend(inner),
                j => {
                    out.insert(json_name(&desc, &field), j);
                }
            }
        }
    }
    Some(Value::Object(out))
}

fn from_field(field: &FieldDescriptor, v: &PValue) -> Option<Value> {
    match v {
        PValue::Map(map) => {
            let mut out = Map::new();
            for (k, item) in map {
                let key = match k {
                    MapKey::String(s) => s.clone(),
                    other => format!("{other:?}"),
                };
                if let Some(j) = from_single(item, true) {
                    out.insert(key, j);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        PValue::List(items) => {
            let out: Vec<Value> = items.iter().filter_map(|i| from_single(i, true)).collect();
            (!out.is_empty()).then_some(Value::Array(out))
        }
        single => from_single(single, KEEP_ZERO.contains(&field.name())),
    }
}

fn from_single(v: &PValue, keep_zero: bool) -> Option<Value> {
    let j = match v {
        PValue::Bool(b) => Value::Bool(*b),
        PValue::I32(n) => Value::from(*n),
        PValue::I64(n) => Value::from(*n),
        PValue::U32(n) => Value::from(*n),
        PValue::U64(n) => Value::from(*n),
        PValue::F32(f) => serde_json::Number::from_f64(f64::from(*f)).map(Value::Number)?,
        PValue::F64(f) => serde_json::Number::from_f64(*f).map(Value::Number)?,
        PValue::String(s) => Value::String(s.clone()),
        PValue::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        PValue::EnumNumber(n) => Value::from(*n),
        PValue::Message(m) => return from_message(m),
        PValue::List(_) | PValue::Map(_) => return None,
    };
    let zero = match &j {
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        _ => false,
    };
    (keep_zero || !zero).then_some(j)
}

fn get_i64(m: &DynamicMessage, name: &str) -> i64 {
    match m.get_field_by_name(name).as_deref() {
        Some(PValue::I64(n)) => *n,
        Some(PValue::I32(n)) => i64::from(*n),
        _ => 0,
    }
}

fn get_bytes(m: &DynamicMessage, name: &str) -> Vec<u8> {
    match m.get_field_by_name(name).as_deref() {
        Some(PValue::Bytes(b)) => b.to_vec(),
        _ => Vec::new(),
    }
}

fn json_of(raw: &[u8]) -> Option<Value> {
    if raw.is_empty() {
        return None;
    }
    serde_json::from_slice(raw).ok()
}

/// Outer None: not a special type. Inner None: the value is empty and is left out.
fn special_from(m: &DynamicMessage, desc: &MessageDescriptor) -> Option<Option<Value>> {
    let name = desc.full_name();
    let v = match name {
        TIME | MICRO_TIME => {
            let (secs, nanos) = (get_i64(m, "seconds"), get_i64(m, "nanos"));
            if secs == 0 && nanos == 0 {
                return Some(None);
            }
            let t = time::OffsetDateTime::from_unix_timestamp(secs).ok()?;
            let s = if name == MICRO_TIME {
                let micros = nanos / 1000;
                let f = time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second]"
                );
                format!("{}.{micros:06}Z", t.format(f).ok()?)
            } else {
                let f = time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
                );
                t.format(f).ok()?
            };
            Some(Value::String(s))
        }
        DURATION => Some(Value::String(format_go_duration(get_i64(m, "duration")))),
        INT_OR_STRING => {
            if get_i64(m, "type") == 1 {
                Some(Value::String(str_field(m, "strVal")))
            } else {
                Some(Value::from(get_i64(m, "intVal")))
            }
        }
        QUANTITY | QUANTITY_VALUE => {
            let s = str_field(m, "string");
            (!s.is_empty()).then_some(Value::String(s))
        }
        RAW_EXTENSION => json_of(&get_bytes(m, "raw")),
        FIELDS_V1 => json_of(&get_bytes(m, "Raw")),
        _ if name == format!("{CRD_PKG}.JSON") => json_of(&get_bytes(m, "raw")),
        _ if name == format!("{CRD_PKG}.JSONSchemaPropsOrBool") => {
            match m.get_field_by_name("schema").as_deref() {
                Some(PValue::Message(s)) if m.has_field_by_name("schema") => from_message(s),
                _ => Some(Value::Bool(matches!(
                    m.get_field_by_name("allows").as_deref(),
                    Some(PValue::Bool(true))
                ))),
            }
        }
        _ if name == format!("{CRD_PKG}.JSONSchemaPropsOrArray") => {
            if m.has_field_by_name("schema") {
                match m.get_field_by_name("schema").as_deref() {
                    Some(PValue::Message(s)) => from_message(s),
                    _ => None,
                }
            } else {
                match m.get_field_by_name("jSONSchemas").as_deref() {
                    Some(PValue::List(l)) => Some(Value::Array(
                        l.iter().filter_map(|i| from_single(i, true)).collect(),
                    )),
                    _ => None,
                }
            }
        }
        _ if name == format!("{CRD_PKG}.JSONSchemaPropsOrStringArray") => {
            if m.has_field_by_name("schema") {
                match m.get_field_by_name("schema").as_deref() {
                    Some(PValue::Message(s)) => from_message(s),
                    _ => None,
                }
            } else {
                match m.get_field_by_name("property").as_deref() {
                    Some(PValue::List(l)) => Some(Value::Array(
                        l.iter().filter_map(|i| from_single(i, true)).collect(),
                    )),
                    _ => None,
                }
            }
        }
        _ => return None,
    };
    Some(v)
}

// ---- Go's time.Duration text ----

const UNITS: &[(&str, i64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses Go's duration syntax (`1h2m3.5s`, `300ms`, `-1.5h`) into nanoseconds.
fn parse_go_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let (unit, scale) = UNITS
            .iter()
            .filter(|(u, _)| rest.starts_with(u))
            .max_by_key(|(u, _)| u.len())?;
        rest = &rest[unit.len()..];
        total += n * *scale as f64;
    }
    let total = total.round() as i64;
    Some(if neg { -total } else { total })
}

/// Formats nanoseconds as Go's `time.Duration.String` does.
fn format_go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    if u < 1_000_000_000 {
        let (unit, scale) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", frac(u, scale));
    }
    let h = u / 3_600_000_000_000;
    let rem = u % 3_600_000_000_000;
    let m = rem / 60_000_000_000;
    let s_ns = rem % 60_000_000_000;
    let secs = format!("{}s", frac(s_ns, 1_000_000_000));
    if h > 0 {
        format!("{sign}{h}h{m}m{secs}")
    } else if m > 0 {
        format!("{sign}{m}m{secs}")
    } else {
        format!("{sign}{secs}")
    }
}

fn frac(v: u64, scale: u64) -> String {
    let whole = v / scale;
    let part = v % scale;
    if part == 0 {
        return whole.to_string();
    }
    let digits = scale.to_string().len() - 1;
    let s = format!("{part:0digits$}");
    format!("{whole}.{}", s.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_deployment_round_trips_through_protobuf() {
        let d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo", "labels": {"app": "web"},
                "creationTimestamp": "2026-01-02T03:04:05Z",
                "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1",
                    "time": "2026-01-02T03:04:05Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}}]}}},
            "status": {"replicas": 2, "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": "2026-01-02T03:04:05Z"}]}
        });
        let bytes = encode(&d).expect("encodes");
        assert_eq!(&bytes[..4], b"k8s\0");
        let back = decode(&bytes).expect("decodes");
        assert_eq!(back, d);
    }

    #[test]
    fn inline_structs_keep_their_fields_in_the_outer_object() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i",
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5},
                "envFrom": [{"secretRef": {"name": "creds"}}],
                "env": [{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "k"}}}]}],
                "volumes": [{"name": "cfg", "configMap": {"name": "app"}}]}});
        assert_eq!(
            decode(&encode(&pod).expect("encodes")).expect("decodes"),
            pod
        );
        let pv = json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "v"},
            "spec": {"capacity": {"storage": "5Gi"}, "hostPath": {"path": "/data"}}});
        assert_eq!(decode(&encode(&pv).expect("encodes")).expect("decodes"), pv);
        let ing = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i"},
            "spec": {"rules": [{"host": "a.example", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}});
        assert_eq!(
            decode(&encode(&ing).expect("encodes")).expect("decodes"),
            ing
        );
    }

    #[test]
    fn secrets_keep_bytes_and_empty_times_are_left_out() {
        let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"k": base64::engine::general_purpose::STANDARD.encode(b"\x00\xffbin")}, "type": "Opaque"});
        assert_eq!(decode(&encode(&s).expect("encodes")).expect("decodes"), s);
        // What Go sends for an unset creationTimestamp: an empty Time message.
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "creationTimestamp": ""}});
        let back = decode(&encode(&ns).expect("encodes")).expect("decodes");
        assert_eq!(back["metadata"], json!({"name": "n"}));
    }

    #[test]
    fn lists_status_and_watch_frames_encode() {
        let list = json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "7"},
            "items": [{"metadata": {"name": "a"}, "data": {"x": "1"}}]});
        let back = decode(&encode(&list).expect("encodes")).expect("decodes");
        assert_eq!(back["items"][0]["data"]["x"], "1");
        let status = json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": 404, "reason": "NotFound", "message": "x"});
        assert_eq!(
            decode(&encode(&status).expect("encodes")).expect("decodes")["code"],
            404
        );
        let frame = watch_frame(
            "ADDED",
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
        )
        .expect("frame");
        let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(len, frame.len() - 4);
        assert!(encode(&json!({"apiVersion": "example.com/v1", "kind": "Widget"})).is_none());
    }

    #[test]
    fn crd_schemas_keep_their_json_names() {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                    "type": "object", "x-kubernetes-preserve-unknown-fields": true,
                    "properties": {"spec": {"type": "object", "additionalProperties": {"type": "string"},
                        "properties": {"size": {"type": "integer", "default": 3, "enum": [1, 3]}}}}}}}]}});
        assert_eq!(
            decode(&encode(&crd).expect("encodes")).expect("decodes"),
            crd
        );
    }

    #[test]
    fn go_durations() {
        for (s, ns) in [
            ("0s", 0),
            ("1h0m0s", 3_600_000_000_000),
            ("1.5s", 1_500_000_000),
            ("300ms", 300_000_000),
            ("2m3s", 123_000_000_000),
        ] {
            assert_eq!(format_go_duration(ns), s);
            assert_eq!(parse_go_duration(s), Some(ns));
        }
    }
}
