// echo-client: the load generator of weft-compare's echo and idle-conns
// scenarios. It is deliberately not weft: one thread, non-blocking sockets and
// an edge-triggered epoll loop (wrk's design), so every server model is loaded
// by the same, cheap client.
//
//   echo-client --port=P [--host=127.0.0.1] [--conns=100] [--size=64]
//               [--duration=5] [--max-round-trips=N]
//     Opens C connections; each one loops: write `size` bytes, read until the
//     same `size` bytes came back (checked), record the round trip's latency.
//     Stops after --duration seconds (at most 60) or --max-round-trips round
//     trips in all, whichever comes first, and prints one line:
//       echo-client: conns=C size=S round_trips=N seconds=F rps=F p50_us=F p99_us=F errors=E
//     Exit status 1 if no connection was established, no round trip
//     completed, or errors > 0 while fewer than 99% of the connections
//     survived.
//
//   echo-client --idle --port=P [--host=...] [--conns=C] [--hold=30]
//     Opens C connections, does one 64-byte round trip on each to confirm the
//     server serves it, prints "echo-client: idle conns=C established=K",
//     then holds them open until SIGTERM, EOF on stdin, or --hold seconds
//     (at most 600), and exits 0 (1 if K = 0).
//
// Rules the program keeps:
//  1. It connects only to loopback addresses (127.0.0.0/8, ::1, "localhost");
//     any other host is refused before a socket is opened.
//  2. Every phase is bounded in time: connecting (15 s), the idle mode's
//     confirming round trips (30 s), the load (--duration), the hold (--hold).
//  3. A connection that fails (reset, EOF, wrong bytes) is closed and counted
//     in `errors`; it is not reopened, so `errors` counts lost connections.
//  4. Latencies go to a log-linear histogram: 64 sub-buckets per power of two
//     (values under 128 ns exact), so a reported percentile, the midpoint of
//     its bucket, is within 1/128 (< 1%) of the true sample.
//
// Connecting: at most kConnectBatch non-blocking connects are in flight at
// once; a connect failing with ECONNREFUSED or EAGAIN (no backlog room, no
// local port) is retried every 10 ms for up to 3 s, within the connect
// deadline.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using i64 = std::int64_t;

constexpr int kConnectBatch = 1000;           // connects in flight at once
constexpr i64 kConnectDeadlineNs = 15'000'000'000;
constexpr i64 kRetryDelayNs = 10'000'000;     // after ECONNREFUSED / EAGAIN
constexpr i64 kRetryForNs = 3'000'000'000;    // ... for at most this long per connection
constexpr i64 kConfirmDeadlineNs = 30'000'000'000;
constexpr double kMaxDuration = 60;
constexpr double kMaxHold = 600;

i64 now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return i64{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "echo-client: %s\n", why.c_str());
  std::exit(1);
}

[[noreturn]] void usage() {
  std::fputs(
      "usage: echo-client --port=P [--host=127.0.0.1] [--conns=C] [--size=64] [--duration=5]\n"
      "                   [--max-round-trips=N]\n"
      "       echo-client --idle --port=P [--host=127.0.0.1] [--conns=C] [--hold=30]\n",
      stderr);
  std::exit(2);
}

// ---------------------------------------------------------------------------
// Options

struct options {
  bool idle = false;
  std::string host = "127.0.0.1";
  int port = -1;
  int conns = 100;
  int size = 64;
  double duration = 5;
  i64 max_round_trips = 0;  // 0: no bound but the duration
  double hold = 30;
};

template <class T>
T parse_number(std::string_view name, std::string_view v, T lo, T hi) {
  T out{};
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc{} || end != v.data() + v.size() || out < lo || out > hi) {
    die("--" + std::string(name) + "=" + std::string(v) + ": expected a number in [" + std::to_string(lo) + ", " +
        std::to_string(hi) + "]");
  }
  return out;
}

double parse_seconds(std::string_view name, std::string_view v, double hi) {
  char* end = nullptr;
  const std::string s(v);
  const double d = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !(d > 0) || d > hi) {
    die("--" + std::string(name) + "=" + s + ": expected seconds in (0, " + std::to_string(static_cast<int>(hi)) +
        "]");
  }
  return d;
}

options parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; i++) {
    std::string_view a = argv[i];
    if (!a.starts_with("--")) usage();
    a.remove_prefix(2);
    const auto eq = a.find('=');
    const std::string_view name = a.substr(0, eq);
    std::string_view value;
    if (eq != std::string_view::npos) {
      value = a.substr(eq + 1);
    } else if (name != "idle") {
      if (i + 1 >= argc) usage();
      value = argv[++i];
    }
    if (name == "idle") o.idle = true;
    else if (name == "host") o.host = value;
    else if (name == "port") o.port = parse_number<int>(name, value, 1, 65535);
    else if (name == "conns") o.conns = parse_number<int>(name, value, 1, 1'000'000);
    else if (name == "size") o.size = parse_number<int>(name, value, 1, 1 << 20);
    else if (name == "duration") o.duration = parse_seconds(name, value, kMaxDuration);
    else if (name == "max-round-trips") o.max_round_trips = parse_number<i64>(name, value, 1, i64{1} << 50);
    else if (name == "hold") o.hold = parse_seconds(name, value, kMaxHold);
    else usage();
  }
  if (o.port < 0) usage();
  if (o.idle) o.size = 64;
  return o;
}

// The server's address; only loopback is accepted (rule 1).
struct address {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
};

address loopback_address(const std::string& host, int port) {
  address a;
  const std::string h = host == "localhost" ? "127.0.0.1" : host;
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    if ((ntohl(v4.s_addr) >> 24) != 127) die("refusing host " + host + ": only loopback (127.0.0.0/8, ::1) is allowed");
    auto* sin = reinterpret_cast<sockaddr_in*>(&a.ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<std::uint16_t>(port));
    sin->sin_addr = v4;
    a.len = sizeof(sockaddr_in);
    a.family = AF_INET;
  } else if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&v6)) die("refusing host " + host + ": only loopback (127.0.0.0/8, ::1) is allowed");
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<std::uint16_t>(port));
    sin6->sin6_addr = v6;
    a.len = sizeof(sockaddr_in6);
    a.family = AF_INET6;
  } else {
    die("refusing host " + host + ": give a numeric loopback address (127.0.0.0/8, ::1) or localhost");
  }
  return a;
}

void raise_file_limit(int conns) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) die(std::string("getrlimit: ") + std::strerror(errno));
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) die(std::string("setrlimit: ") + std::strerror(errno));
  }
  if (lim.rlim_cur != RLIM_INFINITY && static_cast<rlim_t>(conns) + 16 > lim.rlim_cur) {
    die("--conns=" + std::to_string(conns) + " needs more file descriptors than RLIMIT_NOFILE allows (" +
        std::to_string(lim.rlim_cur) + ")");
  }
}

// ---------------------------------------------------------------------------
// Latency histogram (rule 4)

class histogram {
 public:
  void record(i64 ns) {
    counts_[index(static_cast<std::uint64_t>(std::max<i64>(ns, 0)))]++;
    total_++;
  }
  i64 total() const { return total_; }

  // The p-quantile (0 < p <= 1) in nanoseconds: the midpoint of the bucket
  // holding the ceil(p * total)-th smallest sample; 0 when empty.
  double quantile(double p) const {
    if (total_ == 0) return 0;
    const i64 rank = std::max<i64>(1, static_cast<i64>(std::ceil(p * static_cast<double>(total_))));
    i64 seen = 0;
    for (std::size_t i = 0; i < counts_.size(); i++) {
      seen += counts_[i];
      if (seen >= rank) return midpoint(i);
    }
    return midpoint(counts_.size() - 1);
  }

 private:
  static constexpr int kSubBits = 6;  // 64 sub-buckets per power of two
  static constexpr std::size_t kLinear = std::size_t{2} << kSubBits;  // values < 128: exact
  static constexpr int kMaxShift = 40;                                 // up to ~2^47 ns

  static std::size_t index(std::uint64_t v) {
    if (v < kLinear) return v;
    const int shift = std::min(static_cast<int>(std::bit_width(v)) - 1 - kSubBits, kMaxShift);
    const std::uint64_t sub = std::min<std::uint64_t>(v >> shift, (std::uint64_t{2} << kSubBits) - 1);
    return kLinear + static_cast<std::size_t>(shift - 1) * (std::size_t{1} << kSubBits) +
           static_cast<std::size_t>(sub - (std::uint64_t{1} << kSubBits));
  }
  static double midpoint(std::size_t i) {
    if (i < kLinear) return static_cast<double>(i);
    const std::size_t k = i - kLinear;
    const int shift = static_cast<int>(k >> kSubBits) + 1;
    const std::uint64_t sub = (k & ((std::size_t{1} << kSubBits) - 1)) + (std::uint64_t{1} << kSubBits);
    return static_cast<double>(sub << shift) + static_cast<double>(std::uint64_t{1} << shift) / 2;
  }

  std::array<i64, kLinear + kMaxShift * (std::size_t{1} << kSubBits)> counts_{};
  i64 total_ = 0;
};

