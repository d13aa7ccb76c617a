// procs-bench: the multiprocessing model without an interpreter, the C++
// processes of weft-compare's comparison. Plain C++20 and POSIX; no weft.
//
//   procs-bench <scenario> --model=fork|pool [--workers=W] [--n=N] [--addr=HOST:PORT]
//
// prints the one line weft-compare parses (bench/common/scenario_line.hpp):
//   weft-bench: scenario=S model=M workers=W n=N result=R elapsed_ns=T ops=K
// and exits 0; an unknown scenario or model exits 2; a scenario the model
// cannot express exits 3 with `not expressible: <why>` on stderr.
//
// Models
//   fork  one process per task: the parent fork()s a child per task; the
//         child computes, writes its result record to a pipe and _exit()s;
//         the parent reads every record, then waitpid()s every child. All
//         children share one result pipe (a record is 24 bytes, far below
//         PIPE_BUF, so each write() is atomic and records never interleave),
//         so n children need 2 descriptors, not 2n. The clock covers the
//         forks, the results and the reaping: reaping is part of what a
//         process costs. --workers is echoed, not used: the kernel schedules
//         the children on every CPU.
//   pool  W long-lived worker processes (for the `pool` scenario exactly
//         bench::kPoolTasks = 8, whatever --workers says), forked in the
//         untimed setup before the clock starts, each having reported ready:
//         a runtime's start-up is outside the span for every model (the
//         exercises' contract), so the pool is, although a multiprocessing
//         user pays for it inside the program. Main feeds job numbers
//         dynamically, one pipe per worker, keeping at most kPipeline jobs
//         outstanding per worker (the next job goes to the worker whose
//         result just came back); results come back over one shared pipe.
//         Closing a worker's job pipe is its signal to exit; the pool is
//         shut down and reaped after the clock stops.
//
// Scenarios (their definitions are the other programs'; the workloads are
// bench/common/workloads.hpp's):
//   onetask     n times, one after another: one task returns k+1; the
//               parent checks it. result: n if every value was right.
//   allofcpu    n tasks at once; task k counts allofcpu_count(k). result:
//               the sum of the counts.
//   allofsleep  (= latency) n tasks at once; task k sleeps latency_ms(k).
//               result: n if every latency came back.
//   pool        n jobs over the 8-process pool: pool_cpu_job(k) for even k,
//               a 1 ms sleep (result 1) for odd k. result: the sum. The fork
//               model cannot express it (a pool is not a process per task).
//   disk        n tasks at once; task i writes file i (16 KiB) into a fresh
//               directory made in the setup, reads it back and returns its
//               checksum. result: n if the checksums sum as expected.
//   spawn       n trivial tasks at once, each returns its number. result:
//               the number of right values.
//   cpusplit    the primes below n, one task per kPrimeChunk numbers.
//               result: the count.
//   fileio      n files written in the setup; one task per file reads it
//               and returns its checksum. result: n if they sum as expected.
// Every other scenario of the comparison exits 3 (no channels between
// processes to bounce values over, no network client here).
//
// Limits: the fork model has up to n children alive at once; pid_max is
// 32,768 on a default Linux, so n is capped at kMaxChildren (exit 3 above
// it). onetask forks one child at a time and has no cap.

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../common/scenario_line.hpp"
#include "../common/workloads.hpp"

namespace {

using clk = std::chrono::steady_clock;

// The most children the fork model keeps alive at once (see Limits).
constexpr long kMaxChildren = 10'000;
// Jobs outstanding per pool worker: one running, one queued in its pipe.
constexpr long kPipeline = 2;
constexpr int kNotExpressible = 3;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "procs-bench: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

[[noreturn]] void not_expressible(const std::string& why) {
  std::fprintf(stderr, "not expressible: %s\n", why.c_str());
  std::exit(kNotExpressible);
}

// Writes or reads exactly `len` bytes; false at EOF or on an error.
bool write_all(int fd, const void* p, std::size_t len) {
  const char* c = static_cast<const char*>(p);
  while (len > 0) {
    const ssize_t w = ::write(fd, c, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    len -= static_cast<std::size_t>(w);
  }
  return true;
}
bool read_all(int fd, void* p, std::size_t len) {
  char* c = static_cast<char*>(p);
  while (len > 0) {
    const ssize_t r = ::read(fd, c, len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    len -= static_cast<std::size_t>(r);
  }
  return true;
}

// What a task computes from its number: the value sent back. Runs in a
// child or a pool worker (a forked copy of the parent's memory).
using task_fn = std::function<std::int64_t(long)>;

// A result record: who sent it (the pool worker; 0 under fork), the task
// number and its value.
struct record {
  std::int64_t worker, task, value;
};
static_assert(sizeof(record) <= PIPE_BUF, "a record must be written atomically");

void make_pipe(int fds[2]) {
  if (::pipe2(fds, O_CLOEXEC) != 0) die("pipe");
}

void reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) die("waitpid");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "procs-bench: a child failed (status %d)\n", status);
    std::exit(1);
  }
}

