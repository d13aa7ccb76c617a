#!/usr/bin/env bash
# Smoke test of the compiled benchmark programs on the seed's exercises
# (bench/common/workloads.hpp; the command line and output line of the
# exercises' contract): each program given runs each exercise it expresses at
# a tiny n, and its one result line must carry the right scenario, model, n
# and result. The expected results of allofcpu and pool are recomputed here
# in Python (trial division, as workloads.hpp's is_prime_trial), not taken
# from the C++ code under test; the others must equal n. Scenarios a model
# cannot express must exit 3 with `not expressible: ...`; unknown names exit 2.
#
#   native_models_test.sh [--weft=PATH] [--boost=PATH] [--procs=PATH] [--go=PATH] [--rust=PATH]
#
# A program not given is not tested (CMake passes the ones it built); the
# allofnet runs use `weft-bench serve http` as the server, so they need
# --weft. Every run is bounded by `timeout`.
set -uo pipefail

weft="" boost="" procs="" gobench="" rust=""
for a in "$@"; do
  case "$a" in
    --weft=*) weft=${a#*=} ;;
    --boost=*) boost=${a#*=} ;;
    --procs=*) procs=${a#*=} ;;
    --go=*) gobench=${a#*=} ;;
    --rust=*) rust=${a#*=} ;;
    *) echo "native_models_test: unknown argument $a" >&2; exit 2 ;;
  esac
done

python=/usr/bin/python3
passed=0
failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# The expected results, recomputed independently.
expect_py() {  # expect_py allofcpu|pool N
  "$python" - "$1" "$2" <<'EOF'
import sys
def is_prime(k):
    if k < 2: return False
    if k % 2 == 0: return k == 2
    d = 3
    while d * d <= k:
        if k % d == 0: return False
        d += 2
    return True
def count(lo, hi): return sum(1 for k in range(lo, hi) if is_prime(k))
what, n = sys.argv[1], int(sys.argv[2])
base = 1_000_000
if what == "allofcpu":
    print(sum(count(base + k * 1000, base + (k + 1) * 1000) for k in range(n)))
elif what == "pool":
    print(sum(1 if k % 2 else count(base + k * 100, base + (k + 1) * 100) for k in range(n)))
elif what == "cpusplit":
    print(count(0, n))
EOF
}

N=20
declare -A want
want[onetask]=$N
want[allofsleep]=$N
want[latency]=$N
want[allofnet]=$N
want[disk]=$N
want[spawn]=$N
want[fileio]=$N
want[scale]=$N
want[pingpong]=$N
want[allofcpu]=$(expect_py allofcpu $N)
want[pool]=$(expect_py pool $N)

# check <label> <scenario> <model-echo> <expected result> <n> <program and args...>
check() {
  local label=$1 scenario=$2 model=$3 expect=$4 n=$5
  shift 5
  local out rc
  out=$(timeout 120 "$@" 2>/tmp/native_models_test.$$.err)
  rc=$?
  if [ $rc -ne 0 ]; then
    fail "$label $scenario: exit $rc: $(head -c 300 /tmp/native_models_test.$$.err)"
    return
  fi
  local lines
  lines=$(printf '%s\n' "$out" | grep -c '^weft-bench: ')
  if [ "$lines" -ne 1 ] || [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ]; then
    fail "$label $scenario: expected exactly one result line, got: $out"
    return
  fi
  local re="^weft-bench: scenario=$scenario model=$model workers=[0-9]+ n=$n result=(-?[0-9]+) elapsed_ns=[0-9]+ ops=[0-9]+( .*)?$"
  if ! [[ $out =~ $re ]]; then
    fail "$label $scenario: malformed line: $out"
    return
  fi
  if [ "${BASH_REMATCH[1]}" != "$expect" ]; then
    fail "$label $scenario: result=${BASH_REMATCH[1]}, want $expect: $out"
    return
  fi
  passed=$((passed + 1))
}

