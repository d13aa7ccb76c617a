// weft-bench: the weft side of the comparison. Each scenario's logic is
// written once and runs under two models:
//   --model=fibers  weft::run with --workers=N (M:N; N=1 is the event loop)
//   --model=threads one std::thread per task over the same weft channels (1:1)
// and prints one line for weft-compare:
//   weft-bench: scenario=S model=M workers=W n=N result=R elapsed_ns=T ops=K [extra=...]

#include <sys/resource.h>
#include <unistd.h>

#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

namespace {

using clk = std::chrono::steady_clock;

struct config {
  std::string scenario;
  bool fibers = true;
  unsigned workers = 2;
  long n = 0;
};

// Starts a task under the chosen model.
template <class F>
void start(const config& c, F&& f) {
  if (c.fibers)
    weft::go(std::forward<F>(f));
  else
    std::thread(std::forward<F>(f)).detach();
}

// Runs body as the program's main task under the chosen model.
template <class F>
void in_model(const config& c, F&& body) {
  if (c.fibers)
    weft::run(std::forward<F>(body), {.workers = c.workers});
  else
    body();
}

long rss_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * sysconf(_SC_PAGESIZE);
}

void report(const config& c, long result, clk::duration elapsed, long ops, const std::string& extra = "") {
  std::printf("weft-bench: scenario=%s model=%s workers=%u n=%ld result=%ld elapsed_ns=%lld ops=%ld%s%s\n",
              c.scenario.c_str(), c.fibers ? "fibers" : "threads", c.fibers ? c.workers : 0, c.n, result,
              static_cast<long long>(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()), ops,
              extra.empty() ? "" : " ", extra.c_str());
}

// skynet: a tree of 10-way spawns over unbuffered channels; leaves send
// their number, inner nodes sum their children's.
void skynet(const config& c, weft::chan<long> out, long num, long size) {
  if (size == 1) {
    out.send(num);
    return;
  }
  auto rc = weft::make_chan<long>();
  for (long i = 0; i < 10; i++) {
    const long sub = num + i * (size / 10);
    start(c, [c, rc, sub, size] { skynet(c, rc, sub, size / 10); });
  }
  long sum = 0;
  for (int i = 0; i < 10; i++) sum += *rc.recv();
  out.send(sum);
}

void run_skynet(const config& c) {
  long result = 0;
  clk::duration el{};
  in_model(c, [&] {
    const auto t0 = clk::now();
    auto root = weft::make_chan<long>();
    start(c, [c, root] { skynet(c, root, 0, c.n); });
    result = *root.recv();
    el = clk::now() - t0;
  });
  report(c, result, el, c.n);
}

// spawn: n trivial tasks started and then joined one by one.
void run_spawn(const config& c) {
  long result = 0;
  clk::duration el{};
  std::vector<long> slots(static_cast<std::size_t>(c.n));
  in_model(c, [&] {
    const auto t0 = clk::now();
    if (c.fibers) {
      std::vector<weft::task<void>> ts;
      ts.reserve(slots.size());
      for (long i = 0; i < c.n; i++) ts.push_back(weft::spawn([&slots, i] { slots[static_cast<std::size_t>(i)] = i; }));
      for (auto& t : ts) t.join();
    } else {
      std::vector<std::thread> ts;
      ts.reserve(slots.size());
      for (long i = 0; i < c.n; i++) ts.emplace_back([&slots, i] { slots[static_cast<std::size_t>(i)] = i; });
      for (auto& t : ts) t.join();
    }
    el = clk::now() - t0;
  });
  for (long i = 0; i < c.n; i++) result += slots[static_cast<std::size_t>(i)] == i;
  report(c, result, el, c.n);
}

// The raw switch the yield target is measured against: two fcontexts
// bouncing, and the same with boost::context::fiber (docs/fibers.md).
namespace bctx = boost::context;
double raw_fcontext_ns(long n) {
  struct st {
    bctx::detail::fcontext_t other;
    long left;
  };
  std::vector<char> stack(64 * 1024);
  auto entry = [](bctx::detail::transfer_t t) {
    auto* s = static_cast<st*>(t.data);
    for (;;) {
      t = bctx::detail::jump_fcontext(t.fctx, s);
    }
  };
  st s{nullptr, n};
  bctx::detail::fcontext_t f = bctx::detail::make_fcontext(stack.data() + stack.size(), stack.size(), entry);
  const auto t0 = clk::now();
  for (long i = 0; i < n; i++) f = bctx::detail::jump_fcontext(f, &s).fctx;
  const auto el = clk::now() - t0;
  return std::chrono::duration<double, std::nano>(el).count() / (2.0 * static_cast<double>(n));
}
double boost_fiber_api_ns(long n) {
  bctx::fiber f{[](bctx::fiber&& caller) {
    for (;;) caller = std::move(caller).resume();
    return std::move(caller);
  }};
  const auto t0 = clk::now();
  for (long i = 0; i < n; i++) f = std::move(f).resume();
  const auto el = clk::now() - t0;
  // The fiber is left suspended; unwinding it at scope exit is its job.
  return std::chrono::duration<double, std::nano>(el).count() / (2.0 * static_cast<double>(n));
}

