// weft::io from fibers: endings. 3: close wakes every parked fiber with an
// error and the fd number is not reused under a call in flight; 9:
// half-close, peer close, EPIPE without SIGPIPE; 10: fd exhaustion is an
// error the server survives; then fibers parked in I/O when main returns,
// and the deadlock detector staying quiet for fibers waiting on I/O.

#include "io_test_util.hpp"

namespace {

using namespace weft_io_test;

// ---- 3. close wakes every parked fiber; no fd reuse under a call in flight ----

TEST_P(io_fibers, close_wakes_every_fiber_parked_on_the_stream_with_an_error) {
  run(
      [] {
        auto p = connect_pair();
        shrink_buffers(p.client, p.server);
        constexpr int kReaders = 4;
        wait_group started;
        started.add(kReaders + 1);
        std::vector<task<io_result>> ts;
        // Readers (they queue: one parks in the poller, the rest behind it).
        for (int i = 0; i < kReaders; i++)
          ts.push_back(spawn([&] {
            started.done();
            return outcome([&] {
              char b[16];
              p.client.read(b, sizeof b);
            });
          }));
        // A writer parked on a full buffer: the peer never reads.
        ts.push_back(spawn([&] {
          started.done();
          return outcome([&] { p.client.write(big_payload()); });
        }));
        started.wait();
        sleep_for(50ms);  // time to park: close must wake fibers already parked
        const auto t0 = clk::now();
        p.client.close();
        for (auto& t : ts) EXPECT_ERRC(t.join(), bad_file_descriptor);
        EXPECT_LT(clk::now() - t0, 5s) << "close did not wake its waiters promptly";
        // And on the listener: close wakes a parked acceptor.
        auto l = tcp_listener::bind("127.0.0.1:0");
        auto acceptor = spawn([&] { return outcome([&] { l.accept(); }); });
        sleep_for(10ms);
        l.close();
        EXPECT_ERRC(acceptor.join(), bad_file_descriptor);
      },
      opts());
}

// A fiber is parked in read; another closes the stream and at once opens
// new sockets (likely to get the same fd number) with data ready on them.
// The parked reader gets EBADF, never the new socket's bytes.
TEST_P(io_fibers, close_under_a_parked_read_never_hands_it_a_reused_fds_data) {
  const long iters = scaled(200);
  std::atomic<long> wrong{0};
  run(
      [&] {
        auto l = tcp_listener::bind("127.0.0.1:0");
        for (long it = 0; it < iters; it++) {
          auto p = connect_pair(l);
          std::atomic<bool> in_read{false};
          auto reader = spawn([&] {
            std::size_t n = 0;
            char buf[64];
            const io_result r = outcome([&] {
              in_read = true;
              n = p.server.read(buf, sizeof buf);
            });
            return std::make_pair(r, n);
          });
          while (!in_read.load()) yield();
          if (it % 2 == 0) yield();
          else sleep_for(200us);
          const int old_fd = p.server.native_handle();
          p.server.close();
          std::vector<stream_pair> fresh;
          for (int k = 0; k < 3; k++) {
            fresh.push_back(connect_pair(l));
            fresh.back().client.write("WRONG");
            fresh.back().server.write("WRONG");
          }
          const auto [r, n] = reader.join();
          if (n != 0) wrong++;
          EXPECT_EQ(n, 0u) << "iteration " << it << ": read data after close (fd " << old_fd << ")";
          EXPECT_ERRC(r, bad_file_descriptor);
          if (n != 0 || !(r.ec == std::errc::bad_file_descriptor)) break;
        }
      },
      opts());
  EXPECT_EQ(wrong.load(), 0);
}

// close() racing with calls at every stage (entering, in the syscall,
// parking, parked), from a fiber or from a plain thread: every call ends,
// with data, EOF or an error, never a hang or a crash (ASan: no
// use-after-free of the deferred close).
TEST_P(io_fibers, close_racing_with_calls_in_flight_ends_every_call) {
  const long iters = scaled(200);
  std::atomic<long> ended{0};
  run(
      [&] {
        auto l = tcp_listener::bind("127.0.0.1:0");
        for (long it = 0; it < iters; it++) {
          auto p = connect_pair(l);
          std::vector<task<void>> calls;
          for (int k = 0; k < 3; k++)
            calls.push_back(spawn([&] {
              (void)outcome([&] {
                char b[64];
                for (;;)
                  if (p.server.read(b, sizeof b) == 0) return;
              });
              ended++;
            }));
          calls.push_back(spawn([&] {
            (void)outcome([&] {
              for (;;) p.server.write(std::string_view("0123456789abcdef"));
            });
            ended++;
          }));
          calls.push_back(spawn([&] {  // the peer keeps both directions busy
            (void)outcome([&] {
              char b[4096];
              for (int i = 0; i < 1000; i++) {
                p.client.write("x");
                if (p.client.read(b, sizeof b) == 0) return;
              }
            });
            ended++;
          }));
          for (long y = 0; y < it % 7; y++) yield();
          if (it % 3 == 0) {
            std::thread closer([&p] { p.server.close(); });
            blocking([&] { closer.join(); });
          } else {
            p.server.close();
          }
          for (auto& t : calls) t.join();
          p.client.close();
        }
      },
      opts());
  EXPECT_EQ(ended.load(), iters * 5);
}

// ---- 9. half-close, peer close, EPIPE without SIGPIPE ----

TEST_P(io_fibers, half_close_the_peer_reads_eof_and_can_still_write_back) {
  run(
      [] {
        auto p = connect_pair();
        p.client.write("request");
        p.client.shutdown_write();
        EXPECT_EQ(read_to_eof(p.server), "request");
        EXPECT_EQ(read_exact(p.server, 1), "") << "EOF is sticky";
        p.server.write("response");
        p.server.close();
        EXPECT_EQ(read_to_eof(p.client), "response");
        // Writing after our own shutdown_write is EPIPE.
        EXPECT_TRUE(is_reset_or_pipe(outcome([&] { p.client.write("late"); })));

        // shutdown_write while another fiber is parked reading the same
        // stream: the read goes on and gets the peer's answer.
        auto q = connect_pair();
        std::atomic<bool> in_read{false};
        auto reader = spawn([&] {
          in_read = true;
          std::byte b[8];
          const std::size_t n = q.client.read(std::span<std::byte>(b));
          return std::string(reinterpret_cast<const char*>(b), n);
        });
        while (!in_read.load()) yield();
        sleep_for(10ms);
        q.client.shutdown_write();
        EXPECT_EQ(read_to_eof(q.server), "");
        const std::byte answer[] = {std::byte{'o'}, std::byte{'k'}};
        q.server.write(std::span<const std::byte>(answer));
        EXPECT_EQ(reader.join(), "ok");
      },
      opts());
}

TEST_P(io_fibers, peer_close_while_parked_in_read_returns_eof_or_reset) {
  run(
      [] {
        // Clean close: FIN, the parked read returns 0.
        {
          auto p = connect_pair();
          std::atomic<bool> in_read{false};
          auto reader = spawn([&] {
            in_read = true;
            std::size_t n = 99;
            const io_result r = outcome([&] {
              char b;
              n = p.client.read(&b, 1);
            });
            return std::make_pair(r, n);
          });
          while (!in_read.load()) yield();
          sleep_for(10ms);
          p.server.close();
          const auto [r, n] = reader.join();
          EXPECT_NO_ERROR(r);
          EXPECT_EQ(n, 0u);
        }
        // Close with unread data: RST; the parked read returns 0 or ECONNRESET.
        {
          auto p = connect_pair();
          p.client.write("unread");
          sleep_for(5ms);
          std::atomic<bool> in_read{false};
          auto reader = spawn([&] {
            in_read = true;
            std::size_t n = 99;
            const io_result r = outcome([&] {
              char b;
              n = p.client.read(&b, 1);
            });
            return std::make_pair(r, n);
          });
          while (!in_read.load()) yield();
          sleep_for(10ms);
          p.server.close();
          const auto [r, n] = reader.join();
          if (r) EXPECT_ERRC(r, connection_reset);
          else EXPECT_EQ(n, 0u);
        }
        // A writer parked on a full buffer is woken by the peer's close.
        {
          auto p = connect_pair();
          shrink_buffers(p.client, p.server);
          std::atomic<bool> in_write{false};
          auto writer = spawn([&] {
            in_write = true;
            return outcome([&] { p.client.write(big_payload()); });
          });
          while (!in_write.load()) yield();
          sleep_for(20ms);
          p.server.close();
          const io_result r = writer.join();
          EXPECT_TRUE(is_reset_or_pipe(r)) << r.ec.message();
        }
      },
      opts());
}

class sigpipe_default {
 public:
  sigpipe_default() {
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &sa, &old_);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    ::pthread_sigmask(SIG_UNBLOCK, &s, &old_mask_);
  }
  ~sigpipe_default() {
    ::sigaction(SIGPIPE, &old_, nullptr);
    ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  sigpipe_default(const sigpipe_default&) = delete;
  sigpipe_default& operator=(const sigpipe_default&) = delete;

 private:
  struct sigaction old_ {};
  sigset_t old_mask_{};
};

// With SIGPIPE's default disposition (it would kill the process), writing
// to a closed peer is a std::system_error EPIPE or ECONNRESET, from fibers
// and from a plain thread.
TEST_P(io_fibers, writing_to_a_closed_peer_throws_epipe_or_reset_and_raises_no_sigpipe) {
  sigpipe_default sp;  // the workers inherit the calling thread's mask
  run(
      [] {
        auto write_until_error = [](tcp_stream& s) {
          const std::string chunk(64 << 10, 'p');
          for (int i = 0; i < 500; i++) {
            const io_result r = outcome([&] { s.write(chunk); });
            if (r) return r;
            sleep_for(1ms);
          }
          return io_result{};
        };
        auto p = connect_pair();
        p.server.close();
        const io_result r = write_until_error(p.client);
        EXPECT_TRUE(is_reset_or_pipe(r)) << (r ? r.ec.message() : "no error after 500 writes");
        // Keeps failing, still without a signal.
        EXPECT_TRUE(is_reset_or_pipe(outcome([&] { p.client.write("again"); })));

        auto q = connect_pair();
        q.server.close();
        io_result tr;
        std::thread t([&] {
          sigpipe_default tsp;
          tr = write_until_error(q.client);
        });
        blocking([&] { t.join(); });
        EXPECT_TRUE(is_reset_or_pipe(tr)) << (tr ? tr.ec.message() : "no error after 500 writes");
      },
      opts());
}

// ---- 10. fd exhaustion ----

class nofile_limit {
 public:
  explicit nofile_limit(rlim_t soft) {
    ::getrlimit(RLIMIT_NOFILE, &old_);
    rlimit r = old_;
    r.rlim_cur = std::min(soft, old_.rlim_max);
    ok_ = ::setrlimit(RLIMIT_NOFILE, &r) == 0;
  }
  ~nofile_limit() { ::setrlimit(RLIMIT_NOFILE, &old_); }
  nofile_limit(const nofile_limit&) = delete;
  nofile_limit& operator=(const nofile_limit&) = delete;
  bool ok() const { return ok_; }

