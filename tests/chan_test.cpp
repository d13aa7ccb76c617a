// Channels and select: Go's semantics, from fibers and from plain threads.
// Scenarios marked "Go:" re-express tests of Go's runtime/chan_test.go
// (The Go Authors, BSD licence) for weft.

#include <algorithm>
#include <atomic>
#include <memory>
#include <numeric>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace weft;
using namespace std::chrono_literals;
using weft::test::scaled;

class chan_test : public weft::test::workers {};

TEST_P(chan_test, unbuffered_is_a_rendezvous) {
  run(
      [] {
        auto c = make_chan<int>();
        std::atomic<bool> received{false};
        auto t = spawn([&] {
          sleep_for(20ms);
          received = true;
          return *c.recv();
        });
        c.send(7);  // returns only once the receiver has the value
        EXPECT_TRUE(received.load());
        EXPECT_EQ(t.join(), 7);
      },
      opts());
}

TEST_P(chan_test, buffered_is_fifo_with_exact_capacity) {
  run(
      [] {
        auto c = make_chan<int>(3);
        EXPECT_EQ(c.capacity(), 3u);
        EXPECT_TRUE(c.try_send(1));
        EXPECT_TRUE(c.try_send(2));
        EXPECT_TRUE(c.try_send(3));
        EXPECT_FALSE(c.try_send(4)) << "room for exactly 3";
        EXPECT_EQ(c.size(), 3u);
        EXPECT_EQ(*c.recv(), 1);
        EXPECT_EQ(*c.recv(), 2);
        EXPECT_EQ(*c.recv(), 3);
        EXPECT_FALSE(c.try_recv().has_value());
      },
      opts());
}

TEST_P(chan_test, try_send_on_unbuffered_needs_a_waiting_receiver) {
  run(
      [] {
        auto c = make_chan<int>();
        EXPECT_FALSE(c.try_send(1));
        auto t = spawn([c] { return *c.recv(); });
        while (!c.try_send(5)) yield();
        EXPECT_EQ(t.join(), 5);
      },
      opts());
}

TEST_P(chan_test, close_delivers_buffered_values_then_empty) {
  run(
      [] {
        auto c = make_chan<int>(4);
        c.send(1);
        c.send(2);
        c.close();
        EXPECT_EQ(c.recv(), std::optional<int>(1));
        EXPECT_EQ(c.recv(), std::optional<int>(2));
        EXPECT_EQ(c.recv(), std::nullopt);
        EXPECT_EQ(c.recv(), std::nullopt);
      },
      opts());
}

TEST_P(chan_test, close_wakes_all_blocked_receivers_and_senders) {
  run(
      [] {
        auto c = make_chan<int>();
        std::vector<task<bool>> rs, ss;
        for (int i = 0; i < 5; i++) rs.push_back(spawn([c] { return !c.recv().has_value(); }));
        auto d = make_chan<int>();
        for (int i = 0; i < 5; i++)
          ss.push_back(spawn([d] {
            try {
              d.send(1);
              return false;
            } catch (const channel_closed&) {
              return true;
            }
          }));
        sleep_for(20ms);
        c.close();
        d.close();
        for (auto& t : rs) EXPECT_TRUE(t.join());
        for (auto& t : ss) EXPECT_TRUE(t.join()) << "a sender blocked at close throws";
      },
      opts());
}

TEST_P(chan_test, misuse_throws) {
  run(
      [] {
        auto c = make_chan<int>(1);
        c.close();
        EXPECT_THROW(c.send(1), channel_closed);
        EXPECT_THROW((void)c.try_send(1), channel_closed);
        EXPECT_THROW(c.close(), channel_closed);
        chan<int> nil;
        EXPECT_THROW(nil.close(), channel_error);
        EXPECT_FALSE(nil.try_send(1));
        EXPECT_FALSE(nil.try_recv().has_value());
        EXPECT_EQ(nil.size(), 0u);
      },
      opts());
}

TEST_P(chan_test, range_for_until_closed) {
  run(
      [] {
        auto c = make_chan<int>(10);
        go([c] {
          for (int i = 0; i < 100; i++) c.send(i);
          c.close();
        });
        int sum = 0;
        for (int v : c) sum += v;
        EXPECT_EQ(sum, 4950);
      },
      opts());
}

