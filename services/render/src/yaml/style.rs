//! Which style goyaml.v2's encoder asks for a scalar that went through kustomize's JSON round
//! trip (`stringv`): plain, unless the text would read back as something else under YAML 1.1
//! (`yes`, `0x1F`, `1:20`, dates, ...) or holds line breaks.

use serde_json::Value;

use super::analysis::is_blank;
use super::gofmt::number_text;
use super::parse::yaml_style_float;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
/// A scalar style.
pub(super) enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// A scalar after the JSON round trip: its text and the style the encoder asks for.
pub(super) struct Scalar {
    pub text: String,
    pub style: Style,
}

pub(super) fn scalar_of(v: &Value) -> Scalar {
    match v {
        Value::Null => Scalar {
            text: "null".into(),
            style: Style::Plain,
        },
        Value::Bool(b) => Scalar {
            text: b.to_string(),
            style: Style::Plain,
        },
        Value::Number(n) => Scalar {
            text: number_text(n),
            style: Style::Plain,
        },
        Value::String(s) => string_scalar(s),
        _ => Scalar {
            text: String::new(),
            style: Style::Plain,
        },
    }
}

/// goyaml.v2's `stringv`, after the JSON text went through the YAML parser (which folds a
/// raw NEL, the only line break `encoding/json` leaves unescaped, into a space).
pub(super) fn string_scalar(s: &str) -> Scalar {
    let owned;
    let s = if s.contains('\u{85}') {
        owned = fold_nel(s);
        owned.as_str()
    } else {
        s
    };
    let can_use_plain = !resolves_to_non_string(s) && !is_base60_float(s);
    let style = if s.contains('\n') {
        Style::Literal
    } else if can_use_plain {
        Style::Plain
    } else {
        Style::Double
    };
    Scalar {
        text: s.to_owned(),
        style,
    }
}

fn fold_nel(s: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\u{85}'
            || (is_blank(chars[i])
                && chars[i..].iter().take_while(|c| is_blank(**c)).count() + i < chars.len()
                && chars[i + chars[i..].iter().take_while(|c| is_blank(**c)).count()] == '\u{85}')
        {
            // Trim the blanks before the break run, count the breaks, trim blanks after.
            while i < chars.len() && is_blank(chars[i]) {
                i += 1;
            }
            let mut breaks = 0;
            while i < chars.len() && (chars[i] == '\u{85}' || is_blank(chars[i])) {
                if chars[i] == '\u{85}' {
                    breaks += 1;
                }
                i += 1;
            }
            if breaks == 1 {
                out.push(' ');
            } else {
                for _ in 1..breaks {
                    out.push('\n');
                }
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// goyaml.v2's `resolve("", s)` returning a tag other than `!!str`.
fn resolves_to_non_string(s: &str) -> bool {
    let Some(&first) = s.as_bytes().first() else {
        return true; // "" is null
    };
    let hint = match first {
        b'+' | b'-' => 'S',
        b'0'..=b'9' => 'D',
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => 'M',
        b'.' => '.',
        _ => return false,
    };
    const MAP: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no",
        "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "~", "null", "Null", "NULL",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF",
    ];
    if MAP.contains(&s) {
        return true;
    }
    match hint {
        '.' => go_float_ok(s),
        'D' | 'S' => {
            if is_timestamp(s) {
                return true;
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if go_int_ok(&plain) || yaml_style_float(&plain) {
                return true;
            }
            let body = plain.strip_prefix('-').unwrap_or(&plain);
            if let Some(bits) = body.strip_prefix("0b") {
                return !bits.is_empty() && bits.chars().all(|c| c == '0' || c == '1');
            }
            false
        }
        _ => false,
    }
}

fn go_int_ok(s: &str) -> bool {
    let body = s
        .strip_prefix('-')
        .or_else(|| s.strip_prefix('+'))
        .unwrap_or(s);
    if body.is_empty() {
        return false;
    }
    let (radix, digits) =
        if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, d)
        } else if let Some(d) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, d)
        } else if let Some(d) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, d)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    // Out-of-range integers still resolve to !!int through big.Int.
    !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix))
}

fn go_float_ok(s: &str) -> bool {
    let t = s
        .strip_prefix('+')
        .or_else(|| s.strip_prefix('-'))
        .unwrap_or(s);
    let l = t.to_ascii_lowercase();
    if l == "inf" || l == "infinity" || l == "nan" {
        return true;
    }
    yaml_style_float(t)
        || (t
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+'))
            && t.parse::<f64>().is_ok())
}

/// goyaml.v2's timestamp formats: a `YYYY-` prefix, then a date, optionally a time.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let parts: Vec<&str> = date.split('-').collect();
    if parts.len() != 3
        || parts[1].is_empty()
        || parts[2].is_empty()
        || parts[1].len() > 2
        || parts[2].len() > 2
    {
        return false;
    }
    let (Ok(m), Ok(d)) = (parts[1].parse::<u32>(), parts[2].parse::<u32>()) else {
        return false;
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return false;
    }
    match time {
        None => true,
        Some(t) => {
            let hms: Vec<&str> = t.splitn(3, ':').collect();
            hms.len() == 3
                && hms[0].len() <= 2
                && hms[0].chars().all(|c| c.is_ascii_digit())
                && !hms[0].is_empty()
        }
    }
}

fn is_base60_float(s: &str) -> bool {
    let Some(&c) = s.as_bytes().first() else {
        return false;
    };
    if !(c == b'+' || c == b'-' || c.is_ascii_digit()) || !s.contains(':') {
        return false;
    }
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let b = s.as_bytes();
    let mut i = 0;
    if b[i] == b'-' || b[i] == b'+' {
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
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let g = &s[start..i];
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

#[cfg(test)]
mod tests {
    use super::*;

    fn style(s: &str) -> Style {
        string_scalar(s).style
    }

    #[test]
    fn strings_that_yaml_1_1_would_read_as_something_else_are_quoted() {
        for s in [
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "~",
            "null",
            "",
            "true",
            "0x1F",
            "012",
            "1e3",
            ".5",
            "+1",
            "-1",
            "1:20",
            "2024-01-02",
            "2001-12-14t21:59:43.10-05:00",
            "0b101",
            ".inf",
            "1_000",
        ] {
            assert_eq!(style(s), Style::Double, "{s:?}");
        }
        for s in ["plain", "yesno", "1.2.3", "1:2:x", "0x", "v1", "a: b", "é"] {
            assert_eq!(style(s), Style::Plain, "{s:?}");
        }
        assert_eq!(style("multi\nline\n"), Style::Literal);
    }

    #[test]
    fn other_values_are_plain_and_a_raw_nel_folds_as_yaml_reads_it() {
        assert_eq!(scalar_of(&Value::Null).text, "null");
        assert_eq!(scalar_of(&Value::Bool(false)).text, "false");
        assert_eq!(scalar_of(&serde_json::json!(1.5)).text, "1.5");
        assert_eq!(string_scalar("a\u{85}b").text, "a b");
        assert_eq!(string_scalar("a\u{85}\u{85}b").text, "a\nb");
    }
}
