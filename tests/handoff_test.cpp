// The monitor (scheduler/src/monitor.cpp): a fiber that holds its worker
// (a CPU loop, a raw blocking syscall) does not hold the fibers queued
// behind it, and the rule for spares: only for workers blocked in the
// kernel, never for a CPU loop, so a one-worker runtime still runs one
// fiber at a time. The fibers a culprit strands sit in each of its worker's
// queues in turn: the yield list (main yields until the culprit runs), the
// deque and the next slot (fibers spawned before it, and the fiber it
// wakes itself). Every scenario runs in a child process under an alarm,
// and every culprit gives up after a time limit, so a missing hand-off
// fails the test instead of hanging it.

#include <dirent.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

#if defined(__SANITIZE_THREAD__)
// The scenarios end their child processes with _Exit, which skips TSan's
// report at exit: stop at the first race instead, so that a race fails the
// death test (a nonzero exit) rather than passing unseen.
extern "C" const char* __tsan_default_options() { return "halt_on_error=1"; }
#endif

namespace {

using namespace weft;
using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

constexpr unsigned kChildDeadlineS = test::kSanitized ? 120 : 30;
// How long a culprit holds its worker at most: far longer than any
// scenario needs when the hand-off works.
constexpr auto kCulpritLimit = 20s;

// Threads of this process now, once the sanitizers' own threads (started
// with the first thread the process makes) are up.
int thread_count() {
  static const bool warmed = [] {
    std::thread([] {}).join();
    return true;
  }();
  (void)warmed;
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') n++;
  ::closedir(d);
  return n;
}

// Fails the child with `code`, saying why.
[[noreturn]] void fail(int code, const char* why) {
  std::fprintf(stderr, "FAILED: %s\n", why);
  std::_Exit(code);
}

// Spins, never suspending, until `stop` is set or the limit passes;
// whether it was stopped.
bool spin_until(const std::atomic<bool>& stop) {
  const auto end = clk::now() + kCulpritLimit;
  while (!stop.load(std::memory_order_relaxed))
    if (clk::now() >= end) return false;
  return true;
}

// Whether stats() names a stuck fiber that `is_culprit` accepts now.
template <class P>
bool named_now(P is_culprit) {
  const runtime_stats s = stats();
  return s.stuck_fiber != 0 && is_culprit(s.stuck_fiber) && s.stuck_workers >= 1 && s.handoffs >= 1;
}

// Waits (parking, bounded) until the monitor names a stuck fiber that
// `is_culprit` accepts; that fiber's id, or 0.
template <class P>
std::uint64_t wait_named(P is_culprit) {
  const auto end = clk::now() + kCulpritLimit;
  while (clk::now() < end) {
    const runtime_stats s = stats();
    if (named_now(is_culprit)) return s.stuck_fiber;
    sleep_for(1ms);
  }
  return 0;
}

// Whether dump_fibers() names `id` as running and stuck with `kind`
// ("computing" or "blocked in the kernel").
bool dump_names(std::uint64_t id, const char* kind) {
  ::testing::internal::CaptureStderr();
  dump_fibers();
  const std::string out = ::testing::internal::GetCapturedStderr();
  const std::size_t at = out.find("fiber " + std::to_string(id) + " [running");
  if (at == std::string::npos) return false;
  const std::string line = out.substr(at, out.find('\n', at) - at);
  return line.find(std::string(", stuck ") + kind + ": ") != std::string::npos;
}

void ping_pong(int rounds) {
  auto ping = make_chan<int>();
  auto pong = make_chan<int>();
  go([ping, pong, rounds] {
    for (int i = 0; i < rounds; i++) pong.send(*ping.recv() + 1);
  });
  for (int i = 0; i < rounds; i++) {
    ping.send(i);
    if (pong.recv() != i + 1) fail(4, "ping-pong value");
  }
}

class handoff : public ::testing::TestWithParam<unsigned> {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// A CPU loop on one of two workers: main (perhaps left in the spinner's
// worker's yield list) and a ping-pong run on the other worker. No spare:
// a CPU loop never gets one.
[[noreturn]] void spinner_beside_pingpong() {
  run_options o;
  o.workers = 2;
  ::alarm(kChildDeadlineS);
  std::atomic<bool> stop{false};
  std::atomic<bool> spinning{false};
  std::atomic<bool> timed_out{false};
  std::atomic<std::uint64_t> spinner{0};
  run(
      [&] {
        go([&] {
          spinner.store(this_fiber::id());
          spinning.store(true);
          if (!spin_until(stop)) timed_out.store(true);
        });
        while (!spinning.load()) yield();
        ping_pong(1000);
        if (timed_out.load()) fail(5, "the spinner stopped early");
        const std::uint64_t named = wait_named([&](std::uint64_t id) { return id == spinner.load(); });
        if (named == 0) fail(6, "stats() does not name the spinner");
        const runtime_stats s = stats();
        // Before the dump: its helper thread blocks this worker for a while.
        if (s.spares_started != 0 || s.spare_threads != 0) fail(8, "a CPU loop got a spare");
        if (!dump_names(named, "computing")) fail(7, "dump_fibers() does not name the spinner");
        stop.store(true);
      },
      o);
  if (timed_out.load()) fail(10, "the spinner reached its time limit");
  std::_Exit(0);
}

TEST(handoff_rule, a_spinner_on_one_of_two_workers_does_not_stop_a_pingpong) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(spinner_beside_pingpong(), ::testing::ExitedWithCode(0), "");
}

// N:1 stays one fiber at a time: main spins on a one-worker runtime; the
// monitor names it and hands off the fiber queued behind it, but nothing
// runs that fiber (no spare for a CPU loop) until main suspends; then the
// ping-pong with it completes.
[[noreturn]] void spinner_alone() {
  run_options o;
  o.workers = 1;
  ::alarm(kChildDeadlineS);
  std::atomic<bool> ran{false};
  run(
      [&] {
        auto ping = make_chan<int>();
        auto pong = make_chan<int>();
        go([&ran, ping, pong] {
          ran.store(true);
          for (int i = 0; i < 100; i++) pong.send(*ping.recv() + 1);
        });
        const std::uint64_t self = this_fiber::id();
        const auto end = clk::now() + kCulpritLimit;
        while (!named_now([self](std::uint64_t id) { return id == self; }))
          if (clk::now() >= end) fail(6, "stats() does not name the spinning main");
        // Twenty ticks more of spinning: a spare would have started and
        // run the queued fiber by now.
        const auto more = clk::now() + 100ms;
        while (clk::now() < more) {
        }
        const runtime_stats s = stats();
        if (ran.load()) fail(8, "another fiber ran while main spun on the only worker");
        if (s.spares_started != 0 || s.spare_threads != 0) fail(9, "a CPU loop got a spare");
        for (int i = 0; i < 100; i++) {
          ping.send(i);
          if (pong.recv() != i + 1) fail(4, "ping-pong value");
        }
      },
      o);
  if (!ran.load()) fail(10, "the queued fiber never ran");
  std::_Exit(0);
}

TEST(handoff_rule, a_spinner_on_a_one_worker_runtime_gets_no_spare) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(spinner_alone(), ::testing::ExitedWithCode(0), "");
}

