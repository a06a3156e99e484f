//! YAML as Helm reads it: `sigs.k8s.io/yaml`, which decodes with go-yaml v2 (YAML 1.1: `yes`
//! and `on` are booleans, `0755` is octal) and then round-trips through JSON, so every number
//! becomes a float64 and every key a string.

use std::collections::HashMap;
use std::sync::LazyLock;

use gantry_gotmpl::strconv::{parse_float, parse_int, parse_uint};
use gantry_gotmpl::{List, Map, Value};
use granit_parser::{ErrorKind, Event, Options, Parser, ScalarStyle};

mod directives;
mod fast;
mod tabs;
mod words;

pub(crate) use fast::Head;

/// A YAML value as go-yaml v2 decodes it into `interface{}`.
#[derive(Debug, Clone, PartialEq)]
pub enum YVal {
    /// `null`, `~`, empty.
    Null,
    /// A boolean (YAML 1.1 spellings included).
    Bool(bool),
    /// An integer that fits an int64.
    Int(i64),
    /// An integer that fits only a uint64.
    Uint(u64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<YVal>),
    /// A mapping, in document order (a repeated key appears once, with its last value).
    Map(Vec<(YVal, YVal)>),
}

/// A YAML error, with go-yaml's `yaml: line N: ...` shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg}")]
pub struct YamlError {
    /// The message.
    pub msg: String,
}

impl YamlError {
    fn at(line: usize, msg: impl std::fmt::Display) -> YamlError {
        YamlError {
            msg: format!("yaml: line {line}: {msg}"),
        }
    }

    /// An error go-yaml finds while decoding the parsed nodes: it names no line.
    fn decoding(msg: impl std::fmt::Display) -> YamlError {
        YamlError {
            msg: format!("yaml: {msg}"),
        }
    }
}

/// Limits on one YAML input.
#[derive(Debug, Clone, Copy)]
pub struct YamlLimits {
    /// Nodes, aliases expanded.
    pub max_nodes: usize,
    /// Nesting depth.
    pub max_depth: usize,
}

impl Default for YamlLimits {
    fn default() -> Self {
        YamlLimits {
            max_nodes: 5_000_000,
            max_depth: 200,
        }
    }
}

enum Frame {
    Seq(Vec<YVal>, usize),
    Map(Entries, Option<YVal>, usize),
}

/// A mapping being built: its entries in document order, a repeated key keeping its first
/// place and its last value. Past a few entries, string keys are found through an index:
/// scanning for each key made a values file with a thousand keys in one mapping quadratic.
/// The values are YAML nodes, or (where the fast reader builds a values file straight into
/// template values) those values; the keys are always YAML nodes, compared as YAML compares them.
struct Entries<N = YVal> {
    list: Vec<(YVal, N)>,
    index: gantry_gotmpl::FastMap<String, usize>,
}

impl<N> Default for Entries<N> {
    fn default() -> Self {
        Entries {
            list: Vec::new(),
            index: gantry_gotmpl::FastMap::default(),
        }
    }
}

impl<N> Entries<N> {
    const SCAN: usize = 16;

    fn set(&mut self, k: YVal, v: N) {
        if let YVal::Str(key) = &k
            && self.list.len() > Self::SCAN
        {
            if self.index.is_empty() {
                for (i, (ek, _)) in self.list.iter().enumerate() {
                    if let YVal::Str(s) = ek {
                        self.index.insert(s.clone(), i);
                    }
                }
            }
            match self.index.get(key) {
                Some(&i) => self.list[i].1 = v,
                None => {
                    self.index.insert(key.clone(), self.list.len());
                    self.list.push((k, v));
                }
            }
            return;
        }
        match self.list.iter_mut().find(|(ek, _)| *ek == k) {
            Some(slot) => slot.1 = v,
            None => self.list.push((k, v)),
        }
    }
}

/// go-yaml v2's reading of a `?` in a plain scalar `plain` (at byte `at` of `text`) inside a
/// flow collection that `close` closes, where YAML 1.2 (and granit) reads the `?` as part of
/// the scalar: go-yaml ends the scalar before it and reads a key indicator, which the
/// collection cannot take there (`[http://x/y?z=1]` fails in Helm). Its parser names the line
/// counted from 0, and none on the first. A `?` that starts an entry (`[x, ?y]`) opens a
/// mapping to go-yaml, which Gantry does not read: refused rather than read otherwise.
fn flow_question(text: &str, at: usize, plain: &str, close: u8) -> Option<YamlError> {
    let q = plain.find('?')?;
    let line = text[..at + q].matches('\n').count();
    if q == 0 {
        return Some(YamlError::at(
            line + 1,
            format!(
                "{plain:?}: a `?` that starts a flow collection's entry is a mapping key to go-yaml, which Gantry does not read (write `? {}` or quote it)",
                &plain[1..]
            ),
        ));
    }
    let msg = format!("did not find expected ',' or '{}'", char::from(close));
    Some(if line == 0 {
        YamlError::decoding(msg)
    } else {
        YamlError::at(line, msg)
    })
}

