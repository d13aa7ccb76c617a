// The runtime's internal types: workers, timers, the fiber registry.
// See docs/scheduler.md for the whole design; each .cpp opens with the
// protocol it implements.
//
// Lock order (acquire left before right; never the reverse):
//   registry_shard::mu -> timer_heap::mu -> idle_mu -> inject_queue::mu
//   timers' g_route.mu -> a worker's timer_heap::mu -> the fallback
//     timer_heap::mu -> (a channel's mu, a leaf) -> idle_mu
//   (a context's state mutex, channels/src/context.cpp) -> timer_heap::mu
//   blocking_pool::mu -> blocking_job::mu -> idle_mu -> inject_queue::mu
//   poll_desc::mu -> idle_mu -> inject_queue::mu
// (the left-hand locks are held while calling unpark(), which may take
// idle_mu and the injection queue's lock), and the leaves: runtime::watch_mu,
// the stack pool's mu. (A worker's yield list has no lock: monitor.cpp,
// step 3.) The channels layer's locks (channel, sync primitive)
// are leaves too: it wakes the waiters it completes only after unlocking.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <weft/scheduler/detail/spin_mutex.hpp>
#include <weft/scheduler/detail/timer.hpp>
#include <weft/scheduler/runtime.hpp>

#include "fiber.hpp"
#include "netpoll.hpp"
#include "run_queue.hpp"
#include "trace.hpp"

namespace weft::detail {

struct runtime;
struct worker;

struct timer_heap;

// A timer in a heap (timers.cpp has the protocol). Two kinds: a sleeping
// fiber's (p set, the node lives in its park_until frame and is removed by
// that frame), and a callback timer (struct timer below).
struct timer_node {
  std::int64_t deadline = 0;  // steady_clock nanoseconds
  parker* p = nullptr;        // sleep timers: unparked when due
  std::size_t index = 0;      // position in the heap, guarded by heap mu
  bool in_heap = false;       // guarded by heap mu
  // The heap this node is in or was last in. Written under that heap's mu
  // (and, when a timer moves between heaps, under both heaps' mu); read
  // without a lock only to find the lock to take (acquire, pairing with
  // the release store of the move), then re-checked under it.
  std::atomic<timer_heap*> heap{nullptr};
};

// A callback timer (weft/scheduler/detail/timer.hpp): after, ticker,
// context deadlines. Heap-allocated; freed when refs reaches 0.
struct timer : timer_node {
  std::int64_t period = 0;  // > 0: re-armed after each fire
  const timer_callbacks* cb = nullptr;
  void* arg = nullptr;
  // One for the handle (unless detached), one while in a heap or being
  // fired outside the lock. acq_rel decrements: the last one sees every
  // earlier owner's writes before it frees.
  std::atomic<std::uint32_t> refs{0};
  timer* next_deferred = nullptr;  // fire_due's local list (outside_lock)
};

// A min-heap of timers: one per worker, and the fallback thread's (when no
// runtime runs). Heaps are never freed (timers.cpp, note 6): a stopper may
// hold a pointer to one while its runtime ends.
struct timer_heap {
  std::mutex mu;  // guards heap and the timer_nodes in it
  std::vector<timer_node*> heap;
  // Earliest deadline, or INT64_MAX. Stored under mu (seq_cst: the
  // inserter's store is one side of the Dekker pair with a sleeper's
  // num_idle increment, timers.cpp note 3); read without the lock.
  std::atomic<std::int64_t> next{INT64_MAX};
  runtime* rt = nullptr;  // the runtime whose worker owns it; null: fallback. Under mu.

