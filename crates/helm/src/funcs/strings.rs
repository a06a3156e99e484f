//! String functions (Sprig's strings.go, goutils, Go's `strings`, `path` and `regexp`, and
//! `net/url`), with Go's byte-based indexing and Unicode rules.

use std::collections::HashMap;

use gantry_gotmpl::value::{LIST_STR, MAP_STR};
use gantry_gotmpl::{GoError, List, Map, Ty, Value, gofmt};
use regex::Regex;

use super::convert::strval;
use super::{Reg, bytes, s};

const A: Ty = Ty::Any;
const S: Ty = Ty::Str;
const I: Ty = Ty::Int;

fn slice_at(s: &str, from: usize, to: usize, what: &str) -> Result<String, GoError> {
    s.get(from..to).map(str::to_owned).ok_or_else(|| {
        GoError::unsupported(format!(
            "{what} cuts the string inside a UTF-8 character; Go would produce invalid text (not supported by Gantry)"
        ))
    })
}

/// Go's `unicode.ToUpper` on each rune (simple case mapping).
fn go_upper(s: &str) -> String {
    s.chars().map(upper1).collect()
}

/// Go's `unicode.ToUpper` of one rune: a character whose full mapping is several (`ß`) has no
/// one-character mapping and stays.
fn upper1(c: char) -> char {
    if let Some(t) = greek_iota_title(c) {
        return t;
    }
    let mut u = c.to_uppercase();
    match (u.next(), u.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

fn go_lower(s: &str) -> String {
    s.chars().map(lower1).collect()
}

/// Go's `unicode.ToLower`: Unicode's one-character mapping. Rust's is the full one, which
/// differs only for U+0130 (`İ`, to `i` and a combining dot above); Go's is `i`.
pub(super) fn lower1(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// The one-character upper and title mapping of a Greek small letter with ypogegrammeni
/// (`ᾳ` to `ᾼ`), whose full upper mapping is two characters: Go maps it, Rust's full mapping
/// is the two.
fn greek_iota_title(c: char) -> Option<char> {
    let u = c as u32;
    let t = match u {
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => u + 8,
        0x1FB3 | 0x1FC3 | 0x1FF3 => u + 9,
        _ => return None,
    };
    char::from_u32(t)
}

/// Go's `unicode.IsUpper`: the letters of category Lu, not the Roman numerals and circled
/// letters Rust's `Uppercase` property adds.
fn go_is_upper(c: char) -> bool {
    c.is_uppercase() && !matches!(c as u32, 0x2160..=0x216F | 0x24B6..=0x24CF | 0x1F130..=0x1F189)
}

/// Go's `unicode.IsLower`: category Ll, without what Rust's `Lowercase` property adds
/// (modifier letters, small Roman numerals, circled letters, ordinal indicators).
fn go_is_lower(c: char) -> bool {
    c.is_lowercase()
        && !matches!(
            c as u32,
            0xAA | 0xBA
                | 0x2B0..=0x2B8
                | 0x2C0..=0x2C1
                | 0x2E0..=0x2E4
                | 0x345
                | 0x37A
                | 0x10FC
                | 0x1D2C..=0x1D6A
                | 0x1D78
                | 0x1D9B..=0x1DBF
                | 0x2071
                | 0x207F
                | 0x2090..=0x209C
                | 0x2170..=0x217F
                | 0x24D0..=0x24E9
                | 0x2C7C..=0x2C7D
                | 0xA69C..=0xA69D
                | 0xA770
                | 0xA7F2..=0xA7F4
                | 0xA7F8..=0xA7F9
                | 0xAB5C..=0xAB5F
                | 0xAB69
                | 0x10780
                | 0x10783..=0x107BA
                | 0x1E030..=0x1E06D
        )
}

/// Go's `unicode.IsTitle`: category Lt (the digraphs `ǅ`, `ǈ`, `ǋ`, `ǲ` and Greek capitals
/// with prosgegrammeni).
fn go_is_title(c: char) -> bool {
    matches!(
        c as u32,
        0x1C5 | 0x1C8 | 0x1CB | 0x1F2 | 0x1F88..=0x1F8F | 0x1F98..=0x1F9F | 0x1FA8..=0x1FAF
            | 0x1FBC | 0x1FCC | 0x1FFC
    )
}

fn to_title(c: char) -> char {
    if let Some(t) = greek_iota_title(c) {
        return t;
    }
    // Title case equals upper case except for a few digraphs.
    match c {
        'Ǆ' | 'ǅ' | 'ǆ' => 'ǅ',
        'Ǉ' | 'ǈ' | 'ǉ' => 'ǈ',
        'Ǌ' | 'ǋ' | 'ǌ' => 'ǋ',
        'Ǳ' | 'ǲ' | 'ǳ' => 'ǲ',
        c => {
            let mut u = c.to_uppercase();
            match (u.next(), u.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        }
    }
}

/// Go's `strings.Title`.
fn title(s: &str) -> String {
    let is_sep = |r: char| -> bool {
        if r.is_ascii() {
            return !(r.is_ascii_alphanumeric() || r == '_');
        }
        if r.is_alphabetic() || r.is_numeric() {
            return false;
        }
        r.is_whitespace()
    };
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_sep(prev) { to_title(c) } else { c };
            prev = c;
            out
        })
        .collect()
}

fn untitle(s: &str) -> String {
    let mut next = true;
    s.chars()
        .map(|c| {
            if c.is_whitespace() {
                next = true;
                c
            } else if next {
                next = false;
                lower1(c)
            } else {
                c
            }
        })
        .collect()
}

fn swapcase(s: &str) -> String {
    let mut ws = true;
    s.chars()
        .map(|c| {
            if go_is_upper(c) || go_is_title(c) {
                ws = false;
                lower1(c)
            } else if go_is_lower(c) {
                if ws {
                    ws = false;
                    to_title(c)
                } else {
                    upper1(c)
                }
            } else {
                ws = c.is_whitespace();
                c
            }
        })
        .collect()
}

/// Go's `unicode.IsSpace` on a byte read as a rune (goutils treats bytes as Latin-1).
fn latin1_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0)
}

fn nospace(s: &str) -> String {
    let b = s.as_bytes();
    if !b.iter().any(|&c| latin1_space(c)) {
        return s.to_owned();
    }
    // goutils re-encodes each kept byte as a rune, as Go does.
    b.iter()
        .filter(|&&c| !latin1_space(c))
        .map(|&c| c as char)
        .collect()
}

