// weft::io: TCP and UDP sockets that park the calling fiber, not its
// worker, while they wait (Go's net.Conn / net.Listener). From a plain
// thread the same calls block the thread in the kernel, so a
// thread-per-connection program shares the code.
//
// Addresses are "host:port": "127.0.0.1:8080", "[::1]:8080",
// "localhost:0", ":8080" (all interfaces). Port 0 picks a free port. A
// host name is resolved on the blocking pool (weft::blocking), never on a
// worker.
//
// Errors are std::system_error carrying the errno (connection refused,
// reset, broken pipe: never a SIGPIPE). Deadlines follow Go's net.Conn:
// absolute, may be moved at any time (also while a fiber is parked on the
// socket), one in the past fails the next call at once with timeout_error,
// a later one undoes an expiry; time_point{} clears a deadline. Using a
// socket after close(), or being parked in it when another fiber or thread
// closes it, throws std::system_error(errc::bad_file_descriptor) promptly.
// The kernel fd is closed when the last call in flight on it has returned.
//
// Each direction is used by one caller at a time: concurrent readers (or
// acceptors, or writers) of one socket queue in FIFO order, so a write is
// never interleaved with another and each connection is accepted once.
// A read and a write may run at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace weft::io {

namespace detail {
struct socket_state;  // opaque: the descriptor, its poller registration, locks
struct access;        // the implementation's way in (io/src)

// What every weft::io object is: the owner of one socket_state. Move-only;
// destroying it, or assigning another over it, closes the socket.
class socket_handle {
 public:
  socket_handle(const socket_handle&) = delete;
  socket_handle& operator=(const socket_handle&) = delete;

 protected:
  socket_handle() noexcept = default;
  explicit socket_handle(socket_state* s) noexcept : s_(s) {}
  socket_handle(socket_handle&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  socket_handle& operator=(socket_handle&& o) noexcept;
  ~socket_handle();
  void close_socket() noexcept;
  bool socket_open() const noexcept;
  int socket_fd() const noexcept;

  socket_state* s_ = nullptr;
};
}  // namespace detail

using clock = std::chrono::steady_clock;

// Thrown when a deadline passes: a std::system_error with errc::timed_out.
class timeout_error : public std::system_error {
 public:
  explicit timeout_error(const char* what);
};

class tcp_stream : detail::socket_handle {
 public:
  // Not connected: every call but close() and is_open() throws.
  tcp_stream() noexcept = default;
  tcp_stream(tcp_stream&&) noexcept = default;
  tcp_stream& operator=(tcp_stream&&) noexcept = default;

  // Connects to addr, trying each address it resolves to in turn. Throws
  // std::system_error (ECONNREFUSED, ...); with a timeout, timeout_error
  // once it has passed.
  static tcp_stream connect(std::string_view addr);
  static tcp_stream connect(std::string_view addr, std::chrono::nanoseconds timeout);

  // Reads at least one byte (parking until some arrive), or returns 0 at
  // EOF (the peer shut down its side). n == 0 returns 0 at once.
  std::size_t read(char* buf, std::size_t n);
  std::size_t read(std::span<std::byte> buf);
  // Writes all of data, or throws (EPIPE, ECONNRESET, timeout_error; then
  // part of it may have been sent).
  void write(std::string_view data);
  void write(std::span<const std::byte> data);

  // Half-close: the peer reads EOF; reading goes on.
  void shutdown_write();
  // Closes the stream: wakes every fiber or thread parked on it with an
  // error. Idempotent; the destructor calls it.
  void close() noexcept { close_socket(); }
  // Open: connected and not closed.
  bool is_open() const noexcept { return socket_open(); }
  explicit operator bool() const noexcept { return is_open(); }

  void set_deadline(clock::time_point t);  // both directions
  void set_read_deadline(clock::time_point t);
  void set_write_deadline(clock::time_point t);

