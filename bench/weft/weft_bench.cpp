// weft-bench: the weft side of the comparison. Each scenario's logic is
// written once and runs under two models:
//   --model=fibers  weft::run with --workers=N (M:N; N=1 is the event loop)
//   --model=threads one std::thread per task over the same weft channels (1:1)
// plus, for pingpong and mpmc only, a 1:1 baseline that does not use weft:
//   --model=condvar one std::thread per task over cv_chan, a blocking queue
//                   built from std::mutex + std::condition_variable
// and prints one line for weft-compare:
//   weft-bench: scenario=S model=M workers=W n=N result=R elapsed_ns=T ops=K [extra=...]
// result equals n when the run was correct (skynet: n*(n-1)/2; sieve: the
// n-th prime; cpusplit: the number of primes below n). The application-
// shaped scenarios (sieve, workerpool, cpusplit, latency, fileio, scale)
// live in app_scenarios.cpp; the seed's exercises (onetask, allofcpu,
// allofsleep = latency, pool, disk) in exercises.cpp and allofnet, a
// weft::io client of --addr, in net_client.cpp; the network servers of `weft-bench serve`
// (http and echo over weft::io, for weft-compare's network scenarios) in
// net_servers.cpp.

#include <sys/resource.h>
#include <unistd.h>

#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

#include "bench_model.hpp"
#include "common/skynet.hpp"

namespace {

using namespace weft_bench;

// Capacity of the buffered channels of spsc, mpmc and select2b.
constexpr std::size_t kBuffer = 1024;

// cv_chan: the 1:1 baseline's channel, without weft. A classic blocking
// queue: one std::mutex guarding a std::deque, one condition variable for
// "not empty" (receivers wait) and one for "not full" (senders wait),
// notified after unlocking. Go's close semantics for the parts the
// scenarios use: recv() returns an empty optional once the queue is closed
// and drained; send() on a closed queue throws.
// There is no rendezvous: an unbuffered channel (capacity 0) is emulated
// as a capacity-1 hand-off, so send() returns once the value is queued,
// not once a receiver has taken it. In pingpong each side waits for the
// other's reply before sending again, so this changes little; it only
// spares a sender that arrives before its receiver the wait that an
// unbuffered weft::chan makes it do.
// A handle, like weft::chan: copies share one queue.
template <class T>
class cv_chan {
 public:
  explicit cv_chan(std::size_t capacity) : s_(std::make_shared<state>(std::max<std::size_t>(capacity, 1))) {}

  void send(T v) const {
    std::unique_lock lk(s_->mu);
    s_->not_full.wait(lk, [&] { return s_->q.size() < s_->cap || s_->closed; });
    if (s_->closed) throw std::logic_error("cv_chan: send on a closed channel");
    s_->q.push_back(std::move(v));
    lk.unlock();
    s_->not_empty.notify_one();
  }
  std::optional<T> recv() const {
    std::unique_lock lk(s_->mu);
    s_->not_empty.wait(lk, [&] { return !s_->q.empty() || s_->closed; });
    if (s_->q.empty()) return std::nullopt;  // closed and drained
    std::optional<T> v(std::move(s_->q.front()));
    s_->q.pop_front();
    lk.unlock();
    s_->not_full.notify_one();
    return v;
  }
  void close() const {
    {
      std::lock_guard lk(s_->mu);
      s_->closed = true;
    }
    s_->not_empty.notify_all();
    s_->not_full.notify_all();
  }

