// Counts the calling thread's allocations: replaces the global operator
// new and delete for the test executable that includes this (include it in
// exactly one file of an executable). The replacements pair malloc with
// free; g++ 12 at -O2 still sees std::free meet a new-expression once both
// are inlined and warns (a false positive), hence the pragma.

#pragma once

#include <cstdlib>
#include <new>

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace weft::test {
inline thread_local long allocations = 0;
}
void* operator new(std::size_t n) {
  weft::test::allocations++;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
