// The claims of the seed documents (docs/claims.md), judged from a run's
// rows: each claim has a rule that names the cells it reads, compares their
// median times and prints a verdict.
//
// Design notes
// 1. A rule reads only cells whose result was checked ok. It compares two
//    models at the same sweep point (the same n): the largest point both
//    ran, where start-up matters least, unless the claim is about small
//    tasks (then the smallest).
// 2. Verdicts: "held" when every comparison the rule makes came out the way
//    the claim says, "did not hold" when at least one did not (the line says
//    which, as "k of m"), "not measured" when no comparison had both cells
//    (a model not installed, or not selected).
// 3. The thresholds are stated in each rule and in docs/claims.md: a factor
//    of 1.2 for "faster" (less is inside the noise of a shared 2-core
//    machine), 1.5 for "close to the best" (claim 4).
// 4. The verdicts are this run's, on this machine, at these sizes: the
//    report prints them under the tables, never as general truths.

#include <algorithm>
#include <string>
#include <vector>

#include "results.hpp"

namespace weft_compare {

namespace {

const row* cell_of(const std::vector<row>& rows, const std::string& sweep, const std::string& model, long n) {
  for (const auto& r : rows)
    if (r.sweep == sweep && r.model == model && r.n == n && r.status == row_status::ok && !r.runs.empty()) return &r;
  return nullptr;
}

// The sweep points where every model of `models` has an ok cell, ascending.
std::vector<long> common_points(const std::vector<row>& rows, const std::string& sweep,
                                const std::vector<std::string>& models) {
  std::vector<long> points;
  for (const auto& r : rows)
    if (r.sweep == sweep && std::find(points.begin(), points.end(), r.n) == points.end()) points.push_back(r.n);
  std::sort(points.begin(), points.end());
  std::erase_if(points, [&](long n) {
    return std::any_of(models.begin(), models.end(), [&](const std::string& m) { return !cell_of(rows, sweep, m, n); });
  });
  return points;
}

std::string ms(double ns) { return fmt(ns >= 1e8 ? "%.0f ms" : ns >= 1e7 ? "%.1f ms" : "%.2f ms", ns / 1e6); }

std::string describe(const row& r) { return r.scenario + " / " + r.model + ": " + ms(r.median_ns); }

// One comparison's outcome, collected by a claim.
struct tally {
  int held = 0, total = 0;
  std::vector<std::string> lines;  // per comparison, for `why`
  void add(bool ok, const std::string& line) {
    ++total;
    held += ok;
    lines.push_back(std::string(ok ? "yes: " : "no: ") + line);
  }
  void verdict(claim_result& c) const {
    c.verdict = total == 0 ? "not measured" : held == total ? "held" : "did not hold";
    if (total == 0) {
      if (c.why.empty()) c.why = "no comparison had both cells (models not installed or not selected)";
      return;
    }
    c.why = std::to_string(held) + " of " + std::to_string(total) + " comparisons as claimed";
    for (const auto& l : lines) c.why += "; " + l;
  }
};

// a is faster than b by at least `factor` at point n; records both cells.
bool faster(const row& a, const row& b, double factor) { return a.median_ns * factor <= b.median_ns; }

// "2.10x": how many times faster a is than b (below 1: slower).
std::string ratio(const row& a, const row& b) { return fmt("%.2fx", b.median_ns / a.median_ns); }

// Claim 1: per language, the event loop wins the I/O exercise and a
// threads-or-processes model wins the CPU exercise.
claim_result async_io_threads_cpu(const std::vector<row>& rows) {
  claim_result c{"async-io-threads-cpu", "async for I/O-bound, threads or processes for CPU-bound",
                 "per language: at the largest allofsleep and allofnet point both ran, the event loop takes at most "
                 "1.2x the time of the language's fastest threads-or-processes model; at the largest allofcpu point, "
                 "that model is at least 1.2x faster than the event loop",
                 "", "", {}};
  struct language {
    const char* async_model;
    std::vector<std::string> parallel;  // threads or processes
  };
  const language languages[] = {
      {"Python asyncio", {"Python threading", "Python multiprocessing"}},
      {"Node promises", {"Node worker_threads"}},
      {"Rust Tokio", {"Rust threads"}},
  };
  tally t;
  for (const auto& lang : languages) {
    for (const char* sweep : {"allofsleep", "allofnet", "allofcpu"}) {
      const bool cpu = std::string(sweep) == "allofcpu";
      // The best of the parallel models at the largest point it shares
      // with the event loop.
      const row* best = nullptr;
      const row* loop = nullptr;
      for (const auto& par : lang.parallel) {
        const auto pts = common_points(rows, sweep, {lang.async_model, par});
        if (pts.empty()) continue;
        const row* p = cell_of(rows, sweep, par, pts.back());
        const row* a = cell_of(rows, sweep, lang.async_model, pts.back());
        if (!best || p->n > best->n || (p->n == best->n && p->median_ns < best->median_ns)) {
          best = p;
          loop = a;
        }
      }
      if (!best) continue;
      c.cells.push_back(describe(*loop));
      c.cells.push_back(describe(*best));
      if (cpu) {
        t.add(faster(*best, *loop, 1.2), std::string(sweep) + "-" + human_count(best->n) + ": " + best->model + " " +
                                             ratio(*best, *loop) + " the speed of " + loop->model + " (needs >= 1.2x)");
      } else {
        t.add(loop->median_ns <= best->median_ns * 1.2, std::string(sweep) + "-" + human_count(best->n) + ": " +
                                                            loop->model + " " + ratio(*loop, *best) + " the speed of " +
                                                            best->model + " (needs >= 0.83x)");
      }
    }
  }
  t.verdict(c);
  return c;
}

// Claim 2: Python threads do not speed up CPU-bound work, though the
// machine could (multiprocessing shows it).
claim_result gil(const std::vector<row>& rows, const run_info& info) {
  claim_result c{"gil", "the GIL limits Python threads on CPU-bound work",
                 "at the largest allofcpu point both ran, Python threading is less than 1.2x faster than Python "
                 "asyncio (one thread, the sequential baseline); and, where multiprocessing ran there too, "
                 "multiprocessing is at least 1.2x faster than threading (the cores were there to use)",
                 "", "", {}};
  tally t;
  if (info.workers < 2 || info.nproc < 2) {
    c.verdict = "not measured";
    c.why = "needs at least 2 workers and 2 CPUs";
    return c;
  }
  const auto pts = common_points(rows, "allofcpu", {"Python threading", "Python asyncio"});
  if (!pts.empty()) {
    const row* th = cell_of(rows, "allofcpu", "Python threading", pts.back());
    const row* as = cell_of(rows, "allofcpu", "Python asyncio", pts.back());
    c.cells = {describe(*th), describe(*as)};
    t.add(!faster(*th, *as, 1.2), "threading " + ratio(*th, *as) + " the speed of asyncio at " + human_count(th->n) +
                                      " tasks (needs < 1.2x)");
    if (const row* mp = cell_of(rows, "allofcpu", "Python multiprocessing", pts.back())) {
      c.cells.push_back(describe(*mp));
      t.add(faster(*mp, *th, 1.2), "multiprocessing " + ratio(*mp, *th) + " the speed of threading (needs >= 1.2x)");
    }
  }
  t.verdict(c);
  return c;
}

// Claim 3: at small task sizes a process per task loses to one thread
// doing all the work in the same language.
claim_result process_startup(const std::vector<row>& rows) {
  claim_result c{"process-startup", "process start-up eats the gain for small tasks",
                 "at the smallest allofcpu point both ran (tasks of 1,000 numbers, tens of microseconds each), "
                 "processes are slower than one thread of the same language doing every task: C++ fork (a "
                 "process per task, forked inside the timed span) against weft N:1 by the timed span; Python "
                 "multiprocessing (a Pool(W), started outside the timed span by the contract) against Python "
                 "asyncio by the whole process's wall time, which includes the pool's start-up; the onetask "
                 "cells show the start-up per task",
                 "", "", {}};
  tally t;
  struct pairing {
    const char* proc;
    const char* one;
    bool wall;  // compare whole-process wall time rather than the timed span
  };
  const pairing pairs[] = {{"C++ fork", "weft N:1", false}, {"Python multiprocessing", "Python asyncio", true}};
  for (const auto& [proc, one, wall] : pairs) {
    const auto pts = common_points(rows, "allofcpu", {proc, one});
    if (pts.empty()) continue;
    const row* p = cell_of(rows, "allofcpu", proc, pts.front());
    const row* o = cell_of(rows, "allofcpu", one, pts.front());
    const double tp = wall ? p->wall_ns : p->median_ns, to = wall ? o->wall_ns : o->median_ns;
    const char* what = wall ? " (wall)" : "";
    c.cells.push_back(p->scenario + " / " + proc + ": " + ms(tp) + what);
    c.cells.push_back(o->scenario + " / " + one + ": " + ms(to) + what);
    t.add(tp > to, std::string(proc) + " " + fmt("%.2fx", to / tp) + " the speed of " + one + " at " +
                       human_count(p->n) + " tasks" + what + " (needs < 1x)");
    const auto one_pts = common_points(rows, "onetask", {proc, one});
    if (!one_pts.empty()) {
      const row* po = cell_of(rows, "onetask", proc, one_pts.back());
      const row* oo = cell_of(rows, "onetask", one, one_pts.back());
      c.cells.push_back(po->scenario + " / " + proc + ": " + fmt("%.0f ns per task", po->ns_per_op));
      c.cells.push_back(oo->scenario + " / " + one + ": " + fmt("%.0f ns per task", oo->ns_per_op));
    }
  }
  t.verdict(c);
  return c;
}

// Claim 4: M:N models are close to the best model on CPU-bound and on
// I/O-bound work alike.
claim_result mn_blurs(const std::vector<row>& rows) {
  claim_result c{"mn-blurs-the-line", "M:N blurs the line (fibers and goroutines are good at both)",
                 "for weft M:N and Go: at each of allofcpu, allofsleep, allofnet and pool, at the largest point the "
                 "M:N model ran, its time is at most 1.5x the fastest model's at that point",
                 "", "", {}};
  tally t;
  for (const char* mn : {"weft M:N", "Go"}) {
    for (const char* sweep : {"allofcpu", "allofsleep", "allofnet", "pool"}) {
      const row* own = nullptr;
      for (const auto& r : rows)
        if (r.sweep == sweep && r.model == mn && r.status == row_status::ok && !r.runs.empty() && (!own || r.n > own->n))
          own = &r;
      if (!own) continue;
      const row* best = nullptr;
      for (const auto& r : rows)
        if (r.sweep == sweep && r.n == own->n && r.model != mn && r.status == row_status::ok && !r.runs.empty() &&
            (!best || r.median_ns < best->median_ns))
          best = &r;
      if (!best) continue;
      c.cells.push_back(describe(*own));
      c.cells.push_back(describe(*best));
      t.add(own->median_ns <= best->median_ns * 1.5, std::string(mn) + " at " + own->scenario + " " +
                                                          fmt("%.2fx", own->median_ns / best->median_ns) +
                                                          " the time of the fastest (" + best->model +
                                                          "; needs <= 1.5x)");
    }
  }
  t.verdict(c);
  return c;
}

}  // namespace

std::vector<claim_result> judge_claims(const std::vector<row>& rows, const run_info& info) {
  return {async_io_threads_cpu(rows), gil(rows, info), process_startup(rows), mn_blurs(rows)};
}

}  // namespace weft_compare