// --- fork: one process per task ---------------------------------------------

// Forks a child that sends fn(task) on `out` and _exit()s.
pid_t fork_task(const task_fn& fn, long task, int out) {
  const pid_t pid = ::fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    const record r{0, task, fn(task)};
    ::_exit(write_all(out, &r, sizeof r) ? 0 : 1);
  }
  return pid;
}

// All `tasks` children at once; returns their values by task number.
std::vector<std::int64_t> fork_all(const task_fn& fn, long tasks) {
  if (tasks > kMaxChildren)
    not_expressible("fork keeps one process per task alive at once; n=" + std::to_string(tasks) +
                    " exceeds the cap of " + std::to_string(kMaxChildren) + " (pid_max 32768)");
  int p[2];
  make_pipe(p);
  std::vector<pid_t> pids;
  pids.reserve(static_cast<std::size_t>(tasks));
  for (long k = 0; k < tasks; k++) pids.push_back(fork_task(fn, k, p[1]));
  ::close(p[1]);
  std::vector<std::int64_t> values(static_cast<std::size_t>(tasks));
  for (long i = 0; i < tasks; i++) {
    record r{};
    if (!read_all(p[0], &r, sizeof r) || r.task < 0 || r.task >= tasks) die("reading a child's result");
    values[static_cast<std::size_t>(r.task)] = r.value;
  }
  ::close(p[0]);
  for (pid_t pid : pids) reap(pid);
  return values;
}

// onetask under fork: one child at a time.
bool fork_one_by_one(const task_fn& fn, long tasks) {
  int p[2];
  make_pipe(p);
  bool ok = true;
  for (long k = 0; k < tasks; k++) {
    const pid_t pid = fork_task(fn, k, p[1]);
    record r{};
    if (!read_all(p[0], &r, sizeof r)) die("reading a child's result");
    reap(pid);
    ok &= r.task == k && r.value == k + 1;
  }
  ::close(p[0]);
  ::close(p[1]);
  return ok;
}

// --- pool: W long-lived worker processes -------------------------------------

class process_pool {
 public:
  // Forks `workers` processes running fn on the job numbers they are sent
  // and waits until each has reported ready. Call before the clock starts.
  process_pool(long workers, const task_fn& fn) {
    int res[2];
    make_pipe(res);
    results_ = res[0];
    for (long w = 0; w < workers; w++) {
      int job[2];
      make_pipe(job);
      const pid_t pid = ::fork();
      if (pid < 0) die("fork");
      if (pid == 0) {
        // The child keeps its own job pipe's read end and the result
        // pipe's write end; the other workers' job pipes are closed so
        // that each worker sees EOF when main closes its pipe.
        ::close(job[1]);
        ::close(res[0]);
        for (int fd : jobs_) ::close(fd);
        worker_main(w, fn, job[0], res[1]);
      }
      ::close(job[0]);
      jobs_.push_back(job[1]);
      pids_.push_back(pid);
    }
    ::close(res[1]);
    for (long w = 0; w < workers; w++) {
      record r{};
      if (!read_all(results_, &r, sizeof r) || r.task != -1) die("waiting for the pool to start");
    }
  }
  process_pool(const process_pool&) = delete;
  process_pool& operator=(const process_pool&) = delete;
  // Closes every job pipe (each worker reads EOF and exits) and reaps them.
  ~process_pool() {
    for (int fd : jobs_) ::close(fd);
    for (pid_t pid : pids_) reap(pid);
    ::close(results_);
  }

  long size() const { return static_cast<long>(pids_.size()); }

  // Sends job `task` to worker w.
  void send(long w, long task) {
    const std::int64_t t = task;
    if (!write_all(jobs_[static_cast<std::size_t>(w)], &t, sizeof t)) die("sending a job");
  }
  // The next result, from whichever worker finished first.
  record receive() {
    record r{};
    if (!read_all(results_, &r, sizeof r)) die("reading a worker's result");
    return r;
  }