/// go-yaml's error for a `\u`/`\U` escape of a surrogate (which granit pairs into one
/// character, and go-yaml refuses either way): like every go-yaml scanner error, it names its
/// line unless that is the first.
fn invalid_escape(line: usize) -> YamlError {
    scanner_error(line, INVALID_ESCAPE)
}

const INVALID_ESCAPE: &str = "found invalid Unicode character escape code";

/// go-yaml's error for a character that cannot begin a token.
const CANNOT_START: &str = "found character that cannot start any token";

/// go-yaml's error for `\/`, an escape YAML 1.2 and granit have and go-yaml v2 has not.
const UNKNOWN_ESCAPE: &str = "found unknown escape character";

/// A go-yaml scanner error: it names its line unless that is the first.
fn scanner_error(line: usize, msg: &str) -> YamlError {
    if line <= 1 {
        YamlError {
            msg: format!("yaml: {msg}"),
        }
    } else {
        YamlError::at(line, msg)
    }
}

/// The byte offset and go-yaml's message of the first escape go-yaml refuses and granit does
/// not in the source of a double-quoted scalar: a surrogate code point (U+D800..U+DFFF), `\/`.
fn refused_escape(raw: &str) -> Option<(usize, &'static str)> {
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        let digits = match b.get(i + 1) {
            Some(b'u') => 4,
            Some(b'U') => 8,
            Some(b'/') => return Some((i, UNKNOWN_ESCAPE)),
            _ => {
                i += 2;
                continue;
            }
        };
        let code = raw
            .get(i + 2..i + 2 + digits)
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        if code.is_some_and(|c| (0xd800..=0xdfff).contains(&c)) {
            return Some((i, INVALID_ESCAPE));
        }
        i += 2;
    }
    None
}

/// Parses the first document of a stream (an empty document is `Null`), as go-yaml v2's
/// `Unmarshal` does: what follows it (another document, a directive without the `...` YAML
/// 1.2 asks for) is never read, and fails nothing. Helm's values files are read so a `---`
/// separated part at a time, and `fromYaml` so.
pub fn parse_documents(text: &str, limits: YamlLimits) -> Result<Vec<YVal>, YamlError> {
    documents(text, limits, None)
}

/// [`parse_documents`] of a document of which only `head` is read: what the fast reader reads
/// gets built only as far as [`fast::parse_head`] says, and is the same there; the errors are
/// the same.
pub(crate) fn parse_head(
    text: &str,
    limits: YamlLimits,
    head: Head,
) -> Result<Vec<YVal>, YamlError> {
    documents(text, limits, Some(head))
}

fn documents(text: &str, limits: YamlLimits, head: Option<Head>) -> Result<Vec<YVal>, YamlError> {
    let (text, scanned) = first_document(text, limits);
    // The directive line that ended the first document is scanned, and must be one go-yaml
    // knows.
    if scanned.len() > text.len()
        && let Some(msg) = directives::refused(scanned[text.len()..].trim_end_matches('\n'))
    {
        return Err(scanner_error(1 + text.matches('\n').count(), msg));
    }
    if let Some(e) = directives::check(text) {
        return Err(e);
    }
    let fast = match head {
        Some(h) => fast::parse_head(text, limits, h),
        None => fast::parse(text, limits),
    };
    let docs = match fast {
        Some(docs) => docs,
        None => parse_events(text, limits)?,
    };
    match tabs::check(text, granit_options(limits)) {
        Some(e) => Err(e),
        None => Ok(docs),
    }
}

/// What [`unmarshal_map`] gives for a values document (one part of a values file, as Helm
/// splits it) where that is a map and the fast reader reads the text, built without the YAML
/// nodes in between; `None` where [`parse_documents`] and [`into_value`] must decide (an
/// error, a document that is not a mapping, what the fast reader does not take).
pub(crate) fn values_map(text: &str, limits: YamlLimits) -> Option<Map> {
    let text = values_text(text, limits)?;
    let mut docs = fast::parse_values(text, limits)?;
    if docs.len() > 1 || tabs::check(text, granit_options(limits)).is_some() {
        return None;
    }
    match docs.pop() {
        None | Some(Value::Nil) => Some(Map::new()),
        Some(Value::Map(m)) => Some(m),
        Some(_) => None,
    }
}

/// Whether [`values_map`] gives a map for `text`, found without building one (values are not
/// `Send`: a helper thread asks this, and leaves the building to the render's thread).
pub(crate) fn values_map_would(text: &str, limits: YamlLimits) -> bool {
    values_text(text, limits).is_some_and(|text| {
        fast::values_would_build(text, limits)
            && tabs::check(text, granit_options(limits)).is_none()
    })
}

/// The first document of `text`, where nothing about its directives fails.
fn values_text(text: &str, limits: YamlLimits) -> Option<&str> {
    let (text, scanned) = first_document(text, limits);
    if (scanned.len() > text.len()
        && directives::refused(scanned[text.len()..].trim_end_matches('\n')).is_some())
        || directives::check(text).is_some()
    {
        return None;
    }
    Some(text)
}

