// weft::task<T> and its lost exceptions. An exception that no join() will
// ever see is a panic, like one escaping a `go` fiber: whether the handle was
// dropped before the fiber threw or after. Cancellation (fiber_cancelled) is
// never an error. Each panic is checked in a child process (a death test).

#include <stdexcept>
#include <string>

#include "test_util.hpp"

namespace {

using namespace weft;

// Closes `c` when destroyed: in a throwing fiber it runs during unwinding,
// after the throw and before the task is complete, with no suspension point
// left between them.
struct close_on_exit {
  chan<int> c;
  ~close_on_exit() { c.close(); }
};

// The panic line a go fiber prints, for a task spawned in this file.
constexpr const char* kLostPanic =
    "weft: fiber [0-9]+ \\(spawned at .*task_test.cpp:[0-9]+\\) terminated by an uncaught exception: lost";

class task_death : public ::testing::TestWithParam<unsigned> {};

// The handle is gone before the fiber throws: the fiber's own completion
// finds nobody to hand the exception to.
TEST_P(task_death, an_exception_thrown_after_the_handle_was_dropped_is_a_panic) {
  const unsigned n = GetParam();
  EXPECT_DEATH(run(
                   [] {
                     auto go_on = make_chan<int>();
                     auto thrown = make_chan<int>();
                     {
                       task<void> t = spawn([go_on, thrown] {
                         go_on.recv();
                         close_on_exit signal{thrown};
                         throw std::runtime_error("lost");
                       });
                     }  // dropped while the fiber waits on go_on
                     go_on.send(1);
                     thrown.recv();  // the fiber has thrown; it completes without suspending
                   },
                   {.workers = n}),
               kLostPanic);
}

// The fiber has thrown and completed before the handle is dropped.
TEST_P(task_death, an_exception_thrown_before_the_handle_was_dropped_is_a_panic) {
  const unsigned n = GetParam();
  EXPECT_DEATH(run(
                   [] {
                     task<int> t = spawn([]() -> int { throw std::runtime_error("lost"); });
                     while (!t.done()) yield();
                     t = task<int>{};  // drops the finished, unjoined task: panics here
                   },
                   {.workers = n}),
               kLostPanic);
}

TEST_P(task_death, a_detached_tasks_exception_is_a_panic) {
  const unsigned n = GetParam();
  EXPECT_DEATH(run(
                   [] {
                     auto thrown = make_chan<int>();
                     spawn([thrown] {
                       close_on_exit signal{thrown};
                       throw std::runtime_error("lost");
                     }).detach();
                     thrown.recv();
                   },
                   {.workers = n}),
               kLostPanic);
}

TEST_P(task_death, a_lost_exception_not_derived_from_std_exception_is_a_panic) {
  const unsigned n = GetParam();
  EXPECT_DEATH(run(
                   [] {
                     auto thrown = make_chan<int>();
                     spawn([thrown] {
                       close_on_exit signal{thrown};
                       throw 42;
                     }).detach();
                     thrown.recv();
                   },
                   {.workers = n}),
               "weft: fiber [0-9]+ \\(spawned at .*task_test.cpp:[0-9]+\\) terminated by an uncaught exception: "
               "an exception not derived from std::exception");
}

INSTANTIATE_TEST_SUITE_P(workers, task_death, ::testing::Values(1u, 2u));

// Not panics: each runs in a child that must exit normally, so that a
// wrong panic fails the test instead of the whole binary.

class task_ok : public ::testing::TestWithParam<unsigned> {};

TEST_P(task_ok, a_joined_exception_is_rethrown_and_not_a_panic) {
  const unsigned n = GetParam();
  EXPECT_EXIT(
      {
        std::string what;
        run(
            [&] {
              task<int> t = spawn([]() -> int { throw std::runtime_error("seen"); });
              try {
                (void)t.join();
              } catch (const std::runtime_error& e) {
                what = e.what();
              }
            },
            {.workers = n});
        std::exit(what == "seen" ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

// At shutdown a parked task is cancelled; its handle was dropped: silent.
TEST_P(task_ok, a_cancelled_task_whose_handle_is_gone_is_silent) {
  const unsigned n = GetParam();
  EXPECT_EXIT(
      {
        run(
            [] {
              auto never = make_chan<int>();
              auto parked = make_chan<int>();
              spawn([never, parked] {
                parked.close();
                never.recv();  // cancelled here when main returns
              }).detach();
              parked.recv();
            },
            {.workers = n});
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "^$");
}

// A task that never started when main returned never runs; its state
// completes with fiber_cancelled: silent too, and a late join sees it.
TEST_P(task_ok, a_task_never_started_at_shutdown_is_cancelled_silently) {
  const unsigned n = GetParam();
  EXPECT_EXIT(
      {
        task<int> kept;
        run(
            [&] {
              for (int i = 0; i < 100; ++i) spawn([] { return 1; }).detach();
              kept = spawn([] { return 2; });
            },
            {.workers = n});
        // Either it ran (2) or it was cancelled before it could.
        int code = 1;
        try {
          code = kept.join() == 2 ? 0 : 1;
        } catch (const fiber_cancelled&) {
          code = 0;
        }
        std::exit(code);
      },
      ::testing::ExitedWithCode(0), "^$");
}

INSTANTIATE_TEST_SUITE_P(workers, task_ok, ::testing::Values(1u, 2u));

TEST(task, empty_and_moved_from_tasks) {
  task<int> t;
  EXPECT_FALSE(t.valid());
  EXPECT_FALSE(t.done());
  EXPECT_THROW((void)t.join(), std::logic_error);
  t.detach();  // no-op on an empty task
  EXPECT_FALSE(t.valid());
}

}  // namespace
