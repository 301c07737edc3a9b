#!/usr/bin/python3
"""tools/bench/report.py - helpers for the benchmark suite (tools/bench/run).

Design: three subcommands, standard library only. The report covers
Holdfast, mosquitto and, when the suite ran it, FlashMQ (meta "kinds"),
and the cost of Holdfast's durability (its store counters scraped before
and after every run, and commitprobe's synced-commit time).
  connack T0_NS PORT [DEADLINE_S]
      Connect again and again (every 2 ms) until a broker answers a CONNECT
      with a CONNACK; print the seconds from T0_NS (CLOCK_REALTIME ns taken
      by the caller just before it exec'd the broker) to that CONNACK.
  drain PORT CLIENT_ID EXPECTED IDLE_S DEADLINE_S
      Resume a persistent MQTT 3.1.1 session (clean session 0) without
      subscribing, acknowledge every QoS 1 PUBLISH (one write of PUBACKs per
      socket read) and count distinct hfbench stamps (publisher id +
      sequence). Stops at EXPECTED distinct messages, IDLE_S silent seconds
      or DEADLINE_S. Prints one JSON line. It is a minimal client written so
      that the client, not the broker, is rarely the bottleneck of a drain.
  report RESULTS_DIR OUT_MD PLOT_DIR
      Read the per-scenario results the suite wrote and produce
      docs/BENCHMARKS.md plus the data files the gnuplot script reads.

Threading/ownership: single-threaded; every subcommand owns its sockets and
files and closes them before it returns.
"""
import datetime
import json
import os
import platform
import socket
import struct
import subprocess
import sys
import time


def connect_packet(client_id, clean):
    cid = client_id.encode()
    var = (b"\x00\x04MQTT\x04" + bytes([0x02 if clean else 0x00]) +
           struct.pack(">H", 60))
    body = var + struct.pack(">H", len(cid)) + cid
    return bytes([0x10]) + encode_len(len(body)) + body


