// weft::io from plain threads: without a runtime, while one runs, and
// sockets that outlive a runtime or move between fibers and threads.

#include "io_test_util.hpp"

namespace {

using namespace weft_io_test;

// ---- plain threads ----

void echo_until_eof(tcp_stream& s) {
  char b[256];
  for (;;) {
    const std::size_t n = s.read(b, sizeof b);
    if (n == 0) return;
    s.write(std::string_view(b, n));
  }
}

long ping_pong(tcp_stream& c, long rounds) {
  long ok = 0;
  for (long i = 0; i < rounds; i++) {
    const char out = static_cast<char>(i & 0x7f);
    write_byte(c, out);
    char in = 0;
    if (c.read(&in, 1) == 1 && in == out) ok++;
  }
  return ok;
}

TEST_F(io_threads, ping_pong_from_plain_threads_without_a_runtime) {
  const long rounds = scaled(2000);
  auto l = tcp_listener::bind("127.0.0.1:0");
  const std::string addr = loopback(l.local_port());
  constexpr int kClients = 4;
  std::thread server([&l] {
    std::vector<std::thread> conns;
    for (int i = 0; i < kClients; i++)
      conns.emplace_back([s = l.accept()]() mutable { echo_until_eof(s); });
    for (auto& t : conns) t.join();
  });
  std::vector<long> ok(kClients, 0);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; i++)
    clients.emplace_back([&, i] {
      auto c = tcp_stream::connect(addr);
      ok[static_cast<std::size_t>(i)] = ping_pong(c, rounds);
    });
  for (auto& t : clients) t.join();
  server.join();
  for (long v : ok) EXPECT_EQ(v, rounds);
}

TEST_F(io_threads, deadlines_and_close_from_plain_threads) {
  auto l = tcp_listener::bind("127.0.0.1:0");
  auto c = tcp_stream::connect(loopback(l.local_port()));
  auto s = l.accept();
  char b = 0;
  c.set_read_deadline(clk::now() + 30ms);
  EXPECT_TIMEOUT(outcome([&] { c.read(&b, 1); }));
  EXPECT_TIMEOUT(outcome([&] { c.read(&b, 1); }));
  c.set_read_deadline({});
  s.write("z");
  EXPECT_EQ(read_exact(c, 1), "z");
  // A deadline moved earlier while a thread blocks in read.
  c.set_read_deadline(clk::now() + 60s);
  io_result moved;
  std::thread t1([&] { moved = outcome([&] { c.read(&b, 1); }); });
  std::this_thread::sleep_for(20ms);
  c.set_read_deadline(clk::now() + 20ms);
  t1.join();
  EXPECT_TIMEOUT(moved);
  c.set_read_deadline({});
  // close from another thread wakes a thread blocked in read and one
  // blocked in write on a full buffer.
  shrink_buffers(c, s);
  io_result rd, wr;
  std::thread reader([&] { rd = outcome([&] { c.read(&b, 1); }); });
  std::thread writer([&] { wr = outcome([&] { c.write(big_payload()); }); });
  std::this_thread::sleep_for(50ms);
  const auto t0 = clk::now();
  c.close();
  reader.join();
  writer.join();
  EXPECT_LT(clk::now() - t0, 5s);
  EXPECT_ERRC(rd, bad_file_descriptor);
  EXPECT_ERRC(wr, bad_file_descriptor);
  // And an accept deadline, then close waking a thread in accept.
  l.set_deadline(clk::now() + 20ms);
  EXPECT_TIMEOUT(outcome([&] { l.accept(); }));
  l.set_deadline({});
  io_result ac;
  std::thread acceptor([&] { ac = outcome([&] { l.accept(); }); });
  std::this_thread::sleep_for(20ms);
  l.close();
  acceptor.join();
  EXPECT_ERRC(ac, bad_file_descriptor);
}

TEST_F(io_threads, fd_watch_and_udp_from_plain_threads) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  {
    fd_watch watch(fds[0]);
    std::thread t([w = fds[1]] {
      std::this_thread::sleep_for(20ms);
      [[maybe_unused]] const ssize_t n = ::write(w, "t", 1);
    });
    char b = 0;
    while (::read(fds[0], &b, 1) != 1) watch.wait_readable(clk::now() + 10s);
    t.join();
    EXPECT_EQ(b, 't');
    EXPECT_TIMEOUT(outcome([&] { watch.wait_readable(clk::now() + 20ms); }));
    io_result r;
    std::thread waiter([&] { r = outcome([&] { watch.wait_readable(); }); });
    std::this_thread::sleep_for(20ms);
    watch.cancel();
    waiter.join();
    EXPECT_ERRC(r, bad_file_descriptor);
  }
  ::close(fds[0]);
  ::close(fds[1]);

  auto a = udp_socket::bind("127.0.0.1:0");
  auto u = udp_socket::bind("127.0.0.1:0");
  std::thread t([&] { a.send_to("dgram", u.local_address()); });
  char buf[16];
  std::string from;
  u.set_read_deadline(clk::now() + 10s);
  const std::size_t n = u.recv_from(buf, sizeof buf, &from);
  t.join();
  EXPECT_EQ(std::string(buf, n), "dgram");
  EXPECT_EQ(from, a.local_address());
}

