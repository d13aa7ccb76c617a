// weft-compare: runs weft's macro benchmark scenarios and the seed
// documents' exercises under every execution model of the registry
// (models.hpp: weft M:N, weft N:1, 1:1 threads, Boost.Fiber, Go, Rust Tokio
// and threads, Python asyncio, threading and multiprocessing, Node promises
// and worker_threads, C++ fork and process pool), each as a separate
// process, prints markdown tables and judges the seed's claims (claims.cpp).
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
//    instead of on one model's consecutive runs. The order changes between
//    rounds (round_order): a run's cost depends on the run before it, on
//    this VM most of all through memory (a page another process freed a
//    moment before is cheaper to touch first than one left free a while,
//    which the balloon driver has handed back to the host), and with one
//    fixed order a model would always follow the same neighbour. The first
//    failed run (crash, non-zero exit, timeout, unparsable output) ends the
//    repetitions for that pair: a model that crashes once is reported
//    "failed (<reason>)" and no numbers are shown for it.
// 3. Time is the child's own elapsed_ns: the workload only, after the
//    model's runtime (scheduler, event loop, interpreter, process pool) has
//    started, the same span for every model. The whole process's wall time,
//    fork to reap, is recorded beside it ("wall" in the table).
//    Peak RSS is wait4()'s ru_maxrss for that child. Linux carries the
//    high-water mark of the pre-exec image over execve(), so the figure
//    includes the forked copy of this runner (about 1 MiB); the header prints
//    that floor, measured by running /bin/true the same way.
// 4. A result that differs from the expected value marks the pair "FAILED";
//    its numbers stay visible. The runner computes the expected value itself
//    (skynet: n*(n-1)/2; sieve: the n-th prime and cpusplit: the number of
//    primes below n, both by a sequential sieve of Eratosthenes from
//    bench/common/workloads.hpp; allofcpu and pool: their prime counts by a
//    windowed sieve (scenarios.cpp); every other scenario: n, which the program
//    prints only after checking its own sums against a sequential run).
// 5. A model can be declared unable to run a size before anything is started:
//    1:1 threads for scenarios that keep one thread per task alive, checked
//    against this machine's pid_max, threads-max, vm.max_map_count and the
//    user's process limit ("n/a: thread limit (...)"); Boost.Fiber where
//    parked fibers would need more than 8 GiB (scale-1M: ~13 GiB at the
//    13.6 KB per parked fiber measured by `parked`), a lot for one cell on
//    a shared machine.
// 6. A benchmark program that exits with status 3 declares the scenario
//    outside what its model can express (Boost.Fiber has no select): the pair
//    is reported "n/a: not expressible: <the program's reason>", not as a
//    failure. Status 2 (a scenario the program does not know) is reported
//    "n/a: not implemented by <program>" the same way.
// 7. Rows exist only where a model applies (models.hpp notes 3-4): 1:1
//    threads where threads_n is not 0, 1:1 mutex+condvar only for
//    scenarios marked `condvar` (it runs at the 1:1 threads size), the
//    interpreted and process models where script_n or heavy_n is not 0.
// 8. Sizes come in three modes. --quick (the default, and what the README's
//    `bash scripts/compare.sh` runs) is meant to stay under 4 minutes on 2
//    cores with the first build: about a tenth of --normal, the scaling
//    sweep up to 10^5 tasks, the exercises up to 1,000 tasks; each scenario
//    runs 3 times, each exercise point once (the neighbouring points of its
//    sweep show the noise). --normal (5 runs per cell) adds the 10^6 sweep
//    point and larger exercise points, --full larger sizes elsewhere.
//    --runs sets the runs of every cell.
// 9. The scaling sweep is a group of scenarios sharing a `sweep` name
//    (scale-100 ... scale-1M, all `weft-bench scale`): the table lists them
//    like the rest, a second table and scaling.png show them against n.
// 10. The network scenarios (http-100, http-1k, http-10k, echo, idle-conns)
//    run servers under a load generator instead of one-shot programs, with
//    their own models (Go raw and net/http, Tokio) and figures (requests/s,
//    p50, p99, server RSS): net_scenarios.cpp. They run after the others
//    and have their own table.
// 11. A program whose line reports other `workers=` than it was given
//    says so in the result column: weft-bench's yield runs its fibers on
//    one worker whatever --workers is (as Go's GOMAXPROCS=1), so its "weft
//    M:N" row is labelled "(ran on 1 worker)".
// 12. allofnet's cells share one HTTP server (net_scenarios.cpp's
//    http_server), started before the first of them and stopped after the
//    task scenarios; every model's client gets its --addr.
// 13. An exercise's sweep stops for a model where its previous point
//    predicts (time x the ratio of the n's; for allofsleep only the time
//    above its 200 ms floor grows) a run longer than the mode's
//    budget: 2 s in --quick, 30 s in --normal, none in --full. The cell
//    says "n/a: skipped (...)" with the prediction. It keeps slow models
//    (a worker_thread or a process per task, a Pool(W) of sleepers) from
//    spending the quick run's minutes on one line of a plot.
//
// The files: scenarios.hpp/.cpp (the scenario table, expected results,
// notes 4-5), models.hpp/.cpp (the model registry: programs, command lines,
// sizes per model class), options.hpp/.cpp (the command line),
// system.hpp/.cpp (locating programs, the machine, running a child), this
// file (the cells and rounds of notes 2-3 and 6, main), report.cpp,
// plots.cpp, claims.cpp and net_scenarios.cpp (results.hpp).

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

