//! GitHub App authentication (contract section 4): an RS256 JWT signed with the app's private key
//! (ring; `iat` 60 s in the past against clock drift, `exp` 9 minutes ahead, under GitHub's 10),
//! exchanged for an installation token (`POST /app/installations/{id}/access_tokens`), cached
//! until shortly before it expires, and dropped when the host answers 401 so the next call
//! fetches a new one. No octocrab: it would bring a second HTTP stack and aws-lc.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use tokio::sync::Mutex;

/// How far in the past `iat` is put, against clock drift between us and the host.
pub const IAT_SKEW: i64 = 60;
/// How long an app JWT lives, counted from now (GitHub refuses more than 10 minutes).
pub const JWT_LIFETIME: i64 = 540;
/// A cached token is renewed this long before it expires (or at half its life when shorter).
pub const REFRESH_MARGIN: i64 = 300;

/// Why a token could not be had.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The private key is not an RSA key in PEM (PKCS#1 or PKCS#8).
    #[error("the GitHub App private key: {0}")]
    Key(String),
    /// Signing failed (ring refused the key).
    #[error("signing the GitHub App JWT failed")]
    Sign,
    /// The host could not be reached.
    #[error("requesting an installation token from {url}: {source}")]
    Http {
        /// The endpoint.
        url: String,
        /// What reqwest said.
        #[source]
        source: reqwest::Error,
    },
    /// The host refused the exchange.
    #[error("{url} refused the installation token request: HTTP {code}: {body}")]
    Rejected {
        /// The endpoint.
        url: String,
        /// The status code.
        code: u16,
        /// The start of the body.
        body: String,
    },
    /// The host's answer has no usable token or expiry.
    #[error("{url} answered without a usable token: {message}")]
    BadResponse {
        /// The endpoint.
        url: String,
        /// What is wrong with it.
        message: String,
    },
}

impl Error {
    /// Whether retrying later may help (unreachable host, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Http { .. } => true,
            Error::Rejected { code, .. } => *code >= 500 || *code == 429 || *code == 408,
            _ => false,
        }
    }
}

/// An app's signing key.
pub struct AppKey {
    pair: RsaKeyPair,
}

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppKey(<redacted>)")
    }
}

