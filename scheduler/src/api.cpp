// this_fiber's yield, sleep and id: thin layers over worker and park.

#include <thread>

#include "runtime_impl.hpp"

namespace weft {

namespace {
constexpr std::int64_t kYieldPollNs = 50'000;  // an epoll_wait(0) per 50 us of CPU work: ~1%
}  // namespace

namespace this_fiber {

void yield() {
  detail::worker* w = detail::this_worker();
  if (w == nullptr) {
    std::this_thread::yield();
    return;
  }
  detail::fiber* self = w->current;
  if (w->rt->cancelling.load(std::memory_order_relaxed)) detail::cancel_current(w);
  // A fiber that yields between CPU-bound chunks may keep every worker
  // busy: while fibers wait on fds, poll if nobody has for kYieldPollNs
  // (the fairness tick alone would poll only every 61 chunks).
  detail::netpoller& np = w->rt->poll;
  if (np.waiters.load(std::memory_order_relaxed) > 0 &&
      detail::now_ns() - np.last_poll.load(std::memory_order_relaxed) >= kYieldPollNs)
    np.poll_now(false);
  detail::fiber* to = w->find_local();
  // Nothing else to run here: a sleeper whose time has come is (a fiber
  // polling with yield must not starve this worker's timers).
  if (to == nullptr && w->fire_timers()) to = w->find_local();
  if (to == nullptr) return;
  // A fiber that yields is listed by dumps from now on (fiber.hpp).
  if (self->shard == nullptr) detail::registry_add(w->registry, self);
  w->switch_from_fiber(self, detail::after_switch::yield, to);
  w = detail::this_worker();
  if (w->rt->cancelling.load(std::memory_order_relaxed)) detail::cancel_current(w);
}

void sleep_until(std::chrono::steady_clock::time_point deadline) {
  if (detail::this_worker() == nullptr) {
    std::this_thread::sleep_until(deadline);
    return;
  }
  while (detail::park_until(deadline, {"sleep", nullptr})) {
  }
}

std::uint64_t id() noexcept {
  detail::worker* w = detail::this_worker();
  return w != nullptr && w->current != nullptr ? w->current->id : 0;
}

}  // namespace this_fiber

}  // namespace weft
