#!/bin/sh
# Start Debian's mosquitto (2.0.x) as a reference broker for the tests in this
# folder: TCP, ws:// (with http_dir serving www/) and wss:// listeners on
# loopback. Everything lives in a fresh temp dir; nothing system-wide is
# touched. Prints the addresses to pass to the test scripts, then runs mosquitto
# in the foreground (Ctrl-C stops it).
#
#   sh tests/ws/mosquitto-ref.sh [BASEPORT]     # default 18830
#
# Ports: BASE = mqtt tcp, BASE+1 = ws + http_dir, BASE+2 = wss (+ http_dir)
set -eu
BASE=${1:-18830}
TCP=$BASE; WS=$((BASE + 1)); WSS=$((BASE + 2))
HERE=$(cd "$(dirname "$0")" && pwd)
WWW=$(cd "$HERE/../../www" && pwd)
DIR=$(mktemp -d /tmp/holdfast-ws-ref.XXXXXX)

# Throwaway CA + server certificate for 127.0.0.1 / localhost.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=holdfast-test-ca" \
  -keyout "$DIR/ca.key" -out "$DIR/ca.crt" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$DIR/server.key" -out "$DIR/server.csr" >/dev/null 2>&1
# mosquitto started as root drops to the "mosquitto" user: let it read these.
chmod 755 "$DIR"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$DIR/san.ext"
openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" \
  -CAcreateserial -days 2 -extfile "$DIR/san.ext" -out "$DIR/server.crt" >/dev/null 2>&1
chmod 644 "$DIR"/*.crt "$DIR/server.key"

cat > "$DIR/mosquitto.conf" <<CONF
per_listener_settings false
allow_anonymous true
persistence false
sys_interval 1
max_queued_messages 1000
log_dest stderr
log_type error
log_type warning
log_type notice

listener $TCP 127.0.0.1
protocol mqtt

listener $WS 127.0.0.1
protocol websockets
http_dir $WWW

listener $WSS 127.0.0.1
protocol websockets
http_dir $WWW
certfile $DIR/server.crt
keyfile $DIR/server.key
CONF

echo "config:   $DIR/mosquitto.conf"
echo "args:     --tcp-port $TCP --ws-url ws://127.0.0.1:$WS/ --http-url http://127.0.0.1:$WS/ --wss-url wss://127.0.0.1:$WSS/ --cafile $DIR/ca.crt"
exec mosquitto -c "$DIR/mosquitto.conf"
