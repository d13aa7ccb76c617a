// Shared test helpers: worker-count parameterisation, the leak check every
// test ends with, and the scale of stress tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include <weft/weft.hpp>

namespace weft::test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

// WEFT_STRESS=long multiplies stress sizes (soak); sanitizer builds divide.
inline long scaled(long n) {
  const char* mode = std::getenv("WEFT_STRESS");
  if (mode != nullptr && std::string(mode) == "long") return n * 10;
  return kSanitized ? n / 10 : n;
}

// The leak check: after every test no fiber is alive and every stack is
// back in the pool.
class leak_checked : public ::testing::Test {
 protected:
  void TearDown() override {
    const runtime_stats s = stats();
    EXPECT_EQ(s.live_fibers, 0u) << "fibers leaked";
    EXPECT_EQ(s.stacks_in_use, 0u) << "stacks leaked";
  }
};

// Parameterised over worker counts, as marl_test.h does.
class workers : public ::testing::TestWithParam<unsigned> {
 protected:
  run_options opts() const {
    run_options o;
    o.workers = GetParam();
    o.on_deadlock = deadlock_action::throw_in_run;
    return o;
  }
  void TearDown() override {
    const runtime_stats s = stats();
    EXPECT_EQ(s.live_fibers, 0u) << "fibers leaked";
    EXPECT_EQ(s.stacks_in_use, 0u) << "stacks leaked";
  }
};

#define WEFT_WORKER_COUNTS ::testing::Values(1u, 2u, 4u, 8u)

}  // namespace weft::test
