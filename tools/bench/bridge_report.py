#!/usr/bin/env python3
"""tools/bench/bridge_report.py OUT - medians (min-max) of the runs
tools/bench/bridge_run.sh left in OUT, as Markdown tables.

Each run NAME (scenario.rep-kind, e.g. qos1.2-hf) left NAME.txt (hfbench's
output, its --json line included), NAME.rc (its exit status) and NAME.proc
(the edge's and the core's CPU seconds and RSS from /proc at the end)."""
import glob
import json
import os
import statistics
import sys

out = sys.argv[1]
res = {}  # (scenario, kind) -> list of dicts (hfbench JSON + /proc)
bad = []  # (run, exit status, error)
for f in sorted(glob.glob(os.path.join(out, "*.txt"))):
    name = os.path.basename(f)[:-4]
    scen_rep, kind = name.rsplit("-", 1)
    scen = scen_rep.split(".")[0]
    v = {}
    for line in open(f, errors="replace").read().splitlines():
        if line.startswith("{"):
            try:
                v.update(json.loads(line))
            except ValueError:
                pass
    try:
        v.update(json.load(open(f[:-4] + ".proc")))
    except (OSError, ValueError):
        pass
    try:
        rc = int(open(f[:-4] + ".rc").read())
    except (OSError, ValueError):
        rc = None
    if rc != 0 or not v.get("ok", False):
        bad.append((name, rc, v.get("error", "no JSON line")))
    res.setdefault((scen, kind), []).append(v)

KINDS = (("hf", "Holdfast → Holdfast"), ("mosq", "mosquitto → mosquitto"))


def get(v, key):
    for k in key.split("."):
        if not isinstance(v, dict) or v.get(k) is None:
            return None
        v = v[k]
    return v


def vals(scen, kind, fn):
    a = []
    for v in res.get((scen, kind), []):
        try:
            x = fn(v)
        except (TypeError, ZeroDivisionError):
            x = None
        if x is not None:
            a.append(x)
    return a


def med(scen, kind, fn, fmt="{:,.0f}"):
    a = vals(scen, kind, fn)
    if not a:
        return "-"
    m = fmt.format(statistics.median(a))
    if len(a) == 1:
        return m
    return f"{m} ({fmt.format(min(a))}–{fmt.format(max(a))})"


def total(scen, kind, key):
    a = vals(scen, kind, lambda v: get(v, key))
    return f"{sum(a):,}" if a else "-"


def key(k, scale=1.0):
    return lambda v: get(v, k) * scale if get(v, k) is not None else None


def table(title, scen, rows):
    runs = [len(res.get((scen, k), [])) for k, _ in KINDS]
    print(f"| {title} | " + " | ".join(
        f"{label} ({n} runs)" for (_, label), n in zip(KINDS, runs)) + " |")
    print("|---|" + "---|" * len(KINDS))
    for label, fn, fmt in rows:
        if fmt is None:  # a sum over the runs
            cells = [total(scen, k, fn) for k, _ in KINDS]
        else:
            cells = [med(scen, k, fn, fmt) for k, _ in KINDS]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()


MS = "{:,.1f}"
S = "{:,.2f}"
KB = "{:,.0f}"
common = [
    ("lost (sum over the runs)", "lost", None),
    ("duplicated (sum)", "duplicated", None),
    ("out of order (sum)", "out_of_order", None),
    ("edge CPU at the end, s (utime+stime since start)", key("edge_cpu_s"), S),
    ("core CPU at the end, s", key("core_cpu_s"), S),
    ("edge RSS at the end, KiB", key("edge_rss_kb"), KB),
    ("edge peak RSS (VmHWM), KiB", key("edge_hwm_kb"), KB),
]
n1 = vals("qos1", "hf", key("count")) or vals("qos1", "mosq", key("count"))
table(f"QoS 1, {int(n1[0]) if n1 else '?':,} messages, bridge up", "qos1", [
    ("acknowledged at the edge, msg/s", key("pub_rate"), "{:,.0f}"),
    ("delivered at the core, msg/s", key("delivery_rate"), "{:,.0f}"),
    ("latency p50, ms", key("lat_us.p50", 1e-3), MS),
    ("latency p99, ms", key("lat_us.p99", 1e-3), MS),
] + common)
n0 = vals("qos0", "hf", key("count")) or vals("qos0", "mosq", key("count"))
table(f"QoS 0, {int(n0[0]) if n0 else '?':,} messages, bridge up", "qos0", [
    ("sent to the edge, msg/s", key("pub_rate"), "{:,.0f}"),
    ("delivered at the core, msg/s", key("delivery_rate"), "{:,.0f}"),
    ("latency p50, ms", key("lat_us.p50", 1e-3), MS),
    ("latency p99, ms", key("lat_us.p99", 1e-3), MS),
] + common)
nd = vals("drain", "hf", key("count")) or vals("drain", "mosq", key("count"))
table(f"outbox of {int(nd[0]) if nd else '?':,} QoS 1 messages, core "
      "restarted", "drain", [
    ("acknowledged at the edge, core down, msg/s", key("pub_rate"),
     "{:,.0f}"),
    ("core start → first delivery, s", key("first_s"), S),
    ("core start → last delivery, s", key("drain_s"), S),
    ("first → last delivery, s", lambda v: v["drain_s"] - v["first_s"], S),
    ("drain rate, first → last, msg/s",
     lambda v: v["received"] / (v["drain_s"] - v["first_s"]), "{:,.0f}"),
] + common)

nruns = sum(len(r) for r in res.values())
print(f"{nruns} runs.")
if bad:
    print()
    print("Runs that did not end with exit 0 and ok:")
    for name, rc, err in bad:
        print(f"* {name}: exit {rc}: {err or '-'}")
