#!/usr/bin/python3
# The execution trace, end to end: runs trace_ping (a ping-pong of 3 round
# trips between main, fiber 1, and one spawned fiber, fiber 2, on one
# worker, then a join) with WEFT_TRACE, parses the Chrome trace-event JSON
# it writes and checks, in order, the fibers' runs, their parks with the
# wait reason, and the unpark flows from waker to woken fiber.
#
# On one worker the order of every switch is fixed: main's send parks
# (fiber 2 has not run); fiber 2's receive takes the value and wakes main,
# its send parks; main's receive takes that and wakes fiber 2, main's next
# send parks; ... after the third round trip main parks in join, fiber 2
# exits and wakes main, main exits.
#
# Usage: trace_test.py <trace_ping> <trace file to write>

import json
import os
import re
import subprocess
import sys

ROUNDS = 3


def fail(msg):
    print("trace_test: FAIL: " + msg)
    sys.exit(1)


def main():
    prog, path = sys.argv[1], sys.argv[2]
    if os.path.exists(path):
        os.remove(path)
    env = dict(os.environ, WEFT_TRACE=path)
    try:
        out = subprocess.run([prog, str(ROUNDS)], env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        fail("trace_ping did not finish within 60 s")
    if out.returncode != 0:
        fail("trace_ping exited with %d: %s" % (out.returncode, out.stderr))
    with open(path) as f:
        doc = json.load(f)
    events = doc["traceEvents"]
    if doc.get("otherData", {}).get("dropped_events") != 0:
        fail("dropped events: %r" % doc.get("otherData"))
    if any(e.get("name") == "weft_trace_dropped" for e in events):
        fail("a dropped-events note in a trace that dropped nothing")

    names = {e["tid"]: e["args"]["name"] for e in events if e.get("ph") == "M" and e["name"] == "thread_name"}
    if names.get(1) != "worker 0":
        fail("no track named 'worker 0' for tid 1: %r" % names)

    # The runs on worker 0, in time order.
    runs = sorted((e for e in events if e.get("cat") == "run" and e["ph"] == "X"), key=lambda e: e["ts"])
    if any(e["tid"] != 1 for e in runs):
        fail("a run on a track other than worker 0's")
    got = [(e["args"]["fiber"], e["args"]["ended"], e["args"].get("reason")) for e in runs]
    expected = []
    for _ in range(ROUNDS):
        expected += [(1, "park", "chan send"), (2, "park", "chan send")]
    expected += [(1, "park", "task join"), (2, "exit", None), (1, "exit", None)]
    if got != expected:
        fail("runs\n  got      %r\n  expected %r" % (got, expected))
    for e in runs:
        m = re.fullmatch(r"fiber (\d+) \(trace_ping\.cpp:(\d+)\)", e["name"])
        if m is None or int(m.group(1)) != e["args"]["fiber"]:
            fail("a run slice not named by fiber id and spawn site: %r" % e["name"])
    if runs[0]["name"] == runs[1]["name"]:
        fail("main and the spawned fiber have the same spawn site")
    # One worker runs one fiber at a time: the slices do not overlap.
    for a, b in zip(runs, runs[1:]):
        if a["ts"] + a["dur"] > b["ts"] + 1e-6:
            fail("overlapping runs at %r and %r" % (a["ts"], b["ts"]))

    # A park instant at the end of every run that parked, with its reason.
    parks = sorted((e for e in events if e.get("cat") == "park"), key=lambda e: e["ts"])
    parked_runs = [e for e in runs if e["args"]["ended"] == "park"]
    if len(parks) != len(parked_runs):
        fail("%d park events for %d parked runs" % (len(parks), len(parked_runs)))
    for p, r in zip(parks, parked_runs):
        if p["args"]["fiber"] != r["args"]["fiber"] or p["args"]["reason"] != r["args"]["reason"]:
            fail("park %r does not match run %r" % (p["args"], r["args"]))
        if abs(p["ts"] - (r["ts"] + r["dur"])) > 1e-3:
            fail("park at %r, not at the end of its run (%r)" % (p["ts"], r["ts"] + r["dur"]))
        kind = {"chan send": "chan", "task join": "join"}[p["args"]["reason"]]
        if p["args"]["kind"] != kind:
            fail("park reason %r has kind %r" % (p["args"]["reason"], p["args"]["kind"]))

    # Flows: each unpark starts a flow inside the waker's run and ends it on
    # the woken fiber's next run.
    starts = {e["id"]: e for e in events if e.get("ph") == "s"}
    ends = {e["id"]: e for e in events if e.get("ph") == "f"}
    if len(starts) != sum(1 for e in events if e.get("ph") == "s"):
        fail("flow ids repeat")
    if set(starts) != set(ends):
        fail("flow starts %r and ends %r differ" % (sorted(starts), sorted(ends)))
    unparks = {e["args"]["flow"]: e for e in events if e.get("cat") == "wake" and e["ph"] == "i"}

    def run_at(ts):
        for r in runs:
            if r["ts"] - 1e-6 <= ts <= r["ts"] + r["dur"] + 1e-6:
                return r
        return None

    flows = []
    for fid, s in sorted(starts.items(), key=lambda kv: kv[1]["ts"]):
        waker = run_at(s["ts"])
        if waker is None:
            fail("flow %d starts outside any run" % fid)
        woken = unparks[fid]["args"]["fiber"]
        nxt = next((r for r in runs if r["ts"] >= s["ts"] and r["args"]["fiber"] == woken), None)
        if nxt is None:
            fail("fiber %d woken at %r never runs again" % (woken, s["ts"]))
        f = ends[fid]
        if f.get("bp") != "e" or abs(f["ts"] - nxt["ts"]) > 1e-6:
            fail("flow %d ends at %r, not on fiber %d's next run (%r)" % (fid, f["ts"], woken, nxt["ts"]))
        flows.append((waker["args"]["fiber"], woken))
    # Fiber 2's receive wakes main, main's receive wakes fiber 2, per round
    # trip; then fiber 2's exit wakes main from its join.
    expected_flows = [(2, 1), (1, 2)] * ROUNDS + [(2, 1)]
    if flows != expected_flows:
        fail("flows (waker, woken)\n  got      %r\n  expected %r" % (flows, expected_flows))

    # The counters of the same run agree with the trace.
    counts = dict(w.split("=") for w in out.stdout.split())
    if int(counts["parks_chan"]) != 2 * ROUNDS or int(counts["parks_total"]) != len(parks):
        fail("counters %r against %d parks in the trace" % (counts, len(parks)))
    if int(counts["wakes_local"]) != len(flows):
        fail("counters %r against %d flows in the trace" % (counts, len(flows)))
    print("trace_test: ok: %d runs, %d parks, %d flows" % (len(runs), len(parks), len(flows)))


if __name__ == "__main__":
    main()