 private:
  rlimit old_{};
  bool ok_ = false;
};

// With the soft fd limit 64 above what is open: clients connect until
// socket() fails with EMFILE; accept then throws EMFILE (the connections
// wait in the backlog); once some client fds are closed the server accepts
// again and serves every waiting connection (the closed ones read as EOF).
TEST_P(io_fibers, fd_exhaustion_is_an_error_the_server_survives) {
  run(
      [] {
        auto l = tcp_listener::bind("127.0.0.1:0");
        const std::string addr = loopback(l.local_port());
        { auto warm = connect_pair(l); }  // the poller and its fds exist
        // UBSan's vptr check tests an object's memory with a pipe the first
        // time it meets a dynamic type; at the fd limit that pipe fails and
        // it reports a bogus "invalid vptr". Meet every type the checks
        // below use (the exception, its error category) while fds are free.
        EXPECT_ERRC(outcome([] { throw std::system_error(EMFILE, std::generic_category()); }), too_many_files_open);
        // The limit bounds fd numbers, and new fds take the lowest free
        // ones: put it where 64 numbers below it are free (fds open above
        // it, say inherited ones, stay usable).
        const auto fds = open_fds();
        const std::set<int> used(fds.begin(), fds.end());
        int limit = 0;
        for (int free_below = 0; free_below < 64; limit++)
          if (used.count(limit) == 0) free_below++;
        std::vector<tcp_stream> clients;
        nofile_limit lim(static_cast<rlim_t>(limit));
        ASSERT_TRUE(lim.ok());
        bool client_emfile = false;
        for (int i = 0; i < 300 && !client_emfile; i++) {
          const io_result r = outcome([&] {
            auto c = tcp_stream::connect(addr);
            char tag[9];
            std::snprintf(tag, sizeof tag, "%08d", i);
            c.write(std::string_view(tag, 8));
            clients.push_back(std::move(c));
          });
          if (r) {
            EXPECT_ERRC(r, too_many_files_open);
            client_emfile = true;
          }
        }
        ASSERT_TRUE(client_emfile) << "the limit was never reached";
        ASSERT_GT(clients.size(), 16u);
        // Every connection waits in the backlog; no fd to accept it into.
        for (int i = 0; i < 2; i++) {
          const auto t0 = clk::now();
          EXPECT_ERRC(outcome([&] { l.accept(); }), too_many_files_open);
          EXPECT_LT(clk::now() - t0, 5s);
        }
        // Free 8 fds by closing the newest clients.
        std::size_t live = clients.size() - 8;
        for (std::size_t k = live; k < clients.size(); k++) clients[k].close();
        const std::size_t connected = clients.size();
        std::size_t served = 0, accepted = 0;
        while (accepted < connected) {
          auto s = l.accept();
          accepted++;
          const std::string tag = read_exact(s, 8);
          const std::size_t id = static_cast<std::size_t>(std::strtol(tag.c_str(), nullptr, 10));
          if (tag.size() == 8 && id < live) {
            s.write("ok");
            EXPECT_EQ(read_exact(clients[id], 2), "ok");
            clients[id].close();
            served++;
          }
        }
        EXPECT_EQ(served, live);
      },
      opts());
}

// ---- shutdown and the deadlock detector ----

TEST_P(io_fibers, fibers_parked_in_io_when_main_returns_are_cancelled_and_unwound) {
  static std::atomic<int> destroyed{0}, started{0}, wrong_error{0};
  struct guard {
    explicit guard(wait_group& all_started) {
      started++;
      all_started.done();
    }
    ~guard() { destroyed++; }
  };
  destroyed = 0;
  started = 0;
  wrong_error = 0;
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC), 0);
  constexpr int kFibers = 4 + 4 + 1 + 1 + 1;
  run(
      [&] {
        auto l = std::make_shared<tcp_listener>(tcp_listener::bind("127.0.0.1:0"));
        auto ps = std::make_shared<std::vector<stream_pair>>();
        for (int i = 0; i < 4; i++) ps->push_back(connect_pair(*l));
        auto full = std::make_shared<stream_pair>(connect_pair(*l));  // before the acceptors take l
        shrink_buffers(full->client, full->server);
        auto u = std::make_shared<udp_socket>(udp_socket::bind("127.0.0.1:0"));
        auto w = std::make_shared<fd_watch>(pipe_fds[0]);
        auto all_started = std::make_shared<wait_group>();
        all_started->add(kFibers);
        for (int i = 0; i < 4; i++) go([l, all_started] {
            guard g(*all_started);
            try {
              l->accept();
            } catch (const std::system_error&) {
              wrong_error++;
            }
          });
        for (std::size_t i = 0; i < 4; i++) go([ps, i, all_started] {
            guard g(*all_started);
            try {
              char b;
              (*ps)[i].server.read(&b, 1);
            } catch (const std::system_error&) {
              wrong_error++;
            }
          });
        go([u, all_started] {
          guard g(*all_started);
          try {
            char b[8];
            u->recv_from(b, sizeof b);
          } catch (const std::system_error&) {
            wrong_error++;
          }
        });
        go([full, all_started] {
          guard g(*all_started);
          try {
            full->client.write(big_payload());  // parked: the peer never reads
          } catch (const std::system_error&) {
            wrong_error++;
          }
        });
        go([w, all_started] {
          guard g(*all_started);
          try {
            w->wait_readable();
          } catch (const std::system_error&) {
            wrong_error++;
          }
        });
        all_started->wait();
        EXPECT_EQ(started.load(), kFibers);
        sleep_for(10ms);  // time to park: cancellation must unwind fibers parked in I/O
      },
      opts());
  EXPECT_EQ(destroyed.load(), kFibers) << "every fiber parked in I/O unwound";
  EXPECT_EQ(wrong_error.load(), 0) << "cancellation must unwind with fiber_cancelled";
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

