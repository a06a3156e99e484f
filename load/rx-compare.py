#!/usr/bin/env python3
"""Receiver against the minimal prototype, in one run, with CPU per webhook for every process.

Starts one nats-server (JetStream, temporary store), the release `gantry-receiver` and the
prototype `examples/minimal` against it, then drives each in turn with the same `wrk -t2 -c64`
and the same signed 6 KiB GitHub push (every request its own delivery id). For each phase it
prints the rate, wrk's latency figures, and the CPU each process used per request, read from
/proc/<pid>/stat (utime+stime) before and after, wrk's from its rusage once it has exited. CPU
per request is what to compare on a shared machine: rates move with what else runs, the CPU a
request costs much less.

    . scripts/tools.sh   # nats-server 2.15 and wrk on PATH
    cargo build --release -p gantry-receiver --bin gantry-receiver --example minimal
    python3 load/rx-compare.py [--duration 10] [--connections 64] [--rounds 2]

Only ever talks to 127.0.0.1, and every process it starts is stopped when it ends.
"""

import argparse
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "load", "src", "push_template.json")
SECRET = "rx-compare-secret"
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """utime + stime of a live process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def wait_http(url, want=200, within=30):
    deadline = time.time() + within
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == want:
                    return
        except Exception:
            pass
        time.sleep(0.1)
    raise SystemExit(f"rx-compare: {url} did not answer {want} within {within}s")


def payload():
    """The push template, compact, trimmed of API URL templates to about 6 KiB."""
    with open(FIXTURE) as f:
        d = json.load(f)
    repo = d["repository"]
    for k in sorted(k for k in list(repo) if k.endswith("_url") and "{" in str(repo[k])):
        if len(json.dumps(d, separators=(",", ":"))) <= 6200:
            break
        del repo[k]
    body = json.dumps(d, separators=(",", ":")).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, sig


def lua_string(b):
    out = ['"']
    for c in b:
        if c == 0x22:
            out.append('\\"')
        elif c == 0x5C:
            out.append("\\\\")
        elif 0x20 <= c <= 0x7E:
            out.append(chr(c))
        else:
            out.append("\\%03d" % c)
    out.append('"')
    return "".join(out)


def wrk_script(body, sig):
    return f"""
local body = {lua_string(body)}
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local n = 0
local prefix = nil
local headers = {{}}
headers["Content-Type"] = "application/json"
headers["X-GitHub-Event"] = "push"
headers["X-Hub-Signature-256"] = "{sig}"
request = function()
  if prefix == nil then
    math.randomseed(os.time() * 1000 + (tid or 0))
    prefix = string.format("cmp-%08x-%d-", math.random(0, 2147483647), tid or 0)
  end
  n = n + 1
  headers["X-GitHub-Delivery"] = prefix .. n
  return wrk.format("POST", "/webhooks/github", headers, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RXCMP %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50),
    latency:percentile(99), latency.max))
