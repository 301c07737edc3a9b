#!/usr/bin/env bash
# tools/bench/tls_run.sh - TLS numbers for docs/BENCHMARKS.md (Analysis,
# "TLS"): handshakes per second, QoS 0/1 throughput over TLS next to plain
# TCP, and memory per idle connection, for Holdfast and Debian's mosquitto
# in the same run. Not part of tools/bench/run (whose report it does not
# touch); it prints a summary and keeps the raw output in $OUT.
#
#   tools/bench/tls_run.sh [BUILD_DIR]     (default: build)
#
# Every scenario starts a fresh broker (Holdfast with a fresh store, full
# fsync, its defaults; mosquitto in RAM with set_tcp_nodelay true, which it
# needs for fast handshakes, and max_queued_messages 0 as tools/bench/run
# uses), REPS times (3) with the brokers alternating. QoS 1 uses persistent
# sessions as tools/bench/run does (Holdfast syncs before each PUBACK).
# The idle scenario runs once. At the end tools/bench/tls_report.py OUT
# prints the medians as Markdown. Certificates: tests/helpers/mkpki.sh
# (EC P-256) plus an RSA 2048 server certificate from the same CA. Ports: Holdfast 28884 (TCP), 28885
# (TLS, EC), 28886 (TLS, RSA); mosquitto 28883, 28887, 28888.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
H=$B/tools/bench/hfbench
HF=$PWD/$B/holdfast
MOSQ=/usr/sbin/mosquitto
OUT=${OUT:-$(mktemp -d /tmp/hf-tls-bench.XXXXXX)}
PKI=$OUT/pki
SECS=${SECS:-10}
QOS0_N=${QOS0_N:-500000}
QOS1_N=${QOS1_N:-200000}
IDLE=${IDLE:-10000}
REPS=${REPS:-3}
ulimit -n 20000

mkdir -p "$OUT"
echo "$SECS" >"$OUT/secs"
chmod 755 "$OUT" # mosquitto drops root for its own user
tests/helpers/mkpki.sh "$PKI" >/dev/null
chmod 755 "$PKI"
(
	cd "$PKI"
	openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
		-keyout rsa.key -out rsa.csr 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
	openssl x509 -req -in rsa.csr -CA ca.crt -CAkey ca.key \
		-CAcreateserial -days 30 -extfile san.ext -out rsa.crt 2>/dev/null
	chmod 644 ./*.key
)
cat >"$OUT/hf.conf" <<EOF
listener 28884 127.0.0.1
allow_anonymous true
listener 28885 127.0.0.1
certfile $PKI/server.crt
keyfile $PKI/server.key
listener 28886 127.0.0.1
certfile $PKI/rsa.crt
keyfile $PKI/rsa.key
persistence_location $OUT/data
log_dest none
EOF
cat >"$OUT/mosq.conf" <<EOF
set_tcp_nodelay true
max_queued_messages 0
max_inflight_messages 0
allow_anonymous true
log_dest none
listener 28883 127.0.0.1
listener 28887 127.0.0.1
certfile $PKI/server.crt
keyfile $PKI/server.key
listener 28888 127.0.0.1
certfile $PKI/rsa.crt
keyfile $PKI/rsa.key
EOF

BPID=
start() { # hf|mosq
	rm -rf "$OUT/data"
	if [[ $1 == hf ]]; then
		"$HF" -c "$OUT/hf.conf" &
	else
		"$MOSQ" -c "$OUT/mosq.conf" &
	fi
	BPID=$!
	sleep 0.5
}
stop() {
	kill "$BPID" 2>/dev/null || true
	wait "$BPID" 2>/dev/null || true
}
port() { # broker kind: tcp|ec|rsa
	case $1-$2 in
	hf-tcp) echo 28884 ;; hf-ec) echo 28885 ;; hf-rsa) echo 28886 ;;
	mosq-tcp) echo 28883 ;; mosq-ec) echo 28887 ;; mosq-rsa) echo 28888 ;;
	esac
}
tlsopt() { [[ $1 == tcp ]] || echo "--tls --cafile $PKI/ca.crt"; }

# name broker kind command...: run once against a fresh broker (@PID in
# the command becomes the broker's pid).
scenario() {
	local name=$1 b=$2 k=$3 a args=()
	shift 3
	start "$b"
	for a in "$@"; do args+=("${a//@PID/$BPID}"); done
	echo "== $name $b $k: ${args[*]}" | tee -a "$OUT/log"
	"${args[@]}" >"$OUT/$name-$b-$k.txt" 2>&1 ||
		echo "  (exit $?)" | tee -a "$OUT/log"
	stop
	grep -E 'connections|json|rss|pub_rate' "$OUT/$name-$b-$k.txt" |
		tail -3 | tee -a "$OUT/log"
}

# Each scenario REPS times, the two brokers alternating (the machine is
# shared: drift hits both alike).
for r in $(seq "$REPS"); do
	for k in ec rsa; do
		for b in hf mosq; do
			p=$(port $b $k)
			# Sequential full handshakes, TLS only (no MQTT).
			scenario s_time.$r $b $k openssl s_time \
				-connect 127.0.0.1:$p -new -time "$SECS"
		done
		for b in hf mosq; do
			p=$(port $b $k)
			# 1000 MQTT clients over TLS, 64 handshakes at a time.
			scenario connect.$r $b $k "$H" -p "$p" $(tlsopt $k) \
				--connect-only -P 500 -S 500 --pid @PID --json
		done
	done
	for k in tcp ec; do
		for b in hf mosq; do
			p=$(port $b $k)
			scenario qos0.$r $b $k "$H" -p "$p" $(tlsopt $k) -q 0 \
				-n "$QOS0_N" --pid @PID --json
			scenario qos1.$r $b $k "$H" -p "$p" $(tlsopt $k) -q 1 \
				--persistent -n "$QOS1_N" --pid @PID --json
		done
	done
done
for k in tcp ec; do
	for b in hf mosq; do
		p=$(port $b $k)
		scenario idle $b $k "$H" -p "$p" $(tlsopt $k) \
			--idle "$IDLE" --hold 2 --pid @PID --json
	done
done
echo "raw results: $OUT"
python3 tools/bench/tls_report.py "$OUT"
