// weft::detail spawn: the type-erased entry point behind weft::go and
// weft::spawn. A fiber's control block and its closure are one allocation.
#pragma once

#include <cstddef>
#include <source_location>

namespace weft {
struct spawn_options;
}

namespace weft::detail {

struct closure_vtable {
  void (*run)(void* closure);
  void (*destroy)(void* closure) noexcept;
};

struct fiber;

// Allocates a fiber with room for a closure of `size` bytes (alignment at
// most alignof(std::max_align_t)); returns the fiber, and in *closure where
// to construct the closure. Throws std::logic_error when no runtime runs.
fiber* fiber_create(std::size_t size, const closure_vtable* vt, const spawn_options& opts,
                    const std::source_location& site, void** closure);
// Frees a fiber that was created but whose closure failed to construct.
void fiber_abandon(fiber* f) noexcept;
// Makes the fiber runnable: on the calling worker, or injected from a plain
// thread.
void fiber_start(fiber* f);

}  // namespace weft::detail
