// The monitor: no worker held hostage (after Go's sysmon, proc.go). A fiber
// that never suspends (a CPU loop, a raw blocking syscall nobody wrapped in
// weft::blocking) holds its worker's thread, and with it every fiber queued
// on that worker. The monitor is one thread per runtime that notices such a
// worker, makes its queued fibers runnable elsewhere and, when every worker
// is stuck and some are blocked in the kernel, starts spare worker threads.
//
// Protocol
// 1. Sampling. At every switch a worker already stores the fiber it runs
//    (running_id) and counts the resume (runs), relaxed stores the shutdown
//    watchdog and the deadlock detector read too: sampling adds nothing to
//    the switch path. Every kTickNs the monitor samples each worker's pair.
//    A worker whose pair, with a fiber running, has not changed for
//    kStuckNs is a suspect.
// 2. Confirmation and kind. Over each tick the monitor reads the suspect
//    thread's CPU clock. It is stuck computing if it used kOnCpuNs of CPU
//    meanwhile (a CPU loop: on a busy machine it may get a small share of
//    a core, but some), stuck blocked if it used less and sleeps in the
//    kernel (state S or D in /proc/self/task/<tid>/stat: a blocking call).
//    A thread merely waiting for a CPU (a busy machine, or a sanitizer's
//    slowness, descheduled it) is neither, and is looked at again next
//    tick. The kind is decided afresh at every tick.
// 3. Hand-off. The monitor moves a stuck worker's runnable fibers to the
//    shared queue: the next slot (exchange, as a thief does), the deque
//    (steal(), as a thief does), the yield list (below), then
//    notify_work() wakes an idle worker. It does so at every tick while the
//    worker stays stuck: the stuck fiber may wake fibers onto its worker.
//    The yield list has no lock (the owner touches it at every yield): the
//    owner brackets each touch with relaxed/release stores of yield_busy
//    and an acquire load of yield_taken in between (worker::yield_enter);
//    the monitor stores yield_taken, calls membarrier(PRIVATE_EXPEDITED)
//    (every thread of the process executes a full fence, or has one at its
//    last context switch), then loads yield_busy. A Dekker pair whose
//    owner-side fence is the monitor's syscall: either the monitor sees the
//    owner busy and backs off until the next tick, or the owner sees
//    yield_taken and waits until the monitor, done, clears it (release;
//    the owner's acquire). The owner pays two plain stores and a plain
//    load per touch (x86), none when the list is empty (the hint load).
//    Without membarrier (an old kernel, a seccomp filter) yield lists are
//    not taken; the rest of the hand-off works.
// 4. Spares. weft cannot preempt, so the rule is Go's "at most GOMAXPROCS
//    threads run Go code": at most `workers` threads run fibers on a CPU
//    at once. A worker stuck computing gets no spare (its queued fibers go
//    to the other workers; in a one-worker runtime they wait for it, as
//    under any cooperative scheduler); one stuck blocked does not use its
//    CPU, so a spare may take its place. When every worker is stuck and
//    fewer spares run than threads (workers and spares) are stuck
//    blocked, and no running spare is free (neither stuck nor retiring),
//    the monitor starts one: at most run_options::spare_workers (default:
//    as many as workers; 0: none), allocated with the workers. A spare is
//    a worker of its own (next slot, deque, yield list, timer heap,
//    registry shard) with its own thread; it runs fibers from the shared
//    queue, its own queues and, by stealing, the workers' deques. It is
//    outside the idle protocol (never in sleepers, num_idle or
//    num_spinning, and no worker steals from it): the notifier's arithmetic
//    and the deadlock detector's "every worker idle" stay about the
//    workers; a spare with nothing to run naps on its own wake_word for at
//    most kSpareNapNs (or until the earliest timer), and the monitor wakes
//    it after each hand-off.
// 5. Retiring. Once a worker is no longer stuck, or more spares run than
//    threads are stuck blocked, the monitor sets the `retire` of every
//    running spare that is not stuck (all of them, in the first case).
//    The spare sees it in its loop, or at its fairness tick (find_local then
//    returns null, so fibers handing off to each other fall back to the
//    loop); as their owner it moves its next slot, deque and yield list to
//    the shared queue, and its thread ends. The monitor joins it before it
//    starts a spare in its place. Until a retiring spare's running fiber
//    suspends, the returned worker and the spare both run fibers: the one
//    moment more than `workers` threads run fibers at once.
// 6. The network. While fibers wait on fds, no worker is blocked in
//    epoll_wait and nobody polled for kStuckNs, the monitor polls without
//    blocking; the readied fibers go to the shared queue.
// 7. Sleeping. While every worker is idle and no spare runs, nothing can
//    be stuck: the monitor sleeps on mon_word until a worker leaves
//    sleep_until_work and pokes it (monitor_after_sleep).
//
// Invariants
// 1. Each queue has one owner thread: a worker's is its thread, a spare's
//    is the spare's thread while it runs. The monitor takes from another's
//    queues only as a thief does, or by the yield list's handshake, and
//    puts what it takes on the shared queue, which one thread at a time
//    pops. So a fiber is never runnable in two places.
// 2. Only a worker's own thread pushes onto its queues (push_next,
//    push_queue, yield_push run on this_worker()), so a retired spare's
//    queues stay empty. Its timer heap and registry shard may still hold
//    fibers: runtime::all includes every spare, so those timers fire, and
//    those fibers are cancelled and listed, like any other.
// 3. At most spares.size() spare threads at once; a spare is restarted
//    only after its previous thread was joined (running false).
// 4. mon_parked is a Dekker pair with num_idle: the monitor stores
//    mon_parked and then loads num_idle; a worker's wake-up decrements
//    num_idle (an RMW, by itself or its waker) before it loads mon_parked;
//    all seq_cst. Either the monitor sees a worker busy and does not sleep,
//    or the worker sees the monitor asleep and pokes it.
// 5. While a spare runs, the deadlock detector declares nothing (every
//    worker may idle while a spare runs a fiber); a retiring spare wakes a
//    worker, which sleeps again with the detector's watch.
//
// Rejected designs
// - Go's P hand-off (the stuck thread's queues given to a new thread, which
//   the stuck one gets back from when its call returns): a weft worker is
//   both Go's P and its M, and a stuck thread would find its queues owned
//   by another on its next switch, which every switch would have to check
//   with an atomic read-modify-write. Moving the queued fibers costs only
//   locality.
// - Preemption by signal (Go's answer to CPU loops): switching stacks in a
//   signal handler that interrupted arbitrary C++ is not async-signal-safe.
// - A spare for a CPU loop: in a one-worker runtime it would run fibers in
//   parallel with the loop, so N:1 would stop being one fiber at a time.
// - A lock on the yield list (the owner's test-and-set at every push and
//   pop): one atomic read-modify-write per yield_push and yield_pop, on
//   the path weft-bench yield measures.
// - Spares stealable by the workers: a worker's steal loop would visit
//   twice the victims for spares that almost never run, in every runtime.

