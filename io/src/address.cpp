// Addresses: parsing "host:port", resolution without blocking a worker,
// and formatting.

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>
#include <vector>

#include <weft/scheduler/runtime.hpp>

#include "socket.hpp"

namespace weft::io::detail {
namespace {

[[noreturn]] void bad_address(std::string_view addr, const char* why) {
  throw std::system_error(EINVAL, std::generic_category(),
                          "weft::io: bad address '" + std::string(addr) + "': " + why);
}

sock_addr v4(const in_addr& a, std::uint16_t port) {
  sock_addr s;
  auto* sin = reinterpret_cast<sockaddr_in*>(&s.storage);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  sin->sin_addr = a;
  s.len = sizeof(sockaddr_in);
  return s;
}

sock_addr v6(const in6_addr& a, std::uint16_t port, std::uint32_t scope = 0) {
  sock_addr s;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&s.storage);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  sin6->sin6_addr = a;
  sin6->sin6_scope_id = scope;
  s.len = sizeof(sockaddr_in6);
  return s;
}

}  // namespace

std::vector<sock_addr> resolve(std::string_view addr, int socktype, bool passive) {
  // Split host and port at the last ':'; a bracketed host is IPv6.
  std::string host;
  std::string_view port_s;
  if (!addr.empty() && addr.front() == '[') {
    const auto close = addr.find(']');
    if (close == std::string_view::npos || close + 1 >= addr.size() || addr[close + 1] != ':')
      bad_address(addr, "expected [host]:port");
    host = std::string(addr.substr(1, close - 1));
    port_s = addr.substr(close + 2);
  } else {
    const auto colon = addr.rfind(':');
    if (colon == std::string_view::npos) bad_address(addr, "missing port");
    host = std::string(addr.substr(0, colon));
    if (host.find(':') != std::string::npos) bad_address(addr, "an IPv6 host needs brackets: [host]:port");
    port_s = addr.substr(colon + 1);
  }
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_s.data(), port_s.data() + port_s.size(), port);
  if (port_s.empty() || ec != std::errc{} || end != port_s.data() + port_s.size() || port > 65535)
    bad_address(addr, "port must be a number from 0 to 65535");
  const auto p = static_cast<std::uint16_t>(port);

  std::vector<sock_addr> out;
  in_addr a4{};
  in6_addr a6{};
  if (host.empty()) {
    if (passive) {
      out.push_back(v6(in6addr_any, p));  // dual-stack (IPV6_V6ONLY off), as Go
      out.push_back(v4(in_addr{htonl(INADDR_ANY)}, p));
    } else {
      out.push_back(v4(in_addr{htonl(INADDR_LOOPBACK)}, p));  // Go dials the local system
      out.push_back(v6(in6addr_loopback, p));
    }
    return out;
  }
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) return {v4(a4, p)};
  if (inet_pton(AF_INET6, host.c_str(), &a6) == 1) return {v6(a6, p)};
  if (host == "localhost") {
    out.push_back(v4(in_addr{htonl(INADDR_LOOPBACK)}, p));
    out.push_back(v6(in6addr_loopback, p));
    return out;
  }
  // A name: getaddrinfo may read files and talk to DNS, so it runs on the
  // blocking pool (from a plain thread, weft::blocking simply calls it).
  int rc = 0;
  addrinfo* res = nullptr;
  weft::blocking([&] {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = socktype;
    hints.ai_flags = AI_ADDRCONFIG | (passive ? AI_PASSIVE : 0);
    rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  });
  if (rc != 0) {
    const int err = rc == EAI_SYSTEM ? errno : EHOSTUNREACH;
    throw std::system_error(err, std::generic_category(),
                            "weft::io: cannot resolve '" + host + "': " + gai_strerror(rc));
  }
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET)
      out.push_back(v4(reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr, p));
    else if (ai->ai_family == AF_INET6)
      out.push_back(v6(reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr, p,
                       reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_scope_id));
  }
  freeaddrinfo(res);
  if (out.empty())
    throw std::system_error(EHOSTUNREACH, std::generic_category(), "weft::io: no address for '" + host + "'");
  return out;
}

std::string format(const sock_addr& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.family() == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&a.storage);
    inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
    std::string out(buf);
    out += ':';
    out += std::to_string(ntohs(sin->sin_port));
    return out;
  }
  if (a.family() == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&a.storage);
    inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
    std::string out = "[";
    out += buf;
    out += "]:";
    out += std::to_string(ntohs(sin6->sin6_port));
    return out;
  }
  return "?";
}

int bind_socket(std::string_view addr, int type, int backlog) {
  const auto addrs = resolve(addr, type, true);
  int last_err = EADDRNOTAVAIL;
  for (const auto& a : addrs) {
    const int fd = ::socket(a.family(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_err = errno;
      continue;
    }
    const int one = 1;
    if (type == SOCK_STREAM) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a.family() == AF_INET6) {
      // Dual-stack for the wildcard address, as Go; a specific v6 address
      // is v6 only either way.
      const int v6only = 0;
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    if (::bind(fd, a.get(), a.len) != 0 || (backlog > 0 && ::listen(fd, backlog) != 0)) {
      last_err = errno;
      ::close(fd);
      continue;
    }
    return fd;
  }
  throw std::system_error(last_err, std::generic_category(),
                          std::string("weft::io: ") + (backlog > 0 ? "listen on '" : "bind '") + std::string(addr) + "'");
}

std::uint16_t port_of(const sock_addr& a) noexcept {
  if (a.family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_port);
  if (a.family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_port);
  return 0;
}

sock_addr local_of(int fd) {
  sock_addr a;
  a.len = sizeof a.storage;
  if (::getsockname(fd, a.get(), &a.len) != 0) throw_errno(errno, "getsockname");
  return a;
}

sock_addr peer_of(int fd) {
  sock_addr a;
  a.len = sizeof a.storage;
  if (::getpeername(fd, a.get(), &a.len) != 0) throw_errno(errno, "getpeername");
  return a;
}

}  // namespace weft::io::detail
