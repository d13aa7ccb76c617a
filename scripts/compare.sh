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
# A new build tree uses Ninja, which builds the C++ targets, the Go program
# and the Cargo workspace side by side (make's top-level Makefile builds one
# requested target at a time); an existing tree keeps its generator.
generator=()
if [ ! -f "$build/CMakeCache.txt" ] && command -v ninja >/dev/null; then generator=(-G Ninja); fi
# The Rust programs' Cargo profile: quick (Cargo's release defaults) for
# --quick, the default; release (LTO, one codegen unit) for --normal and
# --full (bench/Cargo.toml; docs/benchmarks.md, "The Rust programs' profiles").
profile=quick
for a in "$@"; do
  case "$a" in --normal|--full) profile=release ;; esac
done
cmake -S "$here" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF \
      -DWEFT_BUILD_EXAMPLES=OFF -DWEFT_BUILD_BENCH=ON -DWEFT_CARGO_PROFILE="$profile" \
      -DWEFT_FAT_LTO_OBJECTS=OFF >/dev/null  # (nothing is installed from this tree)

# The programs the run needs: each model group's (--models=; all without
# it), weft-compare, and for the network scenarios the servers' programs
# and the load generator. Rust, Go and Boost.Fiber only where this build
# has a target for them (bench/CMakeLists.txt: their toolchains were
# found); weft-compare reports the others "not installed".
models=""
for a in "$@"; do
  case "$a" in --models=*) models=${a#--models=} ;; esac
done
wants() {  # wants <model keys or groups...>: whether --models selects any
  [ -z "$models" ] && return 0
  local m w
  for w in "$@"; do
    for m in ${models//,/ }; do [ "$m" = "$w" ] && return 0; done
  done
  return 1
}
# (The order here does not matter: Ninja starts whatever is ready.)
targets=()
wants rust tokio rust-threads && targets+=(rust-bench)
# The network scenarios' servers (weft-bench serve, go-bench, tokio-bench)
# and load generator; allofnet's server is go-bench's or weft-bench's.
targets+=(tokio-bench go-bench weft-compare weft-bench echo-client)
wants boost boost-fiber boost-fiber-spin && targets+=(boost-fiber-bench)
wants procs fork procpool && targets+=(procs-bench)
# (grep reads a saved copy of the list: reading the output directly with
# -q would stop early, and pipefail would count the broken pipe as a failure.)
help=$(cmake --build "$build" --target help)
build_targets=()
for t in "${targets[@]}"; do
  case " ${build_targets[*]} " in *" $t "*) continue ;; esac
  if grep -w -- "$t" <<<"$help" >/dev/null; then build_targets+=("$t"); fi
done
cmake --build "$build" -j"$(nproc)" --target "${build_targets[@]}"
exec "$build/bench/compare/weft-compare" --workers="${WEFT_WORKERS:-2}" "$@"
