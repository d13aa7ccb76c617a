// boost-fiber-bench: the Boost.Fiber (1.74) reference for weft's macro
// benchmark scenarios. It does not use weft at all.
//
//   boost-fiber-bench <skynet|spawn|yield|parked|pingpong|spsc|mpmc|mutex|
//                      sieve|workerpool|cpusplit|latency|fileio|scale|
//                      onetask|allofcpu|allofsleep|pool|disk>
//                     [--model=boost-fiber] [--workers=N] [--n=N] [--idle=sleep|spin]
//
// The seed's exercises live in exercises.cpp (allofsleep is latency). Three
// scenarios are accepted but not expressible: select2 and select2b
// (Boost.Fiber has no select over channels) and allofnet (it has no socket
// layer): the program prints `not expressible: <why>` on stderr and exits
// with status 3, which weft-compare reports in the cell.
//
// It prints exactly one line on stdout, the format shared with weft-bench and
// go-bench (bench/common/scenario_line.hpp) and parsed by weft-compare:
//
//   weft-bench: scenario=<s> model=boost-fiber workers=<w> n=<n> result=<int>
//               elapsed_ns=<int> ops=<int> [bytes_per_task=<int>] [variant=spin]
//
// (on one line). `result` is the correctness value: the skynet sum
// n*(n-1)/2, the n-th prime (sieve), the number of primes below n
// (cpusplit), or n for every other scenario. `elapsed_ns` is measured around
// the workload only: the worker threads are already running and registered
// with the scheduler when the clock starts.
//
// Design notes
// 1. Scheduler. Every scenario except `yield` runs under
//    boost::fibers::algo::work_stealing on `workers` threads: the main thread
//    plus workers-1 helper std::threads, each of which installs the algorithm
//    with use_scheduling_algorithm<work_stealing>(workers, suspend). The
//    constructor of work_stealing blocks on an internal barrier until all
//    `workers` threads have registered, and it keeps its registry in static
//    members, so a process can set it up exactly once; that is fine here
//    because each process runs one scenario. With --workers=1 the pool uses
//    round_robin instead: Boost 1.74's work_stealing::pick_next() spins
//    forever looking for a victim other than itself when it is the only
//    thread and its queue runs dry (parked --workers=1 hangs at 100% CPU
//    inside dispatch()).
// 2. suspend = true (the default, --idle=sleep). With suspend=false an idle
//    worker spins in pick_next(), stealing in a loop, and burns a whole core
//    whenever it has nothing to run (parked, the tail of spawn, pingpong when
//    both fibers sit on one thread); that is not how Go or weft behave when
//    idle, and it would make Boost.Fiber's CPU use meaningless. With
//    suspend=true an idle worker sleeps on a std::condition_variable inside
//    suspend_until() and is woken by notify(), which Boost calls when a fiber
//    owned by that thread is made ready from another thread. Caveat (Boost
//    1.74 behaviour, verified here): a sleeping worker is NOT woken when new
//    fibers appear in another worker's queue, so it would only resume
//    stealing once one of its own fibers is woken remotely. To keep helpers
//    stealing, each helper's main fiber waits for shutdown with a timed wait
//    in a loop (kHelperPoll = 1 ms), which makes its dispatcher sleep with a
//    deadline instead of forever: an idle helper costs one wake-up per
//    millisecond, not a spinning core, and it does take part in the work
//    (with an untimed wait a helper runs none of spawn's fibers; the figures
//    are in docs/benchmarks.md, "Boost.Fiber's configuration").
//    The price of sleeping is paid on cross-thread wake-ups (a futex wake of
//    a sleeping thread per hand-off). It shows in pingpong, whose two fibers
//    keep being split across the threads by stealing, and makes its short
//    runs noisy; spinning costs a core whenever a worker is idle and does
//    not help skynet, spawn or parked (docs/benchmarks.md), so sleep stays
//    the default. `--idle=spin` selects suspend=false for such comparisons;
//    the output line then carries `variant=spin`.
// 3. Launch policy boost::fibers::launch::post everywhere (the new fiber is
//    queued; the spawner keeps running), like `go f()`: every fiber is
//    started by bf_pool.hpp's post() (bf::async with the same policy and
//    stacks in onetask).
// 4. Stacks: every fiber gets a 16 KiB stack (bf_pool.hpp's kStackBytes)
//    from one boost::context::pooled_fixedsize_stack, as Boost.Fiber's own
//    benchmarks configure their fibers (one small stack from a pool-like
//    allocator), behind a mutex because boost::pool is not thread-safe and
//    a stolen fiber's stack is freed on its thief's thread. The default,
//    fixedsize_stack's 128 KiB malloc'd per fiber, costs an mmap and a
//    munmap per fiber (glibc's mmap threshold is 128 KiB) and is not what
//    users who care about fiber counts run. The pool keeps freed stacks for
//    reuse and grows by doubling chunks; it writes its free list into the
//    lowest page of each stack, so a pooled stack has that page resident
//    besides the ones the fiber touches (what `parked` measures).
// 5. Channels: skynet and pingpong use boost::fibers::unbuffered_channel<long>
//    (true rendezvous, as Go's make(chan int)). A skynet node's channel is held
//    by std::shared_ptr shared with its children: a child's push() may still
//    touch the channel's spinlock after the parent's last pop() returned, so
//    the channel must outlive the parent's frame (Go's GC gives the same
//    guarantee for free).
// 6. spsc and mpmc use boost::fibers::buffered_channel<long> with capacity
//    1024, as weft and Go. Boost requires a power of two and keeps one slot
//    of its ring empty, so it holds at most 1023 values (weft and Go: 1024).
//    Every fiber is joined before the channels go out of scope (note 5).
// 7. Shutdown: the main thread sets a flag under a fiber mutex and notifies a
//    fiber condition variable; each helper's main fiber wakes, returns, and
//    the thread's scheduler is destroyed only after every fiber it owns has
//    terminated; then the helpers are joined.