  // Runs jobs 0..tasks-1, fed as results come back; returns the values.
  std::vector<std::int64_t> run_all(long tasks) {
    std::vector<std::int64_t> values(static_cast<std::size_t>(tasks));
    long next = 0;
    for (long round = 0; round < kPipeline; round++)
      for (long w = 0; w < size() && next < tasks; w++) send(w, next++);
    for (long got = 0; got < tasks; got++) {
      const record r = receive();
      if (r.task < 0 || r.task >= tasks) die("a worker sent a bad record");
      values[static_cast<std::size_t>(r.task)] = r.value;
      if (next < tasks) send(r.worker, next++);
    }
    return values;
  }

 private:
  [[noreturn]] static void worker_main(long w, const task_fn& fn, int jobs, int results) {
    record r{w, -1, 0};  // ready
    if (!write_all(results, &r, sizeof r)) ::_exit(1);
    std::int64_t task = 0;
    while (read_all(jobs, &task, sizeof task)) {
      r = {w, task, fn(static_cast<long>(task))};
      if (!write_all(results, &r, sizeof r)) ::_exit(1);
    }
    ::_exit(0);  // main closed the job pipe
  }

  std::vector<int> jobs_;  // write ends, one per worker
  std::vector<pid_t> pids_;
  int results_ = -1;  // read end of the shared result pipe
};

// --- the scenarios ----------------------------------------------------------

struct options {
  std::string scenario, model;
  long workers = 2, n = 0;
};

struct outcome {
  long result = 0;
  clk::duration elapsed{};
  long ops = 0;
};

// Runs `tasks` tasks under the model, all at once (fork) or fed to a pool
// of `pool_size` workers; returns the values and the timed span.
std::vector<std::int64_t> run_tasks(const options& o, const task_fn& fn, long tasks, long pool_size,
                                    clk::duration& elapsed) {
  if (o.model == "fork") {
    const auto t0 = clk::now();
    auto v = fork_all(fn, tasks);
    elapsed = clk::now() - t0;
    return v;
  }
  process_pool pool(pool_size, fn);
  const auto t0 = clk::now();
  auto v = pool.run_all(tasks);
  elapsed = clk::now() - t0;
  return v;
}

std::int64_t sum(const std::vector<std::int64_t>& v) {
  std::uint64_t s = 0;  // wraps: checksums are summed mod 2^64
  for (std::int64_t x : v) s += static_cast<std::uint64_t>(x);
  return static_cast<std::int64_t>(s);
}

