// weft::detail netpoll: the scheduler's readiness interface for the layers
// above (weft::io). One registration per fd, edge-triggered; a caller tries
// its syscall first and waits only after EAGAIN (readiness is an edge, and
// an edge that arrived with nobody waiting is remembered: the next wait
// returns at once, and the caller retries). See scheduler/src/netpoll.cpp
// for the protocol and docs/io.md for the whole design.
//
// From a fiber, poll_wait parks the fiber (its worker runs others; a worker
// with nothing to do blocks in epoll_wait for everyone). From a plain thread
// it blocks the thread in ppoll(2) on the fd itself.
#pragma once

#include <cstdint>

namespace weft::detail {

struct poll_desc;  // type-stable: never freed, recycled with a new generation

enum class poll_mode : std::uint8_t { read = 0, write = 1 };
enum class poll_status : std::uint8_t {
  ready,      // an edge arrived (or may have): retry the call
  closing,    // poll_evict was called
  timed_out,  // the direction's deadline has passed
};

// Takes a non-blocking fd into the poller (registered with the running
// runtime's epoll now, or lazily by the first fiber that waits on it).
// Throws std::system_error if the kernel refuses the registration.
// Callable from fibers and threads.
poll_desc* poll_open(int fd);
// Ends the registration (EPOLL_CTL_DEL) and recycles the descriptor; the
// caller closes the fd afterwards. Requires that nobody waits on it and
// nobody will call poll_wait on it again.
void poll_free(poll_desc* d) noexcept;

// Waits for an edge in one direction. At most one caller per direction at
// a time (the io layer serialises them). Returns at once if an edge is
// remembered, the descriptor is being evicted or the deadline has passed.
// May return `ready` spuriously. From a fiber it throws fiber_cancelled at
// shutdown, like every suspension point.
poll_status poll_wait(poll_desc* d, poll_mode mode);
// Whether the direction's deadline has passed: a call checks it before its
// syscall, so that a deadline in the past fails it at once (Go's
// prepareRead/prepareWrite). Lock-free; costs a clock read only while a
// deadline is set.
bool poll_deadline_passed(const poll_desc* d, poll_mode mode) noexcept;
// Whether a hang-up, half-close or error (EPOLLRDHUP/HUP/ERR) has been seen
// on the fd. Sticky. A reader that drained the socket may skip its next
// syscall and wait for an edge only while this is false: a peer's FIN that
// arrived with the data it drained brings no further edge.
bool poll_hung_up(const poll_desc* d) noexcept;
// The direction's deadline (steady_clock nanoseconds; 0: none). A waiter
// parked on that direction re-evaluates at once.
void poll_set_deadline(poll_desc* d, poll_mode mode, std::int64_t deadline_ns) noexcept;
// Marks the descriptor closing and wakes every waiter (they return
// `closing`, as does every later wait). Idempotent.
void poll_evict(poll_desc* d) noexcept;

}  // namespace weft::detail
