// weft-bench serve: weft's network servers for weft-compare's http-* , echo
// and idle-conns scenarios, written once against weft::io and run under
// both models of bench_model.hpp:
//   weft-bench serve http|echo --model=fibers --workers=N --port=P
//       weft::run with N workers (N=1: the event-loop shape); the accept
//       loop runs in the main fiber, one fiber per connection (weft::go)
//   weft-bench serve http|echo --model=threads --port=P
//       the accept loop on the main thread, one std::thread per connection
//       (1:1); weft::io calls from a plain thread block that thread
//
// The server contract, shared with go-bench serve-raw|serve-nethttp and
// tokio-bench:
// 1. Bind 127.0.0.1:P (P=0: a free port) with the system's maximum backlog,
//    after raising RLIMIT_NOFILE to its hard limit; print exactly one line
//    `listening <port>` on stdout and flush.
// 2. http: a minimal HTTP/1.1 responder. Each complete request ends at
//    "\r\n\r\n" (no bodies); every complete request in the buffer is
//    answered (pipelining), all answers of one read in one write; the
//    connection stays open until the client closes it. echo: read up to
//    4 KiB, write back what was read, until EOF.
// 3. An error on a connection closes that connection only. EMFILE/ENFILE on
//    accept: back off 10 ms and go on.
// 4. Serve until stdin reaches EOF or SIGTERM arrives, then exit 0 within
//    about a second. A watcher thread (poll on stdin and a signalfd; SIGTERM
//    is blocked in every thread, so only the signalfd sees it) closes the
//    listener, which wakes the accept loop with an error; the accept loop
//    then ends the process with std::_Exit(0). Connections still open are
//    not drained or unwound: for a benchmark server whose client has already
//    finished, the kernel closing the sockets at exit is the whole shutdown,
//    and it keeps the exit prompt however many fibers or threads are parked
//    in read(). Should closing the listener fail to wake the accept loop,
//    the watcher exits the process itself after a grace of 500 ms.

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include <weft/io/tcp.hpp>
#include <weft/weft.hpp>

#include "bench_model.hpp"

namespace weft_bench {

namespace {

enum class protocol { http, echo };

constexpr std::string_view kResponse =
    "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";

// The largest request head kept while waiting for its "\r\n\r\n"; a client
// sending more without one is dropped.
constexpr std::size_t kHttpBuffer = 4096;  // as the Go and Tokio responders
constexpr std::size_t kEchoBuffer = 4096;

// http: answers every complete request; returns when the client closes.
void serve_http(weft::io::tcp_stream& s) {
  char buf[kHttpBuffer];
  std::size_t len = 0;      // bytes in buf
  std::size_t scanned = 0;  // buf[0, scanned) holds no "\r\n\r\n"
  std::string out;
  for (;;) {
    const std::size_t got = s.read(buf + len, sizeof buf - len);
    if (got == 0) return;  // EOF
    len += got;
    std::size_t start = 0;  // the first byte of the request not answered yet
    out.clear();
    for (;;) {
      // A terminator may straddle the previous read: back up 3 bytes.
      const std::size_t from = scanned >= start + 3 ? scanned - 3 : start;
      const std::string_view rest(buf + from, len - from);
      const std::size_t end = rest.find("\r\n\r\n");
      if (end == std::string_view::npos) {
        scanned = len;
        break;
      }
      out += kResponse;
      start = from + end + 4;
      scanned = start;
    }
    if (!out.empty()) s.write(out);
    if (start > 0) {  // keep the incomplete tail at the front
      std::memmove(buf, buf + start, len - start);
      len -= start;
      scanned -= start;
    }
    if (len == sizeof buf) return;  // a request head too large: drop it
  }
}

void serve_echo(weft::io::tcp_stream& s) {
  char buf[kEchoBuffer];
  for (;;) {
    const std::size_t got = s.read(buf, sizeof buf);
    if (got == 0) return;
    s.write(std::string_view(buf, got));
  }
}

// One connection, under either model: a fiber's or a thread's whole life.
// Any error (reset, broken pipe, ...) ends it; the stream's destructor
// closes the socket.
void serve_conn(weft::io::tcp_stream s, protocol p) noexcept {
  try {
    if (p == protocol::http)
      serve_http(s);
    else
      serve_echo(s);
  } catch (const std::exception&) {
    // point 3: the connection is dropped
  }
}

std::atomic<bool> g_stopping{false};

// Point 4: waits for stdin EOF or SIGTERM (blocked in the caller's mask
// before any other thread starts), then closes the listener.
void watch_for_stop(weft::io::tcp_listener* l, int sigfd) {
  pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {sigfd, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents) break;  // SIGTERM
    if (fds[0].revents) {
      char buf[256];
      const ssize_t got = read(STDIN_FILENO, buf, sizeof buf);
      if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) break;  // EOF
    }
  }
  g_stopping.store(true);
  l->close();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::_Exit(0);  // the accept loop did not end the process in time
}

bool out_of_fds(const std::system_error& e) {
  return e.code() == std::errc::too_many_files_open || e.code() == std::errc::too_many_files_open_in_system;
}

// The accept loop: the main fiber (fibers) or the main thread (threads).
void accept_loop(const config& c, weft::io::tcp_listener& l, protocol p) {
  while (!g_stopping.load()) {
    weft::io::tcp_stream s;
    try {
      s = l.accept();
    } catch (const std::system_error& e) {
      if (g_stopping.load()) break;
      if (out_of_fds(e)) {
        weft::sleep_for(std::chrono::milliseconds(10));  // point 3
      } else {
        std::fprintf(stderr, "weft-bench serve: accept: %s\n", e.what());
        weft::sleep_for(std::chrono::milliseconds(1));
      }
      continue;
    }
    try {
      c.start([s = std::move(s), p]() mutable { serve_conn(std::move(s), p); });
    } catch (const std::system_error& e) {
      // No thread for this connection (1:1 at the thread limit): it is
      // closed, the server goes on.
      std::fprintf(stderr, "weft-bench serve: cannot start a task: %s\n", e.what());
    }
  }
}

