// 8. Dining philosophers: five philosophers around a table, a fork
// (weft::mutex) between each pair; a philosopher needs both neighbouring
// forks to eat. CSP idea (Dijkstra's resource ordering): a deadlock needs a
// cycle of tasks, each holding a lock the next one waits for. Every
// philosopher picks up the lower-numbered of its two forks first, so the
// last one reaches for fork 0 before fork 4 and no cycle can close. Nobody
// starves: a waiter that has waited over 1 ms is handed the fork directly
// (weft::mutex's starvation mode, as Go's), and each philosopher leaves only
// after eating `meals` times. The example checks that no fork was ever held
// twice and that at most two ate at once (five forks, two per meal).

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>

#include "model.hpp"

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  const auto m = example::model::from_args(argc, argv);
  constexpr int n = 5;
  const long meals = m.size(50);
  std::array<long, n> ate{};  // ate[p]: philosopher p's alone, read after wg.wait()
  std::atomic<int> eating{0}, most_eating{0}, fork_clashes{0};
  m.main_task([&] {
    std::array<weft::mutex, n> forks;
    std::array<std::atomic<int>, n> holders{};  // philosophers holding each fork: 0 or 1
    weft::wait_group wg;
    wg.add(n);
    for (int p = 0; p < n; p++)
      m.start([&, p] {
        const int left = p, right = (p + 1) % n;
        const int first = std::min(left, right), second = std::max(left, right);
        for (long meal = 0; meal < meals; meal++) {
          weft::sleep_for(100us);  // think
          std::scoped_lock hold_first(forks[first]);
          std::scoped_lock hold_second(forks[second]);
          for (int f : {first, second})
            if (holders[f].fetch_add(1) != 0) fork_clashes++;
          const int now = ++eating;
          for (int seen = most_eating; now > seen && !most_eating.compare_exchange_weak(seen, now);) {
          }
          weft::sleep_for(200us);  // eat
          ate[p]++;
          --eating;
          for (int f : {first, second}) holders[f]--;
        }
        wg.done();
      });
    wg.wait();
  });
  std::printf("philosophers (%s): meals eaten", m.name());
  for (long a : ate) std::printf(" %ld", a);
  std::printf("; at most %d eating at once; %d fork clashes\n", most_eating.load(), fork_clashes.load());
  const bool all_ate = std::all_of(ate.begin(), ate.end(), [&](long a) { return a == meals; });
  return all_ate && most_eating <= 2 && fork_clashes == 0 ? 0 : 1;
}
