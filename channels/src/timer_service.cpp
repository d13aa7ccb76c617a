// Timers as channels: the callbacks behind weft::after and weft::ticker
// (time.hpp). The timers themselves are the scheduler's
// (scheduler/src/timers.cpp): a fiber's wait on its worker's heap and fire
// there, with no thread hop; a plain thread's wait on a worker's heap of the
// running runtime, or on the fallback thread's heap when none runs.
//
// Both fire under the heap's lock (timer.hpp): a try_send of the current
// time on a one-slot channel, whose lock is a leaf and which wakes its
// receiver after unlocking it. So timer_stop leaves no tick in flight.

#include <weft/channels/time.hpp>
#include <weft/scheduler/detail/timer.hpp>

namespace weft::detail {
namespace {

std::int64_t to_ns(std::chrono::steady_clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

void send_now(void* arg) noexcept {
  auto now = std::chrono::steady_clock::now();
  try {
    // Full: a receiver has not taken the last tick yet (a missed tick).
    (void)chan_try_send(static_cast<chan_core*>(arg), &now);
  } catch (...) {
    // The receiver closed the channel: nothing to deliver to.
  }
}

void release_chan(void* arg) noexcept { chan_release(static_cast<chan_core*>(arg)); }

constexpr timer_callbacks kSendNow{send_now, release_chan, false};

}  // namespace

void after_start(chan_core* c, std::chrono::steady_clock::time_point when) {
  if (when == std::chrono::steady_clock::time_point::max()) return;  // never fires
  chan_retain(c);  // the timer's reference, dropped by release_chan
  try {
    timer_start(to_ns(when), 0, &kSendNow, c, true);
  } catch (...) {
    chan_release(c);
    throw;
  }
}

timer* ticker_start(chan_core* c, std::chrono::nanoseconds period) {
  chan_retain(c);
  try {
    return timer_start(to_ns(std::chrono::steady_clock::now()) + period.count(), period.count(), &kSendNow, c);
  } catch (...) {
    chan_release(c);
    throw;
  }
}

bool ticker_stop(timer* t) noexcept { return timer_stop(t); }

}  // namespace weft::detail
