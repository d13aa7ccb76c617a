// The weft::blocking pool: provisioning (a call never waits behind another
// while the pool is below max_blocking_threads) and its bound.

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <semaphore>
#include <set>
#include <string>

#include "test_util.hpp"

namespace {

using namespace weft;
using namespace std::chrono_literals;

// The state letter of thread `tid` of this process (/proc/self/task/T/stat
// field 3), or 0.
char thread_state(pid_t tid) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return 0;
  char buf[512];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  return p != nullptr && p[1] == ' ' ? p[2] : 0;
}

// Restores the calling thread's CPU affinity on scope exit.
struct affinity_guard {
  cpu_set_t saved;
  bool ok;
  affinity_guard() { ok = ::sched_getaffinity(0, sizeof saved, &saved) == 0; }
  ~affinity_guard() {
    if (ok) ::sched_setaffinity(0, sizeof saved, &saved);
  }
  // Pins the calling thread (and the threads it starts from now on: the
  // workers and pool threads inherit it) to the first CPU it may use.
  bool pin_to_one_cpu() const {
    cpu_set_t one;
    CPU_ZERO(&one);
    int cpu = 0;
    while (!CPU_ISSET(cpu, &saved)) cpu++;
    CPU_SET(cpu, &one);
    return ::sched_setaffinity(0, sizeof one, &one) == 0;
  }
};

// The interleaving of the under-provisioning bug, written out. The pool has
// one idle thread T. Call A is submitted, then call B, before T has run:
// if both count on T, B waits behind A, and A waits for B. Everything here
// runs on one CPU and T has the idle scheduling class, so T cannot run
// until the worker sleeps: both submissions happen before T wakes, every
// time. A waits for B for at most 10 s, so the bug fails the test instead
// of hanging it.
TEST(blocking_pool, a_call_never_waits_behind_another_below_the_bound) {
  affinity_guard restore;
  if (!restore.ok) GTEST_SKIP() << "sched_getaffinity failed";
  ASSERT_TRUE(restore.pin_to_one_cpu());

  bool skipped = false;
  bool a_timed_out = false;
  bool b_ran = false;
  run(
      [&] {
        // Warm-up: the pool gets its one thread T.
        pid_t t = 0;
        blocking([&] { t = ::gettid(); });
        // T goes idle (waits on the pool's condition variable, state 'S')
        // once it has finished the call; give it the CPU until it does.
        const auto give_up = std::chrono::steady_clock::now() + 10s;
        while (thread_state(t) != 'S' && std::chrono::steady_clock::now() < give_up) ::sched_yield();
        sched_param sp{};
        if (thread_state(t) != 'S' || ::sched_setscheduler(t, SCHED_IDLE, &sp) != 0) {
          skipped = true;
          return;
        }
        std::binary_semaphore b_done{0};
        wait_group wg;
        wg.add(2);
        go([&] {
          // B is queued here and runs on this worker as soon as A parks.
          go([&] {
            blocking([&] {
              b_ran = true;
              b_done.release();
            });
            wg.done();
          });
          a_timed_out = blocking([&] { return !b_done.try_acquire_for(10s); });
          wg.done();
        });
        wg.wait();
      },
      {.workers = 1});
  if (skipped) GTEST_SKIP() << "could not put the pool thread in SCHED_IDLE";
  EXPECT_FALSE(a_timed_out) << "call B waited behind call A while the pool was below its bound";
  EXPECT_TRUE(b_ran);
}

