// The runtime: run(), spawning, the fiber registry, idle workers and the
// deadlock detector.
//
// Idle workers (the protocol that keeps an idle runtime at ~0% CPU without
// losing a wake-up; after Go's proc.go "Worker thread parking/unparking"):
// 1. A worker that finds no work becomes "spinning" (num_spinning) and
//    steals; at most half the busy workers spin at once.
// 2. A notifier (anyone who made stealable work) does: push the work;
//    a seq_cst RMW on num_idle (the fence); if num_idle > 0 and
//    num_spinning == 0, wake one sleeper
//    and count it as spinning. A spinning worker will find the work, so no
//    more than one needs waking.
// 3. A worker going to sleep does: drop spinning (seq_cst RMW); register in
//    sleepers and num_idle (seq_cst); re-check every queue; only then wait
//    on its futex. Steps 2 and 3 are a Dekker pair: either the notifier
//    sees num_idle > 0 (and wakes someone) or the sleeper's re-check sees
//    the work. The last spinner to find work wakes another (worker.cpp).
// 4. A notifier removes the sleeper from `sleepers` and sets its wake_word
//    under idle_mu, so a sleeper that times out and finds itself gone from
//    the list knows it was claimed and its wake_word is already 1.
// 5. The netpoller (netpoll.cpp): while any fiber waits on an fd, one
//    sleeper at a time (the one that takes netpoller::busy) sleeps in
//    epoll_wait instead of on its futex, with the earliest timer as its
//    timeout, so timers and I/O share one sleep. It stays in `sleepers`
//    and sets `polling`; a notifier that claims it (step 4) writes the
//    eventfd instead of waking the futex. The poller stores polling (seq_cst)
//    and then loads wake_word (seq_cst); the notifier stores wake_word
//    (seq_cst) and then loads polling (seq_cst): either the poller sees it
//    was claimed and does not block, or the notifier sees it polling and
//    interrupts it. Notifiers prefer a futex sleeper, so the poller keeps
//    polling. The poller readies the fibers whose fds fired onto its own
//    queues before it leaves `sleepers`, which may wake a futex sleeper to
//    steal them (push_queue's notify). Busy workers poll without blocking
//    when they run out of local work and at the fairness tick
//    (worker.cpp), so I/O is served while no worker is idle.
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
// reason and spawn site.
//
// Shutdown: main's exit sets main_done and cancels every other fiber
// (cancel flag, then unpark): each unwinds from its next suspension point
// with fiber_cancelled; fibers not yet started never run. When the last
// fiber exits, `stop` is set and every worker leaves its loop. Fibers that
// do not stop within the grace are abandoned (shutdown.cpp).

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include "fiber_alloc.hpp"
#include "runtime_impl.hpp"

namespace weft::detail {

extern std::atomic<std::int64_t> g_threads_awake;  // park.cpp
extern std::atomic<std::int64_t> g_threads_known;  // park.cpp
void thread_becomes_worker(bool entering) noexcept;  // park.cpp

namespace {

std::atomic<runtime*> g_runtime{nullptr};

constexpr std::int64_t kDeadlockGraceNs = 100'000'000;
// The grace while the process has a thread the detector cannot account for
// (unknown_threads): it may be about to make its first weft call.
constexpr std::int64_t kDeadlockUnknownGraceNs = 2'000'000'000;

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

unsigned resolve_workers(unsigned requested) {
  if (requested != 0) return requested;
  if (const char* env = std::getenv("WEFT_WORKERS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v > 0 && v <= 1024) return static_cast<unsigned>(v);
    std::fprintf(stderr, "weft: ignoring WEFT_WORKERS=%s (want 1..1024)\n", env);
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : hc;
}

void worker_thread_main(worker* w) {
  thread_becomes_worker(true);
  t_worker = w;
  install_overflow_handler_for_thread();
  context_adopt_thread(w->sched_ctx);
  w->loop();
  set_running_fiber(nullptr);
  t_worker = nullptr;
  remove_overflow_handler_for_thread();
  thread_becomes_worker(false);
}

}  // namespace

__attribute__((noinline)) runtime* the_runtime() noexcept {
  // Acquire: pairs with run_runtime's release store, so the runtime's
  // fields are initialised before anyone uses them.
  return g_runtime.load(std::memory_order_acquire);
}

constinit thread_local worker* t_worker = nullptr;  // runtime_impl.hpp

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch()).count();
}

namespace {
timespec to_timespec(std::int64_t ns) {
  timespec ts;
  ts.tv_sec = ns / 1'000'000'000;
  ts.tv_nsec = ns % 1'000'000'000;
  return ts;
}
long futex_wait_raw(void* word, std::uint32_t expected, std::int64_t deadline_ns) {
  if (deadline_ns == INT64_MAX)
    return syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, which is
  // what steady_clock is on Linux.
  timespec ts = to_timespec(deadline_ns);
  return syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, expected, &ts, nullptr, FUTEX_BITSET_MATCH_ANY);
}
}  // namespace

