// 5. Worker pool: four long-lived workers take jobs (1 ms of simulated work
// each) from one channel and answer on another; main feeds them several
// batches, collects each batch's results before sending the next, and shuts
// the pool down by closing the job channel. CSP idea: a pool is nothing but
// tasks receiving from a shared channel, so whichever worker is free takes
// the next job. Main feeds and collects in one select ("send the next job"
// or "take a result"): with unbuffered channels, sending the whole batch
// first would deadlock, the workers blocked on results nobody reads yet.

#include <optional>
#include <vector>

#include "model.hpp"

namespace {
struct job {
  long batch, x;
};
struct result {
  long batch, x, square;
};
}  // namespace

int main(int argc, char** argv) {
  const auto m = example::model::from_args(argc, argv);
  constexpr int workers = 4, batches = 3;
  const long per_batch = m.size(100);
  bool ok = true;
  // done_by[w] is written by worker w alone, before its wg.done(), and read
  // by main after wg.wait(): the wait group orders the two.
  std::vector<long> done_by(workers, 0);
  m.main_task([&] {
    auto jobs = weft::make_chan<job>();
    auto results = weft::make_chan<result>();
    weft::wait_group wg;
    wg.add(workers);
    for (int w = 0; w < workers; w++)
      m.start([jobs, results, &wg, &done = done_by[w]] {
        // Until main closes `jobs`: one worker serves many jobs, batch
        // after batch.
        for (job j : jobs) {
          weft::sleep_for(std::chrono::milliseconds(1));  // the work
          results.send({j.batch, j.x, j.x * j.x});
          done++;
        }
        wg.done();
      });
    for (long b = 0; b < batches; b++) {
      long sent = 0, received = 0, sum = 0;
      auto take = [&](std::optional<result> r) {
        ok = ok && r && r->batch == b && r->square == r->x * r->x;
        sum += r ? r->x : 0;
        received++;
      };
      while (received < per_batch) {
        if (sent < per_batch)
          weft::select(weft::on_send(jobs, job{b, sent + 1}, [&] { sent++; }), weft::on_recv(results, take));
        else
          take(results.recv());
      }
      ok = ok && sum == per_batch * (per_batch + 1) / 2;  // each job answered once
      std::printf("workerpool (%s): batch %ld: %ld results\n", m.name(), b + 1, received);
    }
    jobs.close();  // the workers' loops end; they finish and leave
    wg.wait();
  });
  long total = 0;
  std::printf("workerpool (%s): %d workers served", m.name(), workers);
  for (int w = 0; w < workers; w++) {
    std::printf("%s%ld", w == 0 ? " " : " + ", done_by[w]);
    total += done_by[w];
  }
  std::printf(" = %ld jobs in %d batches\n", total, batches);
  return ok && total == batches * per_batch ? 0 : 1;
}
