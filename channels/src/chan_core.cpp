// Channel operations. See chan_core.hpp for the invariants.

#include "chan_core.hpp"

#include <cstdlib>
#include <new>

#include <weft/channels/chan.hpp>

namespace weft::detail {

chan_core* chan_create(const elem_ops* ops, std::size_t capacity) {
  auto* c = new chan_core;
  c->ops = ops;
  c->cap = capacity;
  if (capacity > 0) {
    c->buf = static_cast<std::byte*>(::operator new(capacity * ops->size, std::align_val_t(ops->align)));
  }
  return c;
}

void chan_retain(chan_core* c) noexcept { c->refs.fetch_add(1, std::memory_order_relaxed); }

void chan_release(chan_core* c) noexcept {
  // acq_rel: the last release sees every other handle's writes.
  if (c->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  for (std::size_t i = 0; i < c->count; i++) c->ops->destroy(c->slot(i));
  if (c->buf != nullptr) ::operator delete(c->buf, std::align_val_t(c->ops->align));
  delete c;
}

op_result send_locked(chan_core* c, void* value, const std::atomic<std::uint32_t>* self, wake_list& wake) noexcept {
  if (c->closed) return op_result::closed;
  if (waiter* r = c->recvq.claim(self)) {
    // A receiver waits: hand the value over directly (the buffer is empty).
    c->ops->move_construct(r->slot, value);
    wake.add(r, outcome::done);
    return op_result::done;
  }
  if (c->count < c->cap) {
    c->ops->move_construct(c->slot(c->count), value);
    c->count++;
    return op_result::done;
  }
  return op_result::would_block;
}

op_result recv_locked(chan_core* c, void* out, const std::atomic<std::uint32_t>* self, wake_list& wake) noexcept {
  if (c->count > 0) {
    void* s = c->slot(0);
    c->ops->move_construct(out, s);
    c->ops->destroy(s);
    c->head = (c->head + 1) % c->cap;
    c->count--;
    // A sender waits on the full buffer: its value takes the freed place.
    if (waiter* w = c->sendq.claim(self)) {
      c->ops->move_construct(c->slot(c->count), w->slot);
      c->count++;
      wake.add(w, outcome::done);
    }
    return op_result::done;
  }
  if (waiter* w = c->sendq.claim(self)) {  // unbuffered rendezvous
    c->ops->move_construct(out, w->slot);
    wake.add(w, outcome::done);
    return op_result::done;
  }
  return c->closed ? op_result::closed : op_result::would_block;
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
op_result blocking_op(chan_core* c, void* slot, const std::chrono::steady_clock::time_point* deadline) {
  std::atomic<std::uint32_t> sel{0};
  waiter w;
  wake_list wake;  // a counterpart we complete is woken after the unlock
  c->mu.lock();
  op_result r = IsSend ? send_locked(c, slot, nullptr, wake) : recv_locked(c, slot, nullptr, wake);
  if (r != op_result::would_block) {
    c->mu.unlock();
    return r;
  }
  if (deadline != nullptr && std::chrono::steady_clock::now() >= *deadline) {
    c->mu.unlock();
    return op_result::would_block;
  }
  w.sel = &sel;
  w.case_id = 1;
  w.p = &current_parker();
  w.slot = slot;
  (IsSend ? c->sendq : c->recvq).push(&w);
  c->mu.unlock();

  std::uint32_t s;
  try {
    s = wait_selected(sel, {IsSend ? "chan send" : "chan receive", c}, deadline);
  } catch (...) {
    c->mu.lock();
    (IsSend ? c->sendq : c->recvq).remove(&w);
    c->mu.unlock();
    // If a value was delivered before we were cancelled, drop it.
    if (sel.load(std::memory_order_acquire) == 1) {
      await_release(w);
      if (!IsSend && w.result == outcome::done) c->ops->destroy(slot);
    }
    throw;
  }
  if (s == kSelCancelled) {  // timed out: we are still queued
    c->mu.lock();
    (IsSend ? c->sendq : c->recvq).remove(&w);
    c->mu.unlock();
    return op_result::would_block;
  }
  // Claimed (and so dequeued) by a waker: wait until it is done with w.
  await_release(w);
  return w.result == outcome::done ? op_result::done : op_result::closed;
}

}  // namespace

void chan_send(chan_core* c, void* value) {
  note_plain_thread();
  if (c == nullptr) block_forever("chan send (nil chan)");
  if (blocking_op<true>(c, value, nullptr) == op_result::closed) throw channel_closed("send on closed channel");
}

bool chan_send_until(chan_core* c, void* value, std::chrono::steady_clock::time_point deadline) {
  note_plain_thread();
  if (c == nullptr) {
    while (park_until(deadline, {"chan send (nil chan)", nullptr})) {
    }
    return false;
  }
  const op_result r = blocking_op<true>(c, value, &deadline);
  if (r == op_result::closed) throw channel_closed("send on closed channel");
  return r == op_result::done;
}

bool chan_try_send(chan_core* c, void* value) {
  note_plain_thread();
  if (c == nullptr) return false;
  wake_list wake;
  c->mu.lock();
  const op_result r = send_locked(c, value, nullptr, wake);
  c->mu.unlock();
  if (r == op_result::closed) throw channel_closed("send on closed channel");
  return r == op_result::done;
}

recv_status chan_recv(chan_core* c, void* out) {
  note_plain_thread();
  if (c == nullptr) block_forever("chan receive (nil chan)");
  return blocking_op<false>(c, out, nullptr) == op_result::done ? recv_status::value : recv_status::closed;
}

recv_status chan_recv_until(chan_core* c, void* out, std::chrono::steady_clock::time_point deadline) {
  note_plain_thread();
  if (c == nullptr) {
    while (park_until(deadline, {"chan receive (nil chan)", nullptr})) {
    }
    return recv_status::empty;
  }
  switch (blocking_op<false>(c, out, &deadline)) {
    case op_result::done: return recv_status::value;
    case op_result::closed: return recv_status::closed;
    case op_result::would_block: return recv_status::empty;
  }
  return recv_status::empty;
}

recv_status chan_try_recv(chan_core* c, void* out) {
  note_plain_thread();
  if (c == nullptr) return recv_status::empty;
  wake_list wake;
  c->mu.lock();
  const op_result r = recv_locked(c, out, nullptr, wake);
  c->mu.unlock();
  switch (r) {
    case op_result::done: return recv_status::value;
    case op_result::closed: return recv_status::closed;
    case op_result::would_block: return recv_status::empty;
  }
  return recv_status::empty;
}

void chan_close(chan_core* c) {
  note_plain_thread();
  if (c == nullptr) throw channel_error("close of nil channel");
  wake_list wake;  // every blocked receiver and sender, woken after unlock
  c->mu.lock();
  if (c->closed) {
    c->mu.unlock();
    throw channel_closed("close of closed channel");
  }
  c->closed = true;
  // Wake every waiter (invariant 3); buffered values stay for receivers.
  while (waiter* w = c->recvq.claim(nullptr)) wake.add(w, outcome::closed);
  while (waiter* w = c->sendq.claim(nullptr)) wake.add(w, outcome::closed);
  c->mu.unlock();
}

std::size_t chan_size(chan_core* c) noexcept {
  if (c == nullptr) return 0;
  c->mu.lock();
  const std::size_t n = c->count;
  c->mu.unlock();
  return n;
}

std::size_t chan_capacity(chan_core* c) noexcept { return c == nullptr ? 0 : c->cap; }

}  // namespace weft::detail
