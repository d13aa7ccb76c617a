// Timer microbenchmarks: weft::sleep_for and receiving from weft::after, each
// for 10 us, which is below the timers' resolution on most systems: the
// figure is how long a short sleep really takes, overhead included. The
// baseline (std::this_thread::sleep_for) is in baseline_bench.cpp.
#include <chrono>

#include "micro.hpp"

namespace {

constexpr auto kNap = std::chrono::microseconds(10);

// One iteration: the main fiber sleeps for kNap (parks on the runtime's
// timer heap; its worker idles or runs other fibers).
void weft_sleep_for(benchmark::State& state) {
  weft_micro::in_runtime(state, 0, [&] {
    for (auto _ : state) weft::sleep_for(kNap);
  });
}
BENCHMARK(weft_sleep_for)->Apply(weft_micro::workers_sweep);

// One iteration: create a one-shot timer channel with weft::after(kNap) and
// receive from it (Go's `<-time.After(d)`): a channel allocation, a timer,
// and a receive that parks until the timer fires.
void weft_after(benchmark::State& state) {
  weft_micro::in_runtime(state, 0, [&] {
    for (auto _ : state) benchmark::DoNotOptimize(weft::after(kNap).recv());
  });
}
BENCHMARK(weft_after)->Apply(weft_micro::workers_sweep);

}  // namespace
