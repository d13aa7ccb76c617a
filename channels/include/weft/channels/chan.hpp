// weft::chan<T>: Go's channels, for fibers and plain threads alike.
#pragma once

#include <chrono>
#include <cstddef>
#include <iterator>
#include <new>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <weft/channels/detail/chan_core.hpp>

namespace weft {

// Misuse of a channel: closing a nil channel.
class channel_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};
// Send on a closed channel, or close of a closed channel (Go panics).
class channel_closed : public channel_error {
 public:
  using channel_error::channel_error;
};

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
}  // namespace detail

// A channel handle. Copies refer to the same channel, as in Go; the channel
// lives while any handle (or a blocked operation) refers to it. A
// default-constructed chan is nil: sends and receives on it block forever
// (and the deadlock report says so); it is never ready in select.
// Every operation may be called from fibers (which park) and plain threads
// (which block in the kernel), concurrently. T must be nothrow
// move-constructible.
template <class T>
class chan {
  static_assert(std::is_nothrow_move_constructible_v<T>, "weft::chan<T> needs a nothrow move constructor");
  static_assert(!std::is_reference_v<T>, "weft::chan<T>: T must be an object type");

 public:
  using value_type = T;

  chan() noexcept = default;
  chan(const chan& o) noexcept : c_(o.c_) {
    if (c_ != nullptr) detail::chan_retain(c_);
  }
  chan(chan&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  chan& operator=(chan o) noexcept {
    std::swap(c_, o.c_);
    return *this;
  }
  ~chan() {
    if (c_ != nullptr) detail::chan_release(c_);
  }

  // c <- v. Blocks until the value is buffered or (unbuffered) a receiver
  // has taken it. Throws channel_closed if the channel is closed, also if it
  // is closed while this send waits; the value is then not consumed.
  void send(const T& v) const {
    T copy(v);
    detail::chan_send(c_, &copy);
  }
  void send(T&& v) const { detail::chan_send(c_, &v); }

  // v, ok := <-c. The next value, or an empty optional once the channel is
  // closed and every buffered value has been received.
  std::optional<T> recv() const {
    detail::raw_slot<T> s;
    if (detail::chan_recv(c_, s.bytes) == detail::op_status::done) return s.take();
    return std::nullopt;
  }

  // Sends only if no waiting is needed (buffer room, or a receiver already
  // waiting on an unbuffered channel). Moves from v only on success.
  // Throws channel_closed if closed.
  bool try_send(const T& v) const {
    T copy(v);
    return detail::chan_try_send(c_, &copy);
  }
  bool try_send(T&& v) const { return detail::chan_try_send(c_, &v); }

  // Receives only if a value is ready; empty optional otherwise (use
  // closed-aware select or recv to tell "closed" from "not ready").
  std::optional<T> try_recv() const {
    detail::raw_slot<T> s;
    if (detail::chan_try_recv(c_, s.bytes) == detail::op_status::done) return s.take();
    return std::nullopt;
  }

  // Timed forms: give up after `d`. send_for returns whether it sent;
  // recv_for returns the value, or empty on timeout or when closed.
  template <class Rep, class Period>
  bool send_for(T v, std::chrono::duration<Rep, Period> d) const {
    return detail::chan_send_until(c_, &v, deadline(d));
  }
  template <class Rep, class Period>
  std::optional<T> recv_for(std::chrono::duration<Rep, Period> d) const {
    detail::raw_slot<T> s;
    if (detail::chan_recv_until(c_, s.bytes, deadline(d)) == detail::op_status::done) return s.take();
    return std::nullopt;
  }

  // close(c). Wakes all blocked receivers and senders; values already
  // buffered are still delivered. Throws channel_closed if already closed,
  // channel_error if nil.
  void close() const { detail::chan_close(c_); }

  std::size_t size() const noexcept { return detail::chan_size(c_); }          // len(c)
  std::size_t capacity() const noexcept { return detail::chan_capacity(c_); }  // cap(c)
  bool is_nil() const noexcept { return c_ == nullptr; }
  explicit operator bool() const noexcept { return c_ != nullptr; }
  friend bool operator==(const chan& a, const chan& b) noexcept { return a.c_ == b.c_; }

  // for (auto v : c): receives until the channel is closed and drained.
  class iterator {
   public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(const chan* c) : c_(c) { ++*this; }
    T& operator*() { return *v_; }
    iterator& operator++() {
      v_ = c_->recv();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return !v_.has_value(); }

   private:
    const chan* c_ = nullptr;
    std::optional<T> v_;
  };
  iterator begin() const { return iterator(this); }
  std::default_sentinel_t end() const { return {}; }

  detail::chan_core* core() const noexcept { return c_; }

 private:
  template <class Rep, class Period>
  static std::chrono::steady_clock::time_point deadline(std::chrono::duration<Rep, Period> d) {
    return std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d);
  }
  template <class U>
  friend chan<U> make_chan(std::size_t);
  explicit chan(detail::chan_core* c) noexcept : c_(c) {}
  detail::chan_core* c_ = nullptr;
};

// make(chan T) and make(chan T, n): unbuffered when capacity is 0,
// otherwise buffered with room for exactly `capacity` values.
template <class T>
chan<T> make_chan(std::size_t capacity = 0) {
  return chan<T>(detail::chan_create(&detail::elem_ops_for<T>, capacity));
}

}  // namespace weft
