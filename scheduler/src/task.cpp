// task<T> completion, join and release. The waiter word: 0 (running, no
// joiner), a parker pointer (a joiner waits), or kDone. The fiber's exchange
// to kDone (acq_rel) and the joiner's CAS 0 -> parker (acq_rel) decide who
// goes first; the joiner re-checks after every wake-up, since park may
// return spuriously. The state is freed by the last of the two references,
// which is also where a lost exception is found: the last release sees
// (acq_rel) both the fiber's error and the handle's `observed`, whichever
// side let go first, so the panic fires in both orders (dropped, then
// threw: in the fiber; threw, then dropped: at the drop).

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

void drop_ref(task_state_base* s) noexcept {
  if (s->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
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
  // acq_rel: release publishes value/error to the joiner's acquire.
  const std::uintptr_t w = s->waiter.exchange(kDone, std::memory_order_acq_rel);
  if (w != 0 && w != kDone) unpark(*reinterpret_cast<parker*>(w));
  drop_ref(s);
}

bool task_done(const task_state_base* s) noexcept { return s->waiter.load(std::memory_order_acquire) == kDone; }

void task_wait(task_state_base* s) {
  // Joined after the fiber finished (the common case for a join loop):
  // no parker, no CAS. Acquire: as task_done, pairs with task_complete's
  // exchange, so the value or error is visible.
  if (s->waiter.load(std::memory_order_acquire) == kDone) return;
  std::uintptr_t expected = 0;
  parker& me = current_parker();
  if (s->waiter.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(&me), std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
    while (s->waiter.load(std::memory_order_acquire) != kDone) {
      try {
        park({"task join", s});
      } catch (...) {
        // Cancelled while waiting: withdraw, unless completion already
        // took (or is taking) our parker; then a stale permit is harmless.
        std::uintptr_t mine = reinterpret_cast<std::uintptr_t>(&me);
        s->waiter.compare_exchange_strong(mine, 0, std::memory_order_acq_rel);
        throw;
      }
    }
  }
}

void task_release(task_state_base* s) noexcept { drop_ref(s); }

}  // namespace weft::detail
