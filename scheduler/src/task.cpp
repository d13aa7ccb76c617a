// task<T> completion and join. The waiter word: 0 (running, no joiner), a
// parker pointer (a joiner waits), or kDone. The fiber's exchange to kDone
// (acq_rel) and the joiner's CAS 0 -> parker (acq_rel) decide who goes
// first; the joiner re-checks after every wake-up, since park may return
// spuriously. The state is freed by the last of the two references.

#include <cstdio>
#include <cstdlib>
#include <exception>

#include <weft/scheduler/detail/park.hpp>
#include <weft/scheduler/task.hpp>

namespace weft::detail {
namespace {
constexpr std::uintptr_t kDone = 1;
}

void task_complete(task_state_base* s) noexcept {
  // acq_rel: release publishes value/error to the joiner's acquire.
  const std::uintptr_t w = s->waiter.exchange(kDone, std::memory_order_acq_rel);
  if (w != 0 && w != kDone) unpark(*reinterpret_cast<parker*>(w));
  task_release(s, false);
}

bool task_done(const task_state_base* s) noexcept { return s->waiter.load(std::memory_order_acquire) == kDone; }

void task_wait(task_state_base* s) {
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

void task_release(task_state_base* s, bool handle_side) noexcept {
  if (handle_side && !s->observed && task_done(s) && s->error) {
    try {
      std::rethrow_exception(s->error);
    } catch (std::exception& e) {
      std::fprintf(stderr, "weft: a spawned task's exception was never joined: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "weft: a spawned task's exception was never joined\n");
    }
  }
  if (s->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) s->destroy(s);
}

}  // namespace weft::detail
