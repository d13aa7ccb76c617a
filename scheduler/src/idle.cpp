// Idle workers (the protocol that keeps an idle runtime at ~0% CPU without
// losing a wake-up; after Go's proc.go "Worker thread parking/unparking"):
// 1. A worker that finds no work becomes "spinning" (num_spinning) and
//    steals; at most half the busy workers spin at once.
// 2. A notifier (anyone who made stealable work) does: push the work;
//    a seq_cst RMW on num_idle (the fence); if num_idle > 0 and
//    num_spinning == 0, wake one sleeper
//    and count it as spinning. A spinning worker will find the work, so no
//    more than one needs waking.
// 3. A worker going to sleep does: drop spinning (seq_cst RMW); register in
//    sleepers and num_idle (seq_cst); re-check every queue; only then wait
//    on its futex. Steps 2 and 3 are a Dekker pair: either the notifier
//    sees num_idle > 0 (and wakes someone) or the sleeper's re-check sees
//    the work. The last spinner to find work wakes another (worker.cpp).
// 4. A notifier removes the sleeper from `sleepers` and sets its wake_word
//    under idle_mu, so a sleeper that times out and finds itself gone from
//    the list knows it was claimed and its wake_word is already 1.
// 5. The netpoller (netpoll.cpp): while any fiber waits on an fd, one
//    sleeper at a time (the one that takes netpoller::busy) sleeps in
//    epoll_wait instead of on its futex, with the earliest timer as its
//    timeout, so timers and I/O share one sleep. It stays in `sleepers`
//    and sets `polling`; a notifier that claims it (step 4) writes the
//    eventfd instead of waking the futex. The poller stores polling (seq_cst)
//    and then loads wake_word (seq_cst); the notifier stores wake_word
//    (seq_cst) and then loads polling (seq_cst): either the poller sees it
//    was claimed and does not block, or the notifier sees it polling and
//    interrupts it. Notifiers prefer a futex sleeper, so the poller keeps
//    polling. The poller readies the fibers whose fds fired onto its own
//    queues before it leaves `sleepers`, which may wake a futex sleeper to
//    steal them (push_queue's notify). Busy workers poll without blocking
//    when they run out of local work and at the fairness tick
//    (worker.cpp), so I/O is served while no worker is idle.
//
// The spinning side (when a worker starts spinning, how long it spins, and
// the last spinner's hand-over) is in worker.cpp's loop().

#include <algorithm>

#include "runtime_impl.hpp"

