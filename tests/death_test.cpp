// Fatal reports, each checked in a child process: the deadlock report,
// stack overflow (guard page and canary), and a panicking fiber.

#include <weft/fibers/detail/fiber_base.hpp>

#include "test_util.hpp"

namespace {

using namespace weft;

TEST(death, deadlock_report_lists_every_fiber) {
  EXPECT_DEATH(run(
                   [] {
                     chan<int> nil;
                     auto c = make_chan<int>();
                     go([nil] { nil.recv(); });
                     go([c] { c.send(1); c.send(2); });
                     sleep_for(std::chrono::milliseconds(10));
                     c.recv();
                     c.recv();
                     c.recv();
                   },
                   {.workers = 2}),
               "weft: all fibers are asleep - deadlock!(.|\n)*fiber 1 \\(main\\) \\[chan receive [^]]*\\]: spawned at "
               ".*death_test.cpp:[0-9]+(.|\n)*fiber 2 \\[chan receive \\(nil chan\\)\\]: spawned at .*death_test.cpp");
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
// (Sanitizers replace SIGSEGV handling and stack layout; these run in the
// plain build.)

__attribute__((noinline)) int recurse(int n) {
  volatile char pad[512];
  pad[0] = static_cast<char>(n);
  return n == 0 ? pad[0] : recurse(n - 1) + pad[0];
}

TEST(death, stack_overflow_names_the_fiber_and_its_stack) {
  EXPECT_DEATH(run(
                   [] {
                     spawn(spawn_options{.stack_size = 16 * 1024}, [] { return recurse(1 << 20); }).join();
                   },
                   {.workers = 1}),
               "weft: fiber [0-9]+ \\(spawned at .*death_test.cpp:[0-9]+\\) overflowed its 16 KiB stack");
}

TEST(death, canary_catches_overflow_of_an_unguarded_stack) {
  EXPECT_DEATH(run(
                   [] {
                     // A fresh size class with no guard budget left: canary only.
                     spawn(spawn_options{.stack_size = 24 * 1024}, [] {
                       auto* f = detail::running_fiber();
                       f->ctx.st.base[1] = std::byte{0x5a};  // what an overflow does
                       yield();
                     }).join();
                   },
                   {.workers = 1, .guarded_stacks = 0}),
               "weft: fiber [0-9]+ \\(spawned at .*death_test.cpp:[0-9]+\\) overflowed its 24 KiB stack "
               "\\(its canary was overwritten\\)");
}
#endif

TEST(death, an_exception_escaping_go_is_a_panic_naming_the_fiber) {
  EXPECT_DEATH(run(
                   [] {
                     go([] { throw std::runtime_error("kaboom"); });
                     sleep_for(std::chrono::seconds(5));
                   },
                   {.workers = 2}),
               "weft: fiber [0-9]+ \\(spawned at .*death_test.cpp:[0-9]+\\) terminated by an uncaught "
               "exception: kaboom");
}

}  // namespace
