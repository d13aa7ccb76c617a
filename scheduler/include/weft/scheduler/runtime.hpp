// The public surface of weft's scheduler: weft::run, weft::go, weft::spawn,
// weft::this_fiber (yield, sleep_for, sleep_until, id; yield and the sleeps
// also as weft::yield, weft::sleep_for, weft::sleep_until), weft::blocking,
// and the runtime's diagnostics. docs/api.md lists where each may be called.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <source_location>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <weft/scheduler/detail/spawn.hpp>
#include <weft/scheduler/task.hpp>

namespace weft {

// What weft::run does when every fiber is asleep and nothing can wake one.
enum class deadlock_action {
  abort,          // print the report and abort (like Go)
  throw_in_run,   // print nothing; cancel every fiber; run() throws deadlock_error
  ignore,         // keep waiting
};

struct run_options {
  // Worker threads. 0: the WEFT_WORKERS environment variable, or else the
  // number of hardware threads.
  unsigned workers = 0;
  // Default usable stack size of each fiber (virtual; pages are touched on
  // use). 0: 64 KiB.
  std::size_t stack_size = 0;
  // How many stacks get a guard page; beyond, a canary checked at every
  // switch. The default: every stack where the kernel has guard markers
  // (MADV_GUARD_INSTALL, Linux 6.13+: no memory-map entry), else 20,000 (an
  // mprotect guard costs two map entries; vm.max_map_count is often 65,530).
  std::size_t guarded_stacks = std::size_t(-1);
  deadlock_action on_deadlock = deadlock_action::abort;
  // Upper bound of the weft::blocking thread pool. Below it, a call that no
  // idle thread takes gets a new thread at once while the pool has fewer
  // threads than CPUs, else once the pool has gone ~1 ms without progress
  // (docs/scheduler.md, "Blocking pool").
  unsigned max_blocking_threads = 64;
  // How long after main returns the other fibers have to finish unwinding
  // (fiber_cancelled) before run() gives up on them: a fiber that still
  // refuses (catches fiber_cancelled and goes on), or still waits on a
  // weft::blocking call, is then abandoned at once, its stack and the
  // destructors on it given up, with a message on stderr naming it. One
  // that never reaches a suspension point cannot be stopped (weft does not
  // preempt): it is named on stderr and run() waits for it. See
  // docs/scheduler.md, "Shutdown and cancellation".
  std::chrono::milliseconds shutdown_grace{1000};
  // SIGQUIT (Ctrl-\) prints every fiber with the backtrace of where it is
  // parked to stderr (the dump_fibers() listing), and the process then ends
  // as SIGQUIT's default action ends it, like Go's goroutine dump. Taken
  // only when the program has no SIGQUIT handler of its own (its action is
  // SIG_DFL when run() starts); run() restores the previous action when it
  // returns. The WEFT_SIGQUIT environment variable (0 or 1), when set,
  // overrides this field. See docs/diagnostics.md, "Dumps".
  bool dump_on_sigquit = true;
  // Records an execution trace of the run into this file (Chrome
  // trace-event JSON, for the Perfetto UI or chrome://tracing), written
  // when run() returns. Empty: the WEFT_TRACE environment variable, or no
  // trace. See docs/diagnostics.md.
  std::string trace_file{};
  // At most how many spare worker threads run at once (-1, the default:
  // as many as workers; 0: none). The monitor starts one only while every
  // worker is stuck (a fiber running for more than ~10 ms without
  // suspending) and some are blocked in the kernel (a raw blocking call),
  // never for a CPU loop, so at most `workers` threads run fibers on a CPU
  // at once (one-worker runtimes included) except while a spare retires.
  // A stuck worker's queued fibers go to the other workers with or without
  // spares. See docs/scheduler.md, "The monitor".
  unsigned spare_workers = unsigned(-1);
};

struct spawn_options {
  std::size_t stack_size = 0;  // 0: the runtime's default
};

// Thrown by run() under deadlock_action::throw_in_run; what() is the report.
class deadlock_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown inside a fiber at a suspension point (park, sleep, yield, join,
// channel and sync waits, I/O) when the runtime cancels it: after main
// returned, or after a deadlock under throw_in_run. It unwinds the fiber,
// running destructors, and is swallowed at the fiber's top; a task that
// ends with it is cancelled, not failed (join() rethrows it, and no panic
// is raised for it).
//
// The one exception weft throws that is not derived from std::exception,
// on purpose: `catch (const std::exception&)` is the usual "handle any
// error" clause, and cancellation is not an error to handle; it must reach
// the fiber's top. A `catch (...)` does catch it, so such a handler must
// let it go on:
//
//   try { ... } catch (const weft::fiber_cancelled&) { throw; }
//   catch (...) { /* handle the error */ }
//
// (or rethrow with `throw;` from the catch (...) once done cleaning up). A
// fiber that swallows it keeps running and is cancelled again at its next
// suspension point; one that keeps swallowing it is abandoned once
// run_options::shutdown_grace has passed.
struct fiber_cancelled {};

// weft::run(main, options): starts a runtime of N workers (the calling
// thread is one of them), runs main as its first fiber and returns main's
// result (or rethrows its exception) once every fiber has finished.
// When main returns, every other fiber is cancelled at its next suspension
// point (see fiber_cancelled); fibers that do not stop within
// run_options::shutdown_grace are abandoned (named on stderr, their stacks
// given up), so run() returns. One runtime at a time
// per process; call from a plain thread, not from a fiber.
template <class F>
auto run(F&& main, run_options opts = {}, std::source_location site = std::source_location::current())
    -> std::invoke_result_t<F&> {
  detail::call_frame<F> fr{&main};
  detail::run_runtime(opts, &detail::call_frame<F>::call, &fr, site);
  return fr.get();
}

// weft::go(f, args...): starts std::invoke(f, args...) in a new fiber, fire
// and forget, like Go's `go` statement. f and the arguments are copied (or
// moved) into the fiber, as by std::thread; f may be any callable (lambda,
// function, function object, member-function pointer with the object as
// the first argument), with any number of arguments.
// weft::go(spawn_options{...}, f, args...) sets per-fiber options.
// From a fiber or a plain thread (which injects into the running runtime);
// throws std::logic_error when no runtime runs. An exception escaping f
// terminates the process with a message naming the fiber and this call's
// location, like a Go panic. The call site is recorded for dump_fibers, the
// deadlock report and panics (how: detail/spawn.hpp).
template <class... A>
void go(detail::located_call<std::type_identity_t<A>...> f, A&&... args) {
  std::move(f).start(spawn_options{}, std::forward<A>(args)...);
}
template <class F, class... A>
  requires detail::spawnable<F, A...>
void go(detail::located_options o, F&& f, A&&... args) {
  detail::launch(o.options(), o.site(), detail::bind_call(std::forward<F>(f), std::forward<A>(args)...));
}

// weft::spawn(f, args...), weft::spawn(spawn_options{...}, f, args...): the
// same as go, and the expression is a weft::task<R> (R: what f returns)
// whose join() yields f's result or rethrows its exception. An exception
// that no join() will see (the task dropped or detached unjoined, before or
// after the fiber threw) is the same panic as go's; fiber_cancelled is not.
// From a fiber or a plain thread.
//
// A class template derived from task<R>, so that its constructor can take
// the caller's location after the arguments (a function cannot: a default
// argument may not follow a parameter pack); `auto t = spawn(f)` is a
// task<R> in every use. Dropping the result detaches the fiber, which is
// what go() is for, hence [[nodiscard]]; a bare `spawn(f);` statement
// would even be read as a declaration of a variable f: write go(f) or
// spawn(f).detach(). See docs/api.md.
template <class F, class... A>
class spawn : public task<detail::spawn_result_t<F, A...>> {
  using base = task<detail::spawn_result_t<F, A...>>;

 public:
  [[nodiscard]] spawn(F&& f, A&&... args, std::source_location site = std::source_location::current())
    requires detail::spawnable<F, A...>
      : base(detail::spawn_task(spawn_options{}, site, std::forward<F>(f), std::forward<A>(args)...)) {}
  [[nodiscard]] spawn(const spawn_options& o, F&& f, A&&... args,
                      std::source_location site = std::source_location::current())
    requires detail::spawnable<F, A...>
      : base(detail::spawn_task(o, site, std::forward<F>(f), std::forward<A>(args)...)) {}
  using base::operator=;
};
template <class F, class... A>
  requires detail::spawnable<F, A...>
spawn(F&&, A&&...) -> spawn<F, A...>;
template <class F, class... A>
  requires detail::spawnable<F, A...>
spawn(const spawn_options&, F&&, A&&...) -> spawn<F, A...>;

namespace this_fiber {

// Lets other runnable fibers run, then continues (Go's runtime.Gosched).
// From a fiber (cancellable: may throw fiber_cancelled) or a plain thread
// (std::this_thread::yield()).
void yield();

// Suspends the calling fiber (not its worker) until `deadline`. From a
// fiber (cancellable) or a plain thread (sleeps the thread).
void sleep_until(std::chrono::steady_clock::time_point deadline);

// Suspends the calling fiber (not its worker) for at least d. From a fiber
// (cancellable) or a plain thread (sleeps the thread).
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
  sleep_until(std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d));
}

// The calling fiber's id (1 is main's), or 0 on a plain thread. From
// anywhere.
[[nodiscard]] std::uint64_t id() noexcept;

}  // namespace this_fiber

