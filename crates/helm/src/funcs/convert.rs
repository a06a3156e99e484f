//! Conversions and arithmetic: Sprig's `toString`, spf13/cast's `int`/`int64`/`float64`,
//! integer arithmetic (int64, wrapping), shopspring/decimal's `addf`..`divf`, `default`,
//! `empty`, `coalesce`, `ternary`, and the reflection helpers (`typeOf`, `kindIs`, ...).

use std::fmt::Write as _;

use gantry_gotmpl::strconv::{parse_float, parse_int};
use gantry_gotmpl::value::{LIST_INT, deep_equal};
use gantry_gotmpl::{GoError, List, Ty, Value, gofmt};

use super::{Reg, s};

const A: Ty = Ty::Any;

/// Sprig's `strval`: strings as they are, `[]byte` as text, Stringers by `String()`, the
/// rest with `%v`.
pub fn strval(v: &Value) -> Result<String, GoError> {
    match v {
        Value::String(s) => Ok(s.to_string()),
        Value::BinStr(_) => Err(crate::objects::not_utf8()),
        Value::Bytes(b) => crate::objects::bytes_to_string(b),
        Value::Object(o) => Ok(o.format()),
        other => gofmt::format_v(other),
    }
}

/// Go's float64-to-int64 conversion on amd64 (out of range gives the minimum).
pub fn go_f2i(f: f64) -> i64 {
    if f.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

fn trim_zero_decimal(s: &str) -> &str {
    let b = s.as_bytes();
    let mut found_zero = false;
    let mut i = b.len();
    while i > 0 {
        match b[i - 1] {
            b'.' => {
                if found_zero {
                    return &s[..i - 1];
                }
            }
            b'0' => found_zero = true,
            _ => return s,
        }
        i -= 1;
    }
    s
}

/// `cast.ToInt64` (errors give 0).
pub fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Float(f) => go_f2i(*f),
        Value::String(s) => parse_int(trim_zero_decimal(s), 0).unwrap_or(0),
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

/// `cast.ToInt`.
pub fn to_int(v: &Value) -> i64 {
    to_int64(v)
}

/// `cast.ToFloat64` (errors give 0).
pub fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Float(f) => *f,
        Value::String(s) => parse_float(s).unwrap_or(0.0),
        Value::Bool(b) if *b => 1.0,
        _ => 0.0,
    }
}

/// Sprig's `empty`.
pub fn empty(v: &Value) -> bool {
    match v {
        Value::Invalid | Value::Nil => true,
        Value::Bool(b) => !b,
        Value::Int(i) | Value::Int64(i) => *i == 0,
        Value::Float(f) => *f == 0.0,
        Value::String(s) => s.is_empty(),
        Value::BinStr(b) | Value::Bytes(b) => b.is_empty(),
        Value::List(l) => l.items.is_empty(),
        Value::Map(m) => m.is_empty(),
        Value::Object(_) => false,
    }
}

/// A decimal number `mant * 10^exp`, as shopspring/decimal computes with.
#[derive(Debug, Clone, Copy)]
struct Dec {
    mant: i128,
    exp: i32,
}

impl Dec {
    /// `decimal.NewFromFloat`: the shortest decimal that round-trips.
    fn from_f64(f: f64) -> Option<Dec> {
        if !f.is_finite() {
            return None;
        }
        if f == 0.0 {
            return Some(Dec { mant: 0, exp: 0 });
        }
        let s = format!("{:e}", f);
        let (m, e) = s.split_once('e')?;
        let e: i32 = e.parse().ok()?;
        let neg = m.starts_with('-');
        let digits: String = m.chars().filter(char::is_ascii_digit).collect();
        let frac_len = digits.len() as i32 - 1;
        let mant: i128 = digits.parse().ok()?;
        Some(Dec {
            mant: if neg { -mant } else { mant },
            exp: e - frac_len,
        })
    }

    fn align(a: Dec, b: Dec) -> Option<(i128, i128, i32)> {
        let exp = a.exp.min(b.exp);
        let sa = 10i128.checked_pow((a.exp - exp) as u32)?;
        let sb = 10i128.checked_pow((b.exp - exp) as u32)?;
        Some((a.mant.checked_mul(sa)?, b.mant.checked_mul(sb)?, exp))
    }

