//! Why values fail a schema, in the words and shape of Helm's validator
//! (santhosh-tekuri/jsonschema v6): which keywords it checks, in its order, where it stops,
//! and how it nests and prints the failures.
//!
//! The jsonschema crate decides whether values are valid; this walk runs only once they are
//! not, to say why as Helm would. Where it meets what it does not follow (a remote or unusual
//! reference, `unevaluated*`, a failing `format`), it gives up and the crate's own list is
//! printed instead.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// One failure: where in the values, what, and the failures beneath it.
struct Failure {
    at: Vec<String>,
    message: String,
    causes: Vec<Failure>,
    /// A reference with a single cause is printed as that cause.
    reference: bool,
}

/// The walk cannot follow this schema as Helm's validator would.
struct GiveUp;

type Outcome = Result<Option<Failure>, GiveUp>;

/// Deep enough for any schema a chart holds; a reference cycle ends here.
const MAX_DEPTH: usize = 128;

/// Lists why `values` fail `schema`, one `- at 'PATH': MESSAGE` line per failure with causes
/// indented beneath, as Helm prints them; `None` where this walk does not follow the schema or
/// finds nothing to say.
pub fn explain(schema: &Value, values: &Value) -> Option<String> {
    let draft = draft_of(schema);
    let walk = Walk {
        root: schema,
        draft,
    };
    let failure = walk.validate(schema, values, &mut Vec::new(), 0).ok()??;
    let mut out = String::new();
    // Helm trims the validator's header, which names the schema by the location it was
    // added at (`file:///values.schema.json`), whatever its `$id`.
    for f in &failure.into_causes() {
        print(f, 0, &mut out);
    }
    Some(out)
}

const GROUP: &str = "validation failed";

impl Failure {
    /// What a failure stands for where the validator takes a subschema's result whole (the
    /// top, a reference, a property name): a group's causes, or the failure alone.
    fn into_causes(self) -> Vec<Failure> {
        if self.message == GROUP && !self.reference {
            self.causes
        } else {
            vec![self]
        }
    }
}

fn print(f: &Failure, depth: usize, out: &mut String) {
    let mut depth = depth;
    if !(f.reference && f.causes.len() == 1) {
        for _ in 0..depth {
            out.push_str("  ");
        }
        let _ = writeln!(out, "- at {}: {}", quote(&pointer(&f.at)), f.message);
        depth += 1;
    }
    for c in &f.causes {
        print(c, depth, out);
    }
}

fn pointer(at: &[String]) -> String {
    at.iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// The validator's `quote`: Go's `%q` between single quotes.
pub fn quote(s: &str) -> String {
    let q = gantry_gotmpl::gofmt::quote(s);
    let inner = q[1..q.len() - 1].replace("\\\"", "\"").replace('\'', "\\'");
    format!("'{inner}'")
}

fn draft_of(schema: &Value) -> u32 {
    match schema.get("$schema").and_then(Value::as_str) {
        Some(s) if s.contains("draft-04") => 4,
        Some(s) if s.contains("draft-06") => 6,
        Some(s) if s.contains("draft-07") => 7,
        Some(s) if s.contains("2019-09") => 2019,
        _ => 2020,
    }
}

struct Walk<'s> {
    root: &'s Value,
    draft: u32,
}

impl<'s> Walk<'s> {
    fn fail(&self, at: &[String], message: String) -> Failure {
        Failure {
            at: at.to_vec(),
            message,
            causes: Vec::new(),
            reference: false,
        }
    }

    fn with_causes(&self, at: &[String], message: String, causes: Vec<Failure>) -> Failure {
        Failure {
            at: at.to_vec(),
            message,
            causes,
            reference: false,
        }
    }

