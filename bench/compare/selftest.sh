#!/usr/bin/env bash
# weft-compare's self-test: runs it against stub programs that follow the
# exercises contract (docs/claims.md, "The models") and checks what the
# report makes of them — a correct result, a wrong one, "not expressible"
# (exit 3), a scenario the program does not know (exit 2), a missing
# program, allofnet without a server — and that the claims section and
# results.json are written. No timing is checked.
#   bash bench/compare/selftest.sh path/to/weft-compare
set -euo pipefail
compare=${1:?usage: selftest.sh path/to/weft-compare}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One stub for rust-bench, procs-bench and nodebench.js: correct results,
# except where its model is told to misbehave.
cat >"$tmp/stub" <<'EOF'
#!/usr/bin/python3
import sys
args = [a for a in sys.argv[1:] if not a.endswith('.js')]
scenario = args[0]
opts = dict(a[2:].split('=', 1) for a in args[1:] if a.startswith('--') and '=' in a)
n, model = int(opts['n']), opts['model']
if model == 'fork':
    print('not expressible: the stub says so', file=sys.stderr); sys.exit(3)
if model == 'pool':
    print('procs-bench: unknown scenario ' + scenario, file=sys.stderr); sys.exit(2)
def prime(k):
    if k < 2 or k % 2 == 0: return k == 2
    d = 3
    while d * d <= k:
        if k % d == 0: return False
        d += 2
    return True
if scenario == 'allofcpu':
    result = sum(prime(k) for k in range(1000000, 1000000 + 1000 * n))
elif scenario == 'pool':
    result = sum(1 if k % 2 else sum(prime(x) for x in range(1000000 + 100 * k, 1000000 + 100 * (k + 1)))
                 for k in range(n))
else:
    result = n
if model == 'threads': result += 1  # a wrong result: the row must say FAILED
print(f"weft-bench: scenario={scenario} model={model} workers={opts.get('workers', 1)} n={n} "
      f"result={result} elapsed_ns={1000 + n} ops={n}")
EOF
chmod +x "$tmp/stub"
ln -s stub "$tmp/stub.js"  # the Node model's script argument

status=0
"$compare" --runs=1 --scenarios=onetask-10,allofcpu-10,pool-10,allofnet-10 \
    --weft-bench="$tmp/none" --boost-fiber-bench="$tmp/none" --go-bench="$tmp/none" \
    --rust-bench="$tmp/stub" --procs-bench="$tmp/stub" --node="$tmp/stub" --nodebench="$tmp/stub.js" \
    --python="$tmp/none" --out="$tmp/out" >"$tmp/table.md" 2>"$tmp/progress.txt" || status=$?

failures=0
check() {  # check <description> <command...>
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi
}
row() { grep -F "| $1 | $2 |" "$tmp/table.md"; }
has() { row "$1" "$2" | grep -qF -- "$3"; }

check "exit status 1 with a wrong result" test "$status" -eq 1
check "a correct allofcpu result (753 primes) is ok" has allofcpu-10 "Rust Tokio" "| ok |"
check "a correct pool result is ok" has pool-10 "Node promises" "| ok |"
check "a wrong result is FAILED with both values" has allofcpu-10 "Rust threads" "FAILED (result 754, expected 753)"
check "exit 3 shows the program's reason" has onetask-10 "C++ fork" "n/a: not expressible: the stub says so"
check "exit 2 names the program" has onetask-10 "C++ process pool" "n/a: not implemented by stub"
check "a missing interpreter is not installed" has onetask-10 "Python asyncio" "n/a: python3 not installed"
check "a missing program is not installed" has onetask-10 "weft M:N" "n/a: weft-bench not installed"
check "allofnet without a server says so" has allofnet-10 "Rust Tokio" "n/a: no HTTP server"
check "the exercise tables are printed" grep -qF "## Exercise allofcpu" "$tmp/table.md"
check "four claims with a verdict" test "$(grep -cE '^### ".*": (held|did not hold|not measured)$' "$tmp/table.md")" -eq 4
check "progress is on stderr per cell" grep -qF "allofcpu-10 run 1/1:" "$tmp/progress.txt"
check "results.json holds the rows and the four claims" /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["claims"]) == 4 and all(c["verdict"] for c in d["claims"])
assert any(r["scenario"] == "allofcpu-10" and r["status"] == "wrong_result" for r in d["results"])
' "$tmp/out/results.json"
if [ "$failures" -ne 0 ]; then
  echo "--- table"; cat "$tmp/table.md"; echo "--- stderr"; cat "$tmp/progress.txt"
  exit 1
fi
echo "weft-compare selftest: all checks passed"