void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, std::int64_t deadline_ns) noexcept {
  futex_wait_raw(word, expected, deadline_ns);
}
void futex_wake(std::atomic<std::uint32_t>* word, int n) noexcept {
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
}
void futex_wait32(std::atomic<std::int32_t>* word, std::int32_t expected, std::int64_t deadline_ns) noexcept {
  futex_wait_raw(word, static_cast<std::uint32_t>(expected), deadline_ns);
}
void futex_wake32(std::atomic<std::int32_t>* word, int n) noexcept {
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
}

// ---- registry ----

void registry_add(registry_shard& s, fiber* f) noexcept {
  std::lock_guard lk(s.mu);
  f->shard = &s;
  f->reg_prev = nullptr;
  f->reg_next = s.head;
  if (s.head != nullptr) s.head->reg_prev = f;
  s.head = f;
  s.count++;
}

void registry_remove(fiber* f) noexcept {
  registry_shard& s = *f->shard;
  std::lock_guard lk(s.mu);
  if (f->reg_prev != nullptr)
    f->reg_prev->reg_next = f->reg_next;
  else
    s.head = f->reg_next;
  if (f->reg_next != nullptr) f->reg_next->reg_prev = f->reg_prev;
  s.count--;
}

std::uint64_t runtime::total_runs() const noexcept {
  std::uint64_t n = 0;
  for (worker* w : workers) n += w->runs.load(std::memory_order_acquire);
  return n;
}

std::size_t runtime::live_fibers() noexcept {
  // Exits first, then creations: a fiber's creation happens before its exit,
  // so every exit we count has its creation counted too, and the result is
  // never below the true number (it is exact when nothing is moving).
  std::uint64_t exited_total = 0, created_total = 0;
  for (worker* w : workers) exited_total += w->exited.load(std::memory_order_acquire);
  for (worker* w : workers) created_total += w->created.load(std::memory_order_acquire);
  created_total += outside_created.load(std::memory_order_acquire);
  return static_cast<std::size_t>(created_total - exited_total);
}

// ---- spawning ----

fiber* fiber_create(std::size_t size, const closure_vtable* vt, const spawn_options& opts,
                    const std::source_location& site, void** closure) {
  runtime* rt = the_runtime();
  if (rt == nullptr)
    throw std::logic_error("weft::go/spawn: no runtime is running (start one with weft::run)");
  constexpr std::size_t kAlign = alignof(std::max_align_t);
  const std::size_t off = (sizeof(fiber) + kAlign - 1) / kAlign * kAlign;
  void* mem = fiber_block_alloc(off + size);
  fiber* f = ::new (mem) fiber;
  f->park.owner = f;
  worker* w = this_worker();
  if (w != nullptr && w->rt == rt) {
    if (w->next_id == w->id_end) {
      constexpr std::uint64_t kIdBatch = 256;
      w->next_id = rt->next_id.fetch_add(kIdBatch, std::memory_order_relaxed);
      w->id_end = w->next_id + kIdBatch;
    }
    f->id = w->next_id++;
  } else {
    f->id = rt->next_id.fetch_add(1, std::memory_order_relaxed);
  }
  f->site = site;
  f->stack_size = opts.stack_size != 0 ? opts.stack_size : rt->opts.stack_size;
  f->vt = vt;
  f->closure = static_cast<std::byte*>(mem) + off;
  f->block_size = off + size;
  *closure = f->closure;
  if (w != nullptr && w->rt == rt)
    w->count(w->created);
  else
    rt->outside_created.fetch_add(1, std::memory_order_acq_rel);
  return f;
}

