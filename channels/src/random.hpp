// The channels layer's one source of randomness: select's uniformly random
// poll order (Go's pollorder). Not for anything that needs unpredictability.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

namespace weft::detail {

// xorshift64 (G. Marsaglia, "Xorshift RNGs", 2003). Per-thread state is
// fine here: it is used between suspension points, never across one.
// Constant-initialised (no TLS init guard), seeded on first use.
inline std::uint64_t next_random() noexcept {
  constinit thread_local std::uint64_t s = 0;
  if (s == 0) s = 0x853C49E6748FEA9Bull ^ reinterpret_cast<std::uintptr_t>(&s);
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

// A uniformly distributed index below n, without a division (Lemire's
// multiply-shift; the bias for n below 2^32 is below 2^-32).
inline std::uint32_t random_below(std::size_t n) noexcept {
  return static_cast<std::uint32_t>((static_cast<unsigned __int128>(next_random() >> 32) * n) >> 32);
}

// Fills order[0..n) with a uniformly random permutation of 0..n-1
// (Fisher-Yates).
inline void random_permutation(std::uint32_t* order, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; i++) order[i] = static_cast<std::uint32_t>(i);
  for (std::size_t i = n; i > 1; i--) std::swap(order[i - 1], order[random_below(i)]);
}

}  // namespace weft::detail
