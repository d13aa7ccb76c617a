// 2. Pipeline: generate -> square -> sum, each stage a task connected by
// channels. CSP idea: closing a channel is how a stage says "no more"; the
// close flows down the pipeline with the data.

#include "model.hpp"

int main(int argc, char** argv) {
  const auto m = example::model::from_args(argc, argv);
  constexpr long n = 1000;
  const long sum = m.main_task([&] {
    auto numbers = weft::make_chan<long>(16), squares = weft::make_chan<long>(16);
    m.start([numbers] {
      for (long i = 1; i <= n; i++) numbers.send(i);
      numbers.close();
    });
    m.start([numbers, squares] {
      for (long v : numbers) squares.send(v * v);
      squares.close();
    });
    long total = 0;
    for (long v : squares) total += v;
    return total;
  });
  std::printf("pipeline (%s): sum of squares 1..%ld = %ld\n", m.name(), n, sum);
  return sum == n * (n + 1) * (2 * n + 1) / 6 ? 0 : 1;
}
