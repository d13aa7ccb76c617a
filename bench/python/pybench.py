#!/usr/bin/python3
"""pybench: the Python 3 reference models of weft-compare (issue 10).

Usage:
    /usr/bin/python3 bench/python/pybench.py <scenario> --model=<model>
        --workers=W --n=N [--addr=HOST:PORT]

Prints exactly one line on stdout and exits 0,
    weft-bench: scenario=S model=M workers=W n=N result=R elapsed_ns=T ops=K
the line of bench/common/scenario_line.hpp. Exits 2 on bad arguments (an
unknown scenario or model names the supported ones), 3 with
`not expressible: <why>` on stderr when the model cannot run the scenario
at this size.

Models, one module each (what each scenario does in it is written there):
    asyncio          asyncio_model.py: one event loop (asyncio.run); tasks,
                     gather, asyncio.Queue, asyncio.sleep, open_connection,
                     run_in_executor for files. --workers is only echoed.
    threading        threading_model.py: one threading.Thread per task,
                     queue.Queue, time.sleep, blocking sockets and files.
                     --workers is only echoed.
    multiprocessing  multiprocessing_model.py, start method 'fork': one
                     multiprocessing.Process per task for onetask, spawn,
                     pingpong and scale; a Pool(processes=W) for the others,
                     Pool(8) for pool.

Scenarios: onetask, allofcpu, allofsleep (= latency), allofnet, pool, disk,
spawn, pingpong, cpusplit, fileio, scale; their definitions are the
contract's (prompts/exercises.md, docs/benchmarks.md) and weft-bench's.

The timed span (elapsed_ns) starts inside the running model, after its
untimed setup: the interpreter's start, asyncio.run's loop creation, a
Pool(W)'s processes and the files of fileio and disk are outside it; the
tasks a scenario starts (the pool scenario's 8 workers included) are inside.
It ends when the last result has been collected.
"""

import argparse
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import workloads  # noqa: E402 (after the line above)

MODELS = ("asyncio", "threading", "multiprocessing")
SCENARIOS = (
    "onetask", "allofcpu", "allofsleep", "latency", "allofnet", "pool", "disk",
    "spawn", "pingpong", "cpusplit", "fileio", "scale",
)

# The size each scenario runs at when no --n is given: small, since these
# models are orders of magnitude slower than weft (bench/python/README.md).
DEFAULT_N = {
    "onetask": 1000, "allofcpu": 100, "allofsleep": 1000, "latency": 1000,
    "allofnet": 100, "pool": 1000, "disk": 100, "spawn": 1000,
    "pingpong": 10000, "cpusplit": 100000, "fileio": 100, "scale": 1000,
}


class Timer:
    """The timed span: start() after the setup, stop() once the last result
    is in; elapsed_ns is their difference on the monotonic clock."""

    def __init__(self):
        self.t0 = None
        self.t1 = None

    def start(self):
        self.t0 = time.perf_counter_ns()

    def stop(self):
        self.t1 = time.perf_counter_ns()

    @property
    def elapsed_ns(self):
        return self.t1 - self.t0


def parse_addr(addr):
    """HOST:PORT -> (host, port); exits 2 if it is not one."""
    host, sep, port = (addr or "").rpartition(":")
    if not sep or not host or not port.isdigit():
        print("pybench: allofnet needs --addr=HOST:PORT (got %r)" % addr, file=sys.stderr)
        sys.exit(2)
    return host, int(port)


def main(argv):
    parser = argparse.ArgumentParser(prog="pybench", description=__doc__.split("\n")[0])
    parser.add_argument("scenario")
    parser.add_argument("--model", required=True)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--addr", default=None)
    args = parser.parse_args(argv)
    if args.scenario not in SCENARIOS:
        print("pybench: unknown scenario %r; supported: %s" % (args.scenario, ", ".join(SCENARIOS)), file=sys.stderr)
        return 2
    if args.model not in MODELS:
        print("pybench: unknown model %r; supported: %s" % (args.model, ", ".join(MODELS)), file=sys.stderr)
        return 2
    n = args.n if args.n is not None else DEFAULT_N[args.scenario]
    if n < 1 or args.workers < 1:
        print("pybench: --n and --workers must be positive", file=sys.stderr)
        return 2
    addr = parse_addr(args.addr) if args.scenario == "allofnet" else None

    if args.model == "asyncio":
        import asyncio_model as model
    elif args.model == "threading":
        import threading_model as model
    else:
        import multiprocessing_model as model

    scenario = "allofsleep" if args.scenario == "latency" else args.scenario
    timer = Timer()
    try:
        result, ops = model.run(scenario, n, args.workers, addr, timer)
    except workloads.NotExpressible as e:
        print("not expressible: %s" % e, file=sys.stderr)
        sys.stderr.flush()
        return 3
    print("weft-bench: scenario=%s model=%s workers=%d n=%d result=%d elapsed_ns=%d ops=%d"
          % (args.scenario, args.model, args.workers, n, result, timer.elapsed_ns, ops))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
