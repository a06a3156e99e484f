//! Who is calling: the `Authorization: Bearer` token checked as a static token, then as an OIDC
//! token, giving an [`Actor`] whose names RBAC rules match.

use gantry_proto::v1;

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// An OIDC ID or access token.
    Oidc,
    /// A token from the tokens file.
    StaticToken,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The token's `sub`, or the static token's name.
    pub subject: String,
    /// The `email` claim (empty for static tokens).
    pub email: String,
    /// Groups.
    pub groups: Vec<String>,
    /// How it authenticated.
    pub method: Method,
}

impl Actor {
    /// The names rules may use for this caller: `token:NAME` for a static token; `user:EMAIL`
    /// and `user:SUB` for an OIDC token; `group:G` for each group of either.
    pub fn rbac_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.method {
            Method::StaticToken => out.push(format!("token:{}", self.subject)),
            Method::Oidc => {
                if !self.email.is_empty() {
                    out.push(format!("user:{}", self.email));
                }
                out.push(format!("user:{}", self.subject));
            }
        }
        out.extend(self.groups.iter().map(|g| format!("group:{g}")));
        out
    }

    /// The actor as audit records and events carry it.
    pub fn to_proto(&self) -> v1::Actor {
        v1::Actor {
            subject: self.subject.clone(),
            email: self.email.clone(),
            groups: self.groups.clone(),
            method: match self.method {
                Method::Oidc => v1::AuthMethod::Oidc,
                Method::StaticToken => v1::AuthMethod::StaticToken,
            } as i32,
        }
    }

    /// How it appears in commit messages and logs.
    pub fn display(&self) -> String {
        match self.method {
            Method::StaticToken => format!("token:{}", self.subject),
            Method::Oidc if !self.email.is_empty() => self.email.clone(),
            Method::Oidc => self.subject.clone(),
        }
    }
}

/// The bearer token of an `Authorization` header value; `None` when it is absent or not Bearer.
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let h = header?.trim();
    let (scheme, token) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
    }
}
