#include <cstdio>

#include <weft/weft.hpp>

int main() {
  const long sum = weft::run([] {
    auto c = weft::make_chan<long>();
    weft::go([c] {
      for (long i = 1; i <= 100; i++) c.send(i);
      c.close();
    });
    long s = 0;
    for (long v : c) s += v;
    return s;
  });
  std::printf("consumer: sum=%ld\n", sum);
  return sum == 5050 ? 0 : 1;
}