    fn add(a: Dec, b: Dec) -> Option<Dec> {
        let (x, y, exp) = Dec::align(a, b)?;
        Some(Dec {
            mant: x.checked_add(y)?,
            exp,
        })
    }

    fn sub(a: Dec, b: Dec) -> Option<Dec> {
        let (x, y, exp) = Dec::align(a, b)?;
        Some(Dec {
            mant: x.checked_sub(y)?,
            exp,
        })
    }

    fn mul(a: Dec, b: Dec) -> Option<Dec> {
        Some(Dec {
            mant: a.mant.checked_mul(b.mant)?,
            exp: a.exp.checked_add(b.exp)?,
        })
    }

    /// `Div`: 16 decimal places, rounded half away from zero.
    fn div(a: Dec, b: Dec) -> Option<Dec> {
        if b.mant == 0 {
            return None;
        }
        // a/b = (a.mant / b.mant) * 10^(a.exp - b.exp); compute with 17 extra places then round.
        let target = -16;
        let shift = a.exp - b.exp - target + 1;
        let (num, den) = if shift >= 0 {
            (
                a.mant.checked_mul(10i128.checked_pow(shift as u32)?)?,
                b.mant,
            )
        } else {
            (
                a.mant,
                b.mant.checked_mul(10i128.checked_pow((-shift) as u32)?)?,
            )
        };
        let q = num / den;
        // q has one extra digit: round half away from zero.
        let r = q % 10;
        let mut m = q / 10;
        if r.abs() >= 5 {
            m += if q < 0 { -1 } else { 1 };
        }
        Some(Dec {
            mant: m,
            exp: target,
        })
    }

    fn to_f64(self) -> f64 {
        format!("{}e{}", self.mant, self.exp).parse().unwrap_or(0.0)
    }
}

fn decimal_op(
    a: &Value,
    rest: &[Value],
    op: fn(Dec, Dec) -> Option<Dec>,
    name: &str,
) -> Result<Value, GoError> {
    let mut acc = Dec::from_f64(to_float64(a)).ok_or_else(|| unsupported_decimal(name))?;
    for x in rest {
        let d = Dec::from_f64(to_float64(x)).ok_or_else(|| unsupported_decimal(name))?;
        acc = match op(acc, d) {
            Some(v) => v,
            None if name == "divf" && d.mant == 0 => {
                return Err(GoError::new("decimal division by 0"));
            }
            None => return Err(unsupported_decimal(name)),
        };
    }
    Ok(Value::Float(acc.to_f64()))
}

fn unsupported_decimal(name: &str) -> GoError {
    GoError::unsupported(format!(
        "{name} on numbers beyond 38 significant digits is not supported by Gantry"
    ))
}

/// Sprig's `untilStep`: from `start` by `step` while short of `stop` (above it when counting
/// down). Counted first, in 128 bits, and refused past `max` numbers: `until 1000000000000`
/// would otherwise fill memory for minutes before any deadline is looked at.
fn until_step(
    func: &str,
    start: i64,
    stop: i64,
    step: i64,
    max: usize,
) -> Result<impl Iterator<Item = i64>, GoError> {
    let (from, to, by) = (i128::from(start), i128::from(stop), i128::from(step));
    let n = match (to < from, by) {
        (true, ..0) => (from - to - by - 1) / -by,
        (false, 1..) => (to - from + by - 1) / by,
        _ => 0,
    };
    if n > max as i128 {
        return Err(GoError::limit(format!(
            "{func} would make {n} numbers, more than the {max} a template's output could print"
        )));
    }
    // Every number is within `start..stop`, so none overflows.
    Ok((0..n).map(move |k| (from + k * by) as i64))
}

/// The most numbers `until`, `untilStep` and `seq` make: each prints as at least a digit and a
/// separator, so more could never fit a template's output.
fn most_numbers(max_output: usize) -> usize {
    max_output / 2
}

fn int_list(v: impl Iterator<Item = i64>) -> Value {
    Value::List(List::typed(v.map(Value::Int).collect(), &LIST_INT))
}

