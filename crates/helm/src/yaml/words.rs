//! go-yaml v2's words and lines for the syntax errors granit reports in its own: charts print
//! `fromYaml`'s error into their output (bjw-s common, SigNoz, envoy gateway), and a values
//! file that does not parse is reported as Helm reports it.
//!
//! go-yaml is libyaml's scanner and parser; its error names the 0-based line of the mark where
//! libyaml noticed, plus one for a scanner error, and no line at all when that is the first
//! line (then the context's line, if any). Where libyaml notices is not where granit does: a
//! key without its `:` is noticed only once the scanner has left the key's line.

use super::{YamlError, scanner_error};

/// go-yaml's error for what granit reported as `info` at its 1-based `line`, where the two
/// say the same thing in other words.
pub(super) fn go_words(text: &str, info: &str, line: usize) -> Option<YamlError> {
    // A parser error at the token granit names.
    let at_token = |msg: &str| parser_error(line.saturating_sub(1), msg);
    // go-yaml's reader refuses these before it scans, and names no line.
    if info.starts_with("unexpected character") && text.chars().any(|c| !go_yaml_allows(c)) {
        return Some(YamlError::decoding("control characters are not allowed"));
    }
    Some(match info {
        "simple key expected ':'" => stale_key(text, line),
        "mapping values are not allowed in this context"
        | "mapping keys are not allowed in this context" => scanner_error(line, info),
        "unclosed bracket '['" => parser_error(end_line(text), "did not find expected ',' or ']'"),
        "unclosed bracket '{'" => parser_error(end_line(text), "did not find expected ',' or '}'"),
        "unclosed quote" => {
            // At the end of the stream, or, on the first line, the quote's own line.
            let end = text.matches('\n').count();
            if end > 0 {
                YamlError::at(end + 1, "found unexpected end of stream")
            } else {
                scanner_error(line, "found unexpected end of stream")
            }
        }
        "while parsing node, found unknown anchor" => YamlError::decoding(format!(
            "unknown anchor '{}' referenced",
            unknown_alias(text)?
        )),
        "while parsing a block collection, did not find expected '-' indicator" => {
            at_token("did not find expected '-' indicator")
        }
        "while parsing a block mapping, did not find expected key" => {
            at_token("did not find expected key")
        }
        "while scanning an anchor or alias, did not find expected alphabetic or numeric character" => {
            scanner_error(
                line,
                "did not find expected alphabetic or numeric character",
            )
        }
        // A tab that starts a line the plain scalar would continue on.
        "while scanning a plain scalar, found a tab" => {
            let tab = text
                .split('\n')
                .enumerate()
                .skip(line)
                .find(|(_, l)| l.trim_start_matches(' ').starts_with('\t'))?
                .0;
            scanner_error(tab + 1, "found a tab character that violates indentation")
        }
        "while scanning a verbatim tag, did not find the expected '>'" => {
            scanner_error(line, "did not find the expected '>'")
        }
        _ => return None,
    })
}

/// The characters go-yaml's reader takes: tab, line feed, carriage return, printable ASCII,
/// NEL, and the rest of Unicode but the C1 controls, surrogates, U+FFFE and U+FFFF.
fn go_yaml_allows(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

/// A parser error at a token on the 0-based line `line`: go-yaml prints that number as it is.
fn parser_error(line: usize, msg: &str) -> YamlError {
    if line == 0 {
        YamlError::decoding(msg)
    } else {
        YamlError::at(line, msg)
    }
}

/// The 0-based line of the stream's end, which libyaml moves to a new line when the text does
/// not end with one.
fn end_line(text: &str) -> usize {
    let breaks = text.matches('\n').count();
    if text.is_empty() || text.ends_with('\n') {
        breaks
    } else {
        breaks + 1
    }
}

/// libyaml's "could not find expected ':'" for a key on the 1-based `line` with no `:` after
/// it: noticed where the plain scalar's scan ended (at a line indented no deeper than the key,
/// a comment, another `:`, or the stream's end), a scanner error on that line.
fn stale_key(text: &str, line: usize) -> YamlError {
    const MSG: &str = "could not find expected ':'";
    let lines: Vec<&str> = text.split('\n').collect();
    let key = line.saturating_sub(1);
    let column = lines
        .get(key)
        .map_or(0, |l| l.len() - l.trim_start_matches(' ').len());
    for (i, l) in lines.iter().enumerate().skip(key + 1) {
        let rest = l.trim_start_matches(' ');
        let last = i + 1 == lines.len();
        if rest.is_empty() && !last {
            continue;
        }
        if rest.is_empty() {
            break;
        }
        let indent = l.len() - rest.len();
        if rest.starts_with('#') || indent <= column || rest.contains(": ") || rest.ends_with(':') {
            return scanner_error(i + 1, MSG);
        }
    }
    scanner_error(end_line(text) + 1, MSG)
}

/// The first alias (`*name`) whose anchor (`&name`) does not come before it.
fn unknown_alias(text: &str) -> Option<&str> {
    let name_end = |s: &str| {
        s.find(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '{' | '}'))
            .unwrap_or(s.len())
    };
    let mut at = 0;
    while let Some(i) = text[at..].find('*') {
        let start = at + i + 1;
        let name = &text[start..start + name_end(&text[start..])];
        if !name.is_empty() && !text[..start].contains(&format!("&{name}")) {
            return Some(name);
        }
        at = start;
    }
    None
}