// The names DESIGN.md's table gives (Go's runtime.Gosched, time.Sleep): the
// same functions as this_fiber's, not copies.
using this_fiber::sleep_for;
using this_fiber::sleep_until;
using this_fiber::yield;

// weft::blocking(f): runs a blocking call (file I/O, a slow syscall, a
// legacy library) on a separate, bounded, growable thread pool, and parks
// the calling fiber until it returns; the worker runs other fibers
// meanwhile. Returns f's result or rethrows its exception. From a fiber, or
// a plain thread (where it simply calls f). After main returns, a call in
// progress is waited for until run_options::shutdown_grace; one still
// running then is abandoned with its fiber, and its pool thread is left
// behind (it touches no runtime when the call returns).
template <class F>
auto blocking(F&& f) -> std::invoke_result_t<F&> {
  detail::call_frame<F> fr{&f};
  detail::run_blocking(&detail::call_frame<F>::call, &fr);
  return fr.get();
}

// What a parked fiber waited for, in kinds (the counters' parks_*):
// chan (send, receive), select, sync (mutex, rwmutex, cond, wait_group,
// semaphore, once), sleep, io (a socket or fd), blocking (a weft::blocking
// call), join (task::join), other.
enum class park_reason : std::uint8_t { chan, select, sync, sleep, io, blocking, join, other };
inline constexpr std::size_t park_reason_count = 8;
// The kind's name as the counters print it ("chan", "select", ...).
constexpr const char* park_reason_name(park_reason r) noexcept {
  constexpr const char* names[park_reason_count] = {"chan", "select", "sync", "sleep", "io", "blocking", "join", "other"};
  return names[static_cast<std::size_t>(r)];
}

