// The one timer system: sleeps, weft::after, weft::ticker and context
// deadlines all wait in min-heaps of timer_nodes (runtime_impl.hpp), one
// per worker of the running runtime, plus the fallback heap that a thread
// of its own serves while no runtime runs.
//
// Design notes
// 1. Where a timer waits. A sleeping fiber's node lives in its park_until
//    frame, on the heap of the worker it parked on, and that frame removes
//    it before returning, wherever it then runs (hence each heap's lock).
//    A callback timer (timer_start) is heap-allocated; a fiber's goes on
//    its worker's heap, a plain thread's on a worker's heap chosen round
//    robin while a runtime runs (under g_route.mu, so the runtime cannot
//    end meanwhile), else on the fallback heap. Timers never move between
//    heaps except when a runtime starts (the fallback's move to worker 0's
//    heap) or ends (the callback timers left on its workers' heaps move to
//    the fallback heap; sleep nodes are dropped: their fibers are gone or
//    abandoned), both under g_route.mu and both heaps' locks.
// 2. Who fires. A worker fires its own heap in its loop and at every
//    fairness tick (worker.cpp); a spinning worker fires every worker's due
//    timers, so a timer on a worker stuck in a CPU-bound fiber still fires
//    as soon as another worker is idle (note 3 makes sure one wakes). The
//    fallback thread fires the fallback heap.
// 3. No idle worker sleeps through a timer. Invariant: while any worker is
//    idle and a timer is pending at T, some idle worker will wake by T.
//    A sleeper registers in num_idle (seq_cst RMW), then reads every
//    heap's `next` (seq_cst, earliest_timer) and sleeps until the earliest,
//    publishing that deadline in its sleep_until (seq_cst) first. An
//    inserter whose timer became its heap's earliest stores `next`
//    (seq_cst), then reads num_idle and every sleep_until (seq_cst,
//    runtime::timer_added): if some worker is idle and none will wake by
//    the new deadline, it wakes one (wake_one), which spins and then sleeps
//    with the new earliest. A Dekker pair: either the sleeper's read sees
//    the new `next`, or the inserter sees the sleeper idle and judges its
//    deadline (a sleeper that has not published yet reads as INT64_MAX: a
//    spurious wake, never a lost one). A sleeper that wakes stores
//    INT64_MAX and then re-runs the inserter's check for the earliest
//    timer left: an inserter that read its old deadline just before relied
//    on it, and that timer is in what it reads now.
// 4. Firing. fire_due pops due nodes under the heap's lock. A sleep node's
//    fiber is unparked under it, so a node is never touched after its
//    owner's remove() returns. A callback timer fires under the lock too
//    (after, ticker: a try_send on a one-slot channel, whose lock is a
//    leaf), and a periodic one is re-armed before the lock is released: so
//    timer_stop, which removes under the same lock, leaves no fire running
//    and none to come. A timer marked outside_lock (context deadlines,
//    whose cancel takes other locks and stops other timers) is instead
//    linked on fire_due's local list and fired after the lock is released;
//    its reference keeps it alive until then, and a stop that comes
//    between finds it gone from the heap and returns false.
// 5. Ownership of a callback timer: refs counts the handle (none when
//    detached) and the heap (while in a heap or on fire_due's list). Each
//    side drops its own; the last frees (release callback, delete).
// 6. Heaps are never freed: workers lease them from a pool. A stopper loads
//    a timer's heap pointer without a lock and then locks that heap; the
//    runtime may end in between and move the timer away, so the heap must
//    still exist (it may even serve a later runtime) and the stopper
//    re-checks the pointer under the lock.
//
// Rejected: a process-wide timer thread for callbacks (a thread hop and a
// wake-up per fire, a std::function per timer, and a second structure the
// idle protocol could not see); lazy deletion on stop (Go's): stopped
// timers would keep heap slots, and ASan-visible memory, until their
// deadline.

#include <condition_variable>
#include <new>
#include <thread>

#include <weft/scheduler/detail/park.hpp>

#include "runtime_impl.hpp"