 private:
  struct state {
    explicit state(std::size_t c) : cap(c) {}
    std::mutex mu;
    std::condition_variable not_empty, not_full;
    std::deque<T> q;  // guarded by mu
    const std::size_t cap;
    bool closed = false;  // guarded by mu
  };
  std::shared_ptr<state> s_;
};

// The channel type of a scenario written once for weft::chan and cv_chan.
struct weft_channels {
  template <class T>
  static weft::chan<T> make(std::size_t capacity) {
    return weft::make_chan<T>(capacity);
  }
};
struct cv_channels {
  template <class T>
  static cv_chan<T> make(std::size_t capacity) {
    return cv_chan<T>(capacity);
  }
};

// skynet: a tree of 10-way spawns over unbuffered channels; leaves send
// their number, inner nodes sum their children's (common/skynet.hpp, the
// tree examples/skynet.cpp runs too).
void run_skynet(const config& c) {
  long result = 0;
  clk::duration el{};
  c.main_task([&] {
    const auto t0 = clk::now();
    result = weft_models::skynet(c, c.n);
    el = clk::now() - t0;
  });
  report(c, result, el, c.n);
}

// spawn: n trivial tasks started and then joined one by one.
void run_spawn(const config& c) {
  long result = 0;
  clk::duration el{};
  std::vector<long> slots(static_cast<std::size_t>(c.n));
  c.main_task([&] {
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

// yield: two tasks on one thread taking turns. Each counts the yields it
// has returned from; result: that count if both reached it, else -1 (as
// go-bench and boost-fiber-bench count theirs).
void run_yield(config c) {
  clk::duration el{};
  long counts[2] = {0, 0};
  if (c.fibers) c.workers = 1;  // "on one thread", as Go's GOMAXPROCS=1
  c.main_task([&] {
    const auto t0 = clk::now();
    if (c.fibers) {
      auto body = [n = c.n](long& count) {
        for (long i = 0; i < n; i++) {
          weft::yield();
          ++count;
        }
      };
      auto a = weft::spawn([&] { body(counts[0]); });
      auto b = weft::spawn([&] { body(counts[1]); });
      a.join();
      b.join();
    } else {
      auto body = [n = c.n](long& count) {
        for (long i = 0; i < n; i++) {
          std::this_thread::yield();
          ++count;
        }
      };
      std::thread a([&] { body(counts[0]); });
      std::thread b([&] { body(counts[1]); });
      a.join();
      b.join();
    }
    el = clk::now() - t0;
  });
  char extra[128];
  std::snprintf(extra, sizeof extra, "raw_fcontext_ns=%.2f boost_fiber_api_ns=%.2f", raw_fcontext_ns(c.n),
                boost_fiber_api_ns(c.n));
  report(c, counts[0] == counts[1] ? counts[0] : -1, el, 2 * c.n, extra);
}

// parked: RSS per task blocked receiving on a channel. Once sampled, the
// channel is closed; each task counts its wake-up (a receive that returned
// closed) and main waits for all of them. result: the number of tasks woken
// (n when every parked task was), as go-bench and boost-fiber-bench count it.
void run_parked(const config& c) {
  long per = 0;
  clk::duration el{};
  std::atomic<long> woke{0};
  c.main_task([&] {
    auto ch = weft::make_chan<int>();
    weft::wait_group parked;  // as Go's version: done just before blocking
    weft::wait_group finished;
    const long before = bench::resident_bytes();
    const auto t0 = clk::now();
    parked.add(c.n);
    finished.add(c.n);
    for (long i = 0; i < c.n; i++) c.start([ch, &parked, &finished, &woke] {
        parked.done();
        if (!ch.recv()) woke.fetch_add(1, std::memory_order_relaxed);  // read after finished.wait()
        finished.done();
      });
    parked.wait();
    el = clk::now() - t0;  // time to start n tasks that park
    // done() comes just before the receive: let the last ones block before
    // sampling.
    weft::sleep_for(std::chrono::milliseconds(100));
    per = (bench::resident_bytes() - before) / c.n;
    ch.close();
    finished.wait();  // its acq_rel count-down orders every task's increment before this
  });
  report(c, woke.load(std::memory_order_relaxed), el, c.n, "bytes_per_task=" + std::to_string(per));
}

// pingpong: two tasks bounce a value over two unbuffered channels.
template <class Chans>
void run_pingpong(const config& c) {
  clk::duration el{};
  long result = 0;
  c.main_task([&] {
    auto ping = Chans::template make<long>(0);
    auto pong = Chans::template make<long>(0);
    c.start([ping, pong] {
      while (auto v = ping.recv()) pong.send(*v + 1);
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

// spsc: one producer sends 0..n-1 over a buffered channel (capacity 1024);
// the main task receives them. result: n if every value arrived, in order.
void run_spsc(const config& c) {
  clk::duration el{};
  long result = 0;
  c.main_task([&] {
    auto ch = weft::make_chan<long>(kBuffer);
    const long n = c.n;
    const auto t0 = clk::now();
    c.start([ch, n] {
      for (long i = 0; i < n; i++) ch.send(i);
      ch.close();
    });
    long next = 0;
    bool in_order = true;
    while (auto v = ch.recv()) in_order &= *v == next++;
    el = clk::now() - t0;
    result = in_order ? next : -1;
  });
  report(c, result, el, c.n);
}

// mpmc: 4 producers send 0..n-1 between them over one buffered channel
// (capacity 1024), 4 consumers receive; the last producer to finish closes
// the channel. result: the number of values received, or -1 if their sum
// is not n*(n-1)/2 (lost or duplicated values).
template <class Chans>
void run_mpmc(const config& c) {
  static constexpr long kProducers = 4, kConsumers = 4;
  clk::duration el{};
  long result = 0;
  c.main_task([&] {
    auto ch = Chans::template make<long>(kBuffer);
    auto counts = Chans::template make<long>(kConsumers);  // one per consumer
    std::atomic<long> producers_left{kProducers};
    std::atomic<long> sum{0};
    const long n = c.n;
    const auto t0 = clk::now();
    for (long p = 0; p < kProducers; p++) {
      c.start([ch, n, p, &producers_left] {
        for (long i = p * n / kProducers; i < (p + 1) * n / kProducers; i++) ch.send(i);
        if (producers_left.fetch_sub(1) == 1) ch.close();
      });
    }
    for (long k = 0; k < kConsumers; k++) {
      c.start([ch, counts, &sum] {
        long got = 0, s = 0;
        while (auto v = ch.recv()) {
          got++;
          s += *v;
        }
        sum.fetch_add(s);
        counts.send(got);
      });
    }
    long got = 0;
    for (long k = 0; k < kConsumers; k++) got += *counts.recv();
    el = clk::now() - t0;
    result = sum.load() == n * (n - 1) / 2 ? got : -1;
  });
  report(c, result, el, c.n);
}

// select2 (capacity 0) and select2b (capacity 1024): two channels, each fed
// by its own producer (0..n/2-1 and n/2..n-1); the main task receives n
// values with a select over both. result: n if the values sum correctly.
void run_select2(const config& c, std::size_t capacity) {
  clk::duration el{};
  long result = 0;
  c.main_task([&] {
    auto a = weft::make_chan<long>(capacity);
    auto b = weft::make_chan<long>(capacity);
    const long n = c.n, half = c.n / 2;
    const auto t0 = clk::now();
    c.start([a, half] {
      for (long i = 0; i < half; i++) a.send(i);
    });
    c.start([b, half, n] {
      for (long i = half; i < n; i++) b.send(i);
    });
    long got = 0, sum = 0;
    auto take = [&](std::optional<long> v) {
      if (v) {
        got++;
        sum += *v;
      }
    };
    for (long i = 0; i < n; i++) weft::select(weft::on_recv(a, take), weft::on_recv(b, take));
    el = clk::now() - t0;
    result = sum == n * (n - 1) / 2 ? got : -1;
  });
  report(c, result, el, c.n);
}

// mutex: 8 tasks share n lock/increment/unlock rounds on one weft::mutex.
// result: the final counter.
void run_mutex(const config& c) {
  static constexpr long kTasks = 8;
  clk::duration el{};
  long result = 0;
  c.main_task([&] {
    weft::mutex mu;
    long counter = 0;  // guarded by mu
    // Completion over a channel rather than a wait_group: the handle keeps
    // it alive however late the last done-sender returns.
    auto done = weft::make_chan<int>(kTasks);
    const long n = c.n;
    const auto t0 = clk::now();
    for (long t = 0; t < kTasks; t++) {
      c.start([&mu, &counter, done, n, t] {
        for (long i = t * n / kTasks; i < (t + 1) * n / kTasks; i++) {
          std::lock_guard lk(mu);
          counter++;
        }
        done.send(0);
      });
    }
    for (long t = 0; t < kTasks; t++) (void)done.recv();
    el = clk::now() - t0;
    std::lock_guard lk(mu);
    result = counter;
  });
  report(c, result, el, c.n);
}

// idle: a runtime whose only fiber sleeps 5 s; reports CPU use.
void run_idle(const config& c) {
  rusage r0{}, r1{};
  clk::duration el{};
  c.main_task([&] {
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

}  // namespace

// The network servers (net_servers.cpp, built when weft::io is): `weft-bench
// serve http|echo ...`, with their own arguments.
namespace weft_bench {
int serve_main(int argc, char** argv);
int iobusy_main(int argc, char** argv);
}

int main(int argc, char** argv) {
  if (argc >= 2 && (std::strcmp(argv[1], "serve") == 0 || std::strcmp(argv[1], "iobusy") == 0)) {
#ifdef WEFT_BENCH_HAVE_IO
    return std::strcmp(argv[1], "serve") == 0 ? weft_bench::serve_main(argc, argv) : weft_bench::iobusy_main(argc, argv);
#else
    std::fprintf(stderr, "weft-bench: serve needs weft::io, which this build does not have\n");
    return 2;
#endif
  }
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: weft-bench skynet|spawn|yield|parked|pingpong|idle|spsc|mpmc|select2|select2b|mutex|\n"
                 "                  sieve|workerpool|cpusplit|latency|fileio|scale|\n"
                 "                  onetask|allofcpu|allofsleep|allofnet|pool|disk\n"
                 "                  [--model=fibers|threads|condvar] [--workers=N] [--n=N] [--addr=HOST:PORT]\n"
                 "       weft-bench serve http|echo [--model=fibers|threads] [--workers=N] [--port=P]\n"
                 "       weft-bench iobusy [--workers=N] [--n=ROUND_TRIPS] [--busy=FIBERS_PER_WORKER]\n"
                 "--model=condvar (threads over a std::mutex + std::condition_variable queue) runs pingpong and "
                 "mpmc only.\n");
    return 2;
  }
  config c;
  c.scenario = argv[1];
  for (int i = 2; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--model=fibers") c.fibers = true;
    else if (a == "--model=threads") c.fibers = false;
    else if (a == "--model=condvar") {
      c.fibers = false;
      c.condvar = true;
    }
    else if (a.rfind("--model=", 0) == 0) {
      std::fprintf(stderr, "weft-bench: unknown model %s; models: fibers, threads, condvar\n", a.substr(8).c_str());
      return 2;
    }
    else if (a.rfind("--workers=", 0) == 0) c.workers = static_cast<unsigned>(std::stoul(a.substr(10)));
    else if (a.rfind("--n=", 0) == 0) c.n = std::stol(a.substr(4));
    else if (a.rfind("--addr=", 0) == 0) c.addr = a.substr(7);
    else {
      std::fprintf(stderr, "weft-bench: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (c.n == 0) c.n = bench::default_n(c.scenario);
  if (c.condvar) {
    if (c.scenario == "pingpong") run_pingpong<cv_channels>(c);
    else if (c.scenario == "mpmc") run_mpmc<cv_channels>(c);
    else {
      std::fprintf(stderr, "weft-bench: --model=condvar runs pingpong and mpmc only, not %s\n", c.scenario.c_str());
      return 2;
    }
    return 0;
  }
  if (c.scenario == "skynet") run_skynet(c);
  else if (c.scenario == "spawn") run_spawn(c);
  else if (c.scenario == "yield") run_yield(c);
  else if (c.scenario == "parked") run_parked(c);
  else if (c.scenario == "pingpong") run_pingpong<weft_channels>(c);
  else if (c.scenario == "spsc") run_spsc(c);
  else if (c.scenario == "mpmc") run_mpmc<weft_channels>(c);
  else if (c.scenario == "select2") run_select2(c, 0);
  else if (c.scenario == "select2b") run_select2(c, kBuffer);
  else if (c.scenario == "mutex") run_mutex(c);
  else if (c.scenario == "idle") run_idle(c);
  else if (c.scenario == "sieve") run_sieve(c);
  else if (c.scenario == "workerpool") run_workerpool(c);
  else if (c.scenario == "cpusplit") run_cpusplit(c);
  else if (c.scenario == "latency") run_latency(c);
  else if (c.scenario == "fileio") run_fileio(c);
  else if (c.scenario == "scale") run_scale(c);
  else if (c.scenario == "onetask") run_onetask(c);
  else if (c.scenario == "allofcpu") run_allofcpu(c);
  else if (c.scenario == "allofsleep") run_latency(c);
  else if (c.scenario == "pool") run_pool(c);
  else if (c.scenario == "disk") run_disk(c);
  else if (c.scenario == "allofnet") {
#ifdef WEFT_BENCH_HAVE_IO
    if (c.addr.empty()) {
      std::fprintf(stderr, "weft-bench: allofnet needs --addr=HOST:PORT\n");
      return 2;
    }
    run_allofnet(c);
#else
    std::fprintf(stderr, "not expressible: this weft-bench was built without weft::io\n");
    return 3;
#endif
  }
  else {
    std::fprintf(stderr, "weft-bench: unknown scenario %s; run it without arguments for the list\n", c.scenario.c_str());
    return 2;
  }
  return 0;
}