void sleep_ms(long ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

outcome run(const options& o) {
  const long n = o.n;
  outcome out{0, {}, n};
  const std::string& s = o.scenario;
  if (s == "onetask") {
    const task_fn fn = [](long k) -> std::int64_t { return k + 1; };
    if (o.model == "fork") {
      const auto t0 = clk::now();
      const bool ok = fork_one_by_one(fn, n);
      out.elapsed = clk::now() - t0;
      out.result = ok ? n : -1;
    } else {
      process_pool pool(o.workers, fn);
      bool ok = true;
      const auto t0 = clk::now();
      for (long k = 0; k < n; k++) {
        pool.send(k % pool.size(), k);
        const record r = pool.receive();
        ok &= r.task == k && r.value == k + 1;
      }
      out.elapsed = clk::now() - t0;
      out.result = ok ? n : -1;
    }
  } else if (s == "allofcpu") {
    const auto v = run_tasks(o, [](long k) -> std::int64_t { return bench::allofcpu_count(k); }, n, o.workers,
                             out.elapsed);
    out.result = static_cast<long>(sum(v));
  } else if (s == "allofsleep" || s == "latency") {
    long want = 0;
    for (long k = 0; k < n; k++) want += bench::latency_ms(k);
    const auto v = run_tasks(
        o,
        [](long k) -> std::int64_t {
          sleep_ms(bench::latency_ms(k));
          return bench::latency_ms(k);
        },
        n, o.workers, out.elapsed);
    out.result = sum(v) == want ? n : -1;
  } else if (s == "pool") {
    if (o.model == "fork") not_expressible("a pool is not one process per task (run it with --model=pool)");
    const auto v = run_tasks(
        o,
        [](long k) -> std::int64_t {
          if (!bench::pool_job_is_sleep(k)) return bench::pool_cpu_job(k);
          sleep_ms(bench::kPoolSleepMs);
          return 1;
        },
        n, bench::kPoolTasks, out.elapsed);
    out.result = static_cast<long>(sum(v));
  } else if (s == "disk") {
    const bench::scratch_dir dir(n);
    const auto v = run_tasks(
        o, [&dir](long k) -> std::int64_t {
          return static_cast<std::int64_t>(bench::write_read_file_checksum(dir.path(k), k));
        },
        n, o.workers, out.elapsed);
    out.result = static_cast<std::uint64_t>(sum(v)) == bench::expected_disk_sum(n) ? n : -1;
  } else if (s == "spawn") {
    const auto v = run_tasks(o, [](long k) -> std::int64_t { return k; }, n, o.workers, out.elapsed);
    for (long k = 0; k < n; k++) out.result += v[static_cast<std::size_t>(k)] == k;
  } else if (s == "cpusplit") {
    const long chunks = (n + bench::kPrimeChunk - 1) / bench::kPrimeChunk;
    const auto v = run_tasks(
        o,
        [n](long k) -> std::int64_t {
          const long lo = k * bench::kPrimeChunk;
          return bench::count_primes_trial(lo, std::min(lo + bench::kPrimeChunk, n));
        },
        chunks, o.workers, out.elapsed);
    out.result = static_cast<long>(sum(v));
  } else if (s == "fileio") {
    const bench::file_set files(n);
    const auto v = run_tasks(
        o, [&files](long k) -> std::int64_t {
          return static_cast<std::int64_t>(bench::read_file_checksum(files.path(k)));
        },
        n, o.workers, out.elapsed);
    out.result = static_cast<std::uint64_t>(sum(v)) == files.expected_sum() ? n : -1;
  }
  return out;
}

// Why each scenario the program does not run is not expressible.
std::optional<std::string> inexpressible(std::string_view s) {
  if (s == "allofnet") return "procs-bench has no network client; the process models run CPU, sleep and disk work";
  if (s == "skynet" || s == "scale" || s == "parked")
    return "a million (or tens of thousands of) live processes are past pid_max (32768)";
  if (s == "pingpong" || s == "spsc" || s == "mpmc" || s == "select2" || s == "select2b" || s == "yield" ||
      s == "mutex" || s == "sieve" || s == "workerpool" || s == "idle")
    return "the process models share no channels or locks between tasks";
  return std::nullopt;
}

bool runs(std::string_view s) {
  return s == "onetask" || s == "allofcpu" || s == "allofsleep" || s == "latency" || s == "pool" || s == "disk" ||
         s == "spawn" || s == "cpusplit" || s == "fileio";
}

// Parses the value of "--name=<positive integer>"; nullopt if arg is another flag.
std::optional<long> int_flag(std::string_view arg, std::string_view name) {
  if (!arg.starts_with(name) || arg.size() <= name.size() || arg[name.size()] != '=') return std::nullopt;
  const std::string_view digits = arg.substr(name.size() + 1);
  long v = 0;
  const auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (err != std::errc() || end != digits.data() + digits.size() || v < 1) {
    std::fprintf(stderr, "procs-bench: bad value in %.*s\n", static_cast<int>(arg.size()), arg.data());
    std::exit(2);
  }
  return v;
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: procs-bench onetask|allofcpu|allofsleep|latency|pool|disk|spawn|cpusplit|fileio\n"
               "                   --model=fork|pool [--workers=W] [--n=N] [--addr=HOST:PORT]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage();
  options o;
  o.scenario = argv[1];
  for (int i = 2; i < argc; i++) {
    const std::string_view a = argv[i];
    if (a.starts_with("--model=")) o.model = a.substr(8);
    else if (auto v = int_flag(a, "--workers")) o.workers = *v;
    else if (auto v = int_flag(a, "--n")) o.n = *v;
    else if (a.starts_with("--addr=")) {
      // accepted for the common command line; no scenario here uses it
    } else {
      std::fprintf(stderr, "procs-bench: unknown argument %s\n", argv[i]);
      usage();
    }
  }
  if (o.model != "fork" && o.model != "pool") {
    std::fprintf(stderr, "procs-bench: unknown model '%s'; models: fork, pool\n", o.model.c_str());
    return 2;
  }
  if (auto why = inexpressible(o.scenario)) not_expressible(*why);
  if (!runs(o.scenario)) {
    std::fprintf(stderr, "procs-bench: unknown scenario '%s'\n", o.scenario.c_str());
    usage();
  }
  if (o.n == 0) o.n = bench::default_n(o.scenario);
  // A child dying must not kill the parent with SIGPIPE on a closed pipe.
  ::signal(SIGPIPE, SIG_IGN);
  const outcome out = run(o);
  const long workers = o.model == "pool" && o.scenario == "pool" ? bench::kPoolTasks : o.workers;
  bench::print_result_line(o.scenario, o.model, workers, o.n, out.result,
                           std::chrono::duration_cast<std::chrono::nanoseconds>(out.elapsed).count(),
                           out.ops);
  return 0;
}
