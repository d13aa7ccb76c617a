// weft::detail contexts: a fiber's saved registers and the switch between
// two contexts on one OS thread, with the sanitizer annotations that
// Boost.Context's fcontext backend lacks.
//
// Design notes
// 1. The switch is Boost.Context's jump_fcontext (the `detail` fcontext API,
//    not boost::context::fiber: the latter allocates a control record on the
//    stack and wraps every resume in an ontop call; docs/fibers.md has the
//    measurements). jump_fcontext saves the callee-saved registers on the
//    current stack and returns, on the other side, the suspended context of
//    the side that switched away. That returned value is the only place the
//    old side's context exists, so every resume point must store it: the
//    scheduler does so first thing after every switch (worker::finish_switch
//    in scheduler/src/worker.cpp, its note 2).
// 2. The `data` word carried by each switch is the switching thread's
//    worker: the resumed side learns where it now runs from it, never from a
//    thread_local cached across the switch (a fiber may wake on another
//    thread, and compilers cache TLS addresses within a function).
// 3. Under ASan every switch is bracketed by __sanitizer_start_switch_fiber /
//    __sanitizer_finish_switch_fiber; a context that will never be resumed
//    passes a null fake-stack slot so ASan frees its fake frames. Under TSan
//    each fiber is a TSan fiber, switched with __tsan_switch_to_fiber.
#pragma once

#include <boost/context/detail/fcontext.hpp>

#include <cstddef>
#include <cstdint>
#include <source_location>

#include <weft/fibers/detail/stack.hpp>

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif

namespace weft::detail {

using boost::context::detail::fcontext_t;
using boost::context::detail::transfer_t;

// An execution context: either a fiber's (with its own stack) or an OS
// thread's own (the worker's scheduling loop).
struct context {
  fcontext_t fctx = nullptr;  // saved registers while suspended
  stack st;                   // empty for a thread's own context
  // The stack bounds that sanitizers are told about on switches into this
  // context: the fiber stack, or the thread's stack.
  const void* bounds_lo = nullptr;
  std::size_t bounds_size = 0;
#if WEFT_ASAN
  void* asan_fake_stack = nullptr;
#endif
#if WEFT_TSAN
  void* tsan_fiber = nullptr;
  bool tsan_owned = false;
#endif
};

// Prepares `c` to run `entry` on stack `s` at its first switch.
void context_create(context& c, stack s, void (*entry)(transfer_t));
// Adopts the calling thread's own context as `c` (its stack bounds, its TSan
// fiber). `c.fctx` is filled in when something switches away from it.
void context_adopt_thread(context& c);
// Releases sanitizer state of a fiber context that has finished.
void context_destroy(context& c);

// Switches from `from` (running now) to `to`, handing `data` over. Returns
// when some context switches back to `from`; the result's fctx is the
// context that did, which the caller must store (see note 1).
transfer_t context_switch(context& from, context& to, void* data);
// The last switch away from a finished fiber: `from` will never resume.
[[noreturn]] void context_switch_final(context& from, context& to, void* data);
// Called first thing in a fiber's entry function, once per fiber.
void context_started(context& self);

// The registers a suspended context saved, as a debugger or an unwinder
// needs them to walk the suspended stack (scheduler/src/dump.cpp). Only the
// callee-saved ones and the stack and instruction pointers exist: the
// caller-saved ones are dead across the call into jump_fcontext.
struct saved_registers {
  std::uintptr_t pc = 0;   // where the context resumes: just after its call into jump_fcontext
  std::uintptr_t sp = 0;   // the stack pointer at that point (jump_fcontext has returned)
  std::uintptr_t rbp = 0, rbx = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;
};
// How many bytes at a suspended fctx hold the saved registers (the frame
// jump_fcontext pushed), and whether this architecture's layout is known.
inline constexpr std::size_t kSavedFrameBytes = 0x40;
#if defined(__x86_64__)
inline constexpr bool kSavedRegistersKnown = true;
#else
inline constexpr bool kSavedRegistersKnown = false;
#endif
// Decodes the registers of a context suspended at `fctx` from `frame`, a
// copy of the kSavedFrameBytes bytes at fctx (the caller makes the copy:
// the stack may belong to a fiber that another thread can resume, and only
// the caller knows how to read it safely). Returns false where the layout
// is unknown (not x86-64). Pure: from anywhere, including a signal handler.
bool context_decode_saved(std::uintptr_t fctx, const std::uintptr_t (&frame)[kSavedFrameBytes / 8],
                          saved_registers& out) noexcept;

}  // namespace weft::detail
