// Stack slabs and the LIFO stack pool. Design notes in
// weft/fibers/detail/stack.hpp.
//
// Lock order: pool.mu is a leaf lock (nothing is acquired while holding
// it), and no system call is made while holding it: a new slab is mapped
// and guarded between two critical sections (allocate_fresh).

#include <weft/fibers/detail/stack.hpp>

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <new>
#include <vector>

#include <weft/fibers/detail/context.hpp>  // WEFT_ASAN

#if WEFT_ASAN
#include <sanitizer/asan_interface.h>
#endif
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEFT_VALGRIND 1
#endif

// Linux 6.13+: a guard page as a page-table marker (no VMA of its own).
// Debian 12's headers predate it.
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
// Linux 6.15+: a pidfd sentinel naming the calling process (no descriptor
// behind it, so nothing to open, close, or inherit across fork).
#ifndef PIDFD_SELF_THREAD_GROUP
#define PIDFD_SELF_THREAD_GROUP (-10001)
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
// A thread carves fresh stacks from a run of consecutive slots of its own,
// about this many bytes (one page-table page's span on x86-64): the pool
// lock is taken once per run rather than once per stack, and threads
// faulting in fresh stacks at once mostly touch different page-table pages
// (and so contend for different page-table locks).
constexpr std::size_t kRunBytes = 2u << 20;
// Ranges per process_madvise call (the kernel's limit is IOV_MAX, 1024).
// One page of iovecs: the array is built in the top page of the slab's
// first stack (install_guards says why).
const std::size_t kIovBatch = kPage / sizeof(iovec);

// A slab is `bytes / slot` slots of `slot` bytes: the lowest page of a
// slot is its stack's guard page (or, past the guard budget, unused
// address space), the rest the stack. Slots [0, guarded) have a guard.
struct slab {
  std::byte* base;
  std::size_t bytes;
  std::size_t slot;
  std::size_t guarded;
};

// Append-only registry read by the signal handler: entries [0, count) are
// immutable once published. count's release store pairs with the handler's
// acquire load so that a published entry is seen whole.
std::array<slab, kMaxSlabs> g_slabs;
std::atomic<std::size_t> g_slab_count{0};

// Slots of a slab not yet handed out: [next, end); those below guard_end
// have a guard page.
struct carve_range {
  std::byte* next = nullptr;
  std::byte* end = nullptr;
  std::byte* guard_end = nullptr;
};

// A released stack on its class's free list, written into the stack's own
// top bytes: that page is resident already (the stack's fiber ran on it),
// so the list grows without allocating (an allocation under p.mu could be
// an mmap under it) and without faulting in a page.
struct free_node {
  stack s;
  free_node* next;
};

free_node* make_node(const stack& s) {
  std::byte* at = s.top() - sizeof(free_node);
#if WEFT_ASAN
  // An exited fiber's frames may have left redzones poisoned up here.
  ASAN_UNPOISON_MEMORY_REGION(at, sizeof(free_node));
#endif
  return ::new (at) free_node{s, nullptr};
}

struct size_class {
  std::size_t size = 0;
  free_node* free = nullptr;        // LIFO: the most recently released first
  carve_range carve;                // the slab being carved
  std::vector<carve_range> spare;   // slabs mapped by racing threads, not yet carved
};

// Whether the kernel takes guard markers, and how: learnt on the first slab.
enum class guard_mode : std::uint8_t {
  unknown,
  bulk,      // one process_madvise(MADV_GUARD_INSTALL) per slab
  markers,   // one madvise(MADV_GUARD_INSTALL) per stack
  mprotect,  // one mprotect(PROT_NONE) per stack, two map entries each
};

// How process_madvise names this process: learnt on the first bulk call.
// Only ever moves from unknown to one of the others, and any thread may
// learn it (the same answer each time), so relaxed accesses suffice: a
// thread that reads a stale `unknown` merely tries the sentinel again.
enum class self_pidfd : std::uint8_t {
  unknown,
  sentinel,  // PIDFD_SELF_THREAD_GROUP: no descriptor at all
  opened,    // a pidfd_open per slab, closed after it (a cached descriptor
             // would name the parent in a child after fork)
};
std::atomic<self_pidfd> g_self_pidfd{self_pidfd::unknown};

struct pool {
  std::mutex mu;  // guards everything below
  std::vector<size_class> classes;
  // At most this many guarded stacks; SIZE_MAX: every stack if the kernel
  // has guard markers, else kMprotectGuards.
  std::size_t guard_budget = SIZE_MAX;
  guard_mode mode = guard_mode::unknown;
  // Guard pages installed or being installed (counted against the budget).
  std::size_t guard_slots = 0;
  std::size_t guarded = 0;    // stacks carved with a guard (handed out, or in a thread's run), ever
  std::size_t unguarded = 0;  // ... and without
  std::size_t guard_syscalls = 0;
};

