// 10. I/O-bound: n requests (default 10,000) started at once, each waiting
// a deterministic pseudo-random 50-200 ms, a sleep standing for a network or
// disk round trip. CSP idea: a task that waits costs only its state. A
// parked fiber holds a few KiB of stack and no thread, so under fibers the
// whole batch takes about the longest latency; under 1:1 threads each
// request is a kernel thread, paid for in creation time and a stack each.
// weft::sleep_for parks a fiber and sleeps a plain thread, so the request
// below is written once. Prints elapsed time, peak RSS and the most
// requests seen waiting at once (threads are created one by one, so the
// first ones finish before the last exist); checks that every request ran
// exactly once.

#include <algorithm>
#include <atomic>

#include "common/workloads.hpp"
#include "model.hpp"

namespace {

// The latency of request i, 50-200 ms: the same splitmix64 draw as
// weft-bench's latency scenario, so every run (and both models) waits the
// same.
std::chrono::milliseconds latency(long i) { return std::chrono::milliseconds(bench::latency_ms(i)); }

}  // namespace

int main(int argc, char** argv) {
  const auto m = example::model::from_args(argc, argv);
  const long n = m.size(10000);
  long expected_ms = 0, longest_ms = 0;
  for (long i = 0; i < n; i++) {
    expected_ms += latency(i).count();
    longest_ms = std::max(longest_ms, static_cast<long>(latency(i).count()));
  }
  std::atomic<long> served{0}, waited_ms{0}, waiting{0}, most_waiting{0};
  const auto t0 = std::chrono::steady_clock::now();
  m.main_task([&] {
    weft::wait_group wg;
    wg.add(n);
    for (long i = 0; i < n; i++)
      m.start([&, i] {
        const long now = waiting.fetch_add(1, std::memory_order_relaxed) + 1;
        for (long seen = most_waiting; now > seen && !most_waiting.compare_exchange_weak(seen, now);) {
        }
        weft::sleep_for(latency(i));  // the "request"
        waiting.fetch_sub(1, std::memory_order_relaxed);
        waited_ms.fetch_add(latency(i).count(), std::memory_order_relaxed);
        served.fetch_add(1, std::memory_order_relaxed);
        wg.done();  // orders the counters before main's wg.wait()
      });
    wg.wait();
  });
  std::printf(
      "latency (%s): %ld requests of 50-200 ms (longest %ld ms) in %.0f ms, at most %ld waiting at once, "
      "peak RSS %.1f MiB\n",
      m.name(), served.load(), longest_ms, example::ms_since(t0), most_waiting.load(), example::peak_rss_mib());
  return served == n && waited_ms == expected_ms ? 0 : 1;
}
