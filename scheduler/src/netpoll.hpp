// The runtime's half of the netpoller: the epoll set, its wake-up eventfd
// and the flags the idle protocol uses to pick one blocking poller. The
// descriptors and the wait protocol are in netpoll.cpp.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::detail {

struct runtime;

struct netpoller {
  explicit netpoller(runtime& r) noexcept : rt(r) {}

  runtime& rt;
  // epfd, evfd and generation are written by start() before run() publishes
  // the runtime (g_runtime's release store) and read only by threads that
  // found it through the_runtime() (acquire), so plain fields suffice.
  int epfd = -1;
  int evfd = -1;      // level-triggered in epfd; only a blocking poll reads it
  std::uint32_t generation = 0;  // this runtime's epoll; descriptors record it
  // Fibers parked in poll_wait now. Read by the idle protocol (block in
  // epoll_wait rather than on the futex) and by the deadlock detector (a
  // fiber waiting on the outside world is not asleep). seq_cst RMWs: the
  // detector's all-idle check pairs with them (deadlock.cpp).
  std::atomic<std::int64_t> waiters{0};
  // Taken (exchange) by whoever calls epoll_wait, blocking or not, so that
  // one thread at a time polls.
  std::atomic<bool> busy{false};
  // The deadline of the blocked poll (INT64_MAX: none), kNotBlocked when
  // nobody blocks. A timer inserted earlier interrupts it (park_until).
  static constexpr std::int64_t kNotBlocked = INT64_MIN;
  std::atomic<std::int64_t> blocked_until{kNotBlocked};
  // Set by interrupt() when it writes evfd, cleared by the blocking poll
  // after it drained evfd: de-duplicates writes (note 6 in netpoll.cpp).
  std::atomic<bool> wake_sig{false};
  std::atomic<std::int64_t> last_poll{0};  // steady ns of the last poll; relaxed hint
  // Whether that poll was a blocking one; relaxed hint (netpoll.cpp note 9).
  std::atomic<bool> last_poll_blocked{false};

  void start();
  void stop() noexcept;
  // Makes a blocked (or about to block) epoll_wait return. Never lost.
  void interrupt() noexcept;
  // Polls once. timeout_ns: 0 does not block; INT64_MAX blocks until an
  // event or interrupt(); else the absolute steady deadline. Readies the
  // fibers whose fds fired (netpoll.cpp note 8). `caller_runs_one`: the
  // calling worker looks for work next, so one readied fiber needs no
  // other worker woken. Only one caller at a time (busy).
  // Returns how many waiters were woken.
  int poll(std::int64_t deadline_ns, bool caller_runs_one) noexcept;
  // A non-blocking poll if nobody else is polling; whether it woke anyone.
  // `caller_runs_one` also says that the caller is out of work and will
  // sleep next if the poll readies nothing: then the poll is skipped when
  // the last poll was a blocking one that ended under kAfterBlockNs ago
  // (netpoll.cpp note 9); the caller's own blocking poll collects instead.
  bool poll_now(bool caller_runs_one) noexcept;
};

}  // namespace weft::detail
