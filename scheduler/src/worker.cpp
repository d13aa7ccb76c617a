// Workers: the scheduling loop, switching between fibers, and where a
// worker looks for its next fiber.
//
// Design notes
// 1. A fiber switches directly to the next fiber on its worker when one is
//    at hand (yield, park, exit); only when none is does it switch to the
//    worker's own context (sched_ctx), which steals, runs timers or sleeps.
//    A direct switch is one jump_fcontext, which is what makes yield and
//    channel hand-offs cost little more than a raw context switch.
// 2. The side that switched away cannot finish its own switch (its context
//    is saved only by the jump), so it leaves pending_from/pending in the
//    worker and the resumed side calls finish_switch() first thing: store
//    the old context, then requeue it (yield), publish it as parked (park,
//    see fiber.hpp) or free it (exit). Until then no other thread can see
//    the old fiber as resumable.
// 3. The resumed side learns its worker from the switch's data word, never
//    from a cached thread_local (context.hpp note 2).
// 4. Where to look, in order (find_local): the LIFO next slot (the fiber
//    just woken here, still hot in cache: ping-pong stays on one worker),
//    the local deque (newest first), the shared queue, and last the fibers
//    that yielded. Fibers that hand off to each other switch directly and
//    never pass through loop(), so two bounds keep them from starving the
//    rest: every kFairnessTick-th pick fires this worker's due timers and
//    looks at the yield list and the shared queue first, and after
//    kFairnessTick next-slot picks in a row the deque's oldest fiber goes
//    first. Only the scheduling loop steals (steal()). The tick also polls
//    the network without blocking (netpoll.cpp), as does the loop before
//    it steals.
// 5. Making a fiber runnable notifies an idle worker only when stealable
//    work appeared (a deque push), not for the next slot: the worker that
//    filled the slot runs it as soon as the current fiber stops, and waking
//    a thread on the other core costs ~20 us here.

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <typeinfo>

#include <weft/scheduler/detail/panic.hpp>

#include "fiber_alloc.hpp"
#include "runtime_impl.hpp"

