//! Masterminds/semver v3.5 as Helm uses it: loose version parsing, constraints (`=`, `!=`,
//! `>`, `<`, `>=`, `<=`, `~`, `^`, x-ranges, hyphen ranges, `||`), prerelease rules, and the
//! `semver`/`semverCompare` functions.

use std::any::Any;
use std::cmp::Ordering;
use std::rc::Rc;
use std::sync::OnceLock;

use gantry_gotmpl::{GoError, Method, Object, Sig, Ty, Value};
use regex_lite::Regex;

use super::{Reg, s};

/// A semantic version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
    /// Prerelease, without `-`.
    pub pre: String,
    /// Build metadata, without `+`.
    pub metadata: String,
    /// As given.
    pub original: String,
}

const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";
const WS: &str = r"[\t\n\v\f\r ]";

/// The constraint grammar's patterns, compiled on the first constraint only: compiling them all
/// was a fortieth of a whole `gantry render` for every chart, since loading any `Chart.yaml`
/// parses its version. They are `regex_lite`'s (the same leftmost-first semantics as Go's
/// regexp and `regex`, ASCII patterns): `regex` built its lazy DFA and literal prefilters for
/// them, 3–4 % of rendering prometheus whole process, for a few short matches.
struct Res {
    constraint: Regex,
    range: Regex,
    find: Regex,
    valid: Regex,
}

fn res() -> &'static Res {
    static R: OnceLock<Res> = OnceLock::new();
    R.get_or_init(|| {
        let mk = |p: String| Regex::new(&p).unwrap_or_else(|e| panic!("semver regex: {e}"));
        Res {
            constraint: mk(format!(r"^{WS}*({OPS}){WS}*({CV}){WS}*$")),
            range: mk(format!(r"{WS}*({CV}){WS}+-{WS}+({CV}){WS}*")),
            find: mk(format!(r"({OPS}){WS}*({CV})")),
            valid: mk(format!(
                r"^({WS}*({OPS}){WS}*({CV}){WS}*)((?:{WS}+|,{WS}*)({OPS}){WS}*({CV}){WS}*)*$"
            )),
        }
    })
}

/// A version's parts as semver's loose pattern captures them: major, minor and patch (`None`
/// when absent), prerelease and metadata (empty when absent).
#[derive(Debug, PartialEq, Eq)]
struct Loose<'a> {
    major: &'a str,
    minor: Option<&'a str>,
    patch: Option<&'a str>,
    pre: &'a str,
    metadata: &'a str,
}

/// A version read as semver's loose pattern reads it,
/// `^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-(IDS))?(\+(IDS))?$` with IDS `[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*`.
/// Each part ends where only the next can begin, so reading left to right is the pattern's match.
fn loose_parts(v: &str) -> Option<Loose<'_>> {
    fn digits(s: &str) -> usize {
        s.bytes().take_while(u8::is_ascii_digit).count()
    }
    fn ids(s: &str) -> Option<usize> {
        let mut n = 0;
        loop {
            let id = s[n..]
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-')
                .count();
            if id == 0 {
                return None;
            }
            n += id;
            if s[n..].starts_with('.') {
                n += 1;
            } else {
                return Some(n);
            }
        }
    }
    let rest = v.strip_prefix('v').unwrap_or(v);
    let n = digits(rest);
    if n == 0 {
        return None;
    }
    let (major, mut rest) = rest.split_at(n);
    let mut dotted = [None, None];
    for part in &mut dotted {
        if let Some(r) = rest.strip_prefix('.') {
            let n = digits(r);
            if n == 0 {
                return None;
            }
            *part = Some(&r[..n]);
            rest = &r[n..];
        }
    }
    let mut pre = "";
    if let Some(r) = rest.strip_prefix('-') {
        let n = ids(r)?;
        (pre, rest) = r.split_at(n);
    }
    let mut metadata = "";
    if let Some(r) = rest.strip_prefix('+') {
        let n = ids(r)?;
        (metadata, rest) = r.split_at(n);
    }
    rest.is_empty().then_some(Loose {
        major,
        minor: dotted[0],
        patch: dotted[1],
        pre,
        metadata,
    })
}

