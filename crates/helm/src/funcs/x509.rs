//! Sprig's key and certificate functions (`genPrivateKey`, `genCA`, `genSelfSignedCert`,
//! `genSignedCert`, their `WithKey` forms, `buildCustomCert`) as Go's crypto/x509 builds them:
//! the same key types and PEM blocks, the same certificate fields and extensions. Every result is
//! random, so every call marks the render nondeterministic. DSA keys are refused.

use std::any::Any;
use std::rc::Rc;

use base64::Engine as _;
use gantry_gotmpl::{GoError, Object, Ty, Value, gofmt};
use rand::Rng as _;
use ring::signature::KeyPair as _;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};

use super::Reg;

// --- DER ---

const SEQ: u8 = 0x30;
const SET: u8 = 0x31;
const INT: u8 = 0x02;
const BITS: u8 = 0x03;
const OCTETS: u8 = 0x04;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;
const BOOL: u8 = 0x01;

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(SEQ, &parts.concat())
}

/// An unsigned big-endian integer as a DER INTEGER.
fn uint(be: &[u8]) -> Vec<u8> {
    let mut b: Vec<u8> = be.iter().copied().skip_while(|x| *x == 0).collect();
    if b.is_empty() || b[0] & 0x80 != 0 {
        b.insert(0, 0);
    }
    tlv(INT, &b)
}

fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut push = |mut v: u64| {
        let mut tmp = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            tmp.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        tmp.reverse();
        body.extend(tmp);
    };
    push(arcs[0] * 40 + arcs[1]);
    for a in &arcs[2..] {
        push(*a);
    }
    tlv(OID, &body)
}

fn bit_string(bytes: &[u8], unused: u8) -> Vec<u8> {
    let mut c = vec![unused];
    c.extend_from_slice(bytes);
    tlv(BITS, &c)
}

/// One TLV: (tag, content, rest).
fn read(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = buf.split_first()?;
    let (&l0, mut rest) = rest.split_first()?;
    let len = if l0 < 0x80 {
        l0 as usize
    } else {
        let n = (l0 & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for b in &rest[..n] {
            len = (len << 8) | *b as usize;
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Every TLV of a constructed value's content.
fn children(mut buf: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let (t, c, rest) = read(buf)?;
        out.push((t, c));
        buf = rest;
    }
    Some(out)
}

const OID_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];
const OID_SHA256_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 11];
const OID_EC: &[u64] = &[1, 2, 840, 10045, 2, 1];
const OID_P256: &[u64] = &[1, 2, 840, 10045, 3, 1, 7];
const OID_P384: &[u64] = &[1, 3, 132, 0, 34];
const OID_ECDSA_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];
const OID_ECDSA_SHA384: &[u64] = &[1, 2, 840, 10045, 4, 3, 3];
const OID_ED25519: &[u64] = &[1, 3, 101, 112];

// --- PEM, as encoding/pem ---

fn pem_encode(kind: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {kind}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {kind}-----\n"));
    out
}

/// `pem.Decode`'s first block: its type and bytes.
fn pem_decode(text: &str) -> Option<(String, Vec<u8>)> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + 11..];
    let type_end = rest.find("-----")?;
    let kind = rest[..type_end].to_string();
    let body = &rest[type_end + 5..];
    let end_marker = format!("-----END {kind}-----");
    let end = body.find(&end_marker)?;
    let body = &body[..end];
    // Headers ("Key: value" lines before a blank line) are skipped, as pem.Decode does.
    let body = match body.find("\n\n") {
        Some(i) if body[..i].contains(':') => &body[i + 2..],
        _ => body,
    };
    let clean: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(clean)
        .ok()?;
    Some((kind, der))
}

// --- keys ---

enum Curve {
    P256,
    P384,
}

enum Key {
    Rsa(Box<rsa::RsaPrivateKey>),
    /// The curve, the PKCS#8 document ring reads, and the SEC1 form Go writes.
    Ec(Curve, Vec<u8>, Vec<u8>),
    Ed25519([u8; 32]),
}

fn rng() -> ring::rand::SystemRandom {
    ring::rand::SystemRandom::new()
}

/// An RSA key of `bits` bits (sprig's `genPrivateKey "rsa"` asks for 4,096, `genCA` for
/// 2,048). The rsa crate's own search took 0.4–2 s for 4,096 bits, where Go takes a third of
/// that: its primes are searched here on every core at once, past a sieve of the primes
/// below 2^14, so that far fewer candidates reach the slow test.
fn rsa_key(bits: usize) -> Result<Key, String> {
    use num_bigint_dig::BigUint;
    let e = BigUint::from(65_537u32);
    for _ in 0..64 {
        let [p, q] = two_primes(bits / 2, bits - bits / 2)?;
        if p == q || (&p * &q).bits() != bits {
            continue;
        }
        if let Ok(k) = rsa::RsaPrivateKey::from_p_q(p, q, e.clone()) {
            return Ok(Key::Rsa(Box::new(k)));
        }
    }
    Err("could not generate an RSA key".into())
}

