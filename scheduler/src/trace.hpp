// The runtime's always-on counters and its execution trace (trace.cpp);
// docs/diagnostics.md says what each counter and trace event means.
//
// Design notes
// 1. Counters are per worker and have one writer, the worker's own thread
//    (and the fibers it runs). Every such counter, these and the worker's
//    own created/exited/runs (runtime_impl.hpp), is incremented by
//    single_writer_add: a relaxed load and a store, no read-modify-write,
//    so it costs a plain add on a cache line nobody else writes. They are
//    atomics rather than plain fields only so that other threads may read
//    them while they change: a load of an aligned 64-bit word never tears.
//    The store is relaxed where the readers only sample the count
//    (stats(): a snapshot needs no ordering with anything else, so
//    worker_counters::bump is relaxed), and stronger where a reader draws
//    a conclusion from it (worker::exited, seq_cst: runtime_impl.hpp says
//    why). Threads that are not workers (a plain thread waking a fiber, a
//    notifier) count into runtime::outside with fetch_add. stats() sums
//    them on read.
// 2. The trace is off unless WEFT_TRACE or run_options::trace_file names a
//    file. Every hook is `if (trace_on()) trace_xxx(...)`: one load of a
//    global flag and a branch that is never taken, the recording out of
//    line. g_trace_on is written only by run_runtime, before the workers
//    start and after they are joined.
// 3. While on, each worker records into its own preallocated buffer
//    (trace_buffer, owner only: no lock, no allocation). A full buffer
//    drops further events and counts them; the file then says so (a
//    metadata event and otherData.dropped_events). Records are
//    self-contained (a run is one record with its start and duration), so
//    dropping never leaves a slice unbalanced. Threads that are not
//    workers (blocking-pool threads, a plain thread that wakes a fiber)
//    record into one shared buffer under a mutex: their paths block or
//    take locks already.
// 4. An unpark that hands a parked fiber over (unpark_take's kParked ->
//    kEmpty CAS; its callers hook it) records a flow start and stores the flow's id in the
//    fiber (fiber::trace_flow); the worker that next resumes the fiber
//    ends the flow on that run's slice. The field is written by the one
//    unparker that won the CAS and read by the worker that later pops the
//    fiber from a run queue, which publishes it (the queue's own
//    release/acquire).
// 5. run_runtime writes the file (Chrome trace-event JSON) after every
//    worker has left its loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include <weft/scheduler/runtime.hpp>

namespace weft::detail {

struct fiber;
struct worker;
struct runtime;

// The park reason kind of a wait_reason's text (the first words name it:
// "chan ...", "select", "mutex lock", "sleep", "IO wait ...").
[[gnu::cold, gnu::noinline]] park_reason classify_park(const char* what) noexcept;

// The one increment of a counter that only the calling thread writes
// (note 1): loads it relaxed (nobody else writes it) and stores the sum
// with Order, the ordering its readers need (a template argument, so that
// it is a constant in every build). From the counter's owner only.
template <std::memory_order Order>
[[gnu::always_inline]] inline void single_writer_add(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, Order);
}

// One worker's counters (note 1): an atomic for every counter of
// counters.def that a worker counts here, under the public name, and
// to_loop. Those a worker keeps in fields of its own (worker::created,
// exited, runs) are not here: counters_collect reads them.
struct worker_counters {
#define WEFT_COUNTER(name) std::atomic<std::uint64_t> name{0};
#define WEFT_COUNTER_OF_WORKER(name)
#define WEFT_COUNTER_BY_REASON(name) std::atomic<std::uint64_t> name[park_reason_count] = {};
#include <weft/scheduler/detail/counters.def>
  // Switches from a fiber back to the scheduling loop; switches into a
  // fiber are worker::runs (stats() reports their sum as switches).
  std::atomic<std::uint64_t> to_loop{0};

  // The owner's increment of one of these: relaxed, as only stats() reads
  // them (note 1).
  static void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    single_writer_add<std::memory_order_relaxed>(c, n);
  }
  // Adds these counts to out (relaxed loads: a racy but untorn sample),
  // to_loop into out.switches.
  void add_to(scheduler_counters& out) const noexcept;
};

