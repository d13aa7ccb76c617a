// Fiber control blocks: records, the move into the stack, and freeing.
// Design and lifetime rules in fiber_alloc.hpp.

#include "fiber_alloc.hpp"

#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#if WEFT_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace weft::detail {
namespace {

constexpr std::size_t kChunk = 64 * 1024;  // aligned to its size
constexpr std::size_t kSlabChunks = 64;    // chunks per mapping
// Emptied chunks kept resident for reuse (one spare per spawning worker
// of a 2-core machine); the rest are given back.
constexpr std::size_t kKeepResident = 2;
// A current chunk's count carries this bias (far above any chunk's record
// count: kChunk / 16).
constexpr std::int64_t kBias = std::int64_t{1} << 40;

struct alignas(64) chunk_header {
  // Records not yet freed, plus kBias while some thread allocates from the
  // chunk. Every change is an acq_rel RMW, so the one that reaches zero has
  // seen every write made to the chunk's records (the frees release them)
  // and may recycle it.
  std::atomic<std::int64_t> live;
};
constexpr std::size_t kFirstRecord = sizeof(chunk_header);

// Emptied chunks. Lock order: a leaf; no system call is made under it.
struct chunk_pool {
  std::mutex mu;
  std::vector<chunk_header*> resident;  // emptied, pages still in memory
  std::vector<chunk_header*> clean;     // emptied and given back, or never used
};
chunk_pool& the_chunk_pool() {
  static chunk_pool* p = new chunk_pool;  // never destroyed: threads may outlive statics
  return *p;
}

// The calling thread's current chunk: records [next, end) are not yet
// handed out; `handed` counts those that were. Constant-initialised static
// TLS (initial-exec, as t_worker): the allocation path reads it with one
// %fs-relative access, without an initialisation check or __tls_get_addr.
// Never read across a suspension point (nothing here suspends).
struct bump_state {
  std::byte* next = nullptr;
  std::byte* end = nullptr;
  chunk_header* chunk = nullptr;
  std::int64_t handed = 0;
};
constinit thread_local bump_state t_bump __attribute__((tls_model("initial-exec")));

void recycle(chunk_header* c) noexcept {
  chunk_pool& p = the_chunk_pool();
  {
    std::lock_guard lk(p.mu);
    if (p.resident.size() < kKeepResident) {
      p.resident.push_back(c);
      return;
    }
  }
  // Not under the lock (a syscall). The header goes too; get_chunk writes
  // it afresh.
  madvise(c, kChunk, MADV_DONTNEED);
  std::lock_guard lk(p.mu);
  p.clean.push_back(c);
}

// Drops the bias of the calling thread's current chunk (it hands out no
// more records from it).
void retire_current() noexcept {
  bump_state& b = t_bump;
  if (b.chunk == nullptr) return;
  const std::int64_t d = kBias - b.handed;
  // acq_rel: see chunk_header::live.
  if (b.chunk->live.fetch_sub(d, std::memory_order_acq_rel) == d) recycle(b.chunk);
  b = bump_state{};
}

// Retires the current chunk when its thread ends; created on a thread's
// first chunk (the slow path), so the fast path never sees it.
struct thread_retirer {
  ~thread_retirer() { retire_current(); }
};

chunk_header* map_slab_and_take_one() {
  // Over-map by one chunk to align the chunks to their size.
  const std::size_t bytes = (kSlabChunks + 1) * kChunk;
  void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  auto* raw = static_cast<std::byte*>(m);
  const auto addr = reinterpret_cast<std::uintptr_t>(raw);
  auto* base = reinterpret_cast<std::byte*>((addr + kChunk - 1) & ~(kChunk - 1));
  const std::size_t head = static_cast<std::size_t>(base - raw);
  if (head != 0) munmap(raw, head);
  const std::size_t tail = bytes - head - kSlabChunks * kChunk;
  if (tail != 0) munmap(base + kSlabChunks * kChunk, tail);
  // Records are small and short-lived: a huge page would keep 2 MiB
  // resident for a few of them.
  madvise(base, kSlabChunks * kChunk, MADV_NOHUGEPAGE);
  chunk_pool& p = the_chunk_pool();
  std::lock_guard lk(p.mu);
  for (std::size_t i = 1; i < kSlabChunks; i++) p.clean.push_back(reinterpret_cast<chunk_header*>(base + i * kChunk));
  return reinterpret_cast<chunk_header*>(base);
}

chunk_header* get_chunk() {
  chunk_pool& p = the_chunk_pool();
  {
    std::lock_guard lk(p.mu);
    std::vector<chunk_header*>& from = !p.resident.empty() ? p.resident : p.clean;
    if (!from.empty()) {
      chunk_header* c = from.back();
      from.pop_back();
      return c;
    }
  }
  return map_slab_and_take_one();
}

// The slow path of record_alloc: a new current chunk.
void next_chunk() {
  thread_local thread_retirer retirer;
  (void)retirer;
  chunk_header* c = get_chunk();  // may throw: the old chunk stays current
  retire_current();
  ::new (c) chunk_header{};
  c->live.store(kBias, std::memory_order_relaxed);  // the chunk is ours alone until we hand out a record
  bump_state& b = t_bump;
  b.chunk = c;
  b.next = reinterpret_cast<std::byte*>(c) + kFirstRecord;
  b.end = reinterpret_cast<std::byte*>(c) + kChunk;
  b.handed = 0;
}

void* record_alloc(std::size_t bytes) {
  bytes = (bytes + alignof(std::max_align_t) - 1) & ~(alignof(std::max_align_t) - 1);
  bump_state* b = &t_bump;
  if (static_cast<std::size_t>(b->end - b->next) < bytes) {
    next_chunk();
    b = &t_bump;
  }
  std::byte* p = b->next;
  b->next += bytes;
  b->handed++;
#if WEFT_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, bytes);
#endif
  return p;
}

void record_free(void* p, [[maybe_unused]] std::size_t bytes) noexcept {
#if WEFT_ASAN
  ASAN_POISON_MEMORY_REGION(p, bytes);
#endif
  auto* c = reinterpret_cast<chunk_header*>(reinterpret_cast<std::uintptr_t>(p) & ~(kChunk - 1));
  // acq_rel: see chunk_header::live.
  if (c->live.fetch_sub(1, std::memory_order_acq_rel) == 1) recycle(c);
}

// Bytes the block takes at the top of a stack: a whole number of cache
// lines, so the fiber starts on one (stack tops are page-aligned).
std::size_t in_stack_bytes(std::size_t block) { return (block + 63) & ~std::size_t{63}; }

}  // namespace

