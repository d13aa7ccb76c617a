// The sync primitives on the channels' waiter (channels/src/waiter.hpp):
// the parts of the protocol that sync_test does not reach — timed waits
// that withdraw their waiter, the mutex's starvation hand-off, and the
// clean-up of waiters cancelled at shutdown. From fibers and plain threads.

#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace weft;
using namespace std::chrono_literals;

class sync_waiter : public weft::test::workers {};

// A semaphore waiter that times out is withdrawn: the next release is not
// handed to it (its frame is gone) but stays for the next acquirer.
void semaphore_timeout_withdraws() {
  weft::semaphore s(0);
  EXPECT_FALSE(s.try_acquire_for(5ms));
  s.release(1);
  EXPECT_TRUE(s.try_acquire());
  EXPECT_FALSE(s.try_acquire());
}

TEST_P(sync_waiter, semaphore_timeout_withdraws_its_waiter) {
  run([] { semaphore_timeout_withdraws(); }, opts());
}

TEST(sync_waiter_threads, semaphore_timeout_withdraws_its_waiter) { semaphore_timeout_withdraws(); }

// A condition-variable waiter that timed out is off the queue: notify_one
// then reaches the waiter still waiting, not the one that left.
TEST_P(sync_waiter, condition_variable_notify_skips_a_timed_out_waiter) {
  run(
      [] {
        weft::mutex mu;
        weft::condition_variable cv;
        bool go = false;  // guarded by mu
        auto started = make_chan<int>(1);
        std::unique_lock lk(mu);
        EXPECT_EQ(cv.wait_for(lk, 1ms), std::cv_status::timeout);  // queued, then withdrawn
        auto t = spawn([&] {
          std::unique_lock l2(mu);
          started.send(0);
          cv.wait(l2, [&] { return go; });
        });
        lk.unlock();
        started.recv();  // sent under mu: the waiter is queued once we relock
        lk.lock();
        go = true;
        cv.notify_one();
        lk.unlock();
        t.join();
      },
      opts());
}

// Go's starvation mode: a waiter that has waited over 1 ms is handed the
// lock by unlock, which leaves it locked for the waiter — so the unlocker's
// own try_lock straight after fails. The waiter's wait is made long by
// holding the lock; attempts repeat while the waiter may not have queued.
void mutex_hands_over_to_a_starving_waiter(bool thread_waiter) {
  weft::mutex mu;
  mu.lock();
  std::atomic<bool> waiting{false};
  std::atomic<int> owned{0};
  auto body = [&] {
    waiting = true;
    mu.lock();
    owned++;
    mu.unlock();
  };
  std::thread th;
  task<void> fib;
  if (thread_waiter)
    th = std::thread(body);
  else
    fib = spawn(body);
  while (!waiting.load()) yield();
  bool handed_over = false;
  for (int attempt = 0; attempt < 200 && !handed_over; attempt++) {
    // Longer than the 1 ms threshold, measured from the waiter's queueing.
    if (thread_waiter)
      std::this_thread::sleep_for(3ms);
    else
      sleep_for(3ms);
    mu.unlock();
    if (mu.try_lock()) continue;  // the waiter had not queued yet: again
    handed_over = true;           // locked for the waiter, not by us
  }
  EXPECT_TRUE(handed_over);
  if (thread_waiter)
    blocking([&] { th.join(); });
  else
    fib.join();
  EXPECT_EQ(owned.load(), 1);
  EXPECT_TRUE(mu.try_lock());
  mu.unlock();
}

TEST_P(sync_waiter, mutex_hands_the_lock_to_a_starving_fiber) {
  run([] { mutex_hands_over_to_a_starving_waiter(false); }, opts());
}

TEST_P(sync_waiter, mutex_hands_the_lock_to_a_starving_thread) {
  run([] { mutex_hands_over_to_a_starving_waiter(true); }, opts());
}

// Fibers still queued on every primitive when main returns are cancelled
// (fiber_cancelled unwinds them): each unlinks its waiter, so the
// primitives, which outlive the runtime here, are left consistent.
TEST_P(sync_waiter, waiters_cancelled_at_shutdown_leave_the_primitives_usable) {
  weft::mutex mu;
  weft::shared_mutex rw;
  weft::condition_variable cv;
  weft::mutex cv_mu;
  weft::wait_group wg;
  weft::semaphore sem(0);
  run(
      [&] {
        mu.lock();
        rw.lock();
        wg.add(1);
        constexpr int kKinds = 6;
        auto queued = make_chan<int>(kKinds);
        go([&, queued] {
          queued.send(0);
          std::lock_guard lk(mu);
        });
        go([&, queued] {
          queued.send(0);
          std::shared_lock lk(rw);
        });
        go([&, queued] {
          queued.send(0);
          std::lock_guard lk(rw);
        });
        go([&, queued] {
          std::unique_lock lk(cv_mu);
          queued.send(0);
          cv.wait(lk);
        });
        go([&, queued] {
          queued.send(0);
          wg.wait();
        });
        go([&, queued] {
          queued.send(0);
          sem.acquire();
        });
        for (int i = 0; i < kKinds; i++) queued.recv();
        // Returning cancels the fibers, wherever they are (queued or about
        // to be): either way none holds anything afterwards.
      },
      opts());
  mu.unlock();
  EXPECT_TRUE(mu.try_lock());
  mu.unlock();
  rw.unlock();
  EXPECT_TRUE(rw.try_lock_shared());
  rw.unlock_shared();
  EXPECT_TRUE(rw.try_lock());
  rw.unlock();
  cv.notify_all();
  EXPECT_TRUE(cv_mu.try_lock());
  cv_mu.unlock();
  wg.done();
  wg.wait();
  sem.release(1);
  EXPECT_TRUE(sem.try_acquire());
}

INSTANTIATE_TEST_SUITE_P(workers, sync_waiter, WEFT_WORKER_COUNTS);

}  // namespace
