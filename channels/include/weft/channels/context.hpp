// weft::context: Go's context.Context for cancellation and deadlines.
//
//   auto ctx = weft::context::background().with_timeout(100ms);
//   weft::select(weft::on_recv(results, ...),
//                weft::on_recv(ctx.done(), [&](auto) { /* ctx.err() */ }));
//
// A context is a cheap shared handle. Cancelling a context (cancel(), its
// deadline, or its parent's cancellation) closes its done() channel, which
// is then ready in every select, and cancels its children. From fibers and
// threads.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <variant>

#include <weft/channels/chan.hpp>

namespace weft {

// Why a context is done. No context operation throws it (nor anything
// else): err() reports it, and message() spells it as Go's errors do.
enum class context_error {
  none,               // not cancelled
  cancelled,          // cancel() was called (here or on an ancestor)
  deadline_exceeded,  // the deadline passed (here or on an ancestor)
};

// Go's error strings: "context canceled", "context deadline exceeded"; ""
// for none.
constexpr const char* message(context_error e) noexcept {
  switch (e) {
    case context_error::cancelled: return "context canceled";
    case context_error::deadline_exceeded: return "context deadline exceeded";
    default: return "";
  }
}

class context {
 public:
  // The root: never cancelled; its done() is a nil channel.
  static context background();

  // Children, cancelled with this context at the latest.
  context with_cancel() const;
  context with_deadline(std::chrono::steady_clock::time_point deadline) const;
  template <class Rep, class Period>
  context with_timeout(std::chrono::duration<Rep, Period> d) const {
    return with_deadline(std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::nanoseconds>(d));
  }

  // Cancels this context and its children (no effect on background, or
  // when already cancelled).
  void cancel() const;
  // Closed when the context is cancelled; ready in select from then on.
  const chan<std::monostate>& done() const noexcept;
  context_error err() const;
  bool cancelled() const { return err() != context_error::none; }
  std::optional<std::chrono::steady_clock::time_point> deadline() const;

 private:
  struct state;  // context.cpp
  explicit context(std::shared_ptr<state> s) : s_(std::move(s)) {}
  std::shared_ptr<state> s_;
};

}  // namespace weft
