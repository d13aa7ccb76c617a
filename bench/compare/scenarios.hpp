// weft-compare's task scenarios and the models they run under: the table
// the runner walks (weft_compare.cpp), what a correct run prints, and which
// sizes a model is declared unable to run (weft_compare.cpp's design notes
// 4, 5 and 7-9).
#pragma once

#include <optional>
#include <string>

namespace weft_compare {

enum class model_id { weft_mn, weft_n1, threads, condvar, boost_fiber, go };

struct model_info {
  model_id id;
  const char* name;  // as shown in the table
};

inline constexpr model_info kModels[] = {
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

inline constexpr long kSame = -1;  // threads_n: same as n

// The default scenario list. Sizes: quick = about a tenth of normal (the
// README's command, under 3 minutes on 2 cores), full = larger where the
// fiber models can take it.
inline constexpr scenario_spec kScenarios[] = {
    {"skynet", "skynet", {100'000, 1'000'000, 1'000'000}, {kSame, kSame, kSame}, false, expect::skynet_sum},
    {"skynet-small", "skynet", {1'000, 10'000, 10'000}, {kSame, kSame, kSame}, false, expect::skynet_sum},
    {"spawn", "spawn", {10'000, 100'000, 1'000'000}, {1'000, 10'000, 10'000}, false},
    {"yield", "yield", {100'000, 1'000'000, 10'000'000}, {0, 0, 0}, false},
    {"pingpong", "pingpong", {100'000, 1'000'000, 10'000'000}, {10'000, 100'000, 1'000'000}, true},
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

// What a correct run of s at size n prints as `result` (note 4).
long expected_result(const scenario_spec& s, long n);

// Note 5: why 1:1 threads cannot run s at size n, or nullopt if they can.
std::optional<std::string> threads_unable(const scenario_spec& s, long n);

// Note 5, for Boost.Fiber: why it is not run at a size, or nullopt.
std::optional<std::string> boost_fiber_unable(const scenario_spec& s, long n);

}  // namespace weft_compare
