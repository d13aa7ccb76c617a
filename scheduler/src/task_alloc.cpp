// Memory for task states (detail/task_state.hpp): fixed-size blocks in
// per-thread magazines over a global depot, after J. Bonwick and J. Adams,
// "Magazines and Vmem: Extending the Slab Allocator to Many CPUs and
// Arbitrary Resources" (USENIX 2001).
//
// Why not operator new: spawn allocates one state per task and the last
// release frees it, typically in bursts (spawn n, then join n). glibc
// serves such a burst of small blocks from the top of its heap and
// consolidates its fast bins each time the top runs out; here an
// allocation and a free are a pop and a push on a thread's own list
// (docs/scheduler.md has the counts).
//
// Design notes
// 1. Size classes are multiples of 64 bytes up to kTaskStateMax; every
//    block is 64-byte aligned (slabs are, and sizes are multiples of 64).
// 2. Each thread holds, per class, two magazines: `loaded`, which alloc
//    pops and free pushes, and `spare`, either full or empty. An alloc
//    that finds `loaded` empty swaps in a full `spare`, or else takes a
//    full magazine from the depot, or else carves a new one from a slab;
//    a free that finds `loaded` full swaps in an empty `spare`, or else
//    hands the full `spare` to the depot. So a thread goes to the depot
//    (one lock) at most once per kMagazine operations, and a thread that
//    only frees (a joiner of tasks spawned elsewhere) passes what it frees
//    on instead of hoarding it.
// 3. The per-thread magazines are reached through one pointer of
//    constant-initialised initial-exec TLS (as t_worker: static TLS space
//    beyond a pointer is scarce for a library loaded with dlopen), null
//    until the thread's first slow path allocates them. The fast paths
//    read it with one %fs-relative access. Nothing here suspends, so no
//    fiber migrates while it holds a reference to them. A thread's
//    magazines go to the depot when it ends (a thread_local created on
//    the first slow path).
// 4. Slabs are never returned to the system: freed blocks are reused by
//    later task states (as glibc keeps small freed chunks). A block's
//    contents move between threads only through the depot's lock, or
//    through the state's own reference count (its last release, acq_rel,
//    has seen every write of the other side) before it is freed.
// 5. Under ASan the blocks come from operator new, so that a use after
//    free is still caught.

#include <weft/scheduler/detail/task_state.hpp>

#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#include <weft/fibers/detail/context.hpp>  // WEFT_ASAN

