// The fiber control block's lifetime (scheduler/src/fiber_alloc.hpp): a
// fiber's block and closure live in a record until its first run, then
// move into the top of its own stack; large closures, and closures whose
// move may throw, stay where they were built. These tests check what that
// move must preserve, and that a task's result outlives the stack.

#include <array>
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace weft;

class fiber_block : public test::leak_checked {};

// An object that knows its own address, as a closure capturing a
// self-referential member (std::string's short buffer, an intrusive list
// head) does: moving it must go through its move constructor.
struct self_ref {
  const self_ref* me = this;
  std::uint64_t payload;
  explicit self_ref(std::uint64_t p) : payload(p) {}
  self_ref(const self_ref& o) : payload(o.payload) {}
  self_ref(self_ref&& o) noexcept : payload(o.payload) {}
  self_ref& operator=(const self_ref&) = delete;
  bool intact() const { return me == this; }
};

// Counts live instances, to catch a closure destroyed twice or never.
std::atomic<long> g_live{0};
struct counted {
  counted() { g_live.fetch_add(1); }
  counted(const counted&) { g_live.fetch_add(1); }
  counted(counted&&) noexcept { g_live.fetch_add(1); }
  counted& operator=(const counted&) = delete;
  ~counted() { g_live.fetch_sub(1); }
};

// Its move constructor may throw, so its block is never moved.
struct throwing_move {
  const throwing_move* me = this;
  int v;
  explicit throwing_move(int x) : v(x) {}
  throwing_move(const throwing_move& o) : v(o.v) {}
  throwing_move(throwing_move&& o) noexcept(false) : v(o.v) {}
  throwing_move& operator=(const throwing_move&) = delete;
};

// The address of a local in the calling fiber's first frame: equal for two
// fibers of the same closure type exactly when they ran on the same stack.
__attribute__((noinline)) std::uintptr_t frame_address() {
  volatile char here = 0;
  return reinterpret_cast<std::uintptr_t>(&here);
}

// One closure type for every fiber below, so that equal frame addresses
// mean the same stack (and the same block at its top).
task<std::string> spawn_recording(std::uintptr_t* frame, std::string s) {
  return spawn([frame, s] {
    *frame = frame_address();
    return s + "!";
  });
}

TEST_F(fiber_block, a_task_joined_after_its_stack_was_reused_returns_its_own_value) {
  run(
      [] {
        std::uintptr_t first_frame = 0;
        const std::string want(200, 'v');  // long: on the heap, not in the closure
        task<std::string> t = spawn_recording(&first_frame, want);
        while (!t.done()) yield();
        // Fibers that run and exit one at a time on this worker take the
        // stack it freed (the pool is LIFO) and write their own blocks and
        // frames over the first one's.
        bool reused = false;
        for (int i = 0; i < 64; i++) {
          std::uintptr_t frame = 0;
          const std::string mine(300, static_cast<char>('a' + i % 26));
          EXPECT_EQ(spawn_recording(&frame, mine).join(), mine + "!");
          reused = reused || frame == first_frame;
        }
        EXPECT_TRUE(reused) << "no later fiber ran on the first one's stack: the test proves nothing";
        EXPECT_EQ(t.join(), want + "!");
      },
      {.workers = 1});
}

TEST_F(fiber_block, a_failed_task_joined_after_its_stack_was_reused_rethrows_its_error) {
  run(
      [] {
        task<int> t = spawn([]() -> int { throw std::runtime_error("from the first fiber"); });
        while (!t.done()) yield();
        for (int i = 0; i < 64; i++) spawn([i] { return i; }).join();
        try {
          t.join();
          ADD_FAILURE() << "join did not rethrow";
        } catch (const std::runtime_error& e) {
          EXPECT_EQ(std::string(e.what()), "from the first fiber");
        }
      },
      {.workers = 1});
}

TEST_F(fiber_block, closures_that_point_into_themselves_survive_the_move_into_the_stack) {
  for (unsigned workers : {1u, 2u}) {
    run(
        [] {
          const long n = 1000;
          std::atomic<long> ok{0};
          wait_group wg;
          wg.add(n);
          for (long i = 0; i < n; i++) {
            self_ref r(static_cast<std::uint64_t>(i) * 7);
            std::string small = std::to_string(i);  // in its short buffer: self-referential
            go([r, small, i, &ok, &wg] {
              if (r.intact() && r.payload == static_cast<std::uint64_t>(i) * 7 && small == std::to_string(i))
                ok.fetch_add(1);
              wg.done();
            });
          }
          wg.wait();
          EXPECT_EQ(ok.load(), n);
        },
        {.workers = workers});
  }
}

TEST_F(fiber_block, every_closure_is_destroyed_once_whether_it_ran_or_not) {
  g_live.store(0);
  run(
      [] {
        auto gate = make_chan<int>();
        wait_group ran;
        ran.add(100);
        for (int i = 0; i < 100; i++) go([c = counted{}, gate, &ran] {
            ran.done();
            gate.recv();
          });
        ran.wait();
        // Queued and never started: main returns before any of these runs
        // (one worker, and main does not suspend again).
        for (int i = 0; i < 100; i++) go([c = counted{}] {});
        gate.close();
      },
      {.workers = 1});
  EXPECT_EQ(g_live.load(), 0);
}

TEST_F(fiber_block, a_closure_whose_move_may_throw_is_never_moved) {
  run([] {
    task<bool> t = spawn([m = throwing_move(42)] { return m.me == &m && m.v == 42; });
    EXPECT_TRUE(t.join());
  });
}

TEST_F(fiber_block, a_closure_too_large_for_the_stack_top_stays_on_the_heap) {
  run([] {
    std::array<unsigned char, 4096> big{};
    for (std::size_t i = 0; i < big.size(); i++) big[i] = static_cast<unsigned char>(i * 31);
    task<bool> t = spawn([big] {
      for (std::size_t i = 0; i < big.size(); i++)
        if (big[i] != static_cast<unsigned char>(i * 31)) return false;
      return true;
    });
    EXPECT_TRUE(t.join());
  });
}

// Records are allocated by the spawning thread; plain threads that spawn
// and exit hand their half-used chunks back, and later spawns reuse them.
TEST_F(fiber_block, fibers_spawned_by_plain_threads_that_exit_run) {
  run(
      [] {
        std::atomic<long> sum{0};
        wait_group wg;
        const int threads = 4, per = 500;
        wg.add(threads * per);
        for (int round = 0; round < 2; round++) {
          std::vector<std::thread> ts;
          for (int k = 0; k < threads / 2; k++)
            ts.emplace_back([&sum, &wg] {
              for (int i = 0; i < per; i++) go([&sum, &wg, i] {
                  sum.fetch_add(i);
                  wg.done();
                });
            });
          blocking([&ts] {
            for (auto& th : ts) th.join();
          });
        }
        wg.wait();
        EXPECT_EQ(sum.load(), static_cast<long>(threads) * per * (per - 1) / 2);
      },
      {.workers = 2});
}

}  // namespace
