#!/usr/bin/python3
"""The self-check of the Python and Node.js reference models (issue 10):
runs every (model, scenario) of bench/python/pybench.py and
bench/node/nodebench.js at a tiny n and checks that

  - the program exits 0 and prints exactly one line on stdout, the
    contract's `weft-bench: scenario=S model=M workers=W n=N result=R
    elapsed_ns=T ops=K`, echoing S, M, W and N, with ops = n and T > 0;
  - result equals the value this script computes from the scenario's
    definition by other means (a sieve of Eratosthenes for the prime counts,
    n for the count-type scenarios);
  - each (model, scenario) listed as not expressible exits 3 with one
    stderr line `not expressible: <why>`, and no other does;
  - an unknown scenario or model exits 2 naming what is supported;
  - allofnet against a port nobody listens on reports 0 complete responses
    (a failed connect is a failure, not retried), and against a local
    HTTP/1.1 server started here on 127.0.0.1:0 reports n;
  - threading and multiprocessing refuse (exit 3) a scale size past the
    machine's thread and process limit instead of failing midway.

A missing node (no /usr/bin/node, or --node= empty) is reported as "not
installed" and its cells skipped, as weft-compare does. Every run is bounded
by a timeout. Usage: reference_models_test.py [--root=SRC] [--python=P]
[--node=N]; exits 0 if every check held.
"""

import argparse
import http.server
import os
import re
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

LINE = re.compile(r"^weft-bench: scenario=(\S+) model=(\S+) workers=(\d+) n=(\d+) "
                  r"result=(-?\d+) elapsed_ns=(\d+) ops=(\d+)$")
TIMEOUT_S = 60
WORKERS = 2

# --- expected results, by other means than the programs' ------------------


def sieve(limit):
    """is_prime[k] for k < limit (sieve of Eratosthenes)."""
    is_prime = bytearray([1]) * limit
    is_prime[0:2] = b"\x00\x00"
    for k in range(2, int(limit ** 0.5) + 1):
        if is_prime[k]:
            is_prime[k * k::k] = bytearray(len(range(k * k, limit, k)))
    return is_prime


PRIMES = sieve(1_200_000)


def primes_in(lo, hi):
    return sum(PRIMES[lo:hi])


def expected(scenario, n):
    if scenario == "allofcpu":  # task k: [1e6 + k*1000, 1e6 + (k+1)*1000)
        return primes_in(1_000_000, 1_000_000 + n * 1_000)
    if scenario == "pool":  # even k: primes in [1e6 + k*100, +100); odd k: 1
        return sum(primes_in(1_000_000 + k * 100, 1_000_000 + (k + 1) * 100) if k % 2 == 0 else 1
                   for k in range(n))
    if scenario == "cpusplit":
        return primes_in(0, n)
    return n  # onetask, spawn, allofsleep, latency, allofnet, disk, pingpong, fileio, scale


# The size each scenario runs at here: tiny, odd sizes where a partial
# share or chunk is worth covering.
SIZES = {
    "onetask": 5, "allofcpu": 7, "allofsleep": 8, "latency": 6, "allofnet": 20,
    "pool": 21, "disk": 7, "spawn": 20, "pingpong": 100, "cpusplit": 25_000,
    "fileio": 7, "scale": 20,
}
SCENARIOS = list(SIZES)
# Per-model overrides: a Worker costs tens of milliseconds to start.
SIZE_OVERRIDES = {("worker_threads", "onetask"): 3}

NOT_EXPRESSIBLE = {
    ("worker_threads", s) for s in ("allofsleep", "latency", "allofnet", "disk", "spawn", "pingpong",
                                    "fileio", "scale")
}

# --- the HTTP/1.1 server of allofnet ---------------------------------------


class Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"hello, bench\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def refusing_port():
    """A loopback socket bound but never listening: connecting to its port
    is refused, and no other process can take the port while it is open."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s


# --- running the programs --------------------------------------------------


def run(cmd):
    """(returncode, stdout, stderr) of cmd, or None if it timed out."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None
    return p.returncode, p.stdout, p.stderr


