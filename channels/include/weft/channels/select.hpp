// weft::select: Go's select statement over channel cases.
//
//   weft::select(weft::on_recv(a, [](std::optional<int> v) { ... }),
//                weft::on_send(b, 42, [] { ... }),
//                weft::otherwise([] { ... }));
//
// Exactly one case runs; select returns its index (counting `otherwise`).
// Among ready cases one is chosen uniformly at random; `otherwise` runs only
// when none is ready; without it, select blocks (parking a fiber or
// blocking a thread) until a case is ready. Cases on nil channels are never
// ready. A chosen send case on a closed channel throws channel_closed.
// A recv case's function gets std::optional<T>, empty when the channel is
// closed (or may take no argument).
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <weft/channels/chan.hpp>

namespace weft {

template <class T, class F>
struct recv_case {
  const chan<T>* ch;
  F fn;
  detail::raw_slot<T> slot;
};
template <class T, class F>
struct send_case {
  const chan<T>* ch;
  T value;
  F fn;
};
template <class F>
struct default_case {
  F fn;
};

// A case that receives from c and runs fn(std::optional<T>).
template <class T, class F>
recv_case<T, std::decay_t<F>> on_recv(const chan<T>& c, F&& fn) {
  return {&c, std::forward<F>(fn), {}};
}
// A case that sends v on c and then runs fn().
template <class T, class U, class F>
send_case<T, std::decay_t<F>> on_send(const chan<T>& c, U&& v, F&& fn) {
  return {&c, T(std::forward<U>(v)), std::forward<F>(fn)};
}
// The default case: runs fn() when no other case is ready.
template <class F>
default_case<std::decay_t<F>> otherwise(F&& fn) {
  return {std::forward<F>(fn)};
}

namespace detail {

template <class C>
struct is_default : std::false_type {};
template <class F>
struct is_default<default_case<F>> : std::true_type {};

template <class T, class F>
void prepare(select_op& op, recv_case<T, F>& c) {
  op.ch = c.ch->core();
  op.slot = c.slot.bytes;
  op.is_send = false;
}
template <class T, class F>
void prepare(select_op& op, send_case<T, F>& c) {
  op.ch = c.ch->core();
  op.slot = &c.value;
  op.is_send = true;
}

template <class T, class F>
void complete(select_op& op, recv_case<T, F>& c) {
  std::optional<T> v;
  if (op.status == op_status::done) v = c.slot.take();
  if constexpr (std::is_invocable_v<F&, std::optional<T>>)
    c.fn(std::move(v));
  else
    c.fn();
}
template <class T, class F>
void complete(select_op&, send_case<T, F>& c) {
  c.fn();
}

template <class Tuple, std::size_t... I>
std::size_t select_impl(Tuple& cases, std::index_sequence<I...>) {
  constexpr std::size_t n = sizeof...(I);
  [[maybe_unused]] constexpr std::array<bool, n> is_def{is_default<std::remove_cvref_t<std::tuple_element_t<I, Tuple>>>::value...};
  constexpr std::size_t defaults = (std::size_t{0} + ... + (is_def[I] ? 1 : 0));
  static_assert(defaults <= 1, "weft::select takes at most one otherwise()");
  constexpr std::size_t m = n - defaults;
  // The channel cases, in order, and where each sits in the argument list.
  std::array<select_op, m == 0 ? 1 : m> ops{};
  std::array<std::size_t, m == 0 ? 1 : m> where{};
  [[maybe_unused]] std::size_t k = 0;
  (
      [&] {
        if constexpr (!is_def[I]) {
          prepare(ops[k], std::get<I>(cases));
          where[k++] = I;
        }
      }(),
      ...);
  const long r = select_run(ops.data(), m, defaults != 0, nullptr);
  if (r == kSelectNone) {
    std::size_t ran = 0;
    (
        [&] {
          if constexpr (is_def[I]) {
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
        if constexpr (!is_def[I]) {
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

}  // namespace detail

// select over a fixed set of cases; returns the index of the case that ran.
template <class... Cases>
std::size_t select(Cases&&... cases) {
  auto t = std::forward_as_tuple(cases...);
  return detail::select_impl(t, std::index_sequence_for<Cases...>{});
}

// A case for the runtime-sized select (fan-in over N channels).
class select_case {
 public:
  template <class T, class F>
  static select_case recv(const chan<T>& c, F fn) {
    return select_case(std::make_unique<impl<recv_case<T, F>>>(recv_case<T, F>{&c, std::move(fn), {}}));
  }
  template <class T, class U, class F>
  static select_case send(const chan<T>& c, U&& v, F fn) {
    return select_case(std::make_unique<impl<send_case<T, F>>>(send_case<T, F>{&c, T(std::forward<U>(v)), std::move(fn)}));
  }

  void prepare(detail::select_op& op) { p_->prepare(op); }
  void complete(detail::select_op& op) { p_->complete(op); }

 private:
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
inline long select_dynamic(std::vector<select_case>& cases, bool nonblocking) {
  std::vector<select_op> ops(cases.size());
  for (std::size_t i = 0; i < cases.size(); i++) cases[i].prepare(ops[i]);
  const long r = select_run(ops.data(), ops.size(), nonblocking, nullptr);
  if (r >= 0) cases[static_cast<std::size_t>(r)].complete(ops[static_cast<std::size_t>(r)]);
  return r;
}
}  // namespace detail

// Blocks until one of `cases` is ready, runs it, and returns its index.
inline std::size_t select(std::vector<select_case>& cases) {
  return static_cast<std::size_t>(detail::select_dynamic(cases, false));
}
// As select, but returns nullopt at once when no case is ready (a default).
inline std::optional<std::size_t> try_select(std::vector<select_case>& cases) {
  const long r = detail::select_dynamic(cases, true);
  if (r < 0) return std::nullopt;
  return static_cast<std::size_t>(r);
}

}  // namespace weft
