//! OIDC against a local issuer (discovery and JWKS over HTTP, RSA and EC keys generated at run
//! time): valid tokens pass with their subject, e-mail and groups; `none`, HS256 signed with the
//! public key, another issuer's keys and tokens, wrong audience, expiry, `nbf`, an algorithm the
//! key does not declare and a tampered payload are refused with 401; an unknown `kid` refetches the
//! JWKS (key rotation), at most once per cool-down.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::*;
use gantry_api::config::Oidc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::KeyPair as _;
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

const AUDIENCE: &str = "gantry";

/// A signing key and its public JWK.
struct Key {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
    /// The public key as an issuer publishes it in PEM (for the HS256 confusion attack).
    public_pem: Vec<u8>,
}

fn rsa_key(kid: &str) -> Result<Key> {
    let k = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)?;
    let der = k.to_pkcs1_der()?;
    let public_der = k.to_public_key().to_pkcs1_der()?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(public_der.as_bytes());
    let lines: Vec<String> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let public_pem = format!(
        "-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n",
        lines.join("\n")
    )
    .into_bytes();
    Ok(Key {
        kid: kid.to_owned(),
        alg: Algorithm::RS256,
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        jwk: json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": B64.encode(k.n().to_bytes_be()), "e": B64.encode(k.e().to_bytes_be()),
        }),
        public_pem,
    })
}

fn ec_key(kid: &str) -> Result<Key> {
    let rng = ring::rand::SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng)
        .map_err(|_| anyhow::anyhow!("EC key generation failed"))?;
    let kp = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng)
        .map_err(|_| anyhow::anyhow!("EC key"))?;
    let point = kp.public_key().as_ref().to_vec();
    Ok(Key {
        kid: kid.to_owned(),
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk: json!({
            "kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256",
            "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]),
        }),
        public_pem: point,
    })
}

/// The local issuer: discovery and a JWKS the test can rotate, counting JWKS fetches.
struct Issuer {
    url: String,
    jwks: Arc<Mutex<Value>>,
    fetches: Arc<AtomicU64>,
}

async fn issuer(keys: &[&Key]) -> Result<Issuer> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", l.local_addr()?);
    let jwks = Arc::new(Mutex::new(
        json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}),
    ));
    let fetches = Arc::new(AtomicU64::new(0));
    let (j, f, u) = (jwks.clone(), fetches.clone(), url.clone());
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || {
                let u = u.clone();
                async move { json_response(json!({"issuer": u, "jwks_uri": format!("{u}/jwks")})) }
            }),
        )
        .route(
            "/jwks",
            axum::routing::get(move || {
                let (j, f) = (j.clone(), f.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    let v = j.lock().map(|v| v.clone()).unwrap_or_default();
                    json_response(v)
                }
            }),
        );
    tokio::spawn(async move { axum::serve(l, app).await });
    Ok(Issuer { url, jwks, fetches })
}

fn json_response(v: Value) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn claims(iss: &str) -> Value {
    json!({
        "iss": iss, "aud": AUDIENCE, "sub": "u-123", "email": "alice@example.com",
        "groups": ["developers"], "iat": now(), "exp": now() + 300,
    })
}

fn sign(key: &Key, claims: &Value) -> Result<String> {
    let mut h = Header::new(key.alg);
    h.kid = Some(key.kid.clone());
    Ok(jsonwebtoken::encode(&h, claims, &key.encoding)?)
}

/// A token assembled by hand: any header, any signature bytes.
fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string()),
        B64.encode(signature)
    )
}

