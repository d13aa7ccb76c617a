// Waiters: one blocked operation's record, living in the blocked fiber's or
// thread's frame, linked into a wait queue. The one mechanism for every
// blocking operation of weft::channels (as Go's sudog serves channels,
// select and sync alike): a channel send or receive, each case of a select,
// and every sync primitive's lock, wait or acquire (sync.cpp).
//
// Invariants (each guarded by the lock of whatever owns the queue holding
// the waiter: a channel's mu, or a sync primitive's mu_):
// 1. A waiter is in at most one queue; `queued` says whether it still is.
//    It is written only under the lock, and read under it — except by the
//    waiter's owner, which may read it without the lock (acquire, pairing
//    with list_remove's release store): once it reads false, whoever
//    removed the waiter is done with it, unless that was the claimer that
//    won it (invariant 3 then covers the rest). select's unregister uses
//    this to skip the locks of channels that have already dropped its
//    waiters.
// 2. `sel` is shared by all waiters of one operation (one select, or one
//    solo operation). It is 0 while the operation is open and becomes the
//    winning case id (or kSelCancelled) by a single CAS: whoever wins that
//    CAS, and only it, completes the operation. This is crossbeam's
//    "selected" slot; Go's select locks every channel instead.
//    A `solo` waiter (a plain send or receive: one waiter, one channel; and
//    every sync waiter) is decided by its queue's lock alone: a claimer
//    stores the case id under the lock, and the owner withdraws (timeout,
//    cancellation) under the same lock by finding it still queued. No CAS:
//    nothing else can write its sel.
// 3. The claimer dequeues the waiter and writes `result` under the lock —
//    on an unbuffered channel after moving the value (a hand-off: `done` or
//    `closed`), on a buffered one without moving anything (`retry`: the
//    channel became ready, try again; see chan_core.hpp), for a sync
//    primitive after granting what the waiter asked for (`done`; a mutex's
//    waiter woken only to compete: `retry`). Then, after unlocking (a
//    wake_list, as Go's chansend readies the receiver after unlock: the
//    unpark may take scheduler locks or wake a worker, which is no work for
//    a lock others spin on; and a woken sync waiter may destroy its
//    primitive, lock included, at once), it unparks the owner and, as its
//    very last touch of the waiter, sets `released` (release). The owner,
//    once awake and seeing sel != 0, waits for `released` (acquire) before
//    reading `result` or returning; it is nearly always set already, since
//    the waker finished before the owner was even scheduled.
// 4. waitq::waiting (channels only) is true while the queue holds a waiter
//    (written under the lock, read without it: by buffered channels' fast
//    paths, and as a hint by a blocking select's poll of an unbuffered
//    channel).
#pragma once

#include <sched.h>

#include <atomic>
#include <cstdint>

#include <weft/channels/detail/chan_core.hpp>
#include <weft/scheduler/detail/park.hpp>

