// Regression tests for interleavings found in the netpoller and the
// scheduler around it, each written out step by step. The properties
// themselves are tested in io_test.cpp.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using weft::io::tcp_listener;
using weft::io::tcp_stream;
using clk = std::chrono::steady_clock;

class netpoll : public weft::test::workers {};

std::string loopback(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// A read that drained the socket waits for an edge before its next recv.
// The interleaving that lost a wake-up:
//   1. the peer writes "hello" and closes: data and FIN arrive together and
//      make one edge (or two, merged into one `ready` before anyone waits);
//   2. the reader consumes `ready`, recv returns the 5 bytes: a short read,
//      so the socket counts as drained;
//   3. the next read skipped its recv and parked for an edge, but the FIN
//      had come with step 1's edge and no further edge would ever come.
// The fix: a drained reader skips its recv only while no RDHUP/HUP/ERR has
// been seen. Here the reader must see EOF, promptly, every time.
TEST_P(netpoll, eof_that_came_with_the_last_data_is_seen_by_the_next_read) {
  const int rounds = static_cast<int>(weft::test::scaled(200));
  std::atomic<int> eofs{0}, timeouts{0};
  weft::run(
      [&] {
        auto l = tcp_listener::bind("127.0.0.1:0");
        const std::string addr = loopback(l.local_port());
        weft::go([&l, rounds] {
          for (int i = 0; i < rounds; i++) {
            auto s = std::make_shared<tcp_stream>(l.accept());
            weft::go([s] {
              s->write("hello");
              s->close();  // the FIN follows the data at once
            });
          }
        });
        weft::wait_group wg;
        wg.add(rounds);
        for (int i = 0; i < rounds; i++) {
          weft::go([&] {
            auto c = tcp_stream::connect(addr);
            c.set_read_deadline(clk::now() + 5s);
            char buf[64];
            std::size_t got = 0;
            try {
              while (got < 5) {
                const std::size_t n = c.read(buf + got, sizeof buf - got);
                if (n == 0) break;
                got += n;
              }
              if (got == 5 && c.read(buf, sizeof buf) == 0) eofs++;
            } catch (const weft::io::timeout_error&) {
              timeouts++;
            }
            wg.done();
          });
        }
        wg.wait();
      },
      opts());
  EXPECT_EQ(timeouts.load(), 0) << "a reader waited for an edge that never came";
  EXPECT_EQ(eofs.load(), rounds);
}

// A fiber that yields runs within a fairness tick even while the shared
// queue never drains. The interleaving that starved it on one worker:
//   1. a server's poller keeps the shared queue non-empty (here: plain
//      threads spawning fibers, which go to the shared queue);
//   2. the fiber yields: it goes to the yield list, which the worker looked
//      at only after the shared queue, even at the tick;
//   3. every pick found the shared queue non-empty: the fiber never ran
//      again while the load lasted (an echo server's slowest requests
//      waited behind every later batch).
// The tick now looks at the yield list first.
TEST_P(netpoll, a_yielded_fiber_runs_while_the_shared_queue_never_drains) {
  weft::run(
      [&] {
        std::atomic<bool> stop{false};
        std::atomic<long> pending{0};
        auto spawner = [&] {
          // Bounded: stops when told, or after 20 s whatever happens (a
          // starved main fiber cannot tell it to).
          const auto until = clk::now() + 20s;
          while (!stop.load() && clk::now() < until) {
            if (pending.load() > 4096) {
              std::this_thread::yield();
              continue;
            }
            pending++;
            weft::go([&pending] {
              // A little work each, so the worker falls behind the
              // spawners and the shared queue stays full.
              const auto t = clk::now() + 2us;
              while (clk::now() < t) {
              }
              pending--;
            });
          }
        };
        std::thread a(spawner), b(spawner);
        while (pending.load() < 1024 && !stop.load()) std::this_thread::yield();  // the flood is on
        // A sanitizer build runs a pick in ~1 ms here (fiber creation under
        // TSan): a few ticks' worth of yields is what the check needs.
        const int want = weft::test::kSanitized ? 5 : static_cast<int>(weft::test::scaled(2000));
        int yields = 0;
        const auto t0 = clk::now();
        while (yields < want && clk::now() - t0 < 10s) {
          weft::yield();
          yields++;
        }
        stop.store(true);
        a.join();
        b.join();
        while (pending.load() != 0) weft::yield();
        EXPECT_EQ(yields, want) << "the yielding fiber starved behind the shared queue for 10 s";
      },
      opts());
}

INSTANTIATE_TEST_SUITE_P(workers, netpoll, WEFT_WORKER_COUNTS);

}  // namespace
