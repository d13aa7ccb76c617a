// select over several channels.
//
// Protocol (invariants in waiter.hpp; design choice in docs/channels.md):
// 1. Poll: visit the cases in a uniformly random order, each under its own
//    channel's lock; the first ready case runs. Ready cases are therefore
//    chosen uniformly at random, as Go's pollorder does.
// 2. If none is ready and there is a default, return kSelectNone — once a
//    second collect of the channels' versions shows that none was ready
//    at one moment (Go's TestNonblockSelectRace).
// 3. Register: visit the cases again in the same order and queue a waiter
//    on each, under that channel's lock. If a case has become ready
//    meanwhile, claim our own select word with kAborted (so no waker can
//    claim it), unregister everything and start again at 1 (crossbeam's
//    retry). At no point is more than one channel lock held, so there is
//    no lock order between channels (Go instead locks all of them in
//    address order, which costs a sort and n locks per select).
// 4. Park until the select word is non-zero (or the deadline passes and our
//    own CAS to kSelCancelled wins).
// 5. Unregister: lock each channel that still holds one of our waiters and
//    remove it; wait for the winner's waker to release its waiter
//    (waiter.hpp invariant 3).
// 6. A win on a buffered channel is a wake-up, not a value (chan_core.hpp,
//    B4): try that case first, and go back to 1 if a peer took the value.

#include <memory>
#include <new>
#include <type_traits>
#include <vector>

#include <weft/channels/chan.hpp>
#include <weft/channels/detail/select_core.hpp>

#include "chan_core.hpp"
#include "random.hpp"

