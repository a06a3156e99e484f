//! SSH commit signatures (SSHSIG, `gpg.format ssh`) and git's `gpg.ssh.allowedSignersFile`, read
//! as OpenSSH's `ssh-keygen -Y verify` reads it (sshsig.c, match.c): each line is
//! `principals [options] keytype base64 [comment]`; principals are a comma list of patterns
//! (`*`, `?`, `!negation`) matched against the committer's email; options are `namespaces="..."`
//! (a pattern list that must allow `git`), `valid-after="..."` and `valid-before="..."`
//! (`YYYYMMDD[HHMM[SS]][Z]`, checked at the commit time, bounds included) and `cert-authority`.
//!
//! Differences from OpenSSH, on purpose: a malformed line is an error when the file is loaded
//! (OpenSSH skips it, so a typo silently distrusts a key); `cert-authority` is refused when the
//! file is loaded (SSH certificates are not supported: list the signing keys themselves); times
//! without `Z` are read as UTC (OpenSSH uses the local zone; a controller's zone is UTC anyway).

use ssh_key::{HashAlg, PublicKey, SshSig};

use crate::{Format, Reason, Verdict};

/// The namespace git signs commits in.
pub const GIT_NAMESPACE: &str = "git";

/// One `allowed_signers` line.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The principals pattern list, as written.
    pub principals: String,
    /// `namespaces="..."`: a pattern list, `None` for any.
    pub namespaces: Option<String>,
    /// `valid-after`, seconds since the epoch.
    pub valid_after: Option<i64>,
    /// `valid-before`, seconds since the epoch.
    pub valid_before: Option<i64>,
    /// The key.
    pub key: PublicKey,
    /// The one-based line number.
    pub line: usize,
}

/// A parsed `allowed_signers` file.
#[derive(Debug, Default, Clone)]
pub struct AllowedSigners {
    /// The lines, in file order.
    pub entries: Vec<Entry>,
}

/// What looking a key and an email up found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A line allows the key for this principal, in the `git` namespace, at this time.
    Allowed {
        /// The line.
        line: usize,
    },
    /// A line names the key and principal, but not at this time.
    OutOfValidity {
        /// The line.
        line: usize,
    },
    /// No line allows the key for this principal and namespace.
    NotAllowed,
}

impl AllowedSigners {
    /// Parses the file's text. On error: the one-based line number and what is wrong.
    pub fn parse(text: &str) -> Result<AllowedSigners, (usize, String)> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let s = raw.trim_start_matches([' ', '\t']).trim_end_matches('\r');
            if s.is_empty() || s.starts_with('#') {
                continue;
            }
            entries.push(parse_line(s, line).map_err(|m| (line, m))?);
        }
        Ok(AllowedSigners { entries })
    }

    /// Whether the file has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Looks `key` up for `principal` in `namespace` at `time`, as `ssh-keygen -Y verify -I
    /// principal -n namespace -Overify-time=time` does.
    pub fn lookup(&self, key: &PublicKey, principal: &str, namespace: &str, time: i64) -> Lookup {
        let mut out_of_validity = None;
        for e in &self.entries {
            if match_pattern_list(principal, &e.principals) != 1 {
                continue;
            }
            if let Some(ns) = &e.namespaces
                && match_pattern_list(namespace, ns) != 1
            {
                continue;
            }
            if e.key.key_data() != key.key_data() {
                continue;
            }
            let after = e.valid_after.is_none_or(|a| time >= a);
            let before = e.valid_before.is_none_or(|b| time <= b);
            if after && before {
                return Lookup::Allowed { line: e.line };
            }
            out_of_validity.get_or_insert(e.line);
        }
        match out_of_validity {
            Some(line) => Lookup::OutOfValidity { line },
            None => Lookup::NotAllowed,
        }
    }

    /// Checks an armored SSHSIG over `data` for a commit by `email` at `time`.
    pub fn verify(&self, armored: &str, data: &[u8], email: &str, time: i64) -> Verdict {
        let fmt = Some(Format::Ssh);
        let sig = match SshSig::from_pem(armored.trim()) {
            Ok(s) => s,
            Err(e) => {
                return Verdict::untrusted(
                    fmt,
                    None,
                    Reason::BadSignature,
                    format!("the SSH signature does not parse: {e}"),
                );
            }
        };
        let key = PublicKey::from(sig.public_key().clone());
        let signer = Some(key.fingerprint(HashAlg::Sha256).to_string());
        if sig.namespace() != GIT_NAMESPACE {
            return Verdict::untrusted(
                fmt,
                signer,
                Reason::BadSignature,
                format!(
                    "the SSH signature is for namespace {:?}, not {GIT_NAMESPACE:?}",
                    sig.namespace()
                ),
            );
        }
        if let Err(e) = key.verify(GIT_NAMESPACE, data, &sig) {
            return Verdict::untrusted(
                fmt,
                signer,
                Reason::BadSignature,
                format!("the SSH signature does not match the commit: {e}"),
            );
        }
        let fp = signer.clone().unwrap_or_default();
        match self.lookup(&key, email, GIT_NAMESPACE, time) {
            Lookup::Allowed { line } => Verdict {
                format: fmt,
                signer: Some(email.to_owned()),
                fingerprint: signer,
                reason: None,
                detail: format!(
                    "good SSH signature by {fp} for {email} (allowed_signers line {line})"
                ),
            },
            Lookup::OutOfValidity { line } => Verdict::untrusted(
                fmt,
                signer,
                Reason::ExpiredKey,
                format!(
                    "SSH key {fp} is not valid for {email} at the commit time (allowed_signers line {line})"
                ),
            ),
            Lookup::NotAllowed => Verdict::untrusted(
                fmt,
                signer,
                Reason::UnknownKey,
                format!(
                    "SSH key {fp} is not an allowed signer for {email} in the {GIT_NAMESPACE:?} namespace"
                ),
            ),
        }
    }
}

