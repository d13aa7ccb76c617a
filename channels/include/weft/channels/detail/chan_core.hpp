// weft::detail channel core: the type-erased channel behind weft::chan<T>.
// chan<T> is a thin template over these functions; the waiters, queues and
// locks stay in channels/src. See docs/channels.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace weft::detail {

// How the core moves and destroys elements it holds in its buffer.
struct elem_ops {
  std::size_t size;
  std::size_t align;
  void (*move_construct)(void* dst, void* src) noexcept;  // dst is raw storage
  void (*destroy)(void* p) noexcept;
  // Trivially copyable and destructible: moved with memcpy, never destroyed.
  bool trivial = false;
};

struct chan_core;

// The one result of every channel and sync operation in weft::detail: what
// a channel call returns, what a select case ended with, and what a waker
// tells the waiter it claimed (channels/src/waiter.hpp).
enum class op_status : std::uint8_t {
  pending,      // a queued waiter not yet claimed
  done,         // completed: a value moved (sent, received, handed over),
                // or a sync waiter given what it waited for
  would_block,  // nothing happened: not ready, or the deadline passed first
  closed,       // the channel is closed (for a receive: and drained)
  retry,        // a wake-up without a value: the operation may be ready
                // now, try it again (buffered channels; a mutex's waiter
                // woken to compete for the lock)
};

// A FIFO of blocked waiters (channels/src/waiter.hpp has the waiter and
// the operations); held by value in the sync primitives and channels.
struct waiter;
struct wait_list {
  waiter* head = nullptr;
  waiter* tail = nullptr;
};

// A channel of `capacity` buffered elements (0: unbuffered). One reference.
chan_core* chan_create(const elem_ops* ops, std::size_t capacity);
void chan_retain(chan_core* c) noexcept;
void chan_release(chan_core* c) noexcept;

// All of the following are callable from fibers and plain threads. A null
// channel is nil: blocking operations on it block forever.

// Moves *value into the channel, blocking until it is buffered or taken.
// Throws channel_closed if the channel is (or becomes) closed; *value is
// then left as it was.
void chan_send(chan_core* c, void* value);
// As chan_send, giving up at `deadline`; false if it did.
bool chan_send_until(chan_core* c, void* value, std::chrono::steady_clock::time_point deadline);
// Sends only if that needs no waiting. Throws channel_closed if closed.
bool chan_try_send(chan_core* c, void* value);

// Receives into *out (raw storage; constructed on `done`), blocking until
// a value arrives or the channel is closed and drained (`closed`).
op_status chan_recv(chan_core* c, void* out);
// As chan_recv, returning `would_block` at `deadline`.
op_status chan_recv_until(chan_core* c, void* out, std::chrono::steady_clock::time_point deadline);
// Never waits: `would_block` when nothing is ready.
op_status chan_try_recv(chan_core* c, void* out);

// Closes the channel: wakes every blocked receiver and sender. Throws
// channel_closed if already closed, channel_error if nil.
void chan_close(chan_core* c);
std::size_t chan_size(chan_core* c) noexcept;
std::size_t chan_capacity(chan_core* c) noexcept;

// select: one operation per case.
struct select_op {
  chan_core* ch = nullptr;     // null: a nil channel's case, never ready
  void* slot = nullptr;        // send: the value; recv: raw storage
  bool is_send = false;
  op_status status = op_status::would_block;  // recv result: done or closed
};
inline constexpr long kSelectNone = -1;     // non-blocking and nothing ready
inline constexpr long kSelectTimeout = -2;  // the deadline passed
// Performs exactly one ready case (chosen uniformly at random among the
// ready ones) and returns its index; blocks until one is ready unless
// `nonblocking`, or until `deadline` if one is given. Throws channel_closed
// if the chosen case is a send on a closed channel.
long select_run(select_op* ops, std::size_t n, bool nonblocking,
                const std::chrono::steady_clock::time_point* deadline);

}  // namespace weft::detail
