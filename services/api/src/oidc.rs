//! OIDC bearer tokens: discovery, the issuer's JWKS (cached; an unknown `kid` refetches, at most
//! once per cool-down so that a stream of made-up key ids cannot hammer the issuer), and the
//! checks of `iss`, `aud`, `exp`, `nbf` (with a small leeway for clock skew) and `alg`.
//!
//! `alg` must be an asymmetric algorithm and must be the one the key declares (or, for a key
//! that declares none, fit its type and curve). `none` does not parse as an algorithm, HS256 is
//! never on the list (so a token "signed" with the issuer's public key as an HMAC secret fails),
//! and keys are only ever the configured issuer's, found by discovery from its exact URL.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::auth::{Actor, Method};
use crate::config::Oidc;

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;
/// The algorithms a token may use, whatever the key.
pub const ALLOWED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

#[derive(Debug, Default)]
struct Cache {
    jwks_uri: Option<String>,
    keys: Vec<Jwk>,
    fetched: Option<Instant>,
    fetches: u64,
}

/// Checks tokens of one issuer.
#[derive(Debug)]
pub struct Verifier {
    config: Oidc,
    http: reqwest::Client,
    cache: tokio::sync::Mutex<Cache>,
}

#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl Verifier {
    /// A verifier of `config`'s issuer.
    pub fn new(config: Oidc, http: reqwest::Client) -> Verifier {
        crate::jwt_ring::install();
        Verifier {
            config,
            http,
            cache: tokio::sync::Mutex::new(Cache::default()),
        }
    }

    /// How many times the JWKS was fetched (for tests and logs).
    pub async fn jwks_fetches(&self) -> u64 {
        self.cache.lock().await.fetches
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let r = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("GET {url}: {}", r.status()));
        }
        r.json().await.map_err(|e| format!("GET {url}: {e}"))
    }

    /// Fetches discovery (once) and the JWKS into the cache.
    async fn fetch(&self, cache: &mut Cache) -> Result<(), String> {
        cache.fetched = Some(Instant::now());
        cache.fetches += 1;
        let jwks_uri = match &cache.jwks_uri {
            Some(u) => u.clone(),
            None => {
                let url = format!("{}/.well-known/openid-configuration", self.config.issuer);
                let d: Discovery = self.get_json(&url).await?;
                if d.issuer.trim_end_matches('/') != self.config.issuer {
                    return Err(format!(
                        "discovery at {url} names issuer {:?}, not {:?}",
                        d.issuer, self.config.issuer
                    ));
                }
                cache.jwks_uri = Some(d.jwks_uri.clone());
                d.jwks_uri
            }
        };
        let set: serde_json::Value = self.get_json(&jwks_uri).await?;
        // Keys this library cannot use (an encryption key of an unknown type) are skipped
        // rather than making the whole set unusable.
        cache.keys = set["keys"]
            .as_array()
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
                    .collect()
            })
            .unwrap_or_default();
        tracing::info!(issuer = %self.config.issuer, keys = cache.keys.len(), "fetched the issuer's JWKS");
        Ok(())
    }

    /// The key named `kid`, refetching the JWKS when it is unknown and the cool-down allows.
    async fn key(&self, kid: &str) -> Result<Jwk, String> {
        let mut cache = self.cache.lock().await;
        let find = |c: &Cache| {
            c.keys
                .iter()
                .find(|k| k.common.key_id.as_deref() == Some(kid))
                .cloned()
        };
        if let Some(k) = find(&cache) {
            return Ok(k);
        }
        let may_fetch = cache
            .fetched
            .is_none_or(|t| t.elapsed() >= self.config.jwks_min_refetch);
        if !may_fetch {
            return Err(format!(
                "unknown key {kid:?} (the JWKS was fetched recently)"
            ));
        }
        self.fetch(&mut cache).await?;
        find(&cache).ok_or_else(|| format!("the issuer has no key {kid:?}"))
    }

    /// The caller a valid token names, or why the token was refused.
    pub async fn verify(&self, token: &str) -> Result<Actor, String> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| format!("unreadable token header ({e})"))?;
        if !ALLOWED.contains(&header.alg) {
            return Err(format!("algorithm {:?} is not accepted", header.alg));
        }
        let kid = header.kid.clone().ok_or("the token names no key (kid)")?;
        let jwk = self.key(&kid).await?;
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != PublicKeyUse::Signature)
        {
            return Err(format!("key {kid:?} is not a signing key"));
        }
        if !key_allows(&jwk, header.alg) {
            return Err(format!("key {kid:?} is not for {:?}", header.alg));
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("key {kid:?}: {e}"))?;
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[&self.config.issuer]);
        v.set_audience(&[&self.config.audience]);
        v.leeway = LEEWAY_SECS;
        v.validate_exp = true;
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data =
            jsonwebtoken::decode::<serde_json::Value>(token, &key, &v).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidIssuer => "wrong issuer".to_owned(),
                    jsonwebtoken::errors::ErrorKind::InvalidAudience => "wrong audience".to_owned(),
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => "expired".to_owned(),
                    jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                        "not valid yet (nbf)".to_owned()
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => "bad signature".to_owned(),
                    _ => e.to_string(),
                }
            })?;
        let c = data.claims;
        let subject = c["sub"].as_str().unwrap_or_default().to_owned();
        if subject.is_empty() {
            return Err("the token has no subject".to_owned());
        }
        let groups = match &c[self.config.groups_claim.as_str()] {
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|g| g.as_str().map(str::to_owned))
                .collect(),
            serde_json::Value::String(s) => vec![s.clone()],
            _ => Vec::new(),
        };
        // An address the issuer says it has not verified is not an identity.
        let email = if c["email_verified"] == serde_json::Value::Bool(false) {
            String::new()
        } else {
            c["email"].as_str().unwrap_or_default().to_owned()
        };
        Ok(Actor {
            subject,
            email,
            groups,
            method: Method::Oidc,
        })
    }
}

/// Whether `jwk` may verify `alg`: the algorithm it declares, else one fitting its type.
fn key_allows(jwk: &Jwk, alg: Algorithm) -> bool {
    if let Some(declared) = &jwk.common.key_algorithm {
        let same = matches!(
            (declared, alg),
            (KeyAlgorithm::RS256, Algorithm::RS256)
                | (KeyAlgorithm::RS384, Algorithm::RS384)
                | (KeyAlgorithm::RS512, Algorithm::RS512)
                | (KeyAlgorithm::PS256, Algorithm::PS256)
                | (KeyAlgorithm::PS384, Algorithm::PS384)
                | (KeyAlgorithm::PS512, Algorithm::PS512)
                | (KeyAlgorithm::ES256, Algorithm::ES256)
                | (KeyAlgorithm::ES384, Algorithm::ES384)
                | (KeyAlgorithm::EdDSA, Algorithm::EdDSA)
        );
        if !same {
            return false;
        }
    }
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        AlgorithmParameters::EllipticCurve(p) => matches!(
            (&p.curve, alg),
            (EllipticCurve::P256, Algorithm::ES256) | (EllipticCurve::P384, Algorithm::ES384)
        ),
        AlgorithmParameters::OctetKeyPair(p) => {
            p.curve == EllipticCurve::Ed25519 && alg == Algorithm::EdDSA
        }
        // A symmetric key in a public JWKS is never usable.
        _ => false,
    }
}

/// Keeps `Duration` in the public API documented: the default JWKS refetch cool-down.
pub const DEFAULT_MIN_REFETCH: Duration = Duration::from_secs(10);
