// 16. Concurrent fetcher. CSP idea: fan out one task per request, fan the
// answers back in over one channel, and let a context bound the whole
// batch: its deadline is the socket deadline of every request, and its
// done() channel is the gatherer's other select case, so waiting for
// answers and noticing the deadline are one select.
//
// The program starts a local HTTP server whose handler waits before it
// answers: a pseudo-random 0-50 ms, except every 10th request (ids 9, 19,
// ...), which waits 5 s. It then starts N fetches at once (default 50),
// each its own task with its own connection, under one context with a 750
// ms timeout: connect gets the time left, the stream gets the context's
// deadline (set_deadline), and a fetch past it fails with timeout_error.
// The gatherer selects on the results channel and ctx.done(). Checks that
// exactly the fast requests succeeded, each with its own answer, all before
// the deadline, and that exactly the slow ones timed out, at the deadline
// rather than when the server got round to answering. The server's own
// context, cancelled at the end, stops the handlers still waiting.

#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include <weft/io/tcp.hpp>

#include "model.hpp"

using namespace std::chrono_literals;

namespace {

// Wide margins (700 ms between the slowest fast answer and the deadline,
// over 4 s between the deadline and the slow answers, which the server's
// shutdown cuts short), so that a loaded machine or a sanitizer build does
// not turn a fast request into a timeout (150 ms of margin is not enough
// while other builds share the machine).
constexpr auto deadline_after = 750ms;
constexpr auto slow_delay = 5000ms;

bool is_slow(long id) { return id % 10 == 9; }

// What the server is told to wait before answering request `id`.
std::chrono::milliseconds delay(long id) {
  if (is_slow(id)) return slow_delay;
  std::uint64_t z = static_cast<std::uint64_t>(id) + 0x9e3779b97f4a7c15u;  // splitmix64
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return std::chrono::milliseconds((z ^ (z >> 31)) % 51);
}

// One request per connection ("Connection: close"): read the head, wait,
// answer "item <id>", close. The wait is a select between the delay and
// the server's context, so a shutdown ends it at once.
void serve(weft::io::tcp_stream s, const weft::context& server_ctx) {
  std::string in;
  char buf[1024];
  try {
    while (in.find("\r\n\r\n") == std::string::npos && in.size() < 8192) {
      const std::size_t n = s.read(buf, sizeof buf);
      if (n == 0) return;
      in.append(buf, n);
    }
    long id = -1;
    if (std::sscanf(in.c_str(), "GET /%ld ", &id) != 1 || id < 0) {
      s.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return;
    }
    bool shutting_down = false;
    weft::select(weft::on_recv(weft::after(delay(id)), [] {}),
                 weft::on_recv(server_ctx.done(), [&] { shutting_down = true; }));
    if (shutting_down) return;
    const std::string body = "item " + std::to_string(id);
    s.write("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" + body);
  } catch (const std::system_error&) {
    // the fetcher gave up and closed first (a write into a closed
    // connection may also succeed: the kernel sends it, the peer resets)
  }
}

struct result {
  enum status_t { ok, timed_out, failed } status = failed;
  long id = 0;
  double ms = 0;
  std::string error;
};

// Fetches /id within ctx's deadline.
result fetch(const std::string& addr, long id, const weft::context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  result r;
  r.id = id;
  try {
    const auto deadline = ctx.deadline().value();
    auto s = weft::io::tcp_stream::connect(addr, deadline - std::chrono::steady_clock::now());
    s.set_deadline(deadline);
    s.write("GET /" + std::to_string(id) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    std::string resp;
    char buf[1024];
    for (std::size_t n; resp.size() < 65536 && (n = s.read(buf, sizeof buf)) > 0;) resp.append(buf, n);
    const std::size_t head = resp.find("\r\n\r\n");
    if (resp.rfind("HTTP/1.1 200 ", 0) == 0 && head != std::string::npos &&
        resp.substr(head + 4) == "item " + std::to_string(id))
      r.status = result::ok;
    else
      r.error = "unexpected response";
  } catch (const weft::io::timeout_error&) {
    r.status = result::timed_out;
  } catch (const std::system_error& e) {
    r.error = e.what();
  }
  r.ms = example::ms_since(t0);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const auto m = example::model::from_args(argc, argv);
  const long n = m.size(50);
  const auto t0 = std::chrono::steady_clock::now();
  const bool ok = m.main_task([&] {
    auto listener = weft::io::tcp_listener::bind("127.0.0.1:0");
    const std::string addr = "127.0.0.1:" + std::to_string(listener.local_port());
    const auto server_ctx = weft::context::background().with_cancel();
    weft::wait_group server;
    server.add(1);
    m.start([&] {
      for (long i = 0; i < n; i++) {
        try {
          auto s = listener.accept();
          server.add(1);
          m.start([s = std::move(s), server_ctx, &server]() mutable {
            serve(std::move(s), server_ctx);
            server.done();
          });
        } catch (const std::system_error&) {
          break;  // closed
        }
      }
      server.done();
    });

    // Fan out. The results channel has room for every answer, so a fetch
    // that finishes after the gatherer stopped waiting never blocks.
    const auto ctx = weft::context::background().with_timeout(deadline_after);
    auto results = weft::make_chan<result>(static_cast<std::size_t>(n));
    for (long id = 0; id < n; id++)
      m.start([&addr, id, ctx, results] { results.send(fetch(addr, id, ctx)); });

    // Fan in until every answer is in or the deadline passes.
    std::vector<result> got;
    bool expired = false;
    while (static_cast<long>(got.size()) < n && !expired)
      weft::select(weft::on_recv(results, [&](std::optional<result> r) { got.push_back(std::move(*r)); }),
                   weft::on_recv(ctx.done(), [&] { expired = true; }));
    const long by_deadline = static_cast<long>(got.size());
    // The stragglers are bound by the same deadline: each reports soon.
    while (static_cast<long>(got.size()) < n) got.push_back(*results.recv());

    long succeeded = 0, timed_out = 0, failed = 0, wrong = 0, ok_by_deadline = 0;
    double slowest_ok = 0, slowest_timeout = 0;
    for (std::size_t k = 0; k < got.size(); k++) {
      const result& r = got[k];
      if (r.status == result::ok) {
        succeeded++;
        slowest_ok = std::max(slowest_ok, r.ms);
        if (static_cast<long>(k) < by_deadline) ok_by_deadline++;
      } else if (r.status == result::timed_out) {
        timed_out++;
        slowest_timeout = std::max(slowest_timeout, r.ms);
      } else {
        failed++;
        std::fprintf(stderr, "fetcher: request %ld: %s\n", r.id, r.error.c_str());
      }
      if ((r.status == result::ok) == is_slow(r.id) || (is_slow(r.id) && r.status != result::timed_out)) wrong++;
    }
    listener.close();
    server_ctx.cancel();  // the slow handlers are still waiting: stop them
    server.wait();

    const long slow = n / 10;
    std::printf("fetcher (%s): %ld requests, %ld told to be slow; "
                "%ld succeeded (all %s the %lld ms deadline, slowest %.0f ms), "
                "%ld timed out (after %.0f ms at most), %ld failed; %.1f ms\n",
                m.name(), n, slow, succeeded, ok_by_deadline == succeeded ? "before" : "NOT before",
                static_cast<long long>(deadline_after.count()), slowest_ok, timed_out, slowest_timeout, failed,
                example::ms_since(t0));
    return succeeded == n - slow && timed_out == slow && failed == 0 && wrong == 0 && ok_by_deadline == succeeded &&
           slowest_timeout < std::chrono::duration<double, std::milli>(slow_delay).count();
  });
  return ok ? 0 : 1;
}
