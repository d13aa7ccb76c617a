// select's API: cases that own their channels; timeouts on the select
// core's own deadline (on_timeout, on_deadline, select_for, select_until)
// rather than a timer channel. Each scenario runs in fibers under every
// worker count and on plain threads without a runtime.

#include <atomic>
#include <cstdlib>
#include <new>
#include <optional>
#include <thread>
#include <vector>

#include "party.hpp"
#include "test_util.hpp"

#include "count_allocations.hpp"  // weft::test::allocations

namespace {

using namespace weft;
using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

using weft::test::party;

auto never = [](auto&&...) { ADD_FAILURE() << "this case must not run"; };

// Defect: cases kept a pointer to the chan handle they were built from, so
// a case built from a temporary (here after()'s result) read a dead handle
// when select ran (ASan: stack-use-after-scope). Cases own a handle now.
void cases_own_their_channels(bool) {
  auto c = on_recv(after(1ms), [](std::optional<time_point> t) { EXPECT_TRUE(t.has_value()); });
  EXPECT_EQ(select(c), 0u);

  auto d = on_send(make_chan<int>(1), 5, [] {});
  EXPECT_EQ(select(d), 0u);

  std::vector<select_case> cases;
  cases.push_back(select_case::recv(after(1ms), [](std::optional<time_point> t) { EXPECT_TRUE(t.has_value()); }));
  cases.push_back(select_case::send(chan<int>{}, 1, never));
  EXPECT_EQ(select(cases), 0u);
}

void timeout_runs_when_no_case_becomes_ready(bool) {
  auto c = make_chan<int>();
  bool timed_out = false;
  EXPECT_EQ(select(on_recv(c, never), on_send(c, 1, never), on_timeout(2ms, [&] { timed_out = true; })), 2u);
  EXPECT_TRUE(timed_out);
  timed_out = false;
  EXPECT_EQ(select(on_deadline(clk::now() + 2ms, [&] { timed_out = true; }), on_recv(c, never)), 0u);
  EXPECT_TRUE(timed_out);
}

void ready_case_beats_the_timeout(bool fiber) {
  auto c = make_chan<int>(1);
  for (int i = 0; i < 100; i++) {
    c.send(i);
    int got = -1;
    EXPECT_EQ(select(on_timeout(1h, never), on_recv(c, [&](std::optional<int> v) { got = *v; })), 1u);
    EXPECT_EQ(got, i);
  }
  // A case that becomes ready while the select waits.
  auto u = make_chan<int>();
  party p(fiber, [u] { u.send(3); });
  int got = 0;
  EXPECT_EQ(select(on_recv(u, [&](std::optional<int> v) { got = *v; }), on_timeout(1h, never)), 0u);
  EXPECT_EQ(got, 3);
}

// A zero timeout, or a deadline already past, is a default: a ready case
// runs, otherwise the timeout at once.
void zero_timeout_is_a_default(bool) {
  auto c = make_chan<int>(1);
  bool timed_out = false;
  EXPECT_EQ(select(on_recv(c, never), on_timeout(0ms, [&] { timed_out = true; })), 1u);
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(select(on_recv(c, never), on_timeout(-5s, [] {})), 1u);
  EXPECT_EQ(select(on_recv(c, never), on_deadline(clk::now() - 1h, [] {})), 1u);
  EXPECT_EQ(select(on_recv(c, never), on_deadline(clk::time_point::min(), [] {})), 1u);
  c.send(1);
  EXPECT_EQ(select(on_recv(c, [](std::optional<int> v) { EXPECT_EQ(v, 1); }), on_timeout(0ms, never)), 0u);
  c.send(2);
  EXPECT_EQ(select(on_deadline(clk::now() - 1h, never), on_recv(c, [](std::optional<int> v) { EXPECT_EQ(v, 2); })), 1u);
  std::vector<select_case> cases;
  cases.push_back(select_case::recv(c, never));
  EXPECT_EQ(select_for(cases, 0ms), std::nullopt);
  EXPECT_EQ(select_until(cases, clk::now() - 1s), std::nullopt);
}

void closed_channel_beats_the_timeout(bool fiber) {
  auto c = make_chan<int>();
  c.close();
  std::optional<int> got = 1;
  EXPECT_EQ(select(on_recv(c, [&](std::optional<int> v) { got = v; }), on_timeout(1h, never)), 0u);
  EXPECT_EQ(got, std::nullopt);
  EXPECT_EQ(select(on_recv(c, [&](std::optional<int> v) { got = v; }), on_timeout(0ms, never)), 0u);
  EXPECT_THROW(select(on_send(c, 1, never), on_timeout(1h, never)), channel_closed);
  // Closed while the select waits.
  auto d = make_chan<int>();
  party p(fiber, [d] { d.close(); });
  got = 1;
  EXPECT_EQ(select(on_timeout(1h, never), on_recv(d, [&](std::optional<int> v) { got = v; })), 1u);
  EXPECT_EQ(got, std::nullopt);
}

// Nil channels only (or no channel at all) and a timeout: select sleeps
// until the deadline — a fiber doing so is not deadlocked.
void nil_channels_and_a_timeout_sleep(bool) {
  chan<int> nil;
  auto t0 = clk::now();
  bool timed_out = false;
  EXPECT_EQ(select(on_recv(nil, never), on_send(nil, 1, never), on_timeout(5ms, [&] { timed_out = true; })), 2u);
  EXPECT_TRUE(timed_out);
  EXPECT_GE(clk::now() - t0, 5ms);
  t0 = clk::now();
  EXPECT_EQ(select(on_timeout(3ms, [] {})), 0u);
  EXPECT_GE(clk::now() - t0, 3ms);
  std::vector<select_case> none;
  t0 = clk::now();
  EXPECT_EQ(select_for(none, 3ms), std::nullopt);
  EXPECT_GE(clk::now() - t0, 3ms);
  none.push_back(select_case::recv(nil, never));
  EXPECT_EQ(select_until(none, clk::now() + 2ms), std::nullopt);
}

void select_for_over_a_vector(bool fiber) {
  auto a = make_chan<int>(), b = make_chan<int>();
  int got = 0;
  std::vector<select_case> cases;
  cases.push_back(select_case::recv(a, [&](std::optional<int> v) { got = *v; }));
  cases.push_back(select_case::recv(b, [&](std::optional<int> v) { got = *v; }));
  EXPECT_EQ(select_for(cases, 2ms), std::nullopt);
  EXPECT_EQ(got, 0);
  party p(fiber, [b] { b.send(9); });
  EXPECT_EQ(select_for(cases, 1h), std::optional<std::size_t>(1));
  EXPECT_EQ(got, 9);
}

// The claim race: a sender's timed send and a select's timeout expire at
// about the same moment, over and over. Whatever each side decides, they
// must agree: the value was received exactly when the send reports
// success, and a select that timed out ran no case (the value is not lost
// and not half-delivered).
void timeout_racing_a_case_agree(bool fiber) {
  const long rounds = weft::test::scaled(300);
  for (long i = 0; i < rounds; i++) {
    const auto d = std::chrono::microseconds(i % 5 * 20);
    auto u = make_chan<long>();
    bool sent = false;
    party p(fiber, [&, u] { sent = u.send_for(i, d); });
    long got = -1;
    const auto k = select(on_recv(u, [&](std::optional<long> v) { got = *v; }), on_timeout(d, [] {}));
    p.join();
    EXPECT_EQ(k == 0, sent) << "round " << i;
    if (k == 0) {
      EXPECT_EQ(got, i);
    }
    // Buffered: a value the timed-out select did not take stays in the channel.
    auto b = make_chan<long>(1);
    party q(fiber, [&, b] { (void)b.try_send(i); });
    got = -1;
    const auto j = select(on_timeout(d, [] {}), on_recv(b, [&](std::optional<long> v) { got = *v; }));
    q.join();
    if (j == 1) {
      EXPECT_EQ(got, i);
      EXPECT_EQ(b.size(), 0u);
    } else {
      EXPECT_EQ(got, -1);
      EXPECT_EQ(b.try_recv(), std::optional<long>(i)) << "not lost to the timeout";
    }
  }
}

// --- the scenarios, in fibers and on threads ----------------------------

class select_api_test : public weft::test::workers {};

#define WEFT_SCENARIO(name)                                         \
  TEST_P(select_api_test, name) {                                   \
    run([] { name(true); }, opts());                                \
  }                                                                 \
  TEST(select_api_threads, name) { name(false); }

WEFT_SCENARIO(cases_own_their_channels)
WEFT_SCENARIO(timeout_runs_when_no_case_becomes_ready)
WEFT_SCENARIO(ready_case_beats_the_timeout)
WEFT_SCENARIO(zero_timeout_is_a_default)
WEFT_SCENARIO(closed_channel_beats_the_timeout)
WEFT_SCENARIO(nil_channels_and_a_timeout_sleep)
WEFT_SCENARIO(select_for_over_a_vector)
WEFT_SCENARIO(timeout_racing_a_case_agree)

INSTANTIATE_TEST_SUITE_P(workers, select_api_test, WEFT_WORKER_COUNTS);

// A timed select whose channel case wins allocates nothing (counted on
// this plain thread; a fiber could move between threads).
TEST(select_api_threads, timeout_costs_no_allocation_when_a_case_wins) {
  auto c = make_chan<int>(1);
  auto u = make_chan<int>();
  long sum = 0;
  for (int i = 0; i < 10; i++) {
    c.send(i);
    const long before = weft::test::allocations;
    select(on_recv(u, never), on_recv(c, [&](std::optional<int> v) { sum += *v; }), on_timeout(1h, never));
    c.send(i);
    select(on_deadline(clk::now() + 1h, never), on_recv(c, [&](std::optional<int> v) { sum += *v; }));
    EXPECT_EQ(weft::test::allocations, before);
  }
  EXPECT_EQ(sum, 90);
}

}  // namespace
