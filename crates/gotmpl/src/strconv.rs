//! Go's `strconv` number parsing and formatting: base prefixes and underscores as Go accepts
//! them, and `FormatFloat`'s `%e`/`%f`/`%g` with Go's rounding (half to even on exact ties).

fn lower(b: u8) -> u8 {
    b | 0x20
}

/// Go's `underscoreOK`: underscores only between digits or after a base prefix.
fn underscore_ok(s: &str) -> bool {
    let mut b = s.as_bytes();
    if let Some(&c) = b.first()
        && (c == b'-' || c == b'+')
    {
        b = &b[1..];
    }
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(lower(b[1]), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = lower(b[1]) == b'x';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && (b'a'..=b'f').contains(&lower(c))) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// `strconv.ParseUint(s, base, 64)`.
pub fn parse_uint(s: &str, base: u32) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let orig = s;
    let (mut base, mut s) = (base, s);
    let base0 = base == 0;
    if base == 0 {
        base = 10;
        let b = s.as_bytes();
        if b[0] == b'0' {
            if b.len() >= 3 && lower(b[1]) == b'b' {
                base = 2;
                s = &s[2..];
            } else if b.len() >= 3 && lower(b[1]) == b'o' {
                base = 8;
                s = &s[2..];
            } else if b.len() >= 3 && lower(b[1]) == b'x' {
                base = 16;
                s = &s[2..];
            } else {
                base = 8;
                s = &s[1..];
                if s.is_empty() {
                    return Some(0);
                }
            }
        }
    }
    let mut underscores = false;
    let mut n: u64 = 0;
    let mut any = false;
    for c in s.bytes() {
        if c == b'_' && base0 {
            underscores = true;
            continue;
        }
        let d = (c as char).to_digit(base)?;
        n = n.checked_mul(base as u64)?.checked_add(d as u64)?;
        any = true;
    }
    if !any {
        return None;
    }
    if underscores && !underscore_ok(orig) {
        return None;
    }
    Some(n)
}

/// `strconv.ParseInt(s, base, 64)`.
pub fn parse_int(s: &str, base: u32) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let u = parse_uint(body, base)?;
    if neg {
        if u > (i64::MAX as u64) + 1 {
            return None;
        }
        Some((u as i64).wrapping_neg())
    } else {
        if u > i64::MAX as u64 {
            return None;
        }
        Some(u as i64)
    }
}

