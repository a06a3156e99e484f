//! Memory and CPU of processes on this machine, read from `/proc` (Linux only), so the benchmark
//! can say how big the receiver is and which process used the 2 cores.

use std::time::Duration;

/// Linux's `USER_HZ`: `/proc/<pid>/stat` counts CPU time in these ticks (100 on every
/// architecture Linux supports today).
const TICKS_PER_SECOND: f64 = 100.0;

/// `VmRSS` and `VmHWM` (peak RSS) of `pid`, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

/// Reads `/proc/<pid>/status`; `None` once the process is gone.
pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(parse_status(&status))
}

fn parse_status(status: &str) -> Memory {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
    }
}

/// User plus system CPU time `pid` has used so far (`None` for this process: `self`).
pub fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    parse_stat(&std::fs::read_to_string(path).ok()?)
}

/// The state letter of `pid` (`R`, `S`, `Z` for an exited process not yet reaped, ...).
pub fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

fn parse_stat(stat: &str) -> Option<Duration> {
    // The command name (field 2) may hold spaces and parentheses; fields after the last `)`
    // start with field 3, so utime (14) and stime (15) are the 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (utime + stime) as f64 / TICKS_PER_SECOND,
    ))
}

/// CPU time the whole machine has spent busy (all cores, everything but idle and iowait).
pub fn machine_busy() -> Option<Duration> {
    parse_machine(&std::fs::read_to_string("/proc/stat").ok()?)
}

fn parse_machine(stat: &str) -> Option<Duration> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4).unwrap_or(&0);
    Some(Duration::from_secs_f64(
        total.saturating_sub(idle) as f64 / TICKS_PER_SECOND,
    ))
}

/// The pid of a running process whose command line contains every one of `args`, e.g. the
/// `nats-server` the harness started on a given port.
pub fn find_process(args: &[&str]) -> Option<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            if pid == me {
                return None;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let words: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let has = |a: &str| words.iter().any(|w| w.ends_with(a.as_bytes()));
            args.iter().all(|a| has(a)).then_some(pid)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_in_kib() {
        let s = "Name:\tgantry-receiver\nVmHWM:\t   20480 kB\nVmRSS:\t   18000 kB\nThreads:\t3\n";
        assert_eq!(
            parse_status(s),
            Memory {
                rss_kib: 18000,
                hwm_kib: 20480
            }
        );
    }

    #[test]
    fn stat_cpu_time_survives_odd_command_names() {
        let s = "42 (a b) c)) S 1 1 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 100 0 0";
        assert_eq!(parse_stat(s), Some(Duration::from_secs(3)));
    }

    #[test]
    fn machine_busy_time_leaves_out_idle_and_iowait() {
        let s = "cpu  100 0 50 1000 20 0 10 0 0 0\ncpu0 50 0 25 500 10 0 5 0 0 0\n";
        assert_eq!(parse_machine(s), Some(Duration::from_secs_f64(1.6)));
    }

    #[test]
    fn own_process_is_readable() {
        assert!(memory(std::process::id()).is_some_and(|m| m.rss_kib > 0));
        assert!(cpu_time(None).is_some());
    }
}
