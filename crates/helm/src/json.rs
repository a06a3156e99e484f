//! encoding/json as Helm's and Sprig's functions use it: `Marshal` (sorted map keys, HTML
//! escaping, Go's float format, struct fields in declaration order), `MarshalIndent`, an
//! encoder without HTML escaping, and `Unmarshal` into `interface{}` (numbers become float64).

use gantry_gotmpl::{Entries, List, Map, Value};

/// A JSON value as encoding/json would write it.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, as encoding/json writes it.
    Num(String),
    /// A string.
    Str(String),
    /// A Go string that is not valid UTF-8: encoding/json writes each invalid byte as `\ufffd`.
    Bin(Vec<u8>),
    /// An array.
    Arr(Vec<Json>),
    /// An object, in output order.
    Obj(Vec<(String, Json)>),
}

/// encoding/json's float64 text.
pub fn float_text(f: f64) -> Result<String, String> {
    if !f.is_finite() {
        return Err(format!(
            "json: unsupported value: {}",
            gantry_gotmpl::strconv::format_float(f, 'g', -1)
        ));
    }
    let abs = f.abs();
    let fmt = if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        'e'
    } else {
        'f'
    };
    let mut s = gantry_gotmpl::strconv::format_float(f, fmt, -1);
    if fmt == 'e' {
        // Go writes e-09 as e-9.
        let b = s.as_bytes();
        let n = b.len();
        if n >= 4 && b[n - 4] == b'e' && b[n - 3] == b'-' && b[n - 2] == b'0' {
            s.remove(n - 2);
        }
    }
    Ok(s)
}

/// What `json.Marshal(v)` sees.
pub fn to_json(v: &Value) -> Result<Json, String> {
    to_json_at(v, 0, &mut Vec::new())
}

/// How deep encoding/json goes before it watches for a map or slice it is already inside.
pub(crate) const CYCLE_WATCH_DEPTH: usize = 1_000;

/// Puts `v` on `path`, the maps and slices a walk `depth` deep is inside, once it is
/// [`CYCLE_WATCH_DEPTH`] deep; `true` when it did (the walk pops it when done with `v`). A map
/// or slice already on the path contains itself (a template can make one with `set`): `Err`
/// with Go's name for its type, where the walk recursed until the render's stack overflowed
/// and the process aborted.
pub(crate) fn watch(v: &Value, depth: usize, path: &mut Vec<usize>) -> Result<bool, &'static str> {
    if depth < CYCLE_WATCH_DEPTH {
        return Ok(false);
    }
    let Some((at, ty)) = v.identity() else {
        return Ok(false);
    };
    if path.contains(&at) {
        return Err(ty);
    }
    path.push(at);
    Ok(true)
}

fn to_json_at(v: &Value, depth: usize, path: &mut Vec<usize>) -> Result<Json, String> {
    // encoding/json's cycle error.
    let watched = watch(v, depth, path)
        .map_err(|ty| format!("json: unsupported value: encountered a cycle via {ty}"))?;
    let r = to_json_value(v, depth, path);
    if watched {
        path.pop();
    }
    r
}

