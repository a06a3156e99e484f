"""Renders charts with Helm v4's own library (helm-python-sdk) for Gantry's differential tests.

Reads a JSON list of jobs on stdin: {"chart": dir, "values": YAML text or null}. Writes a JSON
list of results: {"templates": {path: text}, "manifest": text} or {"error": message}. Every job
loads its chart afresh, since rendering changes a loaded chart.
"""
import json
import sys

from helm_python.chart import Chart, values_from_yaml
from helm_python.config import Config

jobs = json.load(sys.stdin)
out = []
cfg = Config(storage_driver="memory", kube_apiserver="http://127.0.0.1:9")
for job in jobs:
    try:
        vals = values_from_yaml(job["values"]) if job.get("values") is not None else None
        with Chart.load(job["chart"]) as c:
            templates = c.render(values=vals, name="rel", namespace="ns")
        result = {"templates": templates}
        if job.get("manifest"):
            try:
                with Chart.load(job["chart"]) as c:
                    rel = cfg.install(c, "rel", vals, namespace="ns", dry_run="client")
                result["manifest"] = rel.get("manifest", "")
            except Exception as e:  # the install's own checks (e.g. YAML) may fail
                result["manifest_error"] = str(e)
        out.append(result)
    except Exception as e:
        out.append({"error": str(e)})
json.dump(out, sys.stdout)
