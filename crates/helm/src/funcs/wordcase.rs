//! Sprig's `snakecase` and `kebabcase`: huandu/xstrings v1.5's word splitter (runs of capitals,
//! letters, digits, punctuation and connectors) and its rules for where a connector goes.

use std::sync::OnceLock;

use regex::Regex;

/// What xstrings calls a word's type; the splitting rules depend on the neighbours' types.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Word {
    Invalid,
    Number,
    Upper,
    Alphabet,
    Connector,
    Punct,
    Other,
}

/// Go's Unicode classes, which Rust's `char` methods only approximate (`is_uppercase` holds
/// for circled letters, which Go's category Lu does not).
struct Classes {
    upper: Regex,
    punct: Regex,
    letter: Regex,
}

fn classes() -> &'static Classes {
    static C: OnceLock<Classes> = OnceLock::new();
    C.get_or_init(|| Classes {
        upper: Regex::new(r"^\p{Lu}$").expect("a valid class"),
        punct: Regex::new(r"^\p{P}$").expect("a valid class"),
        letter: Regex::new(r"^\p{L}$").expect("a valid class"),
    })
}

fn one(re: &Regex, c: char) -> bool {
    let mut b = [0u8; 4];
    re.is_match(c.encode_utf8(&mut b))
}

/// Go's `unicode.IsUpper`.
fn is_upper(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_uppercase()
    } else {
        one(&classes().upper, c)
    }
}

/// Go's `unicode.IsPunct` (category P: `$`, `+`, `<` and the like are symbols, not punctuation).
fn is_punct(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_punctuation() && !"$+<=>^`|~".contains(c)
    } else {
        one(&classes().punct, c)
    }
}

/// xstrings' `isAlphabet`: a letter that is not a CJK ideograph.
fn is_alphabet(c: char) -> bool {
    let letter = if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        one(&classes().letter, c)
    };
    letter
        && !matches!(c, '\u{4E00}'..='\u{9FCC}' | '\u{3400}'..='\u{4D85}' | '\u{20000}'..='\u{2B81D}')
}

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || c.is_whitespace()
}

/// The next rune that is not U+FFFD (Go's `utf8.RuneError`, which xstrings skips) and the bytes
/// up to its end; `prev` when only U+FFFD remain.
fn next_valid_rune(s: &str, prev: char) -> (char, usize) {
    let mut size = 0;
    for c in s.chars() {
        size += c.len_utf8();
        if c != char::REPLACEMENT_CHARACTER {
            return (c, size);
        }
    }
    (prev, size)
}

/// Extends the word at `s[..*offset]` while `keep` holds for the next valid rune.
fn extend(s: &str, offset: &mut usize, r: &mut char, keep: impl Fn(char) -> bool) {
    while *offset < s.len() {
        let (c, size) = next_valid_rune(&s[*offset..], *r);
        *r = c;
        if !keep(c) {
            break;
        }
        *offset += size;
    }
}

/// xstrings' `nextWord`: the type of the word `s` starts with, the word and the rest.
fn next_word(s: &str) -> (Word, &str, &str) {
    if s.is_empty() {
        return (Word::Invalid, "", "");
    }
    let (mut r, size) = next_valid_rune(s, char::REPLACEMENT_CHARACTER);
    let mut offset = size;
    let wt = if r == char::REPLACEMENT_CHARACTER {
        Word::Invalid
    } else if is_connector(r) {
        extend(s, &mut offset, &mut r, is_connector);
        Word::Connector
    } else if is_punct(r) {
        extend(s, &mut offset, &mut r, is_punct);
        Word::Punct
    } else if is_upper(r) {
        if offset < s.len() {
            let (c, size) = next_valid_rune(&s[offset..], r);
            r = c;
            if is_upper(c) {
                // "HTTPStatus" is "HTTP" then "Status": the capital before a lower-case letter
                // starts the next word.
                let mut prev_size = size;
                offset += size;
                while offset < s.len() {
                    let (c, size) = next_valid_rune(&s[offset..], r);
                    r = c;
                    if !is_upper(c) {
                        break;
                    }
                    prev_size = size;
                    offset += size;
                }
                if offset < s.len() && is_alphabet(r) {
                    offset -= prev_size;
                }
            } else if is_alphabet(c) {
                offset += size;
                extend(s, &mut offset, &mut r, |c| is_alphabet(c) && !is_upper(c));
            }
        }
        Word::Upper
    } else if is_alphabet(r) {
        extend(s, &mut offset, &mut r, |c| is_alphabet(c) && !is_upper(c));
        Word::Alphabet
    } else if r.is_numeric() {
        extend(s, &mut offset, &mut r, char::is_numeric);
        Word::Number
    } else {
        extend(s, &mut offset, &mut r, |c| {
            !(is_connector(c) || is_alphabet(c) || c.is_numeric() || is_punct(c))
        });
        Word::Other
    };
    (wt, &s[..offset], &s[offset..])
}

