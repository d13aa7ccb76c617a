#!/usr/bin/env bash
# The main job: builds weft (Release) and the reference programs, then runs
# weft-compare: weft M:N vs weft N:1 vs 1:1 threads vs Boost.Fiber vs Go vs
# Rust (Tokio, threads) vs Python (asyncio, threading, multiprocessing) vs
# Node (promises, worker_threads) vs C++ processes (fork, pool), and prints
# the tables and the seed documents' claims with their verdicts. Extra
# arguments go to weft-compare: --quick (the default: every scenario and
# exercise at small sizes), --normal or --full for larger sizes,
# --scenarios=sieve,scale or --models=python,go to pick, --out DIR to also
# write results.json, results.md and (with gnuplot) the PNG plots time.png,
# memory.png, scaling.png and exercise-<name>.png.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/install-deps.sh"
build="${WEFT_BUILD_DIR:-$here/build/release}"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF \
      -DWEFT_BUILD_EXAMPLES=OFF -DWEFT_BUILD_BENCH=ON >/dev/null
targets=(weft-bench weft-compare boost-fiber-bench go-bench echo-client)
# Tokio's server is built only where cargo and Debian's tokio crates are
# (bench/CMakeLists.txt); weft-compare reports it "not installed" otherwise.
# (grep reads a saved copy of the list: reading make's output directly with
# -q would stop early, and pipefail would count the broken pipe as a failure.)
# The same for rust-bench (cargo and Debian's crates) and procs-bench.
help=$(cmake --build "$build" --target help)
for t in tokio-bench rust-bench procs-bench; do
  if grep -w -- "$t" <<<"$help" >/dev/null; then targets+=("$t"); fi
done
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"
exec "$build/bench/compare/weft-compare" --workers="${WEFT_WORKERS:-2}" "$@"