  // Inserts n; true if it became the earliest.
  bool insert(timer_node* n);
  bool remove(timer_node* n);  // if still present; whether it was
  // Fires every timer due at `now`; returns how many.
  std::size_t fire_due(std::int64_t now);
};

// A heap from the never-freed pool, for the lifetime of a worker.
struct timer_heap_lease {
  timer_heap* h;
  timer_heap_lease();
  ~timer_heap_lease();
  timer_heap_lease(const timer_heap_lease&) = delete;
  timer_heap_lease& operator=(const timer_heap_lease&) = delete;
};

struct registry_shard {
  spin_mutex mu;  // guards the list, count and the fibers' reg_* links
  fiber* head = nullptr;
  std::size_t count = 0;
};

// What the context switched away from asks the resumed side to finish.
// abandon: the fiber is given up for good (shutdown.cpp): never resumed,
// its stack and block never freed.
enum class after_switch : std::uint8_t { none, yield, park, exit, abandon };
static_assert(static_cast<int>(after_switch::abandon) == static_cast<int>(run_end::abandon) &&
              static_cast<int>(after_switch::park) == static_cast<int>(run_end::park));

// A worker: one OS thread running the scheduling loop (worker.cpp). Its
// fields are grouped by who may touch them; the functions are grouped by
// the file that implements them. Every field in groups 1 and 2 belongs to
// the worker's own thread alone; the others say who else touches them. A
// spare (monitor.cpp) is a worker too, run by a thread the monitor starts.
struct worker {
  // 1. Identity: written by run_runtime before the thread starts, then
  //    read-only (any thread).
  runtime* rt = nullptr;
  unsigned index = 0;
  std::thread thread;  // empty for worker 0 (the thread that called run)

  // 2. Owner only: the thread running this worker's loop (and the fibers
  //    it runs). Plain fields; no other thread reads them (the dump copies
  //    `current` with process_vm_readv: dump.cpp note 3).
  context sched_ctx;       // this thread's own context: the scheduling loop
  fiber* current = nullptr;
  // The side that switched away (null: sched_ctx) and what it needs done.
  fiber* pending_from = nullptr;
  after_switch pending = after_switch::none;
  std::uint32_t next_streak = 0;  // next-slot picks in a row (find_local)
  // Fiber ids handed out here without touching the shared counter:
  // [next_id, id_end), refilled kIdBatch at a time.
  std::uint64_t next_id = 0;
  std::uint64_t id_end = 0;
  std::uint32_t tick = 61;  // counts down to the next fairness pick
  std::uint64_t rng = 0;
  bool spinning = false;        // counted in runtime::num_spinning
  std::int64_t spin_since = 0;  // when the current spell of spinning began
  trace_buffer* trace = nullptr;  // while tracing (trace.hpp, note 3)
  // The park reason kind of the last wait reason text seen here: parks
  // repeat the same few texts, so the counter's kind is mostly one compare.
  const char* park_what = nullptr;
  std::size_t park_kind = static_cast<std::size_t>(park_reason::other);
  std::size_t park_kind_of(const char* what) noexcept {
    if (what != park_what) [[unlikely]] {
      park_what = what;
      park_kind = static_cast<std::size_t>(classify_park(what));
    }
    return park_kind;
  }

  // 3. Owner writes, thieves take (worker.cpp, steal).
  // LIFO slot for the fiber just made runnable here. Only the owner fills
  // it; the owner and thieves take it with exchange/CAS (acq_rel), pairing
  // with the owner's release store.
  std::atomic<fiber*> next_slot{nullptr};
  local_queue queue;  // owner pushes and pops one end, thieves steal the other
  // Fibers that called yield(): FIFO, never stolen. The owner pushes and
  // pops; the monitor takes the whole list from a stuck worker. No lock:
  // the owner brackets each touch of the list with yield_busy, and the
  // monitor takes it only after it set yield_taken, issued a process-wide
  // barrier and saw yield_busy clear (monitor.cpp, step 3). yield_tail and
  // the listed fibers' `next` links belong to whoever holds the list.
  // yield_head is also read outside the bracket, relaxed, as an emptiness
  // hint: only the owner adds, so a null it sees stays null until it pushes.
  std::atomic<fiber*> yield_head{nullptr};
  fiber* yield_tail = nullptr;
  std::atomic<bool> yield_busy{false};   // owner writes; the monitor reads
  std::atomic<bool> yield_taken{false};  // the monitor writes; the owner reads

