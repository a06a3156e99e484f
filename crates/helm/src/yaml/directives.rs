//! go-yaml v2's reading of the `%YAML` and `%TAG` lines before a document, which YAML 1.2 (and
//! granit) reads otherwise: go-yaml refuses a version other than 1.1 and any other directive
//! name, where granit takes `%YAML 1.2` and ignores `%FOO`.
//!
//! Only the lines before the first document are looked at: there a `%` line is a directive to
//! both parsers and nothing can be open. go-yaml's `Unmarshal` (Helm's `fromYaml`, values files)
//! reads the first document only, so the directives of any later one never matter to it.
//! `%TAG` lines are left to granit, which reads them as go-yaml does.

use super::{YamlError, scanner_error};

/// go-yaml's error for the directives before a document of `text`, if any; `None` leaves the
/// text to the parsers.
pub(super) fn check(text: &str) -> Option<YamlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Most texts return at their first line that is not a comment.
    let mut version_seen = false;
    let mut directives = false;
    for (i, line) in text.lines().enumerate() {
        let content = line.trim_start_matches([' ', '\t']);
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix('%') else {
            let starts_document =
                line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
            // The first document's first line: directives must be followed by its `---`.
            return (directives && !starts_document)
                .then(|| parser_error(i, "did not find expected <document start>"));
        };
        directives = true;
        match directive(rest) {
            Ok(Directive::Version(major, minor)) => {
                if version_seen {
                    return Some(parser_error(i, "found duplicate %YAML directive"));
                }
                if (major, minor) != (1, 1) {
                    return Some(parser_error(i, "found incompatible YAML document"));
                }
                version_seen = true;
            }
            Ok(Directive::Tag) => {}
            // Scanner errors name the line counted from 1, and none on the first.
            Err(msg) => return Some(scanner_error(i + 1, msg)),
        }
    }
    // Directives and nothing after them: go-yaml's stream end is on the line after the last
    // (a last line without a break ends with one).
    directives.then(|| {
        let line = text.matches('\n').count() + usize::from(!text.ends_with('\n'));
        parser_error(line, "did not find expected <document start>")
    })
}

/// go-yaml's scanner error for `line` when it is a directive go-yaml refuses (an unknown
/// name, a malformed `%YAML`); `None` for any other line.
pub(super) fn refused(line: &str) -> Option<&'static str> {
    directive(line.strip_prefix('%')?).err()
}

enum Directive {
    Version(u32, u32),
    Tag,
}

/// Scans a directive line after its `%` as go-yaml's scanner does; its error message otherwise.
fn directive(rest: &str) -> Result<Directive, &'static str> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let name_end = rest.find(|c| !is_name(c)).unwrap_or(rest.len());
    let (name, after) = rest.split_at(name_end);
    if name.is_empty() {
        return Err("could not find expected directive name");
    }
    if !(after.is_empty() || after.starts_with([' ', '\t', '\r'])) {
        return Err("found unexpected non-alphabetical character");
    }
    match name {
        "YAML" => {
            let value = after.trim_start_matches([' ', '\t']);
            let (major, value) = number(value)?;
            let Some(value) = value.strip_prefix('.') else {
                return Err("did not find expected digit or '.' character");
            };
            let (minor, value) = number(value)?;
            let value = value.trim_start_matches([' ', '\t']);
            if !(value.is_empty() || value.starts_with(['#', '\r'])) {
                return Err("did not find expected comment or line break");
            }
            Ok(Directive::Version(major, minor))
        }
        "TAG" => Ok(Directive::Tag),
        _ => Err("found unknown directive name"),
    }
}

/// A version number: at most nine digits, as go-yaml reads one.
fn number(s: &str) -> Result<(u32, &str), &'static str> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end > 9 {
        return Err("found extremely long version number");
    }
    if end == 0 {
        return Err("did not find expected version number");
    }
    let n = s[..end]
        .parse()
        .map_err(|_| "did not find expected version number")?;
    Ok((n, &s[end..]))
}

/// A go-yaml parser error at the line `line` counted from 0: it names that number, as go-yaml
/// does for a parser's error (its scanner's count from 1), and no line when it is 0.
fn parser_error(line: usize, msg: &str) -> YamlError {
    if line == 0 {
        YamlError {
            msg: format!("yaml: {msg}"),
        }
    } else {
        YamlError::at(line, msg)
    }
}
