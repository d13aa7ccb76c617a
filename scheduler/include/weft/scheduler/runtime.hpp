// The public surface of weft's scheduler: weft::run, weft::go, weft::spawn,
// weft::yield, weft::sleep_for, weft::blocking, weft::this_fiber.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <new>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

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
  // Upper bound of the weft::blocking thread pool.
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
};

struct spawn_options {
  std::size_t stack_size = 0;  // 0: the runtime's default
};

// Thrown by run() under deadlock_action::throw_in_run; what() is the report.
class deadlock_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown inside a fiber at a suspension point when the runtime cancels it:
// after main returned, or after a deadlock under throw_in_run. It unwinds
// the fiber (running destructors) and is swallowed at the fiber's top.
// Not derived from std::exception; rethrow it if you catch (...).
struct fiber_cancelled {};

namespace detail {

void run_runtime(const run_options& opts, void (*main_fn)(void*), void* arg, const std::source_location& site);

template <class Fn>
void launch(const spawn_options& o, const std::source_location& site, Fn&& fn) {
  using C = std::decay_t<Fn>;
  static_assert(alignof(C) <= alignof(std::max_align_t), "over-aligned closures are not supported");
  static constexpr closure_vtable vt{
      [](void* p) { (*static_cast<C*>(p))(); },
      [](void* p) noexcept { static_cast<C*>(p)->~C(); },
  };
  void* mem = nullptr;
  fiber* f = fiber_create(sizeof(C), &vt, o, site, &mem);
  try {
    ::new (mem) C(std::forward<Fn>(fn));
  } catch (...) {
    fiber_abandon(f);
    throw;
  }
  fiber_start(f);
}

// Binds f and args by value (decay-copied, as std::thread and Go's `go`).
template <class F, class... A>
auto bind_call(F&& f, A&&... a) {
  return [f = std::forward<F>(f), ... a = std::forward<A>(a)]() mutable { std::invoke(std::move(f), std::move(a)...); };
}

template <class F, class... A>
auto spawn_task(const spawn_options& o, const std::source_location& site, F&& f, A&&... a) {
  using R = std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>;
  using S = task_state<R>;
  // The state is a separate small allocation, not part of the fiber's
  // block: a spawner that joins late (spawn 100k, then join them) would
  // otherwise keep every fiber's whole block alive until its join
  // (measured: 38 MiB instead of 14 MiB peak, and slower).
  auto* st = new S();
  // A closure destroyed without running (the runtime shut down first)
  // completes the task with fiber_cancelled, so no join() waits forever.
  struct closure {
    S* st;
    std::decay_t<F> fn;
    std::tuple<std::decay_t<A>...> args;
    bool ran = false;  // also set on a moved-from closure: it owes nothing
    closure(S* s, std::decay_t<F>&& f2, std::tuple<std::decay_t<A>...>&& a2)
        : st(s), fn(std::move(f2)), args(std::move(a2)) {}
    closure(closure&& o) : st(o.st), fn(std::move(o.fn)), args(std::move(o.args)), ran(o.ran) { o.ran = true; }
    closure& operator=(closure&&) = delete;
    void operator()() {
      ran = true;
      try {
        if constexpr (std::is_void_v<R>)
          std::apply(std::move(fn), std::move(args));
        else
          st->value.emplace(std::apply(std::move(fn), std::move(args)));
      } catch (...) {
        st->error = std::current_exception();
      }
      task_complete(st);
    }
    ~closure() {
      if (!ran) {
        st->error = std::make_exception_ptr(fiber_cancelled{});
        task_complete(st);
      }
    }
  };
  try {
    launch(o, site,
           closure(st, std::decay_t<F>(std::forward<F>(f)), std::tuple<std::decay_t<A>...>(std::forward<A>(a)...)));
  } catch (...) {
    delete st;
    throw;
  }
  return task<R>(st);
}

template <class T>
struct is_spawn_options : std::is_same<std::decay_t<T>, spawn_options> {};

// Runs *fn on another stack or thread (type-erased through call) and keeps
// its result or exception for get(), on the caller's side.
template <class F>
struct call_frame {
  using R = std::invoke_result_t<F&>;
  F* fn;
  std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> result{};
  std::exception_ptr error{};