fn to_json_value(v: &Value, depth: usize, path: &mut Vec<usize>) -> Result<Json, String> {
    Ok(match v {
        Value::Invalid | Value::Nil => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) | Value::Int64(i) => Json::Num(i.to_string()),
        Value::Float(f) => Json::Num(float_text(*f)?),
        Value::String(s) => Json::Str(s.to_string()),
        Value::BinStr(b) => Json::Bin(b.to_vec()),
        Value::Bytes(b) => {
            use base64::Engine as _;
            Json::Str(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Value::List(l) if l.ty.name == "#struct" => {
            let mut out = Vec::new();
            for pair in l.items.iter() {
                if let Value::List(kv) = pair
                    && let [Value::String(k), v] = kv.items.as_slice()
                {
                    out.push((k.to_string(), to_json_at(v, depth + 1, path)?));
                }
            }
            Json::Obj(out)
        }
        Value::List(l) => {
            if l.nil {
                Json::Null
            } else {
                Json::Arr(
                    l.items
                        .iter()
                        .map(|i| to_json_at(i, depth + 1, path))
                        .collect::<Result<_, _>>()?,
                )
            }
        }
        Value::Map(m) => {
            if m.nil {
                Json::Null
            } else {
                let data = m.data.borrow();
                let mut out = Vec::with_capacity(data.len());
                for (k, v) in data.iter() {
                    out.push((k.clone(), to_json_at(v, depth + 1, path)?));
                }
                Json::Obj(out)
            }
        }
        Value::Object(o) => to_json_at(&o.json()?, depth, path)?,
    })
}

/// A struct's fields in declaration order, for [`gantry_gotmpl::Object::json`].
pub fn struct_fields(fields: Vec<(&str, Value)>) -> Value {
    static STRUCT: gantry_gotmpl::ListType = gantry_gotmpl::ListType {
        name: "#struct",
        elem: gantry_gotmpl::Elem::Any,
        methods: None,
    };
    Value::List(List::typed(
        fields
            .into_iter()
            .map(|(k, v)| Value::List(List::new(vec![Value::str(k), v])))
            .collect(),
        &STRUCT,
    ))
}

fn write_string(out: &mut String, s: &str, escape_html: bool) {
    out.push('"');
    write_chars(out, s, escape_html);
    out.push('"');
}

fn write_bin_string(out: &mut String, b: &[u8], escape_html: bool) {
    out.push('"');
    for chunk in b.utf8_chunks() {
        write_chars(out, chunk.valid(), escape_html);
        for _ in chunk.invalid() {
            out.push_str("\\ufffd");
        }
    }
    out.push('"');
}

fn write_chars(out: &mut String, s: &str, escape_html: bool) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Since Go 1.22 encoding/json writes these two short as well.
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if escape_html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
}

/// Writes JSON compactly (`json.Marshal`).
pub fn write(j: &Json, escape_html: bool) -> String {
    let mut out = String::new();
    write_into(&mut out, j, escape_html, None, 0);
    out
}

/// Writes JSON indented by two spaces (`json.MarshalIndent(v, "", "  ")`).
pub fn write_indented(j: &Json, escape_html: bool) -> String {
    let mut out = String::new();
    write_into(&mut out, j, escape_html, Some("  "), 0);
    out
}

fn newline(out: &mut String, indent: Option<&str>, depth: usize) {
    if let Some(ind) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

fn write_into(out: &mut String, j: &Json, esc: bool, indent: Option<&str>, depth: usize) {
    match j {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Num(n) => out.push_str(n),
        Json::Str(s) => write_string(out, s, esc),
        Json::Bin(b) => write_bin_string(out, b, esc),
        Json::Arr(items) => {
            out.push('[');
            if items.is_empty() {
                out.push(']');
                return;
            }
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write_into(out, item, esc, indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push(']');
        }
        Json::Obj(entries) => {
            out.push('{');
            if entries.is_empty() {
                out.push('}');
                return;
            }
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write_string(out, k, esc);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_into(out, v, esc, indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push('}');
        }
    }
}

/// `json.Marshal(v)` as text.
pub fn marshal(v: &Value) -> Result<String, String> {
    Ok(write(&to_json(v)?, true))
}

/// `json.Unmarshal` into `interface{}`: objects become `map[string]interface{}`, arrays
/// `[]interface{}`, numbers float64.
pub fn unmarshal(text: &str) -> Result<Value, String> {
    unmarshal_partial(text).map_err(|(_, e)| e)
}

/// [`unmarshal`], and on an error what Go's decoder had decoded all the same: a number past
/// float64's range is Go's `UnmarshalTypeError`, after which it goes on, leaving that value nil
/// (`fromJson` returns the rest with `Error` beside it).
pub fn unmarshal_partial(text: &str) -> Result<Value, (Option<Value>, String)> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => Ok(from_serde(&v)),
        Err(e) => {
            // Valid to Go's scanner but not to serde_json: a lone surrogate escape (Go reads
            // U+FFFD), a number past float64, nesting past serde_json's 128 levels.
            if go_syntax_error(text.as_bytes()).is_none()
                && let Some((v, err)) = GoDecode::run(text)
            {
                let v = from_serde(&v);
                return match err {
                    None => Ok(v),
                    Some(err) => Err((Some(v), err)),
                };
            }
            Err((None, go_json_error(&e, text)))
        }
    }
}

/// encoding/json's decoding of a text its scanner accepted, where serde_json refuses it.
struct GoDecode<'a> {
    b: &'a [u8],
    i: usize,
    err: Option<String>,
}