// Released stacks on the classes' free lists. Written under pool::mu;
// read without it (relaxed) as a hint by a thread about to take a fresh
// slot from its run, so that a resident stack on a free list goes first.
// A stale read costs at most one fresh page, never correctness.
std::atomic<std::size_t> g_pooled{0};

// Stacks handed out and not yet released (statistics only: relaxed).
std::atomic<std::size_t> g_in_use{0};

pool& the_pool() {
  static pool* p = new pool;  // never destroyed: threads may outlive statics
  return *p;
}

struct thread_cache {
  struct entry {
    std::size_t size = 0;  // 0: unused
    std::size_t count = 0;
    std::array<stack, kCacheStacks> stacks;
    carve_range run;  // fresh slots of class `size` that only this thread carves
  };
  std::array<entry, kCacheClasses> classes;
  // The entry for class `size`, claiming an unused one; null when every
  // entry holds another class.
  entry* entry_for(std::size_t size) {
    for (auto& e : classes) {
      if (e.size == 0) e.size = size;
      if (e.size == size) return &e;
    }
    return nullptr;
  }
  ~thread_cache();
};
thread_local thread_cache t_cache;

// kPage is a power of two.
std::size_t round_to_page(std::size_t n) { return (n + kPage - 1) & ~(kPage - 1); }

// Requires p.mu. The reference is valid until p.mu is released.
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
  return p.mode != guard_mode::mprotect ? SIZE_MAX : kMprotectGuards;
}

// Counts the slots of r in p's statistics (sign +1: carved; -1: given
// back uncarved). Requires p.mu.
void count_carved(pool& p, const carve_range& r, std::size_t slot, int sign) {
  const std::byte* g = std::clamp(r.guard_end, r.next, r.end);
  const std::size_t guarded = static_cast<std::size_t>(g - r.next) / slot;
  const std::size_t unguarded = static_cast<std::size_t>(r.end - g) / slot;
  p.guarded += sign > 0 ? guarded : -guarded;
  p.unguarded += sign > 0 ? unguarded : -unguarded;
}

// Moves up to `k` of c's next slots, consecutive, into `out`, if any is
// left. Requires p.mu.
bool carve_run(pool& p, size_class& c, std::size_t k, carve_range& out) {
  while (c.carve.next == c.carve.end) {
    if (c.spare.empty()) return false;
    c.carve = c.spare.back();
    c.spare.pop_back();
  }
  const std::size_t slot = c.size + kPage;
  const std::size_t left = static_cast<std::size_t>(c.carve.end - c.carve.next) / slot;
  out = carve_range{c.carve.next, c.carve.next + std::min(k, left) * slot, c.carve.guard_end};
  c.carve.next = out.end;
  count_carved(p, out, slot, +1);
  return true;
}

// Hands out the next slot of r, if any is left. No lock: r is a thread's
// own run, or a range only the caller sees.
bool take_slot(carve_range& r, std::size_t size, stack& out) {
  if (r.next == r.end) return false;
  std::byte* slot = r.next;
  r.next += size + kPage;
  out = stack{slot + kPage, size, slot < r.guard_end};
#if WEFT_VALGRIND
  // Once per stack, when it is first handed out: stacks are never unmapped
  // nor deregistered, so the registration holds for every later reuse.
  if (RUNNING_ON_VALGRIND) VALGRIND_STACK_REGISTER(out.base, out.top());
#endif
  return true;
}

// Hands out the next slot of c's slabs, if any is left: into the caller's
// run when it has one (and returns its first slot), else just the one slot.
// Requires p.mu.
bool carve(pool& p, size_class& c, carve_range* run, stack& out) {
  const std::size_t slot = c.size + kPage;
  carve_range one;
  carve_range& r = run != nullptr ? *run : one;
  if (!carve_run(p, c, run != nullptr ? std::max<std::size_t>(1, kRunBytes / slot) : 1, r)) return false;
  return take_slot(r, c.size, out);
}

