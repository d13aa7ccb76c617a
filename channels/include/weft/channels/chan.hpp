// weft::chan<T>: Go's channels, for fibers and plain threads alike, and the
// one-direction views send_chan<T> (Go's chan<- T) and recv_chan<T>
// (<-chan T).
#pragma once

#include <chrono>
#include <cstddef>
#include <iterator>
#include <new>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <weft/channels/detail/chan_core.hpp>

namespace weft {

// Misuse of a channel: closing a nil channel. what() says which misuse.
class channel_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};
// Send on a closed channel, or close of a closed channel (Go panics).
// what() is "send on closed channel" or "close of closed channel".
class channel_closed : public channel_error {
 public:
  using channel_error::channel_error;
};

template <class T>
class chan;
template <class T>
class send_chan;
template <class T>
class recv_chan;
template <class T>
class recv_result;

namespace detail {
template <class T>
inline constexpr elem_ops elem_ops_for{
    sizeof(T),
    alignof(T),
    [](void* dst, void* src) noexcept { ::new (dst) T(std::move(*static_cast<T*>(src))); },
    [](void* p) noexcept { static_cast<T*>(p)->~T(); },
    std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
};

template <class T>
struct raw_slot {
  alignas(T) unsigned char bytes[sizeof(T)];
  T* get() noexcept { return std::launder(reinterpret_cast<T*>(bytes)); }
  // Moves the value constructed in the slot out into an optional.
  std::optional<T> take() {
    std::optional<T> v(std::move(*get()));
    get()->~T();
    return v;
  }
};

// One counted reference to a channel core (null: a nil channel). Every
// handle and every select case holds one, so a case built from a
// temporary handle keeps its channel alive.
class chan_ref {
 public:
  chan_ref() noexcept = default;
  explicit chan_ref(chan_core* adopt) noexcept : c_(adopt) {}  // takes over one reference
  chan_ref(const chan_ref& o) noexcept : c_(o.c_) {
    if (c_ != nullptr) chan_retain(c_);
  }
  chan_ref(chan_ref&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  chan_ref& operator=(chan_ref o) noexcept {
    std::swap(c_, o.c_);
    return *this;
  }
  ~chan_ref() {
    if (c_ != nullptr) chan_release(c_);
  }
  chan_core* get() const noexcept { return c_; }

 private:
  chan_core* c_ = nullptr;
};

// The implementation's way in to a handle's channel (the handles keep it
// private): its core, or a copy of (or, from an rvalue, the) reference.
struct chan_access {
  template <class H>
  static chan_core* core(const H& h) noexcept {
    return h.r_.get();
  }
  template <class H>
  static chan_ref ref(const H& h) noexcept {
    return h.r_;
  }
  template <class H>
    requires(!std::is_lvalue_reference_v<H>)
  static chan_ref ref(H&& h) noexcept {
    return std::move(h.r_);
  }
};

template <class Rep, class Period>
std::chrono::steady_clock::time_point deadline_after(std::chrono::duration<Rep, Period> d) noexcept {
  using clock = std::chrono::steady_clock;
  const auto now = clock::now();
  if (d <= d.zero()) return now;
  // Saturates: a timeout too long to represent never passes.
  if (std::chrono::duration<long double>(d) >= std::chrono::duration<long double>(clock::time_point::max() - now))
    return clock::time_point::max();
  return now + std::chrono::ceil<clock::duration>(d);
}

// The operations every handle shares, on its channel core.
template <class T>
struct chan_ops {
  static void send(chan_core* c, T&& v) { chan_send(c, &v); }
  static std::optional<T> recv(chan_core* c) {
    raw_slot<T> s;
    if (chan_recv(c, s.bytes) == op_status::done) return s.take();
    return std::nullopt;
  }
  static bool try_send(chan_core* c, T&& v) { return chan_try_send(c, &v); }
  static std::optional<T> try_recv(chan_core* c) {
    raw_slot<T> s;
    if (chan_try_recv(c, s.bytes) == op_status::done) return s.take();
    return std::nullopt;
  }
  static bool send_until(chan_core* c, T&& v, std::chrono::steady_clock::time_point deadline) {
    return chan_send_until(c, &v, deadline);
  }
  static recv_result<T> recv_until(chan_core* c, std::chrono::steady_clock::time_point deadline);
};

// The iterator of `for (auto& v : c)`. It receives lazily: the first
// comparison with the end (std::default_sentinel) or dereference after
// construction or an increment receives the next value, and it equals the
// end once the channel is closed and drained. So a loop that stops early
// (views::take, a break before the next comparison) takes no value it does
// not use. The value received belongs to the iterator; *it may move from
// it. Copies of an iterator that has not yet received each receive their
// own value (an input iterator is single-pass).
template <class T>
class chan_iterator {
 public:
  using value_type = T;
  using difference_type = std::ptrdiff_t;
  using iterator_concept = std::input_iterator_tag;
  chan_iterator() = default;
  explicit chan_iterator(chan_core* c) noexcept : c_(c) {}
  T& operator*() const {
    fetch();
    return *v_;
  }
  T* operator->() const { return &**this; }
  // Moves past the current value (receiving it first if not yet done, so
  // that ++ without * skips one value).
  chan_iterator& operator++() {
    fetch();
    v_.reset();
    fetched_ = false;
    return *this;
  }
  void operator++(int) { ++*this; }
  bool operator==(std::default_sentinel_t) const {
    fetch();
    return !v_.has_value();
  }

