// The command line every example shares, over the two execution models of
// common/task_model.hpp (shared with weft-bench): --model=fibers (weft::run
// with --workers=N; N=1 is the event-loop shape) or --model=threads (one
// std::thread per task, over the same weft channels). An example writes its
// logic once against start() and main_task(). --n=N sets an example's
// problem size (0: its default).
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <weft/weft.hpp>

#include "common/task_model.hpp"

namespace example {

// start(), main_task() and name() come from weft_models::model.
struct model : weft_models::model {
  long n = 0;  // --n=N; 0: the example's default size

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

  // The problem size: --n=N if given, else the example's default.
  long size(long fallback) const { return n > 0 ? n : fallback; }
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
