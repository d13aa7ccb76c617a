// weft::detail::fiber_base: what the fibers layer knows of a fiber — its
// context and stack, its identity for diagnostics, its fiber-local values.
// The scheduler's fiber type derives from it and adds run-state.
#pragma once

#include <cstdint>
#include <source_location>

#include <weft/fibers/detail/context.hpp>
#include <weft/fibers/detail/locals.hpp>

namespace weft::detail {

struct fiber_base {
  context ctx;
  std::uint64_t id = 0;
  std::source_location site;  // where go()/spawn() was called
  local_table locals;
};

// The fiber running on the calling thread, or null on a thread's own
// context. Set by the scheduler on every switch. Never cache the result
// across a suspension point: the fiber may resume on another thread.
fiber_base* running_fiber() noexcept;
void set_running_fiber(fiber_base* f) noexcept;

// Installs, once per thread, an alternate signal stack and (once per
// process) the SIGSEGV/SIGBUS handler that turns a guard-page fault into
//   weft: fiber <id> (spawned at file:line) overflowed its <N> KiB stack
// and aborts. Faults elsewhere go to the previous handler or the default.
void install_overflow_handler_for_thread();
void remove_overflow_handler_for_thread();

// Reports a broken canary of `f` (a stack overflow on an unguarded stack)
// and aborts.
[[noreturn]] void report_canary_broken(const fiber_base& f);

}  // namespace weft::detail
