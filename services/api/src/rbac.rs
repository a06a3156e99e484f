//! RBAC rules (contract section 12): who may `get`, `sync` or `rollback` which apps and
//! environments. Deny unless a rule allows. The rules in force are the last that parsed; a file
//! that does not parse leaves them in place and is reported (by `/readyz` and the log).

use std::sync::{Arc, RwLock};

use serde::Deserialize;

use crate::auth::Actor;

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read state.
    Get,
    /// Ask for a reconcile.
    Sync,
    /// Commit an old revision's files.
    Rollback,
}

impl Action {
    /// The name rules use.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Get => "get",
            Action::Sync => "sync",
            Action::Rollback => "rollback",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    rules: Vec<RuleFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    subjects: Vec<String>,
    actions: Vec<String>,
    apps: Vec<String>,
    environments: Vec<String>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    subjects: Vec<String>,
    actions: Vec<String>,
    /// `(repository glob or None, app glob)`.
    apps: Vec<(Option<String>, String)>,
    environments: Vec<String>,
}

/// A parsed rule file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    rules: Vec<Rule>,
}

/// Why a rule file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RulesError(pub String);

impl Rules {
    /// Parses a rule file; unknown keys, unknown actions and malformed subjects are errors.
    pub fn parse(text: &[u8]) -> Result<Rules, RulesError> {
        let text = std::str::from_utf8(text).map_err(|e| RulesError(format!("not UTF-8: {e}")))?;
        let file: File = if text.trim().is_empty() {
            File { rules: Vec::new() }
        } else {
            serde_saphyr::from_str(text)
                .map_err(|e| RulesError(e.to_string().lines().next().unwrap_or("").to_owned()))?
        };
        let mut rules = Vec::new();
        for (i, r) in file.rules.into_iter().enumerate() {
            for a in &r.actions {
                if !matches!(a.as_str(), "get" | "sync" | "rollback" | "*") {
                    return Err(RulesError(format!(
                        "rules[{i}].actions: {a:?} is not get, sync, rollback or *"
                    )));
                }
            }
            for s in &r.subjects {
                let ok = s == "*"
                    || ["group:", "user:", "token:"]
                        .iter()
                        .any(|p| s.strip_prefix(p).is_some_and(|rest| !rest.is_empty()));
                if !ok {
                    return Err(RulesError(format!(
                        "rules[{i}].subjects: {s:?} is not group:NAME, user:NAME, token:NAME or *"
                    )));
                }
            }
            let apps = r
                .apps
                .into_iter()
                .map(|a| match a.rsplit_once(':') {
                    Some((repo, app)) => (Some(repo.to_ascii_lowercase()), app.to_owned()),
                    None => (None, a),
                })
                .collect();
            rules.push(Rule {
                subjects: r.subjects,
                actions: r.actions,
                apps,
                environments: r.environments,
            });
        }
        Ok(Rules { rules })
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether some rule lets `actor` do `action` on `repository`'s `app` in `environment`.
    pub fn allows(
        &self,
        actor: &Actor,
        action: Action,
        repository: &str,
        app: &str,
        environment: &str,
    ) -> bool {
        let names = actor.rbac_names();
        self.rules.iter().any(|r| {
            r.subjects
                .iter()
                .any(|s| s == "*" || names.iter().any(|n| n == s))
                && r.actions.iter().any(|a| a == "*" || a == action.as_str())
                && r.apps.iter().any(|(repo, a)| {
                    repo.as_deref()
                        .is_none_or(|g| glob(g, &repository.to_ascii_lowercase()))
                        && glob(a, app)
                })
                && r.environments.iter().any(|e| glob(e, environment))
        })
    }
}

/// Shell-style glob: `*` any run of characters, `?` one character; everything else literal.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The rules in force and how the last load went.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The rules (empty, so denying everything, until a file parsed).
    pub rules: Arc<Rules>,
    /// Whether any file ever parsed.
    pub loaded: bool,
    /// Where the rules in force came from (`file:PATH`, `owner/name@sha:path`).
    pub origin: String,
    /// The last load's error, when the last attempt failed.
    pub error: Option<String>,
}

/// The rules shared by every request.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    inner: Arc<RwLock<Loaded>>,
}