TEST_P(chan_test, move_only_values) {
  run(
      [] {
        auto c = make_chan<std::unique_ptr<int>>(1);
        go([c] { c.send(std::make_unique<int>(3)); });
        auto v = c.recv();
        ASSERT_TRUE(v.has_value());
        EXPECT_EQ(**v, 3);
        auto p = std::make_unique<int>(4);
        EXPECT_TRUE(c.try_send(std::move(p)));
        EXPECT_EQ(p, nullptr);
        auto q = std::make_unique<int>(5);
        EXPECT_FALSE(c.try_send(std::move(q)));
        EXPECT_NE(q, nullptr) << "a failed try_send keeps the value";
        EXPECT_EQ(**c.recv(), 4);
      },
      opts());
}

TEST_P(chan_test, timed_forms) {
  run(
      [] {
        auto c = make_chan<int>();
        const auto t0 = std::chrono::steady_clock::now();
        EXPECT_FALSE(c.recv_for(20ms).has_value());
        EXPECT_FALSE(c.send_for(1, 20ms));
        EXPECT_GE(std::chrono::steady_clock::now() - t0, 40ms);
        go([c] { c.send(9); });
        EXPECT_EQ(c.recv_for(5s).to_optional(), std::optional<int>(9));
      },
      opts());
}

TEST_P(chan_test, threads_and_fibers_share_channels) {
  run(
      [] {
        auto to_thread = make_chan<int>();
        auto to_fiber = make_chan<int>();
        std::thread t([=] {
          for (auto v : to_thread) to_fiber.send(v * 10);
          to_fiber.close();
        });
        go([=] {
          for (int i = 1; i <= 100; i++) to_thread.send(i);
          to_thread.close();
        });
        long sum = 0;
        for (auto v : to_fiber) sum += v;
        t.join();
        EXPECT_EQ(sum, 50500);
      },
      opts());
}

// Many producers and consumers, fibers and threads mixed: every value
// arrives exactly once.
void mpmc(std::size_t cap, int producers, int consumers, long per_producer, bool threads) {
  auto c = make_chan<long>(cap);
  std::vector<std::atomic<int>> seen(static_cast<std::size_t>(producers * per_producer));
  auto done = make_chan<int>(static_cast<std::size_t>(consumers));
  auto start = [&](auto f) {
    if (threads)
      std::thread(f).detach();
    else
      go(f);
  };
  for (int p = 0; p < producers; p++)
    start([c, p, per_producer] {
      for (long i = 0; i < per_producer; i++) c.send(p * per_producer + i);
    });
  for (int k = 0; k < consumers; k++)
    start([c, done, &seen] {
      for (auto v : c) seen[static_cast<std::size_t>(v)]++;
      done.send(1);
    });
  // Producers are done once every value has been received; close after.
  long total = 0;
  while (total < producers * per_producer) {
    total = 0;
    for (auto& s : seen) total += s.load();
    sleep_for(1ms);
  }
  c.close();
  for (int k = 0; k < consumers; k++) done.recv();
  for (auto& s : seen) ASSERT_EQ(s.load(), 1);
}

// 4 producers x 4 consumers, 10^6 values per channel kind in CI (10^7 with
// WEFT_STRESS=long), on every worker count.
TEST_P(chan_test, stress_4x4_unbuffered_no_value_lost_or_duplicated) {
  const long per = scaled(1000000) / 4;
  run([per] { mpmc(0, 4, 4, per, false); }, opts());
}
TEST_P(chan_test, stress_4x4_buffered_no_value_lost_or_duplicated) {
  const long per = scaled(1000000) / 4;
  run([per] { mpmc(64, 4, 4, per, false); }, opts());
}
TEST_P(chan_test, stress_4x4_threads_and_fibers_no_value_lost_or_duplicated) {
  const long per = scaled(200000) / 4;
  run([per] { mpmc(16, 4, 4, per, true); }, opts());
}

TEST_P(chan_test, select_picks_a_ready_case) {
  run(
      [] {
        auto a = make_chan<int>(1), b = make_chan<int>(1);
        b.send(2);
        int got = 0;
        const auto i = select(on_recv(a, [&](std::optional<int> v) { got = *v; }),
                              on_recv(b, [&](std::optional<int> v) { got = *v; }));
        EXPECT_EQ(i, 1u);
        EXPECT_EQ(got, 2);
      },
      opts());
}

