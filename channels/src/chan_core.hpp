// The channel object. Design and invariants: docs/channels.md; the waiter
// protocol: waiter.hpp.
//
// Invariants (all guarded by mu):
// 1. count <= cap; buffered elements are buf[(head + i) % cap], i < count.
// 2. If recvq holds an open waiter then count == 0 (receivers wait only on
//    an empty buffer), and if sendq holds an open waiter then count == cap.
// 3. Once closed, never reopened; sendq is empty (close woke every sender),
//    and recvq is empty once the buffer is (close woke every receiver).
// 4. Lock order: a channel's mu is a leaf: taken alone (never two channel
//    locks at once, select included), with no scheduler lock taken under it
//    (completed waiters are unparked after unlock, via wake_list). mu is
//    never held across a park.
#pragma once

#include <atomic>
#include <cstddef>

#include <weft/channels/detail/chan_core.hpp>

#include <weft/scheduler/detail/spin_mutex.hpp>
#include "waiter.hpp"

namespace weft::detail {

struct chan_core {
  std::atomic<std::size_t> refs{1};
  const elem_ops* ops;
  std::size_t cap;
  spin_mutex mu;
  std::size_t head = 0;   // guarded by mu
  std::size_t count = 0;  // guarded by mu; also read relaxed by size()
  bool closed = false;    // guarded by mu
  waitq recvq;            // guarded by mu
  waitq sendq;            // guarded by mu
  std::byte* buf = nullptr;

  void* slot(std::size_t i) const noexcept { return buf + ((head + i) % cap) * ops->size; }
};

enum class op_result : std::uint8_t { done, would_block, closed };

// Requires c->mu. `self` is the caller's own select word (its waiters are
// not counterparts), or null.
// A counterpart waiter completed here is added to `wake`, woken after unlock.
op_result send_locked(chan_core* c, void* value, const std::atomic<std::uint32_t>* self, wake_list& wake) noexcept;
op_result recv_locked(chan_core* c, void* out, const std::atomic<std::uint32_t>* self, wake_list& wake) noexcept;

// Waits (parks) until the operation owning `sel` has been claimed, or until
// `deadline` (if given) — then tries to cancel it with kSelCancelled.
// Returns the final sel value. Exceptions from park (cancellation) are
// turned into a cancel attempt too, then rethrown by the caller's cleanup.
std::uint32_t wait_selected(std::atomic<std::uint32_t>& sel, wait_reason why,
                            const std::chrono::steady_clock::time_point* deadline);

}  // namespace weft::detail