/// Key types a line may start its key with (OpenSSH's names; certificates are refused).
fn is_key_type(word: &str) -> bool {
    matches!(
        word,
        "ssh-ed25519"
            | "ssh-rsa"
            | "ssh-dss"
            | "ecdsa-sha2-nistp256"
            | "ecdsa-sha2-nistp384"
            | "ecdsa-sha2-nistp521"
            | "sk-ssh-ed25519@openssh.com"
            | "sk-ecdsa-sha2-nistp256@openssh.com"
    ) || word.ends_with("-cert-v01@openssh.com")
}

fn parse_line(s: &str, line: usize) -> Result<Entry, String> {
    let (principals, rest) = next_token(s)?;
    if principals.is_empty() {
        return Err("no principals".into());
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    let first = rest.split([' ', '\t']).next().unwrap_or_default();
    let (options, key_text) = if is_key_type(first) {
        (None, rest)
    } else {
        let end = options_end(rest)?;
        (
            Some(&rest[..end]),
            rest[end..].trim_start_matches([' ', '\t']),
        )
    };
    if key_text.is_empty() {
        return Err("missing key".into());
    }
    let mut entry = Entry {
        principals,
        namespaces: None,
        valid_after: None,
        valid_before: None,
        key: parse_key(key_text)?,
        line,
    };
    if let Some(opts) = options {
        for opt in split_options(opts)? {
            let (name, value) = match opt.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (opt.as_str(), None),
            };
            match (name.to_ascii_lowercase().as_str(), value) {
                ("cert-authority", None) => {
                    return Err("cert-authority (SSH certificates) is not supported; list each signing key itself".into());
                }
                ("namespaces", Some(v)) => entry.namespaces = Some(dequote(v)?),
                ("valid-after", Some(v)) => entry.valid_after = Some(parse_time(&dequote(v)?)?),
                ("valid-before", Some(v)) => entry.valid_before = Some(parse_time(&dequote(v)?)?),
                _ => return Err(format!("unsupported option {opt:?}")),
            }
        }
    }
    Ok(entry)
}

fn parse_key(text: &str) -> Result<PublicKey, String> {
    let mut words = text.split([' ', '\t']).filter(|w| !w.is_empty());
    let kind = words.next().unwrap_or_default();
    if kind.ends_with("-cert-v01@openssh.com") {
        return Err("SSH certificates are not supported; list each signing key itself".into());
    }
    if !is_key_type(kind) {
        return Err(format!("{kind:?} is not an SSH key type"));
    }
    let b64 = words.next().ok_or("missing key data")?;
    PublicKey::from_openssh(&format!("{kind} {b64}")).map_err(|e| format!("invalid key: {e}"))
}

/// The first field: a quoted string (quotes removed) or up to the first blank.
fn next_token(s: &str) -> Result<(String, &str), String> {
    if let Some(q) = s.strip_prefix('"') {
        let end = q.find('"').ok_or("unterminated quote in principals")?;
        return Ok((q[..end].to_owned(), &q[end + 1..]));
    }
    let end = s.find([' ', '\t']).unwrap_or(s.len());
    Ok((s[..end].to_owned(), &s[end..]))
}

