//! OpenPGP commit signatures, checked with rpgp: the issuing key (a trusted primary key or one of
//! its signing subkeys) must be in the keyring, the signature must match the signed bytes, and
//! the key must not have expired or been revoked when it signed.
//!
//! Self-signatures decide expiry, as gpg reads them: the newest valid self-signature of the primary
//! key (and the newest valid binding of a subkey) gives the expiration time. Revocation: a hard
//! revocation (no reason, "compromised", or an unknown reason) revokes every signature; a soft one
//! ("superseded", "retired") only signatures made after it, as RFC 9580 section 5.2.3.31 says.

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey, SignedPublicSubKey};
use pgp::packet::{RevocationCode, Signature, SignatureType};
use pgp::types::{KeyDetails, Tag};

use crate::{Format, Reason, Verdict};

/// Trusted OpenPGP certificates.
#[derive(Debug, Default, Clone)]
pub struct Keyring {
    certs: Vec<SignedPublicKey>,
}

/// The component of a certificate a signature names as its issuer.
enum Component<'a> {
    Primary,
    Subkey(&'a SignedPublicSubKey),
}

impl Keyring {
    /// Adds every public key of an armored text (several concatenated blocks are fine).
    pub fn add_armored(&mut self, text: &str) -> Result<(), String> {
        const BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
        let mut found = 0;
        let mut rest = text;
        while let Some(start) = rest.find(BEGIN) {
            let block = &rest[start..];
            let end = block[BEGIN.len()..]
                .find(BEGIN)
                .map(|i| i + BEGIN.len())
                .unwrap_or(block.len());
            let (keys, _) =
                SignedPublicKey::from_string_many(&block[..end]).map_err(|e| e.to_string())?;
            for key in keys {
                let key = key.map_err(|e| e.to_string())?;
                self.certs.push(key);
                found += 1;
            }
            rest = &block[end..];
        }
        if found == 0 {
            return Err(format!("no {BEGIN} found"));
        }
        Ok(())
    }

    /// The number of certificates.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// Checks an armored detached signature over `data`.
    pub fn verify(&self, armored: &str, data: &[u8], _commit_time: i64) -> Verdict {
        let fmt = Some(Format::OpenPgp);
        let sig = match DetachedSignature::from_string(armored) {
            Ok((s, _)) => s.signature,
            Err(e) => {
                return Verdict::untrusted(
                    fmt,
                    None,
                    Reason::BadSignature,
                    format!("the OpenPGP signature does not parse: {e}"),
                );
            }
        };
        let issuer = issuer_name(&sig);
        let Some((cert, component)) = self.find_issuer(&sig) else {
            return Verdict::untrusted(
                fmt,
                issuer.clone(),
                Reason::UnknownKey,
                format!(
                    "signed by OpenPGP key {}, which is not trusted",
                    issuer.as_deref().unwrap_or("(no issuer)")
                ),
            );
        };
        let (signer, verified) = match component {
            Component::Primary => (
                hex_upper(cert.primary_key.fingerprint().as_bytes()),
                sig.verify(&cert.primary_key, data),
            ),
            Component::Subkey(sub) => (
                hex_upper(sub.key.fingerprint().as_bytes()),
                sig.verify(&sub.key, data),
            ),
        };
        let signer = Some(signer);
        if let Err(e) = verified {
            return Verdict::untrusted(
                fmt,
                signer,
                Reason::BadSignature,
                format!(
                    "the OpenPGP signature does not match the commit: {}",
                    e.to_string().lines().next().unwrap_or_default()
                ),
            );
        }
        let Some(at) = sig.created().map(|t| i64::from(t.as_secs())) else {
            return Verdict::untrusted(
                fmt,
                signer,
                Reason::BadSignature,
                "the OpenPGP signature has no creation time",
            );
        };
        let uid = primary_uid(cert);
        if let Err((reason, detail)) = valid_at(cert, &component, at) {
            return Verdict {
                signer: uid,
                ..Verdict::untrusted(fmt, signer, reason, detail)
            };
        }
        Verdict {
            format: fmt,
            detail: format!(
                "good OpenPGP signature by {}{}",
                signer.as_deref().unwrap_or_default(),
                uid.as_deref()
                    .map(|u| format!(" ({u})"))
                    .unwrap_or_default()
            ),
            signer: uid,
            fingerprint: signer,
            reason: None,
        }
    }

    fn find_issuer(&self, sig: &Signature) -> Option<(&SignedPublicKey, Component<'_>)> {
        let fingerprints = sig.issuer_fingerprint();
        let key_ids = sig.issuer_key_id();
        let matches = |fp: pgp::types::Fingerprint, id: pgp::types::KeyId| {
            fingerprints.iter().any(|f| **f == fp) || key_ids.iter().any(|k| **k == id)
        };
        for cert in &self.certs {
            if matches(
                cert.primary_key.fingerprint(),
                cert.primary_key.legacy_key_id(),
            ) {
                return Some((cert, Component::Primary));
            }
            for sub in &cert.public_subkeys {
                if matches(sub.key.fingerprint(), sub.key.legacy_key_id()) {
                    return Some((cert, Component::Subkey(sub)));
                }
            }
        }
        None
    }
}