fn initials(s: &str) -> String {
    let mut out = String::new();
    let mut gap = true;
    for &b in s.as_bytes() {
        if latin1_space(b) {
            gap = true;
        } else if gap {
            out.push(b as char);
            gap = false;
        }
    }
    out
}

fn abbreviate(s: &str, offset: i64, max: i64) -> Result<String, GoError> {
    if s.is_empty() {
        return Ok(String::new());
    }
    let len = s.len() as i64;
    if max < 4 {
        return Ok(String::new());
    }
    if len <= max {
        return Ok(s.to_owned());
    }
    let mut offset = offset.min(len);
    if len - offset < max - 3 {
        offset = len - (max - 3);
    }
    if offset <= 4 {
        return Ok(slice_at(s, 0, (max - 3) as usize, "abbrev")? + "...");
    }
    if max < 7 {
        return Ok(String::new());
    }
    if offset + max - 3 < len {
        let rest = slice_at(s, offset as usize, s.len(), "abbrev")?;
        return Ok(format!("...{}", abbreviate(&rest, 0, max - 3)?));
    }
    Ok(format!(
        "...{}",
        slice_at(s, (len - (max - 3)) as usize, s.len(), "abbrev")?
    ))
}

fn wrap_custom(s: &str, len: i64, nl: &str, long_words: bool) -> Result<String, GoError> {
    if s.is_empty() {
        return Ok(String::new());
    }
    let nl = if nl.is_empty() { "\n" } else { nl };
    let wl = len.max(1) as usize;
    let b = s.as_bytes();
    let n = b.len();
    let mut off = 0usize;
    let mut out = String::new();
    let sub = |a: usize, z: usize| slice_at(s, a, z, "wrap");
    while n - off > wl {
        if b[off] == b' ' {
            off += 1;
            continue;
        }
        let end = (wl + off + 1).min(n);
        // Bytes, as Go's wrap reads them: a window may end inside a character.
        let space = b[off..end]
            .iter()
            .rposition(|&c| c == b' ')
            .map(|i| i + off);
        match space {
            Some(sp) => {
                out.push_str(&sub(off, sp)?);
                out.push_str(nl);
                off = sp + 1;
            }
            None => {
                if long_words {
                    let end = wl + off;
                    out.push_str(&sub(off, end)?);
                    out.push_str(nl);
                    off += wl;
                } else {
                    let end = wl + off;
                    match b[end..].iter().position(|&c| c == b' ') {
                        None => {
                            out.push_str(&sub(off, n)?);
                            off = n;
                        }
                        Some(idx) => {
                            let sp = idx + end;
                            out.push_str(&sub(off, sp)?);
                            out.push_str(nl);
                            off = sp + 1;
                        }
                    }
                }
            }
        }
    }
    out.push_str(&sub(off, n)?);
    Ok(out)
}

/// Sprig's `strslice`.
pub fn strslice(v: &Value) -> Result<Vec<String>, GoError> {
    Ok(match v {
        Value::List(l) => {
            let mut out = Vec::with_capacity(l.items.len());
            for item in l.items.iter() {
                if !item.is_nil() {
                    out.push(strval(item)?);
                }
            }
            out
        }
        Value::Invalid | Value::Nil => Vec::new(),
        Value::Bytes(b) => b.iter().map(|x| x.to_string()).collect(),
        other => vec![strval(other)?],
    })
}

/// Go's `[]string` from a function that returns nil when it finds nothing (`FindAllString`):
/// `toJson` prints `null`.
fn str_list_or_nil(v: Vec<String>) -> Value {
    if v.is_empty() {
        Value::List(List::nil_typed(&LIST_STR))
    } else {
        str_list(v)
    }
}

fn str_list(v: Vec<String>) -> Value {
    Value::List(List::typed(
        v.into_iter().map(Value::string).collect(),
        &LIST_STR,
    ))
}

fn split_map(parts: Vec<&str>) -> Value {
    Value::Map(Map::typed(
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("_{i}"), Value::str(p)))
            .collect(),
        &MAP_STR,
    ))
}

/// Go's `strings.Split`.
fn go_split<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    if sep.is_empty() {
        let mut out = Vec::new();
        let idx = s.char_indices().peekable();
        for (i, c) in idx {
            out.push(&s[i..i + c.len_utf8()]);
        }
        return out;
    }
    s.split(sep).collect()
}

/// Go's `strings.SplitN`.
fn go_splitn<'a>(s: &'a str, sep: &str, n: i64) -> Vec<&'a str> {
    if n == 0 {
        return Vec::new();
    }
    if n < 0 {
        return go_split(s, sep);
    }
    if sep.is_empty() {
        let all = go_split(s, sep);
        if all.len() as i64 <= n {
            return all;
        }
        let head_len: usize = all[..(n - 1) as usize].iter().map(|p| p.len()).sum();
        let mut out: Vec<&str> = all[..(n - 1) as usize].to_vec();
        out.push(&s[head_len..]);
        return out;
    }
    s.splitn(n as usize, sep).collect()
}

/// Go's `path.Clean`.
pub fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    let joined = out.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

/// Go's `path.Base`.
pub fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    match t.rfind('/') {
        Some(i) => t[i + 1..].to_owned(),
        None => t.to_owned(),
    }
}

fn path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    path_clean(dir)
}

fn path_ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        if c == '/' {
            break;
        }
        if c == '.' {
            return p[i..].to_owned();
        }
    }
    String::new()
}

/// What came last inside a bracketed class: whether a `-` after it makes a range (Go's parser
/// reads `-` as a literal after a class like `\w`, after a range and at the start).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClassItem {
    Start,
    Single,
    Class,
    RangeEnd,
    Dash,
}

/// [`compile_go_regex`], compiled once per pattern: charts call `regexReplaceAll` and friends
/// with the same few patterns for every value, and compiling cost far more than matching. The
/// cache is bounded (emptied when full) so that a long-running reconciler cannot grow it.
pub fn go_regex(pattern: &str) -> Result<Regex, GoError> {
    const MAX_CACHED: usize = 512;
    if let Some(re) = regex_cache().get(pattern) {
        return Ok(re.clone());
    }
    let re = compile_go_regex(pattern)?;
    let mut c = regex_cache();
    if c.len() >= MAX_CACHED {
        c.clear();
    }
    c.insert(pattern.to_owned(), re.clone());
    Ok(re)
}

/// [`go_regex`]'s patterns, compiled.
fn regex_cache() -> std::sync::MutexGuard<'static, HashMap<String, Regex>> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<HashMap<String, Regex>>> =
        std::sync::OnceLock::new();
    CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The functions whose first argument is a regular expression.
