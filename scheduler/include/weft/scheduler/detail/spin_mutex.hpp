// weft::detail::spin_mutex: a small mutex for short critical sections
// (channel, sync-primitive and registry state): a test-and-set lock
// that spins briefly and then sleeps on a futex (U. Drepper, "Futexes Are
// Tricky", 2011, mutex #3). The critical sections it guards are a few dozen
// instructions and never park a fiber, so spinning nearly always wins; the
// futex keeps 1:1 threads that lose the CPU while holding it from burning
// their peers' time. States: 0 free, 1 locked, 2 locked with sleepers.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

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
  __attribute__((noinline, cold)) void lock_contended() noexcept {
    std::uint32_t c = 0;
    for (int i = 0; i < 64; i++) {
      __builtin_ia32_pause();
      c = 0;
      if (state_.load(std::memory_order_relaxed) == 0 &&
          state_.compare_exchange_strong(c, 1, std::memory_order_acquire, std::memory_order_relaxed))
        return;
    }
    if (c != 2) c = state_.exchange(2, std::memory_order_acquire);
    while (c != 0) {
      syscall(SYS_futex, &state_, FUTEX_WAIT_PRIVATE, 2, nullptr, nullptr, 0);
      c = state_.exchange(2, std::memory_order_acquire);
    }
  }
  __attribute__((noinline, cold)) void wake_one() noexcept {
    syscall(SYS_futex, &state_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }

  std::atomic<std::uint32_t> state_{0};
};

}  // namespace weft::detail