  // 4. Owner writes, any thread reads: counters, each incremented by the
  //    owner through count() (single_writer_add: trace.hpp, note 1) with
  //    the ordering its readers need.
  // Fibers created here. Relaxed: runtime::live_fibers, the one reader
  // that draws a conclusion, needs nothing from it beyond coherence (an
  // exit it reads carries the fiber's creation along: see exited).
  std::atomic<std::uint64_t> created{0};
  // Fibers that ended here (or were abandoned). Seq_cst: after main has
  // returned, each exit stores this and then, in on_fiber_exit, loads
  // main_done and every worker's `exited` (live_fibers), to see whether it
  // was the last. Two workers whose fibers exit at once are a Dekker pair:
  // with release stores and acquire loads both loads may read the old
  // counts (store buffering), each sees the other fiber alive, nobody sets
  // `stop` and run() never returns. Seq_cst stores and loads (this store,
  // live_fibers' loads of it, and on_fiber_exit's load of main_done) are
  // in one total order, so the later of the two exits sees the earlier;
  // likewise main's exit (on_main_done's seq_cst main_done store, then
  // live_fibers) against the last other fiber's exit (this store, then the
  // main_done load). Its release half keeps live_fibers from counting
  // low: reading an exit makes the fiber's creation, counted before it,
  // visible too. On x86 this store is an xchg, once per fiber exit.
  std::atomic<std::uint64_t> exited{0};
  // Fibers resumed here: the sign of life the deadlock detector (idle.cpp),
  // the steal grace (worker.cpp) and the shutdown watchdog compare between
  // two samples; a per-worker counter, so the switch path writes only its
  // own cache line. Relaxed: no reader reads other data through it, and
  // acquire would not make a sample any fresher.
  std::atomic<std::uint64_t> runs{0};
  // The id of the fiber running here, 0 while in the scheduling loop.
  // Written at every switch, read by the shutdown watchdog to name a fiber
  // that never suspends; relaxed: a diagnostic sample.
  std::atomic<std::uint64_t> running_id{0};
  // Adds one to created, exited or runs with that counter's ordering
  // (above); the test folds away once inlined. Owner only.
  void count(std::atomic<std::uint64_t>& c) noexcept {
    if (&c == &exited)
      single_writer_add<std::memory_order_seq_cst>(c, 1);
    else
      single_writer_add<std::memory_order_relaxed>(c, 1);
  }
  // What stats() reports (trace.hpp, note 1: owner writes, relaxed).
  worker_counters ctr;

  // 5. Any thread, under the structure's own lock.
  timer_heap_lease timer_lease;     // the pooled heap behind `timers`
  timer_heap& timers = *timer_lease.h;  // any thread may stop a timer in it
  registry_shard registry;  // the fibers that first parked here

  // 6. The idle protocol (idle.cpp): the owner sleeps on these; a notifier
  //    claims the worker under runtime::idle_mu and wakes it.
  // Futex word for sleeping: 0 asleep/awake, 1 woken by a notifier.
  std::atomic<std::uint32_t> wake_word{0};
  // Set while this worker sleeps in epoll_wait instead of on wake_word: a
  // notifier then interrupts the poller (idle.cpp, step 5). seq_cst
  // store and load, against wake_word's seq_cst store and load.
  std::atomic<bool> polling{false};
  // While this worker sleeps with a timeout (futex or epoll_wait): the
  // deadline by which it will wake; INT64_MAX otherwise. Seq_cst store and
  // loads (timers.cpp, note 3).
  std::atomic<std::int64_t> sleep_until{INT64_MAX};