const REGEX_FUNCS: [&str; 12] = [
    "regexMatch",
    "mustRegexMatch",
    "regexFindAll",
    "mustRegexFindAll",
    "regexFind",
    "mustRegexFind",
    "regexReplaceAll",
    "mustRegexReplaceAll",
    "regexReplaceAllLiteral",
    "mustRegexReplaceAllLiteral",
    "regexSplit",
    "mustRegexSplit",
];

/// Compiles into [`go_regex`]'s cache the patterns `tree` gives the regular-expression
/// functions as constants (`regexReplaceAll "[^a-z]+" .x ""`), so that the render finds them
/// compiled. The parse helper does this for the templates it parses: compiling a pattern
/// builds its automata, and argo-rollouts' two patterns were 7 % of its render
/// thread. A pattern that does not compile is left for the call to report.
pub(crate) fn compile_patterns(tree: &gantry_gotmpl::parse::Tree) {
    use gantry_gotmpl::parse::{Arg, ListNode, Node, PipeNode};
    fn walk_list(l: &ListNode, strings: &[Box<str>]) {
        for n in &l.nodes {
            match n {
                Node::Action { pipe, .. } => walk_pipe(pipe, strings),
                Node::If(b) | Node::Range(b) | Node::With(b) => {
                    walk_pipe(&b.pipe, strings);
                    walk_list(&b.list, strings);
                    if let Some(e) = &b.else_list {
                        walk_list(e, strings);
                    }
                }
                Node::Template(t) => {
                    if let Some(p) = &t.pipe {
                        walk_pipe(p, strings);
                    }
                }
                _ => {}
            }
        }
    }
    fn walk_pipe(p: &PipeNode, strings: &[Box<str>]) {
        for c in &p.cmds {
            if let [Arg::Identifier { name, .. }, Arg::String { index, .. }, ..] = &c.args[..]
                && REGEX_FUNCS.contains(&&**name)
                && let Some(pattern) = strings.get(*index as usize)
            {
                let _ = go_regex(pattern);
            }
            for a in &c.args {
                walk_arg(a, strings);
            }
        }
    }
    fn walk_arg(a: &Arg, strings: &[Box<str>]) {
        match a {
            Arg::Pipe(p) => walk_pipe(p, strings),
            Arg::Chain { node, .. } => walk_arg(node, strings),
            _ => {}
        }
    }
    walk_list(&tree.root, &tree.strings);
}

/// Translates Go (RE2) syntax to the regex crate's: `\d`, `\w`, `\s` and `\b` are ASCII in Go,
/// and a `-` inside brackets that Go reads as a literal is escaped (`[\w-.]`).
fn compile_go_regex(pattern: &str) -> Result<Regex, GoError> {
    if let Some(capture) = invalid_capture_name(pattern) {
        return Err(GoError::new(format!(
            "regexp: Compile({}): error parsing regexp: invalid named capture: `{capture}`",
            regexp_quote(pattern)
        )));
    }
    let mut out = String::with_capacity(pattern.len() + 8);
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut in_class = false;
    let mut item = ClassItem::Start;
    // The item that follows a range's `-` ends the range.
    let next_item = |item: ClassItem, single: bool| match (item, single) {
        (_, false) => ClassItem::Class,
        (ClassItem::Dash, true) => ClassItem::RangeEnd,
        (_, true) => ClassItem::Single,
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let e = chars[i + 1];
            // `\Q...\E` outside a class: all literal to the `\E` or the end.
            if e == 'Q' && !in_class {
                let rest: String = chars[i + 2..].iter().collect();
                let (lit, skip) = match rest.find("\\E") {
                    Some(end) => (&rest[..end], end + 2),
                    None => (rest.as_str(), rest.len()),
                };
                out.push_str(&regex::escape(lit));
                i += 2 + lit.chars().count() + (skip - lit.len());
                continue;
            }
            // Octal: `\0` and up to two more digits, or a digit 1-7 followed by one.
            let octal_next = chars.get(i + 2).is_some_and(|d| ('0'..='7').contains(d));
            if e == '0' || (('1'..='7').contains(&e) && octal_next) {
                let mut code = e as u32 - '0' as u32;
                let mut j = i + 2;
                while j < i + 4 && chars.get(j).is_some_and(|d| ('0'..='7').contains(d)) {
                    code = code * 8 + (chars[j] as u32 - '0' as u32);
                    j += 1;
                }
                if in_class {
                    item = next_item(item, true);
                }
                out.push_str(&format!("\\x{{{code:x}}}"));
                i = j;
                continue;
            }
            if in_class {
                item = next_item(
                    item,
                    !matches!(e, 'd' | 'w' | 's' | 'D' | 'W' | 'S' | 'p' | 'P'),
                );
            }
            let rep = match (e, in_class) {
                ('d', false) => Some("[0-9]"),
                ('D', false) => Some("[^0-9]"),
                ('w', false) => Some("[0-9A-Za-z_]"),
                ('W', false) => Some("[^0-9A-Za-z_]"),
                ('s', false) => Some("[\\t\\n\\f\\r ]"),
                ('S', false) => Some("[^\\t\\n\\f\\r ]"),
                ('d', true) => Some("0-9"),
                ('w', true) => Some("0-9A-Za-z_"),
                ('s', true) => Some("\\t\\n\\f\\r "),
                ('b', false) => Some("(?-u:\\b)"),
                ('B', false) => Some("(?-u:\\B)"),
                ('D', true) => Some("[^0-9]"),
                ('W', true) => Some("[^0-9A-Za-z_]"),
                ('S', true) => Some("[^\\t\\n\\f\\r ]"),
                ('Q', _) => {
                    return Err(GoError::unsupported(format!(
                        "\\Q...\\E in the regular expression {} is not supported by Gantry",
                        gofmt::quote(pattern)
                    )));
                }
                _ => None,
            };
            match rep {
                Some(r) => out.push_str(r),
                None => {
                    out.push('\\');
                    out.push(e);
                }
            }
            i += 2;
            if matches!(e, 'p' | 'P') {
                // The class name: one letter or a braced name.
                let end = if chars.get(i) == Some(&'{') {
                    chars[i..]
                        .iter()
                        .position(|&c| c == '}')
                        .map_or(i, |p| i + p + 1)
                } else {
                    (i + 1).min(chars.len())
                };
                out.extend(&chars[i..end]);
                i = end;
            }
            continue;
        }
        if c == '[' && !in_class {
            in_class = true;
            item = ClassItem::Start;
            out.push(c);
            i += 1;
            if i < chars.len() && chars[i] == '^' {
                out.push('^');
                i += 1;
            }
            if i < chars.len() && chars[i] == ']' {
                out.push_str("\\]");
                item = ClassItem::Single;
                i += 1;
            }
            continue;
        }
        if c == '[' && in_class && i + 1 < chars.len() && chars[i + 1] == ':' {
            // [:alpha:] inside a class.
            // `end` counts characters (a name with `é` in it is no class, but must not cut one).
            if let Some(end) = chars[i..].windows(2).position(|w| w == [':', ']']) {
                let s: String = chars[i..i + end + 2].iter().collect();
                out.push_str(&s);
                i += end + 2;
                item = ClassItem::Class;
                continue;
            }
        }
        if c == ']' && in_class {
            in_class = false;
        } else if in_class && c == '-' {
            let closes = chars.get(i + 1) == Some(&']');
            if item == ClassItem::Single && !closes {
                item = ClassItem::Dash;
                out.push(c);
            } else {
                item = next_item(item, true);
                out.push_str("\\-");
            }
            i += 1;
            continue;
        } else if in_class {
            item = next_item(item, true);
            // Literal in Go; nesting and set operators (`&&`, `~~`) in the regex crate.
            if matches!(c, '[' | '&' | '~') {
                out.push('\\');
            }
        } else if c == '{' && !go_repeat(&chars[i..]) {
            // Not `{n}`, `{n,}` or `{n,m}`: Go reads the brace as a literal.
            out.push('\\');
        }
        out.push(c);
        i += 1;
    }
    Regex::new(&out).map_err(|e| {
        GoError::new(format!(
            "regexp: Compile({}): error parsing regexp: {}",
            regexp_quote(pattern),
            e.to_string().lines().last().unwrap_or("invalid").trim()
        ))
    })
}

