//! Go's builtin template functions (`funcs.go`): `and`, `or`, `not`, `len`, `index`, `slice`,
//! `print`, `printf`, `println`, `html`, `js`, `urlquery`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`,
//! `call`, with Go's comparison rules and error texts.

use std::rc::Rc;

use crate::exec::{Func, Special};
use crate::gofmt;
use crate::value::{List, Ty, Value};
use crate::{FastMap, GoError};

const R: Ty = Ty::Reflect;
const A: Ty = Ty::Any;

/// Go's builtins.
pub fn builtins() -> FastMap<String, Func> {
    let mut m = FastMap::default();
    let mut add = |name: &str, f: Func| {
        m.insert(name.to_owned(), f);
    };
    let special = |s: Special| Func {
        sig: crate::value::Sig::new(&[R], Some(R)),
        f: Rc::new(|_, _| Ok(Value::Invalid)),
        special: s,
        go_bytes: true,
    };
    add("and", special(Special::And));
    add("or", special(Special::Or));
    add("call", special(Special::Call));
    add(
        "not",
        Func::new(&[R], None, |_, a| Ok(Value::Bool(!a[0].truth()))).with_go_bytes(),
    );
    add(
        "len",
        Func::new(&[R], None, |_, a| length(&a[0])).with_go_bytes(),
    );
    add(
        "index",
        Func::new(&[R], Some(R), |_, a| index(&a[0], &a[1..])),
    );
    add(
        "slice",
        Func::new(&[R], Some(R), |_, a| slice(&a[0], &a[1..])),
    );
    add(
        "print",
        Func::new(&[], Some(A), |_, a| {
            Ok(Value::go_string(gofmt::sprint_bytes(a)?))
        })
        .with_go_bytes(),
    );
    add(
        "println",
        Func::new(&[], Some(A), |_, a| {
            Ok(Value::go_string(gofmt::sprintln_bytes(a)?))
        })
        .with_go_bytes(),
    );
    add(
        "printf",
        Func::new(&[Ty::Str], Some(A), |_, a| {
            let Some(format) = a[0].as_str() else {
                return Err(GoError::unsupported(
                    "a printf format that is not valid UTF-8 is not supported by Gantry",
                ));
            };
            Ok(Value::go_string(gofmt::sprintf_bytes(format, &a[1..])?))
        })
        .with_go_bytes(),
    );
    add(
        "html",
        Func::new(&[], Some(A), |_, a| {
            Ok(Value::string(html_escape(&eval_args(a)?)))
        }),
    );
    add(
        "js",
        Func::new(&[], Some(A), |_, a| {
            Ok(Value::string(js_escape(&eval_args(a)?)))
        }),
    );
    add(
        "urlquery",
        Func::new(&[], Some(A), |_, a| {
            Ok(Value::string(query_escape(&eval_args(a)?)))
        }),
    );
    add(
        "eq",
        Func::new(&[R], Some(R), |_, a| eq(&a[0], &a[1..]).map(Value::Bool)),
    );
    add(
        "ne",
        Func::new(&[R, R], None, |_, a| {
            eq(&a[0], &a[1..2]).map(|b| Value::Bool(!b))
        }),
    );
    add(
        "lt",
        Func::new(&[R, R], None, |_, a| lt(&a[0], &a[1]).map(Value::Bool)),
    );
    add(
        "le",
        Func::new(&[R, R], None, |_, a| {
            let l = lt(&a[0], &a[1])?;
            if l {
                return Ok(Value::Bool(true));
            }
            eq(&a[0], &a[1..2]).map(Value::Bool)
        }),
    );
    add(
        "gt",
        Func::new(&[R, R], None, |_, a| {
            let l = lt(&a[0], &a[1])?;
            if l {
                return Ok(Value::Bool(false));
            }
            eq(&a[0], &a[1..2]).map(|e| Value::Bool(!e))
        }),
    );
    add(
        "ge",
        Func::new(&[R, R], None, |_, a| {
            lt(&a[0], &a[1]).map(|l| Value::Bool(!l))
        }),
    );
    m
}

/// Go's `indirectInterface`: a nil interface is no value.
fn ind(v: &Value) -> Value {
    match v {
        Value::Nil => Value::Invalid,
        v => v.clone(),
    }
}