#include "models.hpp"
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
  run_record r{*elapsed, *ops, *result, c.max_rss_kib, number("bytes_per_task"), "", -1, 0, std::nullopt};
  if (const auto it = f->find("variant"); it != f->end()) r.variant = it->second;
  r.workers = number("workers").value_or(-1);
  for (const auto& [key, value] : *f)
    if (key.starts_with("stats.")) r.stats += (r.stats.empty() ? "" : " ") + key.substr(6) + "=" + value;
  return r;
}

// ---------------------------------------------------------------------------
// One row of the table: a (scenario, model) pair and its runs

void summarize(row& r) {
  std::vector<double> times, rss, bpt, wall;
  for (const auto& run : r.runs) {
    times.push_back(static_cast<double>(run.elapsed_ns));
    wall.push_back(static_cast<double>(run.wall_ns));
    rss.push_back(static_cast<double>(run.max_rss_kib) / 1024.0);
    if (run.bytes_per_task) bpt.push_back(static_cast<double>(*run.bytes_per_task));
  }
  r.median_ns = median(times);
  r.min_ns = *std::min_element(times.begin(), times.end());
  r.max_ns = *std::max_element(times.begin(), times.end());
  r.ns_per_op = r.median_ns / static_cast<double>(r.runs.front().ops);
  r.rss_mib = median(rss);
  r.wall_ns = median(wall);
  if (!bpt.empty()) r.bytes_per_task = median(bpt);
}

// Exit status of a benchmark program for a scenario its model cannot
// express (note 6), and for a scenario the program does not know.
constexpr int kExitUnsupported = 3;
constexpr int kExitUnknown = 2;

// One (scenario, model) cell while its runs are under way.
struct cell {
  row r;
  std::vector<std::string> argv;
  bool active = false;  // still to be run (not n/a, not failed)
  long workers = -1;    // the workers it was asked for (-1: the model takes none)
};

