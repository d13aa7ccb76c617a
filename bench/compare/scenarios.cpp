// The checks of scenarios.hpp: expected results and the limits that make a
// model unable to run a size (weft_compare.cpp's design notes 4 and 5).

#include "scenarios.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <string_view>
#include <vector>

#include "../common/workloads.hpp"
#include "results.hpp"
#include "system.hpp"

namespace weft_compare {

// Note 5 (also for the network runner): why `live` threads at once exceed
// this machine's limits, or nullopt.
std::optional<std::string> thread_limit(long live) {
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

std::optional<std::string> threads_unable(const scenario_spec& s, long n) {
  const std::string_view p = s.program;
  long live = 0;  // threads alive at the same time
  if (p == "skynet") {
    for (long level = 1; level <= n; level *= 10) live += level;
  } else if (p == "parked" || p == "spawn" || p == "scale" || p == "latency" || p == "fileio" ||
             p == "allofcpu" || p == "allofsleep" || p == "allofnet" || p == "disk") {
    live = n;  // every task is started before the first finishes (or may be)
  } else if (p == "pool") {
    live = 8;  // the contract's pool size
  } else if (p == "onetask") {
    live = 1;
  } else if (p == "sieve") {
    live = n + 1;  // a filter per prime, and the generator
  } else if (p == "cpusplit") {
    live = (n + bench::kPrimeChunk - 1) / bench::kPrimeChunk;
  }
  return weft_compare::thread_limit(live);
}

// Resident bytes of one parked Boost.Fiber fiber (a 16 KiB pooled stack),
// measured with `parked` at 100k: 13,571.
constexpr double kBoostFiberResidentBytes = 13'571;
// Cells estimated to need more memory than this are not run: the machine
// is shared, and 10 GiB for one cell is not "cheap".
constexpr double kMemoryBudgetBytes = 8.0 * (1ull << 30);

std::optional<std::string> boost_fiber_unable(const scenario_spec& s, long n) {
  const std::string_view p = s.program;
  if (p != "scale" && p != "parked") return std::nullopt;
  const double need = kBoostFiberResidentBytes * static_cast<double>(n);
  if (need <= kMemoryBudgetBytes) return std::nullopt;
  return "n/a: not run, needs ~" + fmt("%.0f", need / (1ull << 30)) +
         " GiB (13.6 KB resident per parked fiber)";
}

namespace {

// The primes in [lo, hi) by a sieve of Eratosthenes over that window: the
// same count as bench::count_primes_trial(lo, hi) (trial division is exact),
// without its cost at 10^7 numbers.
class prime_window {
 public:
  prime_window(long lo, long hi) : lo_(lo), composite_(static_cast<std::size_t>(hi - lo)) {
    for (long d = 2; d * d < hi; ++d) {
      for (long m = std::max(d * d, (lo + d - 1) / d * d); m < hi; m += d)
        composite_[static_cast<std::size_t>(m - lo)] = true;
    }
    for (long k = lo; k < std::min(hi, 2L); ++k) composite_[static_cast<std::size_t>(k - lo)] = true;
  }
  // The primes in [a, b), a subrange of the window.
  long count(long a, long b) const {
    long c = 0;
    for (long k = a; k < b; ++k) c += !composite_[static_cast<std::size_t>(k - lo_)];
    return c;
  }

 private:
  long lo_;
  std::vector<bool> composite_;
};

// The contract's exercise ranges (docs/claims.md): allofcpu's task k counts
// [kBase + k*1000, kBase + (k+1)*1000), pool's even job k
// [kBase + k*100, kBase + (k+1)*100).
constexpr long kBase = 1'000'000;

}  // namespace

long allofcpu_expected(long n) {
  const prime_window w(kBase, kBase + n * 1'000);
  return w.count(kBase, kBase + n * 1'000);
}

long pool_expected(long n) {
  const prime_window w(kBase, kBase + n * 100);
  long sum = 0;
  for (long k = 0; k < n; ++k) sum += k % 2 ? 1 : w.count(kBase + k * 100, kBase + (k + 1) * 100);
  return sum;
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
    case expect::allofcpu_sum:
      return allofcpu_expected(n);
    case expect::pool_sum:
      return pool_expected(n);
  }
  return n;
}

}  // namespace weft_compare