fn length(v: &Value) -> Result<Value, GoError> {
    match v {
        Value::Nil => Err(GoError::new("len of nil pointer")),
        Value::Invalid => Err(GoError::new(
            "reflect: call of reflect.Value.Type on zero Value",
        )),
        v => match v.len() {
            Some(n) => Ok(Value::Int(n as i64)),
            None => Err(GoError::new(format!(
                "len of type {}",
                v.type_name().trim_start_matches('*')
            ))),
        },
    }
}

fn index_arg(index: &Value, cap: usize) -> Result<usize, GoError> {
    let x = match index {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Invalid | Value::Nil => {
            return Err(GoError::new("cannot index slice/array with nil"));
        }
        other => {
            return Err(GoError::new(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            )));
        }
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(GoError::new(format!("index out of range: {x}")));
    }
    Ok(x as usize)
}

/// Go's `index`.
pub fn index(item: &Value, indexes: &[Value]) -> Result<Value, GoError> {
    let mut item = ind(item);
    if matches!(item, Value::Invalid) {
        return Err(GoError::new("index of untyped nil"));
    }
    for idx in indexes {
        let idx = ind(idx);
        if matches!(item, Value::Nil) {
            return Err(GoError::new("index of nil pointer"));
        }
        item = match &item {
            Value::List(l) => {
                let x = index_arg(&idx, l.items.len())?;
                match l.items.get(x) {
                    Some(v) => v.clone(),
                    None => return Err(GoError::new("reflect: slice index out of range")),
                }
            }
            Value::String(_) | Value::BinStr(_) | Value::Bytes(_) => {
                // Go's errors for a bad index are Helm's; a good one gives a `uint8`, which no
                // value of Gantry's is.
                let (len, what) = match &item {
                    Value::String(s) => (s.len(), "string"),
                    Value::BinStr(b) => (b.len(), "string"),
                    Value::Bytes(b) => (b.len(), "slice"),
                    _ => unreachable!("matched above"),
                };
                if index_arg(&idx, len)? == len {
                    return Err(GoError::new(format!("reflect: {what} index out of range")));
                }
                return Err(GoError::unsupported(
                    "index of a string or []byte (a byte value) is not supported by Gantry",
                ));
            }
            Value::Map(m) => {
                let key = match &idx {
                    Value::String(s) => s.clone(),
                    Value::Invalid | Value::Nil => {
                        return Err(GoError::new("value is nil; should be of type string"));
                    }
                    other => {
                        return Err(GoError::new(format!(
                            "value has type {}; should be string",
                            other.type_name()
                        )));
                    }
                };
                m.get(&key).unwrap_or_else(|| m.ty.elem.zero())
            }
            Value::Invalid => return Err(GoError::new("index of untyped nil")),
            other => {
                return Err(GoError::new(format!(
                    "can't index item of type {}",
                    other.type_name()
                )));
            }
        };
    }
    Ok(item)
}

/// Go's `slice` builtin.
pub fn slice(item: &Value, indexes: &[Value]) -> Result<Value, GoError> {
    let item = ind(item);
    if matches!(item, Value::Invalid) {
        return Err(GoError::new("slice of untyped nil"));
    }
    if indexes.len() > 3 {
        return Err(GoError::new(format!(
            "too many slice indexes: {}",
            indexes.len()
        )));
    }
    let (len, is_str) = match &item {
        Value::String(s) => {
            if indexes.len() == 3 {
                return Err(GoError::new("cannot 3-index slice a string"));
            }
            (s.len(), true)
        }
        Value::List(l) => (l.items.len(), false),
        Value::BinStr(_) => {
            return Err(GoError::unsupported(
                "slicing a string that is not valid UTF-8 is not supported by Gantry",
            ));
        }
        other => {
            return Err(GoError::new(format!(
                "can't slice item of type {}",
                other.type_name()
            )));
        }
    };
    let mut idx = [0usize, len, len];
    for (i, x) in indexes.iter().enumerate() {
        idx[i] = index_arg(&ind(x), len)?;
    }
    if idx[0] > idx[1] {
        return Err(GoError::new(format!(
            "invalid slice index: {} > {}",
            idx[0], idx[1]
        )));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(GoError::new(format!(
            "invalid slice index: {} > {}",
            idx[1], idx[2]
        )));
    }
    if is_str {
        let Value::String(s) = &item else {
            return Ok(Value::Invalid);
        };
        return match s.get(idx[0]..idx[1]) {
            Some(sub) => Ok(Value::str(sub)),
            None => Err(GoError::unsupported(
                "slicing a string inside a UTF-8 character is not supported by Gantry",
            )),
        };
    }
    let Value::List(l) = &item else {
        return Ok(Value::Invalid);
    };
    let mut out = List::typed(l.items[idx[0]..idx[1]].to_vec(), l.ty);
    out.unordered = l.unordered;
    Ok(Value::List(out))
}