/// `text` up to the end of its first document, and up to the end of what go-yaml scans to
/// find that end (a directive's line, which must be a directive it knows): all of it unless a
/// line after the first could start another (`---`, `...`, or a `%` directive), and all of it
/// when the first document fails (its error is the answer).
fn first_document(text: &str, limits: YamlLimits) -> (&str, &str) {
    let b = text.as_bytes();
    // Built once: each of a chart's documents is looked at, and building the three searchers
    // for each cost more than the searches.
    static MARKS: LazyLock<[memchr::memmem::Finder<'static>; 3]> = LazyLock::new(|| {
        ["\n---", "\n...", "\n%"].map(|m| memchr::memmem::Finder::new(m.as_bytes()))
    });
    let maybe_more = MARKS.iter().any(|m| m.find(b).is_some());
    if !maybe_more {
        return (text, text);
    }
    let parser = Parser::new_from_str_with_options(text, granit_options(limits));
    let mut started = false;
    for item in parser {
        match item {
            Ok((Event::DocumentStart(..), _)) => started = true,
            Ok((Event::DocumentEnd, span)) if started => {
                // An implicit end sits where the next document's first token starts.
                let end = span.end.byte_offset().unwrap_or(text.len());
                let first = text.get(..end).unwrap_or(text);
                // A document ended by a directive's line: go-yaml scans that line too.
                let directive = match text[first.len()..].strip_prefix('%') {
                    Some(rest) => 1 + rest.find('\n').map_or(rest.len(), |i| i + 1),
                    None => 0,
                };
                return (first, &text[..first.len() + directive]);
            }
            Ok(_) => {}
            // go-yaml ends the document at a directive; YAML 1.2 asks for `...` first.
            Err(e) if e.info().contains("missing explicit document end marker") => {
                let line = e.marker().line().saturating_sub(1);
                let mut lines = text.split_inclusive('\n');
                let at = lines.by_ref().take(line).map(str::len).sum::<usize>();
                let directive = lines.next().map_or(0, str::len);
                return (&text[..at], &text[..at + directive]);
            }
            Err(_) => return (text, text),
        }
    }
    (text, text)
}

/// The full parser's options: go-yaml's reading where granit has a choice.
fn granit_options(limits: YamlLimits) -> Options {
    let mut opts = Options::default();
    opts.emit_comments = false;
    opts.block_scalar_eof_without_line_feed = true;
    opts.bom_inside_document_as_content = true;
    opts.block_nesting_limit = limits.max_depth;
    opts.flow_nesting_limit = limits.max_depth;
    opts
}

/// How many `-`s before a flow indicator [`parse_events`] reads by parsing again: each costs a
/// parse of the whole text, so a text of more is refused rather than parsed that many times.
const DASH_REPARSES: usize = 64;

/// [`parse_documents`] through the full parser's events: what the fast path must equal.
/// go-yaml v2 starts a plain scalar at a `-` followed by a flow indicator inside a flow
/// collection (`[-]` is `["-"]` and `{b: -}` is `{b: "-"}` in Helm), where YAML 1.2 (and
/// granit) refuses it: such a `-` is read as the quoted `"-"` (the same string; no line
/// moves) and the text parsed again.
fn parse_events(text: &str, limits: YamlLimits) -> Result<Vec<YVal>, YamlError> {
    let mut quoted: Option<String> = None;
    for _ in 0..=DASH_REPARSES {
        let t = quoted.as_deref().unwrap_or(text);
        let mut dash = None;
        match (parse_events_once(t, limits, &mut dash), dash) {
            (Err(_), Some(at)) => quoted = Some([&t[..at], "\"-\"", &t[at + 1..]].concat()),
            (out, _) => return out,
        }
    }
    Err(YamlError::decoding(format!(
        "more than {DASH_REPARSES} plain `-`s before a flow indicator (`[-]`): go-yaml reads each as \"-\", Gantry reads at most {DASH_REPARSES} (quote them)"
    )))
}

