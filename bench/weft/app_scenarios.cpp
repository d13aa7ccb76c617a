// weft-bench's application-shaped scenarios: programs as people write them
// with goroutines and channels, each written once and run under both models
// (fibers: weft::run; threads: one std::thread per task over the same weft
// channels). The workloads themselves (trial division, the job function,
// latencies, file contents) come from bench/common/workloads.hpp, shared
// with boost-fiber-bench and with weft-compare, which checks the results;
// bench/go/main.go has the same programs in Go.
//
//   sieve       Go's concurrent prime sieve: a generator and a chain of
//               filter tasks, one per prime found; n primes. result: the
//               n-th prime.
//   workerpool  8 long-lived workers take n jobs from one channel (fed by a
//               feeder task) and send results back on another. result: n if
//               the results sum as computed sequentially, else -1.
//   cpusplit    counts the primes below n by trial division, one task per
//               chunk of kPrimeChunk numbers. result: the count.
//   latency     n tasks each wait their own latency (50-200 ms) with the
//               model's sleep, then report. result: n if every latency came
//               back, else -1.
//   fileio      n files of 16 KiB written beforehand (untimed); n tasks read
//               one file each (fibers: inside weft::blocking; threads: the
//               same call, which runs inline on a plain thread) and send its
//               checksum back. result: n if the checksums sum correctly.
//   scale       n tasks all alive at once: each signals a wait_group and
//               parks on a gate channel; once all have started, main closes
//               the gate and receives one value from each. Time covers the
//               whole life (spawn, park, wake, finish); peak RSS is the cost
//               of n parked tasks. result: the number of values received.
//
// Shutdown is explicit in every scenario (no task is left blocked), so the
// threads model exits as cleanly as the fiber model.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <weft/weft.hpp>

#include "common/workloads.hpp"
#include "bench_model.hpp"

