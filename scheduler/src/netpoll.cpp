// The netpoller: fds registered once with the runtime's epoll set,
// edge-triggered, and fibers parked on them until an edge, a deadline or
// an eviction. After Go's runtime/netpoll.go (read the design notes in
// ../shared/IO.md and docs/io.md); the idle-protocol half is in idle.cpp.
//
// Design notes
// 1. Descriptors (poll_desc) live in a process-wide table of fixed chunks
//    that are never freed: a descriptor's address stays valid forever and
//    it is recycled with a new generation (`seq`). epoll_data carries
//    (index << 32 | seq), so an event queued for an fd that was closed and
//    whose number (and descriptor) were reused is recognised and dropped.
// 2. Every fd is added once, EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET, never
//    re-armed. Per direction a descriptor holds a sticky `ready` bit, the
//    deadline, and at most one waiter: a fiber's parker or a plain thread.
//    All of it is guarded by the descriptor's spin_mutex `mu`.
// 3. Waiting (fiber): under mu, return at once if evicting, if `ready`
//    (consume it: the caller retries its call), or if the deadline has
//    passed; otherwise publish ourselves as the waiter, unlock, park (with
//    the deadline as a timer), and on waking re-lock, withdraw if still
//    published, and loop. Because the check and the publication happen
//    under the same lock as the event's "set ready, take the waiter", an
//    edge is either seen by the check or finds the waiter: no lost
//    wake-up, on whatever worker the fiber resumes (property 1). An edge
//    with no waiter leaves `ready` set (property 2); a caller tries its
//    syscall before ever waiting, and `ready` may be stale, so a wake-up
//    may be spurious: callers retry and wait again on EAGAIN (property 4).
// 4. Waking happens under mu (unpark, or a signal for a thread), so a
//    waiter that withdraws under mu is never touched afterwards: its parker
//    may be freed as soon as it returns. Lock order: poll_desc::mu ->
//    idle_mu -> inject_queue::mu (unpark may take the right-hand ones).
// 5. Deadlines and eviction wake the waiter but never set `ready`; the
//    waiter re-evaluates and returns timed_out / closing (properties 3, 5).
// 6. The epoll set has one eventfd, level-triggered, that interrupt()
//    writes to break a blocked epoll_wait; `wake_sig` de-duplicates the
//    writes. Only a blocking poll reads the eventfd (then clears wake_sig,
//    in that order: clearing first could let an interrupt's write be
//    drained while wake_sig stays set, and every later interrupt would
//    skip its write: the blocking poll would sleep through them, Go's
//    golang/go#42515). A non-blocking poll sees the eventfd's event and
//    leaves it for the blocking poll (property 6).
// 7. Plain threads block in ppoll(2) on the fd itself (1:1 must be the
//    real thread-per-connection model). To be woken early by a deadline
//    change or an eviction they publish their pthread_t as the waiter; the
//    waker sends kWakeSignal, which the thread keeps blocked except inside
//    ppoll (so one sent before ppoll starts is delivered when it does:
//    no lost wake-up). The handler does nothing; ppoll returns EINTR.
//
// 8. The poller hands the fibers it readied to the shared queue as one
//    chain, in the order their fds fired, and notifies: any worker takes
//    them FIFO (find_global), and they are stealable at once. Readied onto
//    the poller's own LIFO next slot and deque instead, the newest
//    connection would run first and, under a steady load on one worker,
//    the oldest would wait behind every later batch. Go injects netpoll
//    results into the global queue too (injectglist).
// 9. A worker that runs out of work polls without blocking before it
//    steals and sleeps (worker.cpp's loop, poll_now(true)). Right after a
//    blocking poll returned (a worker woke for an edge and ran what it
//    readied) that poll almost always finds the ready list empty, a
//    system call for nothing. So while the last poll was a blocking one
//    that ended less than kAfterBlockNs ago, poll_now(true) returns at
//    once; the worker then steals, and sleeps in the blocking poll (busy
//    is free, or someone else polls), which returns at once if edges did
//    come. Nothing is lost: the skip only defers the same epoll_wait to
//    the blocking poll. A saturated
//    server, whose workers never run out of work long enough to block,
//    polls as before: its last polls are non-blocking ones.
//
// Rejected: a waiter list per direction (Photon's EALREADY shows the need
// for more than one waiter; Go serialises callers on the fd's own lock
// instead, and so does weft::io: one waiter per direction keeps the event
// path a constant-time store). Registering lazily on every wait, or
// one-shot re-arming (a syscall per wait).

