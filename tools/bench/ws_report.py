#!/usr/bin/env python3
"""tools/bench/ws_report.py OUT - medians (and ranges) of the runs
tools/bench/ws_run.sh left in OUT, as Markdown tables."""
import glob
import json
import os
import statistics
import sys

out = sys.argv[1]
res = {}   # (scenario, broker, kind) -> list of JSON results (dict)
bad = []   # runs that failed: (file, exit status, error)
for f in sorted(glob.glob(os.path.join(out, "*.txt"))):
    name = os.path.basename(f)[:-4]
    scen, broker, kind = name.rsplit("-", 2)
    scen = scen.split(".")[0]
    v = {}
    for line in open(f, errors="replace").read().splitlines():
        if line.startswith("{"):
            try:
                v.update(json.loads(line))
            except ValueError:
                pass
    try:
        rc = int(open(f[:-4] + ".rc").read())
    except (OSError, ValueError):
        rc = None
    v["_rc"] = rc
    if rc != 0 or not v.get("ok", False):
        bad.append((name, rc, v.get("error", "no JSON line")))
    res.setdefault((scen, broker, kind), []).append(v)

BROKERS = (("hf", "Holdfast"), ("mosq", "mosquitto"))
KINDS = (("tcp", "TCP"), ("ws", "ws"), ("wss", "wss"))


def vals(scen, broker, kind, key, scale=1.0):
    return [v[key] * scale for v in res.get((scen, broker, kind), [])
            if v.get(key) is not None]


def median(scen, broker, kind, key):
    a = vals(scen, broker, kind, key)
    return statistics.median(a) if a else None


def med(scen, broker, kind, key, scale=1.0, fmt="{:,.0f}"):
    a = vals(scen, broker, kind, key, scale)
    if not a:
        return "-"
    m = fmt.format(statistics.median(a))
    if len(a) == 1:
        return m
    return f"{m} ({fmt.format(min(a))}–{fmt.format(max(a))})"


def cpu(scen, broker, kind):
    a = [v["broker_cpu_user_s"] + v["broker_cpu_sys_s"]
         for v in res.get((scen, broker, kind), [])
         if "broker_cpu_user_s" in v]
    return f"{statistics.median(a):.2f}" if a else "-"


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "-"


cols = [(b, k) for b, _ in BROKERS for k, _ in KINDS]
print("| throughput, 1:1 | " + " | ".join(
    f"{bl} {kl}" for b, bl in BROKERS for k, kl in KINDS) + " |")
print("|---" * (len(cols) + 1) + "|")
for scen, key, label in (("qos0", "pub_rate", "QoS 0 sent/s"),
                         ("qos0", "delivery_rate", "QoS 0 delivered/s"),
                         ("qos1", "pub_rate", "QoS 1 acked/s"),
                         ("qos1", "delivery_rate", "QoS 1 delivered/s")):
    print(f"| {label} | " + " | ".join(
        med(scen, b, k, key) for b, k in cols) + " |")
for scen in ("qos0", "qos1"):
    print(f"| broker CPU, {scen[:3].upper()} {scen[3]} run (s) | " +
          " | ".join(cpu(scen, b, k) for b, k in cols) + " |")
print()

print("| ratio of medians | QoS 0 delivered/s | QoS 1 acked/s | "
      "QoS 1 delivered/s |")
print("|---|---|---|---|")
for k, kl in KINDS[1:]:
    print(f"| Holdfast {kl} / Holdfast TCP | " + " | ".join(
        ratio(median(s, "hf", k, key), median(s, "hf", "tcp", key))
        for s, key in (("qos0", "delivery_rate"), ("qos1", "pub_rate"),
                       ("qos1", "delivery_rate"))) + " |")
for k, kl in KINDS[1:]:
    print(f"| Holdfast {kl} / mosquitto {kl} | " + " | ".join(
        ratio(median(s, "hf", k, key), median(s, "mosq", k, key))
        for s, key in (("qos0", "delivery_rate"), ("qos1", "pub_rate"),
                       ("qos1", "delivery_rate"))) + " |")
print()

print("| 1 MB QoS 1, one at a time | Holdfast latency (ms) | "
      "Holdfast max (ms) | Holdfast delivered | mosquitto latency (ms) | "
      "mosquitto max (ms) | mosquitto delivered |")
print("|---|---|---|---|---|---|---|")
for k, kl in KINDS:
    row = []
    for b, _ in BROKERS:
        runs = res.get(("mb", b, k), [])
        p50 = [v["lat_us"]["p50"] / 1000 for v in runs
               if v.get("lat_us", {}).get("n")]
        mx = [v["lat_us"]["max"] / 1000 for v in runs
              if v.get("lat_us", {}).get("n")]
        got = sum(v.get("distinct", 0) for v in runs)
        sent = sum(v.get("sent", 0) for v in runs)
        if not p50:
            row += ["-", "-", f"{got}/{sent} in {len(runs)} runs"]
            continue
        m = statistics.median(p50)
        cell = f"{m:,.1f}"
        if len(p50) > 1:
            cell += f" ({min(p50):,.1f}–{max(p50):,.1f})"
        row += [cell, f"{max(mx):,.1f}", f"{got}/{sent} in {len(runs)} runs"]
    print(f"| {kl} | " + " | ".join(row) + " |")
print()

print("| idle connections | Holdfast KiB/conn | Holdfast RSS before → "
      "after (KiB) | Holdfast handshake p50 (ms) | mosquitto KiB/conn | "
      "mosquitto RSS before → after (KiB) | mosquitto handshake p50 (ms) |")
print("|---|---|---|---|---|---|---|")
for k, kl in KINDS:
    row = []
    for b, _ in BROKERS:
        runs = [v for v in res.get(("idle", b, k), []) if "rss_per_conn_kb" in v]
        if not runs:
            row += ["-", "-", "-"]
            continue
        v = runs[0]
        row += [f"{v['rss_per_conn_kb']:.2f}",
                f"{v['rss_before_kb']} → {v['rss_after_kb']}",
                f"{v['handshake_us']['p50'] / 1000:.1f}"]
    n = [v["idle"] for b, _ in BROKERS for v in res.get(("idle", b, k), [])
         if v.get("idle")]
    label = f"{kl}, {n[0]:,} connections" if n else kl
    print(f"| {label} | " + " | ".join(row) + " |")
print()

tot = {k: sum(v.get(k, 0) for r in res.values() for v in r)
       for k in ("lost", "duplicated", "out_of_order", "foreign")}
nruns = sum(len(r) for r in res.values())
print(f"{nruns} runs; lost {tot['lost']}, duplicated {tot['duplicated']}, "
      f"out of order {tot['out_of_order']}, foreign {tot['foreign']} "
      "over all of them.")
if bad:
    print()
    print("Runs that did not end with exit 0 and ok:")
    for name, rc, err in bad:
        print(f"* {name}: exit {rc}: {err or '-'}")
