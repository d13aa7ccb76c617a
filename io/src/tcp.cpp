// tcp_stream and tcp_listener: non-blocking sockets over the netpoller.
// Every call tries its syscall first and waits for an edge only after
// EAGAIN (netpoll.hpp); MSG_NOSIGNAL on every send, so a dead peer is
// EPIPE, never a SIGPIPE.

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <mutex>
#include <utility>

#include "socket.hpp"

namespace weft::io {

using detail::call;
using detail::socket_state;
using detail::throw_errno;
namespace wd = weft::detail;

namespace {

int new_socket(int family, int type) {
  const int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno(errno, "socket");
  return fd;
}

void set_nodelay_fd(int fd, bool on) {
  const int v = on ? 1 : 0;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v);
}

std::int64_t to_ns(clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Connects one address; returns the stream or throws. `deadline` 0: none.
socket_state* connect_one(const detail::sock_addr& a, std::int64_t deadline) {
  const int fd = new_socket(a.family(), SOCK_STREAM);
  socket_state* s = socket_state::adopt(fd);
  try {
    call c(s, "connect");
    if (::connect(fd, a.get(), a.len) != 0) {
      if (errno != EINPROGRESS && errno != EINTR) throw_errno(errno, "connect");
      // Completion is writability; a wake-up may be spurious, so confirm
      // with SO_ERROR and getpeername (Go's netFD.connect does the same).
      std::lock_guard lk(s->write_mu);
      wd::poll_set_deadline(s->pd, wd::poll_mode::write, deadline);
      for (;;) {
        s->wait(wd::poll_mode::write, "connect");
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        if (err == EINPROGRESS || err == EALREADY || err == EINTR) continue;
        if (err != 0) throw_errno(err, "connect");
        sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) == 0) break;
        if (errno != ENOTCONN) throw_errno(errno, "connect");
      }
      wd::poll_set_deadline(s->pd, wd::poll_mode::write, 0);
    }
    set_nodelay_fd(fd, true);
  } catch (...) {
    s->close();
    delete s;
    throw;
  }
  return s;
}

tcp_stream do_connect(std::string_view addr, std::int64_t deadline) {
  const auto addrs = detail::resolve(addr, SOCK_STREAM, false);
  std::exception_ptr last;
  for (const auto& a : addrs) {
    try {
      return detail::access::stream(connect_one(a, deadline));
    } catch (const timeout_error&) {
      throw;  // the whole connect's deadline, not this address's
    } catch (const std::system_error&) {
      last = std::current_exception();
    }
  }
  std::rethrow_exception(last);
}

}  // namespace

// ---- tcp_stream ----

tcp_stream tcp_stream::connect(std::string_view addr) { return do_connect(addr, 0); }

tcp_stream tcp_stream::connect(std::string_view addr, std::chrono::nanoseconds timeout) {
  return do_connect(addr, to_ns(clock::now() + timeout));
}

std::size_t tcp_stream::read(char* buf, std::size_t n) {
  call c(s_, "read");
  if (n == 0) return 0;
  std::lock_guard lk(s_->read_mu);
  s_->check_deadline(wd::poll_mode::read, "read");
  bool waited = false;
  if (std::exchange(s_->read_drained, false) && !wd::poll_hung_up(s_->pd)) {
    s_->wait(wd::poll_mode::read, "read");  // returns at once if an edge came
    waited = true;
  }
  for (;;) {
    const ssize_t r = ::recv(s_->fd, buf, n, 0);
    if (r >= 0) {
      s_->read_drained = r > 0 && static_cast<std::size_t>(r) < n;
      detail::completed(s_, waited);
      return static_cast<std::size_t>(r);
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) throw_errno(errno, "read");
    s_->wait(wd::poll_mode::read, "read");
    waited = true;
  }
}

std::size_t tcp_stream::read(std::span<std::byte> buf) {
  return read(reinterpret_cast<char*>(buf.data()), buf.size());
}

