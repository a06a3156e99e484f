//! Go's `text/template`, natively, with Go's semantics exactly: the lexer, parser and executor
//! of Go's standard library (`text/template` and `text/template/parse`), Go's `fmt` printing
//! of values and Go's error messages. Values carry Go's dynamic types, so `1000000.0` prints
//! `1e+06` and `eq 1 1.0` is an error, as in Go.
//!
//! A caller supplies functions with Go signatures ([`Func`]); the executor checks and converts
//! arguments as Go's `evalArg` does. Functions receive a [`Runtime`] so that they can execute
//! other templates (Helm's `include` and `tpl`).

pub mod builtins;
pub mod entries;
mod error;
pub mod exec;
pub mod gofmt;
mod lex;
pub mod parse;
pub mod strconv;
pub mod value;

pub use error::{ErrorKind, GoError};

/// A map looked up by name on every call of a render (functions, templates): foldhash, not
/// SipHash, which was 2–3 % of a large chart's render thread. Its order is unspecified, as any
/// `HashMap`'s, so nothing may depend on it.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// A set looked up by name as [`FastMap`] is (the function names a parse asks about).
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
pub use exec::{Budget, Func, Funcs, MissingKey, Runtime, Special, Template, Templates};
pub use parse::ParseError;
pub use value::{
    Elem, Entries, List, ListType, Map, MapType, Method, NativeFn, Object, Sig, Str, Ty, Value,
    go_lossy, go_rune_count,
};