/// [`parse_events`] of `text` as it is; a `-` it must quote first is given in `dash`.
fn parse_events_once(
    text: &str,
    limits: YamlLimits,
    dash: &mut Option<usize>,
) -> Result<Vec<YVal>, YamlError> {
    let parser = Parser::new_from_str_with_options(text, granit_options(limits));
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, YVal> = HashMap::new();
    let mut nodes = 0usize;
    let mut root: Option<YVal> = None;
    // An alias inside the node its anchor names: go-yaml parses the whole document first (a
    // syntax error later in it wins), then fails decoding it.
    let mut contains_itself: Option<YamlError> = None;
    // The closer of each open collection that is a flow one (`]`, `}`), `None` for a block one;
    // a single-pair mapping in a flow sequence (`[a: b]`) is in the sequence's flow.
    let mut flows: Vec<Option<u8>> = Vec::new();
    for item in parser {
        let (event, span) = item.map_err(|e| {
            if let ErrorKind::PlainScalarStartsWithDashFlowIndicator = e.kind()
                && let Some(at) = e.marker().byte_offset()
                && text.as_bytes().get(at) == Some(&b'-')
            {
                *dash = Some(at);
            }
            if e.info().contains("surrogate") || e.info().contains("Unicode character escape") {
                return invalid_escape(e.marker().line());
            }
            // A token that begins with a character no token begins with: YAML's reserved `@`
            // and `` ` ``, a `%` past a line's start, `|` or `>` in a flow. go-yaml says so in
            // its own words, which a chart that puts `fromYaml`'s error in its output shows
            // (nats writes `%!s(<nil>)` for an unset image and then the error).
            if let ErrorKind::UnexpectedCharacter {
                character: '@' | '`' | '%' | '|' | '>',
            } = e.kind()
            {
                return scanner_error(e.marker().line(), CANNOT_START);
            }
            // A `%` line inside a document: go-yaml scans it as a directive all the same, and
            // fails on one it does not know; granit asks for a `...` first.
            if e.info().contains("before directive")
                && let Some(msg) = text
                    .lines()
                    .nth(e.marker().line().saturating_sub(1))
                    .and_then(directives::refused)
            {
                return scanner_error(e.marker().line(), msg);
            }
            words::go_words(text, &e.info(), e.marker().line())
                .unwrap_or_else(|| YamlError::at(e.marker().line(), e.info()))
        })?;
        let line = span.start.line();
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                let close = span
                    .start
                    .byte_offset()
                    .and_then(|a| match text.as_bytes().get(a) {
                        Some(b'[') => Some(b']'),
                        Some(b'{') => Some(b'}'),
                        _ => None,
                    })
                    .or_else(|| flows.last().copied().flatten());
                flows.push(close);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                flows.pop();
            }
            Event::Scalar(_, ScalarStyle::Plain, ..) => {
                if let (Some(Some(close)), Some(a), Some(b)) = (
                    flows.last(),
                    span.start.byte_offset(),
                    span.end.byte_offset(),
                ) && let Some(e) = text
                    .get(a..b)
                    .and_then(|t| flow_question(text, a, t, *close))
                {
                    return Err(e);
                }
            }
            _ => {}
        }
        // go-yaml merges an alias only of a mapping; a sequence after `<<` must be written out.
        let aliased = matches!(event, Event::Alias(_));
        let (value, anchor) = match event {
            Event::StreamStart | Event::StreamEnd => continue,
            Event::DocumentStart(..) => {
                anchors.clear();
                root = None;
                continue;
            }
            Event::DocumentEnd => {
                if let Some(e) = contains_itself.take() {
                    return Err(e);
                }
                docs.push(root.take().unwrap_or(YVal::Null));
                continue;
            }
            Event::SequenceStart(_, anchor, _) => {
                stack.push(Frame::Seq(Vec::new(), anchor));
                if stack.len() > limits.max_depth {
                    return Err(YamlError::at(line, "exceeded max depth"));
                }
                continue;
            }
            Event::MappingStart(_, anchor, _) => {
                stack.push(Frame::Map(Entries::default(), None, anchor));
                if stack.len() > limits.max_depth {
                    return Err(YamlError::at(line, "exceeded max depth"));
                }
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, anchor)) => (YVal::Seq(items), anchor),
                _ => return Err(YamlError::at(line, "unbalanced sequence")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(entries, _, anchor)) => (YVal::Map(entries.list), anchor),
                _ => return Err(YamlError::at(line, "unbalanced mapping")),
            },
            Event::Scalar(value, style, anchor, tag) => {
                if matches!(style, ScalarStyle::DoubleQuoted)
                    && let (Some(a), Some(b)) = (span.start.byte_offset(), span.end.byte_offset())
                    && let Some((at, msg)) = text.get(a..b).and_then(refused_escape)
                {
                    let line = line + text[a..a + at].matches('\n').count();
                    return Err(scanner_error(line, msg));
                }
                let text = value;
                let tag = tag.map(|t| {
                    if t.is_yaml_core_schema() || t.handle() == "tag:yaml.org,2002:" {
                        format!("!!{}", t.suffix())
                    } else {
                        format!("{}{}", t.handle(), t.suffix())
                    }
                });
                let is_merge_key = matches!(stack.last(), Some(Frame::Map(_, None, ..)))
                    && matches!(style, ScalarStyle::Plain)
                    && tag.is_none()
                    && text == "<<";
                let v = if is_merge_key {
                    // A marker only a mapping key can carry.
                    YVal::Str(MERGE.to_owned())
                } else {
                    scalar(&text, matches!(style, ScalarStyle::Plain), tag.as_deref())
                        .map_err(|m| YamlError::at(line, m))?
                };
                (v, anchor)
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(v) => {
                    nodes += count(v);
                    if nodes > limits.max_nodes {
                        return Err(YamlError::at(line, "document contains excessive aliasing"));
                    }
                    (v.clone(), 0)
                }
                // The parser knows the anchor, which is not complete yet: the alias is inside
                // the node it names.
                None => {
                    let name = span
                        .start
                        .byte_offset()
                        .zip(span.end.byte_offset())
                        .and_then(|(a, b)| text.get(a..b))
                        .map_or("", |t| t.trim_start_matches('*'));
                    contains_itself.get_or_insert_with(|| {
                        YamlError::decoding(format!("anchor '{name}' value contains itself"))
                    });
                    (YVal::Null, 0)
                }
            },
            _ => continue,
        };
        nodes += 1;
        if nodes > limits.max_nodes {
            return Err(YamlError::at(line, "document contains too many nodes"));
        }
        if anchor != 0 {
            anchors.insert(anchor, value.clone());
        }
        match stack.last_mut() {
            None => root = Some(value),
            Some(Frame::Seq(items, _)) => items.push(value),
            Some(Frame::Map(entries, key, _)) => match key.take() {
                None => *key = Some(value),
                Some(k) => {
                    if matches!(&k, YVal::Str(s) if s == MERGE) {
                        // Decoding goes in document order: an alias inside its own anchor's
                        // node before this merge fails first.
                        if aliased && !matches!(value, YVal::Map(_)) {
                            return Err(contains_itself
                                .unwrap_or_else(|| YamlError::decoding(MERGE_WANTS_MAP)));
                        }
                        if let Err(e) = merge(entries, value) {
                            return Err(contains_itself.unwrap_or_else(|| YamlError::decoding(e)));
                        }
                    } else {
                        entries.set(k, value);
                    }
                }
            },
        }
    }
    Ok(docs)
}