fiber* fiber_block_new(std::size_t bytes, bool relocatable, std::size_t stack_size) {
  fiber* f;
  if (relocatable && bytes <= kInStackMax) {
    if (const stack s = stack_take_cached(stack_size)) {
      // A stack this thread released is at hand, its top page resident:
      // the block goes straight into it and never moves.
      std::byte* at = s.top() - in_stack_bytes(bytes);
#if WEFT_ASAN
      // An earlier fiber's frames may have left redzones poisoned up here.
      ASAN_UNPOISON_MEMORY_REGION(at, in_stack_bytes(bytes));
#endif
      f = ::new (at) fiber;
      f->home = fiber_home::stack;
      f->ctx.st = s;
    } else {
      f = ::new (record_alloc(bytes)) fiber;
      f->home = fiber_home::record;
    }
  } else {
    f = ::new (::operator new(bytes)) fiber;
    f->home = fiber_home::heap;
  }
  f->park.owner = f;
  return f;
}

void fiber_block_delete(fiber* f) noexcept {
  const fiber_home home = f->home;
  const std::size_t bytes = fiber_block_bytes(f);
  const stack st = f->ctx.st;
  f->~fiber();
  if (home == fiber_home::record)
    record_free(f, bytes);
  else if (home == fiber_home::heap)
    ::operator delete(f);
  // Last: a pooled stack's free-list entry overwrites its top bytes, where
  // a block homed in the stack was (rule 2).
  if (st) stack_release(st);
}

fiber* fiber_settle(fiber* f, const stack& fresh, void (*entry)(transfer_t)) noexcept {
  if (f->home == fiber_home::heap) {
    context_create(f->ctx, fresh, entry);
    return f;
  }
  const std::size_t bytes = fiber_block_bytes(f);
  const std::size_t reserve = in_stack_bytes(bytes);
  if (f->home == fiber_home::stack) {  // placed at spawn
    const stack whole = f->ctx.st;
    context_create(f->ctx, stack{whole.base, whole.size - reserve, whole.guarded}, entry);
    f->ctx.st = whole;
    return f;
  }
  std::byte* at = fresh.top() - reserve;
#if WEFT_ASAN
  ASAN_UNPOISON_MEMORY_REGION(at, reserve);  // as in fiber_block_new
#endif
  // Rule 1 of fiber_alloc.hpp: nothing else holds f's address now.
  assert(f->state == fiber_state::created && f->shard == nullptr && f->locals.slots == nullptr);
  fiber* g = ::new (at) fiber;
  g->id = f->id;
  g->site = f->site;
  g->park.owner = g;
  g->is_main = f->is_main;
  g->home = fiber_home::stack;
  g->stack_kib = f->stack_kib;
  g->vt = f->vt;
  if (f->vt->relocate != nullptr)
    f->vt->relocate(fiber_closure(g), fiber_closure(f));
  else
    std::memcpy(fiber_closure(g), fiber_closure(f), f->vt->size);
  // The frames get the stack below the block; the context keeps the whole
  // stack (it is released whole, and its canary and guard are at its base).
  context_create(g->ctx, stack{fresh.base, fresh.size - reserve, fresh.guarded}, entry);
  g->ctx.st = fresh;
  fiber_block_delete(f);
  return g;
}

}  // namespace weft::detail