// ---------------------------------------------------------------------------
// Connections and the event loop

enum class state { unopened, connecting, waiting_retry, ready, busy, done, dead };

struct conn {
  int fd = -1;
  state st = state::unopened;
  int sent = 0;      // bytes of this round trip written
  int received = 0;  // bytes of this round trip read back
  i64 started = 0;   // when this round trip's first byte was written
  i64 retry_at = 0;
  i64 first_failure = 0;  // when a connect of this connection first failed (0: never)
  std::uint32_t seq = 0;  // round trips completed
};

class client {
 public:
  client(const options& o, const address& a)
      : opt_(o), addr_(a), conns_(static_cast<std::size_t>(o.conns)), payload_(static_cast<std::size_t>(o.size)),
        inbuf_(static_cast<std::size_t>(o.size)) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) die(std::string("epoll_create1: ") + std::strerror(errno));
  }

  // Opens every connection (bounded by kConnectDeadlineNs); returns how many
  // are established. Reports the failures on stderr.
  int connect_all();

  // Runs round trips on the ready connections until `deadline`, until
  // `max_total` round trips completed (0: no bound), or, with `one_each`,
  // until every connection did one round trip. Returns the end time.
  i64 run(i64 deadline, i64 max_total, bool one_each);

  int count(state s) const {
    return static_cast<int>(std::count_if(conns_.begin(), conns_.end(), [s](const conn& c) { return c.st == s; }));
  }
  i64 round_trips() const { return round_trips_; }
  i64 errors() const { return errors_; }
  const histogram& latencies() const { return hist_; }

  void close_all() {
    for (conn& c : conns_) {
      if (c.fd >= 0) ::close(c.fd);
      c.fd = -1;
    }
  }

 private:
  void open_socket(std::size_t i);
  void connected_or_failed(std::size_t i, int err);
  void start_round_trip(conn& c, i64 now);
  void progress(std::size_t i, std::uint32_t events);
  void fail(conn& c, const char* what, int err);

  // The bytes of round trip `seq` on connection `i`: distinct per connection
  // and round trip, so a server that mixes up streams or replays old data is
  // caught.
  void fill_payload(std::size_t i, std::uint32_t seq) {
    std::uint32_t x = static_cast<std::uint32_t>(i) * 2654435761u ^ seq * 40503u;
    for (auto& b : payload_) {
      x = x * 1664525u + 1013904223u;
      b = static_cast<unsigned char>(x >> 24);
    }
  }

  const options& opt_;
  address addr_;
  std::vector<conn> conns_;
  std::vector<unsigned char> payload_;  // the current round trip's bytes (of conn `payload_of_`)
  std::vector<unsigned char> inbuf_;
  std::size_t payload_of_ = SIZE_MAX;
  std::uint32_t payload_seq_ = 0;
  int ep_ = -1;
  int connecting_ = 0;
  i64 round_trips_ = 0;
  i64 errors_ = 0;
  int last_connect_errno_ = 0;
  bool one_each_ = false;
  bool stop_new_ = false;
  i64 max_total_ = 0;
  histogram hist_;
};

void client::open_socket(std::size_t i) {
  conn& c = conns_[i];
  c.fd = socket(addr_.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) die(std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as wrk does: small writes go out at once
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = i;
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) != 0) die(std::string("epoll_ctl: ") + std::strerror(errno));
  c.st = state::connecting;
  connecting_++;
  if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr_.ss), addr_.len) == 0) {
    connected_or_failed(i, 0);
  } else if (errno != EINPROGRESS) {
    connected_or_failed(i, errno);
  }
}

void client::connected_or_failed(std::size_t i, int err) {
  conn& c = conns_[i];
  connecting_--;
  if (err == 0) {
    c.st = state::ready;
    return;
  }
  last_connect_errno_ = err;
  ::close(c.fd);  // also leaves the epoll set
  c.fd = -1;
  const i64 now = now_ns();
  if (c.first_failure == 0) c.first_failure = now;
  const bool transient = err == ECONNREFUSED || err == EAGAIN || err == ETIMEDOUT || err == ECONNRESET;
  if (transient && now - c.first_failure < kRetryForNs) {
    c.st = state::waiting_retry;
    c.retry_at = now + kRetryDelayNs;
  } else {
    c.st = state::dead;
  }
}