  // TCP_NODELAY (on by default, as in Go).
  void set_nodelay(bool on);
  // "ip:port" of either end ("[::1]:port" for IPv6).
  std::string local_address() const;
  std::string remote_address() const;
  std::uint16_t local_port() const;
  // The kernel fd, for getsockopt and the like (owned by the stream).
  int native_handle() const noexcept { return socket_fd(); }

 private:
  friend struct detail::access;
  explicit tcp_stream(detail::socket_state* s) noexcept : socket_handle(s) {}
};

class tcp_listener : detail::socket_handle {
 public:
  tcp_listener() noexcept = default;
  tcp_listener(tcp_listener&&) noexcept = default;
  tcp_listener& operator=(tcp_listener&&) noexcept = default;

  // bind + listen (SO_REUSEADDR; the backlog is the system's maximum,
  // somaxconn, unless given). Throws std::system_error (EADDRINUSE, ...).
  static tcp_listener bind(std::string_view addr);
  static tcp_listener bind(std::string_view addr, int backlog);
  std::uint16_t local_port() const;
  std::string local_address() const;

  // Parks until a connection arrives. Out of fds (EMFILE/ENFILE) throws
  // std::system_error naming it; the listener stays usable, and the
  // connection waiting in the backlog is accepted by a later call once fds
  // are free.
  tcp_stream accept();
  // Wakes every fiber or thread parked in accept() with an error.
  void close() noexcept { close_socket(); }
  bool is_open() const noexcept { return socket_open(); }
  explicit operator bool() const noexcept { return is_open(); }
  // A deadline for accept (Go's SetDeadline on a TCPListener).
  void set_deadline(clock::time_point t);
  int native_handle() const noexcept { return socket_fd(); }
};

class udp_socket : detail::socket_handle {
 public:
  udp_socket() noexcept = default;
  udp_socket(udp_socket&&) noexcept = default;
  udp_socket& operator=(udp_socket&&) noexcept = default;

  static udp_socket bind(std::string_view addr);
  std::uint16_t local_port() const;
  std::string local_address() const;

  // Sends one datagram to addr (a numeric "ip:port" or a name).
  void send_to(std::span<const std::byte> data, std::string_view addr);
  void send_to(std::string_view data, std::string_view addr);
  // Parks until a datagram arrives; returns its size (truncated to
  // buf.size()), and its sender's "ip:port" in *from if given.
  std::size_t recv_from(std::span<std::byte> buf, std::string* from = nullptr);
  std::size_t recv_from(char* buf, std::size_t n, std::string* from = nullptr);

  void close() noexcept { close_socket(); }
  bool is_open() const noexcept { return socket_open(); }
  void set_deadline(clock::time_point t);
  void set_read_deadline(clock::time_point t);
  void set_write_deadline(clock::time_point t);
  int native_handle() const noexcept { return socket_fd(); }
};

// Waits until a pollable fd of the caller's own (a pipe, eventfd, timerfd,
// a socket weft does not own) is readable or writable, parking the fiber
// (or blocking the thread). The fd must be non-blocking; weft does not
// close it. For fds used this way repeatedly, an fd_watch keeps the
// poller registration.
class fd_watch : detail::socket_handle {
 public:
  fd_watch() noexcept = default;
  explicit fd_watch(int fd);  // registers fd (it stays the caller's)
  // Destruction unregisters the fd; it never closes it.
  fd_watch(fd_watch&&) noexcept = default;
  fd_watch& operator=(fd_watch&&) noexcept = default;

  // Return once the fd may be readable (writable): readiness is edge-based,
  // so the caller tries its call, and waits again on EAGAIN. Throws
  // timeout_error at the deadline, and system_error(EBADF) after cancel().
  void wait_readable(clock::time_point deadline = {});
  void wait_writable(clock::time_point deadline = {});
  // Wakes every waiter with an error; later waits fail at once.
  void cancel() noexcept { close_socket(); }
  int fd() const noexcept { return socket_fd(); }
};

}  // namespace weft::io
