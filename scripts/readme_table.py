#!/usr/bin/env python3
"""Prints the README's comparison table from a weft-compare results.json.

    python3 scripts/readme_table.py docs/results/results.json

One row per scenario, one column per model below, the best of a row in
bold (least time, least memory). A cell a model could not run shows the
reason weft-compare gave. Every figure comes from the file: the README
quotes nothing by hand.
"""
import json
import sys

MODELS = ["weft M:N", "weft N:1", "1:1 threads", "Boost.Fiber", "Go", "Rust Tokio"]

# (scenario, label, unit, show memory): unit "ms" is the median time,
# "ns" the median ns per operation, "B" the resident bytes per task.
ROWS = [
    ("skynet", "skynet 10^5, ms / peak MiB", "ms", True),
    ("spawn", "spawn + join, ns per task", "ns", False),
    ("yield", "yield, ns per switch (one worker)", "ns", False),
    ("pingpong", "unbuffered ping-pong, ns per round trip", "ns", False),
    ("parked", "a parked task, resident bytes", "B", False),
    ("spsc", "buffered spsc, ns per item", "ns", False),
    ("mpmc", "buffered 4x4, ns per item", "ns", False),
    ("select2", "select over 2 unbuffered channels, ns per item", "ns", False),
    ("select2b", "select over 2 buffered channels, ns per item", "ns", False),
    ("mutex", "8 tasks on one mutex, ns per op", "ns", False),
    ("sieve", "Go's prime sieve, 300 primes, ms", "ms", False),
    ("workerpool", "worker pool, 20k jobs, ms", "ms", False),
    ("cpusplit", "CPU-bound split (primes < 500k), ms", "ms", False),
    ("latency", "10k requests of 50-200 ms latency, ms / peak MiB", "ms", True),
    ("fileio", "file I/O, 1k files, ms", "ms", False),
    ("scale-10k", "10^4 tasks alive at once, ms / peak MiB", "ms", True),
    ("scale-100k", "10^5 tasks alive at once, ms / peak MiB", "ms", True),
]


def fmt(v):
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def value(c, unit):
    if unit == "ms":
        return c["median_ns"] / 1e6
    if unit == "ns":
        return c["ns_per_op"]
    return c.get("bytes_per_task")


def main():
    d = json.load(open(sys.argv[1]))
    cells = {(c["scenario"], c["model"]): c for c in d["results"]}
    print("| scenario | " + " | ".join(MODELS) + " |")
    print("|---|" + "---:|" * len(MODELS))
    for scenario, label, unit, mem in ROWS:
        got = {m: cells.get((scenario, m)) for m in MODELS}
        ok = {m: c for m, c in got.items() if c and c["status"] == "ok" and value(c, unit) is not None}
        if not ok:
            continue
        # The best of a row among the cells of weft M:N's size (a model run
        # at a smaller n is shown with it, not ranked).
        n0 = got["weft M:N"]["n"] if got["weft M:N"] else None
        same = [c for c in ok.values() if unit == "B" or c["n"] == n0]
        best_t = min(value(c, unit) for c in same)
        best_m = min(c["peak_rss_mib"] for c in same) if mem else None
        out = []
        for m in MODELS:
            c = got[m]
            if c is None:
                out.append("-")
                continue
            if m not in ok:
                out.append(c["note"].replace("|", "/"))
                continue
            t = value(c, unit)
            s = fmt(t)
            ranked = c in same
            if ranked and t == best_t:
                s = f"**{s}**"
            n = c["n"]
            if unit != "B" and n != got["weft M:N"]["n"]:
                s += f" (n={n:,})"
            if mem:
                r = fmt(c["peak_rss_mib"])
                s += " / " + (f"**{r}**" if ranked and c["peak_rss_mib"] == best_m else r)
            out.append(s)
        print(f"| {label} | " + " | ".join(out) + " |")


if __name__ == "__main__":
    main()
