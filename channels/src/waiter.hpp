// Waiters: a blocked channel operation (or select case), living in the
// blocked fiber's or thread's frame, linked into a channel's send or
// receive queue.
//
// Invariants (each guarded by the lock of the channel whose queue holds the
// waiter):
// 1. A waiter is in at most one queue; `queued` says whether it still is.
//    It is written only under the lock, and read under it — except by the
//    waiter's owner, which may read it without the lock (acquire, pairing
//    with remove's release store): once it reads false, whoever removed the
//    waiter is done with it, unless that was the claimer that won it
//    (invariant 3 then covers the rest). select's unregister uses this to
//    skip the locks of channels that have already dropped its waiters.
// 2. `sel` is shared by all waiters of one operation (one select, or one
//    plain send/recv). It is 0 while the operation is open and becomes the
//    winning case id (or kSelCancelled) by a single CAS: whoever wins that
//    CAS, and only it, completes the operation. This is crossbeam's
//    "selected" slot; Go's select locks every channel instead.
//    A `solo` waiter (a plain send or receive: one waiter, one channel) is
//    decided by its channel's lock alone: a claimer stores the case id
//    under the lock, and the owner withdraws (timeout, cancellation) under
//    the same lock by finding it still queued. No CAS: nothing else can
//    write its sel.
// 3. The winner of the CAS dequeues the waiter and writes `result` under the
//    channel lock — on an unbuffered channel after moving the value (a
//    hand-off: `done` or `closed`), on a buffered one without moving
//    anything (`retry`: the channel became ready, try again; see
//    chan_core.hpp). Then, after unlocking (a wake_list, as Go's chansend
//    readies the receiver after unlock: the unpark may take scheduler locks
//    or wake a worker, which is no work for a lock others spin on), it
//    unparks the owner and, as its very last touch of the waiter, sets
//    `released` (release). The owner, once awake and seeing sel != 0, waits
//    for `released` (acquire) before reading `result` or returning; it is
//    nearly always set already, since the waker finished before the owner
//    was even scheduled.
// 4. waitq::waiting is true while the queue holds a waiter (written under
//    the lock, read without it: by buffered channels' fast paths, and as a
//    hint by a blocking select's poll of an unbuffered channel).
#pragma once

#include <sched.h>

#include <atomic>
#include <cstdint>

#include <weft/scheduler/detail/park.hpp>

namespace weft::detail {

inline constexpr std::uint32_t kSelCancelled = 0xFFFF'FFFFu;

enum class outcome : std::uint8_t { pending, done, closed, retry };

struct waiter {
  waiter* prev = nullptr;
  waiter* next = nullptr;
  std::atomic<bool> queued{false};  // invariant 1
  std::atomic<std::uint32_t>* sel = nullptr;
  std::uint32_t case_id = 0;  // index + 1
  parker* p = nullptr;
  void* slot = nullptr;       // send: the value to move from; recv: raw storage
  outcome result = outcome::pending;
  bool solo = false;                  // invariant 2
  std::atomic<bool> released{false};  // invariant 3
};

// Claimed waiters to wake once the channel lock is released (invariant 3).
// Declare one before taking the lock: its destructor runs after unlock.
struct wake_list {
  waiter* head = nullptr;
  // Requires the channel's lock; w is claimed and dequeued.
  void add(waiter* w, outcome o) noexcept {
    w->result = o;
    w->next = head;  // w is unlinked: its link is ours now
    head = w;
  }
  [[gnu::always_inline]] ~wake_list() {
    while (waiter* w = head) {
      head = w->next;  // read before releasing: w may be gone after
      parker* p = w->p;
      unpark(*p);
      // Release: pairs with await_release; after this store w may be gone.
      w->released.store(true, std::memory_order_release);
    }
  }
};

// Waits until the claimer of w has finished with it (invariant 3).
// Spins briefly, then yields the CPU: the waker may be a plain thread that
// lost its CPU between the unpark and this store.
inline void await_release(const waiter& w) noexcept {
  for (int i = 0; !w.released.load(std::memory_order_acquire); i++) {
    if (i < 128)
      __builtin_ia32_pause();
    else
      sched_yield();
  }
}

// An intrusive FIFO of waiters. Guarded by its channel's lock.
struct waitq {
  waiter* head = nullptr;
  waiter* tail = nullptr;
  // Invariant 4. Set by the channel after a push (chan_core.cpp,
  // queue_waiter: on a buffered channel a seq_cst store, half of the
  // Dekker pair of B3; on an unbuffered one a hint, relaxed).
  std::atomic<bool> waiting{false};
  // Unbuffered channels: the number of pushes, part of the channel's state
  // version read by non-blocking select (chan_core.cpp, state_version).
  std::atomic<std::uint64_t> pushes{0};

  bool empty() const noexcept { return head == nullptr; }
  [[gnu::always_inline]] void push(waiter* w) noexcept {
    w->next = nullptr;
    w->prev = tail;
    if (tail != nullptr)
      tail->next = w;
    else
      head = w;
    tail = w;
    w->queued.store(true, std::memory_order_relaxed);
  }
  [[gnu::always_inline]] void remove(waiter* w) noexcept {
    if (!w->queued.load(std::memory_order_relaxed)) return;
    if (w->prev != nullptr)
      w->prev->next = w->next;
    else
      head = w->next;
    if (w->next != nullptr)
      w->next->prev = w->prev;
    else
      tail = w->prev;
    w->prev = w->next = nullptr;
    // Release: the last write to w by whoever removes it (but a claimer
    // that wins it); pairs with the owner's lock-free acquire load
    // (invariant 1).
    w->queued.store(false, std::memory_order_release);
    // Relaxed: a stale true only sends a notifier to the lock for nothing.
    if (head == nullptr) waiting.store(false, std::memory_order_relaxed);
  }
  // Dequeues and claims (invariant 2) the first waiter that is still open,
  // dropping ones whose operation completed elsewhere and skipping (leaving
  // queued) those of the operation `self` (a select cannot meet itself).
  [[gnu::always_inline]] waiter* claim(const std::atomic<std::uint32_t>* self) noexcept {
    waiter* w = head;
    while (w != nullptr) {
      waiter* nx = w->next;
      if (w->solo) {
        // Invariant 2: still queued means still open. Release: pairs with
        // the owner's acquire load of sel (it then waits for `released`
        // before touching what we write to the waiter after this).
        w->sel->store(w->case_id, std::memory_order_release);
        remove(w);
        return w;
      }
      if (w->sel != self) {
        std::uint32_t open = 0;
        // acq_rel: the winner's claim is ordered with its writes to the
        // waiter, and with the owner's acquire loads of sel.
        const bool won = w->sel->compare_exchange_strong(open, w->case_id, std::memory_order_acq_rel,
                                                         std::memory_order_acquire);
        remove(w);
        if (won) return w;
      }
      w = nx;
    }
    return nullptr;
  }
  // Whether a waiter other than `self`'s is queued (may be stale-claimed).
  bool has_other(const std::atomic<std::uint32_t>* self) const noexcept {
    for (waiter* w = head; w != nullptr; w = w->next)
      if (w->sel != self && w->sel->load(std::memory_order_acquire) == 0) return true;
    return false;
  }
};

}  // namespace weft::detail
