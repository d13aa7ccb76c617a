// park/unpark for fibers and plain threads. The fiber protocol is the park
// word table in fiber.hpp; the thread protocol is a futex word:
//   0 empty, 1 notified, -1 parked.
// park: fetch_sub(1) (acquire): 1 -> 0 consumed a permit; 0 -> -1 parked:
//   futex_wait while -1, then CAS 1 -> 0 to consume the permit.
// unpark: exchange(1) (release; pairs with park's acquire); if it was -1,
//   count the thread awake (g_threads_awake) and futex_wake. A parked
//   thread is counted awake again by whoever ends its park: the unpark
//   that saw -1, or the thread itself when it times out unwoken.

#include <weft/scheduler/detail/park.hpp>

#include "runtime_impl.hpp"

namespace weft::detail {

// Plain threads that have used weft and are not parked in it: while any
// exists, an apparently stuck runtime may still be woken from outside, so
// the deadlock detector stays quiet.
std::atomic<std::int64_t> g_threads_awake{0};
// Plain threads that have used weft and still exist, awake or not: the
// deadlock detector's census of threads it can account for (deadlock.cpp,
// unknown_threads). Relaxed: a count read only to choose a grace period.
std::atomic<std::int64_t> g_threads_known{0};

namespace {

// Whether this thread's t_parker is counted in g_threads_awake (false
// while it serves as a worker, when it cannot block in weft as a thread).
thread_local bool t_counted = false;

struct thread_parker {
  parker p;
  thread_parker() {
    if (this_worker() == nullptr) {
      t_counted = true;
      g_threads_known.fetch_add(1, std::memory_order_relaxed);
      g_threads_awake.fetch_add(1, std::memory_order_seq_cst);
    }
  }
  ~thread_parker() {
    if (t_counted) {
      g_threads_awake.fetch_sub(1, std::memory_order_seq_cst);
      g_threads_known.fetch_sub(1, std::memory_order_relaxed);
    }
  }
};
thread_local thread_parker t_parker;

bool thread_park(parker& p, std::int64_t deadline) {
  if (p.state.fetch_sub(1, std::memory_order_acquire) == 1) return true;  // consumed a permit
  // Seq_cst, as every update of g_threads_awake (deadlock.cpp's check).
  g_threads_awake.fetch_sub(1, std::memory_order_seq_cst);
  for (;;) {
    futex_wait32(&p.state, -1, deadline);
    std::int32_t one = 1;
    // Woken by unpark, which saw -1 and counted us awake again.
    if (p.state.compare_exchange_strong(one, 0, std::memory_order_acquire)) return true;
    if (deadline != INT64_MAX && now_ns() >= deadline) {
      std::int32_t minus = -1;
      if (p.state.compare_exchange_strong(minus, 0, std::memory_order_acquire)) {
        // Timed out with no unpark: nobody counted us awake; we do.
        g_threads_awake.fetch_add(1, std::memory_order_seq_cst);
        return false;
      }
      // An unpark raced with the timeout: it left 1 (and counted us
      // awake); consume it with an RMW (acquire), as fiber_park does, so
      // its writes are visible.
      p.state.exchange(0, std::memory_order_acq_rel);
      return true;
    }
  }
}

bool fiber_park(worker* w, wait_reason why, bool cancellable) {
  fiber* self = w->current;
  // Register before checking the flag: see runtime::cancel_all.
  if (self->shard == nullptr) registry_add(w->registry, self);
  if (cancellable && w->rt->cancelling.load(std::memory_order_seq_cst)) cancel_current(w);
  // Acquire: a permit seen here is consumed below by an RMW anyway; the
  // load only spares a switch away and back when one is already waiting.
  if (self->park.state.load(std::memory_order_acquire) == kNotified) {
    // Consume the permit with a read-modify-write, never a plain store: an
    // unpark that finds kNotified also writes it (an RMW, release), so the
    // two are ordered on this word and either our acquire here sees that
    // unparker's writes, or its RMW comes after ours and leaves a fresh
    // permit. (With a plain store a second unparker's wake-up could be
    // lost: it sees kNotified and leaves, while our re-check reads its
    // condition stale.)
    self->park.state.exchange(kEmpty, std::memory_order_acq_rel);
    return true;
  }
  // The word stays kEmpty while we switch away; finish_switch publishes
  // kParked, or finds the permit an unpark left meanwhile (fiber.hpp).
  self->waiting = why;
  worker_counters::bump(w->ctr.parks[w->park_kind_of(why.what)]);
  set_state(self, fiber_state::parking);
  w->switch_from_fiber(self, after_switch::park, w->find_local());
  self->waiting = {};
  // w->rt: every worker serves the one runtime, wherever we resumed; but
  // the worker we run on now is this_worker().
  if (cancellable && w->rt->cancelling.load(std::memory_order_seq_cst)) cancel_current(this_worker());
  return true;
}

}  // namespace

parker& current_parker() noexcept {
  if (worker* w = this_worker()) return w->current->park;
  return t_parker.p;
}

void thread_becomes_worker(bool entering) noexcept {
  thread_local bool was_counted = false;
  if (entering) {
    was_counted = t_counted;
    if (t_counted) {
      t_counted = false;
      g_threads_awake.fetch_sub(1, std::memory_order_seq_cst);
      g_threads_known.fetch_sub(1, std::memory_order_relaxed);
    }
  } else if (was_counted) {
    t_counted = true;
    g_threads_known.fetch_add(1, std::memory_order_relaxed);
    g_threads_awake.fetch_add(1, std::memory_order_seq_cst);
  }
}

void service_mark_idle(service_idle_mark& m) noexcept {
  note_plain_thread();  // counts the service thread (t_parker's constructor)
  if (m.idle) return;
  m.counted = t_counted;
  m.idle = true;
  // Seq_cst, as every update of g_threads_awake: the detector's check
  // (deadlock.cpp) reads it in one total order with the fibers' parks.
  if (m.counted) g_threads_awake.fetch_sub(1, std::memory_order_seq_cst);
}

void service_mark_awake(service_idle_mark& m) noexcept {
  if (!m.idle) return;
  m.idle = false;
  // Before the hand-over: the caller (a fiber about to park) never leaves
  // the detector a moment with the work pending and nobody awake.
  if (m.counted) g_threads_awake.fetch_add(1, std::memory_order_seq_cst);
}

void note_plain_thread() noexcept {
  if (this_worker() == nullptr) (void)t_parker.p.state.load(std::memory_order_relaxed);
}

void park(wait_reason why, bool cancellable) {
  if (worker* w = this_worker()) {
    fiber_park(w, why, cancellable);
    return;
  }
  thread_park(t_parker.p, INT64_MAX);
}

bool park_until(clock::time_point deadline, wait_reason why, bool cancellable) {
  const std::int64_t dl = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
  worker* w = this_worker();
  if (w == nullptr) {
    if (now_ns() >= dl) return false;
    thread_park(t_parker.p, dl);
    return now_ns() < dl;
  }
  if (now_ns() >= dl) return false;
  timer_node node;
  node.deadline = dl;
  node.p = &w->current->park;
  timer_heap* heap = &w->timers;
  heap->insert(&node);
  // A worker blocked in epoll_wait past our deadline must wake for it
  // (netpoll property 6). The RMW pairs with the poller's exchange of
  // blocked_until before it reads the timers (idle.cpp step 5): either
  // it sees our node, or we see its deadline.
  netpoller& np = w->rt->poll;
  if (np.waiters.load(std::memory_order_relaxed) > 0) {
    const std::int64_t until = np.blocked_until.fetch_add(0, std::memory_order_seq_cst);
    if (until != netpoller::kNotBlocked && until > dl) np.interrupt();
  }
  struct cancel_timer {
    timer_heap* heap;
    timer_node* node;
    ~cancel_timer() { heap->remove(node); }
  } guard{heap, &node};
  fiber_park(w, why, cancellable);
  return now_ns() < dl;
}

void unpark(parker& p) noexcept {
  if (fiber* f = unpark_take(p)) {
    if (trace_on()) trace_unpark(f);
    // Woken on a worker: its next slot, run as soon as we stop. From
    // a plain thread: the shared queue, and an idle worker is woken.
    if (worker* w = this_worker()) {
      worker_counters::bump(w->ctr.wakes_local);
      w->push_next(f);
    } else {
      the_runtime()->outside.wakes_remote.fetch_add(1, std::memory_order_relaxed);
      the_runtime()->inject(f);
    }
  }
}

fiber* unpark_take(parker& p) noexcept {
  fiber* f = p.owner;
  if (f == nullptr) {
    // Release: pairs with thread_park's acquire.
    if (p.state.exchange(1, std::memory_order_release) == -1) {
      // The waker counts the thread awake on its behalf, before the wake:
      // a fiber that unparks a thread and then parks itself never leaves
      // the deadlock detector a moment with nobody awake while the thread
      // waits for a CPU. thread_park does not count itself again.
      g_threads_awake.fetch_add(1, std::memory_order_seq_cst);
      futex_wake32(&p.state, 1);
    }
    return nullptr;
  }
  std::int32_t s = p.state.load(std::memory_order_relaxed);
  for (;;) {
    if (s == kNotified) {
      // A wake-up is pending; rewrite it (release) rather than just leave,
      // so that whoever consumes it also sees our writes (see fiber_park).
      if (p.state.compare_exchange_weak(s, kNotified, std::memory_order_acq_rel, std::memory_order_relaxed))
        return nullptr;
      continue;
    }
    if (s == kParked) {
      // acq_rel: acquire pairs with finish_switch's release CAS (we see the
      // fiber's saved context and state); the hand-off to a run queue
      // publishes our writes to the fiber.
      if (p.state.compare_exchange_weak(s, kEmpty, std::memory_order_acq_rel, std::memory_order_relaxed)) {
        set_state(f, fiber_state::runnable);
        return f;  // ours to schedule
      }
    } else {
      // kEmpty: leave a permit. Release pairs with the
      // acquire in fiber_park / finish_switch that consumes it.
      if (p.state.compare_exchange_weak(s, kNotified, std::memory_order_acq_rel, std::memory_order_relaxed))
        return nullptr;
    }
  }
}

}  // namespace weft::detail