 private:
  void fetch() const {
    if (fetched_) return;
    v_ = chan_ops<T>::recv(c_);
    fetched_ = true;
  }
  chan_core* c_ = nullptr;  // the range's channel; the range outlives the loop
  // Mutable: comparing or dereferencing a const iterator receives the
  // value it stands for, once.
  mutable std::optional<T> v_;
  mutable bool fetched_ = false;
};

}  // namespace detail

// The result of a timed receive (recv_for, recv_until): the value, or why
// there is none — the deadline passed (timed_out) or the channel is closed
// and drained (closed). Converts to bool and dereferences like an optional.
template <class T>
class [[nodiscard]] recv_result {
 public:
  bool has_value() const noexcept { return v_.has_value(); }
  explicit operator bool() const noexcept { return v_.has_value(); }
  bool timed_out() const noexcept { return !v_ && timed_out_; }
  bool closed() const noexcept { return !v_ && !timed_out_; }

  // The value; throws std::bad_optional_access if there is none.
  T& value() & { return v_.value(); }
  const T& value() const& { return v_.value(); }
  T&& value() && { return std::move(v_).value(); }
  T& operator*() & noexcept { return *v_; }
  const T& operator*() const& noexcept { return *v_; }
  T&& operator*() && noexcept { return *std::move(v_); }
  T* operator->() noexcept { return &*v_; }
  const T* operator->() const noexcept { return &*v_; }
  // The value as an optional (empty on a timeout and when closed alike).
  std::optional<T> to_optional() && noexcept { return std::move(v_); }

 private:
  friend struct detail::chan_ops<T>;
  recv_result(std::optional<T> v, bool timed_out) noexcept : v_(std::move(v)), timed_out_(timed_out) {}
  std::optional<T> v_;
  bool timed_out_ = false;
};

template <class T>
recv_result<T> detail::chan_ops<T>::recv_until(chan_core* c, std::chrono::steady_clock::time_point deadline) {
  raw_slot<T> s;
  switch (chan_recv_until(c, s.bytes, deadline)) {
    case op_status::done: return {s.take(), false};
    case op_status::closed: return {std::nullopt, false};
    default: return {std::nullopt, true};
  }
}

namespace detail {
// The operations of a channel handle, written once: chan<T> has both
// halves, send_chan<T> the send half, recv_chan<T> the receive half (CRTP;
// H's channel is read through chan_access). Every operation may be called
// from fibers and plain threads alike.
template <class H, class T>
class send_half {
  using ops = chan_ops<T>;
  chan_core* core() const noexcept { return chan_access::core(static_cast<const H&>(*this)); }

 public:
  // c <- v. Blocks until the value is buffered or (unbuffered) a receiver
  // has taken it. Throws channel_closed if the channel is closed, also if it
  // is closed while this send waits; the value is then not consumed.
  void send(const T& v) const { ops::send(core(), T(v)); }
  void send(T&& v) const { ops::send(core(), std::move(v)); }

