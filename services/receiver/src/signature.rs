//! Webhook signature checking: HMAC-SHA256 over the raw body, in constant time, against every
//! accepted secret.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A webhook secret. Its bytes never appear in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps a secret's bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Secret(bytes.into())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No usable signature header.
    #[error("the delivery carries no SHA-256 signature")]
    Missing,
    /// The header is not `sha256=` followed by 64 hex digits (or bare hex for Gitea).
    #[error("the signature header is malformed")]
    Malformed,
    /// No accepted secret produces this signature.
    #[error("the signature does not match any accepted secret")]
    Mismatch,
}

/// How the signature header spells the digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `sha256=<hex>` (GitHub's `X-Hub-Signature-256`).
    Prefixed,
    /// `<hex>` (Gitea's and Forgejo's own headers).
    Bare,
}

/// Checks `header` against the HMAC-SHA256 of `body` under each of `secrets`.
///
/// The digest comparison is constant-time (`Mac::verify_slice`), and every secret is tried even
/// after a match would be found, so timing reveals neither the digest nor which secret matched.
pub fn verify(
    secrets: &[Secret],
    body: &[u8],
    header: &str,
    encoding: Encoding,
) -> Result<(), SignatureError> {
    let hex_digest = match encoding {
        Encoding::Prefixed => header
            .trim()
            .strip_prefix("sha256=")
            .ok_or(SignatureError::Malformed)?,
        Encoding::Bare => header.trim(),
    };
    if hex_digest.is_empty() {
        return Err(SignatureError::Missing);
    }
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut digest).map_err(|_| SignatureError::Malformed)?;
    let mut ok = false;
    for secret in secrets {
        let mut mac = mac(secret);
        mac.update(body);
        ok |= mac.verify_slice(&digest).is_ok();
    }
    if ok {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// `sha256=<hex>` for `body` under `secret`: what GitHub would send.
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn mac(secret: &Secret) -> Hmac<Sha256> {
    // HMAC is defined for keys of every length, so this constructor cannot fail.
    match Hmac::<Sha256>::new_from_slice(&secret.0) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// GitHub's published test vector (docs: "Validating webhook deliveries").
    #[test]
    fn github_test_vector() {
        let s = Secret::new("It's a Secret to Everybody");
        let want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(sign(&s, b"Hello, World!"), want);
        assert_eq!(
            verify(
                std::slice::from_ref(&s),
                b"Hello, World!",
                want,
                Encoding::Prefixed
            ),
            Ok(())
        );
        assert_eq!(
            verify(&[s], b"Hello, World?", want, Encoding::Prefixed),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_listed_secret_is_accepted() {
        let old = Secret::new("old");
        let new = Secret::new("new");
        let sig = sign(&old, b"x");
        assert_eq!(
            verify(&[new.clone(), old], b"x", &sig, Encoding::Prefixed),
            Ok(())
        );
        assert_eq!(
            verify(&[new], b"x", &sig, Encoding::Prefixed),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn bare_hex_and_malformed_headers() {
        let s = Secret::new("k");
        let sig = sign(&s, b"x");
        let bare = sig.trim_start_matches("sha256=");
        assert_eq!(
            verify(std::slice::from_ref(&s), b"x", bare, Encoding::Bare),
            Ok(())
        );
        assert_eq!(
            verify(
                std::slice::from_ref(&s),
                b"x",
                &bare.to_uppercase(),
                Encoding::Bare
            ),
            Ok(())
        );
        assert_eq!(
            verify(std::slice::from_ref(&s), b"x", bare, Encoding::Prefixed),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(
                std::slice::from_ref(&s),
                b"x",
                "sha256=zz",
                Encoding::Prefixed
            ),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&[s], b"x", "", Encoding::Bare),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2")),
            "Secret(<redacted>)"
        );
    }

    proptest! {
        #[test]
        fn never_panics(header in ".{0,80}", body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let s = [Secret::new("k")];
            let _ = verify(&s, &body, &header, Encoding::Prefixed);
            let _ = verify(&s, &body, &header, Encoding::Bare);
        }

        #[test]
        fn a_signature_verifies_only_its_own_body(body in proptest::collection::vec(any::<u8>(), 0..256), flip in 0usize..256) {
            let s = Secret::new("k");
            let sig = sign(&s, &body);
            prop_assert_eq!(verify(std::slice::from_ref(&s), &body, &sig, Encoding::Prefixed), Ok(()));
            if !body.is_empty() {
                let mut other = body.clone();
                let i = flip % other.len();
                other[i] ^= 1;
                prop_assert_eq!(verify(&[s], &other, &sig, Encoding::Prefixed), Err(SignatureError::Mismatch));
            }
        }
    }
}
