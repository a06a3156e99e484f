"""Compares Gantry with Helm v4's own library (helm-python-sdk) on charts you have.

    .tools/venv/bin/python crates/helm/tests/oracle/compare_charts.py DIR...

Every `DIR/*/Chart.yaml` is rendered with its defaults and with each of its `ci/*.yaml` values
files, by the library (`Chart.render`, release `rel`, namespace `ns`) and by
`gantry render CHART --helm-templates` (`GANTRY` names the binary; default target/debug/gantry).
Templates that differ between two of Gantry's renders hold random or time values and are left
out of the comparison. Prints counts as JSON, then one line per difference; the differing
templates are written to /tmp/ext/diffs. Dependencies must already be in each chart's charts/.
"""
import json, os, subprocess, sys, glob, time
from helm_python.chart import Chart, values_from_yaml
GANTRY = os.environ.get("GANTRY", "target/debug/gantry")
roots = sys.argv[1:]
jobs = []
for r in roots:
    for c in sorted(glob.glob(os.path.join(r, "*", "Chart.yaml"))):
        d = os.path.dirname(c)
        jobs.append((d, None))
        for v in sorted(glob.glob(os.path.join(d, "ci", "*.yaml"))):
            jobs.append((d, v))
stats = {"same": 0, "both_fail": 0, "diff": 0, "gantry_fail": 0, "helm_fail": 0}
report = []
for chart, vf in jobs:
    name = os.path.basename(chart) + (" " + os.path.relpath(vf, chart) if vf else "")
    try:
        vals = values_from_yaml(open(vf).read()) if vf else None
        with Chart.load(chart) as c:
            want = c.render(values=vals, name="rel", namespace="ns")
        want = {k: v for k, v in want.items() if not k.endswith("NOTES.txt")}
        herr = None
    except Exception as e:
        want, herr = None, str(e)
    args = [GANTRY, "render", chart, "--helm-templates", "--release-name", "rel", "--namespace", "ns"]
    if vf:
        args += ["--values", vf]
    t = time.time()
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        got, gerr = None, p.stderr.strip()
    else:
        got = {k: v for k, v in json.loads(p.stdout).items() if not k.endswith("NOTES.txt")}
        gerr = None
        if "nondeterministic" in p.stderr or "changes each time" in p.stderr or "differ" in p.stderr:
            # Templates that differ between two of Gantry's renders hold random or time values.
            p2 = subprocess.run(args, capture_output=True, text=True)
            again = json.loads(p2.stdout) if p2.returncode == 0 else {}
            nd = [k for k in got if again.get(k) != got[k]]
            stats["nondet_templates"] = stats.get("nondet_templates", 0) + len(nd)
            for k in nd:
                got.pop(k, None)
                if want is not None:
                    want.pop(k, None)
    if herr and gerr:
        stats["both_fail"] += 1
        report.append(f"{name}: both fail\n  helm:   {herr[-250:]}\n  gantry: {gerr[-250:]}")
    elif herr:
        stats["helm_fail"] += 1
        report.append(f"{name}: Helm failed, Gantry rendered: {herr[:300]}")
    elif gerr:
        stats["gantry_fail"] += 1
        report.append(f"{name}: Gantry failed, Helm rendered: {gerr[:400]}")
    elif got != want:
        stats["diff"] += 1
        bad = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
        report.append(f"{name}: differ in {bad[:5]}")
        os.makedirs("/tmp/ext/diffs", exist_ok=True)
        safe = name.replace("/", "_").replace(" ", "_")
        for k in bad[:3]:
            kk = k.replace("/", "_")
            open(f"/tmp/ext/diffs/{safe}__{kk}.want", "w").write(want.get(k) or "<absent>")
            open(f"/tmp/ext/diffs/{safe}__{kk}.got", "w").write(got.get(k) or "<absent>")
    else:
        stats["same"] += 1
    sys.stderr.write(f"{name} {time.time()-t:.2f}s\n")
print(json.dumps(stats))
print("\n".join(report))
