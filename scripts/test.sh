#!/usr/bin/env bash
# Runs every test: the plain build (with -Werror), then the whole suite under
# ASan+UBSan and under TSan, a smoke run of the microbenchmarks, then a
# consumer project built against an installed weft (find_package). Set
# WEFT_TEST_ONLY=plain|asan|tsan|micro|install to run one stage;
# WEFT_STRESS=long for the soak sizes.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/install-deps.sh"
jobs=$(nproc)
only="${WEFT_TEST_ONLY:-}"
root="${WEFT_BUILD_DIR:-$here/build}"
failed=()

stage() {  # stage <name> <build-dir> <cmake args...>
  local name=$1 dir=$2
  shift 2
  [ -z "$only" ] || [ "$only" = "$name" ] || return 0
  echo "=== weft tests: $name ==="
  cmake -S "$here" -B "$dir" -DWEFT_WERROR=ON -DWEFT_BUILD_BENCH=OFF "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  if ! (cd "$dir" && ctest -j"$jobs" --output-on-failure --timeout 600); then
    failed+=("$name")
  fi
}

stage plain "$root/test-plain" -DCMAKE_BUILD_TYPE=RelWithDebInfo
# Sanitizer builds use g++ too: clang 14 with libstdc++ 12 has no
# std::source_location, which weft's spawn sites rely on.
ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
stage asan "$root/test-asan" -DCMAKE_BUILD_TYPE=Debug -DWEFT_SANITIZE=address
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
stage tsan "$root/test-tsan" -DCMAKE_BUILD_TYPE=Debug -DWEFT_SANITIZE=thread

# The microbenchmarks (bench/micro) once each, as a smoke test: they build
# with -Werror and every benchmark runs to the end; no timing is checked.
# Only the weft-micro target is built (not the rest of bench/), RelWithDebInfo
# so without LTO; a hang fails the stage after 5 minutes. Google Benchmark 1.7 (Debian 12) takes the minimum time as
# a plain number of seconds.
if [ -z "$only" ] || [ "$only" = micro ]; then
  echo "=== weft tests: micro (weft-micro smoke run) ==="
  dir="$root/test-micro"
  rm -f "$dir/micro.json"
  if cmake -S "$here" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEFT_WERROR=ON -DWEFT_BUILD_BENCH=ON \
         -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_EXAMPLES=OFF >/dev/null &&
     cmake --build "$dir" -j"$jobs" --target weft-micro &&
     timeout 300 "$dir/bench/micro/weft-micro" --benchmark_min_time=0.001 --benchmark_format=json \
         --benchmark_out="$dir/micro.json" --benchmark_out_format=json >/dev/null &&
     grep -q '"benchmarks"' "$dir/micro.json"; then
    echo "1 passed, 0 failed: weft-micro ($(grep -c '"run_name"' "$dir/micro.json") benchmarks ran)"
  else
    failed+=(micro)
  fi
fi

if [ -z "$only" ] || [ "$only" = install ]; then
  echo "=== weft tests: install + find_package ==="
  prefix="$root/install"
  rm -rf "$prefix" "$root/consumer"
  cmake --install "$root/test-plain" --prefix "$prefix" >/dev/null
  cmake -S "$here/tests/consumer" -B "$root/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
  cmake --build "$root/consumer" -j"$jobs"
  if "$root/consumer/consumer"; then
    echo "1 passed, 0 failed: install consumer"
  else
    failed+=(install)
  fi
fi

if [ ${#failed[@]} -ne 0 ]; then
  echo "weft tests FAILED in: ${failed[*]}"
  exit 1
fi
echo "weft tests: all stages passed"