TEST_P(chan_test, select_default_runs_only_when_nothing_is_ready) {
  run(
      [] {
        auto a = make_chan<int>(1);
        bool dflt = false;
        EXPECT_EQ(select(on_recv(a, [](std::optional<int>) {}), otherwise([&] { dflt = true; })), 1u);
        EXPECT_TRUE(dflt);
        a.send(1);
        dflt = false;
        EXPECT_EQ(select(on_recv(a, [](std::optional<int>) {}), otherwise([&] { dflt = true; })), 0u);
        EXPECT_FALSE(dflt);
      },
      opts());
}

TEST_P(chan_test, select_blocks_then_exactly_one_case_wins) {
  run(
      [] {
        auto a = make_chan<int>(), b = make_chan<int>();
        go([a] { a.send(1); });
        go([b] { b.send(2); });
        int sum = 0;
        for (int k = 0; k < 2; k++)
          select(on_recv(a, [&](std::optional<int> v) { sum += *v; }),
                 on_recv(b, [&](std::optional<int> v) { sum += *v; }));
        EXPECT_EQ(sum, 3);
      },
      opts());
}

TEST_P(chan_test, select_send_case_and_closed_channels) {
  run(
      [] {
        auto a = make_chan<int>();
        auto t = spawn([a] { return *a.recv(); });
        bool sent = false;
        select(on_send(a, 5, [&] { sent = true; }));
        EXPECT_TRUE(sent);
        EXPECT_EQ(t.join(), 5);
        auto c = make_chan<int>();
        c.close();
        std::optional<int> got = 1;
        select(on_recv(c, [&](std::optional<int> v) { got = v; }));
        EXPECT_FALSE(got.has_value()) << "a closed channel is ready with an empty value";
        EXPECT_THROW(select(on_send(c, 1, [] {})), channel_closed);
      },
      opts());
}

TEST_P(chan_test, select_nil_cases_are_never_ready) {
  run(
      [] {
        chan<int> nil;
        auto b = make_chan<int>(1);
        b.send(1);
        for (int i = 0; i < 100; i++) {
          EXPECT_EQ(select(on_recv(nil, [](std::optional<int>) {}), on_recv(b, [](std::optional<int>) {})), 1u);
          b.send(1);
        }
      },
      opts());
}

// Go: TestSelectFairness. Both cases always ready: each chosen about half
// the time (binomial, n = 10000: 6 sigma is +-300).
TEST_P(chan_test, select_is_uniformly_random_among_ready_cases) {
  run(
      [] {
        auto a = make_chan<int>(1), b = make_chan<int>(1);
        int na = 0, nb = 0;
        for (int i = 0; i < 10000; i++) {
          (void)a.try_send(0);  // full or not, a is then ready
          (void)b.try_send(0);
          select(on_recv(a, [&](std::optional<int>) { na++; }), on_recv(b, [&](std::optional<int>) { nb++; }));
        }
        EXPECT_NEAR(na, 5000, 300);
        EXPECT_NEAR(nb, 5000, 300);
      },
      opts());
}

TEST_P(chan_test, select_fan_in_over_a_vector_of_cases) {
  run(
      [] {
        std::vector<chan<int>> cs;
        for (int i = 0; i < 10; i++) cs.push_back(make_chan<int>());
        for (int i = 0; i < 10; i++) go([c = cs[static_cast<std::size_t>(i)], i] {
            for (int k = 0; k < 100; k++) c.send(i);
          });
        long sum = 0;
        for (int k = 0; k < 1000; k++) {
          std::vector<select_case> cases;
          for (auto& c : cs) cases.push_back(select_case::recv(c, [&](std::optional<int> v) { sum += *v; }));
          select(cases);
        }
        EXPECT_EQ(sum, 100L * 45);
      },
      opts());
}

// Buffered channels are a lock-free ring (chan_core.hpp): the smallest
// rings wrap on every few values and keep senders and receivers blocking
// and waking each other, the interleavings most likely to lose a wake-up.
TEST_P(chan_test, stress_small_rings_no_value_lost_or_duplicated) {
  const long per = scaled(80000) / 4;
  run(
      [per] {
        for (std::size_t cap : {1, 2, 3}) mpmc(cap, 4, 4, per, false);
        mpmc(1, 3, 3, per / 4, true);
      },
      opts());
}