# refuse <label> <what> <expected status> <program and args...>: must exit
# with that status; status 3 must say `not expressible: ...` on stderr.
refuse() {
  local label=$1 what=$2 status=$3
  shift 3
  local out rc
  out=$(timeout 60 "$@" 2>&1 >/dev/null)
  rc=$?
  if [ $rc -ne "$status" ]; then
    fail "$label $what: exit $rc, want $status: $out"
  elif [ "$status" -eq 3 ] && ! grep -q '^not expressible: ' <<<"$out"; then
    fail "$label $what: no 'not expressible:' line: $out"
  else
    passed=$((passed + 1))
  fi
}

exercises="onetask allofcpu allofsleep pool disk"

# The HTTP server of allofnet: weft-bench serve http, stopped by closing its
# stdin (the server contract of bench/weft/net_servers.cpp).
addr=""
if [ -n "$weft" ]; then
  coproc SERVER { exec "$weft" serve http --model=fibers --workers=1 --port=0; }
  if read -r -t 30 word port <&"${SERVER[0]}" && [ "$word" = listening ]; then
    addr="127.0.0.1:$port"
  else
    fail "weft-bench serve http did not start"
  fi
fi
stop_server() {
  if [ -n "${SERVER_PID:-}" ]; then
    eval "exec ${SERVER[1]}>&-"
    wait "$SERVER_PID" 2>/dev/null
  fi
}

if [ -n "$weft" ]; then
  for cfg in "fibers 1" "fibers 2" "threads 2"; do
    set -- $cfg
    for s in $exercises allofnet; do
      check "weft-bench $1/$2" $s $1 "${want[$s]}" $N "$weft" $s --model=$1 --workers=$2 --n=$N --addr=$addr
    done
  done
  refuse weft-bench "unknown scenario" 2 "$weft" nosuch --model=fibers
fi

if [ -n "$boost" ]; then
  for s in $exercises; do
    check boost-fiber-bench $s boost-fiber "${want[$s]}" $N "$boost" $s --model=boost-fiber --workers=2 --n=$N
  done
  refuse boost-fiber-bench allofnet 3 "$boost" allofnet --model=boost-fiber --workers=2 --n=$N --addr=127.0.0.1:1
fi

if [ -n "$gobench" ]; then
  for s in $exercises ${addr:+allofnet}; do
    check go-bench $s go "${want[$s]}" $N "$gobench" $s --model=go --workers=2 --n=$N --addr=$addr
  done
  refuse go-bench "unknown model" 2 "$gobench" onetask --model=nosuch
fi

if [ -n "$procs" ]; then
  for m in fork pool; do
    for s in onetask allofcpu allofsleep disk spawn fileio; do
      check "procs-bench $m" $s $m "${want[$s]}" $N "$procs" $s --model=$m --workers=2 --n=$N
    done
    check "procs-bench $m" cpusplit $m "$(expect_py cpusplit 20000)" 20000 "$procs" cpusplit --model=$m --workers=2 --n=20000
  done
  check "procs-bench pool" pool pool "${want[pool]}" $N "$procs" pool --model=pool --workers=2 --n=$N
  refuse procs-bench "pool under fork" 3 "$procs" pool --model=fork --n=$N
  refuse procs-bench allofnet 3 "$procs" allofnet --model=fork --n=$N
  refuse procs-bench "unknown model" 2 "$procs" onetask --model=nosuch
fi

if [ -n "$rust" ]; then
  for m in tokio threads; do
    for s in $exercises ${addr:+allofnet} spawn pingpong fileio scale; do
      check "rust-bench $m" $s $m "${want[$s]}" $N "$rust" $s --model=$m --workers=2 --n=$N --addr=$addr
    done
    check "rust-bench $m" cpusplit $m "$(expect_py cpusplit 20000)" 20000 "$rust" cpusplit --model=$m --workers=2 --n=20000
    check "rust-bench $m" skynet $m 499500 1000 "$rust" skynet --model=$m --workers=2 --n=1000
  done
  refuse rust-bench "unknown scenario" 2 "$rust" nosuch --model=tokio
fi

stop_server
rm -f /tmp/native_models_test.$$.err
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
