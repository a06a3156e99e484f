//! Parses a YAML stream into `serde_json::Value` documents, resolving plain scalars like
//! yaml.v3 decoding into `interface{}` (what kyaml's `RNode.Map()` does), with limits.

use std::collections::HashMap;

use granit_parser::{Event, Options, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

use crate::Limits;

/// A document and the line (1-based) where it starts.
#[derive(Debug, Clone)]
pub struct ParsedDoc {
    /// The decoded document.
    pub value: Value,
    /// The line the document's content starts on.
    pub line: usize,
}

/// A YAML syntax error or an exceeded limit, with the line it was found on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

enum Frame {
    Seq(Vec<Value>, usize),
    Map(Map<String, Value>, Option<String>, usize, Vec<Value>),
}

/// Parses every document of `text`. Empty and null documents are dropped, as kustomize does.
pub fn parse_documents(text: &str, limits: &Limits) -> Result<Vec<ParsedDoc>, ParseError> {
    parse_with(text, limits, false, Dialect::V3)
}

/// Which YAML library's rules resolve plain scalars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// yaml.v3 (kyaml, for resources): only `true`/`false` are booleans; keys stay text.
    V3,
    /// goyaml.v2 through sigs.k8s.io/yaml's `YAMLToJSON` (kustomize's kustomization files,
    /// plugin configs and JSON 6902 patches): YAML 1.1, where `y`, `yes`, `on`, `no`, `off`
    /// are booleans, timestamps stay strings, and keys resolve too (`on:` is `"true"`).
    V2,
}

/// [`parse_documents`] where a repeated mapping key keeps its last value.
pub fn parse_documents_last_key_wins(
    text: &str,
    limits: &Limits,
) -> Result<Vec<ParsedDoc>, ParseError> {
    parse_with(text, limits, true, Dialect::V3)
}

/// Parses every document of `text` as sigs.k8s.io/yaml's `YAMLToJSON` reads it (YAML 1.1).
pub fn parse_documents_yaml11(text: &str, limits: &Limits) -> Result<Vec<ParsedDoc>, ParseError> {
    parse_with(text, limits, false, Dialect::V2)
}

/// Parses a kustomization file: its first document, where a repeated key keeps the last value
/// (as Go's JSON decoding does; kustomize's own test harness writes such files).
pub fn parse_kustomization(text: &str, limits: &Limits) -> Result<Value, ParseError> {
    let docs = parse_with(text, limits, true, Dialect::V2)?;
    Ok(docs
        .into_iter()
        .next()
        .map(|d| d.value)
        .unwrap_or(Value::Object(Map::new())))
}