fn valid_prerelease(p: &str) -> Result<(), String> {
    for part in p.split('.') {
        if part.is_empty() {
            return Err("invalid prerelease string".into());
        }
        if part.bytes().all(|b| b.is_ascii_digit()) {
            if part.len() > 1 && part.starts_with('0') {
                return Err("version segment starts with 0".into());
            }
        } else if !part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err("invalid prerelease string".into());
        }
    }
    Ok(())
}

fn valid_metadata(m: &str) -> Result<(), String> {
    for part in m.split('.') {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err("invalid metadata string".into());
        }
    }
    Ok(())
}

impl Version {
    /// `semver.NewVersion` (coercing: `v1`, `1.2`, leading zeros accepted).
    pub fn parse(v: &str) -> Result<Version, String> {
        let Loose {
            major,
            minor,
            patch,
            pre,
            metadata,
        } = loose_parts(v).ok_or("invalid semantic version")?;
        let num = |s: &str| -> Result<u64, String> {
            s.parse::<u64>().map_err(|_| {
                format!(
                    "error parsing version segment: strconv.ParseUint: parsing {}: value out of range",
                    gantry_gotmpl::gofmt::quote(s)
                )
            })
        };
        let major = num(major)?;
        let minor = minor.map_or(Ok(0), num)?;
        let patch = patch.map_or(Ok(0), num)?;
        let pre = pre.to_owned();
        let metadata = metadata.to_owned();
        if !pre.is_empty() {
            valid_prerelease(&pre)?;
        }
        if !metadata.is_empty() {
            valid_metadata(&metadata)?;
        }
        Ok(Version {
            major,
            minor,
            patch,
            pre,
            metadata,
            original: v.to_owned(),
        })
    }

