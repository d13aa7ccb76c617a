// The deadlock detector.
//
// Deadlock (Go's "all goroutines are asleep"): when the last worker goes
// to sleep with no timers pending, no weft::blocking call in flight, no
// fiber waiting on an fd (it waits on the outside world) and no
// plain thread awake that has used weft, it waits a grace period (100 ms;
// 2 s while the process has a thread that is neither a worker, nor in the
// blocking pool, nor known to have used weft: it may be a thread just
// created that has not made its first weft call yet); if no worker resumed
// a fiber meanwhile (the per-worker `runs` counters), every fiber is parked
// for good. The report lists each fiber's id, wait
// reason, spawn site and the backtrace of where it is parked (dump.cpp).
// Never while a spare worker runs (monitor.cpp): the workers may all idle
// while a spare still runs a fiber.
//
// worker::sleep_until_work (idle.cpp) starts the watch; check_deadlock
// below decides.

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "dump.hpp"
#include "runtime_impl.hpp"

namespace weft::detail {

extern std::atomic<std::int64_t> g_threads_awake;  // park.cpp
extern std::atomic<std::int64_t> g_threads_known;  // park.cpp

namespace {

// Threads of this process (from /proc/self/stat), or 0 if unreadable.
long os_thread_count() {
  std::FILE* f = std::fopen("/proc/self/stat", "r");
  if (f == nullptr) return 0;
  char buf[1024];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // Field 20, counted after the command name's closing parenthesis (the
  // name may contain spaces): state is field 3.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return 0;
  int field = 2;
  for (; *p != '\0' && field < 20; p++)
    if (*p == ' ') field++;
  return std::strtol(p, nullptr, 10);
}

}  // namespace

std::int64_t runtime::unknown_threads() {
  const long os = os_thread_count();
  if (os <= 0) return 0;
  return os - static_cast<std::int64_t>(workers.size()) - blocking_pool_threads(*this) -
         (monitor_running.load(std::memory_order_relaxed) ? 1 : 0) -
         static_cast<std::int64_t>(spares_active.load(std::memory_order_relaxed)) -
         g_threads_known.load(std::memory_order_relaxed) - g_dump_threads.load(std::memory_order_relaxed) -
         (watchdog_running.load(std::memory_order_relaxed) ? 1 : 0);
}

bool runtime::check_deadlock() {
  const auto next_slot_full = [this] {
    for (worker* w : all)
      if (w->next_slot.load(std::memory_order_seq_cst) != nullptr) return true;
    return false;
  };
  if (num_idle.load(std::memory_order_seq_cst) != workers.size() || any_work() || next_slot_full() ||
      blocking_inflight.load(std::memory_order_seq_cst) != 0 || g_threads_awake.load(std::memory_order_seq_cst) > 0 ||
      poll.waiters.load(std::memory_order_seq_cst) != 0 ||
      earliest_timer() != INT64_MAX || spares_active.load(std::memory_order_seq_cst) != 0)
    return false;
  if (live_fibers() == 0) return false;
  if (deadlocked.exchange(true)) return false;
  std::string report = "weft: all fibers are asleep - deadlock!\n\n" +
                       describe_fibers_with_frames(*this, dump_world::still);
  if (opts.on_deadlock == deadlock_action::abort) {
    std::fputs(report.c_str(), stderr);
    std::fflush(stderr);
    std::abort();
  }
  deadlock_report = std::move(report);
  cancel_all();
  return true;
}

}  // namespace weft::detail