namespace weft::detail {
namespace {

op_status try_case(select_op& op) { return try_op(op.ch, op.is_send, op.slot); }

long finish(select_op& op, long i, op_status r) {
  if (op.is_send) {
    if (r == op_status::closed) throw channel_closed("send on closed channel");
  } else {
    op.status = r;  // done or closed
  }
  return i;
}

}  // namespace

namespace {

constexpr long kNoCase = -1;
// Cases handled without a heap allocation (and by select_run's fast path).
constexpr std::size_t kInline = 8;

// Step 1: tries the cases in `order` once; the index of the case that ran,
// or kNoCase. A blocking select (versions null) need not lock an unbuffered
// channel with nobody waiting on the other side: registration (step 3)
// looks again under the lock. A select with a default polls every channel
// for real and records its version first (step 2).
inline long poll_cases(select_op* ops, std::size_t n, const std::uint32_t* order, std::uint64_t* versions) {
  for (std::size_t k = 0; k < n; k++) {
    select_op& op = ops[order[k]];
    if (op.ch == nullptr) continue;
    if (versions == nullptr && op.ch->cap == 0 && !may_be_ready(op.ch, op.is_send)) continue;
    if (versions != nullptr) versions[k] = state_version(op.ch);
    const op_status r = try_case(op);
    if (r != op_status::would_block) return finish(op, order[k], r);
  }
  return kNoCase;
}

// The general select: steps 1-6 above. `first_order` is the permutation of
// a first poll the caller has already made (n <= kInline), or null.
__attribute__((noinline)) long select_slow(select_op* ops, std::size_t n, bool nonblocking,
                                           const std::chrono::steady_clock::time_point* deadline,
                                           const std::uint32_t* first_order) {
  // A random permutation of the cases (Fisher-Yates), or the first poll's.
  std::uint32_t order_inline[kInline];
  std::unique_ptr<std::uint32_t[]> order_heap;
  std::uint32_t* order = order_inline;
  if (n > kInline) {
    order_heap.reset(new std::uint32_t[n]);
    order = order_heap.get();
  }
  if (first_order != nullptr) {
    std::copy(first_order, first_order + n, order);
  } else {
    random_permutation(order, n);
  }

  constexpr std::uint32_t kAborted = kSelCancelled - 1;
  // Waiters are constructed only when the select registers (step 3): the
  // poll that finds a ready case should not pay for zeroing them.
  static_assert(std::is_trivially_destructible_v<waiter> && alignof(waiter) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
  alignas(waiter) std::byte waiters_inline[kInline * sizeof(waiter)];
  std::unique_ptr<std::byte[]> waiters_heap;
  auto* ws = reinterpret_cast<waiter*>(waiters_inline);
  if (n > kInline) {
    waiters_heap.reset(new std::byte[n * sizeof(waiter)]);
    ws = reinterpret_cast<waiter*>(waiters_heap.get());
  }
  bool all_nil = true;
  for (std::size_t i = 0; i < n; i++) all_nil = all_nil && ops[i].ch == nullptr;

  std::uint64_t versions_inline[kInline];
  std::unique_ptr<std::uint64_t[]> versions_heap;
  std::uint64_t* versions = versions_inline;
  if (nonblocking && n > kInline) {
    versions_heap.reset(new std::uint64_t[n]);
    versions = versions_heap.get();
  }

  // The caller has polled once already when it passes its order.
  for (int collects = 0, polled = first_order != nullptr;; polled = 0) {
    // 1. Poll.
    if (!polled) {
      const long i = poll_cases(ops, n, order, nonblocking ? versions : nullptr);
      if (i != kNoCase) return i;
    }
    // 2. Default, if no case was ready at one and the same moment. Each
    // case was seen not ready while its channel's version stayed what it
    // was before the attempt; if no version has changed since, the moment
    // this second collect begins had them all not ready (a double-collect
    // snapshot; Go gets it by locking every channel). Otherwise poll again
    // — a bounded number of times: under a storm of traffic that never
    // makes a case ready, the default is taken from the last poll.
    if (nonblocking) {
      bool stable = true;
      for (std::size_t k = 0; k < n && stable; k++)
        stable = ops[order[k]].ch == nullptr || state_version(ops[order[k]].ch) == versions[k];
      if (stable || ++collects == 1000) return kSelectNone;
      continue;
    }
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
      waiter& w = *new (&ws[i]) waiter;
      w.sel = &sel;
      w.case_id = i + 1;
      w.p = me;
      w.slot = op.slot;
      if (!enqueue_unless_ready(op.ch, w, op.is_send, &sel)) {
        std::uint32_t open = 0;
        sel.compare_exchange_strong(open, kAborted, std::memory_order_acq_rel, std::memory_order_acquire);
        break;  // aborted, or already claimed from another channel
      }
    }
    auto unregister = [&] {
      for (std::size_t k = 0; k < registered; k++) {
        select_op& op = ops[order[k]];
        // A waiter the channel has already dropped (the one that won, and
        // those that lost their claim) needs no lock (waiter.hpp, 1).
        if (op.ch != nullptr && ws[order[k]].queued.load(std::memory_order_acquire))
          dequeue(op.ch, ws[order[k]], op.is_send);
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
        select_op& op = ops[won - 1];
        await_release(ws[won - 1]);
        undo_claim(op.ch, op.is_send, op.slot, ws[won - 1].result);
      }
      throw;
    }
    // 5. Unregister.
    unregister();
    if (s == kAborted) continue;
    if (s == kSelCancelled) return kSelectTimeout;
    const long i = static_cast<long>(s) - 1;
    await_release(ws[i]);
    if (ws[i].result == op_status::retry) {
      // A buffered channel became ready for case i (B4): try it first, so
      // the wake-up is not wasted on another case; poll again if a peer
      // got there first.
      const op_status r = try_case(ops[i]);
      if (r != op_status::would_block) return finish(ops[i], i, r);
      continue;
    }
    return finish(ops[i], i, ws[i].result);  // done or closed
  }
}

}  // namespace

long select_run(select_op* ops, std::size_t n, bool nonblocking,
                const std::chrono::steady_clock::time_point* deadline) {
  note_plain_thread();
  // The common case first, lean: a blocking select of a few cases that
  // finds one ready at its first poll (step 1). Everything else — a
  // default (its poll must collect versions, step 2), registering and
  // parking — is select_slow's.
  if (nonblocking || n > kInline) return select_slow(ops, n, nonblocking, deadline, nullptr);
  std::uint32_t order[kInline];
  random_permutation(order, n);
  const long i = poll_cases(ops, n, order, nullptr);
  if (i != kNoCase) return i;
  return select_slow(ops, n, nonblocking, deadline, order);
}

// A deadline already past is a default (step 2's snapshot decides), so a
// zero timeout means what Go's `default` means; otherwise select_slow's
// timed wait (step 4), whose CAS to kSelCancelled loses to a case claimed
// at the same moment.
long select_run_until(select_op* ops, std::size_t n, std::chrono::steady_clock::time_point deadline) {
  if (std::chrono::steady_clock::now() >= deadline) {
    const long r = select_run(ops, n, true, nullptr);
    return r == kSelectNone ? kSelectTimeout : r;
  }
  return select_run(ops, n, false, &deadline);
}

}  // namespace weft::detail
