// 1. Ping-pong: two tasks hand a ball back and forth over two unbuffered
// channels. CSP idea: an unbuffered channel is a rendezvous, so each hand-off
// synchronises the two tasks.

#include "model.hpp"

int main(int argc, char** argv) {
  const auto m = example::model::from_args(argc, argv);
  const long hits = m.main_task([&] {
    auto ping = weft::make_chan<long>(), pong = weft::make_chan<long>();
    m.start([ping, pong] {
      for (long ball : ping) pong.send(ball + 1);  // return each ball, one hit more
      pong.close();
    });
    long ball = 0;
    for (int round = 0; round < 10000; round++) {
      ping.send(ball);
      ball = *pong.recv();
    }
    ping.close();
    return ball;
  });
  std::printf("pingpong (%s): %ld hits\n", m.name(), hits);
  return hits == 10000 ? 0 : 1;
}
