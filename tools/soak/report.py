#!/usr/bin/env python3
"""tools/soak/report.py - judge a soak run, plot it, and record it.

Usage: report.py WORKDIR yes|no

Design: tools/soak/run leaves in WORKDIR what each part measured: hfsoak's
per-second samples (soak.csv) and results (soak.summary), the queues on
disk every 2 s (queues.csv), the broker's log, the store checker's output
(check.txt), the sessions left in the store (sessions-final.txt) and the
exit statuses (meta). This script turns them into a list of checks, each
pass or fail with the figures behind it, prints them, draws WORKDIR/soak.png
with plot.gp, and writes WORKDIR/summary.md. With "yes" and a passing run it
also copies the plot to docs/soak.png and replaces the "## Soak" section of
docs/BENCHMARKS.md (appended after the hand-written Analysis section, which
tools/bench/report.py keeps across benchmark runs, with everything after
it). Standard library only. Exit status 0 when every check passed, else 1.

The memory check, after the ramp and a warm-up (a third of the run phase,
at most 60 s), while the number of connected clients stays within 5 %:
the broker's RSS high-water mark (VmHWM) at the end of the run phase may
exceed its value at the end of the warm-up by at most RSS_GROWTH_MAX_MIB;
the heap (RssAnon, medians of 10 s) by at most HEAP_GROWTH_MAX_MIB; the
store file may grow to STORE_GROWTH_MAX times its size after the warm-up
plus STORE_SLACK_MIB. Why the high-water mark: RSS is the heap plus the
store's pages mapped by LMDB (RssFile), and those swing every second
between a few MiB and the whole store, because the broker hands them back
to the page cache once a second (hf_store_release_pages) and LMDB touches
them again within the second. A sample taken once a second sees the top or
the bottom of that swing depending on a phase that drifts slowly, while the
kernel's high-water mark sees every top. Why these figures: with the caps
set, a session keeps in memory only its in-flight window, its queue is on
disk and capped, the client population is steady, and the store reaches a
working size once the queues are at their caps. What may still move after
the warm-up is allocator noise and a larger store top, a few MiB on a
~30 MiB broker; a leak or an unbounded buffer of even a hundred bytes per
message would add tens of MiB (about 180 000 messages published and 2.5
million delivered in 180 s).
"""
import os
import shutil
import statistics
import subprocess
import sys

RSS_GROWTH_MAX_MIB = 8.0
HEAP_GROWTH_MAX_MIB = 4.0
STORE_GROWTH_MAX = 1.5  # x the size after warm-up, + STORE_SLACK_MIB
STORE_SLACK_MIB = 8.0
STEADY_MAX = 0.05  # connected clients may differ by 5 % between the points
PAYLOAD_MAX = 2048  # hfsoak's largest payload (in-flight bytes bound)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def kv(path):
    d = {}
    try:
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    d[k] = v
    except OSError:
        pass
    return d


def num(d, k, default=0.0):
    try:
        return float(d.get(k, default))
    except ValueError:
        return default


def read_csv(path):
    rows = []
    try:
        with open(path) as f:
            head = f.readline().strip().split(",")
            for line in f:
                parts = line.strip().split(",")
                if len(parts) != len(head):
                    continue
                r = {}
                for k, v in zip(head, parts):
                    try:
                        r[k] = float(v)
                    except ValueError:
                        r[k] = v
                rows.append(r)
    except OSError:
        pass
    return rows


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def median_in(rows, key, lo, hi):
    v = [r[key] for r in rows if lo <= r["t"] <= hi and r[key] >= 0]
    return statistics.median(v) if v else None


def slope_per_min(rows, key, lo, hi):
    pts = [(r["t"], r[key]) for r in rows if lo <= r["t"] <= hi and r[key] >= 0]
    if len(pts) < 3:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if not sxx:
        return None
    return 60 * sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx


def machine(work):
    cpu = "?"
    for line in read_text("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = "?"
    for line in read_text("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem = "%.1f GiB" % (int(line.split()[1]) / 1048576)
    fs = "?"
    try:
        out = subprocess.run(["df", "-PT", work], capture_output=True,
                             text=True).stdout.splitlines()
        if len(out) > 1:
            p = out[1].split()
            fs = "%s on %s" % (p[1], p[0])
    except OSError:
        pass
    return {"cpu": "%s × %d" % (cpu, os.cpu_count() or 0), "mem": mem,
            "kernel": os.uname().release, "fs": fs}


def fmt(n):
    return "{:,}".format(int(n)).replace(",", " ")


def mib(kb):
    return "%.1f MiB" % (kb / 1024) if kb is not None else "n/a"


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 3
    work, docs = sys.argv[1], sys.argv[2] == "yes"
    meta = kv(os.path.join(work, "meta"))
    s = kv(os.path.join(work, "soak.summary"))
    rows = read_csv(os.path.join(work, "soak.csv"))
    queues = read_csv(os.path.join(work, "queues.csv"))
    blog = read_text(os.path.join(work, "broker.log"))
    check_out = read_text(os.path.join(work, "check.txt")).strip()
    final = read_text(os.path.join(work, "sessions-final.txt"))
    maxq = int(num(meta, "max_queued"))
    maxqb = int(num(meta, "max_queued_bytes"))
    infl = int(num(meta, "max_inflight"))
    checks = []

    def check(name, ok, detail):
        checks.append((name, bool(ok), detail))

    # ---- messages (hfsoak's ledger)
    lost, dup2 = int(num(s, "lost", -1)), int(num(s, "dup_qos2", -1))
    errs = [v for k, v in sorted(s.items()) if k.startswith("error_")]
    check("no acknowledged message lost",
          s and lost == 0 and num(s, "expected") > 0,
          "%s deliveries expected (acknowledged QoS 1/2 messages x checked "
          "subscribers whose filter matches), %s received, %s lost%s" %
          (fmt(num(s, "expected")), fmt(num(s, "received")), lost,
           ("; first: " + s.get("lost_example")) if lost > 0 else ""))
    check("no QoS 2 message duplicated", dup2 == 0,
          "%d QoS 2 duplicates; %s QoS 2 resends before PUBREL recognised "
          "as the same delivery; %s QoS 1 duplicates (allowed: at least "
          "once)" % (dup2, fmt(num(s, "resent_qos2_ignored")),
                     fmt(num(s, "dup_qos1"))))
    check("no protocol anomaly seen by the clients",
          num(s, "errors", -1) == 0 and num(s, "refused_delivered") == 0
          and meta.get("driver_rc") == "0",
          "hfsoak exit %s, %d anomalies%s" %
          (meta.get("driver_rc"), int(num(s, "errors", -1)),
           (": " + "; ".join(errs[:5])) if errs else ""))

    # ---- the broker and its store
    check("broker ran to the end and exited 0 on SIGTERM",
          meta.get("broker_alive_at_end") == "1" and
          meta.get("broker_rc") == "0",
          "alive at the end: %s, exit status %s" %
          ("yes" if meta.get("broker_alive_at_end") == "1" else "NO",
           meta.get("broker_rc")))
    check("store checker clean", meta.get("check_rc") == "0",
          "`holdfast-db check` exit %s: %s" %
          (meta.get("check_rc"), check_out.splitlines()[-1]
           if check_out else "no output"))

    # ---- memory
    t_ramp = num(s, "t_ramp_done")
    t_end = num(s, "t_run_end")
    t_run = num(s, "t_run")
    warm = min(60.0, (t_end - t_run) / 3)
    t_warm = t_ramp + warm
    rss_w = median_in(rows, "rss_kb", t_warm - 5, t_warm + 5)
    rss_e = median_in(rows, "rss_kb", t_end - 10, t_end)
    anon_w = median_in(rows, "rss_anon_kb", t_warm - 5, t_warm + 5)
    anon_e = median_in(rows, "rss_anon_kb", t_end - 10, t_end)
    conn_w = median_in(rows, "connected", t_warm - 5, t_warm + 5)
    conn_e = median_in(rows, "connected", t_end - 10, t_end)
    hwm_w = max((r["hwm_kb"] for r in rows if r["t"] <= t_warm), default=None)
    hwm_e = max((r["hwm_kb"] for r in rows if r["t"] <= t_end), default=None)
    hwm = max((r["hwm_kb"] for r in rows), default=None)
    steady = [r for r in rows if t_warm <= r["t"] <= t_end]
    rss_lo = min((r["rss_kb"] for r in steady if r["rss_kb"] >= 0),
                 default=None)
    rss_hi = max((r["rss_kb"] for r in steady), default=None)
    store_w = median_in(rows, "store_bytes", t_warm - 5, t_warm + 5)
    store_e = median_in(rows, "store_bytes", t_end - 10, t_end)
    store_max = max((r["store_bytes"] for r in rows), default=0)
    grow = (hwm_e - hwm_w) / 1024 if hwm_w and hwm_e else None
    is_steady = conn_w and conn_e and abs(conn_e - conn_w) <= STEADY_MAX * conn_w
    check("RSS bounded after warm-up",
          grow is not None and grow <= RSS_GROWTH_MAX_MIB and is_steady,
          "high-water mark (VmHWM) %s at the end of the warm-up (t=%.0f s), "
          "%s at the end of the run phase (t=%.0f s): %+.1f MiB (bound "
          "+%.0f MiB); samples in between %s to %s (the store's pages come "
          "and go every second); connected %s -> %s (steady within %d %%)" %
          (mib(hwm_w), t_warm, mib(hwm_e), t_end, grow or 0,
           RSS_GROWTH_MAX_MIB, mib(rss_lo), mib(rss_hi), fmt(conn_w or 0),
           fmt(conn_e or 0), STEADY_MAX * 100))
    heap_grow = (anon_e - anon_w) / 1024 if anon_w and anon_e else None
    check("heap (RssAnon) bounded after warm-up",
          heap_grow is not None and heap_grow <= HEAP_GROWTH_MAX_MIB,
          "%s -> %s: %+.1f MiB (bound +%.0f MiB); slope %+.0f KiB/min" %
          (mib(anon_w), mib(anon_e), heap_grow or 0, HEAP_GROWTH_MAX_MIB,
           slope_per_min(rows, "rss_anon_kb", t_warm, t_end) or 0))
    store_bound = (store_w or 0) * STORE_GROWTH_MAX + STORE_SLACK_MIB * 1048576
    check("store file bounded after warm-up",
          store_w and store_e and store_e <= store_bound,
          "%.1f MiB after warm-up, %.1f MiB at the end of the run phase "
          "(bound %.1f x + %.0f MiB = %.1f MiB)" %
          ((store_w or 0) / 1048576, (store_e or 0) / 1048576,
           STORE_GROWTH_MAX, STORE_SLACK_MIB, store_bound / 1048576))

    # ---- queues on disk
    qmax = max((r["max_queued"] for r in queues), default=-1)
    qbmax = max((r["max_bytes"] for r in queues), default=-1)
    qcli = next((r["max_queued_client"] for r in queues
                 if r["max_queued"] == qmax), "?")
    qbound, qbbound = maxq + infl, maxqb + infl * PAYLOAD_MAX
    check("queues on disk within the caps",
          len(queues) > 3 and 0 <= qmax <= qbound and 0 <= qbmax <= qbbound,
          "%d samples; deepest queue %s entries (%s), bound max_queued_"
          "messages + in-flight window = %d; most bytes %s, bound "
          "max_queued_bytes + %d x %d = %s" %
          (len(queues), fmt(qmax), qcli, qbound, fmt(qbmax), infl,
           PAYLOAD_MAX, fmt(qbbound)))
    check("the caps were reached (the slow subscriber's queue filled)",
          qmax >= maxq and num(s, "refused") > 0,
          "deepest queue %s >= max_queued_messages %d; %s publishes "
          "refused" % (fmt(qmax), maxq, fmt(num(s, "refused"))))

    # ---- refusals: every one understood
    npubs = int(num(s, "publishers"))
    slow_ids = {"soak-pub-%d" % i for i in range(npubs - 4, npubs)}
    ref = [l for l in blog.splitlines() if "refused: queue or store full" in l]
    ref_from = [l.split("Message from ", 1)[1].split(" ", 1)[0]
                for l in ref if "Message from " in l]
    foreign = [c for c in ref_from if c not in slow_ids]
    dropped = [l for l in blog.splitlines() if "dropped" in l]
    want = int(num(s, "refused")) + int(num(s, "v311_refusal_closes"))
    check("every refusal understood",
          len(ref) == want and not foreign and not dropped,
          "broker log: %d refusals (all from the slow subscriber's "
          "publishers: %s), %d 'dropped'; clients: %s 0x97 + %s 3.1.1 "
          "disconnections = %d" %
          (len(ref), "yes" if not foreign else "NO: " + ", ".join(
              sorted(set(foreign))[:5]), len(dropped),
           fmt(num(s, "refused")), fmt(num(s, "v311_refusal_closes")), want))

    # ---- checked subscribers drained
    left = []
    for line in final.splitlines()[1:]:
        p = line.split()
        if len(p) >= 8 and (p[7].startswith("soak-sub-") or
                            p[7] == "soak-slow-0") and p[4] != "0":
            left.append("%s: %s" % (p[7], p[4]))
    check("checked subscribers' queues empty after the drain",
          final and not left,
          "drained in %.1f s; %s" % (num(s, "drain_s"),
                                     "left: " + ", ".join(left[:5])
                                     if left else "no entries left"))

    ok = all(c[1] for c in checks)

    # ---- plot
    with open(os.path.join(work, "queues_t.dat"), "w") as f:
        t0 = num(s, "t0_epoch")
        for r in queues:
            f.write("%.1f %d %d %d %d %d\n" %
                    (r["epoch"] - t0, r["max_queued"], r["max_bytes"],
                     r["total_queued"], r["sessions"], r["slow_queued"]))
    png = os.path.join(work, "soak.png")
    title = "Holdfast soak: %s clients, %s s run phase, %s msg/s" % (
        fmt(num(s, "clients")), s.get("seconds", "?"),
        s.get("rate_target", "?"))
    plotted = False
    if shutil.which("gnuplot"):
        r = subprocess.run(
            ["gnuplot", "-e",
             "dir='%s'; out='%s'; tw=%f; te=%f; tmax=%f; cap=%d; "
             "title='%s'" % (work, png, t_warm, t_end,
                             max((r["t"] for r in rows), default=1), qbound,
                             title),
             os.path.join(HERE, "plot.gp")], capture_output=True, text=True)
        plotted = r.returncode == 0
        if not plotted:
            sys.stderr.write(r.stderr)

    # ---- report
    m = machine(work)
    rate_pub = num(s, "sent") / max(1.0, t_end - t_run)
    rate_del = num(s, "delivered") / max(1.0, t_end - t_run)
    L = []
    w = L.append
    w("## Soak")
    w("")
    w("Written by `tools/soak/run` (%s, commit %s); design and checks in "
      "`tools/soak/README.md`. The run is not part of CTest or `.ci/run`." %
      (meta.get("date", "?"), meta.get("commit", "?")))
    w("")
    w("| | |")
    w("|---|---|")
    w("| command | `%s` |" % meta.get("command", "tools/soak/run"))
    w("| result | **%s** |" % ("PASS" if ok else "FAIL"))
    w("| machine | %s, %s RAM, kernel %s, store on %s; load tool and broker "
      "share the machine |" % (m["cpu"], m["mem"], m["kernel"], m["fs"]))
    w("| broker | %s, %s, persistence on with `persistence_sync full`, "
      "`max_queued_messages %d`, `max_queued_bytes %d`, "
      "`max_inflight_messages %d`, `sys_interval 10` |" %
      (meta.get("hf_version", "?"), meta.get("build", "?"), maxq, maxqb,
       infl))
    w("| duration | setup %.0f s, run phase %.0f s (ramp to all clients "
      "%.0f s, warm-up until %.0f s), stop and drain %.1f s |" %
      (t_run, t_end - t_run, t_ramp - t_run, t_warm, num(s, "drain_s")))
    w("| clients | %s: %s publishers (3.1.1 QoS 0/1/2: %s/%s/%s, 5.0: "
      "%s/%s/%s), %s checked persistent subscribers (3.1.1 %s, 5.0 %s; "
      "QoS 0/1/2: %s/%s/%s) going offline and resuming, %s transient "
      "persistent sessions (%s 5.0 with a 10 s expiry, the rest 3.1.1 "
      "ending their session now and then), %s clean-session churners, 1 "
      "slow subscriber, %s idle (%s of them persistent) |" %
      (fmt(num(s, "clients")), s.get("publishers"),
       s.get("publishers_v311_qos0"), s.get("publishers_v311_qos1"),
       s.get("publishers_v311_qos2"), s.get("publishers_v5_qos0"),
       s.get("publishers_v5_qos1"), s.get("publishers_v5_qos2"),
       s.get("subscribers"), s.get("subscribers_v311"),
       s.get("subscribers_v5"), s.get("subscribers_qos0"),
       s.get("subscribers_qos1"), s.get("subscribers_qos2"),
       s.get("transients"), s.get("transients_v5"), s.get("churners"),
       fmt(num(s, "idle")), fmt(num(s, "idle_persistent"))))
    w("| connections | %s connects and %s closes in all; about %s "
      "connected at a time |" %
      (fmt(num(s, "connects")), fmt(num(s, "closes")), fmt(conn_e or 0)))
    w("| messages | %s published (QoS 0/1/2: %s/%s/%s, %.0f/s), %s "
      "acknowledged, %s refused with 0x97 and %s 3.1.1 publishers "
      "disconnected (all on the slow subscriber's full queue), %s "
      "deliveries (%.0f/s) |" %
      (fmt(num(s, "sent")), fmt(num(s, "sent_qos0")),
       fmt(num(s, "sent_qos1")), fmt(num(s, "sent_qos2")), rate_pub,
       fmt(num(s, "acked")), fmt(num(s, "refused")),
       fmt(num(s, "v311_refusal_closes")), fmt(num(s, "delivered")),
       rate_del))
    w("| sessions | transients: %s resumed, %s expired, %s ended by a "
      "clean connection; %s subscribers dropped right after a QoS 1/2 "
      "PUBLISH, before acknowledging it (%s more dropped with none "
      "arriving); slow subscriber: %s stalls, %s trickles |" %
      (fmt(num(s, "transient_resumed")), fmt(num(s, "transient_expired")),
       fmt(num(s, "transient_ended")), fmt(num(s, "crashes_mid_exchange")),
       fmt(num(s, "crashes_no_publish")), s.get("slow_stalls"),
       s.get("slow_trickles")))
    w("| RSS | high-water mark %s at the end of the warm-up, %s at the end "
      "of the run (%+.1f MiB), %s after the final drain; samples after "
      "the warm-up %s to %s (median %s at its end, %s at the end of the "
      "run); heap (RssAnon) %s -> %s |" %
      (mib(hwm_w), mib(hwm_e), grow or 0, mib(hwm), mib(rss_lo),
       mib(rss_hi), mib(rss_w), mib(rss_e), mib(anon_w), mib(anon_e)))
    w("| store | file %.1f MiB after warm-up, %.1f MiB at the end of the "
      "run, %.1f MiB at most; deepest queue %s entries (cap %d + %d in "
      "flight) |" %
      ((store_w or 0) / 1048576, (store_e or 0) / 1048576,
       store_max / 1048576, fmt(qmax), maxq, infl))
    w("| lost / QoS 2 duplicated | **%s / %s** of %s checked deliveries |" %
      (lost, dup2, fmt(num(s, "expected"))))
    w("| store checker | %s |" % (check_out.splitlines()[-1]
                                   if check_out else "n/a"))
    w("")
    w("Checks:")
    w("")
    for name, good, detail in checks:
        w("* %s %s: %s." % ("✓" if good else "✗ **FAILED**", name, detail))
    w("")
    w("![RSS, store, queues, connections and message rates over the soak "
      "run](soak.png)")
    w("")
    w("How to read the plot: the dashed lines mark the end of the warm-up "
      "and of the run phase. Before the warm-up ends RSS grows with the "
      "connections and with the store while it reaches its working size; "
      "after it, the high-water mark stays flat while about %s clients "
      "stay connected and others connect, leave and publish. RSS samples "
      "that drop by several MiB are the store's pages, handed back once a "
      "second and touched again within it (RssFile): the heap (RssAnon) "
      "does not move. After the run phase every subscriber comes back at "
      "once and drains its queue. The slow subscriber's queue "
      "climbs to the cap while it stalls and stays there while it reads a "
      "trickle, the broker refusing (0x97, or disconnecting the 3.1.1 "
      "publisher) until it reads again; the deepest of the other queues, "
      "those of subscribers offline for a while, stays under 40 %% of the "
      "cap by design." % fmt(conn_e or 0))
    w("")
    md = "\n".join(L)
    with open(os.path.join(work, "summary.md"), "w") as f:
        f.write(md)
    print(md)

    if docs and ok and plotted:
        shutil.copy(png, os.path.join(ROOT, "docs", "soak.png"))
        bm = os.path.join(ROOT, "docs", "BENCHMARKS.md")
        old = read_text(bm)
        i = old.find("\n## Soak\n")
        if i >= 0:
            j = old.find("\n## ", i + 1)
            rest = old[j:] if j >= 0 else "\n"
            new = old[:i] + "\n" + md + rest
        else:
            new = old.rstrip("\n") + "\n\n" + md
        with open(bm, "w") as f:
            f.write(new.rstrip("\n") + "\n")
        sys.stderr.write("wrote docs/soak.png and the Soak section of "
                         "docs/BENCHMARKS.md\n")
    elif docs:
        sys.stderr.write("docs/ not written: %s\n" %
                         ("the run failed" if not ok else "no plot"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