  // Sends only if no waiting is needed (buffer room, or a receiver already
  // waiting on an unbuffered channel); returns whether it sent. Moves from
  // v only on success. Throws channel_closed if closed.
  [[nodiscard]] bool try_send(const T& v) const { return ops::try_send(core(), T(v)); }
  [[nodiscard]] bool try_send(T&& v) const { return ops::try_send(core(), std::move(v)); }

  // Timed send: as send, giving up after `d` (send_for) or at `deadline`
  // (send_until); returns whether it sent. On a timeout the value is given
  // back: v is moved from only on success, so the caller still holds it.
  // Throws channel_closed as send does (v not consumed).
  template <class Rep, class Period>
  [[nodiscard]] bool send_for(T&& v, std::chrono::duration<Rep, Period> d) const {
    return ops::send_until(core(), std::move(v), deadline_after(d));
  }
  template <class Rep, class Period>
  [[nodiscard]] bool send_for(const T& v, std::chrono::duration<Rep, Period> d) const {
    return ops::send_until(core(), T(v), deadline_after(d));
  }
  [[nodiscard]] bool send_until(T&& v, std::chrono::steady_clock::time_point deadline) const {
    return ops::send_until(core(), std::move(v), deadline);
  }
  [[nodiscard]] bool send_until(const T& v, std::chrono::steady_clock::time_point deadline) const {
    return ops::send_until(core(), T(v), deadline);
  }

  // close(c). Wakes all blocked receivers and senders; values already
  // buffered are still delivered. Throws channel_closed if already closed,
  // channel_error if nil.
  void close() const { chan_close(core()); }
};

template <class H, class T>
class recv_half {
  using ops = chan_ops<T>;
  chan_core* core() const noexcept { return chan_access::core(static_cast<const H&>(*this)); }

 public:
  // v, ok := <-c. The next value, or an empty optional once the channel is
  // closed and every buffered value has been received. Not [[nodiscard]]:
  // `c.recv();` is Go's `<-done`, a wait whose value does not matter.
  std::optional<T> recv() const { return ops::recv(core()); }

  // Receives only if a value is ready; empty optional otherwise (recv_for,
  // recv and a select's recv case tell "closed" from "not ready").
  [[nodiscard]] std::optional<T> try_recv() const { return ops::try_recv(core()); }

  // Timed receive: as recv, giving up after `d` (recv_for) or at `deadline`
  // (recv_until). The result holds the value, or says whether the deadline
  // passed (timed_out()) or the channel is closed and drained (closed()).
  template <class Rep, class Period>
  [[nodiscard]] recv_result<T> recv_for(std::chrono::duration<Rep, Period> d) const {
    return ops::recv_until(core(), deadline_after(d));
  }
  [[nodiscard]] recv_result<T> recv_until(std::chrono::steady_clock::time_point deadline) const {
    return ops::recv_until(core(), deadline);
  }

  // for (auto v : c): receives until the channel is closed and drained.
  chan_iterator<T> begin() const { return chan_iterator<T>(core()); }
  std::default_sentinel_t end() const noexcept { return {}; }
};

// What every handle has: len, cap, nil-ness.
template <class H>
class handle_base {
  chan_core* core() const noexcept { return chan_access::core(static_cast<const H&>(*this)); }

 public:
  std::size_t size() const noexcept { return chan_size(core()); }          // len(c)
  std::size_t capacity() const noexcept { return chan_capacity(core()); }  // cap(c)
  bool is_nil() const noexcept { return core() == nullptr; }
  explicit operator bool() const noexcept { return core() != nullptr; }
};
}  // namespace detail

// A channel handle. Copies refer to the same channel, as in Go; the channel
// lives while any handle (or a blocked operation, or a select case) refers
// to it. A default-constructed chan is nil: sends and receives on it block
// forever (and the deadlock report says so); it is never ready in select.
// Every operation may be called from fibers (which park) and plain threads
// (which block in the kernel), concurrently. T must be nothrow
// move-constructible. A chan is a std::ranges::input_range: iterating
// receives until the channel is closed and drained.
template <class T>
class chan : public detail::send_half<chan<T>, T>,
             public detail::recv_half<chan<T>, T>,
             public detail::handle_base<chan<T>> {
  static_assert(std::is_nothrow_move_constructible_v<T>, "weft::chan<T> needs a nothrow move constructor");
  static_assert(!std::is_reference_v<T>, "weft::chan<T>: T must be an object type");

 public:
  using value_type = T;
  using iterator = detail::chan_iterator<T>;

  chan() noexcept = default;  // nil

  friend bool operator==(const chan& a, const chan& b) noexcept { return a.core() == b.core(); }

 private:
  friend struct detail::chan_access;
  template <class U>
  friend chan<U> make_chan(std::size_t);
  explicit chan(detail::chan_core* adopt) noexcept : r_(adopt) {}
  detail::chan_core* core() const noexcept { return r_.get(); }
  detail::chan_ref r_;
};

// A send-only view of a channel (Go's chan<- T): a handle to the same
// channel that can send and close but not receive. Made implicitly from a
// chan<T>, and equal to it; usable in on_send. Each operation means what
// chan<T>'s does, from fibers and threads alike.
template <class T>
class send_chan : public detail::send_half<send_chan<T>, T>, public detail::handle_base<send_chan<T>> {
 public:
  using value_type = T;

