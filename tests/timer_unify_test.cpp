// The one timer system (scheduler/src/timers.cpp): after(), ticker and
// context deadlines wait on the scheduler's per-worker timer heaps (or the
// fallback heap when no runtime runs). A fiber's after() in a select loop
// costs the channel and one timer record and fires on a worker; a plain
// thread's ticker ticks with and without a runtime, and across a runtime's
// end; a timer set on a worker stuck in a CPU-bound fiber fires on
// another; a stopped ticker delivers nothing afterwards.

#include <atomic>
#include <cstdlib>
#include <new>
#include <optional>
#include <thread>

#include "test_util.hpp"

#include "count_allocations.hpp"  // weft::test::allocations

namespace {

using namespace weft;
using namespace std::chrono_literals;

run_options one_worker() {
  run_options o;
  o.workers = 1;
  o.on_deadlock = deadlock_action::throw_in_run;
  return o;
}

class timer_unify : public weft::test::leak_checked {};

// after() in a select whose other case is ready: per iteration the
// channel (its core and its one-slot ring) and one timer record, nothing
// else (no std::function, no map node; the heap's vector grows
// amortised). One worker, so the thread_local count is the fiber's.
TEST_F(timer_unify, after_in_select_loop_allocates_channel_and_record_only) {
  constexpr long kIters = 10'000;
  long allocs = 0;
  long got = 0;
  run(
      [&] {
        auto ready = make_chan<int>(1);
        const long before = weft::test::allocations;
        for (long i = 0; i < kIters; i++) {
          (void)ready.try_send(1);
          select(on_recv(ready, [&](std::optional<int>) { got++; }),
                 on_recv(after(200ms), [](std::optional<time_point>) {}));
        }
        allocs = weft::test::allocations - before;
      },
      one_worker());
  EXPECT_EQ(got, kIters);
  EXPECT_LE(allocs, 3 * kIters + 64) << "allocations per iteration: " << double(allocs) / kIters;
}

// after() timers set by a fiber fire on the runtime's workers: counted in
// the workers' timers_fired, never by a separate timer thread.
TEST_F(timer_unify, after_fires_on_the_workers) {
  constexpr long kIters = 500;
  for (unsigned workers : {1u, 2u}) {
    std::uint64_t fired = 0;
    long got = 0;
    run_options o = one_worker();
    o.workers = workers;
    run(
        [&] {
          const std::uint64_t before = stats().total.timers_fired;
          for (long i = 0; i < kIters; i++)
            select(on_recv(after(1us), [&](std::optional<time_point> t) { got += t.has_value(); }));
          fired = stats().total.timers_fired - before;
        },
        o);
    EXPECT_EQ(got, kIters) << workers << " workers";
    // A fire is counted just after it (timers.cpp): the last few may lag.
    EXPECT_GE(fired, static_cast<std::uint64_t>(kIters - 10)) << workers << " workers";
  }
}

TEST_F(timer_unify, ticker_from_a_plain_thread_without_runtime) {
  ticker t(1ms);
  for (int i = 0; i < 3; i++) EXPECT_TRUE(t.c().recv().has_value());
  EXPECT_TRUE(t.stop());
  EXPECT_FALSE(t.stop());
  EXPECT_FALSE(t.c().try_recv().has_value());
}

// A plain thread's ticker during a runtime ticks on the workers' heaps (the
// deadlock detector sees it pending while every fiber and the thread wait),
// and keeps ticking after the runtime ends (moved to the fallback heap).
TEST_F(timer_unify, ticker_from_a_plain_thread_with_a_runtime_and_after_it) {
  std::atomic<bool> runtime_over{false};
  std::atomic<int> ticks_after{0};
  std::uint64_t fired = 0;
  std::thread th;
  run(
      [&] {
        auto ticked = make_chan<int>();
        const std::uint64_t before = stats().total.timers_fired;
        th = std::thread([&, ticked] {
          ticker t(1ms);
          for (int i = 0; i < 3; i++) EXPECT_TRUE(t.c().recv().has_value());
          ticked.send(1);
          while (!runtime_over.load(std::memory_order_acquire)) (void)t.c().recv();
          for (int i = 0; i < 3; i++) ticks_after += t.c().recv().has_value();
          EXPECT_TRUE(t.stop());
        });
        EXPECT_TRUE(ticked.recv().has_value());
        fired = stats().total.timers_fired - before;
      },
      [] {
        run_options o;
        o.workers = 2;
        o.on_deadlock = deadlock_action::throw_in_run;
        return o;
      }());
  runtime_over.store(true, std::memory_order_release);
  th.join();
  EXPECT_GE(fired, 2u);  // the third tick's count may lag its delivery
  EXPECT_EQ(ticks_after.load(), 3);
}

// Worker 0 is stuck in a CPU-bound fiber (main, spinning until the flag or
// a 20 s bound) right after it set a timer; the fiber waiting on the
// timer's channel runs on worker 1, which must wake for a timer on
// worker 0's heap although it may have gone to sleep with no timer pending.
TEST_F(timer_unify, timer_set_on_a_busy_worker_fires_on_another) {
  for (int round = 0; round < 5; round++) {
    std::atomic<bool> fired{false};
    bool in_time = false;
    run(
        [&] {
          auto handoff = make_chan<chan<time_point>>();
          go([&, handoff] {
            auto t = handoff.recv();
            if (t && t->recv()) fired.store(true, std::memory_order_release);
          });
          // Busy for a moment first, so that worker 1 has likely gone to
          // sleep with no timer pending (the case timers.cpp note 3 is
          // for); the test is correct either way.
          const auto settle = std::chrono::steady_clock::now() + 2ms;
          while (std::chrono::steady_clock::now() < settle) {
          }
          handoff.send(after(5ms));
          yield();  // the receiver takes the channel and parks on it
          const auto bound = std::chrono::steady_clock::now() + 20s;
          while (!fired.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < bound) {
          }
          in_time = fired.load(std::memory_order_acquire);
        },
        [] {
          run_options o;
          o.workers = 2;
          o.on_deadlock = deadlock_action::throw_in_run;
          return o;
        }());
    EXPECT_TRUE(in_time) << "round " << round;
  }
}

// After stop() returns, nothing arrives on the ticker's channel: no tick in
// flight (ticks fire under the heap's lock that stop takes) and none left
// from before (stop drains). A later timer on the same heap fires first, so
// a stale tick would be in the channel by then.
void stop_leaves_nothing() {
  for (int i = 0; i < 200; i++) {
    ticker t(std::chrono::microseconds(20 + i % 50));
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(i % 97);
    while (std::chrono::steady_clock::now() < until) {
    }
    (void)t.stop();
    EXPECT_TRUE(after(200us).recv().has_value());
    EXPECT_FALSE(t.c().try_recv().has_value()) << "iteration " << i;
  }
}

TEST_F(timer_unify, stopped_ticker_never_delivers_plain_thread) { stop_leaves_nothing(); }

TEST_F(timer_unify, stopped_ticker_never_delivers_fiber) { run([] { stop_leaves_nothing(); }, one_worker()); }

// A context's err is set once: a deadline racing cancel() (either may win)
// never changes it afterwards; a context cancelled long before its
// deadline stays cancelled, and one dropped before its deadline stops its
// timer (ASan: nothing left behind).
void cancel_before_deadline() {
  for (int i = 0; i < 100; i++) {
    auto ctx = context::background().with_timeout(std::chrono::microseconds(50 + i));
    auto early = context::background().with_timeout(1h);
    ctx.cancel();
    early.cancel();
    const context_error first = ctx.err();
    EXPECT_NE(first, context_error::none);
    { auto dropped = context::background().with_timeout(1h); }
    EXPECT_TRUE(after(300us).recv().has_value());
    EXPECT_EQ(ctx.err(), first);
    EXPECT_EQ(early.err(), context_error::cancelled);
  }
  auto ctx = context::background().with_timeout(1ms);
  EXPECT_FALSE(ctx.done().recv().has_value());  // closed by the deadline
  EXPECT_EQ(ctx.err(), context_error::deadline_exceeded);
}

TEST_F(timer_unify, context_cancel_before_deadline_plain_thread) { cancel_before_deadline(); }

TEST_F(timer_unify, context_cancel_before_deadline_fiber) {
  run([] { cancel_before_deadline(); }, [] {
    run_options o;
    o.workers = 2;
    o.on_deadlock = deadlock_action::throw_in_run;
    return o;
  }());
}

// An after() channel that outlives its runtime still receives its value
// (the pending timer moved to the fallback heap when the runtime ended).
TEST_F(timer_unify, after_channel_outlives_the_runtime) {
  chan<time_point> kept;
  run([&] { kept = after(20ms); }, one_worker());
  EXPECT_TRUE(kept.recv().has_value());
}

}  // namespace