cell start_cell(const scenario_spec& s, const model_info& m, long n, const options& o, const programs& p,
                const std::string& addr, const std::string& addr_error) {
  cell c;
  row& r = c.r;
  r.scenario = s.name;
  r.model = m.name;
  r.sweep = s.sweep;
  r.n = n;
  r.expected = expected_result(s, n);
  c.workers = m.id == model_id::weft_n1                                 ? 1
              : m.id == model_id::threads || m.id == model_id::condvar ? -1
                                                                       : o.workers;
  std::string why_not = model_unable(m, s, n);
  if (why_not.empty() && !addr_error.empty()) why_not = "n/a: " + addr_error;
  if (why_not.empty()) c.argv = model_command(m, s, n, o.workers, addr, p, why_not);
  if (!why_not.empty()) {
    r.status = row_status::not_applicable;
    r.note = why_not;
    return c;
  }
  c.active = true;
  return c;
}

// Runs c once (run i of o.runs); prints a short progress word.
void run_cell_once(cell& c, int i, int runs, const options& o) {
  row& r = c.r;
  const child_outcome out = run_child(c.argv, std::chrono::seconds(o.timeout_s));
  if (out.exit_status == kExitUnsupported || out.exit_status == kExitUnknown) {  // note 6
    r.status = row_status::not_applicable;
    std::string why = out.err_tail;
    if (why.starts_with("not expressible: ")) why = why.substr(17);
    if (out.exit_status == kExitUnsupported) {
      r.note = "n/a: not expressible" + (why.empty() ? std::string(" in this model") : ": " + why);
    } else {
      const std::string program = fs::path(c.argv.size() > 1 && c.argv[0].find("python") != std::string::npos
                                               ? c.argv[1] : c.argv[0]).filename().string();
      r.note = "n/a: not implemented by " + program + (why.empty() ? std::string() : " (" + why + ")");
    }
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
             (runs > 1 ? ", run " + std::to_string(i + 1) + "/" + std::to_string(runs) : std::string()) + ")";
    r.runs.clear();
    c.active = false;
    std::fprintf(stderr, " %s: %s", r.model.c_str(), r.note.c_str());
    return;
  }
  rec->wall_ns = out.wall_ns;
  if (rec->result != r.expected && r.status == row_status::ok) {
    r.status = row_status::wrong_result;
    r.note = "FAILED (result " + std::to_string(rec->result) + ", expected " + std::to_string(r.expected) + ")";
  }
  std::fprintf(stderr, " %s %.1f ms", r.model.c_str(), static_cast<double>(rec->elapsed_ns) / 1e6);
  if (!rec->stats.empty()) std::fprintf(stderr, " [%s]", rec->stats.c_str());
  r.runs.push_back(std::move(*rec));
}

// The order in which round i runs n cells (note 2): forward in even rounds,
// backward in odd ones, and started one cell further on each round, so that
// no model follows the same neighbour in every round.
std::vector<std::size_t> round_order(std::size_t n, int i) {
  std::vector<std::size_t> order(n);
  for (std::size_t k = 0; k < n; ++k) order[k] = (k + static_cast<std::size_t>(i)) % n;
  if (i % 2 == 1) std::reverse(order.begin(), order.end());
  return order;
}

// Runs the cells of one scenario round by round (note 2): every model once,
// then every model again, so that a spell of noise on the shared machine
// falls on all of them rather than on one model's consecutive runs.
void run_scenario(std::vector<cell>& cells, const options& o, int runs, const std::string& progress) {
  const row& first = cells.front().r;
  for (const cell& c : cells)
    if (!c.active) std::fprintf(stderr, "%s %s / %s: %s\n", progress.c_str(), first.scenario.c_str(), c.r.model.c_str(), c.r.note.c_str());
  for (int i = 0; i < runs; ++i) {
    if (std::none_of(cells.begin(), cells.end(), [](const cell& c) { return c.active; })) break;
    std::fprintf(stderr, "%s %s run %d/%d:", progress.c_str(), first.scenario.c_str(), i + 1, runs);
    for (const std::size_t k : round_order(cells.size(), i))
      if (cells[k].active) run_cell_once(cells[k], i, runs, o);
    std::fputc('\n', stderr);
  }
  for (cell& c : cells) {
    if (c.r.runs.empty()) continue;
    if (c.r.status == row_status::ok) {
      c.r.note = "ok";
      if (!c.r.runs.front().variant.empty()) c.r.note += " (" + c.r.runs.front().variant + ")";
    }
    // Note 11: a program that ran on other than the workers it was given
    // (weft-bench's yield runs on one thread, as Go's GOMAXPROCS=1) says so.
    const long ran = c.r.runs.front().workers;
    if (c.workers > 0 && ran > 0 && ran != c.workers && c.r.status != row_status::failed)
      c.r.note += " (ran on " + std::to_string(ran) + (ran == 1 ? " worker)" : " workers)");
    summarize(c.r);
  }
}

