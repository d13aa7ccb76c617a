// Context creation and switching with sanitizer annotations. Design notes in
// weft/fibers/detail/context.hpp.

#include <weft/fibers/detail/context.hpp>

#include <pthread.h>

#if WEFT_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#if WEFT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace weft::detail {

using boost::context::detail::jump_fcontext;
using boost::context::detail::make_fcontext;

void context_create(context& c, stack s, void (*entry)(transfer_t)) {
  c.st = s;
  c.bounds_lo = s.base;
  c.bounds_size = s.size;
  c.fctx = make_fcontext(s.top(), s.size, entry);
#if WEFT_TSAN
  c.tsan_fiber = __tsan_create_fiber(0);
  c.tsan_owned = true;
#endif
}

void context_adopt_thread(context& c) {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* lo = nullptr;
    std::size_t size = 0;
    pthread_attr_getstack(&attr, &lo, &size);
    pthread_attr_destroy(&attr);
    c.bounds_lo = lo;
    c.bounds_size = size;
  }
#if WEFT_TSAN
  c.tsan_fiber = __tsan_get_current_fiber();
  c.tsan_owned = false;
#endif
}

void context_destroy(context& c) {
#if WEFT_TSAN
  if (c.tsan_owned && c.tsan_fiber != nullptr) __tsan_destroy_fiber(c.tsan_fiber);
  c.tsan_fiber = nullptr;
#endif
  c.fctx = nullptr;
}

transfer_t context_switch([[maybe_unused]] context& from, context& to, void* data) {
#if WEFT_ASAN
  __sanitizer_start_switch_fiber(&from.asan_fake_stack, to.bounds_lo, to.bounds_size);
#endif
#if WEFT_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
  transfer_t t = jump_fcontext(to.fctx, data);
#if WEFT_ASAN
  __sanitizer_finish_switch_fiber(from.asan_fake_stack, nullptr, nullptr);
#endif
  return t;
}

void context_switch_final([[maybe_unused]] context& from, context& to, void* data) {
#if WEFT_ASAN
  // A null save slot tells ASan this stack is gone for good.
  __sanitizer_start_switch_fiber(nullptr, to.bounds_lo, to.bounds_size);
#endif
#if WEFT_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
  jump_fcontext(to.fctx, data);
  __builtin_unreachable();
}

bool context_decode_saved([[maybe_unused]] std::uintptr_t fctx,
                          [[maybe_unused]] const std::uintptr_t (&frame)[kSavedFrameBytes / 8],
                          [[maybe_unused]] saved_registers& out) noexcept {
#if defined(__x86_64__)
  // Boost.Context's x86-64 System V jump_fcontext (jump_x86_64_sysv_elf_gas.S)
  // reserves 0x38 bytes below the return address its caller pushed, and
  // stores: +0x00 mxcsr and x87 control word, +0x08 r12, +0x10 r13,
  // +0x18 r14, +0x20 r15, +0x28 rbx, +0x30 rbp; +0x38 is that return
  // address. Resuming pops all 0x40 bytes and jumps to the return address,
  // so the caller continues with sp = fctx + 0x40.
  out.r12 = frame[1];
  out.r13 = frame[2];
  out.r14 = frame[3];
  out.r15 = frame[4];
  out.rbx = frame[5];
  out.rbp = frame[6];
  out.pc = frame[7];
  out.sp = fctx + kSavedFrameBytes;
  return true;
#else
  return false;
#endif
}

void context_started([[maybe_unused]] context& self) {
#if WEFT_ASAN
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
}

}  // namespace weft::detail