def check_cell(prog, model, scenario, n, addr, want):
    """The failures (a list of strings) of one (model, scenario) run."""
    cmd = prog + [scenario, "--model=" + model, "--workers=%d" % WORKERS, "--n=%d" % n]
    if addr:
        cmd.append("--addr=" + addr)
    name = "%s %s n=%d" % (model, scenario, n)
    t0 = time.monotonic()
    r = run(cmd)
    if r is None:
        return ["%s: timed out after %d s" % (name, TIMEOUT_S)]
    rc, out, err = r
    took = time.monotonic() - t0
    if (model, scenario) in NOT_EXPRESSIBLE and want is not None:
        lines = err.splitlines()
        if rc != 3 or out or len(lines) != 1 or not lines[0].startswith("not expressible: "):
            return ["%s: want exit 3 and one `not expressible:` line, got rc=%d stdout=%r stderr=%r"
                    % (name, rc, out, err)]
        print("ok   %-40s not expressible (%.1f s)" % (name, took))
        return []
    if rc != 0:
        return ["%s: exit %d, stderr: %s" % (name, rc, err.strip())]
    lines = out.splitlines()
    m = LINE.match(lines[0]) if len(lines) == 1 else None
    if not m:
        return ["%s: want one result line, got %r" % (name, out)]
    s, mo, w, got_n, result, elapsed, ops = m.groups()
    fails = []
    if (s, mo, int(w), int(got_n)) != (scenario, model, WORKERS, n):
        fails.append("%s: the line echoes %s %s workers=%s n=%s" % (name, s, mo, w, got_n))
    if int(ops) != n or int(elapsed) <= 0:
        fails.append("%s: ops=%s elapsed_ns=%s" % (name, ops, elapsed))
    if int(result) != want:
        fails.append("%s: result=%s, want %d" % (name, result, want))
    if not fails:
        print("ok   %-40s result=%s (%.1f s)" % (name, result, took))
    return fails


def check_exit(cmd, code, pattern, name):
    r = run(cmd)
    if r is None or r[0] != code or not re.search(pattern, r[2]) or r[1]:
        return ["%s: want exit %d and stderr matching %r, got %r" % (name, code, pattern, r)]
    print("ok   %s" % name)
    return []


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--root", default=os.path.dirname(here))
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--node", default="/usr/bin/node")
    args = ap.parse_args()

    programs = {"python": [args.python, os.path.join(args.root, "bench/python/pybench.py")]}
    models = {"python": ["asyncio", "threading", "multiprocessing"]}
    if args.node and os.access(args.node, os.X_OK):
        programs["node"] = [args.node, os.path.join(args.root, "bench/node/nodebench.js")]
        models["node"] = ["promises", "worker_threads"]
    else:
        print("node: not installed (%r); its cells are skipped" % args.node)

    server = Server(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    addr = "127.0.0.1:%d" % server.server_address[1]
    refusing = refusing_port()
    dead_addr = "127.0.0.1:%d" % refusing.getsockname()[1]

    jobs = []  # (program, model, scenario, n, addr, want)
    for lang, prog in programs.items():
        for model in models[lang]:
            for scenario in SCENARIOS:
                n = SIZE_OVERRIDES.get((model, scenario), SIZES[scenario])
                jobs.append((prog, model, scenario, n, addr if scenario == "allofnet" else None,
                             expected(scenario, n)))
            if (model, "allofnet") not in NOT_EXPRESSIBLE:
                jobs.append((prog, model, "allofnet", 3, dead_addr, 0))

    t0 = time.monotonic()
    failures = []
    # Four at a time: the cells mostly wait (sleeps, process and interpreter starts).
    with ThreadPoolExecutor(max_workers=4) as ex:
        for fails in ex.map(lambda j: check_cell(*j), jobs):
            failures += fails

    for lang, prog in programs.items():
        failures += check_exit(prog + ["nosuch", "--model=" + models[lang][0], "--n=1"], 2,
                               r"unknown scenario.*supported: .*onetask", lang + ": unknown scenario exits 2")
        failures += check_exit(prog + ["onetask", "--model=nosuch", "--n=1"], 2,
                               r"unknown model.*supported: .*" + models[lang][0], lang + ": unknown model exits 2")
    for model in ("threading", "multiprocessing"):
        failures += check_exit(programs["python"] + ["scale", "--model=" + model, "--n=100000000"], 3,
                               r"^not expressible: n=100000000 .* alive at once exceed",
                               model + ": scale past the thread/process limit exits 3")
    server.shutdown()
    refusing.close()

    print("%d checks, %d failures, %.1f s" % (len(jobs) + 2 * len(programs) + 2, len(failures),
                                            time.monotonic() - t0))
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