/// `strconv.ParseFloat(s, 64)` (decimal and hexadecimal forms, `inf` and `nan`).
pub fn parse_float(s: &str) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    let (neg, body) = match s.as_bytes()[0] {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let l = body.to_ascii_lowercase();
    let special = match l.as_str() {
        "inf" | "infinity" => Some(f64::INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    };
    if let Some(v) = special {
        return Some(if neg { -v } else { v });
    }
    if body.contains('_') && !underscore_ok(s) {
        return None;
    }
    let clean: String = body.chars().filter(|&c| c != '_').collect();
    let v = if clean.len() > 2 && (clean.starts_with("0x") || clean.starts_with("0X")) {
        parse_hex_float(&clean[2..])?
    } else {
        let b = clean.as_bytes();
        // Go wants at least one mantissa digit and no stray characters.
        if !b.iter().any(u8::is_ascii_digit)
            || !b
                .iter()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
        clean.parse::<f64>().ok()?
    };
    // Past the largest float64 Go's `ParseFloat` gives ±Inf and a range error, which every
    // caller Helm has takes as no number: go-yaml reads `1e400` as a string, `float64` of it
    // is 0, and a template's `1e400` is an illegal number.
    if v.is_infinite() {
        return None;
    }
    Some(if neg { -v } else { v })
}

fn parse_hex_float(s: &str) -> Option<f64> {
    // "hexadecimal mantissa requires a 'p' exponent": `float64 "0x1F"` is 0 in Helm.
    let (mant, exp) = match s.find(['p', 'P']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => return None,
    };
    let (int, frac) = match mant.find('.') {
        Some(i) => (&mant[..i], &mant[i + 1..]),
        None => (mant, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + c.to_digit(16)? as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += c.to_digit(16)? as f64 * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

/// A decimal expansion: `0.DIGITS * 10^dp`.
struct Decimal {
    digits: Vec<u8>,
    dp: i32,
}

/// The exact decimal expansion of a finite, non-zero |f|.
fn exact(f: f64) -> Decimal {
    // 800 significant digits is more than any f64 needs (at most 767), so this is exact.
    let s = format!("{:.800e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    Decimal {
        digits,
        dp: exp + 1,
    }
}

/// The shortest digits that round-trip.
fn shortest(f: f64) -> Decimal {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    Decimal {
        digits,
        dp: exp + 1,
    }
}

impl Decimal {
    /// Rounds to `nd` digits as Go's `decimal.Round` does (half to even on exact ties).
    fn round(&mut self, nd: i32) {
        if nd < 0 || nd as usize >= self.digits.len() {
            return;
        }
        let nd = nd as usize;
        let up = if self.digits[nd] == b'5' && nd + 1 == self.digits.len() {
            nd > 0 && (self.digits[nd - 1] - b'0') % 2 == 1
        } else {
            self.digits[nd] >= b'5'
        };
        if up {
            let mut i = nd;
            loop {
                if i == 0 {
                    self.digits.clear();
                    self.digits.push(b'1');
                    self.dp += 1;
                    return;
                }
                i -= 1;
                if self.digits[i] < b'9' {
                    self.digits[i] += 1;
                    self.digits.truncate(i + 1);
                    return;
                }
            }
        } else {
            self.digits.truncate(nd);
            while self.digits.last() == Some(&b'0') {
                self.digits.pop();
            }
            if self.digits.is_empty() {
                self.dp = 0;
            }
        }
    }

    fn digit(&self, i: i32) -> u8 {
        if i >= 0 && (i as usize) < self.digits.len() {
            self.digits[i as usize]
        } else {
            b'0'
        }
    }
}

/// The integer `f` is when its shortest `%g` form is that integer's digits: a whole number
/// under a million in magnitude (Go writes `1e+06` from there), and not zero (Go keeps the
/// sign of `-0`). Chart values are float64, so most numbers a template prints are these.
pub fn small_whole(f: f64) -> Option<i64> {
    (f != 0.0 && f.fract() == 0.0 && f.abs() < 1e6).then_some(f as i64)
}

/// `strconv.FormatFloat(f, fmt, prec, 64)` for `fmt` in `e E f F g G`.
pub fn format_float(f: f64, fmt: char, prec: i32) -> String {
    // The digit string and `format!` of the general path cost about 1,600 instructions, most of
    // them for a port or a replica count.
    if prec < 0
        && matches!(fmt, 'g' | 'G')
        && let Some(i) = small_whole(f)
    {
        return itoa::Buffer::new().format(i).to_owned();
    }
    format_float_digits(f, fmt, prec)
}

/// Go's `strconv.FormatFloat(f, 'b', _, 64)`: the binary exponent form, `6755399441055744p-52`.
pub fn format_float_binary(f: f64) -> String {
    if let Some(s) = non_finite(f) {
        return s.to_owned();
    }
    let (neg, mant, exp) = float_parts(f);
    let e = exp - 52;
    format!(
        "{}{mant}p{}{e}",
        if neg { "-" } else { "" },
        if e >= 0 { "+" } else { "" }
    )
}

/// Go's `strconv.FormatFloat(f, 'x' or 'X', prec, 64)`: a hexadecimal mantissa with a binary
/// exponent of at least two digits, `0x1.8p+00`, rounded to `prec` hexadecimal digits (half to
/// even) when `prec` is 0 to 14, shortest when negative.
pub fn format_float_hex(f: f64, upper: bool, prec: i32) -> String {
    if let Some(s) = non_finite(f) {
        return s.to_owned();
    }
    let (neg, mut mant, mut exp) = float_parts(f);
    if mant == 0 {
        exp = 0;
    }
    // The leading 1 (if any) at bit 60.
    mant <<= 60 - 52;
    while mant != 0 && mant & (1 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if (0..15).contains(&prec) {
        let shift = prec as u32 * 4;
        let extra = (mant << shift) & ((1 << 60) - 1);
        mant >>= 60 - shift;
        if extra | (mant & 1) > 1 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = String::with_capacity(24);
    if neg {
        out.push('-');
    }
    out.push('0');
    out.push(if upper { 'X' } else { 'x' });
    out.push(if (mant >> 60) & 1 == 1 { '1' } else { '0' });
    mant <<= 4;
    let fraction = if prec < 0 {
        if mant == 0 { 0 } else { usize::MAX }
    } else {
        prec as usize
    };
    if fraction > 0 {
        out.push('.');
        let mut n = 0;
        while n < fraction && (prec >= 0 || mant != 0) {
            out.push(digits[((mant >> 60) & 15) as usize] as char);
            mant <<= 4;
            n += 1;
        }
    }
    out.push(if upper { 'P' } else { 'p' });
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(itoa::Buffer::new().format(e));
    out
}

/// Go's spelling of an infinity or NaN, `None` for a finite number.
fn non_finite(f: f64) -> Option<&'static str> {
    if f.is_nan() {
        Some("NaN")
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf" } else { "-Inf" })
    } else {
        None
    }
}

/// A finite float's sign, its mantissa with the implicit bit, and its unbiased exponent, as
/// Go's `genericFtoa` takes them apart.
fn float_parts(f: f64) -> (bool, u64, i64) {
    let bits = f.to_bits();
    let neg = bits >> 63 != 0;
    let mut exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1 << 52) - 1);
    if exp == 0 {
        exp += 1;
    } else {
        mant |= 1 << 52;
    }
    (neg, mant, exp - 1023)
}

/// [`format_float`] by way of the decimal digits.
fn format_float_digits(f: f64, fmt: char, prec: i32) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let neg = f.is_sign_negative();
    let shortest_mode = prec < 0;
    let mut d = if f == 0.0 {
        Decimal {
            digits: Vec::new(),
            dp: 0,
        }
    } else if shortest_mode {
        shortest(f)
    } else {
        exact(f)
    };
    let mut prec = prec;
    if shortest_mode {
        prec = match fmt {
            'e' | 'E' => d.digits.len() as i32 - 1,
            'f' | 'F' => (d.digits.len() as i32 - d.dp).max(0),
            _ => d.digits.len() as i32,
        };
    } else {
        match fmt {
            'e' | 'E' => d.round(prec + 1),
            'f' | 'F' => d.round(d.dp + prec),
            _ => {
                if prec == 0 {
                    prec = 1;
                }
                d.round(prec);
            }
        }
    }
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    match fmt {
        'e' | 'E' => fmt_e(&mut out, &d, prec, fmt),
        'f' | 'F' => fmt_f(&mut out, &d, prec),
        _ => {
            let mut eprec = prec;
            let nd = d.digits.len() as i32;
            if eprec > nd && nd >= d.dp {
                eprec = nd;
            }
            if shortest_mode {
                eprec = 6;
            }
            let exp = d.dp - 1;
            if f == 0.0 {
                // Zero formats as 0 under %g.
                if exp < -4 || exp >= eprec {
                    let p = if prec > nd { nd } else { prec };
                    fmt_e(
                        &mut out,
                        &d,
                        (p - 1).max(0),
                        if fmt == 'G' { 'E' } else { 'e' },
                    );
                } else {
                    fmt_f(&mut out, &d, 0);
                }
                return out;
            }
            if exp < -4 || exp >= eprec {
                let p = if prec > nd { nd } else { prec };
                fmt_e(&mut out, &d, p - 1, if fmt == 'G' { 'E' } else { 'e' });
            } else {
                let p = if prec > d.dp { nd } else { prec };
                fmt_f(&mut out, &d, (p - d.dp).max(0));
            }
        }
    }
    out
}

fn fmt_e(out: &mut String, d: &Decimal, prec: i32, fmt: char) {
    out.push(if d.digits.is_empty() {
        '0'
    } else {
        d.digits[0] as char
    });
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(d.digit(i) as char);
        }
    }
    out.push(fmt);
    let mut exp = d.dp - 1;
    if d.digits.is_empty() {
        exp = 0;
    }
    if exp < 0 {
        out.push('-');
        exp = -exp;
    } else {
        out.push('+');
    }
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
}

