// The fiber registry: the fibers that have parked at least once, in one
// shard per worker (fiber.hpp says when a fiber joins); and the live-fiber
// and run counts. The listing of every registered fiber, which the
// deadlock report and weft::dump_fibers() print, is dump.cpp's.

#include "runtime_impl.hpp"

namespace weft::detail {

void registry_add(registry_shard& s, fiber* f) noexcept {
  std::lock_guard lk(s.mu);
  f->shard = &s;
  f->reg_prev = nullptr;
  f->reg_next = s.head;
  if (s.head != nullptr) s.head->reg_prev = f;
  s.head = f;
  s.count++;
}

void registry_remove(fiber* f) noexcept {
  registry_shard& s = *f->shard;
  std::lock_guard lk(s.mu);
  if (f->reg_prev != nullptr)
    f->reg_prev->reg_next = f->reg_next;
  else
    s.head = f->reg_next;
  if (f->reg_next != nullptr) f->reg_next->reg_prev = f->reg_prev;
  s.count--;
}

std::uint64_t runtime::total_runs() const noexcept {
  // Relaxed: a sample to compare with a later one (worker::runs).
  std::uint64_t n = 0;
  for (worker* w : all) n += w->runs.load(std::memory_order_relaxed);
  return n;
}

std::size_t runtime::live_fibers() noexcept {
  // Exits first, then creations: a fiber's creation happens before its exit,
  // so every exit we count has its creation counted too, and the result is
  // never below the true number (it is exact when nothing is moving).
  // The exits are seq_cst loads: they pair with the exit counts' seq_cst
  // stores (worker::exited says why acquire would not do), and as acquire
  // loads they keep the creation loads after them. Those are relaxed: what
  // they must see is ordered before the exits read.
  std::uint64_t exited_total = 0, created_total = 0;
  for (worker* w : all) exited_total += w->exited.load(std::memory_order_seq_cst);
  for (worker* w : all) created_total += w->created.load(std::memory_order_relaxed);
  created_total += outside_created.load(std::memory_order_relaxed);
  return static_cast<std::size_t>(created_total - exited_total);
}

}  // namespace weft::detail
