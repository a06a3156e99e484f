//! `toYaml` byte for byte: sigs.k8s.io/yaml marshals through JSON, reads the JSON back with
//! go-yaml v2 and writes it with go-yaml v2's emitter (a port of libyaml's): keys in go-yaml's
//! natural order, strings quoted only when they must be, literal blocks for multi-line text,
//! and long lines folded at 80 columns. `toYamlPretty` byte for byte too: go-yaml v3's encoder
//! (the same emitter, but sequences indented under their key, tabs allowed in literal blocks,
//! no folding, v3's key order) on the Go values themselves, with no JSON between.

use gantry_gotmpl::Value;

use crate::json::{Json, to_json};
use crate::yaml::{YVal, resolve, resolve_typed};

/// A node to emit.
#[derive(Debug, Clone)]
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// Where go-yaml is in the JSON text it reads back: its line, which only a raw NEL moves.
struct ReadBack {
    line: usize,
}

/// U+0085, NEL: encoding/json writes it as it is (it escapes U+2028 and U+2029, not this), and
/// go-yaml, reading the JSON text as YAML 1.1, takes it for a line break.
const NEL: char = '\u{85}';

/// JSON text read back by go-yaml: numbers take go-yaml's types, and a string holding a NEL is
/// folded as a quoted scalar spanning lines is.
fn from_json(j: Json, rb: &mut ReadBack) -> Result<Node, String> {
    Ok(match j {
        Json::Null => Node::Null,
        Json::Bool(b) => Node::Bool(b),
        Json::Num(n) => number_node(&n).unwrap_or(Node::Str(n)),
        Json::Str(s) => Node::Str(read_quoted(s, rb)?),
        // JSON to YAML decodes the `\ufffd` that encoding/json wrote for each invalid byte.
        Json::Bin(b) => Node::Str(read_quoted(gantry_gotmpl::go_lossy(&b), rb)?),
        Json::Arr(items) => Node::Seq(
            items
                .into_iter()
                .map(|i| from_json(i, rb))
                .collect::<Result<_, _>>()?,
        ),
        Json::Obj(entries) => {
            let mut out: Vec<(String, Node)> = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                allowed(&k)?;
                // A key is a simple key of a flow mapping: it may not span lines. go-yaml
                // names the 0-based line of the token after it for a parser error.
                let breaks = k.matches(NEL).count();
                if breaks > 0 {
                    return Err(format!(
                        "yaml: line {}: did not find expected ',' or '}}'",
                        rb.line - 1 + breaks
                    ));
                }
                out.push((k, from_json(v, rb)?));
            }
            // A repeated key (only possible from struct fields) keeps the last value.
            sort_by_less(&mut out, |a, b| key_less(&a.0, &b.0));
            out.dedup_by(|later, earlier| {
                if later.0 == earlier.0 {
                    std::mem::swap(later, earlier);
                    true
                } else {
                    false
                }
            });
            Node::Map(out)
        }
    })
}

/// The number go-yaml reads a JSON number's text as, with go-yaml's type; `None` when it reads
/// something else.
fn number_node(text: &str) -> Option<Node> {
    match resolve(text) {
        YVal::Int(i) => Some(Node::Int(i)),
        YVal::Uint(u) => Some(Node::Uint(u)),
        YVal::Float(f) => Some(Node::Float(f)),
        _ => None,
    }
}

/// go-yaml's reader refuses a character YAML does not allow in a stream. encoding/json
/// escapes those below U+0020 and leaves DEL, the C1 controls but NEL, and U+FFFE/U+FFFF as
/// they are.
fn allowed(s: &str) -> Result<(), String> {
    // On the UTF-8 bytes: DEL is 7F, U+0080..U+009F are C2 80..C2 9F (NEL is C2 85), and
    // U+FFFE/U+FFFF are EF BF BE/BF; no other sequence holds these bytes in these places.
    let b = s.as_bytes();
    let bad = b.iter().enumerate().any(|(i, &c)| match c {
        0x7f => true,
        0xc2 => b
            .get(i + 1)
            .is_some_and(|&n| (0x80..=0x9f).contains(&n) && n != 0x85),
        0xef => b.get(i + 1) == Some(&0xbf) && matches!(b.get(i + 2), Some(0xbe | 0xbf)),
        _ => false,
    });
    if bad {
        return Err("yaml: control characters are not allowed".into());
    }
    Ok(())
}

