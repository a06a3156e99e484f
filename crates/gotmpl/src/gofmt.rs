//! Go's `fmt` printing of template values: `Sprint`, `Sprintln`, `Sprintf` with flags, width,
//! precision and verbs, `%v` of maps (sorted keys) and slices, Go's bad-verb and missing or
//! extra argument markers, and `strconv.Quote`.

use crate::GoError;
use crate::strconv::format_float;
use crate::value::{MAX_NESTING, Value};

/// Go's `strconv.Quote`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    // Printable ASCII other than `"` and `\` stands for itself: most of a chart's quoted
    // values, copied at once rather than a character at a time through the Unicode tables.
    let plain = s
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\');
    if plain {
        out.push_str(s);
    } else {
        for c in s.chars() {
            quote_char_into(&mut out, c, '"');
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.QuoteRune` for a char.
fn quote_rune(c: char) -> String {
    let mut out = String::from("'");
    quote_char_into(&mut out, c, '\'');
    out.push('\'');
    out
}

fn quote_char_into(out: &mut String, c: char, q: char) {
    if c == q || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            out.push_str(&format!("\\x{:02x}", c as u32));
        }
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Go's `unicode.IsPrint` (graphic characters and the ASCII space).
pub fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) {
        return false;
    }
    // Spaces other than U+0020, format characters, private use, surrogates and
    // unassigned code points are not printable in Go.
    !(c.is_whitespace()
        || matches!(c as u32,
            0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x890..=0x891 | 0x8e2 | 0x180e
            | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f
            | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff | 0xfffe | 0xffff
            | 0x110bd | 0x110cd | 0x13430..=0x1343f | 0x1bca0..=0x1bca3
            | 0x1d173..=0x1d17a | 0xe0001 | 0xe0020..=0xe007f
            | 0xf0000..=0x10ffff))
}

/// Go's `rune(c)` of an integer printed as a character: past the last code point, or a
/// surrogate, it is U+FFFD.
fn go_rune(u: u64) -> char {
    u32::try_from(u)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{fffd}')
}

/// `%#U`: `U+0041 'A'`.
pub fn unicode_repr(c: char) -> String {
    if is_print(c) {
        format!("U+{:04X} '{}'", c as u32, c)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

/// `fmt.Sprint(args...)`: spaces between operands when neither is a string.
pub fn sprint(args: &[Value]) -> Result<String, GoError> {
    utf8(sprint_bytes(args)?)
}

/// `fmt.Sprint(args...)` as the bytes of a Go string (a `%s` of a binary file's bytes is not
/// UTF-8).
pub fn sprint_bytes(args: &[Value]) -> Result<Vec<u8>, GoError> {
    let mut p = Printer::default();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::String(_) | Value::BinStr(_));
        if i > 0 && !is_string && !prev_string {
            p.putc(' ');
        }
        p.print_arg(a, 'v')?;
        prev_string = is_string;
    }
    Ok(p.buf)
}

/// `fmt.Sprintln(args...)`.
pub fn sprintln(args: &[Value]) -> Result<String, GoError> {
    utf8(sprintln_bytes(args)?)
}

/// `fmt.Sprintln(args...)` as the bytes of a Go string.
pub fn sprintln_bytes(args: &[Value]) -> Result<Vec<u8>, GoError> {
    let mut p = Printer::default();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            p.putc(' ');
        }
        p.print_arg(a, 'v')?;
    }
    p.putc('\n');
    Ok(p.buf)
}

/// `fmt.Sprint(v)` of one value (what `%v` prints).
pub fn format_v(v: &Value) -> Result<String, GoError> {
    let mut p = Printer::default();
    p.print_arg(v, 'v')?;
    utf8(p.buf)
}

/// `fmt.Sprintf(format, args...)`.
pub fn sprintf(format: &str, args: &[Value]) -> Result<String, GoError> {
    utf8(sprintf_bytes(format, args)?)
}

/// `fmt.Sprintf(format, args...)` as the bytes of a Go string.
pub fn sprintf_bytes(format: &str, args: &[Value]) -> Result<Vec<u8>, GoError> {
    let mut p = Printer::default();
    p.do_printf(format, args)?;
    Ok(p.buf)
}

/// Text that callers use as a Rust string: bytes that are not UTF-8 (a binary file's) reach
/// only the functions that handle them byte for byte.
fn utf8(b: Vec<u8>) -> Result<String, GoError> {
    String::from_utf8(b).map_err(|_| {
        GoError::unsupported(
            "this use of a string that is not valid UTF-8 (a binary file's bytes) is not supported by Gantry",
        )
    })
}

/// Go's `strconv.Quote` of arbitrary bytes: an invalid byte is written `\xNN`.
pub fn quote_bytes(b: &[u8]) -> String {
    quote_bytes_with(b, false)
}

