// weft-compare's task scenarios and the models they run under: the table
// the runner walks (weft_compare.cpp), what a correct run prints, and which
// sizes a model is declared unable to run (weft_compare.cpp's design notes
// 4, 5 and 7-9).
#pragma once

#include <optional>
#include <string>

namespace weft_compare {

enum class size_mode { quick, normal, full };

// What a correct run prints as `result` (design note 4).
enum class expect { n, skynet_sum, nth_prime, primes_below, allofcpu_sum, pool_sum };

struct scenario_spec {
  const char* name;     // as shown and as given to --scenarios
  const char* program;  // scenario argument of the benchmark programs
  long n[3];            // problem size for the fiber models, by size_mode; 0 = not run
  long threads_n[3];    // problem size for 1:1 threads; 0 = no threads row
  bool condvar;         // a 1:1 mutex+condvar row, at the threads_n size
  expect result = expect::n;
  const char* sweep = "";  // the scaling sweep a row belongs to (plotted against n)
  // Sizes of the interpreted and process models (models.hpp note 3);
  // 0 = no row.
  long script_n[3] = {0, 0, 0};  // Python asyncio and threading, Node promises
  long heavy_n[3] = {0, 0, 0};   // a process or worker_thread per task, process pools
  bool exercise = false;         // one of the seed's exercises (exercises.cpp)
};

inline constexpr long kSame = -1;  // threads_n: same as n

// The seed's exercises (docs/claims.md) are sweeps over the number of tasks:
// one scenario per point (onetask-10, onetask-100, ...), the same n for
// every model that runs it; each class of models (models.hpp note 3) runs
// the points up to its cap, by size mode.
struct exercise_caps {
  long fast[3], thread[3], script[3], heavy[3];
};

constexpr long upto(long n, long cap) { return n <= cap ? n : 0; }

constexpr scenario_spec exercise_point(const char* name, const char* program, long n, expect e,
                                       const exercise_caps& c) {
  scenario_spec s{name, program, {0, 0, 0}, {0, 0, 0}, false, e, program};
  for (int m = 0; m < 3; ++m) {
    s.n[m] = upto(n, c.fast[m]);
    s.threads_n[m] = upto(n, c.thread[m]);
    s.script_n[m] = upto(n, c.script[m]);
    s.heavy_n[m] = upto(n, c.heavy[m]);
  }
  s.exercise = true;
  return s;
}

// The caps of each exercise: the largest point per class, by size mode
// (quick, normal, full). --quick stops every class at 1,000 tasks (the
// process models at 100 where each task is a process or a worker_thread),
// and a model's sweep also stops where its last point predicts a run of
// more than the mode's time budget (weft_compare.cpp note 13), so the
// README's first command stays under its time budget.
inline constexpr exercise_caps kOnetaskCaps{{1'000, 100'000, 100'000}, {1'000, 10'000, 10'000},
                                            {1'000, 10'000, 10'000}, {100, 1'000, 1'000}};
// allofcpu: task k counts the primes among 1,000 numbers; the interpreted
// models count at roughly 1/50 of the compiled ones' speed.
inline constexpr exercise_caps kAllofcpuCaps{{1'000, 10'000, 10'000}, {1'000, 10'000, 10'000},
                                             {100, 1'000, 1'000}, {100, 1'000, 10'000}};
inline constexpr exercise_caps kAllofsleepCaps{{1'000, 100'000, 100'000}, {1'000, 10'000, 10'000},
                                               {1'000, 10'000, 10'000}, {100, 1'000, 1'000}};
// allofnet: at most 5,000 connections at once (the contract: the server's
// backlog is 4,096).
inline constexpr exercise_caps kAllofnetCaps{{1'000, 5'000, 5'000}, {1'000, 5'000, 5'000},
                                             {1'000, 5'000, 5'000}, {100, 1'000, 1'000}};
// pool: always 8 workers, so no class is limited by its task count.
inline constexpr exercise_caps kPoolCaps{{1'000, 10'000, 10'000}, {1'000, 10'000, 10'000},
                                         {1'000, 10'000, 10'000}, {1'000, 10'000, 10'000}};
// disk: 16 KiB per task (10,000 tasks: 160 MiB under $TMPDIR).
inline constexpr exercise_caps kDiskCaps{{1'000, 10'000, 10'000}, {1'000, 10'000, 10'000},
                                         {1'000, 10'000, 10'000}, {100, 1'000, 1'000}};

// The default scenario list. Sizes: quick = about a tenth of normal (the
// README's command), full = larger where the fiber models can take it.
// The interpreted and process models (script_n, heavy_n) join the existing
// scenarios from --normal on: --quick gives them the exercises only.
inline constexpr scenario_spec kScenarios[] = {
    {"skynet", "skynet", {100'000, 1'000'000, 1'000'000}, {kSame, kSame, kSame}, false, expect::skynet_sum},
    {"skynet-small", "skynet", {1'000, 10'000, 10'000}, {kSame, kSame, kSame}, false, expect::skynet_sum, "",
     {0, 10'000, 10'000}},
    {"spawn", "spawn", {10'000, 100'000, 1'000'000}, {1'000, 10'000, 10'000}, false, expect::n, "",
     {0, 10'000, 10'000}, {0, 1'000, 1'000}},
    {"yield", "yield", {100'000, 1'000'000, 10'000'000}, {0, 0, 0}, false},
    {"pingpong", "pingpong", {100'000, 1'000'000, 10'000'000}, {10'000, 100'000, 1'000'000}, true, expect::n, "",
     {0, 100'000, 100'000}},
    {"parked", "parked", {10'000, 100'000, 1'000'000}, {1'000, 10'000, 10'000}, false},
    // The channel layer: buffered (capacity 1024) and unbuffered channels,
    // select, and the mutex. n items (or lock rounds) in total. 10^6 even in
    // --quick: at 10^5 a run lasts only milliseconds, and its first few,
    // before the fibers have settled on their workers, weigh on the per-item
    // figure (docs/benchmarks.md, "Sizes of the channel scenarios").
    // Boost.Fiber has no select. pingpong (above) stays at 10^5 in --quick:
    // Boost.Fiber takes seconds per 10^5 round trips.
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
     expect::primes_below, "", {0, 500'000, 2'000'000}, {0, 1'000'000, 2'000'000}},
    // latency: n tasks each sleeping 50-200 ms (ideal time: ~200 ms). The
    // 1:1 models start 1,000 threads in --quick (10,000 took 1-1.5 s a run).
    {"latency", "latency", {10'000, 10'000, 100'000}, {1'000, kSame, kSame}, false, expect::n, "",
     {0, 10'000, 10'000}, {0, 1'000, 1'000}},
    // fileio: n concurrent reads of 16 KiB files.
    {"fileio", "fileio", {1'000, 1'000, 10'000}, {kSame, kSame, kSame}, false, expect::n, "",
     {0, 1'000, 10'000}, {0, 1'000, 1'000}},
    // The scaling sweep: n tasks alive at once (parked, then released).
    {"scale-100", "scale", {100, 100, 100}, {kSame, kSame, kSame}, false, expect::n, "scale",
     {0, 100, 100}, {0, 100, 100}},
    {"scale-1k", "scale", {1'000, 1'000, 1'000}, {kSame, kSame, kSame}, false, expect::n, "scale",
     {0, 1'000, 1'000}, {0, 1'000, 1'000}},
    // No 1:1 row for scale-10k in --quick (10,000 threads took ~1.5 s a run):
    // the 1:1 models' sweep stops at 1k there.
    {"scale-10k", "scale", {10'000, 10'000, 10'000}, {0, kSame, kSame}, false, expect::n, "scale",
     {0, 10'000, 10'000}},
    {"scale-100k", "scale", {100'000, 100'000, 100'000}, {kSame, kSame, kSame}, false, expect::n, "scale"},
    {"scale-1M", "scale", {0, 1'000'000, 1'000'000}, {kSame, kSame, kSame}, false, expect::n, "scale"},
    // The seed's exercises, swept over the number of tasks (docs/claims.md).
    exercise_point("onetask-10", "onetask", 10, expect::n, kOnetaskCaps),
    exercise_point("onetask-100", "onetask", 100, expect::n, kOnetaskCaps),
    exercise_point("onetask-1k", "onetask", 1'000, expect::n, kOnetaskCaps),
    exercise_point("onetask-10k", "onetask", 10'000, expect::n, kOnetaskCaps),
    exercise_point("onetask-100k", "onetask", 100'000, expect::n, kOnetaskCaps),
    exercise_point("allofcpu-10", "allofcpu", 10, expect::allofcpu_sum, kAllofcpuCaps),
    exercise_point("allofcpu-100", "allofcpu", 100, expect::allofcpu_sum, kAllofcpuCaps),
    exercise_point("allofcpu-1k", "allofcpu", 1'000, expect::allofcpu_sum, kAllofcpuCaps),
    exercise_point("allofcpu-10k", "allofcpu", 10'000, expect::allofcpu_sum, kAllofcpuCaps),
    exercise_point("allofsleep-10", "allofsleep", 10, expect::n, kAllofsleepCaps),
    exercise_point("allofsleep-100", "allofsleep", 100, expect::n, kAllofsleepCaps),
    exercise_point("allofsleep-1k", "allofsleep", 1'000, expect::n, kAllofsleepCaps),
    exercise_point("allofsleep-10k", "allofsleep", 10'000, expect::n, kAllofsleepCaps),
    exercise_point("allofsleep-100k", "allofsleep", 100'000, expect::n, kAllofsleepCaps),
    exercise_point("allofnet-10", "allofnet", 10, expect::n, kAllofnetCaps),
    exercise_point("allofnet-100", "allofnet", 100, expect::n, kAllofnetCaps),
    exercise_point("allofnet-1k", "allofnet", 1'000, expect::n, kAllofnetCaps),
    exercise_point("allofnet-5k", "allofnet", 5'000, expect::n, kAllofnetCaps),
    exercise_point("pool-10", "pool", 10, expect::pool_sum, kPoolCaps),
    exercise_point("pool-100", "pool", 100, expect::pool_sum, kPoolCaps),
    exercise_point("pool-1k", "pool", 1'000, expect::pool_sum, kPoolCaps),
    exercise_point("pool-10k", "pool", 10'000, expect::pool_sum, kPoolCaps),
    exercise_point("disk-10", "disk", 10, expect::n, kDiskCaps),
    exercise_point("disk-100", "disk", 100, expect::n, kDiskCaps),
    exercise_point("disk-1k", "disk", 1'000, expect::n, kDiskCaps),
    exercise_point("disk-10k", "disk", 10'000, expect::n, kDiskCaps),
};

// What a correct run of s at size n prints as `result` (note 4).
long expected_result(const scenario_spec& s, long n);

// The exercises' sums: allofcpu's primes in [10^6, 10^6 + n*1000), and
// pool's (even jobs: the primes of their 100 numbers; odd jobs: 1).
long allofcpu_expected(long n);
long pool_expected(long n);

// Note 5: why 1:1 threads cannot run s at size n, or nullopt if they can.
std::optional<std::string> threads_unable(const scenario_spec& s, long n);

// Note 5, for Boost.Fiber: why it is not run at a size, or nullopt.
std::optional<std::string> boost_fiber_unable(const scenario_spec& s, long n);

}  // namespace weft_compare
