// The runtime: run() and spawning. The rest of it lives by concern:
// idle.cpp (how workers sleep and wake), deadlock.cpp (the detector),
// registry.cpp (the fiber registry and live counts), dump.cpp and
// dump_signal.cpp (the fiber dump with backtraces, and SIGQUIT),
// shutdown.cpp (cancellation and the watchdog), sys.cpp (clock and
// futex), worker.cpp (the scheduling loop and switching).

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "dump.hpp"
#include "fiber_alloc.hpp"
#include "runtime_impl.hpp"

namespace weft::detail {

void thread_becomes_worker(bool entering) noexcept;  // park.cpp

namespace {

std::atomic<runtime*> g_runtime{nullptr};

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

}  // namespace

void worker_thread_main(worker* w) {
  thread_becomes_worker(true);
  t_worker = w;
  worker_thread_identify(w);
  install_overflow_handler_for_thread();
  context_adopt_thread(w->sched_ctx);
  if (w->is_spare)
    w->spare_loop();
  else
    w->loop();
  set_running_fiber(nullptr);
  t_worker = nullptr;
  remove_overflow_handler_for_thread();
  thread_becomes_worker(false);
}

__attribute__((noinline)) runtime* the_runtime() noexcept {
  // Acquire: pairs with run_runtime's release store, so the runtime's
  // fields are initialised before anyone uses them.
  return g_runtime.load(std::memory_order_acquire);
}

constinit thread_local worker* t_worker = nullptr;  // runtime_impl.hpp

// ---- spawning ----

fiber* fiber_create(const closure_vtable* vt, const spawn_options& opts, const std::source_location& site,
                    void** closure) {
  runtime* rt = the_runtime();
  if (rt == nullptr)
    throw std::logic_error("weft::go/spawn: no runtime is running (start one with weft::run)");
  std::size_t stack_size = opts.stack_size != 0 ? opts.stack_size : rt->opts.stack_size;
  // In KiB, saturated at 4 TiB (a request no allocation can meet anyway).
  constexpr std::size_t kMaxKib = UINT32_MAX;
  const std::size_t kib = stack_size / 1024 + (stack_size % 1024 != 0);
  stack_size = std::min(kib, kMaxKib) * 1024;
  fiber* f = fiber_block_new(kClosureOffset + vt->size, vt->relocatable, stack_size);
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
  f->stack_kib = static_cast<std::uint32_t>(stack_size / 1024);
  f->vt = vt;
  *closure = fiber_closure(f);
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
  fiber_block_delete(f);
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
  const unsigned spares = opts.spare_workers == unsigned(-1) ? n : std::min(opts.spare_workers, n);
  for (unsigned i = 0; i < spares; i++) {
    auto* w = new worker;
    w->rt = rt;
    w->index = n + i;
    w->is_spare = true;
    w->rng = 0x9E3779B97F4A7C15ull * (n + i + 1);
    rt->spares.push_back(w);
  }
  rt->all = rt->workers;
  rt->all.insert(rt->all.end(), rt->spares.begin(), rt->spares.end());
  try {
    rt->poll.start();
  } catch (...) {
    for (worker* w : rt->all) delete w;
    delete rt;
    throw;
  }
  runtime* expected = nullptr;
  // Release: publishes the runtime's fields to the_runtime()'s acquire.
  if (!g_runtime.compare_exchange_strong(expected, rt, std::memory_order_release, std::memory_order_relaxed)) {
    rt->poll.stop();
    for (worker* w : rt->all) delete w;
    delete rt;
    throw std::logic_error("weft::run: a runtime is already running in this process");
  }
  timers_runtime_start(*rt);
  stack_set_guard_budget(opts.guarded_stacks);
  blocking_pool_start(*rt);
  dump_signal_start(*rt);
  trace_start(*rt);

  // main is an ordinary fiber, queued on worker 0 (this thread).
  struct main_closure {
    void (*fn)(void*);
    void* arg;
    void operator()() const { fn(arg); }
  };
  void* mem = nullptr;
  fiber* m = fiber_create([] {
    static constexpr closure_vtable vt{
        [](void* p) { (*static_cast<main_closure*>(p))(); },
        [](void*) noexcept {},
        nullptr,
        true,
        sizeof(main_closure),
    };
    return &vt;
  }(), spawn_options{}, site, &mem);
  ::new (mem) main_closure{main_fn, arg};
  m->is_main = true;
  rt->workers[0]->queue.push(m);

  rt->start_monitor();
  for (unsigned i = 1; i < n; i++) rt->workers[i]->thread = std::thread(worker_thread_main, rt->workers[i]);
  worker_thread_main(rt->workers[0]);
  // Before the other workers are joined: the monitor reads their threads'
  // CPU clocks, which are valid until then. It joins the spares.
  rt->stop_monitor();
  for (unsigned i = 1; i < n; i++) rt->workers[i]->thread.join();
  timers_runtime_end(*rt);  // pending timers move to the fallback heap (timers.cpp)

  dump_signal_stop(*rt);
  rt->stop_watchdog();
  blocking_pool_stop(*rt);
  trace_finish(*rt);
  counters_save(*rt);
  g_runtime.store(nullptr, std::memory_order_release);
  rt->poll.stop();
  const bool deadlocked = rt->deadlocked.load();
  std::string report = std::move(rt->deadlock_report);
  for (worker* w : rt->all) delete w;
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
    detail::counters_collect(*rt, s);
    detail::blocking_pool_load(*rt, s.blocking_threads, s.blocking_queued);
    for (detail::worker* w : rt->all) {
      const std::uint64_t id = w->stuck_id.load(std::memory_order_relaxed);
      if (id == 0) continue;
      s.stuck_workers++;
      if (s.stuck_fiber == 0) s.stuck_fiber = id;
    }
    s.handoffs = rt->handoffs.load(std::memory_order_relaxed);
    s.spare_threads = rt->spares_active.load(std::memory_order_relaxed);
    s.spares_started = rt->spares_started.load(std::memory_order_relaxed);
  } else {
    detail::counters_last(s);
  }
  return s;
}

}  // namespace weft
