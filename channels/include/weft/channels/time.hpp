// Timers as channels: weft::after (Go's time.After) and weft::ticker
// (time.Ticker). Both work with or without a running runtime, from fibers
// and threads; their channels work in select.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>

#include <weft/channels/chan.hpp>

namespace weft {

namespace detail {
// The process-wide timer service: one thread, started on first use, that
// runs `fire` at `when` and then every `period` (if non-zero) until
// cancelled. Returns an id for timer_cancel. Thread-safe.
std::uint64_t timer_add(std::chrono::steady_clock::time_point when, std::chrono::nanoseconds period,
                        std::function<void()> fire);
// Cancels a timer; true if it had not fired yet (for one-shot timers).
bool timer_cancel(std::uint64_t id);
}  // namespace detail

using time_point = std::chrono::steady_clock::time_point;

// A channel that receives the current time once, after d (Go's
// time.After). From fibers and threads. Each call allocates a buffered
// channel and a callback, and adds an entry to the timer thread's heap that
// stays there until it fires, also when the select that waited on it has
// long since taken another case; firing is a hop through that thread. To
// bound a select, on_timeout / on_deadline (select.hpp) cost none of this.
template <class Rep, class Period>
[[nodiscard]] chan<time_point> after(std::chrono::duration<Rep, Period> d) {
  auto c = make_chan<time_point>(1);
  // try_send: the channel's one slot is this timer's; it cannot be full.
  detail::timer_add(detail::deadline_after(d), std::chrono::nanoseconds(0),
                    [c] { (void)c.try_send(std::chrono::steady_clock::now()); });
  return c;
}

// Delivers the time on c() every period until stopped (or destroyed). Like
// Go's Ticker, a slow receiver misses ticks rather than queueing them: the
// channel holds at most one.
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
  // Stops the ticks: no tick is scheduled after stop returns. A tick that
  // the timer thread is delivering at that very moment may still arrive
  // just after, and one sent earlier may be waiting in the channel (Go
  // before 1.23 behaves the same); drain with try_recv after stop if that
  // matters. From fibers and threads.
  void stop() {
    if (id_ != 0) detail::timer_cancel(id_);
    id_ = 0;
  }
  // Restarts with a new period.
  template <class Rep, class Period>
  void reset(std::chrono::duration<Rep, Period> period) {
    stop();
    start(std::chrono::ceil<std::chrono::nanoseconds>(period));
  }

 private:
  void start(std::chrono::nanoseconds period) {
    if (period.count() <= 0) throw std::invalid_argument("weft::ticker: non-positive period");
    chan<time_point> c = c_;
    id_ = detail::timer_add(std::chrono::steady_clock::now() + period, period,
                            [c] { (void)c.try_send(std::chrono::steady_clock::now()); });  // full: a missed tick
  }
  chan<time_point> c_;
  std::uint64_t id_ = 0;
};

}  // namespace weft