    /// The canonical form.
    pub fn to_canonical(&self) -> String {
        let mut out = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            out.push('-');
            out.push_str(&self.pre);
        }
        if !self.metadata.is_empty() {
            out.push('+');
            out.push_str(&self.metadata);
        }
        out
    }

    /// Semver precedence (metadata ignored).
    pub fn compare(&self, o: &Version) -> Ordering {
        self.major
            .cmp(&o.major)
            .then(self.minor.cmp(&o.minor))
            .then(self.patch.cmp(&o.patch))
            .then_with(|| match (self.pre.is_empty(), o.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(&self.pre, &o.pre),
            })
    }
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let ap: Vec<&str> = a.split('.').collect();
    let bp: Vec<&str> = b.split('.').collect();
    for i in 0..ap.len().max(bp.len()) {
        let x = ap.get(i).copied().unwrap_or("");
        let y = bp.get(i).copied().unwrap_or("");
        let d = compare_pre_part(x, y);
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

fn compare_pre_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    let oi = o.parse::<u64>();
    let si = s.parse::<u64>();
    match (si, oi) {
        (Err(_), Err(_)) => {
            if s > o {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (_, Err(_)) => Ordering::Less,
        (Err(_), _) => Ordering::Greater,
        (Ok(a), Ok(b)) => {
            if a > b {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Con {
    con: Version,
    op: String,
    minor_dirty: bool,
    patch_dirty: bool,
    dirty: bool,
}

/// A parsed constraint (`||` of `,`-joined ranges).
#[derive(Debug, Clone)]
pub struct Constraint {
    ors: Vec<Vec<Con>>,
    has_pre: Vec<bool>,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "*" | "X")
}

fn parse_con(c: &str) -> Result<Con, String> {
    let m = res()
        .constraint
        .captures(c)
        .ok_or_else(|| format!("improper constraint: {}", gantry_gotmpl::gofmt::quote(c)))?;
    let g = |i: usize| m.get(i).map_or("", |x| x.as_str());
    con_of(&ConParts {
        op: g(1),
        cv: g(2),
        major: g(3),
        minor: g(4),
        patch: g(5),
        pre: g(6),
    })
}

/// One constraint's parts, as `^WS*(OPS)WS*(CV)WS*$` captures them: the operator, the whole
/// version, its major, its `.minor` and `.patch`, and its `-prerelease` (each `""` when absent).
#[derive(Debug, PartialEq, Eq)]
struct ConParts<'a> {
    op: &'a str,
    cv: &'a str,
    major: &'a str,
    minor: &'a str,
    patch: &'a str,
    pre: &'a str,
}

fn con_of(p: &ConParts<'_>) -> Result<Con, String> {
    let (m3, m4, m5, m6) = (p.major, p.minor, p.patch, p.pre);
    let (mut minor_dirty, mut patch_dirty, mut dirty) = (false, false, false);
    let ver = if is_x(m3) || m3.is_empty() {
        dirty = true;
        format!("0.0.0{m6}")
    } else if is_x(m4.trim_start_matches('.')) || m4.is_empty() {
        minor_dirty = true;
        dirty = true;
        format!("{m3}.0.0{m6}")
    } else if is_x(m5.trim_start_matches('.')) || m5.is_empty() {
        dirty = true;
        patch_dirty = true;
        format!("{m3}{m4}.0{m6}")
    } else {
        p.cv.to_owned()
    };
    let con = Version::parse(&ver).map_err(|_| "constraint parser error".to_owned())?;
    Ok(Con {
        con,
        op: p.op.to_owned(),
        minor_dirty,
        patch_dirty,
        dirty,
    })
}

/// `[\t\n\v\f\r ]`, the grammar's white space.
fn is_ws(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ')
}

/// The constraints of one `||` part read without the grammar's patterns, when the part is a
/// plain list: white space, then constraints, each an operator, white space and a version
/// (`v`, then numbers or one `x`, `X` or `*` each, a prerelease and metadata), separated by a
/// comma or white space. `None` for anything else, which the patterns read. Compiling the
/// patterns was a thirtieth of a whole `gantry render` of prometheus, for the three
/// constraints of its templates; the common ones are read here as the patterns read them
/// (an operator the version could not follow is not a match, so the longest one is; see
/// `plain_parts_read_as_the_patterns_read_them`).
fn plain_parts(v: &str) -> Option<Vec<ConParts<'_>>> {
    let b = v.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && is_ws(b[*i]) {
            *i += 1;
        }
    };
    // A number: digits, or one `x`, `X` or `*`.
    let num = |i: &mut usize| -> bool {
        let start = *i;
        if *i < b.len() && matches!(b[*i], b'x' | b'X' | b'*') {
            *i += 1;
            return true;
        }
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    let ids = |i: &mut usize| -> bool {
        loop {
            let start = *i;
            while *i < b.len() && (b[*i].is_ascii_alphanumeric() || b[*i] == b'-') {
                *i += 1;
            }
            if *i == start {
                return false;
            }
            if *i + 1 < b.len() && b[*i] == b'.' {
                *i += 1;
            } else {
                return true;
            }
        }
    };
    let mut out = Vec::new();
    skip_ws(&mut i);
    loop {
        let rest = &v[i..];
        let op_len = [">=", "<=", "=>", "=<", "!=", "~>"]
            .iter()
            .find(|o| rest.starts_with(*o))
            .map(|_| 2)
            .or_else(|| {
                matches!(rest.bytes().next(), Some(b'>' | b'<' | b'=' | b'~' | b'^')).then_some(1)
            })
            .unwrap_or(0);
        let op = &v[i..i + op_len];
        i += op_len;
        skip_ws(&mut i);
        let cv_start = i;
        if b.get(i) == Some(&b'v') {
            i += 1;
        }
        let major_start = i;
        if !num(&mut i) {
            return None;
        }
        let major = &v[major_start..i];
        let part = |i: &mut usize| -> Option<&str> {
            let start = *i;
            if b.get(*i) == Some(&b'.') {
                *i += 1;
                if !num(i) {
                    return None;
                }
            }
            Some(&v[start..*i])
        };
        let minor = part(&mut i)?;
        let patch = if minor.is_empty() { "" } else { part(&mut i)? };
        let pre_start = i;
        if b.get(i) == Some(&b'-') {
            i += 1;
            if !ids(&mut i) {
                return None;
            }
        }
        let pre = &v[pre_start..i];
        if b.get(i) == Some(&b'+') {
            i += 1;
            if !ids(&mut i) {
                return None;
            }
        }
        let cv = &v[cv_start..i];
        out.push(ConParts {
            op,
            cv,
            major,
            minor,
            patch,
            pre,
        });
        let before_ws = i;
        skip_ws(&mut i);
        match b.get(i) {
            None => return Some(out),
            Some(b',') => {
                i += 1;
                skip_ws(&mut i);
            }
            Some(_) if i > before_ws => {}
            Some(_) => return None,
        }
    }
}

fn rewrite_range(i: &str) -> String {
    let mut o = i.to_owned();
    for c in res().range.captures_iter(i) {
        let whole = c.get(0).map_or("", |x| x.as_str());
        let t = format!(
            ">= {}, <= {} ",
            c.get(1).map_or("", |x| x.as_str()),
            c.get(11).map_or("", |x| x.as_str())
        );
        o = o.replacen(whole, &t, 1);
    }
    o
}

/// Constraints already parsed on this thread. Charts ask the same few many times (a
/// `semverCompare` on the Kubernetes version in each template's API version helper), and
/// matching the grammar's patterns was a thirtieth of rendering a large chart.
const CACHED_CONSTRAINTS: usize = 256;

thread_local! {
    static CONSTRAINTS: std::cell::RefCell<std::collections::HashMap<String, Result<Rc<Constraint>, String>>> =
        Default::default();
}

impl Constraint {
    /// [`Constraint::parse`], remembered per thread.
    pub fn parse_cached(c: &str) -> Result<Rc<Constraint>, String> {
        CONSTRAINTS.with(|m| {
            if let Some(r) = m.borrow().get(c) {
                return r.clone();
            }
            let r = Constraint::parse(c).map(Rc::new);
            let mut m = m.borrow_mut();
            // A bound, not an eviction policy: `tpl` can make any number of constraints.
            if m.len() >= CACHED_CONSTRAINTS {
                m.clear();
            }
            m.insert(c.to_owned(), r.clone());
            r
        })
    }

    /// `semver.NewConstraint`.
    pub fn parse(c: &str) -> Result<Constraint, String> {
        Constraint::parse_with(c, true)
    }

    /// [`Constraint::parse`], reading plain parts without the patterns when `plain` is set.
    fn parse_with(c: &str, plain: bool) -> Result<Constraint, String> {
        // The range pattern needs white space, `-`, white space; without them it rewrites
        // nothing, and need not be compiled.
        let b = c.as_bytes();
        let ranged = (1..b.len().saturating_sub(1))
            .any(|i| b[i] == b'-' && is_ws(b[i - 1]) && is_ws(b[i + 1]));
        let c = if ranged || !plain {
            rewrite_range(c)
        } else {
            c.to_owned()
        };
        let mut ors = Vec::new();
        let mut has_pre = Vec::new();
        for v in c.split("||") {
            if let Some(parts) = plain.then(|| plain_parts(v)).flatten() {
                let and = parts.iter().map(con_of).collect::<Result<Vec<_>, _>>()?;
                has_pre.push(and.iter().any(|pc| !pc.con.pre.is_empty()));
                ors.push(and);
                continue;
            }
            if !res().valid.is_match(v) {
                return Err(format!(
                    "improper constraint: {}",
                    gantry_gotmpl::gofmt::quote(v)
                ));
            }
            let mut cs: Vec<&str> = res().find.find_iter(v).map(|m| m.as_str()).collect();
            if cs.is_empty() {
                cs.push(v);
            }
            let mut and = Vec::new();
            let mut pre = false;
            for s in cs {
                let pc = parse_con(s)?;
                if !pc.con.pre.is_empty() {
                    pre = true;
                }
                and.push(pc);
            }
            ors.push(and);
            has_pre.push(pre);
        }
        Ok(Constraint { ors, has_pre })
    }

    /// `Constraints.Check`.
    pub fn check(&self, v: &Version) -> bool {
        self.ors
            .iter()
            .zip(&self.has_pre)
            .any(|(and, &pre)| and.iter().all(|c| check(c, v, pre)))
    }
}

fn check(c: &Con, v: &Version, include_pre: bool) -> bool {
    if !v.pre.is_empty() && !include_pre {
        return false;
    }
    let cmp = v.compare(&c.con);
    match c.op.as_str() {
        "" | "=" => {
            if c.dirty {
                tilde(c, v)
            } else {
                cmp == Ordering::Equal
            }
        }
        "!=" => {
            if c.dirty {
                if c.con.major != v.major {
                    return true;
                }
                if c.con.minor != v.minor && !c.minor_dirty {
                    return true;
                } else if c.minor_dirty {
                    return false;
                } else if c.con.patch != v.patch && !c.patch_dirty {
                    return true;
                } else if c.patch_dirty {
                    if !v.pre.is_empty() || !c.con.pre.is_empty() {
                        return compare_prerelease(&v.pre, &c.con.pre) != Ordering::Equal;
                    }
                    return false;
                }
            }
            cmp != Ordering::Equal
        }
        ">" => {
            if !c.dirty {
                return cmp == Ordering::Greater;
            }
            if v.major > c.con.major {
                true
            } else if v.major < c.con.major || c.minor_dirty {
                false
            } else if c.patch_dirty {
                v.minor > c.con.minor
            } else {
                cmp == Ordering::Greater
            }
        }
        "<" => cmp == Ordering::Less,
        ">=" | "=>" => cmp != Ordering::Less,
        "<=" | "=<" => {
            if !c.dirty {
                return cmp != Ordering::Greater;
            }
            !(v.major > c.con.major
                || (v.major == c.con.major && v.minor > c.con.minor && !c.minor_dirty))
        }
        "~" | "~>" => tilde(c, v),
        "^" => {
            if cmp == Ordering::Less {
                return false;
            }
            if c.con.major > 0 || c.minor_dirty {
                return v.major == c.con.major;
            }
            if c.con.major == 0 && v.major > 0 {
                return false;
            }
            if c.con.minor > 0 || c.patch_dirty {
                return v.minor == c.con.minor;
            }
            if c.con.minor == 0 && v.minor > 0 {
                return false;
            }
            c.con.patch == v.patch
        }
        _ => false,
    }
}

fn tilde(c: &Con, v: &Version) -> bool {
    if v.compare(&c.con) == Ordering::Less {
        return false;
    }
    if c.con.major == 0 && c.con.minor == 0 && c.con.patch == 0 && !c.minor_dirty && !c.patch_dirty
    {
        return true;
    }
    if v.major != c.con.major {
        return false;
    }
    if v.minor != c.con.minor && !c.minor_dirty {
        return false;
    }
    true
}

/// Helm's `IsCompatibleRange`.
pub fn compatible(constraint: &str, version: &str) -> bool {
    match (
        Constraint::parse_cached(constraint),
        Version::parse(version),
    ) {
        (Ok(c), Ok(v)) => c.check(&v),
        _ => false,
    }
}

impl Object for Version {
    fn type_name(&self) -> &str {
        "*semver.Version"
    }
    fn method(&self, name: &str) -> Option<Method> {
        let me = self.clone();
        let m = |f: Box<dyn Fn(&Version) -> Value>| Method {
            sig: Sig::new(&[], None),
            f: Rc::new(move |_, _| Ok(f(&me))),
            go_bytes: false,
        };
        Some(match name {
            "Major" => m(Box::new(|v| Value::Int64(v.major as i64))),
            "Minor" => m(Box::new(|v| Value::Int64(v.minor as i64))),
            "Patch" => m(Box::new(|v| Value::Int64(v.patch as i64))),
            "Prerelease" => m(Box::new(|v| Value::str(&v.pre))),
            "Metadata" => m(Box::new(|v| Value::str(&v.metadata))),
            "Original" => m(Box::new(|v| Value::str(&v.original))),
            "String" => m(Box::new(|v| Value::string(v.to_canonical()))),
            "IncMajor" | "IncMinor" | "IncPatch" => {
                let which = name.as_bytes()[5];
                m(Box::new(move |v| {
                    Value::Object(Rc::new(VersionValue(v.incremented(which))))
                }))
            }
            "Compare" | "LessThan" | "GreaterThan" | "Equal" | "LessThanEqual"
            | "GreaterThanEqual" => {
                let which = name.to_owned();
                let me2 = self.clone();
                Method {
                    sig: Sig::new(&[Ty::Any], None),
                    f: Rc::new(move |_, a| {
                        let Value::Object(o) = &a[0] else {
                            return Err(GoError::new(
                                "wrong type for value; expected *semver.Version",
                            ));
                        };
                        let Some(other) = o.as_any().downcast_ref::<Version>() else {
                            return Err(GoError::new(
                                "wrong type for value; expected *semver.Version",
                            ));
                        };
                        let c = me2.compare(other);
                        Ok(match which.as_str() {
                            "Compare" => Value::Int(match c {
                                Ordering::Less => -1,
                                Ordering::Equal => 0,
                                Ordering::Greater => 1,
                            }),
                            "LessThan" => Value::Bool(c == Ordering::Less),
                            "GreaterThan" => Value::Bool(c == Ordering::Greater),
                            "Equal" => Value::Bool(c == Ordering::Equal),
                            "LessThanEqual" => Value::Bool(c != Ordering::Greater),
                            _ => Value::Bool(c != Ordering::Less),
                        })
                    }),
                    go_bytes: false,
                }
            }
            _ => return None,
        })
    }
    fn format(&self) -> String {
        self.to_canonical()
    }
    fn json(&self) -> Result<Value, String> {
        Ok(Value::string(self.to_canonical()))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Version {
    /// Masterminds' `IncMajor`, `IncMinor` and `IncPatch` (`which` is the name's sixth letter:
    /// `j`, `n`, `t`): build metadata and prerelease dropped, and a prerelease's patch not
    /// raised (the release it precedes).
    fn incremented(&self, which: u8) -> Version {
        let mut next = self.clone();
        next.metadata.clear();
        let had_pre = !next.pre.is_empty();
        next.pre.clear();
        match which {
            b't' if !had_pre => next.patch += 1,
            b't' => {}
            b'j' => {
                next.major += 1;
                next.minor = 0;
                next.patch = 0;
            }
            _ => {
                next.minor += 1;
                next.patch = 0;
            }
        }
        let v = if self.original.starts_with('v') {
            "v"
        } else {
            ""
        };
        next.original = format!("{v}{}", next.to_canonical());
        next
    }
}

/// A `semver.Version` held by value, as the `Inc*` methods return it.
#[derive(Debug)]
struct VersionValue(Version);

impl Object for VersionValue {
    fn type_name(&self) -> &str {
        "semver.Version"
    }
    fn kind(&self) -> &'static str {
        "struct"
    }
    /// Only the value receiver's methods: the result of a call is not addressable, so Go's
    /// template finds no `Original`, `Compare` or `LessThan` (pointer receivers) on it.
    fn method(&self, name: &str) -> Option<Method> {
        match name {
            "Major" | "Minor" | "Patch" | "Prerelease" | "Metadata" | "String" | "IncMajor"
            | "IncMinor" | "IncPatch" => self.0.method(name),
            _ => None,
        }
    }
    fn format(&self) -> String {
        self.0.to_canonical()
    }
    fn json(&self) -> Result<Value, String> {
        self.0.json()
    }
    fn as_any(&self) -> &dyn Any {
        &self.0
    }
}

pub(super) fn register(r: &mut Reg<'_>) {
    r.add("semverCompare", &[Ty::Str, Ty::Str], None, |_, a| {
        let c = Constraint::parse_cached(s(&a[0])).map_err(GoError::new)?;
        let v = Version::parse(s(&a[1])).map_err(GoError::new)?;
        Ok(Value::Bool(c.check(&v)))
    });
    r.add("semver", &[Ty::Str], None, |_, a| {
        let v = Version::parse(s(&a[0])).map_err(GoError::new)?;
        Ok(Value::Object(Rc::new(v)))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(con: &str, v: &str) -> bool {
        Constraint::parse(con)
            .unwrap()
            .check(&Version::parse(v).unwrap())
    }

    #[test]
    fn loose_versions_read_as_semvers_pattern_matches_them() {
        let pattern = regex::Regex::new(r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$").unwrap();
        // Every string of up to four characters over an alphabet that reaches each branch.
        let mut cases = gantry_tests::up_to(&["v", "1", "0", ".", "-", "+", "a", "x", " "], 4);
        cases.extend(
            [
                "v1.2.3-rc.1+build.5",
                "1.2.3.4",
                "1.0.0-a.",
                "1.0.0-a..b",
                "1.0.0+",
                "1.2-x-y+z",
                "01.002.0003",
                "1.2.3--x",
                "1.2.3-é",
                "v",
                "1.2.3\n",
                "1.2.3+a+b",
                "1.2.3-a+b-c.d",
            ]
            .map(String::from),
        );
        for v in &cases {
            let want = pattern.captures(v).map(|m| {
                let g = |i: usize| m.get(i).map(|x| x.as_str());
                Loose {
                    major: g(1).unwrap_or(""),
                    minor: g(2).map(|x| &x[1..]),
                    patch: g(3).map(|x| &x[1..]),
                    pre: g(5).unwrap_or(""),
                    metadata: g(8).unwrap_or(""),
                }
            });
            assert_eq!(loose_parts(v), want, "{v:?}");
        }
    }

    #[test]
    fn constraints_like_masterminds() {
        assert!(c(">=1.19-0", "v1.36.0"));
        assert!(c(">=1.20.0-0", "1.36.0"));
        assert!(!c("<1.19", "1.36.0"));
        assert!(c("^1.2.3", "1.9.0"));
        assert!(!c("^1.2.3", "2.0.0"));
        assert!(c("~1.2", "1.2.9"));
        assert!(c("1.x", "1.5.0"));
        assert!(c(">= 1.2, < 2", "1.5.0"));
        assert!(c("1.2 - 1.4", "1.4.5"));
        assert!(c("<1 || >=2", "2.1.0"));
        assert!(!c(">=1.0.0", "1.5.0-beta"));
        assert!(c(">=1.0.0-0", "1.5.0-beta"));
        assert!(c("*", "3.0.0"));
        assert!(Constraint::parse("abc").is_err());
    }

    /// The constraints charts write are read without the patterns, and whatever is read so
    /// reads as the patterns read it: every string of up to four characters over an alphabet
    /// that reaches each branch of the grammar, and longer ones made of its tokens.
    #[test]
    fn plain_parts_read_as_the_patterns_read_them() {
        for c in [
            ">=1.19-0",
            ">= 1.27.x",
            ">=1.4.0-0",
            "^1.2.3",
            "~1.2",
            "1.x",
            ">= 1.2, < 2",
            "*",
            "<1.19-0",
            "=>1.0 =<2",
            "v1.2.3+build.5",
        ] {
            assert!(
                plain_parts(c).is_some(),
                "{c:?} is read without the patterns"
            );
        }
        let read_plain = std::cell::Cell::new(0);
        let same = |c: &str| {
            if c.split("||").any(|v| plain_parts(v).is_some()) {
                read_plain.set(read_plain.get() + 1);
            }
            let plain = format!("{:?}", Constraint::parse_with(c, true));
            let patterns = format!("{:?}", Constraint::parse_with(c, false));
            assert_eq!(plain, patterns, "{c:?}");
        };
        let alphabet = [
            ">", "=", "<", "!", "~", "^", "1", "0", "x", "*", ".", "-", "+", "a", "v", " ", ",",
            "|", "\t",
        ];
        for c in gantry_tests::up_to(&alphabet, 3) {
            same(&c);
        }
        let tokens = [
            ">=", "<=", "=>", "=<", "!=", "~>", ">", "<", "=", "~", "^", "", " ", "  ", ",", ", ",
            "||", " || ", " - ", "v", "1", "19", "x", "X", "*", ".", "-", "-0", "-rc.1", "+b.5",
            "1.2", "1.2.3", "1.x", "01", "é", "\u{b}", "a", "-a.", "..",
        ];
        // A fixed linear congruential sequence: the same strings on every run.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut c = String::new();
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let n = 1 + (seed >> 60) as usize % 8;
            for _ in 0..n {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                c.push_str(tokens[(seed >> 33) as usize % tokens.len()]);
            }
            same(&c);
        }
        // 2,506 of them have a part read without the patterns.
        assert!(read_plain.get() > 2_000, "{} read plain", read_plain.get());
    }
}
