// chan<T>'s API: timed operations that tell a timeout from a closed
// channel and give a value back, chan<T> as an input range, the send-only
// and receive-only views, the error types, and the implementation hooks
// that are not public. Each scenario runs in fibers under every worker
// count and on plain threads without a runtime.

#include <algorithm>
#include <concepts>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <thread>
#include <vector>

#include "party.hpp"
#include "test_util.hpp"

namespace {

using namespace weft;
using namespace std::chrono_literals;

using weft::test::party;

// --- recv_for / recv_until: a timeout is not a close ---------------------

void recv_for_tells_timeout_from_closed(bool) {
  auto c = make_chan<int>(1);
  auto r = c.recv_for(1ms);
  EXPECT_FALSE(r.has_value());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_TRUE(r.timed_out());
  EXPECT_FALSE(r.closed());
  EXPECT_THROW((void)r.value(), std::bad_optional_access);

  c.send(4);
  c.close();
  auto v = c.recv_for(1s);
  ASSERT_TRUE(v.has_value()) << "a buffered value comes before the close";
  EXPECT_EQ(*v, 4);
  EXPECT_FALSE(v.timed_out());
  EXPECT_FALSE(v.closed());
  auto e = c.recv_for(1s);
  EXPECT_FALSE(e.has_value());
  EXPECT_TRUE(e.closed());
  EXPECT_FALSE(e.timed_out());
  EXPECT_EQ(std::move(e).to_optional(), std::nullopt);

  // A deadline already past still receives a ready value, and a nil
  // channel only ever times out.
  auto b = make_chan<int>(1);
  b.send(8);
  EXPECT_EQ(b.recv_until(std::chrono::steady_clock::now() - 1s).value(), 8);
  EXPECT_TRUE(b.recv_until(std::chrono::steady_clock::now() - 1s).timed_out());
  EXPECT_TRUE(chan<int>{}.recv_for(1ms).timed_out());
}

void recv_for_gets_a_value_sent_while_it_waits(bool fiber) {
  auto c = make_chan<std::string>();
  party p(fiber, [c] { c.send("hello"); });
  auto r = c.recv_for(30s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size(), 5u);
  EXPECT_EQ(std::move(r).value(), "hello");
  p.join();
  // Closed while waiting: closed(), not timed_out().
  party q(fiber, [c] { c.close(); });
  auto e = c.recv_for(30s);
  EXPECT_TRUE(e.closed());
}

// --- send_for / send_until: a timeout gives the value back ---------------

void send_for_gives_the_value_back_on_timeout(bool fiber) {
  auto c = make_chan<std::unique_ptr<int>>();
  auto p = std::make_unique<int>(42);
  EXPECT_FALSE(c.send_for(std::move(p), 1ms)) << "nobody receives";
  ASSERT_NE(p, nullptr) << "the value is given back on a timeout";
  EXPECT_EQ(*p, 42);
  EXPECT_FALSE(c.send_until(std::move(p), std::chrono::steady_clock::now() - 1s));
  ASSERT_NE(p, nullptr);

  party r(fiber, [c] {
    auto v = c.recv();
    ASSERT_TRUE(v && *v);
    EXPECT_EQ(**v, 42);
  });
  EXPECT_TRUE(c.send_for(std::move(p), 30s));
  EXPECT_EQ(p, nullptr) << "moved from on success";
  r.join();

  auto q = std::make_unique<int>(7);
  c.close();
  EXPECT_THROW((void)c.send_for(std::move(q), 1s), channel_closed);
  EXPECT_NE(q, nullptr) << "not consumed by a send on a closed channel";
  // A copyable value: the caller's lvalue is untouched either way.
  auto d = make_chan<std::string>(1);
  const std::string s = "x";
  EXPECT_TRUE(d.send_for(s, 1ms));
  EXPECT_FALSE(d.send_for(s, 1ms)) << "full";
  EXPECT_EQ(s, "x");
}

// --- chan<T> is an input range -----------------------------------------

static_assert(std::ranges::input_range<chan<int>>);
static_assert(std::ranges::input_range<const chan<int>>);
static_assert(std::ranges::input_range<recv_chan<std::unique_ptr<int>>>);
static_assert(std::input_iterator<std::ranges::iterator_t<chan<int>>>);
static_assert(std::same_as<std::ranges::range_value_t<chan<int>>, int>);
static_assert(std::same_as<std::ranges::range_reference_t<chan<int>>, int&>);
static_assert(std::sentinel_for<std::default_sentinel_t, std::ranges::iterator_t<chan<int>>>);
static_assert(!std::ranges::sized_range<chan<int>>, "size() is len(c), not the length of the range");

void chan_is_an_input_range(bool fiber) {
  auto c = make_chan<int>();
  party p(fiber, [c] {
    for (int i = 1; i <= 10; i++) c.send(i);
    c.close();
  });
  // Take three without closing, then range over the rest.
  std::vector<int> first;
  for (int v : c | std::views::take(3)) first.push_back(v);
  EXPECT_EQ(first, (std::vector<int>{1, 2, 3}));
  std::vector<int> rest;
  std::ranges::copy(c, std::back_inserter(rest));
  EXPECT_EQ(rest, (std::vector<int>{4, 5, 6, 7, 8, 9, 10}));

  // Move-only values may be moved out of *it.
  auto m = make_chan<std::unique_ptr<int>>(2);
  m.send(std::make_unique<int>(1));
  m.send(std::make_unique<int>(2));
  m.close();
  int sum = 0;
  for (auto& v : m) {
    std::unique_ptr<int> mine = std::move(v);
    sum += *mine;
  }
  EXPECT_EQ(sum, 3);
}

// --- send_chan<T> and recv_chan<T>: Go's chan<- T and <-chan T ------------

template <class C>
concept can_send = requires(const C& c, int v) { c.send(v); };
template <class C>
concept can_try_send = requires(const C& c, int v) { (void)c.try_send(v); };
template <class C>
concept can_recv = requires(const C& c) { (void)c.recv(); };
template <class C>
concept can_try_recv = requires(const C& c) { (void)c.try_recv(); };
template <class C>
concept can_close = requires(const C& c) { c.close(); };
template <class C>
concept can_select_recv = requires(const C& c) { on_recv(c, [](std::optional<int>) {}); };
template <class C>
concept can_select_send = requires(const C& c) { on_send(c, 1, [] {}); };

static_assert(can_send<chan<int>> && can_recv<chan<int>> && can_close<chan<int>>);
static_assert(can_send<send_chan<int>> && can_try_send<send_chan<int>> && can_close<send_chan<int>>);
static_assert(!can_recv<send_chan<int>> && !can_try_recv<send_chan<int>>);
static_assert(!std::ranges::range<send_chan<int>>);
static_assert(can_recv<recv_chan<int>> && can_try_recv<recv_chan<int>>);
static_assert(!can_send<recv_chan<int>> && !can_try_send<recv_chan<int>> && !can_close<recv_chan<int>>);
static_assert(can_select_recv<recv_chan<int>> && !can_select_send<recv_chan<int>>);
static_assert(can_select_send<send_chan<int>> && !can_select_recv<send_chan<int>>);
static_assert(std::is_convertible_v<chan<int>, send_chan<int>> && std::is_convertible_v<chan<int>, recv_chan<int>>);
static_assert(!std::is_convertible_v<send_chan<int>, chan<int>> && !std::is_convertible_v<recv_chan<int>, chan<int>>);
static_assert(!std::is_convertible_v<send_chan<int>, recv_chan<int>>);

// A producer that may only send, a consumer that may only receive.
void produce(send_chan<int> out, int n) {
  for (int i = 0; i < n; i++) out.send(i);
  out.close();
}
long consume(recv_chan<int> in) {
  long sum = 0;
  for (int v : in) sum += v;
  return sum;
}

void direction_views(bool fiber) {
  auto c = make_chan<int>(4);
  send_chan<int> s = c;
  recv_chan<int> r = c;
  EXPECT_TRUE(s == c);
  EXPECT_TRUE(c == s);
  EXPECT_TRUE(r == c);
  EXPECT_TRUE(c == r);
  EXPECT_FALSE(r == make_chan<int>());
  EXPECT_TRUE(send_chan<int>{} == chan<int>{}) << "nil views equal a nil chan";
  EXPECT_TRUE(recv_chan<int>{}.is_nil());
  EXPECT_EQ(s.capacity(), 4u);
  EXPECT_EQ(r.capacity(), 4u);

  party p(fiber, [c] { produce(c, 100); });
  EXPECT_EQ(consume(c), 4950);
  p.join();

  // In select: on_recv over a recv_chan, on_send over a send_chan.
  auto d = make_chan<int>(1);
  send_chan<int> ds = d;
  recv_chan<int> dr = d;
  EXPECT_EQ(select(on_send(ds, 5, [] {}), on_recv(chan<int>{}, [](std::optional<int>) {})), 0u);
  EXPECT_EQ(d.size(), 1u);
  int got = 0;
  EXPECT_EQ(select(on_recv(dr, [&](std::optional<int> v) { got = *v; })), 0u);
  EXPECT_EQ(got, 5);
  std::vector<select_case> cases;
  cases.push_back(select_case::send(ds, 6, [] {}));
  EXPECT_EQ(select(cases), 0u);
  cases.clear();
  cases.push_back(select_case::recv(dr, [&](std::optional<int> v) { got = *v; }));
  EXPECT_EQ(select(cases), 0u);
  EXPECT_EQ(got, 6);
  // Timed forms through the views.
  EXPECT_TRUE(dr.recv_for(1ms).timed_out());
  EXPECT_TRUE(ds.send_for(1, 1ms));
  EXPECT_EQ(dr.try_recv(), std::optional<int>(1));
}

// --- errors -------------------------------------------------------------

static_assert(std::derived_from<channel_error, std::exception>);
static_assert(std::derived_from<channel_closed, channel_error>);

void errors_say_what_went_wrong(bool) {
  auto c = make_chan<int>(1);
  c.close();
  try {
    c.send(1);
    ADD_FAILURE() << "send on a closed channel must throw";
  } catch (const std::exception& e) {
    EXPECT_STREQ(e.what(), "send on closed channel");
  }
  try {
    c.close();
    ADD_FAILURE() << "a second close must throw";
  } catch (const channel_closed& e) {
    EXPECT_STREQ(e.what(), "close of closed channel");
  }
  try {
    chan<int>{}.close();
    ADD_FAILURE() << "closing a nil channel must throw";
  } catch (const channel_error& e) {
    EXPECT_STREQ(e.what(), "close of nil channel");
  }
  EXPECT_STREQ(message(context_error::cancelled), "context canceled");
  EXPECT_STREQ(message(context_error::deadline_exceeded), "context deadline exceeded");
  EXPECT_STREQ(message(context_error::none), "");
  auto ctx = context::background().with_cancel();
  ctx.cancel();
  EXPECT_STREQ(message(ctx.err()), "context canceled");
}

// --- the implementation's hooks are not public --------------------------

template <class C>
concept exposes_core = requires(const C& c) { c.core(); };
template <class C>
concept exposes_ref = requires(const C& c) { c.r_; };
template <class S>
concept exposes_prepare = requires(S& s, detail::select_op& op) { s.prepare(op); };
template <class S>
concept exposes_complete = requires(S& s, detail::select_op& op) { s.complete(op); };
template <class X>
concept exposes_state = requires { typename X::state; };
static_assert(!exposes_core<chan<int>> && !exposes_core<send_chan<int>> && !exposes_core<recv_chan<int>>);
static_assert(!exposes_ref<chan<int>>);
static_assert(!exposes_prepare<select_case> && !exposes_complete<select_case>);
static_assert(!exposes_state<context>);

// --- the scenarios, in fibers and on threads ----------------------------

class chan_api_test : public weft::test::workers {};

#define WEFT_SCENARIO(name)                                         \
  TEST_P(chan_api_test, name) {                                     \
    run([] { name(true); }, opts());                                \
  }                                                                 \
  TEST(chan_api_threads, name) { name(false); }

WEFT_SCENARIO(recv_for_tells_timeout_from_closed)
WEFT_SCENARIO(recv_for_gets_a_value_sent_while_it_waits)
WEFT_SCENARIO(send_for_gives_the_value_back_on_timeout)
WEFT_SCENARIO(chan_is_an_input_range)
WEFT_SCENARIO(direction_views)
WEFT_SCENARIO(errors_say_what_went_wrong)

INSTANTIATE_TEST_SUITE_P(workers, chan_api_test, WEFT_WORKER_COUNTS);

}  // namespace
