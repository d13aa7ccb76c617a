// What boost-fiber-bench's scenario files share (boost_fiber_bench.cpp's
// design notes 1, 2, 4 and 6 explain the choices): the outcome of a
// scenario, the stacks every fiber gets and the one way fibers are started,
// the work-stealing thread pool every scenario runs on, a fiber latch, and
// the fan-in most scenarios end with. Include from boost-fiber-bench's
// sources only.
#pragma once

#include <boost/context/pooled_fixedsize_stack.hpp>
#include <boost/fiber/all.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
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
// Stacks (note 4): one boost::context::pooled_fixedsize_stack of
// kStackBytes stacks for the whole process, behind a mutex. The pool
// (boost::pool) is not thread-safe, and a fiber's stack is freed on the
// thread it finished on, which under work stealing need not be the thread
// that started it. A StackAllocator in Boost.Context's sense: copies share
// the one pool, and every fiber's record holds a copy, so the pool outlives
// the last fiber whatever the order of destruction at exit.

// Four times the one page Boost.Fiber's own skynet benchmarks give a fiber
// (performance/fiber/skynet*.cpp), for the fibers here that call into the
// file system and the timers. No guard page, as in those benchmarks.
constexpr std::size_t kStackBytes = 16 * 1024;

class locked_pooled_stack {
 public:
  locked_pooled_stack() : s_(std::make_shared<state>()) {}
  boost::context::stack_context allocate() {
    std::lock_guard<std::mutex> lock(s_->mutex);
    return s_->pool.allocate();
  }
  void deallocate(boost::context::stack_context& sctx) noexcept {
    std::lock_guard<std::mutex> lock(s_->mutex);
    s_->pool.deallocate(sctx);
  }

 private:
  struct state {
    std::mutex mutex;
    boost::context::pooled_fixedsize_stack pool{kStackBytes};  // guarded by mutex
  };
  std::shared_ptr<state> s_;
};

// The process's stack allocator (a copy; see above).
inline locked_pooled_stack fiber_stacks() {
  static const locked_pooled_stack stacks;
  return stacks;
}

// Starts fn(args...) on a new fiber with launch::post (note 3: queued, the
// caller keeps running, like `go f()`) on a stack of fiber_stacks().
template <class Fn, class... Args>
bf::fiber post(Fn&& fn, Args&&... args) {
  return bf::fiber(bf::launch::post, std::allocator_arg, fiber_stacks(), std::forward<Fn>(fn),
                   std::forward<Args>(args)...);
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

// Capacity of the channels many fibers report on; Boost requires a power of
// two and keeps one slot empty, so it holds 1023 (boost_fiber_bench.cpp,
// note 6).
constexpr std::size_t kReportBuffer = 1024;

// The fan-in most scenarios end with: starts one fiber per k in [0, count)
// that pushes value(k) on a report channel, and sums the count values as
// they arrive. Returns the sum and the time from the first start to the
// last value; every fiber is joined after the clock stops (note 5). Call
// from a fiber (the main one) of a thread in a work_stealing_pool.
template <class T, class F>
std::pair<T, long> fan_in(long count, const F& value) {
  bf::buffered_channel<T> report(kReportBuffer);
  std::vector<bf::fiber> fibers;
  fibers.reserve(static_cast<std::size_t>(count));
  const auto start = clock_type::now();
  for (long k = 0; k < count; ++k) {
    fibers.push_back(post([&report, &value, k] { report.push(value(k)); }));
  }
  T sum{};
  for (long k = 0; k < count; ++k) sum += report.value_pop();
  const long elapsed = nanos_since(start);
  for (auto& f : fibers) f.join();
  return {sum, elapsed};
}

// Scenario entry points of exercises.cpp: the seed's exercises.
outcome run_onetask(long n, unsigned workers, bool suspend);
outcome run_allofcpu(long n, unsigned workers, bool suspend);
outcome run_pool(long n, unsigned workers, bool suspend);
outcome run_disk(long n, unsigned workers, bool suspend);

}  // namespace bf_bench
