#!/usr/bin/env bash
# tools/bench/bridge_run.sh - bridge numbers for docs/BENCHMARKS.md
# (Analysis, "Bridges (issue 14)"): throughput through an edge -> core
# bridge while it is up, and the drain of an outbox of 100 000 messages once
# the core comes back, for Holdfast (edge and core both Holdfast, durable,
# defaults) and mosquitto 2.0.11 (edge and core both mosquitto, in RAM) in
# the same run. Not part of tools/bench/run; it prints the commands and a
# summary and keeps the raw output in $OUT.
#
#   tools/bench/bridge_run.sh [BUILD_DIR]     (default: build-bench)
#
# The BUILD_DIR is configured and built (RelWithDebInfo, holdfast and
# hfbench) if either program is missing. Both edges carry the same bridge
# block (mosquitto's syntax, which Holdfast reads unchanged):
#
#   connection hfb
#   address 127.0.0.1:CORE_PORT
#   topic bench/# out 1
#   restart_timeout 1
#
# (restart_timeout 1: by default both wait 5 s and more between attempts
# and the drain would time mostly that. mosquitto 2.0.11 was seen to try
# only every 5-7 s even so, so bridge_report.py splits the drain into core
# start -> first delivery and first -> last delivery.) hfbench publishes to
# the edge (-p) and subscribes at the core (--sub-port), so every message
# crosses the bridge. Scenarios, each on fresh brokers (fresh stores),
# REPS times (3), the two kinds alternating:
#
#   qos1   -q 1 --persistent -n QOS1_N: publishers at QoS 1 on the edge, a
#          persistent QoS 1 subscriber at the core.
#   qos0   -q 0 -n QOS0_N, clean sessions (the bridge still forwards at
#          QoS 1; the message goes on at the publisher's QoS 0).
#   drain  --sub-offline --pause-stdin -n DRAIN_N: the subscriber makes
#          its persistent session at the core; the core is stopped
#          (SIGTERM); DRAIN_N QoS 1 messages are published to the edge
#          and acknowledged there; the core is started again on the same
#          port and the clock runs from just before that start until the
#          subscriber, connected as soon as the core accepts, holds every
#          message. The edge is never stopped (mosquitto's edge queues in
#          RAM).
#
# mosquitto's core has `persistence true` (a file written when it stops):
# without it the subscriber's session would not survive the core's
# restart. It writes nothing while running (autosave_interval 1800).
#
# After each scenario the edge's and the core's total CPU time
# (utime+stime) and RSS (VmRSS, VmHWM) are read from /proc. Ports: PORT
# (29960) Holdfast edge, PORT+1 Holdfast core, PORT+2 mosquitto edge,
# PORT+3 mosquitto core, all on 127.0.0.1, checked free first. The script
# kills only the brokers it started (trap on exit). At the end
# tools/bench/bridge_report.py OUT prints the tables. QOS1_N, QOS0_N,
# DRAIN_N, REPS, PORT and OUT override the defaults.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build-bench}
[[ $B == /* ]] || B=$PWD/$B
H=$B/tools/bench/hfbench
HF=$B/holdfast
MOSQ=/usr/sbin/mosquitto
OUT=${OUT:-$(mktemp -d /tmp/hf-bridge-bench.XXXXXX)}
QOS1_N=${QOS1_N:-200000}
QOS0_N=${QOS0_N:-500000}
DRAIN_N=${DRAIN_N:-100000}
REPS=${REPS:-3}
PORT=${PORT:-29960}
HZ=$(getconf CLK_TCK)

if [[ ! -x $HF || ! -x $H ]]; then
	cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHF_SANITIZE=
	cmake --build "$B" -j2 --target holdfast hfbench
fi
for p in $PORT $((PORT + 1)) $((PORT + 2)) $((PORT + 3)); do
	if ss -Htan "( sport = :$p or dport = :$p )" | grep -q .; then
		echo "bridge_run: port $p is in use; set PORT" >&2
		exit 1
	fi
done

mkdir -p "$OUT/logs"
chmod 755 "$OUT" # mosquitto drops root for its own user
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc)"
	echo "ram: $(free -g | awk '/^Mem:/ {print $2}') GiB"
	echo "kernel: $(uname -r)"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "store filesystem: $(df -T "$OUT" | awk 'NR == 2 {print $2 " on " $1}')"
	echo "HEAD at run time: $(git rev-parse HEAD 2>/dev/null)$(git diff --quiet HEAD -- broker 2>/dev/null || echo ' (broker/ modified)')"
	echo "holdfast: $HF ($(grep -s '^CMAKE_BUILD_TYPE' "$B/CMakeCache.txt" | cut -d= -f2), built $(date -u -r "$HF" '+%Y-%m-%d %H:%M UTC'))"
	echo "mosquitto: $("$MOSQ" -h 2>/dev/null | head -1)"
	echo "QOS1_N=$QOS1_N QOS0_N=$QOS0_N DRAIN_N=$DRAIN_N REPS=$REPS PORT=$PORT"
} >"$OUT/machine"

bridge_block() { # core port
	cat <<EOF

connection hfb
address 127.0.0.1:$1
topic bench/# out 1
restart_timeout 1
EOF
}
conf() { # kind role -> config file
	local f=$OUT/$1-$2.conf p
	case $1-$2 in
	hf-edge) p=$PORT ;; hf-core) p=$((PORT + 1)) ;;
	mosq-edge) p=$((PORT + 2)) ;; mosq-core) p=$((PORT + 3)) ;;
	esac
	if [[ $1 == hf ]]; then
		cat >"$f" <<EOF
listener $p 127.0.0.1
allow_anonymous true
persistence_location $OUT/data-$2/
log_dest stderr
EOF
	else
		cat >"$f" <<EOF
listener $p 127.0.0.1
allow_anonymous true
max_queued_messages 0
log_dest stderr
EOF
		[[ $2 == core ]] && cat >>"$f" <<EOF
persistence true
persistence_location $OUT/data-$2/
EOF
	fi
	[[ $2 == edge ]] && bridge_block $((p + 1)) >>"$f"
	echo "$f"
}
for k in hf mosq; do
	for r in edge core; do conf $k $r >/dev/null; done
done
port() { # kind role
	case $1-$2 in
	hf-edge) echo $PORT ;; hf-core) echo $((PORT + 1)) ;;
	mosq-edge) echo $((PORT + 2)) ;; mosq-core) echo $((PORT + 3)) ;;
	esac
}

EDGE="" CORE="" HPID=""
cleanup() {
	local p
	for p in $HPID $EDGE $CORE; do
		kill "$p" 2>/dev/null || true
	done
	for p in $HPID $EDGE $CORE; do
		wait "$p" 2>/dev/null || true
	done
	EDGE="" CORE="" HPID=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

waitport() { # port: until it listens (10 s)
	local _
	for _ in $(seq 200); do
		ss -Hltn "sport = :$1" | grep -q . && return 0
		sleep 0.05
	done
	echo "bridge_run: nothing listens on $1" >&2
	return 1
}
# launch kind role log: start a broker, set EDGE or CORE (no waiting)
launch() {
	local f=$OUT/$1-$2.conf pid
	if [[ $1 == hf ]]; then
		"$HF" -c "$f" >>"$3" 2>&1 &
	else
		"$MOSQ" -c "$f" >>"$3" 2>&1 &
	fi
	pid=$!
	if [[ $2 == edge ]]; then EDGE=$pid; else CORE=$pid; fi
}
start() { # kind role log: launch, then wait until it listens
	launch "$@"
	waitport "$(port "$1" "$2")"
}
stopone() { # pid
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
fresh() { # kind: empty stores
	rm -rf "$OUT/data-edge" "$OUT/data-core"
	mkdir -p "$OUT/data-edge" "$OUT/data-core"
	chmod 777 "$OUT/data-edge" "$OUT/data-core"
}
# until the core holds the bridge's retained "1" (10 s)
bridge_up() { # kind
	local v
	for _ in $(seq 20); do
		v=$(mosquitto_sub -h 127.0.0.1 -p "$(port "$1" core)" -W 1 -C 1 \
			-t '$SYS/broker/connection/+/state' 2>/dev/null || true)
		[[ $v == 1 ]] && return 0
		sleep 0.2
	done
	echo "bridge_run: $1 bridge did not come up" | tee -a "$OUT/log"
	return 1
}
# The brokers' CPU (s, utime+stime since start) and RSS (KiB) from /proc.
procstat() { # pid prefix
	local st cpu rss hwm
	st=$(cat "/proc/$1/stat" 2>/dev/null) || {
		echo "\"$2_cpu_s\":null"
		return
	}
	st=${st##*) }
	cpu=$(echo "$st" | awk -v hz="$HZ" '{printf "%.3f", ($12 + $13) / hz}')
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status")
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$1/status")
	echo "\"$2_cpu_s\":$cpu,\"$2_rss_kb\":$rss,\"$2_hwm_kb\":$hwm"
}
alive() { # name pid
	kill -0 "$2" 2>/dev/null && return 0
	echo "  $1 $2 DIED during the scenario" | tee -a "$OUT/log"
}
finish() { # name: record /proc, stop both brokers
	alive edge "$EDGE" || true
	alive core "$CORE" || true
	echo "{$(procstat "$EDGE" edge),$(procstat "$CORE" core)}" \
		>"$OUT/$1.proc"
	stopone "$EDGE"
	stopone "$CORE"
	EDGE="" CORE=""
	grep -E '^(publishers|subscribers|drain|latency|lost|broker|hfbench: FAILED)' \
		"$OUT/$1.txt" | sed 's/^/  /' | tee -a "$OUT/log" || true
	sed 's/^/  /' "$OUT/$1.proc" | tee -a "$OUT/log"
}

# name kind args...: the bridge up, then hfbench with the edge as -p, the
# core as --sub-port (@PID: the edge's pid).
connected() {
	local name=$1 k=$2 a rc=0 args=()
	shift 2
	fresh "$k"
	start "$k" core "$OUT/logs/$name.core.log"
	start "$k" edge "$OUT/logs/$name.edge.log"
	bridge_up "$k" || true
	for a in "$@"; do args+=("${a//@PID/$EDGE}"); done
	echo "== $name: ${args[*]}" | tee -a "$OUT/log"
	"${args[@]}" >"$OUT/$name.txt" 2>&1 || rc=$?
	echo "$rc" >"$OUT/$name.rc"
	[[ $rc == 0 ]] || echo "  (exit $rc)" | tee -a "$OUT/log"
	finish "$name"
}

# wait until FILE has a line containing TEXT (or PID ended)
await() { # file text pid
	while ! grep -q "$2" "$1" 2>/dev/null; do
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.01
	done
}

drain() { # name kind
	local name=$1 k=$2 rc=0 stamp args
	fresh "$k"
	start "$k" core "$OUT/logs/$name.core.log"
	start "$k" edge "$OUT/logs/$name.edge.log"
	bridge_up "$k" || true
	args=("$H" -p "$(port "$k" edge)" --sub-port "$(port "$k" core)" -q 1
		--sub-offline --pause-stdin -n "$DRAIN_N" --drain-timeout 120
		--pid "$EDGE" --json)
	echo "== $name: ${args[*]}" | tee -a "$OUT/log"
	rm -f "$OUT/ctl"
	mkfifo "$OUT/ctl"
	"${args[@]}" <"$OUT/ctl" >"$OUT/$name.txt" 2>&1 &
	HPID=$!
	exec 3>"$OUT/ctl"
	# 1. the subscriber's session exists at the core: stop the core
	if await "$OUT/$name.txt" "subscribed; waiting" "$HPID"; then
		echo "   core stopped (SIGTERM) after the subscriber's session was made" |
			tee -a "$OUT/log"
		stopone "$CORE"
		CORE=
		echo go >&3
	fi
	# 2. everything acknowledged at the edge: start the core, clock on
	if await "$OUT/$name.txt" "published; waiting" "$HPID"; then
		stamp=$(date +%s%N)
		launch "$k" core "$OUT/logs/$name.core.log"
		echo "$stamp" >&3 # hfbench retries until the core accepts
		echo "   core started again (stamp $stamp)" | tee -a "$OUT/log"
	fi
	exec 3>&-
	wait "$HPID" || rc=$?
	HPID=
	rm -f "$OUT/ctl"
	echo "$rc" >"$OUT/$name.rc"
	[[ $rc == 0 ]] || echo "  (exit $rc)" | tee -a "$OUT/log"
	finish "$name"
}

echo "raw results and logs: $OUT"
for r in $(seq "$REPS"); do
	for k in hf mosq; do
		connected "qos1.$r-$k" "$k" "$H" -p "$(port $k edge)" \
			--sub-port "$(port $k core)" -q 1 --persistent -n "$QOS1_N" \
			--pid @PID --json
		connected "qos0.$r-$k" "$k" "$H" -p "$(port $k edge)" \
			--sub-port "$(port $k core)" -q 0 -n "$QOS0_N" \
			--pid @PID --json
		drain "drain.$r-$k" "$k"
	done
done
cleanup
echo "raw results: $OUT"
python3 tools/bench/bridge_report.py "$OUT"
