// weft::detail::spin_mutex: a small mutex for short critical sections
// (channel, sync-primitive and registry state): a test-and-set lock
// that spins briefly and then sleeps on a futex (U. Drepper, "Futexes Are
// Tricky", 2011, mutex #3). The critical sections it guards are a few dozen
// instructions and never park a fiber, so spinning nearly always wins; the
// futex keeps 1:1 threads that lose the CPU while holding it from burning
// their peers' time. States: 0 free, 1 locked, 2 locked with sleepers.
//
// This header reaches users' translation units (weft::mutex and the other
// sync primitives hold one), so it has atomics only: the spinning, the
// futex and every syscall or arch builtin live in scheduler/src/spin_mutex.cpp.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::detail {

class spin_mutex {
 public:
  // The uncontended paths are inlined into every channel operation; the
  // contended ones are kept out of line.
  void lock() noexcept {
    std::uint32_t c = 0;
    // Acquire: pairs with unlock's release.
    if (__builtin_expect(state_.compare_exchange_strong(c, 1, std::memory_order_acquire, std::memory_order_relaxed), 1))
      return;
    lock_contended();
  }
  void unlock() noexcept {
    // Release: publishes the critical section to the next lock().
    if (__builtin_expect(state_.exchange(0, std::memory_order_release) == 2, 0)) wake_one();
  }

 private:
  // Spins, then sleeps on the futex until the lock is ours (state 2 while
  // anyone may sleep).
  [[gnu::noinline, gnu::cold]] void lock_contended() noexcept;
  // Wakes one sleeper of lock_contended.
  [[gnu::noinline, gnu::cold]] void wake_one() noexcept;

  std::atomic<std::uint32_t> state_{0};
};

}  // namespace weft::detail