#include <weft/scheduler/detail/netpoll.hpp>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <system_error>

#include "runtime_impl.hpp"

namespace weft::detail {
namespace {

constexpr std::uint64_t kWakeTag = ~std::uint64_t{0};
constexpr std::uint32_t kChunk = 1024;
constexpr std::uint32_t kMaxChunks = 4096;  // 4M descriptors
constexpr int kMaxEvents = 128;
constexpr std::int64_t kAfterBlockNs = 50'000;  // note 9

std::atomic<std::uint32_t> g_generation{0};

}  // namespace

struct poll_dir {
  parker* fiber = nullptr;  // a parked fiber's parker
  pthread_t thread{};       // a blocked plain thread, if has_thread
  bool has_thread = false;
  bool ready = false;       // an edge nobody has consumed yet
  // Written under mu; read under mu, or lock-free (relaxed: a hint that is
  // re-read under mu before anyone parks) by poll_deadline_passed.
  std::atomic<std::int64_t> deadline{0};

  void reset() noexcept {
    fiber = nullptr;
    has_thread = false;
    ready = false;
    deadline.store(0, std::memory_order_relaxed);
  }
};

struct poll_desc {
  spin_mutex mu;
  int fd = -1;               // guarded by mu
  std::uint32_t index = 0;   // fixed
  std::uint32_t seq = 0;     // generation: bumped when recycled; guarded by mu
  std::uint32_t epoll_gen = 0;  // netpoller generation it is registered with; guarded by mu
  bool closing = false;      // guarded by mu
  // Set under mu by the poller on EPOLLRDHUP/HUP/ERR, never cleared until
  // the descriptor is recycled; read lock-free (relaxed: a reader that
  // misses it waits, and the poll_wait that follows sees `ready` under mu).
  std::atomic<bool> hung_up{false};
  poll_dir dir[2];           // guarded by mu
  poll_desc* next_free = nullptr;  // guarded by the table's mu
};

namespace {

struct desc_table {
  std::mutex mu;  // guards free_list, chunk_count and the creation of chunks
  // Acquire/release: a chunk is written, then published by the release
  // store; the poller's acquire load in lookup() sees it whole.
  std::atomic<poll_desc*> chunks[kMaxChunks] = {};
  std::uint32_t chunk_count = 0;
  poll_desc* free_list = nullptr;

  poll_desc* allocate() {
    std::lock_guard lk(mu);
    if (free_list == nullptr) {
      if (chunk_count == kMaxChunks) throw std::system_error(ENFILE, std::generic_category(), "weft netpoll: descriptors");
      auto* c = new poll_desc[kChunk];
      for (std::uint32_t i = 0; i < kChunk; i++) {
        c[i].index = chunk_count * kChunk + i;
        c[i].next_free = (i + 1 < kChunk) ? &c[i + 1] : nullptr;
      }
      chunks[chunk_count].store(c, std::memory_order_release);
      chunk_count++;
      free_list = c;
    }
    poll_desc* d = free_list;
    free_list = d->next_free;
    d->next_free = nullptr;
    return d;
  }
  void release(poll_desc* d) {
    std::lock_guard lk(mu);
    d->next_free = free_list;
    free_list = d;
  }
  poll_desc* lookup(std::uint32_t index) const noexcept {
    const std::uint32_t c = index / kChunk;
    if (c >= kMaxChunks) return nullptr;
    poll_desc* chunk = chunks[c].load(std::memory_order_acquire);
    return chunk == nullptr ? nullptr : &chunk[index % kChunk];
  }
};

desc_table& table() {
  static desc_table* t = new desc_table;  // never destroyed: type-stable
  return *t;
}

// ---- plain threads (note 7) ----

int wake_signal() noexcept { return SIGRTMIN + 5; }

void on_wake_signal(int) {}

struct thread_signal_state {
  bool ready = false;
  sigset_t unblocked;  // this thread's mask without kWakeSignal, for ppoll
};
thread_local thread_signal_state t_sig;

void prepare_thread_signal() {
  static std::once_flag installed;
  std::call_once(installed, [] {
    struct sigaction sa {};
    sa.sa_handler = &on_wake_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: ppoll returns EINTR
    sigaction(wake_signal(), &sa, nullptr);
  });
  if (t_sig.ready) return;
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, wake_signal());
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &block, &old);
  sigdelset(&old, wake_signal());
  t_sig.unblocked = old;
  t_sig.ready = true;
}

