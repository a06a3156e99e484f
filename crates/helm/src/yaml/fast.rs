//! A fast reader for the YAML most values files, `Chart.yaml` files and manifests are made of:
//! block mappings and sequences, plain scalars (over one line or several), one-line quoted
//! scalars and flow collections, literal and folded block scalars, comments, `---`, anchors and
//! aliases of whole values. It builds what [`super::parse_documents`] builds from the full
//! parser's events, through the same scalar resolution and mapping rules; on anything else
//! (merge keys, tags, `...`, tabs, quoted scalars or flow collections over several lines, any
//! error) it gives up, and the full parser reads the text from the start. The full parser's
//! events cost more than the values they describe: a values file of 1,000 small flow mappings
//! took 15 ms through them, 2.4 ms here.
//!
//! Giving up is always safe, so every rule here is the narrow, common case, and the tests hold
//! it to the full parser's result on every YAML file of the fixtures and on damaged copies.

use std::collections::HashMap;

use gantry_gotmpl::{List, Map, Value};

use super::{Entries, YVal, YamlLimits, count, into_value, key_string, resolve_typed, scalar};

/// The documents of `text`, or `None` when the full parser must read it.
pub(super) fn parse(text: &str, limits: YamlLimits) -> Option<Vec<YVal>> {
    parse_with::<Nodes>(text, limits, None)
}

/// The documents of `text` built straight into template values: what [`super::into_value`]
/// makes of [`parse`]'s, or `None` where that would fail or the full parser must read the
/// text, and where the text has anchors (an alias is a copy of its anchor's value after the
/// JSON round trip, where a template value would share it). Converting a values file's tree of
/// YAML nodes was a quarter of reading it (the 1,000-template chart's: 2.4 % of its render's
/// CPU, of 9.2 %), and the tree fresh memory.
pub(super) fn parse_values(text: &str, limits: YamlLimits) -> Option<Vec<Value>> {
    parse_with::<Values>(text, limits, None)
}

/// Whether [`parse_values`] builds the documents of `text`, and whether the one document it
/// has (if any) is a mapping or null, without building anything: a helper thread asks, where
/// only the render's thread may build values.
pub(super) fn values_would_build(text: &str, limits: YamlLimits) -> bool {
    match parse_with::<Check>(text, limits, None).as_deref() {
        Some([] | [Shape::MapOrNull]) => true,
        Some(_) | None => false,
    }
}

/// What the reader builds of each node.
trait Build {
    type Node: Clone;
    /// Whether an anchor's value is kept for its aliases (else the reader gives up at one).
    const ANCHORS: bool;
    fn null() -> Self::Node;
    /// A plain scalar, resolved as go-yaml v2 resolves one without a tag.
    fn plain(text: &str) -> Option<Self::Node>;
    fn string(text: String) -> Self::Node;
    fn seq(items: Vec<Self::Node>) -> Self::Node;
    fn map(entries: Vec<(YVal, Self::Node)>) -> Option<Self::Node>;
    /// How many nodes an alias of `n` repeats.
    fn count(n: &Self::Node) -> usize;
}

/// YAML nodes, as the full parser builds them.
struct Nodes;

impl Build for Nodes {
    type Node = YVal;
    const ANCHORS: bool = true;
    fn null() -> YVal {
        YVal::Null
    }
    fn plain(text: &str) -> Option<YVal> {
        scalar(text, true, None).ok()
    }
    fn string(text: String) -> YVal {
        YVal::Str(text)
    }
    fn seq(items: Vec<YVal>) -> YVal {
        YVal::Seq(items)
    }
    fn map(entries: Vec<(YVal, YVal)>) -> Option<YVal> {
        Some(YVal::Map(entries))
    }
    fn count(n: &YVal) -> usize {
        count(n)
    }
}

/// Only whether [`Values`] builds a node, and whether it is a mapping or null.
struct Check;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    MapOrNull,
    Other,
}

impl Build for Check {
    type Node = Shape;
    const ANCHORS: bool = false;
    fn null() -> Shape {
        Shape::MapOrNull
    }
    fn plain(text: &str) -> Option<Shape> {
        match resolve_typed(text) {
            None => Some(Shape::Other),
            Some(y) => match into_value(y).ok()? {
                Value::Nil => Some(Shape::MapOrNull),
                _ => Some(Shape::Other),
            },
        }
    }
    fn string(_: String) -> Shape {
        Shape::Other
    }
    fn seq(_: Vec<Shape>) -> Shape {
        Shape::Other
    }
    fn map(entries: Vec<(YVal, Shape)>) -> Option<Shape> {
        for (k, _) in entries {
            json_key(k)?;
        }
        Some(Shape::MapOrNull)
    }
    fn count(_: &Shape) -> usize {
        1
    }
}

/// A mapping key as the conversion makes it a JSON object's key; `None` for one it cannot
/// (its error names the key's value, which the slow path gives).
fn json_key(k: YVal) -> Option<String> {
    match k {
        YVal::Str(k) => Some(k),
        k => key_string(&k, &YVal::Null).ok(),
    }
}

/// Template values, as [`super::into_value`] makes them of YAML nodes.
struct Values;

impl Build for Values {
    type Node = Value;
    const ANCHORS: bool = false;
    fn null() -> Value {
        Value::Nil
    }
    fn plain(text: &str) -> Option<Value> {
        match resolve_typed(text) {
            // A string is copied once, from the text, not into a node and then out of it.
            None => Some(Value::str(text)),
            // JSON has no infinity or NaN: the conversion's error is the slow path's to give.
            Some(y) => into_value(y).ok(),
        }
    }
    fn string(text: String) -> Value {
        Value::string(text)
    }
    fn seq(items: Vec<Value>) -> Value {
        Value::List(List::new(items))
    }
    fn map(entries: Vec<(YVal, Value)>) -> Option<Value> {
        let mut m = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            m.push((json_key(k)?, v));
        }
        Some(Value::Map(Map::from_map(m.into_iter().collect())))
    }
    fn count(_: &Value) -> usize {
        // No anchors are kept, so no alias repeats a value.
        1
    }
}

