// Fiber control blocks: a per-thread cache of fixed-size blocks with a
// remote-free list, so that a block freed on another worker comes back to
// the thread that allocates (mimalloc's "thread free" list: D. Leijen, B.
// Zorn, L. de Moura, "Mimalloc: Free List Sharding in Action", 2019).
//
// Why: a spawn-heavy program allocates on one worker and frees on another;
// with per-thread caches alone the allocating thread keeps faulting in
// fresh pages (~1.6 us each here) while the other's cache overflows.
//
// Invariants:
// 1. Every block records its home cache. Only the home thread pops from
//    its `local` list; any thread pushes onto its `remote` stack.
// 2. remote is a Treiber stack used push-many / take-all: the owner takes
//    it whole with exchange, so there is no ABA.
// 3. Caches are never destroyed (a block may name its home after the home
//    thread exited): an exiting thread hands its cache over to the next new
//    thread, which becomes the single popper of its lists.
#pragma once

#include <cstddef>

namespace weft::detail {

inline constexpr std::size_t kFiberBlock = 256;  // fiber (176 bytes) + closures up to 80 bytes

// Returns a block of kFiberBlock bytes (aligned to max_align_t), or of
// `size` bytes from operator new when larger.
void* fiber_block_alloc(std::size_t size);
void fiber_block_free(void* p, std::size_t size) noexcept;

}  // namespace weft::detail
