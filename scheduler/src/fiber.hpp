// The scheduler's fiber: fiber_base plus run-state, queue link and parker.
//
// Fiber state machine (asserted in debug builds by set_state):
//
// | state    | who owns the stack             | where the fiber is                 | who moves it on            |
// |----------|--------------------------------|------------------------------------|----------------------------|
// | created  | nobody runs on it; it has one  | one run queue                      | the worker that pops it    |
// |          | only if its block was placed   |                                    | (fiber_settle; a block in  |
// |          | there at spawn                 |                                    | a record moves then)       |
// | runnable | saved in ctx                   | one run queue, next slot or yield  | the worker that pops it    |
// |          |                                | list                               |                            |
// | running  | the worker thread running it   | worker::current                    | the fiber itself           |
// | parking  | still being switched away from | worker::pending of its old worker  | finish_switch on that      |
// |          |                                |                                    | thread: parked or runnable |
// | parked   | saved in ctx                   | only in wait structures (via its   | unpark(): runnable         |
// |          |                                | parker)                            |                            |
// | done     | being freed                    | worker::pending                    | finish_switch: freed       |
//
// Park word (parker::state) for fibers, the permit protocol of park.hpp:
//   kEmpty    no permit; the fiber is running, queued, or being switched
//             away from on its way to park
//   kNotified a permit is available
//   kParked   the fiber's context is saved; an unparker must schedule it
// Transitions: park: a load; if kNotified, consume it (an exchange to
// kEmpty) and return; otherwise switch away without writing the word.
// finish_switch (on the side resumed, once the context is saved): kEmpty ->
// kParked (CAS; if an unpark turned it kNotified meanwhile, consume it: ->
// kEmpty and schedule the fiber again). unpark: kEmpty -> kNotified,
// kParked -> kEmpty + schedule, kNotified -> kNotified. Every write is a
// read-modify-write, so all of them are totally ordered on the word: an
// unparker and the consumer of a permit can never both miss each other's
// writes (with a plain store they can: the store-load race, a lost
// wake-up). The CAS that moves kParked -> kEmpty is the single point that
// hands the fiber to exactly one scheduler. park writes nothing before
// switching away: a state between kEmpty and kParked would be one that
// unpark treats as kEmpty, an RMW per park that buys nothing.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>

#include <weft/fibers/detail/fiber_base.hpp>
#include <weft/scheduler/detail/park.hpp>
#include <weft/scheduler/detail/spawn.hpp>

namespace weft::detail {

enum class fiber_state : std::uint8_t { created, runnable, running, parking, parked, done };

// Where the control block lives (fiber_alloc.hpp has the rules).
enum class fiber_home : std::uint8_t { record, stack, heap };

inline constexpr std::int32_t kEmpty = 0;
inline constexpr std::int32_t kNotified = 1;
inline constexpr std::int32_t kParked = 3;

struct registry_shard;

struct fiber : fiber_base {
  fiber* next = nullptr;  // run-queue link: owned by the queue holding the fiber
  parker park;            // park.owner == this
  fiber_state state = fiber_state::created;
  bool is_main = false;
  fiber_home home = fiber_home::heap;
  // Requested usable stack size in KiB, rounded up (stacks are whole
  // pages); in the padding after the bytes above, as a record's every byte
  // is a share of a page touched per queued fiber (fiber_alloc.hpp).
  std::uint32_t stack_kib = 0;
  wait_reason waiting;            // diagnostics: what the fiber is parked on
  std::uint64_t trace_flow = 0;   // the trace's pending unpark flow (trace.hpp, note 4)
  // The closure's type: it lives at fiber_closure(this), and its size
  // (vt->size) gives the block's (fiber_block_bytes).
  const closure_vtable* vt = nullptr;
  // Registry links, guarded by shard->mu. A fiber joins the registry of
  // the worker where it first parks or yields (one that does neither is
  // queued or running: the dump finds it through its worker, dump.cpp
  // note 3; and spawn-run-exit takes no lock shared with another worker).
  registry_shard* shard = nullptr;
  fiber* reg_prev = nullptr;
  fiber* reg_next = nullptr;
};

// Where a fiber's closure starts: right after the fiber, aligned as
// closure_vtable requires, in every home (fiber_alloc.hpp).
inline constexpr std::size_t kClosureOffset =
    (sizeof(fiber) + alignof(std::max_align_t) - 1) / alignof(std::max_align_t) * alignof(std::max_align_t);
inline void* fiber_closure(fiber* f) noexcept { return reinterpret_cast<std::byte*>(f) + kClosureOffset; }
// Bytes of f's block: the fiber and its closure.
inline std::size_t fiber_block_bytes(const fiber* f) noexcept { return kClosureOffset + f->vt->size; }
inline std::size_t fiber_stack_bytes(const fiber* f) noexcept { return std::size_t{f->stack_kib} * 1024; }

inline void set_state(fiber* f, fiber_state to) {
#ifndef NDEBUG
  const fiber_state from = f->state;
  bool ok = false;
  switch (to) {
    case fiber_state::running: ok = from == fiber_state::created || from == fiber_state::runnable; break;
    case fiber_state::runnable: ok = from == fiber_state::running || from == fiber_state::parking ||
                                     from == fiber_state::parked; break;
    case fiber_state::parking: ok = from == fiber_state::running; break;
    case fiber_state::parked: ok = from == fiber_state::parking; break;
    case fiber_state::done: ok = from == fiber_state::running || from == fiber_state::created; break;
    case fiber_state::created: ok = false; break;
  }
  assert(ok && "illegal fiber state transition");
  (void)ok;
#endif
  f->state = to;
}

}  // namespace weft::detail
