// The execution models that examples/ and weft-bench both run their
// programs under: the program is written once against model::start() and
// model::main_task(), and the model decides what a task is.
//   fibers = true   weft::run on `workers` threads (M:N; 1 is the N:1 event
//                   loop shape); a task is a fiber started with weft::go.
//   fibers = false  no runtime; a task is a detached std::thread (1:1),
//                   talking over the same weft channels.
// weft::sleep_for and weft::blocking need no wrapper: from a plain thread
// they sleep the thread or simply make the call, so shared logic calls them
// directly. Each program adds its own command line on top (examples/model.hpp,
// bench/weft/bench_model.hpp).
#pragma once

#include <thread>
#include <utility>

#include <weft/weft.hpp>

namespace weft_models {

struct model {
  bool fibers = true;
  unsigned workers = 0;  // with fibers: weft::run's worker count; 0: weft's default

  // Starts a concurrent task: a fiber (weft::go), or a detached std::thread.
  // With fibers, call it from inside main_task(); with threads, from any
  // thread.
  template <class F>
  void start(F&& f) const {
    if (fibers)
      weft::go(std::forward<F>(f));
    else
      std::thread(std::forward<F>(f)).detach();
  }

  // Runs f as the program's main task and returns its result: under fibers
  // inside weft::run (which returns once f has), under threads on the
  // calling thread. Call it from a plain thread, not from a fiber.
  template <class F>
  auto main_task(F&& f) const {
    if (fibers) return weft::run(std::forward<F>(f), {.workers = workers});
    return f();
  }

  const char* name() const { return fibers ? "fibers" : "threads"; }
};

}  // namespace weft_models
