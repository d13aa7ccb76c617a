// Fiber control block cache; design in fiber_alloc.hpp.

#include "fiber_alloc.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <new>
#include <vector>

namespace weft::detail {
namespace {

struct cache;

struct alignas(std::max_align_t) block_header {
  cache* home;
  block_header* next;
};
constexpr std::size_t kHeader = sizeof(block_header);

struct cache {
  block_header* local = nullptr;  // home thread only
  std::size_t local_count = 0;
  // Release on push pairs with the owner's acquire exchange.
  std::atomic<block_header*> remote{nullptr};
};

constexpr std::size_t kMaxLocal = 16384;  // ~5 MiB per thread

// Caches outlive their threads (a block may name its home after the home
// thread exited): a thread that ends returns its cache to `spare`, and the
// next new thread adopts it, blocks, remote list and all. `all` keeps every
// cache reachable (and the set bounded by the peak number of threads).
struct cache_registry {
  std::mutex mu;  // guards both vectors
  std::vector<cache*> all;
  std::vector<cache*> spare;
};
cache_registry& registry() {
  static cache_registry* r = new cache_registry;
  return *r;
}

struct cache_holder {
  cache* c;
  cache_holder() {
    cache_registry& r = registry();
    std::lock_guard lk(r.mu);
    if (!r.spare.empty()) {
      c = r.spare.back();
      r.spare.pop_back();
    } else {
      c = new cache;
      r.all.push_back(c);
    }
  }
  ~cache_holder() {
    cache_registry& r = registry();
    std::lock_guard lk(r.mu);
    r.spare.push_back(c);
  }
};

cache* my_cache() {
  thread_local cache_holder h;
  return h.c;
}

}  // namespace

void* fiber_block_alloc(std::size_t size) {
  if (size > kFiberBlock) return ::operator new(size);
  cache* c = my_cache();
  block_header* b = c->local;
  if (b == nullptr) {
    // Acquire: pairs with remote pushers' release.
    b = c->remote.exchange(nullptr, std::memory_order_acquire);
    std::size_t n = 0;
    for (block_header* p = b; p != nullptr; p = p->next) n++;
    c->local_count = n;
  }
  if (b != nullptr) {
    c->local = b->next;
    c->local_count--;
    return reinterpret_cast<std::byte*>(b) + kHeader;
  }
  auto* h = static_cast<block_header*>(::operator new(kHeader + kFiberBlock));
  h->home = c;
  return reinterpret_cast<std::byte*>(h) + kHeader;
}

void fiber_block_free(void* p, std::size_t size) noexcept {
  if (size > kFiberBlock) {
    ::operator delete(p);
    return;
  }
  auto* h = reinterpret_cast<block_header*>(static_cast<std::byte*>(p) - kHeader);
  cache* home = h->home;
  cache* c = my_cache();
  if (home == c) {
    if (c->local_count >= kMaxLocal) {
      ::operator delete(h);
      return;
    }
    h->next = c->local;
    c->local = h;
    c->local_count++;
    return;
  }
  block_header* top = home->remote.load(std::memory_order_relaxed);
  do {
    h->next = top;
  } while (!home->remote.compare_exchange_weak(top, h, std::memory_order_release, std::memory_order_relaxed));
}

}  // namespace weft::detail
