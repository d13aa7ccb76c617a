// Channel operations. See chan_core.hpp for the invariants.

#include "chan_core.hpp"

#include <sched.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <new>

#include <weft/channels/chan.hpp>

namespace weft::detail {

namespace {

// Moves the element at src into raw storage at dst; src keeps a moved-from
// element (the caller still owns and destroys it).
inline void move_value(const elem_ops* ops, void* dst, void* src) noexcept {
  if (ops->trivial) {
    // Word-sized elements (long, pointers) as one plain load and store. No
    // 16-byte case: with LTO, g++ 12 inlines this into channels of 8-byte
    // elements and warns that it would overflow them (-Wstringop-overflow).
    if (ops->size == 8)
      std::memcpy(dst, src, 8);
    else
      std::memcpy(dst, src, ops->size);
    return;
  }
  ops->move_construct(dst, src);
}

// Moves the element at src into dst and ends src's lifetime.
inline void take_value(const elem_ops* ops, void* dst, void* src) noexcept {
  move_value(ops, dst, src);
  if (!ops->trivial) ops->destroy(src);
}

// Waiting for a peer that is between its index CAS and its stamp store:
// nanoseconds, unless its thread lost the CPU — then give ours away.
inline void backoff(int& spins) noexcept {
  if (++spins < 64)
    __builtin_ia32_pause();
  else
    sched_yield();
}

// Lost an index CAS to a peer: back off exponentially (1, 2, 4 ... 64
// pauses) so that the winners' cache-line transfers are not fought over
// (crossbeam's Backoff::spin).
inline void contention_backoff(int& spins) noexcept {
  const int n = 1 << (spins < 6 ? spins : 6);
  for (int i = 0; i < n; i++) __builtin_ia32_pause();
  if (spins < 6) spins++;
}

std::size_t round_up(std::size_t n, std::size_t a) noexcept { return (n + a - 1) / a * a; }

// Alignment of a ring's slots (stamp, then the element), and of the ring
// itself (a cache line at least).
std::size_t slot_alignment(const elem_ops* ops) noexcept {
  return std::max(ops->align, alignof(chan_core::slot_header));
}
std::align_val_t ring_alignment(const elem_ops* ops) noexcept {
  return std::align_val_t(std::max<std::size_t>(slot_alignment(ops), 64));
}

// ---------------------------------------------------------------------------
// Unbuffered: under c->mu. `self` is the caller's own select word (its
// waiters are not counterparts), or null. A counterpart completed here is
// added to `wake`, woken after unlock.

[[gnu::always_inline]] inline op_status send_locked(chan_core* c, void* value, const std::atomic<std::uint32_t>* self, wake_list& wake) noexcept {
  if (c->closed.load(std::memory_order_relaxed)) return op_status::closed;
  if (waiter* r = c->recvq.claim(self)) {
    move_value(c->ops, r->slot, value);
    wake.add(r, op_status::done);
    return op_status::done;
  }
  return op_status::would_block;
}

[[gnu::always_inline]] inline op_status recv_locked(chan_core* c, void* out, const std::atomic<std::uint32_t>* self, wake_list& wake) noexcept {
  if (waiter* w = c->sendq.claim(self)) {
    move_value(c->ops, out, w->slot);
    wake.add(w, op_status::done);
    return op_status::done;
  }
  return c->closed.load(std::memory_order_relaxed) ? op_status::closed : op_status::would_block;
}

// ---------------------------------------------------------------------------
// Buffered: the lock-free ring (chan_core.hpp, B1-B2).

[[gnu::always_inline]] inline op_status ring_send(chan_core* c, void* value) noexcept {
  // Acquire loads of tail (here, on CAS failure and below): a send that
  // finds the mark is ordered after the close that set it.
  std::uint64_t tail = c->tail.load(std::memory_order_acquire);
  for (int spins = 0;;) {
    if ((tail & c->mark_bit) != 0) return op_status::closed;
    const std::uint64_t index = tail & (c->mark_bit - 1);
    const std::uint64_t lap = tail & ~(c->one_lap - 1);
    chan_core::slot_header* s = c->slot_at(index);
    // Acquire: pairs with the release store of the receiver that emptied
    // the slot last lap (its move out happens before our move in).
    const std::uint64_t stamp = s->stamp.load(std::memory_order_acquire);
    if (stamp == tail) {
      const std::uint64_t next = index + 1 < c->cap ? tail + 1 : lap + c->one_lap;
      // Seq_cst: one side of the Dekker pair of B3 (the other: push's
      // store of `waiting` and ring_ready's loads).
      if (c->tail.compare_exchange_weak(tail, next, std::memory_order_seq_cst, std::memory_order_acquire)) {
        move_value(c->ops, c->value_of(s), value);
        // Release: pairs with ring_recv's acquire load of the stamp.
        s->stamp.store(tail + 1, std::memory_order_release);
        return op_status::done;
      }
      contention_backoff(spins);  // the failed CAS reloaded tail
      continue;
    }
    if (stamp + c->one_lap == tail + 1) {
      // The slot still holds last lap's element: full, unless a receiver
      // has claimed it and is still moving it out.
      // Seq_cst (a plain load on x86, unlike a fence; TSan models it):
      // ordered after our stamp load, and in the single order with peers'
      // index CASes.
      if (c->head.load(std::memory_order_seq_cst) + c->one_lap == tail) return op_status::would_block;
    }
    backoff(spins);  // a peer is between its CAS and its stamp store
    tail = c->tail.load(std::memory_order_acquire);
  }
}

[[gnu::always_inline]] inline op_status ring_recv(chan_core* c, void* out) noexcept {
  std::uint64_t head = c->head.load(std::memory_order_relaxed);
  for (int spins = 0;;) {
    const std::uint64_t index = head & (c->mark_bit - 1);
    const std::uint64_t lap = head & ~(c->one_lap - 1);
    chan_core::slot_header* s = c->slot_at(index);
    // Acquire: pairs with ring_send's release store of the stamp.
    const std::uint64_t stamp = s->stamp.load(std::memory_order_acquire);
    if (stamp == head + 1) {
      const std::uint64_t next = index + 1 < c->cap ? head + 1 : lap + c->one_lap;
      // Seq_cst: B3, as in ring_send.
      if (c->head.compare_exchange_weak(head, next, std::memory_order_seq_cst, std::memory_order_relaxed)) {
        take_value(c->ops, out, c->value_of(s));
        // Release: pairs with ring_send's acquire load of the stamp.
        s->stamp.store(head + c->one_lap, std::memory_order_release);
        return op_status::done;
      }
      contention_backoff(spins);  // the failed CAS reloaded head
      continue;
    }
    if (stamp == head) {
      // The slot is empty this lap: empty, unless a sender has claimed it
      // and is still moving its element in.
      // Seq_cst, as in ring_send; at least acquire: a receive that finds
      // the channel closed is ordered after the close (Go's memory model;
      // pairs with close's fetch_or).
      const std::uint64_t tail = c->tail.load(std::memory_order_seq_cst);
      if ((tail & ~c->mark_bit) == head)
        return (tail & c->mark_bit) != 0 ? op_status::closed : op_status::would_block;
    }
    backoff(spins);
    head = c->head.load(std::memory_order_relaxed);
  }
}

// Whether a send (or receive) on the ring would not block now, or the
// channel is closed. Seq_cst loads: B3.
bool ring_ready(const chan_core* c, bool is_send) noexcept {
  const std::uint64_t tail = c->tail.load(std::memory_order_seq_cst);
  const std::uint64_t head = c->head.load(std::memory_order_seq_cst);
  if ((tail & c->mark_bit) != 0) return true;
  return is_send ? head + c->one_lap != tail : head != tail;
}

// Requires c->mu. Queues w on q and publishes that it is there.
[[gnu::always_inline]] inline void queue_waiter(chan_core* c, waitq& q, waiter* w) noexcept {
  q.push(w);
  if (c->cap > 0) {
    // Seq_cst: B3 (then the caller re-checks the ring with seq_cst loads).
    q.waiting.store(true, std::memory_order_seq_cst);
  } else {
    // A new waiter is the only way an unbuffered operation of the other
    // side becomes ready (besides close): state_version counts them. Only
    // written under mu; release pairs with state_version's loads.
    q.pushes.store(q.pushes.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    // may_be_ready's hint; relaxed: it only spares a lock.
    q.waiting.store(true, std::memory_order_relaxed);
  }
}

// Claims one waiter of q (op_status::retry) and wakes it after unlocking.
// Out of line: rare on a busy channel, and it would make every ring
// operation that inlines it save and restore more registers.
__attribute__((noinline)) void notify_one(chan_core* c, waitq& q) noexcept {
  wake_list wake;
  c->mu.lock();
  if (waiter* w = q.claim(nullptr)) wake.add(w, op_status::retry);
  c->mu.unlock();
}

}  // namespace

chan_core* chan_create(const elem_ops* ops, std::size_t capacity) {
  auto* c = new chan_core;
  c->ops = ops;
  c->cap = capacity;
  if (capacity > 0) {
    c->mark_bit = std::bit_ceil(static_cast<std::uint64_t>(capacity) + 1);
    c->one_lap = c->mark_bit * 2;
    const std::size_t align = slot_alignment(ops);
    c->value_offset = round_up(sizeof(chan_core::slot_header), align);
    c->slot_size = round_up(c->value_offset + ops->size, align);
    c->ring = static_cast<std::byte*>(::operator new(capacity * c->slot_size, ring_alignment(ops)));
    for (std::size_t i = 0; i < capacity; i++) new (c->slot_at(i)) chan_core::slot_header{i};  // B1: lap 0
  }
  return c;
}

void chan_retain(chan_core* c) noexcept { c->refs.fetch_add(1, std::memory_order_relaxed); }

void chan_release(chan_core* c) noexcept {
  // acq_rel: the last release sees every other handle's writes.
  if (c->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (c->cap > 0) {
    if (!c->ops->trivial) {
      // Destroy what was sent and never received: slots head .. tail.
      const std::uint64_t end = c->tail.load(std::memory_order_relaxed) & ~c->mark_bit;
      for (std::uint64_t pos = c->head.load(std::memory_order_relaxed); pos != end;) {
        const std::uint64_t index = pos & (c->mark_bit - 1);
        c->ops->destroy(c->value_of(c->slot_at(index)));
        pos = index + 1 < c->cap ? pos + 1 : (pos & ~(c->one_lap - 1)) + c->one_lap;
      }
    }
    ::operator delete(c->ring, ring_alignment(c->ops));
  }
  delete c;
}

namespace {

// One send or receive on the ring, waking a waiter of the other side that
// it may have made ready.
template <bool IsSend>
inline op_status ring_op(chan_core* c, void* slot) noexcept {
  const op_status r = IsSend ? ring_send(c, slot) : ring_recv(c, slot);
  // A completed operation may have made the other side ready. Seq_cst: B3.
  waitq& other = IsSend ? c->recvq : c->sendq;
  if (r == op_status::done && other.waiting.load(std::memory_order_seq_cst)) notify_one(c, other);
  return r;
}

}  // namespace

op_status try_op(chan_core* c, bool is_send, void* slot) {
  if (c->cap == 0) {
    wake_list wake;
    c->mu.lock();
    const op_status r = is_send ? send_locked(c, slot, nullptr, wake) : recv_locked(c, slot, nullptr, wake);
    c->mu.unlock();
    return r;
  }
  return is_send ? ring_op<true>(c, slot) : ring_op<false>(c, slot);
}

bool enqueue_unless_ready(chan_core* c, waiter& w, bool is_send, const std::atomic<std::uint32_t>* self) {
  waitq& q = is_send ? c->sendq : c->recvq;
  c->mu.lock();
  bool ready;
  if (c->cap == 0) {
    ready = c->closed.load(std::memory_order_relaxed) || (is_send ? c->recvq.has_other(self) : c->sendq.has_other(self));
    if (!ready) queue_waiter(c, q, &w);
  } else {
    queue_waiter(c, q, &w);  // B3: queue first, then look
    ready = c->closed.load(std::memory_order_relaxed) || ring_ready(c, is_send);
    if (ready) q.remove(&w);
  }
  c->mu.unlock();
  return !ready;
}

std::uint64_t state_version(const chan_core* c) noexcept {
  // Positions only grow (B1) and close sets a bit of tail (B2): the sum
  // changes with any of them. An unbuffered channel becomes ready only by a
  // push or a close (which counts as a push on recvq); removals only make
  // it less ready. Why this suffices for select's default: an operation
  // that made a case not ready (took the value) happens before the poll
  // that saw it so, and if that poll came after a send on another case,
  // the send's version change happens before the second collect's load,
  // which therefore sees it (write-read coherence).
  if (c->cap > 0) return c->head.load(std::memory_order_seq_cst) + c->tail.load(std::memory_order_seq_cst);
  return c->recvq.pushes.load(std::memory_order_acquire) + c->sendq.pushes.load(std::memory_order_acquire);
}

void dequeue(chan_core* c, waiter& w, bool is_send) {
  c->mu.lock();
  (is_send ? c->sendq : c->recvq).remove(&w);
  c->mu.unlock();
}

void undo_claim(chan_core* c, bool is_send, void* slot, op_status given) noexcept {
  if (given == op_status::retry) {
    if (c->cap > 0) notify_one(c, is_send ? c->sendq : c->recvq);  // B4
  } else if (!is_send && given == op_status::done) {
    c->ops->destroy(slot);  // a value delivered before the owner was cancelled
  }
}

std::uint32_t wait_selected(std::atomic<std::uint32_t>& sel, wait_reason why,
                            const std::chrono::steady_clock::time_point* deadline) {
  for (;;) {
    // Acquire: pairs with the claimer's CAS.
    std::uint32_t s = sel.load(std::memory_order_acquire);
    if (s != 0) return s;
    bool timed_out = false;
    try {
      if (deadline != nullptr)
        timed_out = !park_until(*deadline, why);
      else
        park(why);
    } catch (...) {
      std::uint32_t open = 0;
      sel.compare_exchange_strong(open, kSelCancelled, std::memory_order_acq_rel, std::memory_order_acquire);
      throw;
    }
    if (timed_out) {
      std::uint32_t open = 0;
      if (sel.compare_exchange_strong(open, kSelCancelled, std::memory_order_acq_rel, std::memory_order_acquire))
        return kSelCancelled;
      return open;  // claimed just before the deadline: it counts
    }
  }
}

namespace {

[[noreturn]] void block_forever(const char* what) {
  for (;;) park({what, nullptr});
}

// One blocking send or receive: the single-case form of select, sharing
// its protocol (waiter.hpp) without the bookkeeping for several cases.
template <bool IsSend>
op_status blocking_op(chan_core* c, void* slot, const std::chrono::steady_clock::time_point* deadline) {
  for (;;) {
    solo_waiter sw(slot);
    waiter& w = sw.w;
    if (c->cap == 0) {
      // Unbuffered: try and queue under one lock.
      wake_list wake;  // a counterpart we complete is woken after the unlock
      c->mu.lock();
      const op_status r = IsSend ? send_locked(c, slot, nullptr, wake) : recv_locked(c, slot, nullptr, wake);
      if (r != op_status::would_block || (deadline != nullptr && std::chrono::steady_clock::now() >= *deadline)) {
        c->mu.unlock();
        return r;
      }
      queue_waiter(c, IsSend ? c->sendq : c->recvq, &w);
      c->mu.unlock();
    } else {
      const op_status r = try_op(c, IsSend, slot);
      if (r != op_status::would_block || (deadline != nullptr && std::chrono::steady_clock::now() >= *deadline))
        return r;
      if (!enqueue_unless_ready(c, w, IsSend, nullptr)) continue;
    }

    // Takes w back off c's queue (waiter.hpp, invariant 2); false if a
    // claimer got to it first (then its sel is set and the claim stands).
    auto withdraw = [c, &w] {
      c->mu.lock();
      const bool was_queued = w.queued.load(std::memory_order_relaxed);
      if (was_queued) (IsSend ? c->sendq : c->recvq).remove(&w);
      c->mu.unlock();
      return was_queued;
    };
    if (!wait_solo(w, {IsSend ? "chan send" : "chan receive", c}, deadline, withdraw,
                   [c, &w, slot] { undo_claim(c, IsSend, slot, w.result); }))
      return op_status::would_block;  // timed out, withdrawn
    // Claimed (and so dequeued) by a waker, who is done with w.
    if (w.result != op_status::retry) return w.result;  // done or closed
    // retry (buffered): try again, the deadline permitting.
  }
}

}  // namespace

namespace {

__attribute__((noinline)) void chan_send_slow(chan_core* c, void* value) {
  if (c == nullptr) block_forever("chan send (nil chan)");
  if (blocking_op<true>(c, value, nullptr) == op_status::closed) throw channel_closed("send on closed channel");
}

__attribute__((noinline)) op_status chan_recv_slow(chan_core* c, void* out) {
  if (c == nullptr) block_forever("chan receive (nil chan)");
  return blocking_op<false>(c, out, nullptr);  // done or closed
}

}  // namespace

namespace {

// A buffered channel with room (or closed) needs no waiter: the ring alone,
// without blocking_op's set-up. (Elsewhere blocking_op's current_parker()
// notes a plain thread.)
__attribute__((noinline)) void chan_send_buffered(chan_core* c, void* value) {
  note_plain_thread();
  const op_status r = ring_op<true>(c, value);
  if (r == op_status::done) return;
  if (r == op_status::closed) throw channel_closed("send on closed channel");
  chan_send_slow(c, value);
}

__attribute__((noinline)) op_status chan_recv_buffered(chan_core* c, void* out) {
  note_plain_thread();
  const op_status r = ring_op<false>(c, out);
  if (r != op_status::would_block) return r;
  return chan_recv_slow(c, out);
}

}  // namespace

// Only a dispatch (two tail calls), so that neither path pays for the
// other's registers.
void chan_send(chan_core* c, void* value) {
  if (c != nullptr && c->cap > 0) return chan_send_buffered(c, value);
  chan_send_slow(c, value);
}

bool chan_send_until(chan_core* c, void* value, std::chrono::steady_clock::time_point deadline) {
  note_plain_thread();
  if (c == nullptr) {
    while (park_until(deadline, {"chan send (nil chan)", nullptr})) {
    }
    return false;
  }
  const op_status r = blocking_op<true>(c, value, &deadline);
  if (r == op_status::closed) throw channel_closed("send on closed channel");
  return r == op_status::done;
}

bool chan_try_send(chan_core* c, void* value) {
  note_plain_thread();
  if (c == nullptr) return false;
  const op_status r = try_op(c, true, value);
  if (r == op_status::closed) throw channel_closed("send on closed channel");
  return r == op_status::done;
}

op_status chan_recv(chan_core* c, void* out) {
  if (c != nullptr && c->cap > 0) return chan_recv_buffered(c, out);  // as chan_send
  return chan_recv_slow(c, out);
}

op_status chan_recv_until(chan_core* c, void* out, std::chrono::steady_clock::time_point deadline) {
  note_plain_thread();
  if (c == nullptr) {
    while (park_until(deadline, {"chan receive (nil chan)", nullptr})) {
    }
    return op_status::would_block;
  }
  return blocking_op<false>(c, out, &deadline);
}

op_status chan_try_recv(chan_core* c, void* out) {
  note_plain_thread();
  if (c == nullptr) return op_status::would_block;
  return try_op(c, false, out);
}

void chan_close(chan_core* c) {
  note_plain_thread();
  if (c == nullptr) throw channel_error("close of nil channel");
  wake_list wake;  // every blocked receiver and sender, woken after unlock
  c->mu.lock();
  if (c->closed.load(std::memory_order_relaxed)) {
    c->mu.unlock();
    throw channel_closed("close of closed channel");
  }
  c->closed.store(true, std::memory_order_relaxed);
  // state_version; release as in queue_waiter.
  c->recvq.pushes.store(c->recvq.pushes.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  // Wake every waiter (U2). A buffered channel's waiters retry (B4) and
  // find the values still buffered, then the mark (B2).
  // Seq_cst: orders the mark with B3's loads like a send's tail CAS.
  if (c->cap > 0) c->tail.fetch_or(c->mark_bit, std::memory_order_seq_cst);
  const op_status o = c->cap > 0 ? op_status::retry : op_status::closed;
  while (waiter* w = c->recvq.claim(nullptr)) wake.add(w, o);
  while (waiter* w = c->sendq.claim(nullptr)) wake.add(w, o);
  c->mu.unlock();
}

std::size_t chan_size(chan_core* c) noexcept {
  if (c == nullptr || c->cap == 0) return 0;
  for (;;) {
    // A consistent snapshot: tail unchanged around the head load (seq_cst
    // loads keep the three in order; len() is a moment's answer anyway).
    const std::uint64_t tail = c->tail.load(std::memory_order_seq_cst) & ~c->mark_bit;
    const std::uint64_t head = c->head.load(std::memory_order_seq_cst);
    if ((c->tail.load(std::memory_order_seq_cst) & ~c->mark_bit) != tail) continue;
    const std::uint64_t hix = head & (c->mark_bit - 1);
    const std::uint64_t tix = tail & (c->mark_bit - 1);
    if (hix < tix) return tix - hix;
    if (hix > tix) return c->cap - hix + tix;
    return tail == head ? 0 : c->cap;
  }
}

std::size_t chan_capacity(chan_core* c) noexcept { return c == nullptr ? 0 : c->cap; }

}  // namespace weft::detail