// yield: two tasks on one thread taking turns.
void run_yield(config c) {
  clk::duration el{};
  if (c.fibers) c.workers = 1;  // "on one thread", as Go's GOMAXPROCS=1
  in_model(c, [&] {
    const auto t0 = clk::now();
    if (c.fibers) {
      auto a = weft::spawn([&] { for (long i = 0; i < c.n; i++) weft::yield(); });
      auto b = weft::spawn([&] { for (long i = 0; i < c.n; i++) weft::yield(); });
      a.join();
      b.join();
    } else {
      std::thread a([&] { for (long i = 0; i < c.n; i++) std::this_thread::yield(); });
      std::thread b([&] { for (long i = 0; i < c.n; i++) std::this_thread::yield(); });
      a.join();
      b.join();
    }
    el = clk::now() - t0;
  });
  char extra[128];
  std::snprintf(extra, sizeof extra, "raw_fcontext_ns=%.2f boost_fiber_api_ns=%.2f", raw_fcontext_ns(c.n),
                boost_fiber_api_ns(c.n));
  report(c, c.n, el, 2 * c.n, extra);
}

// parked: RSS per task blocked receiving on a channel.
void run_parked(const config& c) {
  long per = 0;
  clk::duration el{};
  in_model(c, [&] {
    auto ch = weft::make_chan<int>();
    std::atomic<long> started{0};
    const long before = rss_bytes();
    const auto t0 = clk::now();
    for (long i = 0; i < c.n; i++) start(c, [ch, &started] {
        started.fetch_add(1, std::memory_order_relaxed);
        (void)ch.recv();
      });
    while (started.load() < c.n) weft::sleep_for(std::chrono::milliseconds(1));
    weft::sleep_for(std::chrono::milliseconds(100));
    el = clk::now() - t0;
    per = (rss_bytes() - before) / c.n;
    ch.close();
    if (!c.fibers) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  });
  report(c, c.n, el, c.n, "bytes_per_task=" + std::to_string(per));
}

// pingpong: two tasks bounce a value over two unbuffered channels.
void run_pingpong(const config& c) {
  clk::duration el{};
  long result = 0;
  in_model(c, [&] {
    auto ping = weft::make_chan<long>();
    auto pong = weft::make_chan<long>();
    auto done = weft::make_chan<long>(1);
    start(c, [ping, pong] {
      for (auto v : ping) pong.send(v + 1);
    });
    const auto t0 = clk::now();
    long v = 0;
    for (long i = 0; i < c.n; i++) {
      ping.send(v);
      v = *pong.recv();
    }
    el = clk::now() - t0;
    ping.close();
    result = v;
  });
  report(c, result, el, c.n);
}

// idle: a runtime whose only fiber sleeps 5 s; reports CPU use.
void run_idle(const config& c) {
  rusage r0{}, r1{};
  clk::duration el{};
  in_model(c, [&] {
    getrusage(RUSAGE_SELF, &r0);
    const auto t0 = clk::now();
    weft::sleep_for(std::chrono::milliseconds(c.n));
    el = clk::now() - t0;
    getrusage(RUSAGE_SELF, &r1);
  });
  auto us = [](const timeval& t) { return t.tv_sec * 1000000.0 + t.tv_usec; };
  const double cpu = us(r1.ru_utime) + us(r1.ru_stime) - us(r0.ru_utime) - us(r0.ru_stime);
  char extra[64];
  std::snprintf(extra, sizeof extra, "cpu_pct=%.3f",
                100.0 * cpu / std::chrono::duration<double, std::micro>(el).count());
  report(c, c.n, el, 1, extra);
}

long default_n(const std::string& s) {
  if (s == "skynet") return 1000000;
  if (s == "spawn") return 100000;
  if (s == "yield" || s == "pingpong") return 1000000;
  if (s == "parked") return 100000;
  if (s == "idle") return 5000;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: weft-bench skynet|spawn|yield|parked|pingpong|idle [--model=fibers|threads] "
                         "[--workers=N] [--n=N]\n");
    return 2;
  }
  config c;
  c.scenario = argv[1];
  for (int i = 2; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--model=fibers") c.fibers = true;
    else if (a == "--model=threads") c.fibers = false;
    else if (a.rfind("--workers=", 0) == 0) c.workers = static_cast<unsigned>(std::stoul(a.substr(10)));
    else if (a.rfind("--n=", 0) == 0) c.n = std::stol(a.substr(4));
    else {
      std::fprintf(stderr, "weft-bench: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (c.n == 0) c.n = default_n(c.scenario);
  if (c.scenario == "skynet") run_skynet(c);
  else if (c.scenario == "spawn") run_spawn(c);
  else if (c.scenario == "yield") run_yield(c);
  else if (c.scenario == "parked") run_parked(c);
  else if (c.scenario == "pingpong") run_pingpong(c);
  else if (c.scenario == "idle") run_idle(c);
  else {
    std::fprintf(stderr, "weft-bench: unknown scenario %s\n", c.scenario.c_str());
    return 2;
  }
  return 0;
}
