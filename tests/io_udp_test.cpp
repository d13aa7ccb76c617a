// weft::io from fibers: UDP, addresses (IPv6, names) and misuse.

#include "io_test_util.hpp"

namespace {

using namespace weft_io_test;

// ---- addresses, UDP, misuse ----

void udp_round_trip(const std::string& bind_addr) {
  auto a = udp_socket::bind(bind_addr);
  auto b = udp_socket::bind(bind_addr);
  EXPECT_NE(a.local_port(), 0);
  auto echo = spawn([&b] {
    char buf[64];
    std::string from;
    b.set_read_deadline(clk::now() + 10s);
    const std::size_t n = b.recv_from(buf, sizeof buf, &from);
    b.send_to(std::string_view(buf, n), from);
    return from;
  });
  a.send_to("ping", b.local_address());
  char buf[64];
  std::string from;
  a.set_read_deadline(clk::now() + 10s);
  const std::size_t n = a.recv_from(buf, sizeof buf, &from);
  EXPECT_EQ(std::string(buf, n), "ping");
  EXPECT_EQ(from, b.local_address());
  EXPECT_EQ(echo.join(), a.local_address());
  // Truncated to the buffer.
  b.send_to("0123456789", a.local_address());
  EXPECT_EQ(a.recv_from(buf, 4), 4u);
  EXPECT_EQ(std::string(buf, 4), "0123");
  // A read deadline: fires with nothing to read, and a past one at once.
  a.set_read_deadline(clk::now() + 30ms);
  EXPECT_TIMEOUT(outcome([&] { a.recv_from(buf, sizeof buf); }));
  EXPECT_TIMEOUT(outcome([&] { a.recv_from(buf, sizeof buf); }));
  a.set_read_deadline({});
  // A past write deadline fails send_to at once; cleared, it sends again.
  a.set_write_deadline(clk::now() - 1s);
  EXPECT_TIMEOUT(outcome([&] { a.send_to("late", b.local_address()); }));
  a.set_write_deadline({});
  a.send_to("again", b.local_address());
  b.set_read_deadline(clk::now() + 10s);
  EXPECT_EQ(b.recv_from(buf, sizeof buf), 5u);
  // close wakes a parked receiver.
  auto waiter = spawn([&a] {
    return outcome([&a] {
      char c[8];
      a.recv_from(c, sizeof c);
    });
  });
  sleep_for(10ms);
  a.close();
  EXPECT_ERRC(waiter.join(), bad_file_descriptor);
}

TEST_P(io_fibers, udp_send_to_recv_from_round_trip_ipv4) {
  run([] { udp_round_trip("127.0.0.1:0"); }, opts());
}

TEST_P(io_fibers, udp_send_to_recv_from_round_trip_ipv6) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "::1 cannot be bound here";
  run([] { udp_round_trip("[::1]:0"); }, opts());
}

