// Fiber dumps: dump_fibers(), the SIGQUIT dump and the deadlock report
// name the function a fiber is parked in, unwound from its saved context.
// The SIGQUIT cases run in child processes (death tests), each bounded by
// an alarm.

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gmock/gmock.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "test_util.hpp"

// Outside any namespace, so that its demangled name starts the frame line.
// noinline, and the value used after the call, so that the receive stays a
// call from this function's own frame.
__attribute__((noinline)) int parked_in_this_function(weft::chan<int> c) {
  std::optional<int> v = c.recv();
  asm volatile("" ::: "memory");
  return v.value_or(-1) + 1;
}

namespace {

using namespace weft;
using ::testing::HasSubstr;
using ::testing::Not;

// The entry of fiber `id` in a dump: its heading line and frame lines, up
// to the next fiber's heading.
std::string entry_of(const std::string& dump, std::uint64_t id) {
  const std::string head = "fiber " + std::to_string(id) + " ";
  std::size_t at = dump.rfind("\n" + head);
  if (at == std::string::npos) {
    if (dump.compare(0, head.size(), head) != 0) return {};
    at = 0;
  } else {
    at++;
  }
  const std::size_t end = dump.find("\nfiber ", at);
  return dump.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// The entry of fiber `id` in dump_fibers()'s output once it shows the
// fiber parked on a channel receive (a fiber shows up once it has parked;
// after a handshake it may still be on its way there). Empty if it never
// does.
std::string dumped_parked_entry(std::uint64_t id) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    ::testing::internal::CaptureStderr();
    dump_fibers();
    const std::string out = ::testing::internal::GetCapturedStderr();
    std::string e = entry_of(out, id);
    if (e.find("[chan receive") != std::string::npos) return e;
    yield();
  }
  return {};
}

// Whether the frames can carry file:line: the test's debug information
// maps the call's address to its own line only when nothing is inlined.
#if defined(__OPTIMIZE__)
constexpr bool kExactLines = false;
#else
constexpr bool kExactLines = true;
#endif

class dump : public weft::test::workers {};

TEST_P(dump, dump_fibers_names_the_function_a_fiber_is_parked_in) {
  run(
      [] {
        auto c = make_chan<int>();
        auto ids = make_chan<std::uint64_t>();
        auto t = spawn([c, ids] {
          ids.send(this_fiber::id());
          return parked_in_this_function(c);
        });
        const std::uint64_t id = *ids.recv();
        const std::string e = dumped_parked_entry(id);
        ASSERT_FALSE(e.empty()) << "fiber " << id << " never showed up parked in dump_fibers";
        EXPECT_THAT(e, HasSubstr("\n    parked_in_this_function(weft::chan<int>)+0x")) << e;
        if (kExactLines) {
          EXPECT_THAT(e, HasSubstr("dump_test.cpp:")) << e;
        }
        // The frames stop at the fiber's own stack: the worker's scheduling
        // loop (on the thread's stack) never shows up in a fiber's entry.
        EXPECT_THAT(e, Not(HasSubstr("worker::loop"))) << e;
        c.send(41);
        EXPECT_EQ(t.join(), 42);
      },
      opts());
}

TEST_P(dump, deadlock_report_names_the_function_a_fiber_is_parked_in) {
  try {
    run(
        [] {
          auto c = make_chan<int>();
          go(parked_in_this_function, c);
          make_chan<int>().recv();  // main waits for good too
        },
        opts());
    ADD_FAILURE() << "run() returned without a deadlock";
  } catch (const deadlock_error& e) {
    const std::string report = e.what();
    EXPECT_THAT(entry_of(report, 2), HasSubstr("\n    parked_in_this_function(weft::chan<int>)+0x")) << report;
    EXPECT_THAT(entry_of(report, 1), HasSubstr("[chan receive")) << report;
  }
}

// Dumps taken while other fibers run, park and wake on other workers (the
// dump stops nobody: dump.cpp, note 2) finish, list the fibers and leave
// them undisturbed; under ASan and TSan they read nothing they must not.
TEST_P(dump, dumps_while_fibers_move) {
  run(
      [] {
        constexpr int kPairs = 4;
        const long rounds = weft::test::scaled(2000);
        wait_group wg;
        wg.add(2 * kPairs);
        for (int p = 0; p < kPairs; p++) {
          auto ping = make_chan<long>();
          auto pong = make_chan<long>();
          go([=, &wg] {
            for (long i = 0; i < rounds; i++) pong.send(*ping.recv() + 1);
            wg.done();
          });
          go([=, &wg] {
            long v = 0;
            for (long i = 0; i < rounds; i++) {
              ping.send(v);
              v = *pong.recv();
            }
            EXPECT_EQ(v, rounds);
            wg.done();
          });
        }
        for (int d = 0; d < 5; d++) {
          ::testing::internal::CaptureStderr();
          dump_fibers();
          const std::string out = ::testing::internal::GetCapturedStderr();
          EXPECT_EQ(out.rfind("weft: fiber dump\n", 0), 0u) << out;
          yield();
        }
        wg.wait();
      },
      opts());
}

