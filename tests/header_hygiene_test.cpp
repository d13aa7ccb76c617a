// The public headers keep the implementation's system interfaces out of a
// user's translation unit (STYLE.md: no syscalls, futex or arch headers in
// a public header). This file fails to compile if <weft/weft.hpp> brings in
// the futex header or the x86 intrinsics headers; header_hygiene.cmake
// (registered beside it) greps every public header for direct includes of
// <linux/...>, <asm/...>, <sys/...>, <unistd.h>, intrinsics headers and arch
// builtins. (<sys/syscall.h> and <unistd.h> do reach a user's TU through
// libstdc++'s <atomic>, whose atomic wait uses the futex; that is the
// standard library's, and so not checked here.)

#include <weft/weft.hpp>

#if defined(FUTEX_WAIT) || defined(FUTEX_WAKE) || defined(FUTEX_WAIT_PRIVATE) || defined(_LINUX_FUTEX_H)
#error "<linux/futex.h> reaches a user's translation unit through <weft/weft.hpp>"
#endif
#if defined(_IMMINTRIN_H_INCLUDED) || defined(_X86INTRIN_H_INCLUDED) || defined(_XMMINTRIN_H_INCLUDED) || \
    defined(_X86GPRINTRIN_H_INCLUDED)
#error "an x86 intrinsics header reaches a user's translation unit through <weft/weft.hpp>"
#endif

#include <mutex>

#include <gtest/gtest.h>

// The sync primitives work from a TU that sees only the public API (their
// futex and spin code live in the library).
TEST(HeaderHygiene, SyncPrimitivesFromPublicHeaderOnly) {
  weft::mutex mu;
  {
    std::lock_guard lk(mu);
    EXPECT_FALSE(mu.try_lock());
  }
  EXPECT_TRUE(mu.try_lock());
  mu.unlock();
}
