// Shared by weft-micro's benchmark files: the worker-count sweep and the one
// way a benchmark body runs inside a weft runtime.
//
// How a weft benchmark is timed
// 1. Each call of a benchmark function starts one runtime (weft::run) with
//    state.range(0) workers and runs Google Benchmark's `for (auto _ : state)`
//    loop inside the main fiber. The loop is a counter with the timer reads at
//    its start and end, so it is legal in a fiber; the runtime's start and
//    shutdown fall outside the timed region.
// 2. The main fiber may resume on another worker after any suspension, so a
//    per-thread CPU clock read at the loop's start and end could come from two
//    threads. Every benchmark therefore uses real (wall) time for the
//    iteration count and the reported time, and the process's CPU time for
//    the CPU column (which then includes every worker, spinning or not).
// 3. Helper fibers a benchmark starts are joined before its main fiber
//    returns; nothing relies on the runtime cancelling them.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <iterator>
#include <vector>

#include <weft/weft.hpp>

namespace weft_micro {

// The worker counts every weft benchmark is swept over.
inline constexpr int kWorkers[] = {1, 2, 4};

// Registers the sweep: one run per worker count, named ".../workers:N",
// timed as note 2 says. For benchmarks whose only argument is the workers.
inline void workers_sweep(benchmark::internal::Benchmark* b) {
  b->ArgName("workers");
  for (int w : kWorkers) b->Arg(w);
  b->UseRealTime()->MeasureProcessCPUTime();
}

// The same for benchmarks with one more argument before the workers:
// ".../<name>:V/workers:N" for each V in values and each worker count.
inline void arg_and_workers_sweep(benchmark::internal::Benchmark* b, const char* name,
                                  const std::vector<std::int64_t>& values) {
  b->ArgNames({name, "workers"});
  b->ArgsProduct({values, {std::begin(kWorkers), std::end(kWorkers)}});
  b->UseRealTime()->MeasureProcessCPUTime();
}

// Runs body() as the main fiber of a runtime whose worker count is the
// benchmark's argument number workers_arg (0 for workers_sweep, 1 for
// arg_and_workers_sweep). Call from the benchmark function, which Google
// Benchmark runs on a plain thread; body runs `for (auto _ : state)` itself.
template <class F>
void in_runtime(benchmark::State& state, int workers_arg, F&& body) {
  weft::run([&] { body(); }, {.workers = static_cast<unsigned>(state.range(workers_arg))});
}

// Same as the registration helpers above, for baselines on plain threads
// (which have no workers to sweep): wall time, process CPU time.
inline void plain_timing(benchmark::internal::Benchmark* b) { b->UseRealTime()->MeasureProcessCPUTime(); }

}  // namespace weft_micro
