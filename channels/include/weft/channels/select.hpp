// weft::select: Go's select statement over channel cases.
//
//   weft::select(weft::on_recv(a, [](std::optional<int> v) { ... }),
//                weft::on_send(b, 42, [] { ... }),
//                weft::on_timeout(100ms, [] { ... }));   // or otherwise(fn)
//
// Exactly one case runs; select returns its index (counting `otherwise` and
// the timeout case). Among ready cases one is chosen uniformly at random;
// `otherwise` runs only when none is ready; without it, select blocks
// (parking a fiber or blocking a thread) until a case is ready or the
// timeout case's deadline passes. Cases on nil channels are never ready. A
// chosen send case on a closed channel throws channel_closed. A recv case's
// function gets std::optional<T>, empty when the channel is closed (or may
// take no argument). Every case holds its own reference to its channel, so
// a case may be built from a temporary (on_recv(after(1s), ...)).
// Callable from fibers and plain threads.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <weft/channels/chan.hpp>
#include <weft/channels/detail/select_core.hpp>

namespace weft {

namespace detail {
template <class H>
struct is_recv_handle : std::false_type {};
template <class T>
struct is_recv_handle<chan<T>> : std::true_type {};
template <class T>
struct is_recv_handle<recv_chan<T>> : std::true_type {};
template <class H>
struct is_send_handle : std::false_type {};
template <class T>
struct is_send_handle<chan<T>> : std::true_type {};
template <class T>
struct is_send_handle<send_chan<T>> : std::true_type {};

// A handle a select case can receive from (chan<T>, recv_chan<T>) or send
// on (chan<T>, send_chan<T>), by value or reference.
template <class C>
concept recv_handle = is_recv_handle<std::remove_cvref_t<C>>::value;
template <class C>
concept send_handle = is_send_handle<std::remove_cvref_t<C>>::value;
template <class C>
using handle_value_t = typename std::remove_cvref_t<C>::value_type;

// The channel of a select case. A case owns a reference to its channel when
// it is made from a temporary handle (`on_recv(after(10ms), f)`, kept in a
// variable or a vector), and borrows the channel of a named handle, which
// outlives the case by the usual scoping (as std::views::all owns an rvalue
// range and refers to an lvalue one). Borrowing keeps a fixed select on
// named channels free of reference-count traffic: the count sits on the
// channel's cache line, which both sides of a busy channel touch. Which of
// the two a case is, is part of its type: a borrowing case is one pointer
// with nothing to release, so a select's cases cost no more than the
// channel pointers. The runtime-sized select_case always owns (it is built
// once and reused).
template <bool Owns>
class case_chan;
template <>
class case_chan<false> {
 public:
  template <class H>
    requires(!std::is_same_v<H, case_chan>)
  explicit case_chan(const H& h) noexcept : core_(chan_access::core(h)) {}
  chan_core* get() const noexcept { return core_; }

 private:
  chan_core* core_;
};
template <>
class case_chan<true> {
 public:
  template <class H>
    requires(!std::is_same_v<std::remove_cvref_t<H>, case_chan>)
  explicit case_chan(H&& h) noexcept : r_(chan_access::ref(std::forward<H>(h))) {}
  chan_core* get() const noexcept { return r_.get(); }

