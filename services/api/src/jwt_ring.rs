//! jsonwebtoken's cryptography on ring. jsonwebtoken 12 dropped its ring backend and offers
//! aws-lc (a C toolchain and a second TLS-grade library we do not want) or RustCrypto (whose RSA
//! is not constant time); ring is already what rustls uses here, so this provider puts JWTs on
//! the same, audited code.
//!
//! Only asymmetric algorithms are provided: HMAC (HS256/384/512) verification always fails, so a
//! token that names HS256 and was "signed" with an issuer's public key can never pass, whatever
//! key the caller hands over.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::signature as rs;

/// The provider; [`install`] makes it the process default.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |_| Err(ErrorKind::UnsupportedAlgorithm.into()),
        rsa_pub_components_from_public_key: |_| Err(ErrorKind::UnsupportedAlgorithm.into()),
        ec_pub_components_from_private_key: |_, _| Err(ErrorKind::UnsupportedAlgorithm.into()),
        ed_pub_components_from_private_key: |_, _| Err(ErrorKind::UnsupportedAlgorithm.into()),
        compute_digest: |data, hash| {
            use jsonwebtoken::jwk::ThumbprintHash;
            let alg = match hash {
                ThumbprintHash::SHA256 => &ring::digest::SHA256,
                ThumbprintHash::SHA384 => &ring::digest::SHA384,
                ThumbprintHash::SHA512 => &ring::digest::SHA512,
                _ => return Err(ErrorKind::UnsupportedAlgorithm.into()),
            };
            Ok(ring::digest::digest(alg, data).as_ref().to_vec())
        },
    },
};

/// Makes [`PROVIDER`] jsonwebtoken's default; harmless when already installed.
pub fn install() {
    let _ = PROVIDER.install_default();
}

struct RingVerifier {
    alg: Algorithm,
    key: DecodingKey,
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        let fail = |_| signature::Error::new();
        let rsa = |params: &'static rs::RsaParameters| -> Result<(), signature::Error> {
            match self.key.kind() {
                DecodingKeyKind::RsaModulusExponent { n, e } => rs::RsaPublicKeyComponents { n, e }
                    .verify(params, msg, sig)
                    .map_err(fail),
                DecodingKeyKind::SecretOrDer(der) => rs::UnparsedPublicKey::new(params, der)
                    .verify(msg, sig)
                    .map_err(fail),
            }
        };
        let raw = |alg: &'static dyn rs::VerificationAlgorithm| -> Result<(), signature::Error> {
            match self.key.kind() {
                DecodingKeyKind::SecretOrDer(point) => rs::UnparsedPublicKey::new(alg, point)
                    .verify(msg, sig)
                    .map_err(fail),
                DecodingKeyKind::RsaModulusExponent { .. } => Err(signature::Error::new()),
            }
        };
        match self.alg {
            Algorithm::RS256 => rsa(&rs::RSA_PKCS1_2048_8192_SHA256),
            Algorithm::RS384 => rsa(&rs::RSA_PKCS1_2048_8192_SHA384),
            Algorithm::RS512 => rsa(&rs::RSA_PKCS1_2048_8192_SHA512),
            Algorithm::PS256 => rsa(&rs::RSA_PSS_2048_8192_SHA256),
            Algorithm::PS384 => rsa(&rs::RSA_PSS_2048_8192_SHA384),
            Algorithm::PS512 => rsa(&rs::RSA_PSS_2048_8192_SHA512),
            Algorithm::ES256 => raw(&rs::ECDSA_P256_SHA256_FIXED),
            Algorithm::ES384 => raw(&rs::ECDSA_P384_SHA384_FIXED),
            Algorithm::EdDSA => raw(&rs::ED25519),
            // HMAC, and whatever a later jsonwebtoken adds, never verifies here.
            _ => Err(signature::Error::new()),
        }
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    if alg.family() == AlgorithmFamily::Hmac || key.family() != alg.family() {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    Ok(Box::new(RingVerifier {
        alg: *alg,
        key: key.clone(),
    }))
}