void fiber_abandon(fiber* f) noexcept {
  runtime* rt = the_runtime();
  worker* w = this_worker();
  if (w != nullptr && w->rt == rt)
    w->count(w->exited);
  else
    rt->outside_created.fetch_sub(1, std::memory_order_acq_rel);
  const std::size_t bytes = f->block_size;
  f->~fiber();
  fiber_block_free(f, bytes);
}

void fiber_start(fiber* f) {
  runtime* rt = the_runtime();
  worker* w = this_worker();
  if (w != nullptr && w->rt == rt) {
    w->push_queue(f);
  } else {
    rt->injected.push(f);
    rt->notify_work();
  }
}

void runtime::inject(fiber* f) noexcept {
  injected.push(f);
  notify_work();
}

// ---- idle workers ----

void runtime::notify_work() noexcept {
  // A seq_cst read-modify-write, not a load: it orders our push of work
  // before the reads below (a store-load pair, a full barrier on x86), and
  // it reads the latest num_idle. Pairs with the sleeper's seq_cst
  // increment of num_idle followed by its re-check of the queues (protocol
  // step 3): if our RMW comes first in num_idle's order, the sleeper's
  // acquire of it makes our push visible to its re-check; otherwise we see
  // it idle and wake it. Under TSan, which neither models nor accepts
  // fences, that is what we do; elsewhere a seq_cst fence plays its part.
#if WEFT_TSAN
  if (num_idle.fetch_add(0, std::memory_order_seq_cst) == 0) return;
#else
  // Elsewhere the fence is cheaper: it does not write num_idle's cache
  // line, which every notifier on every worker would otherwise bounce.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (num_idle.load(std::memory_order_relaxed) == 0) return;
#endif
  if (num_spinning.load(std::memory_order_seq_cst) != 0) return;
  wake_one();
}

namespace {
// Wakes a sleeper that a notifier claimed (its wake_word is 1): on its
// futex, or out of epoll_wait (protocol step 5).
void wake_claimed(runtime& rt, worker* w) noexcept {
  if (w->polling.load(std::memory_order_seq_cst))
    rt.poll.interrupt();
  else
    futex_wake(&w->wake_word, 1);
}
}  // namespace

bool runtime::wake_one() noexcept {
  worker* w = nullptr;
  {
    std::lock_guard lk(idle_mu);
    // The newest futex sleeper; the poller only if no other sleeps (step
    // 5: it keeps polling while others can take the work). Never the
    // caller: a poller readying fibers is still in `sleepers`, and the work
    // it made is its own to run.
    worker* self = this_worker();
    std::size_t i = sleepers.size();
    std::size_t poller = sleepers.size();
    while (i-- > 0) {
      if (sleepers[i] == self) continue;
      if (!sleepers[i]->polling.load(std::memory_order_relaxed)) break;
      poller = i;
    }
    if (i == static_cast<std::size_t>(-1)) i = poller;
    if (i == sleepers.size()) return false;
    w = sleepers[i];
    sleepers.erase(sleepers.begin() + static_cast<std::ptrdiff_t>(i));
    num_idle.fetch_sub(1, std::memory_order_seq_cst);
    num_spinning.fetch_add(1, std::memory_order_seq_cst);
    // seq_cst: the sleeper's acquire exchange of wake_word takes our
    // writes; and the store-load pair with `polling` (step 5).
    w->wake_word.store(1, std::memory_order_seq_cst);
  }
  wake_claimed(*this, w);
  return true;
}

void runtime::wake_all() noexcept {
  std::vector<worker*> all;
  {
    std::lock_guard lk(idle_mu);
    all.swap(sleepers);
    num_idle.fetch_sub(static_cast<unsigned>(all.size()), std::memory_order_seq_cst);
    for (worker* w : all) {
      num_spinning.fetch_add(1, std::memory_order_seq_cst);
      w->wake_word.store(1, std::memory_order_seq_cst);  // as in wake_one
    }
  }
  for (worker* w : all) wake_claimed(*this, w);
}

