// Stack slabs and the LIFO stack pool. Design notes in
// weft/fibers/detail/stack.hpp.
//
// Lock order: pool.mu is a leaf lock (nothing is acquired while holding it).

#include <weft/fibers/detail/stack.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <new>
#include <vector>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEFT_VALGRIND 1
#endif

// Linux 6.13+: a guard page as a page-table marker (no VMA of its own).
// Debian 12's headers predate it.
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

namespace weft::detail {
namespace {

const std::size_t kPage = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
// Target bytes of one slab mapping.
constexpr std::size_t kSlabBytes = 8u << 20;
// Registry capacity: 2^17 slabs of 8 MiB is 1 TiB of stacks.
constexpr std::size_t kMaxSlabs = 1u << 17;
// Per-thread cache of released stacks, per size class.
constexpr std::size_t kCacheStacks = 64;
constexpr std::size_t kCacheClasses = 2;
// Default number of mprotect guards: ~40k map entries at two per stack.
constexpr std::size_t kMprotectGuards = 20000;

struct slab {
  std::byte* base;
  std::size_t bytes;
  std::size_t slot;  // stack size plus guard page
  bool guarded;
};

// Append-only registry read by the signal handler: entries [0, count) are
// immutable once published. count's release store pairs with the handler's
// acquire load so that a published entry is seen whole.
std::array<slab, kMaxSlabs> g_slabs;
std::atomic<std::size_t> g_slab_count{0};

struct size_class {
  std::size_t size = 0;
  std::vector<stack> free;  // LIFO: back is the most recently released
  std::byte* carve = nullptr;  // next unused slot of the current slab
  std::byte* carve_end = nullptr;
  bool carve_guarded = false;
};

struct pool {
  std::mutex mu;  // guards everything below
  std::vector<size_class> classes;
  // At most this many guarded stacks; SIZE_MAX: every stack if the kernel
  // has guard markers, else kMprotectGuards.
  std::size_t guard_budget = SIZE_MAX;
  // Whether the kernel takes MADV_GUARD_INSTALL: -1 not yet known, 0 no,
  // 1 yes.
  int guard_markers = -1;
  std::size_t guarded = 0;
  std::size_t unguarded = 0;
  std::size_t pooled = 0;
};

// Stacks handed out and not yet released (statistics only: relaxed).
std::atomic<std::size_t> g_in_use{0};

pool& the_pool() {
  static pool* p = new pool;  // never destroyed: threads may outlive statics
  return *p;
}

struct thread_cache {
  struct entry {
    std::size_t size = 0;
    std::size_t count = 0;
    std::array<stack, kCacheStacks> stacks;
  };
  std::array<entry, kCacheClasses> classes;
  ~thread_cache();
};
thread_local thread_cache t_cache;

std::size_t round_to_page(std::size_t n) { return (n + kPage - 1) / kPage * kPage; }

size_class& class_for(pool& p, std::size_t size) {
  for (auto& c : p.classes)
    if (c.size == size) return c;
  p.classes.push_back(size_class{});
  p.classes.back().size = size;
  return p.classes.back();
}

// How many guarded stacks p may have now. Requires p.mu.
std::size_t guard_limit(const pool& p) {
  if (p.guard_budget != SIZE_MAX) return p.guard_budget;
  return p.guard_markers != 0 ? SIZE_MAX : kMprotectGuards;
}

// Maps a new slab for class `c`. Requires p.mu.
void map_slab(pool& p, size_class& c) {
  const bool guard = p.guarded < guard_limit(p);
  const std::size_t slot = c.size + (guard ? kPage : 0);
  const std::size_t n = std::max<std::size_t>(1, kSlabBytes / slot);
  const std::size_t bytes = n * slot;
  void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  // One fiber touches one 4 KiB page; a transparent huge page would make
  // that 2 MiB.
  madvise(m, bytes, MADV_NOHUGEPAGE);
  auto* base = static_cast<std::byte*>(m);
  const std::size_t idx = g_slab_count.load(std::memory_order_relaxed);
  if (idx == kMaxSlabs) {
    munmap(m, bytes);
    throw std::bad_alloc();
  }
  g_slabs[idx] = slab{base, bytes, slot, guard};
  // Release: publishes g_slabs[idx] to stack_guard_hit()'s acquire load.
  g_slab_count.store(idx + 1, std::memory_order_release);
  c.carve = base;
  c.carve_end = base + bytes;
  c.carve_guarded = guard;
}

stack carve(pool& p, size_class& c) {
  if (c.carve == c.carve_end) map_slab(p, c);
  const bool guard = c.carve_guarded;
  std::byte* slot = c.carve;
  c.carve += c.size + (guard ? kPage : 0);
  stack s{slot + (guard ? kPage : 0), c.size, guard};
  if (guard) {
    // A guard marker (Linux 6.13+) is one page-table entry: ~0.8 us here
    // against ~3 us for mprotect, which also splits the slab's mapping
    // (two map entries per stack, hence the budget).
    if (p.guard_markers != 0) {
      const bool ok = madvise(slot, kPage, MADV_GUARD_INSTALL) == 0;
      if (p.guard_markers == -1) p.guard_markers = ok ? 1 : 0;
      if (!ok && p.guarded >= guard_limit(p)) s.guarded = false;  // the mprotect limit applies now
    }
    if (p.guard_markers == 0 && s.guarded && mprotect(slot, kPage, PROT_NONE) != 0) {
      // Out of map entries after all: fall back to a canary.
      s.guarded = false;
    }
  }
  (s.guarded ? p.guarded : p.unguarded)++;
  return s;
}

void on_handout([[maybe_unused]] stack& s) {
#if WEFT_VALGRIND
  if (RUNNING_ON_VALGRIND) VALGRIND_STACK_REGISTER(s.base, s.top());
#endif
}

void release_to_pool(stack s) {
  pool& p = the_pool();
  std::lock_guard lk(p.mu);
  class_for(p, s.size).free.push_back(s);
  p.pooled++;
}

thread_cache::~thread_cache() {
  for (auto& e : classes)
    for (std::size_t i = 0; i < e.count; i++) release_to_pool(e.stacks[i]);
}

}  // namespace

stack stack_allocate(std::size_t size) {
  size = round_to_page(std::max<std::size_t>(size, 2 * kPage));
  for (auto& e : t_cache.classes) {
    if (e.size == size && e.count > 0) {
      stack s = e.stacks[--e.count];
      g_in_use.fetch_add(1, std::memory_order_relaxed);
      on_handout(s);
      return s;
    }
  }
  pool& p = the_pool();
  stack s;
  {
    std::lock_guard lk(p.mu);
    size_class& c = class_for(p, size);
    if (!c.free.empty()) {
      s = c.free.back();
      c.free.pop_back();
      p.pooled--;
    } else {
      s = carve(p, c);
    }
  }
  g_in_use.fetch_add(1, std::memory_order_relaxed);
  on_handout(s);
  return s;
}

void stack_release(stack s) {
#if WEFT_VALGRIND
  // Valgrind stack ids are not kept; deregistration is by id only, and
  // re-registering the same range is harmless, so nothing to do here.
#endif
  g_in_use.fetch_sub(1, std::memory_order_relaxed);
  for (auto& e : t_cache.classes) {
    if (e.size == 0) e.size = s.size;
    if (e.size == s.size) {
      if (e.count < kCacheStacks) {
        e.stacks[e.count++] = s;
        return;
      }
      break;
    }
  }
  release_to_pool(s);
}

stack_stats stack_pool_stats() {
  pool& p = the_pool();
  std::lock_guard lk(p.mu);
  stack_stats st;
  st.in_use = g_in_use.load(std::memory_order_relaxed);
  st.pooled = p.pooled;
  st.slabs = g_slab_count.load(std::memory_order_relaxed);
  st.guarded = p.guarded;
  st.unguarded = p.unguarded;
  return st;
}

void stack_set_guard_budget(std::size_t stacks) {
  pool& p = the_pool();
  std::lock_guard lk(p.mu);
  p.guard_budget = stacks;
}

bool stack_guard_hit(const void* addr) {
  auto* a = static_cast<const std::byte*>(addr);
  // Acquire: pairs with map_slab's release store of the count.
  const std::size_t n = g_slab_count.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; i++) {
    const slab& s = g_slabs[i];
    if (a < s.base || a >= s.base + s.bytes) continue;
    if (!s.guarded) return false;
    return static_cast<std::size_t>(a - s.base) % s.slot < kPage;
  }
  return false;
}

}  // namespace weft::detail