bool write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out.flush());
}

// Whether --scenarios selects s (empty: all).
bool scenario_selected(const scenario_spec& s, const std::vector<std::string>& names) {
  if (names.empty()) return true;
  return std::any_of(names.begin(), names.end(), [&](const std::string& n) {
    return n == s.name || (*s.sweep != '\0' && n == s.sweep) || (n == "exercises" && s.exercise);
  });
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse_options(argc, argv);
  if (o.stats) setenv("WEFT_BENCH_STATS", "1", 1);  // inherited by weft-bench (bench_model.hpp)
  const fs::path here = self_dir();
  programs given;
  given.weft = o.weft_bench;
  given.boost_fiber = o.boost_fiber_bench;
  given.go = o.go_bench;
  given.rust = o.rust_bench;
  given.procs = o.procs_bench;
  given.python = o.python;
  given.node = o.node;
  given.pybench = o.pybench;
  given.nodebench = o.nodebench;
  const programs p = locate_programs(given);
  raise_fd_limit();  // allofnet: up to 5,000 connections in one client

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
  mi.timeout_s = o.timeout_s;
  mi.weft_bench = p.weft;
  mi.boost_fiber_bench = p.boost_fiber;
  mi.go_bench = p.go;
  mi.rust_bench = p.rust;
  mi.procs_bench = p.procs;
  mi.python = p.python + " " + p.pybench;
  mi.node = p.node + " " + p.nodebench;
  if (is_executable("/bin/true")) {
    mi.rss_floor_mib = static_cast<double>(run_child({"/bin/true"}, 10s).max_rss_kib) / 1024.0;
  }

  // The (scenario, model) pairs to run, in table order, with the size each
  // model runs the scenario at (models.hpp note 3).
  const size_mode mode = o.mode;
  struct pair {
    const scenario_spec* s;
    const model_info* m;
    long n;
  };
  std::vector<pair> pairs;
  for (const auto& s : kScenarios) {
    if (!scenario_selected(s, o.scenarios)) continue;
    for (const auto& m : kModels) {
      if (!model_selected(m, o.models)) continue;
      if (const long n = model_size(m, s, mode); n > 0) pairs.push_back({&s, &m, n});
    }
  }
  // Note 8: --quick runs a scenario 3 times and an exercise point once (the
  // sweep's neighbouring points show its noise) unless --runs is given.
  auto runs_of = [&](const scenario_spec& s) {
    if (mode != size_mode::quick || o.runs_given) return o.runs;
    return s.exercise ? 1 : 3;
  };
  mi.runs = o.runs_given || mode != size_mode::quick ? o.runs : 3;

  static constexpr const char* kModeNames[] = {"quick", "normal", "full"};
  if (!pairs.empty())
    std::fprintf(stderr, "weft-compare: %zu cells, workers=%d, --%s\n", pairs.size(), o.workers, kModeNames[static_cast<int>(mode)]);
  const auto started = std::chrono::steady_clock::now();
  std::vector<row> rows;
  http_server server;  // allofnet's, started before its first cell
  std::string server_error;
  // Note 13: per (sweep, model), the last point that ran ok and its median.
  const double budget_ns = mode == size_mode::quick ? 2e9 : mode == size_mode::normal ? 30e9 : 0;
  std::map<std::pair<std::string, std::string>, std::pair<long, double>> last_point;
  for (std::size_t i = 0; i < pairs.size();) {
    // The pairs of one scenario are adjacent (table order).
    std::vector<cell> cells;
    const scenario_spec* s = pairs[i].s;
    const std::size_t group_start = i;
    const bool net = std::string_view(s->program) == "allofnet";
    if (net && !server.running() && server.start(p.go, p.weft, o.workers, server_error)) {
      mi.http_server = server.label();
      std::fprintf(stderr, "weft-compare: allofnet server: %s on %s\n", server.label().c_str(), server.addr().c_str());
    }
    const std::string addr = net && server.running() ? server.addr() : "";
    const std::string addr_error = net && !server.running() ? server_error : "";
    for (; i < pairs.size() && pairs[i].s == s; ++i) {
      cells.push_back(start_cell(*s, *pairs[i].m, pairs[i].n, o, p, addr, addr_error));
      cell& c = cells.back();
      const auto last = last_point.find({s->sweep, c.r.model});
      if (c.active && s->exercise && budget_ns > 0 && last != last_point.end()) {
        // allofsleep's tasks wait up to 200 ms whatever n is: only the time
        // above that floor grows with n.
        const double floor_ns = std::string_view(s->program) == "allofsleep" ? 200e6 : 0;
        const double predicted = floor_ns + std::max(0.0, last->second.second - floor_ns) *
                                                static_cast<double>(c.r.n) / static_cast<double>(last->second.first);
        if (predicted > budget_ns) {
          c.active = false;
          c.r.status = row_status::not_applicable;
          c.r.note = "n/a: skipped (n=" + std::to_string(last->second.first) + " took " +
                     fmt("%.0f", last->second.second / 1e6) + " ms, so n=" + std::to_string(c.r.n) + " ~" +
                     fmt("%.0f", predicted / 1e9) + " s: over --" + kModeNames[static_cast<int>(mode)] +
                     "'s budget of " + fmt("%.0f", budget_ns / 1e9) + " s a run)";
        }
      }
    }
    const std::string progress = "[" + std::to_string(group_start + 1) + "-" + std::to_string(i) + "/" +
                                 std::to_string(pairs.size()) + "]";
    run_scenario(cells, o, runs_of(*s), progress);
    for (cell& c : cells) {
      if (s->exercise && c.r.status == row_status::ok && !c.r.runs.empty())
        last_point[{s->sweep, c.r.model}] = {c.r.n, c.r.median_ns};
      rows.push_back(std::move(c.r));
    }
  }
  server.stop();
  // Note 10: the network scenarios, after the rest.
  weft_compare::net_options no;
  no.weft_bench = p.weft;
  no.go_bench = p.go;
  no.tokio_bench = locate(o.tokio_bench, {here / ".." / "tokio" / "tokio-bench", here / "tokio-bench"});
  no.echo_client = locate(o.echo_client, {here / ".." / "echo-client", here / "echo-client"});
  no.wrk = o.wrk;
  no.workers = o.workers;
  no.runs = o.runs;
  no.runs_given = o.runs_given;
  no.mode = static_cast<int>(mode);
  no.scenarios = o.scenarios;
  // --models alone picks task models: the network's servers run only when
  // --scenarios names them (or nothing narrows the run).
  if (no.scenarios.empty() && !o.models.empty()) no.scenarios = {"-"};
  for (row& r : weft_compare::run_net_scenarios(no, mi)) rows.push_back(std::move(r));

  mi.mode = kModeNames[static_cast<int>(mode)];
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
                                 std::to_string(mi.runs) + " runs per cell" +
                                 (mi.mode == "quick" && !o.runs_given ? " (exercise points: 1)" : "") + ", commit " + mi.commit +
                                 ", " + mi.date;
    std::string why;
    if (weft_compare::write_plots(dir.string(), rows, models, subtitle, why)) {
      std::fprintf(stderr, "weft-compare: wrote the plots into %s (gnuplot script: %s)\n", dir.c_str(),
                   (dir / "plots.gp").c_str());
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
