// The baselines weft's microbenchmarks are read against, in the same binary
// (marl's non_marl_bench.cpp pattern): raw Boost.Context switches for
// weft::yield, and plain std::thread equivalents for spawn + join, channels,
// mutex, wait_group and sleep. None starts a weft runtime; the channel
// baseline also runs weft's own channel between two std::threads (the 1:1
// model: weft channels need no runtime).
#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "micro.hpp"

namespace {

namespace bctx = boost::context;

// --- Context switches (the baseline for weft_yield) -------------------------

// One iteration: jump_fcontext into a partner context and back (two
// switches), the primitive weft's own switch is built on, with nothing
// around it: no scheduler, no run queue, no sanitizer hooks.
void fcontext_jump(benchmark::State& state) {
  constexpr std::size_t kStack = 64 * 1024;
  auto stack = std::make_unique<char[]>(kStack);
  // The partner bounces every jump straight back. It never returns (a
  // context function that returns ends the thread), and it owns nothing, so
  // abandoning it suspended at the end is safe.
  auto partner = [](bctx::detail::transfer_t t) {
    for (;;) t = bctx::detail::jump_fcontext(t.fctx, nullptr);
  };
  bctx::detail::fcontext_t f = bctx::detail::make_fcontext(stack.get() + kStack, kStack, partner);
  for (auto _ : state) f = bctx::detail::jump_fcontext(f, nullptr).fctx;
  benchmark::DoNotOptimize(f);
}
BENCHMARK(fcontext_jump)->Apply(weft_micro::plain_timing);

// One iteration: resume a boost::context::fiber that resumes its caller
// straight back (two switches through the public callcc-style API, which
// wraps each jump in a control record on the fiber's stack).
void boost_context_fiber(benchmark::State& state) {
  bool stop = false;
  bctx::fiber f{[&stop](bctx::fiber&& caller) {
    while (!stop) caller = std::move(caller).resume();
    return std::move(caller);
  }};
  for (auto _ : state) f = std::move(f).resume();
  stop = true;
  f = std::move(f).resume();  // runs the fiber to its end
}
BENCHMARK(boost_context_fiber)->Apply(weft_micro::plain_timing);

// One iteration: std::this_thread::yield (sched_yield) with nothing else to
// run on this thread's core, the 1:1 model's `yield`.
void std_this_thread_yield(benchmark::State& state) {
  for (auto _ : state) std::this_thread::yield();
}
BENCHMARK(std_this_thread_yield)->Apply(weft_micro::plain_timing);

// --- Spawn + join (the baseline for weft_spawn_join) ------------------------

// One iteration: start a std::thread that does nothing, and join it.
void std_thread_spawn_join(benchmark::State& state) {
  for (auto _ : state) std::thread([] {}).join();
}
BENCHMARK(std_thread_spawn_join)->Apply(weft_micro::plain_timing);

// --- Channels (the baseline for weft_chan_send_recv) ------------------------

// A Go-style channel for plain threads from std::mutex and
// std::condition_variable, the textbook 1:1 equivalent. capacity 0 is a
// rendezvous: send returns only once a receiver has taken the value.
template <class T>
class cv_chan {
 public:
  explicit cv_chan(std::size_t capacity) : cap_(capacity) {}

  void send(T v) {
    std::unique_lock lk(mu_);
    not_full_.wait(lk, [&] { return q_.size() < std::max<std::size_t>(cap_, 1); });
    q_.push_back(std::move(v));
    const std::uint64_t ticket = ++sent_;
    not_empty_.notify_one();
    if (cap_ == 0) taken_.wait(lk, [&] { return received_ >= ticket; });
  }

