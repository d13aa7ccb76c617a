// weft-compare: runs weft's macro benchmark scenarios under every execution
// model (weft M:N, weft N:1, 1:1 threads) and the two outside references
// (Boost.Fiber, Go), each as a separate process, and prints one markdown table.
// For pingpong and mpmc a sixth model, "1:1 mutex+condvar" (weft-bench
// --model=condvar: threads over a std::mutex + std::condition_variable queue,
// no weft), shows what weft::chan costs 1:1 threads against the classic
// blocking queue. With --out=DIR it also writes results.md, results.json
// and, through gnuplot, time.png, memory.png and scaling.png (plots.cpp).
//
// Design notes
// 1. Every benchmark program prints one line
//      weft-bench: scenario=<s> model=<m> workers=<w> n=<n> result=<int>
//                  elapsed_ns=<int> ops=<int> [bytes_per_task=<int>] [...]
//    and is otherwise a black box. The runner never links weft: it compares
//    processes, so a crashing model cannot take the runner down.
// 2. One (scenario, model) pair is run --runs times, one child at a time
//    (the machine has 2 cores; overlapping runs would measure each other),
//    in rounds: each round runs every model of the scenario once, so a spell
//    of noise from the machine's neighbours falls on all models alike
//    instead of on one model's consecutive runs. The first failed run (crash, non-zero exit, timeout, unparsable
//    output) ends the repetitions for that pair: a model that crashes once is
//    reported "failed (<reason>)" and no numbers are shown for it.
// 3. Time is the child's own elapsed_ns (workload only, no process start-up).
//    Peak RSS is wait4()'s ru_maxrss for that child. Linux carries the
//    high-water mark of the pre-exec image over execve(), so the figure
//    includes the forked copy of this runner (about 1 MiB); the header prints
//    that floor, measured by running /bin/true the same way.
// 4. A result that differs from the expected value marks the pair "FAILED";
//    its numbers stay visible. The runner computes the expected value itself
//    (skynet: n*(n-1)/2; sieve: the n-th prime and cpusplit: the number of
//    primes below n, both by a sequential sieve of Eratosthenes from
//    bench/common/workloads.hpp; every other scenario: n, which the program
//    prints only after checking its own sums against a sequential run).
// 5. A model can be declared unable to run a size before anything is started:
//    1:1 threads for scenarios that keep one thread per task alive, checked
//    against this machine's pid_max, threads-max, vm.max_map_count and the
//    user's process limit ("n/a: thread limit (...)"); Boost.Fiber where
//    parked fibers would need more than 8 GiB (scale-1M: ~10 GiB at the
//    10.6 KB per parked fiber measured by `parked`), a lot for one cell on
//    a shared machine.
// 6. A benchmark program that exits with status 3 declares the scenario
//    outside what its model can express (Boost.Fiber has no select): the pair
//    is reported "n/a: not supported by this model", not as a failure.
// 7. Rows exist only where a model applies: 1:1 threads where threads_n is
//    not 0, 1:1 mutex+condvar only for scenarios marked `condvar` (it runs
//    at the 1:1 threads size).
// 8. Sizes come in three modes. --quick (the default, and what the README's
//    `bash scripts/compare.sh` runs) keeps the whole run under 3 minutes on
//    2 cores: about a tenth of --normal, and the scaling sweep up to 10^5
//    tasks. --normal adds the 10^6 sweep point, --full larger sizes
//    elsewhere. Every mode runs each cell 5 times (--runs to change).
// 9. The scaling sweep is a group of scenarios sharing a `sweep` name
//    (scale-100 ... scale-1M, all `weft-bench scale`): the table lists them
//    like the rest, a second table and scaling.png show them against n.
// 10. The network scenarios (http-100, http-1k, http-10k, echo, idle-conns)
//    run servers under a load generator instead of one-shot programs, with
//    their own models (Go raw and net/http, Tokio) and figures (requests/s,
//    p50, p99, server RSS): net_scenarios.cpp. They run after the others
//    and have their own table.
//
// The files: scenarios.hpp/.cpp (the scenario and model tables, expected
// results, notes 4-5), options.hpp/.cpp (the command line), system.hpp/.cpp
// (locating programs, the machine, running a child), this file (the cells
// and rounds of notes 2-3 and 6, main), report.cpp, plots.cpp and
// net_scenarios.cpp (results.hpp).

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "options.hpp"
#include "results.hpp"
#include "scenarios.hpp"
#include "system.hpp"

