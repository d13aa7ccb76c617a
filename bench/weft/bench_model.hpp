// What every weft-bench scenario shares: the command-line configuration
// over the execution models of common/task_model.hpp (shared with
// examples/), and the output line weft-compare parses. Scenarios are written
// once against config::start() and config::main_task() and run under
// either model.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <weft/weft.hpp>

#include "common/scenario_line.hpp"
#include "common/task_model.hpp"

namespace weft_bench {

using clk = std::chrono::steady_clock;

// The model (fibers, workers; start(), main_task()) and the scenario's
// arguments.
struct config : weft_models::model {
  config() { workers = 2; }
  std::string scenario;
  bool condvar = false;  // with !fibers: cv_chan instead of weft::chan
  long n = 0;
  std::string addr;  // --addr=HOST:PORT: allofnet's server
};

// With WEFT_BENCH_STATS set (weft-compare --stats), the fiber model's
// runtime counters (weft::stats(), of the run under way or the last one)
// as extra words "stats.<name>=<value>", the non-zero ones; else "".
inline std::string stats_words(const config& c) {
  if (!c.fibers || std::getenv("WEFT_BENCH_STATS") == nullptr) return "";
  std::string words;
  weft::for_each_counter(weft::stats().total, [&](const char* name, std::uint64_t v) {
    if (v == 0) return;
    if (!words.empty()) words += ' ';
    words += std::string("stats.") + name + "=" + std::to_string(v);
  });
  return words;
}

// Prints the result line weft-compare parses (common/scenario_line.hpp).
inline void report(const config& c, long result, clk::duration elapsed, long ops, const std::string& extra = "") {
  const std::string st = stats_words(c);
  bench::print_result_line(c.scenario, c.fibers ? "fibers" : c.condvar ? "condvar" : "threads",
                           c.fibers ? static_cast<long>(c.workers) : 0, c.n, result,
                           std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count(), ops,
                           st.empty() ? extra : extra.empty() ? st : extra + " " + st);
}

// The application-shaped scenarios (app_scenarios.cpp).
void run_sieve(const config& c);
void run_workerpool(const config& c);
void run_cpusplit(const config& c);
void run_latency(const config& c);
void run_fileio(const config& c);
void run_scale(const config& c);

// The seed's exercises (exercises.cpp; allofnet: net_client.cpp, built with
// weft::io). allofsleep is run_latency.
void run_onetask(const config& c);
void run_allofcpu(const config& c);
void run_pool(const config& c);
void run_disk(const config& c);
void run_allofnet(const config& c);

}  // namespace weft_bench
