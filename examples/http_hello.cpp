// 14. HTTP/1.1 hello server with keep-alive. CSP idea: a protocol handler
// is a sequential loop over its connection's bytes; with one task per
// connection, keep-alive and pipelining are just "go round the loop
// again", and no state machine is spread over callbacks.
//
// The responder is minimal: a request is everything up to a blank line
// ("\r\n\r\n"; request bodies are not supported), every complete request in
// the buffer is answered (pipelining), all answers to one read go out in
// one write, the connection stays open until the client closes it, and an
// error (or a request head over 64 KiB) closes the connection.
//
// Self-test (the default): 10 keep-alive connections send --n requests in
// all (default 1000), in pipelined batches of 1-3, some split across two
// writes in the middle of the blank line, and parse every response.
// --serve [--port=P]: serve on 127.0.0.1:P (default 8080; 0 picks a free
// port), print "listening <port>", stop at stdin EOF, SIGTERM or SIGINT,
// for curl and wrk:
//   example-http_hello --serve --port=8080 &
//   curl http://127.0.0.1:8080/ ; wrk -t2 -c100 -d5s http://127.0.0.1:8080/

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include <weft/io/tcp.hpp>

#include "model.hpp"

namespace {

constexpr std::string_view response =
    "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";
constexpr std::size_t max_head = 64 * 1024;

// The server: an acceptor task and one task per connection. stop() closes
// the listener and, if asked, every open connection (waking the tasks
// parked in read), then waits for all of them.
class hello_server {
 public:
  hello_server(const example::model& m, weft::io::tcp_listener l) : m_(m), listener_(std::move(l)) {}
  std::uint16_t port() const { return listener_.local_port(); }

  void start() {
    tasks_.add(1);
    m_.start([this] {
      accept_loop();
      tasks_.done();
    });
  }

  void stop(bool close_connections) {
    {
      std::lock_guard lk(mu_);
      stopping_ = true;
      if (close_connections)
        for (auto* s : open_) s->close();  // the tasks parked in read() wake with EBADF
    }
    listener_.close();
    tasks_.wait();
  }

  std::atomic<long> requests{0}, connections{0}, eofs{0}, resets{0}, errors{0};

