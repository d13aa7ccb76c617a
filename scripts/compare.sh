#!/usr/bin/env bash
# The main job: builds weft (Release) and the reference programs, then runs
# weft-compare: weft M:N vs weft N:1 vs 1:1 threads vs Boost.Fiber vs Go,
# and prints the table. Extra arguments go to weft-compare: --quick (the
# default: every scenario at small sizes, under 3 minutes on 2 cores),
# --normal or --full for larger sizes, --scenarios=sieve,scale to pick,
# --out DIR to also write results.json, results.md and (with gnuplot) the
# PNG plots time.png, memory.png and scaling.png.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/install-deps.sh"
build="${WEFT_BUILD_DIR:-$here/build/release}"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF \
      -DWEFT_BUILD_EXAMPLES=OFF -DWEFT_BUILD_BENCH=ON >/dev/null
targets=(weft-bench weft-compare boost-fiber-bench go-bench echo-client)
# Tokio's server is built only where cargo and Debian's tokio crates are
# (bench/CMakeLists.txt); weft-compare reports it "not installed" otherwise.
# (grep reads the whole list: with -q it would stop early, and pipefail would
# count make's broken pipe as a failure.)
if cmake --build "$build" --target help | grep tokio-bench >/dev/null; then targets+=(tokio-bench); fi
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"
exec "$build/bench/compare/weft-compare" --workers="${WEFT_WORKERS:-2}" "$@"