namespace weft::detail {

inline constexpr std::uint32_t kSelCancelled = 0xFFFF'FFFFu;

struct waiter {
  waiter* prev = nullptr;
  waiter* next = nullptr;
  std::atomic<std::uint32_t>* sel = nullptr;  // invariant 2
  parker* p = nullptr;
  // Channels: the value to send (moved from) or raw storage to receive
  // into. A mutex's lock(): the std::int64_t time it began waiting.
  void* slot = nullptr;
  std::uint32_t case_id = 0;  // index + 1
  std::atomic<bool> queued{false};  // invariant 1
  op_status result = op_status::pending;  // invariant 3
  bool solo = false;                  // invariant 2
  std::atomic<bool> released{false};  // invariant 3
};

// A solo operation's waiter with its own select word (invariant 2).
struct solo_waiter {
  std::atomic<std::uint32_t> sel{0};
  waiter w;
  explicit solo_waiter(void* slot = nullptr) noexcept {
    w.sel = &sel;
    w.case_id = 1;
    w.solo = true;
    w.p = &current_parker();
    w.slot = slot;
  }
  solo_waiter(const solo_waiter&) = delete;
  solo_waiter& operator=(const solo_waiter&) = delete;
};

// ---- the wait queue: an intrusive FIFO, guarded by its owner's lock ----

inline void list_push_back(wait_list& l, waiter* w) noexcept {
  w->next = nullptr;
  w->prev = l.tail;
  if (l.tail != nullptr)
    l.tail->next = w;
  else
    l.head = w;
  l.tail = w;
  w->queued.store(true, std::memory_order_relaxed);
}

// A mutex waiter that lost the race for the lock keeps its place.
inline void list_push_front(wait_list& l, waiter* w) noexcept {
  w->prev = nullptr;
  w->next = l.head;
  if (l.head != nullptr)
    l.head->prev = w;
  else
    l.tail = w;
  l.head = w;
  w->queued.store(true, std::memory_order_relaxed);
}

// Unlinks w if it is queued; returns whether it was.
inline bool list_remove(wait_list& l, waiter* w) noexcept {
  if (!w->queued.load(std::memory_order_relaxed)) return false;
  if (w->prev != nullptr)
    w->prev->next = w->next;
  else
    l.head = w->next;
  if (w->next != nullptr)
    w->next->prev = w->prev;
  else
    l.tail = w->prev;
  w->prev = w->next = nullptr;
  // Release: the last write to w by whoever removes it (but a claimer
  // that wins it); pairs with the owner's lock-free acquire load
  // (invariant 1).
  w->queued.store(false, std::memory_order_release);
  return true;
}

// Dequeues and claims (invariant 2) the first waiter that is still open,
// dropping ones whose operation completed elsewhere and skipping (leaving
// queued) those of the operation `self` (a select cannot meet itself).
[[gnu::always_inline]] inline waiter* list_claim(wait_list& l, const std::atomic<std::uint32_t>* self) noexcept {
  waiter* w = l.head;
  while (w != nullptr) {
    waiter* nx = w->next;
    if (w->solo) {
      // Invariant 2: still queued means still open. Release: pairs with
      // the owner's acquire load of sel (it then waits for `released`
      // before touching what we write to the waiter after this).
      w->sel->store(w->case_id, std::memory_order_release);
      list_remove(l, w);
      return w;
    }
    if (w->sel != self) {
      std::uint32_t open = 0;
      // acq_rel: the winner's claim is ordered with its writes to the
      // waiter, and with the owner's acquire loads of sel.
      const bool won = w->sel->compare_exchange_strong(open, w->case_id, std::memory_order_acq_rel,
                                                       std::memory_order_acquire);
      list_remove(l, w);
      if (won) return w;
    }
    w = nx;
  }
  return nullptr;
}

// A channel's wait queue: the list plus what the channel's lock-free paths
// read of it.
struct waitq : wait_list {
  // Invariant 4. Set by the channel after a push (chan_core.cpp,
  // queue_waiter: on a buffered channel a seq_cst store, half of the
  // Dekker pair of B3; on an unbuffered one a hint, relaxed).
  std::atomic<bool> waiting{false};
  // Unbuffered channels: the number of pushes, part of the channel's state
  // version read by non-blocking select (chan_core.cpp, state_version).
  std::atomic<std::uint64_t> pushes{0};

  bool empty() const noexcept { return head == nullptr; }
  [[gnu::always_inline]] void push(waiter* w) noexcept { list_push_back(*this, w); }
  [[gnu::always_inline]] void remove(waiter* w) noexcept {
    list_remove(*this, w);
    settle();
  }
  [[gnu::always_inline]] waiter* claim(const std::atomic<std::uint32_t>* self) noexcept {
    waiter* w = list_claim(*this, self);
    settle();
    return w;
  }
  // Whether a waiter other than `self`'s is queued (may be stale-claimed).
  bool has_other(const std::atomic<std::uint32_t>* self) const noexcept {
    for (waiter* w = head; w != nullptr; w = w->next)
      if (w->sel != self && w->sel->load(std::memory_order_acquire) == 0) return true;
    return false;
  }

 private:
  // Relaxed: a stale true only sends a notifier to the lock for nothing.
  void settle() noexcept {
    if (head == nullptr) waiting.store(false, std::memory_order_relaxed);
  }
};

// ---- waking and waiting ----

// Claimed waiters to wake once the queue's lock is released (invariant 3).
// Declare one before taking the lock: its destructor runs after unlock.
struct wake_list {
  waiter* head = nullptr;
  // Requires the queue's lock; w is claimed and dequeued.
  void add(waiter* w, op_status o) noexcept {
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

// Parks the owner of the queued solo waiter w until a claimer has finished
// with it (true: w.result says what it was given), or until `deadline`, if
// given (false: w was withdrawn, nothing was given). `withdraw()` takes w
// off its queue under the queue's lock and returns whether it was still
// there; false means a claimer won it first, and the claim stands (a grant
// just before the deadline counts).
//
// Cancellation (park throws fiber_cancelled): w is withdrawn or, if it was
// claimed meanwhile, the claim is finished (await_release) and `undo()`
// passes on what w was given (a lock, a permit, a wake-up, a value), so
// nothing is lost; then the exception propagates. From fibers and threads.
template <class Withdraw, class Undo>
bool wait_solo(waiter& w, wait_reason why, const clock::time_point* deadline, Withdraw withdraw, Undo undo) {
  for (;;) {
    // Acquire: pairs with the claimer's release store (list_claim).
    if (w.sel->load(std::memory_order_acquire) != 0) {
      await_release(w);
      return true;
    }
    try {
      if (deadline == nullptr)
        park(why);
      else if (!park_until(*deadline, why) && withdraw())
        return false;
    } catch (...) {
      if (!withdraw()) {
        await_release(w);
        undo();
      }
      throw;
    }
    // Woken, or spuriously, or claimed just before the deadline (withdraw
    // took the lock after the claimer set sel): look again.
  }
}

}  // namespace weft::detail