def encode_len(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("eof")
        buf += chunk
    return buf


def cmd_connack(argv):
    t0 = int(argv[0]) / 1e9
    port = int(argv[1])
    deadline = time.time() + (float(argv[2]) if len(argv) > 2 else 300)
    pkt = connect_packet("hfb-restart-probe", True)
    attempts = 0
    while time.time() < deadline:
        attempts += 1
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as s:
                s.settimeout(max(0.1, deadline - time.time()))
                s.sendall(pkt)
                ack = recv_exact(s, 4)
                t = time.time()
                if ack[0] == 0x20:
                    s.sendall(b"\xe0\x00")
                    print(json.dumps({"connack_s": round(t - t0, 4),
                                      "attempts": attempts,
                                      "return_code": ack[3]}))
                    return 0
        except OSError:
            pass
        time.sleep(0.002)
    print(json.dumps({"connack_s": None, "attempts": attempts}))
    return 1


def cmd_drain(argv):
    port, cid = int(argv[0]), argv[1]
    expected, idle, deadline = int(argv[2]), float(argv[3]), float(argv[4])
    s = socket.create_connection(("127.0.0.1", port), 10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(connect_packet(cid, False))
    ack = recv_exact(s, 4)
    t_start = time.time()
    res = {"session_present": bool(ack[2] & 1), "connack_rc": ack[3],
           "received": 0, "distinct": 0, "drain_s": 0.0}
    if ack[0] != 0x20 or ack[3] != 0:
        print(json.dumps(res))
        return 1
    seen = set()
    received = 0
    t_last = t_start
    end = t_start + deadline
    buf = bytearray()
    s.settimeout(0.5)
    while len(seen) < expected:
        now = time.time()
        if now > end or now - t_last > idle:
            break
        try:
            data = s.recv(1 << 20)
        except socket.timeout:
            continue
        if not data:
            break
        buf += data
        acks = bytearray()
        pos = 0
        n = len(buf)
        while True:
            if n - pos < 2:
                break
            hdr = buf[pos]
            rl, mult, i = 0, 1, pos + 1
            while i < n:
                b = buf[i]
                rl += (b & 0x7F) * mult
                mult *= 128
                i += 1
                if not b & 0x80:
                    break
            else:
                break
            if i + rl > n:
                break
            if hdr >> 4 == 3:
                qos = (hdr >> 1) & 3
                tl = (buf[i] << 8) | buf[i + 1]
                p = i + 2 + tl
                if qos:
                    acks += b"\x40\x02" + buf[p:p + 2]
                    p += 2
                received += 1
                seen.add(bytes(buf[p:p + 12]))
            pos = i + rl
        del buf[:pos]
        if acks:
            s.sendall(acks)
        if received:
            t_last = time.time()
    try:
        s.sendall(b"\xe0\x00")
    except OSError:
        pass
    s.close()
    res.update(received=received, distinct=len(seen),
               drain_s=round(t_last - t_start, 4) if received else 0.0)
    print(json.dumps(res))
    return 0


# ---------------------------------------------------------------- report

# id -> (metric key, unit, direction, target), or a list of them
#   direction "high": higher is better, ratio = Holdfast / peer >= target
#   direction "low":  lower is better,  ratio = Holdfast / peer <= target
# The target is judged against mosquitto; the ratio to FlashMQ is shown
# next to it.
METRIC = {
    "qos0_1to1": ("delivery_rate", "msg/s", "high", 2.0),
    "qos1_1to1": ("delivery_rate", "msg/s", "high", 1.0),
    "qos2_1to1": ("delivery_rate", "msg/s", "high", 1.0),
    "qos1_rate10k": ("p99_ms", "ms p99", "low", 1.0),
    "qos1_50to1": ("delivery_rate", "msg/s", "high", 1.5),
    "qos0_1to50": ("delivery_rate", "msg/s", "high", 1.5),
    "qos1_1to50": ("delivery_rate", "msg/s", "high", 1.5),
    "idle": ("rss_per_conn_kb", "KiB/conn", "low", 1.0),
    "offline_drain": ("drain_s", "s drain", "low", 1.0),
    "qos1_1mb": ("delivery_rate", "msg/s", "high", 1.0),
    "qos1_1mb_1to10": ("delivery_rate", "msg/s", "high", 1.0),
    "qos1_16mb": ("delivery_rate", "msg/s", "high", 1.0),
    "qos1_16mb_1to10": ("delivery_rate", "msg/s", "high", 1.0),
    "idle_tls": ("rss_per_conn_kb", "KiB/conn", "low", 1.0),
    "idle_ws": ("rss_per_conn_kb", "KiB/conn", "low", 1.0),
    "subs_wild": [("sub_rate", "SUBACKs/s", "high", 1.0),
                  ("delivery_rate", "msg/s", "high", 1.0),
                  ("rss_after_kb", "KiB RSS subscribed", "low", 1.0)],
    "retained": ("phase_s", "s SUBSCRIBE → last", "low", 1.0),
    "storm": ("phase_s", "s all CONNACK + queue", "low", 1.0),
}
ALL_BROKERS = (("hf", "Holdfast"), ("mq", "mosquitto"), ("fm", "FlashMQ"))
BROKERS = ALL_BROKERS[:2]


def metric_rows(sid):
    m = METRIC.get(sid)
    if m is None:
        return []
    return m if isinstance(m, list) else [m]


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def load_json(path):
    txt = read(path)
    if not txt:
        return None
    try:
        return json.loads(txt)
    except ValueError:
        return None


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if unit in ("msg/s", "SUBACKs/s") or (isinstance(v, (int, float))
                                          and v >= 1000):
        return "{:,.0f}".format(v)
    if v >= 100:
        return "{:.0f}".format(v)
    if v >= 10:
        return "{:.1f}".format(v)
    return "{:.3g}".format(v)


def derived(j):
    """Add the fields the tables use to one hfbench JSON result."""
    if j is None:
        return None
    lat = j.get("lat_us", {})
    j["p50_ms"] = lat.get("p50", 0) / 1000.0 if lat.get("n") else None
    j["p99_ms"] = lat.get("p99", 0) / 1000.0 if lat.get("n") else None
    j["p999_ms"] = lat.get("p999", 0) / 1000.0 if lat.get("n") else None
    wall = j.get("wall_s") or 0
    if "broker_cpu_user_s" in j and wall > 0:
        j["broker_cpu_pct"] = 100.0 * (j["broker_cpu_user_s"] +
                                       j["broker_cpu_sys_s"]) / wall
    else:
        j["broker_cpu_pct"] = None
    return j


def sysinfo(store_dir):
    cpu = "?"
    for line in (read("/proc/cpuinfo") or "").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = "?"
    for line in (read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            mem = "{:.1f} GiB".format(int(line.split()[1]) / 1048576)

    def run(*a):
        try:
            return subprocess.run(a, capture_output=True, text=True,
                                  timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"
    fs = run("df", "-T", store_dir).splitlines()
    fs = fs[-1].split() if fs else ["?", "?"]
    commit = run("git", "rev-parse", "HEAD")
    dirty = run("git", "status", "--porcelain", "--untracked-files=no")
    return {
        "nproc": os.cpu_count(), "cpu": cpu, "mem": mem,
        "kernel": platform.release(),
        "fs": "{} on {}".format(fs[1], fs[0]) if len(fs) > 1 else "?",
        "commit": commit + (" (dirty)" if dirty else ""),
    }


def read_metrics(path):
    """Prometheus text lines "name value" (and the suite's t_ns line)."""
    out = {}
    for line in (read(path) or "").splitlines():
        f = line.split()
        if len(f) == 2:
            try:
                out[f[0]] = float(f[1])
            except ValueError:
                pass
    return out


def plot_label(label):
    """Two-line x-axis label for gnuplot (a literal \\n in a string)."""
    if " QoS" in label:
        return label.replace(" QoS", "\\nQoS", 1)
    return label.replace(" ", "\\n", 1)


def cmd_report(argv):
    res, out_md, plot_dir = argv[0], argv[1], argv[2]
    meta = {}
    for line in (read(os.path.join(res, "meta")) or "").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            meta[k] = v
    global BROKERS
    kinds = meta.get("kinds", "hf mq").split()
    BROKERS = tuple(b for b in ALL_BROKERS if b[0] in kinds)
    has_fm = "fm" in kinds
    scen = []
    tools = {}
    for line in (read(os.path.join(res, "scenarios.tsv")) or "").splitlines():
        f = line.split("\t")
        sid, label, args = f[0], f[1], f[2]
        tools[sid] = (f[3] if len(f) > 3 else "hfbench",
                      f[4] if len(f) > 4 else "PORT")
        scen.append((sid, label, args))
    si = sysinfo(meta.get("store_dir", "/tmp"))
    probe = load_json(os.path.join(res, "commitprobe.json")) or {}

    data = {}
    for sid, _, _ in scen:
        for b, _ in BROKERS:
            j = derived(load_json(os.path.join(res, "%s.%s.json" % (sid, b))))
            rc = read(os.path.join(res, "%s.%s.rc" % (sid, b)), "?").strip()
            data[(sid, b)] = (j, rc)

    L = []
    w = L.append
    w("# Benchmarks: Holdfast vs mosquitto%s" %
      (" and FlashMQ" if has_fm else ""))
    w("")
    w("Generated by `tools/bench/run`%s. Do not edit by hand except the "
      "Analysis section; the next run overwrites this file." %
      (" with QUICK=1 (counts divided by 10)" if meta.get("quick") == "1"
       else ""))
    w("")
    w("## Machine and software")
    w("")
    w("| | |")
    w("|---|---|")
    w("| date | %s |" % meta.get("date", datetime.datetime.now().isoformat()))
    w("| CPU | %s × %s (nproc) |" % (si["cpu"], si["nproc"]))
    w("| RAM | %s |" % si["mem"])
    w("| kernel | %s |" % si["kernel"])
    w("| store dir filesystem | %s (`%s`) |" % (si["fs"],
                                               meta.get("store_dir", "?")))
    w("| git commit | %s |" % si["commit"])
    w("| Holdfast | %s (build type %s) |" % (meta.get("hf_version", "?"),
                                            meta.get("build_type", "?")))
    w("| mosquitto | %s |" % meta.get("mq_version", "?"))
    if has_fm:
        w("| FlashMQ | %s (Release, built from /work/shared/peers) |" %
          meta.get("fm_version", "?"))
    nofile = meta.get("nofile", "?")
    w("| open-file limit | %s%s |" % (
        nofile, "" if nofile in ("?", "65536") else
        " (the suite asks for 65536; the hard limit allows only this)"))
    w("| suite wall time | %s s |" % meta.get("total_s", "?"))
    w("")
    w("The brokers run on the same machine as hfbench, one after the "
      "other, each scenario on a fresh broker process (and for Holdfast a "
      "fresh store directory). With 2 cores, hfbench and the broker share "
      "the CPU: the detail table shows both sides' CPU use.")
    w("")
    w("## Configurations")
    w("")
    w("`STORE` is a fresh temporary directory for every scenario.")
    w("")
    w("Holdfast (defaults otherwise: persistence on, every commit synced "
      "before a PUBACK/PUBREC for a message to a persistent session; "
      "max_inflight_messages 20):")
    w("")
    w("```")
    w((read(os.path.join(res, "hf.conf")) or "?").rstrip())
    w("```")
    w("")
    w("mosquitto (defaults otherwise: in-memory, no persistence; "
      "max_inflight_messages 20):")
    w("")
    w("```")
    w((read(os.path.join(res, "mq.conf")) or "?").rstrip())
    w("```")
    w("")
    if has_fm:
        w("FlashMQ (in RAM, no persistence; its per-client queue of QoS "
          "messages cannot exceed 65 535, a 16-bit setting, so a scenario "
          "that queues more for one client loses the rest there):")
        w("")
        w("```")
        w((read(os.path.join(res, "fm.conf")) or "?").rstrip())
        w("```")
        w("")
    if read(os.path.join(res, "hf-tlsws.conf")):
        w("The idle TLS and WebSocket scenarios add a TLS listener on "
          "PORT+2 (a self-signed EC P-256 certificate made by the run) and "
          "a WebSocket listener on PORT+3 to each configuration "
          "(mosquitto: with `set_tcp_nodelay true` and, for its "
          "WebSocket listener, `bind_interface lo`).")
        w("")
    w("## Commands")
    w("")
    w("`H=build-bench/tools/bench/hfbench`, `S=build-bench/tools/bench/"
      "hfscale`; `PORT` is %s for every broker (in turn), `PID` the "
      "broker's process id." % meta.get("port", "?"))
    w("")
    w("| scenario | command |")
    w("|---|---|")
    for sid, label, args in scen:
        if sid == "restart":
            w("| %s | see [Restart](#restart-with-a-queue) |" % label)
        else:
            tool, pname = tools.get(sid, ("hfbench", "PORT"))
            args = args.replace(meta.get("store_dir", "\0"), "$WORK")
            w("| %s | `$%s -p %s %s --pid PID --json` |" % (
                label, "S" if tool == "hfscale" else "H", pname, args))
    w("")
    w("1:1 QoS 2 uses `-w 20` (at most 20 unacknowledged messages), the "
      "brokers' default max_inflight_messages: with hfbench's default "
      "window of 64, mosquitto 2.0.11 closes a 3.1.1 publisher's "
      "connection once more than 20 incoming QoS 2 messages await their "
      "PUBREL. The other scenarios use hfbench's default window of 64.")
    w("")

    # ---- summary table
    w("## Results")
    w("")
    w("Ratio = Holdfast / peer. For throughput (msg/s, SUBACKs/s) higher is "
      "better and the target is a minimum (≥); for latency, RSS and times "
      "lower is better and the target is a maximum (≤). The target is "
      "judged against mosquitto%s." % (
          "; the ratio to FlashMQ is shown next to it, and \"met?\" "
          "gives mosquitto / FlashMQ" if has_fm else ""))
    w("")
    if has_fm:
        w("| scenario | metric | Holdfast | mosquitto | FlashMQ | "
          "H ÷ mosquitto | H ÷ FlashMQ | target | met? |")
        w("|---|---|---:|---:|---:|---:|---:|---|---|")
    else:
        w("| scenario | metric | Holdfast | mosquitto | ratio | target | "
          "met? |")
        w("|---|---|---:|---:|---:|---|---|")
    notes = []
    flagged = set()
    plot_tp, plot_lat = [], []
    for sid, label, _ in scen:
        if sid == "restart":
            continue
        for key, unit, direction, target in metric_rows(sid):
            vals = {}
            cells = {}
            for b, bname in BROKERS:
                j, rc = data[(sid, b)]
                v = j.get(key) if j else None
                vals[b] = v
                flag = []
                if rc != "0":
                    flag.append("exit %s" % rc)
                if j and j.get("lost"):
                    flag.append("lost %d" % j["lost"])
                if j and j.get("duplicated"):
                    flag.append("dup %d" % j["duplicated"])
                if flag and (sid, b) not in flagged:
                    flagged.add((sid, b))
                    notes.append("%s, %s: %s%s" % (
                        label, bname, ", ".join(flag),
                        (" (" + j["error"] + ")") if j and j.get("error")
                        else ""))
                cells[b] = fmt(v, unit) + (" ⚠ " + ", ".join(flag)
                                           if flag else "")

            def ratio_of(peer):
                if vals.get("hf") is not None and vals.get(peer):
                    return vals["hf"] / vals[peer]
                return None

            def met_of(r):
                if target is None:
                    return "—"
                if r is None:
                    return "n/a"
                ok = r >= target if direction == "high" else r <= target
                return "yes" if ok else "**no**"
            rm, rf = ratio_of("mq"), ratio_of("fm")
            tgt = "—" if target is None else (
                ("≥ %.1f×" if direction == "high" else "≤ %.1f×") % target)
            rs_ = lambda r: "%.2f×" % r if r is not None else "n/a"
            if has_fm:
                w("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    label, unit, cells["hf"], cells["mq"], cells["fm"],
                    rs_(rm), rs_(rf), tgt,
                    met_of(rm) + " / " + met_of(rf)))
            else:
                w("| %s | %s | %s | %s | %s | %s | %s |" % (
                    label, unit, cells["hf"], cells["mq"], rs_(rm), tgt,
                    met_of(rm)))
            if key == "delivery_rate":
                plot_tp.append((label, [vals.get(b) or 0
                                        for b, _ in BROKERS]))
        lat = [(data[(sid, b)][0] or {}).get("p99_ms") for b, _ in BROKERS]
        if not sid.startswith("idle") and all(x is not None for x in lat):
            plot_lat.append((label, lat))
    rs = load_json(os.path.join(res, "restart.hf.summary.json")) or {}
    w("| restart with %s queued | s to first CONNACK | %s | n/a (RAM "
      "mode: queue lost) |%s — | — | — |" % (
          "{:,}".format(int(meta.get("restart_n", "0"))),
          fmt(rs.get("connack_s")),
          " n/a (RAM mode: queue lost) | — |" if has_fm else ""))
    w("")
    if notes:
        w("Flagged runs (⚠): " + "; ".join(notes) + ".")
        w("")
    w("![](benchmarks.png)")
    w("")

    # ---- durability
    w("## The cost of durability")
    w("")
    w("Holdfast syncs every store commit before it acknowledges a message "
      "for a persistent session; mosquitto and FlashMQ run in RAM. Around "
      "every Holdfast run the suite reads `holdfast_store_commits_total`, "
      "`holdfast_store_fsyncs_total` and "
      "`holdfast_store_commit_duration_seconds_sum/_count` from its "
      "`http_api` listener (PORT+1); the table shows the differences. "
      "commits/s is over the time between the two scrapes (the whole "
      "hfbench run, connects included); messages per commit = acknowledged "
      "publishes (`acked`) / commits.")
    w("")
    cms = probe.get("commit_ms_p50")
    if cms:
        w("`commitprobe` (a fresh LMDB environment, default synced flags, "
          "%s single-record write transactions on the stores' file system) "
          "measured a synced commit at p50 %.3f ms, mean %.3f ms, p90 "
          "%.3f ms, max %.3f ms. A broker that syncs before it acknowledges "
          "and writes one message per commit can acknowledge at most "
          "W / commit time messages per second with W messages in flight "
          "(W = hfbench's window × publishers: 64 by default, 20 for "
          "QoS 2): the **fsync bound** below, from the p50. A figure above "
          "100%% means Holdfast groups several messages into one commit. "
          "The bound is for small records: for the 1 MB and 16 MB "
          "scenarios the commit itself writes the message and takes "
          "longer (mean commit ms), so their %% of bound says little." %
          (probe.get("n"), cms, probe.get("commit_ms_mean", 0),
           probe.get("commit_ms_p90", 0), probe.get("commit_ms_max", 0)))
    else:
        w("`commitprobe` gave no result: no fsync bound.")
    w("")
    w("| scenario | commits | commits/s | fsyncs | acked msgs | msgs/commit "
      "| mean commit ms | Holdfast ack/s | fsync bound (ack/s) | % of bound |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sid, label, args in scen:
        if sid == "restart":
            continue
        m0 = read_metrics(os.path.join(res, "%s.hf.metrics0" % sid))
        m1 = read_metrics(os.path.join(res, "%s.hf.metrics1" % sid))
        j = data[(sid, "hf")][0] or {}
        if not m0 or not m1 or "holdfast_store_commits_total" not in m1:
            w("| %s | n/a | | | | | | | | |" % label)
            continue

        def d(k):
            return m1.get(k, 0) - m0.get(k, 0)
        commits = d("holdfast_store_commits_total")
        fsyncs = d("holdfast_store_fsyncs_total")
        csum = d("holdfast_store_commit_duration_seconds_sum")
        ccnt = d("holdfast_store_commit_duration_seconds_count")
        dt = (m1.get("t_ns", 0) - m0.get("t_ns", 0)) / 1e9
        acked = j.get("acked")
        a = args.split()
        qos = int(a[a.index("-q") + 1]) if "-q" in a else 0
        persistent = "--persistent" in a
        if tools.get(sid, ("hfbench",))[0] == "hfscale":
            # hfscale: storm publishes QoS 1 to persistent sessions,
            # retained stores every retained message (-q as given)
            if "storm" in a:
                qos = 1
            persistent = "subs" not in a
        bound = pct = None
        if cms and qos >= 1 and persistent and "-r" not in a:
            win = int(a[a.index("-w") + 1]) if "-w" in a else 64
            pubs = int(a[a.index("-P") + 1]) if "-P" in a else 1
            bound = win * pubs / (cms / 1000.0)
            if j.get("pub_rate"):
                pct = 100.0 * j["pub_rate"] / bound
        w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, "{:,.0f}".format(commits),
            "{:,.0f}".format(commits / dt) if dt > 0 else "n/a",
            "{:,.0f}".format(fsyncs),
            "{:,}".format(acked) if acked is not None else "n/a",
            "%.2f" % (acked / commits) if acked and commits else "n/a",
            "%.3f" % (1000.0 * csum / ccnt) if ccnt else "n/a",
            fmt(j.get("pub_rate"), "msg/s") if qos >= 1 else "—",
            "{:,.0f}".format(bound) if bound else "—",
            "%.0f%%" % pct if pct is not None else "—"))
    w("")

    # ---- detail table
    w("## Details")
    w("")
    w("deliv/s = deliveries per second at the subscribers; ack/s = "
      "acknowledged publishes per second (QoS 0: sent); latency is "
      "end-to-end publisher→subscriber; CPU is % of one core over the "
      "run's wall time; exit = hfbench (hfscale) exit status. For the "
      "hfscale scenarios, deliv/s counts distinct deliveries and ack/s is "
      "the publisher's rate (subs: QoS 0 sent).")
    w("")
    w("| scenario | broker | deliv/s | ack/s | p50 ms | p99 ms | "
      "p99.9 ms | lost | dup | broker CPU % | hfbench CPU % | exit |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for sid, label, _ in scen:
        if sid == "restart":
            continue
        for b, bname in BROKERS:
            j, rc = data[(sid, b)]
            if not j:
                w("| %s | %s | no result | | | | | | | | | %s |" % (
                    label, bname, rc))
                continue
            extra = ""
            if sid.startswith("idle"):
                extra = " (RSS %s → %s KiB)" % (j.get("rss_before_kb"),
                                                 j.get("rss_after_kb"))
            if sid == "offline_drain":
                extra = " (drain %.3f s)" % j.get("drain_s", 0)
            if sid == "subs_wild":
                extra = " (%s SUBACKs/s; RSS %s → %s → %s KiB; %s overlap "\
                    "copies)" % (fmt(j.get("sub_rate"), "msg/s"),
                                 j.get("rss_before_kb"),
                                 j.get("rss_connected_kb"),
                                 j.get("rss_after_kb"),
                                 j.get("overlap_copies"))
            if sid in ("retained", "storm"):
                extra = " (%.3f s)" % j.get("phase_s", 0)
            w("| %s | %s%s | %s | %s | %s | %s | %s | %d | %d | %s | "
              "%.0f | %s |" % (
                  label, bname, extra, fmt(j.get("delivery_rate"), "msg/s"),
                  fmt(j.get("pub_rate"), "msg/s"), fmt(j["p50_ms"]),
                  fmt(j["p99_ms"]), fmt(j["p999_ms"]), j.get("lost", 0),
                  j.get("duplicated", 0),
                  fmt(j["broker_cpu_pct"]) if j["broker_cpu_pct"]
                  is not None else "n/a", j.get("cpu_pct", 0), rc))
    w("")

    # ---- restart
    w("## Restart with a queue")
    w("")
    n = meta.get("restart_n", "?")
    w("A persistent session (`hfb-restart-sub`, clean session 0, "
      "`bench/#` QoS 1) is created with `mosquitto_sub -c -E`, then "
      "`$H -p PORT -q 1 --persistent -P 1 -S 0 -n %s --pid PID --json` "
      "queues %s QoS 1 messages for it. The broker gets SIGTERM, is "
      "started again on the same store, and `report.py connack` times "
      "exec → first CONNACK (a fresh connect every 2 ms). Then "
      "`report.py drain` resumes the session without subscribing, "
      "acknowledges everything and counts distinct messages." % (n, n))
    w("")
    w("| |" + "".join(" %s |" % bn for _, bn in BROKERS))
    w("|---|" + "---:|" * len(BROKERS))
    rsum = {b: load_json(os.path.join(res, "restart.%s.summary.json" % b))
            or {} for b, _ in BROKERS}

    def row(name, k, f=fmt):
        w("| %s |" % name + "".join(" %s |" % f(rsum[b].get(k))
                                    for b, _ in BROKERS))
    row("queue publish rate (acks/s)", "pub_rate")
    row("RSS with the queue, before stop (KiB)", "rss_queued_kb")
    row("store size on disk (KiB)", "store_kb")
    row("SIGTERM → exit (s)", "stop_s")
    row("exec → first CONNACK (s)", "connack_s")
    row("RSS after restart (KiB)", "rss_start_kb")
    row("session present after restart", "session_present",
        lambda v: "n/a" if v is None else ("yes" if v else "no"))
    row("messages delivered after restart", "distinct",
        lambda v: "n/a" if v is None else "{:,}".format(v))
    row("drain time (s)", "drain_s")
    row("RSS after drain (KiB)", "rss_drained_kb")
    row("broker pid before / after restart", "pids", lambda v: v or "n/a")
    w("")
    w("mosquitto runs here without `persistence true` (its default)%s, so "
      "queued messages live only in RAM and a restart loses them: %s "
      "that, not a comparable restart cost. The drain client waits %s s "
      "of silence before it gives up on a peer." % (
          " and FlashMQ without `storage_dir`" if has_fm else "",
          "their columns show" if has_fm else "its column shows",
          meta.get("mq_drain_idle", "?")))
    w("")
    w("## Analysis")
    w("")
    # The analysis is written by hand: keep the one already in the file,
    # with every section after it (## Soak, written by tools/soak/run).
    kept = None
    try:
        with open(out_md) as f:
            old = f.read()
        i = old.find("\n## Analysis\n")
        if i >= 0:
            kept = old[i + len("\n## Analysis\n"):].strip("\n")
    except OSError:
        pass
    w(kept if kept else "(written by hand after the run)")
    w("")
    with open(out_md, "w") as f:
        f.write("\n".join(L))

    # data files: label, then one column per broker (Holdfast, mosquitto,
    # FlashMQ when it ran)
    with open(os.path.join(plot_dir, "throughput.dat"), "w") as f:
        for label, v in plot_tp:
            f.write('"%s" %s\n' % (plot_label(label),
                                   " ".join("%g" % x for x in v)))
    with open(os.path.join(plot_dir, "p99.dat"), "w") as f:
        for label, v in plot_lat:
            f.write('"%s" %s\n' % (plot_label(label),
                                   " ".join("%g" % x for x in v)))
    with open(os.path.join(plot_dir, "brokers.gp"), "w") as f:
        f.write("nbrokers = %d\n" % len(BROKERS))
    return 0


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: report.py connack|drain|report ...\n")
        return 3
    cmd = {"connack": cmd_connack, "drain": cmd_drain,
           "report": cmd_report}.get(sys.argv[1])
    if not cmd:
        sys.stderr.write("report.py: unknown subcommand\n")
        return 3
    return cmd(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
