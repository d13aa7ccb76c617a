// 15. Chat server. CSP idea: share memory by communicating. The set of
// members belongs to one task, the hub; connection tasks never touch it,
// they send the hub events (join, line, leave) on one channel. Each member
// has an outgoing channel that a writer task drains into its socket, so the
// hub never waits on a client's network: it only puts a line into each
// buffer with try_send.
//
// A member's outgoing buffer holds 256 lines. When it is full, that member
// is not keeping up: the hub drops it (closes its outgoing channel, as the
// gorilla/websocket chat hub does), the writer sends what is buffered and
// closes the connection, and the room goes on. Nobody else waits for a slow
// member, and a slow member loses the connection, not lines in the middle.
//
// Per connection: a reader task (the connection's own) reads lines and sends
// them to the hub; a writer task writes the outgoing lines. The hub first
// puts "welcome" into a new member's buffer, so a client that has read it
// knows it hears everything said from then on. When the reader sees EOF it
// sends leave; the hub closes the member's outgoing channel; the writer
// finishes it and closes the connection.
//
// Self-test: M clients (default 8, --n=M) join, wait until all have been
// welcomed, then each sends L = 20 lines while it reads; each checks that it
// got exactly the other clients' lines, each sender's in order, none of its
// own; then it half-closes and expects EOF right after. Checks too that the
// hub saw M joins and M leaves and dropped no one.

#include <algorithm>
#include <atomic>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include <weft/io/tcp.hpp>

#include "model.hpp"

namespace {

constexpr int lines_per_client = 20;  // L
constexpr std::size_t out_buffer = 256;
constexpr auto give_up_after = std::chrono::seconds(5);  // a test client's whole conversation

struct event {
  enum kind_t { join, line, leave } kind = line;
  long id = 0;
  std::string text;               // line: the line, with its '\n'
  weft::chan<std::string> out{};  // join: the member's outgoing channel
};

struct hub_report {
  long joins = 0, leaves = 0, dropped = 0, lines = 0, deliveries = 0;
  std::size_t members_left = 0;
};

// The hub: owns the members; ends when `events` is closed.
hub_report hub(weft::chan<event> events) {
  hub_report r;
  std::map<long, weft::chan<std::string>> members;
  for (event e : events) {
    switch (e.kind) {
      case event::join:
        r.joins++;
        members[e.id] = e.out;
        (void)e.out.try_send(std::string("welcome\n"));  // an empty buffer: always fits
        break;
      case event::leave:
        if (auto it = members.find(e.id); it != members.end()) {
          r.leaves++;
          it->second.close();
          members.erase(it);
        }  // else it was dropped already
        break;
      case event::line:
        if (!members.contains(e.id)) break;  // a dropped member's last words
        r.lines++;
        for (auto it = members.begin(); it != members.end();) {
          if (it->first == e.id) {
            ++it;
            continue;
          }
          if (it->second.try_send(std::string(e.text))) {
            r.deliveries++;
            ++it;
          } else {  // the buffer is full: this member is too slow
            r.dropped++;
            it->second.close();
            it = members.erase(it);
          }
        }
        break;
    }
  }
  r.members_left = members.size();
  return r;
}

// One member's connection. The caller's task reads; a second task writes.
void member(const example::model& m, weft::io::tcp_stream s, long id, weft::chan<event> events) {
  auto out = weft::make_chan<std::string>(out_buffer);
  auto writer_done = weft::make_chan<bool>(1);
  m.start([&s, out, writer_done] {
    try {
      for (const std::string& line : out) s.write(line);
    } catch (const std::system_error&) {
      // the client is gone; closing below wakes the reader too
    }
    s.close();  // after the last line: the client reads EOF
    writer_done.send(true);
  });
  events.send(event{event::join, id, {}, out});
  std::string in;
  char buf[2048];
  try {
    for (;;) {
      const std::size_t n = s.read(buf, sizeof buf);
      if (n == 0) break;
      in.append(buf, n);
      std::size_t from = 0;
      for (std::size_t nl; (nl = in.find('\n', from)) != std::string::npos; from = nl + 1)
        events.send(event{event::line, id, in.substr(from, nl + 1 - from), {}});
      in.erase(0, from);
    }
  } catch (const std::system_error&) {
    // reset by the client, or closed by our writer after a drop
  }
  events.send(event{event::leave, id, {}, {}});
  writer_done.recv();  // s lives until the writer is done with it
}

// Reads one '\n'-terminated line (without it) into `line`; false at EOF.
bool read_line(weft::io::tcp_stream& s, std::string& buf, std::string& line) {
  for (;;) {
    if (const std::size_t nl = buf.find('\n'); nl != std::string::npos) {
      line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      return true;
    }
    char tmp[2048];
    const std::size_t n = s.read(tmp, sizeof tmp);
    if (n == 0) return false;
    buf.append(tmp, n);
  }
}

// One test client. Returns an empty string when all was as expected.
std::string client(const example::model& m, const std::string& addr, int c, int clients, weft::wait_group& joined,
                   const weft::chan<int>& go) {
  try {
    auto s = weft::io::tcp_stream::connect(addr);
    // A bound on the whole conversation: a line that never comes is an
    // error (timeout_error), not a hang.
    s.set_deadline(weft::io::clock::now() + give_up_after);
    std::string buf, line;
    if (!read_line(s, buf, line) || line != "welcome") return "no welcome";
    joined.done();
    go.recv();  // closed once everybody is in the room

    auto sent = weft::make_chan<std::string>(1);  // the sender's outcome
    m.start([&s, c, sent] {
      std::string err;
      try {
        for (int j = 0; j < lines_per_client; j++)
          s.write("from " + std::to_string(c) + " line " + std::to_string(j) + " " + std::string(j % 17, '.') + "\n");
      } catch (const std::system_error& e) {
        err = e.what();
      }
      sent.send(std::move(err));
    });

    std::vector<int> next(static_cast<std::size_t>(clients), 0);  // the next line expected from each sender
    std::string err;
    try {  // the sender uses s: catch here, so that we wait for it below
      for (long got = 0; got < static_cast<long>(clients - 1) * lines_per_client;) {
        if (!read_line(s, buf, line)) {
          err = "EOF after " + std::to_string(got) + " lines";
          break;
        }
        int from = -1, j = -1, pos = 0;
        if (std::sscanf(line.c_str(), "from %d line %d %n", &from, &j, &pos) != 2 || from < 0 || from >= clients ||
            from == c || j != next[static_cast<std::size_t>(from)] ||
            line.size() != static_cast<std::size_t>(pos + j % 17)) {
          err = "unexpected line \"" + line + "\"";
          break;
        }
        next[static_cast<std::size_t>(from)]++;
        got++;
      }
    } catch (const std::system_error& e) {
      err = e.what();
    }
    const std::string send_err = sent.recv().value_or("");
    if (err.empty() && !send_err.empty()) err = "send: " + send_err;
    if (!err.empty()) return err;
    s.shutdown_write();  // leave; the server answers with EOF
    if (read_line(s, buf, line)) return "a line after the last expected one: \"" + line + "\"";
    return {};
  } catch (const std::system_error& e) {
    return e.what();
  }
}

}  // namespace