/// Sprig's `seq`, like GNU seq: `end`, `start end` or `start step end`, counting down when `end`
/// is below `start`. Go's `end + inc` wraps, and so does this.
fn seq(p: &[i64], max: usize) -> Result<String, GoError> {
    // Each form is an `untilStep` to one past `end`.
    let (start, stop, step) = match p {
        [end] => {
            let inc = if *end < 1 { -1 } else { 1 };
            (1, end.wrapping_add(inc), inc)
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            (*start, end.wrapping_add(step), step)
        }
        [start, step, end] => {
            let mut inc = 1;
            if end < start {
                inc = -1;
                if *step > 0 {
                    return Ok(String::new());
                }
            }
            (*start, end.wrapping_add(inc), *step)
        }
        _ => return Ok(String::new()),
    };
    let mut out = String::new();
    for (k, i) in until_step("seq", start, stop, step, max)?.enumerate() {
        if k > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{i}");
    }
    Ok(out)
}

fn round(a: &Value, p: i64, ropt: &[Value]) -> f64 {
    let round_on = ropt.first().map(|v| v.as_float()).unwrap_or(0.5);
    let val = to_float64(a);
    let places = p as f64;
    let pow = 10f64.powf(places);
    let digit = pow * val;
    let div = digit - digit.trunc();
    let r = if div >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    r / pow
}

