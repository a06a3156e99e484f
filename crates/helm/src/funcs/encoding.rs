//! Encodings and data formats: base64/base32, checksums, JSON (Sprig's and Helm's variants),
//! YAML (`toYaml`, `fromYaml`, ...), and Helm's `fail`, `required` and offline `lookup`.

use base64::Engine as _;
use gantry_gotmpl::{GoError, List, Map, Ty, Value};
use sha2::Digest as _;

use super::{Reg, bytes, s};
use crate::json;
use crate::tomlout::{self, TomlError};
use crate::yaml::{YamlLimits, unmarshal_list, unmarshal_map};
use crate::yamlout::PrettyError;

const A: Ty = Ty::Any;
const S: Ty = Ty::Str;

/// Helm wraps `fail` and `required` messages so its error formatting can find them.
pub const WARN_START: &str = "HELM_ERR_START";
/// See [`WARN_START`].
pub const WARN_END: &str = "HELM_ERR_END";

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn b32_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < chars {
                let idx = ((n >> (35 - i * 5)) & 31) as usize;
                out.push(B32[idx] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Go's `base32.StdEncoding.DecodeString`: line breaks dropped first, then quanta of eight,
/// and its error's offset.
fn b32_decode(s: &str) -> Result<Vec<u8>, String> {
    let src: Vec<u8> = s.bytes().filter(|&c| c != b'\n' && c != b'\r').collect();
    let corrupt = |at: usize| format!("illegal base32 data at input byte {at}");
    let olen = src.len();
    let mut rest = &src[..];
    let mut out = Vec::with_capacity(olen / 8 * 5);
    let mut end = false;
    while !rest.is_empty() && !end {
        let mut dbuf = [0u8; 8];
        let mut dlen = 8;
        let mut j = 0;
        while j < 8 {
            let Some((&c, tail)) = rest.split_first() else {
                return Err(corrupt(olen - j));
            };
            rest = tail;
            if c == b'=' && j >= 2 && rest.len() < 8 {
                if rest.len() + j < 7 {
                    return Err(corrupt(olen));
                }
                for k in 0..7 - j {
                    if rest.len() > k && rest[k] != b'=' {
                        return Err(corrupt(olen - rest.len() + k - 1));
                    }
                }
                dlen = j;
                end = true;
                if matches!(dlen, 1 | 3 | 6) {
                    return Err(corrupt(olen - rest.len() - 1));
                }
                break;
            }
            match B32.iter().position(|&x| x == c) {
                Some(v) => dbuf[j] = v as u8,
                None => return Err(corrupt(olen - rest.len() - 1)),
            }
            j += 1;
        }
        let n = dbuf.iter().fold(0u64, |n, &d| n << 5 | u64::from(d));
        let bytes = match dlen {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            _ => 1,
        };
        out.extend_from_slice(&n.to_be_bytes()[3..3 + bytes]);
    }
    Ok(out)
}

/// Go's `base64.StdEncoding.DecodeString`: line breaks skipped, padding required, trailing
/// bits not checked; an error is the offset of the byte it refuses.
fn b64_decode(src: &[u8]) -> Result<Vec<u8>, usize> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let newline = |c: u8| c == b'\n' || c == b'\r';
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    loop {
        let mut dbuf = [0u8; 4];
        let mut dlen = 4;
        let mut trailing = None;
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                return Err(si - j);
            }
            let c = src[si];
            si += 1;
            if let Some(v) = value(c) {
                dbuf[j] = v;
                j += 1;
                continue;
            }
            if newline(c) {
                continue;
            }
            if c != b'=' || j < 2 {
                return Err(si - 1);
            }
            if j == 2 {
                while si < src.len() && newline(src[si]) {
                    si += 1;
                }
                if si == src.len() {
                    return Err(src.len());
                }
                if src[si] != b'=' {
                    return Err(si - 1);
                }
                si += 1;
            }
            while si < src.len() && newline(src[si]) {
                si += 1;
            }
            if si < src.len() {
                trailing = Some(si);
            }
            dlen = j;
            break;
        }
        let val = dbuf.iter().fold(0u32, |v, &d| v << 6 | u32::from(d));
        out.extend_from_slice(&val.to_be_bytes()[1..dlen]);
        if let Some(at) = trailing {
            return Err(at);
        }
        if dlen < 4 {
            return Ok(out);
        }
    }
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn to_yaml_text(v: &Value) -> Value {
    Value::string(crate::yamlout::to_yaml(v).unwrap_or_default())
}

