// Sync primitives. Each keeps its waiters in a FIFO guarded by its own
// spin_mutex and hands ownership (a lock, a permit, a notification) to a
// waiter directly: the granter, holding the primitive's lock, dequeues the
// waiter, sets `granted` (release), unparks it and, as its last touch, sets
// `released` (release). The waiter parks until it sees `granted` (it must
// be set before the unpark: a waiter that woke and saw nothing would park
// again and miss the one unpark), then waits for `released` before its
// frame may go. On a timeout it takes the lock and either finds itself
// still queued (a real timeout) or already granted (the grant wins).
//
// Cancellation (fiber_cancelled thrown by park at shutdown): a waiter still
// queued unlinks itself; one granted meanwhile passes the grant on (unlock,
// release, notify) before unwinding, so nothing is lost.
//
// Lock order: a primitive's mu is a leaf above the scheduler's locks (held
// while unparking, never while parking), like a channel lock.

#include <sched.h>

#include <stdexcept>

#include <weft/channels/sync.hpp>
#include <weft/scheduler/detail/park.hpp>

namespace weft {
namespace detail {
namespace {

struct sync_waiter {
  sync_waiter* prev = nullptr;
  sync_waiter* next = nullptr;
  bool queued = false;
  bool reader = false;   // shared_mutex: a reader (true) or a writer
  bool handoff = false;  // mutex: granted ownership, not just a wake-up
  std::int64_t since = 0;  // mutex: when the lock() began waiting
  parker* p = nullptr;
  std::atomic<bool> granted{false};   // set by the granter before unparking
  std::atomic<bool> released{false};  // set by the granter, last (release)
};

sync_waiter* front(wait_list& l) { return static_cast<sync_waiter*>(l.head); }

void push(wait_list& l, sync_waiter* w) {
  w->next = nullptr;
  w->prev = static_cast<sync_waiter*>(l.tail);
  if (l.tail != nullptr)
    static_cast<sync_waiter*>(l.tail)->next = w;
  else
    l.head = w;
  l.tail = w;
  w->queued = true;
}

void push_front(wait_list& l, sync_waiter* w) {
  w->prev = nullptr;
  w->next = static_cast<sync_waiter*>(l.head);
  if (l.head != nullptr)
    static_cast<sync_waiter*>(l.head)->prev = w;
  else
    l.tail = w;
  l.head = w;
  w->queued = true;
}

void unlink(wait_list& l, sync_waiter* w) {
  if (!w->queued) return;
  if (w->prev != nullptr)
    w->prev->next = w->next;
  else
    l.head = w->next;
  if (w->next != nullptr)
    w->next->prev = w->prev;
  else
    l.tail = w->prev;
  w->prev = w->next = nullptr;
  w->queued = false;
}

sync_waiter* pop(wait_list& l) {
  sync_waiter* w = front(l);
  if (w != nullptr) unlink(l, w);
  return w;
}

// Requires the primitive's mu; w already unlinked.
void grant(sync_waiter* w) {
  parker* p = w->p;
  // Release: pairs with await_grant's acquire of granted.
  w->granted.store(true, std::memory_order_release);
  unpark(*p);
  // Release: pairs with await_grant's acquire; w may be gone after this.
  w->released.store(true, std::memory_order_release);
}

// Waiters granted inside a critical section, woken once it is over: a
// woken waiter may return and destroy the primitive at once, so nothing may
// touch the primitive (not even its lock) after the first grant. Declare a
// `grants` before the lock guard so that it runs after the unlock.
struct grants {
  sync_waiter* head = nullptr;
  void add(sync_waiter* w) noexcept {
    w->next = head;  // w is unlinked: its link is ours now
    head = w;
  }
  ~grants() {
    while (sync_waiter* w = head) {
      head = w->next;  // read before grant: w may be gone after it
      grant(w);
    }
  }
};

// Waits for a granter's last touch (spinning briefly, then yielding the
// CPU: the granter may be a preempted thread).
void await_released(const sync_waiter& w) noexcept {
  for (int i = 0; !w.released.load(std::memory_order_acquire); i++) {
    if (i < 128)
      __builtin_ia32_pause();
    else
      sched_yield();
  }
}

// Parks until w is granted (true) or the deadline passes (false). On
// cancellation, unlinks w or, if it was granted, calls undo() to pass the
// grant on, then rethrows.
template <class Undo>
bool await_grant(spin_mutex& mu, wait_list& l, sync_waiter& w, const std::chrono::steady_clock::time_point* dl,
                 const char* what, const void* obj, Undo undo) {
  for (;;) {
    if (w.granted.load(std::memory_order_acquire)) {
      await_released(w);
      return true;
    }
    bool timed_out = false;
    try {
      if (dl != nullptr)
        timed_out = !park_until(*dl, {what, obj});
      else
        park({what, obj});
    } catch (...) {
      mu.lock();
      const bool queued = w.queued;
      unlink(l, &w);
      mu.unlock();
      if (!queued) {
        await_released(w);
        undo();
      }
      throw;
    }
    if (timed_out) {
      mu.lock();
      const bool queued = w.queued;
      unlink(l, &w);
      mu.unlock();
      if (queued) return false;
      await_released(w);
      return true;  // granted just before the deadline: it counts
    }
  }
}

}  // namespace
}  // namespace detail

// ---- mutex ----

// The mutex follows Go's sync.Mutex: unlock frees the lock and wakes the
// longest waiter to compete for it, so a running fiber (or thread) can
// re-take it at once — strict hand-off would make every contended
// lock/unlock a park and a switch (and, for threads, a futex sleep). A
// waiter that loses the race queues again at the front. A waiter that has
// waited over kStarvingNs is handed the lock directly (Go's starvation mode),
// so nobody waits forever.
namespace {
constexpr std::int64_t kStarvingNs = 1'000'000;
std::int64_t mono_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

bool mutex::try_take() noexcept {
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  while ((s & kLocked) == 0)
    // Acquire: pairs with unlock's release.
    if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire, std::memory_order_relaxed))
      return true;
  return false;
}