const MERGE: &str = "\u{0}<<merge>>";

/// go-yaml v2's merge key: the merged mappings' entries, later sequence items losing.
const MERGE_WANTS_MAP: &str = "map merge requires map or sequence of maps as the value";

fn merge(entries: &mut Entries, v: YVal) -> Result<(), String> {
    let mut set = |src: Vec<(YVal, YVal)>| {
        for (k, v) in src {
            entries.set(k, v);
        }
    };
    match v {
        YVal::Map(src) => set(src),
        YVal::Seq(items) => {
            for item in items.into_iter().rev() {
                match item {
                    YVal::Map(src) => set(src),
                    _ => {
                        return Err(MERGE_WANTS_MAP.into());
                    }
                }
            }
        }
        _ => return Err(MERGE_WANTS_MAP.into()),
    }
    Ok(())
}

fn count(v: &YVal) -> usize {
    match v {
        YVal::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        YVal::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count(k) + count(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

fn short_tag(tag: &str) -> &str {
    tag
}

/// Decodes a scalar as go-yaml v2 does into `interface{}`.
fn scalar(text: &str, plain: bool, tag: Option<&str>) -> Result<YVal, String> {
    match tag {
        None if plain => Ok(resolve(text)),
        None => Ok(YVal::Str(text.to_owned())),
        Some("!!str") => Ok(YVal::Str(text.to_owned())),
        Some("!!binary") => {
            use base64::Engine as _;
            let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(clean)
                .map_err(|e| format!("!!binary value contains invalid base64 data: {e}"))?;
            Ok(YVal::Str(String::from_utf8_lossy(&bytes).into_owned()))
        }
        Some(t @ ("!!int" | "!!float" | "!!bool" | "!!null" | "!!timestamp")) => {
            let r = resolve(text);
            let ok = matches!(
                (t, &r),
                ("!!int", YVal::Int(_) | YVal::Uint(_))
                    | ("!!float", YVal::Float(_))
                    | ("!!bool", YVal::Bool(_))
                    | ("!!null", YVal::Null)
                    | ("!!timestamp", YVal::Str(_))
            );
            if ok {
                return Ok(r);
            }
            if t == "!!float" {
                match r {
                    YVal::Int(i) => return Ok(YVal::Float(i as f64)),
                    YVal::Uint(u) => return Ok(YVal::Float(u as f64)),
                    _ => {}
                }
            }
            let rtag = match r {
                YVal::Null => "!!null",
                YVal::Bool(_) => "!!bool",
                YVal::Int(_) | YVal::Uint(_) => "!!int",
                YVal::Float(_) => "!!float",
                _ => "!!str",
            };
            Err(format!(
                "cannot decode {rtag} `{text}` as a {}",
                short_tag(t)
            ))
        }
        // Other tags keep the text.
        Some(_) => Ok(YVal::Str(text.to_owned())),
    }
}

/// Whether a plain scalar has YAML 1.1's float syntax,
/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$` (go-yaml v2 types it as a float;
/// gantry-render's emitter quotes a string of this form so that it reads back as a string).
pub fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// go-yaml v2's `resolve` of a plain scalar without a tag.
pub fn resolve(s: &str) -> YVal {
    resolve_typed(s).unwrap_or_else(|| YVal::Str(s.to_owned()))
}

/// [`resolve`] when it gives something other than a string: `None` for a string, whose copy
/// the emitter, asking only whether a string can stay plain, does not need.
pub fn resolve_typed(s: &str) -> Option<YVal> {
    // Every keyword is at most five bytes and starts with one of these: most scalars are
    // neither, and skip the comparisons with each.
    let keyword_like = s.len() <= 5
        && s.as_bytes().first().is_none_or(|b| {
            matches!(
                b,
                b'y' | b'Y'
                    | b'n'
                    | b'N'
                    | b't'
                    | b'T'
                    | b'f'
                    | b'F'
                    | b'o'
                    | b'O'
                    | b'~'
                    | b'.'
                    | b'+'
                    | b'-'
            )
        });
    if !keyword_like {
        return resolve_number(s);
    }
    Some(match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            YVal::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            YVal::Bool(false)
        }
        "" | "~" | "null" | "Null" | "NULL" => YVal::Null,
        ".nan" | ".NaN" | ".NAN" => YVal::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => YVal::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => YVal::Float(f64::NEG_INFINITY),
        _ => return resolve_number(s),
    })
}

/// The number a plain scalar that is no keyword may be.
fn resolve_number(s: &str) -> Option<YVal> {
    let first = s.as_bytes()[0];
    match first {
        b'.' => {
            if let Some(f) = parse_float(s) {
                return Some(YVal::Float(f));
            }
        }
        b'0'..=b'9' | b'+' | b'-' => {
            // Go's underscores between digits; most numbers have none to take out.
            let plain: std::borrow::Cow<str> = if s.contains('_') {
                s.chars().filter(|&c| c != '_').collect::<String>().into()
            } else {
                s.into()
            };
            if let Some(i) = parse_int(&plain, 0) {
                return Some(YVal::Int(i));
            }
            if let Some(u) = parse_uint(&plain, 0) {
                return Some(YVal::Uint(u));
            }
            if yaml_style_float(&plain)
                && let Some(f) = parse_float(&plain)
            {
                return Some(YVal::Float(f));
            }
            if let Some(rest) = plain.strip_prefix("0b") {
                if let Some(i) = parse_int(rest, 2) {
                    return Some(YVal::Int(i));
                }
                if let Some(u) = parse_uint(rest, 2) {
                    return Some(YVal::Uint(u));
                }
            } else if let Some(rest) = plain.strip_prefix("-0b")
                && let Some(i) = parse_int(&format!("-{rest}"), 2)
            {
                return Some(YVal::Int(i));
            }
        }
        _ => {}
    }
    None
}

/// A map key as sigs.k8s.io/yaml turns it into a JSON object key; `v` is its value, which the
/// error for a key it cannot turn names (with Go's `%+#v`).
pub fn key_string(k: &YVal, v: &YVal) -> Result<String, String> {
    let value = || match v {
        YVal::Null => "<nil>".to_owned(),
        v => go_syntax(v),
    };
    Ok(match k {
        YVal::Str(s) => s.clone(),
        YVal::Int(i) => i.to_string(),
        YVal::Float(f) => float32_key(*f),
        YVal::Bool(b) => b.to_string(),
        YVal::Uint(u) => {
            return Err(format!(
                "unsupported map key of type: uint64, key: {u:#x}, value: {}",
                value()
            ));
        }
        // `%s` of a nil reflect.Type.
        YVal::Null => {
            return Err(format!(
                "unsupported map key of type: %!s(<nil>), key: <nil>, value: {}",
                value()
            ));
        }
        YVal::Seq(_) | YVal::Map(_) => {
            return Err(format!("yaml: invalid map key: {}", go_syntax(k)));
        }
    })
}

/// Go's `%#v` of what go-yaml v2 decodes a node into (`map[interface {}]interface {}`,
/// `[]interface {}`, `int`, `float64`, `string`, `bool`, nil), as its "invalid map key" error
/// prints a key that is a mapping or a sequence; a map's keys in `fmt`'s order, by type and
/// then value.
fn go_syntax(v: &YVal) -> String {
    fn scalar(v: &YVal) -> String {
        match v {
            YVal::Null => "interface {}(nil)".into(),
            YVal::Bool(b) => b.to_string(),
            YVal::Int(i) => i.to_string(),
            YVal::Uint(u) => format!("0x{u:x}"),
            YVal::Float(f) => gantry_gotmpl::gofmt::format_v(&gantry_gotmpl::Value::Float(*f))
                .unwrap_or_else(|_| f.to_string()),
            YVal::Str(s) => gantry_gotmpl::gofmt::quote(s),
            other => go_syntax(other),
        }
    }
    // fmt orders interface keys by their types' addresses in Helm's binary, as observed:
    // nil, string, uint64, int, float64, bool. A key that is a mapping or sequence is
    // refused before its parent is printed.
    fn rank(v: &YVal) -> u8 {
        match v {
            YVal::Null => 0,
            YVal::Str(_) => 1,
            YVal::Uint(_) => 2,
            YVal::Int(_) => 3,
            YVal::Float(_) => 4,
            YVal::Bool(_) => 5,
            YVal::Seq(_) | YVal::Map(_) => 6,
        }
    }
    match v {
        YVal::Seq(items) => {
            let items: Vec<String> = items.iter().map(scalar).collect();
            format!("[]interface {{}}{{{}}}", items.join(", "))
        }
        YVal::Map(entries) => {
            let mut entries: Vec<(&YVal, &YVal)> = entries.iter().map(|(k, v)| (k, v)).collect();
            entries.sort_by(|(a, _), (b, _)| {
                rank(a).cmp(&rank(b)).then_with(|| match (a, b) {
                    (YVal::Int(x), YVal::Int(y)) => x.cmp(y),
                    (YVal::Uint(x), YVal::Uint(y)) => x.cmp(y),
                    (YVal::Float(x), YVal::Float(y)) => x.total_cmp(y),
                    (YVal::Str(x), YVal::Str(y)) => x.cmp(y),
                    (YVal::Bool(x), YVal::Bool(y)) => x.cmp(y),
                    _ => std::cmp::Ordering::Equal,
                })
            });
            let entries: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}:{}", scalar(k), scalar(v)))
                .collect();
            format!(
                "map[interface {{}}]interface {{}}{{{}}}",
                entries.join(", ")
            )
        }
        other => scalar(other),
    }
}

/// `strconv.FormatFloat(f, 'g', -1, 32)` with go-yaml's names for infinities.
fn float32_key(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    let x = f as f32;
    // Infinite, or past float32's range (`1e39: a` is the key `.inf`): Go formats `+Inf`, which
    // sigs.k8s.io/yaml writes as YAML writes it.
    if x.is_infinite() {
        return if x > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    // Shortest float32 digits, then Go's %g layout.
    let s = format!("{:e}", x);
    let back: f64 = s.parse().unwrap_or(f);
    gantry_gotmpl::strconv::format_float(back, 'g', -1)
}

/// A decoded YAML value as Helm sees it after the JSON round trip: `map[string]interface{}`,
/// `[]interface{}`, float64 numbers.
pub fn to_value(y: &YVal) -> Result<Value, YamlError> {
    into_value(y.clone())
}

/// [`to_value`] of a tree that is not needed afterwards: keys move instead of being copied, and
/// each part of the tree is freed as soon as it is converted, so that converting a large values
/// file reuses its own memory rather than touching as much again.
pub fn into_value(y: YVal) -> Result<Value, YamlError> {
    let json_err = |m: String| YamlError {
        msg: format!("error converting YAML to JSON: {m}"),
    };
    Ok(match y {
        YVal::Null => Value::Nil,
        YVal::Bool(b) => Value::Bool(b),
        YVal::Int(i) => Value::Float(i as f64),
        YVal::Uint(u) => Value::Float(u as f64),
        YVal::Float(f) => {
            if !f.is_finite() {
                return Err(json_err(format!(
                    "json: unsupported value: {}",
                    gantry_gotmpl::strconv::format_float(f, 'g', -1)
                )));
            }
            Value::Float(f)
        }
        YVal::Str(s) => Value::str(&s),
        YVal::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                out.push(into_value(i)?);
            }
            Value::List(List::new(out))
        }
        YVal::Map(entries) => {
            let mut m = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let k = match k {
                    YVal::Str(k) => k,
                    k => key_string(&k, &v).map_err(json_err)?,
                };
                m.push((k, into_value(v)?));
            }
            Value::Map(Map::from_map(m.into_iter().collect()))
        }
    })
}

