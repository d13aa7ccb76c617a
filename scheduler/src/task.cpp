// task<T> completion, join and release. One word holds both references and
// the joiner: bit kDone (the fiber finished and let go), bit kReleased (the
// handle let go), and otherwise the parker of a joiner (parkers are
// 8-aligned, so their low bits are free).
//   fiber:   set kDone; a parker in the old value: unpark it; kReleased in
//            it: the handle is gone, free.
//   handle:  set kReleased; kDone in the old value: free.
// Each flag is set once (task_complete runs once per task, task_release
// once per handle) and the parker's low bits are clear, so setting one is
// a fetch_add (one lock xadd; a fetch_or whose old value is used is a CAS
// loop on x86).
//   join:    kDone already: return. Else CAS 0 -> parker (a join needs the
//            handle, so kReleased is clear); then park until kDone, re-
//            checking after every wake-up (park may return spuriously); if
//            cancelled meanwhile, CAS parker -> 0 to withdraw.
// Every change is an acq_rel RMW, so they are totally ordered and the later
// of the two flag settings has seen every write the other side made before its
// own (the value, error and fiber_id; `observed`): the last to let go frees
// the state, and is also where a lost exception is found, so the panic
// fires in both orders (dropped, then threw: in the fiber; threw, then
// dropped: at the drop). The fiber touches nothing of the state after
// setting kDone unless it is the last; the parker it unparks belongs to the
// joiner's fiber or thread, not to the state.

#include <cstdio>
#include <cstdlib>
#include <exception>

#include <weft/scheduler/detail/panic.hpp>
#include <weft/scheduler/detail/park.hpp>
#include <weft/scheduler/runtime.hpp>
#include <weft/scheduler/task.hpp>

namespace weft::detail {
namespace {
constexpr std::uintptr_t kDone = 1;
constexpr std::uintptr_t kReleased = 2;
static_assert(alignof(parker) >= 4, "the task word keeps two flags in a parker pointer's low bits");

// The last reference let go.
void free_state(task_state_base* s) noexcept {
  if (s->error && !s->cancelled && !s->observed) panic_with(s->fiber_id, s->site, s->error);
  s->destroy(s);
}
}  // namespace

[[noreturn]] void panic_with(std::uint64_t fiber_id, const std::source_location& site,
                             const std::exception_ptr& error) noexcept {
  const char* what = "an exception not derived from std::exception";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  std::fprintf(stderr, "weft: fiber %llu (spawned at %s:%u) terminated by an uncaught exception: %s\n",
               static_cast<unsigned long long>(fiber_id), site.file_name(), static_cast<unsigned>(site.line()),
               what);
  std::fflush(stderr);
  std::abort();
}

void task_fail(task_state_base* s) noexcept {
  s->error = std::current_exception();
  s->fiber_id = this_fiber::id();
  try {
    throw;
  } catch (const fiber_cancelled&) {
    s->cancelled = true;
  } catch (...) {
  }
}

void rethrow_if_cancelled() {
  try {
    throw;
  } catch (const fiber_cancelled&) {
    throw;
  } catch (...) {
  }
}

void task_cancel(task_state_base* s) noexcept {
  s->error = std::make_exception_ptr(fiber_cancelled{});
  s->cancelled = true;
}

void task_complete(task_state_base* s) noexcept {
  // acq_rel: release publishes value/error to the joiner's acquire and to
  // the handle's release; acquire takes `observed` from a handle that let
  // go first.
  const std::uintptr_t w = s->word.fetch_add(kDone, std::memory_order_acq_rel);
  if ((w & kReleased) != 0) {
    free_state(s);
    return;
  }
  // Not s->...: the joiner may free the state as soon as it sees kDone.
  if (const std::uintptr_t p = w & ~(kDone | kReleased)) unpark(*reinterpret_cast<parker*>(p));
}

bool task_done(const task_state_base* s) noexcept {
  return (s->word.load(std::memory_order_acquire) & kDone) != 0;
}

void task_wait(task_state_base* s) {
  // Joined after the fiber finished (the common case for a join loop):
  // no parker, no CAS. Acquire: as task_done, pairs with task_complete's
  // RMW, so the value or error is visible.
  if (task_done(s)) return;
  std::uintptr_t expected = 0;
  parker& me = current_parker();
  // acq_rel: pairs with task_complete's RMW; on failure (kDone came
  // first) acquire makes the result visible.
  if (s->word.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(&me), std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
    while (!task_done(s)) {
      try {
        park({"task join", s});
      } catch (...) {
        // Cancelled while waiting: withdraw, unless completion already
        // took (or is taking) our parker; then a stale permit is harmless.
        std::uintptr_t mine = reinterpret_cast<std::uintptr_t>(&me);
        s->word.compare_exchange_strong(mine, 0, std::memory_order_acq_rel, std::memory_order_relaxed);
        throw;
      }
    }
  }
}

void task_release(task_state_base* s) noexcept {
  // acq_rel: release publishes `observed` to a fiber that finishes later;
  // acquire takes the fiber's writes when it finished first.
  if ((s->word.fetch_add(kReleased, std::memory_order_acq_rel) & kDone) != 0) free_state(s);
}

}  // namespace weft::detail