int client::connect_all() {
  const i64 deadline = now_ns() + kConnectDeadlineNs;
  std::size_t next = 0;  // the first connection never opened
  std::vector<epoll_event> events(1024);
  for (;;) {
    const i64 now = now_ns();
    for (std::size_t i = 0; i < next && connecting_ < kConnectBatch; i++) {
      if (conns_[i].st == state::waiting_retry && conns_[i].retry_at <= now) open_socket(i);
    }
    while (next < conns_.size() && connecting_ < kConnectBatch) open_socket(next++);
    const bool retries_left = std::any_of(conns_.begin(), conns_.begin() + static_cast<std::ptrdiff_t>(next),
                                          [](const conn& c) { return c.st == state::waiting_retry; });
    if (next == conns_.size() && connecting_ == 0 && !retries_left) break;
    if (now >= deadline) break;
    const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 10);
    if (n < 0 && errno != EINTR) die(std::string("epoll_wait: ") + std::strerror(errno));
    for (int k = 0; k < n; k++) {
      const std::size_t i = events[static_cast<std::size_t>(k)].data.u64;
      if (conns_[i].st != state::connecting) continue;
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(conns_[i].fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err == 0 && !(events[static_cast<std::size_t>(k)].events & EPOLLOUT)) continue;  // not yet
      connected_or_failed(i, err);
    }
  }
  int failed = 0;
  for (conn& c : conns_) {
    if (c.st == state::ready) continue;
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.st = state::dead;
    failed++;
  }
  if (failed > 0) {
    std::fprintf(stderr, "echo-client: %d of %d connections to %s:%d could not be established%s%s\n", failed,
                 opt_.conns, opt_.host.c_str(), opt_.port, last_connect_errno_ ? "; last error: " : "",
                 last_connect_errno_ ? std::strerror(last_connect_errno_) : "");
    errors_ += failed;
  }
  return opt_.conns - failed;
}

void client::fail(conn& c, const char* what, int err) {
  if (errors_ < 5) {
    std::fprintf(stderr, "echo-client: connection lost: %s%s%s\n", what, err ? ": " : "", err ? std::strerror(err) : "");
  }
  errors_++;
  ::close(c.fd);
  c.fd = -1;
  c.st = state::dead;
}

void client::start_round_trip(conn& c, i64 now) {
  c.st = state::busy;
  c.sent = 0;
  c.received = 0;
  c.started = now;
}

// Moves connection i's round trip along as far as its socket allows: writes
// what is left to write, reads what came back (checked against the payload),
// and on completion records the latency and starts the next round trip. With
// edge-triggered events, every read that stops early (a round trip complete)
// is followed by a write whose echo raises the next edge.
void client::progress(std::size_t i, std::uint32_t events) {
  conn& c = conns_[i];
  if (c.st != state::busy) return;
  const int size = opt_.size;
  for (;;) {
    if (payload_of_ != i || payload_seq_ != c.seq) {
      fill_payload(i, c.seq);
      payload_of_ = i;
      payload_seq_ = c.seq;
    }
    bool write_blocked = false;
    while (c.sent < size) {
      const ssize_t w = ::send(c.fd, payload_.data() + c.sent, static_cast<std::size_t>(size - c.sent), MSG_NOSIGNAL);
      if (w > 0) {
        c.sent += static_cast<int>(w);
      } else if (w < 0 && errno == EAGAIN) {
        write_blocked = true;
        break;
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else {
        return fail(c, "send", errno);
      }
    }
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) == 0 && !write_blocked && c.received == 0 &&
        c.sent == size) {
      return;  // just written; the echo raises the next edge
    }
    events = 0;
    while (c.received < c.sent) {
      const ssize_t r = ::recv(c.fd, inbuf_.data(), static_cast<std::size_t>(c.sent - c.received), 0);
      if (r > 0) {
        if (std::memcmp(inbuf_.data(), payload_.data() + c.received, static_cast<std::size_t>(r)) != 0) {
          return fail(c, "the server sent back different bytes", 0);
        }
        c.received += static_cast<int>(r);
      } else if (r == 0) {
        return fail(c, "the server closed the connection", 0);
      } else if (errno == EAGAIN) {
        return;
      } else if (errno != EINTR) {
        return fail(c, "recv", errno);
      }
    }
    if (c.received < size) {
      if (write_blocked) return;  // EPOLLOUT will come
      continue;
    }
    const i64 now = now_ns();
    hist_.record(now - c.started);
    round_trips_++;
    c.seq++;
    if (one_each_) {
      c.st = state::done;
      return;
    }
    if (max_total_ > 0 && round_trips_ >= max_total_) {
      stop_new_ = true;
      c.st = state::done;
      return;
    }
    start_round_trip(c, now);
  }
}

