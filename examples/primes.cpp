// 9. CPU-bound: count the primes below n (default 5,000,000) by trial
// division, the range split into 100 chunks, one task per chunk, each
// sending its count on a channel. CSP idea: the tasks share nothing; each
// owns its chunk and hands back one number, so they run in parallel without
// a lock. Nothing here waits, so a fiber never yields: the M:N scheduler
// spreads the chunks over its --workers threads (idle workers steal), the
// same parallelism threads get from the kernel, while N:1 runs them one
// after another. The count is checked against a sequential sieve. Both
// counts are bench/common/workloads.hpp's, which weft-bench's cpusplit uses.

#include "common/workloads.hpp"
#include "model.hpp"

int main(int argc, char** argv) {
  const auto m = example::model::from_args(argc, argv);
  const long n = m.size(5'000'000);
  constexpr long chunks = 100;
  unsigned workers = 0;  // of the fiber runtime; 0 under threads
  const auto t0 = std::chrono::steady_clock::now();
  const long count = m.main_task([&] {
    workers = weft::stats().workers;
    // Room for every count: a chunk's task finishes without waiting for main.
    auto counts = weft::make_chan<long>(chunks);
    for (long c = 0; c < chunks; c++)
      m.start([counts, lo = n * c / chunks, hi = n * (c + 1) / chunks] {
        counts.send(bench::count_primes_trial(lo, hi));
      });
    long total = 0;
    for (long c = 0; c < chunks; c++) total += *counts.recv();
    return total;
  });
  const double ms = example::ms_since(t0);
  const long expected = static_cast<long>(bench::primes_below(n).size());
  std::printf("primes (%s", m.name());
  if (workers != 0) std::printf(" on %u worker%s", workers, workers == 1 ? "" : "s");
  std::printf("): %ld primes below %ld in %ld tasks, %.0f ms (sieve says %ld)\n", count, n, chunks, ms, expected);
  return count == expected ? 0 : 1;
}
