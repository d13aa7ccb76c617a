// Shutdown: how run() ends after main returns, whatever the other fibers do.
//
// Design notes
// 1. Main's exit sets main_done and `cancelling` and unparks every
//    registered fiber (runtime::cancel_all): each throws fiber_cancelled
//    from its next cancellation point (a park, sleep, yield, channel or
//    sync operation, join), unwinds and exits. run() returns when the last
//    fiber has exited (on_fiber_exit sets `stop`).
// 2. Three kinds of fiber would keep that from ever happening: one that
//    swallows fiber_cancelled (catch (...)) and goes on; one waiting on a
//    weft::blocking call that never returns (its park is not cancellable:
//    the pool thread writes into its frame); one that never reaches a
//    cancellation point. So when main returns with fibers alive, a watchdog
//    thread starts; if they are not all gone after opts.shutdown_grace it
//    sets `abandoning` and, from then on:
//    a. a fiber at a cancellation point is abandoned (worker::abandon)
//       instead of cancelled: a message names it on stderr, it counts as
//       exited, its worker switches away and never resumes it;
//    b. every blocking call still queued or running is marked abandoned and
//       its fiber woken, which abandons itself (blocking.cpp); the stuck
//       pool thread is left behind;
//    c. a fiber still running on the same worker without a switch a moment
//       later never suspends: it is named on stderr once. weft cannot
//       preempt it, so run() waits until it ends or reaches a cancellation
//       point (and is abandoned there). Meanwhile the monitor has handed
//       its worker's other fibers to other workers or a spare
//       (monitor.cpp), so they unwind and exit around it.
// 3. An abandoned fiber's stack and control block are never freed (a leak,
//    by design): a stuck blocking call writes its result into the frame when
//    it returns, and wait structures (a timer heap, a channel's queue, the
//    netpoller) may still hold its parker. Its park word is never kParked
//    (it is abandoned while running), so a late unpark only leaves a permit
//    that nobody consumes: nothing ever schedules it again.
// 4. Why a thread: a fiber that never suspends may hold the only worker, or
//    every worker; nothing on a worker could then notice the grace ending.
//    It starts only when main returns with other fibers alive, and waits on
//    a condition variable that run_runtime signals once the workers left.

#include <cinttypes>
#include <cstdio>
#include <vector>

#include "runtime_impl.hpp"

namespace weft::detail {

namespace {

// How often the watchdog looks again once the grace has passed: for
// blocking calls started since, and for a fiber that never switches.
constexpr auto kWatchInterval = std::chrono::milliseconds(100);

long long ms_since(std::int64_t t0) { return static_cast<long long>((now_ns() - t0) / 1'000'000); }

}  // namespace

void cancel_current(worker* w) {
  runtime* rt = w->rt;
  // seq_cst: pairs with the watchdog's store; a weaker load would be
  // correct too (the flag only chooses between two ways of stopping), but
  // this path runs once per cancellation point after main returned.
  if (rt->abandoning.load(std::memory_order_seq_cst)) w->abandon(w->current, "still refuses to stop");
  throw fiber_cancelled{};
}

void worker::abandon(fiber* self, const char* why) noexcept {
  std::fprintf(stderr,
               "weft: fiber %" PRIu64 " (spawned at %s:%u) %s %lld ms after main returned: abandoned "
               "(its stack and the destructors on it are given up)\n",
               self->id, self->site.file_name(), static_cast<unsigned>(self->site.line()), why,
               ms_since(rt->main_done_at));
  std::fflush(stderr);
  if (self->shard != nullptr) registry_remove(self);
  set_state(self, fiber_state::done);
  context& target = leave(self, after_switch::abandon, find_local());
  // Not context_switch_final: that tells ASan the stack is gone, and a
  // stuck blocking call may still write into it (note 3).
  context_switch(self->ctx, target, this);
  __builtin_unreachable();  // nothing ever resumes it
}

void runtime::cancel_all() noexcept {
  // seq_cst store, then each shard's lock: a fiber registers (under that
  // lock) before it checks `cancelling` in fiber_park, so either it sees
  // the flag or we see it in the registry and unpark it. Fibers never
  // registered are running or queued and check the flag when they next
  // suspend (or start).
  cancelling.store(true, std::memory_order_seq_cst);
  for (worker* w : all) {
    std::lock_guard lk(w->registry.mu);
    for (fiber* f = w->registry.head; f != nullptr; f = f->reg_next) unpark(f->park);
  }
}

void runtime::on_fiber_exit() {
  // Seq_cst: against on_main_done's store, after this worker's seq_cst
  // exit count (worker::exited says why acquire would not do).
  if (!main_done.load(std::memory_order_seq_cst)) return;
  if (live_fibers() != 0) return;
  stop.store(true, std::memory_order_release);
  wake_all();
}

void runtime::on_main_done() {
  main_done_at = now_ns();
  main_done.store(true, std::memory_order_seq_cst);
  cancel_all();
  if (live_fibers() == 0) return;  // run() ends now: no watchdog needed
  try {
    watchdog_running.store(true, std::memory_order_relaxed);
    watchdog = std::thread([this] { watch_shutdown(); });
  } catch (...) {
    // No thread: shutdown then waits for every fiber, as without a grace.
    watchdog_running.store(false, std::memory_order_relaxed);
  }
}

void runtime::watch_shutdown() {
  std::unique_lock lk(watch_mu);
  const auto grace_end = std::chrono::steady_clock::now() + opts.shutdown_grace;
  if (watch_cv.wait_until(lk, grace_end, [this] { return watch_stop; })) return;
  // seq_cst: pairs with cancel_current's load.
  abandoning.store(true, std::memory_order_seq_cst);
  // A fiber spinning in a catch (...) loop reaches a cancellation point
  // within microseconds and abandons itself; one still on its worker,
  // unswitched, a look later never suspends (note 2c).
  std::vector<std::pair<std::uint64_t, std::uint64_t>> seen;  // running_id, runs
  for (worker* w : all)
    seen.emplace_back(w->running_id.load(std::memory_order_relaxed), w->runs.load(std::memory_order_relaxed));
  bool named = false;
  for (;;) {
    lk.unlock();
    blocking_pool_abandon(*this);
    lk.lock();
    if (watch_cv.wait_for(lk, kWatchInterval, [this] { return watch_stop; })) return;
    if (named) continue;
    for (std::size_t i = 0; i < all.size(); i++) {
      const std::uint64_t id = all[i]->running_id.load(std::memory_order_relaxed);
      const std::uint64_t runs_now = all[i]->runs.load(std::memory_order_relaxed);
      if (id != 0 && id == seen[i].first && runs_now == seen[i].second) {
        std::fprintf(stderr,
                     "weft: fiber %" PRIu64 " has run past the %lld ms shutdown grace without reaching a "
                     "suspension point; weft cannot preempt it: run() returns once it ends or suspends\n",
                     id, static_cast<long long>(opts.shutdown_grace.count()));
        std::fflush(stderr);
        named = true;
      }
      seen[i] = {id, runs_now};
    }
  }
}

void runtime::stop_watchdog() {
  if (!watchdog.joinable()) return;
  {
    std::lock_guard lk(watch_mu);
    watch_stop = true;
  }
  watch_cv.notify_all();
  watchdog.join();
  watchdog_running.store(false, std::memory_order_relaxed);
}

}  // namespace weft::detail