void raise_fd_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

[[noreturn]] void serve_usage() {
  std::fprintf(stderr,
               "usage: weft-bench serve http|echo [--model=fibers|threads] [--workers=N] [--port=P]\n"
               "Serves on 127.0.0.1:P (0: a free port), prints `listening <port>`, stops at stdin EOF or "
               "SIGTERM.\n");
  std::exit(2);
}

}  // namespace

int serve_main(int argc, char** argv) {
  if (argc < 3) serve_usage();
  const std::string mode = argv[2];
  if (mode != "http" && mode != "echo") serve_usage();
  const protocol p = mode == "http" ? protocol::http : protocol::echo;
  config c;
  c.scenario = "serve";
  unsigned port = 0;
  for (int i = 3; i < argc; i++) {
    const std::string a = argv[i];
    if (a == "--model=fibers") c.fibers = true;
    else if (a == "--model=threads") c.fibers = false;
    else if (a.rfind("--workers=", 0) == 0) c.workers = static_cast<unsigned>(std::stoul(a.substr(10)));
    else if (a.rfind("--port=", 0) == 0) port = static_cast<unsigned>(std::stoul(a.substr(7)));
    else {
      std::fprintf(stderr, "weft-bench serve: unknown argument %s\n", a.c_str());
      serve_usage();
    }
  }
  if (port > 65535 || c.workers == 0) serve_usage();
  raise_fd_limit();

  // SIGTERM goes to the signalfd only; the mask is inherited by every thread
  // started from here on (workers, connection threads, the watcher).
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, nullptr);
  const int sigfd = signalfd(-1, &term, SFD_CLOEXEC);
  if (sigfd < 0) {
    std::perror("weft-bench serve: signalfd");
    return 1;
  }

  int status = 0;
  c.main_task([&] {
    weft::io::tcp_listener l;
    try {
      l = weft::io::tcp_listener::bind("127.0.0.1:" + std::to_string(port));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "weft-bench serve: bind 127.0.0.1:%u: %s\n", port, e.what());
      status = 1;
      return;
    }
    std::printf("listening %u\n", static_cast<unsigned>(l.local_port()));
    std::fflush(stdout);
    std::thread(watch_for_stop, &l, sigfd).detach();
    accept_loop(c, l, p);
    std::fflush(stdout);
    std::_Exit(0);  // point 4: open connections are not unwound
  });
  return status;
}

}  // namespace weft_bench

// ---- iobusy: I/O while every worker runs CPU-bound fibers ----
//
// `weft-bench iobusy --workers=N --n=R [--busy=B]`: B fibers per worker
// (default 1; 0 for the baseline) run CPU-bound chunks of ~20 us and yield
// between them (cooperative: weft does not preempt), while one socket
// ping-pong of R one-byte round trips runs over loopback. Prints the
// `weft-bench:` line with the ping-pong's time; ops = R. The netpoller is
// polled by the busy workers at the fairness tick (docs/io.md), so the
// round trips complete at a pace set by the ticks, not never.

namespace weft_bench {

int iobusy_main(int argc, char** argv) {
  config c;
  c.scenario = "iobusy";
  c.n = 10'000;
  long busy = 1;
  for (int i = 2; i < argc; i++) {
    const std::string a = argv[i];
    if (a.rfind("--workers=", 0) == 0) c.workers = static_cast<unsigned>(std::stoul(a.substr(10)));
    else if (a.rfind("--n=", 0) == 0) c.n = std::stol(a.substr(4));
    else if (a.rfind("--busy=", 0) == 0) busy = std::stol(a.substr(7));
    else if (a != "--model=fibers") {
      std::fprintf(stderr, "weft-bench iobusy: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  clk::duration elapsed{};
  long done = 0;
  weft::run(
      [&] {
        std::atomic<bool> stop{false};
        weft::wait_group spinners;
        const long nbusy = busy * static_cast<long>(c.workers);
        spinners.add(static_cast<int>(nbusy));
        for (long i = 0; i < nbusy; i++)
          weft::go([&] {
            volatile unsigned long x = 0;
            while (!stop.load(std::memory_order_relaxed)) {
              const auto until = clk::now() + std::chrono::microseconds(20);
              while (clk::now() < until) x = x + 1;
              weft::yield();
            }
            spinners.done();
          });
        auto l = weft::io::tcp_listener::bind("127.0.0.1:0");
        const std::string addr = "127.0.0.1:" + std::to_string(l.local_port());
        weft::go([&l] {
          auto s = l.accept();
          char b;
          while (s.read(&b, 1) == 1) s.write(std::string_view(&b, 1));
        });
        auto conn = weft::io::tcp_stream::connect(addr);
        const auto t0 = clk::now();
        char b = 'x';
        for (long i = 0; i < c.n; i++) {
          conn.write(std::string_view(&b, 1));
          if (conn.read(&b, 1) != 1) break;
          done++;
        }
        elapsed = clk::now() - t0;
        conn.close();
        stop.store(true);
        spinners.wait();
      },
      {.workers = c.workers});
  report(c, done, elapsed, c.n, "busy_per_worker=" + std::to_string(busy));
  return done == c.n ? 0 : 1;
}

}  // namespace weft_bench