// One fiber per worker blocked in a raw read() on a pipe: every worker's
// thread sleeps in the kernel. main (left in a yield list) runs on a
// spare; its sleeps end and a ping-pong completes. Once the reads return,
// the spares retire, and run() returns with no spare thread left.
[[noreturn]] void raw_reads_beside_timers(unsigned workers) {
  run_options o;
  o.workers = workers;
  ::alarm(kChildDeadlineS);
  const int threads_before = thread_count();
  std::vector<int> fds(2 * workers);
  for (unsigned i = 0; i < workers; i++)
    if (::pipe(&fds[2 * i]) != 0) fail(3, "pipe");
  std::atomic<unsigned> reading{0};
  std::vector<std::atomic<std::uint64_t>> readers(workers);
  run(
      [&] {
        for (unsigned i = 0; i < workers; i++)
          go([&, i] {
            readers[i].store(this_fiber::id());
            reading.fetch_add(1);
            char c;
            if (::read(fds[2 * i], &c, 1) != 1) fail(4, "read");
          });
        // Each yield lets a reader start; once all read, main is stranded
        // in a yield list until the monitor hands it off.
        while (reading.load() < workers) yield();
        for (int i = 0; i < 5; i++) sleep_for(2ms);
        ping_pong(1000);
        const auto is_reader = [&](std::uint64_t id) {
          for (auto& r : readers)
            if (r.load() == id) return true;
          return false;
        };
        const std::uint64_t named = wait_named(is_reader);
        if (named == 0) fail(6, "stats() does not name a blocked fiber");
        const runtime_stats s = stats();
        if (s.spares_started < 1 || s.spare_threads < 1) fail(7, "no spare ran main");
        if (s.spare_threads > workers) fail(8, "more spares than workers");
        if (!dump_names(named, "blocked in the kernel")) fail(9, "dump_fibers() does not name the blocked fiber");
        for (unsigned i = 0; i < workers; i++)
          if (::write(fds[2 * i + 1], "x", 1) != 1) fail(5, "write");
      },
      o);
  for (int fd : fds) ::close(fd);
  if (thread_count() != threads_before) fail(11, "a thread outlived run()");
  std::_Exit(0);
}

