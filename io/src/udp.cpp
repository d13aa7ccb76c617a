// udp_socket: datagrams over the netpoller.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "socket.hpp"

namespace weft::io {

using detail::call;
using detail::socket_state;
using detail::throw_errno;
namespace wd = weft::detail;

udp_socket udp_socket::bind(std::string_view addr) {
  const int fd = detail::bind_socket(addr, SOCK_DGRAM, 0);
  udp_socket u;
  u.s_ = socket_state::adopt(fd);
  return u;
}

std::uint16_t udp_socket::local_port() const {
  call c(s_, "local_port");
  return detail::port_of(detail::local_of(s_->fd));
}

std::string udp_socket::local_address() const {
  call c(s_, "local_address");
  return detail::format(detail::local_of(s_->fd));
}

void udp_socket::send_to(std::span<const std::byte> data, std::string_view addr) {
  call c(s_, "send_to");
  const auto addrs = detail::resolve(addr, SOCK_DGRAM, false);
  // An address of the socket's family; a dual-stack IPv6 socket reaches
  // an IPv4 peer through its v4-mapped form (::ffff:a.b.c.d).
  const int family = detail::local_of(s_->fd).family();
  const detail::sock_addr* to = nullptr;
  for (const auto& a : addrs)
    if (a.family() == family) {
      to = &a;
      break;
    }
  detail::sock_addr mapped;
  if (to == nullptr && family == AF_INET6 && addrs.front().family() == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&addrs.front().storage);
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&mapped.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = sin->sin_port;
    sin6->sin6_addr.s6_addr[10] = 0xff;
    sin6->sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&sin6->sin6_addr.s6_addr[12], &sin->sin_addr, 4);
    mapped.len = sizeof(sockaddr_in6);
    to = &mapped;
  }
  if (to == nullptr) throw_errno(EAFNOSUPPORT, "send_to");
  std::lock_guard lk(s_->write_mu);
  s_->check_deadline(wd::poll_mode::write, "send_to");
  bool waited = false;
  for (;;) {
    const ssize_t r = ::sendto(s_->fd, data.data(), data.size(), MSG_NOSIGNAL, to->get(), to->len);
    if (r >= 0) {
      detail::completed(s_, waited);
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) throw_errno(errno, "send_to");
    s_->wait(wd::poll_mode::write, "send_to");
    waited = true;
  }
}

void udp_socket::send_to(std::string_view data, std::string_view addr) {
  send_to(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data.data()), data.size()), addr);
}

std::size_t udp_socket::recv_from(std::span<std::byte> buf, std::string* from) {
  call c(s_, "recv_from");
  std::lock_guard lk(s_->read_mu);
  s_->check_deadline(wd::poll_mode::read, "recv_from");
  bool waited = false;
  for (;;) {
    detail::sock_addr a;
    a.len = sizeof a.storage;
    const ssize_t r = ::recvfrom(s_->fd, buf.data(), buf.size(), 0, a.get(), &a.len);
    if (r >= 0) {
      if (from != nullptr) *from = detail::format(a);
      detail::completed(s_, waited);
      return static_cast<std::size_t>(r);
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) throw_errno(errno, "recv_from");
    s_->wait(wd::poll_mode::read, "recv_from");
    waited = true;
  }
}

std::size_t udp_socket::recv_from(char* buf, std::size_t n, std::string* from) {
  return recv_from(std::span<std::byte>(reinterpret_cast<std::byte*>(buf), n), from);
}

void udp_socket::set_deadline(clock::time_point t) {
  call c(s_, "set_deadline");
  s_->set_deadline(wd::poll_mode::read, t);
  s_->set_deadline(wd::poll_mode::write, t);
}

void udp_socket::set_read_deadline(clock::time_point t) {
  call c(s_, "set_read_deadline");
  s_->set_deadline(wd::poll_mode::read, t);
}

void udp_socket::set_write_deadline(clock::time_point t) {
  call c(s_, "set_write_deadline");
  s_->set_deadline(wd::poll_mode::write, t);
}

}  // namespace weft::io