// The scheduler's event counts, of one worker or summed over all (and the
// threads that are not workers). Always on; docs/diagnostics.md says what
// each means. The fields, each a std::uint64_t but `parks` (a std::array
// by park_reason), are generated from one list, which says in a line each
// what every counter counts: <weft/scheduler/detail/counters.def>.
struct scheduler_counters {
#define WEFT_COUNTER(name) std::uint64_t name = 0;
#define WEFT_COUNTER_OF_WORKER(name) std::uint64_t name = 0;
#define WEFT_COUNTER_BY_REASON(name) std::array<std::uint64_t, park_reason_count> name{};
#include <weft/scheduler/detail/counters.def>

  std::uint64_t parks_of(park_reason r) const noexcept { return parks[static_cast<std::size_t>(r)]; }
  std::uint64_t parks_total() const noexcept {
    std::uint64_t t = 0;
    for (std::uint64_t p : parks) t += p;
    return t;
  }
  // Adds o's counts to these, counter by counter.
  scheduler_counters& operator+=(const scheduler_counters& o) noexcept {
#define WEFT_COUNTER(name) name += o.name;
#define WEFT_COUNTER_OF_WORKER(name) name += o.name;
#define WEFT_COUNTER_BY_REASON(name) \
  for (std::size_t i = 0; i < park_reason_count; i++) name[i] += o.name[i];
#include <weft/scheduler/detail/counters.def>
    return *this;
  }
};