/// The odd primes below 2^14, for [`prime_near`]'s sieve.
fn sieve_primes() -> &'static [u32] {
    static PRIMES: std::sync::OnceLock<Vec<u32>> = std::sync::OnceLock::new();
    PRIMES.get_or_init(|| {
        const N: usize = 1 << 14;
        let mut composite = vec![false; N];
        let mut out = Vec::new();
        for i in 2..N {
            if !composite[i] {
                if i > 2 {
                    out.push(i as u32);
                }
                for j in (i * i..N).step_by(i) {
                    composite[j] = true;
                }
            }
        }
        out
    })
}

/// Two primes of the given sizes, found by as many threads as there are cores (each search
/// stops when the two are found).
fn two_primes(a: usize, b: usize) -> Result<[num_bigint_dig::BigUint; 2], String> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4));
    let found = std::sync::Mutex::new(Vec::with_capacity(2));
    let done = AtomicBool::new(false);
    // Each thread looks for the size still missing: `a` first, then `b`.
    let want = |have: usize| if have == 0 { a } else { b };
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    let bits = want(found.lock().map_or(2, |f| f.len()));
                    let Some(p) = prime_near(bits, &done) else {
                        continue;
                    };
                    let Ok(mut f) = found.lock() else { return };
                    if f.len() < 2 && p.bits() == want(f.len()) {
                        f.push(p);
                    }
                    if f.len() == 2 {
                        done.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let found = found
        .into_inner()
        .map_err(|_| "a prime search failed".to_owned())?;
    match <[_; 2]>::try_from(found) {
        Ok(two) => Ok(two),
        Err(_) => Err("a prime search failed".into()),
    }
}

/// A random prime of `bits` bits with its top two bits set (two of them make a modulus of
/// the full size), searched upwards from a random odd number; `None` when `stop` is set or
/// the window holds none.
fn prime_near(
    bits: usize,
    stop: &std::sync::atomic::AtomicBool,
) -> Option<num_bigint_dig::BigUint> {
    use num_bigint_dig::BigUint;
    use ring::rand::SecureRandom;
    let len = bits.div_ceil(8);
    let mut bytes = vec![0u8; len];
    rng().fill(&mut bytes).ok()?;
    let top = bits - (len - 1) * 8;
    bytes[0] &= ((1u32 << top) - 1) as u8;
    if top >= 2 {
        bytes[0] |= 3 << (top - 2);
    } else {
        bytes[0] |= 1;
        bytes[1] |= 0x80;
    }
    bytes[len - 1] |= 1;
    let primes = sieve_primes();
    let rems: Vec<u32> = primes
        .iter()
        .map(|&p| {
            bytes
                .iter()
                .fold(0u32, |r, &b| ((r << 8) | u32::from(b)) % p)
        })
        .collect();
    let base = BigUint::from_bytes_be(&bytes);
    'delta: for delta in (0u32..1 << 16).step_by(2) {
        for (&p, &r) in primes.iter().zip(&rems) {
            if (r + delta) % p == 0 {
                continue 'delta;
            }
        }
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        let candidate = &base + BigUint::from(delta);
        if candidate.bits() != bits {
            return None;
        }
        if num_bigint_dig::prime::probably_prime(&candidate, 20) {
            return Some(candidate);
        }
    }
    None
}

fn curve_oid(c: &Curve) -> &'static [u64] {
    match c {
        Curve::P256 => OID_P256,
        Curve::P384 => OID_P384,
    }
}

fn ec_alg(c: &Curve) -> &'static ring::signature::EcdsaSigningAlgorithm {
    match c {
        Curve::P256 => &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        Curve::P384 => &ring::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
    }
}

fn pkcs8_ec(c: &Curve, sec1: &[u8]) -> Vec<u8> {
    seq(&[
        uint(&[0]),
        seq(&[oid(OID_EC), oid(curve_oid(c))]),
        tlv(OCTETS, sec1),
    ])
}

/// An EC key from SEC1 (`EC PRIVATE KEY`), with Go's form (parameters and public key) kept.
fn ec_from_sec1(sec1: &[u8]) -> Result<Key, String> {
    let bad =
        || "parsing EC private key from PEM: x509: failed to parse EC private key".to_string();
    let (t, body, _) = read(sec1).ok_or_else(bad)?;
    if t != SEQ {
        return Err(bad());
    }
    let parts = children(body).ok_or_else(bad)?;
    let curve = parts
        .iter()
        .find(|(t, _)| *t == 0xa0)
        .and_then(|(_, c)| read(c))
        .map(|(_, c, _)| c.to_vec());
    let curve = match curve {
        Some(c) if tlv(OID, &c) == oid(OID_P256) => Curve::P256,
        Some(c) if tlv(OID, &c) == oid(OID_P384) => Curve::P384,
        Some(_) => {
            return Err(
                "parsing EC private key from PEM: x509: unknown elliptic curve".to_string(),
            );
        }
        None => return Err(bad()),
    };
    let pkcs8 = pkcs8_ec(&curve, sec1);
    ring::signature::EcdsaKeyPair::from_pkcs8(ec_alg(&curve), &pkcs8, &rng()).map_err(|_| bad())?;
    Ok(Key::Ec(curve, pkcs8, sec1.to_vec()))
}

