// select over several channels.
//
// Protocol (invariants in waiter.hpp; design choice in docs/channels.md):
// 1. Poll: visit the cases in a uniformly random order, each under its own
//    channel's lock; the first ready case runs. Ready cases are therefore
//    chosen uniformly at random, as Go's pollorder does.
// 2. If none is ready and there is a default, return kSelectNone.
// 3. Register: visit the cases again in the same order and queue a waiter
//    on each, under that channel's lock. If a case has become ready
//    meanwhile, claim our own select word with kAborted (so no waker can
//    claim it), unregister everything and start again at 1 (crossbeam's
//    retry). At no point is more than one channel lock held, so there is
//    no lock order between channels (Go instead locks all of them in
//    address order, which costs a sort and n locks per select).
// 4. Park until the select word is non-zero (or the deadline passes and our
//    own CAS to kSelCancelled wins).
// 5. Unregister: lock each registered channel once and remove our waiter if
//    still queued; wait for the winner's waker to release its waiter
//    (waiter.hpp invariant 3).

#include <memory>
#include <vector>

#include <weft/channels/chan.hpp>

#include "chan_core.hpp"

namespace weft::detail {
namespace {

std::uint64_t next_random() noexcept {
  // Per-thread state is fine here: it is used between suspension points.
  thread_local std::uint64_t s = 0x853C49E6748FEA9Bull ^ reinterpret_cast<std::uintptr_t>(&s);
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

op_result try_case(select_op& op, const std::atomic<std::uint32_t>* self, wake_list& wake) {
  return op.is_send ? send_locked(op.ch, op.slot, self, wake) : recv_locked(op.ch, op.slot, self, wake);
}

long finish(select_op& op, long i, op_result r) {
  if (op.is_send) {
    if (r == op_result::closed) throw channel_closed("send on closed channel");
  } else {
    op.status = r == op_result::done ? recv_status::value : recv_status::closed;
  }
  return i;
}

}  // namespace

long select_run(select_op* ops, std::size_t n, bool nonblocking,
                const std::chrono::steady_clock::time_point* deadline) {
  note_plain_thread();
  // A random permutation of the cases (Fisher-Yates).
  constexpr std::size_t kInline = 8;
  std::uint32_t order_inline[kInline];
  std::unique_ptr<std::uint32_t[]> order_heap;
  std::uint32_t* order = order_inline;
  if (n > kInline) {
    order_heap.reset(new std::uint32_t[n]);
    order = order_heap.get();
  }
  for (std::size_t i = 0; i < n; i++) order[i] = static_cast<std::uint32_t>(i);
  for (std::size_t i = n; i > 1; i--) std::swap(order[i - 1], order[next_random() % i]);

  constexpr std::uint32_t kAborted = kSelCancelled - 1;
  waiter waiters_inline[kInline];
  std::unique_ptr<waiter[]> waiters_heap;
  waiter* ws = waiters_inline;
  if (n > kInline) {
    waiters_heap.reset(new waiter[n]);
    ws = waiters_heap.get();
  }
  bool all_nil = true;
  for (std::size_t i = 0; i < n; i++) all_nil = all_nil && ops[i].ch == nullptr;

  for (;;) {
    // 1. Poll.
    for (std::size_t k = 0; k < n; k++) {
      select_op& op = ops[order[k]];
      if (op.ch == nullptr) continue;
      op_result r;
      {
        wake_list wake;  // woken after the unlock below, at scope exit
        op.ch->mu.lock();
        r = try_case(op, nullptr, wake);
        op.ch->mu.unlock();
      }
      if (r != op_result::would_block) return finish(op, order[k], r);
    }
    // 2. Default.
    if (nonblocking) return kSelectNone;
    if (deadline != nullptr && std::chrono::steady_clock::now() >= *deadline) return kSelectTimeout;

    // 3. Register. A case that became ready since the poll aborts the
    // registration (we claim ourselves with kAborted, so no waker can) and
    // we poll again: the retry is crossbeam's; it never completes a case
    // half-registered.
    std::atomic<std::uint32_t> sel{0};
    parker* me = &current_parker();
    std::size_t registered = 0;  // cases order[0..registered) may be queued
    for (; registered < n; registered++) {
      const std::uint32_t i = order[registered];
      select_op& op = ops[i];
      if (op.ch == nullptr) continue;
      waiter& w = ws[i];
      w.prev = w.next = nullptr;
      w.queued = false;
      w.result = outcome::pending;
      w.released.store(false, std::memory_order_relaxed);
      w.sel = &sel;
      w.case_id = i + 1;
      w.p = me;
      w.slot = op.slot;
      op.ch->mu.lock();
      const bool ready = op.ch->closed ||
                         (op.is_send ? op.ch->count < op.ch->cap || op.ch->recvq.has_other(&sel)
                                     : op.ch->count > 0 || op.ch->sendq.has_other(&sel));
      if (ready) {
        op.ch->mu.unlock();
        std::uint32_t open = 0;
        sel.compare_exchange_strong(open, kAborted, std::memory_order_acq_rel, std::memory_order_acquire);
        break;  // aborted, or already claimed from another channel
      }
      (op.is_send ? op.ch->sendq : op.ch->recvq).push(&w);
      op.ch->mu.unlock();
    }
    auto unregister = [&] {
      for (std::size_t k = 0; k < registered; k++) {
        select_op& op = ops[order[k]];
        if (op.ch == nullptr) continue;
        op.ch->mu.lock();
        (op.is_send ? op.ch->sendq : op.ch->recvq).remove(&ws[order[k]]);
        op.ch->mu.unlock();
      }
    };

    // 4. Wait.
    std::uint32_t s;
    try {
      s = wait_selected(sel, {all_nil ? "select (no cases)" : "select", nullptr}, deadline);
    } catch (...) {
      unregister();
      // A value delivered before cancellation is dropped.
      const std::uint32_t won = sel.load(std::memory_order_acquire);
      if (won != 0 && won < kAborted) {
        await_release(ws[won - 1]);
        if (!ops[won - 1].is_send && ws[won - 1].result == outcome::done)
          ops[won - 1].ch->ops->destroy(ops[won - 1].slot);
      }
      throw;
    }
    // 5. Unregister.
    unregister();
    if (s == kAborted) continue;
    if (s == kSelCancelled) return kSelectTimeout;
    const long i = static_cast<long>(s) - 1;
    await_release(ws[i]);
    return finish(ops[i], i, ws[i].result == outcome::done ? op_result::done : op_result::closed);
  }
}

}  // namespace weft::detail