void runtime::on_first_io_waiter() noexcept {
  // Someone must poll: a blocked poller or a spinning worker will; else
  // wake a sleeper, which spins, finds nothing and becomes the poller.
  if (poll.busy.load(std::memory_order_seq_cst) || num_spinning.load(std::memory_order_seq_cst) != 0) return;
  if (num_idle.load(std::memory_order_seq_cst) == 0) return;  // everyone busy: they poll at the tick
  wake_one();
}

std::int64_t runtime::earliest_timer() const noexcept {
  std::int64_t t = INT64_MAX;
  for (worker* w : workers) {
    const std::int64_t n = w->timers.next.load(std::memory_order_relaxed);
    if (n < t) t = n;
  }
  return t;
}

bool runtime::any_work() const noexcept {
  if (injected.size() != 0) return true;
  // Not other workers' next slots: a fiber there is its owner's to run in
  // a moment (and a thief's only after the grace in worker::steal). Counting
  // them could keep an idle worker from sleeping beside a ping-pong, whose
  // slot is full half the time, spinning on the busy worker's cache lines.
  for (worker* w : workers)
    if (w->queue.size() != 0) return true;
  return earliest_timer() <= now_ns();
}

void worker::sleep_until_work() {
  if (spinning) {
    spinning = false;
    rt->num_spinning.fetch_sub(1, std::memory_order_seq_cst);
    if (rt->any_work()) return;  // step 3: look again before sleeping
  }
  {
    std::lock_guard lk(rt->idle_mu);
    rt->sleepers.push_back(this);
    rt->num_idle.fetch_add(1, std::memory_order_seq_cst);
  }
  bool claimed = false;
  if (rt->any_work() || rt->stop.load(std::memory_order_acquire) || has_local_work()) {
    std::lock_guard lk(rt->idle_mu);
    auto it = std::find(rt->sleepers.begin(), rt->sleepers.end(), this);
    if (it != rt->sleepers.end()) {
      rt->sleepers.erase(it);
      rt->num_idle.fetch_sub(1, std::memory_order_seq_cst);
      return;
    }
    claimed = true;  // a notifier took us meanwhile (step 4)
  }
  std::int64_t deadline = rt->earliest_timer();
  bool deadlock_watch = false;
  std::uint64_t runs = 0;
  if (!claimed && deadline == INT64_MAX && rt->opts.on_deadlock != deadlock_action::ignore &&
      !rt->deadlocked.load(std::memory_order_relaxed) &&
      rt->num_idle.load(std::memory_order_seq_cst) == rt->workers.size() &&
      rt->blocking_inflight.load(std::memory_order_seq_cst) == 0 &&
      rt->poll.waiters.load(std::memory_order_seq_cst) == 0 &&
      g_threads_awake.load(std::memory_order_seq_cst) <= 0) {
    deadlock_watch = true;
    runs = rt->total_runs();
    deadline = now_ns() + (rt->unknown_threads() > 0 ? kDeadlockUnknownGraceNs : kDeadlockGraceNs);
  }
  if (!claimed) {
    netpoller& np = rt->poll;
    // Acquire: one blocking poller at a time (step 5).
    if (np.waiters.load(std::memory_order_seq_cst) > 0 && !np.busy.load(std::memory_order_relaxed) &&
        !np.busy.exchange(true, std::memory_order_acquire)) {
      polling.store(true, std::memory_order_seq_cst);
      // An RMW: a timer inserted after it is checked against our deadline
      // by the inserter (park.cpp, park_until); one inserted before it is
      // in earliest_timer() below.
      np.blocked_until.exchange(deadline, std::memory_order_seq_cst);
      const std::int64_t until = std::min(deadline, rt->earliest_timer());
      if (wake_word.load(std::memory_order_seq_cst) == 0) np.poll(until, true);
      np.blocked_until.store(netpoller::kNotBlocked, std::memory_order_relaxed);
      polling.store(false, std::memory_order_seq_cst);
      np.busy.store(false, std::memory_order_release);
    } else {
      futex_wait(&wake_word, 0, deadline);
    }
  }
  // Still registered as idle, so the detector's "every worker idle" holds.
  if (deadlock_watch && wake_word.load(std::memory_order_acquire) == 0 &&
      rt->total_runs() == runs)
    rt->check_deadlock();
  // Acquire: pairs with wake_one's release store.
  if (wake_word.exchange(0, std::memory_order_acquire) == 1) {
    spinning = true;  // wake_one counted us as spinning
    return;
  }
  {
    std::lock_guard lk(rt->idle_mu);
    auto it = std::find(rt->sleepers.begin(), rt->sleepers.end(), this);
    if (it != rt->sleepers.end()) {
      rt->sleepers.erase(it);
      rt->num_idle.fetch_sub(1, std::memory_order_seq_cst);
    } else {
      // Claimed by a notifier after our timeout: its wake_word store
      // happened under idle_mu, so it is visible now.
      wake_word.exchange(0, std::memory_order_acquire);
      spinning = true;
      return;
    }
  }
}