void mutex::lock_slow() {
  for (int i = 0; i < 64; i++) {
    if ((state_.load(std::memory_order_relaxed) & kLocked) == 0 && try_take()) return;
    __builtin_ia32_pause();
  }
  detail::note_plain_thread();
  std::int64_t since = 0;  // when this lock() first queued
  bool at_front = false;   // lost a race after being woken: keep our place
  for (;;) {
    detail::sync_waiter w;
    mu_.lock();
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if ((s & kLocked) == 0) {
        if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire, std::memory_order_relaxed)) {
          mu_.unlock();
          return;
        }
        continue;
      }
      // Mark waiters (under mu_) so that unlock takes the slow path.
      if ((s & kWaiters) != 0 ||
          state_.compare_exchange_weak(s, s | kWaiters, std::memory_order_relaxed, std::memory_order_relaxed))
        break;
    }
    if (since == 0) since = mono_ns();
    w.p = &detail::current_parker();
    w.since = since;
    if (at_front)
      detail::push_front(waiters_, &w);
    else
      detail::push(waiters_, &w);
    mu_.unlock();
    detail::await_grant(mu_, waiters_, w, nullptr, "mutex lock", this, [this, &w] {
      if (w.handoff)
        unlock();  // we owned it: pass it on
      else
        wake_next();  // we were to compete: let another waiter do so
    });
    if (w.handoff) return;  // starvation mode: the unlocker left it locked for us
    if (try_take()) return;
    at_front = true;
  }
}

void mutex::unlock_slow() {
  detail::grants g;  // after mu_.unlock()
  mu_.lock();
  detail::sync_waiter* w = detail::pop(waiters_);
  const std::uint32_t waiters = waiters_.head != nullptr ? kWaiters : 0;
  if (w != nullptr && mono_ns() - w->since > kStarvingNs) {
    // Starving: hand over, staying locked for w.
    w->handoff = true;
    state_.store(kLocked | waiters, std::memory_order_release);
  } else {
    // Release: publishes the critical section to the next owner.
    state_.store(waiters, std::memory_order_release);
  }
  if (w != nullptr) g.add(w);
  mu_.unlock();
}