/// Go regexp's `quote`: between backquotes where `strconv.CanBackquote` allows (no backquote,
/// no ASCII control but tab, no U+FEFF), else `%q`.
fn regexp_quote(s: &str) -> String {
    let plain = s.chars().all(|c| match c {
        '\t' => true,
        '`' | '\u{7F}' | '\u{FEFF}' => false,
        c => c >= ' ',
    });
    if plain {
        format!("`{s}`")
    } else {
        gofmt::quote(s)
    }
}

/// The first named group whose name Go refuses (`(?P<é>`): Go takes ASCII letters, digits and
/// `_`, the regex crate any word character.
fn invalid_capture_name(pattern: &str) -> Option<&str> {
    let b = pattern.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'(' if b[i..].starts_with(b"(?P<") || b[i..].starts_with(b"(?<") => {
                let open = if b[i + 2] == b'P' { i + 4 } else { i + 3 };
                let close = pattern[open..].find('>')? + open;
                let name = &pattern[open..close];
                if name.is_empty() || !name.bytes().all(|c| c == b'_' || c.is_ascii_alphanumeric())
                {
                    return Some(&pattern[i..=close]);
                }
                i = close + 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// Whether `s` (from a `{`) is a repetition as Go's parser reads one: `{n}`, `{n,}` or
/// `{n,m}`.
fn go_repeat(s: &[char]) -> bool {
    let digits = |from: usize| s[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let n = digits(1);
    if n == 0 {
        return false;
    }
    let mut i = 1 + n;
    if s.get(i) == Some(&',') {
        i += 1 + digits(i + 1);
    }
    s.get(i) == Some(&'}')
}

fn must_compile(pattern: &str) -> Result<Regex, GoError> {
    go_regex(pattern)
}

fn find_all(re: &Regex, s: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let it = re.find_iter(s).map(|m| m.as_str().to_owned());
    if n < 0 {
        it.collect()
    } else {
        it.take(n as usize).collect()
    }
}

fn regex_split(re: &Regex, s: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if !re.as_str().is_empty() && s.is_empty() {
        return vec![String::new()];
    }
    let matches: Vec<(usize, usize)> = if n < 0 {
        re.find_iter(s).map(|m| (m.start(), m.end())).collect()
    } else {
        re.find_iter(s)
            .take(n as usize)
            .map(|m| (m.start(), m.end()))
            .collect()
    };
    let mut out = Vec::new();
    let (mut beg, mut end) = (0usize, 0usize);
    for (a, b) in matches {
        if n > 0 && out.len() as i64 == n - 1 {
            break;
        }
        end = a;
        if b != 0 {
            out.push(s[beg..end].to_owned());
        }
        beg = b;
    }
    if end != s.len() {
        out.push(s[beg..].to_owned());
    }
    out
}

/// Go's `regexp.QuoteMeta`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Go's `Regexp.ReplaceAllString` (`$1`, `${name}` expansion).
fn replace_all(re: &Regex, s: &str, repl: &str, literal: bool) -> String {
    if literal || !repl.contains('$') {
        return re.replace_all(s, regex::NoExpand(repl)).into_owned();
    }
    re.replace_all(s, |caps: &regex::Captures<'_>| {
        let mut out = String::new();
        go_expand(re, caps, repl, &mut out);
        out
    })
    .into_owned()
}

/// Go's `Regexp.Expand` of `template` for one match, which the regex crate's own expansion
/// reads otherwise: a name is letters, digits and `_` in Unicode's sense, and one of digits
/// with a leading zero (`$01`) is a name, not group 1 (no group has it: nothing is written).
fn go_expand(re: &Regex, caps: &regex::Captures<'_>, template: &str, out: &mut String) {
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        let brace = rest.starts_with('{');
        let body = if brace { &rest[1..] } else { rest };
        let len = body
            .find(|c: char| !(c.is_alphabetic() || c.is_numeric() || c == '_'))
            .unwrap_or(body.len());
        let closed = !brace || body[len..].starts_with('}');
        if len == 0 || !closed {
            // Malformed: the `$` is text.
            out.push('$');
            continue;
        }
        let name = &body[..len];
        rest = &body[len + usize::from(brace)..];
        let number = (name.bytes().all(|b| b.is_ascii_digit())
            && (name.len() == 1 || !name.starts_with('0')))
        .then(|| name.parse::<usize>().ok().filter(|&n| n < 100_000_000))
        .flatten();
        let group = match number {
            Some(n) => caps.get(n),
            None => re
                .capture_names()
                .position(|n| n == Some(name))
                .and_then(|i| caps.get(i)),
        };
        if let Some(m) = group {
            out.push_str(m.as_str());
        }
    }
    out.push_str(rest);
}

struct Url {
    scheme: String,
    opaque: String,
    user: Option<String>,
    host: String,
    path: String,
    raw_query: String,
    fragment: String,
}

/// A subset of Go's `url.Parse` enough for `urlParse`.
fn url_parse(raw: &str) -> Result<Url, GoError> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(GoError::new(format!(
            "parse {}: net/url: invalid control character in URL",
            gofmt::quote(raw)
        )));
    }
    let (rest, fragment) = match raw.split_once('#') {
        Some((a, f)) => (a, unescape(f)?),
        None => (raw, String::new()),
    };
    let mut u = Url {
        scheme: String::new(),
        opaque: String::new(),
        user: None,
        host: String::new(),
        path: String::new(),
        raw_query: String::new(),
        fragment,
    };
    let mut rest = rest;
    // Scheme.
    if let Some(i) = rest.find(':') {
        let sch = &rest[..i];
        let valid = !sch.is_empty()
            && sch.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && sch
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if valid {
            u.scheme = sch.to_ascii_lowercase();
            rest = &rest[i + 1..];
        } else if i == 0 {
            return Err(GoError::new(format!(
                "parse {}: missing protocol scheme",
                gofmt::quote(raw)
            )));
        }
    }
    if let Some((a, q)) = rest.split_once('?') {
        u.raw_query = q.to_owned();
        rest = a;
    }
    if !rest.starts_with('/') && !u.scheme.is_empty() {
        u.opaque = rest.to_owned();
        return Ok(u);
    }
    // RFC 3986: a relative path's first segment holds no colon (Go refuses `a:b/c` with no
    // scheme, which it would take for a malformed one).
    if !rest.starts_with('/')
        && u.scheme.is_empty()
        && rest.split('/').next().is_some_and(|seg| seg.contains(':'))
    {
        return Err(GoError::new(format!(
            "parse {}: first path segment in URL cannot contain colon",
            gofmt::quote(raw)
        )));
    }
    if let Some(auth_rest) = rest
        .strip_prefix("//")
        .filter(|_| !u.scheme.is_empty() || rest.starts_with("//"))
    {
        let (auth, path) = match auth_rest.find('/') {
            Some(i) => (&auth_rest[..i], &auth_rest[i..]),
            None => (auth_rest, ""),
        };
        let host = match auth.rfind('@') {
            Some(i) => {
                u.user = Some(auth[..i].to_owned());
                &auth[i + 1..]
            }
            None => auth,
        };
        u.host = unescape(host)?;
        u.path = unescape(path)?;
    } else {
        u.path = unescape(rest)?;
    }
    Ok(u)
}