// Senders racing a close: every send that returned was delivered, every
// other one threw; nothing is lost in the buffer.
TEST_P(chan_test, buffered_close_racing_senders_loses_nothing) {
  run(
      [] {
        for (int round = 0; round < scaled(50); round++) {
          auto c = make_chan<long>(4);
          std::atomic<long> sent{0}, sent_sum{0};
          std::vector<task<void>> senders;
          for (long p = 0; p < 4; p++)
            senders.push_back(spawn([c, p, &sent, &sent_sum] {
              try {
                for (long i = 0;; i++) {
                  c.send(p * 1000000 + i);
                  sent++;
                  sent_sum += p * 1000000 + i;
                }
              } catch (const channel_closed&) {
              }
            }));
          long got = 0, got_sum = 0;
          for (int i = 0; i < 100; i++) {  // some traffic, then close mid-stream
            got_sum += *c.recv();
            got++;
          }
          c.close();
          for (auto& s : senders) s.join();
          while (auto v = c.recv()) {
            got_sum += *v;
            got++;
          }
          ASSERT_EQ(got, sent.load());
          ASSERT_EQ(got_sum, sent_sum.load());
        }
      },
      opts());
}

// Timed sends and receives whose deadlines race the claims of their
// counterparts (a waiter withdrawn at its deadline vs one completed just
// before it): every send_for that reports success is received exactly
// once, every one that reports a timeout is not received at all. Fibers
// and a plain thread on each side; unbuffered and a one-slot buffer.
TEST_P(chan_test, timed_operations_racing_claims_lose_nothing) {
  run(
      [] {
        for (std::size_t cap : {std::size_t{0}, std::size_t{1}}) {
          auto c = make_chan<long>(cap);
          auto senders_done = make_chan<int>(4);
          auto sums = make_chan<long>(3);
          std::atomic<long> sent_sum{0}, sent{0};
          auto sender = [c, senders_done, &sent_sum, &sent](long base) {
            for (long i = 0; i < scaled(2000); i++) {
              const long v = base + i;
              if (c.send_for(v, std::chrono::microseconds(i % 7 * 10))) {
                sent_sum += v;
                sent++;
              }
            }
            senders_done.send(1);
          };
          auto receiver = [c, sums] {
            long sum = 0;
            for (;;) {
              if (auto v = c.recv_for(std::chrono::microseconds(15))) {
                if (*v < 0) break;  // the end marker
                sum += *v;
              }
            }
            sums.send(sum);
          };
          std::vector<task<void>> ts;
          for (long p = 0; p < 3; p++) ts.push_back(spawn([sender, p] { sender(p * 1'000'000); }));
          for (int r = 0; r < 2; r++) ts.push_back(spawn(receiver));
          std::thread thread_sender([sender] { sender(3 * 1'000'000); });
          std::thread thread_receiver(receiver);
          for (int k = 0; k < 4; k++) senders_done.recv();
          for (int r = 0; r < 3; r++) c.send(-1);  // one end marker per receiver
          long got = 0;
          for (int r = 0; r < 3; r++) got += *sums.recv();
          for (auto& t : ts) t.join();
          thread_sender.join();  // both threads have finished: no wait
          thread_receiver.join();
          EXPECT_EQ(got, sent_sum.load()) << "capacity " << cap << ", " << sent.load() << " sends succeeded";
          EXPECT_GT(sent.load(), 0);
        }
      },
      opts());
}

// Values still buffered when the last handle goes are destroyed, also
// after the ring has wrapped.
TEST_P(chan_test, undelivered_values_are_destroyed_with_the_channel) {
  static std::atomic<int> alive{0};
  struct counted {
    counted() { alive++; }
    counted(counted&&) noexcept { alive++; }
    ~counted() { alive--; }
  };
  run(
      [] {
        {
          auto c = make_chan<counted>(5);
          for (int i = 0; i < 5; i++) c.send(counted{});
          for (int i = 0; i < 4; i++) c.recv();
          for (int i = 0; i < 3; i++) c.send(counted{});  // wraps
          EXPECT_EQ(c.size(), 4u);
          EXPECT_EQ(alive.load(), 4);
        }
        EXPECT_EQ(alive.load(), 0);
      },
      opts());
}