void mutex::wake_next() {
  detail::grants g;
  std::lock_guard lk(mu_);
  if ((state_.load(std::memory_order_relaxed) & kLocked) != 0) return;  // its unlock will wake someone
  if (detail::sync_waiter* w = detail::pop(waiters_)) {
    if (waiters_.head == nullptr) state_.fetch_and(~kWaiters, std::memory_order_relaxed);
    g.add(w);
  }
}

// ---- shared_mutex ----

void shared_mutex::lock() {
  detail::note_plain_thread();
  mu_.lock();
  if (!writer_ && readers_ == 0) {
    writer_ = true;
    mu_.unlock();
    return;
  }
  detail::sync_waiter w;
  w.p = &detail::current_parker();
  detail::push(writers_waiting_, &w);
  mu_.unlock();
  detail::await_grant(mu_, writers_waiting_, w, nullptr, "rwmutex lock", this, [this] { unlock(); });
}

bool shared_mutex::try_lock() {
  std::lock_guard lk(mu_);
  if (writer_ || readers_ != 0) return false;
  writer_ = true;
  return true;
}

void shared_mutex::unlock() {
  detail::grants g;
  std::lock_guard lk(mu_);
  writer_ = false;
  if (readers_waiting_.head != nullptr) {
    // Admit every waiting reader (no reader starvation).
    while (detail::sync_waiter* r = detail::pop(readers_waiting_)) {
      readers_++;
      g.add(r);
    }
  } else if (detail::sync_waiter* w = detail::pop(writers_waiting_)) {
    writer_ = true;
    g.add(w);
  }
}

void shared_mutex::lock_shared() {
  detail::note_plain_thread();
  mu_.lock();
  // A waiting writer keeps new readers out (no writer starvation).
  if (!writer_ && writers_waiting_.head == nullptr) {
    readers_++;
    mu_.unlock();
    return;
  }
  detail::sync_waiter w;
  w.reader = true;
  w.p = &detail::current_parker();
  detail::push(readers_waiting_, &w);
  mu_.unlock();
  detail::await_grant(mu_, readers_waiting_, w, nullptr, "rwmutex rlock", this, [this] { unlock_shared(); });
}

bool shared_mutex::try_lock_shared() {
  std::lock_guard lk(mu_);
  if (writer_ || writers_waiting_.head != nullptr) return false;
  readers_++;
  return true;
}

void shared_mutex::unlock_shared() {
  detail::grants g;
  std::lock_guard lk(mu_);
  if (--readers_ == 0) {
    if (detail::sync_waiter* w = detail::pop(writers_waiting_)) {
      writer_ = true;
      g.add(w);
    }
  }
}

// ---- condition_variable ----

bool condition_variable::wait_impl(void* lk, void (*unlock)(void*), void (*lock)(void*),
                                   const std::chrono::steady_clock::time_point* dl) {
  detail::note_plain_thread();
  detail::sync_waiter w;
  w.p = &detail::current_parker();
  mu_.lock();
  detail::push(waiters_, &w);
  mu_.unlock();
  // Queued before the caller's lock is released: a notify issued after the
  // caller changed its condition under that lock finds us.
  unlock(lk);
  bool notified;
  try {
    notified = detail::await_grant(mu_, waiters_, w, dl, "cond wait", this, [this] { notify_one(); });
  } catch (...) {
    lock(lk);
    throw;
  }
  lock(lk);
  return notified;
}

void condition_variable::notify_one() {
  detail::grants g;
  std::lock_guard lk(mu_);
  if (detail::sync_waiter* w = detail::pop(waiters_)) g.add(w);
}

void condition_variable::notify_all() {
  detail::grants g;
  std::lock_guard lk(mu_);
  while (detail::sync_waiter* w = detail::pop(waiters_)) g.add(w);
}

// ---- wait_group ----
//
// state_ packs the counter (high 32 bits) and the number of waiters (low 32
// bits), as Go's WaitGroup does, so that the add() that brings the counter
// to zero knows from the same atomic whether anyone waits: if nobody does it
// touches nothing more (a wait() may already have returned and the group
// been destroyed); if somebody does, those waiters cannot return before it
// wakes them. A waiter counted but not yet queued when the counter reaches
// zero finds a pending wake-up (wakes_) instead of queueing.

