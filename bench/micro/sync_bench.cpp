// sync microbenchmarks: weft::mutex uncontended and contended, and
// weft::wait_group waiting for a fan-out of fibers. Baselines (std::mutex on
// Google Benchmark's own threads, std::latch over std::threads) are in
// baseline_bench.cpp.
#include <cstdint>

#include "micro.hpp"

namespace {

// One iteration: lock and unlock a mutex no one else touches (the fast path:
// one compare-and-swap each way).
void weft_mutex_uncontended(benchmark::State& state) {
  weft_micro::in_runtime(state, 0, [&] {
    weft::mutex mu;
    std::int64_t n = 0;
    for (auto _ : state) {
      mu.lock();
      ++n;
      mu.unlock();
    }
    benchmark::DoNotOptimize(n);
  });
}
BENCHMARK(weft_mutex_uncontended)->Apply(weft_micro::workers_sweep);

constexpr int kContenders = 4;
constexpr int kLocksEach = 1000;

// One iteration: kContenders fibers each take the mutex kLocksEach times
// (increment a shared counter under it), and the main fiber waits for all
// of them. The items/s column is lock/unlock pairs per second; the four
// spawns per iteration are a small part of the 4,000 pairs.
void weft_mutex_contended(benchmark::State& state) {
  weft_micro::in_runtime(state, 0, [&] {
    weft::mutex mu;
    std::int64_t n = 0;  // guarded by mu
    for (auto _ : state) {
      weft::wait_group wg;
      wg.add(kContenders);
      for (int i = 0; i < kContenders; ++i) {
        weft::go([&] {
          for (int j = 0; j < kLocksEach; ++j) {
            mu.lock();
            ++n;
            mu.unlock();
          }
          wg.done();
        });
      }
      wg.wait();
    }
    state.SetItemsProcessed(state.iterations() * kContenders * kLocksEach);
    benchmark::DoNotOptimize(n);
  });
}
BENCHMARK(weft_mutex_contended)->Apply(weft_micro::workers_sweep);

constexpr int kFanOut = 16;

// One iteration: add kFanOut to a wait_group, start kFanOut fibers that each
// call done(), and wait (Go's WaitGroup fan-out/fan-in). items/s counts the
// fibers.
void weft_wait_group(benchmark::State& state) {
  weft_micro::in_runtime(state, 0, [&] {
    for (auto _ : state) {
      weft::wait_group wg;
      wg.add(kFanOut);
      for (int i = 0; i < kFanOut; ++i) weft::go([&wg] { wg.done(); });
      wg.wait();
    }
    state.SetItemsProcessed(state.iterations() * kFanOut);
  });
}
BENCHMARK(weft_wait_group)->Apply(weft_micro::workers_sweep);

}  // namespace
