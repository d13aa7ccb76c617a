// Channel microbenchmarks: send/recv between two fibers over an unbuffered
// and a buffered channel, and select over 2 and 8 channels. Baselines on
// plain threads (a mutex + condition_variable queue, and weft's own channel
// used 1:1) are in baseline_bench.cpp.
#include <array>
#include <cstdint>
#include <utility>

#include "micro.hpp"

namespace {

// One iteration: the main fiber sends one value; a receiver fiber drains the
// channel until it is closed. capacity 0 is Go's unbuffered rendezvous (every
// send meets a receive); 64 lets the sender run ahead until the buffer fills.
void weft_chan_send_recv(benchmark::State& state) {
  weft_micro::in_runtime(state, 1, [&] {
    auto c = weft::make_chan<std::int64_t>(static_cast<std::size_t>(state.range(0)));
    auto receiver = weft::spawn([c] {
      std::int64_t sum = 0;
      for (auto v : c) sum += v;
      return sum;
    });
    std::int64_t i = 0;
    for (auto _ : state) c.send(i++);
    c.close();
    benchmark::DoNotOptimize(receiver.join());
  });
}
BENCHMARK(weft_chan_send_recv)->Apply([](benchmark::internal::Benchmark* b) {
  weft_micro::arg_and_workers_sweep(b, "capacity", {0, 64});
});

// Receives one value with a select over every channel in cs.
template <std::size_t N, std::size_t... I>
std::int64_t select_recv(const std::array<weft::chan<std::int64_t>, N>& cs, std::index_sequence<I...>) {
  std::int64_t got = 0;
  weft::select(weft::on_recv(cs[I], [&](std::optional<std::int64_t> v) { got = *v; })...);
  return got;
}

// One iteration: the main fiber selects over N unbuffered channels and
// receives one value; a sender fiber sends on them in turn. Each select
// that finds no sender ready enqueues on all N channels and dequeues from
// them once woken, so the cost grows with N.
template <std::size_t N>
void weft_select(benchmark::State& state) {
  weft_micro::in_runtime(state, 0, [&] {
    std::array<weft::chan<std::int64_t>, N> cs;
    for (auto& c : cs) c = weft::make_chan<std::int64_t>();
    // The sender stops when main closes the channels: its pending send
    // throws weft::channel_closed (Go's send on a closed channel panics).
    auto sender = weft::spawn([cs] {
      try {
        for (std::int64_t i = 0;; ++i) cs[static_cast<std::size_t>(i) % N].send(i);
      } catch (const weft::channel_closed&) {
      }
    });
    std::int64_t sum = 0;
    for (auto _ : state) sum += select_recv(cs, std::make_index_sequence<N>{});
    for (auto& c : cs) c.close();
    sender.join();
    benchmark::DoNotOptimize(sum);
  });
}
BENCHMARK(weft_select<2>)->Name("weft_select/cases:2")->Apply(weft_micro::workers_sweep);
BENCHMARK(weft_select<8>)->Name("weft_select/cases:8")->Apply(weft_micro::workers_sweep);

}  // namespace
