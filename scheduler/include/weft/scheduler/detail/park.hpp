// weft::detail parking: the interface through which the layers above
// (channels, sync primitives, io) suspend and resume whoever is running —
// a fiber, which yields its worker, or a plain thread, which blocks in the
// kernel (futex). Channels never touch run queues; they hold parkers.
//
// Semantics (a binary permit, as Rust's thread::park/unpark):
// 1. unpark(p) makes a permit available to p's owner; permits do not add up.
// 2. park() consumes the permit if present and returns at once, or
//    suspends until one is made available. park() may also return
//    spuriously, so every caller re-checks its own condition in a loop.
// 3. unpark() may be called before the matching park() (the permit waits),
//    from any fiber or thread, while the parker's owner is alive.
// 4. A fiber's park() throws weft::fiber_cancelled when the runtime is
//    shutting down (main returned) or a deadlock was declared, unless the
//    park is marked non-cancellable. Callers must unregister on unwind.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace weft::detail {

struct fiber;  // the scheduler's fiber (opaque here)

struct parker {
  // Fibers: kEmpty, kNotified, kParked (see scheduler/src/fiber.hpp).
  // Threads: 0 empty, 1 notified, -1 parked (a futex word).
  std::atomic<std::int32_t> state{0};
  fiber* owner = nullptr;  // null for a plain thread
};

using clock = std::chrono::steady_clock;

// The parker of the calling fiber, or of the calling plain thread.
// Do not keep it across the owner's exit. Callable from fibers and threads.
parker& current_parker() noexcept;

// Marks the calling plain thread as one that uses weft (a no-op in a
// fiber). While such a thread is alive and not blocked in weft, the
// deadlock detector assumes it may still wake a fiber. Channel and sync
// operations call it; a thread that has never touched weft is invisible.
void note_plain_thread() noexcept;
// The idle mark of a plain thread that serves weft (the timer service):
// while marked idle it cannot wake anything, so the deadlock detector need
// not wait for it. The service thread marks itself idle before it waits for
// work; whoever hands it work marks it awake before handing it over, so no
// moment exists in which work is pending and the service counts as idle
// (waiting for the service thread to clear the mark itself once it runs
// again would leave that window open as long as the thread waits for a
// CPU). Calls on one mark must be serialised by the caller (the service's
// lock guards its mark).
struct service_idle_mark {
  bool idle = false;
  bool counted = false;  // the service thread is in the detector's census
};
// From the service thread: mark it idle (it is about to wait for work).
void service_mark_idle(service_idle_mark& m) noexcept;
// From any thread or fiber handing the service work: mark it awake.
void service_mark_awake(service_idle_mark& m) noexcept;

struct wait_reason {
  const char* what = "park";      // e.g. "chan receive", "select", "sleep"
  const void* object = nullptr;   // e.g. the channel
  int fd = -1;                    // for I/O waits, the file descriptor
};

// Parks the caller until unparked (or spuriously). See the notes above.
void park(wait_reason why, bool cancellable = true);
// Parks until unparked or `deadline`; returns false once the deadline has
// passed. May return true spuriously; callers loop.
bool park_until(clock::time_point deadline, wait_reason why, bool cancellable = true);
// Makes a permit available to p's owner, waking it if parked.
void unpark(parker& p) noexcept;

}  // namespace weft::detail
