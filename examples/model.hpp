// The two execution models every example runs under, chosen on the command
// line: --model=fibers (weft::run with --workers=N; N=1 is the event-loop
// shape) or --model=threads (one std::thread per task, over the same weft
// channels). An example writes its logic once against start() and main_task().
#pragma once

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

  // Parses --model=fibers|threads and --workers=N; exits on anything else.
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
      } else {
        std::fprintf(stderr, "usage: %s [--model=fibers|threads] [--workers=N]\n", argv[0]);
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

  const char* name() const { return fibers ? "fibers" : "threads"; }
};

}  // namespace example