  // 7. The monitor (monitor.cpp, which states the protocol).
  bool is_spare = false;  // identity: set before any thread runs this worker
  // The thread running this worker: its kernel id and CPU clock, written
  // by that thread when it starts (relaxed: the monitor treats 0 / -1 as
  // unknown; a stale value only delays a hand-off).
  std::atomic<int> os_tid{0};
  std::atomic<int> cpu_clock{-1};
  // Written by the monitor alone: the fiber seen running here without a
  // switch for longer than kStuckNs (0: none), since when (now_ns()), and
  // whether its thread sleeps in the kernel (a blocking call) rather than
  // computes. Relaxed: diagnostics (stats(), dump_fibers()).
  std::atomic<std::uint64_t> stuck_id{0};
  std::atomic<std::int64_t> stuck_since{0};
  std::atomic<bool> stuck_blocked{false};
  // Spares only. retire: the monitor asks the spare's thread to give its
  // queues back and end (release; the spare's acquire load). running: set
  // by the monitor before it starts the thread, cleared by the thread as
  // its last act (release; the monitor's acquire load before join()).
  std::atomic<bool> retire{false};
  std::atomic<bool> running{false};

  // worker.cpp: the loop and where to find work. Owner only, except
  // push_next/push_queue, which run on the owner for the fibers it wakes.
  void loop();
  fiber* find_local() noexcept;
  // Fires this worker's due timers; whether any fiber was woken.
  bool fire_timers() noexcept;
  // Fires the due timers of every worker's heap (and spare's): a busy
  // worker's timers must not wait for it. Owner only.
  void fire_everyones_timers();
  fiber* find_global() noexcept;
  fiber* steal() noexcept;
  void push_next(fiber* f) noexcept;
  void push_queue(fiber* f) noexcept;
  void yield_push(fiber* f) noexcept;
  fiber* yield_pop() noexcept;
  // The owner's bracket around a touch of the yield list (monitor.cpp,
  // step 3); yield_wait is its slow path, while the monitor takes the list.
  void yield_enter() noexcept {
    yield_busy.store(true, std::memory_order_relaxed);
    // The monitor's membarrier() is this thread's store-load fence; the
    // compiler must not move the load above the store either.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    // Acquire: pairs with the monitor's release store of false after a
    // take, so we see the list as it left it.
    if (yield_taken.load(std::memory_order_acquire)) [[unlikely]] yield_wait();
  }
  // Release: pairs with the monitor's acquire load of yield_busy, so a
  // take sees the list as we left it.
  void yield_leave() noexcept { yield_busy.store(false, std::memory_order_release); }
  __attribute__((noinline)) void yield_wait() noexcept;
  bool has_local_work() const noexcept;
  // worker.cpp: switching (owner only: from the fiber running here or the
  // scheduling loop). Inlined into every switch for the common cases (from
  // the scheduling loop, or a park that no unpark raced); the rest out of
  // line.
  [[gnu::always_inline]] inline void finish_switch(fcontext_t from_ctx) noexcept;
  __attribute__((noinline)) void finish_switch_rest(fiber* from, after_switch what) noexcept;
  // Records what the resumed side must finish and picks the context to
  // switch to (`to`, or the scheduling loop when null).
  context& leave(fiber* self, after_switch what, fiber* to) noexcept;
  void switch_from_fiber(fiber* self, after_switch what, fiber* to) noexcept;
  [[noreturn]] void exit_fiber(fiber* self) noexcept;
  void resume(fiber* f) noexcept;  // from sched_ctx
  fiber* prepare(fiber* f);         // first run: stack, context; returns f's new address
  // shutdown.cpp: gives up the running fiber for good: prints why, counts
  // it as exited and switches away, never to return. Its stack and block
  // are leaked: a stuck blocking call or a wait structure may still point
  // into them. From the fiber itself.
  [[noreturn]] void abandon(fiber* self, const char* why) noexcept;
  // idle.cpp: the owner's side of the idle protocol.
  void sleep_until_work();
  // monitor.cpp: a spare's scheduling loop, then its queues given back.
  void spare_loop();
};

struct blocking_pool;

struct runtime {
  run_options opts;
  std::vector<worker*> workers;
  inject_queue injected;
  std::atomic<std::uint64_t> outside_created{0};  // fibers spawned from plain threads
  // Counted by threads that are not workers (fetch_add; trace.hpp note 1).
  worker_counters outside;

  // Idle workers (see idle.cpp "Idle workers").
  std::mutex idle_mu;  // guards sleepers
  std::vector<worker*> sleepers;
  std::atomic<unsigned> num_idle{0};
  std::atomic<unsigned> num_spinning{0};

