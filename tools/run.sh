#!/usr/bin/env bash
# tools/run.sh - install dependencies, build Holdfast (RelWithDebInfo) in
# build/ and run it. Arguments go to the broker; with none it uses its
# embedded defaults (MQTT on localhost:1883).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target holdfast
exec build/holdfast "$@"