namespace weft_bench {

namespace {
// Capacity of the result/done channels that many tasks report on.
constexpr std::size_t kReportBuffer = 1024;
// Workers of workerpool and the capacity of its job and result channels.
constexpr long kPoolWorkers = 8;
constexpr std::size_t kPoolBuffer = 64;
}  // namespace

// sieve: as in Go's classic program (go.dev/doc/play/sieve.go), with an
// explicit stop so that no task stays blocked: once main has its n primes it
// raises `stop` and drains the last channel; the generator sees the flag
// after its next send and closes its output, and each filter closes its
// output when its input is closed and drained. The clock stops at the n-th
// prime, before the drain.
void run_sieve(const config& c) {
  long last = 0;
  clk::duration el{};
  c.main_task([&] {
    auto stop = std::make_shared<std::atomic<bool>>(false);
    const auto t0 = clk::now();
    auto in = weft::make_chan<long>();
    c.start([in, stop] {
      for (long i = 2; !stop->load(std::memory_order_relaxed); i++) in.send(i);
      in.close();
    });
    for (long k = 0; k < c.n; k++) {
      const long prime = *in.recv();
      last = prime;
      auto out = weft::make_chan<long>();
      c.start([in, out, prime] {
        while (auto v = in.recv()) {
          if (*v % prime != 0) out.send(*v);
        }
        out.close();
      });
      in = out;
    }
    el = clk::now() - t0;
    stop->store(true, std::memory_order_relaxed);
    while (in.recv()) {
    }
  });
  report(c, last, el, c.n);
}

// workerpool: a feeder sends job numbers 0..n-1 and closes the job channel;
// kPoolWorkers workers each loop receiving a job and sending its result;
// main receives n results.
void run_workerpool(const config& c) {
  long result = 0;
  clk::duration el{};
  std::uint64_t want = 0;
  for (long i = 0; i < c.n; i++) want += bench::job_work(static_cast<std::uint64_t>(i));
  c.main_task([&] {
    auto jobs = weft::make_chan<long>(kPoolBuffer);
    auto results = weft::make_chan<std::uint64_t>(kPoolBuffer);
    const long n = c.n;
    const auto t0 = clk::now();
    c.start([jobs, n] {
      for (long i = 0; i < n; i++) jobs.send(i);
      jobs.close();
    });
    for (long w = 0; w < kPoolWorkers; w++) {
      c.start([jobs, results] {
        for (long j : jobs) results.send(bench::job_work(static_cast<std::uint64_t>(j)));
      });
    }
    std::uint64_t sum = 0;
    for (long i = 0; i < n; i++) sum += *results.recv();
    el = clk::now() - t0;
    result = sum == want ? n : -1;
  });
  report(c, result, el, c.n);
}

// cpusplit: one task per chunk; each sends its count; main adds them up.
void run_cpusplit(const config& c) {
  long total = 0;
  clk::duration el{};
  c.main_task([&] {
    const long n = c.n, chunks = (c.n + bench::kPrimeChunk - 1) / bench::kPrimeChunk;
    auto counts = weft::make_chan<long>(kReportBuffer);
    const auto t0 = clk::now();
    for (long k = 0; k < chunks; k++) {
      c.start([counts, k, n] {
        const long lo = k * bench::kPrimeChunk;
        counts.send(bench::count_primes_trial(lo, std::min(lo + bench::kPrimeChunk, n)));
      });
    }
    for (long k = 0; k < chunks; k++) total += *counts.recv();
    el = clk::now() - t0;
  });
  report(c, total, el, c.n);
}

// latency: task i sleeps latency_ms(i) (weft::sleep_for parks a fiber, or
// sleeps a plain thread) and sends it back.
void run_latency(const config& c) {
  long result = 0;
  clk::duration el{};
  long want = 0;
  for (long i = 0; i < c.n; i++) want += bench::latency_ms(i);
  c.main_task([&] {
    auto done = weft::make_chan<long>(kReportBuffer);
    const auto t0 = clk::now();
    for (long i = 0; i < c.n; i++) {
      c.start([done, i] {
        const long ms = bench::latency_ms(i);
        weft::sleep_for(std::chrono::milliseconds(ms));
        done.send(ms);
      });
    }
    long sum = 0;
    for (long i = 0; i < c.n; i++) sum += *done.recv();
    el = clk::now() - t0;
    result = sum == want ? c.n : -1;
  });
  report(c, result, el, c.n);
}

// fileio: see the file comment. The files are written (and later removed)
// outside the clock; the timed part is n concurrent whole-file reads.
void run_fileio(const config& c) {
  long result = 0;
  clk::duration el{};
  const bench::file_set files(c.n);
  const std::uint64_t want = files.expected_sum();
  c.main_task([&] {
    auto sums = weft::make_chan<std::uint64_t>(kReportBuffer);
    const auto t0 = clk::now();
    for (long i = 0; i < c.n; i++) {
      c.start([sums, path = files.path(i)] {
        sums.send(weft::blocking([&] { return bench::read_file_checksum(path); }));
      });
    }
    std::uint64_t sum = 0;
    for (long i = 0; i < c.n; i++) sum += *sums.recv();
    el = clk::now() - t0;
    result = sum == want ? c.n : -1;
  });
  report(c, result, el, c.n, "bytes_per_file=" + std::to_string(bench::kFileBytes));
}

// scale: see the file comment.
void run_scale(const config& c) {
  long got = 0;
  clk::duration el{};
  c.main_task([&] {
    auto gate = weft::make_chan<int>();  // never sent on; closed to release all
    auto done = weft::make_chan<int>(kReportBuffer);
    // Every done() returns before its task can send on `done`, so `ready`
    // outlives its last use.
    weft::wait_group ready;
    ready.add(c.n);
    const auto t0 = clk::now();
    for (long i = 0; i < c.n; i++) {
      c.start([gate, done, &ready] {
        ready.done();
        (void)gate.recv();
        done.send(1);
      });
    }
    ready.wait();
    gate.close();
    for (long i = 0; i < c.n; i++) got += *done.recv();
    el = clk::now() - t0;
  });
  report(c, got, el, c.n);
}

}  // namespace weft_bench