end
"""


def stream_messages(monitor):
    with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/jsz?streams=true", timeout=5) as r:
        j = json.load(r)
    total = 0
    for acc in j.get("account_details", []):
        for s in acc.get("stream_detail", []):
            total += s["state"]["messages"]
    return total


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run_wrk(script_path, url, threads, connections, duration):
    args = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
            "--timeout", "10s", "-s", script_path, url]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    line = next((l for l in out.splitlines() if l.startswith("RXCMP ")), None)
    if line is None:
        raise SystemExit(f"rx-compare: wrk printed no figures:\n{out}")
    req, dur_us, bad, err, p50, p99, mx = (int(x) for x in line.split()[1:])
    return dict(requests=req, seconds=dur_us / 1e6, bad=bad, errors=err, p50=p50, p99=p99,
                max=mx, cpu=ru.ru_utime + ru.ru_stime)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--receiver", action="append", default=None, metavar="[LABEL=]PATH",
                    help="a receiver binary (repeatable, e.g. old=/tmp/a new=target/release/...; "
                         "default target/release/gantry-receiver)")
    ap.add_argument("--prototype", default=os.path.join(ROOT, "target/release/examples/minimal"))
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--only", choices=["receiver", "prototype"], default=None)
    ap.add_argument("--perf", metavar="DIR", default=None,
                    help="record each measured phase with `perf record` into DIR/<target>-<round>.data")
    ap.add_argument("--perf-stat", action="store_true",
                    help="with --perf, run `perf stat` (counters, e.g. --perf-args '-e raw_syscalls:sys_enter') instead of `perf record`")
    ap.add_argument("--perf-nats", action="store_true",
                    help="with --perf, record nats-server instead of the target")
    ap.add_argument("--perf-args", default="-F 1999 --call-graph dwarf,16384",
                    help="perf record's sampling options (default: %(default)s)")
    ap.add_argument("--receiver-arg", action="append", default=[],
                    help="extra argument for the receiver (repeatable)")
    a = ap.parse_args()
    if shutil.which("wrk") is None or shutil.which("nats-server") is None:
        raise SystemExit("rx-compare: wrk and nats-server must be on PATH (. scripts/tools.sh)")

    tmp = tempfile.mkdtemp(prefix="rx-compare-")
    procs = []
    try:
        nport, mport = free_port(), free_port()
        nats = subprocess.Popen(["nats-server", "-js", "-sd", os.path.join(tmp, "js"), "-a",
                                 "127.0.0.1", "-p", str(nport), "-m", str(mport)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(nats)
        wait_http(f"http://127.0.0.1:{mport}/healthz")
        nurl = f"nats://127.0.0.1:{nport}"
        targets = {}
        if a.only in (None, "receiver"):
            for spec in a.receiver or [os.path.join(ROOT, "target/release/gantry-receiver")]:
                label, path = spec.split("=", 1) if "=" in spec else ("receiver", spec)
                rport = free_port()
                rx = subprocess.Popen([path, "--listen", f"127.0.0.1:{rport}", "--nats-url", nurl,
                                       "--webhook-secret", SECRET, "--log-format", "json",
                                       *a.receiver_arg],
                                      stdout=subprocess.DEVNULL,
                                      stderr=open(os.path.join(tmp, f"{label}.log"), "w"))
                procs.append(rx)
                wait_http(f"http://127.0.0.1:{rport}/readyz")
                targets[label] = (rx, rport)
        if a.only in (None, "prototype"):
            pport = free_port()
            pr = subprocess.Popen([a.prototype, f"127.0.0.1:{pport}", nurl, SECRET],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(pr)
            wait_http(f"http://127.0.0.1:{pport}/healthz")
            targets["prototype"] = (pr, pport)

        body, sig = payload()
        script = os.path.join(tmp, "post.lua")
        with open(script, "w") as f:
            f.write(wrk_script(body, sig))
        print(f"rx-compare: {len(body)}-byte signed push, wrk -t{a.threads} -c{a.connections} "
              f"-d{a.duration}s, nats-server {subprocess.run(['nats-server', '--version'], capture_output=True, text=True).stdout.strip()}")
        # A short warm-up of each, so connections and allocator pools exist before measuring.
        for name, (p, port) in targets.items():
            run_wrk(script, f"http://127.0.0.1:{port}", a.threads, a.connections, 2)
        print(f"{'target':<10} {'load avg':<15} {'202/s':>8} {'non2xx':>6} {'err':>4} {'p50':>8} {'p99':>8} "
              f"{'server µs':>9} {'nats µs':>8} {'wrk µs':>7} {'sum µs':>7} {'stream-202':>10} {'RSS MiB':>7}")
        for rnd in range(a.rounds):
            for name, (p, port) in targets.items():
                la = loadavg()
                before_msgs = stream_messages(mport)
                perf = None
                if a.perf:
                    os.makedirs(a.perf, exist_ok=True)
                    verb = ["stat"] if a.perf_stat else ["record"]
                    perf = subprocess.Popen(["perf", *verb, *a.perf_args.split(), "-p", str(nats.pid if a.perf_nats else p.pid),
                                             "-o", os.path.join(a.perf, f"{name}-{rnd}.{'txt' if a.perf_stat else 'data'}")],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(0.5)
                s0, n0 = cpu_seconds(p.pid), cpu_seconds(nats.pid)
                w = run_wrk(script, f"http://127.0.0.1:{port}", a.threads, a.connections, a.duration)
                s1, n1 = cpu_seconds(p.pid), cpu_seconds(nats.pid)
                if perf is not None:
                    perf.send_signal(signal.SIGINT)
                    perf.wait()
                time.sleep(0.5)  # let the requests wrk left in flight be stored
                added = stream_messages(mport) - before_msgs
                ok = w["requests"] - w["bad"]
                per = lambda c: c * 1e6 / max(ok, 1)
                srv, nat, wk = per(s1 - s0), per(n1 - n0), per(w["cpu"])
                print(f"{name:<10} {la:<15} {ok / w['seconds']:>8,.0f} {w['bad']:>6} {w['errors']:>4} "
                      f"{w['p50'] / 1000:>6.2f}ms {w['p99'] / 1000:>6.2f}ms {srv:>9.1f} {nat:>8.1f} "
                      f"{wk:>7.1f} {srv + nat + wk:>7.1f} {added - ok:>10} {rss_mib(p.pid):>7.1f}",
                      flush=True)
        print("µs = CPU time per 2xx answer (utime+stime); 'stream-202' = messages the stream gained "
              "minus 2xx counted (wrk stops with up to one request per connection in flight: 0..connections)")
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