fn quote_bytes_with(b: &[u8], ascii: bool) -> String {
    let mut out = String::with_capacity(b.len() + 2);
    out.push('"');
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            if ascii && !c.is_ascii() {
                quote_char_ascii_into(&mut out, c);
            } else {
                quote_char_into(&mut out, c, '"');
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out.push('"');
    out
}

#[derive(Default, Clone, Copy)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

#[derive(Default)]
struct Printer {
    // bytes, since a Go string (a binary file's) need not be UTF-8
    buf: Vec<u8>,
    f: Flags,
}

/// A bool, number or string: what `fmt` prints by its kind, never through reflection.
fn is_scalar(v: &Value) -> bool {
    matches!(
        v,
        Value::Bool(_)
            | Value::Float(_)
            | Value::Int(_)
            | Value::Int64(_)
            | Value::String(_)
            | Value::BinStr(_)
    )
}

fn nil_like(v: &Value) -> bool {
    matches!(v, Value::Invalid | Value::Nil)
}

impl Printer {
    fn put(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    fn putc(&mut self, c: char) {
        let mut b = [0u8; 4];
        self.put(c.encode_utf8(&mut b));
    }

    fn pad(&mut self, s: &str) {
        self.pad_bytes(s.as_bytes());
    }

    /// Pads to the width in runes, as Go counts them (an invalid byte is one).
    fn pad_bytes(&mut self, s: &[u8]) {
        let Some(w) = self.f.wid else {
            self.buf.extend_from_slice(s);
            return;
        };
        let n = crate::value::go_rune_count(s);
        if n >= w {
            self.buf.extend_from_slice(s);
            return;
        }
        let fill = w - n;
        if self.f.minus {
            self.buf.extend_from_slice(s);
            self.buf.extend(std::iter::repeat_n(b' ', fill));
        } else {
            let c = if self.f.zero { b'0' } else { b' ' };
            self.buf.extend(std::iter::repeat_n(c, fill));
            self.buf.extend_from_slice(s);
        }
    }

    fn print_arg(&mut self, v: &Value, verb: char) -> Result<(), GoError> {
        if nil_like(v) {
            match verb {
                'T' | 'v' => self.pad("<nil>"),
                _ => self.bad_verb(v, verb)?,
            }
            return Ok(());
        }
        if verb == 'T' {
            let t = v.type_name();
            self.fmt_string(&t, 's');
            return Ok(());
        }
        if verb == 'p' {
            if is_scalar(v) {
                // Not a pointer: Go's bad verb, which a render can rely on.
                return self.bad_verb(v, verb);
            }
            return Err(GoError::unsupported(
                "printing a pointer address (%p) is not supported by Gantry",
            ));
        }
        match v {
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad(if *b { "true" } else { "false" }),
                _ => self.bad_verb(v, verb)?,
            },
            Value::Float(x) => self.fmt_float(*x, verb, v)?,
            Value::Int(i) | Value::Int64(i) => self.fmt_integer(*i, verb, v)?,
            Value::String(s) => self.fmt_string_verb(s, verb, v)?,
            Value::BinStr(b) => self.fmt_bin_string(b, verb, v)?,
            Value::Bytes(b) => self.fmt_bytes(b, verb, v)?,
            _ => self.print_value(v, verb, 0)?,
        }
        Ok(())
    }

    fn print_value(&mut self, v: &Value, verb: char, depth: usize) -> Result<(), GoError> {
        // A map that contains itself (a template makes one with `set`): Go's fmt recurses
        // until its stack limit ends the process; this fails the print instead.
        if depth > MAX_NESTING {
            return Err(GoError::limit(format!(
                "printing a value nested more than {MAX_NESTING} deep (one that contains itself?)"
            )));
        }
        if depth > 0 {
            match v {
                // An element of `[]interface{}` or `map[string]interface{}` that is nil: Go
                // writes it with no padding, whatever the verb.
                Value::Invalid | Value::Nil => {
                    self.put("<nil>");
                    return Ok(());
                }
                Value::Bytes(_) => return self.print_arg(v, verb),
                v if is_scalar(v) => return self.print_arg(v, verb),
                _ => {}
            }
        }
        match v {
            Value::Map(_) | Value::List(_) if self.f.sharp_v => self.go_syntax(v, depth)?,
            Value::Map(m) => {
                self.put("map[");
                let data = m.data.borrow();
                for (i, (k, val)) in data.iter().enumerate() {
                    if i > 0 {
                        self.putc(' ');
                    }
                    self.print_value(&Value::str(k), verb, depth + 1)?;
                    self.putc(':');
                    self.print_value(val, verb, depth + 1)?;
                }
                self.putc(']');
            }
            Value::List(l) => {
                self.putc('[');
                for (i, item) in l.items.iter().enumerate() {
                    if i > 0 {
                        self.putc(' ');
                    }
                    self.print_value(item, verb, depth + 1)?;
                }
                self.putc(']');
            }
            Value::Object(o) => {
                if depth > 0 && o.kind() == "ptr" {
                    // Go prints the pointer's address, which differs from run to run, so no
                    // render can rely on it (charts reach this by using the root context as a
                    // `dict` key). A fixed address of Go's heap form keeps renders repeatable.
                    let name = o.type_name();
                    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                    });
                    self.pad(&format!("0xc000{:06x}", (h & 0xff_fff0) as u32));
                    return Ok(());
                }
                // Go's syntax of a struct or pointer (`&semver.Version{major:0x1, ...}`) is
                // not what its `String` gives.
                if !matches!(verb, 'v' | 's' | 'q' | 'x' | 'X') || self.f.sharp_v {
                    return Err(GoError::unsupported(format!(
                        "printing a {} with %{}{verb} is not supported by Gantry",
                        o.type_name(),
                        if self.f.sharp_v { "#" } else { "" }
                    )));
                }
                let s = o.format();
                if verb == 'v' || verb == 's' {
                    self.pad(&s);
                } else {
                    self.fmt_string_verb(&s, verb, v)?;
                }
            }
            other => return self.print_arg(other, verb),
        }
        Ok(())
    }

    /// `%#v` of a map or slice, as Go writes its syntax: `map[string]interface {}{"a":1}`,
    /// `[]string{"a", "b"}`, a nil element of an `interface{}` type `interface {}(nil)`.
    fn go_syntax(&mut self, v: &Value, depth: usize) -> Result<(), GoError> {
        let (name, elem, nil) = match v {
            Value::Map(m) => (m.ty.name, m.ty.elem, m.nil),
            Value::List(l) => (l.ty.name, l.ty.elem, l.nil),
            _ => unreachable!("only maps and slices"),
        };
        if matches!(elem, crate::value::Elem::Bytes) {
            return Err(GoError::unsupported(format!(
                "%#v of a {name} is not supported by Gantry"
            )));
        }
        self.put(name);
        if nil {
            self.put("(nil)");
            return Ok(());
        }
        self.putc('{');
        let element = |p: &mut Printer, item: &Value| match item {
            Value::Invalid | Value::Nil if matches!(elem, crate::value::Elem::Any) => {
                p.put("interface {}(nil)");
                Ok(())
            }
            Value::Object(o) => Err(GoError::unsupported(format!(
                "%#v of a {} is not supported by Gantry",
                o.type_name()
            ))),
            _ => p.print_value(item, 'v', depth + 1),
        };
        match v {
            Value::Map(m) => {
                let data = m.data.borrow();
                for (i, (k, val)) in data.iter().enumerate() {
                    if i > 0 {
                        self.put(", ");
                    }
                    self.print_value(&Value::str(k), 'v', depth + 1)?;
                    self.putc(':');
                    element(self, val)?;
                }
            }
            Value::List(l) => {
                for (i, item) in l.items.iter().enumerate() {
                    if i > 0 {
                        self.put(", ");
                    }
                    element(self, item)?;
                }
            }
            _ => {}
        }
        self.putc('}');
        Ok(())
    }

    fn bad_verb(&mut self, v: &Value, verb: char) -> Result<(), GoError> {
        self.put("%!");
        self.putc(verb);
        self.putc('(');
        if nil_like(v) {
            self.put("<nil>");
        } else {
            self.put(&v.type_name());
            self.putc('=');
            // Go prints the value with the verb's own width, flags and precision.
            self.print_arg(v, 'v')?;
        }
        self.putc(')');
        Ok(())
    }

    fn fmt_float(&mut self, x: f64, verb: char, v: &Value) -> Result<(), GoError> {
        let (fmt, default_prec) = match verb {
            'v' => ('g', -1),
            'b' | 'g' | 'G' | 'x' | 'X' => (verb, -1),
            'e' | 'E' | 'f' => (verb, 6),
            'F' => ('f', 6),
            _ => return self.bad_verb(v, verb),
        };
        let prec = self.f.prec.map(|p| p as i32).unwrap_or(default_prec);
        // An action printing a port or a count: no flag, width or sign to place, so its digits
        // go straight out.
        let plain = !(self.f.plus || self.f.space || self.f.sharp || self.f.sharp_v)
            && self.f.wid.is_none();
        if plain
            && prec < 0
            && matches!(fmt, 'g' | 'G')
            && let Some(i) = crate::strconv::small_whole(x)
        {
            self.put(itoa::Buffer::new().format(i));
            return Ok(());
        }
        let digits = match fmt {
            'b' => crate::strconv::format_float_binary(x),
            'x' | 'X' => crate::strconv::format_float_hex(x, fmt == 'X', prec),
            _ => format_float(x, fmt, prec),
        };
        // Go's `fmtFloat`: the number with its sign always first, `+` when it has none.
        let mut num = if digits.starts_with(['-', '+']) {
            digits.into_bytes()
        } else {
            let mut n = Vec::with_capacity(digits.len() + 1);
            n.push(b'+');
            n.extend_from_slice(digits.as_bytes());
            n
        };
        if self.f.space && num[0] == b'+' && !self.f.plus {
            num[0] = b' ';
        }
        if num[1] == b'I' || num[1] == b'N' {
            // Infinities and NaN are padded with spaces, never zeros, and NaN has no sign
            // unless one is asked for.
            let z = self.f.zero;
            self.f.zero = false;
            let from = usize::from(num[1] == b'N' && !self.f.space && !self.f.plus);
            self.pad_bytes(&num[from..]);
            self.f.zero = z;
            return Ok(());
        }
        // `#`: a decimal point always, and the trailing zeros `%g` drops.
        if self.f.sharp && fmt != 'b' {
            let mut digits: i32 = match fmt {
                'g' | 'G' | 'x' => {
                    if prec == -1 {
                        6
                    } else {
                        prec
                    }
                }
                _ => 0,
            };
            let mut tail = Vec::new();
            let mut has_point = false;
            let mut nonzero = false;
            let mut i = 1;
            while i < num.len() {
                match num[i] {
                    b'.' => has_point = true,
                    b'p' | b'P' => {
                        tail = num.split_off(i);
                        break;
                    }
                    b'e' | b'E' if fmt != 'x' && fmt != 'X' => {
                        tail = num.split_off(i);
                        break;
                    }
                    c => {
                        // Go counts from the first nonzero character, the `x` of `0x` too.
                        nonzero |= c != b'0';
                        if nonzero {
                            digits -= 1;
                        }
                    }
                }
                i += 1;
            }
            if !has_point {
                // A lone leading 0 counts once.
                if num.len() == 2 && num[1] == b'0' {
                    digits -= 1;
                }
                num.push(b'.');
            }
            while digits > 0 {
                num.push(b'0');
                digits -= 1;
            }
            num.extend_from_slice(&tail);
        }
        if self.f.plus || num[0] != b'+' {
            // Zero padding goes between the sign and the digits.
            if self.f.zero
                && !self.f.minus
                && let Some(w) = self.f.wid
                && w > num.len()
            {
                self.buf.push(num[0]);
                self.buf.extend(std::iter::repeat_n(b'0', w - num.len()));
                self.buf.extend_from_slice(&num[1..]);
                return Ok(());
            }
            self.pad_bytes(&num);
            return Ok(());
        }
        self.pad_bytes(&num[1..]);
        Ok(())
    }

    fn fmt_integer(&mut self, i: i64, verb: char, v: &Value) -> Result<(), GoError> {
        let u = i as u64;
        match verb {
            'v' | 'd' => self.go_integer(u, 10, verb, false),
            'b' => self.go_integer(u, 2, verb, false),
            'o' | 'O' => self.go_integer(u, 8, verb, false),
            'x' => self.go_integer(u, 16, verb, false),
            'X' => self.go_integer(u, 16, verb, true),
            'c' => {
                let mut b = [0u8; 4];
                let s = go_rune(u).encode_utf8(&mut b);
                self.pad(s);
            }
            'q' => {
                let c = go_rune(u);
                let q = if self.f.plus && !c.is_ascii() {
                    let mut q = String::from("'");
                    quote_char_ascii_into(&mut q, c);
                    q.push('\'');
                    q
                } else {
                    quote_rune(c)
                };
                self.pad(&q);
            }
            'U' => self.fmt_unicode(u),
            _ => return self.bad_verb(v, verb),
        }
        Ok(())
    }

    /// Go's `fmtInteger` of a signed integer (`u` its bits): a precision or the `0` flag's
    /// width gives leading zeros, `#` a base prefix, `%O` its `0o`.
    fn go_integer(&mut self, u: u64, base: u64, verb: char, upper: bool) {
        let negative = (u as i64) < 0;
        let mut u = if negative { u.wrapping_neg() } else { u };
        let signed = negative || self.f.plus || self.f.space;
        let prec = match self.f.prec {
            Some(0) if u == 0 => {
                // Nothing but the padding.
                let z = self.f.zero;
                self.f.zero = false;
                let w = self.f.wid.unwrap_or(0);
                self.buf.extend(std::iter::repeat_n(b' ', w));
                self.f.zero = z;
                return;
            }
            Some(p) => p,
            None if self.f.zero && !self.f.minus => {
                self.f.wid.unwrap_or(0).saturating_sub(usize::from(signed))
            }
            None => 0,
        };
        let digits: &[u8; 16] = if upper {
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        // Written backwards, then turned around.
        let mut out = Vec::with_capacity(prec.max(24));
        loop {
            out.push(digits[(u % base) as usize]);
            u /= base;
            if u == 0 {
                break;
            }
        }
        while out.len() < prec {
            out.push(b'0');
        }
        if self.f.sharp {
            match base {
                2 => out.extend_from_slice(b"b0"),
                8 if out.last() != Some(&b'0') => out.push(b'0'),
                16 => out.extend_from_slice(if upper { b"X0" } else { b"x0" }),
                _ => {}
            }
        }
        if verb == 'O' {
            out.extend_from_slice(b"o0");
        }
        if negative {
            out.push(b'-');
        } else if self.f.plus {
            out.push(b'+');
        } else if self.f.space {
            out.push(b' ');
        }
        out.reverse();
        // Zeros asked for by the `0` flag are in the digits already.
        let z = self.f.zero;
        self.f.zero = false;
        self.pad_bytes(&out);
        self.f.zero = z;
    }

    /// Go's `fmtUnicode`: `U+0041`, at least four digits or the precision, and with `#` the
    /// character too when it is printable.
    fn fmt_unicode(&mut self, u: u64) {
        let prec = self.f.prec.filter(|&p| p > 4).unwrap_or(4);
        let mut s = format!("U+{u:0prec$X}");
        if self.f.sharp
            && let Some(c) = u32::try_from(u).ok().and_then(char::from_u32)
            && is_print(c)
        {
            s.push_str(" '");
            s.push(c);
            s.push('\'');
        }
        let z = self.f.zero;
        self.f.zero = false;
        self.pad(&s);
        self.f.zero = z;
    }

    fn truncate<'s>(&self, s: &'s str) -> &'s str {
        if let Some(p) = self.f.prec
            && let Some((i, _)) = s.char_indices().nth(p)
        {
            return &s[..i];
        }
        s
    }

    fn fmt_string(&mut self, s: &str, _verb: char) {
        let t = self.truncate(s).to_owned();
        self.pad(&t);
    }

    fn fmt_string_verb(&mut self, s: &str, verb: char, v: &Value) -> Result<(), GoError> {
        match verb {
            'v' if self.f.sharp_v => {
                let q = quote(self.truncate(s));
                self.pad(&q);
            }
            'v' | 's' => self.fmt_string(s, verb),
            'x' | 'X' => self.fmt_hex(s.as_bytes(), verb == 'X'),
            'q' => {
                let t = self.truncate(s);
                let q = if self.f.sharp && can_backquote(t) {
                    format!("`{t}`")
                } else if self.f.plus {
                    quote_ascii(t)
                } else {
                    quote(t)
                };
                self.pad(&q);
            }
            _ => self.bad_verb(v, verb)?,
        }
        Ok(())
    }

    /// Go's string verbs on a string that is not valid UTF-8 (which can never be backquoted).
    fn fmt_bin_string(&mut self, b: &[u8], verb: char, v: &Value) -> Result<(), GoError> {
        let t = self.truncate_bytes(b);
        match verb {
            'v' if self.f.sharp_v => {
                let q = quote_bytes(t);
                self.pad(&q);
            }
            'v' | 's' => self.pad_bytes(t),
            'x' | 'X' => self.fmt_hex(b, verb == 'X'),
            'q' => {
                let q = quote_bytes_with(t, self.f.plus);
                self.pad(&q);
            }
            _ => self.bad_verb(v, verb)?,
        }
        Ok(())
    }

    /// The precision in runes as Go's `truncate` counts them (an invalid byte is one).
    fn truncate_bytes<'s>(&self, b: &'s [u8]) -> &'s [u8] {
        let Some(p) = self.f.prec else { return b };
        let mut n = 0;
        let mut at = 0;
        for chunk in b.utf8_chunks() {
            for c in chunk.valid().chars() {
                if n == p {
                    return &b[..at];
                }
                n += 1;
                at += c.len_utf8();
            }
            for _ in chunk.invalid() {
                if n == p {
                    return &b[..at];
                }
                n += 1;
                at += 1;
            }
        }
        b
    }

    /// Go's `fmtSbx`: each byte of `b` as two hexadecimal digits, no more bytes than the
    /// precision (which counts bytes here, not characters).
    fn fmt_hex(&mut self, b: &[u8], upper: bool) {
        let b = &b[..self.f.prec.map_or(b.len(), |p| p.min(b.len()))];
        let mut s = String::new();
        for (i, byte) in b.iter().enumerate() {
            if self.f.space && i > 0 {
                s.push(' ');
            }
            if self.f.sharp && (self.f.space || i == 0) {
                s.push_str(if upper { "0X" } else { "0x" });
            }
            if upper {
                s.push_str(&format!("{byte:02X}"));
            } else {
                s.push_str(&format!("{byte:02x}"));
            }
        }
        self.pad(&s);
    }

    fn fmt_bytes(&mut self, b: &[u8], verb: char, v: &Value) -> Result<(), GoError> {
        match verb {
            'v' if self.f.sharp_v => {
                self.put("[]byte{");
                for (i, byte) in b.iter().enumerate() {
                    if i > 0 {
                        self.put(", ");
                    }
                    self.put(&format!("{byte:#x}"));
                }
                self.putc('}');
            }
            'v' | 'd' => {
                let mut s = String::from("[");
                for (i, byte) in b.iter().enumerate() {
                    if i > 0 {
                        s.push(' ');
                    }
                    s.push_str(&byte.to_string());
                }
                s.push(']');
                self.put(&s);
            }
            's' | 'q' => match std::str::from_utf8(b) {
                Ok(s) => self.fmt_string_verb(s, verb, v)?,
                Err(_) => self.fmt_bin_string(b, verb, v)?,
            },
            'x' | 'X' => self.fmt_hex(b, verb == 'X'),
            _ => self.bad_verb(v, verb)?,
        }
        Ok(())
    }

    fn do_printf(&mut self, format: &str, args: &[Value]) -> Result<(), GoError> {
        let b = format.as_bytes();
        let end = b.len();
        let mut arg_num = 0usize;
        let mut after_index;
        let mut reordered = false;
        let mut i = 0;
        while i < end {
            let lasti = i;
            while i < end && b[i] != b'%' {
                i += 1;
            }
            if i > lasti {
                self.put(&format[lasti..i]);
            }
            if i >= end {
                break;
            }
            i += 1; // skip %
            self.f = Flags::default();
            // Flags.
            while i < end {
                match b[i] {
                    b'#' => self.f.sharp = true,
                    b'0' => self.f.zero = true,
                    b'+' => self.f.plus = true,
                    b'-' => self.f.minus = true,
                    b' ' => self.f.space = true,
                    _ => break,
                }
                i += 1;
            }
            // Argument index, then width.
            let mut good_arg = true;
            let (na, ni, index) = arg_index(b, i, arg_num, args.len());
            arg_num = na;
            i = ni;
            after_index = index.is_some_and(|(ok, _)| ok);
            reordered |= index.is_some();
            good_arg &= index.is_none_or(|(_, good)| good);
            if i < end && b[i] == b'*' {
                i += 1;
                let (w, ok, na) = int_from_arg(args, arg_num);
                arg_num = na;
                if !ok {
                    self.put("%!(BADWIDTH)");
                } else if w < 0 {
                    self.f.minus = true;
                    self.f.zero = false;
                    self.f.wid = Some(w.unsigned_abs() as usize);
                } else {
                    self.f.wid = Some(w as usize);
                }
                after_index = false;
            } else {
                let (n, ni, ok) = parse_num(b, i);
                if ok {
                    // `%[3]2d`: a width after an index.
                    good_arg &= !after_index;
                    self.f.wid = Some(n);
                }
                i = ni;
            }
            // Precision.
            if i < end && b[i] == b'.' {
                i += 1;
                // `%[3].2d`.
                good_arg &= !after_index;
                let (na, ni, index) = arg_index(b, i, arg_num, args.len());
                arg_num = na;
                i = ni;
                after_index = index.is_some_and(|(ok, _)| ok);
                reordered |= index.is_some();
                good_arg &= index.is_none_or(|(_, good)| good);
                if i < end && b[i] == b'*' {
                    i += 1;
                    let (p, ok, na) = int_from_arg(args, arg_num);
                    arg_num = na;
                    if !ok || p < 0 {
                        // A negative precision is no precision, and said so.
                        self.f.prec = None;
                        self.put("%!(BADPREC)");
                    } else {
                        self.f.prec = Some(p as usize);
                    }
                    after_index = false;
                } else {
                    let (n, ni, _) = parse_num(b, i);
                    self.f.prec = Some(n);
                    i = ni;
                }
            }
            if !after_index {
                let (na, ni, index) = arg_index(b, i, arg_num, args.len());
                arg_num = na;
                i = ni;
                reordered |= index.is_some();
                good_arg &= index.is_none_or(|(_, good)| good);
            }
            if i >= end {
                self.put("%!(NOVERB)");
                break;
            }
            let verb = format[i..].chars().next().unwrap_or('?');
            i += verb.len_utf8();
            if verb == '%' {
                self.putc('%');
                continue;
            }
            if !good_arg {
                self.put("%!");
                self.putc(verb);
                self.put("(BADINDEX)");
                continue;
            }
            if arg_num >= args.len() {
                self.put("%!");
                self.putc(verb);
                self.put("(MISSING)");
                continue;
            }
            if verb == 'w' {
                return Err(GoError::unsupported(
                    "%w in printf is not supported by Gantry",
                ));
            }
            if verb == 'v' {
                if self.f.sharp {
                    self.f.sharp = false;
                    self.f.sharp_v = true;
                }
                if self.f.plus {
                    self.f.plus = false;
                    self.f.plus_v = true;
                }
            }
            let arg = args[arg_num].clone();
            arg_num += 1;
            self.print_arg(&arg, verb)?;
        }
        if !reordered && arg_num < args.len() {
            self.f = Flags::default();
            self.put("%!(EXTRA ");
            for (k, a) in args[arg_num..].iter().enumerate() {
                if k > 0 {
                    self.put(", ");
                }
                if nil_like(a) {
                    self.put("<nil>");
                } else {
                    self.put(&a.type_name());
                    self.putc('=');
                    self.print_arg(a, 'v')?;
                }
            }
            self.putc(')');
        }
        Ok(())
    }
}

