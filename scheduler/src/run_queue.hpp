// Run queues: each worker's bounded work-stealing deque, and the runtime's
// shared injection queue.
//
// local_queue is the Chase-Lev deque (D. Chase and Y. Lev, "Dynamic Circular
// Work-Stealing Deque", SPAA 2005) in the bounded form, with the C11 memory
// orders of N. M. Le, A. Pop, A. Cohen, F. Zappa Nardelli, "Correct and
// Efficient Work-Stealing for Weak Memory Models", PPoPP 2013. The paper's
// seq_cst fences are written as seq_cst operations on `bottom` and `top`
// (same cost on x86, and visible to TSan, which ignores fences).
//
// Why a LIFO deque and not Go's FIFO ring: the owner pops the newest fiber,
// so spawn-heavy recursion (skynet, divide and conquer) runs depth-first and
// keeps only O(depth x fan-out) stacks alive per worker; thieves take the
// oldest fibers, the biggest pieces of work (Cilk's work-first principle).
// A FIFO owner runs such trees breadth-first: for skynet 1M that is ~111k
// blocked parents, each holding a stack. Fairness comes from the worker's
// tick (every kFairnessTick-th pick looks at the shared and yield queues
// first) and from yield() putting fibers behind everything else.
//
// Invariants:
// 1. Only the owning worker calls push() and pop(); any thread calls steal().
// 2. top only grows (CAS); bottom is written only by the owner.
// 3. Slots [top, bottom) hold fibers; a slot is rewritten only once top has
//    moved past it (push refuses when bottom - top == capacity).
// 4. The last fiber (bottom - 1 == top) is claimed by CAS on top, by owner
//    and thief alike, so exactly one of them gets it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "fiber.hpp"

namespace weft::detail {

class local_queue {
 public:
  static constexpr std::int64_t kCapacity = 256;

  // Owner only. Returns false when full.
  bool push(fiber* f) noexcept {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    // Acquire: pairs with a thief's CAS on top, so its read of the slot we
    // are about to overwrite has happened.
    const std::int64_t t = top_.load(std::memory_order_acquire);
    if (b - t >= kCapacity) return false;
    slots_[b & (kCapacity - 1)].store(f, std::memory_order_relaxed);
    // Release: publishes the slot (and the fiber's fields) to thieves'
    // acquire loads of bottom.
    bottom_.store(b + 1, std::memory_order_release);
    return true;
  }

