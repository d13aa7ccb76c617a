// weft::stats()'s counters: known programs give known counts. Only what is
// deterministic is asserted: on one worker, with no other thread, the
// order of every switch is fixed (the woken fiber goes to the worker's
// next slot and runs as soon as the waker parks).

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iterator>

#include <weft/weft.hpp>

#include "test_util.hpp"

namespace weft {
namespace {

using test::leak_checked;

class stats_test : public leak_checked {};

run_options one_worker() {
  run_options o;
  o.workers = 1;
  o.on_deadlock = deadlock_action::throw_in_run;
  return o;
}

// The difference b - a of every counter.
scheduler_counters diff(const scheduler_counters& a, const scheduler_counters& b) {
  scheduler_counters d;
  d.fibers_created = b.fibers_created - a.fibers_created;
  d.fibers_started = b.fibers_started - a.fibers_started;
  d.fibers_exited = b.fibers_exited - a.fibers_exited;
  d.resumes = b.resumes - a.resumes;
  d.switches = b.switches - a.switches;
  d.steal_attempts = b.steal_attempts - a.steal_attempts;
  d.steals = b.steals - a.steals;
  d.fibers_stolen = b.fibers_stolen - a.fibers_stolen;
  for (std::size_t i = 0; i < park_reason_count; i++) d.parks[i] = b.parks[i] - a.parks[i];
  d.wakes_local = b.wakes_local - a.wakes_local;
  d.wakes_remote = b.wakes_remote - a.wakes_remote;
  d.timers_fired = b.timers_fired - a.timers_fired;
  d.blocking_calls = b.blocking_calls - a.blocking_calls;
  return d;
}

// An N-round-trip ping-pong over unbuffered channels on one worker, main
// against a fiber already parked in its first receive. Round trip i: main's
// send finds the pong fiber parked, hands the value over and wakes it;
// main's receive finds nobody and parks, switching to the pong fiber; its
// send finds main parked and wakes it; its next receive parks (in the last
// round the fiber exits instead), switching back to main. So 2N wake-ups
// and 2N switches, each into the fiber just woken, and 2N - 1 parks, all
// in channel operations.
TEST_F(stats_test, PingPongParksInChannelsOnly) {
  constexpr int kRounds = 100;
  scheduler_counters d;
  run(
      [&] {
        auto ping = make_chan<int>();
        auto pong = make_chan<int>();
        auto t = spawn([&] {
          for (int i = 0; i < kRounds; i++) pong.send(*ping.recv());
        });
        yield();  // the pong fiber runs and parks in its first recv
        const scheduler_counters before = stats().total;
        for (int i = 0; i < kRounds; i++) {
          ping.send(i);
          ASSERT_EQ(*pong.recv(), i);
        }
        const scheduler_counters after = stats().total;
        d = diff(before, after);
        t.join();
      },
      one_worker());
  EXPECT_EQ(d.parks_of(park_reason::chan), 2u * kRounds - 1);
  EXPECT_EQ(d.parks_total(), 2u * kRounds - 1);
  EXPECT_EQ(d.wakes_local, 2u * kRounds);
  EXPECT_EQ(d.wakes_remote, 0u);
  EXPECT_EQ(d.resumes, 2u * kRounds);
  EXPECT_EQ(d.switches, 2u * kRounds);
  EXPECT_EQ(d.steal_attempts, 0u);  // one worker: nobody to steal from
  EXPECT_EQ(d.fibers_created, 0u);
  EXPECT_EQ(d.fibers_exited, 1u);
}

TEST_F(stats_test, SleepsParkAndFireOneTimerEach) {
  constexpr int kSleeps = 5;
  scheduler_counters d;
  run(
      [&] {
        const scheduler_counters before = stats().total;
        for (int i = 0; i < kSleeps; i++) sleep_for(std::chrono::microseconds(100));
        d = diff(before, stats().total);
      },
      one_worker());
  EXPECT_EQ(d.parks_of(park_reason::sleep), static_cast<std::uint64_t>(kSleeps));
  EXPECT_EQ(d.parks_total(), static_cast<std::uint64_t>(kSleeps));
  EXPECT_EQ(d.timers_fired, static_cast<std::uint64_t>(kSleeps));
}

TEST_F(stats_test, BlockingCallsAreCounted) {
  constexpr int kCalls = 4;
  scheduler_counters d;
  run(
      [&] {
        const scheduler_counters before = stats().total;
        for (int i = 0; i < kCalls; i++) EXPECT_EQ(blocking([i] { return i; }), i);
        d = diff(before, stats().total);
      },
      one_worker());
  EXPECT_EQ(d.blocking_calls, static_cast<std::uint64_t>(kCalls));
  // A call may return before its fiber parks (it then finds the permit).
  EXPECT_LE(d.parks_of(park_reason::blocking), static_cast<std::uint64_t>(kCalls));
}

TEST_F(stats_test, JoinParksAsJoin) {
  scheduler_counters d;
  run(
      [&] {
        const scheduler_counters before = stats().total;
        auto t = spawn([] { return 7; });
        EXPECT_EQ(t.join(), 7);  // the fiber has not run yet: join parks
        d = diff(before, stats().total);
      },
      one_worker());
  EXPECT_EQ(d.parks_of(park_reason::join), 1u);
  EXPECT_EQ(d.parks_total(), 1u);
  EXPECT_EQ(d.fibers_created, 1u);
  EXPECT_EQ(d.fibers_started, 1u);
  EXPECT_EQ(d.fibers_exited, 1u);
}

// A parked fiber woken from a plain thread is a remote wake-up.
TEST_F(stats_test, WakeFromPlainThreadIsRemote) {
  scheduler_counters d;
  run(
      [&] {
        auto c = make_chan<int>();
        const scheduler_counters before = stats().total;
        std::thread th([&] { c.send(1); });
        EXPECT_EQ(*c.recv(), 1);
        th.join();
        d = diff(before, stats().total);
      },
      one_worker());
  // The thread's send either finds main parked (a remote wake) or parks
  // itself first (main's recv wakes the thread: no fiber wake at all).
  EXPECT_LE(d.wakes_remote, 1u);
  EXPECT_EQ(d.wakes_local, 0u);
}

// After run() returns, stats() reports the last run's counters, and the
// workers' counters add up to the total.
TEST_F(stats_test, LastRunKeptAndPerWorkerSums) {
  run(
      [] {
        for (int i = 0; i < 10; i++) go([] { yield(); });
      },
      [] {
        run_options o;
        o.workers = 2;
        return o;
      }());
  const runtime_stats s = stats();
  EXPECT_EQ(s.workers, 0u);
  ASSERT_EQ(s.per_worker.size(), 2u);
  scheduler_counters sum;
  for (const scheduler_counters& w : s.per_worker) sum += w;
  EXPECT_EQ(sum.switches, s.total.switches);
  EXPECT_EQ(sum.resumes, s.total.resumes);
  EXPECT_EQ(sum.parks_total(), s.total.parks_total());
  EXPECT_EQ(s.total.fibers_created, 11u);  // main and ten more
  EXPECT_EQ(s.total.fibers_exited, 11u);
  EXPECT_LE(s.total.steals, s.total.steal_attempts);
  EXPECT_LE(s.total.steals, s.total.fibers_stolen);
  std::size_t names = 0;
  for_each_counter(s.total, [&](const char* name, std::uint64_t) {
    EXPECT_NE(name[0], '\0');
    names++;
  });
  EXPECT_EQ(names, 8u + park_reason_count + 10u);
}

// The counters' names are a contract (docs/diagnostics.md, weft-bench's
// stats.<name> words): for_each_counter gives exactly these, in this
// order, each with its own field's value, and += adds field by field. The
// list is written out here on purpose, apart from counters.def, from
// which the struct, the iteration and the sum are generated.
TEST(stats_counters, NamesOrderValuesAndSumAreTheContract) {
  const char* const names[] = {
      "fibers_created", "fibers_started", "fibers_exited", "resumes", "switches", "steal_attempts", "steals",
      "fibers_stolen", "parks_chan", "parks_select", "parks_sync", "parks_sleep", "parks_io", "parks_blocking",
      "parks_join", "parks_other", "wakes_local", "wakes_remote", "futex_sleeps", "futex_wakes",
      "poller_interrupts", "timers_fired", "blocking_calls", "netpoll_polls", "netpoll_waits", "fds_ready"};
  scheduler_counters c;
  c.fibers_created = 1;
  c.fibers_started = 2;
  c.fibers_exited = 3;
  c.resumes = 4;
  c.switches = 5;
  c.steal_attempts = 6;
  c.steals = 7;
  c.fibers_stolen = 8;
  for (std::size_t i = 0; i < park_reason_count; i++) c.parks[i] = 9 + i;
  c.wakes_local = 17;
  c.wakes_remote = 18;
  c.futex_sleeps = 19;
  c.futex_wakes = 20;
  c.poller_interrupts = 21;
  c.timers_fired = 22;
  c.blocking_calls = 23;
  c.netpoll_polls = 24;
  c.netpoll_waits = 25;
  c.fds_ready = 26;
  scheduler_counters sum = c;
  sum += c;
  for (const scheduler_counters* s : {&c, &sum}) {
    const std::uint64_t times = s == &c ? 1 : 2;
    std::size_t k = 0;
    for_each_counter(*s, [&](const char* name, std::uint64_t v) {
      ASSERT_LT(k, std::size(names));
      EXPECT_STREQ(name, names[k]);
      EXPECT_EQ(v, times * (k + 1)) << name;
      k++;
    });
    EXPECT_EQ(k, std::size(names));
  }
}

}  // namespace
}  // namespace weft