/// Go's `strconv.CanBackquote`: no backquote, no control character but tab, no DEL and no
/// byte order mark (other characters past ASCII are taken as printable).
fn can_backquote(s: &str) -> bool {
    s.chars().all(|c| {
        if c.is_ascii() {
            c == '\t' || (c >= ' ' && c != '`' && c != '\u{7f}')
        } else {
            c != '\u{feff}'
        }
    })
}

fn quote_ascii(s: &str) -> String {
    quote_bytes_with(s.as_bytes(), true)
}

fn quote_char_ascii_into(out: &mut String, c: char) {
    if (c as u32) < 0x10000 {
        out.push_str(&format!("\\u{:04x}", c as u32));
    } else {
        out.push_str(&format!("\\U{:08x}", c as u32));
    }
}

fn parse_num(b: &[u8], mut i: usize) -> (usize, usize, bool) {
    let start = i;
    let mut n = 0usize;
    while i < b.len() && b[i].is_ascii_digit() {
        n = n.saturating_mul(10).saturating_add((b[i] - b'0') as usize);
        if n > 1_000_000 {
            return (0, b.len(), false);
        }
        i += 1;
    }
    (n, i, i > start)
}

/// Go's `argNumber`: an explicit `[n]` argument index. Returns the argument, the position
/// after the index, whether the index parsed, and whether it names an argument (Go's
/// `goodArgNum`: a verb after a bad one prints `%!v(BADINDEX)`); `None` for the last two when
/// there is no `[`.
fn arg_index(
    b: &[u8],
    i: usize,
    arg_num: usize,
    num_args: usize,
) -> (usize, usize, Option<(bool, bool)>) {
    if i >= b.len() || b[i] != b'[' {
        return (arg_num, i, None);
    }
    if b.len() - i < 3 {
        return (arg_num, i + 1, Some((false, false)));
    }
    for j in i + 1..b.len() {
        if b[j] == b']' {
            let (n, end, ok) = parse_num(b, i + 1);
            if !ok || end != j {
                return (arg_num, j + 1, Some((false, false)));
            }
            if n < 1 || n > num_args {
                return (arg_num, j + 1, Some((true, false)));
            }
            return (n - 1, j + 1, Some((true, true)));
        }
    }
    (arg_num, i + 1, Some((false, false)))
}

