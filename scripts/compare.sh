#!/usr/bin/env bash
# The main job: builds weft (Release) and the reference programs, then runs
# weft-compare: weft M:N vs weft N:1 vs 1:1 threads vs Boost.Fiber vs Go,
# and prints the table. Extra arguments go to weft-compare (e.g. --quick,
# --full, --scenarios=skynet,spawn, --out=DIR).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/install-deps.sh"
build="${WEFT_BUILD_DIR:-$here/build/release}"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF \
      -DWEFT_BUILD_EXAMPLES=OFF -DWEFT_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target weft-bench weft-compare boost-fiber-bench go-bench
exec "$build/bench/compare/weft-compare" --workers="${WEFT_WORKERS:-2}" "$@"
