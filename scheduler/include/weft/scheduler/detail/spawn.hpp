// weft::detail spawn: the machinery behind weft::go, weft::spawn, weft::run
// and weft::blocking. A fiber's control block and its closure are one
// block (fiber_create), which moves into the top of the fiber's stack at
// its first run (scheduler/src/fiber_alloc.hpp); a spawned task's result
// lives in a separate task_state (detail/task_state.hpp).
//
// Recording the caller's line. A default argument cannot follow a parameter
// pack, so the call site is captured by the implicit conversion of the
// first argument, whose parameter type is not deduced:
//   go(f, args...)    located_call<A...>: A is deduced from args alone,
//                     the conversion from f captures f's address and the
//                     site, and instantiates the launcher for f's type.
//   go(opts, f, ...)  located_options: the conversion from spawn_options.
//   spawn(...)        a class template (runtime.hpp): its constructor's pack
//                     is fixed by a deduction guide, so the site can be a
//                     trailing default argument.
// Each default argument is evaluated at the call, so the site is the
// caller's, never this header's.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <source_location>
#include <tuple>
#include <type_traits>
#include <utility>

#include <weft/scheduler/task.hpp>

namespace weft {
struct spawn_options;
struct run_options;
}  // namespace weft

namespace weft::detail {

struct closure_vtable {
  void (*run)(void* closure);
  void (*destroy)(void* closure) noexcept;
  // Move-constructs the closure at `to` from the one at `from` and destroys
  // the latter; null for a trivially copyable closure (moved by memcpy).
  void (*relocate)(void* to, void* from) noexcept = nullptr;
  // False when the closure's move constructor may throw: its block is then
  // never moved (it stays on the heap for the fiber's life).
  bool relocatable = true;
  std::size_t size = 0;  // sizeof the closure
};

struct fiber;

// Allocates a fiber with room for a closure of vt->size bytes (alignment
// at most alignof(std::max_align_t)); returns the fiber, and in *closure
// where to construct the closure. Throws std::logic_error when no runtime
// runs.
fiber* fiber_create(const closure_vtable* vt, const spawn_options& opts,
                    const std::source_location& site, void** closure);
// Frees a fiber that was created but whose closure failed to construct.
void fiber_abandon(fiber* f) noexcept;
// Makes the fiber runnable: on the calling worker, or injected from a plain
// thread.
void fiber_start(fiber* f);

// Runs main_fn(arg) as the first fiber of a new runtime (weft::run).
void run_runtime(const run_options& opts, void (*main_fn)(void*), void* arg, const std::source_location& site);
// Runs job(arg) on the blocking pool and parks the calling fiber until done.
void run_blocking(void (*job)(void*), void* arg);
// Inside a catch handler: rethrows the exception being handled if it is a
// weft::fiber_cancelled, else returns.
void rethrow_if_cancelled();

// Moves the closure fn into a new fiber's block and starts the fiber.
template <class Fn>
void launch(const spawn_options& o, const std::source_location& site, Fn&& fn) {
  using C = std::decay_t<Fn>;
  static_assert(alignof(C) <= alignof(std::max_align_t), "over-aligned closures are not supported");
  static constexpr closure_vtable vt{
      [](void* p) { (*static_cast<C*>(p))(); },
      [](void* p) noexcept { static_cast<C*>(p)->~C(); },
      std::is_trivially_copyable_v<C> ? nullptr
                                      : +[](void* to, void* from) noexcept {
                                          if constexpr (std::is_nothrow_move_constructible_v<C>) {
                                            ::new (to) C(std::move(*static_cast<C*>(from)));
                                            static_cast<C*>(from)->~C();
                                          }
                                        },
      std::is_trivially_copyable_v<C> || std::is_nothrow_move_constructible_v<C>,
      sizeof(C),
  };
  void* mem = nullptr;
  fiber* f = fiber_create(&vt, o, site, &mem);
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

// What f(args...) returns when the fiber calls it on its own copies.
template <class F, class... A>
using spawn_result_t = std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>;

template <class T>
inline constexpr bool is_spawn_options_v = std::is_same_v<std::remove_cvref_t<T>, spawn_options>;

template <class F, class... A>
concept spawnable = !is_spawn_options_v<F> && std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>;

template <class F, class... A>
task<spawn_result_t<F, A...>> spawn_task(const spawn_options& o, const std::source_location& site, F&& f,
                                         A&&... a) {
  using R = spawn_result_t<F, A...>;
  using S = task_state<R>;
  // Not in the fiber's block: see task_state_base (docs/scheduler.md has
  // the figures).
  S* st = new_state<S>();
  st->site = site;
  // A closure destroyed without running (the runtime shut down first)
  // completes the task with fiber_cancelled, so no join() waits forever.
  struct closure {
    S* st;
    std::decay_t<F> fn;
    std::tuple<std::decay_t<A>...> args;
    bool ran = false;  // also set on a moved-from closure: it owes nothing
    closure(S* s, std::decay_t<F>&& f2, std::tuple<std::decay_t<A>...>&& a2)
        : st(s), fn(std::move(f2)), args(std::move(a2)) {}
    // noexcept when the parts' moves are: the fiber's block can then move
    // into its stack at the first run (closure_vtable::relocatable).
    closure(closure&& o) noexcept(std::is_nothrow_move_constructible_v<std::decay_t<F>> &&
                                  std::is_nothrow_move_constructible_v<std::tuple<std::decay_t<A>...>>)
        : st(o.st), fn(std::move(o.fn)), args(std::move(o.args)), ran(o.ran) {
      o.ran = true;
    }
    closure& operator=(closure&&) = delete;
    void operator()() {
      ran = true;
      try {
        if constexpr (std::is_void_v<R>)
          std::apply(std::move(fn), std::move(args));
        else
          st->value.emplace(std::apply(std::move(fn), std::move(args)));
      } catch (...) {
        task_fail(st);
      }
      task_complete(st);
    }
    ~closure() {
      if (!ran) {
        task_cancel(st);
        task_complete(st);
      }
    }
  };
  try {
    launch(o, site,
           closure(st, std::decay_t<F>(std::forward<F>(f)), std::tuple<std::decay_t<A>...>(std::forward<A>(a)...)));
  } catch (...) {
    delete_state<S>(st);
    throw;
  }
  return task_factory::make(st);
}

// go(f, args...)'s first parameter: f, by address (it lives until the end
// of the caller's full expression, which the go() call is part of), the
// call site, and the launcher for f's type with these argument types.
template <class... A>
class located_call {
 public:
  template <class G>
    requires spawnable<G, A...>
  located_call(G&& g, std::source_location site = std::source_location::current()) noexcept
      : site_(site) {
    if constexpr (std::is_function_v<std::remove_reference_t<G>>) {
      fn_.func = reinterpret_cast<void (*)()>(&g);
      launch_ = [](erased f, const spawn_options& o, const std::source_location& s, A&&... a) {
        launch(o, s, bind_call(reinterpret_cast<std::remove_reference_t<G>*>(f.func), std::forward<A>(a)...));
      };
    } else {
      fn_.obj = const_cast<void*>(static_cast<const volatile void*>(std::addressof(g)));
      launch_ = [](erased f, const spawn_options& o, const std::source_location& s, A&&... a) {
        launch(o, s, bind_call(std::forward<G>(*static_cast<std::remove_reference_t<G>*>(f.obj)), std::forward<A>(a)...));
      };
    }
  }
  located_call(const located_call&) = delete;
  located_call& operator=(const located_call&) = delete;

  void start(const spawn_options& o, A&&... a) && { launch_(fn_, o, site_, std::forward<A>(a)...); }
  const std::source_location& site() const noexcept { return site_; }

 private:
  union erased {
    void* obj;
    void (*func)();
  };
  erased fn_;
  void (*launch_)(erased, const spawn_options&, const std::source_location&, A&&...);
  std::source_location site_;
};

// go(opts, f, args...)'s first parameter: the options and the call site.
class located_options {
 public:
  located_options(const spawn_options& o, std::source_location site = std::source_location::current()) noexcept
      : opts_(&o), site_(site) {}
  const spawn_options& options() const noexcept { return *opts_; }
  const std::source_location& site() const noexcept { return site_; }

 private:
  const spawn_options* opts_;  // the caller's, alive for its full expression
  std::source_location site_;
};

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
    } catch (...) {
      rethrow_if_cancelled();  // unwinds the fiber; not a result
      fr->error = std::current_exception();
    }
  }
  R get() {
    if (error) std::rethrow_exception(error);
    if constexpr (!std::is_void_v<R>) return std::move(*result);
  }
};

}  // namespace weft::detail