namespace {

using namespace weft_compare;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// Parsing the `weft-bench:` line

using fields = std::map<std::string, std::string, std::less<>>;

std::optional<fields> parse_bench_line(std::string_view out) {
  std::optional<fields> found;
  std::istringstream lines{std::string(out)};
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("weft-bench:")) continue;
    fields f;  // the last such line wins
    std::istringstream words(line.substr(11));
    for (std::string w; words >> w;) {
      const auto eq = w.find('=');
      if (eq != std::string::npos && eq > 0) f[w.substr(0, eq)] = w.substr(eq + 1);
    }
    found = std::move(f);
  }
  return found;
}

// Turns a finished child into a record, or an error message.
std::optional<run_record> to_record(const child_outcome& c, std::string& error) {
  const auto f = parse_bench_line(c.out);
  if (!f) {
    error = "no weft-bench line in output";
    return std::nullopt;
  }
  auto number = [&](const char* key) -> std::optional<long> {
    const auto it = f->find(key);
    return it == f->end() ? std::nullopt : parse_long(it->second);
  };
  const auto elapsed = number("elapsed_ns"), ops = number("ops"), result = number("result");
  if (!elapsed || !ops || !result || *ops <= 0) {
    error = "malformed weft-bench line";
    return std::nullopt;
  }
  run_record r{*elapsed, *ops, *result, c.max_rss_kib, number("bytes_per_task"), "", std::nullopt, ""};
  if (const auto it = f->find("variant"); it != f->end()) r.variant = it->second;
  for (const auto& [key, value] : *f)
    if (key.starts_with("stats.")) r.stats += (r.stats.empty() ? "" : " ") + key.substr(6) + "=" + value;
  return r;
}

// ---------------------------------------------------------------------------
// One row of the table: a (scenario, model) pair and its runs

void summarize(row& r) {
  std::vector<double> times, rss, bpt;
  for (const auto& run : r.runs) {
    times.push_back(static_cast<double>(run.elapsed_ns));
    rss.push_back(static_cast<double>(run.max_rss_kib) / 1024.0);
    if (run.bytes_per_task) bpt.push_back(static_cast<double>(*run.bytes_per_task));
  }
  r.median_ns = median(times);
  r.min_ns = *std::min_element(times.begin(), times.end());
  r.max_ns = *std::max_element(times.begin(), times.end());
  r.ns_per_op = r.median_ns / static_cast<double>(r.runs.front().ops);
  r.rss_mib = median(rss);
  if (!bpt.empty()) r.bytes_per_task = median(bpt);
}

struct binaries {
  std::string weft, boost_fiber, go;
};

// The command line of `model` for one run, or the reason it cannot run.
std::vector<std::string> command_for(model_id m, const scenario_spec& s, long n, const options& o,
                                     const binaries& b, std::string& why_not) {
  const std::string ns = "--n=" + std::to_string(n);
  const std::string ws = "--workers=" + std::to_string(o.workers);
  auto need = [&](const std::string& path, const std::string& missing) {
    if (!is_executable(path)) why_not = missing;
    return why_not.empty();
  };
  switch (m) {
    case model_id::weft_mn:
      if (!need(b.weft, "not built: " + b.weft)) return {};
      return {b.weft, s.program, "--model=fibers", ws, ns};
    case model_id::weft_n1:
      if (!need(b.weft, "not built: " + b.weft)) return {};
      return {b.weft, s.program, "--model=fibers", "--workers=1", ns};
    case model_id::threads:
      if (!need(b.weft, "not built: " + b.weft)) return {};
      return {b.weft, s.program, "--model=threads", ns};
    case model_id::condvar:
      if (!need(b.weft, "not built: " + b.weft)) return {};
      return {b.weft, s.program, "--model=condvar", ns};
    case model_id::boost_fiber:
      if (!need(b.boost_fiber, "not built: " + b.boost_fiber)) return {};
      return {b.boost_fiber, s.program, ws, ns};
    case model_id::go:
      if (!need(b.go, "go not installed")) return {};
      return {b.go, s.program, "-workers", std::to_string(o.workers), "-n", std::to_string(n)};
  }
  return {};
}

// Exit status of a benchmark program for a scenario its model cannot
// express (note 6).
constexpr int kExitUnsupported = 3;

// One (scenario, model) cell while its runs are under way.
struct cell {
  row r;
  std::vector<std::string> argv;
  bool active = false;  // still to be run (not n/a, not failed)
};

cell start_cell(const scenario_spec& s, const model_info& m, long n, const options& o, const binaries& b) {
  cell c;
  row& r = c.r;
  r.scenario = s.name;
  r.model = m.name;
  r.sweep = s.sweep;
  r.n = n;
  r.expected = expected_result(s, n);
  std::string why_not;
  if (m.id == model_id::threads || m.id == model_id::condvar) {
    if (auto reason = threads_unable(s, n)) why_not = *reason;
  }
  if (m.id == model_id::boost_fiber) {
    if (auto reason = boost_fiber_unable(s, n)) why_not = *reason;
  }
  if (why_not.empty()) c.argv = command_for(m.id, s, n, o, b, why_not);
  if (!why_not.empty()) {
    r.status = row_status::not_applicable;
    r.note = why_not;
    return c;
  }
  c.active = true;
  return c;
}