fn fmt_f(out: &mut String, d: &Decimal, prec: i32) {
    if d.dp > 0 {
        let m = d.dp;
        for i in 0..m {
            out.push(d.digit(i) as char);
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec {
            out.push(d.digit(d.dp + i) as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The integer shortcut writes what the digit path writes, around every edge it has.
    #[test]
    fn whole_numbers_print_as_the_digit_path_prints_them() {
        let mut xs: Vec<f64> = (-2_000..=2_000).map(f64::from).collect();
        for e in 0..=23 {
            let p = 10f64.powi(e);
            xs.extend([p, -p, p - 1.0, p + 1.0, -(p - 1.0), p * 0.5, p + 0.5]);
        }
        xs.extend([
            0.0,
            -0.0,
            999_999.0,
            999_999.5,
            1e6 - 0.25,
            -999_999.0,
            8080.0,
            0.1,
        ]);
        xs.extend([
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
        ]);
        for x in xs {
            for fmt in ['g', 'G'] {
                assert_eq!(
                    format_float(x, fmt, -1),
                    format_float_digits(x, fmt, -1),
                    "{x:?} {fmt}"
                );
            }
        }
    }

    #[test]
    fn g_shortest_switches_to_exponent_at_a_million() {
        assert_eq!(format_float(1_000_000.0, 'g', -1), "1e+06");
        assert_eq!(format_float(100_000.0, 'g', -1), "100000");
        assert_eq!(format_float(123456.5, 'g', -1), "123456.5");
        assert_eq!(format_float(1234567.0, 'g', -1), "1.234567e+06");
        assert_eq!(format_float(0.0001, 'g', -1), "0.0001");
        assert_eq!(format_float(0.00001, 'g', -1), "1e-05");
        assert_eq!(format_float(0.0, 'g', -1), "0");
        assert_eq!(format_float(-2.5, 'g', -1), "-2.5");
        assert_eq!(format_float(1e21, 'g', -1), "1e+21");
        assert_eq!(format_float(3.0, 'g', -1), "3");
    }

    #[test]
    fn fixed_precision_rounds_half_to_even() {
        assert_eq!(format_float(0.125, 'f', 2), "0.12");
        assert_eq!(format_float(0.375, 'f', 2), "0.38");
        assert_eq!(format_float(2.5, 'f', 0), "2");
        assert_eq!(format_float(1.005, 'f', 2), "1.00");
        assert_eq!(format_float(2.64575, 'f', 6), "2.645750");
        assert_eq!(format_float(1234.5678, 'e', 2), "1.23e+03");
        assert_eq!(format_float(0.0, 'e', 3), "0.000e+00");
        assert_eq!(format_float(99.99, 'f', 1), "100.0");
        assert_eq!(format_float(1.5, 'g', 3), "1.5");
        assert_eq!(format_float(1234567.0, 'g', 3), "1.23e+06");
    }

    #[test]
    fn ints_parse_with_go_prefixes() {
        assert_eq!(parse_int("0x1F", 0), Some(31));
        assert_eq!(parse_int("0755", 0), Some(493));
        assert_eq!(parse_int("0o17", 0), Some(15));
        assert_eq!(parse_int("1_000", 0), Some(1000));
        assert_eq!(parse_int("08", 0), None);
        assert_eq!(parse_int("-9223372036854775808", 0), Some(i64::MIN));
        assert_eq!(parse_int("9223372036854775808", 0), None);
        assert_eq!(
            parse_uint("9223372036854775808", 0),
            Some(9223372036854775808)
        );
        assert_eq!(parse_int("0", 0), Some(0));
        assert_eq!(parse_int("_1", 0), None);
        assert_eq!(parse_float("1.5e3"), Some(1500.0));
        assert_eq!(parse_float("0x1p-2"), Some(0.25));
        assert_eq!(parse_float("0x1F"), None);
        assert_eq!(parse_float("abc"), None);
        assert_eq!(parse_float("1e400"), None);
        assert_eq!(parse_float("-0x1p2000"), None);
        assert_eq!(parse_float("1e-400"), Some(0.0));
        assert_eq!(parse_float("-inf"), Some(f64::NEG_INFINITY));
    }
}
