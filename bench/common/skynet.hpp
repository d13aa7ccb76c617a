// Skynet (github.com/atemerev/skynet), the one implementation that
// examples/skynet.cpp and `weft-bench skynet` both run: a task spawns 10
// children, each spawns 10 more, down to n leaves; each leaf sends its
// number, each inner task sums its ten children's answers. The tree of
// (10n-1)/9 tasks is a spawn-and-wait stress for the scheduler, and the sum
// n*(n-1)/2 checks that every task ran.
#pragma once

#include <weft/weft.hpp>

#include "task_model.hpp"

namespace weft_models {

// The subtree of `size` leaves numbered num, num+1, ...: sends the sum of
// their numbers on `out`. Requires size to be a power of 10 and m to
// outlive every task of the subtree. Runs as a task of m (a fiber or a
// thread); spawns its children with m.start().
inline void skynet_node(const model& m, weft::chan<long> out, long num, long size) {
  if (size == 1) {
    out.send(num);
    return;
  }
  // One unbuffered channel for all ten children: the parent receives exactly
  // ten answers, in whatever order the children finish.
  auto answers = weft::make_chan<long>();
  for (long i = 0; i < 10; i++)
    m.start([&m, answers, sub = num + i * (size / 10), size] { skynet_node(m, answers, sub, size / 10); });
  long sum = 0;
  for (int i = 0; i < 10; i++) sum += *answers.recv();
  out.send(sum);
}

// Runs the whole tree of n leaves (a power of 10) and returns the root's
// sum, n*(n-1)/2 when every task ran. Call it from inside m.main_task().
inline long skynet(const model& m, long n) {
  auto root = weft::make_chan<long>();
  m.start([&m, root, n] { skynet_node(m, root, 0, n); });
  return *root.recv();
}

}  // namespace weft_models
