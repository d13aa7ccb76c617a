// Where a fiber's control block (struct fiber plus its closure) lives, and
// for how long. This file owns those allocations; the rules below are what
// every other part (queues, registry, dump, shutdown, trace, task handles)
// relies on.
//
// A block has one of three homes (fiber::home):
//   stack   the block sits at the top of the fiber's own stack, the frames
//           grow down below it. A parked fiber then costs its stack pages
//           and nothing else. Placed there at spawn when the spawning
//           thread has a released stack at hand (stack_take_cached: its top
//           page is resident already), else moved there at the first run.
//   record  otherwise, from spawn until the first run: a bump-allocated
//           record in a per-thread chunk (below). A burst of spawns must not
//           touch a fresh stack page each before any of them runs.
//   heap    blocks over kInStackMax bytes, or with a closure whose move may
//           throw: operator new at spawn, freed with the fiber, never moved.
//
// Lifetime rules
// 1. A block moves only in fiber_settle, called by the worker about to run
//    the fiber for the first time (state created). At that moment nothing
//    else holds the record's address: the fiber was just taken off a run
//    queue (a thief that read the same slot loses its CAS and never
//    dereferences it), it has never parked (so no wait structure, registry
//    shard or trace flow names its parker), and a task handle points at its
//    task_state, never at the fiber.
// 2. A block in a stack lives until free_fiber (worker.cpp), which runs on
//    another context after the fiber's final switch, reads what it needs
//    (the stack, the home) out of the block, destroys the fiber and only
//    then returns the stack to the pool, whose free list overwrites the
//    stack's top bytes. A registered fiber has left the registry before its
//    final switch, so the dump never sees a block whose stack is pooled.
// 3. An abandoned fiber (shutdown.cpp note 3) is never freed: its stack,
//    and the block in it, stay allocated for the life of the process.
// 4. Task state (detail/task_state.hpp) is never in the block: a handle
//    may join long after the stack went back to the pool and another fiber
//    wrote its own block there.
//
// Records (home = record). Each thread bump-allocates from its current
// 64 KiB chunk; a chunk counts its live records in one atomic word, biased
// by kBias while it is some thread's current chunk, so no allocation needs
// an atomic and the count cannot reach zero while records may still be
// handed out. Freeing a record (any thread, at its fiber's first run)
// decrements; the owner, when it moves to a new chunk, subtracts
// kBias - (records it handed out). Whoever brings the count to zero
// recycles the chunk: a few stay resident for reuse, the rest are given
// back to the kernel (MADV_DONTNEED), so once a burst of spawned fibers has
// started, their records cost no memory. Chunks come from 4 MiB mappings
// that are never unmapped.
#pragma once

#include <cstddef>

#include "fiber.hpp"

namespace weft::detail {

// Blocks (fiber + closure) up to this many bytes move into the top of the
// fiber's stack at its first run; larger ones stay on the heap.
inline constexpr std::size_t kInStackMax = 1024;

// Allocates the block of a new fiber: `bytes` for the fiber and its closure
// (aligned to max_align_t); `relocatable`: the closure may be moved (see
// closure_vtable); `stack_size`: the stack it will run on. Constructs the
// fiber in it, with home and (home stack) ctx.st set. Throws
// std::bad_alloc. From a fiber or a plain thread.
fiber* fiber_block_new(std::size_t bytes, bool relocatable, std::size_t stack_size);
// Destroys f (its closure is gone already) and frees its block and its
// stack, if any. From any thread.
void fiber_block_delete(fiber* f) noexcept;

// First run of f (state created, on the worker about to run it): prepares
// its context to run `entry` below its block; a fiber without a stack gets
// `fresh` (which must then be non-empty), and a record-homed block moves
// into fresh's top (the record is freed). Returns where the fiber now
// lives; the old address is dead.
fiber* fiber_settle(fiber* f, const stack& fresh, void (*entry)(transfer_t)) noexcept;

}  // namespace weft::detail
