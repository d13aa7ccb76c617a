#!/usr/bin/env bash
# Runs every test: the plain build (with -Werror), then the whole suite under
# ASan+UBSan and under TSan, then a consumer project built against an
# installed weft (find_package). Set WEFT_TEST_ONLY=plain|asan|tsan|install
# to run one stage; WEFT_STRESS=long for the soak sizes.
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
