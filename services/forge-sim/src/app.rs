//! GitHub App installation tokens as GitHub issues them: `POST /app/installations/{id}/access_tokens`
//! with an RS256 app JWT (checked against the app's configured public key, its `iss`, and its
//! `iat`/`exp`, which may be at most 10 minutes apart from now), answered with a `ghs_` token
//! and its `expires_at`. Issued tokens are then accepted by the status API and, when
//! `git_auth` is on, by Git smart HTTP (Basic auth, any user name, the token as password).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// A GitHub App the emulator knows.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The app's id (the JWT's `iss`).
    pub app_id: u64,
    /// The one installation tokens are issued for.
    pub installation_id: u64,
    /// The app's public key: PEM `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1).
    pub public_key_pem: String,
    /// How long an installation token lives (GitHub: one hour).
    pub token_ttl: Duration,
}

/// Which credentials the emulator accepts, shared by the status API and Git hosting.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    static_tokens: Vec<String>,
    app: Option<(AppConfig, Result<Vec<u8>, String>)>,
    issued: Mutex<HashMap<String, i64>>,
    exchanges: AtomicU64,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Tokens {
    pub(crate) fn new(static_tokens: Vec<String>, app: Option<AppConfig>) -> Tokens {
        Tokens {
            static_tokens,
            app: app.map(|a| {
                let key = public_key_der(&a.public_key_pem);
                (a, key)
            }),
            issued: Mutex::new(HashMap::new()),
            exchanges: AtomicU64::new(0),
        }
    }

    /// Whether `token` is a configured token, or an installation token that has not expired.
    /// With no configured tokens and no app, any non-empty token is accepted.
    pub(crate) fn valid(&self, token: &str) -> bool {
        if token.is_empty() {
            return false;
        }
        if let Some(expires) = self
            .issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
        {
            return now() < *expires;
        }
        if self.static_tokens.is_empty() {
            return self.app.is_none() || !token.starts_with("ghs_");
        }
        self.static_tokens.iter().any(|t| t == token)
    }

    /// Makes every issued token expired, as an hour passing would.
    pub(crate) fn expire_all(&self) {
        for e in self
            .issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values_mut()
        {
            *e = 0;
        }
    }

    /// Successful exchanges so far.
    pub(crate) fn exchanges(&self) -> u64 {
        self.exchanges.load(Ordering::SeqCst)
    }
}