fn unescape(s: &str) -> Result<String, GoError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or_else(|| {
                GoError::new(format!("invalid URL escape {}", gofmt::quote(&s[i..])))
            })?;
            let v = u8::from_str_radix(hex, 16).map_err(|_| {
                GoError::new(format!("invalid URL escape {}", gofmt::quote(&s[i..i + 3])))
            })?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| {
        GoError::unsupported(
            "a URL with escaped bytes that are not UTF-8 is not supported by Gantry",
        )
    })
}

fn hostname(host: &str) -> String {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_owned();
    }
    match host.rfind(':') {
        Some(i) if host[i + 1..].bytes().all(|b| b.is_ascii_digit()) => host[..i].to_owned(),
        _ => host.to_owned(),
    }
}

fn url_user_string(userinfo: &str) -> String {
    // Go re-escapes the userinfo; plain text round-trips.
    userinfo.to_owned()
}

pub(super) fn register(r: &mut Reg<'_>) {
    // Bytes, as Go counts them: a cut inside a character leaves a Go string that is not
    // UTF-8 (a non-ASCII `fullnameOverride` under `trunc 63`), printed byte for byte.
    r.add("trunc", &[I, S], None, |_, a| {
        let c = a[0].as_int();
        let t = bytes(&a[1]);
        let n = t.len() as i64;
        if c < 0 && n + c > 0 {
            return Ok(Value::go_string(t[(n + c) as usize..].to_vec()));
        }
        if c >= 0 && n > c {
            return Ok(Value::go_string(t[..c as usize].to_vec()));
        }
        Ok(a[1].clone())
    });
    r.add("trim", &[S], None, |_, a| Ok(Value::str(s(&a[0]).trim())));
    r.add("upper", &[S], None, |_, a| {
        Ok(Value::string(go_upper(s(&a[0]))))
    });
    r.add("lower", &[S], None, |_, a| {
        Ok(Value::string(go_lower(s(&a[0]))))
    });
    r.add("title", &[S], None, |_, a| {
        Ok(Value::string(title(s(&a[0]))))
    });
    r.add("untitle", &[S], None, |_, a| {
        Ok(Value::string(untitle(s(&a[0]))))
    });
    r.add("substr", &[I, I, S], None, |_, a| {
        let (start, end, t) = (a[0].as_int(), a[1].as_int(), s(&a[2]));
        let n = t.len() as i64;
        let bounds = |x: i64, y: i64| -> Result<String, GoError> {
            if x < 0 || y < x || y > n {
                return Err(GoError::new(format!(
                    "runtime error: slice bounds out of range [{}:{}] with length {}",
                    if x < 0 { String::new() } else { x.to_string() },
                    y,
                    n
                )));
            }
            slice_at(t, x as usize, y as usize, "substr")
        };
        if start < 0 {
            return Ok(Value::string(bounds(0, end)?));
        }
        if end < 0 || end > n {
            return Ok(Value::string(bounds(start, n)?));
        }
        Ok(Value::string(bounds(start, end)?))
    });
    r.add("repeat", &[I, S], None, |rt, a| {
        let c = a[0].as_int();
        if c < 0 {
            return Err(GoError::new("strings: negative Repeat count"));
        }
        let size = s(&a[1]).len().checked_mul(c as usize);
        fits("repeat", size, rt.budget.max_output)?;
        Ok(Value::string(s(&a[1]).repeat(c as usize)))
    });
    for name in ["trimall", "trimAll"] {
        r.add(name, &[S, S], None, |_, a| {
            let cut: Vec<char> = s(&a[0]).chars().collect();
            Ok(Value::str(s(&a[1]).trim_matches(cut.as_slice())))
        });
    }
    r.add("trimSuffix", &[S, S], None, |_, a| {
        let t = bytes(&a[1]);
        Ok(match t.strip_suffix(bytes(&a[0])) {
            Some(rest) => Value::go_string(rest.to_vec()),
            None => a[1].clone(),
        })
    });
    r.add("trimPrefix", &[S, S], None, |_, a| {
        let t = bytes(&a[1]);
        Ok(match t.strip_prefix(bytes(&a[0])) {
            Some(rest) => Value::go_string(rest.to_vec()),
            None => a[1].clone(),
        })
    });
    r.add("nospace", &[S], None, |_, a| {
        Ok(Value::string(nospace(s(&a[0]))))
    });
    r.add("initials", &[S], None, |_, a| {
        Ok(Value::string(initials(s(&a[0]))))
    });
    r.add("swapcase", &[S], None, |_, a| {
        Ok(Value::string(swapcase(s(&a[0]))))
    });
    r.add("abbrev", &[I, S], None, |_, a| {
        let w = a[0].as_int();
        if w < 4 {
            return Ok(a[1].clone());
        }
        Ok(Value::string(abbreviate(s(&a[1]), 0, w)?))
    });
    r.add("abbrevboth", &[I, I, S], None, |_, a| {
        let (l, rt) = (a[0].as_int(), a[1].as_int());
        if rt < 4 || (l > 0 && rt < 7) {
            return Ok(a[2].clone());
        }
        Ok(Value::string(abbreviate(s(&a[2]), l, rt)?))
    });
    r.add("wrap", &[I, S], None, |_, a| {
        Ok(Value::string(wrap_custom(
            s(&a[1]),
            a[0].as_int(),
            "",
            false,
        )?))
    });
    r.add("wrapWith", &[I, S, S], None, |_, a| {
        Ok(Value::string(wrap_custom(
            s(&a[2]),
            a[0].as_int(),
            s(&a[1]),
            true,
        )?))
    });
    r.add("contains", &[S, S], None, |_, a| {
        Ok(Value::Bool(s(&a[1]).contains(s(&a[0]))))
    });
    r.add("hasPrefix", &[S, S], None, |_, a| {
        Ok(Value::Bool(s(&a[1]).starts_with(s(&a[0]))))
    });
    r.add("hasSuffix", &[S, S], None, |_, a| {
        Ok(Value::Bool(s(&a[1]).ends_with(s(&a[0]))))
    });
    r.add("quote", &[], Some(A), |_, a| {
        let mut out = Vec::new();
        for v in a.iter().filter(|v| !v.is_nil()) {
            out.push(match v {
                Value::BinStr(b) | Value::Bytes(b) => gofmt::quote_bytes(b),
                _ => gofmt::quote(&strval(v)?),
            });
        }
        Ok(Value::string(out.join(" ")))
    });
    r.add("squote", &[], Some(A), |_, a| {
        // fmt.Sprintf("'%v'", s) keeps a binary string's bytes.
        let mut out: Vec<u8> = Vec::new();
        for v in a.iter().filter(|v| !v.is_nil()) {
            if !out.is_empty() {
                out.push(b' ');
            }
            out.push(b'\'');
            out.extend(gofmt::sprint_bytes(std::slice::from_ref(v))?);
            out.push(b'\'');
        }
        Ok(Value::go_string(out))
    });
    r.add("cat", &[], Some(A), |_, a| {
        let mut out = Vec::new();
        for v in a.iter().filter(|v| !v.is_nil()) {
            out.push(gofmt::format_v(v)?);
        }
        Ok(Value::string(out.join(" ")))
    });
    r.add("indent", &[I, S], None, |rt, a| {
        indent(a[0].as_int(), s(&a[1]), false, rt.budget.max_output).map(Value::string)
    });
    r.add("nindent", &[I, S], None, |rt, a| {
        indent(a[0].as_int(), s(&a[1]), true, rt.budget.max_output).map(Value::string)
    });
    r.add("replace", &[S, S, S], None, |_, a| {
        Ok(Value::string(s(&a[2]).replace(s(&a[0]), s(&a[1]))))
    });
    r.add("plural", &[S, S, I], None, |_, a| {
        Ok(if a[2].as_int() == 1 {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    r.add("split", &[S, S], None, |_, a| {
        Ok(split_map(go_split(s(&a[1]), s(&a[0]))))
    });
    r.add("splitList", &[S, S], None, |_, a| {
        Ok(str_list(
            go_split(s(&a[1]), s(&a[0]))
                .into_iter()
                .map(str::to_owned)
                .collect(),
        ))
    });
    r.add("splitn", &[S, I, S], None, |_, a| {
        Ok(split_map(go_splitn(s(&a[2]), s(&a[0]), a[1].as_int())))
    });
    r.add("toStrings", &[A], None, |_, a| {
        Ok(str_list(strslice(&a[0])?))
    });
    r.add("join", &[S, A], None, |rt, a| {
        if let Value::List(l) = &a[1]
            && l.unordered
            && l.items.len() > 1
        {
            rt.budget
                .note_nondeterminism("join over a map's keys or values");
        }
        Ok(Value::string(strslice(&a[1])?.join(s(&a[0]))))
    });
    r.add("sortAlpha", &[A], None, |_, a| {
        let mut v = match &a[0] {
            Value::List(_) | Value::Bytes(_) => strslice(&a[0])?,
            other => vec![strval(other)?],
        };
        v.sort();
        Ok(str_list(v))
    });
    for (name, f) in [
        ("base", path_base as fn(&str) -> String),
        ("dir", path_dir),
        ("clean", path_clean),
        ("ext", path_ext),
        ("osBase", path_base),
        ("osDir", path_dir),
        ("osClean", path_clean),
        ("osExt", path_ext),
    ] {
        r.add(name, &[S], None, move |_, a| Ok(Value::string(f(s(&a[0])))));
    }
    for name in ["isAbs", "osIsAbs"] {
        r.add(name, &[S], None, |_, a| {
            Ok(Value::Bool(s(&a[0]).starts_with('/')))
        });
    }
    r.add("regexMatch", &[S, S], None, |_, a| {
        Ok(Value::Bool(
            go_regex(s(&a[0]))
                .map(|re| re.is_match(s(&a[1])))
                .unwrap_or(false),
        ))
    });
    r.add("mustRegexMatch", &[S, S], None, |_, a| {
        Ok(Value::Bool(go_regex(s(&a[0]))?.is_match(s(&a[1]))))
    });
    for name in ["regexFindAll", "mustRegexFindAll"] {
        r.add(name, &[S, S, I], None, |_, a| {
            let re = must_compile(s(&a[0]))?;
            Ok(str_list_or_nil(find_all(&re, s(&a[1]), a[2].as_int())))
        });
    }
    for name in ["regexFind", "mustRegexFind"] {
        r.add(name, &[S, S], None, |_, a| {
            let re = must_compile(s(&a[0]))?;
            Ok(Value::str(
                re.find(s(&a[1])).map(|m| m.as_str()).unwrap_or(""),
            ))
        });
    }
    for name in ["regexReplaceAll", "mustRegexReplaceAll"] {
        r.add(name, &[S, S, S], None, |_, a| {
            let re = must_compile(s(&a[0]))?;
            Ok(Value::string(replace_all(&re, s(&a[1]), s(&a[2]), false)))
        });
    }
    for name in ["regexReplaceAllLiteral", "mustRegexReplaceAllLiteral"] {
        r.add(name, &[S, S, S], None, |_, a| {
            let re = must_compile(s(&a[0]))?;
            Ok(Value::string(replace_all(&re, s(&a[1]), s(&a[2]), true)))
        });
    }
    for name in ["regexSplit", "mustRegexSplit"] {
        r.add(name, &[S, S, I], None, |_, a| {
            let re = must_compile(s(&a[0]))?;
            let n = a[2].as_int();
            let parts = regex_split(&re, s(&a[1]), n);
            // Go's `Split` returns nil for a count of 0, and an empty slice where it finds no
            // part.
            Ok(if n == 0 {
                str_list_or_nil(parts)
            } else {
                str_list(parts)
            })
        });
    }
    r.add("regexQuoteMeta", &[S], None, |_, a| {
        Ok(Value::string(quote_meta(s(&a[0]))))
    });
    r.add("urlParse", &[S], None, |_, a| {
        let u =
            url_parse(s(&a[0])).map_err(|e| GoError::new(format!("unable to parse url: {e}")))?;
        let m = Map::new();
        m.insert("scheme", Value::string(u.scheme));
        m.insert("host", Value::string(u.host.clone()));
        m.insert("hostname", Value::string(hostname(&u.host)));
        m.insert("path", Value::string(u.path));
        m.insert("query", Value::string(u.raw_query));
        m.insert("opaque", Value::string(u.opaque));
        m.insert("fragment", Value::string(u.fragment));
        m.insert(
            "userinfo",
            Value::string(u.user.as_deref().map(url_user_string).unwrap_or_default()),
        );
        Ok(Value::Map(m))
    });
    r.add("urlJoin", &[Ty::MapAny], None, |_, a| {
        let Value::Map(m) = &a[0] else {
            return Ok(Value::str(""));
        };
        let get = |k: &str| -> Result<String, GoError> {
            match m.get(k) {
                None => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.to_string()),
                Some(other) => Err(GoError::new(format!(
                    "unable to parse {k} key, must be of type string, but {} found",
                    other.kind_name()
                ))),
            }
        };
        let (scheme, host, path, query, opaque, fragment, user) = (
            get("scheme")?,
            get("host")?,
            get("path")?,
            get("query")?,
            get("opaque")?,
            get("fragment")?,
            get("userinfo")?,
        );
        let mut out = String::new();
        if !scheme.is_empty() {
            out.push_str(&scheme);
            out.push(':');
        }
        if !opaque.is_empty() {
            out.push_str(&opaque);
        } else {
            if !scheme.is_empty() || !host.is_empty() || !user.is_empty() {
                if !host.is_empty() || !path.is_empty() || !user.is_empty() {
                    out.push_str("//");
                }
                if !user.is_empty() {
                    out.push_str(&user);
                    out.push('@');
                }
                out.push_str(&host);
            }
            if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
                out.push('/');
            }
            if path
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || "-._~/!$&'()*+,;=:@".contains(c)))
            {
                return Err(GoError::unsupported(
                    "urlJoin of a path that needs escaping is not supported by Gantry",
                ));
            }
            out.push_str(&path);
        }
        if !query.is_empty() {
            out.push('?');
            out.push_str(&query);
        }
        if !fragment.is_empty() {
            if fragment
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || "-._~/!$&'()*+,;=:@?".contains(c)))
            {
                return Err(GoError::unsupported(
                    "urlJoin of a fragment that needs escaping is not supported by Gantry",
                ));
            }
            out.push('#');
            out.push_str(&fragment);
        }
        Ok(Value::string(out))
    });
    r.add("snakecase", &[S], None, |_, a| {
        Ok(Value::string(super::wordcase::camel_to_lower(
            s(&a[0]),
            '_',
        )))
    });
    r.add("camelcase", &[S], None, |_, a| {
        Ok(Value::string(pascal_case(s(&a[0]))))
    });
    r.add("kebabcase", &[S], None, |_, a| {
        Ok(Value::string(super::wordcase::camel_to_lower(
            s(&a[0]),
            '-',
        )))
    });
    r.add("shuffle", &[S], None, |rt, a| {
        use rand::seq::SliceRandom as _;
        rt.budget.note_nondeterminism("shuffle");
        let mut c: Vec<char> = s(&a[0]).chars().collect();
        c.shuffle(&mut rand::rng());
        Ok(Value::string(c.into_iter().collect()))
    });
}

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || c.is_whitespace()
}