fn ec_key(curve: Curve) -> Result<Key, String> {
    let r = rng();
    let doc = ring::signature::EcdsaKeyPair::generate_pkcs8(ec_alg(&curve), &r)
        .map_err(|_| "failed to generate private key".to_string())?;
    let pair = ring::signature::EcdsaKeyPair::from_pkcs8(ec_alg(&curve), doc.as_ref(), &r)
        .map_err(|_| "failed to generate private key".to_string())?;
    // ring's inner ECPrivateKey: version, private key, [1] public key; Go adds [0] the curve.
    let inner = read(doc.as_ref())
        .and_then(|(_, c, _)| children(c))
        .and_then(|p| p.get(2).map(|(_, c)| c.to_vec()))
        .and_then(|c| {
            read(&c).and_then(|(_, s, _)| children(s)).map(|parts| {
                parts
                    .iter()
                    .find(|(t, _)| *t == OCTETS)
                    .map(|(_, c)| c.to_vec())
            })
        })
        .flatten()
        .ok_or_else(|| "failed to generate private key".to_string())?;
    let sec1 = seq(&[
        uint(&[1]),
        tlv(OCTETS, &inner),
        tlv(0xa0, &oid(curve_oid(&curve))),
        tlv(0xa1, &bit_string(pair.public_key().as_ref(), 0)),
    ]);
    let pkcs8 = pkcs8_ec(&curve, &sec1);
    Ok(Key::Ec(curve, pkcs8, sec1))
}

fn ed25519_key() -> Key {
    let mut seed = [0u8; 32];
    rand::rng().fill(&mut seed);
    Key::Ed25519(seed)
}

/// Sprig's `parsePrivateKeyPEM`.
fn parse_key_pem(text: &str) -> Result<Key, String> {
    let (kind, der) = pem_decode(text).ok_or_else(|| "no PEM data in input".to_string())?;
    if kind == "PRIVATE KEY" {
        return parse_pkcs8(&der).map_err(|e| format!("decoding PEM as PKCS#8: {e}"));
    }
    let Some(prefix) = kind.strip_suffix(" PRIVATE KEY") else {
        return Err(format!("no private key data in PEM block of type {kind}"));
    };
    match prefix {
        "RSA" => rsa::RsaPrivateKey::from_pkcs1_der(&der)
            .map(|k| Key::Rsa(Box::new(k)))
            .map_err(|e| format!("parsing RSA private key from PEM: {e}")),
        "EC" => ec_from_sec1(&der),
        "DSA" => Err("DSA keys are not supported by Gantry".to_string()),
        _ => Err(format!("invalid private key type {kind}")),
    }
}

fn parse_pkcs8(der: &[u8]) -> Result<Key, String> {
    let bad = || "x509: malformed PKCS#8 private key".to_string();
    let (_, body, _) = read(der).ok_or_else(bad)?;
    let parts = children(body).ok_or_else(bad)?;
    let alg = parts
        .get(1)
        .and_then(|(_, c)| children(c))
        .ok_or_else(bad)?;
    let alg_oid = alg.first().map(|(_, c)| tlv(OID, c)).ok_or_else(bad)?;
    if alg_oid == oid(OID_RSA) {
        return rsa::RsaPrivateKey::from_pkcs8_der(der)
            .map(|k| Key::Rsa(Box::new(k)))
            .map_err(|e| e.to_string());
    }
    if alg_oid == oid(OID_ED25519) {
        let seed = parts
            .get(2)
            .and_then(|(_, c)| read(c))
            .filter(|(t, c, _)| *t == OCTETS && c.len() == 32)
            .map(|(_, c, _)| c)
            .ok_or_else(bad)?;
        let mut s = [0u8; 32];
        s.copy_from_slice(seed);
        return Ok(Key::Ed25519(s));
    }
    if alg_oid == oid(OID_EC) {
        let sec1 = parts.get(2).map(|(_, c)| c.to_vec()).ok_or_else(bad)?;
        let curve = match alg.get(1).map(|(_, c)| tlv(OID, c)) {
            Some(c) if c == oid(OID_P256) => Curve::P256,
            Some(c) if c == oid(OID_P384) => Curve::P384,
            _ => return Err("x509: unsupported elliptic curve".to_string()),
        };
        ring::signature::EcdsaKeyPair::from_pkcs8(ec_alg(&curve), der, &rng())
            .map_err(|_| "x509: failed to parse EC private key embedded in PKCS#8".to_string())?;
        return Ok(Key::Ec(curve, der.to_vec(), sec1));
    }
    Err("x509: PKCS#8 wrapping contained private key with unknown algorithm".to_string())
}