/// PKCS#1 `RSAPublicKey` DER from a PEM public key (SPKI is unwrapped).
fn public_key_der(pem: &str) -> Result<Vec<u8>, String> {
    let start = pem.find("-----BEGIN ").ok_or("no PEM block")?;
    let rest = &pem[start + 11..];
    let label_end = rest.find("-----").ok_or("no PEM label")?;
    let label = &rest[..label_end];
    let end = rest
        .find(&format!("-----END {label}-----"))
        .ok_or("no PEM end")?;
    let b64: String = rest[label_end + 5..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD.decode(b64).map_err(|e| e.to_string())?;
    match label {
        "RSA PUBLIC KEY" => Ok(der),
        "PUBLIC KEY" => spki_to_pkcs1(&der).ok_or_else(|| "not an RSA SubjectPublicKeyInfo".into()),
        other => Err(format!("a {other} is not a public key")),
    }
}

/// One DER element at the start of `d`: (tag, contents, rest).
fn der(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, d) = d.split_first()?;
    let (&len0, mut d) = d.split_first()?;
    let len = if len0 < 0x80 {
        len0 as usize
    } else {
        let n = (len0 & 0x7f) as usize;
        if n == 0 || n > 4 || d.len() < n {
            return None;
        }
        let len = d[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        d = &d[n..];
        len
    };
    if d.len() < len {
        return None;
    }
    Some((tag, &d[..len], &d[len..]))
}

/// SubjectPublicKeyInfo ::= SEQUENCE { algorithm SEQUENCE, subjectPublicKey BIT STRING }; the
/// BIT STRING (after its unused-bits byte) is the PKCS#1 key.
fn spki_to_pkcs1(d: &[u8]) -> Option<Vec<u8>> {
    let (0x30, spki, _) = der(d)? else {
        return None;
    };
    let (0x30, _algorithm, rest) = der(spki)? else {
        return None;
    };
    let (0x03, bits, _) = der(rest)? else {
        return None;
    };
    let (&0, key) = bits.split_first()? else {
        return None;
    };
    Some(key.to_vec())
}

fn github_error(code: StatusCode, message: &str) -> Response {
    (
        code,
        [(axum::http::header::CONTENT_TYPE, "application/json; charset=utf-8")],
        json!({"message": message, "documentation_url": "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app", "status": code.as_u16().to_string()}).to_string(),
    )
        .into_response()
}

/// Checks an app JWT; on failure, GitHub's message.
fn check_jwt(app: &AppConfig, key: &[u8], jwt: &str, now: i64) -> Result<(), &'static str> {
    const UNDECODABLE: &str = "A JSON web token could not be decoded";
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, sig] = parts.as_slice() else {
        return Err(UNDECODABLE);
    };
    let decode = |s: &str| -> Result<Value, &'static str> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| UNDECODABLE)?;
        serde_json::from_slice(&bytes).map_err(|_| UNDECODABLE)
    };
    if decode(header)?["alg"] != "RS256" {
        return Err(UNDECODABLE);
    }
    let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| UNDECODABLE)?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, key)
        .verify(format!("{header}.{claims}").as_bytes(), &sig)
        .map_err(|_| UNDECODABLE)?;
    let claims = decode(claims)?;
    let iss_ok = match &claims["iss"] {
        Value::String(s) => s == &app.app_id.to_string(),
        Value::Number(n) => n.as_u64() == Some(app.app_id),
        _ => false,
    };
    if !iss_ok {
        return Err("Integration not found");
    }
    let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
        return Err(
            "'Issued at' claim ('iat') and 'Expiration time' claim ('exp') must be numeric values",
        );
    };
    if iat > now + 60 {
        return Err(
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
        );
    }
    if exp <= now {
        return Err(
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        );
    }
    if exp > now + 600 + 5 || exp - iat > 600 + 60 {
        return Err("'Expiration time' claim ('exp') is too far in the future");
    }
    Ok(())
}

/// `POST /app/installations/{id}/access_tokens`.
pub(crate) async fn access_tokens(
    State(shared): State<std::sync::Arc<crate::Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let tokens = &shared.tokens;
    let Some((app, key)) = &tokens.app else {
        return github_error(StatusCode::NOT_FOUND, "Not Found");
    };
    let key = match key {
        Ok(k) => k,
        Err(e) => {
            return github_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("the emulator's app public key is unusable: {e}"),
            );
        }
    };
    let Some(jwt) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return github_error(
            StatusCode::UNAUTHORIZED,
            "A JSON web token could not be decoded",
        );
    };
    let now = now();
    if let Err(m) = check_jwt(app, key, jwt.trim(), now) {
        return github_error(StatusCode::UNAUTHORIZED, m);
    }
    if id != app.installation_id.to_string() {
        return github_error(StatusCode::NOT_FOUND, "Not Found");
    }
    let token = format!("ghs_{}", uuid::Uuid::new_v4().simple());
    let expires = now + app.token_ttl.as_secs() as i64;
    tokens
        .issued
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(token.clone(), expires);
    tokens.exchanges.fetch_add(1, Ordering::SeqCst);
    let expires_at = time::OffsetDateTime::from_unix_timestamp(expires)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    (
        StatusCode::CREATED,
        [(
            axum::http::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )],
        json!({
            "token": token,
            "expires_at": expires_at,
            "permissions": {"statuses": "write", "contents": "read"},
            "repository_selection": "all",
        })
        .to_string(),
    )
        .into_response()
}