// Runs c once (run i of o.runs); prints a short progress word.
void run_cell_once(cell& c, int i, const options& o) {
  row& r = c.r;
  const child_outcome out = run_child(c.argv, std::chrono::seconds(o.timeout_s));
  if (out.exit_status == kExitUnsupported) {  // note 6
    r.status = row_status::not_applicable;
    r.note = "n/a: not supported by this model";
    r.runs.clear();
    c.active = false;
    std::fprintf(stderr, " %s: n/a", r.model.c_str());
    return;
  }
  std::string error = out.failure;
  std::optional<run_record> rec;
  if (error.empty()) rec = to_record(out, error);
  if (!rec) {  // note 2: stop at the first failed run
    r.status = row_status::failed;
    r.note = "failed (" + error +
             (o.runs > 1 ? ", run " + std::to_string(i + 1) + "/" + std::to_string(o.runs) : std::string()) + ")";
    r.runs.clear();
    c.active = false;
    std::fprintf(stderr, " %s: %s", r.model.c_str(), r.note.c_str());
    return;
  }
  if (rec->result != r.expected && r.status == row_status::ok) {
    r.status = row_status::wrong_result;
    r.note = "FAILED (result " + std::to_string(rec->result) + ", expected " + std::to_string(r.expected) + ")";
  }
  std::fprintf(stderr, " %s %.1f ms", r.model.c_str(), static_cast<double>(rec->elapsed_ns) / 1e6);
  if (!rec->stats.empty()) std::fprintf(stderr, " [%s]", rec->stats.c_str());
  r.runs.push_back(std::move(*rec));
}

// Runs the cells of one scenario round by round (note 2): every model once,
// then every model again, so that a spell of noise on the shared machine
// falls on all of them rather than on one model's consecutive runs.
void run_scenario(std::vector<cell>& cells, const options& o, const std::string& progress) {
  const row& first = cells.front().r;
  for (const cell& c : cells)
    if (!c.active) std::fprintf(stderr, "%s %s / %s: %s\n", progress.c_str(), first.scenario.c_str(), c.r.model.c_str(), c.r.note.c_str());
  for (int i = 0; i < o.runs; ++i) {
    if (std::none_of(cells.begin(), cells.end(), [](const cell& c) { return c.active; })) break;
    std::fprintf(stderr, "%s %s run %d/%d:", progress.c_str(), first.scenario.c_str(), i + 1, o.runs);
    for (cell& c : cells)
      if (c.active) run_cell_once(c, i, o);
    std::fputc('\n', stderr);
  }
  for (cell& c : cells) {
    if (c.r.runs.empty()) continue;
    if (c.r.status == row_status::ok) {
      c.r.note = "ok";
      if (!c.r.runs.front().variant.empty()) c.r.note += " (" + c.r.runs.front().variant + ")";
    }
    summarize(c.r);
  }
}

bool write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out.flush());
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse_options(argc, argv);
  if (o.stats) setenv("WEFT_BENCH_STATS", "1", 1);  // inherited by weft-bench (bench_model.hpp)
  const fs::path here = self_dir();
  const binaries b{
      locate(o.weft_bench, {here / ".." / "weft-bench", here / "weft-bench"}),
      locate(o.boost_fiber_bench,
             {here / ".." / "boost_fiber" / "boost-fiber-bench", here / "boost-fiber-bench"}),
      locate(o.go_bench, {here / ".." / "go" / "go-bench", here / "go-bench"}),
  };

  run_info mi;
  mi.nproc = sysconf(_SC_NPROCESSORS_ONLN);
  mi.cpu = cpu_model();
  mi.kernel = kernel();
#if defined(__clang__)
  mi.compiler = __VERSION__;
#else
  mi.compiler = std::string("GCC ") + __VERSION__;
