//! Go's `path/filepath.Match` (on `/`-separated paths), which `.helmignore` rules use: `*`
//! and `?` never match `/`, `[...]` classes with `^` negation and ranges, `\` escapes.

/// Whether `name` matches the whole `pattern` (a malformed pattern never matches).
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    m(&p, &n).unwrap_or(false)
}

/// Checks that `pattern` is well formed (`filepath.ErrBadPattern` otherwise).
pub fn validate(pattern: &str) -> Result<(), ()> {
    let p: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err(());
                }
                i += 2;
            }
            '[' => {
                let (_, next) = class(&p, i, None).ok_or(())?;
                i = next;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Matches a class starting at `p[i] == '['` against `c` (or only parses it when `c` is None).
/// Returns whether it matched and the index after `]`.
fn class(p: &[char], i: usize, c: Option<char>) -> Option<(bool, usize)> {
    let mut j = i + 1;
    let negated = j < p.len() && p[j] == '^';
    if negated {
        j += 1;
    }
    let mut matched = false;
    let mut n = 0;
    loop {
        if j >= p.len() {
            return None;
        }
        if p[j] == ']' && n > 0 {
            j += 1;
            break;
        }
        let lo = esc_char(p, &mut j)?;
        let mut hi = lo;
        if j < p.len() && p[j] == '-' {
            j += 1;
            hi = esc_char(p, &mut j)?;
        }
        if let Some(c) = c
            && lo <= c
            && c <= hi
        {
            matched = true;
        }
        n += 1;
    }
    Some((matched != negated, j))
}

fn esc_char(p: &[char], j: &mut usize) -> Option<char> {
    if *j >= p.len() || p[*j] == '-' || p[*j] == ']' {
        return None;
    }
    if p[*j] == '\\' {
        *j += 1;
        if *j >= p.len() {
            return None;
        }
    }
    let c = p[*j];
    *j += 1;
    Some(c)
}

fn m(p: &[char], n: &[char]) -> Option<bool> {
    if p.is_empty() {
        return Some(n.is_empty());
    }
    match p[0] {
        '*' => {
            // Try every split that does not cross a separator.
            let rest = &p[1..];
            for k in 0..=n.len() {
                if k > 0 && n[k - 1] == '/' {
                    break;
                }
                if m(rest, &n[k..])? {
                    return Some(true);
                }
            }
            Some(false)
        }
        '?' => {
            if n.is_empty() || n[0] == '/' {
                return Some(false);
            }
            m(&p[1..], &n[1..])
        }
        '[' => {
            if n.is_empty() || n[0] == '/' {
                // Still validate the class.
                class(p, 0, None)?;
                return Some(false);
            }
            let (ok, next) = class(p, 0, Some(n[0]))?;
            if !ok {
                return Some(false);
            }
            m(&p[next..], &n[1..])
        }
        '\\' => {
            if p.len() < 2 {
                return None;
            }
            if n.first() != Some(&p[1]) {
                return Some(false);
            }
            m(&p[2..], &n[1..])
        }
        c => {
            if n.first() != Some(&c) {
                return Some(false);
            }
            m(&p[1..], &n[1..])
        }
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
    }
}