// Starts `shell -c script` with its stdout on stdout_fd (if >= 0); returns
// its pid, or -1.
pid_t spawn_shell(const char* shell, const std::string& script, int stdout_fd) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (stdout_fd >= 0) posix_spawn_file_actions_adddup2(&fa, stdout_fd, 1);
  const char* argv[] = {shell, "-c", script.c_str(), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, shell, &fa, nullptr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

int reap(pid_t pid) {
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    sleep_for(1ms);
  }
}

// A fiber parked on a socket is not asleep. First the detector's reaction
// time is taken on a fiber parked on a channel nobody will send on (it must
// fire); then main parks on a socket whose data a child process writes only
// after twice that time (the shell's stdout is the socket's other end: no
// plain thread in this process keeps the detector quiet, and main waits on
// nothing else). The detector must stay silent, and the data wake main.
TEST_P(io_fibers, a_fiber_waiting_on_a_socket_is_not_a_deadlock) {
  clk::time_point t0;
  bool fired = false;
  try {
    run(
        [&t0] {
          auto never = make_chan<int>();
          t0 = clk::now();
          never.recv();
        },
        opts());
  } catch (const deadlock_error&) {
    fired = true;
  }
  const clk::duration fire = clk::now() - t0;
  ASSERT_TRUE(fired) << "a fiber parked for good on a channel is a deadlock";

  const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(2 * fire);
  const std::string script =
      "sleep " + std::to_string(delay.count() / 1000) + "." + std::to_string(1000 + delay.count() % 1000).substr(1) +
      "; echo x";
  clk::duration parked{};
  EXPECT_NO_THROW(run(
      [&] {
        auto p = connect_pair();
        const pid_t pid = spawn_shell("/bin/sh", script, p.server.native_handle());
        ASSERT_GT(pid, 0);
        const auto start = clk::now();
        EXPECT_EQ(read_exact(p.client, 2), "x\n");
        parked = clk::now() - start;
        EXPECT_EQ(reap(pid), 0);
      },
      opts()));
  EXPECT_GT(parked, fire) << "main was parked on the socket for longer than the detector took to fire ("
                          << script << ")";
}