impl GoDecode<'_> {
    /// Deeper than any chart's JSON, and shallow enough for the render thread's stack.
    const MAX_DEPTH: usize = 2_000;

    fn run(text: &str) -> Option<(serde_json::Value, Option<String>)> {
        let mut d = GoDecode {
            b: text.as_bytes(),
            i: 0,
            err: None,
        };
        let v = d.value(0)?;
        Some((v, d.err))
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        if depth > Self::MAX_DEPTH {
            return None;
        }
        self.ws();
        match *self.b.get(self.i)? {
            b'{' => {
                self.i += 1;
                let mut m = serde_json::Map::new();
                loop {
                    self.ws();
                    if self.b.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Some(J::Object(m));
                    }
                    let k = self.string()?;
                    self.ws();
                    self.i += 1; // ':'
                    let v = self.value(depth + 1)?;
                    m.insert(k, v);
                    self.ws();
                    if self.b.get(self.i) == Some(&b',') {
                        self.i += 1;
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    if self.b.get(self.i) == Some(&b']') {
                        self.i += 1;
                        return Some(J::Array(items));
                    }
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.b.get(self.i) == Some(&b',') {
                        self.i += 1;
                    }
                }
            }
            b'"' => self.string().map(J::String),
            b't' => {
                self.i += 4;
                Some(J::Bool(true))
            }
            b'f' => {
                self.i += 5;
                Some(J::Bool(false))
            }
            b'n' => {
                self.i += 4;
                Some(J::Null)
            }
            _ => {
                let start = self.i;
                while self.i < self.b.len()
                    && matches!(
                        self.b[self.i],
                        b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'
                    )
                {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.b[start..self.i]).ok()?;
                match text.parse::<f64>() {
                    Ok(f) if f.is_finite() => serde_json::Number::from_f64(f).map(J::Number),
                    _ => {
                        self.err.get_or_insert_with(|| {
                            format!(
                                "json: cannot unmarshal number {text} into Go value of type float64"
                            )
                        });
                        Some(J::Null)
                    }
                }
            }
        }
    }

    /// A string at `i` (its quote included), a lone or unpaired surrogate escape read as
    /// U+FFFD, as Go's `unquote` does.
    fn string(&mut self) -> Option<String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let c = *self.b.get(self.i)?;
            match c {
                b'"' => {
                    self.i += 1;
                    return Some(out);
                }
                b'\\' => {
                    let e = *self.b.get(self.i + 1)?;
                    self.i += 2;
                    match e {
                        b'u' => {
                            let hi = self.hex4()?;
                            let ch = if (0xD800..0xDC00).contains(&hi)
                                && self.b.get(self.i) == Some(&b'\\')
                                && self.b.get(self.i + 1) == Some(&b'u')
                            {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                } else {
                                    self.i = save;
                                    None
                                }
                            } else {
                                char::from_u32(hi)
                            };
                            out.push(ch.unwrap_or('\u{FFFD}'));
                        }
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        other => out.push(other as char),
                    }
                }
                _ => {
                    let len = utf8_len(c);
                    out.push_str(std::str::from_utf8(self.b.get(self.i..self.i + len)?).ok()?);
                    self.i += len;
                }
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = std::str::from_utf8(self.b.get(self.i..self.i + 4)?).ok()?;
        self.i += 4;
        u32::from_str_radix(h, 16).ok()
    }
}

fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

fn go_json_error(e: &serde_json::Error, text: &str) -> String {
    if let Some(msg) = go_syntax_error(text.as_bytes()) {
        return msg;
    }
    if text.trim().is_empty() {
        return "unexpected end of JSON input".into();
    }
    match e.classify() {
        serde_json::error::Category::Eof => "unexpected end of JSON input".into(),
        _ => format!(
            "invalid character in JSON at line {} column {}",
            e.line(),
            e.column()
        ),
    }
}

/// encoding/json's syntax error for `text` (its scanner's words, which charts print: ess-helm
/// shows `fromJson`'s `Error`), or `None` when its syntax is valid.
pub(crate) fn go_syntax_error(text: &[u8]) -> Option<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum In {
        Object,
        Array,
    }
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        BeginValue,
        BeginValueOrEmpty,
        BeginStringOrEmpty,
        BeginString,
        EndValue,
        EndTop,
        Str,
        StrEsc,
        StrEscU(u8),
        Neg,
        Int0,
        Int1,
        Dot,
        Dot0,
        E,
        ESign,
        E0,
        Lit(&'static [u8], u8),
    }
    fn quote_char(c: u8) -> String {
        match c {
            b'\'' => "'\\''".into(),
            b'"' => "'\"'".into(),
            _ => {
                let q = gantry_gotmpl::gofmt::quote(&char::from(c).to_string());
                format!("'{}'", &q[1..q.len() - 1])
            }
        }
    }
    let err = |c: u8, ctx: &str| Some(format!("invalid character {} {ctx}", quote_char(c)));
    let space = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let mut stack: Vec<In> = Vec::new();
    // An object's `true` means its value comes next (after the key's `:`).
    let mut in_value: Vec<bool> = Vec::new();
    let mut st = St::BeginValue;
    let mut i = 0;
    while i <= text.len() {
        // The end of the input steps once more as a space would, then must be at the top.
        let at_end = i == text.len();
        let c = if at_end { b' ' } else { text[i] };
        match st {
            St::BeginValueOrEmpty if c == b']' => {
                stack.pop();
                st = St::EndValue;
            }
            St::BeginStringOrEmpty if c == b'}' => {
                stack.pop();
                in_value.pop();
                st = St::EndValue;
            }
            St::BeginValue | St::BeginValueOrEmpty if space(c) => {}
            St::BeginStringOrEmpty | St::BeginString if space(c) => {}
            St::BeginValue | St::BeginValueOrEmpty => match c {
                b'{' => {
                    if stack.len() >= 10_000 {
                        return Some("exceeded max depth".into());
                    }
                    stack.push(In::Object);
                    in_value.push(false);
                    st = St::BeginStringOrEmpty;
                }
                b'[' => {
                    if stack.len() >= 10_000 {
                        return Some("exceeded max depth".into());
                    }
                    stack.push(In::Array);
                    st = St::BeginValueOrEmpty;
                }
                b'"' => st = St::Str,
                b'-' => st = St::Neg,
                b'0' => st = St::Int0,
                b'1'..=b'9' => st = St::Int1,
                b't' => st = St::Lit(b"true", 1),
                b'f' => st = St::Lit(b"false", 1),
                b'n' => st = St::Lit(b"null", 1),
                _ => return err(c, "looking for beginning of value"),
            },
            St::BeginStringOrEmpty | St::BeginString => {
                if c != b'"' {
                    return err(c, "looking for beginning of object key string");
                }
                st = St::Str;
            }
            St::Str => match c {
                b'"' => st = St::EndValue,
                b'\\' => st = St::StrEsc,
                _ if c < 0x20 => return err(c, "in string literal"),
                _ => {}
            },
            St::StrEsc => match c {
                b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => st = St::Str,
                b'u' => st = St::StrEscU(0),
                _ => return err(c, "in string escape code"),
            },
            St::StrEscU(n) => {
                if !c.is_ascii_hexdigit() {
                    return err(c, "in \\u hexadecimal character escape");
                }
                st = if n == 3 { St::Str } else { St::StrEscU(n + 1) };
            }
            St::Neg => match c {
                b'0' => st = St::Int0,
                b'1'..=b'9' => st = St::Int1,
                _ => return err(c, "in numeric literal"),
            },
            St::Int1 | St::Int0 | St::Dot0 | St::E0 if c.is_ascii_digit() && st != St::Int0 => {}
            St::Int1 | St::Int0 if c == b'.' => st = St::Dot,
            St::Int1 | St::Int0 | St::Dot0 if matches!(c, b'e' | b'E') => st = St::E,
            St::Int1 | St::Int0 | St::Dot0 | St::E0 => {
                st = St::EndValue;
                continue;
            }
            St::Dot => {
                if !c.is_ascii_digit() {
                    return err(c, "after decimal point in numeric literal");
                }
                st = St::Dot0;
            }
            St::E if matches!(c, b'+' | b'-') => st = St::ESign,
            St::E | St::ESign => {
                if !c.is_ascii_digit() {
                    return err(c, "in exponent of numeric literal");
                }
                st = St::E0;
            }
            St::Lit(word, n) => {
                if c != word[n as usize] {
                    let name = std::str::from_utf8(word).unwrap_or("");
                    return err(
                        c,
                        &format!(
                            "in literal {name} (expecting {})",
                            quote_char(word[n as usize])
                        ),
                    );
                }
                st = if n as usize + 1 == word.len() {
                    St::EndValue
                } else {
                    St::Lit(word, n + 1)
                };
            }
            St::EndValue => {
                let Some(&top) = stack.last() else {
                    st = St::EndTop;
                    continue;
                };
                if space(c) {
                    // Blank space between a value and what follows it.
                } else if top == In::Object && in_value.last() == Some(&false) {
                    if c != b':' {
                        return err(c, "after object key");
                    }
                    *in_value.last_mut().expect("an object") = true;
                    st = St::BeginValue;
                } else if top == In::Object {
                    match c {
                        b',' => {
                            *in_value.last_mut().expect("an object") = false;
                            st = St::BeginString;
                        }
                        b'}' => {
                            stack.pop();
                            in_value.pop();
                        }
                        _ => return err(c, "after object key:value pair"),
                    }
                } else {
                    match c {
                        b',' => st = St::BeginValue,
                        b']' => {
                            stack.pop();
                        }
                        _ => return err(c, "after array element"),
                    }
                }
            }
            St::EndTop => {
                if !space(c) {
                    return err(c, "after top-level value");
                }
            }
        }
        if at_end {
            break;
        }
        i += 1;
    }
    (st != St::EndTop).then(|| "unexpected end of JSON input".to_owned())
}