// Calls f(name, value) for every counter of c, in declaration order, the
// parks as "parks_<kind>" (the names weft-bench prints).
template <class F>
void for_each_counter(const scheduler_counters& c, F&& f) {
#define WEFT_COUNTER(name) f(#name, c.name);
#define WEFT_COUNTER_OF_WORKER(name) f(#name, c.name);
#define WEFT_COUNTER_BY_REASON(name)                                                             \
  for (std::size_t i = 0; i < park_reason_count; i++) {                                          \
    const std::string kind_name = std::string(#name "_") + park_reason_name(static_cast<park_reason>(i)); \
    f(kind_name.c_str(), c.name[i]);                                                             \
  }
#include <weft/scheduler/detail/counters.def>
}

// Runtime statistics, for tests and diagnostics.
struct runtime_stats {
  std::size_t live_fibers = 0;     // fibers created and not yet finished
  std::size_t stacks_in_use = 0;   // fiber stacks handed out
  std::size_t stacks_pooled = 0;   // released stacks kept for reuse
  std::size_t stack_slabs = 0;     // slab mappings made so far
  unsigned workers = 0;            // of the running runtime, or 0
  // The counters of the running runtime, or once run() has returned those
  // of the last run (until the next run starts): in total, and per worker
  // (per_worker[i] is worker i's; the total also holds what threads that
  // are not workers counted).
  scheduler_counters total{};
  std::vector<scheduler_counters> per_worker{};
  unsigned blocking_threads = 0;   // weft::blocking pool threads now (running runtime only)
  std::size_t blocking_queued = 0; // blocking calls waiting for a pool thread now (likewise)
  // The monitor (docs/scheduler.md, "The monitor"), running runtime only:
  // a worker is stuck while one fiber has run on it for more than ~10 ms
  // without suspending (a CPU loop, or a blocking call not wrapped in
  // weft::blocking). The per-worker counters above leave spares out.
  unsigned stuck_workers = 0;        // workers (and spares) stuck now
  std::uint64_t stuck_fiber = 0;     // the id of a fiber holding its worker now, or 0
  std::uint64_t handoffs = 0;        // stuck spells noticed, each handing off its worker's queues
  unsigned spare_threads = 0;        // spare worker threads running now
  std::uint64_t spares_started = 0;  // spare worker threads started so far
};
// A snapshot of the statistics; counters are sampled while they change, so
// a sum may be a few events behind. From anywhere.
[[nodiscard]] runtime_stats stats();

// Prints every fiber that has parked at least once to stderr: its id,
// state, wait reason and spawn site, and for a fiber that is suspended the
// symbolized backtrace of where it is (function and, with debug
// information, file:line, unwound from its saved registers); a fiber
// running now is shown running on its worker, without frames. The
// equivalent of Go's SIGQUIT goroutine dump. From a fiber (its worker
// blocks while a helper thread does the work) or a plain thread; not from
// a signal handler (run_options::dump_on_sigquit is the safe way there).
void dump_fibers();

}  // namespace weft