TEST_P(handoff, raw_blocking_reads_on_every_worker_do_not_stop_timers) {
  EXPECT_EXIT(raw_reads_beside_timers(GetParam()), ::testing::ExitedWithCode(0), "");
}

// A raw read() on one of two workers: the other worker serves main's
// timers; no spare (a worker is free).
[[noreturn]] void raw_read_on_one_of_two() {
  run_options o;
  o.workers = 2;
  ::alarm(kChildDeadlineS);
  int p[2];
  if (::pipe(p) != 0) fail(3, "pipe");
  std::atomic<bool> reading{false};
  std::atomic<std::uint64_t> reader{0};
  run(
      [&] {
        go([&] {
          reader.store(this_fiber::id());
          reading.store(true);
          char c;
          if (::read(p[0], &c, 1) != 1) fail(4, "read");
        });
        while (!reading.load()) yield();
        for (int i = 0; i < 5; i++) sleep_for(2ms);
        if (wait_named([&](std::uint64_t id) { return id == reader.load(); }) == 0)
          fail(6, "stats() does not name the blocked fiber");
        if (stats().spares_started != 0) fail(7, "a spare started beside a free worker");
        if (::write(p[1], "x", 1) != 1) fail(5, "write");
      },
      o);
  std::_Exit(0);
}

TEST(handoff_rule, a_raw_blocking_read_on_one_of_two_workers_does_not_stop_timers) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(raw_read_on_one_of_two(), ::testing::ExitedWithCode(0), "");
}

// The fibers a spinner strands in its worker's deque (spawned before it)
// and next slot (the fiber it wakes itself) run on the other worker.
[[noreturn]] void spinner_with_queued_fibers() {
  run_options o;
  o.workers = 2;
  ::alarm(kChildDeadlineS);
  std::atomic<bool> stop{false};
  std::atomic<bool> timed_out{false};
  std::atomic<int> ran{0};
  constexpr int kQueued = 8;
  wait_group wg;  // outlives every fiber: run() returns after they end
  run(
      [&] {
        wg.add(kQueued);
        for (int i = 0; i < kQueued; i++)
          go([&] {
            ran.fetch_add(1);
            wg.done();
          });
        auto woken = make_chan<int>();
        // Spawned last, so the worker runs it first (its deque is
        // LIFO): it wakes main, which waits on `woken`, and spins.
        go([&] {
          while (!woken.try_send(1))
            if (stop.load()) return;  // unreachable: main waits
          if (!spin_until(stop)) timed_out.store(true);
        });
        if (woken.recv() != 1) fail(4, "woken");
        wg.wait();
        if (ran.load() != kQueued) fail(5, "queued fibers");
        stop.store(true);
      },
      o);
  if (timed_out.load()) fail(10, "the spinner reached its time limit");
  std::_Exit(0);
}

TEST(handoff_rule, a_spinner_does_not_strand_its_deque_and_next_slot) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(spinner_with_queued_fibers(), ::testing::ExitedWithCode(0), "");
}

// An ordinary ping-pong never looks stuck: the monitor hands nothing off
// and starts no spare.
TEST_P(handoff, the_monitor_stays_quiet_in_an_ordinary_pingpong) {
  std::uint64_t handoffs = 1;
  std::uint64_t spares = 1;
  run_options o;
  o.workers = GetParam();
  run(
      [&] {
        ping_pong(20000);
        const runtime_stats s = stats();
        handoffs = s.handoffs;
        spares = s.spares_started;
      },
      o);
  EXPECT_EQ(handoffs, 0u);
  EXPECT_EQ(spares, 0u);
}

INSTANTIATE_TEST_SUITE_P(workers, handoff, ::testing::Values(1u, 2u));

}  // namespace
