//! Human-readable tables of what a run measured.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::driver::Outcome;

/// One measured phase, as a table row.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub per_second: f64,
    pub latency: Histogram<u64>,
    pub non_2xx: u64,
    pub errors: u64,
    /// CPU used during the phase, in cores, per process (`load`, `receiver`, `nats`).
    pub cpu: Vec<(&'static str, f64)>,
    /// p50, p90, p99, p99.9 and max (µs) when they come from another tool (wrk) rather than
    /// from `latency`.
    pub fixed_percentiles: Option<[u64; 5]>,
}

impl Row {
    pub fn from_outcome(name: &str, o: &Outcome) -> Row {
        Row {
            name: name.to_owned(),
            per_second: o.throughput(),
            latency: o.latency.clone(),
            non_2xx: o.non_2xx(),
            errors: o.io_errors,
            cpu: Vec::new(),
            fixed_percentiles: None,
        }
    }
}

/// Microseconds as `0.42ms` / `12.3ms` / `1.20s`.
pub fn ms(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms >= 1000.0 {
        format!("{:.2}s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{ms:.2}ms")
    }
}

/// `31234.5` as `31,235`.
pub fn thousands(x: f64) -> String {
    let n = x.round().max(0.0) as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// p50, p90, p99, p99.9 and max, in microseconds.
pub fn percentiles(h: &Histogram<u64>) -> [u64; 5] {
    if h.is_empty() {
        return [0; 5];
    }
    [
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.90),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
    ]
}

/// The phases as an aligned table.
pub fn table(rows: &[Row]) -> String {
    let name_w = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<name_w$} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6}  cpu (cores)",
        "phase", "per sec", "p50", "p90", "p99", "p99.9", "max", "non-2xx", "errors"
    );
    for r in rows {
        let [p50, p90, p99, p999, max] = r
            .fixed_percentiles
            .unwrap_or_else(|| percentiles(&r.latency));
        let cpu = r
            .cpu
            .iter()
            .map(|(who, c)| format!("{who} {c:.2}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            s,
            "{:<name_w$} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6}  {cpu}",
            r.name,
            thousands(r.per_second),
            ms(p50),
            ms(p90),
            ms(p99),
            ms(p999),
            ms(max),
            r.non_2xx,
            r.errors,
        );
    }
    s
}

/// The summary `gantry-load send` prints.
pub fn summary(what: &str, mode: &str, o: &Outcome) -> String {
    let [p50, p90, p99, p999, max] = percentiles(&o.latency);
    let codes = o
        .statuses
        .iter()
        .map(|(c, n)| format!("{c}×{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut s = String::new();
    let _ = writeln!(s, "target      {what}");
    let _ = writeln!(s, "mode        {mode}");
    let _ = writeln!(
        s,
        "requests    {} in {:.2}s: 2xx {} (duplicates {}), non-2xx {}{}, io errors {} (timeouts {})",
        o.total(),
        o.elapsed.as_secs_f64(),
        o.ok,
        o.duplicates,
        o.non_2xx(),
        if codes.is_empty() {
            String::new()
        } else {
            format!(" [{codes}]")
        },
        o.io_errors,
        o.timeouts,
    );
    let _ = writeln!(s, "throughput  {} 2xx/s", thousands(o.throughput()));
    let _ = writeln!(
        s,
        "latency     p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (2xx only)",
        ms(p50),
        ms(p90),
        ms(p99),
        ms(p999),
        ms(max)
    );
    s
}

/// `12.3s`-style duration for headings.
pub fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{new_histogram, record};

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(31234.5), "31,235");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
        assert_eq!(ms(420), "0.42ms");
        assert_eq!(ms(12_345), "12.3ms");
        assert_eq!(ms(1_200_000), "1.20s");
    }

    #[test]
    fn table_lists_every_phase() {
        let mut h = new_histogram();
        record(&mut h, Duration::from_micros(1500));
        let rows = vec![Row {
            name: "(b) GET /healthz".into(),
            per_second: 1234.0,
            latency: h,
            non_2xx: 0,
            errors: 0,
            cpu: vec![("load", 0.5)],
            fixed_percentiles: None,
        }];
        let t = table(&rows);
        assert!(t.contains("(b) GET /healthz"));
        assert!(t.contains("1,234"));
        assert!(t.contains("1.50ms"));
        assert!(t.contains("load 0.50"));
    }
}