/// `yaml.Unmarshal(data, &map[string]interface{})`: the first document as a map (`null` is an
/// empty map).
pub fn unmarshal_map(text: &str, limits: YamlLimits) -> Result<Map, YamlError> {
    if let Some(m) = values_map(text, limits) {
        return Ok(m);
    }
    let docs = parse_documents(text, limits)?;
    match docs.into_iter().next().unwrap_or(YVal::Null) {
        YVal::Null => Ok(Map::new()),
        y @ YVal::Map(_) => match into_value(y)? {
            Value::Map(m) => Ok(m),
            _ => Ok(Map::new()),
        },
        other => Err(YamlError {
            msg: format!(
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(&other)
            ),
        }),
    }
}

/// `yaml.Unmarshal(data, &[]interface{})`.
pub fn unmarshal_list(text: &str, limits: YamlLimits) -> Result<List, YamlError> {
    let docs = parse_documents(text, limits)?;
    match docs.into_iter().next().unwrap_or(YVal::Null) {
        YVal::Null => Ok(List::new(Vec::new())),
        y @ YVal::Seq(_) => match into_value(y)? {
            Value::List(l) => Ok(l),
            _ => Ok(List::new(Vec::new())),
        },
        other => {
            let kind = json_kind(&other);
            // The YAML is made JSON before the JSON is read as a list: a key JSON cannot
            // hold fails first.
            into_value(other)?;
            Err(YamlError {
                msg: format!(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {kind} into Go value of type []interface {{}}"
                ),
            })
        }
    }
}

