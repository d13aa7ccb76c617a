// The runtime's clock and futex wrappers.

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ctime>

#include "runtime_impl.hpp"

namespace weft::detail {

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch()).count();
}

namespace {
timespec to_timespec(std::int64_t ns) {
  timespec ts;
  ts.tv_sec = ns / 1'000'000'000;
  ts.tv_nsec = ns % 1'000'000'000;
  return ts;
}
long futex_wait_raw(void* word, std::uint32_t expected, std::int64_t deadline_ns) {
  if (deadline_ns == INT64_MAX)
    return syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, which is
  // what steady_clock is on Linux.
  timespec ts = to_timespec(deadline_ns);
  return syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, expected, &ts, nullptr, FUTEX_BITSET_MATCH_ANY);
}
}  // namespace

void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, std::int64_t deadline_ns) noexcept {
  futex_wait_raw(word, expected, deadline_ns);
}
void futex_wake(std::atomic<std::uint32_t>* word, int n) noexcept {
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
}
void futex_wait32(std::atomic<std::int32_t>* word, std::int32_t expected, std::int64_t deadline_ns) noexcept {
  futex_wait_raw(word, static_cast<std::uint32_t>(expected), deadline_ns);
}
void futex_wake32(std::atomic<std::int32_t>* word, int n) noexcept {
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
}

}  // namespace weft::detail