impl Key {
    /// `pemBlockForKey`.
    fn pem(&self) -> Result<String, String> {
        Ok(match self {
            Key::Rsa(k) => {
                let der = k.to_pkcs1_der().map_err(|e| e.to_string())?;
                pem_encode("RSA PRIVATE KEY", der.as_bytes())
            }
            Key::Ec(_, _, sec1) => pem_encode("EC PRIVATE KEY", sec1),
            Key::Ed25519(seed) => pem_encode(
                "PRIVATE KEY",
                &seq(&[
                    uint(&[0]),
                    seq(&[oid(OID_ED25519)]),
                    tlv(OCTETS, &tlv(OCTETS, seed)),
                ]),
            ),
        })
    }

    fn spki(&self) -> Result<Vec<u8>, String> {
        Ok(match self {
            Key::Rsa(k) => {
                let pk = k
                    .to_public_key()
                    .to_pkcs1_der()
                    .map_err(|e| e.to_string())?;
                seq(&[
                    seq(&[oid(OID_RSA), tlv(NULL, &[])]),
                    bit_string(pk.as_bytes(), 0),
                ])
            }
            Key::Ec(c, pkcs8, _) => {
                let pair = ring::signature::EcdsaKeyPair::from_pkcs8(ec_alg(c), pkcs8, &rng())
                    .map_err(|_| "invalid EC key".to_string())?;
                seq(&[
                    seq(&[oid(OID_EC), oid(curve_oid(c))]),
                    bit_string(pair.public_key().as_ref(), 0),
                ])
            }
            Key::Ed25519(seed) => {
                let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed)
                    .map_err(|_| "invalid Ed25519 key".to_string())?;
                seq(&[
                    seq(&[oid(OID_ED25519)]),
                    bit_string(pair.public_key().as_ref(), 0),
                ])
            }
        })
    }

    /// The public key's bytes (the SPKI's bit string), for the subject key id.
    fn public_bits(&self) -> Result<Vec<u8>, String> {
        let spki = self.spki()?;
        let bits = read(&spki)
            .and_then(|(_, c, _)| children(c))
            .and_then(|p| p.get(1).map(|(_, c)| c[1..].to_vec()))
            .ok_or_else(|| "invalid public key".to_string())?;
        Ok(bits)
    }

    /// The signature algorithm Go picks for the key.
    fn sig_alg(&self) -> Vec<u8> {
        match self {
            Key::Rsa(_) => seq(&[oid(OID_SHA256_RSA), tlv(NULL, &[])]),
            Key::Ec(Curve::P256, ..) => seq(&[oid(OID_ECDSA_SHA256)]),
            Key::Ec(Curve::P384, ..) => seq(&[oid(OID_ECDSA_SHA384)]),
            Key::Ed25519(_) => seq(&[oid(OID_ED25519)]),
        }
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Key::Rsa(k) => {
                let signer = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new((**k).clone());
                Ok(signer.try_sign(msg).map_err(|e| e.to_string())?.to_vec())
            }
            Key::Ec(c, pkcs8, _) => {
                let r = rng();
                let pair = ring::signature::EcdsaKeyPair::from_pkcs8(ec_alg(c), pkcs8, &r)
                    .map_err(|_| "invalid EC key".to_string())?;
                pair.sign(&r, msg)
                    .map(|s| s.as_ref().to_vec())
                    .map_err(|_| "ECDSA signing failed".to_string())
            }
            Key::Ed25519(seed) => {
                let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed)
                    .map_err(|_| "invalid Ed25519 key".to_string())?;
                Ok(pair.sign(msg).as_ref().to_vec())
            }
        }
    }
}

// --- certificates, as x509.CreateCertificate ---

/// Sprig's `certificate`: `.Cert` and `.Key`, PEM text.
#[derive(Debug)]
pub(crate) struct Certificate {
    cert: String,
    key: String,
}