// ---- shutdown and deadlock ----

void runtime::cancel_all() noexcept {
  // seq_cst store, then each shard's lock: a fiber registers (under that
  // lock) before it checks `cancelling` in fiber_park, so either it sees
  // the flag or we see it in the registry and unpark it. Fibers never
  // registered are running or queued and check the flag when they next
  // suspend (or start).
  cancelling.store(true, std::memory_order_seq_cst);
  for (worker* w : workers) {
    std::lock_guard lk(w->registry.mu);
    for (fiber* f = w->registry.head; f != nullptr; f = f->reg_next) unpark(f->park);
  }
}

void runtime::on_fiber_exit() {
  if (!main_done.load(std::memory_order_acquire)) return;
  if (live_fibers() != 0) return;
  stop.store(true, std::memory_order_release);
  wake_all();
}

namespace {
const char* state_name(fiber_state s) {
  switch (s) {
    case fiber_state::created: return "not started";
    case fiber_state::runnable: return "runnable";
    case fiber_state::running: return "running";
    case fiber_state::parking: return "parking";
    case fiber_state::parked: return "parked";
    case fiber_state::done: return "done";
  }
  return "?";
}
}  // namespace

std::string runtime::describe_fibers() {
  // One line per fiber, by id, as Go's goroutine dump.
  std::vector<std::pair<std::uint64_t, std::string>> lines;
  auto walk = [&](registry_shard& s) {
    std::lock_guard lk(s.mu);
    for (fiber* f = s.head; f != nullptr; f = f->reg_next) {
      std::ostringstream os;
      os << "fiber " << f->id;
      if (f->is_main) os << " (main)";
      os << " [" << (f->state == fiber_state::parked && f->waiting.what ? f->waiting.what : state_name(f->state));
      if (f->state == fiber_state::parked && f->waiting.fd >= 0)
        os << " fd " << f->waiting.fd;
      else if (f->state == fiber_state::parked && f->waiting.object != nullptr)
        os << " " << f->waiting.object;
      os << "]: spawned at " << f->site.file_name() << ":" << f->site.line() << "\n";
      lines.emplace_back(f->id, os.str());
    }
  };
  for (worker* w : workers) walk(w->registry);
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (auto& l : lines) out += l.second;
  return out;
}

std::int64_t runtime::unknown_threads() {
  const long os = os_thread_count();
  if (os <= 0) return 0;
  return os - static_cast<std::int64_t>(workers.size()) - blocking_pool_threads(*this) -
         g_threads_known.load(std::memory_order_relaxed) - (watchdog_running.load(std::memory_order_relaxed) ? 1 : 0);
}