/// [`parse`], building of each document only what `head` says: a top-level mapping's keys, and
/// the values of the keys that are not strings or that encoding/json would match to its
/// fields. The values of the other keys (a placeholder in their place) are read as closely,
/// and given up on alike, without being built: for a manifest's head, building and dropping
/// them was most of its cost, about a tenth of a large chart's render.
pub(super) fn parse_head(text: &str, limits: YamlLimits, head: Head) -> Option<Vec<YVal>> {
    parse_with::<Nodes>(text, limits, Some(head))
}

/// What [`parse_head`] builds of a document: the values of the top-level keys encoding/json
/// would match to `fields` and, in the one it would match to `nested`, only those of its keys
/// it would match to `nested_fields`.
#[derive(Clone, Copy, Debug)]
pub struct Head {
    pub fields: &'static [&'static str],
    pub nested: &'static str,
    pub nested_fields: &'static [&'static str],
}

fn parse_with<B: Build>(
    text: &str,
    limits: YamlLimits,
    head: Option<Head>,
) -> Option<Vec<B::Node>> {
    let s = text.as_bytes();
    if !plain_text(s) {
        return None;
    }
    let mut p = Reader::<B> {
        s,
        text,
        pos: 0,
        depth: 0,
        nodes: 0,
        limits,
        anchors: HashMap::new(),
        head,
        skip: 0,
        in_nested: false,
        skipped: 0,
    };
    let mut docs = Vec::new();
    while let Some(indent) = p.next_line() {
        if p.marker() {
            // `---`: a document starts; with nothing before the next marker or the end, it
            // is empty.
            p.end_line(p.pos + 3)?;
            match p.next_line() {
                Some(j) if !p.marker() => docs.push(p.block(j)?),
                _ => docs.push(B::null()),
            }
        } else if docs.is_empty() {
            docs.push(p.block(indent)?);
        } else {
            return None;
        }
    }
    // Only blank lines and comments: a stream of no document.
    Some(docs)
}

/// Whether `s` holds only what this reader handles the same way as the full parser: no tab,
/// carriage return, byte-order mark, control character, or Unicode line break (`U+0085`,
/// `U+2028`, `U+2029`, which YAML 1.1 counts as line breaks) and nothing YAML calls
/// non-printable.
fn plain_text(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        // Eight bytes at a time while they are printable ASCII or line feeds, as nearly all
        // of a values file is: the byte-by-byte look was a tenth of reading one.
        if let Some(word) = s.get(i..i + 8)
            && printable_ascii(u64::from_le_bytes(word.try_into().unwrap_or([0; 8])))
        {
            i += 8;
            continue;
        }
        let b = s[i];
        match b {
            b'\n' | 0x20..=0x7e => {}
            // U+0080..U+009F (C1 controls and NEL).
            0xc2 if matches!(s.get(i + 1), Some(0x80..=0x9f)) => return false,
            // U+2028, U+2029.
            0xe2 if s.get(i + 1) == Some(&0x80) && matches!(s.get(i + 2), Some(0xa8 | 0xa9)) => {
                return false;
            }
            // U+FEFF, U+FFFE, U+FFFF.
            0xef if (s.get(i + 1) == Some(&0xbb) && s.get(i + 2) == Some(&0xbf))
                || (s.get(i + 1) == Some(&0xbf) && matches!(s.get(i + 2), Some(0xbe | 0xbf))) =>
            {
                return false;
            }
            0x80..=0xff => {}
            _ => return false,
        }
        i += 1;
    }
    true
}

/// Whether each byte of `w` is `\n` or in `0x20..=0x7e`. Each test adds to bytes below 0x80,
/// which cannot carry into the next byte, so each byte's high bit answers for that byte alone.
fn printable_ascii(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    if w & HIGH != 0 {
        return false;
    }
    // High bit set: the byte is at least 0x20; is not a line feed; is not 0x7f.
    let at_least_space = w + ONES * (0x80 - 0x20);
    let not_line_feed = (w ^ (ONES * 0x0a)) + ONES * 0x7f;
    let not_delete = (w ^ (ONES * 0x7f)) + ONES * 0x7f;
    ((at_least_space | !not_line_feed) & not_delete & HIGH) == HIGH
}

struct Reader<'a, B: Build> {
    s: &'a [u8],
    text: &'a str,
    // The start of the line the reader is at.
    pos: usize,
    depth: usize,
    nodes: usize,
    limits: YamlLimits,
    // Each anchor's value, the latest definition of a name winning, as aliases see it.
    anchors: HashMap<&'a str, B::Node>,
    // What is built of each document, when not all of it ([`parse_head`]).
    head: Option<Head>,
    // How many of the values the reader is in are read without being built: while it is more
    // than 0, every value is a placeholder.
    skip: usize,
    // Whether the reader is in the value of the head's `nested` key.
    in_nested: bool,
    // How many values have been left unbuilt so far.
    skipped: usize,
}

/// Whether encoding/json reads `key` into the field `field`.
fn names(key: &YVal, field: &str) -> bool {
    matches!(key, YVal::Str(k) if crate::chart::name_matches(k, field))
}

/// Whether a key's value is not part of the head, among keys that may name `fields`:
/// encoding/json matches a field's name to a key regardless of case, and a key of another
/// kind than these has its value printed in the conversion's error.
fn outside(key: &YVal, fields: &[&str]) -> bool {
    match key {
        YVal::Str(k) => !fields.iter().any(|f| crate::chart::name_matches(k, f)),
        YVal::Int(_) | YVal::Float(_) | YVal::Bool(_) => true,
        _ => false,
    }
}