  // Owner only. The newest fiber, or null.
  fiber* pop() noexcept {
    // Cheap empty check first: thieves only raise top, so a stale top can
    // only make the deque look fuller than it is, never emptier.
    if (bottom_.load(std::memory_order_relaxed) <= top_.load(std::memory_order_relaxed)) return nullptr;
    const std::int64_t b = bottom_.load(std::memory_order_relaxed) - 1;
    // seq_cst store then seq_cst load of top: the paper's fence. A thief
    // reads top then bottom; at least one of us sees the other's update.
    bottom_.store(b, std::memory_order_seq_cst);
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    if (t > b) {  // empty
      bottom_.store(b + 1, std::memory_order_relaxed);
      return nullptr;
    }
    fiber* f = slots_[b & (kCapacity - 1)].load(std::memory_order_relaxed);
    if (t == b) {  // the last one: race thieves for it (invariant 4)
      if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed))
        f = nullptr;
      bottom_.store(b + 1, std::memory_order_relaxed);
    }
    return f;
  }

  // Any thread. The oldest fiber, or null (empty, or lost a race).
  fiber* steal() noexcept {
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    // seq_cst (acquire at least): pairs with push's release of bottom.
    const std::int64_t b = bottom_.load(std::memory_order_seq_cst);
    if (t >= b) return nullptr;
    fiber* f = slots_[t & (kCapacity - 1)].load(std::memory_order_relaxed);
    if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed))
      return nullptr;
    return f;
  }

  // Owner only: takes up to `max` of the oldest fibers with one CAS on top,
  // as a thief takes one, and links them oldest first through `next` into
  // first .. last. Slots are written only by the owner's push, so [t, t+k)
  // still hold what they held when top was t: a successful CAS from t
  // makes them ours (a thief that read one of them loses its own CAS), and
  // they are read after it. Returns how many (0 if a thief moved top first:
  // the deque then has room again). Used when a push finds the deque full,
  // instead of `max` single steals (a locked RMW each).
  std::int64_t take_oldest(std::int64_t max, fiber*& first, fiber*& last) noexcept {
    std::int64_t t = top_.load(std::memory_order_relaxed);  // validated by the CAS
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);  // ours
    const std::int64_t k = b - t < max ? b - t : max;
    if (k <= 0) return 0;
    // seq_cst: as steal's CAS (every RMW of top is one, the paper's order).
    if (!top_.compare_exchange_strong(t, t + k, std::memory_order_seq_cst, std::memory_order_relaxed)) return 0;
    first = last = slots_[t & (kCapacity - 1)].load(std::memory_order_relaxed);
    for (std::int64_t i = 1; i < k; i++) {
      fiber* g = slots_[(t + i) & (kCapacity - 1)].load(std::memory_order_relaxed);
      last->next = g;
      last = g;
    }
    return k;
  }

  // Any thread, a hint: the position of the oldest fiber. Every removal of
  // the last fiber advances it (the owner's pop of it CASes top too), so a
  // deque seen holding one fiber with an unchanged top still holds that
  // same fiber.
  std::int64_t oldest_position() const noexcept { return top_.load(std::memory_order_relaxed); }

  // Approximate; any thread.
  std::int64_t size() const noexcept {
    const std::int64_t t = top_.load(std::memory_order_acquire);
    const std::int64_t b = bottom_.load(std::memory_order_acquire);
    return b > t ? b - t : 0;
  }

 private:
  alignas(64) std::atomic<std::int64_t> top_{0};
  alignas(64) std::atomic<std::int64_t> bottom_{0};
  alignas(64) std::atomic<fiber*> slots_[kCapacity] = {};
};

// The shared queue for fibers made runnable from outside the workers (plain
// threads, the blocking pool, timers firing on another worker) and for a
// local queue's overflow. A mutex-protected intrusive FIFO; size_ lets
// workers skip the lock when it is empty.
class inject_queue {
 public:
  void push(fiber* f) noexcept { push_chain(f, f, 1); }

  // Pushes the chain first..last (linked by next) under one lock.
  void push_chain(fiber* first, fiber* last, std::size_t n) noexcept {
    std::lock_guard lk(mu_);
    last->next = nullptr;
    if (tail_ != nullptr)
      tail_->next = first;
    else
      head_ = first;
    tail_ = last;
    // seq_cst: part of the wake protocol (idle.cpp "Idle workers"):
    // an idling worker that re-checks size after registering sees this.
    size_.fetch_add(n, std::memory_order_seq_cst);
  }

  // Pushes the chain first..last ahead of everything queued: for fibers
  // that were runnable before those (the monitor's hand-off of a stuck
  // worker's queues), so that a flood of new work does not starve them.
  void push_chain_front(fiber* first, fiber* last, std::size_t n) noexcept {
    std::lock_guard lk(mu_);
    last->next = head_;
    if (head_ == nullptr) tail_ = last;
    head_ = first;
    // seq_cst: as push_chain's.
    size_.fetch_add(n, std::memory_order_seq_cst);
  }

  // Pops up to `max` fibers into `out`; returns how many.
  std::size_t pop_batch(fiber** out, std::size_t max) noexcept {
    if (size_.load(std::memory_order_relaxed) == 0) return 0;
    std::lock_guard lk(mu_);
    std::size_t n = 0;
    while (n < max && head_ != nullptr) {
      out[n++] = head_;
      head_ = head_->next;
    }
    if (head_ == nullptr) tail_ = nullptr;
    size_.fetch_sub(n, std::memory_order_relaxed);
    return n;
  }

  std::size_t size() const noexcept { return size_.load(std::memory_order_seq_cst); }

 private:
  std::mutex mu_;  // guards head_, tail_ and the links of queued fibers
  fiber* head_ = nullptr;
  fiber* tail_ = nullptr;
  std::atomic<std::size_t> size_{0};
};

}  // namespace weft::detail
