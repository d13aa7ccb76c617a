// The runtime's internal types: workers, timers, the fiber registry.
// See docs/scheduler.md for the whole design; each .cpp opens with the
// protocol it implements.
//
// Lock order (acquire left before right; never the reverse):
//   registry_shard::mu -> timer_heap::mu -> idle_mu -> inject_queue::mu
//   blocking_pool::mu -> blocking_job::mu -> idle_mu -> inject_queue::mu
//   poll_desc::mu -> idle_mu -> inject_queue::mu
// (the left-hand locks are held while calling unpark(), which may take
// idle_mu and the injection queue's lock), and the leaves: runtime::watch_mu,
// the stack pool's mu. The channels layer's locks (channel, sync primitive)
// are leaves too: it wakes the waiters it completes only after unlocking.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include <weft/scheduler/detail/spin_mutex.hpp>
#include <weft/scheduler/runtime.hpp>

#include "fiber.hpp"
#include "netpoll.hpp"
#include "run_queue.hpp"
#include "trace.hpp"

namespace weft::detail {

struct runtime;
struct worker;

// A sleeping fiber's timer: lives in the fiber's park_until frame.
struct timer_node {
  std::int64_t deadline = 0;  // steady_clock nanoseconds
  parker* p = nullptr;
  std::size_t index = 0;      // position in the heap, guarded by heap mu
  bool in_heap = false;       // guarded by heap mu
};

// A min-heap of timers, one per worker; any thread may cancel (the fiber
// may have migrated), so it has a lock.
struct timer_heap {
  std::mutex mu;  // guards heap and the timer_nodes in it
  std::vector<timer_node*> heap;
  // Earliest deadline, or INT64_MAX; read without the lock as a hint.
  std::atomic<std::int64_t> next{INT64_MAX};

  void insert(timer_node* n);
  void remove(timer_node* n);  // if still present
  // Unparks every timer due at `now`; returns how many.
  std::size_t fire_due(std::int64_t now);
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
// the file that implements them. Every field outside groups 3-5 belongs to
// the worker's own thread alone.
struct worker {
  // 1. Identity: written by run_runtime before the thread starts, then
  //    read-only (any thread).
  runtime* rt = nullptr;
  unsigned index = 0;
  std::thread thread;  // empty for worker 0 (the thread that called run)

  // 2. Owner only: the thread running this worker's loop (and the fibers
  //    it runs). Plain fields; no other thread reads them.
  context sched_ctx;       // this thread's own context: the scheduling loop
  fiber* current = nullptr;
  // The side that switched away (null: sched_ctx) and what it needs done.
  fiber* pending_from = nullptr;
  after_switch pending = after_switch::none;
  std::uint32_t next_streak = 0;  // next-slot picks in a row (find_local)
  // Fibers that called yield(): FIFO, never stolen.
  fiber* yield_head = nullptr;
  fiber* yield_tail = nullptr;
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

  // 4. Owner writes, any thread reads: counters (plain load + store by the
  //    owner, through count()).
  // Fibers created here and fibers that ended here (release; readers
  // acquire: runtime::live_fibers).
  std::atomic<std::uint64_t> created{0};
  std::atomic<std::uint64_t> exited{0};
  // Fibers resumed here (the deadlock detector's sign of life; a per-worker
  // counter, so the switch path writes only its own cache line).
  std::atomic<std::uint64_t> runs{0};
  // The id of the fiber running here, 0 while in the scheduling loop.
  // Written at every switch, read by the shutdown watchdog to name a fiber
  // that never suspends; relaxed: a diagnostic sample.
  std::atomic<std::uint64_t> running_id{0};
  void count(std::atomic<std::uint64_t>& c) noexcept {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
  // What stats() reports (trace.hpp, note 1: owner writes, relaxed).
  worker_counters ctr;

  // 5. Any thread, under the structure's own lock.
  timer_heap timers;        // a migrated fiber cancels its timer from anywhere
  registry_shard registry;  // the fibers that first parked here

  // 6. The idle protocol (idle.cpp): the owner sleeps on these; a notifier
  //    claims the worker under runtime::idle_mu and wakes it.
  // Futex word for sleeping: 0 asleep/awake, 1 woken by a notifier.
  std::atomic<std::uint32_t> wake_word{0};
  // Set while this worker sleeps in epoll_wait instead of on wake_word: a
  // notifier then interrupts the poller (idle.cpp, step 5). seq_cst
  // store and load, against wake_word's seq_cst store and load.
  std::atomic<bool> polling{false};

  // worker.cpp: the loop and where to find work. Owner only, except
  // push_next/push_queue, which run on the owner for the fibers it wakes.
  void loop();
  fiber* find_local() noexcept;
  // Fires this worker's due timers; whether any fiber was woken.
  bool fire_timers() noexcept;
  fiber* find_global() noexcept;
  fiber* steal() noexcept;
  void push_next(fiber* f) noexcept;
  void push_queue(fiber* f) noexcept;
  void yield_push(fiber* f) noexcept;
  fiber* yield_pop() noexcept;
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

  void notify_work() noexcept;
  bool wake_one() noexcept;
  void wake_all() noexcept;
  bool any_work() const noexcept;  // stealable or shared work, or a due timer
  std::int64_t earliest_timer() const noexcept;
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
