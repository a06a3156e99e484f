//! The template functions Helm provides: Sprig v3.3's (`sprig.TxtFuncMap`, minus `env` and
//! `expandenv`) and Helm's own (`toYaml`, `fromYaml`, `toJson`, `required`, `fail`, `lookup`,
//! ...), each with its Go signature and Go's behaviour, errors and panics included.

use gantry_gotmpl::{FastMap, Func, GoError, Runtime, Ty, Value};

mod collections;
mod convert;
mod crypto;
mod date;
mod encoding;
mod semver;
mod strings;
mod wordcase;
mod x509;

pub(crate) use date::days_in_month;

pub use collections::list_items;
pub use convert::{empty, strval, to_float64, to_int, to_int64};
pub use semver::{Constraint, Version};
pub(crate) use strings::compile_patterns;
pub use strings::{go_regex, path_base, path_clean as path_clean_pub};

/// Helm's markers around `fail` and `required` messages.
pub mod encoding_markers {
    pub use super::encoding::{WARN_END, WARN_START};
}

/// Helm's `IsCompatibleRange`.
pub fn semver_compatible(constraint: &str, version: &str) -> bool {
    semver::compatible(constraint, version)
}

/// Registers functions.
pub(crate) struct Reg<'a>(pub &'a mut FastMap<String, Func>);

impl Reg<'_> {
    pub(crate) fn add(
        &mut self,
        name: &str,
        params: &'static [Ty],
        variadic: Option<Ty>,
        f: impl Fn(&mut Runtime<'_>, &[Value]) -> Result<Value, GoError> + 'static,
    ) {
        self.0
            .insert(name.to_owned(), Func::new(params, variadic, f));
    }

    /// A function Gantry knows but does not implement: calling it is an error naming it.
    pub(crate) fn unsupported(
        &mut self,
        name: &'static str,
        params: &'static [Ty],
        variadic: Option<Ty>,
    ) {
        self.add(name, params, variadic, move |_, _| {
            Err(GoError::unsupported(format!(
                "the template function {name} is not supported by Gantry"
            )))
        });
    }
}

/// The string argument of a `string` parameter.
pub(crate) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// The bytes of a `string` argument of a function in [`GO_BYTES`].
pub(crate) fn bytes(v: &Value) -> &[u8] {
    v.go_bytes().unwrap_or_default()
}

/// The functions that handle a Go string that is not valid UTF-8 (a binary file read with
/// `.Files.Get`) byte for byte as Go does; every other function refuses one (an error naming
/// it, never a guess).
const GO_BYTES: &[&str] = &[
    "trunc",
    "trimSuffix",
    "trimPrefix",
    "b64enc",
    "b32enc",
    "sha1sum",
    "sha256sum",
    "sha512sum",
    "adler32sum",
    "toString",
    "quote",
    "squote",
    "toJson",
    "mustToJson",
    "toPrettyJson",
    "mustToPrettyJson",
    "toRawJson",
    "mustToRawJson",
    "toYaml",
    "mustToYaml",
    "default",
    "empty",
    "coalesce",
    "all",
    "any",
    "ternary",
    "list",
    "tuple",
    "dict",
    "typeOf",
    "kindOf",
    "deepEqual",
];

/// A runtime panic's message, as Go's `safeCall` reports it.
pub(crate) fn nil_deref() -> GoError {
    GoError::new("runtime error: invalid memory address or nil pointer dereference")
}

/// Every function of Helm's engine except `include` and `tpl`, which the engine binds.
pub fn functions() -> FastMap<String, Func> {
    let mut m = FastMap::default();
    let mut r = Reg(&mut m);
    strings::register(&mut r);
    convert::register(&mut r);
    collections::register(&mut r);
    encoding::register(&mut r);
    semver::register(&mut r);
    crypto::register(&mut r);
    x509::register(&mut r);
    date::register(&mut r);
    for name in GO_BYTES {
        if let Some(f) = m.remove(*name) {
            m.insert((*name).to_owned(), f.with_go_bytes());
        }
    }
    m
}
