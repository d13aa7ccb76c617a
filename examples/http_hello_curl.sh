#!/bin/sh
# CTest's curl check of example-http_hello --serve:
#   http_hello_curl.sh <path to example-http_hello> [--model=... --workers=...]
# Starts the server on a free port (its stdin a fifo this script holds
# open), fetches two URLs with one curl (one keep-alive connection), checks
# both bodies and that the server counted 2 requests on 1 connection, then
# stops it by closing its stdin; a second round stops it with SIGTERM.
# Every wait is bounded; exits non-zero on any failure.
set -u
exe=$1
shift
dir=$(mktemp -d) || exit 1
pid=
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

fail() {
  echo "http_hello_curl: $*"
  echo "--- server output:"
  cat "$dir/out"
  exit 1
}

# Waits up to 5 s for the server to exit; its status in $rc.
wait_exit() {
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && fail "still running 5 s after being told to stop"
  wait "$pid"
  rc=$?
  pid=
}

# One round: $1 is how to stop it (stdin or sigterm).
round() {
  rm -f "$dir/in" "$dir/out"
  mkfifo "$dir/in" || exit 1
  "$exe" --serve --port=0 "$@" <"$dir/in" >"$dir/out" 2>&1 &
  pid=$!
  exec 3>"$dir/in"
  port=
  for _ in $(seq 1 100); do
    port=$(sed -n 's/^listening \([0-9][0-9]*\)$/\1/p' "$dir/out")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$port" ] || fail "no 'listening <port>' within 10 s"
  body=$(curl -sS --max-time 5 "http://127.0.0.1:$port/" "http://127.0.0.1:$port/again") ||
    fail "curl failed"
  [ "$body" = "Hello, world!Hello, world!" ] || fail "unexpected body: $body"
  if [ "$how" = stdin ]; then
    exec 3>&-
    wait_exit
    expect="stopped by stdin EOF; served 2 requests on 1 connections"
  else
    kill -TERM "$pid"
    wait_exit
    exec 3>&-
    expect="stopped by SIGTERM; served 2 requests on 1 connections"
  fi
  [ "$rc" -eq 0 ] || fail "exit status $rc"
  grep -q "$expect" "$dir/out" || fail "expected '$expect'"
  echo "http_hello_curl: port $port, stopped by $how: ok"
}

how=stdin
round "$@"
how=sigterm
round "$@"