#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "runtime_impl.hpp"

namespace weft::detail {

namespace {

constexpr std::int64_t kTickNs = 5'000'000;
constexpr std::int64_t kStuckNs = 10'000'000;
constexpr std::int64_t kSpareNapNs = 1'000'000;
// CPU time a suspect's thread must use over a tick (kTickNs) to count as
// computing: a thread blocked in the kernel or descheduled uses next to
// none, and a CPU loop on a machine loaded many times over still gets
// this much of a core.
constexpr std::int64_t kOnCpuNs = 100'000;

// The CPU time w's thread has used, or -1 when unknown.
std::int64_t thread_cpu_ns(const worker* w) noexcept {
  const int c = w->cpu_clock.load(std::memory_order_relaxed);
  if (c == -1) return -1;
  timespec ts;
  if (::clock_gettime(static_cast<clockid_t>(c), &ts) != 0) return -1;
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Whether w's thread sleeps in the kernel (protocol step 2).
bool blocked_in_kernel(const worker* w) noexcept {
  const int tid = w->os_tid.load(std::memory_order_relaxed);
  if (tid == 0) return false;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) return false;
  char buf[512];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // The state follows the command name, which may contain ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr || p[1] != ' ') return false;
  return p[2] == 'S' || p[2] == 'D';
}

long membarrier(int cmd) noexcept { return ::syscall(SYS_membarrier, cmd, 0, 0); }

// What the monitor remembers of one worker between ticks.
struct sample {
  std::uint64_t id = 0;
  std::uint64_t runs = 0;
  std::int64_t since = 0;  // first seen with this (id, runs)
  std::int64_t cpu = -1;   // its thread's CPU clock at the last tick
  bool stuck = false;
  bool blocked = false;    // stuck in the kernel, not computing (step 2)
};

// Wakes a spare napping on its wake_word (protocol step 4).
void poke_spare(worker* s) noexcept {
  s->wake_word.store(1, std::memory_order_relaxed);
  futex_wake(&s->wake_word, 1);
}

void spare_thread_main(worker* w) {
  worker_thread_main(w);
  w->os_tid.store(0, std::memory_order_relaxed);
  w->cpu_clock.store(-1, std::memory_order_relaxed);
  // Release: the monitor's acquire load, before it joins and reuses us.
  w->running.store(false, std::memory_order_release);
}

// Appends g to the chain first..last.
void chain_add(fiber*& first, fiber*& last, fiber* g) noexcept {
  (last != nullptr ? last->next : first) = g;
  last = g;
}

}  // namespace

void worker_thread_identify(worker* w) noexcept {
  w->os_tid.store(static_cast<int>(::gettid()), std::memory_order_relaxed);
  clockid_t c;
  if (::pthread_getcpuclockid(::pthread_self(), &c) == 0)
    w->cpu_clock.store(static_cast<int>(c), std::memory_order_relaxed);
}

void worker::spare_loop() {
  // Acquire: pairs with the monitor's release store of retire (nothing
  // rides on it but the request itself).
  while (!rt->stop.load(std::memory_order_acquire) && !retire.load(std::memory_order_acquire)) {
    fire_timers();
    fiber* f = find_local();
    if (f == nullptr && rt->poll.poll_now(true)) f = find_local();
    if (f == nullptr) f = steal();
    if (f == nullptr) {
      fire_everyones_timers();
      f = find_local();
    }
    if (f == nullptr) {
      // A lost poke costs one nap at most.
      futex_wait(&wake_word, 0, std::min(rt->earliest_timer(), now_ns() + kSpareNapNs));
      wake_word.store(0, std::memory_order_relaxed);
      continue;
    }
    resume(f);
  }
  // Give back what is queued here (step 5), as its owner.
  fiber* first = nullptr;
  fiber* last = nullptr;
  std::size_t n = 0;
  // acq_rel: as push_next's exchange.
  if (fiber* g = next_slot.exchange(nullptr, std::memory_order_acq_rel)) chain_add(first, last, g), n++;
  while (fiber* g = queue.pop()) chain_add(first, last, g), n++;
  while (fiber* g = yield_pop()) chain_add(first, last, g), n++;
  // At the front, as hand_off does: these were runnable before whatever
  // was injected since.
  if (n != 0) rt->injected.push_chain_front(first, last, n);
  // seq_cst: the deadlock detector's load (invariant 5).
  rt->spares_active.fetch_sub(1, std::memory_order_seq_cst);
  if (n != 0) rt->notify_work();
  if (!rt->stop.load(std::memory_order_acquire)) rt->wake_one();  // invariant 5
}

std::size_t runtime::hand_off(worker* w) noexcept {
  fiber* first = nullptr;
  fiber* last = nullptr;
  std::size_t n = 0;
  // acq_rel: as a thief's CAS in worker::steal (takes over the fiber).
  if (w->next_slot.load(std::memory_order_relaxed) != nullptr)
    if (fiber* g = w->next_slot.exchange(nullptr, std::memory_order_acq_rel)) chain_add(first, last, g), n++;
  for (std::int64_t i = 0; i < 2 * local_queue::kCapacity && w->queue.size() > 0; i++)
    if (fiber* g = w->queue.steal()) chain_add(first, last, g), n++;
  // The yield list (step 3). The head is a hint here: a stale null only
  // leaves the list for the next tick.
  if (mon_barrier && w->yield_head.load(std::memory_order_relaxed) != nullptr) {
    // seq_cst store, membarrier, seq_cst load: our half of the Dekker pair
    // (the syscall is a full fence here as well as on the owner's CPU).
    w->yield_taken.store(true, std::memory_order_seq_cst);
    membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    // Acquire: pairs with yield_leave's release (the list as the owner left it).
    if (!w->yield_busy.load(std::memory_order_seq_cst)) {
      fiber* head = w->yield_head.load(std::memory_order_relaxed);
      fiber* tail = w->yield_tail;
      w->yield_head.store(nullptr, std::memory_order_relaxed);
      w->yield_tail = nullptr;
      // The chain is ours now (it is on no list the owner can see).
      if (head != nullptr) {
        (last != nullptr ? last->next : first) = head;
        for (fiber* g = head; g != nullptr; g = g->next) n++;
        last = tail;
      }
    }
    // Release: pairs with yield_enter's and yield_wait's acquire loads.
    w->yield_taken.store(false, std::memory_order_release);
  }
  if (n == 0) return 0;
  // At the front: these were runnable before whatever was injected since
  // (a yielded fiber behind a flood of spawns would wait for all of it).
  injected.push_chain_front(first, last, n);
  notify_work();
  return n;
}

void runtime::start_monitor() {
  try {
    monitor = std::thread([this] { monitor_main(); });
    monitor_running.store(true, std::memory_order_relaxed);
  } catch (...) {
    // No thread: no hand-off; the runtime runs as it would without it.
  }
}

void runtime::stop_monitor() {
  if (!monitor.joinable()) return;
  // seq_cst, then mon_word: the monitor stores mon_word and then loads
  // mon_stop, so it either sees the flag or its futex wait sees the poke.
  mon_stop.store(true, std::memory_order_seq_cst);
  mon_word.store(1, std::memory_order_seq_cst);
  futex_wake(&mon_word, 1);
  monitor.join();
  monitor_running.store(false, std::memory_order_relaxed);
}

void runtime::monitor_after_sleep() noexcept {
  // seq_cst: invariant 4 (after our wake-up's RMW on num_idle).
  if (!mon_parked.load(std::memory_order_seq_cst)) return;
  if (mon_word.exchange(1, std::memory_order_seq_cst) == 0) futex_wake(&mon_word, 1);
}

std::string runtime::stuck_note(std::uint64_t id) const {
  if (id == 0) return {};
  for (worker* w : all) {
    if (w->stuck_id.load(std::memory_order_relaxed) != id) continue;
    const long long ms = (now_ns() - w->stuck_since.load(std::memory_order_relaxed)) / 1'000'000;
    std::string note = ", stuck ";
    note += w->stuck_blocked.load(std::memory_order_relaxed) ? "blocked in the kernel" : "computing";
    note += ": ";
    note += std::to_string(ms);
    note += " ms without suspending, holding ";
    note += w->is_spare ? "spare worker " : "worker ";
    note += std::to_string(w->index);
    return note;
  }
  return {};
}

void runtime::monitor_main() {
  // Registration makes later barriers cheap (IPIs to this process's CPUs
  // only); it fails on kernels before 4.14 and under some seccomp filters.
  mon_barrier = membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
  std::vector<sample> seen(all.size());
  const auto unstick = [](worker* w, sample& s) {
    if (s.stuck) w->stuck_id.store(0, std::memory_order_relaxed);
    s = sample{};
  };
  // One tick: whether worker i is stuck now (steps 1-3).
  const auto check = [this, &seen, &unstick](std::size_t i, std::int64_t now) {
    worker* w = all[i];
    sample& s = seen[i];
    const std::uint64_t id = w->running_id.load(std::memory_order_relaxed);
    const std::uint64_t runs = w->runs.load(std::memory_order_relaxed);
    if (id == 0 || id != s.id || runs != s.runs) {
      unstick(w, s);
      s.id = id;
      s.runs = runs;
      s.since = now;
      return;
    }
    const std::int64_t cpu = thread_cpu_ns(w);
    const std::int64_t used = cpu >= 0 && s.cpu >= 0 ? cpu - s.cpu : -1;
    s.cpu = cpu;
    if (now - s.since < kStuckNs || used < 0) return;
    const bool computing = used >= kOnCpuNs;
    const bool blocked = !computing && blocked_in_kernel(w);
    if (!computing && !blocked) return;  // waiting for a CPU: as it was
    s.blocked = blocked;
    w->stuck_blocked.store(blocked, std::memory_order_relaxed);
    if (!s.stuck) {
      s.stuck = true;
      w->stuck_since.store(s.since, std::memory_order_relaxed);
      w->stuck_id.store(id, std::memory_order_relaxed);
      handoffs.fetch_add(1, std::memory_order_relaxed);
    }
    if (hand_off(w) != 0)
      for (worker* sp : spares)
        if (sp->running.load(std::memory_order_relaxed)) poke_spare(sp);
  };
  const auto start_spare = [this] {
    for (worker* s : spares) {
      // Acquire: pairs with the thread's last store (invariant 3).
      if (s->running.load(std::memory_order_acquire)) continue;
      if (s->thread.joinable()) s->thread.join();
      s->retire.store(false, std::memory_order_relaxed);
      s->running.store(true, std::memory_order_relaxed);
      // seq_cst: the deadlock detector's load (invariant 5).
      spares_active.fetch_add(1, std::memory_order_seq_cst);
      try {
        s->thread = std::thread(spare_thread_main, s);
        spares_started.fetch_add(1, std::memory_order_relaxed);
      } catch (...) {
        s->running.store(false, std::memory_order_relaxed);
        spares_active.fetch_sub(1, std::memory_order_seq_cst);
      }
      return;
    }
  };
  const auto retire = [](worker* s) {
    if (s->retire.load(std::memory_order_relaxed)) return;
    s->retire.store(true, std::memory_order_release);  // spare_loop's acquire
    poke_spare(s);
  };
  for (;;) {
    // seq_cst: pairs with stop_monitor (which stores mon_stop, then mon_word).
    mon_word.store(0, std::memory_order_seq_cst);
    if (mon_stop.load(std::memory_order_seq_cst)) break;
    const auto quiet = [this] {
      return num_idle.load(std::memory_order_seq_cst) == workers.size() &&
             spares_active.load(std::memory_order_seq_cst) == 0;
    };
    if (quiet()) {
      // Step 7, invariant 4.
      mon_parked.store(true, std::memory_order_seq_cst);
      if (quiet()) futex_wait(&mon_word, 0, INT64_MAX);
      mon_parked.store(false, std::memory_order_relaxed);
      continue;
    }
    futex_wait(&mon_word, 0, now_ns() + kTickNs);
    if (mon_stop.load(std::memory_order_seq_cst)) break;

    const std::int64_t now = now_ns();
    unsigned stuck_workers = 0;
    unsigned blocked = 0;       // threads (workers and spares) stuck in the kernel
    unsigned spares_live = 0;   // running spares not retiring
    bool free_spare = false;    // one of them neither stuck nor retiring
    for (std::size_t i = 0; i < all.size(); i++) {
      worker* w = all[i];
      if (w->is_spare && !w->running.load(std::memory_order_acquire)) {
        unstick(w, seen[i]);
        continue;
      }
      check(i, now);
      const sample& s = seen[i];
      if (s.stuck && s.blocked) blocked++;
      if (!w->is_spare) {
        stuck_workers += s.stuck ? 1 : 0;
      } else if (!w->retire.load(std::memory_order_relaxed)) {
        spares_live++;
        if (!s.stuck) free_spare = true;
      }
    }
    // Step 4: as many spares as threads blocked, while every worker is stuck.
    const unsigned target =
        stuck_workers == workers.size() ? std::min<unsigned>(blocked, static_cast<unsigned>(spares.size())) : 0;
    if (target == 0) {
      for (worker* s : spares)
        if (s->running.load(std::memory_order_relaxed)) retire(s);
    } else if (spares_live > target) {
      for (std::size_t i = workers.size(); i < all.size(); i++)
        if (all[i]->running.load(std::memory_order_relaxed) && !seen[i].stuck) retire(all[i]);
    } else if (spares_live < target && !free_spare) {
      start_spare();
    }
    for (worker* s : spares)
      if (!s->running.load(std::memory_order_acquire) && s->thread.joinable()) s->thread.join();
    // Step 6.
    if (poll.waiters.load(std::memory_order_relaxed) > 0 &&
        poll.blocked_until.load(std::memory_order_relaxed) == netpoller::kNotBlocked &&
        now - poll.last_poll.load(std::memory_order_relaxed) > kStuckNs)
      poll.poll_now(false);
  }
  // The spares end once `stop` is set (it is: run_runtime stops us after
  // worker 0 left its loop).
  for (worker* s : spares) {
    if (s->running.load(std::memory_order_acquire)) poke_spare(s);
    if (s->thread.joinable()) s->thread.join();
  }
}

}  // namespace weft::detail
