// Sync primitives, timers-as-channels and context: from fibers and threads.

#include <atomic>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace weft;
using namespace std::chrono_literals;
using weft::test::scaled;

class sync_test : public weft::test::workers {};

TEST_P(sync_test, mutex_excludes_across_yields_and_fibers) {
  run(
      [] {
        weft::mutex mu;
        long counter = 0;  // guarded by mu
        std::vector<task<void>> ts;
        for (int f = 0; f < 8; f++)
          ts.push_back(spawn([&] {
            for (int i = 0; i < 500; i++) {
              std::lock_guard lk(mu);
              const long v = counter;
              if (i % 50 == 0) yield();  // held across a suspension
              counter = v + 1;
            }
          }));
        for (auto& t : ts) t.join();
        EXPECT_EQ(counter, 8 * 500);
      },
      opts());
}

TEST_P(sync_test, mutex_shared_between_fibers_and_threads) {
  run(
      [] {
        weft::mutex mu;
        long counter = 0;
        std::vector<std::thread> threads;
        for (int t = 0; t < 2; t++)
          threads.emplace_back([&] {
            for (int i = 0; i < 2000; i++) {
              std::lock_guard lk(mu);
              counter++;
            }
          });
        std::vector<task<void>> ts;
        for (int f = 0; f < 4; f++)
          ts.push_back(spawn([&] {
            for (int i = 0; i < 2000; i++) {
              std::lock_guard lk(mu);
              counter++;
            }
          }));
        for (auto& t : ts) t.join();
        blocking([&] {
          for (auto& t : threads) t.join();
        });
        EXPECT_EQ(counter, 6 * 2000);
        EXPECT_TRUE(mu.try_lock());
        EXPECT_FALSE(mu.try_lock());
        mu.unlock();
      },
      opts());
}

// First step by step: reader 1 takes the shared lock and stays in it until
// main releases it; reader 2 takes it while reader 1 still holds it (were
// readers exclusive, reader 2 would park for good and the deadlock detector
// would end run() with an error). While both hold it a writer cannot take
// it; a writer waiting in lock() gets it only once both have left; a writer
// holding it excludes readers. Then a mix of readers and writers.
TEST_P(sync_test, shared_mutex_readers_share_writers_exclude) {
  run(
      [] {
        weft::shared_mutex mu;
        std::atomic<int> holders{0};
        auto r1_holds = make_chan<int>(), r2_holds = make_chan<int>(), release = make_chan<int>();
        auto reader = [&](const chan<int>& holds) {
          std::shared_lock lk(mu);
          holders++;
          holds.send(1);
          release.recv();
          holders--;
        };
        auto r1 = spawn([&] { reader(r1_holds); });
        r1_holds.recv();
        auto r2 = spawn([&] { reader(r2_holds); });
        r2_holds.recv();  // reader 2 is inside while reader 1 waits on release
        EXPECT_EQ(holders.load(), 2) << "two readers hold the lock at once";
        EXPECT_FALSE(mu.try_lock()) << "a writer is excluded while readers hold the lock";
        auto w = spawn([&] {
          std::unique_lock lk(mu);
          return holders.load();
        });
        release.send(1);
        release.send(1);
        r1.join();
        r2.join();
        EXPECT_EQ(w.join(), 0) << "the writer got the lock only after both readers left";
        mu.lock();
        EXPECT_FALSE(mu.try_lock_shared()) << "a reader is excluded while a writer holds the lock";
        EXPECT_FALSE(mu.try_lock());
        mu.unlock();
      },
      opts());
  run(
      [] {
        weft::shared_mutex mu;
        std::atomic<int> readers{0}, max_readers{0};
        int value = 0;
        std::vector<task<void>> ts;
        for (int r = 0; r < 6; r++)
          ts.push_back(spawn([&] {
            for (int i = 0; i < 50; i++) {
              std::shared_lock lk(mu);
              const int n = ++readers;
              int m = max_readers.load();
              while (n > m && !max_readers.compare_exchange_weak(m, n)) {
              }
              sleep_for(10us);
              readers--;
            }
          }));
        for (int w = 0; w < 2; w++)
          ts.push_back(spawn([&] {
            for (int i = 0; i < 50; i++) {
              std::unique_lock lk(mu);
              EXPECT_EQ(readers.load(), 0);
              value++;
            }
          }));
        for (auto& t : ts) t.join();
        EXPECT_EQ(value, 100);
        EXPECT_GE(max_readers.load(), 1);
      },
      opts());
}

TEST_P(sync_test, condition_variable_wait_and_notify) {
  run(
      [] {
        weft::mutex mu;
        weft::condition_variable cv;
        std::vector<int> queue;
        bool closed = false;
        long sum = 0;
        auto consumer = spawn([&] {
          std::unique_lock lk(mu);
          for (;;) {
            cv.wait(lk, [&] { return !queue.empty() || closed; });
            if (queue.empty()) return;
            sum += queue.back();
            queue.pop_back();
          }
        });
        for (int i = 1; i <= 100; i++) {
          std::lock_guard lk(mu);
          queue.push_back(i);
          cv.notify_one();
        }
        {
          std::lock_guard lk(mu);
          closed = true;
        }
        cv.notify_all();
        consumer.join();
        EXPECT_EQ(sum, 5050);
        std::unique_lock lk(mu);
        EXPECT_EQ(cv.wait_for(lk, 10ms), std::cv_status::timeout);
        EXPECT_FALSE(cv.wait_for(lk, 5ms, [] { return false; }));
      },
      opts());
}

