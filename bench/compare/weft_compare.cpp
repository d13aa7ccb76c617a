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

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../common/workloads.hpp"
#include "results.hpp"

namespace {

using weft_compare::fmt;
using weft_compare::human_count;
using weft_compare::row;
using weft_compare::row_status;
using weft_compare::run_info;
using weft_compare::run_record;
using weft_compare::last_line;
using weft_compare::median;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// Models and scenarios

enum class model_id { weft_mn, weft_n1, threads, condvar, boost_fiber, go };

struct model_info {
  model_id id;
  const char* name;  // as shown in the table
};

constexpr model_info kModels[] = {
    {model_id::weft_mn, "weft M:N"},
    {model_id::weft_n1, "weft N:1"},
    {model_id::threads, "1:1 threads"},
    {model_id::condvar, "1:1 mutex+condvar"},
    {model_id::boost_fiber, "Boost.Fiber"},
    {model_id::go, "Go"},
};

enum class size_mode { quick, normal, full };

// What a correct run prints as `result` (design note 4).
enum class expect { n, skynet_sum, nth_prime, primes_below };

struct scenario_spec {
  const char* name;     // as shown and as given to --scenarios
  const char* program;  // scenario argument of the benchmark programs
  long n[3];            // problem size for the fiber models, by size_mode; 0 = not run
  long threads_n[3];    // problem size for 1:1 threads; 0 = no threads row
  bool condvar;         // a 1:1 mutex+condvar row, at the threads_n size
  expect result = expect::n;
  const char* sweep = "";  // the scaling sweep a row belongs to (plotted against n)
};

constexpr long kSame = -1;  // threads_n: same as n

// The default scenario list. Sizes: quick = about a tenth of normal (the
// README's command, under 3 minutes on 2 cores), full = larger where the
// fiber models can take it.
constexpr scenario_spec kScenarios[] = {
    {"skynet", "skynet", {100'000, 1'000'000, 1'000'000}, {kSame, kSame, kSame}, false, expect::skynet_sum},
    {"skynet-small", "skynet", {1'000, 10'000, 10'000}, {kSame, kSame, kSame}, false, expect::skynet_sum},
    {"spawn", "spawn", {10'000, 100'000, 1'000'000}, {1'000, 10'000, 10'000}, false},
    {"yield", "yield", {100'000, 1'000'000, 10'000'000}, {0, 0, 0}, false},
    {"pingpong", "pingpong", {100'000, 1'000'000, 10'000'000}, {10'000, 100'000, 1'000'000}, true},
    {"parked", "parked", {10'000, 100'000, 1'000'000}, {1'000, 10'000, 10'000}, false},
    // The channel layer: buffered (capacity 1024) and unbuffered channels,
    // select, and the mutex. n items (or lock rounds) in total. 10^6 even in
    // --quick (10-250 ms a run): at 10^5 a run lasts ~10 ms, and its first
    // few milliseconds, before the fibers have settled on their workers,
    // weigh on the per-item figure (seen as 95-105 instead of 72-80 ns per
    // select2 item on 2 workers). Boost.Fiber has no select, and its
    // pingpong stays at 10^5 in --quick: 0.3-5 s per 10^5 round trips.
    {"spsc", "spsc", {1'000'000, 1'000'000, 10'000'000}, {20'000, 200'000, 1'000'000}, false},
    {"mpmc", "mpmc", {1'000'000, 1'000'000, 10'000'000}, {20'000, 200'000, 1'000'000}, true},
    {"select2", "select2", {1'000'000, 1'000'000, 10'000'000}, {20'000, 200'000, 1'000'000}, false},
    {"select2b", "select2b", {1'000'000, 1'000'000, 10'000'000}, {20'000, 200'000, 1'000'000}, false},
    {"mutex", "mutex", {1'000'000, 1'000'000, 10'000'000}, {kSame, kSame, kSame}, false},
    // Application-shaped programs (bench/weft/app_scenarios.cpp).
    // sieve: n primes, one filter task each (1:1: n threads in a chain).
    {"sieve", "sieve", {300, 1'000, 3'000}, {kSame, 500, 1'000}, false, expect::nth_prime},
    // workerpool: n jobs through 8 workers.
    {"workerpool", "workerpool", {20'000, 100'000, 1'000'000}, {kSame, kSame, kSame}, false},
    // cpusplit: primes below n, one task per 10,000 numbers.
    {"cpusplit", "cpusplit", {500'000, 2'000'000, 10'000'000}, {kSame, kSame, kSame}, false,
     expect::primes_below},
    // latency: n tasks each sleeping 50-200 ms (ideal time: ~200 ms).
    {"latency", "latency", {10'000, 10'000, 100'000}, {kSame, kSame, kSame}, false},
    // fileio: n concurrent reads of 16 KiB files.
    {"fileio", "fileio", {1'000, 1'000, 10'000}, {kSame, kSame, kSame}, false},
    // The scaling sweep: n tasks alive at once (parked, then released).
    {"scale-100", "scale", {100, 100, 100}, {kSame, kSame, kSame}, false, expect::n, "scale"},
    {"scale-1k", "scale", {1'000, 1'000, 1'000}, {kSame, kSame, kSame}, false, expect::n, "scale"},
    {"scale-10k", "scale", {10'000, 10'000, 10'000}, {kSame, kSame, kSame}, false, expect::n, "scale"},
    {"scale-100k", "scale", {100'000, 100'000, 100'000}, {kSame, kSame, kSame}, false, expect::n, "scale"},
    {"scale-1M", "scale", {0, 1'000'000, 1'000'000}, {kSame, kSame, kSame}, false, expect::n, "scale"},
};

// ---------------------------------------------------------------------------
// Options

struct options {
  std::string weft_bench, boost_fiber_bench, go_bench;  // empty: search
  std::string tokio_bench, echo_client, wrk;            // network scenarios; empty: search
  int workers = 2;
  int runs = 5;
  bool runs_given = false;  // --runs on the command line
  int timeout_s = 120;
  size_mode mode = size_mode::quick;
  std::vector<std::string> scenarios;  // empty: all
  std::string out_dir;                 // empty: no files
};

[[noreturn]] void usage(int code) {
  std::fprintf(code == 0 ? stdout : stderr,
               "usage: weft-compare [--weft-bench=PATH] [--boost-fiber-bench=PATH]\n"
               "                    [--go-bench=PATH] [--tokio-bench=PATH] [--echo-client=PATH]\n"
               "                    [--wrk=PATH] [--workers=W] [--runs=R]\n"
               "                    [--scenarios=a,b,c] [--timeout=SECONDS] [--out=DIR]\n"
               "                    [--quick | --normal | --full]\n"
               "Runs each (scenario, model) R times (default 5) as separate processes\n"
               "and prints a markdown table (median, min, max, peak RSS). Sizes: --quick\n"
               "(the default; under 3 minutes on 2 cores), --normal (about 10x), --full.\n"
               "--out=DIR (or --out DIR) also writes results.md, results.json and, with\n"
               "gnuplot, time.png, memory.png and scaling.png. Binaries not given by flag\n"
               "are looked for next to weft-compare: ../weft-bench, ./weft-bench,\n"
               "../boost_fiber/boost-fiber-bench, ./boost-fiber-bench, ../go/go-bench,\n"
               "./go-bench. Scenarios: skynet skynet-small spawn yield pingpong parked\n"
               "spsc mpmc select2 select2b mutex sieve workerpool cpusplit latency\n"
               "fileio scale-100 scale-1k scale-10k scale-100k scale-1M (not in --quick);\n"
               "--scenarios=scale selects the whole sweep. Network scenarios (servers on\n"
               "127.0.0.1 under wrk or echo-client; --scenarios=net selects them all, http\n"
               "the three http-*): %s; at most 3 runs\n"
               "of 2 s in --quick. tokio-bench and echo-client are looked for in ../tokio/\n"
               "and ../, wrk on PATH.\n"
               "Exit status 1 if any cell failed or gave a wrong result.\n",
               weft_compare::net_scenario_list().c_str());
  std::exit(code);
}

std::optional<long> parse_long(std::string_view s) {
  long v = 0;
  const auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (err != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t end = std::min(s.find(sep, start), s.size());
    if (end > start) parts.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}


options parse_options(int argc, char** argv) {
  options o;
  auto positive = [](std::string_view flag, std::string_view value) {
    const auto v = parse_long(value);
    if (!v || *v < 1) {
      std::fprintf(stderr, "weft-compare: %.*s needs a positive integer\n",
                   static_cast<int>(flag.size()), flag.data());
      usage(2);
    }
    return static_cast<int>(*v);
  };
  // Flags that take a value accept both --flag=value and --flag value.
  constexpr std::string_view kValued[] = {"--weft-bench", "--boost-fiber-bench", "--go-bench",
                                          "--tokio-bench", "--echo-client",      "--wrk",
                                          "--workers",    "--runs",              "--timeout",
                                          "--out",        "--scenarios"};
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const std::size_t eq = arg.find('=');
    const std::string_view key = arg.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? "" : arg.substr(eq + 1);
    if (eq == std::string_view::npos && i + 1 < argc &&
        std::find(std::begin(kValued), std::end(kValued), key) != std::end(kValued)) {
      value = argv[++i];
    }
    if (arg == "--help" || arg == "-h") {
      usage(0);
    } else if (arg == "--quick") {
      o.mode = size_mode::quick;
    } else if (arg == "--normal") {
      o.mode = size_mode::normal;
    } else if (arg == "--full") {
      o.mode = size_mode::full;
    } else if (key == "--weft-bench") {
      o.weft_bench = value;
    } else if (key == "--boost-fiber-bench") {
      o.boost_fiber_bench = value;
    } else if (key == "--go-bench") {
      o.go_bench = value;
    } else if (key == "--tokio-bench") {
      o.tokio_bench = value;
    } else if (key == "--echo-client") {
      o.echo_client = value;
    } else if (key == "--wrk") {
      o.wrk = value;
    } else if (key == "--workers") {
      o.workers = positive(key, value);
    } else if (key == "--runs") {
      o.runs = positive(key, value);
      o.runs_given = true;
    } else if (key == "--timeout") {
      o.timeout_s = positive(key, value);
    } else if (key == "--out") {
      o.out_dir = value;
    } else if (key == "--scenarios") {
      o.scenarios = split(value, ',');
    } else {
      std::fprintf(stderr, "weft-compare: unknown argument '%s'\n", argv[i]);
      usage(2);
    }
  }
  for (const auto& s : o.scenarios) {
    if (std::none_of(std::begin(kScenarios), std::end(kScenarios), [&](const scenario_spec& k) {
          return s == k.name || s == k.sweep;
        }) && !weft_compare::is_net_scenario(s)) {
      std::fprintf(stderr, "weft-compare: unknown scenario '%s'\n", s.c_str());
      usage(2);
    }
  }
  return o;
}

// ---------------------------------------------------------------------------
// Locating the benchmark programs (defaults relative to this executable)

fs::path self_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : exe.parent_path();
}

bool is_executable(const std::string& path) {
  return !path.empty() && access(path.c_str(), X_OK) == 0 && !fs::is_directory(path);
}

// The first existing candidate, else the first one (for the error message).
std::string locate(const std::string& flag_value, std::initializer_list<fs::path> candidates) {
  if (!flag_value.empty()) return flag_value;
  for (const auto& c : candidates) {
    if (is_executable(c.string())) return c.lexically_normal().string();
  }
  return candidates.begin()->lexically_normal().string();
}

// ---------------------------------------------------------------------------
// Machine description

std::string read_first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

long read_long_file(const char* path) { return parse_long(read_first_line(path)).value_or(0); }

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("model name")) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

std::string kernel() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return std::string(u.sysname) + " " + u.release + " " + u.machine;
}

std::string git_commit() {
#ifdef WEFT_COMPARE_SOURCE_DIR
  const std::string cmd =
      std::string("git -C '") + WEFT_COMPARE_SOURCE_DIR + "' describe --always --dirty 2>/dev/null";
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[128] = {};
    const bool got = std::fgets(buf, sizeof buf, p) != nullptr;
    pclose(p);
    std::string s = got ? buf : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (!s.empty()) return s;
  }
#endif
  return "unknown";
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}


}  // namespace

// Note 5 (also for the network runner): why `live` threads at once exceed
// this machine's limits, or nullopt.
std::optional<std::string> weft_compare::thread_limit(long live) {
  rlimit nproc{};
  const long user_limit = getrlimit(RLIMIT_NPROC, &nproc) == 0 && nproc.rlim_cur != RLIM_INFINITY
                              ? static_cast<long>(nproc.rlim_cur)
                              : 0;
  const struct {
    const char* name;
    long value;
  } limits[] = {
      {"pid_max", read_long_file("/proc/sys/kernel/pid_max")},
      {"threads-max", read_long_file("/proc/sys/kernel/threads-max")},
      {"vm.max_map_count", read_long_file("/proc/sys/vm/max_map_count")},
      {"ulimit -u", user_limit},
  };
  for (const auto& l : limits) {
    if (l.value <= 0) continue;
    // A thread stack costs two maps (stack + guard page); keep 10% of every
    // limit for the rest of the system.
    const bool maps = std::string_view(l.name) == "vm.max_map_count";
    const long allowed = (maps ? l.value / 2 : l.value) / 10 * 9;
    if (live > allowed) {
      return "n/a: thread limit (1:1 needs " + human_count(live) + " threads, " + l.name + " " +
             std::to_string(l.value) + ")";
    }
  }
  return std::nullopt;
}

namespace {

// Note 5: why 1:1 threads cannot run a size, or nullopt if they can.
std::optional<std::string> threads_unable(const scenario_spec& s, long n) {
  const std::string_view p = s.program;
  long live = 0;  // threads alive at the same time
  if (p == "skynet") {
    for (long level = 1; level <= n; level *= 10) live += level;
  } else if (p == "parked" || p == "spawn" || p == "scale" || p == "latency" || p == "fileio") {
    live = n;  // every task is started before the first finishes (or may be)
  } else if (p == "sieve") {
    live = n + 1;  // a filter per prime, and the generator
  } else if (p == "cpusplit") {
    live = (n + bench::kPrimeChunk - 1) / bench::kPrimeChunk;
  }
  return weft_compare::thread_limit(live);
}

// Resident bytes of one parked Boost.Fiber fiber (128 KiB malloc'd stack),
// measured with `parked` at 100k: 10,627 (docs/benchmarks.md).
constexpr double kBoostFiberResidentBytes = 10'627;
// Cells estimated to need more memory than this are not run: the machine
// is shared, and 10 GiB for one cell is not "cheap".
constexpr double kMemoryBudgetBytes = 8.0 * (1ull << 30);

// Note 5, for Boost.Fiber: why it is not run at a size, or nullopt.
std::optional<std::string> boost_fiber_unable(const scenario_spec& s, long n) {
  const std::string_view p = s.program;
  if (p != "scale" && p != "parked") return std::nullopt;
  const double need = kBoostFiberResidentBytes * static_cast<double>(n);
  if (need <= kMemoryBudgetBytes) return std::nullopt;
  return "n/a: not run, needs ~" + fmt("%.0f", need / (1ull << 30)) +
         " GiB (10.6 KB resident per parked fiber)";
}

// ---------------------------------------------------------------------------
// Running one child process

struct child_outcome {
  std::string failure;  // empty: exited 0 within the timeout
  std::string out;      // everything it wrote to stdout
  long max_rss_kib = 0;
  int exit_status = 0;  // when it exited (rather than crashed or timed out)
};

child_outcome os_error(const char* what) {
  child_outcome c;
  c.failure = std::string(what) + ": " + std::strerror(errno);
  return c;
}

// fork/execv `argv`, capture stdout (and the tail of stderr for error
// messages), kill the child's process group after `timeout`.
child_outcome run_child(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  child_outcome result;
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return os_error("pipe");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    const child_outcome e = os_error("pipe");
    close(out_pipe[0]);
    close(out_pipe[1]);
    return e;
  }
  std::vector<char*> cargv;  // built before fork: no allocation in the child
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);  // own process group, so a timeout kills all of it
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    execv(cargv[0], cargv.data());
    dprintf(STDERR_FILENO, "cannot exec %s: %s\n", cargv[0], std::strerror(errno));
    _exit(127);
  }
  if (pid < 0) {
    const child_outcome e = os_error("fork");
    for (const int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    return e;
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  setpgid(pid, pid);  // also here: whichever runs first, the group exists

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  auto kill_on_deadline = [&] {
    if (!timed_out && std::chrono::steady_clock::now() >= deadline) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      timed_out = true;
    }
  };

  // Read both pipes until the child (and anything it started) closes them.
  std::string err;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &err};
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    kill_on_deadline();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    const int wait_ms = timed_out ? 100 : static_cast<int>(std::max<long>(left.count(), 0) + 1);
    if (poll(fds, 2, wait_ms) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(got));
        if (sinks[i]->size() > (1u << 20)) sinks[i]->erase(0, sinks[i]->size() - (1u << 16));
      } else if (got == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;  // poll() ignores negative descriptors
      }
    }
  }
  for (const auto& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }

  // Reap it; a child that closed its pipes but keeps running still times out.
  int status = 0;
  rusage usage{};
  for (;;) {
    const pid_t r = wait4(pid, &status, WNOHANG, &usage);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return os_error("wait4");
    kill_on_deadline();
    std::this_thread::sleep_for(5ms);
  }
  result.max_rss_kib = usage.ru_maxrss;  // KiB on Linux

  if (timed_out) {
    result.failure = "timeout after " + std::to_string(timeout.count()) + " s";
  } else if (WIFSIGNALED(status)) {
    result.failure = std::string("crashed: ") + strsignal(WTERMSIG(status));
  } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    result.exit_status = WEXITSTATUS(status);
    result.failure = "exit " + std::to_string(WEXITSTATUS(status));
    if (const std::string why = last_line(err); !why.empty()) result.failure += ": " + why;
  }
  return result;
}

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
  run_record r{*elapsed, *ops, *result, c.max_rss_kib, number("bytes_per_task"), "", std::nullopt};
  if (const auto it = f->find("variant"); it != f->end()) r.variant = it->second;
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

long expected_result(const scenario_spec& s, long n) {
  switch (s.result) {
    case expect::n:
      return n;
    case expect::skynet_sum:
      return n * (n - 1) / 2;
    case expect::nth_prime:
      return bench::nth_prime(n);
    case expect::primes_below:
      return static_cast<long>(bench::primes_below(n).size());
  }
  return n;
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
