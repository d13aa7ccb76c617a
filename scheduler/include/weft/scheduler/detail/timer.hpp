// weft::detail timers: the one timer system behind sleeps, weft::after,
// weft::ticker and context deadlines (scheduler/src/timers.cpp has the
// protocol). The layers above start a timer with a callback and stop it
// through a handle; the scheduler decides where it waits (the running
// runtime's per-worker heaps, or the fallback thread's heap when no
// runtime runs) and who fires it.
#pragma once

#include <cstdint>

namespace weft::detail {

struct timer;  // opaque: scheduler/src/runtime_impl.hpp

struct timer_callbacks {
  // Called when the timer is due. Unless `outside_lock`, it runs with the
  // lock of the heap holding the timer taken: it must not block, park,
  // start or stop a timer, or take any lock but a leaf (a channel's); it
  // may unpark. With `outside_lock` it runs after that lock is released
  // (it may then take locks and stop other timers), and may run after a
  // timer_stop that returned false.
  void (*fire)(void* arg) noexcept;
  // Called once when the timer is freed (after its last fire, or after
  // timer_stop and any fire in progress), from whichever thread frees it.
  // May be null. Same restrictions as a fire under the lock.
  void (*release)(void* arg) noexcept;
  bool outside_lock = false;
};

// Starts a timer that calls cb->fire(arg) at `when` (steady_clock
// nanoseconds), then every `period_ns` after it if period_ns > 0 (ticks
// missed while the process was busy are skipped, not queued). Returns the
// handle for timer_stop; with `detached`, returns null and the timer frees
// itself after its one fire (period_ns must be 0). `cb` must outlive the
// timer. Throws std::bad_alloc. From fibers and plain threads: a fiber's
// timer waits on its worker's heap; a plain thread's on a worker's heap of
// the running runtime, or, when none runs, on the fallback thread's.
timer* timer_start(std::int64_t when, std::int64_t period_ns, const timer_callbacks* cb, void* arg,
                   bool detached = false);

// Stops t and gives up the handle (t must not be used again). Returns true
// if this prevented a fire (Go's Timer.Stop): for a timer fired under the
// lock, none runs after timer_stop returns, whatever it returned; for an
// outside_lock timer, false means a fire may still be running or about to.
// Not from a fire under the lock. From fibers and plain threads.
bool timer_stop(timer* t) noexcept;

}  // namespace weft::detail
