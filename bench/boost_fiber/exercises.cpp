// boost-fiber-bench's versions of the seed's exercises (weft-bench's
// exercises.cpp has the full descriptions), on the work-stealing pool of
// bf_pool.hpp, every fiber on its pooled stacks; allofsleep is
// boost_fiber_bench.cpp's latency. allofnet is not expressible: Boost.Fiber
// has no socket layer (main exits 3).
//
//   onetask   n times, one after another: one fiber returns k+1 through a
//             fibers::future (bf::async), main waits for it.
//   allofcpu  n fibers at once; fiber k pushes allofcpu_count(k) (fan_in).
//   pool      8 long-lived worker fibers pop jobs from a buffered_channel fed
//             by a feeder fiber and push results on another; odd jobs sleep
//             1 ms with this_fiber::sleep_for.
//   disk      n fibers at once; fiber i writes file i, reads it back and
//             pushes its checksum (fan_in). The file calls are plain calls: they
//             block the worker thread they run on (Boost.Fiber has no
//             blocking pool), so on W threads at most W files are in flight.

#include <boost/fiber/all.hpp>

#include <cstdint>
#include <vector>

#include "../common/workloads.hpp"
#include "bf_pool.hpp"

namespace bf_bench {

outcome run_onetask(long n, unsigned workers, bool suspend) {
  work_stealing_pool pool(workers, suspend);
  bool ok = true;
  const auto start = clock_type::now();
  for (long k = 0; k < n; ++k) {
    ok &= bf::async(bf::launch::post, std::allocator_arg, fiber_stacks(), [k] { return k + 1; }).get() == k + 1;
  }
  const long elapsed = nanos_since(start);
  return {ok ? n : -1, elapsed, n, std::nullopt};
}

outcome run_allofcpu(long n, unsigned workers, bool suspend) {
  work_stealing_pool pool(workers, suspend);
  const auto [total, elapsed] = fan_in<long>(n, [](long k) { return bench::allofcpu_count(k); });
  return {total, elapsed, n, std::nullopt};
}

outcome run_pool(long n, unsigned workers, bool suspend) {
  work_stealing_pool pool(workers, suspend);
  // kPoolQueue is a power of two, as Boost requires; it holds 63.
  bf::buffered_channel<long> jobs(bench::kPoolQueue);
  bf::buffered_channel<long> results(bench::kPoolQueue);
  std::vector<bf::fiber> fibers;
  const auto start = clock_type::now();
  for (long w = 0; w < bench::kPoolTasks; ++w) {
    fibers.push_back(post([&] {
      long k = 0;
      while (jobs.pop(k) == bf::channel_op_status::success) {
        if (!bench::pool_job_is_sleep(k)) {
          results.push(bench::pool_cpu_job(k));
        } else {
          boost::this_fiber::sleep_for(std::chrono::milliseconds(bench::kPoolSleepMs));
          results.push(1);
        }
      }
    }));
  }
  fibers.push_back(post([&] {
    for (long k = 0; k < n; ++k) jobs.push(k);
    jobs.close();
  }));
  long total = 0;
  for (long k = 0; k < n; ++k) total += results.value_pop();
  const long elapsed = nanos_since(start);
  for (auto& f : fibers) f.join();
  return {total, elapsed, n, std::nullopt};
}

outcome run_disk(long n, unsigned workers, bool suspend) {
  const bench::scratch_dir dir(n);
  work_stealing_pool pool(workers, suspend);
  const auto [sum, elapsed] =
      fan_in<std::uint64_t>(n, [&dir](long i) { return bench::write_read_file_checksum(dir.path(i), i); });
  return {sum == bench::expected_disk_sum(n) ? n : -1, elapsed, n, std::nullopt};
}

}  // namespace bf_bench
