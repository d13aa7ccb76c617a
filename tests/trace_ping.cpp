// The program tests/trace_test.py traces: a ping-pong of `rounds` round
// trips (argv[1], default 3) over two unbuffered channels between main
// (fiber 1) and one spawned fiber (fiber 2), on one worker, then a join.
// The trace file is named by WEFT_TRACE (set by the test).

#include <cstdio>
#include <cstdlib>

#include <weft/weft.hpp>

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 3;
  weft::run_options o;
  o.workers = 1;
  o.on_deadlock = weft::deadlock_action::abort;
  weft::run(
      [rounds] {
        auto ping = weft::make_chan<int>();
        auto pong = weft::make_chan<int>();
        auto t = weft::spawn([&] {
          for (int i = 0; i < rounds; i++) pong.send(*ping.recv() + 1);
        });
        for (int i = 0; i < rounds; i++) {
          ping.send(i);
          if (*pong.recv() != i + 1) std::abort();
        }
        t.join();
      },
      o);
  const weft::runtime_stats s = weft::stats();
  std::printf("parks_chan=%llu parks_total=%llu wakes_local=%llu\n",
              static_cast<unsigned long long>(s.total.parks_of(weft::park_reason::chan)),
              static_cast<unsigned long long>(s.total.parks_total()),
              static_cast<unsigned long long>(s.total.wakes_local));
  return 0;
}