/// A TOML table as BurntSushi/toml decodes it into `map[string]interface{}`: integers are
/// `int64`, datetimes their RFC 3339 text (Go's `time.Time` prints and marshals the same for
/// the offset datetimes charts hold).
fn toml_table(t: toml::Table) -> Map {
    let m = Map::new();
    for (k, v) in t {
        m.insert(k, toml_value(v));
    }
    m
}

fn toml_value(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::string(s),
        toml::Value::Integer(i) => Value::Int64(i),
        toml::Value::Float(f) => Value::Float(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::string(d.to_string()),
        toml::Value::Array(items) => {
            Value::List(List::new(items.into_iter().map(toml_value).collect()))
        }
        toml::Value::Table(t) => Value::Map(toml_table(t)),
    }
}

pub(super) fn register(r: &mut Reg<'_>) {
    r.add("b64enc", &[S], None, |_, a| {
        Ok(Value::string(
            base64::engine::general_purpose::STANDARD.encode(bytes(&a[0])),
        ))
    });
    r.add("b64dec", &[S], None, |_, a| {
        Ok(match b64_decode(s(&a[0]).as_bytes()) {
            Ok(b) => Value::go_string(b),
            Err(at) => Value::string(format!("illegal base64 data at input byte {at}")),
        })
    });
    r.add("b32enc", &[S], None, |_, a| {
        Ok(Value::string(b32_encode(bytes(&a[0]))))
    });
    r.add("b32dec", &[S], None, |_, a| {
        Ok(match b32_decode(s(&a[0])) {
            Ok(b) => Value::go_string(b),
            Err(e) => Value::string(e),
        })
    });
    r.add("sha1sum", &[S], None, |_, a| {
        Ok(Value::string(hex::encode(sha1::Sha1::digest(bytes(&a[0])))))
    });
    r.add("sha256sum", &[S], None, |_, a| {
        Ok(Value::string(hex::encode(sha2::Sha256::digest(bytes(
            &a[0],
        )))))
    });
    r.add("sha512sum", &[S], None, |_, a| {
        Ok(Value::string(hex::encode(sha2::Sha512::digest(bytes(
            &a[0],
        )))))
    });
    r.add("adler32sum", &[S], None, |_, a| {
        Ok(Value::string(adler32(bytes(&a[0])).to_string()))
    });

    // JSON: Helm's toJson/fromJson replace Sprig's.
    r.add("toJson", &[A], None, |_, a| {
        Ok(Value::string(json::marshal(&a[0]).unwrap_or_default()))
    });
    r.add("mustToJson", &[A], None, |_, a| {
        json::marshal(&a[0])
            .map(Value::string)
            .map_err(GoError::new)
    });
    r.add("toPrettyJson", &[A], None, |_, a| {
        Ok(Value::string(
            json::to_json(&a[0])
                .map(|j| json::write_indented(&j, true))
                .unwrap_or_default(),
        ))
    });
    r.add("mustToPrettyJson", &[A], None, |_, a| {
        json::to_json(&a[0])
            .map(|j| Value::string(json::write_indented(&j, true)))
            .map_err(GoError::new)
    });
    for name in ["toRawJson", "mustToRawJson"] {
        r.add(name, &[A], None, |_, a| {
            json::to_json(&a[0])
                .map(|j| Value::string(json::write(&j, false)))
                .map_err(GoError::new)
        });
    }
    r.add("fromJson", &[S], None, |_, a| {
        Ok(match json::unmarshal_partial(s(&a[0])) {
            Ok(Value::Map(m)) => Value::Map(m),
            // `json.Unmarshal` of `null` into the map sets it to nil (toJson: `null`).
            Ok(Value::Nil) => {
                let mut m = Map::new();
                m.nil = true;
                Value::Map(m)
            }
            Ok(other) => {
                let m = Map::new();
                m.insert("Error", Value::string(wrong_kind(&other, MAP_TYPE)));
                Value::Map(m)
            }
            // What Go decoded before and after a value it could not store stays, beside `Error`.
            Err((partial, e)) => {
                let (m, e) = match partial {
                    Some(Value::Map(m)) => (m, e),
                    // Go meets the wrong kind before the value it could not store (a number
                    // past float64 alone is left nil).
                    Some(other) => (Map::new(), wrong_kind(&other, MAP_TYPE)),
                    None => (Map::new(), e),
                };
                m.insert("Error", Value::string(e));
                Value::Map(m)
            }
        })
    });
    r.add("fromJsonArray", &[S], None, |_, a| {
        Ok(match json::unmarshal_partial(s(&a[0])) {
            Ok(Value::List(l)) => Value::List(l),
            Ok(Value::Nil) => Value::List(List::nil()),
            Ok(other) => Value::List(List::new(vec![Value::string(wrong_kind(
                &other, LIST_TYPE,
            ))])),
            // Helm's fromJsonArray keeps only the error's text.
            Err((partial, e)) => {
                let e = match partial {
                    Some(Value::List(_)) | None => e,
                    Some(other) => wrong_kind(&other, LIST_TYPE),
                };
                Value::List(List::new(vec![Value::string(e)]))
            }
        })
    });
    r.add("mustFromJson", &[S], None, |_, a| {
        json::unmarshal(s(&a[0])).map_err(GoError::new)
    });

    // YAML.
    r.add("toYaml", &[A], None, |_, a| Ok(to_yaml_text(&a[0])));
    r.add("mustToYaml", &[A], None, |_, a| {
        crate::yamlout::marshal(&a[0])
            .map(|mut t| {
                if t.ends_with('\n') {
                    t.pop();
                }
                Value::string(t)
            })
            .map_err(|e| {
                GoError::new(match e {
                    crate::yamlout::MarshalError::Json(e) => {
                        format!("error marshaling into JSON: {e}")
                    }
                    crate::yamlout::MarshalError::ReadBack(e) => e,
                })
            })
    });
    // Helm's `toYamlPretty` swallows go-yaml's errors, and v3 errs only on what Gantry does not
    // encode (or recurses forever on), so every failure here is Gantry's.
    r.add(
        "toYamlPretty",
        &[A],
        None,
        |_, a| match crate::yamlout::to_yaml_pretty(&a[0]) {
            Ok(t) => Ok(Value::string(t)),
            Err(PrettyError::Unsupported(what)) => Err(encoder_unsupported("toYamlPretty", what)),
            Err(PrettyError::Cycle(ty)) => Err(encoder_cycle("toYamlPretty", ty)),
        },
    );
    r.add("fromYaml", &[S], None, |_, a| {
        Ok(Value::Map(
            match unmarshal_map(s(&a[0]), YamlLimits::default()) {
                Ok(m) => m,
                Err(e) => {
                    let m = Map::new();
                    m.insert("Error", Value::string(sigs_yaml_error(&e.msg)));
                    m
                }
            },
        ))
    });
    r.add("fromYamlArray", &[S], None, |_, a| {
        Ok(Value::List(
            match unmarshal_list(s(&a[0]), YamlLimits::default()) {
                Ok(l) => l,
                Err(e) => List::new(vec![Value::string(sigs_yaml_error(&e.msg))]),
            },
        ))
    });
    // Helm's `toToml` returns the encoder's error as its text; `mustToToml` fails with it.
    r.add("toToml", &[A], None, |_, a| match tomlout::to_toml(&a[0]) {
        Ok(t) => Ok(Value::string(t)),
        Err(TomlError::Encode(e)) => Ok(Value::str(e)),
        Err(TomlError::Panic(e)) => Err(GoError::new(e)),
        Err(TomlError::Unsupported(what)) => Err(encoder_unsupported("toToml", what)),
        Err(TomlError::Cycle(ty)) => Err(encoder_cycle("toToml", ty)),
    });
    r.add("mustToToml", &[A], None, |_, a| {
        match tomlout::to_toml(&a[0]) {
            Ok(t) => Ok(Value::string(t)),
            Err(TomlError::Encode(e) | TomlError::Panic(e)) => Err(GoError::new(e)),
            Err(TomlError::Unsupported(what)) => Err(encoder_unsupported("mustToToml", what)),
            Err(TomlError::Cycle(ty)) => Err(encoder_cycle("mustToToml", ty)),
        }
    });
    // Helm's `fromToml`: BurntSushi/toml's decoding into a map, or its error under `Error`.
    r.add("fromToml", &[S], None, |_, a| {
        Ok(Value::Map(match s(&a[0]).parse::<toml::Table>() {
            Ok(t) => toml_table(t),
            Err(e) => {
                let m = Map::new();
                m.insert("Error", Value::string(format!("toml: {}", e.message())));
                m
            }
        }))
    });

    // Helm's offline and error functions.
    r.add("lookup", &[S, S, S, S], None, |_, _| {
        Ok(Value::Map(Map::new()))
    });
    r.add("getHostByName", &[S], None, |_, _| Ok(Value::str("")));
    r.add("fail", &[S], None, |_, a| {
        Err(GoError::new(format!("{WARN_START}{}{WARN_END}", s(&a[0]))))
    });
    r.add("required", &[S, A], None, |_, a| {
        let missing = match &a[1] {
            Value::Invalid | Value::Nil => true,
            Value::String(t) => t.is_empty(),
            _ => false,
        };
        if missing {
            return Err(GoError::new(format!("{WARN_START}{}{WARN_END}", s(&a[0]))));
        }
        Ok(a[1].clone())
    });
}