// Installs guard pages at the first page of `n` slots from `base`, `slot`
// bytes apart, in the cheapest way the kernel allows; `mode` is what is
// known of it and is updated with what was learnt. Returns how many slots
// (a prefix) got a guard; adds the system calls made to *calls. Takes no
// lock. Requires a fresh slab, not yet handed out: the top page of its
// slot 0 holds the iovec array.
std::size_t install_guards(std::byte* base, std::size_t slot, std::size_t n, guard_mode& mode, std::size_t* calls) {
  if (n == 0) return 0;
  const bool learning = mode == guard_mode::unknown;
  if (mode == guard_mode::unknown || mode == guard_mode::bulk) {
    // A guard marker per range costs the same kernel work whichever way it
    // is asked for; one call per slab saves the syscall entry per stack
    // and its share of the address-space lock. process_madvise accepts any
    // advice for the calling process itself since Linux 6.13 (before, it
    // fails with EINVAL and we fall back below).
    //
    // The iovecs are written into the top page of slot 0: the first fiber
    // to get that stack touches the page anyway (its control block and
    // first frame go there), so the array costs no page fault of its own,
    // where on the caller's stack (often a fiber's) it would fault in a
    // second page.
    auto* iov = reinterpret_cast<iovec*>(base + slot - kPage);
    self_pidfd how = g_self_pidfd.load(std::memory_order_relaxed);
    int pidfd = PIDFD_SELF_THREAD_GROUP;
    if (how == self_pidfd::opened) {
      pidfd = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0));
      *calls += 2;  // getpid and pidfd_open
    }
    bool ok = pidfd != -1;
    std::size_t done = 0;
    while (ok && done < n) {
      const std::size_t k = std::min(kIovBatch, n - done);
      for (std::size_t i = 0; i < k; i++) iov[i] = iovec{base + (done + i) * slot, kPage};
      long r = syscall(SYS_process_madvise, pidfd, iov, k, MADV_GUARD_INSTALL, 0u);
      ++*calls;
      if (r < 0 && errno == EBADF && how == self_pidfd::unknown) {
        // A kernel before 6.15 has no sentinel: name ourselves with a
        // pidfd, per slab, from now on.
        how = self_pidfd::opened;
        g_self_pidfd.store(how, std::memory_order_relaxed);
        pidfd = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0));
        *calls += 2;
        if (pidfd == -1) {
          ok = false;
          break;
        }
        r = syscall(SYS_process_madvise, pidfd, iov, k, MADV_GUARD_INSTALL, 0u);
        ++*calls;
      }
      if (r <= 0) {
        ok = false;
      } else {
        done += static_cast<std::size_t>(r) / kPage;  // a short count: go on after it
        if (how == self_pidfd::unknown) {
          how = self_pidfd::sentinel;
          g_self_pidfd.store(how, std::memory_order_relaxed);
        }
      }
    }
    if (how == self_pidfd::opened && pidfd >= 0) {
      close(pidfd);
      ++*calls;
    }
    if (ok) {
      mode = guard_mode::bulk;
      return n;
    }
    if (mode == guard_mode::bulk) return done;  // worked before: out of memory now
    mode = guard_mode::markers;  // not in bulk; try one at a time
  }
  std::size_t i = 0;
  if (mode == guard_mode::markers) {
    for (; i < n; i++) {
      ++*calls;
      if (madvise(base + i * slot, kPage, MADV_GUARD_INSTALL) != 0) break;
    }
    if (i == n) return n;
    if (i > 0 || !learning) return i;  // markers work; the kernel refused more
    mode = guard_mode::mprotect;
  }
  for (; i < n; i++) {
    ++*calls;
    // Fails when the process is out of map entries: the rest get canaries.
    if (mprotect(base + i * slot, kPage, PROT_NONE) != 0) break;
  }
  return i;
}

// The slow path of stack_allocate: the calling thread has no released
// stack of class `size` at hand, and its run of fresh slots (`run`, null if
// it has no room for one) is empty or a free list may hold a stack. Takes a
// free stack, else the run's next slot, else carves a new run, else
// reserves guard budget under p.mu, maps and guards a slab without it, and
// publishes the slab and carves from it under p.mu again. Another thread
// may have done the same meanwhile; its slab and ours are both kept (the
// later one as a spare range).
stack allocate_fresh(pool& p, std::size_t size, carve_range* run) {
  const std::size_t slot = size + kPage;
  const std::size_t n = std::max<std::size_t>(1, kSlabBytes / slot);
  const std::size_t bytes = n * slot;
  std::size_t want;
  guard_mode mode;
  {
    std::lock_guard lk(p.mu);
    size_class& c = class_for(p, size);
    stack s;
    if (free_node* f = c.free) {
      s = f->s;
      c.free = f->next;
      g_pooled.fetch_sub(1, std::memory_order_relaxed);
      return s;
    }
    if (run != nullptr && take_slot(*run, size, s)) return s;  // the hint was stale
    if (carve(p, c, run, s)) return s;
    if (g_slab_count.load(std::memory_order_relaxed) == kMaxSlabs) throw std::bad_alloc();
    const std::size_t limit = guard_limit(p);
    want = p.guard_slots < limit ? std::min(n, limit - p.guard_slots) : 0;
    p.guard_slots += want;
    mode = p.mode;
  }
  void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) {
    std::lock_guard lk(p.mu);
    p.guard_slots -= want;
    throw std::bad_alloc();
  }
  auto* base = static_cast<std::byte*>(m);
  // One fiber touches one 4 KiB page; a transparent huge page would make
  // that 2 MiB.
  madvise(base, bytes, MADV_NOHUGEPAGE);
  std::size_t calls = 0;
  const std::size_t guarded = install_guards(base, slot, want, mode, &calls);
  std::unique_lock lk(p.mu);
  p.guard_slots -= want - guarded;
  p.guard_syscalls += calls;
  // The mode only moves towards the slower mechanisms (unknown < bulk <
  // markers < mprotect): a thread that learnt less does not undo it.
  if (mode > p.mode) p.mode = mode;
  const std::size_t idx = g_slab_count.load(std::memory_order_relaxed);
  if (idx == kMaxSlabs) {  // lost a race for the registry's last entry
    lk.unlock();
    munmap(base, bytes);
    throw std::bad_alloc();
  }
  g_slabs[idx] = slab{base, bytes, slot, guarded};
  // Release: publishes g_slabs[idx] to stack_guard_hit()'s acquire load.
  g_slab_count.store(idx + 1, std::memory_order_release);
  size_class& c = class_for(p, size);
  const carve_range r{base, base + bytes, base + guarded * slot};
  if (c.carve.next == c.carve.end)
    c.carve = r;
  else
    c.spare.push_back(r);
  stack s;
  if (!carve(p, c, run, s)) std::abort();  // unreachable: r has n >= 1 slots
  return s;
}

