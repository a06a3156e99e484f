//! `--helm-templates` output: a map of template names to rendered text, written as
//! `serde_json::to_writer_pretty` writes it, with a string escaper that skips a word at a time
//! over the bytes that need no escape (most of a chart's text).

use std::io::{self, Write};

/// What the buffer holds before it is written out: large enough that a write is rare, small
/// enough to stay in cache and not be fresh pages for the kernel to zero.
const FLUSH_AT: usize = 60 << 10;

/// Writes `{"k": "v", …}` as serde_json's pretty printer does (two-space indent, `{}` when
/// empty), in the iterator's order.
pub fn write_pretty_map<'a, W: Write>(
    out: &mut W,
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(FLUSH_AT + 4096);
    let mut first = true;
    buf.push(b'{');
    for (k, v) in entries {
        buf.extend_from_slice(if first { b"\n  " } else { b",\n  " });
        first = false;
        escape_into(&mut buf, k);
        buf.extend_from_slice(b": ");
        escape_into(&mut buf, v);
        if buf.len() >= FLUSH_AT {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    if !first {
        buf.push(b'\n');
    }
    buf.push(b'}');
    out.write_all(&buf)
}

/// The bytes of the word (little-endian) below 0x20, `"` or `\`, the bytes JSON escapes, each
/// marked by its high bit. The lowest mark is exact (a borrow only carries upwards from a byte
/// that matched), which is all [`escape_into`] uses.
fn escapes_in(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte of 0x80 and above (UTF-8 beyond ASCII, never escaped) is dropped by `!x`.
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGH;
    below(w, 0x20)
        | below(w ^ (ONES * u64::from(b'"')), 1)
        | below(w ^ (ONES * u64::from(b'\\')), 1)
}

/// Appends `s` as a JSON string, escaped as serde_json escapes it. A word is copied whole
/// (a store of eight bytes, where a copy of a run of any length is a call to `memcpy`, and a
/// chart's text has a line break every few words); where it holds a byte to escape, the copy
/// is cut back to that byte.
fn escape_into(buf: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    buf.reserve(b.len() + 2);
    buf.push(b'"');
    let mut i = 0;
    while i < b.len() {
        let c = match b.get(i..i + 8) {
            Some(chunk) => {
                let word: [u8; 8] = chunk.try_into().unwrap_or([0; 8]);
                buf.extend_from_slice(&word);
                let marks = escapes_in(u64::from_le_bytes(word));
                if marks == 0 {
                    i += 8;
                    continue;
                }
                let k = (marks.trailing_zeros() / 8) as usize;
                buf.truncate(buf.len() - (8 - k));
                i += k;
                b[i]
            }
            None => b[i],
        };
        i += 1;
        // The letter after the backslash; `u` for the rest below 0x20, as `\u00XX`.
        let letter = match c {
            b'"' | b'\\' => c,
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            0..0x20 => b'u',
            _ => {
                buf.push(c);
                continue;
            }
        };
        buf.push(b'\\');
        buf.push(letter);
        if letter == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            buf.push(b'0');
            buf.push(b'0');
            buf.push(HEX[usize::from(c >> 4)]);
            buf.push(HEX[usize::from(c & 0xf)]);
        }
    }
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ours(m: &BTreeMap<String, String>) -> String {
        let mut out = Vec::new();
        write_pretty_map(&mut out, m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .expect("write to a vector");
        String::from_utf8(out).expect("UTF-8")
    }

    fn serde(m: &BTreeMap<String, String>) -> String {
        serde_json::to_string_pretty(m).expect("serialise")
    }

    #[test]
    fn every_ascii_byte_and_more_as_serde_json_writes_them() {
        let all: String = (0u8..0x80).map(char::from).collect();
        let mut m = BTreeMap::new();
        assert_eq!(ours(&m), serde(&m));
        m.insert("all".to_owned(), all.clone());
        m.insert(format!("k{all}"), format!("{all}é\u{2028}\u{85}ü{all}"));
        m.insert("empty".to_owned(), String::new());
        for n in 0..40 {
            let s: String = all.chars().cycle().skip(n * 7).take(n).collect();
            m.insert(format!("n{n}"), format!("abcdefghijklmnop{s}"));
            m.insert(format!("u{n}"), "ü€\"".repeat(n));
        }
        assert_eq!(ours(&m), serde(&m));
    }

    proptest::proptest! {
        #[test]
        fn any_map_as_serde_json_writes_it(m: BTreeMap<String, String>) {
            proptest::prop_assert_eq!(ours(&m), serde(&m));
        }
    }
}