fn parse_with(
    text: &str,
    limits: &Limits,
    allow_duplicates: bool,
    dialect: Dialect,
) -> Result<Vec<ParsedDoc>, ParseError> {
    if text.len() as u64 > limits.max_file_bytes {
        return Err(ParseError {
            line: 0,
            message: format!("more than {} bytes", limits.max_file_bytes),
        });
    }
    let mut opts = Options::default();
    opts.emit_comments = false;
    opts.block_nesting_limit = limits.max_depth.max(1);
    opts.flow_nesting_limit = limits.max_depth.max(1);
    let parser = Parser::new_from_str_with_options(text, opts);
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Value> = HashMap::new();
    let mut nodes: usize = 0;
    let mut doc_line = 0usize;
    let mut root: Option<Value> = None;
    for item in parser {
        let (event, span) = item.map_err(|e| ParseError {
            line: e.marker().line(),
            // The parser's own nesting check is the depth limit, configured above.
            message: if e.info() == "recursion limit exceeded" {
                format!("nesting deeper than {} levels", limits.max_depth)
            } else {
                e.info()
            },
        })?;
        let line = span.start.line();
        let (value, anchor) = match event {
            Event::StreamStart | Event::StreamEnd => continue,
            Event::DocumentStart(..) => {
                doc_line = line;
                anchors.clear();
                root = None;
                continue;
            }
            Event::DocumentEnd => {
                if let Some(v) = root.take()
                    && !v.is_null()
                {
                    if docs.len() >= limits.max_documents {
                        return Err(ParseError {
                            line,
                            message: format!("more than {} documents", limits.max_documents),
                        });
                    }
                    check_depth(&v, limits.max_depth).map_err(|message| ParseError {
                        line: doc_line,
                        message,
                    })?;
                    docs.push(ParsedDoc {
                        value: v,
                        line: doc_line,
                    });
                }
                continue;
            }
            Event::SequenceStart(_, anchor, _) => {
                stack.push(Frame::Seq(Vec::new(), anchor));
                depth_check(stack.len(), limits, line)?;
                continue;
            }
            Event::MappingStart(_, anchor, _) => {
                stack.push(Frame::Map(Map::new(), None, anchor, Vec::new()));
                depth_check(stack.len(), limits, line)?;
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, anchor)) => (Value::Array(items), anchor),
                _ => return Err(internal(line)),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(mut map, _, anchor, merges)) => {
                    for m in merges {
                        merge_into(&mut map, m);
                    }
                    (Value::Object(map), anchor)
                }
                _ => return Err(internal(line)),
            },
            Event::Scalar(text, style, anchor, tag) => {
                let tag_suffix = tag.as_ref().map(|t| {
                    if t.is_yaml_core_schema() {
                        format!("!!{}", t.suffix())
                    } else {
                        format!("{}{}", t.handle(), t.suffix())
                    }
                });
                // A key that is `<<` marks a merge; keep it as a marker.
                if let Some(Frame::Map(_, None, ..)) = stack.last() {
                    let key = if matches!(style, ScalarStyle::Plain)
                        && text == "<<"
                        && tag_suffix.is_none()
                    {
                        MERGE_KEY.to_owned()
                    } else if dialect == Dialect::V2
                        && matches!(style, ScalarStyle::Plain)
                        && tag_suffix.is_none()
                    {
                        // sigs.k8s.io/yaml turns non-string keys into their JSON text.
                        match resolve_plain_v2(&text) {
                            Value::String(s) => s,
                            Value::Null => "null".to_owned(),
                            Value::Bool(b) => b.to_string(),
                            Value::Number(n) => super::gofmt::number_text(&n),
                            other => other.to_string(),
                        }
                    } else {
                        text.into_owned()
                    };
                    if let Some(Frame::Map(_, k, ..)) = stack.last_mut() {
                        *k = Some(key);
                    }
                    nodes += 1;
                    continue;
                }
                // kyaml reads annotations as the scalars' source text.
                let v = if in_root_annotations(&stack) {
                    Value::String(text.into_owned())
                } else {
                    scalar(&text, style, tag_suffix.as_deref(), dialect)
                };
                (v, anchor)
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(v) => {
                    nodes += count_nodes(v);
                    if nodes > limits.max_nodes {
                        return Err(ParseError {
                            line,
                            message: format!(
                                "more than {} nodes (alias expansion)",
                                limits.max_nodes
                            ),
                        });
                    }
                    // An alias used as a mapping key.
                    if let Some(Frame::Map(_, k @ None, ..)) = stack.last_mut() {
                        *k = Some(match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        });
                        continue;
                    }
                    (v.clone(), 0)
                }
                None => {
                    return Err(ParseError {
                        line,
                        message: "unknown anchor".into(),
                    });
                }
            },
            _ => continue,
        };
        nodes += 1;
        if nodes > limits.max_nodes {
            return Err(ParseError {
                line,
                message: format!("more than {} nodes", limits.max_nodes),
            });
        }
        if anchor != 0 {
            anchors.insert(anchor, value.clone());
        }
        match stack.last_mut() {
            None => root = Some(value),
            Some(Frame::Seq(items, _)) => items.push(value),
            Some(Frame::Map(map, key, _, merges)) => {
                let Some(k) = key.take() else {
                    // A non-scalar key: flow it to a string, as Go would fail; reject instead.
                    return Err(ParseError {
                        line,
                        message: "mapping keys must be scalars".into(),
                    });
                };
                if k == MERGE_KEY {
                    match value {
                        Value::Array(items) => merges.extend(items),
                        v => merges.push(v),
                    }
                } else {
                    if map.contains_key(&k) && !allow_duplicates {
                        return Err(ParseError {
                            line,
                            message: format!("mapping key \"{k}\" already defined"),
                        });
                    }
                    map.insert(k, value);
                }
            }
        }
    }
    Ok(docs)
}

fn in_root_annotations(stack: &[Frame]) -> bool {
    if stack.len() != 3 {
        return false;
    }
    matches!(&stack[0], Frame::Map(_, Some(k), ..) if k == "metadata")
        && matches!(&stack[1], Frame::Map(_, Some(k), ..) if k == "annotations")
        && matches!(&stack[2], Frame::Map(_, Some(_), ..))
}

const MERGE_KEY: &str = "\u{0}<<merge>>";

fn merge_into(map: &mut Map<String, Value>, m: Value) {
    if let Value::Object(src) = m {
        for (k, v) in src {
            map.entry(k).or_insert(v);
        }
    }
}

fn internal(line: usize) -> ParseError {
    ParseError {
        line,
        message: "unbalanced YAML events".into(),
    }
}

fn depth_check(depth: usize, limits: &Limits, line: usize) -> Result<(), ParseError> {
    if depth > limits.max_depth {
        return Err(ParseError {
            line,
            message: format!("nesting deeper than {} levels", limits.max_depth),
        });
    }
    Ok(())
}

fn check_depth(v: &Value, max: usize) -> Result<(), String> {
    let mut stack = vec![(v, 1usize)];
    while let Some((v, d)) = stack.pop() {
        if d > max {
            return Err(format!("nesting deeper than {max} levels"));
        }
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    Ok(())
}

fn count_nodes(v: &Value) -> usize {
    let mut n = 0;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        n += 1;
        match v {
            Value::Array(a) => stack.extend(a.iter()),
            Value::Object(o) => stack.extend(o.values()),
            _ => {}
        }
    }
    n
}

