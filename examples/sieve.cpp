// 3. Go's concurrent prime sieve: a chain of filter tasks, one per prime
// found so far; each passes on the numbers its prime does not divide.
// CSP idea: processes as pipeline stages created on the fly. As in Go, the
// program just stops when it has its primes: under fibers, weft::run
// cancels the filters still blocked when main returns; under threads, they
// are left blocked (detached) and end with the process.

#include <vector>

#include "model.hpp"

int main(int argc, char** argv) {
  const auto m = example::model::from_args(argc, argv);
  constexpr int count = 100;  // the first 100 primes: 100 filter tasks
  const std::vector<long> primes = m.main_task([&] {
    auto in = weft::make_chan<long>();
    m.start([in] {
      for (long i = 2;; i++) in.send(i);
    });
    std::vector<long> found;
    for (int k = 0; k < count; k++) {
      const long prime = *in.recv();
      found.push_back(prime);
      auto out = weft::make_chan<long>();
      m.start([in, out, prime] {
        for (;;) {
          const long v = *in.recv();
          if (v % prime != 0) out.send(v);
        }
      });
      in = out;
    }
    return found;
  });
  std::printf("sieve (%s): %zu primes, the last %ld\n", m.name(), primes.size(), primes.back());
  return primes.size() == count && primes.back() == 541 ? 0 : 1;
}