void release_to_pool(stack s) {
  pool& p = the_pool();
  free_node* n = make_node(s);
  std::lock_guard lk(p.mu);
  size_class& c = class_for(p, s.size);
  n->next = c.free;
  c.free = n;
  g_pooled.fetch_add(1, std::memory_order_relaxed);
}

thread_cache::~thread_cache() {
  for (auto& e : classes) {
    for (std::size_t i = 0; i < e.count; i++) release_to_pool(e.stacks[i]);
    if (e.run.next == e.run.end) continue;
    // The run's slots were never handed out: back to the class, to be
    // carved again.
    pool& p = the_pool();
    std::lock_guard lk(p.mu);
    count_carved(p, e.run, e.size + kPage, -1);
    class_for(p, e.size).spare.push_back(e.run);
  }
}

}  // namespace

stack stack_take_cached(std::size_t size) noexcept {
  size = round_to_page(std::max<std::size_t>(size, 2 * kPage));
  for (auto& e : t_cache.classes) {
    if (e.size == size && e.count > 0) {
      stack s = e.stacks[--e.count];
      g_in_use.fetch_add(1, std::memory_order_relaxed);
      return s;
    }
  }
  return stack{};
}

stack stack_allocate(std::size_t size) {
  if (stack s = stack_take_cached(size)) return s;
  size = round_to_page(std::max<std::size_t>(size, 2 * kPage));
  thread_cache::entry* e = t_cache.entry_for(size);
  carve_range* run = e != nullptr ? &e->run : nullptr;
  stack s;
  // A fresh slot from the thread's own run needs no lock, unless a free
  // list holds a resident stack, which goes first.
  if (run == nullptr || g_pooled.load(std::memory_order_relaxed) != 0 || !take_slot(*run, size, s))
    s = allocate_fresh(the_pool(), size, run);
  g_in_use.fetch_add(1, std::memory_order_relaxed);
  return s;
}

void stack_release(stack s) {
  // Valgrind: the stack stays registered (take_slot).
  g_in_use.fetch_sub(1, std::memory_order_relaxed);
  if (thread_cache::entry* e = t_cache.entry_for(s.size); e != nullptr && e->count < kCacheStacks) {
    e->stacks[e->count++] = s;
    return;
  }
  release_to_pool(s);
}

stack_stats stack_pool_stats() {
  pool& p = the_pool();
  std::lock_guard lk(p.mu);
  stack_stats st;
  st.in_use = g_in_use.load(std::memory_order_relaxed);
  st.pooled = g_pooled.load(std::memory_order_relaxed);
  st.slabs = g_slab_count.load(std::memory_order_relaxed);
  st.guarded = p.guarded;
  st.unguarded = p.unguarded;
  st.guard_syscalls = p.guard_syscalls;
  st.bulk_guards = p.mode == guard_mode::bulk;
  return st;
}

void stack_set_guard_budget(std::size_t stacks) {
  pool& p = the_pool();
  std::lock_guard lk(p.mu);
  p.guard_budget = stacks;
}

bool stack_guard_hit(const void* addr) {
  auto* a = static_cast<const std::byte*>(addr);
  // Acquire: pairs with allocate_fresh's release store of the count.
  const std::size_t n = g_slab_count.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; i++) {
    const slab& s = g_slabs[i];
    if (a < s.base || a >= s.base + s.bytes) continue;
    const auto off = static_cast<std::size_t>(a - s.base);
    return off / s.slot < s.guarded && off % s.slot < kPage;
  }
  return false;
}

}  // namespace weft::detail
