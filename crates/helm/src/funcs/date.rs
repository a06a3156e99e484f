//! Time functions: Sprig's (`now`, `date`, `toDate`, `dateModify`, `ago`, `duration`,
//! `durationRound`, ...) and Helm's `duration*` helpers, with Go's layout-based formatting and
//! parsing and `time.Duration` printing. The local time zone is UTC; other named zones are
//! refused. Anything reading the clock marks the render nondeterministic.

use std::any::Any;
use std::rc::Rc;

use gantry_gotmpl::{GoError, Method, Object, Runtime, Sig, Ty, Value};

use super::{Reg, s};

const A: Ty = Ty::Any;
const S: Ty = Ty::Str;

/// A Go `time.Time` (UTC or a fixed offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoTime {
    /// Seconds since the Unix epoch.
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
    /// Offset from UTC in seconds.
    pub offset: i32,
    /// Zone abbreviation.
    pub zone: String,
    /// Whether it came from the clock (Go then prints the monotonic reading).
    pub from_clock: bool,
}

/// A Go `time.Duration` in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub i64);

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(super) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

struct Parts {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    nanos: u32,
    weekday: usize,
    yday: i64,
}

impl GoTime {
    fn now() -> GoTime {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        GoTime {
            secs: d.as_secs() as i64,
            nanos: d.subsec_nanos(),
            offset: 0,
            zone: "UTC".into(),
            from_clock: true,
        }
    }

    fn unix(secs: i64) -> GoTime {
        GoTime {
            secs,
            nanos: 0,
            offset: 0,
            zone: "UTC".into(),
            from_clock: false,
        }
    }

    /// Go's `AddDate`: the fields added and then normalised (October 31 plus a month is
    /// December 1), in the time's own zone.
    fn add_date(&self, years: i64, months: i64, days: i64) -> GoTime {
        let p = self.parts();
        let m0 = p.month - 1 + months;
        let year = p.year + years + m0.div_euclid(12);
        let month = m0.rem_euclid(12) + 1;
        let day = days_from_civil(year, month, 1) + p.day - 1 + days;
        let local = day * 86_400 + p.hour * 3600 + p.min * 60 + p.sec;
        GoTime {
            secs: local - i64::from(self.offset),
            from_clock: false,
            ..self.clone()
        }
    }

    fn parts(&self) -> Parts {
        let local = self.secs + self.offset as i64;
        let days = local.div_euclid(86_400);
        let rem = local.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Parts {
            year,
            month,
            day,
            hour: rem / 3600,
            min: rem % 3600 / 60,
            sec: rem % 60,
            nanos: self.nanos,
            weekday: (days + 4).rem_euclid(7) as usize,
            yday: days - days_from_civil(year, 1, 1) + 1,
        }
    }