// Several selecting receivers over several channels: no value lost or
// duplicated (Go: TestSelectStress, in spirit).
TEST_P(chan_test, select_stress_fan_in_with_several_selectors) {
  const long n = scaled(1000000);
  run(
      [n] {
        auto a = make_chan<long>(), b = make_chan<long>(8);
        auto quit = make_chan<int>();
        std::vector<std::atomic<int>> seen(static_cast<std::size_t>(n));
        go([a, n] {
          for (long i = 0; i < n; i += 2) a.send(i);
        });
        go([b, n] {
          for (long i = 1; i < n; i += 2) b.send(i);
        });
        std::vector<task<void>> rs;
        std::atomic<long> got{0};
        auto all_got = make_chan<int>(1);  // sent by whichever receiver counts the n-th value
        auto count = [&](std::optional<long> v) {
          seen[static_cast<std::size_t>(*v)]++;
          if (got.fetch_add(1) + 1 == n) all_got.send(1);
        };
        for (int r = 0; r < 4; r++)
          rs.push_back(spawn([&, a, b, quit] {
            bool stop = false;
            while (!stop) {
              select(on_recv(a, count), on_recv(b, count), on_recv(quit, [&](std::optional<int>) { stop = true; }));
            }
          }));
        all_got.recv();
        quit.close();
        for (auto& r : rs) r.join();
        for (auto& s : seen) ASSERT_EQ(s.load(), 1);
      },
      opts());
}

// Regression: a select fed by two unbuffered senders on two workers lost a
// wake-up (seen as a deadlock report with main in [select] and both senders
// in [chan send]). The interleaving, on the fiber's park word:
//   1. Sender A claims main's select (sel 0 -> a) and unparks main while main
//      is still running: the word becomes kNotified.
//   2. Main, in a later select, parks: its CAS kEmpty -> kParking fails on
//      kNotified, so it consumed the permit with a plain store of kEmpty...
//   3. ...while sender B claimed main's new select (sel 0 -> b) and its unpark
//      read kNotified (main's store still in its store buffer) and returned.
//   4. Main re-read sel before B's claim was visible to it (store-load
//      reordering), saw 0, and parked for good.
// Every park-word transition is now a read-modify-write (fiber.hpp).
TEST_P(chan_test, select_over_two_unbuffered_senders_loses_no_wakeup) {
  const long n = scaled(400000);
  run(
      [n] {
        auto a = make_chan<long>(), b = make_chan<long>();
        go([a, n] {
          for (long i = 0; i < n / 2; i++) a.send(i);
        });
        go([b, n] {
          for (long i = n / 2; i < n; i++) b.send(i);
        });
        long sum = 0;
        auto take = [&](std::optional<long> v) { sum += *v; };
        for (long i = 0; i < n; i++) select(on_recv(a, take), on_recv(b, take));
        EXPECT_EQ(sum, n * (n - 1) / 2);
      },
      opts());
}

// Go race testdata chan_test.go: a write before a send is visible after
// the matching receive (TSan checks the happens-before edge).
TEST_P(chan_test, send_happens_before_receive) {
  run(
      [] {
        for (int round = 0; round < 100; round++) {
          int data = 0;
          auto c = make_chan<int>(round % 2);
          go([&data, c] {
            data = 42;
            c.send(1);
          });
          c.recv();
          EXPECT_EQ(data, 42);
          int data2 = 0;
          auto d = make_chan<int>();
          go([&data2, d] {
            data2 = 7;
            d.close();
          });
          d.recv();
          EXPECT_EQ(data2, 7);
        }
      },
      opts());
}

INSTANTIATE_TEST_SUITE_P(workers, chan_test, WEFT_WORKER_COUNTS);

TEST(chan_threads, work_without_a_runtime) {
  auto c = make_chan<int>();
  std::thread t([c] {
    for (int i = 0; i < 1000; i++) c.send(i);
    c.close();
  });
  long sum = 0;
  for (auto v : c) sum += v;
  t.join();
  EXPECT_EQ(sum, 499500);
}

}  // namespace