/// Where the options field ends: the first blank outside quotes (OpenSSH's
/// `sshkey_advance_past_options`).
fn options_end(s: &str) -> Result<usize, String> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => return Ok(i),
            _ => {}
        }
    }
    if quoted {
        return Err("unterminated quote in options".into());
    }
    Err("missing key".into())
}

/// Splits `a="x,y",b` on commas outside quotes.
fn split_options(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    if out.iter().any(String::is_empty) {
        return Err("empty option".into());
    }
    Ok(out)
}

/// OpenSSH requires option values in double quotes.
fn dequote(v: &str) -> Result<String, String> {
    let inner = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .ok_or_else(|| format!("option value {v:?} must be in double quotes"))?;
    Ok(inner.replace("\\\"", "\""))
}

/// `YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, optionally ending in `Z`.
fn parse_time(s: &str) -> Result<i64, String> {
    let digits = s.strip_suffix('Z').unwrap_or(s);
    let bad = || format!("{s:?} is not a time (YYYYMMDD[HHMM[SS]][Z])");
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n = |a: usize, b: usize| digits.get(a..b).map_or(Ok(0), |x| x.parse::<i64>());
    let (y, mo, d) = (n(0, 4), n(4, 6), n(6, 8));
    let (h, mi, sec) = (n(8, 10), n(10, 12), n(12, 14));
    let (Ok(y), Ok(mo), Ok(d), Ok(h), Ok(mi), Ok(sec)) = (y, mo, d, h, mi, sec) else {
        return Err(bad());
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    Ok(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// OpenSSH's `match_pattern_list`: 1 when a pattern matches and no negated one does, -1 when a
/// negated one matches, 0 otherwise.
pub fn match_pattern_list(s: &str, list: &str) -> i32 {
    let mut positive = 0;
    for pat in list.split(',') {
        let (negated, pat) = match pat.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pat),
        };
        if match_pattern(s.as_bytes(), pat.as_bytes()) {
            if negated {
                return -1;
            }
            positive = 1;
        }
    }
    positive
}

/// `*` matches any run, `?` any one byte.
/// One glob pattern: `*` matches any run, `?` any one byte.
pub fn glob(s: &str, pattern: &str) -> bool {
    match_pattern(s.as_bytes(), pattern.as_bytes())
}

fn match_pattern(s: &[u8], p: &[u8]) -> bool {
    let (mut si, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            si += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOkVYHZT1MMGdyRmlxUhLN6ANCO9H0KIJy+y9P3dmsH1";

    #[test]
    fn patterns_behave_as_openssh_match_c() {
        assert_eq!(match_pattern_list("a@example.com", "*@example.com"), 1);
        assert_eq!(match_pattern_list("a@example.com", "b@x,a@example.com"), 1);
        assert_eq!(match_pattern_list("a@example.com", "*,!a@*"), -1);
        assert_eq!(match_pattern_list("a@example.com", "?@example.com"), 1);
        assert_eq!(match_pattern_list("ab@example.com", "?@example.com"), 0);
        assert_eq!(match_pattern_list("git", "file,git"), 1);
    }

    #[test]
    fn lines_parse_with_options_and_quotes() {
        let text = format!(
            "# comment\n\n\"a@x.com,b@x.com\" {KEY} me\n*@x.com namespaces=\"git,file\",valid-after=\"20200101\",VALID-BEFORE=\"20300101120000Z\" {KEY}\n"
        );
        let a = AllowedSigners::parse(&text).expect("parses");
        assert_eq!(a.entries.len(), 2);
        assert_eq!(a.entries[0].principals, "a@x.com,b@x.com");
        assert_eq!(a.entries[0].line, 3);
        assert_eq!(a.entries[1].namespaces.as_deref(), Some("git,file"));
        assert_eq!(a.entries[1].valid_after, Some(1_577_836_800));
        assert_eq!(a.entries[1].valid_before, Some(1_893_499_200));
    }

    #[test]
    fn bad_lines_name_their_number() {
        for (text, want) in [
            (format!("a@x cert-authority {KEY}"), "cert-authority"),
            (format!("a@x namespaces=git {KEY}"), "double quotes"),
            (format!("a@x nope=\"1\" {KEY}"), "unsupported option"),
            ("a@x ssh-ed25519 AAAA".to_owned(), "invalid key"),
            ("a@x".to_owned(), "missing key"),
            (format!("a@x valid-after=\"2020\" {KEY}"), "not a time"),
        ] {
            let (line, msg) = AllowedSigners::parse(&format!("# c\n{text}\n")).expect_err(&text);
            assert_eq!(line, 2, "{text}");
            assert!(msg.contains(want), "{text}: {msg}");
        }
    }
}