    /// Go's `Time.Format`.
    pub fn format(&self, layout: &str) -> String {
        let p = self.parts();
        let mut out = String::new();
        let mut rest = layout;
        while !rest.is_empty() {
            let (prefix, tok, after) = next_std(rest);
            out.push_str(prefix);
            rest = after;
            let Some(tok) = tok else { break };
            match tok {
                "2006" => out.push_str(&format!("{:04}", p.year)),
                "06" => out.push_str(&format!("{:02}", p.year.rem_euclid(100))),
                "01" => out.push_str(&format!("{:02}", p.month)),
                "1" => out.push_str(&p.month.to_string()),
                "Jan" => out.push_str(&MONTHS[p.month as usize - 1][..3]),
                "January" => out.push_str(MONTHS[p.month as usize - 1]),
                "02" => out.push_str(&format!("{:02}", p.day)),
                "_2" => out.push_str(&format!("{:>2}", p.day)),
                "2" => out.push_str(&p.day.to_string()),
                "002" => out.push_str(&format!("{:03}", p.yday)),
                "__2" => out.push_str(&format!("{:>3}", p.yday)),
                "Mon" => out.push_str(&DAYS[p.weekday][..3]),
                "Monday" => out.push_str(DAYS[p.weekday]),
                "15" => out.push_str(&format!("{:02}", p.hour)),
                "03" => out.push_str(&format!(
                    "{:02}",
                    if p.hour % 12 == 0 { 12 } else { p.hour % 12 }
                )),
                "3" => out.push_str(&(if p.hour % 12 == 0 { 12 } else { p.hour % 12 }).to_string()),
                "04" => out.push_str(&format!("{:02}", p.min)),
                "4" => out.push_str(&p.min.to_string()),
                "05" => out.push_str(&format!("{:02}", p.sec)),
                "5" => out.push_str(&p.sec.to_string()),
                "PM" => out.push_str(if p.hour >= 12 { "PM" } else { "AM" }),
                "pm" => out.push_str(if p.hour >= 12 { "pm" } else { "am" }),
                "MST" => {
                    // A zone with no name (a parsed offset) prints as `-0700` does.
                    if self.zone.is_empty() {
                        out.push_str(&offset_text(self.offset, false, false, false));
                    } else {
                        out.push_str(&self.zone);
                    }
                }
                "Z0700" | "Z07:00" | "Z07" | "Z070000" | "Z07:00:00" if self.offset == 0 => {
                    out.push('Z')
                }
                "-0700" | "Z0700" => out.push_str(&offset_text(self.offset, false, false, false)),
                "-07:00" | "Z07:00" => out.push_str(&offset_text(self.offset, true, false, false)),
                "-07" | "Z07" => out.push_str(&offset_text(self.offset, false, true, false)),
                "-070000" | "Z070000" => {
                    out.push_str(&offset_text(self.offset, false, false, true))
                }
                "-07:00:00" | "Z07:00:00" => {
                    out.push_str(&offset_text(self.offset, true, false, true))
                }
                frac => {
                    // .000 / ,000 (fixed) or .999 (trailing zeros trimmed).
                    let n = frac.len() - 1;
                    let digits = format!("{:09}", p.nanos);
                    let mut d = digits[..n.min(9)].to_owned();
                    if frac.as_bytes()[1] == b'9' {
                        while d.ends_with('0') {
                            d.pop();
                        }
                        if !d.is_empty() {
                            out.push(frac.chars().next().unwrap_or('.'));
                            out.push_str(&d);
                        }
                    } else {
                        out.push(frac.chars().next().unwrap_or('.'));
                        out.push_str(&d);
                    }
                }
            }
        }
        out
    }

    /// Go's `Time.String`.
    fn go_string(&self) -> String {
        let mut s = self.format("2006-01-02 15:04:05.999999999 -0700 MST");
        if self.from_clock {
            s.push_str(" m=+0.000000001");
        }
        s
    }
}

fn offset_text(off: i32, colon: bool, hours_only: bool, seconds: bool) -> String {
    let sign = if off < 0 { '-' } else { '+' };
    let a = off.abs();
    let (h, m, sec) = (a / 3600, a % 3600 / 60, a % 60);
    let mut s = format!("{sign}{h:02}");
    if hours_only {
        return s;
    }
    if colon {
        s.push(':');
    }
    s.push_str(&format!("{m:02}"));
    if seconds {
        if colon {
            s.push(':');
        }
        s.push_str(&format!("{sec:02}"));
    }
    s
}