// Counts n into field `m` of the calling thread's worker, or of the running
// runtime's `outside` counters on any other thread (none when no runtime
// runs). From anywhere.
void count_here(std::atomic<std::uint64_t> worker_counters::*m, std::uint64_t n = 1) noexcept;

// ---- the trace ----

inline std::atomic<bool> g_trace_on{false};
// Note 2: relaxed; a mov and a branch.
[[gnu::always_inline]] inline bool trace_on() noexcept { return g_trace_on.load(std::memory_order_relaxed); }

enum class trace_kind : std::uint8_t {
  run,          // a fiber ran: ts..ts+dur; a = fiber id, b = flow id ended here (0: none),
                // file/line its spawn site, c = how it ended (run_end), p = the wait
                // reason's text when it parked (a string literal, as every reason is)
  unpark,       // a = woken fiber id, b = flow id
  steal,        // a = victim worker index, b = fibers taken
  idle,         // the worker slept on its futex: ts..ts+dur
  poll,         // epoll: ts..ts+dur (dur 0: non-blocking), a = fibers readied, b = events
  io_ready,     // a = fd, b = epoll events
  blocking,     // a pool thread ran a weft::blocking call: ts..ts+dur, a = fiber id
};

// How a run ended (trace_kind::run's c); the values of after_switch
// (runtime_impl.hpp), loop standing for none (the resume from the loop).
enum class run_end : std::uint8_t { loop, yield, park, exit, abandon };

struct trace_record {
  std::int64_t ts;   // now_ns()
  std::int64_t dur;
  std::uint64_t a;
  std::uint64_t b;
  const void* p;
  const char* file;  // run: the fiber's spawn site
  std::uint32_t line;
  std::uint32_t tid;  // the track: worker index, or 1000 + a pool thread's number
  trace_kind kind;
  std::uint8_t c;
};

struct trace_buffer {
  trace_record* rec = nullptr;
  std::size_t cap = 0;
  std::size_t n = 0;
  std::uint64_t dropped = 0;
  std::uint64_t next_flow = 0;
  // The fiber running now and since when (a run record is written when it
  // switches away).
  std::int64_t run_since = 0;
  std::uint64_t run_flow = 0;

  trace_record* next() noexcept {
    if (n == cap) {
      dropped++;
      return nullptr;
    }
    return &rec[n++];
  }
};

// run_runtime: whether to trace, and where (opts.trace_file, else
// WEFT_TRACE); allocates every worker's buffer. Before the workers start.
void trace_start(runtime& rt);
// run_runtime: writes the file and frees the buffers. After the workers
// left their loops.
void trace_finish(runtime& rt);

// The hooks, called only under trace_on(): cold and never inlined, so
// that the hot functions they sit in keep their size and registers.
// A switch on w: `from` (null: the scheduling loop) stops, ending how; `to`
// (null: the loop) starts.
[[gnu::cold, gnu::noinline]] void trace_switch(worker& w, fiber* from, run_end how, fiber* to) noexcept;
// unpark_take handed fiber f over (note 4). From anywhere.
[[gnu::cold, gnu::noinline]] void trace_unpark(fiber* f) noexcept;
[[gnu::cold, gnu::noinline]] void trace_steal(worker& w, unsigned victim, std::uint64_t taken) noexcept;
[[gnu::cold, gnu::noinline]] void trace_idle(worker& w, std::int64_t since) noexcept;
[[gnu::cold, gnu::noinline]] void trace_poll(std::int64_t since, bool blocking, int readied, int events) noexcept;
[[gnu::cold, gnu::noinline]] void trace_io_ready(int fd, std::uint32_t events) noexcept;
// From a blocking-pool thread, after it ran a call for fiber `id`.
[[gnu::cold, gnu::noinline]] void trace_blocking(std::int64_t since, std::uint64_t id) noexcept;

// ---- stats() ----

// Fills s's counters from rt's workers (running, or just joined).
void counters_collect(runtime& rt, runtime_stats& s);
// run_runtime, after the workers left: keeps rt's counters for stats()
// after run() returns.
void counters_save(runtime& rt);
// The counters counters_save kept (none before the first run).
void counters_last(runtime_stats& s);

}  // namespace weft::detail
