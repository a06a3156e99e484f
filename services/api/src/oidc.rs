//! OIDC bearer tokens: discovery, the issuer's JWKS (cached; an unknown `kid` refetches, at most
//! once per cool-down), and the checks of `iss`, `aud`, `exp`, `nbf` and `alg`.

use crate::auth::Actor;
use crate::config::Oidc;

/// Checks tokens of one issuer.
#[derive(Debug)]
pub struct Verifier {
    config: Oidc,
    #[allow(dead_code)]
    http: reqwest::Client,
}

impl Verifier {
    /// A verifier of `config`'s issuer.
    pub fn new(config: Oidc, http: reqwest::Client) -> Verifier {
        Verifier { config, http }
    }

    /// The caller a valid token names, or why the token was refused.
    pub async fn verify(&self, _token: &str) -> Result<Actor, String> {
        Err(format!(
            "tokens of {} are not checked yet",
            self.config.issuer
        ))
    }
}
