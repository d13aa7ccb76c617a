// Scheduler microbenchmarks: weft::yield between two fibers and
// weft::spawn + join. Baselines (raw Boost.Context switches,
// std::this_thread::yield, std::thread spawn + join) are in baseline_bench.cpp.
#include <atomic>

#include "micro.hpp"

namespace {

// One iteration: the main fiber yields once while a partner fiber yields in
// a loop. On one worker that is two switches (main -> partner -> main), the
// same as one round trip of the raw-switch baselines; on more workers the
// partner may run on another worker and yield finds the queue empty or a
// steal in flight.
void weft_yield(benchmark::State& state) {
  weft_micro::in_runtime(state, 0, [&] {
    std::atomic<bool> stop{false};
    auto partner = weft::spawn([&] {
      // Relaxed: stop carries no data; the join below orders everything.
      while (!stop.load(std::memory_order_relaxed)) weft::yield();
    });
    for (auto _ : state) weft::yield();
    stop.store(true, std::memory_order_relaxed);
    partner.join();
  });
}
BENCHMARK(weft_yield)->Apply(weft_micro::workers_sweep);

// One iteration: spawn a fiber that returns a value, and join it (Go's
// `go f()` plus waiting for its result). Includes the fiber's stack from the
// runtime's cache, its start, its exit and the joiner's wake-up.
void weft_spawn_join(benchmark::State& state) {
  weft_micro::in_runtime(state, 0, [&] {
    int sum = 0;
    for (auto _ : state) sum += weft::spawn([] { return 1; }).join();
    benchmark::DoNotOptimize(sum);
  });
}
BENCHMARK(weft_spawn_join)->Apply(weft_micro::workers_sweep);

}  // namespace
