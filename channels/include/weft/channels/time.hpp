// Timers as channels: weft::after (Go's time.After) and weft::ticker
// (time.Ticker). Both work with or without a running runtime, from fibers
// and threads; their channels work in select. docs/channels.md, "Timers".
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>

#include <weft/channels/chan.hpp>

namespace weft {

namespace detail {
struct timer;  // the scheduler's (weft/scheduler/detail/timer.hpp)
// Starts a one-shot timer that try_sends the current time into c (a
// one-slot channel) at `when`, holding a reference to c until it fires.
// From fibers and threads. Throws std::bad_alloc.
void after_start(chan_core* c, std::chrono::steady_clock::time_point when);
// Starts a timer that try_sends the current time into c every period,
// holding a reference to c until stopped. From fibers and threads.
timer* ticker_start(chan_core* c, std::chrono::nanoseconds period);
// Stops it (see timer_stop); true if a tick was still to come.
bool ticker_stop(timer* t) noexcept;
}  // namespace detail

using time_point = std::chrono::steady_clock::time_point;

// A channel that receives the current time once, after d (Go's
// time.After). From fibers and threads. Each call allocates a one-slot
// channel and a timer record; a fiber's timer waits on its worker's timer
// heap and fires there (no thread hop), a plain thread's on a worker's of
// the running runtime, or on the fallback timer thread's when none runs.
// The timer holds the channel until it fires, also when the select that
// waited on it has long since taken another case (Go before 1.23 behaves
// the same); to bound a select, on_timeout / on_deadline (select.hpp) cost
// none of this. A runtime that ends hands its pending timers to the
// fallback thread: the channel still receives its value.
template <class Rep, class Period>
[[nodiscard]] chan<time_point> after(std::chrono::duration<Rep, Period> d) {
  auto c = make_chan<time_point>(1);
  detail::after_start(detail::chan_access::core(c), detail::deadline_after(d));
  return c;
}

// Delivers the time on c() every period until stopped (or destroyed). Like
// Go's Ticker, a slow receiver misses ticks rather than queueing them: the
// channel holds at most one. From fibers and threads; its timer waits
// where after()'s does.
class ticker {
 public:
  template <class Rep, class Period>
  explicit ticker(std::chrono::duration<Rep, Period> period) : c_(make_chan<time_point>(1)) {
    start(std::chrono::ceil<std::chrono::nanoseconds>(period));
  }
  ticker(const ticker&) = delete;
  ticker& operator=(const ticker&) = delete;
  ~ticker() { stop(); }

  const chan<time_point>& c() const noexcept { return c_; }
  // Stops the ticks (Go 1.23's Ticker.Stop): no tick is sent after stop
  // returns, and a tick sent before and not yet received is discarded, so
  // a receive that starts after stop returns sees no tick. Returns true if
  // the ticker was running (a tick was still to come). Not concurrently
  // with reset or another stop of the same ticker. From fibers and threads.
  bool stop() noexcept {
    if (t_ == nullptr) return false;
    const bool was = detail::ticker_stop(t_);
    t_ = nullptr;
    (void)c_.try_recv();
    return was;
  }
  // Stops, then restarts with a new period (first tick one period from
  // now). Throws std::invalid_argument for a non-positive period.
  template <class Rep, class Period>
  void reset(std::chrono::duration<Rep, Period> period) {
    stop();
    start(std::chrono::ceil<std::chrono::nanoseconds>(period));
  }

 private:
  void start(std::chrono::nanoseconds period) {
    if (period.count() <= 0) throw std::invalid_argument("weft::ticker: non-positive period");
    t_ = detail::ticker_start(detail::chan_access::core(c_), period);
  }
  chan<time_point> c_;
  detail::timer* t_ = nullptr;
};

}  // namespace weft
