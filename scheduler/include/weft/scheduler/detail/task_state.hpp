// weft::detail task state: what a task<T> handle and its fiber share, and
// the calls that complete, wait for and release it (scheduler/src/task.cpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <source_location>

namespace weft::detail {

// The state shared by a task handle and its fiber: a separate small
// allocation, not part of the fiber's block, so that a handle joined late
// does not keep the fiber's stack-sized block alive.
//
// Two references, the handle's and the fiber's, both in one word (`word`,
// task.cpp has the protocol); the last to let go frees it, and is the one
// that knows whether a join() saw the error: if not, and the error is not
// a cancellation, it panics (task_release).
//
// Ownership of the fields:
//   value, error, cancelled, fiber_id: written by the fiber before
//     task_complete (whose release publishes them), read by the handle
//     after task_wait/task_done (acquire) or by the last release.
//   observed: written by the handle in join() before its release.
//   site: written once before the fiber starts.
struct task_state_base {
  // kDone: the fiber finished (and let go); kReleased: the handle let go;
  // the other bits: the joiner's parker, installed by join() while neither
  // is set. Every change is an acq_rel RMW (task.cpp).
  std::atomic<std::uintptr_t> word{0};
  std::exception_ptr error;
  bool cancelled = false;      // error is a weft::fiber_cancelled
  bool observed = false;       // a join() took the result
  std::uint64_t fiber_id = 0;  // the fiber that stored error, for the panic
  std::source_location site;   // where spawn was called
  void (*destroy)(task_state_base*) noexcept;
};

// Stores the exception being handled as the task's error, noting whether it
// is a cancellation and which fiber threw it. Only inside a catch handler,
// in the task's fiber.
void task_fail(task_state_base* s) noexcept;
// Stores fiber_cancelled as the task's error: its closure is destroyed
// without having run (the runtime shut down first).
void task_cancel(task_state_base* s) noexcept;
// Called by the fiber once the result or error is stored; drops the fiber's
// reference.
void task_complete(task_state_base* s) noexcept;
// Waits until the fiber has completed. From a fiber or a plain thread.
void task_wait(task_state_base* s);
bool task_done(const task_state_base* s) noexcept;
// Drops the handle's reference. The last of the two releases panics if the
// task failed (other than by cancellation) and no join() saw it.
void task_release(task_state_base* s) noexcept;

// Memory for task states (task_alloc.cpp): blocks of up to kTaskStateMax
// bytes, aligned to 64, from per-thread caches; spawn allocates one per
// task and the last release frees it, often on another thread. Throws
// std::bad_alloc. From any thread.
inline constexpr std::size_t kTaskStateMax = 512;
void* task_state_alloc(std::size_t bytes);
void task_state_free(void* p, std::size_t bytes) noexcept;

template <class S>
inline constexpr bool task_state_pooled_v = sizeof(S) <= kTaskStateMax && alignof(S) <= 64;

template <class S>
S* new_state() {
  if constexpr (task_state_pooled_v<S>) {
    void* p = task_state_alloc(sizeof(S));
    try {
      return ::new (p) S();
    } catch (...) {
      task_state_free(p, sizeof(S));
      throw;
    }
  } else {
    return new S();
  }
}
template <class S>
void delete_state(task_state_base* b) noexcept {
  if constexpr (task_state_pooled_v<S>) {
    static_cast<S*>(b)->~S();
    task_state_free(b, sizeof(S));
  } else {
    delete static_cast<S*>(b);
  }
}
template <class T>
struct task_state : task_state_base {
  std::optional<T> value;
  task_state() { destroy = &delete_state<task_state>; }
};
template <>
struct task_state<void> : task_state_base {
  task_state() { destroy = &delete_state<task_state>; }
};

struct task_factory;

}  // namespace weft::detail