#include <boost/fiber/all.hpp>

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../common/scenario_line.hpp"
#include "../common/workloads.hpp"
#include "bf_pool.hpp"

namespace {

using namespace bf_bench;

// ---------------------------------------------------------------------------
// skynet: a 10-ary tree of fibers, one unbuffered channel per inner node.

using long_channel = bf::unbuffered_channel<long>;

void skynet_node(std::shared_ptr<long_channel> parent, long num, long size) {
  if (size == 1) {
    parent->push(num);
    return;
  }
  auto rc = std::make_shared<long_channel>();  // shared: see note 5
  const long child = size / 10;
  for (long i = 0; i < 10; ++i) {
    post(skynet_node, rc, num + i * child, child).detach();
  }
  long sum = 0;
  for (int i = 0; i < 10; ++i) sum += rc->value_pop();
  parent->push(sum);
}

outcome run_skynet(long n, unsigned workers, bool suspend) {
  work_stealing_pool pool(workers, suspend);
  const auto start = clock_type::now();
  auto root = std::make_shared<long_channel>();
  post(skynet_node, root, 0L, n).detach();
  const long sum = root->value_pop();
  const long elapsed = nanos_since(start);
  return {sum, elapsed, n, std::nullopt};  // ops = n (the leaves), as weft-bench counts it
}

// ---------------------------------------------------------------------------
// spawn: n trivial fibers, each writes its index into its own slot, joined.

outcome run_spawn(long n, unsigned workers, bool suspend) {
  work_stealing_pool pool(workers, suspend);
  std::vector<long> slots(static_cast<std::size_t>(n), -1);
  std::vector<bf::fiber> fibers;
  fibers.reserve(slots.size());
  const auto start = clock_type::now();
  for (long i = 0; i < n; ++i) {
    fibers.push_back(post([&slots, i] { slots[static_cast<std::size_t>(i)] = i; }));
  }
  for (auto& f : fibers) f.join();
  const long elapsed = nanos_since(start);
  long ok = 0;
  for (long i = 0; i < n; ++i) ok += slots[static_cast<std::size_t>(i)] == i;
  return {ok, elapsed, n, std::nullopt};
}

// ---------------------------------------------------------------------------
// yield: one thread (round_robin), two fibers each yielding n times.

outcome run_yield(long n) {
  bf::use_scheduling_algorithm<bf::algo::round_robin>();
  long counts[2] = {0, 0};
  const auto start = clock_type::now();
  auto body = [n](long& count) {
    for (long i = 0; i < n; ++i) {
      boost::this_fiber::yield();
      ++count;
    }
  };
  bf::fiber a = post(body, std::ref(counts[0]));
  bf::fiber b = post(body, std::ref(counts[1]));
  a.join();
  b.join();
  const long elapsed = nanos_since(start);
  return {counts[0] == counts[1] ? counts[0] : -1, elapsed, 2 * n, std::nullopt};
}

// ---------------------------------------------------------------------------
// parked: resident memory per fiber blocked in pop() on one shared channel.

outcome run_parked(long n, unsigned workers, bool suspend) {
  work_stealing_pool pool(workers, suspend);
  bf::unbuffered_channel<int> gate;  // nobody pushes; closed at the end
  fiber_latch parked(n), finished(n);
  std::atomic<long> woke{0};

  malloc_trim(0);  // the counterpart of Go's runtime.GC + debug.FreeOSMemory
  const long before = bench::resident_bytes();

  const auto start = clock_type::now();
  for (long i = 0; i < n; ++i) {
    post([&] {
      parked.count_down();  // just before blocking
      int unused = 0;
      if (gate.pop(unused) == bf::channel_op_status::closed) {
        woke.fetch_add(1, std::memory_order_relaxed);
      }
      finished.count_down();
    }).detach();
  }
  parked.wait();
  const long elapsed = nanos_since(start);  // the time to start n fibers that park
  boost::this_fiber::sleep_for(std::chrono::milliseconds(100));  // let the last ones block
  const long after = bench::resident_bytes();

  gate.close();
  finished.wait();
  return {woke.load(), elapsed, n, (after - before) / n};
}

// ---------------------------------------------------------------------------
// pingpong: a long bounced between two fibers over two unbuffered channels.

outcome run_pingpong(long n, unsigned workers, bool suspend) {
  work_stealing_pool pool(workers, suspend);
  long_channel ping, pong;
  long final_value = 0;
  const auto start = clock_type::now();
  bf::fiber echo = post([&] {
    long v = 0;
    while (ping.pop(v) == bf::channel_op_status::success) pong.push(v + 1);
  });
  bf::fiber driver = post([&] {
    long v = 0;
    for (long i = 0; i < n; ++i) {
      ping.push(v);
      v = pong.value_pop();
    }
    ping.close();
    final_value = v;
  });
  driver.join();
  echo.join();
  const long elapsed = nanos_since(start);
  return {final_value, elapsed, n, std::nullopt};
}

// ---------------------------------------------------------------------------
// spsc: one producer fiber pushes 0..n-1 into a buffered channel (note 6);
// the main fiber pops them. result: n if every value arrived, in order.

constexpr std::size_t kBuffer = 1024;  // a power of two, as Boost requires

outcome run_spsc(long n, unsigned workers, bool suspend) {
  work_stealing_pool pool(workers, suspend);
  bf::buffered_channel<long> ch(kBuffer);
  const auto start = clock_type::now();
  bf::fiber producer = post([&] {
    for (long i = 0; i < n; ++i) ch.push(i);
    ch.close();
  });
  long next = 0, v = 0;
  bool in_order = true;
  while (ch.pop(v) == bf::channel_op_status::success) in_order &= v == next++;
  const long elapsed = nanos_since(start);
  producer.join();
  return {in_order ? next : -1, elapsed, n, std::nullopt};
}

// ---------------------------------------------------------------------------
// mpmc: 4 producer fibers push 0..n-1 between them into one buffered channel,
// 4 consumer fibers pop; the last producer to finish closes the channel.
// result: the number of values popped, or -1 if their sum is not n*(n-1)/2.

outcome run_mpmc(long n, unsigned workers, bool suspend) {
  static constexpr long kProducers = 4, kConsumers = 4;
  work_stealing_pool pool(workers, suspend);
  bf::buffered_channel<long> ch(kBuffer);
  bf::buffered_channel<long> counts(8);  // one value per consumer (room for 7)
  std::atomic<long> producers_left{kProducers};
  std::atomic<long> sum{0};
  std::vector<bf::fiber> fibers;
  const auto start = clock_type::now();
  for (long p = 0; p < kProducers; ++p) {
    fibers.push_back(post([&, p] {
      for (long i = p * n / kProducers; i < (p + 1) * n / kProducers; ++i) ch.push(i);
      if (producers_left.fetch_sub(1) == 1) ch.close();
    }));
  }
  for (long k = 0; k < kConsumers; ++k) {
    fibers.push_back(post([&] {
      long got = 0, s = 0, v = 0;
      while (ch.pop(v) == bf::channel_op_status::success) {
        ++got;
        s += v;
      }
      sum.fetch_add(s);
      counts.push(got);
    }));
  }
  long got = 0;
  for (long k = 0; k < kConsumers; ++k) got += counts.value_pop();
  const long elapsed = nanos_since(start);
  for (auto& f : fibers) f.join();
  return {sum.load() == n * (n - 1) / 2 ? got : -1, elapsed, n, std::nullopt};
}

// ---------------------------------------------------------------------------
// mutex: 8 fibers share n lock/increment/unlock rounds on one
// boost::fibers::mutex. result: the final counter.

outcome run_mutex(long n, unsigned workers, bool suspend) {
  static constexpr long kTasks = 8;
  work_stealing_pool pool(workers, suspend);
  bf::mutex mu;
  long counter = 0;  // guarded by mu
  std::vector<bf::fiber> fibers;
  const auto start = clock_type::now();
  for (long t = 0; t < kTasks; ++t) {
    fibers.push_back(post([&, t] {
      for (long i = t * n / kTasks; i < (t + 1) * n / kTasks; ++i) {
        std::lock_guard<bf::mutex> lock(mu);
        ++counter;
      }
    }));
  }
  for (auto& f : fibers) f.join();
  const long elapsed = nanos_since(start);
  std::lock_guard<bf::mutex> lock(mu);
  return {counter, elapsed, n, std::nullopt};
}

// ---------------------------------------------------------------------------
// The application-shaped scenarios (see bench/weft/app_scenarios.cpp for the
// full description; the workloads come from bench/common/workloads.hpp).
// Every fiber is joined, after the clock stops, before its channels go out
// of scope (note 5).

constexpr long kPoolWorkers = 8;
constexpr std::size_t kPoolBuffer = 64;  // holds 63 (note 6)

// sieve: Go's prime sieve over unbuffered channels, with the explicit stop
// of weft-bench: after the n-th prime main raises `stop` and drains the
// last channel; the generator and every filter close their outputs. The
// channels are shared_ptrs held by the fibers that use them (note 5).
// result: the n-th prime.
outcome run_sieve(long n, unsigned workers, bool suspend) {
  work_stealing_pool pool(workers, suspend);
  std::atomic<bool> stop{false};
  std::vector<bf::fiber> fibers;
  const auto start = clock_type::now();
  auto in = std::make_shared<long_channel>();
  fibers.push_back(post([in, &stop] {
    for (long i = 2; !stop.load(std::memory_order_relaxed); ++i) in->push(i);
    in->close();
  }));
  long last = 0;
  for (long k = 0; k < n; ++k) {
    const long prime = in->value_pop();
    last = prime;
    auto out = std::make_shared<long_channel>();
    fibers.push_back(post([in, out, prime] {
      long v = 0;
      while (in->pop(v) == bf::channel_op_status::success) {
        if (v % prime != 0) out->push(v);
      }
      out->close();
    }));
    in = out;
  }
  const long elapsed = nanos_since(start);
  stop.store(true, std::memory_order_relaxed);
  long v = 0;
  while (in->pop(v) == bf::channel_op_status::success) {
  }
  for (auto& f : fibers) f.join();
  return {last, elapsed, n, std::nullopt};
}

// workerpool: a feeder fiber sends jobs 0..n-1 and closes the job channel;
// kPoolWorkers worker fibers send results back; main pops n results.
// result: n if they sum as computed sequentially, else -1.
outcome run_workerpool(long n, unsigned workers, bool suspend) {
  std::uint64_t want = 0;
  for (long i = 0; i < n; ++i) want += bench::job_work(static_cast<std::uint64_t>(i));
  work_stealing_pool pool(workers, suspend);
  bf::buffered_channel<long> jobs(kPoolBuffer);
  bf::buffered_channel<std::uint64_t> results(kPoolBuffer);
  std::vector<bf::fiber> fibers;
  const auto start = clock_type::now();
  fibers.push_back(post([&] {
    for (long i = 0; i < n; ++i) jobs.push(i);
    jobs.close();
  }));
  for (long w = 0; w < kPoolWorkers; ++w) {
    fibers.push_back(post([&] {
      long j = 0;
      while (jobs.pop(j) == bf::channel_op_status::success) {
        results.push(bench::job_work(static_cast<std::uint64_t>(j)));
      }
    }));
  }
  std::uint64_t sum = 0;
  for (long i = 0; i < n; ++i) sum += results.value_pop();
  const long elapsed = nanos_since(start);
  for (auto& f : fibers) f.join();
  return {sum == want ? n : -1, elapsed, n, std::nullopt};
}

// cpusplit: one fiber per chunk of bench::kPrimeChunk numbers counts its
// primes by trial division and pushes the count. result: the total.
outcome run_cpusplit(long n, unsigned workers, bool suspend) {
  work_stealing_pool pool(workers, suspend);
  const long chunks = (n + bench::kPrimeChunk - 1) / bench::kPrimeChunk;
  const auto [total, elapsed] = fan_in<long>(chunks, [n](long k) {
    const long lo = k * bench::kPrimeChunk;
    return bench::count_primes_trial(lo, std::min(lo + bench::kPrimeChunk, n));
  });
  return {total, elapsed, n, std::nullopt};
}

// latency: fiber i sleeps bench::latency_ms(i) with this_fiber::sleep_for
// and pushes it. result: n if every latency came back.
outcome run_latency(long n, unsigned workers, bool suspend) {
  long want = 0;
  for (long i = 0; i < n; ++i) want += bench::latency_ms(i);
  work_stealing_pool pool(workers, suspend);
  const auto [sum, elapsed] = fan_in<long>(n, [](long i) {
    const long ms = bench::latency_ms(i);
    boost::this_fiber::sleep_for(std::chrono::milliseconds(ms));
    return ms;
  });
  return {sum == want ? n : -1, elapsed, n, std::nullopt};
}

// fileio: n files written beforehand (untimed); one fiber per file reads
// it with plain open/read/close, which blocks the worker thread it runs on
// (Boost.Fiber has no blocking pool; page-cache reads are short), and
// pushes its checksum. result: n if the checksums sum correctly.
outcome run_fileio(long n, unsigned workers, bool suspend) {
  const bench::file_set files(n);
  const std::uint64_t want = files.expected_sum();
  work_stealing_pool pool(workers, suspend);
  const auto [sum, elapsed] =
      fan_in<std::uint64_t>(n, [&files](long i) { return bench::read_file_checksum(files.path(i)); });
  return {sum == want ? n : -1, elapsed, n, std::nullopt};
}

// scale: n fibers alive at once; each counts down a latch and parks in
// pop() on a gate channel; once all have started, main closes the gate and
// pops one value from each. result: the number of values popped.
outcome run_scale(long n, unsigned workers, bool suspend) {
  work_stealing_pool pool(workers, suspend);
  bf::unbuffered_channel<int> gate;  // nobody pushes; closed to release all
  bf::buffered_channel<int> done(kReportBuffer);
  fiber_latch ready(n);
  std::vector<bf::fiber> fibers;
  fibers.reserve(static_cast<std::size_t>(n));
  const auto start = clock_type::now();
  for (long i = 0; i < n; ++i) {
    fibers.push_back(post([&] {
      ready.count_down();
      int unused = 0;
      (void)gate.pop(unused);
      done.push(1);
    }));
  }
  ready.wait();
  gate.close();
  long got = 0;
  for (long i = 0; i < n; ++i) got += done.value_pop();
  const long elapsed = nanos_since(start);
  for (auto& f : fibers) f.join();
  return {got, elapsed, n, std::nullopt};
}

// ---------------------------------------------------------------------------

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: boost-fiber-bench <skynet|spawn|yield|parked|pingpong|spsc|mpmc|mutex|\n"
               "                          sieve|workerpool|cpusplit|latency|fileio|scale|\n"
               "                          onetask|allofcpu|allofsleep|pool|disk>\n"
               "                         [--model=boost-fiber] [--workers=N] [--n=N] [--idle=sleep|spin]\n");
  std::exit(2);
}

