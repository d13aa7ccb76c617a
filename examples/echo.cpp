// 13. Echo server. CSP idea: a server is one task per connection; each task
// is a plain sequential loop (read, write back) and the runtime, not the
// program, multiplexes the waiting. A fiber parked in read() costs its
// stack and no thread; as one thread per connection, the same loop blocks
// its thread in the kernel.
//
// The program starts its own server on 127.0.0.1 (port 0: a free port) and
// N clients (default 100) in the same process. Each client sends K messages
// of varying sizes (up to 3 KiB, so a message may arrive in pieces) and
// checks each echo byte for byte, then half-closes its side
// (shutdown_write): the server's read returns 0 (EOF), the server closes,
// and the client's read returns 0 in turn. Checks every echo, that the
// server saw N connections end in EOF, and that it echoed every byte.

#include <atomic>
#include <string>
#include <system_error>

#include <weft/io/tcp.hpp>

#include "model.hpp"

namespace {

constexpr int messages = 10;  // K, per client

// Client c's message k: 1..3000 bytes of a pattern that depends on c, k and
// the position, so a misplaced or mixed-up byte is caught.
std::string message(long c, int k) {
  std::string s(1 + static_cast<std::size_t>((c * 37 + k * 1013) % 3000), '\0');
  for (std::size_t j = 0; j < s.size(); j++) s[j] = static_cast<char>('a' + (c + k + static_cast<long>(j)) % 26);
  return s;
}

struct server_stats {
  std::atomic<long> eofs{0}, errors{0}, bytes{0};
};

// One connection, served until the client half-closes: each read is written
// back whole before the next.
void serve(weft::io::tcp_stream s, server_stats& st) {
  char buf[4096];
  try {
    for (;;) {
      const std::size_t n = s.read(buf, sizeof buf);
      if (n == 0) break;  // EOF: the client shut down its side
      s.write(std::string_view(buf, n));
      st.bytes += static_cast<long>(n);
    }
    st.eofs++;
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "echo: server connection: %s\n", e.what());
    st.errors++;
  }
}  // s closes here: the client's last read sees EOF

// One client: connect, K round trips, half-close, wait for the server's EOF.
bool client(const std::string& addr, long c) {
  try {
    auto s = weft::io::tcp_stream::connect(addr);
    s.set_deadline(weft::io::clock::now() + std::chrono::seconds(5));  // a lost echo fails, never hangs
    char buf[4096];
    for (int k = 0; k < messages; k++) {
      const std::string msg = message(c, k);
      s.write(msg);
      std::string got;
      while (got.size() < msg.size()) {
        const std::size_t n = s.read(buf, std::min(sizeof buf, msg.size() - got.size()));
        if (n == 0) {
          std::fprintf(stderr, "echo: client %ld: EOF after %zu of %zu bytes\n", c, got.size(), msg.size());
          return false;
        }
        got.append(buf, n);
      }
      if (got != msg) {
        std::fprintf(stderr, "echo: client %ld: message %d came back different\n", c, k);
        return false;
      }
    }
    s.shutdown_write();
    if (s.read(buf, sizeof buf) != 0) {
      std::fprintf(stderr, "echo: client %ld: data after the last echo\n", c);
      return false;
    }
    return true;
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "echo: client %ld: %s\n", c, e.what());
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const auto m = example::model::from_args(argc, argv);
  const long n = m.size(100);
  const auto t0 = std::chrono::steady_clock::now();
  const bool ok = m.main_task([&] {
    auto listener = weft::io::tcp_listener::bind("127.0.0.1:0");
    const std::string addr = "127.0.0.1:" + std::to_string(listener.local_port());
    server_stats st;
    weft::wait_group server;  // the acceptor and every connection task

    // The acceptor takes the N connections the clients make and gives each
    // its own task; it also stops early if the listener is closed.
    server.add(1);
    m.start([&] {
      for (long i = 0; i < n; i++) {
        try {
          auto s = listener.accept();
          server.add(1);
          m.start([s = std::move(s), &st, &server]() mutable {
            serve(std::move(s), st);
            server.done();
          });
        } catch (const std::system_error& e) {
          std::fprintf(stderr, "echo: accept: %s\n", e.what());
          break;
        }
      }
      server.done();
    });

    std::atomic<long> good{0};
    weft::wait_group clients;
    clients.add(static_cast<int>(n));
    for (long c = 0; c < n; c++)
      m.start([&, c] {
        if (client(addr, c)) good++;
        clients.done();
      });
    clients.wait();
    listener.close();  // wakes the acceptor if a client never connected
    server.wait();

    long expect_bytes = 0;
    for (long c = 0; c < n; c++)
      for (int k = 0; k < messages; k++) expect_bytes += static_cast<long>(message(c, k).size());
    std::printf("echo (%s): %ld of %ld clients got %d echoes each; server saw %ld EOFs, %ld errors, "
                "echoed %ld of %ld bytes; %.1f ms\n",
                m.name(), good.load(), n, messages, st.eofs.load(), st.errors.load(), st.bytes.load(), expect_bytes,
                example::ms_since(t0));
    return good == n && st.eofs == n && st.errors == 0 && st.bytes == expect_bytes;
  });
  return ok ? 0 : 1;
}