/// go-yaml's scan of a double-quoted scalar (`yaml_parser_scan_flow_scalar`) over a JSON
/// string whose only raw blanks and breaks are spaces and NELs (encoding/json escapes the
/// rest, and an escape is content): spaces before a break are dropped, those after it
/// skipped, one break folds into a space and each further one is a newline; a document
/// marker at the start of a line is an error.
fn read_quoted(s: String, rb: &mut ReadBack) -> Result<String, String> {
    allowed(&s)?;
    if !s.contains(NEL) {
        return Ok(s);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    loop {
        while i < chars.len() && chars[i] != ' ' && chars[i] != NEL {
            out.push(chars[i]);
            i += 1;
        }
        if i == chars.len() {
            return Ok(out);
        }
        let (mut spaces, mut breaks, mut line_start) = (0usize, 0usize, false);
        while i < chars.len() && (chars[i] == ' ' || chars[i] == NEL) {
            if chars[i] == NEL {
                rb.line += 1;
                if breaks == 0 {
                    spaces = 0;
                }
                breaks += 1;
                line_start = true;
            } else {
                if breaks == 0 {
                    spaces += 1;
                }
                line_start = false;
            }
            i += 1;
        }
        match breaks {
            0 => out.extend(std::iter::repeat_n(' ', spaces)),
            1 => out.push(' '),
            n => out.extend(std::iter::repeat_n('\n', n - 1)),
        }
        let rest = &chars[i..];
        let marker = rest.starts_with(&['-', '-', '-']) || rest.starts_with(&['.', '.', '.']);
        if line_start && marker && rest.get(3).is_some_and(|&c| c == ' ' || c == NEL) {
            return Err(format!(
                "yaml: line {}: found unexpected document indicator",
                rb.line
            ));
        }
    }
}

/// Sorts as Go's `sort.Sort` does with a `Less` that need not be a total order. go-yaml's key
/// order is not one (`"1" < "01" < "0a" < "1"`), and Rust's `sort_by` may panic on such a
/// comparison; Helm's order for such keys is random anyway (they come from a Go map), so any
/// order is faithful, and where `less` is a strict order this is the one sorted order. A
/// stable bottom-up merge sort of the indices.
pub fn sort_by_less<T>(v: &mut Vec<T>, less: impl Fn(&T, &T) -> bool) {
    let n = v.len();
    // Most maps `toYaml` meets are small; none of the index vectors is needed for one entry,
    // and two take the merge's one comparison.
    if n < 2 {
        return;
    }
    if n == 2 {
        if less(&v[1], &v[0]) {
            v.swap(0, 1);
        }
        return;
    }
    let mut idx: Vec<usize> = (0..n).collect();
    let mut buf = idx.clone();
    let mut width = 1;
    while width < n {
        let mut start = 0;
        while start < n {
            let (mid, end) = ((start + width).min(n), (start + 2 * width).min(n));
            let (mut l, mut r) = (start, mid);
            for slot in &mut buf[start..end] {
                let take_right = l == mid || (r < end && less(&v[idx[r]], &v[idx[l]]));
                if take_right {
                    *slot = idx[r];
                    r += 1;
                } else {
                    *slot = idx[l];
                    l += 1;
                }
            }
            start = end;
        }
        std::mem::swap(&mut idx, &mut buf);
        width *= 2;
    }
    let mut items: Vec<Option<T>> = v.drain(..).map(Some).collect();
    v.extend(idx.into_iter().filter_map(|i| items[i].take()));
}

/// go-yaml v2's ordering of string keys (`keyList.Less`): runs of digits compare as numbers,
/// other characters before letters. The kustomize emitter (gantry-render) orders keys by it too.
pub fn key_less(a: &str, b: &str) -> bool {
    key_order(a, b, false)
}

/// go-yaml v3's ordering of string keys (`toYamlPretty`): v2's, but where the characters before
/// the first difference end in a digit, a letter sorts before any other character (`1a` before
/// `1-`), as a number's suffix.
pub fn key_less_v3(a: &str, b: &str) -> bool {
    key_order(a, b, true)
}

fn key_order(a: &str, b: &str, v3: bool) -> bool {
    // ASCII keys (nearly all) compare by bytes, the same units as characters there: collecting
    // each key's characters was most of `toYaml` reading a small map back.
    if a.is_ascii() && b.is_ascii() {
        return units_less(a.as_bytes(), b.as_bytes(), v3);
    }
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    units_less(&ar, &br, v3)
}

/// A unit of a key [`key_less`] compares: a character, or a byte of an ASCII key.
trait KeyUnit: Copy + PartialOrd {
    fn alphabetic(self) -> bool;
    fn digit(self) -> Option<i64>;
}

/// Go's `unicode.IsLetter` (category L) and `unicode.IsDigit` (category Nd), which go-yaml's
/// key order uses. Rust's `is_alphabetic` holds for more (letter numbers such as `Ⅻ`, some
/// marks), and other scripts' digits (`٣`) are digits to Go, each worth its code point less
/// `'0'`'s, as go-yaml subtracts.
fn go_classes() -> &'static (regex::Regex, regex::Regex) {
    static C: std::sync::OnceLock<(regex::Regex, regex::Regex)> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        (
            regex::Regex::new(r"^\p{L}$").expect("a valid class"),
            regex::Regex::new(r"^\p{Nd}$").expect("a valid class"),
        )
    })
}

fn in_class(re: &regex::Regex, c: char) -> bool {
    let mut b = [0u8; 4];
    re.is_match(c.encode_utf8(&mut b))
}

impl KeyUnit for char {
    fn alphabetic(self) -> bool {
        if self.is_ascii() {
            self.is_ascii_alphabetic()
        } else {
            in_class(&go_classes().0, self)
        }
    }
    fn digit(self) -> Option<i64> {
        let digit = if self.is_ascii() {
            self.is_ascii_digit()
        } else {
            in_class(&go_classes().1, self)
        };
        digit.then(|| self as i64 - '0' as i64)
    }
}

impl KeyUnit for u8 {
    fn alphabetic(self) -> bool {
        self.is_ascii_alphabetic()
    }
    fn digit(self) -> Option<i64> {
        self.is_ascii_digit().then(|| i64::from(self - b'0'))
    }
}