/// xstrings v1.5's `ToPascalCase`: words split at spaces, `_` and `-`, each capitalised; a
/// word's leading run of capitals is lowercased after its first letter.
fn pascal_case(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    let mut r0 = '\0';
    let mut first_upper = false;
    let mut found = false;
    for c in chars.by_ref() {
        if !is_connector(c) {
            first_upper = go_is_upper(c);
            r0 = upper1(c);
            found = true;
            break;
        }
        out.push(c);
    }
    if !found {
        return out;
    }
    for c in chars {
        let r1 = r0;
        let mut cur = c;
        if is_connector(cur) && is_connector(r1) {
            out.push(r1);
            r0 = cur;
            continue;
        }
        if is_connector(r1) {
            first_upper = go_is_upper(cur);
            cur = upper1(cur);
        } else {
            if first_upper {
                if go_is_upper(cur) {
                    cur = lower1(cur);
                } else {
                    first_upper = false;
                }
            }
            out.push(r1);
        }
        r0 = cur;
    }
    out.push(r0);
    out
}

/// Refuses a string of `size` bytes (`None`: more than memory holds) over `max`, the most any
/// one template's output may be: such a string could never be written, and making it took
/// minutes of filling memory first (`indent 1000000000000` ran past every deadline).
fn fits(func: &str, size: Option<usize>, max: usize) -> Result<(), GoError> {
    match size {
        Some(n) if n <= max => Ok(()),
        _ => Err(GoError::limit(format!(
            "{func} would make a string over {max} bytes, the most a template's output may be"
        ))),
    }
}