// Fibers the poller made runnable, in the order their fds fired.
struct ready_chain {
  fiber* first = nullptr;
  fiber* last = nullptr;
  std::size_t n = 0;
};

// Wakes the direction's waiter, if any; sets `ready` if `edge`. Under mu.
// With a chain, a parked fiber joins it instead of its waker's next slot.
int wake_dir(poll_dir& d, bool edge, ready_chain* chain = nullptr) noexcept {
  if (edge) d.ready = true;
  int woken = 0;
  if (d.fiber != nullptr) {
    parker* p = d.fiber;
    d.fiber = nullptr;
    if (chain == nullptr) {
      unpark(*p);
    } else if (fiber* f = unpark_take(*p)) {
      if (trace_on()) trace_unpark(f);
      // unpark_take's CAS (kParked -> kEmpty) gave the fiber to us alone:
      // until the chain is pushed it is runnable but on no queue, so its
      // run-queue link `next` is ours to use.
      f->next = nullptr;
      (chain->last != nullptr ? chain->last->next : chain->first) = f;
      chain->last = f;
      chain->n++;
    }
    woken++;
  }
  if (d.has_thread) {
    d.has_thread = false;
    pthread_kill(d.thread, wake_signal());
  }
  return woken;
}

void add_to_epoll(poll_desc* d, const netpoller& np) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = (static_cast<std::uint64_t>(d->index) << 32) | d->seq;
  if (epoll_ctl(np.epfd, EPOLL_CTL_ADD, d->fd, &ev) != 0 && errno != EEXIST)
    throw std::system_error(errno, std::generic_category(), "weft netpoll: epoll_ctl(ADD)");
  d->epoll_gen = np.generation;
}

bool deadline_passed(std::int64_t dl) noexcept { return dl != 0 && now_ns() >= dl; }

// Step 1 of note 3, under mu: what a wait returns without waiting, if
// anything (consuming `ready`); *dl gets the direction's deadline.
std::optional<poll_status> settled(const poll_desc* d, poll_dir& dir, std::int64_t* dl) noexcept {
  if (d->closing) return poll_status::closing;
  if (dir.ready) {
    dir.ready = false;
    return poll_status::ready;
  }
  *dl = dir.deadline.load(std::memory_order_relaxed);
  if (deadline_passed(*dl)) return poll_status::timed_out;
  return std::nullopt;
}

// The time from now to an absolute steady deadline (at least zero).
timespec time_until(std::int64_t deadline_ns) noexcept {
  std::int64_t left = deadline_ns - now_ns();
  if (left < 0) left = 0;
  return timespec{static_cast<time_t>(left / 1'000'000'000), static_cast<long>(left % 1'000'000'000)};
}

poll_status thread_wait(poll_desc* d, poll_dir& dir, poll_mode mode) {
  prepare_thread_signal();
  const pthread_t self = pthread_self();
  std::unique_lock lk(d->mu);
  for (;;) {
    std::int64_t dl = 0;
    if (const auto st = settled(d, dir, &dl)) return *st;
    dir.thread = self;
    dir.has_thread = true;
    const int fd = d->fd;
    lk.unlock();
    pollfd p{fd, static_cast<short>(mode == poll_mode::read ? (POLLIN | POLLRDHUP) : POLLOUT), 0};
    timespec ts = dl != 0 ? time_until(dl) : timespec{};
    const int n = ppoll(&p, 1, dl != 0 ? &ts : nullptr, &t_sig.unblocked);
    lk.lock();
    if (dir.has_thread && pthread_equal(dir.thread, self)) dir.has_thread = false;
    if (n > 0) return poll_status::ready;
  }
}

}  // namespace

// ---- the descriptor interface ----