int main(int argc, char** argv) {
  const auto m = example::model::from_args(argc, argv);
  const int clients = static_cast<int>(m.size(8));
  const auto t0 = std::chrono::steady_clock::now();
  const bool ok = m.main_task([&] {
    auto listener = weft::io::tcp_listener::bind("127.0.0.1:0");
    const std::string addr = "127.0.0.1:" + std::to_string(listener.local_port());
    auto events = weft::make_chan<event>(64);
    auto report = weft::make_chan<hub_report>(1);
    m.start([events, report] { report.send(hub(events)); });

    weft::wait_group server;  // the acceptor and every member's reader
    server.add(1);
    m.start([&] {
      for (long id = 0; id < clients; id++) {
        try {
          auto s = listener.accept();
          server.add(1);
          m.start([&m, s = std::move(s), id, events, &server]() mutable {
            member(m, std::move(s), id, events);
            server.done();
          });
        } catch (const std::system_error& e) {
          std::fprintf(stderr, "chat: accept: %s\n", e.what());
          break;
        }
      }
      server.done();
    });

    weft::wait_group joined, done;
    joined.add(clients);
    done.add(clients);
    auto go = weft::make_chan<int>();
    std::atomic<int> good{0};
    for (int c = 0; c < clients; c++)
      m.start([&, c] {
        const std::string err = client(m, addr, c, clients, joined, go);
        if (err.empty())
          good++;
        else
          std::fprintf(stderr, "chat: client %d: %s\n", c, err.c_str());
        done.done();
      });
    joined.wait();
    go.close();
    done.wait();
    listener.close();
    server.wait();
    events.close();
    const hub_report r = *report.recv();
    std::printf("chat (%s): %d clients, %d lines each; %d got exactly the others' lines; "
                "hub: %ld joins, %ld leaves, %ld dropped, "
                "%ld lines, %ld deliveries; %.1f ms\n",
                m.name(), clients, lines_per_client, good.load(), r.joins, r.leaves, r.dropped, r.lines, r.deliveries,
                example::ms_since(t0));
    const long lines = static_cast<long>(clients) * lines_per_client;
    return good == clients && r.joins == clients && r.leaves == clients && r.dropped == 0 && r.members_left == 0 &&
           r.lines == lines && r.deliveries == lines * (clients - 1);
  });
  return ok ? 0 : 1;
}
