// Go conformance: scenarios of Go's own channel tests re-expressed for weft.
// Adapted from the Go project (Copyright The Go Authors, BSD-style licence):
// src/runtime/chan_test.go (tests named Test*, as in Go) and the programs of
// test/chan/ (tests named after the file). Each runs on 1, 2, 4 and 8
// workers; most also run with plain threads as partners, or a mix.
// The happens-before cases of Go's race-detector tests are in
// conformance_race_test.cpp.
//
// Not ported, as not applicable to weft: TestChanSendInterface (interface
// values), TestShrinkStackDuringBlockedSend, TestNoShrinkStackWhileParking
// and TestSelectStackAdjust (weft stacks never move or shrink);
// test/chan/perm.go, sendstmt.go and select8.go (compile-time and syntax
// rules), zerosize.go (no zero-size objects in C++), powser1/2.go.

#include <malloc.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace weft;
using namespace std::chrono_literals;
using weft::test::scaled;

class go_chan : public weft::test::workers {};

// Runs f as a fiber, or as a plain thread, until join() or destruction.
// A thread is made known to the deadlock detector before the constructor
// returns: one that has not touched weft yet is invisible to it
// (docs/scheduler.md), and under load its start can take longer than the
// detector's grace period while every fiber waits for it.
class partner {
 public:
  template <class F>
  partner(bool thread, F f) {
    if (thread) {
      std::atomic<bool> started{false};
      thread_ = std::thread([&started, f = std::move(f)]() mutable {
        (void)chan<char>().try_recv();  // any weft call registers the thread
        started = true;
        f();
      });
      while (!started.load()) std::this_thread::yield();  // the worker stays busy: no detector
    } else {
      task_ = spawn(std::move(f));
    }
  }
  partner(partner&&) = default;
  ~partner() { join(); }
  void join() {
    if (thread_.joinable()) blocking([this] { thread_.join(); });
    if (task_.valid()) task_.join();
  }

 private:
  std::thread thread_;
  task<void> task_;
};