namespace weft::detail {
namespace {

constexpr std::uint32_t kFairnessTick = 61;
constexpr std::int64_t kSpinNs = 50'000;
constexpr std::int64_t kNextSlotGraceNs = 3'000;

std::uint64_t xorshift(std::uint64_t& s) noexcept {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

// Frees an exited (or never started) fiber, its block and its stack
// (fiber_alloc.hpp, rule 2).
void free_fiber(fiber* f) noexcept {
  context_destroy(f->ctx);
  fiber_block_delete(f);
}

void fiber_entry(transfer_t t) noexcept {
  auto* w = static_cast<worker*>(t.data);
  fiber* self = w->current;
  context_started(self->ctx);
  w->finish_switch(t.fctx);
  try {
    // A fiber cancelled before its first run never runs its closure.
    if (!w->rt->cancelling.load(std::memory_order_acquire)) self->vt->run(fiber_closure(self));
  } catch (fiber_cancelled&) {
    // Cancelled at shutdown: unwound, nothing to report.
  } catch (...) {
    panic_with(self->id, self->site, std::current_exception());  // Go's panic
  }
  self->vt->destroy(fiber_closure(self));
  this_worker()->exit_fiber(self);
}

}  // namespace

fiber* worker::prepare(fiber* f) {
  stack s;  // stays empty when the block was placed in a stack at spawn
  try {
    if (!f->ctx.st) s = stack_allocate(fiber_stack_bytes(f));
  } catch (std::bad_alloc&) {
    std::fprintf(stderr, "weft: out of memory allocating a %zu KiB stack for fiber %llu (spawned at %s:%u)\n",
                 static_cast<std::size_t>(f->stack_kib), static_cast<unsigned long long>(f->id), f->site.file_name(),
                 static_cast<unsigned>(f->site.line()));
    std::abort();
  }
  worker_counters::bump(ctr.fibers_started);
  return fiber_settle(f, s, &fiber_entry);
}

void worker::finish_switch(fcontext_t from_ctx) noexcept {
  fiber* from = pending_from;
  const after_switch what = pending;
  pending_from = nullptr;
  pending = after_switch::none;
  if (from == nullptr) {
    sched_ctx.fctx = from_ctx;
    return;
  }
  from->ctx.fctx = from_ctx;
  if (what == after_switch::park) {
    // The state field is published by the CAS below (release); an
    // unparker's CAS from kParked (acquire) reads it.
    set_state(from, fiber_state::parked);
    std::int32_t expected = kEmpty;
    if (from->park.state.compare_exchange_strong(expected, kParked, std::memory_order_acq_rel,
                                                 std::memory_order_acquire))
      return;
  }
  finish_switch_rest(from, what);
}

void worker::finish_switch_rest(fiber* from, after_switch what) noexcept {
  switch (what) {
    case after_switch::none:
      break;
    case after_switch::yield:
      set_state(from, fiber_state::runnable);
      yield_push(from);
      break;
    case after_switch::park:
      // An unpark arrived while we switched away (it left kNotified):
      // consume it (an RMW, as in fiber_park) and run the fiber again.
      from->park.state.exchange(kEmpty, std::memory_order_acq_rel);
      set_state(from, fiber_state::runnable);
      push_queue(from);
      break;
    case after_switch::exit: {
      const bool main = from->is_main;
      free_fiber(from);
      count(exited);
      if (main) rt->on_main_done();
      rt->on_fiber_exit();
      break;
    }
    case after_switch::abandon:
      // Never freed nor resumed (shutdown.cpp, note 3).
      count(exited);
      rt->on_fiber_exit();
      break;
  }
}

context& worker::leave(fiber* self, after_switch what, fiber* to) noexcept {
  if (!self->ctx.st.canary_intact()) report_canary_broken(*self);
  pending_from = self;
  pending = what;
  context* target = &sched_ctx;
  if (to != nullptr) {
    if (to->state == fiber_state::created) to = prepare(to);
    set_state(to, fiber_state::running);
    target = &to->ctx;
  }
  if (to != nullptr) count(runs); else worker_counters::bump(ctr.to_loop);
  if (trace_on()) trace_switch(*this, self, static_cast<run_end>(what), to);
  running_id.store(to != nullptr ? to->id : 0, std::memory_order_relaxed);
  current = to;
  set_running_fiber(to);
  return *target;
}

void worker::switch_from_fiber(fiber* self, after_switch what, fiber* to) noexcept {
  context& target = leave(self, what, to);
  transfer_t t = context_switch(self->ctx, target, this);
  // Resumed, perhaps on another worker: that worker is t.data.
  static_cast<worker*>(t.data)->finish_switch(t.fctx);
}

void worker::exit_fiber(fiber* self) noexcept {
  local_table_destroy(self->locals);
  if (self->shard != nullptr) registry_remove(self);
  set_state(self, fiber_state::done);
  context& target = leave(self, after_switch::exit, find_local());
  context_switch_final(self->ctx, target, this);
}

void worker::resume(fiber* f) noexcept {
  if (f->state == fiber_state::created && rt->cancelling.load(std::memory_order_acquire)) {
    // Cancelled before it ever ran: it never runs (Go drops such
    // goroutines at exit); destroy its closure here.
    set_state(f, fiber_state::done);
    f->vt->destroy(fiber_closure(f));
    const bool main = f->is_main;
    free_fiber(f);
    count(exited);
    if (main) rt->on_main_done();
    rt->on_fiber_exit();
    return;
  }
  if (f->state == fiber_state::created) f = prepare(f);
  set_state(f, fiber_state::running);
  count(runs);
  if (trace_on()) trace_switch(*this, nullptr, run_end::loop, f);
  running_id.store(f->id, std::memory_order_relaxed);
  current = f;
  pending_from = nullptr;
  pending = after_switch::none;
  set_running_fiber(f);
  transfer_t t = context_switch(sched_ctx, f->ctx, this);
  finish_switch(t.fctx);
}

void worker::fire_everyones_timers() {
  // Timers of busy workers are everyone's business.
  const std::int64_t now = now_ns();
  for (worker* v : rt->all)
    if (v->timers.next.load(std::memory_order_relaxed) <= now) v->timers.fire_due(now);
}

void worker::push_next(fiber* f) noexcept {
  // Only the owner fills the slot and thieves only empty it, so an empty
  // slot stays empty until we store: a plain store (release: publishes f to
  // a thief's CAS) suffices, and the hand-off path saves an RMW.
  if (next_slot.load(std::memory_order_relaxed) == nullptr) {
    next_slot.store(f, std::memory_order_release);
    return;
  }
  // acq_rel: as above; acquire takes over the fiber we displace, which a
  // thief may be racing us for.
  fiber* old = next_slot.exchange(f, std::memory_order_acq_rel);
  if (old != nullptr) push_queue(old);
}

void worker::push_queue(fiber* f) noexcept {
  if (!queue.push(f)) {
    // Full: move the older half, and f, to the shared queue in one batch
    // (Go's runqputslow), so other workers can take them without stealing.
    // No array of them on this frame: push_queue runs on the spawning
    // fiber's stack, whose frames should stay in its one resident page.
    fiber* first = f;
    fiber* last = nullptr;
    const std::int64_t n = queue.take_oldest(local_queue::kCapacity / 2, first, last);
    if (n > 0) last->next = f;
    rt->injected.push_chain(first, f, static_cast<std::size_t>(n) + 1);
  }
  rt->notify_work();
}

void worker::yield_push(fiber* f) noexcept {
  f->next = nullptr;
  yield_enter();
  if (yield_tail != nullptr)
    yield_tail->next = f;
  else
    yield_head.store(f, std::memory_order_relaxed);
  yield_tail = f;
  yield_leave();
}

fiber* worker::yield_pop() noexcept {
  // Only the owner adds: empty now stays empty (the monitor only takes).
  if (yield_head.load(std::memory_order_relaxed) == nullptr) return nullptr;
  yield_enter();
  fiber* f = yield_head.load(std::memory_order_relaxed);
  if (f != nullptr) {
    yield_head.store(f->next, std::memory_order_relaxed);
    if (f->next == nullptr) yield_tail = nullptr;
  }
  yield_leave();
  return f;
}

void worker::yield_wait() noexcept {
  // The monitor set yield_taken: it backs off (it saw us busy) or takes
  // the list; either way it clears the flag within microseconds.
  // Acquire: as in yield_enter.
  while (yield_taken.load(std::memory_order_acquire)) __builtin_ia32_pause();
}

bool worker::has_local_work() const noexcept {
  return next_slot.load(std::memory_order_relaxed) != nullptr || queue.size() > 0 ||
         yield_head.load(std::memory_order_relaxed) != nullptr;
}

fiber* worker::find_global() noexcept {
  if (rt->injected.size() == 0) return nullptr;
  // Take a fair share, like Go's globrunqget.
  fiber* batch[32];
  std::size_t want = rt->injected.size() / rt->workers.size() + 1;
  if (want > 32) want = 32;
  const std::size_t n = rt->injected.pop_batch(batch, want);
  if (n == 0) return nullptr;
  for (std::size_t i = 1; i < n; i++)
    if (!queue.push(batch[i])) rt->injected.push(batch[i]);
  return batch[0];
}

namespace {

// Spins while still() holds, for at most kNextSlotGraceNs: a thief's wait
// for a victim to take a fiber it is about to run (steal()).
template <class Still>
void grace_wait(Still still) noexcept {
  const std::int64_t until = now_ns() + kNextSlotGraceNs;
  while (still() && now_ns() < until)
    for (int i = 0; i < 16; i++) __builtin_ia32_pause();
}

}  // namespace

bool worker::fire_timers() noexcept {
  const std::int64_t next_timer = timers.next.load(std::memory_order_relaxed);
  if (next_timer == INT64_MAX) return false;
  const std::int64_t now = now_ns();
  return next_timer <= now && timers.fire_due(now) > 0;
}

fiber* worker::find_local() noexcept {
  fiber* f;
  if (--tick == 0) {
    tick = kFairnessTick;
    // Fibers that hand off to each other directly never pass through
    // loop(); their worker's due timers must fire anyway (Go's schedule()
    // calls checkTimers on every pass), and so must I/O (a non-blocking
    // poll, unless a poller is blocked or another worker polls now).
    fire_timers();
    rt->poll.poll_now(false);
    // A spare the monitor retires gives its queues back from its loop
    // (monitor.cpp, step 5): fibers handing off to each other would never
    // return there.
    if (is_spare && retire.load(std::memory_order_relaxed)) return nullptr;
    // The yield list first: a fiber that yielded runs within one tick
    // even while the shared queue never drains (a server whose poller keeps
    // it full); the shared queue is next, so it waits at most one pick more.
    if ((f = yield_pop()) != nullptr) return f;
    if ((f = find_global()) != nullptr) return f;
  }
  if (next_slot.load(std::memory_order_relaxed) != nullptr) {
    // Fibers handing off to each other through the next slot would starve
    // the deque; after kFairnessTick such picks in a row, its oldest fiber
    // goes first (Go bounds the streak with the time slice a runnext
    // goroutine inherits). Not on the tick: taking the oldest regularly
    // would turn skynet's depth-first walk breadth-first (60 MB, 4x slower).
    if (++next_streak > kFairnessTick) {
      next_streak = 0;
      if ((f = queue.steal()) != nullptr) return f;
    }
    // acq_rel: as push_next's exchange (takes over the fiber; a thief may
    // race us for it).
    if ((f = next_slot.exchange(nullptr, std::memory_order_acq_rel)) != nullptr) return f;
  }
  next_streak = 0;
  if ((f = queue.pop()) != nullptr) return f;
  if ((f = find_global()) != nullptr) return f;
  return yield_pop();
}

fiber* worker::steal() noexcept {
  const std::size_t n = rt->workers.size();
  if (n < 2) return nullptr;
  worker_counters::bump(ctr.steal_attempts);
  const auto took = [this](const worker* v, std::uint64_t k) {
    worker_counters::bump(ctr.steals);
    worker_counters::bump(ctr.fibers_stolen, k);
    if (trace_on()) trace_steal(*this, v->index, k);
  };
  for (int attempt = 0; attempt < 4; attempt++) {
    const std::size_t start = xorshift(rng) % n;
    for (std::size_t k = 0; k < n; k++) {
      worker* v = rt->workers[(start + k) % n];
      if (v == this) continue;
      // A lone fiber in a running worker's deque was most often displaced
      // from its next slot by a wake-up a moment ago (a select waking two
      // senders in turn); the owner gets to it within microseconds, and
      // moving it costs more than waiting. Give it the next slot's grace,
      // and leave the victim alone if it took that fiber meanwhile (even if
      // another has taken its place), or if it resumed any fiber at all:
      // a worker that keeps switching reaches its deque within the
      // fairness bound (find_local), while one stuck in a long-running
      // fiber does not (docs/benchmarks.md has what this rule is worth).
      if (v->queue.size() == 1) {
        const std::int64_t oldest = v->queue.oldest_position();
        const std::uint64_t runs_then = v->runs.load(std::memory_order_relaxed);
        auto same_lone = [v, oldest] { return v->queue.size() == 1 && v->queue.oldest_position() == oldest; };
        grace_wait(same_lone);
        if (v->queue.size() <= 1 && (v->queue.oldest_position() != oldest ||
                                     v->runs.load(std::memory_order_relaxed) != runs_then))
          continue;
      }
      if (fiber* f = v->queue.steal()) {
        // Take up to half of what is left, into our own deque.
        std::int64_t more = v->queue.size() / 2;
        std::uint64_t taken = 1;
        while (more-- > 0) {
          fiber* g = v->queue.steal();
          if (g == nullptr) break;
          taken++;
          if (!queue.push(g)) {
            rt->injected.push(g);
            break;
          }
        }
        took(v, taken);
        return f;
      }
      // The next slot last, only on the last round, and only a fiber that
      // has sat there for kNextSlotGraceNs while its worker resumed nothing
      // else: its owner is about to run it (the fiber that woke it is about
      // to block, as in a channel hand-off), and moving it costs a
      // cross-core hand-off and a trail of cache misses. Go's runqgrab
      // waits 3 us the same way. Two fibers handing off to each other keep
      // the slot busy with one or the other; `runs` moving tells us so
      // (sampling the slot alone could see the same fiber at every look).
      if (attempt == 3) {
        fiber* seen = v->next_slot.load(std::memory_order_relaxed);
        if (seen != nullptr) {
          const std::uint64_t runs_then = v->runs.load(std::memory_order_relaxed);
          auto stuck = [v, seen, runs_then] {
            return v->next_slot.load(std::memory_order_relaxed) == seen &&
                   v->runs.load(std::memory_order_relaxed) == runs_then;
          };
          grace_wait(stuck);
          // acq_rel: as push_next's exchange (takes over the fiber).
          if (stuck() && v->next_slot.compare_exchange_strong(seen, nullptr, std::memory_order_acq_rel,
                                                              std::memory_order_relaxed)) {
            took(v, 1);
            return seen;
          }
        }
      }
    }
    if (fiber* f = find_global()) return f;
  }
  return nullptr;
}

void worker::loop() {
  while (!rt->stop.load(std::memory_order_acquire)) {
    const std::int64_t next_timer = timers.next.load(std::memory_order_relaxed);
    if (next_timer != INT64_MAX && next_timer <= now_ns()) timers.fire_due(now_ns());
    fiber* f = find_local();
    // Fibers waiting on fds whose edges nobody has collected: collect
    // them (non-blocking) before stealing or sleeping.
    if (f == nullptr && rt->poll.poll_now(true)) f = find_local();
    if (f == nullptr) {
      // Spin: at most half the busy workers look for work at once.
      if (!spinning) {
        const unsigned busy = static_cast<unsigned>(rt->workers.size()) - rt->num_idle.load(std::memory_order_relaxed);
        if (2 * rt->num_spinning.load(std::memory_order_relaxed) < busy) {
          spinning = true;
          rt->num_spinning.fetch_add(1, std::memory_order_seq_cst);
        }
      }
      if (spinning) {
        f = steal();
        if (f == nullptr) {
          fire_everyones_timers();
          f = find_local();
        }
      }
    }
    if (f == nullptr) {
      // Keep looking for a short while before sleeping: work that arrives
      // within kSpinNs is picked up without a futex wake-up (~20 us across
      // cores here) and the notifier sees us spinning and wakes nobody.
      // Not while fibers wait on fds: their work arrives through the
      // poller, which a sleeper blocked in epoll_wait gets as soon as a
      // spinner would, and the spin would only take the CPU from the
      // programs on the other end of the sockets.
      if (spinning && rt->poll.waiters.load(std::memory_order_relaxed) == 0) {
        const std::int64_t now = now_ns();
        if (spin_since == 0) spin_since = now;
        if (now - spin_since < kSpinNs) {
          for (int i = 0; i < 16; i++) __builtin_ia32_pause();
          continue;
        }
      }
      spin_since = 0;
      sleep_until_work();
      rt->monitor_after_sleep();
      continue;
    }
    spin_since = 0;
    if (spinning) {
      spinning = false;
      // seq_cst: pairs with notify_work's seq_cst reads. If we were the last
      // spinner and work remains, wake another to look for it (Go's
      // resetspinning).
      if (rt->num_spinning.fetch_sub(1, std::memory_order_seq_cst) == 1 && rt->any_work()) rt->notify_work();
    }
    resume(f);
  }
}

}  // namespace weft::detail
