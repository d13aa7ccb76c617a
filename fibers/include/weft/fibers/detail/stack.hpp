// weft::detail stacks: fixed-size fiber stacks carved from large mmap'd slabs.
//
// Design notes
// 1. A stack is [base, base + size): the fiber's frames grow down from the
//    top. The page below base is its guard page (a guard marker, or
//    PROT_NONE) while the guard budget lasts; beyond it that page is unused
//    address space and the lowest kCanaryBytes of the stack are a canary
//    that the switch path checks.
// 2. Stacks come from slabs: one mmap(MAP_NORESERVE) holds many stacks, so
//    a million fibers need thousands of mappings rather than a million
//    (vm.max_map_count is 65,530 here). Guards are installed when a slab is
//    mapped, for all its stacks at once (one process_madvise call where the
//    kernel allows it, naming the process by the PIDFD_SELF sentinel where
//    the kernel has it, so no descriptor is opened), never when a stack is
//    handed out. Making a slab touches no memory but the top page of its
//    first stack, which that stack's first fiber touches anyway. An mprotect guard
//    splits its slab's mapping, costing two map entries per stack; the
//    guard budget caps that.
// 3. Released stacks are reused LIFO, first from a small per-thread cache and
//    then from a global list: a recently freed stack is already faulted in
//    and still warm in cache, while touching a fresh page costs ~1.6 us.
//    Only then is a fresh slot carved, from a run of consecutive slots
//    (about 2 MiB, one page-table page's span) that the thread took from a
//    slab under the pool lock and carves alone: no lock per fresh stack,
//    and threads faulting in fresh stacks at once mostly fault in different
//    page-table pages. A thread's unused run goes back to its class when
//    the thread exits.
// 4. Slabs are never unmapped: the registry of slabs is append-only so that
//    the SIGSEGV handler can read it without locks.
// 5. The pool's lock is never held across a system call: a thread that
//    needs a new slab reserves guard budget under the lock, maps and guards
//    the slab without it, and publishes it under the lock again.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft::detail {

inline constexpr std::size_t kCanaryBytes = 64;

struct stack {
  std::byte* base = nullptr;  // lowest usable byte
  std::size_t size = 0;       // usable bytes
  bool guarded = false;       // a guard page lies just below base

  std::byte* top() const { return base + size; }
  explicit operator bool() const { return base != nullptr; }
  // The canary zone of an unguarded stack (its lowest kCanaryBytes) is
  // still all zero.
  bool canary_intact() const {
    if (guarded) return true;
    const auto* w = reinterpret_cast<const std::uint64_t*>(base);
    std::uint64_t any = 0;
    for (std::size_t i = 0; i < kCanaryBytes / 8; i++) any |= w[i];
    return any == 0;
  }
};

// Default usable size of a fiber stack: 64 KiB of virtual memory, of which a
// fiber touches only what it uses (typically one 4 KiB page).
inline constexpr std::size_t kDefaultStackSize = 64 * 1024;

// Returns a stack of at least `size` bytes (rounded up to whole pages).
// Thread-safe; callable from any thread. Throws std::bad_alloc when the
// kernel refuses more memory.
stack stack_allocate(std::size_t size);
// Returns a stack to the pool. Thread-safe.
void stack_release(stack s);
// A stack of at least `size` bytes from the calling thread's cache of
// released stacks, or an empty stack when it holds none of that size: no
// lock, no system call, and the stack has run a fiber before (its top page
// is resident). From any thread.
stack stack_take_cached(std::size_t size) noexcept;

struct stack_stats {
  std::size_t in_use = 0;        // stacks handed out and not yet released
  std::size_t pooled = 0;        // released stacks kept for reuse
  std::size_t slabs = 0;         // slab mappings made
  std::size_t guarded = 0;       // stacks with a guard page
  std::size_t unguarded = 0;     // stacks protected by a canary only
  std::size_t guard_syscalls = 0;  // system calls made to install guard pages
                                   // (including any to name the process)
  bool bulk_guards = false;      // guards go in with one call per slab
};
stack_stats stack_pool_stats();

// The number of stacks that get a guard page; beyond it, canaries. Set it
// before the first stack is allocated (weft::run does, from its options).
void stack_set_guard_budget(std::size_t stacks);

// Which stack slot, if any, holds `addr` in its guard page. Lock-free and
// async-signal-safe: used by the overflow handler.
bool stack_guard_hit(const void* addr);

}  // namespace weft::detail
