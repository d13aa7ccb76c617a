// weft::task<T>: the result of a fiber started with weft::spawn.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <weft/scheduler/detail/task_state.hpp>

namespace weft {

// A handle to a fiber's result, like std::thread for a function with a
// value. Move-only. The fiber runs whether or not the handle is kept.
//
// Go's rule for an error nobody will see: an exception the fiber throws
// that no join() will ever rethrow is a panic, exactly like one escaping a
// `go` fiber (the process prints the fiber's id, its spawn site and what(),
// and aborts). That is the case when the handle is dropped, detached or
// reassigned without a join, whether before the fiber threw or after.
// Cancellation (weft::fiber_cancelled, at shutdown) is not an error: a
// cancelled task whose handle is gone is silent.
template <class T>
class task {
 public:
  // An empty handle (valid() is false).
  task() noexcept = default;
  task(task&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  // Drops the current task first (see the class comment on lost exceptions).
  task& operator=(task&& o) noexcept {
    if (this != &o) {
      reset();
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  ~task() { reset(); }

  // Whether this handle refers to a task (not empty, joined or detached).
  [[nodiscard]] bool valid() const noexcept { return s_ != nullptr; }
  // Whether the fiber has finished, so join() would not wait. False for an
  // empty handle. From anywhere.
  [[nodiscard]] bool done() const noexcept { return s_ != nullptr && detail::task_done(s_); }

  // Waits for the fiber and returns its value, or rethrows its exception
  // (weft::fiber_cancelled if the runtime cancelled it). The handle is empty
  // afterwards. Requires valid(), else throws std::logic_error. From a fiber
  // (parks the fiber; cancellable) or a plain thread (blocks the thread).
  // Not [[nodiscard]]: joining only to wait for the fiber (and to see its
  // exception) is a fine use.
  T join() {
    if (s_ == nullptr) throw std::logic_error("weft::task::join on an empty task");
    detail::task_wait(s_);
    detail::task_state<T>* s = s_;
    s->observed = true;
    struct drop {
      task* t;
      ~drop() { t->reset(); }
    } d{this};
    if (s->error) std::rethrow_exception(s->error);
    if constexpr (!std::is_void_v<T>) return std::move(*s->value);
  }

  // Lets the fiber run on with nobody to join it, like std::thread::detach
  // or Go's `go`: its result is discarded, and an exception it throws is a
  // panic (as for a dropped handle). The handle is empty afterwards; a no-op
  // on an empty one. From anywhere.
  void detach() noexcept { reset(); }

 private:
  friend struct detail::task_factory;
  explicit task(detail::task_state<T>* s) noexcept : s_(s) {}

  void reset() noexcept {
    if (s_ != nullptr) detail::task_release(std::exchange(s_, nullptr));
  }
  detail::task_state<T>* s_ = nullptr;
};

namespace detail {
// The one way to make a task handle from its state (spawn's).
struct task_factory {
  template <class T>
  static task<T> make(task_state<T>* s) noexcept {
    return task<T>(s);
  }
};
}  // namespace detail

}  // namespace weft
