#!/usr/bin/env bash
# tools/deps.sh - install the Debian 12 packages Holdfast builds and tests
# with. Idempotent: asks dpkg-query first, so a machine that already has
# everything does no apt work at all. Run as root (or it re-runs via sudo).
#
# --tests adds what only the tests need: Debian's chromium (the browser
# test drives it headless) and Node.js with npm when the machine has no
# node, then the pinned npm packages of tests/ws (npm ci, from its
# package-lock.json; never a downloaded browser).
#
# The mosquitto package is only for benchmarks and interop comparisons.
# While this script installs packages, their maintainer scripts are kept
# from starting services (a temporary policy-rc.d, put back afterwards), so
# installing mosquitto does not start one on port 1883. A mosquitto (or
# anything else) the machine already runs is the operator's: this script
# never stops, disables or kills a service. tools/run.sh says so when port
# 1883 is taken.
set -euo pipefail

PKGS=(build-essential cmake pkg-config libuv1-dev liblmdb-dev lmdb-utils
	libssl-dev libwebsockets-dev libwebsockets-evlib-uv libmosquitto-dev
	mosquitto-clients mosquitto python3-paho-mqtt clang libclang-rt-14-dev
	libsystemd-dev)

tests=0
if [[ ${1:-} == --tests ]]; then
	tests=1
	PKGS+=(chromium)
	command -v node >/dev/null || PKGS+=(nodejs npm)
fi

# The npm packages of the WebSocket tests, when node_modules is missing or
# older than the lock file. Not as root's problem: npm runs as the caller.
npm_tests() {
	((tests)) || return 0
	local dir
	dir="$(cd "$(dirname "$0")/.." && pwd)/tests/ws"
	if [[ ! -d $dir/node_modules ||
		$dir/package-lock.json -nt $dir/node_modules ]]; then
		echo "deps.sh: npm ci in $dir" >&2
		npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
		touch "$dir/node_modules"
	fi
}

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	if [[ "$st" != "install ok installed" ]]; then
		missing+=("$p")
	fi
done

if ((${#missing[@]} == 0)); then
	npm_tests
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	if command -v sudo >/dev/null; then
		exec sudo -E bash "$0" "$@"
	fi
	echo "deps.sh: missing packages (${missing[*]}) and not root" >&2
	exit 1
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive

# Keep package scripts from starting services while we install; put back
# whatever policy the machine had afterwards.
policy=/usr/sbin/policy-rc.d
saved=""
if [[ -e $policy ]]; then
	saved=$(mktemp)
	cp -p "$policy" "$saved"
fi
restore_policy() {
	if [[ -n $saved ]]; then
		mv -f "$saved" "$policy"
	else
		rm -f "$policy"
	fi
}
trap restore_policy EXIT
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod 755 "$policy"

apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"

restore_policy
trap - EXIT
npm_tests
