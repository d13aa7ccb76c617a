// Sync primitives over the channels' waiter (waiter.hpp): each primitive
// keeps its blocked callers in a wait_list of solo waiters guarded by its
// own spin_mutex mu_, and hands what it guards (a lock, a permit, a
// notification) to a waiter directly, as Go's sync package parks goroutines
// on the same sudogs as its channels (sema.go).
//
// Protocol (waiter.hpp, invariants 1-3, as for a channel's solo waiter):
// 1. A caller that must wait fills in a solo_waiter in its own frame,
//    queues it under mu_ and parks (wait_solo) until its sel is non-zero.
// 2. A granter, holding mu_, updates the primitive's state for the waiter
//    (the lock is now its, a permit is taken, a reader is counted), claims
//    it (list_claim: sel = 1, release, then dequeued) and adds it to a
//    wake_list with `done` (a mutex's waiter woken only to compete for the
//    lock: `retry`).
// 3. After mu_ is unlocked, the wake_list unparks each waiter and, as its
//    last touch, sets `released`. Nothing touches the primitive after the
//    unlock: a woken waiter may return and destroy it at once. The owner
//    waits for `released` before its frame may go (await_release).
// 4. On a timeout the owner takes mu_ and either finds itself still
//    queued (a real timeout: it unlinks itself) or already claimed (the
//    grant wins and counts).
//
// Cancellation (fiber_cancelled thrown by park at shutdown): a waiter still
// queued unlinks itself; one granted meanwhile passes the grant on (unlock,
// release, notify) before unwinding, so nothing is lost (wait_solo's undo).
//
// Lock order: a primitive's mu_ is a leaf, like a channel's: no other lock
// is taken under it (the scheduler's included: unparking happens after the
// unlock), and it is never held across a park.

#include <stdexcept>

#include <weft/channels/sync.hpp>
#include <weft/scheduler/detail/park.hpp>

#include "waiter.hpp"