fn units_less<U: KeyUnit>(ar: &[U], br: &[U], v3: bool) -> bool {
    let mut i = 0;
    // Whether the last of the equal units before `i` is a digit.
    let mut digits = false;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            digits = ar[i].digit().is_some();
            i += 1;
            continue;
        }
        let al = ar[i].alphabetic();
        let bl = br[i].alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return if v3 && digits { al } else { bl };
        }
        let mut an: i64 = 0;
        let mut bn: i64 = 0;
        if ar[i].digit() == Some(0) || br[i].digit() == Some(0) {
            let mut j = i;
            while j > 0 {
                j -= 1;
                match ar[j].digit() {
                    None => break,
                    Some(0) => {}
                    Some(_) => {
                        an = 1;
                        bn = 1;
                        break;
                    }
                }
            }
        }
        let mut ai = i;
        while let Some(d) = ar.get(ai).and_then(|u| u.digit()) {
            an = an.wrapping_mul(10).wrapping_add(d);
            ai += 1;
        }
        let mut bi = i;
        while let Some(d) = br.get(bi).and_then(|u| u.digit()) {
            bn = bn.wrapping_mul(10).wrapping_add(d);
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

/// The node go-yaml reads back from the JSON text of `v`, made without that text where
/// nothing in `v` needs it: the common values (maps, lists, strings, numbers) of a chart's
/// `toYaml`, whose JSON tree and its reading back were a third of the call. `None` for
/// anything else (a value encoding/json refuses, a NEL or a character go-yaml refuses, bytes,
/// an object): [`from_json`] of [`to_json`] decides those, errors included.
fn direct_node(v: &Value) -> Option<Node> {
    direct_node_at(v, 0)
}

/// [`direct_node`] at `depth`: past the depth where encoding/json starts watching for a value
/// that contains itself, the JSON path decides (with its cycle error).
fn direct_node_at(v: &Value, depth: usize) -> Option<Node> {
    if depth >= crate::json::CYCLE_WATCH_DEPTH {
        return None;
    }
    Some(match v {
        Value::Invalid | Value::Nil => Node::Null,
        Value::Bool(b) => Node::Bool(*b),
        // An integer's JSON text is itself, which reads back as that integer.
        Value::Int(i) | Value::Int64(i) => Node::Int(*i),
        // A float's text reads back as go-yaml types it (`1e+06` a float, `8000` an int).
        Value::Float(f) => number_node(&crate::json::float_text(*f).ok()?)?,
        Value::String(s) => Node::Str(plain_text(s)?.to_owned()),
        Value::List(l) if l.ty.name == "#struct" => return None,
        Value::List(l) if l.nil => Node::Null,
        Value::List(l) => Node::Seq(
            l.items
                .iter()
                .map(|i| direct_node_at(i, depth + 1))
                .collect::<Option<_>>()?,
        ),
        Value::Map(m) if m.nil => Node::Null,
        Value::Map(m) => {
            let data = m.data.borrow();
            let mut out = Vec::with_capacity(data.len());
            for (k, v) in data.iter() {
                out.push((plain_text(k)?.to_owned(), direct_node_at(v, depth + 1)?));
            }
            // A map's keys are distinct: there is nothing to keep the last of.
            sort_by_less(&mut out, |a, b| key_less(&a.0, &b.0));
            Node::Map(out)
        }
        Value::BinStr(_) | Value::Bytes(_) | Value::Object(_) => return None,
    })
}

/// `s` when go-yaml reads its JSON string back as it is: no NEL (which it folds) and no
/// character it refuses ([`allowed`]). ASCII below DEL, most text, is both.
fn plain_text(s: &str) -> Option<&str> {
    let ascii = s.bytes().all(|c| c < 0x7f);
    (ascii || (allowed(s).is_ok() && !s.contains(NEL))).then_some(s)
}

/// `toYaml`: the YAML text with its final newline removed, or `None` when encoding fails
/// (Helm then prints nothing).
pub fn to_yaml(v: &Value) -> Option<String> {
    let node = match direct_node(v) {
        Some(n) => n,
        None => from_json(to_json(v).ok()?, &mut ReadBack { line: 1 }).ok()?,
    };
    let mut out = marshal_node(&node);
    if out.ends_with('\n') {
        out.pop();
    }
    Some(out)
}

/// Why `yaml.Marshal` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarshalError {
    /// encoding/json refused the value (callers word it as their Go counterpart does).
    Json(String),
    /// go-yaml could not read the JSON text back: Helm returns its error as it is.
    ReadBack(String),
}

/// `yaml.Marshal` of a value as go-yaml v2 would write it, with its final newline.
pub fn marshal(v: &Value) -> Result<String, MarshalError> {
    let node = match direct_node(v) {
        Some(n) => n,
        None => {
            let j = to_json(v).map_err(MarshalError::Json)?;
            from_json(j, &mut ReadBack { line: 1 }).map_err(MarshalError::ReadBack)?
        }
    };
    Ok(marshal_node(&node))
}