// Sockets are not tied to a runtime: opened on a plain thread, used by
// fibers in one runtime, by plain threads after it, and by fibers in a
// second runtime (a new epoll set: registered again).
TEST_F(io_threads, sockets_outlive_a_runtime_and_move_between_models) {
  auto l = tcp_listener::bind("127.0.0.1:0");
  auto c = tcp_stream::connect(loopback(l.local_port()));
  auto s = l.accept();
  auto round_trips = [&](int n) {
    std::thread echo([&s, n] {
      char b;
      for (int i = 0; i < n && s.read(&b, 1) == 1; i++) write_byte(s, b);
    });
    const long ok = ping_pong(c, n);
    echo.join();
    return ok;
  };
  EXPECT_EQ(round_trips(50), 50);
  for (unsigned workers : {2u, 1u}) {
    run(
        [&] {
          auto echo = spawn([&s] {
            char b;
            for (int i = 0; i < 50 && s.read(&b, 1) == 1; i++) write_byte(s, b);
          });
          EXPECT_EQ(ping_pong(c, 50), 50);
          echo.join();
          // Parked in this runtime's poller: a deadline and a late write.
          c.set_read_deadline(clk::now() + 20ms);
          char b;
          EXPECT_TIMEOUT(outcome([&] { c.read(&b, 1); }));
          c.set_read_deadline({});
          auto late = spawn([&s] {
            sleep_for(10ms);
            s.write("L");
          });
          EXPECT_EQ(read_exact(c, 1), "L");
          late.join();
          auto c2 = tcp_stream::connect(loopback(l.local_port()));
          auto s2 = l.accept();
          EXPECT_TRUE(s2.is_open());
        },
        {.workers = workers, .on_deadlock = deadlock_action::throw_in_run});
    EXPECT_EQ(round_trips(50), 50) << "after a runtime of " << workers;
  }
}

// While a runtime runs: plain-thread clients of a fiber server, fiber
// clients of a plain-thread server, and a plain thread closing a stream a
// fiber is parked on.
TEST_F(io_threads, plain_threads_and_fibers_share_io_while_a_runtime_runs) {
  const long rounds = scaled(500);
  run(
      [&] {
        // Fiber server, thread clients.
        auto l = tcp_listener::bind("127.0.0.1:0");
        const std::string addr = loopback(l.local_port());
        constexpr int kThreads = 4;
        auto server = spawn([&l] {
          std::vector<task<void>> conns;
          for (int i = 0; i < kThreads; i++)
            conns.push_back(spawn([](tcp_stream s) { echo_until_eof(s); }, l.accept()));
          for (auto& t : conns) t.join();
        });
        std::vector<long> ok(kThreads, 0);
        std::vector<std::thread> clients;
        for (int i = 0; i < kThreads; i++)
          clients.emplace_back([&, i] {
            auto c = tcp_stream::connect(addr);
            ok[static_cast<std::size_t>(i)] = ping_pong(c, rounds);
          });

        // Thread server, fiber clients.
        auto tl = tcp_listener::bind("127.0.0.1:0");
        const std::string taddr = loopback(tl.local_port());
        std::thread tserver([&tl] {
          std::vector<std::thread> conns;
          for (int i = 0; i < 4; i++) conns.emplace_back([s = tl.accept()]() mutable { echo_until_eof(s); });
          for (auto& t : conns) t.join();
        });
        std::vector<task<long>> fclients;
        for (int i = 0; i < 4; i++)
          fclients.push_back(spawn([&taddr, rounds] {
            auto c = tcp_stream::connect(taddr);
            return ping_pong(c, rounds);
          }));
        for (auto& t : fclients) EXPECT_EQ(t.join(), rounds);

        // A plain thread closes a stream a fiber is parked on.
        auto p = connect_pair();
        std::atomic<bool> in_read{false};
        auto reader = spawn([&] {
          in_read = true;
          return outcome([&] {
            char b;
            p.client.read(&b, 1);
          });
        });
        while (!in_read.load()) yield();
        sleep_for(20ms);
        std::thread closer([&p] { p.client.close(); });
        EXPECT_ERRC(reader.join(), bad_file_descriptor);

        // On one stream at once: a fiber parked in read, a plain thread
        // blocked writing (the peer drains slowly), and a plain thread
        // moving the fiber's deadline earlier.
        auto q = connect_pair();
        q.client.set_read_deadline(clk::now() + 60s);
        std::atomic<bool> q_in_read{false};
        auto q_reader = spawn([&] {
          q_in_read = true;
          return outcome([&] {
            char b;
            q.client.read(&b, 1);
          });
        });
        while (!q_in_read.load()) yield();
        io_result thread_write;
        // More than default loopback buffers hold (shrunk ones would crawl:
        // a 4 KiB receive window waits on TCP's persist timer).
        static const std::string huge(16 << 20, 'h');
        std::thread writer([&q, &thread_write] { thread_write = outcome([&q] { q.client.write(huge); }); });
        auto drain = spawn([&q] {
          std::size_t got = 0;
          char b[4096];
          while (got < huge.size()) {
            const std::size_t n = q.server.read(b, sizeof b);
            if (n == 0) break;
            got += n;
            if (got % 16 == 0) yield();
          }
          return got;
        });
        sleep_for(20ms);
        std::thread mover([&q] { q.client.set_read_deadline(clk::now() + 10ms); });
        EXPECT_TIMEOUT(q_reader.join());
        EXPECT_EQ(drain.join(), huge.size());

        blocking([&] {
          closer.join();
          writer.join();
          mover.join();
          for (auto& t : clients) t.join();
          tserver.join();
        });
        server.join();
        for (long v : ok) EXPECT_EQ(v, rounds);
        EXPECT_NO_ERROR(thread_write);
      },
      {.workers = 2, .on_deadlock = deadlock_action::throw_in_run});
}

}  // namespace