namespace weft {
namespace detail {
namespace {

// Queues the caller's solo waiter at the back of l; requires mu.
inline void enqueue(wait_list& l, solo_waiter& sw) noexcept { list_push_back(l, &sw.w); }

// Claims the longest waiter of l and gives it o; requires mu. Returns the
// waiter (woken when `wake` is destroyed, after mu's unlock) or null.
inline waiter* grant_first(wait_list& l, wake_list& wake, op_status o = op_status::done) noexcept {
  waiter* w = list_claim(l, nullptr);  // every sync waiter is solo
  if (w != nullptr) wake.add(w, o);
  return w;
}

// Parks the caller, queued on l (guarded by mu), until granted (true) or
// until dl, if given (false). On cancellation, undo() passes on a grant
// that arrived meanwhile (waiter.hpp, wait_solo).
template <class Undo>
bool await_grant(spin_mutex& mu, wait_list& l, solo_waiter& sw, const clock::time_point* dl, const char* what,
                 const void* obj, Undo undo) {
  return wait_solo(
      sw.w, {what, obj}, dl,
      [&mu, &l, &sw] {
        mu.lock();
        const bool was_queued = list_remove(l, &sw.w);
        mu.unlock();
        return was_queued;
      },
      undo);
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
  std::int64_t since = 0;  // when this lock() first queued; the waiter's slot
  bool at_front = false;   // lost a race after being woken: keep our place
  for (;;) {
    detail::solo_waiter sw(&since);
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
    if (at_front)
      detail::list_push_front(waiters_, &sw.w);
    else
      detail::enqueue(waiters_, sw);
    mu_.unlock();
    // done: handed the lock (starvation mode); retry: woken to compete.
    detail::await_grant(mu_, waiters_, sw, nullptr, "mutex lock", this, [this, &sw] {
      if (sw.w.result == detail::op_status::done)
        unlock();  // we owned it: pass it on
      else
        wake_next();  // we were to compete: let another waiter do so
    });
    if (sw.w.result == detail::op_status::done) return;  // the unlocker left it locked for us
    if (try_take()) return;
    at_front = true;
  }
}

void mutex::unlock_slow() {
  detail::wake_list wake;  // after mu_.unlock()
  mu_.lock();
  const detail::waiter* w = waiters_.head;
  // Starving: hand over, staying locked for w; otherwise w competes.
  const bool starving = w != nullptr && mono_ns() - *static_cast<const std::int64_t*>(w->slot) > kStarvingNs;
  detail::grant_first(waiters_, wake, starving ? detail::op_status::done : detail::op_status::retry);
  const std::uint32_t waiters = waiters_.head != nullptr ? kWaiters : 0;
  // Release: publishes the critical section to the next owner.
  state_.store(starving ? kLocked | waiters : waiters, std::memory_order_release);
  mu_.unlock();
}

void mutex::wake_next() {
  detail::wake_list wake;
  std::lock_guard lk(mu_);
  if ((state_.load(std::memory_order_relaxed) & kLocked) != 0) return;  // its unlock will wake someone
  if (detail::grant_first(waiters_, wake, detail::op_status::retry) != nullptr && waiters_.head == nullptr)
    state_.fetch_and(~kWaiters, std::memory_order_relaxed);
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
  detail::solo_waiter sw;
  detail::enqueue(writers_waiting_, sw);
  mu_.unlock();
  detail::await_grant(mu_, writers_waiting_, sw, nullptr, "rwmutex lock", this, [this] { unlock(); });
}

bool shared_mutex::try_lock() noexcept {
  std::lock_guard lk(mu_);
  if (writer_ || readers_ != 0) return false;
  writer_ = true;
  return true;
}

void shared_mutex::unlock() {
  detail::wake_list wake;
  std::lock_guard lk(mu_);
  writer_ = false;
  if (readers_waiting_.head != nullptr) {
    // Admit every waiting reader (no reader starvation).
    while (detail::grant_first(readers_waiting_, wake) != nullptr) readers_++;
  } else if (detail::grant_first(writers_waiting_, wake) != nullptr) {
    writer_ = true;
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
  detail::solo_waiter sw;
  detail::enqueue(readers_waiting_, sw);
  mu_.unlock();
  detail::await_grant(mu_, readers_waiting_, sw, nullptr, "rwmutex rlock", this, [this] { unlock_shared(); });
}

bool shared_mutex::try_lock_shared() noexcept {
  std::lock_guard lk(mu_);
  if (writer_ || writers_waiting_.head != nullptr) return false;
  readers_++;
  return true;
}

void shared_mutex::unlock_shared() {
  detail::wake_list wake;
  std::lock_guard lk(mu_);
  if (--readers_ == 0 && detail::grant_first(writers_waiting_, wake) != nullptr) writer_ = true;
}

// ---- condition_variable ----

bool condition_variable::wait_impl(void* lk, void (*unlock)(void*), void (*lock)(void*),
                                   const std::chrono::steady_clock::time_point* dl) {
  detail::note_plain_thread();
  detail::solo_waiter sw;
  mu_.lock();
  detail::enqueue(waiters_, sw);
  mu_.unlock();
  // Queued before the caller's lock is released: a notify issued after the
  // caller changed its condition under that lock finds us.
  unlock(lk);
  bool notified;
  try {
    notified = detail::await_grant(mu_, waiters_, sw, dl, "cond wait", this, [this] { notify_one(); });
  } catch (...) {
    lock(lk);
    throw;
  }
  lock(lk);
  return notified;
}

void condition_variable::notify_one() noexcept {
  detail::wake_list wake;
  std::lock_guard lk(mu_);
  detail::grant_first(waiters_, wake);
}

void condition_variable::notify_all() noexcept {
  detail::wake_list wake;
  std::lock_guard lk(mu_);
  while (detail::grant_first(waiters_, wake) != nullptr) {
  }
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
  detail::wake_list wake;
  std::lock_guard lk(mu_);
  std::uint32_t woken = 0;
  while (detail::grant_first(waiters_, wake) != nullptr) woken++;
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
  detail::solo_waiter sw;
  mu_.lock();
  if (wakes_ > 0) {  // the counter reached zero while we were on our way
    wakes_--;
    mu_.unlock();
    return;
  }
  detail::enqueue(waiters_, sw);
  mu_.unlock();
  detail::await_grant(mu_, waiters_, sw, nullptr, "waitgroup wait", this, [] {});
}

// ---- semaphore ----

void semaphore::acquire() { acquire_until(nullptr); }

bool semaphore::try_acquire() noexcept {
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
  detail::solo_waiter sw;
  detail::enqueue(waiters_, sw);
  mu_.unlock();
  return detail::await_grant(mu_, waiters_, sw, dl, "semaphore acquire", this, [this] { release(1); });
}

void semaphore::release(std::int64_t n) {
  if (n < 0) throw std::invalid_argument("weft::semaphore::release: negative count");
  detail::wake_list wake;
  std::lock_guard lk(mu_);
  count_ += n;
  while (count_ > 0 && detail::grant_first(waiters_, wake) != nullptr) count_--;
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
    detail::solo_waiter sw;  // someone is running f: wait for its outcome
    detail::enqueue(waiters_, sw);
    mu_.unlock();
    detail::await_grant(mu_, waiters_, sw, nullptr, "once", this, [this] {
      // We were told the outcome while being cancelled: if f failed, let
      // another waiter retry in our place.
      if (state_.load(std::memory_order_acquire) != kDone) {
        detail::wake_list wake;
        std::lock_guard lk(mu_);
        detail::grant_first(waiters_, wake);
      }
    });
  }
}

void once_flag::finish(bool succeeded) {
  detail::wake_list wake;
  std::lock_guard lk(mu_);
  // Release: f's effects happen before every done() that sees kDone.
  state_.store(succeeded ? kDone : 0, std::memory_order_release);
  if (succeeded) {
    while (detail::grant_first(waiters_, wake) != nullptr) {
    }
  } else {
    detail::grant_first(waiters_, wake);  // it will try f itself
  }
}

}  // namespace weft