pub(super) fn register(r: &mut Reg<'_>) {
    r.add("hello", &[], None, |_, _| Ok(Value::str("Hello!")));
    r.add("toString", &[A], None, |_, a| {
        // string([]byte) keeps every byte.
        Ok(match &a[0] {
            Value::BinStr(_) => a[0].clone(),
            Value::Bytes(b) => Value::go_string(b.to_vec()),
            other => Value::string(strval(other)?),
        })
    });
    r.add("atoi", &[Ty::Str], None, |_, a| {
        // strconv.Atoi: base 10, optional sign, no underscores.
        let t = s(&a[0]);
        let body = t.strip_prefix(['+', '-']).unwrap_or(t);
        let ok = !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit());
        // Out of range, Go's Atoi returns the nearest int with its error, which sprig drops.
        let clamped = if t.starts_with('-') {
            i64::MIN
        } else {
            i64::MAX
        };
        Ok(Value::Int(if ok {
            t.parse::<i64>().unwrap_or(clamped)
        } else {
            0
        }))
    });
    r.add("int64", &[A], None, |_, a| {
        Ok(Value::Int64(to_int64(&a[0])))
    });
    r.add("int", &[A], None, |_, a| Ok(Value::Int(to_int(&a[0]))));
    r.add("float64", &[A], None, |_, a| {
        Ok(Value::Float(to_float64(&a[0])))
    });
    r.add("seq", &[], Some(Ty::Int), |rt, a| {
        let p: Vec<i64> = a.iter().map(Value::as_int).collect();
        seq(&p, most_numbers(rt.budget.max_output)).map(Value::string)
    });
    r.add("toDecimal", &[A], None, |_, a| {
        let t = strval(&a[0])?;
        Ok(Value::Int64(parse_int(&t, 8).unwrap_or(0)))
    });
    r.add("until", &[Ty::Int], None, |rt, a| {
        let c = a[0].as_int();
        let max = most_numbers(rt.budget.max_output);
        until_step("until", 0, c, if c < 0 { -1 } else { 1 }, max).map(int_list)
    });
    r.add("untilStep", &[Ty::Int, Ty::Int, Ty::Int], None, |rt, a| {
        let max = most_numbers(rt.budget.max_output);
        let (start, stop, step) = (a[0].as_int(), a[1].as_int(), a[2].as_int());
        until_step("untilStep", start, stop, step, max).map(int_list)
    });
    r.add("add1", &[A], None, |_, a| {
        Ok(Value::Int64(to_int64(&a[0]).wrapping_add(1)))
    });
    r.add("add", &[], Some(A), |_, a| {
        Ok(Value::Int64(
            a.iter().fold(0i64, |acc, v| acc.wrapping_add(to_int64(v))),
        ))
    });
    r.add("sub", &[A, A], None, |_, a| {
        Ok(Value::Int64(to_int64(&a[0]).wrapping_sub(to_int64(&a[1]))))
    });
    r.add("div", &[A, A], None, |_, a| {
        let d = to_int64(&a[1]);
        if d == 0 {
            return Err(GoError::new("runtime error: integer divide by zero"));
        }
        Ok(Value::Int64(to_int64(&a[0]).wrapping_div(d)))
    });
    r.add("mod", &[A, A], None, |_, a| {
        let d = to_int64(&a[1]);
        if d == 0 {
            return Err(GoError::new("runtime error: integer divide by zero"));
        }
        Ok(Value::Int64(to_int64(&a[0]).wrapping_rem(d)))
    });
    r.add("mul", &[A], Some(A), |_, a| {
        Ok(Value::Int64(
            a[1..]
                .iter()
                .fold(to_int64(&a[0]), |acc, v| acc.wrapping_mul(to_int64(v))),
        ))
    });
    r.add("randInt", &[Ty::Int, Ty::Int], None, |rt, a| {
        let (min, max) = (a[0].as_int(), a[1].as_int());
        if max - min <= 0 {
            return Err(GoError::new("invalid argument to Intn"));
        }
        rt.budget.note_nondeterminism("randInt");
        use rand::Rng as _;
        Ok(Value::Int(rand::rng().random_range(min..max)))
    });
    r.add("add1f", &[A], None, |_, a| {
        decimal_op(&a[0], &[Value::Int(1)], Dec::add, "add1f")
    });
    r.add("addf", &[], Some(A), |_, a| {
        decimal_op(&Value::Float(0.0), a, Dec::add, "addf")
    });
    r.add("subf", &[A], Some(A), |_, a| {
        decimal_op(&a[0], &a[1..], Dec::sub, "subf")
    });
    r.add("divf", &[A], Some(A), |_, a| {
        decimal_op(&a[0], &a[1..], Dec::div, "divf")
    });
    r.add("mulf", &[A], Some(A), |_, a| {
        decimal_op(&a[0], &a[1..], Dec::mul, "mulf")
    });
    for name in ["biggest", "max"] {
        r.add(name, &[A], Some(A), |_, a| {
            Ok(Value::Int64(
                a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::max),
            ))
        });
    }
    r.add("min", &[A], Some(A), |_, a| {
        Ok(Value::Int64(
            a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::min),
        ))
    });
    r.add("maxf", &[A], Some(A), |_, a| {
        Ok(Value::Float(
            a[1..]
                .iter()
                .map(to_float64)
                .fold(to_float64(&a[0]), go_max),
        ))
    });
    r.add("minf", &[A], Some(A), |_, a| {
        Ok(Value::Float(
            a[1..]
                .iter()
                .map(to_float64)
                .fold(to_float64(&a[0]), go_min),
        ))
    });
    r.add("ceil", &[A], None, |_, a| {
        Ok(Value::Float(to_float64(&a[0]).ceil()))
    });
    r.add("floor", &[A], None, |_, a| {
        Ok(Value::Float(to_float64(&a[0]).floor()))
    });
    r.add("round", &[A, Ty::Int], Some(Ty::Float), |_, a| {
        Ok(Value::Float(round(&a[0], a[1].as_int(), &a[2..])))
    });
    r.add("default", &[A], Some(A), |_, a| {
        let given = &a[1..];
        if given.is_empty() || empty(&given[0]) {
            return Ok(a[0].clone());
        }
        Ok(given[0].clone())
    });
    r.add("empty", &[A], None, |_, a| Ok(Value::Bool(empty(&a[0]))));
    r.add("coalesce", &[], Some(A), |_, a| {
        Ok(a.iter().find(|v| !empty(v)).cloned().unwrap_or(Value::Nil))
    });
    r.add("all", &[], Some(A), |_, a| {
        Ok(Value::Bool(a.iter().all(|v| !empty(v))))
    });
    r.add("any", &[], Some(A), |_, a| {
        Ok(Value::Bool(a.iter().any(|v| !empty(v))))
    });
    r.add("ternary", &[A, A, Ty::Bool], None, |_, a| {
        Ok(if a[2].as_bool() {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    r.add("typeOf", &[A], None, |_, a| {
        Ok(Value::string(a[0].type_name()))
    });
    r.add("typeIs", &[Ty::Str, A], None, |_, a| {
        Ok(Value::Bool(s(&a[0]) == a[1].type_name()))
    });
    r.add("typeIsLike", &[Ty::Str, A], None, |_, a| {
        let t = a[1].type_name();
        let target = s(&a[0]);
        Ok(Value::Bool(target == t || format!("*{target}") == t))
    });
    r.add("kindOf", &[A], None, |_, a| {
        Ok(Value::str(a[0].kind_name()))
    });
    r.add("kindIs", &[Ty::Str, A], None, |_, a| {
        Ok(Value::Bool(s(&a[0]) == a[1].kind_name()))
    });
    r.add("deepEqual", &[A, A], None, |_, a| {
        Ok(Value::Bool(deep_equal(&a[0], &a[1])))
    });
}

/// Go's `math.Max`.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_infinite() && a > 0.0 || b.is_infinite() && b > 0.0 {
        return f64::INFINITY;
    }
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { b } else { a };
    }
    if a > b { a } else { b }
}