INSTANTIATE_TEST_SUITE_P(workers, dump, WEFT_WORKER_COUNTS);

// A fiber that has never parked or yielded (here a CPU loop, the case a
// dump is most wanted for) is listed as running on its worker; fibers
// queued that have never run are counted. One worker, dumped from a plain
// thread while the loop holds it.
TEST(dump_unregistered, a_fiber_that_never_parked_is_listed_running) {
  std::atomic<std::uint64_t> spinner_id{0};
  std::atomic<bool> seen{false};
  std::string found;
  run(
      [&] {
        auto done = make_chan<int>(1);
        go([&, done] {
          // Three fibers queued behind us, that cannot run while we spin.
          for (int i = 0; i < 3; i++) go([] {});
          spinner_id.store(this_fiber::id(), std::memory_order_release);
          // Bounded: a dump that never lists us must not hang the test.
          const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(20);
          while (!seen.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < limit) {
          }
          done.send(1);
        });
        std::thread dumper([&] {
          std::uint64_t id = 0;
          while ((id = spinner_id.load(std::memory_order_acquire)) == 0) std::this_thread::yield();
          for (int attempt = 0; attempt < 200 && found.empty(); attempt++) {
            ::testing::internal::CaptureStderr();
            dump_fibers();
            const std::string out = ::testing::internal::GetCapturedStderr();
            if (entry_of(out, id).find("[running on worker 0") != std::string::npos) found = out;
          }
          seen.store(true, std::memory_order_release);
        });
        done.recv();
        dumper.join();
      },
      run_options{.workers = 1});
  ASSERT_FALSE(found.empty()) << "the spinning fiber was never listed as running";
  EXPECT_THAT(found, HasSubstr(", has not parked yet")) << found;
  EXPECT_THAT(found, HasSubstr("]: spawned at ")) << found;
  EXPECT_THAT(found, HasSubstr("dump_test.cpp:")) << found;
  EXPECT_THAT(found, HasSubstr("(and about 3 fibers queued that have not run yet")) << found;
}


// The SIGQUIT handler is taken while run() runs and given back after.
TEST(dump_signal, installed_during_run_and_restored_after) {
  struct sigaction before {};
  ASSERT_EQ(sigaction(SIGQUIT, nullptr, &before), 0);
  ASSERT_EQ(before.sa_handler, SIG_DFL);
  bool during_ours = false;
  run([&] {
    struct sigaction now {};
    sigaction(SIGQUIT, nullptr, &now);
    during_ours = now.sa_handler != SIG_DFL;
  });
  EXPECT_TRUE(during_ours);
  struct sigaction after {};
  sigaction(SIGQUIT, nullptr, &after);
  EXPECT_EQ(after.sa_handler, SIG_DFL);

  bool during_off = true;
  run(
      [&] {
        struct sigaction now {};
        sigaction(SIGQUIT, nullptr, &now);
        during_off = now.sa_handler != SIG_DFL;
      },
      {.dump_on_sigquit = false});
  EXPECT_FALSE(during_off);
}

// In the child: a fiber parked in parked_in_this_function, then SIGQUIT
// from main, which then waits in a blocking call (so that no deadlock is
// reported) until the signal's dump ends the process.
void child_raises_sigquit(run_options o) {
  const rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  alarm(60);
  o.workers = 1;
  run(
      [] {
        auto c = make_chan<int>();
        go(parked_in_this_function, c);
        // One worker: yield runs the new fiber until it parks.
        yield();
        raise(SIGQUIT);
        blocking([] {
          for (;;) pause();
        });
      },
      o);
}

TEST(dump_signal_death, sigquit_prints_the_dump_and_ends_the_process) {
  EXPECT_EXIT(child_raises_sigquit({}), ::testing::KilledBySignal(SIGQUIT),
              "SIGQUIT: weft fiber dump\n(.|\n)*fiber 2 \\[chan receive [^]]*\\]: "
              "spawned at [^\n]*dump_test.cpp:[0-9]+\n(    [^\n]*\n)*    parked_in_this_function\\(weft::chan<int>\\)\\+0x");
}

TEST(dump_signal_death, off_by_option_or_environment) {
  EXPECT_EXIT(child_raises_sigquit({.dump_on_sigquit = false}), ::testing::KilledBySignal(SIGQUIT),
              Not(HasSubstr("fiber dump")));
  EXPECT_EXIT(
      {
        setenv("WEFT_SIGQUIT", "0", 1);
        child_raises_sigquit({});
      },
      ::testing::KilledBySignal(SIGQUIT), Not(HasSubstr("fiber dump")));
}

extern "C" void own_sigquit_handler(int) {
  const char msg[] = "the program's own handler\n";
  [[maybe_unused]] const ssize_t n = write(2, msg, sizeof msg - 1);
  _exit(7);
}

TEST(dump_signal_death, a_handler_of_the_program_is_left_alone) {
  EXPECT_EXIT(
      {
        signal(SIGQUIT, own_sigquit_handler);
        child_raises_sigquit({});
      },
      ::testing::ExitedWithCode(7), "the program's own handler");
}

}  // namespace
