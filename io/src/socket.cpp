// socket_state (socket.hpp), the errors, and fd_watch.

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <weft/scheduler/runtime.hpp>

#include "socket.hpp"

namespace weft::io {

timeout_error::timeout_error(const char* what)
    : std::system_error(std::make_error_code(std::errc::timed_out), what) {}

namespace detail {

void throw_errno(int err, const char* op) {
  throw std::system_error(err, std::generic_category(), std::string("weft::io: ") + op);
}

void throw_closed(const char* op) {
  throw std::system_error(EBADF, std::generic_category(),
                          std::string("weft::io: ") + op + ": use of a closed socket");
}

void throw_timeout(const char* op) {
  throw timeout_error((std::string("weft::io: ") + op + ": i/o timeout (deadline exceeded)").c_str());
}

socket_state* socket_state::adopt(int fd, bool owns) {
  auto* s = new socket_state;
  s->fd = fd;
  s->owns_fd = owns;
  try {
    s->pd = wd::poll_open(fd);
  } catch (...) {
    if (owns) ::close(fd);
    delete s;
    throw;
  }
  return s;
}

void socket_state::close() noexcept {
  // Enter as a call would, so that the descriptor stays ours while we
  // evict it (note 1).
  if (!enter()) return;
  if ((word.fetch_or(kClosed, std::memory_order_acq_rel) & kClosed) == 0) wd::poll_evict(pd);
  leave();
}

void socket_state::release_fd() noexcept {
  // acq_rel: once, whichever leave() gets here first.
  if (released.exchange(true, std::memory_order_acq_rel)) return;
  wd::poll_free(pd);
  if (owns_fd) ::close(fd);
}

void socket_state::wait(wd::poll_mode mode, const char* op) {
  switch (wd::poll_wait(pd, mode)) {
    case wd::poll_status::ready:
      return;
    case wd::poll_status::closing:
      throw_closed(op);
    case wd::poll_status::timed_out:
      throw_timeout(op);
  }
}

void socket_state::set_deadline(wd::poll_mode mode, clock::time_point t) noexcept {
  std::int64_t ns = 0;
  if (t != clock::time_point{}) {
    ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    if (ns <= 0) ns = 1;  // a deadline at or before the clock's epoch: long past
  }
  wd::poll_set_deadline(pd, mode, ns);
}

call::call(socket_state* s, const char* op) : s_(s) {
  if (s == nullptr) throw std::system_error(EBADF, std::generic_category(), std::string("weft::io: ") + op + ": socket not open");
  if (!s->enter()) throw_closed(op);
}

void completed(socket_state* s, bool waited) noexcept {
  if (waited) {
    if (s->streak.load(std::memory_order_relaxed) != 0) s->streak.store(0, std::memory_order_relaxed);
    return;
  }
  const std::uint32_t n = s->streak.load(std::memory_order_relaxed) + 1;
  s->streak.store(n, std::memory_order_relaxed);
  if ((n & 63) == 0 && weft::this_fiber::id() != 0) weft::yield();
}

}  // namespace detail

// ---- socket_handle ----

namespace detail {

socket_handle& socket_handle::operator=(socket_handle&& o) noexcept {
  if (this != &o) {
    this->~socket_handle();
    s_ = o.s_;
    o.s_ = nullptr;
  }
  return *this;
}

socket_handle::~socket_handle() {
  if (s_ != nullptr) {
    s_->close();
    delete s_;
  }
}

void socket_handle::close_socket() noexcept {
  if (s_ != nullptr) s_->close();
}

bool socket_handle::socket_open() const noexcept { return s_ != nullptr && !s_->closed(); }

int socket_handle::socket_fd() const noexcept { return s_ != nullptr ? s_->fd : -1; }

}  // namespace detail

// ---- fd_watch ----

fd_watch::fd_watch(int fd) : socket_handle(detail::socket_state::adopt(fd, false)) {}

namespace {
void watch_wait(detail::socket_state* s, detail::wd::poll_mode mode, clock::time_point deadline, const char* op) {
  detail::call c(s, op);
  weft::mutex& mu = mode == detail::wd::poll_mode::read ? s->read_mu : s->write_mu;
  std::lock_guard lk(mu);
  s->set_deadline(mode, deadline);
  s->check_deadline(mode, op);
  s->wait(mode, op);
}
}  // namespace

void fd_watch::wait_readable(clock::time_point deadline) {
  watch_wait(s_, detail::wd::poll_mode::read, deadline, "fd_watch::wait_readable");
}

void fd_watch::wait_writable(clock::time_point deadline) {
  watch_wait(s_, detail::wd::poll_mode::write, deadline, "fd_watch::wait_writable");
}

}  // namespace weft::io
