// The public go/spawn/this_fiber surface: every callable and argument form
// compiles and runs, and the spawn site each records is the caller's line
// (as dump_fibers shows it), never a weft header's.

#include <memory>
#include <regex>
#include <string>
#include <type_traits>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace weft;

// The line dump_fibers gives as fiber `id`'s spawn site; expects the file to
// be this one. The fiber shows up once it has parked.
unsigned dumped_site_line(std::uint64_t id) {
  const std::regex re("fiber " + std::to_string(id) + " \\[[^\\n]*\\]: spawned at ([^\\n]*):([0-9]+)");
  for (int attempt = 0; attempt < 10000; ++attempt) {
    ::testing::internal::CaptureStderr();
    dump_fibers();
    const std::string out = ::testing::internal::GetCapturedStderr();
    std::smatch m;
    if (std::regex_search(out, m, re)) {
      EXPECT_NE(m[1].str().find("api_test.cpp"), std::string::npos) << out;
      return static_cast<unsigned>(std::stoul(m[2].str()));
    }
    yield();
  }
  ADD_FAILURE() << "fiber " << id << " never showed up in dump_fibers";
  return 0;
}

// A fiber body that reports its id and parks until the gate closes.
struct parks {
  chan<std::uint64_t> ids = make_chan<std::uint64_t>();
  chan<int> gate = make_chan<int>();
  void operator()() const {
    ids.send(this_fiber::id());
    gate.recv();
  }
};

int add3(int a, int b, int c) { return a + b + c; }

struct counter {
  int n = 0;
  int add(int k) { return n += k; }
};

TEST(api, go_and_spawn_record_the_callers_line) {
  run(
      [] {
        parks p;
        std::vector<task<void>> held;
        unsigned line = 0;

        line = __LINE__ + 1;
        go(p);  // an lvalue callable
        EXPECT_EQ(dumped_site_line(*p.ids.recv()), line);

        line = __LINE__ + 1;
        go([p] { p(); });  // a prvalue lambda
        EXPECT_EQ(dumped_site_line(*p.ids.recv()), line);

        line = __LINE__ + 1;
        go([p](int a, long b, char c, std::string d, double e, std::unique_ptr<int> f, short g, unsigned h) {
          EXPECT_EQ(a + b + c + static_cast<long>(d.size()) + static_cast<long>(e) + *f + g + h, 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8);
          p();
        }, 1, 2L, char{3}, std::string("four"), 5.0, std::make_unique<int>(6), short{7}, 8u);  // eight arguments
        EXPECT_EQ(dumped_site_line(*p.ids.recv()), line);

        line = __LINE__ + 1;
        go(spawn_options{.stack_size = 128 * 1024}, [](parks q, int k) { EXPECT_EQ(k, 9); q(); }, p, 9);
        EXPECT_EQ(dumped_site_line(*p.ids.recv()), line);

        line = __LINE__ + 1;
        held.push_back(spawn(p));
        EXPECT_EQ(dumped_site_line(*p.ids.recv()), line);

        const spawn_options opts{.stack_size = 128 * 1024};
        line = __LINE__ + 1;
        held.push_back(spawn(opts, [](parks q, std::unique_ptr<int> k) { EXPECT_EQ(*k, 10); q(); }, p, std::make_unique<int>(10)));
        EXPECT_EQ(dumped_site_line(*p.ids.recv()), line);

        p.gate.close();
        for (auto& t : held) t.join();
      },
      {.workers = 1});
}

class api : public weft::test::workers {};

TEST_P(api, every_callable_form_runs) {
  run(
      [] {
        // Function pointer and function reference, with arguments.
        EXPECT_EQ(spawn(&add3, 1, 2, 3).join(), 6);
        EXPECT_EQ(spawn(add3, 4, 5, 6).join(), 15);
        // Member-function pointer through std::invoke, object by pointer.
        counter c;
        EXPECT_EQ(spawn(&counter::add, &c, 5).join(), 5);
        EXPECT_EQ(c.n, 5);
        // A move-only callable and move-only arguments and result.
        auto owned = std::make_unique<int>(7);
        EXPECT_EQ(*spawn([o = std::move(owned)](std::unique_ptr<int> k) { return std::make_unique<int>(*o + *k); },
                         std::make_unique<int>(1))
                       .join(),
                  8);
        // A const lvalue callable is copied, not moved from.
        const auto twice = [](int x) { return 2 * x; };
        EXPECT_EQ(spawn(twice, 21).join(), 42);
        EXPECT_EQ(twice(1), 2);
        // Arguments are copies: the fiber's changes do not reach the caller.
        std::string s = "caller";
        spawn([](std::string v) { v = "fiber"; }, s).join();
        EXPECT_EQ(s, "caller");
        // std::ref passes a reference on purpose, as for std::thread.
        int n = 0;
        spawn([](int& r) { r = 3; }, std::ref(n)).join();
        EXPECT_EQ(n, 3);
        // go with each form; a wait_group counts them.
        wait_group wg;
        wg.add(4);
        go([&wg] { wg.done(); });
        go([](wait_group* w, int, int, int, int, int, int, int) { w->done(); }, &wg, 1, 2, 3, 4, 5, 6, 7);
        go(&wait_group::done, &wg);
        go(spawn_options{}, [](wait_group* w) { w->done(); }, &wg);
        wg.wait();
      },
      opts());
}

TEST_P(api, a_spawn_is_a_task) {
  run(
      [] {
        task<int> t = spawn([] { return 1; });
        EXPECT_EQ(t.join(), 1);
        t = spawn([] { return 2; });  // reassigned from a spawn
        EXPECT_EQ(t.join(), 2);
        auto u = spawn([] { return 3; });
        auto v = std::move(u);
        EXPECT_FALSE(u.valid());
        EXPECT_EQ(v.join(), 3);
        std::vector<task<int>> ts;
        for (int i = 0; i < 4; ++i) ts.push_back(spawn([i] { return i; }));
        int sum = 0;
        for (auto& x : ts) sum += x.join();
        EXPECT_EQ(sum, 6);
        auto done = make_chan<int>(1);
        spawn([done] { done.send(1); }).detach();
        EXPECT_EQ(done.recv(), 1);
      },
      opts());
}

INSTANTIATE_TEST_SUITE_P(workers, api, WEFT_WORKER_COUNTS);

// The contract names are aliases of this_fiber's, the same functions.
constexpr void (*contract_yield)() = &weft::yield;
constexpr void (*contract_sleep_until)(std::chrono::steady_clock::time_point) = &weft::sleep_until;
static_assert(contract_yield == &weft::this_fiber::yield);
static_assert(contract_sleep_until == &weft::this_fiber::sleep_until);
static_assert(&weft::sleep_for<long, std::milli> == &weft::this_fiber::sleep_for<long, std::milli>);
static_assert(noexcept(weft::this_fiber::id()));
// A task is made by spawn only; moves never throw.
static_assert(!std::is_constructible_v<task<int>, detail::task_state<int>*>);
static_assert(std::is_nothrow_move_constructible_v<task<int>> && std::is_nothrow_move_assignable_v<task<int>>);
static_assert(std::is_nothrow_default_constructible_v<task<void>>);
static_assert(!std::is_copy_constructible_v<task<int>>);

TEST(api, yield_and_sleep_from_a_plain_thread) {
  this_fiber::yield();
  this_fiber::sleep_for(std::chrono::microseconds(1));
  EXPECT_EQ(this_fiber::id(), 0u);
}

}  // namespace
