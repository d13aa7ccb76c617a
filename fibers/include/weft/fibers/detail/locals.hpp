// weft::detail local tables: the storage behind weft::fiber_local<T>.
// Each fiber (and each plain thread) owns a table of slots indexed by key;
// a key is a small integer handed out once per fiber_local object, so a
// lookup is one bounds check and one load.
#pragma once

#include <cstdint>

namespace weft::detail {

struct local_table {
  void** slots = nullptr;
  std::uint32_t size = 0;
};

// Allocates a key whose values are destroyed with `dtor`. Keys are never
// reused. Thread-safe.
std::uint32_t local_key_create(void (*dtor)(void*));
// The calling fiber's table, or the calling plain thread's. Do not keep the
// pointer across a suspension point.
local_table& current_local_table() noexcept;
void* local_get(const local_table& t, std::uint32_t key) noexcept;
void local_set(local_table& t, std::uint32_t key, void* value);
// Destroys every value in `t` (at fiber or thread exit).
void local_table_destroy(local_table& t) noexcept;

}  // namespace weft::detail