namespace weft::detail {

extern std::atomic<std::int64_t> g_threads_awake;  // park.cpp

void runtime::notify_work() noexcept {
  // A seq_cst read-modify-write, not a load: it orders our push of work
  // before the reads below (a store-load pair, a full barrier on x86), and
  // it reads the latest num_idle. Pairs with the sleeper's seq_cst
  // increment of num_idle followed by its re-check of the queues (protocol
  // step 3): if our RMW comes first in num_idle's order, the sleeper's
  // acquire of it makes our push visible to its re-check; otherwise we see
  // it idle and wake it. Under TSan, which neither models nor accepts
  // fences, that is what we do; elsewhere a seq_cst fence plays its part.
#if WEFT_TSAN
  if (num_idle.fetch_add(0, std::memory_order_seq_cst) == 0) return;
#else
  // Elsewhere the fence is cheaper: it does not write num_idle's cache
  // line, which every notifier on every worker would otherwise bounce.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (num_idle.load(std::memory_order_relaxed) == 0) return;
#endif
  if (num_spinning.load(std::memory_order_seq_cst) != 0) return;
  wake_one();
}

namespace {
// Wakes a sleeper that a notifier claimed (its wake_word is 1): on its
// futex, or out of epoll_wait (protocol step 5).
void wake_claimed(runtime& rt, worker* w) noexcept {
  if (w->polling.load(std::memory_order_seq_cst)) {
    count_here(&worker_counters::poller_interrupts);
    rt.poll.interrupt();
  } else {
    count_here(&worker_counters::futex_wakes);
    futex_wake(&w->wake_word, 1);
  }
}
}  // namespace

bool runtime::wake_one() noexcept {
  worker* w = nullptr;
  {
    std::lock_guard lk(idle_mu);
    // The newest futex sleeper; the poller only if no other sleeps (step
    // 5: it keeps polling while others can take the work). Never the
    // caller: a poller readying fibers is still in `sleepers`, and the work
    // it made is its own to run.
    worker* self = this_worker();
    std::size_t i = sleepers.size();
    std::size_t poller = sleepers.size();
    while (i-- > 0) {
      if (sleepers[i] == self) continue;
      if (!sleepers[i]->polling.load(std::memory_order_relaxed)) break;
      poller = i;
    }
    if (i == static_cast<std::size_t>(-1)) i = poller;
    if (i == sleepers.size()) return false;
    w = sleepers[i];
    sleepers.erase(sleepers.begin() + static_cast<std::ptrdiff_t>(i));
    num_idle.fetch_sub(1, std::memory_order_seq_cst);
    num_spinning.fetch_add(1, std::memory_order_seq_cst);
    // seq_cst: the sleeper's acquire exchange of wake_word takes our
    // writes; and the store-load pair with `polling` (step 5).
    w->wake_word.store(1, std::memory_order_seq_cst);
  }
  wake_claimed(*this, w);
  return true;
}

void runtime::wake_all() noexcept {
  std::vector<worker*> all;
  {
    std::lock_guard lk(idle_mu);
    all.swap(sleepers);
    num_idle.fetch_sub(static_cast<unsigned>(all.size()), std::memory_order_seq_cst);
    for (worker* w : all) {
      num_spinning.fetch_add(1, std::memory_order_seq_cst);
      w->wake_word.store(1, std::memory_order_seq_cst);  // as in wake_one
    }
  }
  for (worker* w : all) wake_claimed(*this, w);
}

void runtime::on_first_io_waiter() noexcept {
  // Someone must poll: a blocked poller or a spinning worker will; else
  // wake a sleeper, which spins, finds nothing and becomes the poller.
  if (poll.busy.load(std::memory_order_seq_cst) || num_spinning.load(std::memory_order_seq_cst) != 0) return;
  if (num_idle.load(std::memory_order_seq_cst) == 0) return;  // everyone busy: they poll at the tick
  wake_one();
}

std::int64_t runtime::earliest_timer() const noexcept {
  std::int64_t t = INT64_MAX;
  for (worker* w : all) {
    // Seq_cst: a sleeper's read in timers.cpp note 3's Dekker pair.
    const std::int64_t n = w->timers.next.load(std::memory_order_seq_cst);
    if (n < t) t = n;
  }
  return t;
}

bool runtime::any_work() const noexcept {
  if (injected.size() != 0) return true;
  // Not other workers' next slots: a fiber there is its owner's to run in
  // a moment (and a thief's only after the grace in worker::steal). Counting
  // them could keep an idle worker from sleeping beside a ping-pong, whose
  // slot is full half the time, spinning on the busy worker's cache lines.
  // Nor spares' deques: nobody steals from a spare (monitor.cpp, step 4).
  for (worker* w : workers)
    if (w->queue.size() != 0) return true;
  return earliest_timer() <= now_ns();
}

void worker::sleep_until_work() {
  if (spinning) {
    spinning = false;
    rt->num_spinning.fetch_sub(1, std::memory_order_seq_cst);
    if (rt->any_work()) return;  // step 3: look again before sleeping
  }
  {
    std::lock_guard lk(rt->idle_mu);
    rt->sleepers.push_back(this);
    rt->num_idle.fetch_add(1, std::memory_order_seq_cst);
  }
  bool claimed = false;
  if (rt->any_work() || rt->stop.load(std::memory_order_acquire) || has_local_work()) {
    std::lock_guard lk(rt->idle_mu);
    auto it = std::find(rt->sleepers.begin(), rt->sleepers.end(), this);
    if (it != rt->sleepers.end()) {
      rt->sleepers.erase(it);
      rt->num_idle.fetch_sub(1, std::memory_order_seq_cst);
      return;
    }
    claimed = true;  // a notifier took us meanwhile (step 4)
  }
  std::int64_t deadline = rt->earliest_timer();
  bool deadlock_watch = false;
  std::uint64_t runs = 0;
  if (!claimed && deadline == INT64_MAX && rt->opts.on_deadlock != deadlock_action::ignore &&
      !rt->deadlocked.load(std::memory_order_relaxed) &&
      rt->num_idle.load(std::memory_order_seq_cst) == rt->workers.size() &&
      rt->blocking_inflight.load(std::memory_order_seq_cst) == 0 &&
      rt->poll.waiters.load(std::memory_order_seq_cst) == 0 &&
      g_threads_awake.load(std::memory_order_seq_cst) <= 0) {
    deadlock_watch = true;
    runs = rt->total_runs();
    deadline = now_ns() + (rt->unknown_threads() > 0 ? kDeadlockUnknownGraceNs : kDeadlockGraceNs);
  }
  if (!claimed) {
    netpoller& np = rt->poll;
    // Acquire: one blocking poller at a time (step 5).
    if (np.waiters.load(std::memory_order_seq_cst) > 0 && !np.busy.load(std::memory_order_relaxed) &&
        !np.busy.exchange(true, std::memory_order_acquire)) {
      polling.store(true, std::memory_order_seq_cst);
      // An RMW: a timer inserted after it is checked against our deadline
      // by the inserter (park.cpp, park_until); one inserted before it is
      // in earliest_timer() below.
      np.blocked_until.exchange(deadline, std::memory_order_seq_cst);
      const std::int64_t until = std::min(deadline, rt->earliest_timer());
      sleep_until.store(until, std::memory_order_seq_cst);  // timers.cpp, note 3
      if (wake_word.load(std::memory_order_seq_cst) == 0) np.poll(until, true);
      np.blocked_until.store(netpoller::kNotBlocked, std::memory_order_relaxed);
      polling.store(false, std::memory_order_seq_cst);
      np.busy.store(false, std::memory_order_release);
    } else {
      worker_counters::bump(ctr.futex_sleeps);
      const std::int64_t traced_since = trace_on() ? now_ns() : 0;
      sleep_until.store(deadline, std::memory_order_seq_cst);  // timers.cpp, note 3
      futex_wait(&wake_word, 0, deadline);
      if (trace_on()) trace_idle(*this, traced_since);
    }
    // No longer committed to wake for a timer: whoever relied on our
    // deadline relied on a timer that earliest_timer() shows us now
    // (timers.cpp, note 3).
    if (sleep_until.exchange(INT64_MAX, std::memory_order_seq_cst) != INT64_MAX) {
      const std::int64_t next = rt->earliest_timer();
      if (next != INT64_MAX) rt->timer_added(next);
    }
  }
  // Still registered as idle, so the detector's "every worker idle" holds.
  if (deadlock_watch && wake_word.load(std::memory_order_acquire) == 0 &&
      rt->total_runs() == runs)
    rt->check_deadlock();
  // Acquire: pairs with wake_one's release store.
  if (wake_word.exchange(0, std::memory_order_acquire) == 1) {
    spinning = true;  // wake_one counted us as spinning
    return;
  }
  {
    std::lock_guard lk(rt->idle_mu);
    auto it = std::find(rt->sleepers.begin(), rt->sleepers.end(), this);
    if (it != rt->sleepers.end()) {
      rt->sleepers.erase(it);
      rt->num_idle.fetch_sub(1, std::memory_order_seq_cst);
    } else {
      // Claimed by a notifier after our timeout: its wake_word store
      // happened under idle_mu, so it is visible now.
      wake_word.exchange(0, std::memory_order_acquire);
      spinning = true;
      return;
    }
  }
}

}  // namespace weft::detail