#endif
  mi.commit = git_commit();
  mi.date = utc_now();
  mi.workers = o.workers;
  mi.runs = o.runs;
  mi.timeout_s = o.timeout_s;
  mi.weft_bench = b.weft;
  mi.boost_fiber_bench = b.boost_fiber;
  mi.go_bench = b.go;
  if (is_executable("/bin/true")) {
    mi.rss_floor_mib = static_cast<double>(run_child({"/bin/true"}, 10s).max_rss_kib) / 1024.0;
  }

  // The (scenario, model) pairs to run, in table order.
  const int mode = static_cast<int>(o.mode);
  std::vector<std::pair<const scenario_spec*, const model_info*>> pairs;
  for (const auto& s : kScenarios) {
    if (!o.scenarios.empty() &&
        std::find(o.scenarios.begin(), o.scenarios.end(), s.name) == o.scenarios.end() &&
        (*s.sweep == '\0' ||
         std::find(o.scenarios.begin(), o.scenarios.end(), s.sweep) == o.scenarios.end())) {
      continue;
    }
    if (s.n[mode] == 0) continue;  // not at this size mode
    for (const auto& m : kModels) {
      if (m.id == model_id::threads && s.threads_n[mode] == 0) continue;  // no such row
      if (m.id == model_id::condvar && !s.condvar) continue;              // note 7
      pairs.emplace_back(&s, &m);
    }
  }

  static constexpr const char* kModeNames[] = {"quick", "normal", "full"};
  if (!pairs.empty())
    std::fprintf(stderr, "weft-compare: %zu cells x %d runs, workers=%d, --%s\n", pairs.size(),
                 o.runs, o.workers, kModeNames[mode]);
  const auto started = std::chrono::steady_clock::now();
  std::vector<row> rows;
  for (std::size_t i = 0; i < pairs.size();) {
    // The pairs of one scenario are adjacent (table order).
    std::vector<cell> cells;
    const scenario_spec* s = pairs[i].first;
    const std::size_t group_start = i;
    for (; i < pairs.size() && pairs[i].first == s; ++i) {
      const model_info* m = pairs[i].second;
      const long threads_n = s->threads_n[mode] == kSame ? s->n[mode] : s->threads_n[mode];
      const bool one_to_one = m->id == model_id::threads || m->id == model_id::condvar;
      cells.push_back(start_cell(*s, *m, one_to_one ? threads_n : s->n[mode], o, b));
    }
    const std::string progress = "[" + std::to_string(group_start + 1) + "-" + std::to_string(i) + "/" +
                                 std::to_string(pairs.size()) + "]";
    run_scenario(cells, o, progress);
    for (cell& c : cells) rows.push_back(std::move(c.r));
  }
  // Note 10: the network scenarios, after the rest.
  weft_compare::net_options no;
  no.weft_bench = b.weft;
  no.go_bench = b.go;
  no.tokio_bench = locate(o.tokio_bench, {here / ".." / "tokio" / "tokio-bench", here / "tokio-bench"});
  no.echo_client = locate(o.echo_client, {here / ".." / "echo-client", here / "echo-client"});
  no.wrk = o.wrk;
  no.workers = o.workers;
  no.runs = o.runs;
  no.runs_given = o.runs_given;
  no.mode = mode;
  no.scenarios = o.scenarios;
  for (row& r : weft_compare::run_net_scenarios(no, mi)) rows.push_back(std::move(r));

  mi.mode = kModeNames[mode];
  mi.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  const std::string md = markdown(mi, rows);
  std::fputs(md.c_str(), stdout);
  std::fflush(stdout);

  if (!o.out_dir.empty()) {
    std::error_code ec;
    fs::create_directories(o.out_dir, ec);
    const fs::path dir(o.out_dir);
    if (ec || !write_file(dir / "results.md", md) ||
        !write_file(dir / "results.json", json(mi, rows))) {
      std::fprintf(stderr, "weft-compare: cannot write results to %s\n", o.out_dir.c_str());
      return 1;
    }
    std::fprintf(stderr, "weft-compare: wrote %s and %s\n", (dir / "results.md").c_str(),
                 (dir / "results.json").c_str());
    std::vector<std::string> models;
    for (const auto& m : kModels) models.emplace_back(m.name);
    const std::string subtitle = std::to_string(mi.nproc) + " CPUs, " +
                                 std::to_string(o.workers) + " workers, --" + mi.mode + ", " +
                                 std::to_string(o.runs) + " runs per cell, commit " + mi.commit +
                                 ", " + mi.date;
    std::string why;
    if (weft_compare::write_plots(dir.string(), rows, models, subtitle, why)) {
      std::fprintf(stderr, "weft-compare: wrote %s, %s and %s (gnuplot script: %s)\n",
                   (dir / "time.png").c_str(), (dir / "memory.png").c_str(),
                   (dir / "scaling.png").c_str(), (dir / "plots.gp").c_str());
    } else {
      std::fprintf(stderr, "weft-compare: note: %s\n", why.c_str());
    }
  }
  // Exit status 1 if any cell failed or produced a wrong result (not for n/a).
  const bool any_bad = std::any_of(rows.begin(), rows.end(), [](const row& r) {
    return r.status == row_status::failed || r.status == row_status::wrong_result;
  });
  return any_bad ? 1 : 0;
}
