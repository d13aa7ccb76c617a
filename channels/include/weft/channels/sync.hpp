// weft's sync primitives: Go's sync package (Mutex, RWMutex, Cond,
// WaitGroup, Once) plus a counting semaphore. Each parks a fiber (its
// worker runs other fibers) or blocks a plain thread (futex), so the same
// code runs under M:N, N:1 and 1:1. None is tied to a thread: a fiber may
// hold a weft::mutex across a yield, a channel operation or a migration to
// another worker, and another fiber or thread may unlock it (as in Go).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <utility>

#include <weft/channels/detail/chan_core.hpp>  // detail::wait_list
#include <weft/scheduler/detail/spin_mutex.hpp>

namespace weft {

// sync.Mutex. Lockable (std::lock_guard, std::unique_lock). Unlock wakes
// the longest waiter to compete for the lock; one that has waited over
// 1 ms is handed it directly (Go's starvation mode), so none starves.
// From fibers and threads.
class mutex {
 public:
  mutex() = default;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  void lock() {
    std::uint32_t free = 0;
    // Acquire: pairs with unlock's release.
    if (!state_.compare_exchange_strong(free, kLocked, std::memory_order_acquire, std::memory_order_relaxed))
      lock_slow();
  }
  // Takes the lock if it is free, never waiting. From fibers and threads.
  [[nodiscard]] bool try_lock() noexcept {
    std::uint32_t free = 0;
    return state_.compare_exchange_strong(free, kLocked, std::memory_order_acquire, std::memory_order_relaxed);
  }
  void unlock() {
    std::uint32_t held = kLocked;
    // Release: publishes the critical section to the next owner.
    if (!state_.compare_exchange_strong(held, 0, std::memory_order_release, std::memory_order_relaxed))
      unlock_slow();
  }

 private:
  static constexpr std::uint32_t kLocked = 1;
  static constexpr std::uint32_t kWaiters = 2;
  void lock_slow();
  void unlock_slow();
  bool try_take() noexcept;  // takes the lock if free, waiters or not
  void wake_next();
  std::atomic<std::uint32_t> state_{0};  // kLocked | kWaiters
  detail::spin_mutex mu_;                // guards waiters_ and the kWaiters bit's meaning
  detail::wait_list waiters_;
};

// sync.RWMutex: many readers or one writer. A waiting writer keeps new
// readers out (no writer starvation); a finishing writer admits every
// waiting reader (no reader starvation).
class shared_mutex {
 public:
  void lock();
  // Takes the lock exclusively if it is free, never waiting.
  [[nodiscard]] bool try_lock() noexcept;
  void unlock();
  void lock_shared();
  // Takes a shared lock unless a writer holds or awaits it, never waiting.
  [[nodiscard]] bool try_lock_shared() noexcept;
  void unlock_shared();

