//! `toToml` byte for byte: the encoder of BurntSushi/toml v1.6 (Helm's) as it writes a
//! template's values: in each table the keys whose values are not tables first, then the
//! tables, each group in key order; nested tables indented two spaces a level; arrays whose
//! elements are all tables written as `[[key]]` sections; floats always with a decimal point.

use gantry_gotmpl::Value;

/// Why the encoder refused a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TomlError {
    /// The encoder's own error: `toToml` returns its text, `mustToToml` fails with it.
    Encode(&'static str),
    /// No value at all (a nil interface): Go's encoder panics reflecting on it, and
    /// text/template makes the panic the call's error, for `toToml` too.
    Panic(&'static str),
    /// A value Helm's encoder takes through reflection in ways Gantry does not follow (bytes,
    /// objects): the function fails as unsupported rather than guess.
    Unsupported(&'static str),
    /// A map or list that contains itself (a template makes one with `set`): Go's encoder
    /// recurses until its stack limit ends Helm's process; Gantry fails the call instead.
    Cycle(&'static str),
}

const NIL_ELEMENT: &str = "toml: cannot encode array with nil element";
const NO_KEY: &str = "toml: top-level values must be Go maps or structs";

/// What the encoder takes a value for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Nil: skipped where it is a table's value.
    Nil,
    Scalar,
    Array,
    Table,
    /// A non-empty array of tables only.
    TableArray,
}

fn kind(v: &Value) -> Result<Kind, TomlError> {
    Ok(match v {
        Value::Invalid | Value::Nil => Kind::Nil,
        Value::Bool(_) | Value::Int(_) | Value::Int64(_) | Value::Float(_) | Value::String(_) => {
            Kind::Scalar
        }
        Value::Map(m) if m.nil => Kind::Nil,
        Value::Map(_) => Kind::Table,
        Value::List(l) if l.ty.name == "#struct" => return Err(unsupported()),
        Value::List(l) if l.nil => Kind::Nil,
        Value::List(l) => {
            // Every element is looked at, so that a nil one fails even after a scalar.
            let mut tables = !l.items.is_empty();
            for item in l.items.iter() {
                match kind(item)? {
                    Kind::Nil => return Err(TomlError::Encode(NIL_ELEMENT)),
                    Kind::Table => {}
                    _ => tables = false,
                }
            }
            if tables {
                Kind::TableArray
            } else {
                Kind::Array
            }
        }
        Value::BinStr(_) | Value::Bytes(_) | Value::Object(_) => return Err(unsupported()),
    })
}

fn unsupported() -> TomlError {
    TomlError::Unsupported("bytes and objects")
}

/// The TOML document of `v`, as Helm's `toToml` writes it.
pub fn to_toml(v: &Value) -> Result<String, TomlError> {
    if matches!(v, Value::Invalid | Value::Nil) {
        return Err(TomlError::Panic(
            "reflect: call of reflect.Value.Type on zero Value",
        ));
    }
    let mut e = Encoder {
        out: String::new(),
        written: false,
        depth: 0,
        path: Vec::new(),
    };
    e.encode(&mut Vec::new(), v, kind(v)?)?;
    Ok(e.out)
}

struct Encoder {
    out: String,
    // Whether anything was written: a line break is written only after something.
    written: bool,
    // How many maps and lists deep the encoder is, and those being written past the depth
    // where they are watched for cycles.
    depth: usize,
    path: Vec<usize>,
}

impl Encoder {
    fn write(&mut self, s: &str) {
        self.out.push_str(s);
        self.written = true;
    }

    fn newline(&mut self) {
        if self.written {
            self.out.push('\n');
        }
    }

    fn indent(&mut self, key: &[String]) {
        for _ in 1..key.len() {
            self.out.push_str("  ");
        }
    }

    /// Writes `v`, which [`kind`] found to be `k`, under `key`.
    fn encode(&mut self, key: &mut Vec<String>, v: &Value, k: Kind) -> Result<(), TomlError> {
        match k {
            Kind::Nil => Ok(()),
            Kind::Table => self.table(key, v),
            Kind::TableArray => self.table_array(key, v),
            Kind::Scalar | Kind::Array => self.key_value(key, v, false),
        }
    }

    fn key_value(&mut self, key: &[String], v: &Value, inline: bool) -> Result<(), TomlError> {
        let Some(last) = key.last() else {
            return self.element(v);
        };
        self.indent(key);
        self.write(&key_part(last));
        self.write(" = ");
        self.element(v)?;
        if !inline {
            self.newline();
        }
        Ok(())
    }

    fn element(&mut self, v: &Value) -> Result<(), TomlError> {
        match v {
            Value::String(s) => self.write(&quoted(s)),
            Value::Bool(b) => self.write(if *b { "true" } else { "false" }),
            Value::Int(i) | Value::Int64(i) => self.write(&i.to_string()),
            Value::Float(f) => self.write(&float_text(*f)),
            // Its elements were checked (none nil) when its `kind` was found, as every
            // value's is before it is written.
            Value::List(l) => {
                self.within(v, |e| {
                    e.write("[");
                    for (i, item) in l.items.iter().enumerate() {
                        e.element(item)?;
                        if i + 1 != l.items.len() {
                            e.write(", ");
                        }
                    }
                    e.write("]");
                    Ok(())
                })?;
            }
            Value::Map(_) => self.map(&mut Vec::new(), v, true)?,
            Value::Invalid | Value::Nil => return Err(TomlError::Encode(NIL_ELEMENT)),
            Value::BinStr(_) | Value::Bytes(_) | Value::Object(_) => return Err(unsupported()),
        }
        Ok(())
    }

    fn table(&mut self, key: &mut Vec<String>, v: &Value) -> Result<(), TomlError> {
        if key.len() == 1 {
            // A blank line between top-level tables (none before the first thing written).
            self.newline();
        }
        if !key.is_empty() {
            self.indent(key);
            self.write(&format!("[{}]", key_path(key)));
            self.newline();
        }
        self.map(key, v, false)
    }

    fn table_array(&mut self, key: &mut Vec<String>, v: &Value) -> Result<(), TomlError> {
        if key.is_empty() {
            return Err(TomlError::Encode(NO_KEY));
        }
        let Value::List(l) = v else {
            return Ok(());
        };
        for item in l.items.iter() {
            self.newline();
            self.indent(key);
            self.write(&format!("[[{}]]", key_path(key)));
            self.newline();
            self.map(key, item, false)?;
        }
        Ok(())
    }

    /// Runs `f` with `v` on the path of maps and lists being written: one already on it
    /// contains itself.
    fn within<T>(
        &mut self,
        v: &Value,
        f: impl FnOnce(&mut Self) -> Result<T, TomlError>,
    ) -> Result<T, TomlError> {
        let watched =
            crate::json::watch(v, self.depth, &mut self.path).map_err(TomlError::Cycle)?;
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        if watched {
            self.path.pop();
        }
        r
    }

    fn map(&mut self, key: &mut Vec<String>, v: &Value, inline: bool) -> Result<(), TomlError> {
        self.within(v, |e| e.map_entries(key, v, inline))
    }

    fn map_entries(
        &mut self,
        key: &mut Vec<String>,
        v: &Value,
        inline: bool,
    ) -> Result<(), TomlError> {
        let Value::Map(m) = v else {
            return Ok(());
        };
        let data = m.data.borrow();
        // The entries are in Go's key order already, as the encoder sorts each group.
        let mut direct = Vec::new();
        let mut sub = Vec::new();
        for (k, val) in data.iter() {
            match kind(val)? {
                t @ (Kind::Table | Kind::TableArray) => sub.push((k, val, t)),
                t => direct.push((k, val, t)),
            }
        }
        if inline {
            self.write("{");
        }
        let trail = !sub.is_empty();
        for (group, trail) in [(direct, trail), (sub, false)] {
            let n = group.len();
            for (i, (k, val, t)) in group.into_iter().enumerate() {
                if t == Kind::Nil {
                    continue;
                }
                if inline {
                    self.key_value(std::slice::from_ref(k), val, true)?;
                    // As the encoder does: a separator after each written entry but the last
                    // of the last group, even when the entries after it are nil and skipped.
                    if trail || i + 1 != n {
                        self.write(", ");
                    }
                } else {
                    key.push(k.clone());
                    let r = self.encode(key, val, t);
                    key.pop();
                    r?;
                }
            }
        }
        if inline {
            self.write("}");
        }
        Ok(())
    }
}

/// A key part as TOML writes it: bare when it is letters, digits, `_` and `-` only.
fn key_part(k: &str) -> String {
    if k.is_empty() {
        return "\"\"".to_owned();
    }
    if k.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return k.to_owned();
    }
    quoted(k)
}

fn key_path(key: &[String]) -> String {
    key.iter()
        .map(|k| key_part(k))
        .collect::<Vec<_>>()
        .join(".")
}

/// A basic string: `"` and `\` escaped, and the control characters (U+0000 to U+001F, DEL)
/// as the encoder's replacer writes them.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\0'..='\u{1f}' | '\u{7f}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `FormatFloat(f, 'g', -1, 64)` with `.0` added when it has neither a point nor an
/// exponent; `nan`, `inf` and `-inf` as TOML spells them.
fn float_text(f: f64) -> String {
    if f.is_nan() {
        return if f.is_sign_negative() { "-nan" } else { "nan" }.to_owned();
    }
    if f.is_infinite() {
        return if f < 0.0 { "-inf" } else { "inf" }.to_owned();
    }
    let s = gantry_gotmpl::strconv::format_float(f, 'g', -1);
    if s.contains(['e', '.']) { s } else { s + ".0" }
}
