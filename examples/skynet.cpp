// 12. Skynet (github.com/atemerev/skynet): a task spawns 10 children, each
// spawns 10 more, down to n leaves (default 1,000,000); each leaf sends its
// number, each inner task sums its children's answers. CSP idea: tasks as
// cheap as function calls; the tree of 1,111,111 fibers is a spawn-and-wait
// stress for the scheduler, and the sum n*(n-1)/2 checks that every task ran.
//
// The tree itself is bench/common/skynet.hpp, the same code `weft-bench
// skynet` measures.
//
// 1:1 threads cannot run the full tree: it needs 1.11*n threads, and the
// kernel caps a process near pid_max (32,768 here). The threads model
// therefore defaults to n = 10,000 (11,111 threads) and refuses sizes above
// that, saying so, rather than pretending; compare the models at n=10000.

#include "common/skynet.hpp"
#include "model.hpp"

namespace {

constexpr long kThreadsMax = 10000;

}  // namespace

int main(int argc, char** argv) {
  const auto m = example::model::from_args(argc, argv);
  const long n = m.size(m.fibers ? 1'000'000 : kThreadsMax);
  long leaves = 1;
  while (leaves < n) leaves *= 10;
  if (leaves != n) {
    std::fprintf(stderr, "skynet: n must be a power of 10\n");
    return 2;
  }
  if (!m.fibers && n > kThreadsMax) {
    std::fprintf(stderr, "skynet (threads): n=%ld needs %ld threads; this model stops at n=%ld (pid_max)\n", n,
                 (10 * n - 1) / 9, kThreadsMax);
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const long sum = m.main_task([&] { return weft_models::skynet(m, n); });
  std::printf("skynet (%s): sum of %ld leaves = %ld, %ld tasks, %.0f ms, peak RSS %.1f MiB\n", m.name(), n, sum,
              (10 * n - 1) / 9, example::ms_since(t0), example::peak_rss_mib());
  return sum == n * (n - 1) / 2 ? 0 : 1;
}
