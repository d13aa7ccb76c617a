// 4. Fan-out, fan-in: one generator, several workers sharing its channel
// (fan-out: whichever worker is free takes the next value), each worker with
// its own output channel, and one merger that selects over all the outputs
// at once (fan-in), with a select whose size is known only at run time.
// CSP idea: select waits on many channels and takes whichever is ready. A
// worker's case is switched to a nil channel once that worker has closed
// it, and select never chooses a nil channel again (Go's `c = nil` idiom),
// so the merger stops listening to finished workers. A select_case owns its
// channel handle (as Go's select evaluates each channel expression), so the
// idiom replaces the case, not the handle in `outputs`.

#include <optional>
#include <vector>

#include "model.hpp"

int main(int argc, char** argv) {
  const auto m = example::model::from_args(argc, argv);
  constexpr int workers = 4;
  const long n = m.size(10000);
  struct tally {
    long count = 0, sum = 0;
    std::vector<long> per_worker = std::vector<long>(workers, 0);
  };
  const tally t = m.main_task([&] {
    auto numbers = weft::make_chan<long>();
    m.start([numbers, n] {
      for (long i = 1; i <= n; i++) numbers.send(i);
      numbers.close();
    });
    std::vector<weft::chan<long>> outputs;
    for (int w = 0; w < workers; w++) {
      outputs.push_back(weft::make_chan<long>());
      m.start([numbers, out = outputs.back()] {
        for (long v : numbers) out.send(v * v);
        out.close();  // the generator closed `numbers` and it is drained
      });
    }
    tally t;
    int open = workers;
    int closed = -1;  // the worker whose output the last select found closed
    std::vector<weft::select_case> cases;
    for (int w = 0; w < workers; w++)
      cases.push_back(weft::select_case::recv(outputs[w], [&t, &closed, w](std::optional<long> v) {
        if (!v) {  // closed and drained
          closed = w;
          return;
        }
        t.count++;
        t.sum += *v;
        t.per_worker[w]++;
      }));
    while (open > 0) {
      weft::select(cases);
      if (closed >= 0) {  // nil it, so this case is never ready again
        cases[static_cast<std::size_t>(closed)] = weft::select_case::recv(weft::chan<long>(), [](std::optional<long>) {});
        closed = -1;
        open--;
      }
    }
    return t;
  });
  std::printf("fanin (%s): %ld squares merged from %d workers (", m.name(), t.count, workers);
  for (int w = 0; w < workers; w++) std::printf("%s%ld", w == 0 ? "" : " + ", t.per_worker[w]);
  std::printf("), sum %ld\n", t.sum);
  return t.count == n && t.sum == n * (n + 1) * (2 * n + 1) / 6 ? 0 : 1;
}