  static void call(void* p) {
    auto* fr = static_cast<call_frame*>(p);
    try {
      if constexpr (std::is_void_v<R>)
        (*fr->fn)();
      else
        fr->result.emplace((*fr->fn)());
    } catch (fiber_cancelled&) {
      throw;  // unwinds the fiber; not a result
    } catch (...) {
      fr->error = std::current_exception();
    }
  }
  R get() {
    if (error) std::rethrow_exception(error);
    if constexpr (!std::is_void_v<R>) return std::move(*result);
  }
};

}  // namespace detail

// weft::run(main, options): starts a runtime of N workers (the calling
// thread is one of them), runs main as its first fiber and returns main's
// result (or rethrows its exception) once every fiber has finished.
// When main returns, every other fiber is cancelled at its next suspension
// point (see fiber_cancelled): nothing outlives run(). One runtime at a time
// per process; call from a plain thread, not from a fiber.
template <class F>
auto run(F&& main, run_options opts = {}, std::source_location site = std::source_location::current())
    -> std::invoke_result_t<F&> {
  detail::call_frame<F> fr{&main};
  detail::run_runtime(opts, &detail::call_frame<F>::call, &fr, site);
  return fr.get();
}

// weft::go(f, args...): starts f(args...) in a new fiber, fire and forget,
// like Go's `go` statement. Arguments are copied (or moved) into the fiber.
// From a fiber or a plain thread (which injects into the running runtime);
// throws std::logic_error when no runtime runs. An exception escaping f
// terminates the process with a message naming the fiber and this call's
// location, like a Go panic. weft::go(spawn_options{...}, f, args...) sets
// per-fiber options.
//
// weft::spawn(f, args...): the same, returning a weft::task<R> whose
// join() yields f's result or rethrows its exception.
//
// Both record the caller's std::source_location for diagnostics. A default
// argument cannot follow a parameter pack, so each is a set of overloads
// for up to six arguments (bind more with a lambda). They are functions,
// not class templates, so that `go(f);` is always a call and never a
// declaration of a variable named f.

template <class F>
  requires(!detail::is_spawn_options<F>::value)
void go(F&& f, std::source_location site = std::source_location::current()) {
  detail::launch(spawn_options{}, site, detail::bind_call(std::forward<F>(f)));
}
template <class F>
void go(const spawn_options& o, F&& f, std::source_location site = std::source_location::current()) {
  detail::launch(o, site, detail::bind_call(std::forward<F>(f)));
}
template <class F>
  requires(!detail::is_spawn_options<F>::value)
auto spawn(F&& f, std::source_location site = std::source_location::current()) {
  return detail::spawn_task(spawn_options{}, site, std::forward<F>(f));
}
template <class F>
auto spawn(const spawn_options& o, F&& f, std::source_location site = std::source_location::current()) {
  return detail::spawn_task(o, site, std::forward<F>(f));
}

template <class F, class A0>
  requires(!detail::is_spawn_options<F>::value)
void go(F&& f, A0&& a0, std::source_location site = std::source_location::current()) {
  detail::launch(spawn_options{}, site, detail::bind_call(std::forward<F>(f), std::forward<A0>(a0)));
}
template <class F, class A0>
void go(const spawn_options& o, F&& f, A0&& a0, std::source_location site = std::source_location::current()) {
  detail::launch(o, site, detail::bind_call(std::forward<F>(f), std::forward<A0>(a0)));
}
template <class F, class A0>
  requires(!detail::is_spawn_options<F>::value)
auto spawn(F&& f, A0&& a0, std::source_location site = std::source_location::current()) {
  return detail::spawn_task(spawn_options{}, site, std::forward<F>(f), std::forward<A0>(a0));
}
template <class F, class A0>
auto spawn(const spawn_options& o, F&& f, A0&& a0, std::source_location site = std::source_location::current()) {
  return detail::spawn_task(o, site, std::forward<F>(f), std::forward<A0>(a0));
}

