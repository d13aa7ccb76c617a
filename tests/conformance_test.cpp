// Go conformance: scenarios of Go's own channel tests re-expressed for weft.
// Adapted from src/runtime/chan_test.go of the Go project (Copyright The Go
// Authors, BSD-style licence); names follow the Go tests they come from.
// Each runs on 1, 2, 4 and 8 workers; several mix fibers and threads.

#include <atomic>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace weft;
using namespace std::chrono_literals;
using weft::test::scaled;

class go_chan : public weft::test::workers {};

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

// TestSelectDuplicateChannel: the same channel in two cases of one select.
TEST_P(go_chan, TestSelectDuplicateChannel) {
  run(
      [] {
        auto a = make_chan<int>(), c = make_chan<int>(), d = make_chan<int>();
        auto e = make_chan<int>(9);
        go([&] {
          select(on_recv(a, [](std::optional<int>) {}), on_recv(a, [](std::optional<int>) {}),
                 on_recv(d, [](std::optional<int>) {}));
          e.send(9);
        });
        sleep_for(1ms);  // let the select register on a twice
        go([c] { c.recv(); });
        sleep_for(1ms);
        d.send(7);  // wake the select
        c.send(8);  // the unrelated channel still works
        EXPECT_EQ(e.recv(), std::optional<int>(9));
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

INSTANTIATE_TEST_SUITE_P(workers, go_chan, WEFT_WORKER_COUNTS);

}  // namespace