  send_chan() noexcept = default;  // nil
  send_chan(const chan<T>& c) noexcept : r_(detail::chan_access::ref(c)) {}  // implicit, as in Go
  send_chan(chan<T>&& c) noexcept : r_(detail::chan_access::ref(std::move(c))) {}

  friend bool operator==(const send_chan& a, const send_chan& b) noexcept { return a.core() == b.core(); }
  friend bool operator==(const send_chan& a, const chan<T>& b) noexcept {
    return a.core() == detail::chan_access::core(b);
  }

 private:
  friend struct detail::chan_access;
  detail::chan_core* core() const noexcept { return r_.get(); }
  detail::chan_ref r_;
};

// A receive-only view of a channel (Go's <-chan T): a handle to the same
// channel that can receive but neither send nor close. Made implicitly
// from a chan<T>, and equal to it; a std::ranges::input_range, usable in
// on_recv. Each operation means what chan<T>'s does, from fibers and
// threads alike.
template <class T>
class recv_chan : public detail::recv_half<recv_chan<T>, T>, public detail::handle_base<recv_chan<T>> {
 public:
  using value_type = T;
  using iterator = detail::chan_iterator<T>;

  recv_chan() noexcept = default;  // nil
  recv_chan(const chan<T>& c) noexcept : r_(detail::chan_access::ref(c)) {}  // implicit, as in Go
  recv_chan(chan<T>&& c) noexcept : r_(detail::chan_access::ref(std::move(c))) {}

  friend bool operator==(const recv_chan& a, const recv_chan& b) noexcept { return a.core() == b.core(); }
  friend bool operator==(const recv_chan& a, const chan<T>& b) noexcept {
    return a.core() == detail::chan_access::core(b);
  }

 private:
  friend struct detail::chan_access;
  detail::chan_core* core() const noexcept { return r_.get(); }
  detail::chan_ref r_;
};

// make(chan T) and make(chan T, n): unbuffered when capacity is 0,
// otherwise buffered with room for exactly `capacity` values. From fibers
// and threads.
template <class T>
[[nodiscard]] chan<T> make_chan(std::size_t capacity = 0) {
  return chan<T>(detail::chan_create(&detail::elem_ops_for<T>, capacity));
}

// A handle is one pointer: the operation bases are empty.
static_assert(sizeof(chan<int>) == sizeof(void*) && sizeof(send_chan<int>) == sizeof(void*) &&
              sizeof(recv_chan<int>) == sizeof(void*));
static_assert(std::ranges::input_range<chan<int>>);
static_assert(std::ranges::input_range<recv_chan<int>>);
static_assert(std::input_iterator<detail::chan_iterator<int>>);

}  // namespace weft

// size() is len(c), the values buffered now, not how many the range will
// yield: the handles are not sized ranges (else views::take(n) would take
// min(n, len(c)) values).
namespace std::ranges {
template <class T>
inline constexpr bool disable_sized_range<weft::chan<T>> = true;
template <class T>
inline constexpr bool disable_sized_range<weft::recv_chan<T>> = true;
template <class T>
inline constexpr bool disable_sized_range<weft::send_chan<T>> = true;
}  // namespace std::ranges
static_assert(!std::ranges::sized_range<weft::chan<int>> && !std::ranges::sized_range<weft::recv_chan<int>>);