 private:
  chan_ref r_;
};
// Whether a case made from a handle passed as C&& owns its channel.
template <class C>
inline constexpr bool owns_handle = !std::is_lvalue_reference_v<C>;
}  // namespace detail

// A fixed select's cases (made by on_recv and on_send). Owns: the case holds
// a reference to its channel (detail::case_chan).
template <class T, class F, bool Owns = true>
struct recv_case {
  detail::case_chan<Owns> ch;
  F fn;
  detail::raw_slot<T> slot;
};
template <class T, class F, bool Owns = true>
struct send_case {
  detail::case_chan<Owns> ch;
  T value;
  F fn;
};
template <class F>
struct default_case {
  F fn;
};
template <class F>
struct deadline_case {
  std::chrono::steady_clock::time_point deadline;
  F fn;
};

// A case that receives from c (a chan<T> or recv_chan<T>) and runs
// fn(std::optional<T>).
template <detail::recv_handle C, class F>
recv_case<detail::handle_value_t<C>, std::decay_t<F>, detail::owns_handle<C>> on_recv(C&& c, F&& fn) {
  return {detail::case_chan<detail::owns_handle<C>>(std::forward<C>(c)), std::forward<F>(fn), {}};
}
// A case that sends v on c (a chan<T> or send_chan<T>) and then runs fn().
template <detail::send_handle C, class U, class F>
send_case<detail::handle_value_t<C>, std::decay_t<F>, detail::owns_handle<C>> on_send(C&& c, U&& v, F&& fn) {
  return {detail::case_chan<detail::owns_handle<C>>(std::forward<C>(c)),
          detail::handle_value_t<C>(std::forward<U>(v)), std::forward<F>(fn)};
}
// The default case: runs fn() when no other case is ready.
template <class F>
default_case<std::decay_t<F>> otherwise(F&& fn) {
  return {std::forward<F>(fn)};
}
// The timeout case: runs fn() if no other case has become ready `d` after
// the case was made (on_timeout) or by `deadline` (on_deadline). A timeout
// of zero or less, or a deadline already past, makes it a default: it runs
// if no other case is ready at that moment. With only nil channels (or no
// other case) select sleeps until then. If a case becomes ready just as
// the deadline passes, one of the two runs, never both.
//
// Cost: it is the select core's own deadline (a timed park): no channel,
// no std::function, no other thread, no allocation, and when a channel case
// wins, nothing but a clock read. Compare on_recv(after(d), ...), Go's
// time.After: a buffered channel and a callback allocated per select, an
// entry in the timer thread's heap that stays until it fires even when
// another case won, and a hop through that thread (which wakes, sends and
// wakes the select) when it does fire.
template <class Rep, class Period, class F>
deadline_case<std::decay_t<F>> on_timeout(std::chrono::duration<Rep, Period> d, F&& fn) {
  return {detail::deadline_after(d), std::forward<F>(fn)};
}
template <class F>
deadline_case<std::decay_t<F>> on_deadline(std::chrono::steady_clock::time_point deadline, F&& fn) {
  return {deadline, std::forward<F>(fn)};
}

namespace detail {

template <class C>
struct is_default : std::false_type {};
template <class F>
struct is_default<default_case<F>> : std::true_type {};
template <class C>
struct is_deadline : std::false_type {};
template <class F>
struct is_deadline<deadline_case<F>> : std::true_type {};

template <class T, class F, bool O>
void prepare(select_op& op, recv_case<T, F, O>& c) {
  op.ch = c.ch.get();
  op.slot = c.slot.bytes;
  op.is_send = false;
}
template <class T, class F, bool O>
void prepare(select_op& op, send_case<T, F, O>& c) {
  op.ch = c.ch.get();
  op.slot = &c.value;
  op.is_send = true;
}

template <class T, class F, bool O>
void complete(select_op& op, recv_case<T, F, O>& c) {
  std::optional<T> v;
  if (op.status == op_status::done) v = c.slot.take();
  if constexpr (std::is_invocable_v<F&, std::optional<T>>)
    c.fn(std::move(v));
  else
    c.fn();
}
template <class T, class F, bool O>
void complete(select_op&, send_case<T, F, O>& c) {
  c.fn();
}

template <class Tuple, std::size_t... I>
std::size_t select_impl(Tuple& cases, std::index_sequence<I...>) {
  constexpr std::size_t n = sizeof...(I);
  [[maybe_unused]] constexpr std::array<bool, n> is_def{is_default<std::remove_cvref_t<std::tuple_element_t<I, Tuple>>>::value...};
  [[maybe_unused]] constexpr std::array<bool, n> is_dl{is_deadline<std::remove_cvref_t<std::tuple_element_t<I, Tuple>>>::value...};
  constexpr std::size_t defaults = (std::size_t{0} + ... + (is_def[I] ? 1 : 0));
  constexpr std::size_t deadlines = (std::size_t{0} + ... + (is_dl[I] ? 1 : 0));
  static_assert(defaults <= 1, "weft::select takes at most one otherwise()");
  static_assert(deadlines <= 1, "weft::select takes at most one on_timeout() / on_deadline()");
  static_assert(defaults + deadlines <= 1, "weft::select: with otherwise() it never waits, so a timeout never runs");
  constexpr std::size_t m = n - defaults - deadlines;
  // The channel cases, in order, and where each sits in the argument list.
  std::array<select_op, m == 0 ? 1 : m> ops{};
  std::array<std::size_t, m == 0 ? 1 : m> where{};
  [[maybe_unused]] std::size_t k = 0;
  (
      [&] {
        if constexpr (!is_def[I] && !is_dl[I]) {
          prepare(ops[k], std::get<I>(cases));
          where[k++] = I;
        }
      }(),
      ...);
  long r;
  if constexpr (deadlines != 0) {
    std::chrono::steady_clock::time_point dl{};
    (
        [&] {
          if constexpr (is_dl[I]) dl = std::get<I>(cases).deadline;
        }(),
        ...);
    r = select_run_until(ops.data(), m, dl);
  } else {
    r = select_run(ops.data(), m, defaults != 0, nullptr);
  }
  if (r == kSelectNone || r == kSelectTimeout) {
    std::size_t ran = 0;
    (
        [&] {
          if constexpr (is_def[I] || is_dl[I]) {
            std::get<I>(cases).fn();
            ran = I;
          }
        }(),
        ...);
    return ran;
  }
  const std::size_t chosen = where[static_cast<std::size_t>(r)];
  (
      [&] {
        if constexpr (!is_def[I] && !is_dl[I]) {
          if (I == chosen) {
            std::size_t op_index = 0;
            while (where[op_index] != I) op_index++;
            complete(ops[op_index], std::get<I>(cases));
          }
        }
      }(),
      ...);
  return chosen;
}

struct case_access;

}  // namespace detail

// select over a fixed set of cases; returns the index of the case that ran.
// Callable from fibers and plain threads.
template <class... Cases>
std::size_t select(Cases&&... cases) {
  auto t = std::forward_as_tuple(cases...);
  return detail::select_impl(t, std::index_sequence_for<Cases...>{});
}

// A case for the runtime-sized select (fan-in over N channels). Like the
// fixed cases it holds its own reference to its channel.
class select_case {
 public:
  // Receives from c (a chan<T> or recv_chan<T>) and runs fn(std::optional<T>).
  template <detail::recv_handle C, class F>
  static select_case recv(C&& c, F fn) {
    using case_t = recv_case<detail::handle_value_t<C>, F>;
    return select_case(std::make_unique<impl<case_t>>(case_t{detail::case_chan<true>(std::forward<C>(c)), std::move(fn), {}}));
  }
  // Sends v on c (a chan<T> or send_chan<T>) and then runs fn().
  template <detail::send_handle C, class U, class F>
  static select_case send(C&& c, U&& v, F fn) {
    using case_t = send_case<detail::handle_value_t<C>, F>;
    return select_case(std::make_unique<impl<case_t>>(
        case_t{detail::case_chan<true>(std::forward<C>(c)), detail::handle_value_t<C>(std::forward<U>(v)), std::move(fn)}));
  }