namespace weft::detail {
namespace {

bool earlier(const timer_node* a, const timer_node* b) { return a->deadline < b->deadline; }

void sift_up(std::vector<timer_node*>& h, std::size_t i) {
  while (i > 0) {
    const std::size_t parent = (i - 1) / 2;
    if (!earlier(h[i], h[parent])) break;
    std::swap(h[i], h[parent]);
    h[i]->index = i;
    h[parent]->index = parent;
    i = parent;
  }
}

void sift_down(std::vector<timer_node*>& h, std::size_t i) {
  for (;;) {
    std::size_t m = i;
    const std::size_t l = 2 * i + 1, r = 2 * i + 2;
    if (l < h.size() && earlier(h[l], h[m])) m = l;
    if (r < h.size() && earlier(h[r], h[m])) m = r;
    if (m == i) break;
    std::swap(h[i], h[m]);
    h[i]->index = i;
    h[m]->index = m;
    i = m;
  }
}

void erase_at(std::vector<timer_node*>& h, std::size_t i) {
  h[i]->in_heap = false;
  const std::size_t last = h.size() - 1;
  if (i != last) {
    h[i] = h[last];
    h[i]->index = i;
  }
  h.pop_back();
  if (i < h.size()) {
    sift_up(h, i);
    sift_down(h, i);
  }
}

// Under h.mu: n joins h.
void push_locked(timer_heap& h, timer_node* n) {
  h.heap.push_back(n);  // first: if it throws, n is untouched
  n->index = h.heap.size() - 1;
  n->in_heap = true;
  // Release: pairs with timer_stop's acquire load (note 6).
  n->heap.store(&h, std::memory_order_release);
  sift_up(h.heap, n->index);
}

// Under h.mu. Seq_cst: note 3's Dekker pair with the sleepers.
void publish_next(timer_heap& h) {
  h.next.store(h.heap.empty() ? INT64_MAX : h.heap.front()->deadline, std::memory_order_seq_cst);
}

void unref(timer* t) noexcept {
  // acq_rel: the last owner sees the others' writes (note 5).
  if (t->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (t->cb->release != nullptr) t->cb->release(t->arg);
  delete t;
}

// The fallback heap and its thread (note 1), for plain threads' timers
// while no runtime runs. The thread counts as awake for the deadlock
// detector only while the heap holds timers (service_idle_mark, park.hpp);
// whoever inserts marks it awake, under the heap's lock, before notifying.
struct fallback_service {
  timer_heap heap;                // rt stays null
  std::condition_variable cv;      // waited on with heap.mu
  bool started = false;            // guarded by heap.mu
  service_idle_mark idle;          // guarded by heap.mu

  // Under heap.mu, after timers were added.
  void added() {
    if (!started) {
      started = true;
      std::thread([this] { run(); }).detach();
    }
    service_mark_awake(idle);
    cv.notify_one();
  }

  void run() {
    std::unique_lock lk(heap.mu);
    for (;;) {
      if (heap.heap.empty()) {
        service_mark_idle(idle);
        cv.wait(lk);  // added() marks us awake before it notifies
        continue;
      }
      const std::int64_t when = heap.heap.front()->deadline;
      const std::int64_t now = now_ns();
      if (now < when) {
        cv.wait_until(lk, clock::time_point(std::chrono::nanoseconds(when)));
        continue;
      }
      lk.unlock();
      heap.fire_due(now);
      lk.lock();
    }
  }
};

fallback_service& fallback() {
  static fallback_service* s = new fallback_service;  // never destroyed: its thread runs on
  return *s;
}

// Which heaps plain threads' timers go to (note 1).
struct route {
  std::mutex mu;          // guards the fields below; taken before any heap's mu
  runtime* rt = nullptr;  // the running runtime, between timers_runtime_start and _end
  unsigned next = 0;      // round robin over rt's workers
};
route g_route;

// The heap pool (note 6).
struct heap_pool {
  std::mutex mu;  // guards free
  std::vector<timer_heap*> free;
};
heap_pool& pool() {
  static heap_pool* p = new heap_pool;  // never destroyed, like its heaps
  return *p;
}

// Moves every node of `from` that `keep` accepts to `to` (both locked);
// drops the rest.
template <class Keep>
void move_all(timer_heap& from, timer_heap& to, Keep keep) {
  to.heap.reserve(to.heap.size() + from.heap.size());
  for (timer_node* n : from.heap) {
    n->in_heap = false;
    if (keep(n)) push_locked(to, n);
  }
  from.heap.clear();
  publish_next(from);
  publish_next(to);
}

}  // namespace

timer_heap_lease::timer_heap_lease() {
  heap_pool& p = pool();
  std::lock_guard lk(p.mu);
  if (p.free.empty()) {
    h = new timer_heap;
  } else {
    h = p.free.back();
    p.free.pop_back();
  }
}

timer_heap_lease::~timer_heap_lease() {
  heap_pool& p = pool();
  std::lock_guard lk(p.mu);
  p.free.push_back(h);
}

bool timer_heap::insert(timer_node* n) {
  runtime* owner;
  bool first;
  const std::int64_t deadline = n->deadline;  // n is not ours once in the heap
  {
    std::lock_guard lk(mu);
    push_locked(*this, n);
    first = heap.front() == n;
    if (first) publish_next(*this);
    owner = rt;
    if (this == &fallback().heap) fallback().added();
  }
  // After unlocking: wake_one takes idle_mu (allowed under mu too, but
  // there is no need to hold it). Not n->deadline: once the lock is
  // released another worker may fire n and free it.
  if (first && owner != nullptr) owner->timer_added(deadline);
  return first;
}

bool timer_heap::remove(timer_node* n) {
  std::lock_guard lk(mu);
  if (!n->in_heap) return false;
  erase_at(heap, n->index);
  publish_next(*this);
  return true;
}

std::size_t timer_heap::fire_due(std::int64_t now) {
  std::size_t fired = 0;
  timer* deferred = nullptr;  // outside_lock timers, fired below (note 4)
  {
    std::lock_guard lk(mu);
    while (!heap.empty() && heap.front()->deadline <= now) {
      timer_node* n = heap.front();
      erase_at(heap, 0);
      fired++;
      if (n->p != nullptr) {
        unpark(*n->p);
        continue;
      }
      timer* t = static_cast<timer*>(n);
      if (t->cb->outside_lock) {
        t->next_deferred = deferred;
        deferred = t;
        continue;
      }
      t->cb->fire(t->arg);
      if (t->period > 0) {
        // Skip the ticks missed meanwhile (Go's Ticker drops them too).
        t->deadline += t->period * ((now - t->deadline) / t->period + 1);
        push_locked(*this, t);
      } else {
        unref(t);  // the heap's reference
      }
    }
    publish_next(*this);
  }
  while (deferred != nullptr) {
    timer* t = deferred;
    deferred = t->next_deferred;
    t->cb->fire(t->arg);
    unref(t);
  }
  // Counted on workers only: the fallback thread fires when no runtime
  // runs, or the timers of one that is ending (the_runtime() may name a
  // runtime being freed; counting into it would race with its end).
  if (fired != 0 && this_worker() != nullptr) count_here(&worker_counters::timers_fired, fired);
  return fired;
}

void runtime::timer_added(std::int64_t when) noexcept {
  // Note 3: after the inserter's seq_cst store of `next`.
  if (num_idle.load(std::memory_order_seq_cst) == 0) return;
  for (worker* w : workers)
    if (w->sleep_until.load(std::memory_order_seq_cst) <= when) return;
  wake_one();
}

timer* timer_start(std::int64_t when, std::int64_t period_ns, const timer_callbacks* cb, void* arg,
                   bool detached) {
  auto* t = new timer;
  t->deadline = when;
  t->period = detached ? 0 : period_ns;
  t->cb = cb;
  t->arg = arg;
  t->refs.store(detached ? 1 : 2, std::memory_order_relaxed);  // published by the heap's lock
  try {
    if (worker* w = this_worker()) {
      w->timers.insert(t);
    } else {
      std::lock_guard lk(g_route.mu);
      if (runtime* rt = g_route.rt)
        rt->workers[g_route.next++ % rt->workers.size()]->timers.insert(t);
      else
        fallback().heap.insert(t);
    }
  } catch (...) {
    delete t;  // not inserted (push_locked): nobody else knows it
    throw;
  }
  return detached ? nullptr : t;
}

bool timer_stop(timer* t) noexcept {
  bool prevented = false;
  for (;;) {
    // Acquire: pairs with push_locked's release store (note 6).
    timer_heap* h = t->heap.load(std::memory_order_acquire);
    std::lock_guard lk(h->mu);
    if (t->heap.load(std::memory_order_relaxed) != h) continue;  // moved meanwhile
    if (t->in_heap) {
      erase_at(h->heap, t->index);
      publish_next(*h);
      prevented = true;
    }
    break;
  }
  if (prevented) unref(t);  // the heap's reference
  unref(t);                 // the handle's
  return prevented;
}

void timers_runtime_start(runtime& rt) {
  std::lock_guard lk(g_route.mu);
  g_route.rt = &rt;
  g_route.next = 0;
  for (worker* w : rt.all) {
    std::lock_guard hl(w->timers.mu);
    w->timers.rt = &rt;
  }
  // The fallback heap's timers move to worker 0 (lock order: a worker's
  // heap before the fallback's).
  fallback_service& f = fallback();
  timer_heap& w0 = rt.workers[0]->timers;
  std::lock_guard l0(w0.mu);
  std::lock_guard lf(f.heap.mu);
  if (f.heap.heap.empty()) return;
  move_all(f.heap, w0, [](timer_node*) { return true; });
  f.cv.notify_one();  // it marks itself idle now
}

void timers_runtime_end(runtime& rt) noexcept {
  std::lock_guard lk(g_route.mu);
  g_route.rt = nullptr;
  fallback_service& f = fallback();
  for (worker* w : rt.all) {
    std::lock_guard hl(w->timers.mu);
    w->timers.rt = nullptr;
    std::lock_guard lf(f.heap.mu);
    move_all(w->timers, f.heap, [](timer_node* n) { return n->p == nullptr; });
    if (!f.heap.heap.empty()) f.added();
  }
}

}  // namespace weft::detail