 private:
  detail::spin_mutex mu_;  // guards everything below
  std::int64_t readers_ = 0;
  bool writer_ = false;
  detail::wait_list writers_waiting_;
  detail::wait_list readers_waiting_;
};

// sync.Cond over weft::mutex (or any BasicLockable, via the template
// forms). wait() atomically releases the lock and parks; it may return
// spuriously, so use the predicate forms.
class condition_variable {
 public:
  template <class Lock>
  void wait(Lock& lk) {
    wait_until_impl(lk, nullptr);
  }
  template <class Lock, class Pred>
  void wait(Lock& lk, Pred pred) {
    while (!pred()) wait(lk);
  }
  template <class Lock, class Clock, class Dur>
  std::cv_status wait_until(Lock& lk, std::chrono::time_point<Clock, Dur> t) {
    const auto dl = std::chrono::steady_clock::now() + (t - Clock::now());
    return wait_until_impl(lk, &dl) ? std::cv_status::no_timeout : std::cv_status::timeout;
  }
  template <class Lock, class Rep, class Period>
  std::cv_status wait_for(Lock& lk, std::chrono::duration<Rep, Period> d) {
    const auto dl = std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d);
    return wait_until_impl(lk, &dl) ? std::cv_status::no_timeout : std::cv_status::timeout;
  }
  template <class Lock, class Rep, class Period, class Pred>
  bool wait_for(Lock& lk, std::chrono::duration<Rep, Period> d, Pred pred) {
    const auto dl = std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d);
    while (!pred())
      if (!wait_until_impl(lk, &dl)) return pred();
    return true;
  }
  // Wakes the longest waiter / every waiter (none: no effect). From
  // fibers and threads, with or without the waiters' lock held.
  void notify_one() noexcept;
  void notify_all() noexcept;

 private:
  // Returns false on timeout. Lock is any BasicLockable.
  template <class Lock>
  bool wait_until_impl(Lock& lk, const std::chrono::steady_clock::time_point* dl) {
    return wait_impl(
        &lk, [](void* l) { static_cast<Lock*>(l)->unlock(); }, [](void* l) { static_cast<Lock*>(l)->lock(); }, dl);
  }
  // Queues the caller, unlocks lk, parks until notified or dl, relocks lk
  // (also when unwinding).
  bool wait_impl(void* lk, void (*unlock)(void*), void (*lock)(void*),
                 const std::chrono::steady_clock::time_point* dl);
  detail::spin_mutex mu_;  // guards waiters_
  detail::wait_list waiters_;
};

// sync.WaitGroup.
class wait_group {
 public:
  // Adds delta (may be negative) to the counter; at zero every waiter
  // wakes. Throws std::logic_error if the counter goes negative.
  void add(std::int64_t delta = 1);
  void done() { add(-1); }
  // Blocks until the counter is zero.
  void wait();

 private:
  std::atomic<std::uint64_t> state_{0};  // counter << 32 | waiters (sync.cpp)
  detail::spin_mutex mu_;                 // guards waiters_ and wakes_
  detail::wait_list waiters_;
  std::uint32_t wakes_ = 0;
};

// A counting semaphore (golang.org/x/sync/semaphore, C++20's
// std::counting_semaphore). FIFO: release() hands permits to the longest
// waiter first.
class semaphore {
 public:
  explicit semaphore(std::int64_t initial = 0) : count_(initial) {}
  void acquire();
  // Takes a permit if one is free and nobody waits ahead, never waiting.
  [[nodiscard]] bool try_acquire() noexcept;
  // As acquire, giving up after d: false if it did.
  template <class Rep, class Period>
  [[nodiscard]] bool try_acquire_for(std::chrono::duration<Rep, Period> d) {
    const auto dl = std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d);
    return acquire_until(&dl);
  }
  void release(std::int64_t n = 1);

 private:
  bool acquire_until(const std::chrono::steady_clock::time_point* dl);
  detail::spin_mutex mu_;  // guards everything below
  std::int64_t count_;
  detail::wait_list waiters_;
};

// sync.Once. call_once runs f exactly once across all callers; the others
// wait (park) until it has finished. If f throws, the exception propagates
// to its caller and the next caller tries again (as std::call_once).
class once_flag {
 public:
  [[nodiscard]] bool done() const noexcept { return state_.load(std::memory_order_acquire) == kDone; }

 private:
  template <class F, class... A>
  friend void call_once(once_flag& flag, F&& f, A&&... args);
  static constexpr std::uint32_t kDone = 2;
  bool begin();                 // true: the caller runs f
  void finish(bool succeeded);  // after f
  std::atomic<std::uint32_t> state_{0};  // 0 idle, 1 running, kDone
  detail::spin_mutex mu_;                // guards waiters_
  detail::wait_list waiters_;
};

template <class F, class... A>
void call_once(once_flag& flag, F&& f, A&&... args) {
  if (flag.done()) return;
  if (!flag.begin()) return;
  try {
    std::invoke(std::forward<F>(f), std::forward<A>(args)...);
  } catch (...) {
    flag.finish(false);
    throw;
  }
  flag.finish(true);
}

}  // namespace weft