/// Splits off the next layout element (Go's `nextStdChunk`).
fn next_std(layout: &str) -> (&str, Option<&str>, &str) {
    const TOKENS: &[&str] = &[
        "January",
        "Jan",
        "Monday",
        "Mon",
        "MST",
        "2006",
        "002",
        "01",
        "02",
        "03",
        "04",
        "05",
        "06",
        "15",
        "__2",
        "_2",
        "-07:00:00",
        "-070000",
        "-07:00",
        "-0700",
        "-07",
        "Z07:00:00",
        "Z070000",
        "Z07:00",
        "Z0700",
        "Z07",
        "PM",
        "pm",
        "1",
        "2",
        "3",
        "4",
        "5",
    ];
    let b = layout.as_bytes();
    for i in 0..b.len() {
        // Every token is ASCII: none starts inside a character.
        if !layout.is_char_boundary(i) {
            continue;
        }
        let rest = &layout[i..];
        // Fractional seconds: .000 or .999 (also with a comma) after a seconds field.
        if (b[i] == b'.' || b[i] == b',')
            && i + 1 < b.len()
            && (b[i + 1] == b'0' || b[i + 1] == b'9')
        {
            let c = b[i + 1];
            let mut j = i + 1;
            while j < b.len() && b[j] == c {
                j += 1;
            }
            if j >= b.len() || !b[j].is_ascii_digit() {
                return (&layout[..i], Some(&layout[i..j]), &layout[j..]);
            }
        }
        for t in TOKENS {
            if let Some(after) = rest.strip_prefix(t) {
                // "Jan" must not be the start of a longer word ("January" handled first); "Mon"
                // likewise; a lone digit must be exactly that.
                if (*t == "Jan" || *t == "Mon")
                    && after.starts_with(|c: char| c.is_ascii_lowercase())
                {
                    continue;
                }
                return (&layout[..i], Some(t), after);
            }
        }
    }
    (layout, None, "")
}