/// Whether the certificate (and the subkey) was valid at `at`: created, not expired, not revoked.
fn valid_at(
    cert: &SignedPublicKey,
    component: &Component<'_>,
    at: i64,
) -> Result<(), (Reason, String)> {
    let primary = &cert.primary_key;
    let fpr = hex_upper(primary.fingerprint().as_bytes());
    for rev in &cert.details.revocation_signatures {
        if rev.typ() == Some(SignatureType::KeyRevocation)
            && rev.verify_key(primary).is_ok()
            && revokes(rev, at)
        {
            return Err((Reason::RevokedKey, format!("OpenPGP key {fpr} is revoked")));
        }
    }
    // The newest valid self-signature carries the key's current expiration time.
    let mut newest: Option<&Signature> = None;
    for sig in &cert.details.direct_signatures {
        if sig.verify_key(primary).is_ok() {
            newest = newer(newest, sig);
        }
    }
    for user in &cert.details.users {
        for sig in &user.signatures {
            if sig
                .verify_certification(primary, Tag::UserId, &user.id)
                .is_ok()
            {
                newest = newer(newest, sig);
            }
        }
    }
    let Some(selfsig) = newest else {
        return Err((
            Reason::UnknownKey,
            format!("OpenPGP key {fpr} has no valid self-signature"),
        ));
    };
    let created = i64::from(primary.created_at().as_secs());
    if at < created {
        return Err((
            Reason::BadSignature,
            format!("the signature predates OpenPGP key {fpr}"),
        ));
    }
    if let Some(exp) = selfsig
        .key_expiration_time()
        .map(|d| i64::from(d.as_secs()))
        && exp != 0
        && at >= created + exp
    {
        return Err((
            Reason::ExpiredKey,
            format!("OpenPGP key {fpr} had expired when it signed"),
        ));
    }
    let Component::Subkey(sub) = component else {
        return Ok(());
    };
    let sfpr = hex_upper(sub.key.fingerprint().as_bytes());
    let mut binding: Option<&Signature> = None;
    for sig in &sub.signatures {
        if sig.verify_subkey_binding(primary, &sub.key).is_err() {
            continue;
        }
        match sig.typ() {
            Some(SignatureType::SubkeyRevocation) if revokes(sig, at) => {
                return Err((
                    Reason::RevokedKey,
                    format!("OpenPGP subkey {sfpr} of {fpr} is revoked"),
                ));
            }
            Some(SignatureType::SubkeyBinding) => binding = newer(binding, sig),
            _ => {}
        }
    }
    let Some(binding) = binding else {
        return Err((
            Reason::UnknownKey,
            format!("OpenPGP subkey {sfpr} is not bound to {fpr}"),
        ));
    };
    // A signing subkey must be flagged for signing and cross-certify its primary key, or anyone
    // could attach someone else's signing key as their own subkey.
    let back = binding
        .embedded_signature()
        .is_some_and(|b| b.verify_primary_key_binding(&sub.key, primary).is_ok());
    if !binding.key_flags().sign() || !back {
        return Err((
            Reason::UnknownKey,
            format!("OpenPGP subkey {sfpr} of {fpr} is not a signing subkey"),
        ));
    }
    let screated = i64::from(sub.key.created_at().as_secs());
    if at < screated {
        return Err((
            Reason::BadSignature,
            format!("the signature predates OpenPGP subkey {sfpr}"),
        ));
    }
    if let Some(exp) = binding
        .key_expiration_time()
        .map(|d| i64::from(d.as_secs()))
        && exp != 0
        && at >= screated + exp
    {
        return Err((
            Reason::ExpiredKey,
            format!("OpenPGP subkey {sfpr} of {fpr} had expired when it signed"),
        ));
    }
    Ok(())
}

/// Whether a (verified) revocation signature invalidates a signature made at `at`.
fn revokes(rev: &Signature, at: i64) -> bool {
    match rev.revocation_reason_code() {
        Some(RevocationCode::KeySuperseded) | Some(RevocationCode::KeyRetired) => {
            rev.created().is_none_or(|t| i64::from(t.as_secs()) <= at)
        }
        _ => true,
    }
}

fn newer<'a>(current: Option<&'a Signature>, candidate: &'a Signature) -> Option<&'a Signature> {
    let t = |s: &Signature| s.created().map(|t| t.as_secs()).unwrap_or(0);
    match current {
        Some(c) if t(c) > t(candidate) => Some(c),
        _ => Some(candidate),
    }
}

fn primary_uid(cert: &SignedPublicKey) -> Option<String> {
    cert.details
        .users
        .first()
        .map(|u| String::from_utf8_lossy(u.id.id()).into_owned())
}

fn issuer_name(sig: &Signature) -> Option<String> {
    if let Some(fp) = sig.issuer_fingerprint().first() {
        return Some(hex_upper(fp.as_bytes()));
    }
    sig.issuer_key_id().first().map(|id| hex_upper(id.as_ref()))
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