  std::atomic<std::uint64_t> next_id{1};
  std::atomic<unsigned> blocking_inflight{0};
  std::atomic<bool> main_done{false};
  // Set (seq_cst) when every fiber is to be cancelled: main returned, or a
  // deadlock under throw_in_run. Read at every suspension point.
  std::atomic<bool> cancelling{false};
  // Set (seq_cst) by the shutdown watchdog once opts.shutdown_grace has
  // passed since main returned: a fiber that reaches a cancellation point
  // now is abandoned instead of cancelled (shutdown.cpp).
  std::atomic<bool> abandoning{false};
  std::int64_t main_done_at = 0;  // now_ns() when main returned; before main_done
  std::atomic<bool> stop{false};
  std::atomic<bool> deadlocked{false};
  std::string deadlock_report;  // written once, by the detector, before stop

  // The shutdown watchdog (shutdown.cpp): a thread started when main
  // returns with other fibers alive, joined by run_runtime.
  std::thread watchdog;             // written by on_main_done, before stop
  std::atomic<bool> watchdog_running{false};
  std::mutex watch_mu;              // guards watch_stop
  std::condition_variable watch_cv;
  bool watch_stop = false;

  blocking_pool* blocking = nullptr;
  netpoller poll{*this};  // the epoll set (netpoll.cpp)

  // The monitor (monitor.cpp): a thread that hands a stuck worker's queued
  // fibers to the others, and starts spare workers while every worker is
  // stuck and some are blocked in the kernel. spares: run_options::
  // spare_workers of them, allocated with the workers, threads only while
  // needed. all: workers then spares, fixed before any thread runs: the
  // scans that must see every fiber's worker (timers, registry shards,
  // counters) walk it; the scheduling policy (stealing, idling) uses
  // `workers`.
  std::vector<worker*> spares;
  std::vector<worker*> all;
  std::thread monitor;                        // written by run_runtime only
  std::atomic<bool> monitor_running{false};   // the thread exists (any thread reads)
  std::atomic<std::uint32_t> mon_word{0};     // futex: 1 when poked
  std::atomic<bool> mon_parked{false};        // asleep while every worker idles
  std::atomic<bool> mon_stop{false};
  bool mon_barrier = false;                   // membarrier registered (monitor thread only)
  std::atomic<std::uint64_t> handoffs{0};     // stuck spells noticed
  std::atomic<std::uint64_t> spares_started{0};
  std::atomic<unsigned> spares_active{0};     // spare threads running now