TEST_P(sync_test, wait_group_waits_for_all) {
  run(
      [] {
        weft::wait_group wg;
        std::atomic<int> done{0};
        for (int i = 0; i < 100; i++) {
          wg.add(1);
          go([&] {
            sleep_for(1ms);
            done++;
            wg.done();
          });
        }
        wg.wait();
        EXPECT_EQ(done.load(), 100);
        wg.wait();  // zero: returns at once
        EXPECT_THROW(wg.done(), std::logic_error);
      },
      opts());
}

TEST_P(sync_test, semaphore_bounds_parallelism) {
  run(
      [] {
        weft::semaphore sem(3);
        std::atomic<int> inside{0}, peak{0};
        std::vector<task<void>> ts;
        for (int i = 0; i < 30; i++)
          ts.push_back(spawn([&] {
            sem.acquire();
            const int n = ++inside;
            int p = peak.load();
            while (n > p && !peak.compare_exchange_weak(p, n)) {
            }
            sleep_for(1ms);
            inside--;
            sem.release();
          }));
        for (auto& t : ts) t.join();
        EXPECT_LE(peak.load(), 3);
        EXPECT_GE(peak.load(), 1);
        weft::semaphore empty(0);
        EXPECT_FALSE(empty.try_acquire());
        EXPECT_FALSE(empty.try_acquire_for(5ms));
        empty.release(2);
        EXPECT_TRUE(empty.try_acquire());
        EXPECT_TRUE(empty.try_acquire_for(5ms));
      },
      opts());
}

TEST_P(sync_test, call_once_runs_exactly_once_and_retries_after_throw) {
  run(
      [] {
        weft::once_flag once;
        std::atomic<int> calls{0};
        std::vector<task<void>> ts;
        for (int i = 0; i < 20; i++)
          ts.push_back(spawn([&] {
            weft::call_once(once, [&] {
              sleep_for(2ms);  // others park meanwhile
              calls++;
            });
            EXPECT_TRUE(once.done());
          }));
        for (auto& t : ts) t.join();
        EXPECT_EQ(calls.load(), 1);
        weft::once_flag again;
        EXPECT_THROW(weft::call_once(again, [] { throw std::runtime_error("x"); }), std::runtime_error);
        int ran = 0;
        weft::call_once(again, [&] { ran++; });
        EXPECT_EQ(ran, 1);
      },
      opts());
}

TEST_P(sync_test, after_and_ticker_in_select) {
  run(
      [] {
        auto never = make_chan<int>();
        bool timed_out = false;
        const auto t0 = std::chrono::steady_clock::now();
        select(on_recv(never, [](std::optional<int>) {}),
               on_recv(after(20ms), [&](std::optional<time_point>) { timed_out = true; }));
        EXPECT_TRUE(timed_out);
        EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
        ticker t(2ms);
        int ticks = 0;
        for (int i = 0; i < 5; i++)
          if (t.c().recv()) ticks++;
        t.stop();
        EXPECT_EQ(ticks, 5);
      },
      opts());
}

TEST_P(sync_test, context_cancel_and_deadline_propagate) {
  run(
      [] {
        auto root = context::background();
        EXPECT_TRUE(root.done().is_nil());
        auto parent = root.with_cancel();
        auto child = parent.with_timeout(10s);
        auto grandchild = child.with_cancel();
        EXPECT_FALSE(grandchild.cancelled());
        auto waiter = spawn([grandchild] {
          grandchild.done().recv();  // returns when closed
          return grandchild.err();
        });
        parent.cancel();
        EXPECT_EQ(waiter.join(), context_error::cancelled);
        EXPECT_EQ(child.err(), context_error::cancelled);
        EXPECT_FALSE(root.cancelled());

        auto timed = root.with_timeout(20ms);
        bool expired = false;
        auto work = make_chan<int>();
        select(on_recv(work, [](std::optional<int>) {}),
               on_recv(timed.done(), [&](std::optional<std::monostate>) { expired = true; }));
        EXPECT_TRUE(expired);
        EXPECT_EQ(timed.err(), context_error::deadline_exceeded);
        auto late = timed.with_cancel();
        EXPECT_EQ(late.err(), context_error::deadline_exceeded) << "a child of a cancelled context starts cancelled";
      },
      opts());
}

INSTANTIATE_TEST_SUITE_P(workers, sync_test, WEFT_WORKER_COUNTS);

TEST(sync_threads, primitives_work_without_a_runtime) {
  weft::mutex mu;
  weft::wait_group wg;
  long counter = 0;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++) {
    wg.add(1);
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; i++) {
        std::lock_guard lk(mu);
        counter++;
      }
      wg.done();
    });
  }
  wg.wait();
  EXPECT_EQ(counter, 40000);
  for (auto& t : ts) t.join();
  auto c = after(5ms);
  EXPECT_TRUE(c.recv().has_value());
}

}  // namespace