// A call submitted while the pool's only thread is busy in a call that
// waits for it: the thread is busy, not idle, so the call is unclaimed,
// and (submitted right after A was taken, the pool already at one thread
// per CPU: the test runs on one CPU) it is the pool's monitor that starts
// its thread once the pool has made no progress for a while. A waits for
// B for at most 10 s, so a pool that never grows fails the test instead
// of hanging it.
TEST(blocking_pool, a_call_behind_a_stuck_call_gets_a_thread) {
  affinity_guard restore;
  if (!restore.ok) GTEST_SKIP() << "sched_getaffinity failed";
  ASSERT_TRUE(restore.pin_to_one_cpu());

  bool a_timed_out = false;
  bool b_ran = false;
  run(
      [&] {
        blocking([] {});  // the pool gets its one thread T, now idle
        std::binary_semaphore b_done{0};
        std::atomic<bool> a_running{false};
        wait_group wg;
        wg.add(1);
        go([&] {
          a_timed_out = blocking([&] {
            a_running.store(true);
            return !b_done.try_acquire_for(10s);
          });
          wg.done();
        });
        while (!a_running.load()) weft::yield();
        blocking([&] {
          b_ran = true;
          b_done.release();
        });
        wg.wait();
      },
      {.workers = 1});
  EXPECT_FALSE(a_timed_out) << "call B waited behind call A, stuck, while the pool was below its bound";
  EXPECT_TRUE(b_ran);
}

// The ids of this process's threads (the entries of /proc/self/task).
std::set<long> thread_ids() {
  std::set<long> ids;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (const dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ids.insert(std::strtol(e->d_name, nullptr, 10));
    ::closedir(d);
  }
  return ids;
}

// Below one thread per CPU, an unclaimed call starts a thread at once: it
// neither waits for the pool to stall for a millisecond nor is left to the
// monitor. Two calls are submitted back to back on one worker into an
// empty pool, A waiting for B: A's submission starts the pool's first
// thread, and B's, a moment later (the pool has just made progress: it
// started a thread), must start the second. Exactly two threads are then
// started for the pair (counted by id: threads of an earlier runtime may
// still be on their way out); under the 1 ms rule alone B would be left to the
// monitor, a third thread (which starts B's a millisecond later).
TEST(blocking_pool, calls_up_to_the_cpu_count_start_threads_at_once) {
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) < 2) GTEST_SKIP() << "needs two CPUs";
  bool a_timed_out = false;
  bool b_ran = false;
  std::set<long> before, after;
  run(
      [&] {
        std::binary_semaphore b_done{0};
        wait_group wg;
        wg.add(1);
        before = thread_ids();
        go([&] {
          a_timed_out = blocking([&] { return !b_done.try_acquire_for(10s); });
          wg.done();
        });
        // One worker: the yield runs A's fiber up to its park in blocking,
        // so A is submitted first, and B right after.
        weft::yield();
        blocking([&] {
          b_ran = true;
          b_done.release();
        });
        wg.wait();
        after = thread_ids();
      },
      {.workers = 1});
  EXPECT_FALSE(a_timed_out) << "call B waited behind call A while the pool was below its bound";
  EXPECT_TRUE(b_ran);
  ASSERT_FALSE(before.empty());
  std::size_t started = 0;
  for (const long id : after) started += before.count(id) == 0 ? 1 : 0;
  EXPECT_EQ(started, 2u) << "a call was left to the pool's monitor while the pool had fewer threads than CPUs";
}

// The bound holds: with max_blocking_threads = 2, never more than two
// calls run at once, and every call completes.
TEST(blocking_pool, never_runs_more_calls_at_once_than_its_bound) {
  std::atomic<int> running{0}, most{0}, finished{0};
  run(
      [&] {
        wait_group wg;
        for (int i = 0; i < 8; i++) {
          wg.add(1);
          go([&] {
            blocking([&] {
              const int now = running.fetch_add(1) + 1;
              int m = most.load();
              while (now > m && !most.compare_exchange_weak(m, now)) {
              }
              std::this_thread::yield();
              running.fetch_sub(1);
              finished.fetch_add(1);
            });
            wg.done();
          });
        }
        wg.wait();
      },
      {.workers = 2, .max_blocking_threads = 2});
  EXPECT_EQ(finished.load(), 8);
  EXPECT_LE(most.load(), 2);
  EXPECT_EQ(stats().live_fibers, 0u);
}

}  // namespace