  void notify_work() noexcept;
  bool wake_one() noexcept;
  void wake_all() noexcept;
  bool any_work() const noexcept;  // stealable or shared work, or a due timer
  std::int64_t earliest_timer() const noexcept;
  // A timer due at `when` was added (or is the earliest left): make sure
  // an idle worker will wake for it (timers.cpp, note 3). From anywhere.
  void timer_added(std::int64_t when) noexcept;
  std::size_t live_fibers() noexcept;
  std::uint64_t total_runs() const noexcept;
  // Makes f runnable from a thread that is not a worker (a worker puts a
  // fiber it wakes in its own next slot: unpark).
  void inject(fiber* f) noexcept;
  // A fiber started to wait on an fd while none did: make sure some worker
  // will poll (wakes an idle one if nobody spins or polls).
  void on_first_io_waiter() noexcept;
  void on_main_done();
  void on_fiber_exit();
  void watch_shutdown();  // the watchdog thread's body
  void stop_watchdog();   // from run_runtime, after the workers left
  void start_monitor();   // from run_runtime, before the workers start
  void stop_monitor();    // from run_runtime, once worker 0 left its loop
  void monitor_main();    // the monitor thread's body
  // From a worker that just left sleep_until_work: wakes the monitor if it
  // sleeps because every worker was idle.
  void monitor_after_sleep() noexcept;
  // Moves w's runnable fibers (next slot, deque, yield list) to the shared
  // queue; how many. From the monitor, about a worker that is not its own.
  std::size_t hand_off(worker* w) noexcept;
  // The dump's note on a fiber that holds its worker (empty: not stuck).
  // From any thread.
  std::string stuck_note(std::uint64_t id) const;
  void cancel_all() noexcept;
  bool check_deadlock();
  // Threads of the process the deadlock detector cannot account for.
  std::int64_t unknown_threads();
  std::string describe_fibers();
};

// The running runtime (one per process at a time), and the calling
// thread's worker (null on plain threads). Both read TLS/globals afresh on
// each call: never cache them across a suspension point.
runtime* the_runtime() noexcept;

// The calling thread's worker; written only by that thread (runtime.cpp).
// Static TLS (initial-exec), so that this_worker() can read it by name.
extern thread_local worker* t_worker asm("weft_detail_t_worker") __attribute__((tls_model("initial-exec")));

// A fiber may resume on another thread, and compilers assume the thread
// pointer never changes within a function: they may compute a thread-local
// variable's address once and reuse it after a switch (reading the old
// thread's worker). The asm below reads %fs afresh on every call, inline
// (the hand-off path calls this several times per switch); the memory
// clobber keeps it from moving across the switch. weft is x86-64 only (the
// root CMakeLists.txt checks at configure time).
inline worker* this_worker() noexcept {
  worker* w;
  asm volatile(
      "movq weft_detail_t_worker@gottpoff(%%rip), %0\n\t"
      "movq %%fs:(%0), %0"
      : "=r"(w)
      :
      : "memory");
  return w;
}

// The deadlock detector's grace (deadlock.cpp): how long the last worker
// to go to sleep waits before it checks; the longer one while the process
// has a thread the detector cannot account for (unknown_threads): it may be
// about to make its first weft call.
inline constexpr std::int64_t kDeadlockGraceNs = 100'000'000;
inline constexpr std::int64_t kDeadlockUnknownGraceNs = 2'000'000'000;

std::int64_t now_ns() noexcept;

void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, std::int64_t deadline_ns) noexcept;
void futex_wake(std::atomic<std::uint32_t>* word, int n) noexcept;
void futex_wait32(std::atomic<std::int32_t>* word, std::int32_t expected, std::int64_t deadline_ns) noexcept;
void futex_wake32(std::atomic<std::int32_t>* word, int n) noexcept;

// A cancellation point found `cancelling` set: throws fiber_cancelled, or
// abandons the fiber once the shutdown grace has passed. From a fiber on w.
[[noreturn]] void cancel_current(worker* w);

// unpark() without the scheduling: returns the fiber if the caller must
// make it runnable (it was parked), or null (a permit was left, or the
// parker is a plain thread's, which was woken).
fiber* unpark_take(parker& p) noexcept;

// timers.cpp: the runtime's timers start on its workers' heaps and the
// fallback heap's move there (start), and the timers left on them move
// back to the fallback heap, sleeps dropped (end, after the workers left).
void timers_runtime_start(runtime& rt);
void timers_runtime_end(runtime& rt) noexcept;

// The body of a worker's thread (runtime.cpp): the scheduling loop, or a
// spare's (monitor.cpp), with the thread's setup around it.
void worker_thread_main(worker* w);

// Records the calling thread's kernel id and CPU clock in w (monitor.cpp).
// From the thread that runs w, when it starts.
void worker_thread_identify(worker* w) noexcept;

void registry_add(registry_shard& s, fiber* f) noexcept;
void registry_remove(fiber* f) noexcept;

void blocking_pool_start(runtime& rt);
void blocking_pool_stop(runtime& rt);
// Threads in rt's blocking pool now.
unsigned blocking_pool_threads(runtime& rt);
// The pool's threads and queued calls now (stats()). From anywhere.
void blocking_pool_load(runtime& rt, unsigned& threads, std::size_t& queued);
// After the shutdown grace: marks every blocking call still queued or
// running as abandoned and wakes its fiber, which then abandons itself; a
// stuck pool thread is left behind and, when its call returns, touches
// nothing but its job and the pool it keeps alive. From any thread.
void blocking_pool_abandon(runtime& rt) noexcept;

}  // namespace weft::detail
