//! `values.schema.json`, enforced as Helm does for the chart and each subchart with values.
//! Gantry never fetches a remote schema reference: such a schema is refused.

mod explain;

use std::sync::Arc;

use gantry_gotmpl::{Map, Value};

use crate::HelmError;
use crate::chart::Chart;

/// A schema ready to check values with, or why it is not (the message under its chart's name).
pub type Compiled = Result<jsonschema::Validator, String>;

/// Compiles a `values.schema.json`. It depends on nothing but the file, so a helper thread
/// compiles a chart's schemas while the render loads its values ([`crate::ahead`]).
pub fn compile(schema: &[u8]) -> Compiled {
    let mut schema: serde_json::Value =
        serde_json::from_slice(schema).map_err(|e| json_error(schema, &e))?;
    escape_refs(&mut schema);
    go_patterns(&mut schema);
    // Helm's validator (santhosh-tekuri/jsonschema) compiles patterns with Go's RE2: POSIX
    // classes such as `[[:alpha:]]`, no lookaround or backreference. The regex crate reads them
    // so, for `patternProperties`; fancy-regex (the default) refused the first and took the
    // others. `pattern`, the one values meet, is Go's own reading (ASCII `\d`, `\s`, `\w`).
    jsonschema::options()
        .with_pattern_options(jsonschema::PatternOptions::regex())
        .with_keyword(GO_PATTERN, go_pattern)
        .build(&schema)
        .map_err(|e| {
            let e = e.to_string();
            // Said only where it is why: a pattern Go refuses is no reference.
            let remote = if e.contains("retrieving it failed") {
                " (Gantry resolves no remote references)"
            } else {
                ""
            };
            format!("unable to compile values.schema.json{remote}: {e}\n")
        })
}

/// What `pattern` is renamed to before the schema is compiled: the crate checks a schema
/// against its meta-schema first, where a pattern must be an ECMA-262 one, and `(?i)x` (a Go
/// pattern Helm's validator takes) is not. The keyword's value is checked as Go's when it
/// compiles ([`go_pattern`]).
const GO_PATTERN: &str = "x-gantry-go-pattern";

/// Renames each `pattern` keyword of `schema` (a string, in a place a schema is, not a property
/// named `pattern`) to [`GO_PATTERN`].
fn go_patterns(schema: &mut serde_json::Value) {
    let serde_json::Value::Object(m) = schema else {
        return;
    };
    if let Some(p @ serde_json::Value::String(_)) = m.remove("pattern") {
        m.insert(GO_PATTERN.to_owned(), p);
    }
    for (k, v) in m.iter_mut() {
        match (k.as_str(), v) {
            (
                "properties" | "patternProperties" | "definitions" | "$defs" | "dependentSchemas"
                | "dependencies",
                serde_json::Value::Object(named),
            ) => named.values_mut().for_each(go_patterns),
            (
                "allOf" | "anyOf" | "oneOf" | "prefixItems" | "items",
                serde_json::Value::Array(all),
            ) => all.iter_mut().for_each(go_patterns),
            (
                "items"
                | "additionalItems"
                | "additionalProperties"
                | "contains"
                | "propertyNames"
                | "not"
                | "if"
                | "then"
                | "else"
                | "unevaluatedItems"
                | "unevaluatedProperties",
                v,
            ) => go_patterns(v),
            _ => {}
        }
    }
}

/// Why a schema is not JSON, as Helm's validator says it (encoding/json's decoder: `EOF` for
/// nothing, `unexpected EOF` for a value cut short, its scanner's words for a syntax error,
/// and the validator's own for anything after the value).
fn json_error(text: &[u8], e: &serde_json::Error) -> String {
    // Helm writes the error with no line break after it (a chart after it runs on).
    if text.iter().all(u8::is_ascii_whitespace) {
        return "EOF".into();
    }
    match crate::json::go_syntax_error(text) {
        Some(m) if m == "unexpected end of JSON input" => "unexpected EOF".into(),
        // The decoder reads one value; the validator then refuses anything after it.
        Some(m) if m.ends_with("after top-level value") => {
            "invalid character after top-level value".into()
        }
        Some(m) => m,
        None => format!("invalid values.schema.json: {e}\n"),
    }
}

/// `pattern` as Helm's validator checks it: Go's regular expression, searched for in strings
/// only, and its failure in that validator's words.
struct GoPattern {
    source: String,
    re: regex::Regex,
}