poll_desc* poll_open(int fd) {
  poll_desc* d = table().allocate();
  {
    std::lock_guard lk(d->mu);
    d->fd = fd;
    d->closing = false;
    d->epoll_gen = 0;
    d->hung_up.store(false, std::memory_order_relaxed);
    for (poll_dir& dir : d->dir) dir.reset();
  }
  if (runtime* rt = the_runtime()) {
    std::lock_guard lk(d->mu);
    try {
      add_to_epoll(d, rt->poll);
    } catch (...) {
      d->fd = -1;
      table().release(d);
      throw;
    }
  }
  return d;
}

void poll_free(poll_desc* d) noexcept {
  {
    std::lock_guard lk(d->mu);
    runtime* rt = the_runtime();
    if (rt != nullptr && d->epoll_gen == rt->poll.generation) {
      epoll_event ev{};
      epoll_ctl(rt->poll.epfd, EPOLL_CTL_DEL, d->fd, &ev);
    }
    // From here on, events queued with the old seq are stale (note 1).
    d->seq++;
    d->fd = -1;
    d->epoll_gen = 0;
    d->closing = true;
    for (poll_dir& dir : d->dir) wake_dir(dir, false);
  }
  table().release(d);
}

void poll_set_deadline(poll_desc* d, poll_mode mode, std::int64_t deadline_ns) noexcept {
  std::lock_guard lk(d->mu);
  poll_dir& dir = d->dir[static_cast<int>(mode)];
  dir.deadline.store(deadline_ns, std::memory_order_relaxed);
  wake_dir(dir, false);  // the waiter re-evaluates (note 5)
}

bool poll_hung_up(const poll_desc* d) noexcept { return d->hung_up.load(std::memory_order_relaxed); }

bool poll_deadline_passed(const poll_desc* d, poll_mode mode) noexcept {
  return deadline_passed(d->dir[static_cast<int>(mode)].deadline.load(std::memory_order_relaxed));
}

void poll_evict(poll_desc* d) noexcept {
  std::lock_guard lk(d->mu);
  d->closing = true;
  for (poll_dir& dir : d->dir) wake_dir(dir, false);
}

poll_status poll_wait(poll_desc* d, poll_mode mode) {
  poll_dir& dir = d->dir[static_cast<int>(mode)];
  worker* w = this_worker();
  if (w == nullptr) return thread_wait(d, dir, mode);
  runtime* rt = w->rt;
  netpoller& np = rt->poll;
  parker* me = &current_parker();
  std::unique_lock lk(d->mu);
  const wait_reason why{mode == poll_mode::read ? "IO wait (read)" : "IO wait (write)", d, d->fd};
  if (d->epoll_gen != np.generation && !d->closing) add_to_epoll(d, np);
  for (;;) {
    std::int64_t dl = 0;
    if (const auto st = settled(d, dir, &dl)) return *st;
    dir.fiber = me;
    lk.unlock();
    // seq_cst: the idle protocol and the deadlock detector read it
    // (netpoll.hpp); see idle.cpp "Idle workers" step 5.
    if (np.waiters.fetch_add(1, std::memory_order_seq_cst) == 0) rt->on_first_io_waiter();
    try {
      if (dl != 0)
        park_until(clock::time_point(std::chrono::nanoseconds(dl)), why);
      else
        park(why);
    } catch (...) {
      np.waiters.fetch_sub(1, std::memory_order_seq_cst);
      lk.lock();
      if (dir.fiber == me) dir.fiber = nullptr;
      throw;
    }
    np.waiters.fetch_sub(1, std::memory_order_seq_cst);
    lk.lock();
    // Still published: a timeout or a spurious wake-up; withdraw and look
    // again. Otherwise a waker took us (note 4) and we look again too.
    if (dir.fiber == me) dir.fiber = nullptr;
  }
}

// ---- the runtime's epoll set ----

void netpoller::start() {
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) throw std::system_error(errno, std::generic_category(), "weft netpoll: epoll_create1");
  evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (evfd < 0) {
    const int e = errno;
    ::close(epfd);
    throw std::system_error(e, std::generic_category(), "weft netpoll: eventfd");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: see note 6
  ev.data.u64 = kWakeTag;
  epoll_ctl(epfd, EPOLL_CTL_ADD, evfd, &ev);
  generation = g_generation.fetch_add(1, std::memory_order_relaxed) + 1;
}

