//! go-yaml v2's refusal of a tab at a line's start in block context, or right after a block
//! sequence's `-`, which YAML 1.2 (and granit) takes as blank space there.
//!
//! go-yaml never skips a tab where a block's indentation is read: at a line's start it is a
//! character no token begins with; in a plain scalar's continuation, or in a block scalar's
//! indentation, a tab short of the indentation is refused in those scanners' own words. Inside
//! a quoted scalar or a flow collection a tab is blank space to both. This checks only a text
//! granit has read without error, and only tabs in those places.

use granit_parser::{Event, Parser, ScalarStyle};

use super::{YamlError, scanner_error};

const CANNOT_START: &str = "found character that cannot start any token";
const VIOLATES: &str = "found a tab character that violates indentation";
const NOT_INDENTATION: &str = "found a tab character where an indentation space is expected";

/// go-yaml's error for the first such tab of `text` outside a quoted scalar and a flow
/// collection; `None` when there is none.
pub(super) fn check(text: &str, opts: granit_parser::Options) -> Option<YamlError> {
    if !text.contains('\t') {
        return None;
    }
    // Each tab go-yaml may refuse: at a line's start, or in the blanks after a block
    // indicator (`-`, or `?` and `:` opening a line), where go-yaml reads a token next and
    // skips no tab. Line numbers count from 1; offsets are bytes.
    let mut tabs = Vec::new();
    // A tab after a line's leading spaces, which a block scalar's indentation may refuse.
    let mut after_spaces = false;
    let mut at = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        after_spaces |= line.trim_start_matches(' ').starts_with('\t');
        if line.starts_with('\t') {
            tabs.push((i + 1, at, true));
        } else if line.contains('\t') {
            let mut rest = line.trim_start_matches(' ');
            while let Some(after) = rest
                .strip_prefix(['-', '?', ':'])
                .filter(|a| a.starts_with([' ', '\t']))
            {
                let blanks = after.len() - after.trim_start_matches([' ', '\t']).len();
                if let Some(t) = after[..blanks].find('\t') {
                    tabs.push((i + 1, at + (line.len() - after.len()) + t, false));
                    break;
                }
                rest = &after[blanks..];
                // Only `-` repeats on a line (`- - a`).
                if !rest.starts_with('-') {
                    break;
                }
            }
        }
        at += line.len();
    }
    // Tabs only inside lines (a script's, a quoted string's) need no second reading.
    if tabs.is_empty() && !after_spaces {
        return None;
    }
    // Each token's byte range and what it is, in order.
    enum Kind {
        Plain,
        Quoted,
        Block,
        FlowOpen,
        FlowClose,
        Other,
    }
    let mut tokens: Vec<(usize, usize, Kind)> = Vec::new();
    for item in Parser::new_from_str_with_options(text, opts) {
        let Ok((event, span)) = item else {
            return None;
        };
        let (Some(start), Some(end)) = (span.start.byte_offset(), span.end.byte_offset()) else {
            return None;
        };
        let kind = match event {
            Event::StreamStart | Event::StreamEnd => continue,
            // An implicit start or end takes no text.
            Event::DocumentStart(..) | Event::DocumentEnd if start == end => continue,
            Event::Scalar(_, ScalarStyle::Plain, ..) => Kind::Plain,
            Event::Scalar(_, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted, ..) => {
                Kind::Quoted
            }
            Event::Scalar(..) => Kind::Block,
            Event::SequenceStart(..) | Event::MappingStart(..)
                if matches!(text.as_bytes().get(start), Some(b'[' | b'{')) =>
            {
                Kind::FlowOpen
            }
            Event::SequenceEnd | Event::MappingEnd
                if matches!(text.as_bytes().get(start), Some(b']' | b'}')) =>
            {
                Kind::FlowClose
            }
            _ => Kind::Other,
        };
        tokens.push((start, end, kind));
    }
    let mut found: Option<(usize, YamlError)> = None;
    for (line, offset, line_start) in tabs {
        let mut flow = 0usize;
        let mut last: Option<&(usize, usize, Kind)> = None;
        let mut inside = None;
        for t in &tokens {
            if t.0 >= offset {
                break;
            }
            match t.2 {
                Kind::FlowOpen => flow += 1,
                Kind::FlowClose => flow = flow.saturating_sub(1),
                // The end of a block collection takes no text of its own.
                Kind::Other if t.0 == t.1 => continue,
                _ => {}
            }
            if t.1 > offset {
                inside = Some(t);
            }
            last = Some(t);
        }
        if flow > 0 {
            continue;
        }
        let blank_since = |end: usize| {
            text[end..offset]
                .bytes()
                .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        };
        let msg = match (inside, last) {
            (Some((_, _, Kind::Quoted)), _) => continue,
            // After an indicator: a tab inside any token is that token's own.
            (Some(_), _) if !line_start => continue,
            _ if !line_start => CANNOT_START,
            (Some((_, _, Kind::Plain)), _) => VIOLATES,
            (Some((_, _, Kind::Block)), _) => NOT_INDENTATION,
            (Some(_), _) => CANNOT_START,
            // A plain scalar's scanner still reading the blank lines after it.
            (None, Some((_, end, Kind::Plain))) if blank_since(*end) => VIOLATES,
            (None, Some((_, end, Kind::Block))) if blank_since(*end) => NOT_INDENTATION,
            _ => CANNOT_START,
        };
        found = Some((offset, scanner_error(line, msg)));
        break;
    }
    // A block scalar's indentation: go-yaml refuses a tab where it reads it (any tab after the
    // leading spaces while it is still finding the indentation, then one short of it).
    for &(start, end, ref kind) in &tokens {
        if !matches!(kind, Kind::Block) || found.as_ref().is_some_and(|(at, _)| *at < start) {
            continue;
        }
        // The header (`|`, `>-`, ...) is at the span's start or on the line before it. Looked
        // for by byte: the span's first character may be longer than one.
        let Some(header) = text.as_bytes()[..(start + 1).min(text.len())]
            .iter()
            .rposition(|b| matches!(b, b'|' | b'>'))
        else {
            continue;
        };
        let Some(header_end) = text[header..].find('\n').map(|e| header + e) else {
            continue;
        };
        // An explicit indentation is counted from the parent's, which is not known here.
        if text[header..header_end].bytes().any(|b| b.is_ascii_digit()) || header_end >= end {
            continue;
        }
        let mut indent = None;
        let mut at = header_end + 1;
        for l in text[at..end].split_inclusive('\n') {
            let spaces = l.len() - l.trim_start_matches(' ').len();
            let short = indent.is_none_or(|i| spaces < i);
            if short && l[spaces..].starts_with('\t') {
                let line = text[..at].matches('\n').count() + 1;
                if found.as_ref().is_none_or(|(f, _)| at < *f) {
                    found = Some((at, scanner_error(line, NOT_INDENTATION)));
                }
                break;
            }
            if indent.is_none() && !l.trim().is_empty() {
                indent = Some(spaces);
            }
            at += l.len();
        }
    }
    found.map(|(_, e)| e)
}