fn oidc(url: &str, min_refetch: Duration) -> Oidc {
    Oidc {
        issuer: url.to_owned(),
        audience: AUDIENCE.to_owned(),
        groups_claim: "groups".to_owned(),
        jwks_min_refetch: min_refetch,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn valid_tokens_pass_and_every_bad_token_is_refused() -> Result<()> {
    gantry_api::jwt_ring::install();
    let (rsa1, ec1) = (rsa_key("rsa1")?, ec_key("ec1")?);
    let idp = issuer(&[&rsa1, &ec1]).await?;
    let foreign_key = rsa_key("foreign1")?;
    let foreign = issuer(&[&foreign_key]).await?;

    let mut setup = Setup::default();
    let o = oidc(&idp.url, Duration::from_secs(3600));
    setup.tweak = Box::new(move |c, _| c.oidc = Some(o));
    let h = Harness::start(setup).await?;
    let url = |_: ()| "/api/v1/apps/web/environments/dev";
    let status = |token: String| {
        let h = &h;
        async move { h.get(url(()), Some(&token)).await }
    };

    // Valid RS256 and ES256 tokens: the caller is the token's subject, e-mail and groups.
    let (code, body) = status(sign(&rsa1, &claims(&idp.url))?).await?;
    assert_eq!(code, 200, "{body}");
    let (code, body) = status(sign(&ec1, &claims(&idp.url))?).await?;
    assert_eq!(code, 200, "{body}");
    // Ten seconds past exp is within the leeway.
    let mut c = claims(&idp.url);
    c["exp"] = json!(now() - 10);
    assert_eq!(status(sign(&rsa1, &c)?).await?.0, 200);

    let mut bad: Vec<(&str, String)> = Vec::new();
    bad.push((
        "alg none",
        raw_token(
            &json!({"alg": "none", "kid": "rsa1"}),
            &claims(&idp.url),
            b"",
        ),
    ));
    {
        // HS256 "signed" with the issuer's public key as the HMAC secret.
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": "rsa1"});
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims(&idp.url).to_string())
        );
        for secret in [&rsa1.public_pem, &ec1.public_pem] {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
            let sig = ring::hmac::sign(&key, signing_input.as_bytes());
            bad.push((
                "HS256 with the public key",
                format!("{signing_input}.{}", B64.encode(sig.as_ref())),
            ));
        }
    }
    // Another issuer's key under our key's id, and under its own id.
    let mut impostor = rsa_key("rsa1")?;
    impostor.kid = "rsa1".to_owned();
    bad.push((
        "another key with our kid",
        sign(&impostor, &claims(&idp.url))?,
    ));
    bad.push((
        "another issuer's key",
        sign(&foreign_key, &claims(&idp.url))?,
    ));
    bad.push((
        "another issuer's token",
        sign(&foreign_key, &claims(&foreign.url))?,
    ));
    bad.push(("our key, another iss", sign(&rsa1, &claims(&foreign.url))?));
    let mut c = claims(&idp.url);
    c["aud"] = json!("someone-else");
    bad.push(("wrong audience", sign(&rsa1, &c)?));
    let mut c = claims(&idp.url);
    c["exp"] = json!(now() - 120);
    bad.push(("expired", sign(&rsa1, &c)?));
    let mut c = claims(&idp.url);
    c["nbf"] = json!(now() + 120);
    bad.push(("not yet valid", sign(&rsa1, &c)?));
    let mut c = claims(&idp.url);
    c.as_object_mut().map(|o| o.remove("exp"));
    bad.push(("no exp", sign(&rsa1, &c)?));
    // RS256 naming the EC key; PS256 with a key that declares RS256.
    let mut hd = Header::new(Algorithm::RS256);
    hd.kid = Some("ec1".to_owned());
    bad.push((
        "alg not the key's type",
        jsonwebtoken::encode(&hd, &claims(&idp.url), &rsa1.encoding)?,
    ));
    let mut hd = Header::new(Algorithm::PS256);
    hd.kid = Some("rsa1".to_owned());
    bad.push((
        "alg not the key's declared alg",
        jsonwebtoken::encode(&hd, &claims(&idp.url), &rsa1.encoding)?,
    ));
    // A valid token whose payload was changed afterwards.
    let good = sign(&rsa1, &claims(&idp.url))?;
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut c = claims(&idp.url);
    c["groups"] = json!(["admins"]);
    parts[1] = B64.encode(c.to_string());
    bad.push(("tampered payload", parts.join(".")));
    bad.push(("garbage", "a.b.c".to_owned()));

    for (what, token) in bad {
        let (code, headers, body) = h
            .call(reqwest::Method::GET, url(()), Some(&token), None)
            .await?;
        assert_eq!(code, 401, "{what}: {body}");
        assert_eq!(body["error"], "unauthenticated", "{what}");
        assert!(headers.get("www-authenticate").is_some(), "{what}");
    }
    // Unknown key ids did not make the API fetch the JWKS again within the cool-down.
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);
    assert_eq!(foreign.fetches.load(Ordering::SeqCst), 0);

    // The audit record carries the OIDC actor.
    let client = async_nats::connect(h.nats.url()).await?;
    let js = async_nats::jetstream::new(client);
    let mut s = js.get_stream(gantry_nats::AUDIT_STREAM).await?;
    let first = s.info().await?.state.first_sequence;
    let m = s.get_raw_message(first).await?;
    let r = <gantry_proto::v1::AuditRecord as prost::Message>::decode(m.payload)?;
    let a = r.actor.context("an actor")?;
    assert_eq!(a.subject, "u-123");
    assert_eq!(a.email, "alice@example.com");
    assert_eq!(a.groups, ["developers"]);
    assert_eq!(a.method, gantry_proto::v1::AuthMethod::Oidc as i32);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_kid_refetches_the_jwks_once_the_cool_down_allows() -> Result<()> {
    gantry_api::jwt_ring::install();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rsa1 = rsa_key("rsa1")?;
    let idp = issuer(&[&rsa1]).await?;
    let v = gantry_api::oidc::Verifier::new(oidc(&idp.url, Duration::ZERO), reqwest::Client::new());
    let a = v
        .verify(&sign(&rsa1, &claims(&idp.url))?)
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(a.email, "alice@example.com");
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);
    // Cached: a second token needs no fetch.
    v.verify(&sign(&rsa1, &claims(&idp.url))?)
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);

    // The issuer rotates to a new key: the first token naming it refetches.
    let ec2 = ec_key("ec2")?;
    *idp.jwks.lock().map_err(|_| anyhow::anyhow!("lock"))? = json!({"keys": [ec2.jwk.clone()]});
    v.verify(&sign(&ec2, &claims(&idp.url))?)
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);
    assert_eq!(v.jwks_fetches().await, 2);

    // With a cool-down, a made-up kid right after a fetch costs the issuer nothing.
    let slow = gantry_api::oidc::Verifier::new(
        oidc(&idp.url, Duration::from_secs(3600)),
        reqwest::Client::new(),
    );
    slow.verify(&sign(&ec2, &claims(&idp.url))?)
        .await
        .map_err(anyhow::Error::msg)?;
    let before = idp.fetches.load(Ordering::SeqCst);
    for i in 0..5 {
        let mut k = ec_key(&format!("made-up-{i}"))?;
        k.kid = format!("made-up-{i}");
        assert!(slow.verify(&sign(&k, &claims(&idp.url))?).await.is_err());
    }
    assert_eq!(idp.fetches.load(Ordering::SeqCst), before);
    Ok(())
}