fn scalar(text: &str, style: ScalarStyle, tag: Option<&str>, dialect: Dialect) -> Value {
    let resolve = match dialect {
        Dialect::V3 => resolve_plain,
        Dialect::V2 => resolve_plain_v2,
    };
    match tag {
        Some("!!str") | Some("!!binary") => return Value::String(text.to_owned()),
        Some("!!int") | Some("!!float") | Some("!!bool") | Some("!!null") => {
            return resolve(text);
        }
        _ => {}
    }
    if matches!(style, ScalarStyle::Plain) {
        resolve(text)
    } else {
        Value::String(text.to_owned())
    }
}

/// Resolves a plain scalar as goyaml.v2 does when decoding into `interface{}` (what
/// sigs.k8s.io/yaml's `YAMLToJSON` does): YAML 1.1 booleans, and timestamps kept as strings.
pub fn resolve_plain_v2(s: &str) -> Value {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Value::Bool(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Value::Bool(false),
        _ => {}
    }
    if parse_timestamp(s).is_some() {
        return Value::String(s.to_owned());
    }
    resolve_plain(s)
}

/// Resolves a plain scalar as yaml.v3 does when decoding into `interface{}`, then as
/// `encoding/json` would serialise that Go value.
pub fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        // Go's encoding/json cannot encode these floats; kustomize fails. Keep them as text.
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF"
        | "-.inf" | "-.Inf" | "-.INF" => return Value::String(s.to_owned()),
        _ => {}
    }
    let first = s.as_bytes()[0];
    match first {
        b'.' => {
            if let Some(f) = go_parse_float(s) {
                return float(f, s);
            }
        }
        b'+' | b'-' | b'0'..=b'9' => {
            if let Some(ts) = parse_timestamp(s) {
                return Value::String(ts);
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if let Some(v) = go_parse_int(&plain) {
                return v;
            }
            if yaml_style_float(&plain)
                && let Some(f) = go_parse_float(&plain)
            {
                return float(f, s);
            }
            let (neg, rest) = match plain.strip_prefix('-') {
                Some(r) => (true, r),
                None => (false, plain.strip_prefix('+').unwrap_or(&plain)),
            };
            for (prefix, radix) in [("0b", 2), ("0o", 8)] {
                if let Some(digits) = rest.strip_prefix(prefix)
                    && let Ok(u) = u64::from_str_radix(digits, radix)
                {
                    if neg {
                        if let Ok(i) = i64::try_from(u) {
                            return Value::Number((-i).into());
                        }
                    } else {
                        return Value::Number(u.into());
                    }
                }
            }
        }
        _ => {}
    }
    Value::String(s.to_owned())
}

fn float(f: f64, raw: &str) -> Value {
    Number::from_f64(f).map_or_else(|| Value::String(raw.to_owned()), Value::Number)
}

/// Go's `strconv.ParseInt(s, 0, 64)` then `ParseUint(s, 0, 64)`.
fn go_parse_int(s: &str) -> Option<Value> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) =
        if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, d)
        } else if let Some(d) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, d)
        } else if let Some(d) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, d)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let u = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        if u <= i64::MAX as u64 + 1 {
            let i = (u as i128).checked_neg()?;
            return i64::try_from(i).ok().map(|i| Value::Number(i.into()));
        }
        None
    } else {
        Some(Value::Number(u.into()))
    }
}

/// YAML 1.1 float syntax, shared by the parser (to type plain scalars) and the emitter (to
/// quote strings that would read back as floats): the Helm engine's reading of values, one
/// definition for both.
pub(crate) use gantry_helm::yaml::yaml_style_float;

fn go_parse_float(s: &str) -> Option<f64> {
    let t = s.strip_prefix('+').unwrap_or(s);
    let lower = t.to_ascii_lowercase();
    let core = lower.trim_start_matches('-');
    if core == "inf" || core == "infinity" || core == "nan" || core.starts_with("0x") {
        return None;
    }
    if !t
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+'))
    {
        return None;
    }
    let f: f64 = t.parse().ok()?;
    f.is_finite().then_some(f)
}

/// yaml.v3 decodes unquoted dates as `time.Time`; JSON then writes RFC 3339.
fn parse_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    // Only the date-only form is handled; other forms stay strings.
    let rest = &s[5..];
    let mut parts = rest.split('-');
    let m = parts.next()?;
    let d = parts.next()?;
    if parts.next().is_some() || m.is_empty() || d.is_empty() || m.len() > 2 || d.len() > 2 {
        return None;
    }
    let mi: u32 = m.parse().ok()?;
    let di: u32 = d.parse().ok()?;
    if !(1..=12).contains(&mi) || !(1..=31).contains(&di) {
        return None;
    }
    Some(format!("{}-{:02}-{:02}T00:00:00Z", &s[..4], mi, di))
}