fn go_pattern<'a>(
    _: &'a serde_json::Map<String, serde_json::Value>,
    pattern: &'a serde_json::Value,
    _: jsonschema::paths::Location,
) -> Result<Box<dyn for<'i> jsonschema::Keyword<'i>>, jsonschema::ValidationError<'a>> {
    let source = pattern
        .as_str()
        .ok_or_else(|| jsonschema::ValidationError::custom("'pattern' is not a string"))?;
    let re = crate::funcs::go_regex(source).map_err(|e| {
        jsonschema::ValidationError::custom(format!(
            "{} is not valid regex: {e}",
            explain::quote(source)
        ))
    })?;
    Ok(Box::new(GoPattern {
        source: source.to_owned(),
        re,
    }))
}

impl<'i> jsonschema::Keyword<'i> for GoPattern {
    fn validate(
        &self,
        instance: &'i serde_json::Value,
    ) -> Result<(), jsonschema::ValidationError<'i>> {
        match instance.as_str() {
            Some(s) if !self.re.is_match(s) => Err(jsonschema::ValidationError::custom(format!(
                "{} does not match pattern {}",
                explain::quote(s),
                explain::quote(&self.source)
            ))),
            _ => Ok(()),
        }
    }

    fn is_valid(&self, instance: &'i serde_json::Value) -> bool {
        instance.as_str().is_none_or(|s| self.re.is_match(s))
    }
}

/// Percent-encodes what RFC 3986 does not allow in a `$ref` (`#/$defs/revisions[0]`, as
/// cert-manager's generated schemas have): Helm's validator takes such a reference as it is,
/// and the jsonschema crate refuses to parse it; a JSON pointer in a fragment is
/// percent-decoded, so the reference still names the same key.
fn escape_refs(schema: &mut serde_json::Value) {
    match schema {
        serde_json::Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                match v {
                    serde_json::Value::String(r) if k == "$ref" => {
                        if let Some(escaped) = escape_uri(r) {
                            *r = escaped;
                        }
                    }
                    v => escape_refs(v),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(escape_refs),
        _ => {}
    }
}

/// `r` with each byte a URI may not hold percent-encoded, or `None` when it has none.
fn escape_uri(r: &str) -> Option<String> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%#".contains(&b);
    if r.bytes().all(allowed) {
        return None;
    }
    let mut out = String::with_capacity(r.len() + 8);
    for b in r.bytes() {
        if allowed(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Some(out)
}

/// Finds a schema already compiled, by its text.
pub type Lookup<'a> = &'a dyn Fn(&[u8]) -> Option<Arc<Compiled>>;

fn validate_one(values: &Map, schema: &[u8], lookup: Lookup<'_>) -> Result<(), String> {
    let compiled = lookup(schema).unwrap_or_else(|| Arc::new(compile(schema)));
    let validator = compiled.as_ref().as_ref().map_err(Clone::clone)?;
    let instance =
        crate::json::to_serde(&Value::Map(values.clone())).map_err(|e| format!("{e}\n"))?;
    // Values that pass are the rule; checking them stops at nothing and collects nothing.
    if validator.is_valid(&instance) {
        return Ok(());
    }
    // Why they fail is said as Helm's validator says it, where the walk follows the schema.
    if let Ok(schema) = serde_json::from_slice::<serde_json::Value>(schema)
        && let Some(out) = explain::explain(&schema, &instance)
    {
        return Err(out);
    }
    let mut out = String::new();
    for err in validator.iter_errors(&instance) {
        out.push_str(&format!("- at '{}': {}\n", err.instance_path(), err));
    }
    if out.is_empty() { Ok(()) } else { Err(out) }
}

fn validate(c: &Chart, values: &Map, lookup: Lookup<'_>, out: &mut String) {
    if let Some(schema) = &c.schema
        && let Err(e) = validate_one(values, schema, lookup)
    {
        out.push_str(&format!("{}:\n{e}", c.metadata.name));
    }
    for sub in &c.dependencies {
        match values.get(&sub.metadata.name) {
            None | Some(Value::Nil) => {}
            Some(Value::Map(m)) => validate(sub, &m, lookup, out),
            Some(other) => out.push_str(&format!(
                "{}:\ninvalid type for values: expected object (map), got {}\n",
                sub.metadata.name,
                other.type_name()
            )),
        }
    }
}

/// `ValidateAgainstSchema`; `lookup` gives schemas compiled ahead, and any other is compiled
/// here.
pub fn check(c: &Chart, values: &Map, lookup: Lookup<'_>) -> Result<(), HelmError> {
    let mut out = String::new();
    validate(c, values, lookup, &mut out);
    if out.is_empty() {
        Ok(())
    } else {
        Err(HelmError::Schema(out))
    }
}