 private:
  // Ends when the listener is closed. Out of fds, it pauses and goes on
  // (the connection stays in the backlog until then).
  void accept_loop() {
    for (;;) {
      weft::io::tcp_stream s;
      try {
        s = listener_.accept();
      } catch (const std::system_error& e) {
        if (is_stopping()) return;
        std::fprintf(stderr, "http_hello: accept: %s\n", e.what());
        if (e.code() != std::errc::too_many_files_open && e.code() != std::errc::too_many_files_open_in_system)
          return;
        weft::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      connections++;
      tasks_.add(1);
      m_.start([this, s = std::move(s)]() mutable {
        serve(s);
        tasks_.done();
      });
    }
  }

  bool is_stopping() {
    std::lock_guard lk(mu_);
    return stopping_;
  }

  void serve(weft::io::tcp_stream& s) {
    {
      std::lock_guard lk(mu_);
      if (stopping_) return;
      open_.insert(&s);
    }
    std::string in, out;
    char buf[4096];
    try {
      for (;;) {
        const std::size_t n = s.read(buf, sizeof buf);
        if (n == 0) {  // the client closed: keep-alive ends
          eofs++;
          break;
        }
        // Search only where a new terminator can be: the old tail may hold
        // its first three bytes.
        std::size_t from = in.size() < 3 ? 0 : in.size() - 3, done = 0;
        in.append(buf, n);
        for (std::size_t e; (e = in.find("\r\n\r\n", from)) != std::string::npos; from = done) {
          out += response;
          done = e + 4;
          requests++;
        }
        in.erase(0, done);
        if (in.size() > max_head) break;  // a head that never ends: close
        if (!out.empty()) {
          s.write(out);
          out.clear();
        }
      }
    } catch (const std::system_error& e) {
      if (e.code() == std::errc::connection_reset || e.code() == std::errc::broken_pipe) {
        resets++;  // the client went away mid-conversation (wrk does at its end)
      } else if (!is_stopping()) {
        std::fprintf(stderr, "http_hello: connection: %s\n", e.what());
        errors++;
      }
    }
    std::lock_guard lk(mu_);
    open_.erase(&s);
  }

  const example::model& m_;
  weft::io::tcp_listener listener_;
  weft::wait_group tasks_;  // the acceptor and every connection task
  weft::mutex mu_;
  bool stopping_ = false;                 // guarded by mu_
  std::set<weft::io::tcp_stream*> open_;  // guarded by mu_
};

// Takes one complete response off the front of `in`: 1 if it was the
// expected one, 0 if more bytes are needed, -1 if it was wrong.
int take_response(std::string& in) {
  const std::size_t e = in.find("\r\n\r\n");
  if (e == std::string::npos) return in.size() > max_head ? -1 : 0;
  const std::string_view head(in.data(), e + 4);
  if (head.substr(0, 17) != "HTTP/1.1 200 OK\r\n") return -1;
  const std::size_t cl = head.find("\r\nContent-Length: ");
  if (cl == std::string_view::npos) return -1;
  const std::size_t len = std::strtoul(in.c_str() + cl + 18, nullptr, 10);
  if (in.size() < e + 4 + len) return 0;
  const bool good = in.compare(e + 4, len, "Hello, world!") == 0 && len == 13;
  in.erase(0, e + 4 + len);
  return good ? 1 : -1;
}

// One keep-alive connection sending `count` requests in pipelined batches.
bool client(const std::string& addr, int c, long count) {
  try {
    auto s = weft::io::tcp_stream::connect(addr);
    s.set_deadline(weft::io::clock::now() + std::chrono::seconds(5));  // a lost response fails, never hangs
    std::string in;
    char buf[4096];
    long sent = 0;
    for (int batch = 0; sent < count; batch++) {
      const long b = std::min<long>(1 + batch % 3, count - sent);
      std::string req;
      for (long i = 0; i < b; i++)
        req += "GET /" + std::to_string(c) + "/" + std::to_string(sent + i) +
               " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: weft-example\r\n\r\n";
      if (batch % 7 == 6) {  // split in the middle of the last blank line
        s.write(std::string_view(req).substr(0, req.size() - 2));
        weft::yield();
        s.write(std::string_view(req).substr(req.size() - 2));
      } else {
        s.write(req);
      }
      sent += b;
      for (long got = 0; got < b;) {
        const int r = take_response(in);
        if (r < 0) {
          std::fprintf(stderr, "http_hello: client %d: bad response\n", c);
          return false;
        }
        if (r > 0) {
          got++;
          continue;
        }
        const std::size_t n = s.read(buf, sizeof buf);
        if (n == 0) {
          std::fprintf(stderr, "http_hello: client %d: server closed the connection\n", c);
          return false;
        }
        in.append(buf, n);
      }
      if (!in.empty()) {
        std::fprintf(stderr, "http_hello: client %d: more responses than requests\n", c);
        return false;
      }
    }
    return true;
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "http_hello: client %d: %s\n", c, e.what());
    return false;
  }
}

int self_test(const example::model& m) {
  constexpr int conns = 10;
  const long n = m.size(1000);
  const auto t0 = std::chrono::steady_clock::now();
  const bool ok = m.main_task([&] {
    hello_server srv(m, weft::io::tcp_listener::bind("127.0.0.1:0"));
    srv.start();
    const std::string addr = "127.0.0.1:" + std::to_string(srv.port());
    std::atomic<int> good{0};
    weft::wait_group clients;
    clients.add(conns);
    for (int c = 0; c < conns; c++)
      m.start([&, c] {
        if (client(addr, c, n / conns + (c < n % conns ? 1 : 0))) good++;
        clients.done();
      });
    clients.wait();
    srv.stop(false);  // the clients have closed: every connection ends at EOF
    std::printf("http_hello (%s): %ld requests on %ld keep-alive connections, %d clients satisfied, "
                "%ld EOFs, %ld errors; %.1f ms\n",
                m.name(), srv.requests.load(), srv.connections.load(), good.load(), srv.eofs.load(),
                srv.errors.load(), example::ms_since(t0));
    return good == conns && srv.requests == n && srv.connections == conns && srv.eofs == conns && srv.resets == 0 &&
           srv.errors == 0;
  });
  return ok ? 0 : 1;
}

// Serves until stdin reaches EOF or SIGTERM/SIGINT arrives. Two plain
// threads wait for those and send on a channel that main receives from.
// The signals are blocked in every thread (the mask is set before any
// exists) and taken with sigwait, so no handler runs inside the runtime.
int serve(const example::model& m, int port) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  auto stop = weft::make_chan<int>(2);
  std::thread([stop, stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    (void)stop.try_send(sig);  // room for both senders
  }).detach();
  std::thread([stop] {
    char buf[256];
    while (::read(0, buf, sizeof buf) > 0) {
    }
    (void)stop.try_send(0);
  }).detach();
  return m.main_task([&] {
    hello_server srv(m, weft::io::tcp_listener::bind("127.0.0.1:" + std::to_string(port)));
    std::printf("listening %u\n", static_cast<unsigned>(srv.port()));
    std::fflush(stdout);
    srv.start();
    const int why = stop.recv().value_or(0);
    srv.stop(true);
    std::printf("http_hello (%s): stopped by %s; served %ld requests on %ld connections "
                "(%ld reset by the client, %ld other errors)\n",
                m.name(), why == 0 ? "stdin EOF" : why == SIGTERM ? "SIGTERM" : "SIGINT", srv.requests.load(),
                srv.connections.load(), srv.resets.load(), srv.errors.load());
    return 0;
  });
}

}  // namespace

int main(int argc, char** argv) {
  bool serving = false;
  int port = 8080;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    if (a == "--serve")
      serving = true;
    else if (a.rfind("--port=", 0) == 0)
      port = std::atoi(a.c_str() + 7);
    else
      rest.push_back(argv[i]);
  }
  const auto m = example::model::from_args(static_cast<int>(rest.size()), rest.data());
  return serving ? serve(m, port) : self_test(m);
}
