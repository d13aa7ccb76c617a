// weft::io from fibers: readiness and wake-ups (io_test_util.hpp lists the
// properties). 1: no lost wake-up between EAGAIN and park; 2: readiness
// before the first wait is not lost; 4: stale events for recycled fds are
// ignored; 6: the poller's own wake-up is never lost; 7: I/O is not starved
// by CPU-bound fibers; 8: many fibers on one listener or one direction.

#include "io_test_util.hpp"

namespace {

using namespace weft_io_test;

// ---- 1. no lost wake-up between EAGAIN and park ----

// 64 connections, each a 1-byte ping-pong of 2,000 round trips: many more
// fibers than workers, yields between some round trips, so readers park and
// are woken on whichever worker polls, and get stolen. A lost wake-up hangs
// (the alarm reports it); every byte is checked and counted.
TEST_P(io_fibers, no_lost_wakeup_between_eagain_and_park_in_a_many_connection_ping_pong) {
  constexpr int kPairs = 64;
  const long rounds = scaled(2000);
  std::atomic<long> client_rounds{0}, echoed{0}, mismatches{0}, migrated{0};
  run(
      [&] {
        auto l = tcp_listener::bind("127.0.0.1:0");
        const std::string addr = loopback(l.local_port());
        auto acceptor = spawn([&] {
          std::vector<task<void>> echoes;
          for (int i = 0; i < kPairs; i++)
            echoes.push_back(spawn(
                [&echoed](tcp_stream s) {
                  char b;
                  while (s.read(&b, 1) == 1) {
                    write_byte(s, b);
                    echoed.fetch_add(1, std::memory_order_relaxed);
                  }
                },
                l.accept()));
          for (auto& t : echoes) t.join();
        });
        std::vector<task<void>> clients;
        for (int p = 0; p < kPairs; p++)
          clients.push_back(spawn([&, p] {
            auto c = tcp_stream::connect(addr);
            for (long i = 0; i < rounds; i++) {
              const char out = static_cast<char>((p * 31 + i) & 0x7f);
              write_byte(c, out);
              const auto where = current_thread();
              char in = 0;
              if (c.read(&in, 1) != 1 || in != out) {
                mismatches++;
                return;
              }
              if (current_thread() != where) migrated.fetch_add(1, std::memory_order_relaxed);
              client_rounds.fetch_add(1, std::memory_order_relaxed);
              if (i % 16 == p % 16) yield();
            }
          }));
        for (auto& t : clients) t.join();
        acceptor.join();
      },
      opts());
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(client_rounds.load(), kPairs * rounds);
  EXPECT_EQ(echoed.load(), kPairs * rounds);
  // Tens of thousands of reads resume on another worker (here: about a fifth).
  if (GetParam() > 1) {
    EXPECT_GT(migrated.load(), 0) << "no read ever resumed on another worker";
  }
  RecordProperty("reads_resumed_on_another_worker", std::to_string(migrated.load()));
}

// ---- 2. readiness before the first wait is not lost ----

TEST_P(io_fibers, readiness_before_the_first_wait_is_not_lost_data_written_before_the_first_read) {
  run(
      [] {
        // Written, and the edge gone by, before the reader ever waits.
        auto p = connect_pair();
        p.client.write("early");
        sleep_for(20ms);
        EXPECT_EQ(read_exact(p.server, 5), "early");
        // Written before the accepted stream even exists in weft.
        auto l = tcp_listener::bind("127.0.0.1:0");
        auto c = tcp_stream::connect(loopback(l.local_port()));
        c.write("before accept");
        c.shutdown_write();
        sleep_for(20ms);
        auto s = l.accept();
        sleep_for(20ms);
        EXPECT_EQ(read_to_eof(s), "before accept");
      },
      opts());
}

TEST_P(io_fibers, readiness_before_the_first_wait_is_not_lost_connect_before_accept) {
  run(
      [] {
        auto l = tcp_listener::bind("127.0.0.1:0");
        const std::string addr = loopback(l.local_port());
        // Three connections complete from the backlog; accept runs later.
        std::vector<tcp_stream> cs;
        for (int i = 0; i < 3; i++) {
          cs.push_back(tcp_stream::connect(addr));
          cs.back().write(std::to_string(i));
        }
        sleep_for(20ms);
        std::set<std::string> got;
        for (int i = 0; i < 3; i++) {
          auto s = l.accept();
          got.insert(read_exact(s, 1));
        }
        EXPECT_EQ(got, (std::set<std::string>{"0", "1", "2"}));
        // And from another fiber, accept first called after the connect.
        auto late = spawn([&l] {
          sleep_for(10ms);
          auto s = l.accept();
          return read_exact(s, 4);
        });
        auto c = tcp_stream::connect(addr);
        c.write("late");
        EXPECT_EQ(late.join(), "late");
      },
      opts());
}

TEST_P(io_fibers, readiness_before_the_first_wait_is_not_lost_pipe_and_eventfd) {
  run(
      [] {
        int fds[2];
        ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
        const int r = fds[0], w = fds[1];
        // Written before the fd_watch exists.
        ASSERT_EQ(::write(w, "a", 1), 1);
        {
          fd_watch watch(r);
          EXPECT_EQ(watch.fd(), r);
          sleep_for(5ms);
          watch.wait_readable();
          char b = 0;
          EXPECT_EQ(::read(r, &b, 1), 1);
          EXPECT_EQ(b, 'a');
          // Written after the watch registered, before the first wait.
          ASSERT_EQ(::write(w, "b", 1), 1);
          sleep_for(5ms);
          watch.wait_readable();
          EXPECT_EQ(::read(r, &b, 1), 1);
          EXPECT_EQ(b, 'b');
          // Drained: the next wait parks until another fiber writes.
          EXPECT_EQ(::read(r, &b, 1), -1);
          EXPECT_EQ(errno, EAGAIN);
          auto writer = spawn([w] {
            sleep_for(10ms);
            return ::write(w, "c", 1);
          });
          for (;;) {
            if (::read(r, &b, 1) == 1) break;
            ASSERT_EQ(errno, EAGAIN);
            watch.wait_readable(clk::now() + 10s);
          }
          EXPECT_EQ(b, 'c');
          EXPECT_EQ(writer.join(), 1);
        }
        {
          fd_watch ww(w);
          ww.wait_writable(clk::now() + 10s);  // an empty pipe is writable
        }
        ::close(r);
        ::close(w);

        const int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        ASSERT_GE(efd, 0);
        std::uint64_t one = 1, v = 0;
        ASSERT_EQ(::write(efd, &one, sizeof one), 8);
        {
          fd_watch watch(efd);
          sleep_for(5ms);
          watch.wait_readable(clk::now() + 10s);
          EXPECT_EQ(::read(efd, &v, sizeof v), 8);
          EXPECT_EQ(v, 1u);
        }
        ::close(efd);

        // A socket weft does not own, written before the first wait.
        int sp[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
        ASSERT_EQ(::write(sp[1], "u", 1), 1);
        {
          fd_watch watch(sp[0]);
          sleep_for(5ms);
          watch.wait_readable(clk::now() + 10s);
          char b = 0;
          EXPECT_EQ(::read(sp[0], &b, 1), 1);
          EXPECT_EQ(b, 'u');
        }
        ::close(sp[0]);
        ::close(sp[1]);
      },
      opts());
}

TEST_P(io_fibers, fd_watch_deadline_and_cancel) {
  run(
      [] {
        int fds[2];
        ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
        {
          fd_watch watch(fds[0]);
          EXPECT_TIMEOUT(outcome([&] { watch.wait_readable(clk::now() + 20ms); }));
          EXPECT_TIMEOUT(outcome([&] { watch.wait_readable(clk::now() - 1s); }));
          // cancel() wakes a parked waiter with EBADF; later waits fail at once.
          std::atomic<bool> waiting{false};
          auto waiter = spawn([&] {
            waiting = true;
            return outcome([&] { watch.wait_readable(); });
          });
          while (!waiting.load()) yield();
          sleep_for(10ms);
          watch.cancel();
          EXPECT_ERRC(waiter.join(), bad_file_descriptor);
          EXPECT_ERRC(outcome([&] { watch.wait_readable(); }), bad_file_descriptor);
          EXPECT_ERRC(outcome([&] { watch.wait_writable(); }), bad_file_descriptor);
        }
        // The watch never closed the caller's fds.
        EXPECT_EQ(::fcntl(fds[0], F_GETFD), FD_CLOEXEC);
        ::close(fds[0]);
        ::close(fds[1]);
      },
      opts());
}

// ---- 4. stale events for recycled fds are ignored ----

constexpr std::size_t kMsgSize = 16;

std::string tagged(std::uint32_t id, std::uint32_t seq) {
  char b[kMsgSize + 1];
  std::snprintf(b, sizeof b, "%08x%08x", id, seq);
  return std::string(b, kMsgSize);
}

// Every iteration opens 8 connections on the fd numbers the last iteration
// freed, each writer tags its 16-byte messages with its connection's id and
// a sequence number, and writers and the main fiber close connections
// while data is in flight and readers are parked (writer close, half-close,
// abrupt close by the reader's side). Nothing is ever read from the wrong
// connection, out of order, or lost on a connection nobody cut short.
TEST_P(io_fibers, stale_events_for_recycled_fds_are_ignored) {
  const long iters = scaled(100);
  constexpr int kConns = 8;
  constexpr std::uint32_t kMsgs = 64;
  std::atomic<long> wrong_conn{0}, out_of_order{0}, short_count{0}, unexpected_errors{0};
  run(
      [&] {
        auto l = tcp_listener::bind("127.0.0.1:0");
        std::uint32_t next_id = 1;
        for (long it = 0; it < iters; it++) {
          std::vector<stream_pair> ps;
          for (int k = 0; k < kConns; k++) ps.push_back(connect_pair(l));
          std::vector<task<void>> writers, readers;
          for (int k = 0; k < kConns; k++) {
            const std::uint32_t id = next_id++;
            const int mode = static_cast<int>((it + k) % 4);  // 0 close, 1 close halfway, 2 half-close, 3 stay open
            const bool cut = k % 4 == 3;                     // the main fiber closes the reader's side
            writers.push_back(spawn([&, id, mode, k] {
              auto& c = ps[static_cast<std::size_t>(k)].client;
              const std::uint32_t n = mode == 1 ? kMsgs / 2 : kMsgs;
              (void)outcome([&] {  // the reader's side may be cut: EPIPE/ECONNRESET
                for (std::uint32_t s = 0; s < n; s++) {
                  c.write(tagged(id, s));
                  if (s % 8 == 7) yield();
                }
                if (mode == 2) c.shutdown_write();
                if (mode != 3) c.close();
              });
            }));
            readers.push_back(spawn([&, id, mode, cut, k] {
              auto& s = ps[static_cast<std::size_t>(k)].server;
              std::string buf;
              std::uint32_t seq = 0;
              char tmp[100];  // not a multiple of the message size
              const io_result r = outcome([&] {
                for (;;) {
                  const std::size_t got = s.read(tmp, sizeof tmp);
                  if (got == 0) return;
                  buf.append(tmp, got);
                  while (buf.size() >= kMsgSize) {
                    const std::uint32_t mid = static_cast<std::uint32_t>(std::stoul(buf.substr(0, 8), nullptr, 16));
                    const std::uint32_t mseq = static_cast<std::uint32_t>(std::stoul(buf.substr(8, 8), nullptr, 16));
                    if (mid != id) wrong_conn++;
                    else if (mseq != seq) out_of_order++;
                    seq++;
                    buf.erase(0, kMsgSize);
                  }
                }
              });
              if (!cut) {
                if (r) unexpected_errors++;
                if (seq != (mode == 1 ? kMsgs / 2 : kMsgs)) short_count++;
              }
            }));
          }
          yield();
          for (int k = 0; k < kConns; k++)
            if (k % 4 == 3) ps[static_cast<std::size_t>(k)].server.close();
          for (auto& t : writers) t.join();
          for (auto& p : ps) p.client.close();  // the mode-3 writers' connections
          for (auto& t : readers) t.join();
        }
      },
      opts());
  EXPECT_EQ(wrong_conn.load(), 0) << "data read from another connection";
  EXPECT_EQ(out_of_order.load(), 0);
  EXPECT_EQ(short_count.load(), 0) << "messages lost on a connection nobody cut";
  EXPECT_EQ(unexpected_errors.load(), 0);
}

// ---- 6. the poller's wake-up is never lost ----

// Every fiber but main waits on a socket all along, so an idle worker
// blocks in epoll_wait. Main, in turn: (a) waits on a channel that a plain
// thread sends on, (b) sleeps (1 ms, sometimes 20 ms) while the others wait
// on sockets, (c) waits on a socket that the plain thread writes. A lost
// or eaten wake-up hangs. Each round in a fresh runtime too, a few times.
TEST_P(io_fibers, the_pollers_wakeup_is_never_lost) {
  const long iters = scaled(300);
  for (int rt = 0; rt < 3; rt++)
    run(
        [&] {
          std::vector<stream_pair> idle;
          for (int i = 0; i < 4; i++) idle.push_back(connect_pair());
          std::vector<task<void>> waiters;
          for (auto& p : idle)
            waiters.push_back(spawn([&p] {
              (void)outcome([&] {
                char b;
                p.server.read(&b, 1);
              });
            }));
          auto sock = connect_pair();
          auto req = make_chan<long>();
          auto to_main = make_chan<long>();
          std::thread helper([&sock, req, to_main] {
            for (long v : req) {
              // Let main get parked first, most times.
              const auto until = clk::now() + std::chrono::microseconds(v % 5 * 20);
              while (clk::now() < until) {
              }
              if (v % 3 == 0) to_main.send(v);
              else write_byte(sock.client, static_cast<char>(v));
            }
          });
          long chan_ok = 0, sock_ok = 0;
          for (long i = 0; i < iters; i++) {
            switch (i % 3) {
              case 0:
                req.send(i);
                if (to_main.recv() == i) chan_ok++;
                break;
              case 1:
                sleep_for(i % 30 == 1 ? 20ms : 1ms);
                break;
              case 2: {
                req.send(i);
                char c = 0;
                if (sock.server.read(&c, 1) == 1 && c == static_cast<char>(i)) sock_ok++;
                break;
              }
            }
          }
          req.close();
          blocking([&] { helper.join(); });
          EXPECT_EQ(chan_ok, (iters + 2) / 3);
          EXPECT_EQ(sock_ok, iters / 3);
          for (auto& p : idle) p.client.close();
          for (auto& w : waiters) w.join();
        },
        opts());
}

// ---- 7. I/O is not starved by CPU-bound fibers ----

// As many CPU-bound fibers as workers, each spinning on a flag and yielding
// every 100 us (cooperative); a socket ping-pong (and the connect and accept
// before it) must still complete. Completion only, no timing.
TEST_P(io_fibers, io_is_not_starved_while_every_worker_runs_cpu_bound_fibers) {
  run(
      [&] {
        std::atomic<bool> spin{true};
        std::vector<task<long>> spinners;
        for (unsigned i = 0; i < GetParam(); i++)
          spinners.push_back(spawn([&spin] {
            long yields = 0;
            while (spin.load(std::memory_order_relaxed)) {
              const auto t0 = clk::now();
              while (clk::now() - t0 < 100us) {
              }
              yield();
              yields++;
            }
            return yields;
          }));
        auto pinger = spawn([] {
          auto p = connect_pair();
          auto echo = spawn([&p] {
            char b;
            while (p.server.read(&b, 1) == 1) write_byte(p.server, b);
          });
          long ok = 0;
          for (int i = 0; i < 200; i++) {
            const char c = static_cast<char>(i);
            write_byte(p.client, c);
            char d = 0;
            if (p.client.read(&d, 1) == 1 && d == c) ok++;
          }
          p.client.close();
          echo.join();
          return ok;
        });
        EXPECT_EQ(pinger.join(), 200);
        spin = false;
        for (auto& s : spinners) s.join();
      },
      opts());
}

// A socket whose reads never hit EAGAIN (128 KiB already buffered, read a
// byte at a time) must not keep its worker from the other fibers: the
// reader stops at a flag that another fiber sets, long before the data
// runs out. Counted, not timed.
TEST_P(io_fibers, an_always_ready_socket_does_not_starve_its_workers_other_fibers) {
  run(
      [] {
        constexpr std::size_t kBuffered = 128 << 10;
        auto p = connect_pair();
        p.client.write(std::string(kBuffered, 'r'));
        p.client.shutdown_write();
        sleep_for(10ms);  // all of it in the reader's kernel buffer
        std::atomic<bool> started{false}, stop{false};
        auto reader = spawn([&] {
          std::size_t n = 0;
          char b;
          while (!stop.load() && p.server.read(&b, 1) == 1) {
            n++;
            started = true;
          }
          return n;
        });
        while (!started.load()) yield();  // on one worker: back only when the reader yields
        auto stopper = spawn([&stop] { stop = true; });
        stopper.join();
        EXPECT_LT(reader.join(), kBuffered) << "the reader ran to EOF before the other fiber ever ran";
      },
      opts());
}

// ---- 8. many fibers on one listener or one direction ----

// Concurrent writers of one stream queue: each write's bytes arrive
// contiguous, never interleaved with another's.
TEST_P(io_fibers, concurrent_writes_to_one_stream_are_never_interleaved) {
  run(
      [] {
        constexpr int kWriters = 8;
        constexpr std::size_t kBlock = 256 << 10;  // several kernel buffers' worth
        auto p = connect_pair();
        std::vector<task<void>> writers;
        for (int w = 0; w < kWriters; w++)
          writers.push_back(spawn([&p, w] { p.client.write(std::string(kBlock, static_cast<char>('A' + w))); }));
        auto all = spawn([&p] { return read_exact(p.server, kWriters * kBlock); });
        for (auto& t : writers) t.join();
        const std::string got = all.join();
        ASSERT_EQ(got.size(), kWriters * kBlock);
        std::set<char> blocks;
        for (std::size_t i = 0; i < got.size(); i += kBlock) {
          EXPECT_EQ(got.find_first_not_of(got[i], i), i + kBlock < got.size() ? i + kBlock : std::string::npos)
              << "block at " << i << " interleaved";
          blocks.insert(got[i]);
        }
        EXPECT_EQ(blocks.size(), static_cast<std::size_t>(kWriters));
      },
      opts());
}

TEST_P(io_fibers, many_fibers_accepting_on_one_listener_accept_each_connection_once) {
  constexpr int kAcceptors = 16;
  const long conns = scaled(500);
  std::vector<int> seen(static_cast<std::size_t>(conns), 0);
  std::atomic<long> accepted{0}, close_errors{0}, other_errors{0}, bad_tags{0};
  run(
      [&] {
        auto l = tcp_listener::bind("127.0.0.1:0");
        const std::string addr = loopback(l.local_port());
        std::mutex mu;
        std::vector<task<void>> acceptors;
        for (int a = 0; a < kAcceptors; a++)
          acceptors.push_back(spawn([&] {
            for (;;) {
              tcp_stream s;
              const io_result r = outcome([&] { s = l.accept(); });
              if (r) {
                (r.ec == std::errc::bad_file_descriptor ? close_errors : other_errors)++;
                return;
              }
              const std::string tag = read_exact(s, 8);
              const long id = tag.size() == 8 ? std::strtol(tag.c_str(), nullptr, 10) : -1;
              if (id < 0 || id >= conns) {
                bad_tags++;
                continue;
              }
              {
                std::lock_guard lk(mu);
                seen[static_cast<std::size_t>(id)]++;
              }
              accepted++;
              s.write("k");
            }
          }));
        std::vector<task<bool>> clients;
        for (long i = 0; i < conns; i++)
          clients.push_back(spawn([&addr, i] {
            auto c = tcp_stream::connect(addr);
            char tag[9];
            std::snprintf(tag, sizeof tag, "%08ld", i);
            c.write(std::string_view(tag, 8));
            return read_exact(c, 1) == "k";
          }));
        long acked = 0;
        for (auto& c : clients) acked += c.join() ? 1 : 0;
        EXPECT_EQ(acked, conns);
        sleep_for(20ms);  // every acceptor back in accept
        const auto t0 = clk::now();
        l.close();
        for (auto& a : acceptors) a.join();
        EXPECT_LT(clk::now() - t0, 5s);
      },
      opts());
  EXPECT_EQ(accepted.load(), conns);
  EXPECT_EQ(bad_tags.load(), 0);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), conns) << "a connection accepted twice or never";
  EXPECT_EQ(close_errors.load(), kAcceptors) << "close did not wake every acceptor with EBADF";
  EXPECT_EQ(other_errors.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(workers, io_fibers, WEFT_WORKER_COUNTS);

}  // namespace
