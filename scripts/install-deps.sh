#!/usr/bin/env bash
# Installs the Debian packages weft's build, tests and comparison need, if
# any is missing. Idempotent; needs root (or sudo) only when installing.
set -euo pipefail

packages=(build-essential cmake g++ ninja-build
          libboost-context-dev libboost-fiber-dev
          libgtest-dev libgmock-dev libbenchmark-dev
          golang-go gnuplot-nox
          wrk rustc cargo librust-tokio-dev
          python3 libdw-dev)
# Installed if Debian can; without them weft-compare and the tests report
# the models "not installed" (the Node.js models need nodejs).
optional=(nodejs)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=() missing_optional=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
for p in "${optional[@]}"; do installed "$p" || missing_optional+=("$p"); done
if [ ${#missing[@]} -eq 0 ] && [ ${#missing_optional[@]} -eq 0 ]; then
  exit 0
fi
echo "weft: installing ${missing[*]} ${missing_optional[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
for p in "${missing_optional[@]}"; do
  $sudo apt-get install -y -qq "$p" >/dev/null || echo "weft: $p did not install; its models are reported as not installed" >&2
done