  // Empty once closed and drained.
  std::optional<T> recv() {
    std::unique_lock lk(mu_);
    not_empty_.wait(lk, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return std::nullopt;
    std::optional<T> v(std::move(q_.front()));
    q_.pop_front();
    ++received_;
    not_full_.notify_one();
    if (cap_ == 0) taken_.notify_all();
    return v;
  }

  void close() {
    std::lock_guard lk(mu_);
    closed_ = true;
    not_empty_.notify_all();
  }

 private:
  const std::size_t cap_;
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_, taken_;
  std::deque<T> q_;             // guarded by mu_
  std::uint64_t sent_ = 0;      // guarded by mu_
  std::uint64_t received_ = 0;  // guarded by mu_
  bool closed_ = false;         // guarded by mu_
};

// One iteration: this thread sends one value; a receiver std::thread drains
// the channel until it is closed. Chan is cv_chan or weft::chan.
template <class Chan>
void send_recv_on_threads(benchmark::State& state, Chan c) {
  std::int64_t sum = 0;
  std::thread receiver([&] {
    while (auto v = c.recv()) sum += *v;
  });
  std::int64_t i = 0;
  for (auto _ : state) c.send(i++);
  c.close();
  receiver.join();
  benchmark::DoNotOptimize(sum);
}

void cv_chan_send_recv(benchmark::State& state) {
  cv_chan<std::int64_t> c(static_cast<std::size_t>(state.range(0)));
  send_recv_on_threads<cv_chan<std::int64_t>&>(state, c);
}
BENCHMARK(cv_chan_send_recv)->ArgName("capacity")->Arg(0)->Arg(64)->Apply(weft_micro::plain_timing);

void weft_chan_on_threads(benchmark::State& state) {
  send_recv_on_threads(state, weft::make_chan<std::int64_t>(static_cast<std::size_t>(state.range(0))));
}
BENCHMARK(weft_chan_on_threads)->ArgName("capacity")->Arg(0)->Arg(64)->Apply(weft_micro::plain_timing);

// --- Mutex (the baseline for weft_mutex_*) ----------------------------------

// One iteration: lock and unlock a std::mutex no one else touches.
void std_mutex_uncontended(benchmark::State& state) {
  std::mutex mu;
  std::int64_t n = 0;
  for (auto _ : state) {
    mu.lock();
    ++n;
    mu.unlock();
  }
  benchmark::DoNotOptimize(n);
}
BENCHMARK(std_mutex_uncontended)->Apply(weft_micro::plain_timing);

// One iteration, on each of Google Benchmark's threads (4, like the 4
// contending fibers of weft_mutex_contended): lock and unlock one shared
// std::mutex. Compare items/s, the lock/unlock pairs of all threads per
// second.
std::mutex shared_mu;
std::int64_t shared_n = 0;  // guarded by shared_mu
void std_mutex_contended(benchmark::State& state) {
  for (auto _ : state) {
    shared_mu.lock();
    ++shared_n;
    shared_mu.unlock();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(std_mutex_contended)->Threads(4)->Apply(weft_micro::plain_timing);

// --- wait_group (the baseline for weft_wait_group) --------------------------

// One iteration: start 16 std::threads that each count a std::latch down,
// wait on the latch, then join the threads (a thread must be joined; the
// joins are part of the 1:1 fan-out's cost). items/s counts the threads.
void std_latch_fan_out(benchmark::State& state) {
  constexpr int kFanOut = 16;
  std::vector<std::thread> ts;
  ts.reserve(kFanOut);
  for (auto _ : state) {
    std::latch done(kFanOut);
    for (int i = 0; i < kFanOut; ++i) ts.emplace_back([&done] { done.count_down(); });
    done.wait();
    for (auto& t : ts) t.join();
    ts.clear();
  }
  state.SetItemsProcessed(state.iterations() * kFanOut);
}
BENCHMARK(std_latch_fan_out)->Apply(weft_micro::plain_timing);

// --- Sleep (the baseline for weft_sleep_for and weft_after) -----------------

// One iteration: std::this_thread::sleep_for(10 us), the same nap as
// time_bench.cpp's.
void std_sleep_for(benchmark::State& state) {
  for (auto _ : state) std::this_thread::sleep_for(std::chrono::microseconds(10));
}
BENCHMARK(std_sleep_for)->Apply(weft_micro::plain_timing);

}  // namespace