impl Object for Certificate {
    fn type_name(&self) -> &str {
        "sprig.certificate"
    }
    fn kind(&self) -> &'static str {
        "struct"
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Cert" => Some(Value::str(&self.cert)),
            "Key" => Some(Value::str(&self.key)),
            _ => None,
        }
    }
    fn format(&self) -> String {
        format!("{{{} {}}}", self.cert, self.key)
    }
    fn json(&self) -> Result<Value, String> {
        let m = gantry_gotmpl::Map::new();
        m.insert("Cert", Value::str(&self.cert));
        m.insert("Key", Value::str(&self.key));
        Ok(Value::Map(m))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// asn1's string choice for a name: PrintableString when it can be one, else UTF8String.
fn name_string(s: &str) -> Vec<u8> {
    let printable = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?*".contains(&b));
    tlv(if printable { 0x13 } else { 0x0c }, s.as_bytes())
}

fn subject(cn: &str) -> Vec<u8> {
    if cn.is_empty() {
        return seq(&[]);
    }
    seq(&[tlv(SET, &seq(&[oid(&[2, 5, 4, 3]), name_string(cn)]))])
}

/// UTCTime for 1950–2049, GeneralizedTime otherwise, as Go's asn1 marshals a time.
fn der_time(unix: i64) -> Vec<u8> {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = super::date::civil_from_days(days);
    let hms = format!("{:02}{:02}{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if (1950..2050).contains(&y) {
        tlv(0x17, format!("{:02}{m:02}{d:02}{hms}Z", y % 100).as_bytes())
    } else {
        tlv(0x18, format!("{y:04}{m:02}{d:02}{hms}Z").as_bytes())
    }
}

fn extension(id: &[u64], critical: bool, value: Vec<u8>) -> Vec<u8> {
    let mut parts = vec![oid(id)];
    if critical {
        parts.push(tlv(BOOL, &[0xff]));
    }
    parts.push(tlv(OCTETS, &value));
    seq(&parts)
}

const KU_DIGITAL_SIGNATURE: u16 = 1;
const KU_KEY_ENCIPHERMENT: u16 = 1 << 2;
const KU_CERT_SIGN: u16 = 1 << 5;

fn key_usage(ku: u16) -> Vec<u8> {
    let a = [(ku as u8).reverse_bits(), ((ku >> 8) as u8).reverse_bits()];
    let bytes: &[u8] = if a[1] != 0 { &a } else { &a[..1] };
    let last = bytes[bytes.len() - 1];
    let unused = if last == 0 {
        0
    } else {
        last.trailing_zeros() as u8
    };
    bit_string(bytes, unused)
}

struct Template {
    cn: String,
    ips: Vec<std::net::IpAddr>,
    dns: Vec<String>,
    days: i64,
    is_ca: bool,
}

/// `getBaseCertTemplate`'s argument checks.
fn template(cn: &str, ips: &Value, dns: &Value, days: i64) -> Result<Template, String> {
    let mut t = Template {
        cn: cn.to_string(),
        ips: Vec::new(),
        dns: Vec::new(),
        days,
        is_ca: false,
    };
    if let Value::List(l) = ips {
        for v in l.items.iter() {
            let Value::String(s) = v else {
                return Err(format!(
                    "error parsing ip: {} is not a string",
                    gofmt::format_v(v).map_err(|e| e.to_string())?
                ));
            };
            t.ips
                .push(parse_ip(s).ok_or_else(|| format!("error parsing ip: {s}"))?);
        }
    }
    if let Value::List(l) = dns {
        for v in l.items.iter() {
            let Value::String(s) = v else {
                return Err(format!(
                    "error processing alternate dns name: {} is not a string",
                    gofmt::format_v(v).map_err(|e| e.to_string())?
                ));
            };
            t.dns.push(s.to_string());
        }
    }
    Ok(t)
}

/// `net.ParseIP`.
fn parse_ip(s: &str) -> Option<std::net::IpAddr> {
    if s.contains(':') {
        s.parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|ip| match ip.to_ipv4_mapped() {
                Some(v4) => std::net::IpAddr::V4(v4),
                None => std::net::IpAddr::V6(ip),
            })
    } else {
        s.parse::<std::net::Ipv4Addr>()
            .ok()
            .map(std::net::IpAddr::V4)
    }
}

/// What a parent certificate gives a child: its subject (the child's issuer) and key id.
struct Parent {
    subject: Vec<u8>,
    key_id: Option<Vec<u8>>,
}