struct RingSigner {
    alg: Algorithm,
    key: EncodingKey,
}

impl Signer<Vec<u8>> for RingSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let rng = ring::rand::SystemRandom::new();
        let e = signature::Error::from_source;
        let rsa = |enc: &'static dyn rs::RsaEncoding| -> Result<Vec<u8>, signature::Error> {
            let kp = rs::RsaKeyPair::from_der(self.key.as_bytes())
                .or_else(|_| rs::RsaKeyPair::from_pkcs8(self.key.as_bytes()))
                .map_err(|x| e(x.to_string()))?;
            let mut out = vec![0; kp.public().modulus_len()];
            kp.sign(enc, &rng, msg, &mut out)
                .map_err(|x| e(x.to_string()))?;
            Ok(out)
        };
        let ec = |alg: &'static rs::EcdsaSigningAlgorithm| -> Result<Vec<u8>, signature::Error> {
            let kp = rs::EcdsaKeyPair::from_pkcs8(alg, self.key.as_bytes(), &rng)
                .map_err(|x| e(x.to_string()))?;
            kp.sign(&rng, msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|x| e(x.to_string()))
        };
        match self.alg {
            Algorithm::RS256 => rsa(&rs::RSA_PKCS1_SHA256),
            Algorithm::RS384 => rsa(&rs::RSA_PKCS1_SHA384),
            Algorithm::RS512 => rsa(&rs::RSA_PKCS1_SHA512),
            Algorithm::PS256 => rsa(&rs::RSA_PSS_SHA256),
            Algorithm::PS384 => rsa(&rs::RSA_PSS_SHA384),
            Algorithm::PS512 => rsa(&rs::RSA_PSS_SHA512),
            Algorithm::ES256 => ec(&rs::ECDSA_P256_SHA256_FIXED_SIGNING),
            Algorithm::ES384 => ec(&rs::ECDSA_P384_SHA384_FIXED_SIGNING),
            Algorithm::EdDSA => rs::Ed25519KeyPair::from_pkcs8_maybe_unchecked(self.key.as_bytes())
                .map(|kp| kp.sign(msg).as_ref().to_vec())
                .map_err(|x| e(x.to_string())),
            _ => Err(signature::Error::new()),
        }
    }
}

impl JwtSigner for RingSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    if alg.family() == AlgorithmFamily::Hmac || key.family() != alg.family() {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    Ok(Box::new(RingSigner {
        alg: *alg,
        key: key.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::KeyPair;

    #[test]
    fn es256_and_eddsa_round_trip_and_hmac_never_verifies() {
        install();
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 =
            rs::EcdsaKeyPair::generate_pkcs8(&rs::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let kp = rs::EcdsaKeyPair::from_pkcs8(
            &rs::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
            &rng,
        )
        .unwrap();
        let sig = jsonwebtoken::crypto::sign(
            b"hello",
            &EncodingKey::from_ec_der(pkcs8.as_ref()),
            Algorithm::ES256,
        )
        .unwrap();
        let public = DecodingKey::from_ec_der(kp.public_key().as_ref());
        assert!(jsonwebtoken::crypto::verify(&sig, b"hello", &public, Algorithm::ES256).unwrap());
        assert!(!jsonwebtoken::crypto::verify(&sig, b"hellO", &public, Algorithm::ES256).unwrap());

        let ed = rs::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let edkp = rs::Ed25519KeyPair::from_pkcs8(ed.as_ref()).unwrap();
        let sig = jsonwebtoken::crypto::sign(
            b"x",
            &EncodingKey::from_ed_der(ed.as_ref()),
            Algorithm::EdDSA,
        )
        .unwrap();
        let public = DecodingKey::from_ed_der(edkp.public_key().as_ref());
        assert!(jsonwebtoken::crypto::verify(&sig, b"x", &public, Algorithm::EdDSA).unwrap());

        let secret = DecodingKey::from_secret(b"public key bytes").unwrap();
        assert!(jsonwebtoken::crypto::verify("AAAA", b"x", &secret, Algorithm::HS256).is_err());
    }
}
