#!/usr/bin/env bash
# tools/bench/ws_run.sh - WebSocket numbers for docs/BENCHMARKS.md
# (Analysis, "WebSocket"): QoS 0/1 throughput over ws and wss next to plain
# TCP, the time a 1 MB QoS 1 message takes from publish to delivery, and
# memory per idle connection, for Holdfast and Debian's mosquitto in the
# same run. Not part of tools/bench/run (whose report it does not touch);
# it prints a summary and keeps the raw output in $OUT.
#
#   tools/bench/ws_run.sh [BUILD_DIR]     (default: build)
#
# Every scenario starts a fresh broker (Holdfast with a fresh store, full
# fsync, its defaults; mosquitto in RAM with set_tcp_nodelay true and
# max_queued_messages 0, as tls_run.sh), REPS times (3) with the brokers
# alternating. QoS 1 uses persistent sessions as tools/bench/run does
# (Holdfast syncs before each PUBACK). wss clients verify the server
# (--cafile). Certificates: tests/helpers/mkpki.sh (EC P-256).
#
# The 1 MB scenario sends one message at a time (-w 1, -r 2: a message
# every 0.5 s, the next only after the previous PUBACK), so each message's
# latency is its own publish -> delivery time, not a queue's. MB_N (10)
# messages per run; mosquitto 2.0.11 over ws/wss takes about 25 s per 1 MB
# message (its issue #2060), so it gets MOSQ_WS_MB_N (1) message per run,
# bounded by hfbench's --drain-timeout MB_WAIT (120 s) and `timeout`.
# The idle scenario runs once.
#
# Ports: Holdfast 29880 (TCP), 29881 (ws), 29882 (wss); mosquitto 29890,
# 29891, 29892 (its WebSocket listeners ignore the address: bind_interface
# lo keeps them on loopback). The brokers log to $OUT/logs/, one file per
# scenario. At the end tools/bench/ws_report.py OUT prints the medians as
# Markdown. QOS0_N, QOS1_N, MB_N, MOSQ_WS_MB_N, MB_WAIT, IDLE, REPS and OUT
# override the defaults.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
[[ $B == /* ]] || B=$PWD/$B
H=$B/tools/bench/hfbench
HF=$B/holdfast
MOSQ=/usr/sbin/mosquitto
OUT=${OUT:-$(mktemp -d /tmp/hf-ws-bench.XXXXXX)}
PKI=$OUT/pki
QOS0_N=${QOS0_N:-1000000}
QOS1_N=${QOS1_N:-200000}
MB_N=${MB_N:-10}
MOSQ_WS_MB_N=${MOSQ_WS_MB_N:-1}
MB_WAIT=${MB_WAIT:-120}
IDLE=${IDLE:-10000}
REPS=${REPS:-3}
ulimit -n 20000

mkdir -p "$OUT/logs"
chmod 755 "$OUT" # mosquitto drops root for its own user
tests/helpers/mkpki.sh "$PKI" >/dev/null
chmod 755 "$PKI"
chmod 644 "$PKI"/*.key
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc)"
	echo "ram: $(free -g | awk '/^Mem:/ {print $2}') GiB"
	echo "kernel: $(uname -r)"
	echo "HEAD at run time: $(git rev-parse HEAD 2>/dev/null)$(git diff --quiet HEAD -- broker 2>/dev/null || echo ' (broker/ modified)')"
	echo "holdfast: $HF ($(grep -s '^CMAKE_BUILD_TYPE' "$B/CMakeCache.txt" | cut -d= -f2), built $(date -u -r "$HF" '+%Y-%m-%d %H:%M UTC'))"
	echo "mosquitto: $("$MOSQ" -h 2>/dev/null | head -1)"
	echo "libwebsockets (Holdfast): $(dpkg-query -W -f '${Version}' libwebsockets17 2>/dev/null)"
	echo "open files: $(ulimit -n)"
	echo "QOS0_N=$QOS0_N QOS1_N=$QOS1_N MB_N=$MB_N MOSQ_WS_MB_N=$MOSQ_WS_MB_N MB_WAIT=$MB_WAIT IDLE=$IDLE REPS=$REPS"
} >"$OUT/machine"
cat >"$OUT/hf.conf" <<EOF
listener 29880 127.0.0.1
allow_anonymous true
listener 29881 127.0.0.1
protocol websockets
listener 29882 127.0.0.1
protocol websockets
certfile $PKI/server.crt
keyfile $PKI/server.key
persistence_location $OUT/data
log_dest stderr
EOF
cat >"$OUT/mosq.conf" <<EOF
set_tcp_nodelay true
max_queued_messages 0
max_inflight_messages 0
allow_anonymous true
log_dest stderr
listener 29890 127.0.0.1
listener 29891 127.0.0.1
protocol websockets
bind_interface lo
listener 29892 127.0.0.1
protocol websockets
bind_interface lo
certfile $PKI/server.crt
keyfile $PKI/server.key
EOF

BPID=
port() { # broker kind: tcp|ws|wss
	case $1-$2 in
	hf-tcp) echo 29880 ;; hf-ws) echo 29881 ;; hf-wss) echo 29882 ;;
	mosq-tcp) echo 29890 ;; mosq-ws) echo 29891 ;; mosq-wss) echo 29892 ;;
	esac
}
wsopt() {
	case $1 in
	ws) echo "--ws" ;;
	wss) echo "--ws --tls --cafile $PKI/ca.crt" ;;
	esac
}
start() { # broker logfile
	local k i
	rm -rf "$OUT/data"
	if [[ $1 == hf ]]; then
		"$HF" -c "$OUT/hf.conf" >"$2" 2>&1 &
	else
		"$MOSQ" -c "$OUT/mosq.conf" >"$2" 2>&1 &
	fi
	BPID=$!
	for k in tcp ws wss; do # wait until the three ports listen
		for i in $(seq 100); do
			ss -Hltn "sport = :$(port "$1" $k)" | grep -q . && break
			sleep 0.05
		done
	done
	sleep 0.2
}
stop() {
	if ! kill -0 "$BPID" 2>/dev/null; then
		echo "  BROKER $BPID DIED during the scenario" | tee -a "$OUT/log"
	fi
	kill "$BPID" 2>/dev/null || true
	wait "$BPID" 2>/dev/null || true
}

# name broker kind command...: run once against a fresh broker (@PID in
# the command becomes the broker's pid). Output in $OUT/NAME-B-K.txt, exit
# status in $OUT/NAME-B-K.rc, the broker's log in $OUT/logs/NAME-B-K.log.
scenario() {
	local name=$1 b=$2 k=$3 a rc=0 args=()
	shift 3
	start "$b" "$OUT/logs/$name-$b-$k.log"
	for a in "$@"; do args+=("${a//@PID/$BPID}"); done
	echo "== $name $b $k: ${args[*]}" | tee -a "$OUT/log"
	"${args[@]}" >"$OUT/$name-$b-$k.txt" 2>&1 || rc=$?
	echo "$rc" >"$OUT/$name-$b-$k.rc"
	[[ $rc == 0 ]] || echo "  (exit $rc)" | tee -a "$OUT/log"
	stop
	grep -E '^(publishers|subscribers|latency|lost|idle|rss|error)' \
		"$OUT/$name-$b-$k.txt" | tee -a "$OUT/log" || true
}

# Each scenario REPS times, the two brokers alternating (the machine is
# shared: drift hits both alike).
for r in $(seq "$REPS"); do
	for k in tcp ws wss; do
		for b in hf mosq; do
			p=$(port $b $k)
			scenario qos0.$r $b $k "$H" -p "$p" $(wsopt $k) -q 0 \
				-n "$QOS0_N" --pid @PID --json
			scenario qos1.$r $b $k "$H" -p "$p" $(wsopt $k) -q 1 \
				--persistent -n "$QOS1_N" --pid @PID --json
		done
	done
	for k in tcp ws wss; do
		for b in hf mosq; do
			p=$(port $b $k)
			n=$MB_N
			[[ $b-$k == mosq-tcp || $b == hf ]] || n=$MOSQ_WS_MB_N
			# One 1 MB message at a time: latency = publish -> delivery.
			scenario mb.$r $b $k timeout $((MB_WAIT + 60)) "$H" -p "$p" \
				$(wsopt $k) -q 1 --persistent -s 1048576 -w 1 -r 2 \
				-n "$n" --drain-timeout "$MB_WAIT" --pid @PID --json
		done
	done
done
for k in tcp ws wss; do
	for b in hf mosq; do
		p=$(port $b $k)
		scenario idle $b $k "$H" -p "$p" $(wsopt $k) \
			--idle "$IDLE" --hold 2 --pid @PID --json
	done
done
echo "raw results: $OUT"
python3 tools/bench/ws_report.py "$OUT"
