//! Random and cryptographic functions. Random ones work and mark the render nondeterministic;
//! keys and certificates are in `x509`.

use gantry_gotmpl::{Ty, Value};
use rand::Rng as _;

use super::Reg;

const I: Ty = Ty::Int;
const S: Ty = Ty::Str;

fn random_from(rt: &mut gantry_gotmpl::Runtime<'_>, name: &str, count: i64, set: &[u8]) -> Value {
    rt.budget.note_nondeterminism(name);
    if count <= 0 {
        return Value::str("");
    }
    let mut rng = rand::rng();
    let s: String = (0..count)
        .map(|_| set[rng.random_range(0..set.len())] as char)
        .collect();
    Value::string(s)
}

/// Go's `bcrypt.GenerateFromPassword` at the default cost (10), `$2a$` form, with Sprig's
/// message in place of a hash when it fails (a password over 72 bytes).
fn bcrypt_hash(password: &str) -> String {
    if password.len() > 72 {
        return "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes"
            .to_string();
    }
    match bcrypt::hash_with_result(password, 10) {
        Ok(parts) => parts.format_for_version(bcrypt::Version::TwoA),
        Err(e) => format!("failed to encrypt string with bcrypt: {e}"),
    }
}

const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const NUM: &[u8] = b"0123456789";

pub(super) fn register(r: &mut Reg<'_>) {
    r.add("randAlphaNum", &[I], None, |rt, a| {
        Ok(random_from(rt, "randAlphaNum", a[0].as_int(), ALNUM))
    });
    r.add("randAlpha", &[I], None, |rt, a| {
        Ok(random_from(rt, "randAlpha", a[0].as_int(), ALPHA))
    });
    r.add("randNumeric", &[I], None, |rt, a| {
        Ok(random_from(rt, "randNumeric", a[0].as_int(), NUM))
    });
    r.add("randAscii", &[I], None, |rt, a| {
        let set: Vec<u8> = (32u8..=126).collect();
        Ok(random_from(rt, "randAscii", a[0].as_int(), &set))
    });
    r.add("randBytes", &[I], None, |rt, a| {
        use base64::Engine as _;
        rt.budget.note_nondeterminism("randBytes");
        let n = a[0].as_int().max(0) as usize;
        let mut b = vec![0u8; n];
        rand::rng().fill(&mut b[..]);
        Ok(Value::string(
            base64::engine::general_purpose::STANDARD.encode(b),
        ))
    });
    r.add("uuidv4", &[], None, |rt, _| {
        rt.budget.note_nondeterminism("uuidv4");
        Ok(Value::string(uuid::Uuid::new_v4().to_string()))
    });
    r.add("bcrypt", &[S], None, |rt, a| {
        rt.budget.note_nondeterminism("bcrypt");
        Ok(Value::string(bcrypt_hash(super::s(&a[0]))))
    });
    r.add("htpasswd", &[S, S], None, |rt, a| {
        let user = super::s(&a[0]);
        if user.contains(':') {
            return Ok(Value::string(format!("invalid username: {user}")));
        }
        rt.budget.note_nondeterminism("htpasswd");
        Ok(Value::string(format!(
            "{user}:{}",
            bcrypt_hash(super::s(&a[1]))
        )))
    });
    r.unsupported("encryptAES", &[S, S], None);
    r.unsupported("decryptAES", &[S, S], None);
    // Sprig's `derivePassword(counter uint32, type, password, user, site string)`: known to
    // Helm, so a template calling it must not fail to parse as if it were undefined.
    r.unsupported("derivePassword", &[I, S, S, S, S], None);
}