impl AppKey {
    /// Reads a PEM private key: `RSA PRIVATE KEY` (what GitHub hands out) or `PRIVATE KEY`.
    pub fn from_pem(pem: &str) -> Result<AppKey, Error> {
        let (label, der) = pem_block(pem).ok_or_else(|| Error::Key("no PEM block".into()))?;
        let pair = match label.as_str() {
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der).map_err(|e| Error::Key(e.to_string())),
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der).map_err(|e| Error::Key(e.to_string())),
            other => Err(Error::Key(format!(
                "a {other:?} PEM block is not an RSA private key"
            ))),
        }?;
        Ok(AppKey { pair })
    }

    /// The public key as PKCS#1 `RSAPublicKey` DER (what `openssl rsa -RSAPublicKey_out` writes).
    pub fn public_key_der(&self) -> Vec<u8> {
        use ring::signature::KeyPair;
        self.pair.public_key().as_ref().to_vec()
    }

    /// An app JWT for `app_id` at `now` (seconds since the epoch).
    pub fn jwt(&self, app_id: u64, now: i64) -> Result<String, Error> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = serde_json::json!({
            "iat": now - IAT_SKEW,
            "exp": now + JWT_LIFETIME,
            "iss": app_id.to_string(),
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let mut sig = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| Error::Sign)?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

/// The label and bytes of the first PEM block of `text`.
pub fn pem_block(text: &str) -> Option<(String, Vec<u8>)> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let label_end = rest.find("-----")?;
    let label = rest[..label_end].to_owned();
    let body_start = label_end + 5;
    let end_marker = format!("-----END {label}-----");
    let body_end = rest.find(&end_marker)?;
    let body: String = rest[body_start..body_end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    Some((label, der))
}

#[derive(Debug, Clone)]
struct Cached {
    token: String,
    refresh_at: i64,
}

/// One installation's tokens, shared by every task of a process.
pub struct AppAuth {
    api_url: String,
    app_id: u64,
    installation_id: u64,
    key: AppKey,
    client: reqwest::Client,
    cached: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for AppAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppAuth")
            .field("api_url", &self.api_url)
            .field("app_id", &self.app_id)
            .field("installation_id", &self.installation_id)
            .finish()
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl AppAuth {
    /// Authentication as `app_id`'s installation `installation_id` on the API at `api_url`
    /// (`https://api.github.com`, or GitHub Enterprise's `https://HOST/api/v3`).
    pub fn new(
        client: reqwest::Client,
        api_url: &str,
        app_id: u64,
        installation_id: u64,
        key: AppKey,
    ) -> AppAuth {
        AppAuth {
            api_url: api_url.trim_end_matches('/').to_owned(),
            app_id,
            installation_id,
            key,
            client,
            cached: Mutex::new(None),
        }
    }

    /// The app's id.
    pub fn app_id(&self) -> u64 {
        self.app_id
    }

    /// An installation token: the cached one while it is fresh, else a new one. Concurrent
    /// callers wait for one exchange rather than each making their own.
    pub async fn token(&self) -> Result<String, Error> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let fresh = self.exchange().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forgets `token` after the host answered 401 with it, so the next call exchanges anew.
    pub async fn invalidate(&self, token: &str) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| c.token == token) {
            tracing::info!(
                app_id = self.app_id,
                installation_id = self.installation_id,
                "the installation token was refused; a new one will be requested"
            );
            *cached = None;
        }
    }

    async fn exchange(&self) -> Result<Cached, Error> {
        let url = format!(
            "{}/app/installations/{}/access_tokens",
            self.api_url, self.installation_id
        );
        let t = now();
        let jwt = self.key.jwt(self.app_id, t)?;
        let resp = self
            .client
            .post(&url)
            .bearer_auth(jwt)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("User-Agent", "gantry")
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|source| Error::Http {
                url: url.clone(),
                source,
            })?;
        let code = resp.status().as_u16();
        let body = resp.text().await.map_err(|source| Error::Http {
            url: url.clone(),
            source,
        })?;
        if code != 201 && code != 200 {
            return Err(Error::Rejected {
                url,
                code,
                body: body.chars().take(200).collect(),
            });
        }
        let bad = |message: String| Error::BadResponse {
            url: url.clone(),
            message,
        };
        let v: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| bad(format!("not JSON: {e}")))?;
        let token = v["token"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("no \"token\"".into()))?
            .to_owned();
        let expires = v["expires_at"]
            .as_str()
            .ok_or_else(|| bad("no \"expires_at\"".into()))?;
        let expires_at =
            time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
                .map_err(|e| bad(format!("expires_at {expires:?}: {e}")))?
                .unix_timestamp();
        let life = (expires_at - t).max(0);
        let refresh_at = expires_at - REFRESH_MARGIN.min(life / 2);
        tracing::debug!(
            app_id = self.app_id,
            installation_id = self.installation_id,
            expires_at,
            "new installation token"
        );
        Ok(Cached { token, refresh_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn openssl(args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The JWT verifies with OpenSSL (an independent RS256 implementation) and carries the claims
    /// GitHub requires.
    #[test]
    fn the_jwt_verifies_with_openssl() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = |n: &str| dir.path().join(n).to_str().expect("utf-8").to_owned();
        openssl(&["genrsa", "-traditional", "-out", &p("key.pem"), "2048"]);
        openssl(&[
            "rsa",
            "-in",
            &p("key.pem"),
            "-pubout",
            "-out",
            &p("pub.pem"),
        ]);
        let pem = std::fs::read_to_string(p("key.pem")).expect("read");
        assert!(
            pem.contains("BEGIN RSA PRIVATE KEY"),
            "GitHub's PKCS#1 form"
        );
        let key = AppKey::from_pem(&pem).expect("the key reads");
        let jwt = key.jwt(123, 1_700_000_000).expect("signs");
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        std::fs::write(p("data"), format!("{}.{}", parts[0], parts[1])).expect("write");
        std::fs::write(p("sig"), URL_SAFE_NO_PAD.decode(parts[2]).expect("b64")).expect("write");
        openssl(&[
            "dgst",
            "-sha256",
            "-verify",
            &p("pub.pem"),
            "-signature",
            &p("sig"),
            &p("data"),
        ]);
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
        assert_eq!(claims["iss"], "123");
        assert_eq!(claims["iat"], 1_700_000_000 - 60);
        let exp = claims["exp"].as_i64().expect("exp");
        assert!(exp > 1_700_000_000 && exp <= 1_700_000_000 + 600);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json");
        assert_eq!(header["alg"], "RS256");

        // PKCS#8 works too; anything else is a clear error.
        openssl(&[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            &p("key.pem"),
            "-out",
            &p("key8.pem"),
        ]);
        AppKey::from_pem(&std::fs::read_to_string(p("key8.pem")).expect("read")).expect("pkcs8");
        let e = AppKey::from_pem(&std::fs::read_to_string(p("pub.pem")).expect("read"))
            .expect_err("a public key is not a private key");
        assert!(e.to_string().contains("PUBLIC KEY"), "{e}");
        assert!(AppKey::from_pem("nothing").is_err());
    }
}
