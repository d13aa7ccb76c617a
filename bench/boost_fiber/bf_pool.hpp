// What boost-fiber-bench's scenario files share (boost_fiber_bench.cpp's
// design notes 1, 2 and 6 explain the choices): the outcome of a scenario,
// the work-stealing thread pool every scenario runs on, and a fiber latch.
// Include from boost-fiber-bench's sources only.
#pragma once

#include <boost/fiber/all.hpp>

#include <chrono>
#include <optional>
#include <thread>
#include <vector>

namespace bf_bench {

namespace bf = boost::fibers;
using clock_type = std::chrono::steady_clock;

// How often an idle helper thread wakes up to look for work (see note 2).
constexpr auto kHelperPoll = std::chrono::milliseconds(1);

struct outcome {
  long result = 0;
  long elapsed_ns = 0;
  long ops = 0;
  std::optional<long> bytes_per_task;
};

inline long nanos_since(clock_type::time_point start) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - start).count());
}

// ---------------------------------------------------------------------------
// The work-stealing thread pool (notes 1, 2 and 6). Constructed on the main
// thread, whose main fiber then runs the scenario; destroyed after it.
class work_stealing_pool {
 public:
  // `suspend` is work_stealing's flag: idle workers sleep (true) or spin.
  work_stealing_pool(unsigned workers, bool suspend) {
    if (workers == 1) {  // see note 1
      bf::use_scheduling_algorithm<bf::algo::round_robin>();
      return;
    }
    for (unsigned i = 1; i < workers; ++i) {
      helpers_.emplace_back([this, workers, suspend] { helper_main(workers, suspend); });
    }
    // Returns once all `workers` threads have registered (internal barrier).
    bf::use_scheduling_algorithm<bf::algo::work_stealing>(workers, suspend);
  }

  work_stealing_pool(const work_stealing_pool&) = delete;
  work_stealing_pool& operator=(const work_stealing_pool&) = delete;

  ~work_stealing_pool() {
    {
      std::unique_lock<bf::mutex> lock(mutex_);
      shutdown_ = true;
    }
    shutdown_cv_.notify_all();
    for (auto& t : helpers_) t.join();
  }

 private:
  void helper_main(unsigned workers, bool suspend) {
    bf::use_scheduling_algorithm<bf::algo::work_stealing>(workers, suspend);
    std::unique_lock<bf::mutex> lock(mutex_);
    // A timed wait, so the dispatcher never sleeps without a deadline.
    while (!shutdown_) shutdown_cv_.wait_for(lock, kHelperPoll);
  }

  bf::mutex mutex_;
  bf::condition_variable shutdown_cv_;
  bool shutdown_ = false;  // guarded by mutex_
  std::vector<std::thread> helpers_;
};

// A count-down latch for fibers on any thread (Go's sync.WaitGroup subset).
class fiber_latch {
 public:
  explicit fiber_latch(long count) : count_(count) {}
  void count_down() {
    std::unique_lock<bf::mutex> lock(mutex_);
    if (--count_ == 0) cv_.notify_all();
  }
  void wait() {
    std::unique_lock<bf::mutex> lock(mutex_);
    cv_.wait(lock, [this] { return count_ == 0; });
  }

 private:
  bf::mutex mutex_;
  bf::condition_variable cv_;
  long count_;  // guarded by mutex_
};

// Scenario entry points of exercises.cpp: the seed's exercises.
outcome run_onetask(long n, unsigned workers, bool suspend);
outcome run_allofcpu(long n, unsigned workers, bool suspend);
outcome run_pool(long n, unsigned workers, bool suspend);
outcome run_disk(long n, unsigned workers, bool suspend);

}  // namespace bf_bench
