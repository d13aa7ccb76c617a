// weft::context. A state per context: its done channel (unbuffered, only
// ever closed), its error, its deadline and weak links to its children.
// Cancellation: under the state's lock set err (first one wins), take the
// children, cancel the deadline timer; then, unlocked, close done and
// cancel the children. Lock order: a parent's lock is never held while a
// child's is taken.

#include <mutex>
#include <vector>

#include <weft/channels/context.hpp>
#include <weft/scheduler/detail/timer.hpp>

namespace weft {

struct context::state {
  std::mutex mu;  // guards err, children, deadline_timer
  context_error err = context_error::none;
  chan<std::monostate> done;  // nil for background
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::vector<std::weak_ptr<state>> children;
  detail::timer* deadline_timer = nullptr;

  ~state() {
    if (deadline_timer != nullptr) detail::timer_stop(deadline_timer);
  }

  static void cancel(const std::shared_ptr<state>& s, context_error why) {
    std::vector<std::weak_ptr<state>> kids;
    {
      std::lock_guard lk(s->mu);
      if (s->err != context_error::none || s->done.is_nil()) return;
      s->err = why;
      kids.swap(s->children);
      if (s->deadline_timer != nullptr) detail::timer_stop(s->deadline_timer);
      s->deadline_timer = nullptr;
    }
    s->done.close();
    for (auto& k : kids)
      if (auto c = k.lock()) cancel(c, why);
  }
};

context context::background() {
  static const std::shared_ptr<state> root = std::make_shared<state>();
  return context(root);
}

context context::with_cancel() const {
  auto child = std::make_shared<state>();
  child->done = make_chan<std::monostate>();
  child->deadline = s_->deadline;
  context_error inherited = context_error::none;
  {
    std::lock_guard lk(s_->mu);
    inherited = s_->err;
    if (inherited == context_error::none && !s_->done.is_nil()) {
      // Prune children that are gone, then link the new one.
      std::erase_if(s_->children, [](const std::weak_ptr<state>& w) { return w.expired(); });
      s_->children.push_back(child);
    }
  }
  if (inherited != context_error::none) state::cancel(child, inherited);
  return context(child);
}

context context::with_deadline(std::chrono::steady_clock::time_point deadline) const {
  context c = with_cancel();
  if (c.s_->deadline && *c.s_->deadline <= deadline) return c;  // the parent's is sooner
  c.s_->deadline = deadline;
  static constexpr detail::timer_callbacks kDeadline{
      [](void* arg) noexcept {
        if (auto s = static_cast<std::weak_ptr<state>*>(arg)->lock()) {
          try {
            state::cancel(s, context_error::deadline_exceeded);
          } catch (...) {
            // Nothing throws here (err was unset, so done is open); the
            // catch keeps the callback noexcept.
          }
        }
      },
      [](void* arg) noexcept { delete static_cast<std::weak_ptr<state>*>(arg); },
      true,  // outside_lock: cancel takes locks and stops other timers
  };
  auto* weak = new std::weak_ptr<state>(c.s_);
  detail::timer* t = nullptr;
  try {
    t = detail::timer_start(std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count(),
                            0, &kDeadline, weak);
  } catch (...) {
    delete weak;
    throw;
  }
  std::lock_guard lk(c.s_->mu);
  if (c.s_->err == context_error::none)
    c.s_->deadline_timer = t;
  else
    detail::timer_stop(t);
  return c;
}

void context::cancel() const { state::cancel(s_, context_error::cancelled); }

const chan<std::monostate>& context::done() const noexcept { return s_->done; }

context_error context::err() const {
  std::lock_guard lk(s_->mu);
  return s_->err;
}

std::optional<std::chrono::steady_clock::time_point> context::deadline() const { return s_->deadline; }

}  // namespace weft
