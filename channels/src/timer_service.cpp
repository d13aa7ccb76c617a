// The timer service behind weft::after, weft::ticker and context deadlines:
// one process-wide thread with a min-heap of callbacks, independent of any
// runtime (so the 1:1 model has timers too). Sleeping fibers do not use it:
// they sit in their worker's timer heap (scheduler/src/timers.cpp).
//
// The thread counts as "awake" for the deadlock detector only while it has
// timers pending (service_idle_mark, park.hpp): a pending timer may wake a
// fiber. timer_add marks the thread awake itself, under the lock, before
// the thread is notified.
// Callbacks run on the service thread, outside its lock; they must be short
// (a try_send, a context cancel).

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <weft/channels/time.hpp>
#include <weft/scheduler/detail/park.hpp>

namespace weft::detail {
namespace {

struct timer_entry {
  std::chrono::nanoseconds period;
  std::function<void()> fire;
};

struct service {
  std::mutex mu;  // guards everything below
  std::condition_variable cv;
  // Ordered by (deadline, id): the first entry is the next to fire.
  std::map<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>, timer_entry> heap;
  std::map<std::uint64_t, std::chrono::steady_clock::time_point> by_id;
  std::uint64_t next_id = 1;
  bool started = false;
  service_idle_mark idle;  // set by run() while the heap is empty

  void run() {
    std::unique_lock lk(mu);
    for (;;) {
      if (heap.empty()) {
        service_mark_idle(idle);
        cv.wait(lk);  // timer_add marks us awake before it notifies
        continue;
      }
      auto first = heap.begin();
      const auto when = first->first.first;
      if (std::chrono::steady_clock::now() < when) {
        cv.wait_until(lk, when);
        continue;
      }
      const std::uint64_t id = first->first.second;
      timer_entry e = std::move(first->second);
      heap.erase(first);
      if (e.period.count() > 0) {
        const auto again = when + e.period;
        by_id[id] = again;
        heap.emplace(std::make_pair(again, id), timer_entry{e.period, e.fire});
      } else {
        by_id.erase(id);
      }
      lk.unlock();
      e.fire();
      lk.lock();
    }
  }
};

service& the_service() {
  static service* s = new service;  // never destroyed: its thread runs on
  return *s;
}

}  // namespace

std::uint64_t timer_add(std::chrono::steady_clock::time_point when, std::chrono::nanoseconds period,
                        std::function<void()> fire) {
  service& s = the_service();
  std::lock_guard lk(s.mu);
  if (!s.started) {
    s.started = true;
    std::thread([&s] { s.run(); }).detach();
  }
  const std::uint64_t id = s.next_id++;
  s.heap.emplace(std::make_pair(when, id), timer_entry{period, std::move(fire)});
  s.by_id[id] = when;
  service_mark_awake(s.idle);
  s.cv.notify_one();
  return id;
}

bool timer_cancel(std::uint64_t id) {
  service& s = the_service();
  std::lock_guard lk(s.mu);
  auto it = s.by_id.find(id);
  if (it == s.by_id.end()) return false;
  s.heap.erase(std::make_pair(it->second, id));
  s.by_id.erase(it);
  return true;
}

}  // namespace weft::detail