/// xstrings' `toLower`: capitals lowered and connectors replaced, in capital and connector
/// words only.
fn push_lower(buf: &mut String, wt: Word, word: &str, connector: char) {
    if wt != Word::Upper && wt != Word::Connector {
        buf.push_str(word);
        return;
    }
    for c in word.chars() {
        if is_connector(c) {
            buf.push(connector);
        } else if is_upper(c) {
            buf.push(super::strings::lower1(c));
        } else {
            buf.push(c);
        }
    }
}

/// xstrings' `camelCaseToLowerCase`: `ToSnakeCase` with `_`, `ToKebabCase` with `-`.
pub(crate) fn camel_to_lower(s: &str, connector: char) -> String {
    let mut buf = String::with_capacity(s.len() + 4);
    if s.is_empty() {
        return buf;
    }
    let (mut wt, mut word, mut rest) = next_word(s);
    while !rest.is_empty() {
        if wt != Word::Connector {
            push_lower(&mut buf, wt, word, connector);
        }
        let (prev, last) = (wt, word);
        (wt, word, rest) = next_word(rest);
        match prev {
            Word::Number => {
                while wt == Word::Alphabet || wt == Word::Number {
                    push_lower(&mut buf, wt, word, connector);
                    (wt, word, rest) = next_word(rest);
                }
                if !matches!(wt, Word::Invalid | Word::Punct | Word::Connector) {
                    buf.push(connector);
                }
            }
            Word::Connector => push_lower(&mut buf, prev, last, connector),
            Word::Punct => {}
            _ if wt != Word::Number => {
                if !matches!(wt, Word::Connector | Word::Punct) {
                    buf.push(connector);
                }
            }
            _ if rest.is_empty() => {}
            _ => {
                // A number belongs to the word before it ("Bld4Floor" is "bld4_floor") unless
                // lower-case letters follow it ("HTTP2xx" is "http_2xx").
                let number = word;
                (wt, word, rest) = next_word(rest);
                if wt != Word::Alphabet {
                    push_lower(&mut buf, Word::Number, number, connector);
                    if !matches!(wt, Word::Connector | Word::Punct) {
                        buf.push(connector);
                    }
                } else {
                    buf.push(connector);
                    push_lower(&mut buf, Word::Number, number, connector);
                    while wt == Word::Alphabet || wt == Word::Number {
                        push_lower(&mut buf, wt, word, connector);
                        (wt, word, rest) = next_word(rest);
                    }
                    if !matches!(wt, Word::Invalid | Word::Connector | Word::Punct) {
                        buf.push(connector);
                    }
                }
            }
        }
    }
    push_lower(&mut buf, wt, word, connector);
    buf
}

#[cfg(test)]
mod tests {
    use super::camel_to_lower;

    #[test]
    fn xstrings_samples() {
        for (input, snake) in [
            ("FirstName", "first_name"),
            ("HTTPServer", "http_server"),
            ("NoHTTPS", "no_https"),
            ("GO_PATH", "go_path"),
            ("GO PATH", "go_path"),
            ("GO-PATH", "go_path"),
            ("http2xx", "http_2xx"),
            ("HTTP20xOK", "http_20x_ok"),
            ("Duration2m3s", "duration_2m3s"),
            ("Bld4Floor3rd", "bld4_floor_3rd"),
            ("maxConnections", "max_connections"),
        ] {
            assert_eq!(camel_to_lower(input, '_'), snake, "{input}");
            assert_eq!(
                camel_to_lower(input, '-'),
                snake.replace('_', "-"),
                "{input}"
            );
        }
    }
}
