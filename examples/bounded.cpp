// 6. Bounded parallelism: 100 jobs, at most 4 running at once, enforced by a
// weft::semaphore with 4 permits. CSP idea: a counting semaphore is a
// buffered channel of tokens (Go's `sem := make(chan struct{}, 4)`): a job
// takes a permit before its work and gives it back after, so at most 4 are
// inside at any moment and the rest wait their turn (FIFO). The example
// measures the concurrency it observes and checks the bound holds and is
// reached.

#include <atomic>

#include "model.hpp"

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  const auto m = example::model::from_args(argc, argv);
  constexpr int limit = 4;
  const long jobs = m.size(100);
  std::atomic<int> running{0}, most{0};
  std::atomic<long> finished{0};
  m.main_task([&] {
    weft::semaphore sem(limit);
    weft::wait_group wg;
    wg.add(jobs);
    for (long j = 0; j < jobs; j++)
      m.start([&] {
        sem.acquire();
        // Inside the bound. `running` counts the jobs between acquire and
        // release; `most` keeps its maximum (a CAS loop: no fetch_max in
        // C++20). Relaxed suffices: the semaphore orders the jobs, these are
        // just counters read after wg.wait().
        const int now = running.fetch_add(1, std::memory_order_relaxed) + 1;
        int seen = most.load(std::memory_order_relaxed);
        while (now > seen && !most.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
        }
        weft::sleep_for(10ms);  // the work: a wait, so the jobs overlap
        running.fetch_sub(1, std::memory_order_relaxed);
        sem.release();
        finished.fetch_add(1, std::memory_order_relaxed);
        wg.done();
      });
    wg.wait();
  });
  std::printf("bounded (%s): %ld jobs, at most %d at once (limit %d)\n", m.name(), finished.load(), most.load(), limit);
  return finished == jobs && most == limit ? 0 : 1;
}
