#!/usr/bin/env bash
# Installs the Debian packages weft's build, tests and comparison need, if
# any is missing. Idempotent; needs root (or sudo) only when installing.
set -euo pipefail

packages=(build-essential cmake g++
          libboost-context-dev libboost-fiber-dev
          libgtest-dev libgmock-dev libbenchmark-dev
          golang-go gnuplot-nox
          wrk rustc cargo librust-tokio-dev
          libdw-dev)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "weft: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