void tcp_stream::write(std::string_view data) {
  call c(s_, "write");
  std::lock_guard lk(s_->write_mu);
  s_->check_deadline(wd::poll_mode::write, "write");
  const char* p = data.data();
  std::size_t left = data.size();
  bool waited = false;
  while (left > 0) {
    const ssize_t r = ::send(s_->fd, p, left, MSG_NOSIGNAL);
    if (r >= 0) {
      p += r;
      left -= static_cast<std::size_t>(r);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) throw_errno(errno, "write");
    waited = true;
    s_->wait(wd::poll_mode::write, "write");
  }
  detail::completed(s_, waited);
}

void tcp_stream::write(std::span<const std::byte> data) {
  write(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
}

void tcp_stream::shutdown_write() {
  call c(s_, "shutdown_write");
  if (::shutdown(s_->fd, SHUT_WR) != 0) throw_errno(errno, "shutdown_write");
}

void tcp_stream::set_deadline(clock::time_point t) {
  call c(s_, "set_deadline");
  s_->set_deadline(wd::poll_mode::read, t);
  s_->set_deadline(wd::poll_mode::write, t);
}

void tcp_stream::set_read_deadline(clock::time_point t) {
  call c(s_, "set_read_deadline");
  s_->set_deadline(wd::poll_mode::read, t);
}

void tcp_stream::set_write_deadline(clock::time_point t) {
  call c(s_, "set_write_deadline");
  s_->set_deadline(wd::poll_mode::write, t);
}

void tcp_stream::set_nodelay(bool on) {
  call c(s_, "set_nodelay");
  set_nodelay_fd(s_->fd, on);
}

std::string tcp_stream::local_address() const {
  call c(s_, "local_address");
  return detail::format(detail::local_of(s_->fd));
}

std::string tcp_stream::remote_address() const {
  call c(s_, "remote_address");
  return detail::format(detail::peer_of(s_->fd));
}

std::uint16_t tcp_stream::local_port() const {
  call c(s_, "local_port");
  return detail::port_of(detail::local_of(s_->fd));
}

// ---- tcp_listener ----

tcp_listener tcp_listener::bind(std::string_view addr) { return bind(addr, 0); }

tcp_listener tcp_listener::bind(std::string_view addr, int backlog) {
  // Linux caps the backlog at net.core.somaxconn silently.
  const int fd = detail::bind_socket(addr, SOCK_STREAM, backlog > 0 ? backlog : INT_MAX);
  tcp_listener l;
  l.s_ = socket_state::adopt(fd);
  return l;
}

std::uint16_t tcp_listener::local_port() const {
  call c(s_, "local_port");
  return detail::port_of(detail::local_of(s_->fd));
}

std::string tcp_listener::local_address() const {
  call c(s_, "local_address");
  return detail::format(detail::local_of(s_->fd));
}

tcp_stream tcp_listener::accept() {
  call c(s_, "accept");
  std::lock_guard lk(s_->read_mu);
  s_->check_deadline(wd::poll_mode::read, "accept");
  bool waited = false;
  for (;;) {
    const int fd = ::accept4(s_->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      set_nodelay_fd(fd, true);
      detail::completed(s_, waited);
      return detail::access::stream(socket_state::adopt(fd));
    }
    switch (errno) {
      case EINTR:
      case ECONNABORTED:  // the peer gave up before we took it
        continue;
      case EAGAIN:
        s_->wait(wd::poll_mode::read, "accept");
        waited = true;
        continue;
      case EMFILE:
      case ENFILE:
        // The connection stays in the backlog; a later accept takes it.
        throw std::system_error(errno, std::generic_category(),
                                errno == EMFILE ? "weft::io: accept: out of file descriptors (EMFILE: the "
                                                  "process's RLIMIT_NOFILE); the listener stays usable"
                                                : "weft::io: accept: out of file descriptors (ENFILE: the "
                                                  "system's limit); the listener stays usable");
      default:
        throw_errno(errno, "accept");
    }
  }
}

void tcp_listener::set_deadline(clock::time_point t) {
  call c(s_, "set_deadline");
  s_->set_deadline(wd::poll_mode::read, t);
}

}  // namespace weft::io
