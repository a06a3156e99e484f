//! Random and cryptographic functions. Random ones work and mark the render nondeterministic;
//! certificate and key generation are not implemented yet and fail naming the function.

use gantry_gotmpl::{Ty, Value};
use rand::Rng as _;

use super::Reg;

const I: Ty = Ty::Int;
const S: Ty = Ty::Str;
const A: Ty = Ty::Any;

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
    r.unsupported("bcrypt", &[S], None);
    r.unsupported("htpasswd", &[S, S], Some(S));
    r.unsupported("genPrivateKey", &[S], None);
    r.unsupported("derivePassword", &[Ty::Int, S, S, S, S], None);
    r.unsupported("buildCustomCert", &[S, S], None);
    r.unsupported("genCA", &[S, I], None);
    r.unsupported("genCAWithKey", &[S, I, S], None);
    r.unsupported(
        "genSelfSignedCert",
        &[S, Ty::SliceAny, Ty::SliceAny, I],
        None,
    );
    r.unsupported(
        "genSelfSignedCertWithKey",
        &[S, Ty::SliceAny, Ty::SliceAny, I, S],
        None,
    );
    r.unsupported(
        "genSignedCert",
        &[S, Ty::SliceAny, Ty::SliceAny, I, A],
        None,
    );
    r.unsupported(
        "genSignedCertWithKey",
        &[S, Ty::SliceAny, Ty::SliceAny, I, A, S],
        None,
    );
    r.unsupported("encryptAES", &[S, S], None);
    r.unsupported("decryptAES", &[S, S], None);
}
