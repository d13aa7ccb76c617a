// Fiber-local tables. Keys are handed out once and never reused, so a slot
// index stays valid for the life of the process.

#include <weft/fibers/detail/fiber_base.hpp>
#include <weft/fibers/detail/locals.hpp>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace weft::detail {
namespace {

struct key_registry {
  std::mutex mu;                      // guards dtors
  std::vector<void (*)(void*)> dtors;  // by key
};
key_registry& keys() {
  static key_registry* r = new key_registry;  // outlives thread exits
  return *r;
}

struct thread_table {
  local_table t;
  ~thread_table() { local_table_destroy(t); }
};
thread_local thread_table t_thread_locals;

}  // namespace

std::uint32_t local_key_create(void (*dtor)(void*)) {
  key_registry& r = keys();
  std::lock_guard lk(r.mu);
  r.dtors.push_back(dtor);
  return static_cast<std::uint32_t>(r.dtors.size() - 1);
}

// noinline: a fiber may call this before and after a suspension on two
// different threads; each call must read the TLS of the thread it runs on.
__attribute__((noinline)) local_table& current_local_table() noexcept {
  if (fiber_base* f = running_fiber()) return f->locals;
  return t_thread_locals.t;
}

void* local_get(const local_table& t, std::uint32_t key) noexcept {
  return key < t.size ? t.slots[key] : nullptr;
}

void local_set(local_table& t, std::uint32_t key, void* value) {
  if (key >= t.size) {
    std::uint32_t n = t.size == 0 ? 8 : t.size;
    while (n <= key) n *= 2;
    auto** slots = static_cast<void**>(std::calloc(n, sizeof(void*)));
    if (slots == nullptr) throw std::bad_alloc();
    for (std::uint32_t i = 0; i < t.size; i++) slots[i] = t.slots[i];
    std::free(t.slots);
    t.slots = slots;
    t.size = n;
  }
  t.slots[key] = value;
}

void local_table_destroy(local_table& t) noexcept {
  if (t.slots == nullptr) return;
  std::vector<void (*)(void*)> dtors;
  {
    key_registry& r = keys();
    std::lock_guard lk(r.mu);
    dtors.assign(r.dtors.begin(), r.dtors.begin() + std::min<std::size_t>(t.size, r.dtors.size()));
  }
  for (std::uint32_t i = 0; i < dtors.size(); i++)
    if (t.slots[i] != nullptr) dtors[i](t.slots[i]);
  std::free(t.slots);
  t.slots = nullptr;
  t.size = 0;
}

}  // namespace weft::detail
