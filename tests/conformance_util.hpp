// Shared by the Go conformance tests (conformance_test.cpp for Go's
// src/runtime/chan_test.go, conformance_programs_test.cpp for test/chan/):
// the fixture over worker counts and the fiber-or-thread partner.

#pragma once

#include <atomic>
#include <thread>
#include <utility>

#include "test_util.hpp"

namespace weft_conformance {

using namespace weft;
using namespace std::chrono_literals;
using weft::test::scaled;

class go_chan : public weft::test::workers {};

// Runs f as a fiber, or as a plain thread, until join() or destruction.
// A thread is made known to the deadlock detector before the constructor
// returns: one that has not touched weft yet is invisible to it
// (docs/scheduler.md), and under load its start can take longer than the
// detector's grace period while every fiber waits for it.
class partner {
 public:
  template <class F>
  partner(bool thread, F f) {
    if (thread) {
      std::atomic<bool> started{false};
      thread_ = std::thread([&started, f = std::move(f)]() mutable {
        (void)chan<char>().try_recv();  // any weft call registers the thread
        started = true;
        f();
      });
      while (!started.load()) std::this_thread::yield();  // the worker stays busy: no detector
    } else {
      task_ = spawn(std::move(f));
    }
  }
  partner(partner&&) = default;
  ~partner() { join(); }
  void join() {
    if (thread_.joinable()) blocking([this] { thread_.join(); });
    if (task_.valid()) task_.join();
  }

 private:
  std::thread thread_;
  task<void> task_;
};

}  // namespace weft_conformance