// TestChan: per capacity, the basic blocking rules, close and len/cap.
TEST_P(go_chan, TestChan) {
  run(
      [] {
        for (std::size_t cap : {0, 1, 2, 3, 4, 16}) {
          // Receive from an empty channel blocks.
          {
            auto c = make_chan<int>(cap);
            std::atomic<bool> recv1{false}, recv2{false};
            go([&, c] {
              c.recv();
              recv1 = true;
            });
            go([&, c] {
              select(on_recv(c, [](std::optional<int>) {}));
              recv2 = true;
            });
            sleep_for(2ms);
            EXPECT_FALSE(recv1.load() || recv2.load()) << "chan[" << cap << "]: receive from empty chan";
            c.send(0);  // release the receivers
            c.send(0);
            while (!recv1.load() || !recv2.load()) sleep_for(100us);
          }
          // Non-blocking receive does not block.
          {
            auto c = make_chan<int>(cap);
            EXPECT_FALSE(c.try_recv().has_value());
            bool dflt = false;
            select(on_recv(c, [](std::optional<int>) {}), otherwise([&] { dflt = true; }));
            EXPECT_TRUE(dflt);
          }
          // Send does not block while the buffer has room; then it does.
          {
            auto c = make_chan<int>(cap);
            std::atomic<int> sent{0};
            go([&, c] {
              for (std::size_t i = 0; i < cap + 1; i++) {
                c.send(static_cast<int>(i));
                sent++;
              }
            });
            // Go sleeps a fixed time here; on a loaded machine (sanitizers,
            // CI) the sender may not have run yet, so wait for it to fill
            // the buffer, then give it time to (wrongly) send once more.
            for (int spins = 0; sent.load() < static_cast<int>(cap) && spins < 20'000; spins++) sleep_for(100us);
            sleep_for(2ms);
            EXPECT_EQ(sent.load(), static_cast<int>(cap)) << "chan[" << cap << "]: send to full chan";
            c.recv();
            while (sent.load() != static_cast<int>(cap) + 1) sleep_for(100us);
          }
          // Close: buffered values first (in order), then zero values, not ok.
          {
            auto c = make_chan<int>(cap);
            for (std::size_t i = 0; i < cap; i++) c.send(static_cast<int>(i));
            c.close();
            for (std::size_t i = 0; i < cap; i++) EXPECT_EQ(c.recv(), std::optional<int>(static_cast<int>(i)));
            EXPECT_EQ(c.recv(), std::nullopt);
            EXPECT_EQ(c.try_recv(), std::nullopt);
          }
          // Close unblocks a receiver.
          {
            auto c = make_chan<int>(cap);
            auto t = spawn([c] { return c.recv(); });
            sleep_for(1ms);
            c.close();
            EXPECT_EQ(t.join(), std::nullopt);
          }
          // FIFO across a producer and a consumer.
          {
            auto c = make_chan<int>(cap);
            go([c] {
              for (int i = 0; i < 100; i++) c.send(i);
            });
            for (int i = 0; i < 100; i++) EXPECT_EQ(c.recv(), std::optional<int>(i));
          }
          // len and cap.
          {
            auto c = make_chan<int>(cap);
            EXPECT_EQ(c.size(), 0u);
            EXPECT_EQ(c.capacity(), cap);
            for (std::size_t i = 0; i < cap; i++) c.send(static_cast<int>(i));
            EXPECT_EQ(c.size(), cap);
          }
        }
      },
      opts());
}

// TestNonblockRecvRace: a non-blocking receive racing with close still sees
// the buffered value.
TEST_P(go_chan, TestNonblockRecvRace) {
  const int n = static_cast<int>(scaled(10000));
  run(
      [n] {
        for (int i = 0; i < n; i++) {
          auto c = make_chan<int>(1);
          c.send(1);
          go([c] {
            // Ready either way: the value is buffered, or the chan is closed.
            select(on_recv(c, [](std::optional<int>) {}), otherwise([] { ADD_FAILURE() << "chan is not ready"; }));
          });
          c.close();
          c.recv();
        }
      },
      opts());
}

// TestSelfSelect: two fibers each selecting on sending to and receiving from
// the same channel never receive their own value.
TEST_P(go_chan, TestSelfSelect) {
  run(
      [] {
        for (std::size_t cap : {std::size_t{0}, std::size_t{10}}) {
          auto c = make_chan<int>(cap);
          wait_group wg;
          for (int p = 0; p < 2; p++) {
            wg.add(1);
            go([&, c, p] {
              for (int i = 0; i < 1000; i++) {
                if ((p == 0) == (i % 2 == 0)) {
                  select(on_send(c, p, [] {}), on_recv(c, [&](std::optional<int> v) {
                           if (cap == 0) {
                             EXPECT_NE(*v, p) << "self receive";
                           }
                         }));
                } else {
                  select(on_recv(c, [&](std::optional<int> v) {
                           if (cap == 0) {
                             EXPECT_NE(*v, p) << "self receive";
                           }
                         }),
                         on_send(c, p, [] {}));
                }
              }
              wg.done();
            });
          }
          wg.wait();
        }
      },
      opts());
}

// TestPseudoRandomSend: a select with two send cases on one channel picks
// each about half the time.
TEST_P(go_chan, TestPseudoRandomSend) {
  run(
      [] {
        constexpr int n = 100;
        for (std::size_t cap : {std::size_t{0}, std::size_t{n}}) {
          auto c = make_chan<int>(cap);
          std::vector<int> got;
          auto reader = spawn([c, &got] {
            for (int i = 0; i < n; i++) got.push_back(*c.recv());
          });
          for (int i = 0; i < n; i++) select(on_send(c, 1, [] {}), on_send(c, 0, [] {}));
          reader.join();
          int ones = 0;
          for (int v : got) ones += v;
          EXPECT_GT(ones, n / 10) << "want pseudorandom, got " << ones << " ones of " << n;
          EXPECT_LT(ones, n - n / 10) << "want pseudorandom, got " << ones << " ones of " << n;
        }
      },
      opts());
}

// TestSelectDuplicateChannel: a fiber queued twice on one channel (two
// cases of one select), then woken through a third case, must leave that
// channel's queue intact for the fiber queued after it. The fibers hold
// their own handles: one captured by reference could be destroyed by main
// while the fiber is still inside send (found by TSan).
TEST_P(go_chan, TestSelectDuplicateChannel) {
  run(
      [] {
        auto c = make_chan<int>(), d = make_chan<int>(), e = make_chan<int>();
        go([c, d, e] {  // A
          select(on_recv(c, [](std::optional<int>) {}), on_recv(c, [](std::optional<int>) {}),
                 on_recv(d, [](std::optional<int>) {}));
          e.send(9);
        });
        sleep_for(1ms);                            // A is queued on c first
        auto b = spawn([c] { return c.recv(); });  // B
        sleep_for(1ms);                            // B is queued on c after A
        d.send(7);                                 // wakes A, which leaves c's queue
        EXPECT_EQ(e.recv(), std::optional<int>(9));
        c.send(8);  // wakes B (a corrupted queue would wake the running A)
        EXPECT_EQ(b.join(), std::optional<int>(8));
      },
      opts());
}

// TestMultiConsumer: many producers and consumers over one buffered channel,
// fibers and threads, every value once (sum and count).
TEST_P(go_chan, TestMultiConsumer) {
  constexpr int nwork = 23, niter = 271828;
  const int iters = static_cast<int>(scaled(niter));
  run(
      [iters] {
        auto q = make_chan<int>(nwork * 3);
        auto r = make_chan<int>(nwork * 3);
        wait_group wg;
        for (int i = 0; i < nwork; i++) {
          wg.add(1);
          auto body = [&wg, q, r] {
            for (auto v : q) r.send(1 + 0 * v);
            wg.done();
          };
          if (i % 3 == 0)
            std::thread(body).detach();  // a third of the consumers are threads
          else
            go(body);
        }
        long expect = 0;
        std::atomic<long> n{0}, s{0};
        auto collector = spawn([&, r] {
          for (auto v : r) {
            n++;
            s += v;
          }
        });
        for (int i = 0; i < iters; i++) {
          q.send(1);
          expect++;
        }
        q.close();
        wg.wait();
        r.close();
        collector.join();
        EXPECT_EQ(n.load(), iters);
        EXPECT_EQ(s.load(), expect);
      },
      opts());
}

// TestNonblockSelectRace: select acts on the channels' state at one moment,
// not over a smeared window. From the moment the selector starts, c1 or c2
// is always ready, so its non-blocking select never takes the default.
// Every 64th selector is a plain thread. (Before 71b138f weft took the
// default a few times in 20,000; see also
// go_chan_regression.nonblocking_select_sees_one_moment.)
TEST_P(go_chan, TestNonblockSelectRace) {
  const int n = static_cast<int>(scaled(10000));
  run(
      [n] {
        auto done = make_chan<bool>(1);
        int defaults = 0;
        for (int i = 0; i < n; i++) {
          auto c1 = make_chan<int>(1), c2 = make_chan<int>(1);
          c1.send(1);
          partner selector(i % 64 == 0, [c1, c2, done] {
            bool ready = true;
            select(on_recv(c1, [] {}), on_recv(c2, [] {}), otherwise([&] { ready = false; }));
            done.send(ready);
          });
          c2.send(1);
          select(on_recv(c1, [] {}), otherwise([] {}));
          if (!*done.recv()) defaults++;
        }
        EXPECT_EQ(defaults, 0) << "no chan was ready in " << defaults << " of " << n << " selects";
      },
      opts());
}

// TestNonblockSelectRace2: the same, with close(c2) in place of c2 <- 1.
TEST_P(go_chan, TestNonblockSelectRace2) {
  const int n = static_cast<int>(scaled(10000));
  run(
      [n] {
        auto done = make_chan<bool>(1);
        int defaults = 0;
        for (int i = 0; i < n; i++) {
          auto c1 = make_chan<int>(1), c2 = make_chan<int>();
          c1.send(1);
          partner selector(i % 64 == 0, [c1, c2, done] {
            bool ready = true;
            select(on_recv(c1, [] {}), on_recv(c2, [] {}), otherwise([&] { ready = false; }));
            done.send(ready);
          });
          c2.close();
          select(on_recv(c1, [] {}), otherwise([] {}));
          if (!*done.recv()) defaults++;
        }
        EXPECT_EQ(defaults, 0) << "no chan was ready in " << defaults << " of " << n << " selects";
      },
      opts());
}

// TestSelectStress: on two unbuffered channels and two buffered ones (2 and
// 3), a sender and a receiver of N values each, plus one fiber sending N on
// every channel from a single select and one receiving N from every channel
// from a single select; a case's channel becomes nil once it has done its N.
// All of it interacts chaotically and must not deadlock. The plain senders
// and receivers of the buffered channels are threads.
TEST_P(go_chan, TestSelectStress) {
  const int n = static_cast<int>(scaled(20000));
  run(
      [n] {
        const std::array<chan<int>, 4> c{make_chan<int>(), make_chan<int>(), make_chan<int>(2), make_chan<int>(3)};
        std::vector<partner> ps;
        for (std::size_t k = 0; k < 4; k++) {
          ps.emplace_back(k >= 2, [ck = c[k], n] {
            for (int i = 0; i < n; i++) ck.send(0);
          });
          ps.emplace_back(k >= 2, [ck = c[k], n] {
            for (int i = 0; i < n; i++) ck.recv();
          });
        }
        ps.emplace_back(false, [c, n] {
          auto c1 = c;
          std::array<int, 4> done{};
          static constexpr std::array<std::size_t, 4> chan_of{3, 2, 0, 1};  // case index -> channel
          for (int i = 0; i < 4 * n; i++) {
            const std::size_t k = chan_of[select(on_send(c1[3], 0, [] {}), on_send(c1[2], 0, [] {}),
                                                 on_send(c1[0], 0, [] {}), on_send(c1[1], 0, [] {}))];
            if (++done[k] == n) c1[k] = chan<int>();
          }
        });
        ps.emplace_back(false, [c, n] {
          auto c1 = c;
          std::array<int, 4> done{};
          for (int i = 0; i < 4 * n; i++) {
            const std::size_t k =
                select(on_recv(c1[0], [] {}), on_recv(c1[1], [] {}), on_recv(c1[2], [] {}), on_recv(c1[3], [] {}));
            if (++done[k] == n) c1[k] = chan<int>();
          }
        });
        for (auto& p : ps) p.join();
      },
      opts());
}

// TestSelectFairness: a select over two always-ready buffered channels and
// two never-ready unbuffered ones picks each ready one about half the time:
// more than 10 sigma off is a failure, as in Go. The selecting side runs as
// a fiber (10,000 trials as in Go), then as a thread (2,000: each trial is
// a handoff between a thread and a fiber); a fifth of that under sanitizers.
TEST_P(go_chan, TestSelectFairness) {
  run(
      [] {
        for (bool thread : {false, true}) {
          const int trials = (thread ? 2000 : 10000) / (weft::test::kSanitized ? 5 : 1);
          auto c1 = make_chan<char>(static_cast<std::size_t>(trials) + 1),
               c2 = make_chan<char>(static_cast<std::size_t>(trials) + 1);
          for (int i = 0; i < trials + 1; i++) {
            c1.send(1);
            c2.send(2);
          }
          auto c3 = make_chan<char>(), c4 = make_chan<char>();
          auto out = make_chan<char>(), done = make_chan<char>();
          partner selector(thread, [=] {
            for (;;) {
              char b = 0;
              auto take = [&](std::optional<char> v) { b = *v; };
              select(on_recv(c3, take), on_recv(c4, take), on_recv(c1, take), on_recv(c2, take));
              if (select(on_send(out, b, [] {}), on_recv(done, [] {})) == 1) return;
            }
          });
          int cnt1 = 0, cnt2 = 0;
          for (int i = 0; i < trials; i++) {
            const char b = *out.recv();
            if (b == 1)
              cnt1++;
            else if (b == 2)
              cnt2++;
            else
              ADD_FAILURE() << "unexpected value " << int{b} << " on channel";
          }
          const double mean = trials * 0.5, stddev = std::sqrt(trials * 0.5 * (1 - 0.5));
          EXPECT_LE(std::abs(cnt1 - mean), 10 * stddev)
              << "unfair select: in " << trials << " trials, results were " << cnt1 << ", " << cnt2;
          done.close();
        }
      },
      opts());
}

// test/chan/select.go: every case's value is evaluated on entry to select,
// also for cases on a nil channel; a case whose channel is set to nil is
// never chosen again; default runs once nothing is ready.
TEST_P(go_chan, test_chan_select) {
  run(
      [] {
        unsigned counter = 0, shift = 0;
        auto get_value = [&] {
          counter++;
          return 1u << shift;
        };
        auto send = [&](chan<unsigned> a, chan<unsigned> b) {
          int i = 0;
          for (;;) {
            const std::size_t k =
                select(on_send(a, get_value(), [] {}), on_send(b, get_value(), [] {}), otherwise([] {}));
            if (k == 2) break;
            i++;
            (k == 0 ? a : b) = chan<unsigned>();
            shift++;
          }
          return i;
        };
        auto a = make_chan<unsigned>(1), b = make_chan<unsigned>(1);
        EXPECT_EQ(send(a, b), 2);
        EXPECT_EQ(*a.recv() | *b.recv(), 3u) << "bad values";
        EXPECT_EQ(send(a, chan<unsigned>()), 1);
        EXPECT_EQ(counter, 10u);
      },
      opts());
}

// test/chan/select2.go: selects do not consume undue memory. After a
// warm-up round, a second round of 100,000 selects (one ready case, one
// never ready) grows the heap in use by less than 110 kB. Heap figures
// come from glibc's mallinfo2, which sanitizer runtimes do not feed.
TEST_P(go_chan, test_chan_select2) {
  if (weft::test::kSanitized) GTEST_SKIP() << "mallinfo2 sees no allocations under sanitizers";
  run(
      [] {
        auto c = make_chan<int>(), dummy = make_chan<int>();
        auto round = [&] {
          auto sender = spawn([c] {
            for (int i = 0; i < 100000; i++) c.send(1);
          });
          for (int i = 0; i < 100000; i++) select(on_recv(c, [] {}), on_recv(dummy, [] { ADD_FAILURE() << "dummy"; }));
          sender.join();
        };
        round();
        const auto before = static_cast<long>(mallinfo2().uordblks);
        round();
        const auto after = static_cast<long>(mallinfo2().uordblks);
        EXPECT_LT(after - before, 110000) << "too much memory for 100,000 selects";
      },
      opts());
}

// test/chan/select3.go: which operations block and which throw (Go panics).
// Nil channels block forever and are never ready in select; an empty select
// blocks forever; a closed channel is always ready to receive (no value);
// sending to it, directly or in select, throws; a select with a default or
// a ready case does not block; a select that only sees itself blocks.
// The blocking candidates run together in fibers: none may finish within
// 50 ms (they are cancelled when main returns); the others must finish.
TEST_P(go_chan, test_chan_select3) {
  run(
      [] {
        chan<int> nilch;
        auto closedch = make_chan<int>();
        closedch.close();
        auto unreachable = [] { ADD_FAILURE() << "control flow shouldn't reach here"; };
        auto unreachable_v = [](std::optional<int>) { ADD_FAILURE() << "control flow shouldn't reach here"; };

        std::vector<std::function<void()>> always_block{
            [=] { nilch.send(7); },
            [=] { nilch.recv(); },
            [=] { make_chan<int>().recv(); },
            [] {  // select {}
              std::vector<select_case> none;
              select(none);
            },
            [=] { select(on_recv(nilch, unreachable_v)); },
            [=] { select(on_send(nilch, 7, unreachable)); },
            [=] { select(on_recv(nilch, unreachable_v), on_send(nilch, 7, unreachable)); },
            [=] { select(on_recv(make_chan<int>(), unreachable_v)); },
            [] {  // select should not get confused if it sees itself
              auto c = make_chan<int>();
              select(on_send(c, 1, [] {}), on_recv(c, [] {}));
            },
        };
        std::vector<std::function<void()>> never_block{
            [=] { make_chan<int>(1).send(7); },
            [=] {
              for (int i = 0; i < 10; i++) {
                EXPECT_EQ(closedch.recv(), std::nullopt) << "expected no value from a closed channel";
              }
            },
            [] { select(otherwise([] {})); },
            [=] { select(on_recv(nilch, unreachable_v), otherwise([] {})); },
            [=] { select(on_send(nilch, 7, unreachable), otherwise([] {})); },
            [=] { select(on_send(make_chan<int>(1), 7, [] {}), otherwise(unreachable)); },
            [=] {
              auto ch = make_chan<int>(1);
              ch.send(7);
              select(on_recv(ch, [](std::optional<int> v) { EXPECT_EQ(v, 7); }), otherwise(unreachable));
            },
            [=] { select(on_recv(closedch, [](std::optional<int> v) { EXPECT_EQ(v, std::nullopt); })); },
        };
        std::vector<std::shared_ptr<std::atomic<bool>>> blocked_done, free_done;
        for (auto& f : always_block) {
          auto d = std::make_shared<std::atomic<bool>>(false);
          blocked_done.push_back(d);
          go([f, d] {
            f();
            *d = true;
          });
        }
        for (auto& f : never_block) {
          auto d = std::make_shared<std::atomic<bool>>(false);
          free_done.push_back(d);
          go([f, d] {
            f();
            *d = true;
          });
        }
        sleep_for(50ms);
        for (std::size_t i = 0; i < blocked_done.size(); i++)
          EXPECT_FALSE(blocked_done[i]->load()) << "case " << i << " should block but did not";
        for (std::size_t i = 0; i < free_done.size(); i++) {
          for (int t = 0; t < 5000 && !free_done[i]->load(); t++) sleep_for(1ms);
          EXPECT_TRUE(free_done[i]->load()) << "case " << i << " should not block but did";
        }

        // Nil-channel cases are never selected; closed-channel sends throw.
        select(on_send(nilch, 7, unreachable), otherwise([] {}));
        select(on_recv(nilch, unreachable_v), otherwise([] {}));
        EXPECT_THROW(closedch.send(7), channel_closed);
        EXPECT_THROW(select(on_send(closedch, 7, [] {})), channel_closed);
      },
      opts());
}

// test/chan/select5.go (which generates every shape of a simple select) and
// select4.go (a ready case proceeds; the other case's effects never
// happen): the one real operation on a buffered channel of one, sending or
// receiving, sits at every position among never-ready cases on an
// unbuffered channel and on a nil channel (send and receive each), with and
// without a default; it must run, and nothing else. With no real case, the
// default runs. Runtime-sized select, then the variadic form with the
// default first and last.
TEST_P(go_chan, test_chan_select5) {
  run(
      [] {
        auto c = make_chan<int>(1), dummy = make_chan<int>();
        chan<int> nilch;
        int n = 1;
        for (unsigned extras = 0; extras < 16; extras++) {
          const int nextras = __builtin_popcount(extras);
          for (int real = 0; real < 3; real++) {  // receive, send, none
            for (bool dflt : {false, true}) {
              if (real == 2 && !dflt) continue;
              for (int pos = 0; pos <= (real == 2 ? 0 : nextras); pos++) {
                int x = 0;
                bool wrong = false;
                auto never = [&] { wrong = true; };
                std::vector<select_case> cases;
                auto add_real = [&] {
                  if (real == 0) cases.push_back(select_case::recv(c, [&](std::optional<int> v) { x = *v; }));
                  if (real == 1) cases.push_back(select_case::send(c, n, [] {}));
                };
                int k = 0;
                for (unsigned bit = 0; bit < 4; bit++) {
                  if ((extras & (1u << bit)) == 0) continue;
                  if (k++ == pos) add_real();
                  if (bit == 0) cases.push_back(select_case::send(dummy, 1, never));
                  if (bit == 1) cases.push_back(select_case::recv(dummy, never));
                  if (bit == 2) cases.push_back(select_case::send(nilch, 1, never));
                  if (bit == 3) cases.push_back(select_case::recv(nilch, never));
                }
                if (k == pos) add_real();
                if (real == 0) c.send(n);
                std::optional<std::size_t> r;
                if (dflt)
                  r = try_select(cases);
                else
                  r = select(cases);
                if (real == 1) x = *c.recv();
                EXPECT_FALSE(wrong) << "a never-ready case ran (extras " << extras << ")";
                if (real == 2) {
                  EXPECT_EQ(r, std::nullopt) << "extras " << extras;
                } else {
                  EXPECT_EQ(r, std::optional<std::size_t>(static_cast<std::size_t>(pos))) << "extras " << extras;
                  EXPECT_EQ(x, n) << "extras " << extras << " real " << real << " pos " << pos;
                }
                n++;
              }
            }
          }
        }
        // The variadic form, default before and after the cases.
        bool dflt = false;
        c.send(n);
        int x = 0;
        EXPECT_EQ(select(otherwise([&] { dflt = true; }), on_send(dummy, 1, [] {}),
                         on_recv(c, [&](std::optional<int> v) { x = *v; }), on_recv(nilch, [] {})),
                  2u);
        EXPECT_EQ(x, n);
        EXPECT_EQ(select(on_recv(nilch, [] {}), on_send(c, n + 1, [] {}), on_recv(dummy, [] {}),
                         otherwise([&] { dflt = true; })),
                  1u);
        EXPECT_EQ(c.recv(), std::optional<int>(n + 1));
        EXPECT_EQ(select(otherwise([] {}), on_send(nilch, 1, [] {}), on_recv(dummy, [] {})), 0u);
        EXPECT_EQ(select(on_send(dummy, 1, [] {}), on_recv(nilch, [] {}), otherwise([] {})), 2u);
        EXPECT_FALSE(dflt);
      },
      opts());
}

// test/chan/select6.go (Go issue 2075): a select that lost on c1 while
// another receiver also waited there must leave c1's queue intact, so that
// both later receives on c1 are served. Fibers, then threads as partners.
TEST_P(go_chan, test_chan_select6) {
  run(
      [] {
        for (bool thread : {false, true}) {
          auto c1 = make_chan<bool>(), c2 = make_chan<bool>(), c3 = make_chan<bool>();
          partner a(thread, [c1] { c1.recv(); });
          partner b(false, [c1, c2, c3] {
            select(on_recv(c1, [] { ADD_FAILURE() << "dummy"; }), on_recv(c2, [&] { c3.send(true); }));
            c1.recv();
          });
          partner d(thread, [c2] { c2.send(true); });
          c3.recv();
          c1.send(true);
          c1.send(true);
        }
      },
      opts());
}

// test/chan/select7.go: a received value may be discarded, by a plain
// receive or by a select of one or two cases, whatever form the sender
// uses. Receivers are fibers, then threads.
TEST_P(go_chan, test_chan_select7) {
  run(
      [] {
        using op = void (*)(chan<int>);
        const op recvs[] = {
            [](chan<int> c) { c.recv(); },
            [](chan<int> c) { select(on_recv(c, [] {})); },
            [](chan<int> c) { select(on_recv(c, [] {}), on_recv(make_chan<int>(), [] {})); },
        };
        const op sends[] = {
            [](chan<int> c) { c.send(1); },
            [](chan<int> c) { select(on_send(c, 1, [] {})); },
            [](chan<int> c) { select(on_send(c, 1, [] {}), on_send(make_chan<int>(), 1, [] {})); },
        };
        for (bool thread : {false, true})
          for (op recv : recvs)
            for (op send : sends) {
              auto c = make_chan<int>();
              partner r(thread, [recv, c] { recv(c); });
              yield();
              send(c);
            }
      },
      opts());
}

// test/chan/nonblock.go: non-blocking sends and receives on channels of
// several element types, unbuffered and with a buffer of one. On an empty
// channel a non-blocking receive fails; retried (up to 10,000 times, with
// short sleeps) it succeeds once a partner fiber or thread is there; so
// does a non-blocking send.
template <class T>
void nonblock_case(std::size_t buffer, const T& mine, const T& theirs, bool thread) {
  constexpr int max_tries = 10000;
  auto pause = [] {
    sleep_for(20us);
    yield();
  };
  auto c = make_chan<T>(buffer);
  auto sync = make_chan<bool>();
  EXPECT_EQ(select(on_recv(c, [](std::optional<T>) { ADD_FAILURE() << "blocked sender"; }), otherwise([] {})), 1u);

  partner receiver(thread, [c, sync, mine] {
    EXPECT_EQ(c.recv(), std::optional<T>(mine)) << "receiver value";
    sync.send(true);
  });
  for (int tries = 0; select(on_send(c, mine, [] {}), otherwise([] {})) != 0; tries++) {
    ASSERT_LT(tries, max_tries) << "receiver, buffer " << buffer;
    pause();
  }
  sync.recv();
  receiver.join();

  partner sender(thread, [c, sync, theirs] {
    c.send(theirs);
    sync.send(true);
  });
  if (buffer > 0) sync.recv();
  std::optional<T> got;
  for (int tries = 0; select(on_recv(c, [&](std::optional<T> v) { got = std::move(v); }), otherwise([] {})) != 0;
       tries++) {
    ASSERT_LT(tries, max_tries) << "sender, buffer " << buffer;
    pause();
  }
  EXPECT_EQ(got, std::optional<T>(theirs)) << "sender value";
  if (buffer == 0) sync.recv();
}

TEST_P(go_chan, test_chan_nonblock) {
  run(
      [] {
        for (bool thread : {false, true})
          for (std::size_t buffer : {0, 1}) {
            nonblock_case<std::int32_t>(buffer, 123, 234, thread);
            nonblock_case<std::int64_t>(buffer, 123456, 234567, thread);
            nonblock_case<bool>(buffer, true, true, thread);
            nonblock_case<std::string>(buffer, "hello", "hello again", thread);
          }
      },
      opts());
}

// test/chan/doubleselect.go: one sender selects over four unbuffered
// channels; four forwarders (two of them threads) pass the values on to one
// channel; the receiver sees every value exactly once: no select case ran
// twice (Go CL 180068) and none was lost.
TEST_P(go_chan, test_chan_doubleselect) {
  const int n = static_cast<int>(scaled(100000));
  run(
      [n] {
        const std::array<chan<int>, 4> c{make_chan<int>(), make_chan<int>(), make_chan<int>(), make_chan<int>()};
        auto cmux = make_chan<int>();
        auto done = make_chan<bool>();
        go([c, n] {
          for (int i = 0; i < n; i++)
            select(on_send(c[0], i, [] {}), on_send(c[1], i, [] {}), on_send(c[2], i, [] {}), on_send(c[3], i, [] {}));
          for (auto& ch : c) ch.close();
        });
        std::vector<partner> muxes;
        for (std::size_t k = 0; k < 4; k++)
          muxes.emplace_back(k % 2 == 1, [in = c[k], cmux, done] {
            for (int v : in) cmux.send(v);
            done.send(true);
          });
        go([done, cmux] {
          for (int k = 0; k < 4; k++) done.recv();
          cmux.close();
        });
        std::vector<char> seen(static_cast<std::size_t>(n), 0);
        int duplicates = 0, received = 0;
        for (int v : cmux) {
          if (seen[static_cast<std::size_t>(v)]++ != 0) duplicates++;
          received++;
        }
        EXPECT_EQ(duplicates, 0) << "got duplicate values";
        EXPECT_EQ(received, n);
      },
      opts());
}

// test/chan/fifo.go: a buffered channel is a FIFO; and receivers queued one
// after another on an unbuffered channel (a daisy chain of fibers, every
// fourth a thread, each waiting for its predecessor) get the values in
// order.
TEST_P(go_chan, test_chan_fifo) {
  constexpr int n = 100;
  run(
      [] {
        auto ach = make_chan<int>(n);
        for (int i = 0; i < n; i++) ach.send(i);
        for (int i = 0; i < n; i++) EXPECT_EQ(ach.recv(), std::optional<int>(i)) << "bad receive";

        auto ch = make_chan<int>();
        auto in = make_chan<int>();
        auto start = in;
        std::vector<partner> chain;
        for (int i = 0; i < n; i++) {
          auto out = make_chan<int>();
          chain.emplace_back(i % 4 == 3, [ch, i, in, out] {
            in.recv();
            EXPECT_EQ(ch.recv(), std::optional<int>(i));
            out.send(1);
          });
          in = out;
        }
        start.send(0);
        for (int i = 0; i < n; i++) ch.send(i);
        in.recv();
      },
      opts());
}

// test/chan/goroutines.go: many fibers (10,000 as in Go; 100 under
// sanitizers, where each fiber is costly) threaded together by unbuffered
// channels, each passing one value from its right to its left; torn down
// cleanly.
TEST_P(go_chan, test_chan_goroutines) {
  const int n = static_cast<int>(weft::test::kSanitized ? scaled(1000) : scaled(10000));
  run(
      [n] {
        auto leftmost = make_chan<int>();
        auto left = leftmost, right = leftmost;
        for (int i = 0; i < n; i++) {
          right = make_chan<int>();
          go([left, right] { left.send(*right.recv()); });
          left = right;
        }
        go([right] { right.send(1); });
        EXPECT_EQ(leftmost.recv(), std::optional<int>(1));
      },
      opts());
}

constexpr std::array<int, 25> kPrimes{2,  3,  5,  7,  11, 13, 17, 19, 23, 29, 31, 37, 41,
                                      43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97};

// test/chan/sieve1.go: the prime sieve as a daisy chain of filter fibers.
// The generator and filters run forever; they are cancelled when main
// returns.
TEST_P(go_chan, test_chan_sieve1) {
  run(
      [] {
        auto primes = make_chan<int>();
        go([primes] {
          auto ch = make_chan<int>();
          go([ch] {
            for (int i = 2;; i++) ch.send(i);
          });
          for (;;) {
            const int prime = *ch.recv();
            primes.send(prime);
            auto ch1 = make_chan<int>();
            go([ch, ch1, prime] {
              for (int i : ch)
                if (i % prime != 0) ch1.send(i);
            });
            ch = ch1;
          }
        });
        for (int p : kPrimes) EXPECT_EQ(primes.recv(), std::optional<int>(p));
      },
      opts());
}

// test/chan/sieve2.go: an Eratosthenes sieve over odd candidates that
// merges channels of multiples through a heap, with a proxy fiber that
// buffers without bound by selecting between its input and an output case
// disabled (nil) while it holds nothing.
TEST_P(go_chan, test_chan_sieve2) {
  run(
      [] {
        auto odds = [] {
          auto out = make_chan<int>(50);
          go([out] {
            for (int n = 5;; n += 2) out.send(n);
          });
          return out;
        };
        auto multiples = [](int p) {
          auto out = make_chan<int>(10);
          go([out, p] {
            for (int n = p * p;; n += 2 * p) out.send(n);
          });
          return out;
        };
        auto sendproxy = [](chan<int> out) {
          auto proxy = make_chan<int>(10);
          go([proxy, out] {
            std::deque<int> held;
            for (;;) {
              const chan<int> c = held.empty() ? chan<int>() : out;  // nil: output disabled
              const int e = held.empty() ? 0 : held.front();
              select(on_recv(proxy, [&](std::optional<int> v) { held.push_back(*v); }),
                     on_send(c, e, [&] { held.pop_front(); }));
            }
          });
          return proxy;
        };

        auto out = make_chan<int>(10);
        out.send(2);
        out.send(3);
        auto composites = make_chan<int>(50);  // in increasing order
        auto primes = make_chan<int>(10);      // the feedback loop
        primes.send(3);

        go([=] {  // merges the multiples of each prime into composites
          struct peek {
            int head;
            chan<int> ch;
          };
          auto later = [](const peek& a, const peek& b) { return a.head > b.head; };
          std::vector<peek> heap;
          auto next_of_min = [&] {  // the smallest head, refilled from its channel
            std::pop_heap(heap.begin(), heap.end(), later);
            peek& p = heap.back();
            const int min = p.head;
            p.head = *p.ch.recv();
            std::push_heap(heap.begin(), heap.end(), later);
            return min;
          };
          int min = 15;
          for (;;) {
            auto m = multiples(*primes.recv());
            const int head = *m.recv();
            while (min < head) {
              composites.send(min);
              min = next_of_min();
            }
            while (min == head) min = next_of_min();
            composites.send(head);
            heap.push_back({*m.recv(), m});
            std::push_heap(heap.begin(), heap.end(), later);
          }
        });

        go([=] {  // sieves the composites out of the candidates
          auto proxied = sendproxy(primes);
          auto candidates = odds();
          int p = *candidates.recv();
          for (;;) {
            const int c = *composites.recv();
            for (; p < c; p = *candidates.recv()) {
              proxied.send(p);
              out.send(p);
            }
            if (p == c) p = *candidates.recv();
          }
        });

        for (int p : kPrimes) EXPECT_EQ(out.recv(), std::optional<int>(p));
      },
      opts());
}

INSTANTIATE_TEST_SUITE_P(workers, go_chan, WEFT_WORKER_COUNTS);

// Regression (found by TestNonblockSelectRace, fixed in 71b138f), with two
// plain threads and no runtime. c1 holds a value; then, at the same moment,
// the selector runs select { case <-c1: case <-c2: default: } while main
// makes c2 ready (send, or close) and only afterwards empties c1. At every
// instant c1 or c2 is ready, so the default must never run. Polling the
// cases one channel lock at a time took it when it saw c2 before main's
// send and c1 after main's receive (7 and 20 times in 200,000 rounds of
// this test before the fix). Main's start is staggered a little to move it
// across the selector's window; both sides spin, yielding only after a
// while (the machine may have fewer cores than busy threads).
TEST(go_chan_regression, nonblocking_select_sees_one_moment) {
  const int n = static_cast<int>(scaled(50000));
  for (bool close : {false, true}) {
    std::atomic<int> round{0}, done{0};
    chan<int> c1, c2;
    int defaults = 0;
    std::thread selector([&] {
      for (int i = 1; i <= n; i++) {
        for (int k = 0; round.load() != i; k++)
          if (k > 1000) std::this_thread::yield();
        bool ready = true;
        select(on_recv(c1, [] {}), on_recv(c2, [] {}), otherwise([&] { ready = false; }));
        defaults += ready ? 0 : 1;
        done.store(i);
      }
    });
    for (int i = 1; i <= n; i++) {
      c1 = make_chan<int>(1);
      c2 = make_chan<int>(close ? 0 : 1);
      c1.send(1);
      round.store(i);  // go
      std::atomic<int> spin{0};
      while (spin.fetch_add(1, std::memory_order_relaxed) < (i * 7919) % 400) {
      }
      if (close)
        c2.close();
      else
        c2.send(1);
      (void)c1.try_recv();
      for (int k = 0; done.load() != i; k++)
        if (k > 1000) std::this_thread::yield();
    }
    selector.join();
    EXPECT_EQ(defaults, 0) << (close ? "close(c2)" : "c2 <- 1") << ": default taken in " << defaults << " of " << n
                           << " selects, though c1 or c2 was always ready";
  }
}

}  // namespace
