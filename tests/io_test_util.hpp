// Shared fixtures and helpers of the weft::io tests (io_*_test.cpp), one
// executable per concept. The tests are named after the properties a fiber
// netpoller must have:
//  1. no lost wake-up between EAGAIN and park, also when the fiber wakes on
//     another worker;
//  2. readiness that arrives before the first wait is not lost;
//  3. close wakes every parked fiber with an error, and the fd number is not
//     reused under a call in flight;
//  4. stale events for recycled fds are ignored;
//  5. deadlines: once, past means now, a later one undoes an expiry, moving
//     one while parked takes effect;
//  6. the poller's own wake-up is never lost;
//  7. I/O is not starved while every worker runs CPU-bound fibers;
//  8. many fibers on one listener: each connection accepted once, close
//     wakes them all;
//  9. half-close, peer close, EPIPE without SIGPIPE;
// 10. fd exhaustion (EMFILE) is an error the server survives.
// Then addresses (IPv6, names), UDP, misuse, shutdown and the deadlock
// detector. Only loopback addresses. No test asserts a duration except
// generous upper bounds that catch hangs; every test also runs under an
// alarm that dumps the fibers and aborts if it hangs.

#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <weft/io/tcp.hpp>

#include "test_util.hpp"

extern char** environ;

namespace weft_io_test {

using namespace weft;
using namespace std::chrono_literals;
using weft::io::fd_watch;
using weft::io::tcp_listener;
using weft::io::tcp_stream;
using weft::io::timeout_error;
using weft::io::udp_socket;
using weft::test::kSanitized;
using weft::test::scaled;
using clk = std::chrono::steady_clock;

// ---- helpers ----

// See scheduler_test.cpp: pthread_self() is __attribute__((const)), so ask
// through a call the compiler cannot see into across a suspension point.
inline __attribute__((noinline)) std::thread::id current_thread() {
  asm volatile("" ::: "memory");
  return std::this_thread::get_id();
}

inline std::string loopback(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

struct stream_pair {
  tcp_stream client;
  tcp_stream server;
};

// A connected pair through l (connect completes from the backlog, then
// accept). One caller of l at a time.
inline stream_pair connect_pair(tcp_listener& l) {
  stream_pair p;
  p.client = tcp_stream::connect(loopback(l.local_port()));
  p.server = l.accept();
  return p;
}

inline stream_pair connect_pair() {
  auto l = tcp_listener::bind("127.0.0.1:0");
  return connect_pair(l);
}

// Up to n bytes: fewer only at EOF.
inline std::string read_exact(tcp_stream& s, std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    const std::size_t r = s.read(out.data() + got, n - got);
    if (r == 0) break;
    got += r;
  }
  out.resize(got);
  return out;
}

inline std::string read_to_eof(tcp_stream& s) {
  std::string out;
  char buf[4096];
  for (;;) {
    const std::size_t r = s.read(buf, sizeof buf);
    if (r == 0) return out;
    out.append(buf, r);
  }
}

inline void write_byte(tcp_stream& s, char c) { s.write(std::string_view(&c, 1)); }

// What a call ended with: nothing, a timeout_error, or another
// std::system_error. fiber_cancelled and everything else pass through.
struct io_result {
  std::error_code ec;
  bool timeout = false;  // it was a weft::io::timeout_error
  explicit operator bool() const { return static_cast<bool>(ec); }
};

template <class F>
io_result outcome(F&& f) {
  try {
    f();
  } catch (const timeout_error& e) {
    return {e.code(), true};
  } catch (const std::system_error& e) {
    return {e.code(), false};
  }
  return {};
}

inline ::testing::AssertionResult has_errc(const io_result& r, std::errc want, const char* name) {
  if (r.ec == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected " << name << ", got: " << (r ? r.ec.message() : "no error");
}
inline ::testing::AssertionResult is_timeout(const io_result& r) {
  if (r.timeout && r.ec == std::errc::timed_out) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected timeout_error, got: " << (r ? r.ec.message() : "no error");
}
inline ::testing::AssertionResult no_error(const io_result& r) {
  if (!r) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "unexpected error: " << r.ec.message();
}
// Each evaluates its argument once.
#define EXPECT_ERRC(r, errc_name) EXPECT_TRUE(has_errc((r), std::errc::errc_name, #errc_name))
#define EXPECT_TIMEOUT(r) EXPECT_TRUE(is_timeout(r))
#define EXPECT_NO_ERROR(r) EXPECT_TRUE(no_error(r))

inline bool is_reset_or_pipe(const io_result& r) {
  return r.ec == std::errc::broken_pipe || r.ec == std::errc::connection_reset;
}

// Small kernel buffers, so that a few hundred KiB fill the connection.
inline void shrink_buffers(tcp_stream& writer, tcp_stream& reader) {
  int v = 4096;
  ::setsockopt(writer.native_handle(), SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
  ::setsockopt(reader.native_handle(), SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
}

inline const std::string& big_payload() {
  static const std::string s(4 << 20, 'w');  // far more than shrunk buffers hold
  return s;
}

// The fds of this process (fd numbers; the directory's own fd excluded).
inline std::vector<int> open_fds() {
  std::vector<int> fds;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return fds;
  const int own = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd != own) fds.push_back(fd);
  }
  ::closedir(d);
  return fds;
}

inline bool ipv6_loopback_available() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A hang is reported, not waited out: SIGALRM prints the test's name and
// raises SIGQUIT, whose handler (the runtime's, while one runs) prints the
// fiber dump from its own thread and ends the process; a second alarm
// aborts if that hangs. (dump_fibers() itself is not async-signal-safe.)
// An alarm, not a watchdog thread: a thread that never used weft would make
// the deadlock detector wait 2 s instead of 100 ms (scheduler/src/deadlock.cpp).
inline char g_hung_test[256];

extern "C" inline void on_hang(int) {
  static std::atomic<int> fired{0};
  if (fired.fetch_add(1) > 0) std::abort();
  char msg[400];
  const int n = std::snprintf(msg, sizeof msg, "\nio_test: %s hung; live fibers:\n", g_hung_test);
  if (n > 0) {
    [[maybe_unused]] const ssize_t w = ::write(2, msg, static_cast<std::size_t>(n));
  }
  ::alarm(10);
  ::raise(SIGQUIT);
  for (;;) ::pause();
}

class hang_guard {
 public:
  hang_guard() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::snprintf(g_hung_test, sizeof g_hung_test, "%s.%s", info ? info->test_suite_name() : "?",
                  info ? info->name() : "?");
    struct sigaction sa {};
    sa.sa_handler = on_hang;
    ::sigaction(SIGALRM, &sa, nullptr);
    ::alarm(kSanitized ? 270 : 120);
  }
  ~hang_guard() { ::alarm(0); }
  hang_guard(const hang_guard&) = delete;
  hang_guard& operator=(const hang_guard&) = delete;
};

// Whatever the io layer opens once per process (if anything) is opened
// before the first test counts fds.
class io_warm_up : public ::testing::Environment {
 public:
  void SetUp() override {
    run([] { auto p = connect_pair(); }, {.workers = 1});
  }
};
[[maybe_unused]] ::testing::Environment* const g_warm_up = ::testing::AddGlobalTestEnvironment(new io_warm_up);

// The fixtures add an fd leak check and the hang guard to a leak-checked
// base: every socket a test opened is closed in the kernel once it ends.
template <class Base>
class fd_checked : public Base {
 protected:
  void SetUp() override {
    fds_ = open_fds().size();
    guard_.emplace();
  }
  void TearDown() override {
    guard_.reset();
    Base::TearDown();
    EXPECT_EQ(open_fds().size(), fds_) << "fds leaked";
  }

 private:
  std::size_t fds_ = 0;
  std::optional<hang_guard> guard_;
};

class io_fibers : public fd_checked<weft::test::workers> {};
class io_threads : public fd_checked<weft::test::leak_checked> {};

}  // namespace weft_io_test