// Exit status of a scenario this model cannot express (weft-compare: "n/a").
constexpr int kUnsupported = 3;

// Parses "--name=<positive integer>"; returns nullopt if `arg` is another flag.
std::optional<long> int_flag(std::string_view arg, std::string_view name) {
  if (!arg.starts_with(name) || arg.size() <= name.size() || arg[name.size()] != '=') {
    return std::nullopt;
  }
  const std::string_view digits = arg.substr(name.size() + 1);
  long value = 0;
  const auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (err != std::errc() || end != digits.data() + digits.size() || value < 1) {
    std::fprintf(stderr, "boost-fiber-bench: bad value in %.*s\n", static_cast<int>(arg.size()),
                 arg.data());
    std::exit(2);
  }
  return value;
}

bool is_power_of_10(long n) {
  while (n >= 10 && n % 10 == 0) n /= 10;
  return n == 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage();
  const std::string scenario = argv[1];
  if (scenario == "select2" || scenario == "select2b") {
    std::fprintf(stderr, "not expressible: Boost.Fiber has no select over channels\n");
    return kUnsupported;
  }
  if (scenario == "allofnet") {
    std::fprintf(stderr, "not expressible: Boost.Fiber has no socket layer\n");
    return kUnsupported;
  }
  long n = bench::default_n(scenario);
  if (n == 0 || scenario == "idle") {
    std::fprintf(stderr, "boost-fiber-bench: unknown scenario '%s'\n", scenario.c_str());
    usage();
  }
  long workers = std::max(1u, std::thread::hardware_concurrency());
  bool suspend = true;  // --idle=sleep; see note 2
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (auto v = int_flag(arg, "--workers")) {
      workers = *v;
    } else if (auto v = int_flag(arg, "--n")) {
      n = *v;
    } else if (arg == "--model=boost-fiber" || arg.starts_with("--addr=")) {
      // the common command line; boost-fiber is the only model
    } else if (arg == "--idle=sleep" || arg == "--idle=spin") {
      suspend = arg == "--idle=sleep";
    } else {
      std::fprintf(stderr, "boost-fiber-bench: unknown argument '%s'\n", argv[i]);
      usage();
    }
  }
  if (scenario == "skynet" && !is_power_of_10(n)) {
    std::fprintf(stderr, "boost-fiber-bench: skynet needs n to be a power of 10\n");
    return 2;
  }
  if (scenario == "yield") workers = 1;  // a switch benchmark: one thread

  const auto w = static_cast<unsigned>(workers);
  outcome out;
  if (scenario == "skynet") {
    out = run_skynet(n, w, suspend);
  } else if (scenario == "spawn") {
    out = run_spawn(n, w, suspend);
  } else if (scenario == "yield") {
    out = run_yield(n);
  } else if (scenario == "parked") {
    out = run_parked(n, w, suspend);
  } else if (scenario == "pingpong") {
    out = run_pingpong(n, w, suspend);
  } else if (scenario == "spsc") {
    out = run_spsc(n, w, suspend);
  } else if (scenario == "mpmc") {
    out = run_mpmc(n, w, suspend);
  } else if (scenario == "mutex") {
    out = run_mutex(n, w, suspend);
  } else if (scenario == "sieve") {
    out = run_sieve(n, w, suspend);
  } else if (scenario == "workerpool") {
    out = run_workerpool(n, w, suspend);
  } else if (scenario == "cpusplit") {
    out = run_cpusplit(n, w, suspend);
  } else if (scenario == "latency" || scenario == "allofsleep") {
    out = run_latency(n, w, suspend);
  } else if (scenario == "onetask") {
    out = run_onetask(n, w, suspend);
  } else if (scenario == "allofcpu") {
    out = run_allofcpu(n, w, suspend);
  } else if (scenario == "pool") {
    out = run_pool(n, w, suspend);
  } else if (scenario == "disk") {
    out = run_disk(n, w, suspend);
  } else if (scenario == "fileio") {
    out = run_fileio(n, w, suspend);
  } else {
    out = run_scale(n, w, suspend);
  }

  std::string extra;
  if (out.bytes_per_task) extra = "bytes_per_task=" + std::to_string(*out.bytes_per_task);
  if (!suspend && scenario != "yield") extra += std::string(extra.empty() ? "" : " ") + "variant=spin";
  bench::print_result_line(scenario, "boost-fiber", workers, n, out.result, out.elapsed_ns, out.ops, extra);
  return 0;
}
