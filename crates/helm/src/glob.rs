//! The glob patterns of `.Files.Glob` (gobwas/glob with `/` as separator): `*` and `?` stop at
//! `/`, `**` crosses it, `[...]`/`[!...]` classes, `{a,b}` alternatives and `\` escapes.

use regex::Regex;

/// A compiled pattern.
#[derive(Debug)]
pub struct Glob(Regex);

impl Glob {
    /// Compiles `pattern`; `None` when it is malformed (Helm then matches everything).
    pub fn compile(pattern: &str) -> Option<Glob> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        let body = translate(&chars, &mut i, false)?;
        if i != chars.len() {
            return None;
        }
        Regex::new(&format!("^(?s:{body})$")).ok().map(Glob)
    }

    /// `**`: every file.
    pub fn all() -> Glob {
        Glob(Regex::new("^(?s:.*)$").unwrap_or_else(|_| unreachable_regex()))
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        self.0.is_match(name)
    }
}

fn unreachable_regex() -> Regex {
    // "" always compiles.
    Regex::new("").unwrap_or_else(|_| panic!("the empty regex compiles"))
}

fn translate(c: &[char], i: &mut usize, in_alt: bool) -> Option<String> {
    let mut out = String::new();
    while *i < c.len() {
        let ch = c[*i];
        match ch {
            '*' => {
                if *i + 1 < c.len() && c[*i + 1] == '*' {
                    out.push_str(".*");
                    *i += 2;
                } else {
                    out.push_str("[^/]*");
                    *i += 1;
                }
            }
            '?' => {
                out.push_str("[^/]");
                *i += 1;
            }
            '\\' => {
                *i += 1;
                let e = *c.get(*i)?;
                out.push_str(&regex::escape(&e.to_string()));
                *i += 1;
            }
            '[' => {
                *i += 1;
                let mut class = String::from("[");
                if *i < c.len() && c[*i] == '!' {
                    class.push('^');
                    *i += 1;
                }
                let start = *i;
                while *i < c.len() && c[*i] != ']' {
                    let x = c[*i];
                    if x == '-' && *i > start && *i + 1 < c.len() && c[*i + 1] != ']' {
                        class.push('-');
                    } else {
                        class.push_str(&regex::escape(&x.to_string()));
                    }
                    *i += 1;
                }
                if *i >= c.len() || *i == start {
                    return None;
                }
                *i += 1;
                class.push(']');
                out.push_str(&class);
            }
            '{' => {
                *i += 1;
                let mut alts = Vec::new();
                loop {
                    alts.push(translate(c, i, true)?);
                    match c.get(*i) {
                        Some(',') => *i += 1,
                        Some('}') => {
                            *i += 1;
                            break;
                        }
                        _ => return None,
                    }
                }
                out.push_str(&format!("(?:{})", alts.join("|")));
            }
            ',' | '}' if in_alt => return Some(out),
            other => {
                out.push_str(&regex::escape(&other.to_string()));
                *i += 1;
            }
        }
    }
    if in_alt {
        return Some(out);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_like_gobwas() {
        let g = Glob::compile("files/*.yaml").unwrap();
        assert!(g.matches("files/a.yaml"));
        assert!(!g.matches("files/sub/a.yaml"));
        let g = Glob::compile("files/**").unwrap();
        assert!(g.matches("files/sub/a.yaml"));
        let g = Glob::compile("{a,b}/*.{json,yaml}").unwrap();
        assert!(g.matches("b/x.json"));
        assert!(!g.matches("c/x.json"));
        assert!(Glob::compile("[").is_none());
    }
}
