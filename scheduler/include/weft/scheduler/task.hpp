// weft::task<T>: the result of a fiber started with weft::spawn.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace weft {

namespace detail {

// The state shared by a task handle and its fiber. Two references: the
// handle's and the fiber's; the last to let go frees it.
struct task_state_base {
  // 0: running; kDone: finished. Otherwise the joiner's parker, installed
  // by join(). The fiber's exchange (acq_rel) pairs with join's CAS.
  std::atomic<std::uintptr_t> waiter{0};
  std::atomic<int> refs{2};
  std::exception_ptr error;
  bool observed = false;  // join() saw the result (handle side only)
  void (*destroy)(task_state_base*) noexcept;
};



// Called by the fiber once the result or error is stored.
void task_complete(task_state_base* s) noexcept;
// Waits until the fiber has completed. From a fiber or a plain thread.
void task_wait(task_state_base* s);
bool task_done(const task_state_base* s) noexcept;
// Drops one reference. The handle side reports an unobserved error.
void task_release(task_state_base* s, bool handle_side) noexcept;

template <class S>
void delete_state(task_state_base* b) noexcept {
  delete static_cast<S*>(b);
}
template <class T>
struct task_state : task_state_base {
  std::optional<T> value;
  task_state() { destroy = &delete_state<task_state>; }
};
template <>
struct task_state<void> : task_state_base {
  task_state() { destroy = &delete_state<task_state>; }
};

}  // namespace detail

// A handle to a fiber's result. Move-only. join() waits for the fiber and
// returns its value or rethrows its exception; it may be called once, from
// a fiber (parks the fiber) or a plain thread (blocks the thread).
// Destroying an unjoined task detaches it; an exception that no join() will
// ever see is reported like a panic, never lost silently.
template <class T>
class task {
 public:
  task() = default;
  explicit task(detail::task_state<T>* s) : s_(s) {}
  task(task&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  task& operator=(task&& o) noexcept {
    if (this != &o) {
      reset();
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  ~task() { reset(); }

  bool valid() const noexcept { return s_ != nullptr; }
  // Whether the fiber has finished (join() would not wait).
  bool done() const noexcept { return s_ != nullptr && detail::task_done(s_); }

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

 private:
  void reset() noexcept {
    if (s_ != nullptr) detail::task_release(std::exchange(s_, nullptr), true);
  }
  detail::task_state<T>* s_ = nullptr;
};

}  // namespace weft