/// Go's `math.Min`.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_infinite() && a < 0.0 || b.is_infinite() && b < 0.0 {
        return f64::NEG_INFINITY;
    }
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { a } else { b };
    }
    if a < b { a } else { b }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_ops_are_exact() {
        let f = |x: f64| Value::Float(x);
        assert_eq!(
            decimal_op(&f(0.1), &[f(0.2)], Dec::add, "addf")
                .unwrap()
                .as_float(),
            0.3
        );
        assert_eq!(
            decimal_op(&f(1.1), &[f(3.0)], Dec::mul, "mulf")
                .unwrap()
                .as_float(),
            3.3
        );
        assert_eq!(
            decimal_op(&f(10.0), &[f(3.0)], Dec::div, "divf")
                .unwrap()
                .as_float(),
            3.3333333333333335
        );
    }

    #[test]
    fn casts_like_spf13() {
        assert_eq!(to_int64(&Value::str("8.0")), 8);
        assert_eq!(to_int64(&Value::str("0x10")), 16);
        assert_eq!(to_int64(&Value::str("08")), 0);
        assert_eq!(to_int64(&Value::Float(2.9)), 2);
        assert_eq!(to_int64(&Value::Float(-2.9)), -2);
    }

    #[test]
    fn counts_like_sprig_and_refuses_what_could_not_print() {
        let seq = |p: &[i64]| seq(p, 1000).unwrap();
        assert_eq!(seq(&[3]), "1 2 3");
        assert_eq!(seq(&[5, -2, 1]), "5 3 1");
        assert_eq!(seq(&[-2]), "1 0 -1 -2");
        assert_eq!(seq(&[2, 5]), "2 3 4 5");
        assert_eq!(seq(&[1, 3, 8]), "1 4 7");
        assert_eq!(seq(&[5, 1, 1]), "");
        assert_eq!(seq(&[0, 0, 5]), "");
        // Go's `end + inc` wraps to the smallest int: nothing.
        assert_eq!(seq(&[i64::MAX]), "");
        let until = |a, b, c| {
            until_step("untilStep", a, b, c, 1000)
                .unwrap()
                .collect::<Vec<_>>()
        };
        assert_eq!(until(0, 5, 2), [0, 2, 4]);
        assert_eq!(until(0, 6, 2), [0, 2, 4]);
        assert_eq!(until(5, 0, -2), [5, 3, 1]);
        assert_eq!(until(0, 5, -1), Vec::<i64>::new());
        assert_eq!(until(5, 0, 1), Vec::<i64>::new());
        assert_eq!(until(3, 3, 1), Vec::<i64>::new());
        assert_eq!(
            until(i64::MAX - 2, i64::MAX, 1),
            [i64::MAX - 2, i64::MAX - 1]
        );
        assert_eq!(
            until(i64::MIN + 2, i64::MIN, -1),
            [i64::MIN + 2, i64::MIN + 1]
        );
        // Go's `i += step` wraps here and never reaches the stop; counted, it is two numbers.
        let big = 5_000_000_000_000_000_000;
        assert_eq!(until(0, i64::MAX, big), [0, big]);
        assert_eq!(until(0, 1000, 1).len(), 1000);
        let err = until_step("until", 0, 1001, 1, 1000).err().unwrap();
        assert!(
            err.to_string()
                .contains("until would make 1001 numbers, more than the 1000"),
            "{err}"
        );
        assert!(until_step("untilStep", i64::MIN, i64::MAX, 1, 1000).is_err());
        assert!(super::seq(&[1_000_000_000_000], 1000).is_err());
    }
}