 private:
  friend struct detail::case_access;
  struct base {
    virtual ~base() = default;
    virtual void prepare(detail::select_op& op) = 0;
    virtual void complete(detail::select_op& op) = 0;
  };
  template <class C>
  struct impl final : base {
    explicit impl(C c) : c(std::move(c)) {}
    void prepare(detail::select_op& op) override { detail::prepare(op, c); }
    void complete(detail::select_op& op) override { detail::complete(op, c); }
    C c;
  };
  explicit select_case(std::unique_ptr<base> p) : p_(std::move(p)) {}
  std::unique_ptr<base> p_;
};

namespace detail {
struct case_access {
  // Runs the runtime-sized select: blocking, `nonblocking`, or until
  // `*deadline`. The index of the case that ran, or kSelectNone /
  // kSelectTimeout.
  static long run(std::vector<select_case>& cases, bool nonblocking,
                  const std::chrono::steady_clock::time_point* deadline) {
    std::vector<select_op> ops(cases.size());
    for (std::size_t i = 0; i < cases.size(); i++) cases[i].p_->prepare(ops[i]);
    const long r = deadline != nullptr ? select_run_until(ops.data(), ops.size(), *deadline)
                                       : select_run(ops.data(), ops.size(), nonblocking, nullptr);
    if (r >= 0) cases[static_cast<std::size_t>(r)].p_->complete(ops[static_cast<std::size_t>(r)]);
    return r;
  }
};
}  // namespace detail

// Blocks until one of `cases` is ready, runs it, and returns its index.
// Callable from fibers and plain threads (as are the three below).
inline std::size_t select(std::vector<select_case>& cases) {
  return static_cast<std::size_t>(detail::case_access::run(cases, false, nullptr));
}
// As select, but returns nullopt at once when no case is ready (a default).
inline std::optional<std::size_t> try_select(std::vector<select_case>& cases) {
  const long r = detail::case_access::run(cases, true, nullptr);
  if (r < 0) return std::nullopt;
  return static_cast<std::size_t>(r);
}
// As select, but gives up at `deadline` (select_until) or after `d`
// (select_for) and returns nullopt; no case has then run. The timeout has
// on_timeout's semantics and cost: a deadline already past is a default,
// and no cases at all (or only nil channels) sleep until the deadline.
inline std::optional<std::size_t> select_until(std::vector<select_case>& cases,
                                               std::chrono::steady_clock::time_point deadline) {
  const long r = detail::case_access::run(cases, false, &deadline);
  if (r < 0) return std::nullopt;
  return static_cast<std::size_t>(r);
}
template <class Rep, class Period>
std::optional<std::size_t> select_for(std::vector<select_case>& cases, std::chrono::duration<Rep, Period> d) {
  return select_until(cases, detail::deadline_after(d));
}

}  // namespace weft
