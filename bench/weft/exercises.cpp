// weft-bench's versions of the seed's exercises, written once and run under
// both models of bench_model.hpp (fibers: weft::run; threads: one
// std::thread per task over the same weft channels). The workloads come from
// bench/common/workloads.hpp; weft-compare recomputes the expected results.
// allofnet, which needs weft::io, is in net_client.cpp; allofsleep is
// app_scenarios.cpp's latency under the exercise's name.
//
//   onetask   n times, one after another: start one task that returns its
//             argument plus one (fibers: weft::spawn + join; threads: a
//             std::thread writing its result, joined), check the value.
//             result: n if every value was right, else -1.
//   allofcpu  n tasks at once; task k counts allofcpu_count(k) and sends it
//             back. result: the sum.
//   pool      8 long-lived worker tasks take job numbers from one channel
//             (fed by a feeder task main starts, so that main is free to
//             receive: main feeding and receiving alone would deadlock once
//             both bounded channels fill) and send results on another; job
//             k is pool_cpu_job(k) for even k and a 1 ms weft::sleep_for for
//             odd k (result 1). The workers range over the job channel until
//             the feeder closes it. result: the sum of the results.
//   disk      n tasks at once; task i writes file i into a directory made in
//             the untimed setup, reads it back and sends its checksum (the
//             file calls inside weft::blocking; from a plain thread that is
//             the call itself). result: n if the checksums sum as expected.

#include <cstdint>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

#include "bench_model.hpp"
#include "common/workloads.hpp"

namespace weft_bench {

namespace {
// Capacity of the channels many tasks report on (as app_scenarios.cpp).
constexpr std::size_t kReportBuffer = 1024;
}  // namespace

void run_onetask(const config& c) {
  bool ok = true;
  clk::duration el{};
  c.main_task([&] {
    const auto t0 = clk::now();
    for (long k = 0; k < c.n; k++) {
      long v = 0;
      if (c.fibers) {
        v = weft::spawn([k] { return k + 1; }).join();
      } else {
        std::thread t([&v, k] { v = k + 1; });
        t.join();
      }
      ok &= v == k + 1;
    }
    el = clk::now() - t0;
  });
  report(c, ok ? c.n : -1, el, c.n);
}

void run_allofcpu(const config& c) {
  long total = 0;
  clk::duration el{};
  c.main_task([&] {
    auto counts = weft::make_chan<long>(kReportBuffer);
    const auto t0 = clk::now();
    for (long k = 0; k < c.n; k++) c.start([counts, k] { counts.send(bench::allofcpu_count(k)); });
    for (long k = 0; k < c.n; k++) total += *counts.recv();
    el = clk::now() - t0;
  });
  report(c, total, el, c.n);
}

void run_pool(const config& c) {
  long total = 0;
  clk::duration el{};
  c.main_task([&] {
    auto jobs = weft::make_chan<long>(bench::kPoolQueue);
    auto results = weft::make_chan<long>(bench::kPoolQueue);
    const long n = c.n;
    const auto t0 = clk::now();
    for (long w = 0; w < bench::kPoolTasks; w++) {
      c.start([jobs, results] {
        for (long k : jobs) {
          if (!bench::pool_job_is_sleep(k)) {
            results.send(bench::pool_cpu_job(k));
          } else {
            weft::sleep_for(std::chrono::milliseconds(bench::kPoolSleepMs));
            results.send(1);
          }
        }
      });
    }
    c.start([jobs, n] {
      for (long k = 0; k < n; k++) jobs.send(k);
      jobs.close();
    });
    for (long k = 0; k < n; k++) total += *results.recv();
    el = clk::now() - t0;
  });
  report(c, total, el, c.n);
}

void run_disk(const config& c) {
  long result = 0;
  clk::duration el{};
  const bench::scratch_dir dir(c.n);
  c.main_task([&] {
    auto sums = weft::make_chan<std::uint64_t>(kReportBuffer);
    const auto t0 = clk::now();
    for (long i = 0; i < c.n; i++) {
      c.start([sums, i, path = dir.path(i)] {
        sums.send(weft::blocking([&] { return bench::write_read_file_checksum(path, i); }));
      });
    }
    std::uint64_t sum = 0;
    for (long i = 0; i < c.n; i++) sum += *sums.recv();
    el = clk::now() - t0;
    result = sum == bench::expected_disk_sum(c.n) ? c.n : -1;
  });
  report(c, result, el, c.n);
}

}  // namespace weft_bench
