//! Go's `path/filepath.Match` (on `/`-separated paths), which `.helmignore` rules use: `*`
//! and `?` never match `/`, `[...]` classes with `^` negation and ranges, `\` escapes.

/// Whether `name` matches the whole `pattern` (a malformed pattern never matches).
pub fn matches(pattern: &str, name: &str) -> bool {
    m(pattern, name).unwrap_or(false)
}

/// Checks that `pattern` is well formed (`filepath.ErrBadPattern` otherwise).
pub fn validate(pattern: &str) -> Result<(), ()> {
    let mut p = pattern;
    while let Some(c) = p.chars().next() {
        match c {
            '\\' => {
                let mut rest = p[1..].chars();
                if rest.next().is_none() {
                    return Err(());
                }
                p = rest.as_str();
            }
            '[' => {
                let (_, next) = class(p, None).ok_or(())?;
                p = next;
            }
            _ => p = &p[c.len_utf8()..],
        }
    }
    Ok(())
}

/// Splits the first character off `s`.
fn first(s: &str) -> Option<(char, &str)> {
    let mut it = s.chars();
    it.next().map(|c| (c, it.as_str()))
}

/// Matches a class at the start of `p` (`[...]`) against `c` (or only parses it when `c` is
/// None). Returns whether it matched and the pattern after `]`.
fn class(p: &str, c: Option<char>) -> Option<(bool, &str)> {
    let mut rest = &p[1..];
    let negated = rest.starts_with('^');
    if negated {
        rest = &rest[1..];
    }
    let mut matched = false;
    let mut n = 0;
    loop {
        if rest.is_empty() {
            return None;
        }
        if n > 0
            && let Some(after) = rest.strip_prefix(']')
        {
            rest = after;
            break;
        }
        let lo = esc_char(&mut rest)?;
        let mut hi = lo;
        if let Some(after) = rest.strip_prefix('-') {
            rest = after;
            hi = esc_char(&mut rest)?;
        }
        if let Some(c) = c
            && lo <= c
            && c <= hi
        {
            matched = true;
        }
        n += 1;
    }
    Some((matched != negated, rest))
}

fn esc_char(p: &mut &str) -> Option<char> {
    let (mut c, mut rest) = first(p)?;
    if c == '-' || c == ']' {
        return None;
    }
    if c == '\\' {
        (c, rest) = first(rest)?;
    }
    *p = rest;
    Some(c)
}

// On string slices, without a vector of characters per call: `.helmignore` rules are checked
// for every file and every folder above it.
fn m(p: &str, n: &str) -> Option<bool> {
    let Some((pc, prest)) = first(p) else {
        return Some(n.is_empty());
    };
    match pc {
        '*' => {
            // Try every split that does not cross a separator.
            for (k, c) in n.char_indices() {
                if m(prest, &n[k..])? {
                    return Some(true);
                }
                if c == '/' {
                    return Some(false);
                }
            }
            m(prest, "")
        }
        '?' => match first(n) {
            Some((c, nrest)) if c != '/' => m(prest, nrest),
            _ => Some(false),
        },
        '[' => match first(n) {
            Some((c, nrest)) if c != '/' => {
                let (ok, next) = class(p, Some(c))?;
                if !ok {
                    return Some(false);
                }
                m(next, nrest)
            }
            _ => {
                // Still validate the class.
                class(p, None)?;
                Some(false)
            }
        },
        '\\' => {
            let (want, prest) = first(prest)?;
            match first(n) {
                Some((c, nrest)) if c == want => m(prest, nrest),
                _ => Some(false),
            }
        }
        c => match first(n) {
            Some((nc, nrest)) if nc == c => m(prest, nrest),
            _ => Some(false),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_go() {
        assert!(matches("templates/.?*", "templates/.hidden"));
        assert!(!matches("templates/.?*", "templates/x/.hidden"));
        assert!(!matches("templates/.?*", "templates/."));
        assert!(matches("*.tgz", "a.tgz"));
        assert!(!matches("*.tgz", "x/a.tgz"));
        assert!(matches("[a-c]?", "bx"));
        assert!(matches("[^a]", "b"));
        assert!(validate("[").is_err());
        assert!(validate("a\\").is_err());
        // Characters, not bytes: multi-byte names and classes.
        assert!(matches("?", "é"));
        assert!(matches("[à-ü]x", "éx"));
        assert!(!matches("[^é]", "é"));
        assert!(matches("a\\*", "a*"));
        assert!(!matches("a\\*", "ab"));
        assert!(matches("a*/b", "axé/b"));
        assert!(!matches("*", "a/b"));
        assert!(matches("*/", "a/"));
        assert!(!matches("[", "a"));
        assert!(validate("[\\").is_err());
        assert!(validate("[a-]").is_err());
        assert!(validate("[]a]").is_err());
    }
}