namespace weft::detail {
namespace {

constexpr std::size_t kGrain = 64;

// Under ASan every task state is its own operator new (task_state_alloc),
// so that the sanitizer sees each one's bounds and lifetime: the magazines
// below are not built.
#if !WEFT_ASAN
constexpr std::size_t kClasses = kTaskStateMax / kGrain;
constexpr std::size_t kMagazine = 128;  // blocks per magazine

struct block {
  block* next;
};

// A chain of blocks linked through their first word, and its length.
struct magazine {
  block* head = nullptr;
  std::size_t count = 0;
};

// Full (and, from ending threads, partial) magazines. Lock order: a leaf.
struct depot {
  std::mutex mu;
  std::vector<magazine> mags[kClasses];  // guarded by mu
};
depot& the_depot() {
  static depot* d = new depot;  // never destroyed: threads may outlive statics
  return *d;
}

struct thread_mags {
  magazine loaded[kClasses];
  magazine spare[kClasses];
};
constinit thread_local thread_mags* t_mags __attribute__((tls_model("initial-exec"))) = nullptr;

void give_back(std::size_t c, magazine& m) noexcept {
  if (m.count == 0) return;
  depot& d = the_depot();
  try {
    std::lock_guard lk(d.mu);
    d.mags[c].push_back(m);
  } catch (...) {
    // No memory for the depot's vector: the blocks stay unused, and
    // correct (they are never freed anyway: note 4).
  }
  m = magazine{};
}

struct thread_retirer {
  ~thread_retirer() {
    thread_mags* t = t_mags;
    if (t == nullptr) return;
    t_mags = nullptr;
    for (std::size_t c = 0; c < kClasses; c++) {
      give_back(c, t->loaded[c]);
      give_back(c, t->spare[c]);
    }
    delete t;
  }
};

// Every slow path calls this first: the calling thread's magazines, made
// on its first call and given back when it ends.
thread_mags& my_mags() {
  thread_local thread_retirer retirer;
  (void)retirer;
  if (t_mags == nullptr) t_mags = new thread_mags;
  return *t_mags;
}

// A full magazine of class c: from the depot, or carved from a new slab.
magazine fill(std::size_t c) {
  depot& d = the_depot();
  {
    std::lock_guard lk(d.mu);
    std::vector<magazine>& v = d.mags[c];
    if (!v.empty()) {
      const magazine m = v.back();
      v.pop_back();
      return m;
    }
  }
  const std::size_t size = (c + 1) * kGrain;
  auto* slab = static_cast<std::byte*>(::operator new(size * kMagazine, std::align_val_t{kGrain}));
  magazine m;
  for (std::size_t i = kMagazine; i-- > 0;) {
    auto* b = reinterpret_cast<block*>(slab + i * size);
    b->next = m.head;
    m.head = b;
  }
  m.count = kMagazine;
  return m;
}

std::size_t class_of(std::size_t bytes) noexcept { return (bytes - 1) / kGrain; }

__attribute__((noinline)) void* alloc_slow(std::size_t c) {
  thread_mags& t = my_mags();  // may throw: nothing changed yet
  if (t.spare[c].count > 0) {
    std::swap(t.loaded[c], t.spare[c]);
  } else {
    t.loaded[c] = fill(c);  // may throw: nothing changed yet
  }
  magazine& l = t.loaded[c];
  block* b = l.head;
  l.head = b->next;
  l.count--;
  return b;
}

__attribute__((noinline)) void free_slow(std::size_t c, block* b) noexcept {
  thread_mags* tp = nullptr;
  try {
    tp = &my_mags();
  } catch (...) {
    // No memory for this thread's magazines: the block stays unused
    // (blocks are never freed anyway: note 4).
    return;
  }
  thread_mags& t = *tp;
  if (t.loaded[c].count < kMagazine) {  // the thread's first free
    b->next = t.loaded[c].head;
    t.loaded[c].head = b;
    t.loaded[c].count++;
    return;
  }
  if (t.spare[c].count != 0) give_back(c, t.spare[c]);
  std::swap(t.loaded[c], t.spare[c]);  // loaded is now empty
  magazine& l = t.loaded[c];
  b->next = nullptr;
  l.head = b;
  l.count = 1;
}
#endif  // !WEFT_ASAN

}  // namespace

void* task_state_alloc(std::size_t bytes) {
#if WEFT_ASAN
  return ::operator new(bytes, std::align_val_t{kGrain});
#else
  const std::size_t c = class_of(bytes);
  if (thread_mags* t = t_mags) [[likely]] {
    magazine& l = t->loaded[c];
    if (block* b = l.head) [[likely]] {
      l.head = b->next;
      l.count--;
      return b;
    }
  }
  return alloc_slow(c);
#endif
}

void task_state_free(void* p, std::size_t bytes) noexcept {
#if WEFT_ASAN
  ::operator delete(p, std::align_val_t{kGrain});
  (void)bytes;
#else
  const std::size_t c = class_of(bytes);
  auto* b = static_cast<block*>(p);
  if (thread_mags* t = t_mags) [[likely]] {
    magazine& l = t->loaded[c];
    if (l.count < kMagazine) [[likely]] {
      b->next = l.head;
      l.head = b;
      l.count++;
      return;
    }
  }
  free_slow(c, b);
#endif
}

}  // namespace weft::detail
