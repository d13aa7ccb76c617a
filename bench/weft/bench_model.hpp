// What every weft-bench scenario shares: the command-line configuration,
// the two ways of starting a task (a fiber or a std::thread), and the output
// line weft-compare parses. Scenarios are written once against start() and
// in_model() and run under either model.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>

#include <weft/weft.hpp>

namespace weft_bench {

using clk = std::chrono::steady_clock;

struct config {
  std::string scenario;
  bool fibers = true;    // false: one std::thread per task
  bool condvar = false;  // with !fibers: cv_chan instead of weft::chan
  unsigned workers = 2;
  long n = 0;
};

// Starts a task under the chosen model.
template <class F>
void start(const config& c, F&& f) {
  if (c.fibers)
    weft::go(std::forward<F>(f));
  else
    std::thread(std::forward<F>(f)).detach();
}

// Runs body as the program's main task under the chosen model.
template <class F>
void in_model(const config& c, F&& body) {
  if (c.fibers)
    weft::run(std::forward<F>(body), {.workers = c.workers});
  else
    body();
}

inline long rss_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * sysconf(_SC_PAGESIZE);
}

inline void report(const config& c, long result, clk::duration elapsed, long ops, const std::string& extra = "") {
  std::printf("weft-bench: scenario=%s model=%s workers=%u n=%ld result=%ld elapsed_ns=%lld ops=%ld%s%s\n",
              c.scenario.c_str(), c.fibers ? "fibers" : c.condvar ? "condvar" : "threads", c.fibers ? c.workers : 0,
              c.n, result,
              static_cast<long long>(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()), ops,
              extra.empty() ? "" : " ", extra.c_str());
}

// The application-shaped scenarios (app_scenarios.cpp).
void run_sieve(const config& c);
void run_workerpool(const config& c);
void run_cpusplit(const config& c);
void run_latency(const config& c);
void run_fileio(const config& c);
void run_scale(const config& c);

}  // namespace weft_bench