/// The position of the first byte at or after `i` that is not a space (`s.len()` at the end),
/// eight bytes at a time: indentation is skipped on every line.
fn skip_spaces(s: &[u8], mut i: usize) -> usize {
    while let Some(w) = s.get(i..i + 8) {
        let other = u64::from_le_bytes(w.try_into().unwrap_or([0; 8])) ^ 0x2020_2020_2020_2020;
        if other != 0 {
            return i + (other.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while s.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// What may not start a plain scalar (or needs care the reader does not take).
fn indicator(b: u8) -> bool {
    matches!(
        b,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    )
}

fn flow_indicator(b: u8) -> bool {
    matches!(b, b',' | b'[' | b']' | b'{' | b'}')
}

/// Whether a `-` followed by `next` inside a flow collection is an indicator (the reader
/// gives up there), not the start of a plain scalar (`-1`, `-x`).
fn flow_dash(next: u8) -> bool {
    matches!(next, b' ' | b'\n' | b',' | b']' | b'}')
}

impl<'a, B: Build> Reader<'a, B> {
    fn at(&self, i: usize) -> u8 {
        self.s.get(i).copied().unwrap_or(b'\n')
    }

    fn line_end(&self, i: usize) -> usize {
        memchr::memchr(b'\n', &self.s[i..]).map_or(self.s.len(), |n| i + n)
    }

    /// Moves to the next line holding content (past blank lines and comments) and gives its
    /// indentation; `None` at the end.
    fn next_line(&mut self) -> Option<usize> {
        loop {
            if self.pos >= self.s.len() {
                return None;
            }
            let i = skip_spaces(self.s, self.pos);
            match self.s.get(i) {
                None => {
                    self.pos = self.s.len();
                    return None;
                }
                Some(b'\n') => self.pos = i + 1,
                Some(b'#') => self.pos = self.line_end(i) + 1,
                Some(_) => return Some(i - self.pos),
            }
        }
    }

    /// Moves past the line holding `i`, which must have nothing left but spaces and a comment.
    fn end_line(&mut self, mut i: usize) -> Option<()> {
        let start = i;
        while self.at(i) == b' ' {
            i += 1;
        }
        match self.at(i) {
            b'\n' => {}
            b'#' if i > start => i = self.line_end(i),
            _ => return None,
        }
        self.pos = (i + 1).min(self.s.len());
        Some(())
    }

    /// Whether the reader's line is a document start marker (`---` alone at its start).
    fn marker(&self) -> bool {
        self.s[self.pos..].starts_with(b"---") && matches!(self.at(self.pos + 3), b' ' | b'\n')
    }

    fn count(&mut self) -> Option<()> {
        self.nodes += 1;
        (self.nodes <= self.limits.max_nodes).then_some(())
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth < self.limits.max_depth).then_some(())
    }

    /// Whether a block sequence entry's `-` is at `c` (a `-` followed by a space or the line's
    /// end; `-x` is a scalar).
    fn dash(&self, c: usize) -> bool {
        self.at(c) == b'-' && matches!(self.at(c + 1), b' ' | b'\n')
    }

    /// The block node whose first line (the reader's) is indented by `n`.
    fn block(&mut self, n: usize) -> Option<B::Node> {
        if self.dash(self.pos + n) {
            self.seq(n)
        } else {
            self.map(n)
        }
    }

    /// A block mapping whose keys are indented by `n`; the reader is at its first key's line.
    fn map(&mut self, n: usize) -> Option<B::Node> {
        self.enter()?;
        let mut entries = Entries::default();
        loop {
            let (key, after) = self.key(self.pos + n)?;
            self.count()?;
            // A top-level mapping's keys, then those of its nested key, choose what is built.
            let (skip, nested) = match (self.head, self.depth) {
                (Some(_), _) if self.skip > 0 => (false, false),
                (Some(h), 1) => (outside(&key, h.fields), names(&key, h.nested)),
                (Some(h), 2) if self.in_nested => (outside(&key, h.nested_fields), false),
                _ => (false, false),
            };
            self.skip += usize::from(skip);
            self.skipped += usize::from(skip);
            self.in_nested |= nested;
            let value = self.value(after, n, true)?;
            self.skip -= usize::from(skip);
            self.in_nested &= !nested;
            if self.skip == 0 {
                entries.set(key, value);
            }
            match self.next_line() {
                None => break,
                Some(i) if i == n && !(n == 0 && self.marker()) => {}
                Some(i) if i <= n => break,
                Some(_) => return None,
            }
        }
        self.depth -= 1;
        self.count()?;
        B::map(entries.list)
    }

    /// A block sequence whose `-` are indented by `n`; the reader is at its first item's line.
    fn seq(&mut self, n: usize) -> Option<B::Node> {
        self.enter()?;
        let mut items = Vec::new();
        loop {
            let c = self.pos + n;
            if !self.dash(c) {
                // The next key of a mapping this sequence is the value of, at the same
                // indentation; anything else is the caller's to refuse.
                break;
            }
            let k = self.spaces(c + 1);
            let col = k - self.pos;
            let b = self.at(k);
            let item = if self.dash(k) {
                self.seq(col)?
            } else if b != b'\n' && b != b'#' && self.is_key(k) {
                self.map(col)?
            } else {
                self.value(c + 1, n, false)?
            };
            if self.skip == 0 {
                items.push(item);
            }
            match self.next_line() {
                None => break,
                Some(i) if i == n => {}
                Some(i) if i < n => break,
                Some(_) => return None,
            }
        }
        self.depth -= 1;
        self.count()?;
        Some(B::seq(items))
    }

    /// Whether a mapping key starts at `k`, on its line.
    fn is_key(&self, k: usize) -> bool {
        let b = self.at(k);
        if b == b'\'' || b == b'"' {
            let end = self.line_end(k);
            // A quoted scalar followed by `: `: its closing quote is followed by `:`.
            return self.s[k..end].windows(2).any(|w| w[0] == b && w[1] == b':');
        }
        if indicator(b) {
            return false;
        }
        let end = self.line_end(k);
        let line = &self.s[k..end];
        line.iter()
            .enumerate()
            .any(|(j, &c)| c == b':' && matches!(line.get(j + 1), None | Some(b' ')))
    }

    /// The key at `k` and the position after its `:`.
    fn key(&mut self, k: usize) -> Option<(YVal, usize)> {
        let b = self.at(k);
        let (key, after) = if b == b'\'' || b == b'"' {
            let (text, end) = self.quoted(k)?;
            if self.at(end) != b':' {
                return None;
            }
            (YVal::Str(text), end + 1)
        } else {
            if indicator(b) {
                return None;
            }
            // From one byte that may end the key to the next: a key is scanned on every line
            // of a mapping.
            let mut j = k;
            loop {
                j += memchr::memchr3(b':', b'\n', b'#', &self.s[j..])?;
                match self.s[j] {
                    b'\n' => return None,
                    b':' if matches!(self.at(j + 1), b' ' | b'\n') => break,
                    b'#' if self.s[j - 1] == b' ' => return None,
                    _ => j += 1,
                }
            }
            let text = self.text[k..j].trim_end_matches(' ');
            if text == "<<" {
                return None;
            }
            // A key whose mapping is not built needs no value (a plain scalar always has one).
            let key = if self.skip > 0 {
                YVal::Null
            } else {
                scalar(text, true, None).ok()?
            };
            (key, j + 1)
        };
        // A simple key is at most 1024 characters.
        if after - k > 1024 {
            return None;
        }
        if !matches!(self.at(after), b' ' | b'\n') {
            return None;
        }
        Some((key, after))
    }

    /// The value that follows `i` (after a key's `:` or an item's `-`) in a collection indented
    /// by `n`; on return the reader is at the line after the value.
    fn value(&mut self, start: usize, n: usize, in_map: bool) -> Option<B::Node> {
        let i = self.spaces(start);
        let b = self.at(i);
        if b == b'&' {
            // An anchor names the value after it (on this line or the next), for the aliases
            // that follow; a second anchor, an alias or a tag after it is left to the full
            // parser, and so is one whose value is not built.
            if self.skip > 0 || !B::ANCHORS {
                return None;
            }
            let (name, after) = self.name(i + 1)?;
            if matches!(self.at(self.spaces(after)), b'&' | b'*' | b'!') {
                return None;
            }
            let skipped = self.skipped;
            let v = self.value(after, n, in_map)?;
            // An alias may repeat the value where it is built: it must be whole.
            if self.skipped != skipped {
                return None;
            }
            self.anchors.insert(name, v.clone());
            return Some(v);
        }
        if b == b'\n' || b == b'#' {
            self.end_line(start)?;
            return match self.next_line() {
                Some(j) if j > n => {
                    let c = self.pos + j;
                    if self.dash(c) || self.is_key(c) {
                        self.block(j)
                    } else {
                        // A scalar or flow collection on a line of its own.
                        self.inline(c, n)
                    }
                }
                Some(j) if j == n && in_map && self.dash(self.pos + n) => self.seq(n),
                _ => {
                    self.count()?;
                    Some(B::null())
                }
            };
        }
        self.inline(i, n)
    }

    /// A scalar or flow collection starting at `i`, the value of a node indented by `n`.
    fn inline(&mut self, i: usize, n: usize) -> Option<B::Node> {
        let b = self.at(i);
        self.count()?;
        let v = match b {
            b'|' | b'>' => return self.block_scalar(i, n),
            b'\'' | b'"' => {
                let (text, end) = self.quoted(i)?;
                self.end_line(end)?;
                B::string(text)
            }
            b'[' | b'{' => {
                let (v, end) = self.flow(i)?;
                self.end_line(end)?;
                v
            }
            b'*' => {
                let (name, end) = self.name(i + 1)?;
                let anchored = self.anchors.get(name)?;
                // An alias counts every node it repeats, as the full parser counts them.
                let nodes = B::count(anchored);
                let v = if self.skip > 0 {
                    B::null()
                } else {
                    anchored.clone()
                };
                self.nodes += nodes;
                if self.nodes > self.limits.max_nodes {
                    return None;
                }
                self.end_line(end)?;
                v
            }
            b'-' if !self.dash(i) => self.plain(i, n)?,
            _ if indicator(b) => return None,
            _ => self.plain(i, n)?,
        };
        // A more indented line next would continue the scalar (or be an error).
        if self.next_line().is_some_and(|j| j > n) {
            return None;
        }
        Some(v)
    }

    /// An anchor's or alias's name from `i` (after its `&` or `*`), up to a space or the line's
    /// end, and the position after it; names of other characters than letters, digits, `-`,
    /// `_` and `.` are left to the full parser.
    fn name(&self, i: usize) -> Option<(&'a str, usize)> {
        let text: &'a str = self.text;
        let mut j = i;
        loop {
            match self.at(j) {
                b' ' | b'\n' => break,
                c if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.') => j += 1,
                _ => return None,
            }
        }
        (j > i).then(|| (&text[i..j], j))
    }

    /// The part of a plain scalar's line from `i`: its end, and whether a comment ends it
    /// (`None` where `: ` makes it something this reader does not take).
    fn plain_line(&self, i: usize) -> Option<(usize, bool)> {
        let end = self.line_end(i);
        let line = &self.s[i..end];
        for (j, &c) in line.iter().enumerate() {
            match c {
                b'#' if j > 0 && line[j - 1] == b' ' => return Some((i + j, true)),
                b':' if matches!(line.get(j + 1), None | Some(b' ')) => return None,
                _ => {}
            }
        }
        Some((end, false))
    }

    /// A plain scalar in block context, the value of a node indented by `n`: its first line
    /// from `i`, then each more indented line that continues it (folded: one line break
    /// becomes a space, each blank line a line break), up to a comment or a line indented by
    /// `n` or less.
    fn plain(&mut self, i: usize, n: usize) -> Option<B::Node> {
        let (stop, comment) = self.plain_line(i)?;
        let first = self.text[i..stop].trim_end_matches(' ');
        self.pos = (self.line_end(stop) + 1).min(self.s.len());
        if comment {
            return self.resolved(first);
        }
        let mut text = std::borrow::Cow::Borrowed(first);
        let mut pos = self.pos;
        let mut blanks = 0;
        while pos < self.s.len() {
            let end = self.line_end(pos);
            let k = self.spaces(pos).min(end);
            if k == end {
                blanks += 1;
                pos = end + 1;
                continue;
            }
            let b = self.s[k];
            if k - pos <= n || b == b'#' {
                break;
            }
            // A continuation line is not a node, but one that would start one if it were
            // less indented is left to the full parser (`-x` is not one).
            let dash_scalar = b == b'-' && !self.dash(k);
            if indicator(b) && !dash_scalar {
                return None;
            }
            let (stop, comment) = self.plain_line(k)?;
            if comment {
                return None;
            }
            if self.skip == 0 {
                let more = text.to_mut();
                if blanks == 0 {
                    more.push(' ');
                } else {
                    more.extend(std::iter::repeat_n('\n', blanks));
                }
                more.push_str(self.text[k..stop].trim_end_matches(' '));
            }
            blanks = 0;
            pos = (end + 1).min(self.s.len());
            self.pos = pos;
        }
        self.resolved(&text)
    }

    /// A plain scalar's value: a placeholder where the reader does not build values.
    fn resolved(&self, text: &str) -> Option<B::Node> {
        if self.skip > 0 {
            return Some(B::null());
        }
        B::plain(text)
    }

    /// A quoted scalar opening at `i`, on one line: its text and the position after it.
    fn quoted(&self, i: usize) -> Option<(String, usize)> {
        let q = self.s[i];
        // Where values are not built, the text is checked but not kept.
        let keep = self.skip == 0;
        let mut out = String::new();
        let mut j = i + 1;
        let mut run = j;
        loop {
            let c = *self.s.get(j)?;
            match c {
                b'\n' => return None,
                b'\'' if q == b'\'' => {
                    if keep {
                        out.push_str(&self.text[run..j]);
                    }
                    if self.at(j + 1) == b'\'' {
                        if keep {
                            out.push('\'');
                        }
                        j += 2;
                        run = j;
                    } else {
                        return Some((out, j + 1));
                    }
                }
                b'"' if q == b'"' => {
                    if keep {
                        out.push_str(&self.text[run..j]);
                    }
                    return Some((out, j + 1));
                }
                b'\\' if q == b'"' => {
                    if keep {
                        out.push_str(&self.text[run..j]);
                    }
                    let e = *self.s.get(j + 1)?;
                    let digits = match e {
                        b'x' => 2,
                        b'u' => 4,
                        b'U' => 8,
                        _ => 0,
                    };
                    if digits > 0 {
                        let hex = self.text.get(j + 2..j + 2 + digits)?;
                        if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                            return None;
                        }
                        let code = u32::from_str_radix(hex, 16).ok()?;
                        // A surrogate has its own error, left to the full parser.
                        let c = char::from_u32(code)?;
                        if keep {
                            out.push(c);
                        }
                        j += 2 + digits;
                    } else {
                        let c = match e {
                            b'0' => '\0',
                            b'a' => '\x07',
                            b'b' => '\x08',
                            b't' => '\t',
                            b'n' => '\n',
                            b'v' => '\x0b',
                            b'f' => '\x0c',
                            b'r' => '\r',
                            b'e' => '\x1b',
                            b' ' => ' ',
                            b'"' => '"',
                            b'\\' => '\\',
                            _ => return None,
                        };
                        if keep {
                            out.push(c);
                        }
                        j += 2;
                    }
                    run = j;
                }
                _ => j += 1,
            }
        }
    }

    /// A flow collection opening at `i` and closing on the same line: its value and the
    /// position after it.
    fn flow(&mut self, i: usize) -> Option<(B::Node, usize)> {
        self.enter()?;
        let close = if self.s[i] == b'[' { b']' } else { b'}' };
        let mut j = self.spaces(i + 1);
        let mut items = Vec::new();
        let mut entries = Entries::default();
        if self.at(j) != close {
            loop {
                let start = j;
                if close == b'}' {
                    // Only a scalar key, then `:`, then a value.
                    let (key, end) = self.flow_key(start)?;
                    j = self.spaces(end);
                    if self.at(j) != b':' {
                        return None;
                    }
                    // After a plain key, `:` must be followed by a space (`a:b` is one
                    // scalar); after a quoted one it may not be.
                    let quoted = matches!(self.at(start), b'\'' | b'"');
                    if !quoted && self.at(j + 1) != b' ' {
                        return None;
                    }
                    // A merge key (`{<<: {a: 1}, b: 2}`) is the full parser's.
                    if !quoted && self.text[start..end].trim_end_matches(' ') == "<<" {
                        return None;
                    }
                    let (value, end) = self.flow_node(self.spaces(j + 1))?;
                    if self.skip == 0 {
                        entries.set(key, value);
                    }
                    j = self.spaces(end);
                } else {
                    let (v, end) = self.flow_node(start)?;
                    j = self.spaces(end);
                    if self.at(j) == b':' {
                        // A single-pair mapping in a sequence.
                        return None;
                    }
                    if self.skip == 0 {
                        items.push(v);
                    }
                }
                match self.at(j) {
                    b',' => {
                        j = self.spaces(j + 1);
                        if self.at(j) == close {
                            break;
                        }
                    }
                    c if c == close => break,
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        self.count()?;
        let v = if close == b']' {
            B::seq(items)
        } else {
            B::map(entries.list)?
        };
        Some((v, j + 1))
    }

    fn spaces(&self, j: usize) -> usize {
        skip_spaces(self.s, j)
    }

    /// A node inside a flow collection at `j`: its value and the position after it.
    fn flow_node(&mut self, j: usize) -> Option<(B::Node, usize)> {
        match self.at(j) {
            b'[' | b'{' => self.flow(j),
            b'\'' | b'"' => {
                self.count()?;
                let (text, end) = self.quoted(j)?;
                Some((B::string(text), end))
            }
            b'-' if !flow_dash(self.at(j + 1)) => self.flow_plain(j),
            b if indicator(b) || b == b'\n' => None,
            _ => self.flow_plain(j),
        }
    }

    /// A flow mapping's key at `j`, a scalar (the reader gives up at a collection, as a
    /// mapping key is one it does not take), and the position after it.
    fn flow_key(&mut self, j: usize) -> Option<(YVal, usize)> {
        let b = self.at(j);
        if b == b'\'' || b == b'"' {
            self.count()?;
            let (text, end) = self.quoted(j)?;
            return Some((YVal::Str(text), end));
        }
        if (b == b'-' && flow_dash(self.at(j + 1))) || (b != b'-' && indicator(b)) || b == b'\n' {
            return None;
        }
        self.count()?;
        let k = self.flow_plain_end(j)?;
        let text = self.text[j..k].trim_end_matches(' ');
        let key = if self.skip > 0 {
            YVal::Null
        } else {
            scalar(text, true, None).ok()?
        };
        Some((key, k))
    }

    /// A plain scalar inside a flow collection: it ends at a flow indicator, or at a `:`
    /// followed by a space or one.
    fn flow_plain(&mut self, j: usize) -> Option<(B::Node, usize)> {
        self.count()?;
        let k = self.flow_plain_end(j)?;
        let text = self.text[j..k].trim_end_matches(' ');
        Some((self.resolved(text)?, k))
    }

    /// Where the plain scalar at `j` inside a flow collection ends.
    fn flow_plain_end(&self, j: usize) -> Option<usize> {
        let mut k = j;
        loop {
            match self.at(k) {
                b'\n' => return None,
                b'#' if self.s[k - 1] == b' ' => return None,
                // go-yaml ends a flow scalar at `?`, YAML 1.2 does not: the full parser's.
                b'?' => return None,
                b':' if {
                    let next = self.at(k + 1);
                    next == b' ' || next == b'\n' || flow_indicator(next)
                } =>
                {
                    break;
                }
                c if flow_indicator(c) => break,
                _ => k += 1,
            }
        }
        Some(k)
    }

    /// A literal (`|`) or folded (`>`) block scalar whose header is at `i`, the value of a
    /// node indented by `n`. Indentation indicators, more-indented folded lines and blank
    /// lines with more spaces than the content are left to the full parser.
    fn block_scalar(&mut self, i: usize, n: usize) -> Option<B::Node> {
        let folded = self.s[i] == b'>';
        let mut j = i + 1;
        let chomp = match self.at(j) {
            b'-' | b'+' => {
                j += 1;
                self.s[j - 1]
            }
            _ => b' ',
        };
        if !matches!(self.at(j), b' ' | b'\n') {
            return None;
        }
        self.end_line(j)?;
        // The lines: each with its indentation, up to the first less indented one.
        let mut lines: Vec<(usize, usize)> = Vec::new();
        let mut m = None;
        let mut pos = self.pos;
        while pos < self.s.len() {
            let end = self.line_end(pos);
            let line = &self.s[pos..end];
            let ind = line.iter().take_while(|&&c| c == b' ').count();
            if ind < line.len() && m.is_some_and(|m| ind < m) {
                break;
            }
            if end == self.s.len() {
                // The last line of the text with no line break: left to the full parser.
                return None;
            }
            if ind == line.len() {
                // Blank: content only by its spaces past the indentation, which this reader
                // does not take.
                if m.is_some_and(|m| ind > m) || (m.is_none() && ind > n + 1) {
                    return None;
                }
                lines.push((pos, pos));
            } else {
                let mm = *m.get_or_insert(ind);
                // More indented lines and trailing spaces fold by rules this reader
                // does not take.
                if folded && (ind > mm || line.ends_with(b" ")) {
                    return None;
                }
                lines.push((pos + mm, end));
            }
            pos = end + 1;
        }
        let m = m?;
        if m <= n {
            return None;
        }
        self.pos = pos;
        // Trailing blank lines are kept only by `+`.
        let body = lines.iter().rposition(|(a, b)| a != b).map_or(0, |k| k + 1);
        let trailing = lines.len() - body;
        if self.skip > 0 {
            // Only a folded scalar's leading blank lines are refused past this point.
            let first = lines[..body].iter().position(|(a, b)| a != b);
            if folded && first.is_some_and(|k| k > 0) {
                return None;
            }
            self.count()?;
            return Some(B::null());
        }
        let mut out = String::new();
        let mut blank_run = 0;
        for (k, &(a, b)) in lines[..body].iter().enumerate() {
            if a == b {
                if !folded {
                    out.push('\n');
                }
                blank_run += 1;
                continue;
            }
            if folded {
                if k == blank_run && k > 0 {
                    // Leading blank lines of a folded scalar.
                    return None;
                }
                if k > 0 {
                    if blank_run == 0 {
                        out.push(' ');
                    } else {
                        out.extend(std::iter::repeat_n('\n', blank_run));
                    }
                }
            }
            blank_run = 0;
            out.push_str(&self.text[a..b]);
            if !folded {
                out.push('\n');
            }
        }
        if folded && body > 0 {
            out.push('\n');
        }
        match chomp {
            b'-' => {
                while out.ends_with('\n') {
                    out.pop();
                }
            }
            b'+' => out.extend(std::iter::repeat_n('\n', trailing)),
            _ => {}
        }
        self.count()?;
        Some(B::string(out))
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_events;
    use super::*;
    use crate::manifest::SIMPLE_HEAD;

    /// Where the fast path builds values, they are what the conversion makes of its YAML
    /// nodes; it gives up only where they have an anchor or do not convert.
    fn same_values(text: &str) {
        let limits = YamlLimits::default();
        let values = parse_values(text, limits);
        assert_eq!(
            parse_with::<Check>(text, limits, None).map(|d| d.len()),
            values.as_ref().map(Vec::len),
            "the check and the build disagree on {text:?}"
        );
        let Some(nodes) = parse(text, limits) else {
            assert!(
                values.is_none(),
                "values taken where nodes are not: {text:?}"
            );
            return;
        };
        let converted: Result<Vec<Value>, _> =
            nodes.into_iter().map(super::super::into_value).collect();
        match (values, converted) {
            (Some(v), Ok(c)) => assert_eq!(
                format!("{v:?}"),
                format!("{c:?}"),
                "the values differ from the converted nodes on {text:?}"
            ),
            (Some(v), Err(e)) => {
                panic!("values {v:?} where the conversion fails ({e:?}): {text:?}")
            }
            (None, Ok(_)) => assert!(
                text.contains('&'),
                "values given up on without an anchor or a failed conversion: {text:?}"
            ),
            (None, Err(_)) => {}
        }
    }

    /// The fast path either gives up or gives exactly what the full parser gives.
    fn same(text: &str) -> bool {
        same_values(text);
        let limits = YamlLimits::default();
        match parse(text, limits) {
            None => false,
            Some(fast) => {
                let full = parse_events(text, limits);
                assert_eq!(
                    Ok(&fast),
                    full.as_ref(),
                    "the fast path differs from the full parser on {text:?}"
                );
                true
            }
        }
    }

    /// Where the fast path builds only a manifest's head, it gives up wherever the full
    /// build does (and may give up more), and builds what the full build builds of the head:
    /// the top-level keys, and the values the head reads.
    fn same_head(text: &str) -> bool {
        let limits = YamlLimits::default();
        let head = parse_head(text, limits, SIMPLE_HEAD);
        let Some(full) = parse(text, limits) else {
            assert_eq!(
                head, None,
                "the head took what the full build refuses: {text:?}"
            );
            return false;
        };
        let Some(head) = head else {
            return false;
        };
        let project = |docs: Vec<YVal>| -> Vec<YVal> {
            docs.into_iter()
                .map(|d| match d {
                    YVal::Map(entries) => YVal::Map(
                        entries
                            .into_iter()
                            .map(|(k, v)| {
                                let v = if outside(&k, SIMPLE_HEAD.fields) {
                                    YVal::Null
                                } else if names(&k, SIMPLE_HEAD.nested) {
                                    // `metadata`: its own keys chosen alike.
                                    match v {
                                        YVal::Map(m) => YVal::Map(
                                            m.into_iter()
                                                .map(|(mk, mv)| {
                                                    if outside(&mk, SIMPLE_HEAD.nested_fields) {
                                                        (mk, YVal::Null)
                                                    } else {
                                                        (mk, mv)
                                                    }
                                                })
                                                .collect(),
                                        ),
                                        v => v,
                                    }
                                } else {
                                    v
                                };
                                (k, v)
                            })
                            .collect(),
                    ),
                    d => d,
                })
                .collect()
        };
        assert_eq!(project(full), project(head), "the heads differ on {text:?}");
        true
    }

    #[test]
    fn spaces_are_skipped_to_the_first_other_byte() {
        for text in [
            "",
            " ",
            "a",
            "  a",
            "        ",
            "         x",
            "        \n",
            " ".repeat(17).as_str(),
        ] {
            for start in 0..=text.len() {
                let want = start + text[start..].bytes().take_while(|&b| b == b' ').count();
                assert_eq!(
                    skip_spaces(text.as_bytes(), start),
                    want,
                    "{text:?} from {start}"
                );
            }
        }
    }

    #[test]
    fn a_head_is_built_as_the_whole_is() {
        for text in [
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  annotations: {a: 'b', c: \"d\\n\"}\ndata:\n  k: |\n    line\n\n    more\n  j: >-\n    folded\n    text\n  q: 'it''s'\n  e: \"\\u00e9\\t\"\n",
            "Kind: Service\nMETADATA:\n  name: y\nspec:\n  ports:\n  - port: 80\n    name: http\n  - [1, {a: b}]\n  selector: {app: x}\n",
            "kind: A\nkind: B\nmetadata: {name: one}\nmetadata:\n  name: two\nspec: 1\nspec:\n  x: y\n",
            "1: one\ntrue: yes\n1.5: x\n~: null key\n0xFFFFFFFFFFFFFFFF: big\nkind: K\n",
            "metadata: &m\n  name: a\nspec:\n  copy: *m\n  more: [*m]\n",
            "- kind: A\n  spec: {x: 1}\n- b\n",
            "---\nkind: A\nspec:\n  plain: multi\n    line\n\n    para\n  url: http://x:80/#f\n---\n---\nkind: B\n",
            "kind: A\nspec:\n  k: >\n\n    leading blank\n",
            "kind: A\nspec:\n  k: \"\\x4\"\n",
            "kind: A\nspec:\n  k: \"\\q\"\n",
            "kind: A\nspec:\n  k: {a: 1, a: 2}\n  k: [x]\n",
            "kind: A\nmetadata:\n  name: n\n  labels:\n    a: b\n    c: [1]\n  Annotations:\n    x: 'y'\n  0xFFFFFFFFFFFFFFFF: big\n  finalizers:\n  - a\n  annotations: {z: 1}\n",
            "metadata:\n- a\n- b: c\n  labels: x\n",
            "metadata: &m\n  name: whole\nkind: A\nspec: *m\nMetadata: *m\n",
        ] {
            same_head(text);
        }
        // An anchor whose value is not built, or not all built, is left to the full parser,
        // which builds it.
        for text in [
            "spec: &s {a: 1}\nkind: A\nmetadata: *s\n",
            "metadata: &m\n  helm.sh/hook: test\nkind: A\nmetadata:\n  annotations: *m\n",
        ] {
            assert_eq!(
                parse_head(text, YamlLimits::default(), SIMPLE_HEAD),
                None,
                "{text:?}"
            );
        }
        assert!(same_head("kind: A\nmetadata:\n  name: a\nspec:\n  x: 1\n"));
    }

    /// The word-at-a-time test says of each byte, wherever it sits among printable ones, what
    /// the byte-by-byte rule says.
    #[test]
    fn a_word_is_printable_exactly_when_each_byte_is() {
        let rule = |b: u8| b == b'\n' || (0x20..=0x7e).contains(&b);
        for fill in [b'a', b' ', b'\n', b'~'] {
            for b in 0..=255u8 {
                for at in 0..8 {
                    let mut word = [fill; 8];
                    word[at] = b;
                    assert_eq!(
                        printable_ascii(u64::from_le_bytes(word)),
                        rule(b),
                        "byte {b:#04x} at {at} among {fill:#04x}"
                    );
                }
            }
        }
        // Whole texts: a bad byte anywhere sends the text to the full parser.
        let good = "a: 1\nb: {c: d}\n".repeat(5);
        assert!(plain_text(good.as_bytes()));
        for at in 0..good.len() {
            for bad in [0u8, b'\t', b'\r', 0x7f, 0x1f] {
                let mut t = good.clone().into_bytes();
                t[at] = bad;
                assert!(!plain_text(&t), "byte {bad:#04x} at {at}");
            }
        }
    }

    #[test]
    fn the_common_shapes_take_the_fast_path_and_match() {
        for text in [
            "",
            "# only a comment\n\n",
            "a: 1\nb: yes\nc: ~\nd:\ne: 'it''s'\nf: \"tab\\there \\u00e9 \\x41\"\n",
            "a:\n  b:\n    c: [1, two, \"3\", {x: y}]\n  d: {}\n  e: []\n",
            "list:\n- a\n- b: 1\n  c: 2\n-\n  - nested\n- - compact\n  - more\nnext: x\n",
            "key with spaces: v # comment\nurl: http://x:80/p#frag\n\"quoted key\": 1\n'k': 2\n",
            "lit: |\n  one\n   two\n\n  three\n\nclip: >\n  folded\n  lines\n\n  para\nstrip: |-\n  s\n\nkeep: |+\n  k\n\nend: 1\n",
            "  indented: root\n  other: 2\n",
            "- 1\n- -2\n- 0x1F\n- 1e3\n- .inf\n- 08\n- 2021-01-01\n- +1\n- 1_000\n",
            "m: {a: 1, a: 2, \"b\":3, c: [x, [y, z]], }\ndup: 1\ndup: 2\n",
            "a: -foo\nb: --- \nc: x:y\nd: [-1, a:b]\n",
            "---\na: 1\n",
            "# head\n--- # c\na: 1\n---\n---\n- b\n---\n",
            "a: multi\n  line -x\n\n   para\nb:\n  plain\n  on its own\nc:\n  [1, 2]\nd:\n  'q'\n",
            "- a\n  b\n- k: v\n    w\n",
            "a: &x 1\nb: *x\nc: &m\n  k: [v]\nd: *m\ne: &s\n- 1\nf: *s # c\ng: &x two\nh: *x\n",
            "- &i\n  k: v\n- *i\n",
            "l:\n- &a one\n- *a\n- &e\n- *e\n",
        ] {
            assert!(same(text), "gave up on {text:?}");
        }
    }

    #[test]
    fn what_it_does_not_take_is_left_to_the_full_parser() {
        for text in [
            "a: &x &y 1\n",
            "a: &x *y\nb: 1\n",
            "a: *unknown\n",
            "- &a k: v\n",
            "a: &x 1\nb: [*x]\n",
            "a: &x 1\n<<: *x\n",
            "a: !!str 1\n",
            "...\na: 1\n",
            "a: 1\n...\n",
            "a: multi\n  - line\n",
            "a: multi # c\n  line\n",
            "a: 'multi\n  line'\n",
            "a: [1,\n 2]\n",
            "a:\tb\n",
            "a: 1\r\n",
            "<<: {a: 1}\n",
            "a: |2\n   x\n",
            "a: >\n  x\n    more\n  y\n",
            "a: |\n  x",
            "a: 1\n  b: 2\n",
            "a: b: c\n",
            "- a\nb: 1\n",
            "? a\n: b\n",
            "scalar\n",
            "a: \"\\ud800\"\n",
            "a: \"\\/\"\n",
            "a: {b}\n",
            "a: [b: c]\n",
            "a: x #\n  y\n",
        ] {
            assert!(
                parse(text, YamlLimits::default()).is_none(),
                "took {text:?}"
            );
        }
    }

    fn yaml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                yaml_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }

    /// Every YAML file of the shared fixtures, and damaged copies of each (a deterministic
    /// sample of edits that break indentation, quoting and structure): where the fast path
    /// answers, it answers what the full parser does, and it refuses what the full parser
    /// refuses.
    #[test]
    fn it_matches_the_full_parser_on_every_fixture_and_on_damaged_copies() {
        let Ok(root) = gantry_tests::shared_fixture("", "the shared fixtures") else {
            return;
        };
        let mut files = Vec::new();
        yaml_files(&root, &mut files);
        files.sort();
        let (mut taken, mut total) = (0, 0);
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |m: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % m as u64) as usize
        };
        for f in &files {
            let Ok(text) = std::fs::read_to_string(f) else {
                continue;
            };
            // Templates are not YAML until rendered.
            if !f.components().any(|c| c.as_os_str() == "templates") {
                total += 1;
                taken += usize::from(same(&text));
                same_head(&text);
            }
            if text.is_empty() {
                continue;
            }
            for _ in 0..8 {
                let mut b = text.clone().into_bytes();
                let at = next(b.len());
                let edits: [&[u8]; 10] = [
                    b" ", b":", b"-", b"#", b"'", b"\"", b"\n", b"  ", b"|", b"{",
                ];
                let edit = edits[next(10)];
                match next(3) {
                    0 => {
                        b.splice(at..at, edit.iter().copied());
                    }
                    1 => {
                        b.remove(at);
                    }
                    _ => {
                        b.splice(at..(at + 1).min(b.len()), edit.iter().copied());
                    }
                }
                if let Ok(damaged) = String::from_utf8(b) {
                    same(&damaged);
                    same_head(&damaged);
                }
            }
        }
        // Helm's own renders: every document of each, as the head is read from it.
        let (mut heads, mut docs) = (0, 0);
        for case in std::fs::read_dir(root.join("helm/cases"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(json) = std::fs::read_to_string(case.path().join("expected.json")) else {
                continue;
            };
            let Ok(serde_json::Value::Object(rendered)) = serde_json::from_str(&json) else {
                continue;
            };
            for text in rendered.values().filter_map(|v| v.as_str()) {
                for doc in text.split("\n---") {
                    docs += 1;
                    heads += usize::from(same_head(doc));
                }
            }
        }
        assert!(
            heads * 10 >= docs * 7,
            "only {heads} of {docs} heads took the fast path"
        );
        // Most real YAML takes the fast path; a drop here means a common shape was lost.
        assert!(
            taken * 10 >= total * 7,
            "only {taken} of {total} fixture files took the fast path"
        );
    }
}