const MAP_TYPE: &str = "map[string]interface {}";
const LIST_TYPE: &str = "[]interface {}";

/// encoding/json's `UnmarshalTypeError` for a decoded value of the wrong kind for `target`.
/// A nil here is a number past float64 that Go left unset (a JSON `null` is handled before).
fn wrong_kind(v: &Value, target: &str) -> String {
    let kind = if v.is_nil() { "number" } else { json_kind(v) };
    format!("json: cannot unmarshal {kind} into Go value of type {target}")
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "bool",
        Value::Float(_) => "number",
        Value::String(_) => "string",
        Value::List(_) => "array",
        _ => "object",
    }
}

/// `toToml` or `toYamlPretty` of a value Gantry does not encode as Helm's reflection would.
fn encoder_unsupported(name: &str, what: &str) -> GoError {
    GoError::unsupported(format!(
        "the template function {name} is not supported by Gantry for {what}"
    ))
}

/// `toToml` or `toYamlPretty` of a value that contains itself, which Helm's encoder recurses
/// into until Go's stack limit ends the process.
fn encoder_cycle(name: &str, ty: &str) -> GoError {
    GoError::limit(format!(
        "{name} of a value that contains itself (a {ty} inside itself) never ends"
    ))
}

/// sigs.k8s.io/yaml's `Unmarshal` error: YAML that does not convert is "error converting YAML to
/// JSON: ...", JSON that does not decode into the target (a scalar where a map is wanted) is
/// "error unmarshaling JSON: ..." with no other prefix.
fn sigs_yaml_error(msg: &str) -> String {
    if msg.starts_with("error unmarshaling JSON: ") {
        msg.to_owned()
    } else {
        format!(
            "error converting YAML to JSON: {}",
            msg.trim_start_matches("error converting YAML to JSON: ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_round_trips() {
        assert_eq!(b32_encode(b"hello"), "NBSWY3DP");
        assert_eq!(b32_encode(b"hi"), "NBUQ====");
        assert_eq!(b32_decode("NBUQ====").unwrap(), b"hi");
    }

    #[test]
    fn adler32_matches_go() {
        assert_eq!(adler32(b"Wikipedia"), 300_286_872);
    }
}

#[cfg(test)]
mod yaml_error_tests {
    use super::sigs_yaml_error;

    #[test]
    fn a_scalar_where_a_map_is_wanted_is_a_json_error() {
        // What Helm's fromYaml puts under "Error" for `true` (bitnami/contour with
        // `contour.podLabels: true` reaches it through common.tplvalues.merge).
        assert_eq!(
            sigs_yaml_error(
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal bool into Go value of type map[string]interface {}"
            ),
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal bool into Go value of type map[string]interface {}"
        );
        assert_eq!(
            sigs_yaml_error("yaml: line 1: did not find expected key"),
            "error converting YAML to JSON: yaml: line 1: did not find expected key"
        );
    }
}