#[derive(PartialEq, Eq, Clone, Copy, Debug)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    Str,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Int64(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::Str,
        _ => Kind::Invalid,
    }
}

fn go_type(v: &Value) -> String {
    match v {
        Value::Invalid => "<nil>".into(),
        other => other.type_name(),
    }
}

fn refl_kind(v: &Value) -> &'static str {
    match v {
        Value::Invalid | Value::Nil => "invalid",
        Value::List(_) | Value::Bytes(_) => "slice",
        Value::Map(_) => "map",
        Value::Object(o) => o.kind(),
        _ => "other",
    }
}

fn is_nil(v: &Value) -> bool {
    match v {
        Value::Invalid | Value::Nil => true,
        Value::Map(m) => m.nil,
        Value::List(l) => l.nil,
        _ => false,
    }
}

/// Go's `eq`: true if `a` equals any of `bs`.
pub fn eq(a: &Value, bs: &[Value]) -> Result<bool, GoError> {
    let a = ind(a);
    if bs.is_empty() {
        return Err(GoError::new("missing argument for comparison"));
    }
    let k1 = basic_kind(&a);
    for b in bs {
        let b = ind(b);
        let k2 = basic_kind(&b);
        let truth = if k1 != k2 {
            if !matches!(a, Value::Invalid) && !matches!(b, Value::Invalid) {
                return Err(GoError::new(format!(
                    "incompatible types for comparison: {} and {}",
                    go_type(&a),
                    go_type(&b)
                )));
            }
            false
        } else {
            match (&a, &b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => x == y,
                (Value::String(x), Value::String(y)) => x == y,
                _ => {
                    let (ka, kb) = (refl_kind(&a), refl_kind(&b));
                    if ka != kb && ka != "invalid" && kb != "invalid" {
                        // Go formats the first with %s and the second with %v.
                        return Err(GoError::new(format!(
                            "non-comparable types {}: {}, {}: {}",
                            gofmt::sprintf("%s", std::slice::from_ref(&a))?,
                            go_type(&a),
                            go_type(&b),
                            gofmt::format_v(&b)?
                        )));
                    }
                    if is_nil(&a) || is_nil(&b) {
                        is_nil(&a) == is_nil(&b)
                    } else {
                        match (&a, &b) {
                            (Value::Object(x), Value::Object(y)) => Rc::ptr_eq(x, y),
                            _ => {
                                return Err(GoError::new(format!(
                                    "non-comparable type {}: {}",
                                    gofmt::sprintf("%s", std::slice::from_ref(&b))?,
                                    go_type(&b)
                                )));
                            }
                        }
                    }
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt`.
pub fn lt(a: &Value, b: &Value) -> Result<bool, GoError> {
    let a = ind(a);
    let b = ind(b);
    let k1 = basic_kind(&a);
    if k1 == Kind::Invalid {
        return Err(GoError::new("invalid type for comparison"));
    }
    let k2 = basic_kind(&b);
    if k2 == Kind::Invalid {
        return Err(GoError::new("invalid type for comparison"));
    }
    if k1 != k2 {
        return Err(GoError::new(format!(
            "incompatible types for comparison: {} and {}",
            go_type(&a),
            go_type(&b)
        )));
    }
    Ok(match (&a, &b) {
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => x < y,
        (Value::String(x), Value::String(y)) => x < y,
        _ => return Err(GoError::new("invalid type for comparison")),
    })
}

fn eval_args(args: &[Value]) -> Result<String, GoError> {
    if let [Value::String(s)] = args {
        return Ok(s.to_string());
    }
    let mut parts = Vec::with_capacity(args.len());
    for a in args {
        parts.push(match a {
            Value::Invalid | Value::Nil => Value::str("<no value>"),
            Value::Object(o) => Value::string(o.template_print()),
            other => other.clone(),
        });
    }
    gofmt::sprint(&parts)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if (c as u32) >= 0x80 && !gofmt::is_print(c) => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
