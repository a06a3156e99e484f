//! Go's formatting where kustomize's output shows it: numbers as `encoding/json` then goyaml.v2
//! write them (`strconv.FormatFloat(f, 'g', -1, 64)`). goyaml.v2's "natural" key order is
//! `gantry_helm::yamlout::key_less`, which Helm's `toYaml` uses too.

use serde_json::Number;

/// The text goyaml.v2 writes for a number that went through Go's `encoding/json`.
pub fn number_text(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        // JSON wrote it as an integer, which YAML reads back as one when it fits.
        if f.abs() < 9.2e18 {
            return format!("{}", f as i64);
        }
        if f > 0.0 && f < 1.8e19 {
            return format!("{}", f as u64);
        }
    }
    go_format_g(f)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
pub(crate) fn go_format_g(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if neg { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let mut s = format!("{sign}{first}");
        if !rest.is_empty() {
            s.push('.');
            s.push_str(rest);
        }
        s.push('e');
        s.push(if exp < 0 { '-' } else { '+' });
        s.push_str(&format!("{:02}", exp.abs()));
        s
    } else if exp < 0 {
        format!("{sign}0.{}{}", "0".repeat((-exp - 1) as usize), digits)
    } else {
        let point = (exp + 1) as usize;
        if digits.len() <= point {
            format!("{sign}{}{}", digits, "0".repeat(point - digits.len()))
        } else {
            format!("{sign}{}.{}", &digits[..point], &digits[point..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_format_as_go_does() {
        assert_eq!(go_format_g(1.5), "1.5");
        assert_eq!(go_format_g(1e21), "1e+21");
        assert_eq!(go_format_g(1e-7), "1e-07");
        assert_eq!(go_format_g(0.0001), "0.0001");
        assert_eq!(go_format_g(123456.0), "123456");
        assert_eq!(go_format_g(-0.0), "-0");
        assert_eq!(go_format_g(1.0e6 + 0.5), "1.0000005e+06");
    }

    #[test]
    fn integral_numbers_are_written_as_integers() {
        let n = |f: f64| number_text(&Number::from_f64(f).expect("finite"));
        assert_eq!(n(3.0), "3");
        // Beyond 64-bit integers YAML reads the JSON digits back as a float.
        assert_eq!(n(1e20), "1e+20");
        assert_eq!(n(2.5), "2.5");
        assert_eq!(number_text(&Number::from(u64::MAX)), "18446744073709551615");
    }

    #[test]
    fn keys_sort_naturally() {
        let mut keys = vec!["b", "a10", "a2", "B", "1", "a", "_x", "a02"];
        gantry_helm::yamlout::sort_by_less(&mut keys, |a, b| gantry_helm::yamlout::key_less(a, b));
        // Non-letters first (`_` before digits), runs of digits by value, then letters.
        assert_eq!(keys, vec!["_x", "1", "B", "a", "a2", "a02", "a10", "b"]);
    }
}
