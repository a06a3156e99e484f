//! Static bearer tokens for machines (an internal developer platform, CI): the tokens file holds
//! `name sha256-hex-of-token group,group` lines, so the file never contains a usable secret. A
//! presented token is hashed and compared with every entry in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// One configured token.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticToken {
    /// The name RBAC rules call it by (`token:<name>`).
    pub name: String,
    hash: [u8; 32],
    /// Groups it belongs to (`group:<g>`).
    pub groups: Vec<String>,
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticToken")
            .field("name", &self.name)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

/// Every configured token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticTokens {
    tokens: Vec<StaticToken>,
}

/// The hex SHA-256 of a token, as the tokens file stores it.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl StaticTokens {
    /// Parses the file: blank lines and `#` comments are skipped; a bad line is an error naming it.
    pub fn parse(text: &str) -> Result<StaticTokens, String> {
        let mut tokens = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(name), Some(hash)) = (parts.next(), parts.next()) else {
                return Err(format!(
                    "line {}: expected `name sha256-hex [groups]`",
                    i + 1
                ));
            };
            let groups: Vec<String> = parts
                .next()
                .map(|g| {
                    g.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if parts.next().is_some() {
                return Err(format!(
                    "line {}: groups are one comma-separated field",
                    i + 1
                ));
            }
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(hash, &mut bytes).map_err(|_| {
                format!(
                    "line {}: the second field must be 64 hex digits (sha256 of the token)",
                    i + 1
                )
            })?;
            if tokens.iter().any(|t: &StaticToken| t.name == name) {
                return Err(format!("line {}: the name {name:?} is used twice", i + 1));
            }
            tokens.push(StaticToken {
                name: name.to_owned(),
                hash: bytes,
                groups,
            });
        }
        Ok(StaticTokens { tokens })
    }

    /// The entry whose hash is the token's. Every entry is compared, matched or not, so the time
    /// taken says nothing about which entry (or how much of a hash) matched.
    pub fn check(&self, presented: &str) -> Option<&StaticToken> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for t in &self.tokens {
            if bool::from(t.hash.ct_eq(&digest)) {
                found = Some(t);
            }
        }
        found
    }

    /// How many tokens are configured.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let text = format!(
            "# machines\nidp {} platform,ci\n\nci {}\n",
            hash_token("s3cret"),
            hash_token("other")
        );
        let t = StaticTokens::parse(&text).unwrap();
        assert_eq!(t.len(), 2);
        let idp = t.check("s3cret").unwrap();
        assert_eq!(idp.name, "idp");
        assert_eq!(idp.groups, ["platform", "ci"]);
        assert_eq!(t.check("other").map(|t| t.name.as_str()), Some("ci"));
        assert!(t.check("s3cret ").is_none());
        assert!(t.check("").is_none());
    }

    #[test]
    fn bad_lines_are_named() {
        assert!(
            StaticTokens::parse("idp notHex\n")
                .unwrap_err()
                .starts_with("line 1")
        );
        assert!(StaticTokens::parse("idp\n").is_err());
        let h = hash_token("x");
        assert!(StaticTokens::parse(&format!("a {h}\na {h}\n")).is_err());
    }
}