/// Go's `intFromArg`: a `*` width or precision, which must be an int of at most a million
/// either way (`tooLarge`).
fn int_from_arg(args: &[Value], arg_num: usize) -> (i64, bool, usize) {
    match args.get(arg_num) {
        Some(Value::Int(n)) | Some(Value::Int64(n)) if n.unsigned_abs() <= 1_000_000 => {
            (*n, true, arg_num + 1)
        }
        Some(_) => (0, false, arg_num + 1),
        None => (0, false, arg_num),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{List, Map};

    /// A whole number printed with no flag or width takes the shortcut and prints what the
    /// digit path prints; with a flag, a width or a precision it keeps Go's layout.
    #[test]
    fn whole_floats_print_as_go_prints_them() {
        for x in [
            1.0, -1.0, 8080.0, 999_999.0, -999_999.0, 1e6, 0.0, -0.0, 0.5, 12.25,
        ] {
            for verb in ["%v", "%g", "%G"] {
                let want = format_float(x, if verb == "%G" { 'G' } else { 'g' }, -1);
                assert_eq!(
                    sprintf(verb, &[Value::Float(x)]).unwrap(),
                    want,
                    "{verb} {x}"
                );
            }
        }
        // Helm's own output for each (helm-python-sdk): `%+v` means Go's plusV, not a sign.
        let go = [
            ("%+v", 3.0, "3"),
            ("%+g", 3.0, "+3"),
            ("% g", 3.0, " 3"),
            ("% v", 3.0, " 3"),
            ("%5v", 3.0, "    3"),
            ("%-5v|", -3.0, "-3   |"),
            ("%05v", -3.0, "-0003"),
            ("%.2v", 8080.0, "8.1e+03"),
            ("%#v", 3.0, "3"),
        ];
        for (f, x, want) in go {
            assert_eq!(sprintf(f, &[Value::Float(x)]).unwrap(), want, "{f} {x}");
        }
    }

    /// The copy of plain ASCII quotes as the character-by-character path does.
    #[test]
    fn plain_ascii_quotes_as_each_character_does() {
        let mut texts: Vec<String> = (0u32..0x250)
            .filter_map(char::from_u32)
            .map(String::from)
            .collect();
        texts.extend(gantry_tests::up_to(
            &["a", " ", "~", "\"", "\\", "\u{7f}", "\t", "é"],
            3,
        ));
        for t in texts {
            let mut want = String::from("\"");
            for c in t.chars() {
                quote_char_into(&mut want, c, '"');
            }
            want.push('"');
            assert_eq!(quote(&t), want, "{t:?}");
        }
    }

    fn s(v: &str) -> Value {
        Value::str(v)
    }

    #[test]
    fn printf_matches_go() {
        assert_eq!(sprintf("%s-%d", &[s("a"), Value::Int(3)]).unwrap(), "a-3");
        assert_eq!(
            sprintf("%s", &[Value::Float(8080.0)]).unwrap(),
            "%!s(float64=8080)"
        );
        assert_eq!(
            sprintf("%d", &[Value::Float(1e6)]).unwrap(),
            "%!d(float64=1e+06)"
        );
        assert_eq!(sprintf("%v", &[Value::Nil]).unwrap(), "<nil>");
        assert_eq!(sprintf("%s", &[Value::Nil]).unwrap(), "%!s(<nil>)");
        assert_eq!(sprintf("%s %s", &[s("a")]).unwrap(), "a %!s(MISSING)");
        assert_eq!(
            sprintf("%s", &[s("a"), Value::Int(1)]).unwrap(),
            "a%!(EXTRA int=1)"
        );
        assert_eq!(
            sprintf(
                "%05d|%-4s|%4s|%x",
                &[Value::Int(-42), s("ab"), s("ab"), s("hi")]
            )
            .unwrap(),
            "-0042|ab  |  ab|6869"
        );
        assert_eq!(
            sprintf(
                "%.2f|%8.3f|%e",
                &[
                    Value::Float(2.64575),
                    Value::Float(2.5),
                    Value::Float(1234.5)
                ]
            )
            .unwrap(),
            "2.65|   2.500|1.234500e+03"
        );
        assert_eq!(sprintf("%q", &[s("a\"b\n")]).unwrap(), "\"a\\\"b\\n\"");
        assert_eq!(
            sprintf("%t %v", &[Value::Bool(true), Value::Bool(false)]).unwrap(),
            "true false"
        );
        assert_eq!(
            sprintf("%T %T", &[Value::Int(1), Value::Float(1.0)]).unwrap(),
            "int float64"
        );
        assert_eq!(sprintf("100%%", &[]).unwrap(), "100%");
        assert_eq!(sprintf("%[2]s %[1]s", &[s("a"), s("b")]).unwrap(), "b a");
        assert_eq!(sprintf("%.3s", &[s("abcdef")]).unwrap(), "abc");
        assert_eq!(
            sprintf("%+d % d", &[Value::Int(5), Value::Int(5)]).unwrap(),
            "+5  5"
        );
        assert_eq!(sprintf("%", &[]).unwrap(), "%!(NOVERB)");
        assert_eq!(sprintf("%z", &[Value::Int(1)]).unwrap(), "%!z(int=1)");
    }

    #[test]
    fn containers_print_like_go() {
        let m = Map::new();
        m.insert("b", Value::Int(2));
        m.insert(
            "a",
            Value::List(List::new(vec![s("x"), Value::Nil, Value::Float(1.5)])),
        );
        assert_eq!(
            format_v(&Value::Map(m.clone())).unwrap(),
            "map[a:[x <nil> 1.5] b:2]"
        );
        assert_eq!(
            sprintf("%d", &[Value::Map(m)]).unwrap(),
            "map[%!d(string=a):[%!d(string=x) <nil> %!d(float64=1.5)] %!d(string=b):2]"
        );
        assert_eq!(
            sprint(&[s("a"), Value::Int(1), Value::Int(2), s("b")]).unwrap(),
            "a1 2b"
        );
        assert_eq!(sprintln(&[s("a"), Value::Int(1)]).unwrap(), "a 1\n");
    }

    #[test]
    fn quote_escapes_like_strconv() {
        assert_eq!(quote("é\t\u{7}\u{1b}"), "\"é\\t\\a\\x1b\"");
        assert_eq!(quote("\u{200b}"), "\"\\u200b\"");
    }
}
