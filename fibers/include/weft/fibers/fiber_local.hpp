// weft::fiber_local<T>: a value per fiber, like thread_local but one that
// follows the fiber when it migrates between workers.
//
// Why not thread_local: a fiber that parks on worker A may resume on worker
// B, so a thread_local read before a channel receive and one read after it
// can name two different objects (and the compiler may even reuse the first
// address). See docs/fibers.md.
#pragma once

#include <utility>

#include <weft/fibers/detail/locals.hpp>

namespace weft {

// One T per fiber (or per plain thread when used outside a fiber), created
// by default construction on first access and destroyed when that fiber or
// thread ends. Access is O(1). Callable from fibers and plain threads.
template <class T>
class fiber_local {
 public:
  fiber_local() : key_(detail::local_key_create(&destroy)) {}
  fiber_local(const fiber_local&) = delete;
  fiber_local& operator=(const fiber_local&) = delete;

  // The calling fiber's value.
  T& get() {
    detail::local_table& t = detail::current_local_table();
    void* p = detail::local_get(t, key_);
    if (p == nullptr) {
      p = new T();
      detail::local_set(t, key_, p);
    }
    return *static_cast<T*>(p);
  }
  // Replaces the calling fiber's value.
  void set(T value) { get() = std::move(value); }

  T& operator*() { return get(); }
  T* operator->() { return &get(); }

 private:
  static void destroy(void* p) { delete static_cast<T*>(p); }
  std::uint32_t key_;
};

}  // namespace weft
