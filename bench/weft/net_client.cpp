// weft-bench allofnet: the seed's network exercise over weft::io, under
// both models of bench_model.hpp (fibers: the connect and reads park the
// fiber on the netpoller; threads: the same calls block the plain thread).
//
//   allofnet  n tasks at once; each connects to --addr (weft::io::
//             tcp_stream::connect), sends `GET / HTTP/1.1\r\nHost:
//             bench\r\n\r\n`, reads until the whole response (head and
//             Content-Length body) has arrived, and closes. A failed connect
//             or a short, malformed or non-200 response counts as a failure;
//             nothing is retried. result: the number of complete 200
//             responses (n when all succeeded).

#include <cctype>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include <weft/io/tcp.hpp>
#include <weft/weft.hpp>

#include "bench_model.hpp"

namespace weft_bench {

namespace {

constexpr std::string_view kRequest = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
// A response longer than this is treated as malformed.
constexpr std::size_t kMaxResponse = 64 * 1024;

// What buf holds: 0 while the response is incomplete, 1 once it is a
// complete 200 response, -1 if it is malformed or not a 200.
int response_state(std::string_view buf) {
  const std::size_t head_end = buf.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return buf.size() > kMaxResponse ? -1 : 0;
  const std::string_view head = buf.substr(0, head_end);
  if (!head.starts_with("HTTP/1.1 200")) return -1;
  // Content-Length, matched case-insensitively at a line start.
  std::size_t body = 0;
  bool have_length = false;
  for (std::size_t pos = head.find("\r\n"); pos != std::string_view::npos; pos = head.find("\r\n", pos + 2)) {
    const std::string_view line = head.substr(pos + 2, head.find("\r\n", pos + 2) - (pos + 2));
    std::string lower(line);
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    constexpr std::string_view kName = "content-length:";
    if (!std::string_view(lower).starts_with(kName)) continue;
    body = std::strtoul(std::string(line.substr(kName.size())).c_str(), nullptr, 10);
    have_length = true;
  }
  if (!have_length) return -1;
  const std::size_t want = head_end + 4 + body;
  if (buf.size() > want) return -1;  // more than one response
  return buf.size() == want ? 1 : 0;
}

// One request: true for a complete 200 response. Runs in a fiber or a plain
// thread.
bool one_request(const std::string& addr) {
  try {
    auto s = weft::io::tcp_stream::connect(addr);
    s.write(kRequest);
    std::string buf;
    char chunk[4096];
    for (;;) {
      const std::size_t got = s.read(chunk, sizeof chunk);
      if (got == 0) return false;  // closed before the whole response
      buf.append(chunk, got);
      const int st = response_state(buf);
      if (st != 0) return st == 1;
    }
  } catch (const std::exception&) {
    return false;  // refused, reset, out of fds: a failure, not retried
  }
}

}  // namespace

void run_allofnet(const config& c) {
  long ok = 0;
  clk::duration el{};
  c.main_task([&] {
    auto done = weft::make_chan<int>(1024);
    const auto t0 = clk::now();
    for (long i = 0; i < c.n; i++) c.start([done, addr = c.addr] { done.send(one_request(addr) ? 1 : 0); });
    for (long i = 0; i < c.n; i++) ok += *done.recv();
    el = clk::now() - t0;
  });
  report(c, ok, el, c.n);
}

}  // namespace weft_bench