template <class F, class A0, class A1>
  requires(!detail::is_spawn_options<F>::value)
void go(F&& f, A0&& a0, A1&& a1, std::source_location site = std::source_location::current()) {
  detail::launch(spawn_options{}, site, detail::bind_call(std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1)));
}
template <class F, class A0, class A1>
void go(const spawn_options& o, F&& f, A0&& a0, A1&& a1, std::source_location site = std::source_location::current()) {
  detail::launch(o, site, detail::bind_call(std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1)));
}
template <class F, class A0, class A1>
  requires(!detail::is_spawn_options<F>::value)
auto spawn(F&& f, A0&& a0, A1&& a1, std::source_location site = std::source_location::current()) {
  return detail::spawn_task(spawn_options{}, site, std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1));
}
template <class F, class A0, class A1>
auto spawn(const spawn_options& o, F&& f, A0&& a0, A1&& a1, std::source_location site = std::source_location::current()) {
  return detail::spawn_task(o, site, std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1));
}

template <class F, class A0, class A1, class A2>
  requires(!detail::is_spawn_options<F>::value)
void go(F&& f, A0&& a0, A1&& a1, A2&& a2, std::source_location site = std::source_location::current()) {
  detail::launch(spawn_options{}, site, detail::bind_call(std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1), std::forward<A2>(a2)));
}
template <class F, class A0, class A1, class A2>
void go(const spawn_options& o, F&& f, A0&& a0, A1&& a1, A2&& a2, std::source_location site = std::source_location::current()) {
  detail::launch(o, site, detail::bind_call(std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1), std::forward<A2>(a2)));
}
template <class F, class A0, class A1, class A2>
  requires(!detail::is_spawn_options<F>::value)
auto spawn(F&& f, A0&& a0, A1&& a1, A2&& a2, std::source_location site = std::source_location::current()) {
  return detail::spawn_task(spawn_options{}, site, std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1), std::forward<A2>(a2));
}
template <class F, class A0, class A1, class A2>
auto spawn(const spawn_options& o, F&& f, A0&& a0, A1&& a1, A2&& a2, std::source_location site = std::source_location::current()) {
  return detail::spawn_task(o, site, std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1), std::forward<A2>(a2));
}

template <class F, class A0, class A1, class A2, class A3>
  requires(!detail::is_spawn_options<F>::value)
void go(F&& f, A0&& a0, A1&& a1, A2&& a2, A3&& a3, std::source_location site = std::source_location::current()) {
  detail::launch(spawn_options{}, site, detail::bind_call(std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3)));
}
template <class F, class A0, class A1, class A2, class A3>
void go(const spawn_options& o, F&& f, A0&& a0, A1&& a1, A2&& a2, A3&& a3, std::source_location site = std::source_location::current()) {
  detail::launch(o, site, detail::bind_call(std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3)));
}
template <class F, class A0, class A1, class A2, class A3>
  requires(!detail::is_spawn_options<F>::value)
auto spawn(F&& f, A0&& a0, A1&& a1, A2&& a2, A3&& a3, std::source_location site = std::source_location::current()) {
  return detail::spawn_task(spawn_options{}, site, std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3));
}
template <class F, class A0, class A1, class A2, class A3>
auto spawn(const spawn_options& o, F&& f, A0&& a0, A1&& a1, A2&& a2, A3&& a3, std::source_location site = std::source_location::current()) {
  return detail::spawn_task(o, site, std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3));
}

template <class F, class A0, class A1, class A2, class A3, class A4>
  requires(!detail::is_spawn_options<F>::value)