/// Go's `time.ParseInLocation` (UTC as local) for the common layout elements.
/// The days of `month` (1-12) in `year` of the proleptic Gregorian calendar, Go's `daysIn`.
pub(crate) fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn parse_time(layout: &str, value: &str) -> Result<GoTime, String> {
    let bad = || {
        format!(
            "parsing time {} as {}: cannot parse",
            gantry_gotmpl::gofmt::quote(value),
            gantry_gotmpl::gofmt::quote(layout)
        )
    };
    // Go checks each field's range as it reads it (the day once all are read).
    let out_of_range = |what: &str| {
        format!(
            "parsing time {}: {what} out of range",
            gantry_gotmpl::gofmt::quote(value)
        )
    };
    let (mut year, mut month, mut day, mut hour, mut min, mut sec, mut nanos) =
        (1i64, 1i64, 1i64, 0i64, 0i64, 0i64, 0u32);
    let mut pm: Option<bool> = None;
    let mut offset: i32 = 0;
    let mut rest_l = layout;
    let mut v = value;
    let num = |v: &mut &str, min: usize, max: usize| -> Option<i64> {
        let n = v.bytes().take(max).take_while(u8::is_ascii_digit).count();
        if n < min {
            return None;
        }
        let x = v[..n].parse().ok()?;
        *v = &v[n..];
        Some(x)
    };
    while !rest_l.is_empty() {
        let (prefix, tok, after) = next_std(rest_l);
        v = v.strip_prefix(prefix).ok_or_else(bad)?;
        rest_l = after;
        let Some(tok) = tok else { break };
        match tok {
            "2006" => year = num(&mut v, 4, 4).ok_or_else(bad)?,
            "06" => year = 1900 + num(&mut v, 2, 2).ok_or_else(bad)?,
            "01" | "1" => {
                month = num(&mut v, if tok == "01" { 2 } else { 1 }, 2).ok_or_else(bad)?;
                if !(1..=12).contains(&month) {
                    return Err(out_of_range("month"));
                }
            }
            "02" => day = num(&mut v, 2, 2).ok_or_else(bad)?,
            "2" | "_2" => {
                v = v.trim_start_matches(' ');
                day = num(&mut v, 1, 2).ok_or_else(bad)?;
            }
            "15" => {
                hour = num(&mut v, 1, 2).ok_or_else(bad)?;
                if hour >= 24 {
                    return Err(out_of_range("hour"));
                }
            }
            "03" | "3" => {
                hour = num(&mut v, 1, 2).ok_or_else(bad)?;
                if hour > 12 {
                    return Err(out_of_range("hour"));
                }
            }
            "04" | "4" => {
                min = num(&mut v, 1, 2).ok_or_else(bad)?;
                if min >= 60 {
                    return Err(out_of_range("minute"));
                }
            }
            "05" | "5" => {
                sec = num(&mut v, 1, 2).ok_or_else(bad)?;
                if sec >= 60 {
                    return Err(out_of_range("second"));
                }
                // A fraction may follow even when the layout has none.
                if v.starts_with('.')
                    && v[1..].starts_with(|c: char| c.is_ascii_digit())
                    && !rest_l.starts_with('.')
                {
                    let n = v[1..].bytes().take_while(u8::is_ascii_digit).count();
                    let digits = &v[1..1 + n];
                    nanos = format!("{:0<9}", &digits[..n.min(9)]).parse().unwrap_or(0);
                    v = &v[1 + n..];
                }
            }
            "Jan" | "January" => {
                let names: Vec<String> = MONTHS
                    .iter()
                    .map(|m| {
                        if tok == "Jan" {
                            m[..3].to_owned()
                        } else {
                            (*m).to_owned()
                        }
                    })
                    .collect();
                let i = names
                    .iter()
                    .position(|m| v.starts_with(m.as_str()))
                    .ok_or_else(bad)?;
                v = &v[names[i].len()..];
                month = i as i64 + 1;
            }
            "Mon" | "Monday" => {
                let names: Vec<String> = DAYS
                    .iter()
                    .map(|d| {
                        if tok == "Mon" {
                            d[..3].to_owned()
                        } else {
                            (*d).to_owned()
                        }
                    })
                    .collect();
                let i = names
                    .iter()
                    .position(|d| v.starts_with(d.as_str()))
                    .ok_or_else(bad)?;
                v = &v[names[i].len()..];
            }
            "PM" | "pm" => {
                let up = v.get(..2).map(str::to_ascii_uppercase).ok_or_else(bad)?;
                pm = Some(match up.as_str() {
                    "PM" => true,
                    "AM" => false,
                    _ => return Err(bad()),
                });
                v = &v[2..];
            }
            "MST" => {
                let n = v.bytes().take_while(u8::is_ascii_uppercase).count();
                if !(3..=5).contains(&n) || &v[..n] != "UTC" {
                    return Err(format!("{} (Gantry knows no time zone but UTC)", bad()));
                }
                v = &v[n..];
            }
            t if t.starts_with('Z') || t.starts_with('-') => {
                if t.starts_with('Z') && v.starts_with('Z') {
                    v = &v[1..];
                    continue;
                }
                let sign = match v.as_bytes().first() {
                    Some(b'+') => 1,
                    Some(b'-') => -1,
                    _ => return Err(bad()),
                };
                v = &v[1..];
                let h = num(&mut v, 2, 2).ok_or_else(bad)?;
                if t.contains(':') {
                    v = v.strip_prefix(':').ok_or_else(bad)?;
                }
                let m = if t.ends_with("07") {
                    0
                } else {
                    num(&mut v, 2, 2).ok_or_else(bad)?
                };
                offset = sign * (h as i32 * 3600 + m as i32 * 60);
            }
            frac => {
                let sep = frac.chars().next().unwrap_or('.');
                v = v.strip_prefix(sep).ok_or_else(bad)?;
                let n = v.bytes().take_while(u8::is_ascii_digit).count();
                if frac.as_bytes()[1] == b'0' && n != frac.len() - 1 {
                    return Err(bad());
                }
                nanos = format!("{:0<9}", &v[..n.min(9)]).parse().unwrap_or(0);
                v = &v[n..];
            }
        }
    }
    if !v.is_empty() {
        return Err(format!(
            "parsing time {}: extra text: {}",
            gantry_gotmpl::gofmt::quote(value),
            gantry_gotmpl::gofmt::quote(v)
        ));
    }
    if let Some(pm) = pm {
        if hour == 12 {
            hour = 0;
        }
        if pm {
            hour += 12;
        }
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(out_of_range("day"));
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset as i64;
    Ok(GoTime {
        secs,
        nanos,
        offset,
        zone: if offset == 0 {
            "UTC".into()
        } else {
            String::new()
        },
        from_clock: false,
    })
}

impl Duration {
    /// Go's `Duration.String`.
    pub fn go_string(self) -> String {
        let d = self.0;
        if d == 0 {
            return "0s".into();
        }
        let neg = d < 0;
        let u = d.unsigned_abs();
        let mut out = String::new();
        if u < 1_000_000_000 {
            let (unit, div) = if u < 1_000 {
                ("ns", 1u64)
            } else if u < 1_000_000 {
                ("µs", 1_000)
            } else {
                ("ms", 1_000_000)
            };
            out.push_str(&frac_text(u, div));
            out.push_str(unit);
        } else {
            let h = u / 3_600_000_000_000;
            let m = u / 60_000_000_000 % 60;
            let s_ns = u % 60_000_000_000;
            if h > 0 {
                out.push_str(&format!("{h}h"));
            }
            if h > 0 || m > 0 {
                out.push_str(&format!("{m}m"));
            }
            out.push_str(&frac_text(s_ns, 1_000_000_000));
            out.push('s');
        }
        if neg { format!("-{out}") } else { out }
    }
}

fn frac_text(v: u64, div: u64) -> String {
    let int = v / div;
    let mut frac = v % div;
    if frac == 0 {
        return int.to_string();
    }
    let mut digits = div.to_string().len() - 1;
    let mut s = String::new();
    while frac > 0 && digits > 0 {
        let p = 10u64.pow(digits as u32 - 1);
        s.push(char::from(b'0' + (frac / p) as u8));
        frac %= p;
        digits -= 1;
    }
    format!("{int}.{}", s.trim_end_matches('0'))
}

/// Go's `time.ParseDuration`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let orig = s;
    let bad = || {
        format!(
            "time: invalid duration {}",
            gantry_gotmpl::gofmt::quote(orig)
        )
    };
    let (neg, mut s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if s == "0" {
        return Ok(Duration(0));
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !s.is_empty() {
        let n = s
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        if n == 0 {
            return Err(bad());
        }
        let num: f64 = s[..n].parse().map_err(|_| bad())?;
        s = &s[n..];
        let u = s
            .bytes()
            .take_while(|c| !c.is_ascii_digit() && *c != b'.')
            .count();
        let unit = &s[..u];
        s = &s[u..];
        let mult: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(format!(
                    "time: missing unit in duration {}",
                    gantry_gotmpl::gofmt::quote(orig)
                ));
            }
            other => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    gantry_gotmpl::gofmt::quote(other),
                    gantry_gotmpl::gofmt::quote(orig)
                ));
            }
        };
        total += num * mult;
    }
    if total > 9.223_372_036_854_776e18 {
        return Err(bad());
    }
    let v = total.round() as i64;
    Ok(Duration(if neg { -v } else { v }))
}