    /// `validator.validate`: the failures of one schema on one value.
    fn validate(&self, s: &'s Value, v: &Value, at: &mut Vec<String>, depth: usize) -> Outcome {
        if depth > MAX_DEPTH {
            return Err(GiveUp);
        }
        let s = match s {
            Value::Bool(true) => return Ok(None),
            Value::Bool(false) => return Ok(Some(self.fail(at, "false schema".into()))),
            Value::Object(s) => s,
            _ => return Err(GiveUp),
        };
        for unsupported in [
            "unevaluatedProperties",
            "unevaluatedItems",
            "$dynamicRef",
            "$recursiveRef",
        ] {
            if s.contains_key(unsupported) {
                return Err(GiveUp);
            }
        }
        // Before 2019-09, a `$ref` is the schema: its siblings are not read at all.
        if self.draft < 2019
            && let Some(Value::String(r)) = s.get("$ref")
        {
            let target = self.resolve(r)?;
            return Ok(self.validate(target, v, at, depth + 1)?.map(|f| Failure {
                at: at.clone(),
                message: GROUP.into(),
                causes: f.into_causes(),
                reference: true,
            }));
        }
        if let Some(types) = s.get("type") {
            let want = types_of(types);
            let got = type_of(v);
            let matched = want.contains(&got)
                || (want.contains(&"integer") && got == "number" && is_integer(v));
            if !want.is_empty() && !matched {
                return Ok(Some(
                    self.fail(at, format!("got {got}, want {}", want.join(" or "))),
                ));
            }
        }
        if self.draft >= 6
            && let Some(want) = s.get("const")
            && !equals(v, want)
        {
            let message = match want {
                Value::Array(_) | Value::Object(_) => "'const' failed".to_owned(),
                _ => format!("value must be {}", display(want)),
            };
            return Ok(Some(self.fail(at, message)));
        }
        if let Some(Value::Array(items)) = s.get("enum")
            && !items.iter().any(|i| equals(v, i))
        {
            let message = if items
                .iter()
                .any(|i| matches!(i, Value::Array(_) | Value::Object(_)))
            {
                "'enum' failed".to_owned()
            } else if items.len() == 1 {
                format!("value must be {}", display(&items[0]))
            } else {
                let all: Vec<String> = items.iter().map(display).collect();
                format!("value must be one of {}", all.join(", "))
            };
            return Ok(Some(self.fail(at, message)));
        }
        if let Some(Value::String(format)) = s.get("format")
            && self.draft < 2019
            && !format_holds(format, v, self.draft)
        {
            // Each format's reason is the validator's own text; not followed here.
            return Err(GiveUp);
        }
        let mut errors = Vec::new();
        if let Some(Value::String(r)) = s.get("$ref") {
            let target = self.resolve(r)?;
            let failure = self.validate(target, v, at, depth + 1)?.map(|f| Failure {
                at: at.clone(),
                message: GROUP.into(),
                causes: f.into_causes(),
                reference: true,
            });
            errors.extend(failure);
        }
        match v {
            Value::Object(obj) => self.object(s, obj, at, depth, &mut errors)?,
            Value::Array(arr) => self.array(s, arr, at, depth, &mut errors)?,
            Value::String(text) => self.string(s, text, at, &mut errors),
            Value::Number(_) => self.number(s, v, at, &mut errors),
            _ => {}
        }
        self.conditions(s, v, at, depth, &mut errors)?;
        Ok(match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(self.with_causes(at, GROUP.into(), errors)),
        })
    }

    /// `minProperties`/`maxProperties`, `minItems`/`maxItems`, `minLength`/`maxLength`: the
    /// value's size against the bounds the schema names.
    fn size(
        &self,
        min: &str,
        max: &str,
        len: usize,
        s: &Map<String, Value>,
        at: &[String],
        errors: &mut Vec<Failure>,
    ) {
        if let Some(want) = s.get(min).and_then(as_count)
            && len < want
        {
            errors.push(self.fail(
                at,
                format!("{min}: got {}, want {}", group(len), group(want)),
            ));
        }
        if let Some(want) = s.get(max).and_then(as_count)
            && len > want
        {
            errors.push(self.fail(
                at,
                format!("{max}: got {}, want {}", group(len), group(want)),
            ));
        }
    }

    /// The failure of a subschema at a member of the value.
    fn at_member(
        &self,
        s: &'s Value,
        v: &Value,
        at: &mut Vec<String>,
        member: String,
        depth: usize,
    ) -> Outcome {
        at.push(member);
        let out = self.validate(s, v, at, depth + 1);
        at.pop();
        out
    }

    fn object(
        &self,
        s: &'s Map<String, Value>,
        obj: &Map<String, Value>,
        at: &mut Vec<String>,
        depth: usize,
        errors: &mut Vec<Failure>,
    ) -> Result<(), GiveUp> {
        self.size("minProperties", "maxProperties", obj.len(), s, at, errors);
        if let Some(Value::Array(required)) = s.get("required") {
            let missing = missing(obj, required);
            match missing.len() {
                0 => {}
                1 => errors.push(self.fail(at, format!("missing property {}", quote(&missing[0])))),
                _ => errors
                    .push(self.fail(at, format!("missing properties {}", join_quoted(&missing)))),
            }
        }
        if self.draft < 2019
            && let Some(Value::Object(deps)) = s.get("dependencies")
        {
            for (name, dep) in deps {
                if !obj.contains_key(name) {
                    continue;
                }
                match dep {
                    Value::Array(names) => {
                        let missing = missing(obj, names);
                        if !missing.is_empty() {
                            errors.push(self.dependency(at, name, &missing));
                        }
                    }
                    dep => errors.extend(self.validate(
                        dep,
                        &Value::Object(obj.clone()),
                        at,
                        depth + 1,
                    )?),
                }
            }
        }
        let properties = s.get("properties").and_then(Value::as_object);
        let patterns = match s.get("patternProperties") {
            Some(Value::Object(p)) => p
                .iter()
                .map(|(p, sch)| Ok((crate::funcs::go_regex(p).map_err(|_| GiveUp)?, sch)))
                .collect::<Result<Vec<_>, GiveUp>>()?,
            _ => Vec::new(),
        };
        let mut additional = Vec::new();
        for (name, value) in obj {
            let mut evaluated = false;
            if let Some(sch) = properties.and_then(|p| p.get(name)) {
                evaluated = true;
                errors.extend(self.at_member(sch, value, at, name.clone(), depth)?);
            }
            for (re, sch) in &patterns {
                if re.is_match(name) {
                    evaluated = true;
                    errors.extend(self.at_member(sch, value, at, name.clone(), depth)?);
                }
            }
            if !evaluated {
                match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => additional.push(name.clone()),
                    Some(sch @ Value::Object(_)) => {
                        errors.extend(self.at_member(sch, value, at, name.clone(), depth)?);
                    }
                    _ => {}
                }
            }
        }
        if !additional.is_empty() {
            errors.push(self.fail(
                at,
                format!(
                    "additional properties {} not allowed",
                    join_quoted(&additional)
                ),
            ));
        }
        if self.draft == 4 {
            return Ok(());
        }
        if let Some(names) = s.get("propertyNames") {
            for name in obj.keys() {
                // The validator checks each name as a value of its own, at its own root.
                if let Some(f) = self.validate(
                    names,
                    &Value::String(name.clone()),
                    &mut Vec::new(),
                    depth + 1,
                )? {
                    errors.push(self.with_causes(
                        &[],
                        format!("invalid propertyName {}", quote(name)),
                        f.into_causes(),
                    ));
                }
            }
        }
        if self.draft == 6 {
            return Ok(());
        }
        if self.draft >= 2019 {
            if let Some(Value::Object(deps)) = s.get("dependentSchemas") {
                for (name, dep) in deps {
                    if obj.contains_key(name) {
                        errors.extend(self.validate(
                            dep,
                            &Value::Object(obj.clone()),
                            at,
                            depth + 1,
                        )?);
                    }
                }
            }
            if let Some(Value::Object(deps)) = s.get("dependentRequired") {
                for (name, dep) in deps {
                    if let (true, Value::Array(names)) = (obj.contains_key(name), dep) {
                        let missing = missing(obj, names);
                        if !missing.is_empty() {
                            errors.push(self.dependency(at, name, &missing));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn dependency(&self, at: &[String], name: &str, missing: &[String]) -> Failure {
        self.fail(
            at,
            format!(
                "properties {} required, if {} exists",
                join_quoted(missing),
                quote(name)
            ),
        )
    }

    fn array(
        &self,
        s: &'s Map<String, Value>,
        arr: &[Value],
        at: &mut Vec<String>,
        depth: usize,
        errors: &mut Vec<Failure>,
    ) -> Result<(), GiveUp> {
        self.size("minItems", "maxItems", arr.len(), s, at, errors);
        if s.get("uniqueItems") == Some(&Value::Bool(true))
            && let Some((j, i)) = duplicates(arr)
        {
            errors.push(self.fail(
                at,
                format!("items at {} and {} are equal", group(j), group(i)),
            ));
        }
        if self.draft < 2020 {
            let mut evaluated = 0;
            match s.get("items") {
                Some(Value::Array(items)) => {
                    evaluated = items.len().min(arr.len());
                    for (i, item) in arr[..evaluated].iter().enumerate() {
                        errors.extend(self.at_member(&items[i], item, at, i.to_string(), depth)?);
                    }
                }
                Some(items) => {
                    for (i, item) in arr.iter().enumerate() {
                        errors.extend(self.at_member(items, item, at, i.to_string(), depth)?);
                    }
                    evaluated = arr.len();
                }
                None => {}
            }
            if s.contains_key("items") || self.draft >= 2019 {
                match s.get("additionalItems") {
                    Some(Value::Bool(false)) if evaluated != arr.len() => errors.push(self.fail(
                        at,
                        format!(
                            "last {} additionalItem(s) not allowed",
                            group(arr.len() - evaluated)
                        ),
                    )),
                    // The validator names each by its place among the additional ones.
                    Some(sch @ Value::Object(_)) => {
                        for (i, item) in arr[evaluated..].iter().enumerate() {
                            errors.extend(self.at_member(sch, item, at, i.to_string(), depth)?);
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let prefix = s.get("prefixItems").and_then(Value::as_array);
            let evaluated = prefix.map_or(0, |p| p.len().min(arr.len()));
            if let Some(prefix) = prefix {
                for (i, item) in arr[..evaluated].iter().enumerate() {
                    errors.extend(self.at_member(&prefix[i], item, at, i.to_string(), depth)?);
                }
            }
            if let Some(items) = s.get("items") {
                // As the validator does, counted from the first item past the prefix.
                for (i, item) in arr[evaluated..].iter().enumerate() {
                    errors.extend(self.at_member(items, item, at, i.to_string(), depth)?);
                }
            }
        }
        if self.draft >= 6
            && let Some(contains) = s.get("contains")
        {
            let mut failures = Vec::new();
            let mut matched = Vec::new();
            for (i, item) in arr.iter().enumerate() {
                match self.at_member(contains, item, at, i.to_string(), depth)? {
                    Some(f) => failures.push(f),
                    None => matched.push(i),
                }
            }
            let min = if self.draft >= 2019 {
                s.get("minContains").and_then(as_count)
            } else {
                None
            };
            let max = if self.draft >= 2019 {
                s.get("maxContains").and_then(as_count)
            } else {
                None
            };
            if let Some(min) = min {
                if matched.len() < min {
                    let message = if matched.is_empty() {
                        format!(
                            "min {} items required to match contains schema, but none matched",
                            group(min)
                        )
                    } else {
                        format!(
                            "min {} items required to match contains schema, but matched {} items at {}",
                            group(min),
                            group(matched.len()),
                            spaced(&matched)
                        )
                    };
                    errors.push(self.with_causes(at, message, failures));
                }
            } else if matched.is_empty() {
                errors.push(self.with_causes(
                    at,
                    "no items match contains schema".into(),
                    failures,
                ));
            }
            if let Some(max) = max
                && matched.len() > max
            {
                errors.push(self.fail(
                    at,
                    format!(
                        "max {} items required to match contains schema, but matched {} items at {}",
                        group(max),
                        group(matched.len()),
                        spaced(&matched)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn string(&self, s: &Map<String, Value>, text: &str, at: &[String], errors: &mut Vec<Failure>) {
        let len = text.chars().count();
        self.size("minLength", "maxLength", len, s, at, errors);
        if let Some(Value::String(p)) = s.get("pattern")
            && crate::funcs::go_regex(p).is_ok_and(|re| !re.is_match(text))
        {
            errors.push(self.fail(
                at,
                format!("{} does not match pattern {}", quote(text), quote(p)),
            ));
        }
    }

    fn number(&self, s: &Map<String, Value>, v: &Value, at: &[String], errors: &mut Vec<Failure>) {
        let Some(n) = v.as_f64() else { return };
        let bound = |k: &str| s.get(k).and_then(Value::as_f64);
        let mut minimum = bound("minimum");
        let mut maximum = bound("maximum");
        let (mut exclusive_min, mut exclusive_max) =
            (bound("exclusiveMinimum"), bound("exclusiveMaximum"));
        if self.draft == 4 {
            // Draft 4's exclusive bounds are flags on `minimum` and `maximum`.
            exclusive_min = None;
            exclusive_max = None;
            if s.get("exclusiveMinimum") == Some(&Value::Bool(true)) {
                exclusive_min = minimum.take();
            }
            if s.get("exclusiveMaximum") == Some(&Value::Bool(true)) {
                exclusive_max = maximum.take();
            }
        }
        let mut check = |name: &str, want: Option<f64>, bad: fn(f64, f64) -> bool| {
            if let Some(want) = want
                && bad(n, want)
            {
                errors.push(self.fail(
                    at,
                    format!("{name}: got {}, want {}", float(n), float(want)),
                ));
            }
        };
        check("minimum", minimum, |n, w| n < w);
        check("maximum", maximum, |n, w| n > w);
        check("exclusiveMinimum", exclusive_min, |n, w| n <= w);
        check("exclusiveMaximum", exclusive_max, |n, w| n >= w);
        if let Some(m) = s.get("multipleOf").and_then(Value::as_f64)
            && !is_multiple(n, m)
        {
            errors.push(self.fail(
                at,
                format!("multipleOf: got {}, want {}", float(n), float(m)),
            ));
        }
    }

    fn conditions(
        &self,
        s: &'s Map<String, Value>,
        v: &Value,
        at: &mut Vec<String>,
        depth: usize,
        errors: &mut Vec<Failure>,
    ) -> Result<(), GiveUp> {
        if let Some(not) = s.get("not")
            && self.validate(not, v, at, depth + 1)?.is_none()
        {
            errors.push(self.fail(at, "'not' failed".into()));
        }
        if let Some(Value::Array(all)) = s.get("allOf") {
            let mut failures = Vec::new();
            for sch in all {
                failures.extend(self.validate(sch, v, at, depth + 1)?);
            }
            if !failures.is_empty() {
                errors.push(self.with_causes(at, "'allOf' failed".into(), failures));
            }
        }
        if let Some(Value::Array(any)) = s.get("anyOf") {
            let mut failures = Vec::new();
            let mut matched = false;
            for sch in any {
                match self.validate(sch, v, at, depth + 1)? {
                    Some(f) => failures.push(f),
                    None => {
                        matched = true;
                        break;
                    }
                }
            }
            if !matched {
                errors.push(self.with_causes(at, "'anyOf' failed".into(), failures));
            }
        }
        if let Some(Value::Array(one)) = s.get("oneOf") {
            let mut failures = Vec::new();
            let mut matched: Option<usize> = None;
            for (i, sch) in one.iter().enumerate() {
                match (self.validate(sch, v, at, depth + 1)?, matched) {
                    (Some(f), None) => failures.push(f),
                    (Some(_), Some(_)) => {}
                    (None, None) => matched = Some(i),
                    (None, Some(first)) => {
                        errors.push(self.fail(
                            at,
                            format!(
                                "'oneOf' failed, subschemas {}, {} matched",
                                group(first),
                                group(i)
                            ),
                        ));
                        break;
                    }
                }
            }
            if matched.is_none() {
                errors.push(self.with_causes(at, "'oneOf' failed, none matched".into(), failures));
            }
        }
        if self.draft >= 7
            && let Some(cond) = s.get("if")
        {
            let branch = if self.validate(cond, v, at, depth + 1)?.is_none() {
                "then"
            } else {
                "else"
            };
            if let Some(sch) = s.get(branch) {
                errors.extend(self.validate(sch, v, at, depth + 1)?);
            }
        }
        Ok(())
    }

    /// A reference within this schema: a JSON pointer, `#`, or an anchor or `$id` it declares.
    fn resolve(&self, r: &str) -> Result<&'s Value, GiveUp> {
        let fragment = match r.split_once('#') {
            Some(("", f)) => f,
            Some((base, f)) if self.names(base) => f,
            None if self.names(r) => "",
            _ => return Err(GiveUp),
        };
        if fragment.is_empty() {
            return Ok(self.root);
        }
        if let Some(ptr) = fragment.strip_prefix('/') {
            let mut at = self.root;
            for token in ptr.split('/') {
                let token = percent_decode(token).replace("~1", "/").replace("~0", "~");
                at = match at {
                    Value::Object(m) => m.get(&token).ok_or(GiveUp)?,
                    Value::Array(a) => a
                        .get(token.parse::<usize>().map_err(|_| GiveUp)?)
                        .ok_or(GiveUp)?,
                    _ => return Err(GiveUp),
                };
            }
            return Ok(at);
        }
        find_anchor(self.root, fragment).ok_or(GiveUp)
    }

    /// Whether a reference's part before `#` names this schema itself.
    fn names(&self, base: &str) -> bool {
        let id = self.root.get("$id").and_then(Value::as_str).unwrap_or("");
        base.is_empty()
            || base == "values.schema.json"
            || base == "file:///values.schema.json"
            || (!id.is_empty() && id.trim_end_matches('#') == base)
    }
}

fn find_anchor<'s>(s: &'s Value, name: &str) -> Option<&'s Value> {
    match s {
        Value::Object(m) => {
            let anchored = m.get("$anchor").and_then(Value::as_str) == Some(name)
                || m.get("$id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| id.strip_prefix('#') == Some(name))
                || m.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| id.strip_prefix('#') == Some(name));
            if anchored {
                return Some(s);
            }
            m.values().find_map(|v| find_anchor(v, name))
        }
        Value::Array(a) => a.iter().find_map(|v| find_anchor(v, name)),
        _ => None,
    }
}

fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `format` holds for `v`, by the jsonschema crate's checks (draft 7 and before assert
/// formats in both validators).
fn format_holds(format: &str, v: &Value, draft: u32) -> bool {
    let meta = match draft {
        4 => "http://json-schema.org/draft-04/schema#",
        6 => "http://json-schema.org/draft-06/schema#",
        _ => "http://json-schema.org/draft-07/schema#",
    };
    let schema = serde_json::json!({ "$schema": meta, "format": format });
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_or(true, |validator| validator.is_valid(v))
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The types a `type` keyword names, in the validator's fixed order.
fn types_of(types: &Value) -> Vec<&'static str> {
    const ORDER: [&str; 7] = [
        "null", "boolean", "number", "integer", "string", "array", "object",
    ];
    let named: Vec<&str> = match types {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    ORDER.into_iter().filter(|t| named.contains(t)).collect()
}

fn is_integer(v: &Value) -> bool {
    v.as_f64()
        .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

fn as_count(v: &Value) -> Option<usize> {
    v.as_f64()
        .filter(|f| *f >= 0.0 && f.fract() == 0.0)
        .map(|f| f as usize)
}

fn equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equals(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| equals(v, w)))
        }
        _ => a == b,
    }
}

/// The first item equal to an earlier one, with that earlier one: `(earlier, later)`.
fn duplicates(arr: &[Value]) -> Option<(usize, usize)> {
    (1..arr.len()).find_map(|i| (0..i).find(|&j| equals(&arr[i], &arr[j])).map(|j| (j, i)))
}

fn missing(obj: &Map<String, Value>, names: &[Value]) -> Vec<String> {
    names
        .iter()
        .filter_map(Value::as_str)
        .filter(|n| !obj.contains_key(*n))
        .map(str::to_owned)
        .collect()
}

fn join_quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| quote(n))
        .collect::<Vec<_>>()
        .join(", ")
}

fn spaced(indexes: &[usize]) -> String {
    indexes
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Go's `%v` of a schema's value: strings quoted, JSON numbers as written.
fn display(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        Value::Null => "<nil>".into(),
        Value::Array(_) | Value::Object(_) => "value".into(),
        other => other.to_string(),
    }
}

/// `multipleOf` as the validator decides it: the quotient of the two numbers' shortest
/// decimals is a whole number.
fn is_multiple(n: f64, m: f64) -> bool {
    match (decimal(n), decimal(m)) {
        (Some((a, ea)), Some((b, eb))) if b != 0 => {
            // a·10^ea / (b·10^eb) is whole.
            let shift = |x: i128, by: i32| -> Option<i128> {
                x.checked_mul(10i128.checked_pow(by as u32)?)
            };
            let whole = if ea >= eb {
                shift(a, ea - eb).map(|a| a % b == 0)
            } else {
                shift(b, eb - ea).map(|b| a % b == 0)
            };
            whole.unwrap_or_else(|| (n / m).fract() == 0.0)
        }
        _ => (n / m).fract() == 0.0,
    }
}

/// A finite float's shortest decimal as `(digits, exponent)`: `0.25` is `(25, -2)`.
fn decimal(f: f64) -> Option<(i128, i32)> {
    if !f.is_finite() {
        return None;
    }
    let text = format!("{f:e}");
    let (mantissa, exp) = text.split_once('e')?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: i128 = format!("{int}{frac}").parse().ok()?;
    Some((digits, exp - frac.len() as i32))
}

/// A whole number as golang.org/x/text's English printer writes `%d`: `1,000`.
fn group(n: usize) -> String {
    group_digits(&n.to_string())
}

fn group_digits(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A float as golang.org/x/text's English printer writes `%v`: Go's shortest form, its
/// integer digits grouped, and an exponent as `×10` with at least two superscript digits
/// (`1×10⁰⁶`).
fn float(f: f64) -> String {
    let go = gantry_gotmpl::gofmt::format_v(&gantry_gotmpl::Value::Float(f))
        .unwrap_or_else(|_| f.to_string());
    let (sign, go) = match go.strip_prefix('-') {
        Some(rest) => ("-", rest.to_owned()),
        None => ("", go),
    };
    if let Some((mantissa, exp)) = go.split_once('e') {
        let (exp_sign, digits) = match exp.as_bytes().first() {
            Some(b'-') => ("⁻", &exp[1..]),
            Some(b'+') => ("", &exp[1..]),
            _ => ("", exp),
        };
        const SUPER: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
        let sup: String = digits
            .chars()
            .filter_map(|d| d.to_digit(10).map(|d| SUPER[d as usize]))
            .collect();
        return format!("{sign}{mantissa}×10{exp_sign}{sup}");
    }
    let (int, frac) = go
        .split_once('.')
        .map_or((go.as_str(), None), |(i, f)| (i, Some(f)));
    match frac {
        Some(frac) => format!("{sign}{}.{frac}", group_digits(int)),
        None => format!("{sign}{}", group_digits(int)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_the_english_printer_does() {
        assert_eq!(float(1500.0), "1,500");
        assert_eq!(float(1e6), "1×10⁰⁶");
        assert_eq!(float(123456789.25), "1.2345678925×10⁰⁸");
        assert_eq!(float(1e-7), "1×10⁻⁰⁷");
        assert_eq!(float(100000.5), "100,000.5");
        assert_eq!(float(1e21), "1×10²¹");
        assert_eq!(float(-1.0), "-1");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(12), "12");
    }

    #[test]
    fn multiples_are_decided_on_decimals() {
        assert!(is_multiple(0.3, 0.1));
        assert!(!is_multiple(0.005, 0.01));
        assert!(is_multiple(10.0, 2.5));
        assert!(!is_multiple(7.0, 2.0));
    }
}