// No plain thread at all: the outside world is a child process that
// writes 300 ms later (to a pipe for fd_watch; over TCP with bash's
// /dev/tcp to a listener main is parked in accept on).
TEST_P(io_fibers, a_fiber_waiting_on_the_outside_world_is_not_a_deadlock) {
  EXPECT_NO_THROW(run(
      [] {
        int fds[2];
        ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
        const pid_t pid = spawn_shell("/bin/sh", "sleep 0.3; echo x", fds[1]);
        ::close(fds[1]);
        ASSERT_GT(pid, 0);
        {
          fd_watch watch(fds[0]);
          char b = 0;
          for (;;) {
            const ssize_t n = ::read(fds[0], &b, 1);
            if (n == 1) break;
            ASSERT_TRUE(n < 0 && errno == EAGAIN) << "n=" << n;
            watch.wait_readable();
          }
          EXPECT_EQ(b, 'x');
        }
        ::close(fds[0]);
        EXPECT_EQ(reap(pid), 0);

        if (::access("/bin/bash", X_OK) != 0) return;  // no /dev/tcp without bash
        auto l = tcp_listener::bind("127.0.0.1:0");
        const pid_t pid2 = spawn_shell(
            "/bin/bash", "sleep 0.3; echo hi >/dev/tcp/127.0.0.1/" + std::to_string(l.local_port()), -1);
        ASSERT_GT(pid2, 0);
        auto s = l.accept();
        EXPECT_EQ(read_to_eof(s), "hi\n");
        EXPECT_EQ(reap(pid2), 0);
      },
      opts()));
}

INSTANTIATE_TEST_SUITE_P(workers, io_fibers, WEFT_WORKER_COUNTS);

}  // namespace
