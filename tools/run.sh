#!/usr/bin/env bash
# tools/run.sh - install dependencies, build Holdfast (RelWithDebInfo) in
# build/ and run it. Arguments go to the broker; with none it uses its
# embedded defaults (MQTT on localhost:1883).
#
# Without -c or -p the broker wants port 1883 on 127.0.0.1 and ::1; if
# something else has it (often a packaged mosquitto), this says so and
# suggests another port rather than letting the broker fail. It never
# stops what holds the port: that is the operator's.
set -euo pipefail
cd "$(dirname "$0")/.."

# Can PORT be bound on the loopback addresses the default listener uses?
# Prints the first address that cannot and returns 1.
port_free() {
	python3 - "$1" <<'PY'
import errno, socket, sys
port = int(sys.argv[1])
for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    try:
        s = socket.socket(fam, socket.SOCK_STREAM)
    except OSError:
        continue  # no IPv6 here: the broker skips it too
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((addr, port))
    except OSError as e:
        if e.errno == errno.EADDRNOTAVAIL:
            continue
        print(addr)
        sys.exit(1)
    finally:
        s.close()
PY
}

explicit=0
for a in "$@"; do
	case $a in
	-c | --config-file | -p | --port) explicit=1 ;;
	esac
done

bash tools/deps.sh # python3 comes with it
if ((!explicit)) && ! addr=$(port_free 1883); then
	echo "run.sh: port 1883 on $addr is already in use (another MQTT" \
		"broker? 'ss -ltnp sport = :1883' shows which process)." >&2
	echo "run.sh: run Holdfast on another port instead, e.g." \
		"tools/run.sh -p 1884" >&2
	exit 1
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target holdfast
exec build/holdfast "$@"