bool runtime::check_deadlock() {
  const auto next_slot_full = [this] {
    for (worker* w : workers)
      if (w->next_slot.load(std::memory_order_seq_cst) != nullptr) return true;
    return false;
  };
  if (num_idle.load(std::memory_order_seq_cst) != workers.size() || any_work() || next_slot_full() ||
      blocking_inflight.load(std::memory_order_seq_cst) != 0 || g_threads_awake.load(std::memory_order_seq_cst) > 0 ||
      poll.waiters.load(std::memory_order_seq_cst) != 0 ||
      earliest_timer() != INT64_MAX)
    return false;
  if (live_fibers() == 0) return false;
  if (deadlocked.exchange(true)) return false;
  std::string report = "weft: all fibers are asleep - deadlock!\n\n" + describe_fibers();
  if (opts.on_deadlock == deadlock_action::abort) {
    std::fputs(report.c_str(), stderr);
    std::fflush(stderr);
    std::abort();
  }
  deadlock_report = std::move(report);
  cancel_all();
  return true;
}

// ---- run ----

void run_runtime(const run_options& opts, void (*main_fn)(void*), void* arg, const std::source_location& site) {
  if (this_worker() != nullptr) throw std::logic_error("weft::run called from inside a fiber");
  auto* rt = new runtime;
  rt->opts = opts;
  if (rt->opts.stack_size == 0) rt->opts.stack_size = kDefaultStackSize;
  const unsigned n = resolve_workers(opts.workers);
  for (unsigned i = 0; i < n; i++) {
    auto* w = new worker;
    w->rt = rt;
    w->index = i;
    w->rng = 0x9E3779B97F4A7C15ull * (i + 1);
    rt->workers.push_back(w);
  }
  try {
    rt->poll.start();
  } catch (...) {
    for (worker* w : rt->workers) delete w;
    delete rt;
    throw;
  }
  runtime* expected = nullptr;
  // Release: publishes the runtime's fields to the_runtime()'s acquire.
  if (!g_runtime.compare_exchange_strong(expected, rt, std::memory_order_release, std::memory_order_relaxed)) {
    rt->poll.stop();
    for (worker* w : rt->workers) delete w;
    delete rt;
    throw std::logic_error("weft::run: a runtime is already running in this process");
  }
  stack_set_guard_budget(opts.guarded_stacks);
  blocking_pool_start(*rt);

  // main is an ordinary fiber, queued on worker 0 (this thread).
  struct main_closure {
    void (*fn)(void*);
    void* arg;
    void operator()() const { fn(arg); }
  };
  void* mem = nullptr;
  fiber* m = fiber_create(sizeof(main_closure), [] {
    static constexpr closure_vtable vt{
        [](void* p) { (*static_cast<main_closure*>(p))(); },
        [](void*) noexcept {},
    };
    return &vt;
  }(), spawn_options{}, site, &mem);
  ::new (mem) main_closure{main_fn, arg};
  m->is_main = true;
  rt->workers[0]->queue.push(m);

  for (unsigned i = 1; i < n; i++) rt->workers[i]->thread = std::thread(worker_thread_main, rt->workers[i]);
  worker_thread_main(rt->workers[0]);
  for (unsigned i = 1; i < n; i++) rt->workers[i]->thread.join();

  rt->stop_watchdog();
  blocking_pool_stop(*rt);
  g_runtime.store(nullptr, std::memory_order_release);
  rt->poll.stop();
  const bool deadlocked = rt->deadlocked.load();
  std::string report = std::move(rt->deadlock_report);
  for (worker* w : rt->workers) delete w;
  delete rt;
  if (deadlocked) throw deadlock_error(report);
}

}  // namespace weft::detail

namespace weft {

runtime_stats stats() {
  runtime_stats s;
  const detail::stack_stats st = detail::stack_pool_stats();
  s.stacks_in_use = st.in_use;
  s.stacks_pooled = st.pooled;
  s.stack_slabs = st.slabs;
  if (detail::runtime* rt = detail::the_runtime()) {
    s.live_fibers = rt->live_fibers();
    s.workers = static_cast<unsigned>(rt->workers.size());
  }
  return s;
}

void dump_fibers() {
  detail::runtime* rt = detail::the_runtime();
  if (rt == nullptr) {
    std::fputs("weft: no runtime is running\n", stderr);
    return;
  }
  std::string s = "weft: fiber dump\n" + rt->describe_fibers();
  std::fputs(s.c_str(), stderr);
}

}  // namespace weft
