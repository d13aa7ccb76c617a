// The state behind every weft::io object: the fd, its netpoll descriptor,
// the in-flight count that defers close(2), and the per-direction locks.
//
// Design notes
// 1. `word` counts the calls in flight (low 31 bits) and has kClosed for
//    close(). A call enters with fetch_add(1) and fails if kClosed was
//    set; close() enters like a call, sets kClosed, evicts the descriptor
//    (every parked caller wakes with `closing`) and leaves. Whoever brings
//    the count to zero with kClosed set releases the fd (EPOLL_CTL_DEL,
//    close(2)), guarded by `released` so that it happens once. So close(2)
//    never runs while a call that entered before close() is still using
//    the fd number (property 3): the number cannot be reused under it.
// 2. The object itself is freed by its owner's destructor (after close()).
//    A call that races with the destructor of the object it runs on is a
//    use-after-free in the caller's program, as for any C++ object.
// 3. One caller per direction reaches the poller: `read_mu` / `write_mu`
//    (weft::mutex: FIFO, parks fibers, blocks threads) serialise readers
//    (acceptors, receivers) and writers, as Go's fdMutex does. A write
//    holds write_mu until all of it is written, so writes never interleave.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <weft/channels/sync.hpp>
#include <weft/io/tcp.hpp>
#include <weft/scheduler/detail/netpoll.hpp>

#include <sys/socket.h>

namespace weft::io::detail {

namespace wd = weft::detail;

[[noreturn]] void throw_timeout(const char* op);

struct socket_state {
  static constexpr std::uint32_t kClosed = 1u << 31;

  // One heap object per socket, so the fields are ordered to leave no
  // padding: 72 bytes on x86-64, an 80-byte glibc malloc chunk (a
  // server's idle connection pays for it: docs/benchmarks.md).
  int fd = -1;
  std::atomic<std::uint32_t> word{0};
  wd::poll_desc* pd = nullptr;
  // Calls in a row that completed without waiting (completed()). Relaxed:
  // a heuristic shared by both directions.
  std::atomic<std::uint32_t> streak{0};
  bool owns_fd = true;  // fd_watch: the caller's fd, never closed here
  std::atomic<bool> released{false};
  // The last read returned less than it asked for, so the socket's buffer
  // was empty then: the next read waits for an edge before its syscall
  // (any byte that arrived since produced one), unless the fd has hung up
  // (an EOF that came with the data brings no further edge: poll_hung_up).
  // Saves the recv that fails with EAGAIN on every request/response turn.
  // Guarded by read_mu.
  bool read_drained = false;
  weft::mutex read_mu;
  weft::mutex write_mu;

  // Takes ownership of a non-blocking fd (closes it if registration fails).
  static socket_state* adopt(int fd, bool owns = true);

  // Enters a call; false once closed (note 1). Acquire pairs with
  // leave()'s release: the call sees what earlier calls wrote.
  bool enter() noexcept {
    return (word.fetch_add(1, std::memory_order_acquire) & kClosed) == 0 || (leave(), false);
  }
  void leave() noexcept {
    // acq_rel: the last one out releases the fd after every other call's
    // use of it (acquire), and publishes its own use (release).
    if (word.fetch_sub(1, std::memory_order_acq_rel) == (kClosed | 1)) release_fd();
  }
  // Idempotent; wakes every parked caller with an error.
  void close() noexcept;
  bool closed() const noexcept { return (word.load(std::memory_order_acquire) & kClosed) != 0; }

  // Waits for an edge in one direction after EAGAIN; throws on eviction
  // (EBADF) or deadline (timeout_error).
  void wait(wd::poll_mode mode, const char* op);
  void set_deadline(wd::poll_mode mode, clock::time_point t) noexcept;
  // Throws timeout_error if the direction's deadline has passed (before
  // any syscall: a past deadline fails a call even when data is there).
  void check_deadline(wd::poll_mode mode, const char* op) const {
    if (wd::poll_deadline_passed(pd, mode)) throw_timeout(op);
  }

 private:
  void release_fd() noexcept;
};

struct access {
  static tcp_stream stream(socket_state* s) noexcept { return tcp_stream(s); }
};

// RAII for one call (note 1): throws EBADF if the socket is closed or was
// never opened.
class call {
 public:
  call(socket_state* s, const char* op);
  ~call() { s_->leave(); }
  call(const call&) = delete;
  call& operator=(const call&) = delete;
  socket_state* operator->() const noexcept { return s_; }

 private:
  socket_state* s_;
};

// Fairness for a caller whose syscalls never hit EAGAIN (an always-ready
// socket): after 64 calls in a row on one socket that completed without
// waiting, the caller yields its worker (property 7). A call that waited
// resets the streak.
void completed(socket_state* s, bool waited) noexcept;

[[noreturn]] void throw_errno(int err, const char* op);
[[noreturn]] void throw_closed(const char* op);

// ---- addresses (address.cpp) ----

struct sock_addr {
  sockaddr_storage storage{};
  socklen_t len = 0;
  int family() const noexcept { return storage.ss_family; }
  const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* get() noexcept { return reinterpret_cast<sockaddr*>(&storage); }
};

// "host:port", "[v6]:port", ":port". For a bind (passive) an empty host
// is every interface, dual-stack where IPv6 is available. Numeric hosts
// and "localhost" are resolved here; other names on the blocking pool
// (getaddrinfo), never on a worker. Throws std::system_error
// (EINVAL for a malformed address, EHOSTUNREACH... for lookups).
std::vector<sock_addr> resolve(std::string_view addr, int socktype, bool passive);
std::string format(const sock_addr& a);
// A non-blocking socket of `type` bound to the first address of `addr` that
// takes it (SO_REUSEADDR for streams; IPv6 dual-stack), listening with
// `backlog` if it is positive. Returns the fd or throws std::system_error
// with the last address's errno.
int bind_socket(std::string_view addr, int type, int backlog);
std::uint16_t port_of(const sock_addr& a) noexcept;
sock_addr local_of(int fd);
sock_addr peer_of(int fd);

}  // namespace weft::io::detail