void netpoller::stop() noexcept {
  if (evfd >= 0) ::close(evfd);
  if (epfd >= 0) ::close(epfd);
  evfd = epfd = -1;
}

void netpoller::interrupt() noexcept {
  // seq_cst: pairs with the blocking poll's drain-then-clear (note 6).
  if (wake_sig.exchange(true, std::memory_order_seq_cst)) return;
  const std::uint64_t one = 1;
  while (::write(evfd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

int netpoller::poll(std::int64_t deadline_ns, bool caller_runs_one) noexcept {
  epoll_event evs[kMaxEvents];
  const bool blocking = deadline_ns != 0;
  const std::int64_t traced_since = trace_on() ? now_ns() : 0;
  timespec ts = blocking && deadline_ns != INT64_MAX ? time_until(deadline_ns) : timespec{};  // zero: do not block
  timespec* tsp = deadline_ns == INT64_MAX ? nullptr : &ts;
  int n = epoll_pwait2(epfd, evs, kMaxEvents, tsp, nullptr);
  if (n < 0 && errno == ENOSYS) {
    // Kernels before 5.11: millisecond resolution, rounded up.
    const int ms = tsp == nullptr ? -1 : static_cast<int>((ts.tv_sec * 1'000'000'000 + ts.tv_nsec + 999'999) / 1'000'000);
    n = epoll_wait(epfd, evs, kMaxEvents, ms);
  }
  last_poll.store(now_ns(), std::memory_order_relaxed);
  last_poll_blocked.store(blocking, std::memory_order_relaxed);
  int woken = 0;
  ready_chain chain;
  for (int i = 0; i < n; i++) {
    const std::uint64_t data = evs[i].data.u64;
    if (data == kWakeTag) {
      if (blocking) {
        std::uint64_t v;
        while (::read(evfd, &v, sizeof v) < 0 && errno == EINTR) {
        }
        // After the drain (note 6); pairs with interrupt's exchange.
        wake_sig.store(false, std::memory_order_seq_cst);
      }
      continue;
    }
    poll_desc* d = table().lookup(static_cast<std::uint32_t>(data >> 32));
    if (d == nullptr) continue;
    const std::uint32_t ev = evs[i].events;
    std::lock_guard lk(d->mu);
    if (d->seq != static_cast<std::uint32_t>(data)) continue;  // stale (note 1)
    if (trace_on()) trace_io_ready(d->fd, ev);
    if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) d->hung_up.store(true, std::memory_order_relaxed);
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) woken += wake_dir(d->dir[0], true, &chain);
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) woken += wake_dir(d->dir[1], true, &chain);
  }
  // The fibers go to the shared queue in firing order (note 8), not to this
  // worker's LIFO next slot and deque.
  if (chain.n != 0) {
    rt.injected.push_chain(chain.first, chain.last, chain.n);
    // A lone fiber for a worker that is about to look for work needs no
    // one else woken (a futex wake costs both cores more than it saves).
    if (chain.n > 1 || !caller_runs_one) rt.notify_work();
  }
  count_here(blocking ? &worker_counters::netpoll_waits : &worker_counters::netpoll_polls);
  if (woken > 0) count_here(&worker_counters::fds_ready, static_cast<std::uint64_t>(woken));
  if (trace_on()) trace_poll(traced_since, blocking, woken, n);
  return woken;
}

bool netpoller::poll_now(bool caller_runs_one) noexcept {
  if (waiters.load(std::memory_order_relaxed) == 0) return false;
  // Note 9: out of work just after a blocking poll; the blocking poll the
  // caller is heading for will look.
  if (caller_runs_one && last_poll_blocked.load(std::memory_order_relaxed) &&
      now_ns() - last_poll.load(std::memory_order_relaxed) < kAfterBlockNs)
    return false;
  // Acquire/release: one poller at a time; the flag protects nothing else.
  if (busy.load(std::memory_order_relaxed) || busy.exchange(true, std::memory_order_acquire)) return false;
  const int woken = poll(0, caller_runs_one);
  busy.store(false, std::memory_order_release);
  return woken > 0;
}

}  // namespace weft::detail