void wait_group::add(std::int64_t delta) {
  detail::note_plain_thread();
  // acq_rel: the decrement to zero publishes every done()'s prior writes
  // to the waiters (who read state_ with acquire or are woken under mu_).
  const std::uint64_t s =
      state_.fetch_add(static_cast<std::uint64_t>(delta) << 32, std::memory_order_acq_rel) +
      (static_cast<std::uint64_t>(delta) << 32);
  const auto count = static_cast<std::int32_t>(s >> 32);
  const auto waiters = static_cast<std::uint32_t>(s);
  if (count < 0) throw std::logic_error("weft::wait_group: negative counter");
  if (count != 0 || waiters == 0 || delta == 0) return;
  state_.store(0, std::memory_order_relaxed);  // the waiters are ours to wake
  detail::grants g;
  std::lock_guard lk(mu_);
  std::uint32_t woken = 0;
  while (detail::sync_waiter* w = detail::pop(waiters_)) {
    g.add(w);
    woken++;
  }
  wakes_ += waiters - woken;  // counted, not yet queued
}

void wait_group::wait() {
  std::uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if ((s >> 32) == 0) return;
    // Count ourselves in (acquire on success pairs with add's release).
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) break;
  }
  detail::note_plain_thread();
  detail::sync_waiter w;
  w.p = &detail::current_parker();
  mu_.lock();
  if (wakes_ > 0) {  // the counter reached zero while we were on our way
    wakes_--;
    mu_.unlock();
    return;
  }
  detail::push(waiters_, &w);
  mu_.unlock();
  detail::await_grant(mu_, waiters_, w, nullptr, "waitgroup wait", this, [] {});
}

// ---- semaphore ----

void semaphore::acquire() { acquire_until(nullptr); }

bool semaphore::try_acquire() {
  std::lock_guard lk(mu_);
  if (count_ > 0 && waiters_.head == nullptr) {
    count_--;
    return true;
  }
  return false;
}

bool semaphore::acquire_until(const std::chrono::steady_clock::time_point* dl) {
  detail::note_plain_thread();
  mu_.lock();
  if (count_ > 0 && waiters_.head == nullptr) {  // FIFO: no barging past waiters
    count_--;
    mu_.unlock();
    return true;
  }
  detail::sync_waiter w;
  w.p = &detail::current_parker();
  detail::push(waiters_, &w);
  mu_.unlock();
  return detail::await_grant(mu_, waiters_, w, dl, "semaphore acquire", this, [this] { release(1); });
}

void semaphore::release(std::int64_t n) {
  if (n < 0) throw std::invalid_argument("weft::semaphore::release: negative count");
  detail::grants g;
  std::lock_guard lk(mu_);
  count_ += n;
  while (count_ > 0) {
    detail::sync_waiter* w = detail::pop(waiters_);
    if (w == nullptr) break;
    count_--;
    g.add(w);
  }
}

// ---- once_flag ----

bool once_flag::begin() {
  detail::note_plain_thread();
  for (;;) {
    mu_.lock();
    const std::uint32_t s = state_.load(std::memory_order_acquire);
    if (s == kDone) {
      mu_.unlock();
      return false;
    }
    if (s == 0) {
      state_.store(1, std::memory_order_relaxed);
      mu_.unlock();
      return true;
    }
    detail::sync_waiter w;  // someone is running f: wait for its outcome
    w.p = &detail::current_parker();
    detail::push(waiters_, &w);
    mu_.unlock();
    detail::await_grant(mu_, waiters_, w, nullptr, "once", this, [this] {
      // We were told the outcome while being cancelled: if f failed, let
      // another waiter retry in our place.
      if (state_.load(std::memory_order_acquire) != kDone) {
        detail::grants g;
        std::lock_guard lk(mu_);
        if (detail::sync_waiter* next = detail::pop(waiters_)) g.add(next);
      }
    });
  }
}

void once_flag::finish(bool succeeded) {
  detail::grants g;
  std::lock_guard lk(mu_);
  // Release: f's effects happen before every done() that sees kDone.
  state_.store(succeeded ? kDone : 0, std::memory_order_release);
  if (succeeded) {
    while (detail::sync_waiter* w = detail::pop(waiters_)) g.add(w);
  } else if (detail::sync_waiter* w = detail::pop(waiters_)) {
    g.add(w);  // it will try f itself
  }
}

}  // namespace weft
