#!/usr/bin/env bash
# tools/test.sh - the CI entry point: dependencies, then the whole CTest
# suite twice: a warnings-as-errors build in build/, and a Debug build with
# AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/; then every
# fuzz target for HF_FUZZ_SECONDS (default 30) each (tools/fuzz.sh). Also
# checks layering: persistence/ and auth/ never see wire formats
# (holdfast/codec.h). Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/deps.sh --tests

echo "== layering"
# persistence/ and auth/ never see wire formats.
dirs=()
for d in persistence auth; do
	[[ -d $d ]] && dirs+=("$d")
done
if ((${#dirs[@]})) && grep -rn 'holdfast/codec.h' "${dirs[@]}"; then
	echo "layering violation: codec.h included above" >&2
	exit 1
fi
# broker/net knows the engine only through its own seam (conn.h): it
# includes its own headers, config.h, log.h and holdfast/ headers only.
bad=$(grep -rn '#include "' broker/net |
	grep -vE '#include "(conn|io|net|ws|config|log)\.h"|#include "holdfast/' ||
	true)
if [[ -n $bad ]]; then
	echo "$bad"
	echo "layering violation: broker/net includes an engine header" >&2
	exit 1
fi
# The engine includes nothing of net but the seam net/conn.h.
bad=$(grep -rnE '#include "(net/|io\.h|stream\.h|listener\.h)' \
	broker/engine |
	grep -v '#include "net/conn.h"' || true)
if [[ -n $bad ]]; then
	echo "$bad"
	echo "layering violation: the engine includes net internals" >&2
	exit 1
fi

echo "== build/ (-Werror)"
cmake -S . -B build -DHF_WERROR=ON -DHF_SANITIZE= \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j2
ctest --test-dir build --output-on-failure -j2

echo "== build-asan/ (-Werror, ASan+UBSan, Debug)"
cmake -S . -B build-asan -DHF_WERROR=ON -DHF_SANITIZE=address,undefined \
	-DCMAKE_BUILD_TYPE=Debug
cmake --build build-asan -j2
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir build-asan --output-on-failure -j2

# Every libFuzzer target for a bounded time (their corpora were already
# replayed above, in both builds); a finding fails the run.
secs=${HF_FUZZ_SECONDS:-30}
echo "== fuzz (clang, ASan+UBSan): each target ${secs}s"
bash tools/fuzz.sh "$secs"

echo "all tests passed"