i64 client::run(i64 deadline, i64 max_total, bool one_each) {
  one_each_ = one_each;
  max_total_ = max_total;
  const i64 start = now_ns();
  const i64 errors_before = errors_;
  int active = 0;
  for (std::size_t i = 0; i < conns_.size(); i++) {
    if (conns_[i].st != state::ready) continue;
    start_round_trip(conns_[i], start);
    progress(i, 0);
    active++;
  }
  std::vector<epoll_event> events(1024);
  int done = 0;
  for (;;) {
    const i64 now = now_ns();
    if (now >= deadline || stop_new_ || (one_each && done + (errors_ - errors_before) >= active)) return now;
    const int timeout_ms = static_cast<int>(std::min<i64>((deadline - now + 999'999) / 1'000'000, 1000));
    const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0 && errno != EINTR) die(std::string("epoll_wait: ") + std::strerror(errno));
    for (int k = 0; k < n && !stop_new_; k++) {
      const std::size_t i = events[static_cast<std::size_t>(k)].data.u64;
      const state before = conns_[i].st;
      progress(i, events[static_cast<std::size_t>(k)].events);
      if (before == state::busy && conns_[i].st == state::done) done++;
    }
  }
}

// The signals that end the hold, blocked from the start of the idle mode so
// that one arriving while the connections are being opened still ends it.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// Waits until SIGTERM or SIGINT, EOF (or an error) on stdin, or `hold`
// seconds.
void hold_until_told(double hold) {
  const sigset_t set = stop_signals();
  const int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  const i64 deadline = now_ns() + static_cast<i64>(hold * 1e9);
  bool watch_stdin = true;
  char sink[4096];
  for (;;) {
    const i64 now = now_ns();
    if (now >= deadline) return;
    pollfd fds[2] = {{sfd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    const int timeout_ms = static_cast<int>(std::min<i64>((deadline - now + 999'999) / 1'000'000, 1000));
    const int n = poll(fds, watch_stdin ? 2 : 1, timeout_ms);
    if (n < 0 && errno != EINTR) return;
    if (n <= 0) continue;
    if (fds[0].revents) return;  // SIGTERM or SIGINT
    if (watch_stdin && fds[1].revents) {
      if (fds[1].revents & POLLNVAL) {
        watch_stdin = false;  // no stdin at all: wait for the signal or the time
        continue;
      }
      const ssize_t r = ::read(STDIN_FILENO, sink, sizeof sink);
      if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) return;  // EOF
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse_options(argc, argv);
  const address addr = loopback_address(o.host, o.port);
  raise_file_limit(o.conns);
  signal(SIGPIPE, SIG_IGN);

  if (o.idle) {
    // Blocked for signalfd; the default disposition first, since a blocked
    // signal that is ignored (as a parent may leave SIGTERM) never arrives.
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    const sigset_t set = stop_signals();
    sigprocmask(SIG_BLOCK, &set, nullptr);
  }

  client cl(o, addr);
  const int established = cl.connect_all();
  if (established == 0) die("no connection could be established to " + o.host + ":" + std::to_string(o.port));

  if (o.idle) {
    cl.run(now_ns() + kConfirmDeadlineNs, 0, true);
    const int served = cl.count(state::done);
    std::printf("echo-client: idle conns=%d established=%d\n", o.conns, served);
    std::fflush(stdout);
    if (served == 0) return 1;
    hold_until_told(o.hold);
    cl.close_all();
    return 0;
  }

  const i64 start = now_ns();
  const i64 end = cl.run(start + static_cast<i64>(o.duration * 1e9), o.max_round_trips, false);
  const double seconds = static_cast<double>(end - start) / 1e9;
  const i64 trips = cl.round_trips();
  const histogram& h = cl.latencies();
  std::printf("echo-client: conns=%d size=%d round_trips=%lld seconds=%.3f rps=%.1f p50_us=%.2f p99_us=%.2f errors=%lld\n",
              established, o.size, static_cast<long long>(trips), seconds,
              seconds > 0 ? static_cast<double>(trips) / seconds : 0.0, h.quantile(0.50) / 1e3, h.quantile(0.99) / 1e3,
              static_cast<long long>(cl.errors()));
  std::fflush(stdout);
  const int survived = o.conns - static_cast<int>(std::min<i64>(cl.errors(), o.conns));
  cl.close_all();
  if (trips == 0) {
    std::fputs("echo-client: no round trip completed\n", stderr);
    return 1;
  }
  if (cl.errors() > 0 && survived * 100 < o.conns * 99) {
    std::fprintf(stderr, "echo-client: only %d of %d connections survived\n", survived, o.conns);
    return 1;
  }
  return 0;
}