/// Converts a parsed JSON document into a Go value.
pub fn from_serde(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Value::str(s),
        serde_json::Value::Array(a) => Value::List(List::new(a.iter().map(from_serde).collect())),
        serde_json::Value::Object(o) => Value::Map(Map::from_map(
            o.iter()
                .map(|(k, v)| (k.clone(), from_serde(v)))
                .collect::<Entries>(),
        )),
    }
}

/// Converts a Go value into a serde_json value (numbers as written by encoding/json).
///
/// Built directly rather than through `json.Marshal`'s text and a parse (which was a third of a
/// schema check): every number is what parsing its encoding/json text gives (`2.0` is written
/// `2`, an integer to `type: integer`), and a Go string that is not UTF-8 gets one U+FFFD per
/// invalid byte, as encoding/json writes it.
pub fn to_serde(v: &Value) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match v {
        Value::Invalid | Value::Nil => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) | Value::Int64(i) => J::Number((*i).into()),
        Value::Float(f) => J::Number(
            float_text(*f)?
                .parse::<serde_json::Number>()
                .map_err(|e| e.to_string())?,
        ),
        Value::String(s) => J::String(s.to_string()),
        Value::BinStr(b) => J::String(gantry_gotmpl::go_lossy(b)),
        Value::Bytes(b) => {
            use base64::Engine as _;
            J::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Value::List(l) if l.ty.name == "#struct" => {
            let mut out = serde_json::Map::new();
            for pair in l.items.iter() {
                if let Value::List(kv) = pair
                    && let [Value::String(k), v] = kv.items.as_slice()
                {
                    out.insert(k.to_string(), to_serde(v)?);
                }
            }
            J::Object(out)
        }
        Value::List(l) => {
            if l.nil {
                J::Null
            } else {
                J::Array(l.items.iter().map(to_serde).collect::<Result<_, _>>()?)
            }
        }
        Value::Map(m) => {
            if m.nil {
                J::Null
            } else {
                let data = m.data.borrow();
                let mut out = serde_json::Map::new();
                for (k, v) in data.iter() {
                    out.insert(k.clone(), to_serde(v)?);
                }
                J::Object(out)
            }
        }
        Value::Object(o) => to_serde(&o.json()?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_encoding_json() {
        assert_eq!(float_text(1e6).unwrap(), "1000000");
        assert_eq!(float_text(1e21).unwrap(), "1e+21");
        assert_eq!(float_text(1e-7).unwrap(), "1e-7");
        assert_eq!(float_text(0.000001).unwrap(), "0.000001");
        assert_eq!(float_text(2.5).unwrap(), "2.5");
        assert!(float_text(f64::NAN).is_err());
    }

    #[test]
    fn to_serde_is_what_parsing_marshals_text_gives() {
        let inner = Map::new();
        inner.insert("<html>", Value::str("a&b\n\u{2028}"));
        inner.insert("nil", Value::Nil);
        inner.insert("nil list", Value::List(List::nil()));
        let top = Map::new();
        for (k, v) in [
            ("int", Value::Int(-7)),
            ("int64", Value::Int64(1 << 60)),
            ("whole float", Value::Float(2.0)),
            ("big float", Value::Float(1e21)),
            ("small float", Value::Float(1e-7)),
            ("float", Value::Float(-2.5)),
            ("huge", Value::Float(1.7e308)),
            ("bin", Value::BinStr(std::rc::Rc::from(&b"a\xff\xfeb"[..]))),
            ("bytes", Value::Bytes(std::rc::Rc::from(&b"\x00\x01"[..]))),
            ("bool", Value::Bool(true)),
            (
                "struct",
                struct_fields(vec![("b", Value::Int(1)), ("a", Value::Nil)]),
            ),
            ("map", Value::Map(inner)),
            (
                "list",
                Value::List(List::new(vec![Value::Float(3.0), Value::str("x")])),
            ),
        ] {
            top.insert(k, v);
        }
        let v = Value::Map(top);
        let via_text: serde_json::Value = serde_json::from_str(&marshal(&v).unwrap()).unwrap();
        assert_eq!(to_serde(&v).unwrap(), via_text);
        assert!(to_serde(&Value::Float(f64::NAN)).is_err());
    }

    /// Go's encoding/json (1.22 and later, which Helm v4 is built with): `\b` and `\f` short,
    /// the other controls below U+0020 as `\u00XX`.
    #[test]
    fn control_characters_are_escaped_as_go_escapes_them() {
        assert_eq!(
            marshal(&Value::str("\u{8}\u{c}\n\r\t\u{0}\u{1f}\u{7f}")).unwrap(),
            "\"\\b\\f\\n\\r\\t\\u0000\\u001f\u{7f}\""
        );
    }

    #[test]
    fn html_is_escaped_by_default() {
        assert_eq!(
            marshal(&Value::str("<a&b>")).unwrap(),
            "\"\\u003ca\\u0026b\\u003e\""
        );
    }
}