/// Why `toYamlPretty` wrote nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrettyError {
    /// A value Helm's encoder reflects on in ways Gantry does not follow (structs and other Go
    /// objects, whose fields it writes in their declared order, and strings that are not
    /// UTF-8, which it writes as `!!binary`): the call fails rather than guess.
    Unsupported(&'static str),
    /// A map or list that contains itself (a template makes one with `set`): go-yaml recurses
    /// until Go's stack limit ends Helm's process; Gantry fails the call instead. Go's name for
    /// its type.
    Cycle(&'static str),
}

/// `toYamlPretty`: the value as go-yaml v3's encoder writes it with an indent of 2, without its
/// final newline. v3 encodes the Go value itself, not its JSON: integers stay integers, a
/// float64 is written as `strconv.FormatFloat(f, 'g', -1)` (`1e+06`, `.inf`), nil is `null`.
pub fn to_yaml_pretty(v: &Value) -> Result<String, PrettyError> {
    let node = pretty_node(v, 0, &mut Vec::new())?;
    let mut out = emit(&node, true);
    if out.ends_with('\n') {
        out.pop();
    }
    Ok(out)
}

/// The node go-yaml v3 makes of `v`, `depth` maps and lists deep, inside those on `path`.
fn pretty_node(v: &Value, depth: usize, path: &mut Vec<usize>) -> Result<Node, PrettyError> {
    let watched = crate::json::watch(v, depth, path).map_err(PrettyError::Cycle)?;
    let r = pretty_node_within(v, depth, path);
    if watched {
        path.pop();
    }
    r
}

fn pretty_node_within(v: &Value, depth: usize, path: &mut Vec<usize>) -> Result<Node, PrettyError> {
    Ok(match v {
        Value::Invalid | Value::Nil => Node::Null,
        Value::Bool(b) => Node::Bool(*b),
        Value::Int(i) | Value::Int64(i) => Node::Int(*i),
        Value::Float(f) => Node::Float(*f),
        Value::String(s) => Node::Str(s.to_string()),
        // A []byte is a slice like any other to v3: a sequence of its bytes as integers.
        Value::Bytes(b) => Node::Seq(b.iter().map(|&x| Node::Uint(u64::from(x))).collect()),
        Value::List(l) if l.ty.name == "#struct" => {
            return Err(PrettyError::Unsupported("structs and objects"));
        }
        // A nil slice or map is still a slice or map to v3 (`[]`, `{}`), not JSON's null.
        Value::List(l) => Node::Seq(
            l.items
                .iter()
                .map(|i| pretty_node(i, depth + 1, path))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(m) => {
            let data = m.data.borrow();
            let mut out = Vec::with_capacity(data.len());
            for (k, v) in data.iter() {
                out.push((k.to_string(), pretty_node(v, depth + 1, path)?));
            }
            sort_by_less(&mut out, |a, b| key_less_v3(&a.0, &b.0));
            Node::Map(out)
        }
        Value::BinStr(_) => return Err(PrettyError::Unsupported("strings that are not UTF-8")),
        Value::Object(_) => return Err(PrettyError::Unsupported("structs and objects")),
    })
}

fn marshal_node(n: &Node) -> String {
    emit(n, false)
}

/// The YAML text of `n` as go-yaml v2's emitter writes it, or v3's with `v3` (an indent of 2).
fn emit(n: &Node, v3: bool) -> String {
    let mut e = Emitter {
        v3,
        out: String::new(),
        column: 0,
        indent: -1,
        indents: Vec::new(),
        whitespace: true,
        indention: true,
        flow_level: 0,
        root: false,
        sequence: false,
        mapping: false,
        simple_key: false,
    };
    e.node(n, true, false, false, false);
    // Document end: a line break unless at the start of a line.
    e.write_indent();
    e.out
}

const BEST_INDENT: i32 = 2;
const BEST_WIDTH: usize = 80;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

#[derive(Debug, PartialEq)]
struct Analysis {
    multiline: bool,
    flow_plain: bool,
    block_plain: bool,
    single: bool,
    block: bool,
}

struct Emitter {
    /// go-yaml v3's emitter rather than v2's.
    v3: bool,
    out: String,
    column: usize,
    indent: i32,
    indents: Vec<i32>,
    whitespace: bool,
    indention: bool,
    flow_level: usize,
    root: bool,
    sequence: bool,
    mapping: bool,
    simple_key: bool,
}

/// go-yaml v2's `is_printable`, narrower than YAML's own: NEL and everything beyond the Basic
/// Multilingual Plane (emoji) are written escaped, `"\U0001F600"`.
fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0a
        || (0x20..=0x7e).contains(&u)
        || (0xa0..=0xd7ff).contains(&u)
        || ((0xe000..=0xfffd).contains(&u) && u != 0xfeff)
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The scalar analysis of go-yaml v2 (`toYaml`) or, with `v3`, of v3 (`toYamlPretty`), where
/// a tab rules out only the plain and single-quoted styles, so text with tabs can be a literal
/// block.
fn analyze(value: &str, v3: bool) -> Analysis {
    // Most keys and values `toYaml` writes are a word (`cpu`, `500m`, `app.kubernetes.io/name`):
    // ASCII letters, digits and `_./-`, starting with a letter, digit or `_`. Nothing in one is
    // an indicator, a space, a break or unprintable, so it is plain in every style, as the
    // analysis a character at a time finds after collecting the characters (that was most of a
    // small `toYaml`).
    let b = value.as_bytes();
    if let Some(&first) = b.first()
        && (first.is_ascii_alphanumeric() || first == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-'))
    {
        return Analysis {
            multiline: false,
            flow_plain: true,
            block_plain: true,
            single: true,
            block: true,
        };
    }
    analyze_chars(value, v3)
}

/// go-yaml's `yaml_emitter_analyze_scalar`, a character at a time.
fn analyze_chars(value: &str, v3: bool) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            flow_plain: false,
            block_plain: true,
            single: true,
            block: false,
        };
    }
    let chars: Vec<char> = value.chars().collect();
    let mut block_ind = false;
    let mut flow_ind = false;
    let mut line_breaks = false;
    let mut special = false;
    let mut tabs = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    if value.starts_with("---") || value.starts_with("...") {
        block_ind = true;
        flow_ind = true;
    }
    let mut preceded_by_ws = true;
    let n = chars.len();
    for i in 0..n {
        let c = chars[i];
        let followed_by_ws = i + 1 >= n || is_blank(chars[i + 1]) || is_break(chars[i + 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => {
                    flow_ind = true;
                    block_ind = true;
                }
                '?' | ':' => {
                    flow_ind = true;
                    if followed_by_ws {
                        block_ind = true;
                    }
                }
                '-' if followed_by_ws => {
                    flow_ind = true;
                    block_ind = true;
                }
                _ => {}
            }
        } else {
            match c {
                ',' | '?' | '[' | ']' | '{' | '}' => flow_ind = true,
                ':' => {
                    flow_ind = true;
                    if followed_by_ws {
                        block_ind = true;
                    }
                }
                '#' if preceded_by_ws => {
                    flow_ind = true;
                    block_ind = true;
                }
                _ => {}
            }
        }
        if v3 && c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == n {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == n {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = is_blank(c) || is_break(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        flow_plain: true,
        block_plain: true,
        single: true,
        block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.flow_plain = false;
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.flow_plain = false;
        a.block_plain = false;
        a.single = false;
    }
    if space_break || tabs || special {
        a.flow_plain = false;
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a.block = false;
    }
    if line_breaks {
        a.flow_plain = false;
        a.block_plain = false;
    }
    if flow_ind {
        a.flow_plain = false;
    }
    if block_ind {
        a.block_plain = false;
    }
    a
}

fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !(b[0] == b'+' || b[0] == b'-' || b[0].is_ascii_digit()) || !s.contains(':')
    {
        return false;
    }
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let mut i = 0;
    if b[i] == b'+' || b[i] == b'-' {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() && i - st < 2 {
            i += 1;
        }
        let g = &s[st..i];
        let ok = match g.len() {
            1 => true,
            2 => g.as_bytes()[0] <= b'5',
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// go-yaml v2's timestamp detection (such strings are quoted).
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i != 4 || i == b.len() || b[i] != b'-' {
        return false;
    }
    parse_go_timestamp(s)
}

fn take_num(b: &[u8], i: &mut usize, min: usize, max: usize) -> Option<u32> {
    let st = *i;
    while *i < b.len() && *i - st < max && b[*i].is_ascii_digit() {
        *i += 1;
    }
    if *i - st < min {
        return None;
    }
    std::str::from_utf8(&b[st..*i]).ok()?.parse().ok()
}

/// Go's `time.Parse` with go-yaml's four layouts.
fn parse_go_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let Some(year) = take_num(b, &mut i, 4, 4) else {
        return false;
    };
    if i >= b.len() || b[i] != b'-' {
        return false;
    }
    i += 1;
    let Some(month) = take_num(b, &mut i, 1, 2) else {
        return false;
    };
    if i >= b.len() || b[i] != b'-' {
        return false;
    }
    i += 1;
    let Some(day) = take_num(b, &mut i, 1, 2) else {
        return false;
    };
    if !(1..=12).contains(&month) || day < 1 {
        return false;
    }
    if i64::from(day) > crate::funcs::days_in_month(i64::from(year), i64::from(month)) {
        return false;
    }
    if i == b.len() {
        return true;
    }
    let sep = b[i];
    if sep != b'T' && sep != b't' && sep != b' ' {
        return false;
    }
    i += 1;
    let parse_clock = |i: &mut usize| -> bool {
        let Some(h) = take_num(b, i, 1, 2) else {
            return false;
        };
        if *i >= b.len() || b[*i] != b':' {
            return false;
        }
        *i += 1;
        let Some(m) = take_num(b, i, 1, 2) else {
            return false;
        };
        if *i >= b.len() || b[*i] != b':' {
            return false;
        }
        *i += 1;
        let Some(sec) = take_num(b, i, 1, 2) else {
            return false;
        };
        if h > 23 || m > 59 || sec > 59 {
            return false;
        }
        if *i < b.len() && b[*i] == b'.' {
            let st = *i + 1;
            *i += 1;
            while *i < b.len() && b[*i].is_ascii_digit() {
                *i += 1;
            }
            if *i == st || *i - st > 9 {
                return false;
            }
        }
        true
    };
    if !parse_clock(&mut i) {
        return false;
    }
    if sep == b' ' {
        return i == b.len();
    }
    // Z07:00
    if i < b.len() && b[i] == b'Z' {
        return i + 1 == b.len();
    }
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
        let Some(_) = take_num(b, &mut i, 2, 2) else {
            return false;
        };
        if i >= b.len() || b[i] != b':' {
            return false;
        }
        i += 1;
        let Some(_) = take_num(b, &mut i, 2, 2) else {
            return false;
        };
        return i == b.len();
    }
    false
}

impl Emitter {
    /// The column past which a scalar folds at a space: v2's 80, and none for v3, whose
    /// emitter starts with no width (-1, taken as the largest int) and Helm sets none.
    fn width(&self) -> usize {
        if self.v3 { usize::MAX } else { BEST_WIDTH }
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_str(&mut self, s: &str) {
        // `put` of each character, at once.
        self.out.push_str(s);
        self.column += s.chars().count();
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(&mut self, ind: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        self.write_str(ind);
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn node(&mut self, n: &Node, root: bool, sequence: bool, mapping: bool, simple_key: bool) {
        self.root = root;
        self.sequence = sequence;
        self.mapping = mapping;
        self.simple_key = simple_key;
        match n {
            Node::Null => self.scalar("null", Style::Plain),
            Node::Bool(b) => self.scalar(if *b { "true" } else { "false" }, Style::Plain),
            Node::Int(i) => self.scalar(&i.to_string(), Style::Plain),
            Node::Uint(u) => self.scalar(&u.to_string(), Style::Plain),
            Node::Float(f) => {
                let s = match gantry_gotmpl::strconv::format_float(*f, 'g', -1).as_str() {
                    "+Inf" => ".inf".to_owned(),
                    "-Inf" => "-.inf".to_owned(),
                    "NaN" => ".nan".to_owned(),
                    other => other.to_owned(),
                };
                self.scalar(&s, Style::Plain)
            }
            Node::Str(s) => {
                let can_plain = resolves_to_str(s) && !is_timestamp(s) && !is_base60_float(s);
                let style = if s.contains('\n') {
                    Style::Literal
                } else if can_plain {
                    Style::Plain
                } else {
                    Style::Double
                };
                self.scalar(s, style)
            }
            Node::Seq(items) => {
                if self.flow_level > 0 || items.is_empty() {
                    self.flow_empty("[", "]");
                } else {
                    // v2 writes a mapping's sequence at the key's own indentation; v3 (without
                    // its compact-sequence option, which Helm leaves off) indents it.
                    let indentless = !self.v3 && self.mapping && !self.indention;
                    self.increase_indent(false, indentless);
                    for item in items {
                        self.write_indent();
                        self.write_indicator("-", true, false, true);
                        self.node(item, false, true, false, false);
                    }
                    self.pop_indent();
                }
            }
            Node::Map(entries) => {
                if self.flow_level > 0 || entries.is_empty() {
                    self.flow_empty("{", "}");
                } else {
                    self.increase_indent(false, false);
                    for (k, v) in entries {
                        self.write_indent();
                        let key = Node::Str(k.clone());
                        if simple_key_ok(k) {
                            self.node(&key, false, false, true, true);
                            self.write_indicator(":", false, false, false);
                        } else {
                            self.write_indicator("?", true, false, true);
                            self.node(&key, false, false, true, false);
                            self.write_indent();
                            self.write_indicator(":", true, false, true);
                        }
                        self.node(v, false, false, true, false);
                    }
                    self.pop_indent();
                }
            }
        }
    }

    fn flow_empty(&mut self, open: &str, close: &str) {
        self.write_indicator(open, true, true, false);
        self.increase_indent(true, false);
        self.flow_level += 1;
        self.flow_level -= 1;
        self.pop_indent();
        self.write_indicator(close, false, false, false);
    }

    fn scalar(&mut self, value: &str, style: Style) {
        let a = analyze(value, self.v3);
        let mut style = style;
        if self.simple_key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain {
            if (self.flow_level > 0 && !a.flow_plain) || (self.flow_level == 0 && !a.block_plain) {
                style = Style::Single;
            }
            if value.is_empty() && (self.flow_level > 0 || self.simple_key) {
                style = Style::Single;
            }
        }
        if style == Style::Single && !a.single {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block || self.flow_level > 0 || self.simple_key) {
            style = Style::Double;
        }
        self.increase_indent(true, false);
        let allow_breaks = !self.simple_key;
        match style {
            Style::Plain => self.write_plain(value, allow_breaks),
            Style::Single => self.write_single(value, allow_breaks),
            Style::Double => self.write_double(value, allow_breaks),
            Style::Literal => self.write_literal(value),
        }
        self.pop_indent();
    }

    fn write_plain(&mut self, value: &str, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        // A word of ASCII without a space or a break (most scalars) is written as it is: the
        // loop below would put each character, with nothing to fold or break.
        if value
            .bytes()
            .all(|b| b.is_ascii() && !matches!(b, b' ' | b'\n' | b'\r'))
        {
            self.write_str(value);
            self.whitespace = false;
            self.indention = false;
            return;
        }
        let chars: Vec<char> = value.chars().collect();
        let mut spaces = false;
        let mut breaks = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks && !spaces && self.column > self.width() && !next_space {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
            i += 1;
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn write_single(&mut self, value: &str, allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let chars: Vec<char> = value.chars().collect();
        let n = chars.len();
        let mut spaces = false;
        let mut breaks = false;
        for i in 0..n {
            let c = chars[i];
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks
                    && !spaces
                    && self.column > self.width()
                    && i > 0
                    && i < n - 1
                    && !next_space
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double(&mut self, value: &str, allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        let chars: Vec<char> = value.chars().collect();
        let n = chars.len();
        let mut spaces = false;
        for i in 0..n {
            let c = chars[i];
            // go-yaml's `is_bom` looks at the value's first bytes whatever the position, so
            // after a leading BOM every character is written escaped.
            let bom = chars[0] == '\u{feff}';
            if !is_printable(c) || bom || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                let esc = match c {
                    '\0' => Some('0'),
                    '\x07' => Some('a'),
                    '\x08' => Some('b'),
                    '\t' => Some('t'),
                    '\n' => Some('n'),
                    '\x0b' => Some('v'),
                    '\x0c' => Some('f'),
                    '\r' => Some('r'),
                    '\x1b' => Some('e'),
                    '"' => Some('"'),
                    '\\' => Some('\\'),
                    '\u{85}' => Some('N'),
                    '\u{a0}' => Some('_'),
                    '\u{2028}' => Some('L'),
                    '\u{2029}' => Some('P'),
                    _ => None,
                };
                match esc {
                    Some(e) => self.put(e),
                    None => {
                        let v = c as u32;
                        let s = if v <= 0xff {
                            format!("x{v:02X}")
                        } else if v <= 0xffff {
                            format!("u{v:04X}")
                        } else {
                            format!("U{v:08X}")
                        };
                        self.write_str(&s);
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > self.width() && i > 0 && i < n - 1 {
                    self.write_indent();
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, value: &str) {
        self.write_indicator("|", true, false, false);
        // Block scalar hints.
        let chars: Vec<char> = value.chars().collect();
        if let Some(&first) = chars.first()
            && (first == ' ' || is_break(first))
        {
            let hint = char::from(b'0' + BEST_INDENT as u8);
            self.write_indicator(&hint.to_string(), false, false, false);
        }
        let chomp = match chars.len() {
            0 => Some('-'),
            n => {
                if !is_break(chars[n - 1]) {
                    Some('-')
                } else if n == 1 || is_break(chars[n - 2]) {
                    Some('+')
                } else {
                    None
                }
            }
        };
        if let Some(c) = chomp {
            self.write_indicator(&c.to_string(), false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in &chars {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

/// Whether a plain scalar reads back as the string it is, as the encoder checks it (go-yaml's
/// `resolve("", s)`, where the empty string is null).
fn resolves_to_str(s: &str) -> bool {
    !s.is_empty() && resolve_typed(s).is_none()
}

/// Whether a key can be written as a simple key (one line, at most 128 bytes).
fn simple_key_ok(k: &str) -> bool {
    // Tabs, where the flavours differ, do not make a scalar span lines.
    let a = analyze(k, false);
    !a.multiline && k.len() <= 128
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{YamlLimits, unmarshal_map};

    /// An ASCII key compares by bytes exactly as by characters: every pair of keys of up to
    /// three units from digits (zero among them), letters of both cases and punctuation.
    #[test]
    fn ascii_keys_order_by_bytes_as_by_characters() {
        let alphabet = ["0", "1", "9", "a", "Z", "-", "_", " "];
        let mut keys = vec![String::new()];
        for len in 1..=3 {
            let mut more = Vec::new();
            for k in keys.iter().filter(|k| k.len() == len - 1) {
                for c in alphabet {
                    more.push(format!("{k}{c}"));
                }
            }
            keys.extend(more);
        }
        for a in &keys {
            let ac: Vec<char> = a.chars().collect();
            for b in &keys {
                let bc: Vec<char> = b.chars().collect();
                for v3 in [false, true] {
                    assert_eq!(
                        units_less(a.as_bytes(), b.as_bytes(), v3),
                        units_less(&ac, &bc, v3),
                        "{a:?} < {b:?}"
                    );
                }
            }
        }
        // go-yaml's order itself: runs of digits by value, other characters before letters,
        // letters (any script) by code point, and its cycle (`"1" < "01" < "0a" < "1"`).
        assert!(key_less("a2", "a10") && !key_less("a10", "a2"));
        assert!(key_less("1", "b") && !key_less("b", "1"));
        assert!(key_less("a", "é") && !key_less("é", "a"));
        // Go's letters and digits (as Helm printed them): `Ⅻ` is no letter, `٣` a digit worth
        // its code point less `'0'`'s, a combining mark no letter.
        assert!(key_less("aⅫ", "a3") && key_less("3a", "٣a") && key_less("a٣", "a0٣"));
        assert!(key_less("a-", "a\u{301}") && key_less("a\u{301}", "aⅫ"));
        assert!(key_less("1", "01") && key_less("01", "0a") && key_less("0a", "1"));
        // v3's: after a digit, a letter before anything else (Helm's toYamlPretty printed
        // `1a`, `1b`, `1-`, `1_`); elsewhere as v2.
        assert!(key_less("1-", "1a") && key_less_v3("1a", "1-") && !key_less_v3("1-", "1a"));
        assert!(key_less_v3("1b", "1_") && key_less_v3("-a", "aa") && key_less_v3("a-", "ab"));
    }

    fn y(src: &str) -> String {
        let m = unmarshal_map(src, YamlLimits::default()).unwrap();
        to_yaml(&Value::Map(m)).unwrap()
    }

    #[test]
    fn matches_helm_for_common_shapes() {
        assert_eq!(
            y(
                "a: \"this is a very long string with many words that goes on and on past the eighty column limit for sure yes\"\nb: \"multi\\nline\\n\"\nc: \"  lead\"\nd: \"yes\"\ne: 1e+21\nf: 12345678901234567890\ng: \"123\"\nh: \"\"\nj: [1, 2.5, \"x\"]\nk: {}\nl: []\nm: \"a: b\"\no: \"tab\\there\"\np: \"multi\\nline no trailing\"\nq: \"#comment\"\nr: \"null\"\ns: \"1.0\"\nt: \"0x1F\"\nu: \"é ü\"\nv: \"line1\\n\\nline3\\n\\n\"\n"
            ),
            "a: this is a very long string with many words that goes on and on past the eighty\n  column limit for sure yes\nb: |\n  multi\n  line\nc: '  lead'\nd: \"yes\"\ne: 1e+21\nf: 12345678901234567000\ng: \"123\"\nh: \"\"\nj:\n- 1\n- 2.5\n- x\nk: {}\nl: []\nm: 'a: b'\no: \"tab\\there\"\np: |-\n  multi\n  line no trailing\nq: '#comment'\nr: \"null\"\ns: \"1.0\"\nt: \"0x1F\"\nu: é ü\nv: |+\n  line1\n\n  line3\n"
        );
    }

    #[test]
    fn a_word_is_analysed_as_the_character_reader_analyses_it() {
        let alphabet = [
            "a", "Z", "0", "_", ".", "/", "-", " ", ":", "#", "é", "\n", "'", ",", "\t",
        ];
        for s in gantry_tests::up_to(&alphabet, 4) {
            for v3 in [false, true] {
                assert_eq!(analyze(&s, v3), analyze_chars(&s, v3), "{s:?}");
            }
        }
    }

    #[test]
    fn natural_key_order() {
        assert_eq!(
            y(
                "a10: 1\na2: 2\nB: 3\n_x: 4\na01: 5\na1: 6\n\"10\": 7\n\"9\": 8\nÄ: 9\na-b: 10\na_b: 11\nab: 12\n"
            ),
            "_x: 4\n\"9\": 8\n\"10\": 7\nB: 3\na-b: 10\na_b: 11\na1: 6\na01: 5\na2: 2\na10: 1\nab: 12\nÄ: 9"
        );
    }

    /// What Helm v4.2.3's `toYaml` printed for each (helm-python-sdk, 2026-12-01).
    #[test]
    fn characters_go_yaml_escapes_and_nel_read_back_as_a_line_break() {
        // Beyond the Basic Multilingual Plane, in a value and in a key.
        assert_eq!(
            y("a: \"x\\U0001F600y\"\nb: \"\\U0001F600\"\nc: {\"\\U0001F600\": 1}\n"),
            "a: \"x\\U0001F600y\"\nb: \"\\U0001F600\"\nc:\n  \"\\U0001F600\": 1"
        );
        let one = |v: &str| {
            let m = unmarshal_map(&format!("v: \"{v}\"\n"), YamlLimits::default()).unwrap();
            to_yaml(&m.get("v").unwrap())
        };
        for (value, helm) in [
            ("x\\Ny", Some("x y")),
            ("a\\N\\Nb", Some("|-\n  a\n  b")),
            ("a \\N b", Some("a b")),
            ("a\\N---b", Some("a ---b")),
            ("\\Na", Some("' a'")),
            ("a\\N", Some("'a '")),
            ("a\\N\\N\\Nb", Some("|-\n  a\n\n  b")),
            ("a\\N  \\N  b", Some("|-\n  a\n  b")),
            ("a\\t\\Nb", Some("\"a\\t b\"")),
            ("a\\N---", Some("a ---")),
            ("a\\U0001F600\\N", Some("\"a\\U0001F600 \"")),
            ("a\\N--- b", None),
            ("a\\N...\\Nb", None),
        ] {
            assert_eq!(one(value).as_deref(), helm, "{value}");
        }
        let m = |src: &str| {
            let m = unmarshal_map(src, YamlLimits::default()).unwrap();
            marshal(&m.get("v").unwrap())
        };
        assert_eq!(
            m("v: [\"q\\Nr\", {\"x\\N\": 1}]\n"),
            Err(MarshalError::ReadBack(
                "yaml: line 2: did not find expected ',' or '}'".into()
            ))
        );
        assert_eq!(
            m("v: {\"a\": {\"\\Nx\": 1}}\n"),
            Err(MarshalError::ReadBack(
                "yaml: line 1: did not find expected ',' or '}'".into()
            ))
        );
        assert_eq!(
            m("v: \"a\\N--- b\"\n"),
            Err(MarshalError::ReadBack(
                "yaml: line 2: found unexpected document indicator".into()
            ))
        );
        assert_eq!(
            m("v: {\"x\": \"a\\Nb\", \"z\": 1}\n").unwrap(),
            "x: a b\nz: 1\n"
        );
        // Characters go-yaml's reader refuses (encoding/json leaves them raw): toYaml prints
        // nothing, mustToYaml fails.
        for c in ["\\x7F", "\\x80", "\\x84", "\\x9F", "\\uFFFE"] {
            assert_eq!(one(&format!("a{c}b")), None, "{c}");
            assert_eq!(
                m(&format!("v: {{\"k{c}\": 1}}\n")),
                Err(MarshalError::ReadBack(
                    "yaml: control characters are not allowed".into()
                ))
            );
        }
        // After a leading BOM, go-yaml escapes every character.
        assert_eq!(
            one("\\uFEFFbom").as_deref(),
            Some("\"\\uFEFF\\x62\\x6F\\x6D\"")
        );
    }

    /// The node `toYaml` makes without the JSON text prints as the one go-yaml reads back
    /// from that text, and values it cannot make so (a NEL, a refused character, a float
    /// JSON refuses) are left to the JSON path.
    #[test]
    fn a_node_made_directly_is_the_json_read_back() {
        let src = "a: [1, 2.5, 1e+06, 1e21, 1e-7, -0.0, 12345678901234567890, null, true]\nb: {z: \"é ü\", \"0a\": x, \"1\": y, \"01\": w, \"a: b\": \"#c\"}\nc: \"multi\\nline\\n\"\nd: \"x\\Ny\"\ne: \"a\\x7Fb\"\nf: {}\ng: []\nh: {\"k\\N\": 1}\n";
        let m = unmarshal_map(src, YamlLimits::default()).unwrap();
        let mut values: Vec<Value> = m.data.borrow().iter().map(|(_, v)| v.clone()).collect();
        values.push(Value::Map(m.clone()));
        values.extend([
            Value::Int(-3),
            Value::Int64(1 << 60),
            Value::Float(f64::NAN),
            Value::Nil,
            Value::Invalid,
            Value::List(gantry_gotmpl::List::nil()),
            Value::str("yes"),
        ]);
        let mut direct = 0;
        for v in &values {
            let slow = to_json(v)
                .ok()
                .and_then(|j| from_json(j, &mut ReadBack { line: 1 }).ok())
                .map(|n| marshal_node(&n));
            if let Some(n) = direct_node(v) {
                direct += 1;
                assert_eq!(Some(marshal_node(&n)), slow, "{v:?}");
            }
        }
        // All but the NEL values, the refused character, the map holding them and NaN.
        assert_eq!(direct, values.len() - 5);
    }

    #[test]
    fn sorting_by_a_comparison_that_is_no_order_keeps_every_element() {
        // Rock, paper, scissors: every element is less than another.
        let mut v: Vec<u32> = (0..1000).map(|i| (i * 7919) % 3).collect();
        sort_by_less(&mut v, |a, b| (a + 1) % 3 == *b);
        assert_eq!(v.len(), 1000);
        assert_eq!(v.iter().filter(|&&x| x == 0).count(), 334);
        let mut w = vec![5, 3, 9, 1, 3];
        sort_by_less(&mut w, |a, b| a < b);
        assert_eq!(w, vec![1, 3, 3, 5, 9]);
    }

    #[test]
    fn keys_go_yaml_orders_inconsistently_print_without_a_panic() {
        // "1" < "01" < "0a" < "1" by go-yaml's comparison, on which `sort_by` may panic; Helm's
        // own order for them is random (Go map iteration).
        let keys = [
            "017",
            "190:20:30",
            "0b101",
            "multi\\nline",
            "multi\\nline\\n\\n",
            "trail\\n  ",
            "#x",
            "x #y",
            "0.",
            "-0",
            "+.5",
            "1,000",
            "0777",
            "08",
            "09.5",
            "6.8523015e+5",
            "685.230_15e+03",
            "Yes",
            "NO",
            "oN",
            "~x",
            "1",
            "01",
            "0a",
        ];
        let src: String = keys.iter().map(|k| format!("\"{k}\": 1\n")).collect();
        let out = y(&src);
        assert_eq!(out.matches(": 1").count(), keys.len(), "{out}");
    }
}