impl RuleSet {
    /// The current state.
    pub fn current(&self) -> Loaded {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Installs rules read from `origin`, or keeps the last good ones when `text` does not parse.
    pub fn offer(&self, origin: &str, text: &[u8]) {
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        match Rules::parse(text) {
            Ok(rules) => {
                if g.origin != origin || g.error.is_some() || !g.loaded {
                    tracing::info!(origin, rules = rules.len(), "RBAC rules loaded");
                }
                g.rules = Arc::new(rules);
                g.loaded = true;
                g.origin = origin.to_owned();
                g.error = None;
            }
            Err(e) => {
                let message = format!("{origin}: {e}");
                if g.error.as_deref() != Some(message.as_str()) {
                    tracing::error!(origin, error = %e, kept = %g.origin, "the RBAC rule file does not parse; the last good rules stay in force");
                }
                g.error = Some(message);
            }
        }
    }

    /// Records a failure to read the rules at all (the last good rules stay).
    pub fn failed(&self, message: String) {
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if g.error.as_deref() != Some(message.as_str()) {
            tracing::error!(error = %message, "cannot read the RBAC rules; the last good rules stay in force");
        }
        g.error = Some(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Method;

    fn actor(subject: &str, email: &str, groups: &[&str], method: Method) -> Actor {
        Actor {
            subject: subject.to_owned(),
            email: email.to_owned(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            method,
        }
    }

    #[test]
    fn globs() {
        assert!(glob("*", ""));
        assert!(glob("prod*", "prod-eu"));
        assert!(!glob("prod*", "staging"));
        assert!(glob("p?y*s", "payments"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
    }

    #[test]
    fn deny_unless_a_rule_allows() {
        let r = Rules::parse(
            br#"
rules:
  - subjects: ["group:payments-team", "user:alice@example.com", "token:idp"]
    actions: [get, sync]
    apps: ["payments"]
    environments: ["dev", "staging*"]
  - subjects: ["token:idp"]
    actions: ["*"]
    apps: ["acme/platform:*"]
    environments: ["*"]
"#,
        )
        .unwrap();
        let alice = actor("a1", "alice@example.com", &[], Method::Oidc);
        let team = actor("b", "bob@example.com", &["payments-team"], Method::Oidc);
        let idp = actor("idp", "", &[], Method::StaticToken);
        let eve = actor("eve", "eve@example.com", &["other"], Method::Oidc);
        assert!(r.allows(&alice, Action::Sync, "acme/x", "payments", "dev"));
        assert!(r.allows(&team, Action::Get, "acme/x", "payments", "staging-eu"));
        assert!(!r.allows(&team, Action::Rollback, "acme/x", "payments", "dev"));
        assert!(!r.allows(&team, Action::Get, "acme/x", "payments", "prod"));
        assert!(!r.allows(&team, Action::Get, "acme/x", "billing", "dev"));
        assert!(!r.allows(&eve, Action::Get, "acme/x", "payments", "dev"));
        assert!(r.allows(&idp, Action::Rollback, "Acme/Platform", "billing", "prod"));
        assert!(!r.allows(&idp, Action::Rollback, "acme/other", "billing", "prod"));
        // A static token named like an e-mail is still not that user.
        let fake = actor("alice@example.com", "", &[], Method::StaticToken);
        assert!(!r.allows(&fake, Action::Get, "acme/x", "payments", "dev"));
        assert!(!Rules::default().allows(&idp, Action::Get, "a/b", "x", "y"));
    }

    #[test]
    fn bad_files_are_refused_and_the_last_good_rules_stay() {
        assert!(
            Rules::parse(b"rules: [{subjects: [x], actions: [get], apps: [a], environments: [b]}]")
                .is_err()
        );
        assert!(
            Rules::parse(
                b"rules: [{subjects: ['user:a'], actions: [deploy], apps: [a], environments: [b]}]"
            )
            .is_err()
        );
        assert!(Rules::parse(b"rulez: []").is_err());
        let set = RuleSet::default();
        set.offer(
            "f",
            b"rules: [{subjects: ['user:a'], actions: [get], apps: [a], environments: [b]}]",
        );
        set.offer("f", b"rules: [{");
        let c = set.current();
        assert!(c.loaded);
        assert_eq!(c.rules.len(), 1);
        assert!(c.error.is_some());
    }
}