/// The parts of a certificate `x509.ParseCertificate` must accept for Sprig to go on.
fn parse_cert(der: &[u8]) -> Result<Parent, String> {
    let bad = || "x509: malformed certificate".to_string();
    let (t, body, rest) = read(der).ok_or_else(bad)?;
    if t != SEQ || !rest.is_empty() {
        return Err(bad());
    }
    let parts = children(body).ok_or_else(bad)?;
    if parts.len() != 3 || parts[0].0 != SEQ || parts[1].0 != SEQ || parts[2].0 != BITS {
        return Err(bad());
    }
    let tbs = children(parts[0].1).ok_or_else(bad)?;
    let mut i = 0;
    if tbs.first().is_some_and(|(t, _)| *t == 0xa0) {
        i = 1;
    }
    // serial, signature, issuer, validity, subject, spki
    if tbs.len() < i + 6 || tbs[i].0 != INT {
        return Err(bad());
    }
    let subject = tlv(tbs[i + 4].0, tbs[i + 4].1);
    let mut key_id = None;
    if let Some((_, exts)) = tbs.iter().find(|(t, _)| *t == 0xa3) {
        let (_, list, _) = read(exts).ok_or_else(bad)?;
        for (_, ext) in children(list).ok_or_else(bad)? {
            let fields = children(ext).ok_or_else(bad)?;
            if fields.first().map(|(_, c)| tlv(OID, c)) == Some(oid(&[2, 5, 29, 14])) {
                let value = fields.last().ok_or_else(bad)?.1;
                let (_, id, _) = read(value).ok_or_else(bad)?;
                key_id = Some(id.to_vec());
            }
        }
    }
    Ok(Parent { subject, key_id })
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `getCertAndKey`: the certificate of `t` for `key`, signed by `signer` (itself when `parent`
/// is `None`).
fn create(t: &Template, key: &Key, parent: Option<(&Parent, &Key)>) -> Result<Certificate, String> {
    let mut serial = [0u8; 16];
    rand::rng().fill(&mut serial);
    let now = now_unix();
    let subj = subject(&t.cn);
    let signer = parent.map(|(_, k)| k).unwrap_or(key);
    let issuer = parent
        .map(|(p, _)| p.subject.clone())
        .unwrap_or(subj.clone());
    let mut ku = KU_KEY_ENCIPHERMENT | KU_DIGITAL_SIGNATURE;
    if t.is_ca {
        ku |= KU_CERT_SIGN;
    }
    let mut exts = vec![
        extension(&[2, 5, 29, 15], true, key_usage(ku)),
        extension(
            &[2, 5, 29, 37],
            false,
            seq(&[
                oid(&[1, 3, 6, 1, 5, 5, 7, 3, 1]),
                oid(&[1, 3, 6, 1, 5, 5, 7, 3, 2]),
            ]),
        ),
        extension(
            &[2, 5, 29, 19],
            true,
            if t.is_ca {
                seq(&[tlv(BOOL, &[0xff])])
            } else {
                seq(&[])
            },
        ),
    ];
    if t.is_ca {
        // Go 1.25+: the first 160 bits of the public key's SHA-256.
        use sha2::Digest as _;
        let id = sha2::Sha256::digest(key.public_bits()?);
        exts.push(extension(&[2, 5, 29, 14], false, tlv(OCTETS, &id[..20])));
    }
    if let Some((p, _)) = parent
        && p.subject != subj
        && let Some(id) = &p.key_id
    {
        exts.push(extension(&[2, 5, 29, 35], false, seq(&[tlv(0x80, id)])));
    }
    if !t.dns.is_empty() || !t.ips.is_empty() {
        let mut names = Vec::new();
        for d in &t.dns {
            // crypto/x509's marshalSANs: a DNS name is an IA5String, ASCII only.
            if !d.is_ascii() {
                return Err(format!(
                    "error creating certificate: x509: {} cannot be encoded as an IA5String",
                    gantry_gotmpl::gofmt::quote(d)
                ));
            }
            names.push(tlv(0x82, d.as_bytes()));
        }
        for ip in &t.ips {
            match ip {
                std::net::IpAddr::V4(v4) => names.push(tlv(0x87, &v4.octets())),
                std::net::IpAddr::V6(v6) => names.push(tlv(0x87, &v6.octets())),
            }
        }
        exts.push(extension(&[2, 5, 29, 17], t.cn.is_empty(), seq(&names)));
    }
    let sig_alg = signer.sig_alg();
    let tbs = seq(&[
        tlv(0xa0, &uint(&[2])),
        uint(&serial),
        sig_alg.clone(),
        issuer,
        seq(&[der_time(now), der_time(now + t.days * 86_400)]),
        subj,
        key.spki()?,
        tlv(0xa3, &seq(&exts)),
    ]);
    let sig = signer
        .sign(&tbs)
        .map_err(|e| format!("error creating certificate: {e}"))?;
    let cert = seq(&[tbs, sig_alg, bit_string(&sig, 0)]);
    Ok(Certificate {
        cert: pem_encode("CERTIFICATE", &cert),
        key: key
            .pem()
            .map_err(|e| format!("error pem-encoding key: {e}"))?,
    })
}

fn cert_value(c: Certificate) -> Value {
    Value::Object(Rc::new(c))
}

fn ca_arg(v: &Value) -> Result<(Parent, Key), GoError> {
    let Some(ca) = (match v {
        Value::Object(o) => o.as_any().downcast_ref::<Certificate>(),
        _ => None,
    }) else {
        let got = if matches!(v, Value::Nil | Value::Invalid) {
            "interface {}".to_string()
        } else {
            v.type_name()
        };
        return Err(GoError::new(format!(
            "wrong type for value; expected sprig.certificate; got {got}"
        )));
    };
    let (_, der) =
        pem_decode(&ca.cert).ok_or_else(|| GoError::new("unable to decode certificate"))?;
    let parent = parse_cert(&der).map_err(|e| {
        GoError::new(format!(
            "error parsing certificate: decodedSignerCert.Bytes: {e}"
        ))
    })?;
    let key = parse_key_pem(&ca.key)
        .map_err(|e| GoError::new(format!("error parsing private key: {e}")))?;
    Ok((parent, key))
}

fn with_key(pem: &str) -> Result<Key, GoError> {
    parse_key_pem(pem).map_err(|e| GoError::new(format!("parsing private key: {e}")))
}

fn new_rsa() -> Result<Key, GoError> {
    rsa_key(2048).map_err(|e| GoError::new(format!("error generating rsa key: {e}")))
}

pub(super) fn register(r: &mut Reg<'_>) {
    const S: Ty = Ty::Str;
    const I: Ty = Ty::Int;
    const L: Ty = Ty::SliceAny;
    const A: Ty = Ty::Any;
    r.add("genPrivateKey", &[S], None, |rt, a| {
        rt.budget.note_nondeterminism("genPrivateKey");
        let typ = super::s(&a[0]);
        let key = match typ {
            "" | "rsa" => rsa_key(4096),
            "ecdsa" => ec_key(Curve::P256),
            "ed25519" => Ok(ed25519_key()),
            "dsa" => {
                return Err(GoError::unsupported(
                    "genPrivateKey \"dsa\" (DSA keys) is not supported by Gantry",
                ));
            }
            _ => return Ok(Value::string(format!("Unknown type {typ}"))),
        };
        Ok(Value::string(match key.and_then(|k| k.pem()) {
            Ok(p) => p,
            Err(e) => format!("failed to generate private key: {e}"),
        }))
    });
    r.add("buildCustomCert", &[S, S], None, |_, a| {
        let b64 = &base64::engine::general_purpose::STANDARD;
        let cert = b64
            .decode(super::s(&a[0]))
            .map_err(|_| GoError::new("unable to decode base64 certificate"))?;
        let key = b64
            .decode(super::s(&a[1]))
            .map_err(|_| GoError::new("unable to decode base64 private key"))?;
        let cert = String::from_utf8_lossy(&cert).into_owned();
        let key = String::from_utf8_lossy(&key).into_owned();
        let (_, der) =
            pem_decode(&cert).ok_or_else(|| GoError::new("unable to decode certificate"))?;
        parse_cert(&der).map_err(|e| {
            GoError::new(format!("error parsing certificate: decodedCert.Bytes: {e}"))
        })?;
        parse_key_pem(&key).map_err(|e| GoError::new(format!("error parsing private key: {e}")))?;
        Ok(cert_value(Certificate { cert, key }))
    });
    fn ca(
        rt: &mut gantry_gotmpl::Runtime<'_>,
        name: &str,
        cn: &str,
        days: i64,
        key: Key,
    ) -> Result<Value, GoError> {
        rt.budget.note_nondeterminism(name);
        let mut t = template(cn, &Value::Nil, &Value::Nil, days).map_err(GoError::new)?;
        t.is_ca = true;
        create(&t, &key, None).map(cert_value).map_err(GoError::new)
    }
    r.add("genCA", &[S, I], None, |rt, a| {
        ca(rt, "genCA", super::s(&a[0]), a[1].as_int(), new_rsa()?)
    });
    r.add("genCAWithKey", &[S, I, S], None, |rt, a| {
        let key = with_key(super::s(&a[2]))?;
        ca(rt, "genCAWithKey", super::s(&a[0]), a[1].as_int(), key)
    });
    fn self_signed(
        rt: &mut gantry_gotmpl::Runtime<'_>,
        name: &str,
        a: &[Value],
        key: Key,
    ) -> Result<Value, GoError> {
        rt.budget.note_nondeterminism(name);
        let t = template(super::s(&a[0]), &a[1], &a[2], a[3].as_int()).map_err(GoError::new)?;
        create(&t, &key, None).map(cert_value).map_err(GoError::new)
    }
    r.add("genSelfSignedCert", &[S, L, L, I], None, |rt, a| {
        self_signed(rt, "genSelfSignedCert", a, new_rsa()?)
    });
    r.add(
        "genSelfSignedCertWithKey",
        &[S, L, L, I, S],
        None,
        |rt, a| {
            let key = with_key(super::s(&a[4]))?;
            self_signed(rt, "genSelfSignedCertWithKey", a, key)
        },
    );
    fn signed(
        rt: &mut gantry_gotmpl::Runtime<'_>,
        name: &str,
        a: &[Value],
        key: Key,
    ) -> Result<Value, GoError> {
        rt.budget.note_nondeterminism(name);
        let (parent, signer) = ca_arg(&a[4])?;
        let t = template(super::s(&a[0]), &a[1], &a[2], a[3].as_int()).map_err(GoError::new)?;
        create(&t, &key, Some((&parent, &signer)))
            .map(cert_value)
            .map_err(GoError::new)
    }
    r.add("genSignedCert", &[S, L, L, I, A], None, |rt, a| {
        ca_arg(&a[4])?;
        signed(rt, "genSignedCert", a, new_rsa()?)
    });
    r.add(
        "genSignedCertWithKey",
        &[S, L, L, I, A, S],
        None,
        |rt, a| {
            let key = with_key(super::s(&a[5]))?;
            signed(rt, "genSignedCertWithKey", a, key)
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_gotmpl::List;

    #[test]
    fn rsa_keys_searched_on_several_threads_are_valid_and_full_size() {
        use rsa::traits::PublicKeyParts;
        for bits in [512, 513, 1024] {
            let Ok(Key::Rsa(k)) = rsa_key(bits) else {
                panic!("an RSA key of {bits} bits");
            };
            k.validate().expect("a consistent key");
            assert_eq!(k.n().bits(), bits);
            assert_eq!(k.e(), &num_bigint_dig::BigUint::from(65_537u32));
        }
        let p = prime_near(256, &std::sync::atomic::AtomicBool::new(false)).expect("a prime");
        assert_eq!(p.bits(), 256);
        assert!(num_bigint_dig::prime::probably_prime(&p, 30));
    }

    #[test]
    fn key_usage_bits_as_go_marshals_them() {
        assert_eq!(
            key_usage(KU_KEY_ENCIPHERMENT | KU_DIGITAL_SIGNATURE),
            vec![3, 2, 5, 0xa0]
        );
        assert_eq!(
            key_usage(KU_KEY_ENCIPHERMENT | KU_DIGITAL_SIGNATURE | KU_CERT_SIGN),
            vec![3, 2, 2, 0xa4]
        );
    }

    #[test]
    fn der_lengths_and_oids() {
        assert_eq!(
            oid(OID_RSA),
            vec![6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 1]
        );
        let long = tlv(OCTETS, &[0u8; 300]);
        assert_eq!(&long[..4], &[4, 0x82, 1, 0x2c]);
        assert_eq!(
            read(&long).map(|(t, c, r)| (t, c.len(), r.len())),
            Some((4, 300, 0))
        );
        assert_eq!(uint(&[0x80]), vec![2, 2, 0, 0x80]);
        assert_eq!(uint(&[0, 0, 5]), vec![2, 1, 5]);
    }

    #[test]
    fn times_pick_utc_or_generalized() {
        assert_eq!(der_time(0), tlv(0x17, b"700101000000Z"));
        assert_eq!(der_time(2_556_144_000), tlv(0x18, b"20510101000000Z"));
    }

    #[test]
    fn a_dns_name_beyond_ascii_fails_as_go_fails_it() {
        let key = ec_key(Curve::P256).expect("a key");
        let dns = Value::List(List::new(vec![Value::str("mesh-ü.ns")]));
        let t = template("cn", &Value::Nil, &dns, 30).expect("template");
        assert_eq!(
            create(&t, &key, None).err().as_deref(),
            Some(
                "error creating certificate: x509: \"mesh-ü.ns\" cannot be encoded as an IA5String"
            )
        );
    }

    #[test]
    fn a_chain_parses_and_keys_round_trip() {
        let ca_key = ec_key(Curve::P256).expect("a key");
        let mut t = template("my-ca", &Value::Nil, &Value::Nil, 365).expect("template");
        t.is_ca = true;
        let ca = create(&t, &ca_key, None).expect("a CA");
        let (kind, der) = pem_decode(&ca.cert).expect("PEM");
        assert_eq!(kind, "CERTIFICATE");
        let parent = parse_cert(&der).expect("parses");
        assert_eq!(parent.subject, subject("my-ca"));
        assert!(parent.key_id.is_some());
        let signer = parse_key_pem(&ca.key).expect("the key parses back");
        let leaf_key = ed25519_key();
        let ips = Value::List(List::new(vec![Value::str("10.0.0.1")]));
        let dns = Value::List(List::new(vec![Value::str("svc.ns.svc")]));
        let t = template("svc", &ips, &dns, 30).expect("template");
        let leaf = create(&t, &leaf_key, Some((&parent, &signer))).expect("a leaf");
        let (_, der) = pem_decode(&leaf.cert).expect("PEM");
        let leaf_parent = parse_cert(&der).expect("parses");
        assert_eq!(leaf_parent.subject, subject("svc"));
        assert!(matches!(parse_key_pem(&leaf.key), Ok(Key::Ed25519(_))));
        assert!(leaf.key.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(ca.key.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
    }

    #[test]
    fn bad_arguments_fail_as_sprig() {
        let ips = Value::List(List::new(vec![Value::Float(1.0)]));
        assert_eq!(
            template("x", &ips, &Value::Nil, 1).err().as_deref(),
            Some("error parsing ip: 1 is not a string")
        );
        let ips = Value::List(List::new(vec![Value::str("1.2.3")]));
        assert_eq!(
            template("x", &ips, &Value::Nil, 1).err().as_deref(),
            Some("error parsing ip: 1.2.3")
        );
        assert_eq!(
            parse_key_pem("nothing").err().as_deref(),
            Some("no PEM data in input")
        );
    }
}
