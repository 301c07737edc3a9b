#!/usr/bin/env python3
"""tools/bench/tls_report.py OUT - medians (and ranges) of the runs
tools/bench/tls_run.sh left in OUT, as Markdown tables."""
import glob
import json
import os
import re
import statistics
import sys

out = sys.argv[1]
try:  # s_time's run length (tls_run.sh writes it)
    secs = float(open(os.path.join(out, "secs")).read())
except OSError:
    secs = 10.0
res = {}  # (scenario, broker, kind) -> list of values (dict)
for f in glob.glob(os.path.join(out, "*.txt")):
    name = os.path.basename(f)[:-4]
    scen, broker, kind = name.rsplit("-", 2)
    scen = scen.split(".")[0]
    text = open(f).read()
    v = {}
    for line in text.splitlines():
        if line.startswith("{"):
            v.update(json.loads(line))
    m = re.search(r"(\d+) connections in (\d+) real seconds", text)
    if m:
        v["s_time_rate"] = int(m.group(1)) / secs
    res.setdefault((scen, broker, kind), []).append(v)


def med(scen, broker, kind, key, scale=1.0):
    vals = [v[key] * scale for v in res.get((scen, broker, kind), [])
            if v.get(key) is not None]
    if not vals:
        return "-"
    m = statistics.median(vals)
    if len(vals) == 1:
        return f"{m:,.0f}"
    return f"{m:,.0f} ({min(vals):,.0f}–{max(vals):,.0f})"


def cpu(scen, broker, kind):
    vals = [v["broker_cpu_user_s"] + v["broker_cpu_sys_s"]
            for v in res.get((scen, broker, kind), [])
            if "broker_cpu_user_s" in v]
    return f"{statistics.median(vals):.2f}" if vals else "-"


print("| handshakes | Holdfast | mosquitto |")
print("|---|---|---|")
for k, label in (("ec", "ECDSA P-256"), ("rsa", "RSA 2048")):
    print(f"| s_time -new, {label} (handshakes/s) | "
          f"{med('s_time', 'hf', k, 's_time_rate')} | "
          f"{med('s_time', 'mosq', k, 's_time_rate')} |")
    hf = [1000 / v["connect_s"] for v in res.get(("connect", "hf", k), [])]
    mq = [1000 / v["connect_s"] for v in res.get(("connect", "mosq", k), [])]
    f = lambda a: (f"{statistics.median(a):,.0f} ({min(a):,.0f}–"
                   f"{max(a):,.0f})") if a else "-"
    print(f"| 1000 MQTT connects, 64 at a time, {label} (connects/s) | "
          f"{f(hf)} | {f(mq)} |")
    print(f"| … broker CPU for them (s) | {cpu('connect', 'hf', k)} | "
          f"{cpu('connect', 'mosq', k)} |")
print()
print("| throughput | Holdfast TCP | Holdfast TLS | mosquitto TCP | "
      "mosquitto TLS |")
print("|---|---|---|---|---|")
for scen, key, label in (("qos0", "pub_rate", "QoS 0 sent/s"),
                         ("qos0", "delivery_rate", "QoS 0 delivered/s"),
                         ("qos1", "pub_rate", "QoS 1 acked/s"),
                         ("qos1", "delivery_rate", "QoS 1 delivered/s")):
    print(f"| {label} | {med(scen, 'hf', 'tcp', key)} | "
          f"{med(scen, 'hf', 'ec', key)} | {med(scen, 'mosq', 'tcp', key)} | "
          f"{med(scen, 'mosq', 'ec', key)} |")
for scen in ("qos0", "qos1"):
    print(f"| {scen} broker CPU (s) | {cpu(scen, 'hf', 'tcp')} | "
          f"{cpu(scen, 'hf', 'ec')} | {cpu(scen, 'mosq', 'tcp')} | "
          f"{cpu(scen, 'mosq', 'ec')} |")
print()
print("| idle connections | Holdfast | mosquitto |")
print("|---|---|---|")
for k in ("tcp", "ec"):
    vals = {}
    for b in ("hf", "mosq"):
        v = res.get(("idle", b, k), [{}])[0]
        vals[b] = (f"{v.get('rss_per_conn_kb', 0):.2f} KiB"
                   if v else "-")
    print(f"| RSS per idle {k.upper() if k == 'tcp' else 'TLS'} "
          f"connection | {vals['hf']} | {vals['mosq']} |")