TEST_P(io_fibers, tcp_over_ipv6_loopback) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "::1 cannot be bound here";
  run(
      [] {
        auto l = tcp_listener::bind("[::1]:0");
        const std::string addr = "[::1]:" + std::to_string(l.local_port());
        EXPECT_EQ(l.local_address(), addr);
        auto c = tcp_stream::connect(addr);
        auto s = l.accept();
        EXPECT_EQ(c.remote_address(), addr);
        EXPECT_EQ(s.local_address(), addr);
        EXPECT_EQ(s.remote_address(), c.local_address());
        // TCP_NODELAY is on by default, as in Go; set_nodelay turns it off.
        int v = 0;
        socklen_t len = sizeof v;
        ASSERT_EQ(::getsockopt(c.native_handle(), IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
        EXPECT_NE(v, 0);
        c.set_nodelay(false);
        ASSERT_EQ(::getsockopt(c.native_handle(), IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
        EXPECT_EQ(v, 0);
        EXPECT_EQ(c.local_address().rfind("[::1]:", 0), 0u) << c.local_address();
        c.write("six");
        EXPECT_EQ(read_exact(s, 3), "six");
        s.write("back");
        EXPECT_EQ(read_exact(c, 4), "back");
      },
      opts());
}

TEST_P(io_fibers, localhost_resolves) {
  run(
      [] {
        auto l = tcp_listener::bind("127.0.0.1:0");
        const auto port = l.local_port();
        EXPECT_EQ(l.local_address(), loopback(port));
        // Tries each address in turn (::1 first, if it resolves so, is refused).
        auto c = tcp_stream::connect("localhost:" + std::to_string(port));
        auto s = l.accept();
        EXPECT_EQ(c.remote_address(), loopback(port));
        EXPECT_EQ(c.local_port(), std::stoi(s.remote_address().substr(s.remote_address().rfind(':') + 1)));
        c.write("hi");
        EXPECT_EQ(read_exact(s, 2), "hi");
        // A listener bound by name.
        auto l2 = tcp_listener::bind("localhost:0");
        EXPECT_NE(l2.local_port(), 0);
        auto c2 = tcp_stream::connect("localhost:" + std::to_string(l2.local_port()), 5s);
        auto s2 = l2.accept();
        EXPECT_TRUE(s2.is_open());
        // ":port" is every interface (dual-stack where IPv6 is there);
        // connect over loopback only.
        auto any = tcp_listener::bind(":0");
        const std::string port_s = std::to_string(any.local_port());
        std::vector<std::string> addrs{"127.0.0.1:" + port_s};
        if (ipv6_loopback_available()) addrs.push_back("[::1]:" + port_s);
        for (const auto& a : addrs) {
          auto c3 = tcp_stream::connect(a);
          auto s3 = any.accept();
          c3.write("d");
          EXPECT_EQ(read_exact(s3, 1), "d") << a;
        }
      },
      opts());
}

TEST_P(io_fibers, connect_refused_throws_econnrefused) {
  run(
      [] {
        std::uint16_t port;
        {
          auto l = tcp_listener::bind("127.0.0.1:0");
          port = l.local_port();
        }  // closed: nothing listens there now
        EXPECT_ERRC(outcome([&] { tcp_stream::connect(loopback(port)); }), connection_refused);
        const io_result r = outcome([&] { tcp_stream::connect(loopback(port), 5s); });
        EXPECT_ERRC(r, connection_refused);
        EXPECT_FALSE(r.timeout);
        // And a bound port cannot be bound again.
        auto l = tcp_listener::bind("127.0.0.1:0");
        EXPECT_ERRC(outcome([&] { tcp_listener::bind(loopback(l.local_port())); }), address_in_use);
      },
      opts());
}

TEST_P(io_fibers, using_a_closed_or_unconnected_socket_throws) {
  run(
      [] {
        char b[4];
        tcp_stream none;
        EXPECT_FALSE(none.is_open());
        EXPECT_FALSE(static_cast<bool>(none));
        EXPECT_TRUE(outcome([&] { none.read(b, sizeof b); }));
        EXPECT_TRUE(outcome([&] { none.write("x"); }));
        none.close();  // allowed

        auto p = connect_pair();
        EXPECT_TRUE(p.client.is_open());
        p.client.close();
        p.client.close();  // idempotent
        EXPECT_FALSE(p.client.is_open());
        EXPECT_ERRC(outcome([&] { p.client.read(b, sizeof b); }), bad_file_descriptor);
        EXPECT_ERRC(outcome([&] { p.client.write("x"); }), bad_file_descriptor);
        EXPECT_ERRC(outcome([&] { p.client.shutdown_write(); }), bad_file_descriptor);
        // The peer of the closed stream sees EOF.
        EXPECT_EQ(read_to_eof(p.server), "");
        // Moves leave the source closed.
        tcp_stream moved = std::move(p.server);
        EXPECT_FALSE(p.server.is_open());
        EXPECT_TRUE(moved.is_open());
        moved = tcp_stream{};  // move-assigning closes the old one
        EXPECT_FALSE(moved.is_open());
        // n == 0 returns 0 at once.
        auto q = connect_pair();
        EXPECT_EQ(q.client.read(b, 0), 0u);

        auto l = tcp_listener::bind("127.0.0.1:0");
        l.close();
        l.close();
        EXPECT_FALSE(l.is_open());
        EXPECT_ERRC(outcome([&] { l.accept(); }), bad_file_descriptor);
        tcp_listener lnone;
        EXPECT_TRUE(outcome([&] { lnone.accept(); }));

        auto u = udp_socket::bind("127.0.0.1:0");
        u.close();
        EXPECT_ERRC(outcome([&] { u.recv_from(b, sizeof b); }), bad_file_descriptor);
        EXPECT_ERRC(outcome([&] { u.send_to("x", "127.0.0.1:9"); }), bad_file_descriptor);
      },
      opts());
}

INSTANTIATE_TEST_SUITE_P(workers, io_fibers, WEFT_WORKER_COUNTS);

}  // namespace
