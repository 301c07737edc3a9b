#!/usr/bin/env bash
# tools/fuzz.sh - build every libFuzzer target with clang (ASan+UBSan) in
# build-fuzz/ and run each for a bounded time over a scratch copy of its
# committed corpus (tests/fuzz/corpus/NAME), so a CI run never rewrites the
# tree. A crash or failed check stops the run with libFuzzer's report and
# the input that caused it (build-fuzz/crash-*); add that input to the
# corpus together with the fix.
#
# Usage: tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 20 s, all)
# New inputs the run found stay in build-fuzz/new-corpus/NAME; merge the
# interesting ones with: build-fuzz/tests/fuzz_NAME -merge=1
#   tests/fuzz/corpus/NAME build-fuzz/new-corpus/NAME
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-20}
shift || true

CC=clang cmake -S . -B build-fuzz -DHF_FUZZ=ON -DHF_WERROR=ON \
	-DHF_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then
	for f in tests/fuzz/fuzz_*.c; do
		n=${f#tests/fuzz/fuzz_}
		targets+=("${n%.c}")
	done
fi
bins=()
for t in "${targets[@]}"; do
	bins+=("fuzz_$t")
done
cmake --build build-fuzz -j2 --target "${bins[@]}"

for t in "${targets[@]}"; do
	work=build-fuzz/new-corpus/$t
	rm -rf "$work"
	mkdir -p "$work"
	cp -r "tests/fuzz/corpus/$t/." "$work/" 2>/dev/null || true
	echo "== fuzz_$t for ${secs}s"
	# Per-target libFuzzer flags, e.g. longer inputs for stateful ones.
	extra=()
	if [[ -f tests/fuzz/fuzz_$t.flags ]]; then
		read -r -a extra <"tests/fuzz/fuzz_$t.flags"
	fi
	rc=0
	(cd build-fuzz &&
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			"./tests/fuzz_$t" -max_total_time="$secs" -timeout=10 \
			-rss_limit_mb=2048 -print_final_stats=1 "${extra[@]}" \
			"new-corpus/$t") >"build-fuzz/fuzz_$t.log" 2>&1 || rc=$?
	tail -n 12 "build-fuzz/fuzz_$t.log"
	if [[ $rc -ne 0 ]]; then
		grep -v '^#' "build-fuzz/fuzz_$t.log" | tail -n 60 >&2
		echo "fuzz_$t failed (crash input in build-fuzz/)" >&2
		exit 1
	fi
done
echo "fuzzing passed"