/// Sprig's `indent` (and `nindent`, with `newline`): `spaces` spaces before every line. Written
/// in one pass into a string of its final size: the three `format!`s and the `replace` before it
/// were most of a small `toYaml | nindent`.
fn indent(spaces: i64, v: &str, newline: bool, max: usize) -> Result<String, GoError> {
    let Ok(pad) = usize::try_from(spaces) else {
        return Err(GoError::new("strings: negative Repeat count"));
    };
    let lines = 1 + memchr::memchr_iter(b'\n', v.as_bytes()).count();
    let size = lines
        .checked_mul(pad)
        .and_then(|n| n.checked_add(v.len() + 1));
    fits(if newline { "nindent" } else { "indent" }, size, max)?;
    let mut out = String::with_capacity(size.unwrap_or_default());
    if newline {
        out.push('\n');
    }
    const SPACES: &str = "                                                                ";
    let spaces = match SPACES.get(..pad) {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(" ".repeat(pad)),
    };
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', v.as_bytes()) {
        out.push_str(&spaces);
        out.push_str(&v[start..=end]);
        start = end + 1;
    }
    out.push_str(&spaces);
    out.push_str(&v[start..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass indent writes what Sprig's `Repeat` and `Replace` write.
    #[test]
    fn indent_is_repeat_and_replace() {
        for v in gantry_tests::up_to(&["a", "\n", "é", " "], 5) {
            for spaces in [0, 1, 4, 64, 65, 100] {
                let pad = " ".repeat(spaces as usize);
                let want = format!("{pad}{}", v.replace('\n', &format!("\n{pad}")));
                assert_eq!(indent(spaces, &v, false, 1 << 20).unwrap(), want, "{v:?}");
                assert_eq!(
                    indent(spaces, &v, true, 1 << 20).unwrap(),
                    format!("\n{want}")
                );
            }
        }
        assert!(indent(-1, "a", false, 1 << 20).is_err());
    }

    /// The patterns a template gives the regular-expression functions as constants are
    /// compiled from its tree, wherever the call is (branches, nested pipelines, definitions);
    /// other strings and other functions' arguments are not.
    #[test]
    fn constant_patterns_are_compiled_from_the_tree() {
        let text = r#"{{ define "d" }}{{ regexFind "d+1" . }}{{ end -}}
{{ if regexMatch "m+1" .a }}{{ (regexReplaceAll "r+1" .b "x") | quote }}{{ else }}{{ range .c }}{{ . | mustRegexSplit "s+1" -1 }}{{ end }}{{ end -}}
{{ printf "p+9" }}{{ regexQuoteMeta "q+9" }}{{ regexFindAll .pattern "x+9" 1 }}{{ template "d" (regexReplaceAllLiteral "l+1" .e "") }}"#;
        let has = |_: &str| true;
        let trees = gantry_gotmpl::parse::parse("t", text, &has).expect("parses");
        trees.values().for_each(compile_patterns);
        let cached = |p: &str| regex_cache().contains_key(p);
        for p in ["d+1", "m+1", "r+1", "s+1", "l+1"] {
            assert!(cached(p), "{p} is compiled");
        }
        for p in ["p+9", "q+9", "x+9"] {
            assert!(!cached(p), "{p} is not a pattern");
        }
    }

    #[test]
    fn go_regex_is_ascii() {
        let re = go_regex(r"\d+").unwrap();
        assert!(!re.is_match("٣"));
        assert!(re.is_match("3"));
        assert_eq!(
            replace_all(&go_regex("a(b)").unwrap(), "xab", "[$1]", false),
            "x[b]"
        );
    }

    /// Inside brackets Go reads a `-` after a class or a range as a literal, `[` as a literal,
    /// and `\W` as the ASCII non-word characters (stable/redis-ha's `^[\w-\.]+$`).
    #[test]
    fn go_bracket_classes() {
        let cases: &[(&str, &str, bool)] = &[
            (r"^[\w-\.]+$", "my-group.1_x", true),
            (r"^[\w-\.]+$", "a b", false),
            (r"^[a-c-e]+$", "a-e", true),
            (r"^[a-c-e]+$", "d", false),
            (r"^[\W]+$", " -", true),
            (r"^[\W]+$", "a", false),
            (r"^[^\D]+$", "42", true),
            (r"^[[a]+$", "[a", true),
            (r"^[\pL-]+$", "é-", true),
            (r"^[&&~]+$", "&~", true),
            (r"^[]a]+$", "]a", true),
        ];
        for (pattern, text, matches) in cases {
            let re = go_regex(pattern).unwrap_or_else(|e| panic!("{pattern}: {e:?}"));
            assert_eq!(re.is_match(text), *matches, "{pattern} on {text:?}");
        }
    }

    #[test]
    fn paths_like_go() {
        assert_eq!(path_base("a/b/"), "b");
        assert_eq!(path_base(""), ".");
        assert_eq!(path_dir("a/b/c"), "a/b");
        assert_eq!(path_dir("c"), ".");
        assert_eq!(path_clean("/../a/./b//c/.."), "/a/b");
        assert_eq!(path_ext("a/b.tar.gz"), ".gz");
    }

    #[test]
    fn titles_like_go() {
        assert_eq!(title("hello wORLD-foo_bar"), "Hello WORLD-Foo_bar");
        assert_eq!(untitle("Hello World"), "hello world");
        assert_eq!(swapcase("Hello World"), "hELLO wORLD");
        let got: Vec<String> = [
            "some_words",
            "_complex__case_",
            "GOLANG_IS_GREAT",
            "fooBAR",
            "HTTPServer",
            "ab_CD",
            "foo__bar",
            "-foo",
            "foo-",
            "",
            "éclair_été",
            "a.b",
            "abcDEF_ghi",
            "a",
        ]
        .iter()
        .map(|x| pascal_case(x))
        .collect();
        assert_eq!(
            got,
            [
                "SomeWords",
                "_Complex_Case_",
                "GolangIsGreat",
                "FooBAR",
                "Httpserver",
                "AbCd",
                "Foo_Bar",
                "-Foo",
                "Foo-",
                "",
                "ÉclairÉté",
                "A.b",
                "AbcDEFGhi",
                "A"
            ]
        );
    }
}