impl Object for GoTime {
    fn type_name(&self) -> &str {
        "time.Time"
    }
    fn kind(&self) -> &'static str {
        "struct"
    }
    fn method(&self, name: &str) -> Option<Method> {
        type TimeMethod = dyn Fn(&GoTime, &[Value]) -> Result<Value, GoError>;
        let me = self.clone();
        let m = |f: Rc<TimeMethod>, params: &'static [Ty]| Method {
            sig: Sig::new(params, None),
            f: Rc::new(move |_: &mut Runtime<'_>, a: &[Value]| f(&me, a)),
            go_bytes: false,
        };
        Some(match name {
            "Unix" => m(Rc::new(|t, _| Ok(Value::Int64(t.secs))), &[]),
            "Year" => m(Rc::new(|t, _| Ok(Value::Int(t.parts().year))), &[]),
            "Day" => m(Rc::new(|t, _| Ok(Value::Int(t.parts().day))), &[]),
            "Hour" => m(Rc::new(|t, _| Ok(Value::Int(t.parts().hour))), &[]),
            "Minute" => m(Rc::new(|t, _| Ok(Value::Int(t.parts().min))), &[]),
            "Second" => m(Rc::new(|t, _| Ok(Value::Int(t.parts().sec))), &[]),
            "Format" => m(Rc::new(|t, a| Ok(Value::string(t.format(s(&a[0]))))), &[S]),
            "Month" => m(
                Rc::new(|t, _| Ok(named(GoNamed::Month(t.parts().month)))),
                &[],
            ),
            "Weekday" => m(
                Rc::new(|t, _| Ok(named(GoNamed::Weekday(t.parts().weekday as i64)))),
                &[],
            ),
            "YearDay" => m(Rc::new(|t, _| Ok(Value::Int(t.parts().yday))), &[]),
            "Nanosecond" => m(Rc::new(|t, _| Ok(Value::Int(i64::from(t.nanos)))), &[]),
            "UnixMilli" => m(
                Rc::new(|t, _| {
                    Ok(Value::Int64(
                        t.secs.wrapping_mul(1000) + i64::from(t.nanos / 1_000_000),
                    ))
                }),
                &[],
            ),
            "UnixNano" => m(
                Rc::new(|t, _| {
                    Ok(Value::Int64(
                        t.secs
                            .wrapping_mul(1_000_000_000)
                            .wrapping_add(i64::from(t.nanos)),
                    ))
                }),
                &[],
            ),
            // Go's zero time: January 1 of year 1, UTC.
            "IsZero" => m(
                Rc::new(|t, _| Ok(Value::Bool(t.secs == -62_135_596_800 && t.nanos == 0))),
                &[],
            ),
            "Before" | "After" | "Equal" => {
                let which = name.as_bytes()[0];
                m(
                    Rc::new(move |t, a| {
                        let u = time_arg(&a[0]).ok_or_else(|| {
                            GoError::new(format!(
                                "wrong type for value; expected time.Time; got {}",
                                a[0].type_name()
                            ))
                        })?;
                        let c = (t.secs, t.nanos).cmp(&(u.secs, u.nanos));
                        Ok(Value::Bool(match which {
                            b'B' => c.is_lt(),
                            b'A' => c.is_gt(),
                            _ => c.is_eq(),
                        }))
                    }),
                    &[A],
                )
            }
            "AddDate" => m(
                Rc::new(|t, a| {
                    Ok(Value::Object(Rc::new(t.add_date(
                        a[0].as_int(),
                        a[1].as_int(),
                        a[2].as_int(),
                    ))))
                }),
                &[Ty::Int, Ty::Int, Ty::Int],
            ),
            "UTC" => m(
                Rc::new(|t, _| {
                    Ok(Value::Object(Rc::new(GoTime {
                        offset: 0,
                        zone: "UTC".into(),
                        ..t.clone()
                    })))
                }),
                &[],
            ),
            "String" => m(Rc::new(|t, _| Ok(Value::string(t.go_string()))), &[]),
            _ => return None,
        })
    }
    fn format(&self) -> String {
        self.go_string()
    }
    fn json(&self) -> Result<Value, String> {
        Ok(Value::string(
            self.format("2006-01-02T15:04:05.999999999Z07:00"),
        ))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// `time.Month` and `time.Weekday`: ints that print as their English names.
#[derive(Debug, Clone, Copy)]
enum GoNamed {
    Month(i64),
    Weekday(i64),
}

fn named(n: GoNamed) -> Value {
    Value::Object(Rc::new(n))
}

impl Object for GoNamed {
    fn type_name(&self) -> &str {
        match self {
            GoNamed::Month(_) => "time.Month",
            GoNamed::Weekday(_) => "time.Weekday",
        }
    }
    fn kind(&self) -> &'static str {
        "int"
    }
    fn format(&self) -> String {
        match *self {
            GoNamed::Month(m) => usize::try_from(m - 1)
                .ok()
                .and_then(|i| MONTHS.get(i))
                .map_or_else(|| format!("%!Month({m})"), |n| (*n).to_owned()),
            GoNamed::Weekday(d) => usize::try_from(d)
                .ok()
                .and_then(|i| DAYS.get(i))
                .map_or_else(|| format!("%!Weekday({d})"), |n| (*n).to_owned()),
        }
    }
    fn json(&self) -> Result<Value, String> {
        Ok(Value::Int(match *self {
            GoNamed::Month(n) | GoNamed::Weekday(n) => n,
        }))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Object for Duration {
    fn type_name(&self) -> &str {
        "time.Duration"
    }
    fn kind(&self) -> &'static str {
        "int64"
    }
    fn format(&self) -> String {
        self.go_string()
    }
    fn json(&self) -> Result<Value, String> {
        Ok(Value::Int64(self.0))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn time_arg(v: &Value) -> Option<GoTime> {
    match v {
        Value::Object(o) => o.as_any().downcast_ref::<GoTime>().cloned(),
        _ => None,
    }
}

fn zone(z: &str) -> Result<(i32, String), GoError> {
    match z {
        "" | "UTC" | "Local" => Ok((0, "UTC".into())),
        other => Err(GoError::unsupported(format!(
            "the time zone {} (Gantry knows only UTC)",
            gantry_gotmpl::gofmt::quote(other)
        ))),
    }
}

fn date_in_zone(
    rt: &mut Runtime<'_>,
    layout: &str,
    date: &Value,
    z: &str,
) -> Result<Value, GoError> {
    let t = match date {
        Value::Int(i) | Value::Int64(i) => GoTime::unix(*i),
        other => match time_arg(other) {
            Some(t) => t,
            None => {
                rt.budget.note_nondeterminism("date of the current time");
                GoTime::now()
            }
        },
    };
    let (off, name) = zone(z).unwrap_or((0, "UTC".into()));
    let t = GoTime {
        offset: off,
        zone: name,
        ..t
    };
    Ok(Value::string(t.format(layout)))
}

fn round_to(d: i64, m: i64) -> i64 {
    if m <= 0 {
        return d;
    }
    let r = d % m;
    if d < 0 {
        let r = -r;
        if r + r < m { d + r } else { d - m + r }
    } else if r + r < m {
        d - r
    } else {
        d + m - r
    }
}

pub(super) fn register(r: &mut Reg<'_>) {
    r.add("now", &[], None, |rt, _| {
        rt.budget.note_nondeterminism("now");
        Ok(Value::Object(Rc::new(GoTime::now())))
    });
    r.add("date", &[S, A], None, |rt, a| {
        date_in_zone(rt, s(&a[0]), &a[1], "Local")
    });
    for name in ["dateInZone", "date_in_zone"] {
        r.add(name, &[S, A, S], None, |rt, a| {
            zone(s(&a[2]))?;
            date_in_zone(rt, s(&a[0]), &a[1], s(&a[2]))
        });
    }
    r.add("htmlDate", &[A], None, |rt, a| {
        date_in_zone(rt, "2006-01-02", &a[0], "Local")
    });
    r.add("htmlDateInZone", &[A, S], None, |rt, a| {
        zone(s(&a[1]))?;
        date_in_zone(rt, "2006-01-02", &a[0], s(&a[1]))
    });
    r.add("toDate", &[S, S], None, |_, a| {
        Ok(Value::Object(Rc::new(
            parse_time(s(&a[0]), s(&a[1])).unwrap_or_else(|_| GoTime {
                secs: -62_135_596_800,
                nanos: 0,
                offset: 0,
                zone: "UTC".into(),
                from_clock: false,
            }),
        )))
    });
    r.add("mustToDate", &[S, S], None, |_, a| {
        parse_time(s(&a[0]), s(&a[1]))
            .map(|t| Value::Object(Rc::new(t)))
            .map_err(GoError::new)
    });
    r.add("unixEpoch", &[A], None, |_, a| {
        let t = time_arg(&a[0])
            .ok_or_else(|| GoError::new("wrong type for value; expected time.Time"))?;
        Ok(Value::string(t.secs.to_string()))
    });
    for name in ["dateModify", "date_modify"] {
        r.add(name, &[S, A], None, |_, a| {
            let t = time_arg(&a[1])
                .ok_or_else(|| GoError::new("wrong type for value; expected time.Time"))?;
            Ok(Value::Object(Rc::new(match parse_duration(s(&a[0])) {
                Ok(d) => add(&t, d),
                Err(_) => t,
            })))
        });
    }
    for name in ["mustDateModify", "must_date_modify"] {
        r.add(name, &[S, A], None, |_, a| {
            let t = time_arg(&a[1])
                .ok_or_else(|| GoError::new("wrong type for value; expected time.Time"))?;
            let d = parse_duration(s(&a[0])).map_err(GoError::new)?;
            Ok(Value::Object(Rc::new(add(&t, d))))
        });
    }
    r.add("ago", &[A], None, |rt, a| {
        rt.budget.note_nondeterminism("ago");
        let now = GoTime::now();
        let t = match &a[0] {
            Value::Int(i) | Value::Int64(i) => GoTime::unix(*i),
            other => time_arg(other).unwrap_or_else(GoTime::now),
        };
        let ns = (now.secs - t.secs) * 1_000_000_000 + now.nanos as i64 - t.nanos as i64;
        Ok(Value::string(
            Duration(round_to(ns, 1_000_000_000)).go_string(),
        ))
    });
    r.add("duration", &[A], None, |_, a| {
        let n: i64 = match &a[0] {
            Value::String(t) => t.parse().unwrap_or(0),
            Value::Int64(i) => *i,
            _ => 0,
        };
        Ok(Value::string(
            Duration(n.saturating_mul(1_000_000_000)).go_string(),
        ))
    });
    r.add("durationRound", &[A], None, |rt, a| {
        let d: i64 = match &a[0] {
            Value::String(t) => parse_duration(t).map(|d| d.0).unwrap_or(0),
            Value::Int64(i) => *i,
            other => match time_arg(other) {
                Some(t) => {
                    rt.budget.note_nondeterminism("durationRound of a time");
                    let now = GoTime::now();
                    (now.secs - t.secs) * 1_000_000_000 + now.nanos as i64 - t.nanos as i64
                }
                None => 0,
            },
        };
        let u = d.unsigned_abs();
        let (year, month, day, hour, minute, second) = (
            31_536_000_000_000_000u64,
            2_592_000_000_000_000u64,
            86_400_000_000_000u64,
            3_600_000_000_000u64,
            60_000_000_000u64,
            1_000_000_000u64,
        );
        Ok(Value::string(if u > year {
            format!("{}y", u / year)
        } else if u > month {
            format!("{}mo", u / month)
        } else if u > day {
            format!("{}d", u / day)
        } else if u > hour {
            format!("{}h", u / hour)
        } else if u > minute {
            format!("{}m", u / minute)
        } else if u > second {
            format!("{}s", u / second)
        } else {
            "0s".into()
        }))
    });
}

fn add(t: &GoTime, d: Duration) -> GoTime {
    let total = t.nanos as i64 + d.0.rem_euclid(1_000_000_000);
    GoTime {
        secs: t.secs + d.0.div_euclid(1_000_000_000) + total / 1_000_000_000,
        nanos: (total % 1_000_000_000) as u32,
        ..t.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_like_go() {
        let t = parse_time("2006-01-02T15:04:05Z07:00", "2024-03-09T07:05:01+02:00").unwrap();
        assert_eq!(t.secs, 1_709_960_701);
        let u = GoTime::unix(t.secs);
        assert_eq!(
            u.format("Mon Jan _2 15:04:05 2006"),
            "Sat Mar  9 05:05:01 2024"
        );
        assert_eq!(u.format("2006-01-02 3:04PM"), "2024-03-09 5:05AM");
        assert_eq!(
            GoTime::unix(0).format("2006-01-02T15:04:05.000Z07:00"),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(parse_duration("1h30m").unwrap().go_string(), "1h30m0s");
        assert_eq!(Duration(1_500_000).go_string(), "1.5ms");
        assert_eq!(Duration(-90_000_000_000).go_string(), "-1m30s");
    }
}