/// How encoding/json names a JSON value's kind in errors.
pub fn json_kind(y: &YVal) -> &'static str {
    match y {
        YVal::Null => "null",
        YVal::Bool(_) => "bool",
        YVal::Int(_) | YVal::Uint(_) | YVal::Float(_) => "number",
        YVal::Str(_) => "string",
        YVal::Seq(_) => "array",
        YVal::Map(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Value {
        Value::Map(unmarshal_map(s, YamlLimits::default()).unwrap())
    }

    fn show(v: &Value) -> String {
        gantry_gotmpl::gofmt::format_v(v).unwrap()
    }

    /// Each plain `-` before a flow indicator costs a parse of the whole text: up to
    /// [`DASH_REPARSES`] are read, more are refused by name rather than parsed that often.
    #[test]
    fn dashes_before_flow_indicators_are_read_up_to_a_bound() {
        let dashes = |n: usize| format!("a: [{}]\n", vec!["-"; n].join(","));
        let read = v(&dashes(DASH_REPARSES));
        assert_eq!(
            show(&read),
            format!("map[a:[{}]]", vec!["-"; DASH_REPARSES].join(" "))
        );
        let err =
            unmarshal_map(&dashes(DASH_REPARSES + 1), YamlLimits::default()).expect_err("too many");
        assert!(
            err.to_string()
                .contains("more than 64 plain `-`s before a flow indicator"),
            "{err}"
        );
    }

    /// go-yaml v2's table of YAML 1.1 keywords (`resolve.go`) resolves as it does there: the
    /// check that lets most scalars skip the comparisons must let every one of them through.
    #[test]
    fn every_yaml_1_1_keyword_resolves() {
        let table: &[(&[&str], &str)] = &[
            (
                &[
                    "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
                ],
                "true",
            ),
            (
                &[
                    "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
                ],
                "false",
            ),
            (&["", "~", "null", "Null", "NULL"], "null"),
            (&[".nan", ".NaN", ".NAN"], "nan"),
            (&[".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"], "+inf"),
            (&["-.inf", "-.Inf", "-.INF"], "-inf"),
        ];
        for (words, want) in table {
            for w in *words {
                let got = match resolve_typed(w) {
                    Some(YVal::Bool(b)) => b.to_string(),
                    Some(YVal::Null) => "null".to_owned(),
                    Some(YVal::Float(f)) if f.is_nan() => "nan".to_owned(),
                    Some(YVal::Float(f)) if f == f64::INFINITY => "+inf".to_owned(),
                    Some(YVal::Float(f)) if f == f64::NEG_INFINITY => "-inf".to_owned(),
                    other => format!("{other:?}"),
                };
                assert_eq!(&got, want, "{w:?}");
            }
        }
        // Words a keyword's letters start but no keyword is stay strings; numbers stay numbers.
        for w in ["yess", "nginx", "oops", "Falsey", "tru", ".5x", "~~"] {
            assert!(resolve_typed(w).is_none(), "{w:?}");
        }
        assert!(matches!(resolve_typed("-12"), Some(YVal::Int(-12))));
        assert!(matches!(resolve_typed("500"), Some(YVal::Int(500))));
        assert!(matches!(resolve_typed("+1.5"), Some(YVal::Float(_))));
    }

    #[test]
    fn yaml_1_1_scalars() {
        assert_eq!(
            show(&v(
                "a: yes\nb: off\nc: 0755\nd: 0x1F\ne: 1_000\nf: 1e3\ng: ~\nh: '1'\ni: 08\nj: .5\nk: 2021-01-01\nl: +1\n"
            )),
            "map[a:true b:false c:493 d:31 e:1000 f:1000 g:<nil> h:1 i:8 j:0.5 k:2021-01-01 l:1]"
        );
    }

    #[test]
    fn keys_become_strings() {
        assert_eq!(
            show(&v("1: a\ntrue: b\n1.5: c\ny: d\n")),
            "map[1:a 1.5:c true:d]"
        );
    }

    #[test]
    fn merge_keys_and_anchors() {
        assert_eq!(
            show(&v("base: &b {p: 1, q: 2}\nd:\n  <<: *b\n  q: 3\ny: yes\n")),
            "map[base:map[p:1 q:2] d:map[p:1 q:3] true:true]"
        );
    }

    #[test]
    fn big_numbers_become_floats() {
        assert_eq!(
            show(&v("a: 1000000\nb: 12345678901234567890\n")),
            "map[a:1e+06 b:1.2345678901234567e+19]"
        );
    }

    #[test]
    fn a_repeated_key_keeps_its_place_and_last_value_in_a_large_mapping() {
        let mut text: String = (0..40).map(|i| format!("k{i}: {i}\n")).collect();
        text.push_str("k3: last\n1: int\nk39: end\n");
        let docs = parse_documents(&text, YamlLimits::default()).expect("parses");
        let YVal::Map(entries) = &docs[0] else {
            panic!("a mapping")
        };
        assert_eq!(entries.len(), 41);
        assert_eq!(
            entries[3],
            (YVal::Str("k3".into()), YVal::Str("last".into()))
        );
        assert_eq!(
            entries[39],
            (YVal::Str("k39".into()), YVal::Str("end".into()))
        );
        assert_eq!(entries[40], (YVal::Int(1), YVal::Str("int".into())));
    }

    #[test]
    fn an_escaped_slash_is_go_yamls_unknown_escape() {
        let err = |t: &str| parse_documents(t, YamlLimits::default()).unwrap_err().msg;
        assert_eq!(
            err("a: \"x\\/y\"\n"),
            "yaml: found unknown escape character"
        );
        assert_eq!(
            err("b: 1\na: \"x\\/y\"\n"),
            "yaml: line 2: found unknown escape character"
        );
        // An escaped backslash before a slash is no escape of the slash.
        assert!(parse_documents("a: \"x\\\\/y\"\n", YamlLimits::default()).is_ok());
    }

    #[test]
    fn nan_is_an_error() {
        assert!(unmarshal_map("a: .nan\n", YamlLimits::default()).is_err());
    }
}
