// The fiber registry: the fibers that have parked at least once, in one
// shard per worker (fiber.hpp says when a fiber joins); the live-fiber and
// run counts; and the listing of every registered fiber that the deadlock
// report and weft::dump_fibers() print.

#include <algorithm>
#include <cstdio>
#include <sstream>

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
  std::uint64_t n = 0;
  for (worker* w : workers) n += w->runs.load(std::memory_order_acquire);
  return n;
}

std::size_t runtime::live_fibers() noexcept {
  // Exits first, then creations: a fiber's creation happens before its exit,
  // so every exit we count has its creation counted too, and the result is
  // never below the true number (it is exact when nothing is moving).
  std::uint64_t exited_total = 0, created_total = 0;
  for (worker* w : workers) exited_total += w->exited.load(std::memory_order_acquire);
  for (worker* w : workers) created_total += w->created.load(std::memory_order_acquire);
  created_total += outside_created.load(std::memory_order_acquire);
  return static_cast<std::size_t>(created_total - exited_total);
}

namespace {
const char* state_name(fiber_state s) {
  switch (s) {
    case fiber_state::created: return "not started";
    case fiber_state::runnable: return "runnable";
    case fiber_state::running: return "running";
    case fiber_state::parking: return "parking";
    case fiber_state::parked: return "parked";
    case fiber_state::done: return "done";
  }
  return "?";
}
}  // namespace

std::string runtime::describe_fibers() {
  // One line per fiber, by id, as Go's goroutine dump.
  std::vector<std::pair<std::uint64_t, std::string>> lines;
  auto walk = [&](registry_shard& s) {
    std::lock_guard lk(s.mu);
    for (fiber* f = s.head; f != nullptr; f = f->reg_next) {
      std::ostringstream os;
      os << "fiber " << f->id;
      if (f->is_main) os << " (main)";
      os << " [" << (f->state == fiber_state::parked && f->waiting.what ? f->waiting.what : state_name(f->state));
      if (f->state == fiber_state::parked && f->waiting.fd >= 0)
        os << " fd " << f->waiting.fd;
      else if (f->state == fiber_state::parked && f->waiting.object != nullptr)
        os << " " << f->waiting.object;
      os << "]: spawned at " << f->site.file_name() << ":" << f->site.line() << "\n";
      lines.emplace_back(f->id, os.str());
    }
  };
  for (worker* w : workers) walk(w->registry);
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (auto& l : lines) out += l.second;
  return out;
}

}  // namespace weft::detail

namespace weft {

void dump_fibers() {
  detail::runtime* rt = detail::the_runtime();
  if (rt == nullptr) {
    std::fputs("weft: no runtime is running\n", stderr);
    return;
  }
  std::string s = "weft: fiber dump\n" + rt->describe_fibers();
  std::fputs(s.c_str(), stderr);
}

}  // namespace weft
