// The channel object. Design and invariants: docs/channels.md; the waiter
// protocol: waiter.hpp.
//
// An unbuffered channel is a rendezvous: everything happens under `mu`, and
// a sender and a receiver meet through the wait queues (a hand-off).
//
// A buffered channel keeps its elements in a lock-free bounded ring (the
// array flavour of crossbeam-channel, after D. Vyukov's bounded MPMC
// queue): senders claim a slot by CAS on `tail`, receivers by CAS on `head`,
// and each slot's `stamp` says whose turn it is. The lock is taken only to
// queue or wake a waiter, or to close. Contended 4x4 traffic then moves
// three cache lines per element (tail, head, the slot) instead of bouncing
// one lock line on every operation.
//
// Invariants, unbuffered (all guarded by mu):
// U1. If recvq holds an open waiter there is no open waiter in sendq, and
//     the other way round (a rendezvous completes as soon as both exist).
// U2. Once closed, never reopened, and both queues are empty.
//
// Invariants, buffered:
// B1. Positions: the low bits of head and tail index the ring (< cap), the
//     bits above `one_lap` count laps. Slot i's stamp is `pos + 1` once a
//     sender at pos has written it, and `pos + one_lap` once the receiver
//     at pos has emptied it (so the next lap's sender finds tail == stamp).
// B2. `mark_bit` in tail is set once, by close, under mu; after it no send
//     succeeds (a sender's tail CAS fails on the changed word). Values sent
//     before it stay and are received: nothing buffered is lost.
// B3. No lost wake-up: a waiter queues itself (waitq::push, seq_cst store of
//     `waiting`) and then re-checks readiness with seq_cst loads of head and
//     tail; a completed send or receive CASes its index (seq_cst) and then
//     loads the other side's `waiting` (seq_cst). In the single order of
//     seq_cst operations one of the two sees the other.
// B4. A waker does not move values: it claims one waiter with outcome
//     `retry`, and the woken side tries its operation again (first the case
//     it was woken for; a select re-polls if that fails). A woken waiter
//     that is cancelled instead passes the wake-up on, so a value is never
//     left in the buffer while a waiter sleeps.
//
// Lock order: a channel's mu is a leaf: taken alone (never two channel
// locks at once, select included), with no scheduler lock taken under it
// (claimed waiters are unparked after unlock, via wake_list). mu is never
// held across a park.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <weft/channels/detail/chan_core.hpp>

#include <weft/scheduler/detail/spin_mutex.hpp>
#include "waiter.hpp"

namespace weft::detail {

struct alignas(64) chan_core {
  // Read-mostly after creation.
  std::atomic<std::size_t> refs{1};
  const elem_ops* ops = nullptr;
  std::size_t cap = 0;
  std::uint64_t one_lap = 0;   // buffered: B1
  std::uint64_t mark_bit = 0;  // buffered: B2
  std::size_t slot_size = 0;   // buffered: stride of the ring
  std::size_t value_offset = 0;
  std::byte* ring = nullptr;

  // The lock and the wait queues (both kinds), on their own line.
  alignas(64) spin_mutex mu;
  // Written under mu (relaxed: the lock orders it); read under mu, or
  // without it as a hint (may_be_ready).
  std::atomic<bool> closed{false};
  waitq recvq;          // guarded by mu
  waitq sendq;          // guarded by mu

  // Buffered: the ring's ends, each on its own line (B1).
  alignas(64) std::atomic<std::uint64_t> head{0};
  alignas(64) std::atomic<std::uint64_t> tail{0};

  struct slot_header {
    std::atomic<std::uint64_t> stamp;
  };
  slot_header* slot_at(std::uint64_t index) const noexcept {
    return reinterpret_cast<slot_header*>(ring + index * slot_size);
  }
  void* value_of(slot_header* s) const noexcept { return reinterpret_cast<std::byte*>(s) + value_offset; }
};

// Tries one send (of *slot) or receive (into raw *slot) without waiting, on
// either kind of channel, and wakes whoever it completed or made ready
// (after any lock is released).
op_status try_op(chan_core* c, bool is_send, void* slot);

// Queues w (already filled in) on c's send or receive queue unless the
// operation has become ready meanwhile — then returns false and queues
// nothing. `self` is the caller's select word (its own waiters on the same
// channel are not counterparts).
bool enqueue_unless_ready(chan_core* c, waiter& w, bool is_send, const std::atomic<std::uint32_t>* self);
// A number that changes whenever c's readiness may have changed: a send,
// receive or close on a buffered channel; a waiter queued or removed, or a
// close, on an unbuffered one. Seq_cst loads (select.cpp's double collect).
std::uint64_t state_version(const chan_core* c) noexcept;

// Unbuffered c only, without the lock: false if the operation would surely
// have blocked a moment ago (no waiter on the other side, not closed);
// true if it may be ready. A hint for a blocking select's first poll: its
// registration re-checks each channel under the lock.
inline bool may_be_ready(const chan_core* c, bool is_send) noexcept {
  const waitq& other = is_send ? c->recvq : c->sendq;
  return other.waiting.load(std::memory_order_relaxed) || c->closed.load(std::memory_order_relaxed);
}

// Removes w from c's queue if it is still there.
void dequeue(chan_core* c, waiter& w, bool is_send);
// The one cancellation clean-up of a claimed channel waiter (a send,
// receive or select case whose owner unwinds instead of completing, after
// await_release): a `retry` wake-up is passed on to the next waiter
// (invariant B4); a value received into `slot` (`done`) is destroyed.
void undo_claim(chan_core* c, bool is_send, void* slot, op_status given) noexcept;

// Waits (parks) until the operation owning `sel` has been claimed, or until
// `deadline` (if given) — then tries to cancel it with kSelCancelled.
// Returns the final sel value. Exceptions from park (cancellation) are
// turned into a cancel attempt too, then rethrown by the caller's cleanup.
std::uint32_t wait_selected(std::atomic<std::uint32_t>& sel, wait_reason why,
                            const std::chrono::steady_clock::time_point* deadline);

}  // namespace weft::detail