void go(F&& f, A0&& a0, A1&& a1, A2&& a2, A3&& a3, A4&& a4, std::source_location site = std::source_location::current()) {
  detail::launch(spawn_options{}, site, detail::bind_call(std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4)));
}
template <class F, class A0, class A1, class A2, class A3, class A4>
void go(const spawn_options& o, F&& f, A0&& a0, A1&& a1, A2&& a2, A3&& a3, A4&& a4, std::source_location site = std::source_location::current()) {
  detail::launch(o, site, detail::bind_call(std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4)));
}
template <class F, class A0, class A1, class A2, class A3, class A4>
  requires(!detail::is_spawn_options<F>::value)
auto spawn(F&& f, A0&& a0, A1&& a1, A2&& a2, A3&& a3, A4&& a4, std::source_location site = std::source_location::current()) {
  return detail::spawn_task(spawn_options{}, site, std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4));
}
template <class F, class A0, class A1, class A2, class A3, class A4>
auto spawn(const spawn_options& o, F&& f, A0&& a0, A1&& a1, A2&& a2, A3&& a3, A4&& a4, std::source_location site = std::source_location::current()) {
  return detail::spawn_task(o, site, std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4));
}

template <class F, class A0, class A1, class A2, class A3, class A4, class A5>
  requires(!detail::is_spawn_options<F>::value)
void go(F&& f, A0&& a0, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, std::source_location site = std::source_location::current()) {
  detail::launch(spawn_options{}, site, detail::bind_call(std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5)));
}
template <class F, class A0, class A1, class A2, class A3, class A4, class A5>
void go(const spawn_options& o, F&& f, A0&& a0, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, std::source_location site = std::source_location::current()) {
  detail::launch(o, site, detail::bind_call(std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5)));
}
template <class F, class A0, class A1, class A2, class A3, class A4, class A5>
  requires(!detail::is_spawn_options<F>::value)
auto spawn(F&& f, A0&& a0, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, std::source_location site = std::source_location::current()) {
  return detail::spawn_task(spawn_options{}, site, std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5));
}
template <class F, class A0, class A1, class A2, class A3, class A4, class A5>
auto spawn(const spawn_options& o, F&& f, A0&& a0, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, std::source_location site = std::source_location::current()) {
  return detail::spawn_task(o, site, std::forward<F>(f), std::forward<A0>(a0), std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5));
}

// Lets other runnable fibers run, then continues (Go's runtime.Gosched).
// From a plain thread: std::this_thread::yield().
void yield();

// Suspends the calling fiber (not its worker) until `deadline`; from a plain
// thread, sleeps the thread.
void sleep_until(std::chrono::steady_clock::time_point deadline);
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
  sleep_until(std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d));
}

namespace detail {
// Runs job(arg) on the blocking pool and parks the calling fiber until done.
void run_blocking(void (*job)(void*), void* arg);
}  // namespace detail

// weft::blocking(f): runs a blocking call (file I/O, a slow syscall, a
// legacy library) on a separate, bounded, growable thread pool, and parks
// the calling fiber until it returns; the worker runs other fibers
// meanwhile. Returns f's result or rethrows its exception. From a plain
// thread it simply calls f.
template <class F>
auto blocking(F&& f) -> std::invoke_result_t<F&> {
  detail::call_frame<F> fr{&f};
  detail::run_blocking(&detail::call_frame<F>::call, &fr);
  return fr.get();
}

namespace this_fiber {
// The calling fiber's id (1 is main's), or 0 on a plain thread.
std::uint64_t id() noexcept;
}  // namespace this_fiber

// Runtime statistics, for tests and diagnostics.
struct runtime_stats {
  std::size_t live_fibers = 0;     // fibers created and not yet finished
  std::size_t stacks_in_use = 0;   // fiber stacks handed out
  std::size_t stacks_pooled = 0;   // released stacks kept for reuse
  std::size_t stack_slabs = 0;     // slab mappings made so far
  unsigned workers = 0;            // of the running runtime, or 0
};
runtime_stats stats();

// Prints every live fiber (id, state, wait reason, spawn site) to stderr:
// the equivalent of Go's SIGQUIT goroutine dump. From anywhere.
void dump_fibers();

}  // namespace weft
