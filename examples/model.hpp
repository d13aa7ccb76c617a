// The two execution models every example runs under, chosen on the command
// line: --model=fibers (weft::run with --workers=N; N=1 is the event-loop
// shape) or --model=threads (one std::thread per task, over the same weft
// channels). An example writes its logic once against start() and main_task().
// weft::sleep_for and weft::blocking need no wrapper: from a plain thread
// they sleep the thread or simply make the call, so shared logic calls them
// directly. --n=N sets an example's problem size (0: its default).
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <utility>

#include <weft/weft.hpp>

namespace example {

struct model {
  bool fibers = true;
  unsigned workers = 0;  // 0: weft's default
  long n = 0;            // --n=N; 0: the example's default size

  // Parses --model=fibers|threads, --workers=N and --n=N; exits on anything
  // else.
  static model from_args(int argc, char** argv) {
    model m;
    for (int i = 1; i < argc; i++) {
      const std::string a = argv[i];
      if (a == "--model=fibers") {
        m.fibers = true;
      } else if (a == "--model=threads") {
        m.fibers = false;
      } else if (a.rfind("--workers=", 0) == 0) {
        m.workers = static_cast<unsigned>(std::strtoul(a.c_str() + 10, nullptr, 10));
      } else if (a.rfind("--n=", 0) == 0 && std::strtol(a.c_str() + 4, nullptr, 10) > 0) {
        m.n = std::strtol(a.c_str() + 4, nullptr, 10);
      } else {
        std::fprintf(stderr, "usage: %s [--model=fibers|threads] [--workers=N] [--n=N]\n", argv[0]);
        std::exit(2);
      }
    }
    return m;
  }

  // Starts a concurrent task: a fiber, or a detached thread.
  template <class F>
  void start(F&& f) const {
    if (fibers)
      weft::go(std::forward<F>(f));
    else
      std::thread(std::forward<F>(f)).detach();
  }

  // Runs the program's main task under the model and returns its result.
  template <class F>
  auto main_task(F&& f) const {
    if (fibers) return weft::run(std::forward<F>(f), {.workers = workers});
    return f();
  }

  // The problem size: --n=N if given, else the example's default.
  long size(long fallback) const { return n > 0 ? n : fallback; }

  const char* name() const { return fibers ? "fibers" : "threads"; }
};

// Milliseconds elapsed since t0.
inline double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// The process's peak resident set so far, in MiB (getrusage's ru_maxrss).
inline double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

}  // namespace example
