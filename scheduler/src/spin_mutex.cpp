// spin_mutex's contended paths (the protocol: spin_mutex.hpp). Kept here so
// that the futex and syscall headers and the pause builtin stay out of
// every translation unit that includes a sync primitive.

#include <weft/scheduler/detail/spin_mutex.hpp>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace weft::detail {

void spin_mutex::lock_contended() noexcept {
  std::uint32_t c = 0;
  for (int i = 0; i < 64; i++) {
    __builtin_ia32_pause();
    c = 0;
    if (state_.load(std::memory_order_relaxed) == 0 &&
        state_.compare_exchange_strong(c, 1, std::memory_order_acquire, std::memory_order_relaxed))
      return;
  }
  // Acquire (both exchanges): taking the lock pairs with unlock's release.
  if (c != 2) c = state_.exchange(2, std::memory_order_acquire);
  while (c != 0) {
    syscall(SYS_futex, &state_, FUTEX_WAIT_PRIVATE, 2, nullptr, nullptr, 0);
    c = state_.exchange(2, std::memory_order_acquire);
  }
}

void spin_mutex::wake_one() noexcept { syscall(SYS_futex, &state_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0); }

}  // namespace weft::detail
