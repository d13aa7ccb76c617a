// Go conformance: the programs of Go's test/chan/ (tests named after the
// file) re-expressed for weft. Adapted from the Go project (Copyright The
// Go Authors, BSD-style licence). Each runs on 1, 2, 4 and 8 workers; most
// also run with plain threads as partners, or a mix.
//
// Not ported, as not applicable to weft: test/chan/perm.go, sendstmt.go and
// select8.go (compile-time and syntax rules), zerosize.go (no zero-size
// objects in C++), powser1/2.go.

#include <malloc.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "conformance_util.hpp"
#include "test_util.hpp"

namespace {

using namespace weft;
using namespace std::chrono_literals;
using weft::test::scaled;
using namespace weft_conformance;

// test/chan/select.go: every case's value is evaluated on entry to select,
// also for cases on a nil channel; a case whose channel is set to nil is
// never chosen again; default runs once nothing is ready.
TEST_P(go_chan, test_chan_select) {
  run(
      [] {
        unsigned counter = 0, shift = 0;
        auto get_value = [&] {
          counter++;
          return 1u << shift;
        };
        auto send = [&](chan<unsigned> a, chan<unsigned> b) {
          int i = 0;
          for (;;) {
            const std::size_t k =
                select(on_send(a, get_value(), [] {}), on_send(b, get_value(), [] {}), otherwise([] {}));
            if (k == 2) break;
            i++;
            (k == 0 ? a : b) = chan<unsigned>();
            shift++;
          }
          return i;
        };
        auto a = make_chan<unsigned>(1), b = make_chan<unsigned>(1);
        EXPECT_EQ(send(a, b), 2);
        EXPECT_EQ(*a.recv() | *b.recv(), 3u) << "bad values";
        EXPECT_EQ(send(a, chan<unsigned>()), 1);
        EXPECT_EQ(counter, 10u);
      },
      opts());
}

// test/chan/select2.go: selects do not consume undue memory. After a
// warm-up round, a second round of 100,000 selects (one ready case, one
// never ready) grows the heap in use by less than 110 kB. Heap figures
// come from glibc's mallinfo2, which sanitizer runtimes do not feed.
TEST_P(go_chan, test_chan_select2) {
  if (weft::test::kSanitized) GTEST_SKIP() << "mallinfo2 sees no allocations under sanitizers";
  run(
      [] {
        auto c = make_chan<int>(), dummy = make_chan<int>();
        auto round = [&] {
          auto sender = spawn([c] {
            for (int i = 0; i < 100000; i++) c.send(1);
          });
          for (int i = 0; i < 100000; i++) select(on_recv(c, [] {}), on_recv(dummy, [] { ADD_FAILURE() << "dummy"; }));
          sender.join();
        };
        round();
        const auto before = static_cast<long>(mallinfo2().uordblks);
        round();
        const auto after = static_cast<long>(mallinfo2().uordblks);
        EXPECT_LT(after - before, 110000) << "too much memory for 100,000 selects";
      },
      opts());
}

// test/chan/select3.go: which operations block and which throw (Go panics).
// Nil channels block forever and are never ready in select; an empty select
// blocks forever; a closed channel is always ready to receive (no value);
// sending to it, directly or in select, throws; a select with a default or
// a ready case does not block; a select that only sees itself blocks.
// The blocking candidates run together in fibers: none may finish within
// 50 ms (they are cancelled when main returns); the others must finish.
TEST_P(go_chan, test_chan_select3) {
  run(
      [] {
        chan<int> nilch;
        auto closedch = make_chan<int>();
        closedch.close();
        auto unreachable = [] { ADD_FAILURE() << "control flow shouldn't reach here"; };
        auto unreachable_v = [](std::optional<int>) { ADD_FAILURE() << "control flow shouldn't reach here"; };

        std::vector<std::function<void()>> always_block{
            [=] { nilch.send(7); },
            [=] { nilch.recv(); },
            [=] { make_chan<int>().recv(); },
            [] {  // select {}
              std::vector<select_case> none;
              select(none);
            },
            [=] { select(on_recv(nilch, unreachable_v)); },
            [=] { select(on_send(nilch, 7, unreachable)); },
            [=] { select(on_recv(nilch, unreachable_v), on_send(nilch, 7, unreachable)); },
            [=] { select(on_recv(make_chan<int>(), unreachable_v)); },
            [] {  // select should not get confused if it sees itself
              auto c = make_chan<int>();
              select(on_send(c, 1, [] {}), on_recv(c, [] {}));
            },
        };
        std::vector<std::function<void()>> never_block{
            [=] { make_chan<int>(1).send(7); },
            [=] {
              for (int i = 0; i < 10; i++) {
                EXPECT_EQ(closedch.recv(), std::nullopt) << "expected no value from a closed channel";
              }
            },
            [] { select(otherwise([] {})); },
            [=] { select(on_recv(nilch, unreachable_v), otherwise([] {})); },
            [=] { select(on_send(nilch, 7, unreachable), otherwise([] {})); },
            [=] { select(on_send(make_chan<int>(1), 7, [] {}), otherwise(unreachable)); },
            [=] {
              auto ch = make_chan<int>(1);
              ch.send(7);
              select(on_recv(ch, [](std::optional<int> v) { EXPECT_EQ(v, 7); }), otherwise(unreachable));
            },
            [=] { select(on_recv(closedch, [](std::optional<int> v) { EXPECT_EQ(v, std::nullopt); })); },
        };
        std::vector<std::shared_ptr<std::atomic<bool>>> blocked_done, free_done;
        for (auto& f : always_block) {
          auto d = std::make_shared<std::atomic<bool>>(false);
          blocked_done.push_back(d);
          go([f, d] {
            f();
            *d = true;
          });
        }
        auto freed = make_chan<int>(never_block.size());  // one value per finished case
        for (auto& f : never_block) {
          auto d = std::make_shared<std::atomic<bool>>(false);
          free_done.push_back(d);
          go([f, d, freed] {
            f();
            *d = true;
            freed.send(1);
          });
        }
        // The never-blocking cases finish on their own; up to 5 s in all.
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        for (std::size_t i = 0; i < free_done.size(); i++)
          if (!freed.recv_for(deadline - std::chrono::steady_clock::now())) break;
        for (std::size_t i = 0; i < free_done.size(); i++)
          EXPECT_TRUE(free_done[i]->load()) << "case " << i << " should not block but did";
        sleep_for(50ms);  // the time a wrongly unblocked case has to show itself
        for (std::size_t i = 0; i < blocked_done.size(); i++)
          EXPECT_FALSE(blocked_done[i]->load()) << "case " << i << " should block but did not";

        // Nil-channel cases are never selected; closed-channel sends throw.
        select(on_send(nilch, 7, unreachable), otherwise([] {}));
        select(on_recv(nilch, unreachable_v), otherwise([] {}));
        EXPECT_THROW(closedch.send(7), channel_closed);
        EXPECT_THROW(select(on_send(closedch, 7, [] {})), channel_closed);
      },
      opts());
}

// test/chan/select5.go (which generates every shape of a simple select) and
// select4.go (a ready case proceeds; the other case's effects never
// happen): the one real operation on a buffered channel of one, sending or
// receiving, sits at every position among never-ready cases on an
// unbuffered channel and on a nil channel (send and receive each), with and
// without a default; it must run, and nothing else. With no real case, the
// default runs. Runtime-sized select, then the variadic form with the
// default first and last.
TEST_P(go_chan, test_chan_select5) {
  run(
      [] {
        auto c = make_chan<int>(1), dummy = make_chan<int>();
        chan<int> nilch;
        int n = 1;
        for (unsigned extras = 0; extras < 16; extras++) {
          const int nextras = __builtin_popcount(extras);
          for (int real = 0; real < 3; real++) {  // receive, send, none
            for (bool dflt : {false, true}) {
              if (real == 2 && !dflt) continue;
              for (int pos = 0; pos <= (real == 2 ? 0 : nextras); pos++) {
                int x = 0;
                bool wrong = false;
                auto never = [&] { wrong = true; };
                std::vector<select_case> cases;
                auto add_real = [&] {
                  if (real == 0) cases.push_back(select_case::recv(c, [&](std::optional<int> v) { x = *v; }));
                  if (real == 1) cases.push_back(select_case::send(c, n, [] {}));
                };
                int k = 0;
                for (unsigned bit = 0; bit < 4; bit++) {
                  if ((extras & (1u << bit)) == 0) continue;
                  if (k++ == pos) add_real();
                  if (bit == 0) cases.push_back(select_case::send(dummy, 1, never));
                  if (bit == 1) cases.push_back(select_case::recv(dummy, never));
                  if (bit == 2) cases.push_back(select_case::send(nilch, 1, never));
                  if (bit == 3) cases.push_back(select_case::recv(nilch, never));
                }
                if (k == pos) add_real();
                if (real == 0) c.send(n);
                std::optional<std::size_t> r;
                if (dflt)
                  r = try_select(cases);
                else
                  r = select(cases);
                if (real == 1) x = *c.recv();
                EXPECT_FALSE(wrong) << "a never-ready case ran (extras " << extras << ")";
                if (real == 2) {
                  EXPECT_EQ(r, std::nullopt) << "extras " << extras;
                } else {
                  EXPECT_EQ(r, std::optional<std::size_t>(static_cast<std::size_t>(pos))) << "extras " << extras;
                  EXPECT_EQ(x, n) << "extras " << extras << " real " << real << " pos " << pos;
                }
                n++;
              }
            }
          }
        }
        // The variadic form, default before and after the cases.
        bool dflt = false;
        c.send(n);
        int x = 0;
        EXPECT_EQ(select(otherwise([&] { dflt = true; }), on_send(dummy, 1, [] {}),
                         on_recv(c, [&](std::optional<int> v) { x = *v; }), on_recv(nilch, [] {})),
                  2u);
        EXPECT_EQ(x, n);
        EXPECT_EQ(select(on_recv(nilch, [] {}), on_send(c, n + 1, [] {}), on_recv(dummy, [] {}),
                         otherwise([&] { dflt = true; })),
                  1u);
        EXPECT_EQ(c.recv(), std::optional<int>(n + 1));
        EXPECT_EQ(select(otherwise([] {}), on_send(nilch, 1, [] {}), on_recv(dummy, [] {})), 0u);
        EXPECT_EQ(select(on_send(dummy, 1, [] {}), on_recv(nilch, [] {}), otherwise([] {})), 2u);
        EXPECT_FALSE(dflt);
      },
      opts());
}

// test/chan/select6.go (Go issue 2075): a select that lost on c1 while
// another receiver also waited there must leave c1's queue intact, so that
// both later receives on c1 are served. Fibers, then threads as partners.
TEST_P(go_chan, test_chan_select6) {
  run(
      [] {
        for (bool thread : {false, true}) {
          auto c1 = make_chan<bool>(), c2 = make_chan<bool>(), c3 = make_chan<bool>();
          partner a(thread, [c1] { c1.recv(); });
          partner b(false, [c1, c2, c3] {
            select(on_recv(c1, [] { ADD_FAILURE() << "dummy"; }), on_recv(c2, [&] { c3.send(true); }));
            c1.recv();
          });
          partner d(thread, [c2] { c2.send(true); });
          c3.recv();
          c1.send(true);
          c1.send(true);
        }
      },
      opts());
}

// test/chan/select7.go: a received value may be discarded, by a plain
// receive or by a select of one or two cases, whatever form the sender
// uses. Receivers are fibers, then threads.
TEST_P(go_chan, test_chan_select7) {
  run(
      [] {
        using op = void (*)(chan<int>);
        const op recvs[] = {
            [](chan<int> c) { c.recv(); },
            [](chan<int> c) { select(on_recv(c, [] {})); },
            [](chan<int> c) { select(on_recv(c, [] {}), on_recv(make_chan<int>(), [] {})); },
        };
        const op sends[] = {
            [](chan<int> c) { c.send(1); },
            [](chan<int> c) { select(on_send(c, 1, [] {})); },
            [](chan<int> c) { select(on_send(c, 1, [] {}), on_send(make_chan<int>(), 1, [] {})); },
        };
        for (bool thread : {false, true})
          for (op recv : recvs)
            for (op send : sends) {
              auto c = make_chan<int>();
              partner r(thread, [recv, c] { recv(c); });
              yield();
              send(c);
            }
      },
      opts());
}

// test/chan/nonblock.go: non-blocking sends and receives on channels of
// several element types, unbuffered and with a buffer of one. On an empty
// channel a non-blocking receive fails; retried (up to 10,000 times, with
// short sleeps) it succeeds once a partner fiber or thread is there; so
// does a non-blocking send.
template <class T>
void nonblock_case(std::size_t buffer, const T& mine, const T& theirs, bool thread) {
  constexpr int max_tries = 10000;
  auto pause = [] {
    sleep_for(20us);
    yield();
  };
  auto c = make_chan<T>(buffer);
  auto sync = make_chan<bool>();
  EXPECT_EQ(select(on_recv(c, [](std::optional<T>) { ADD_FAILURE() << "blocked sender"; }), otherwise([] {})), 1u);

  partner receiver(thread, [c, sync, mine] {
    EXPECT_EQ(c.recv(), std::optional<T>(mine)) << "receiver value";
    sync.send(true);
  });
  for (int tries = 0; select(on_send(c, mine, [] {}), otherwise([] {})) != 0; tries++) {
    ASSERT_LT(tries, max_tries) << "receiver, buffer " << buffer;
    pause();
  }
  sync.recv();
  receiver.join();

  partner sender(thread, [c, sync, theirs] {
    c.send(theirs);
    sync.send(true);
  });
  if (buffer > 0) sync.recv();
  std::optional<T> got;
  for (int tries = 0; select(on_recv(c, [&](std::optional<T> v) { got = std::move(v); }), otherwise([] {})) != 0;
       tries++) {
    ASSERT_LT(tries, max_tries) << "sender, buffer " << buffer;
    pause();
  }
  EXPECT_EQ(got, std::optional<T>(theirs)) << "sender value";
  if (buffer == 0) sync.recv();
}

TEST_P(go_chan, test_chan_nonblock) {
  run(
      [] {
        for (bool thread : {false, true})
          for (std::size_t buffer : {0, 1}) {
            nonblock_case<std::int32_t>(buffer, 123, 234, thread);
            nonblock_case<std::int64_t>(buffer, 123456, 234567, thread);
            nonblock_case<bool>(buffer, true, true, thread);
            nonblock_case<std::string>(buffer, "hello", "hello again", thread);
          }
      },
      opts());
}

// test/chan/doubleselect.go: one sender selects over four unbuffered
// channels; four forwarders (two of them threads) pass the values on to one
// channel; the receiver sees every value exactly once: no select case ran
// twice (Go CL 180068) and none was lost.
TEST_P(go_chan, test_chan_doubleselect) {
  const int n = static_cast<int>(scaled(100000));
  run(
      [n] {
        const std::array<chan<int>, 4> c{make_chan<int>(), make_chan<int>(), make_chan<int>(), make_chan<int>()};
        auto cmux = make_chan<int>();
        auto done = make_chan<bool>();
        go([c, n] {
          for (int i = 0; i < n; i++)
            select(on_send(c[0], i, [] {}), on_send(c[1], i, [] {}), on_send(c[2], i, [] {}), on_send(c[3], i, [] {}));
          for (auto& ch : c) ch.close();
        });
        std::vector<partner> muxes;
        for (std::size_t k = 0; k < 4; k++)
          muxes.emplace_back(k % 2 == 1, [in = c[k], cmux, done] {
            for (int v : in) cmux.send(v);
            done.send(true);
          });
        go([done, cmux] {
          for (int k = 0; k < 4; k++) done.recv();
          cmux.close();
        });
        std::vector<char> seen(static_cast<std::size_t>(n), 0);
        int duplicates = 0, received = 0;
        for (int v : cmux) {
          if (seen[static_cast<std::size_t>(v)]++ != 0) duplicates++;
          received++;
        }
        EXPECT_EQ(duplicates, 0) << "got duplicate values";
        EXPECT_EQ(received, n);
      },
      opts());
}

// test/chan/fifo.go: a buffered channel is a FIFO; and receivers queued one
// after another on an unbuffered channel (a daisy chain of fibers, every
// fourth a thread, each waiting for its predecessor) get the values in
// order.
TEST_P(go_chan, test_chan_fifo) {
  constexpr int n = 100;
  run(
      [] {
        auto ach = make_chan<int>(n);
        for (int i = 0; i < n; i++) ach.send(i);
        for (int i = 0; i < n; i++) EXPECT_EQ(ach.recv(), std::optional<int>(i)) << "bad receive";

        auto ch = make_chan<int>();
        auto in = make_chan<int>();
        auto start = in;
        std::vector<partner> chain;
        for (int i = 0; i < n; i++) {
          auto out = make_chan<int>();
          chain.emplace_back(i % 4 == 3, [ch, i, in, out] {
            in.recv();
            EXPECT_EQ(ch.recv(), std::optional<int>(i));
            out.send(1);
          });
          in = out;
        }
        start.send(0);
        for (int i = 0; i < n; i++) ch.send(i);
        in.recv();
      },
      opts());
}

// test/chan/goroutines.go: many fibers (10,000 as in Go; 100 under
// sanitizers, where each fiber is costly) threaded together by unbuffered
// channels, each passing one value from its right to its left; torn down
// cleanly.
TEST_P(go_chan, test_chan_goroutines) {
  const int n = static_cast<int>(weft::test::kSanitized ? scaled(1000) : scaled(10000));
  run(
      [n] {
        auto leftmost = make_chan<int>();
        auto left = leftmost, right = leftmost;
        for (int i = 0; i < n; i++) {
          right = make_chan<int>();
          go([left, right] { left.send(*right.recv()); });
          left = right;
        }
        go([right] { right.send(1); });
        EXPECT_EQ(leftmost.recv(), std::optional<int>(1));
      },
      opts());
}

constexpr std::array<int, 25> kPrimes{2,  3,  5,  7,  11, 13, 17, 19, 23, 29, 31, 37, 41,
                                      43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97};

// test/chan/sieve1.go: the prime sieve as a daisy chain of filter fibers.
// The generator and filters run forever; they are cancelled when main
// returns.
TEST_P(go_chan, test_chan_sieve1) {
  run(
      [] {
        auto primes = make_chan<int>();
        go([primes] {
          auto ch = make_chan<int>();
          go([ch] {
            for (int i = 2;; i++) ch.send(i);
          });
          for (;;) {
            const int prime = *ch.recv();
            primes.send(prime);
            auto ch1 = make_chan<int>();
            go([ch, ch1, prime] {
              for (int i : ch)
                if (i % prime != 0) ch1.send(i);
            });
            ch = ch1;
          }
        });
        for (int p : kPrimes) EXPECT_EQ(primes.recv(), std::optional<int>(p));
      },
      opts());
}

// test/chan/sieve2.go: an Eratosthenes sieve over odd candidates that
// merges channels of multiples through a heap, with a proxy fiber that
// buffers without bound by selecting between its input and an output case
// disabled (nil) while it holds nothing.
TEST_P(go_chan, test_chan_sieve2) {
  run(
      [] {
        auto odds = [] {
          auto out = make_chan<int>(50);
          go([out] {
            for (int n = 5;; n += 2) out.send(n);
          });
          return out;
        };
        auto multiples = [](int p) {
          auto out = make_chan<int>(10);
          go([out, p] {
            for (int n = p * p;; n += 2 * p) out.send(n);
          });
          return out;
        };
        auto sendproxy = [](chan<int> out) {
          auto proxy = make_chan<int>(10);
          go([proxy, out] {
            std::deque<int> held;
            for (;;) {
              const chan<int> c = held.empty() ? chan<int>() : out;  // nil: output disabled
              const int e = held.empty() ? 0 : held.front();
              select(on_recv(proxy, [&](std::optional<int> v) { held.push_back(*v); }),
                     on_send(c, e, [&] { held.pop_front(); }));
            }
          });
          return proxy;
        };

        auto out = make_chan<int>(10);
        out.send(2);
        out.send(3);
        auto composites = make_chan<int>(50);  // in increasing order
        auto primes = make_chan<int>(10);      // the feedback loop
        primes.send(3);

        go([=] {  // merges the multiples of each prime into composites
          struct peek {
            int head;
            chan<int> ch;
          };
          auto later = [](const peek& a, const peek& b) { return a.head > b.head; };
          std::vector<peek> heap;
          auto next_of_min = [&] {  // the smallest head, refilled from its channel
            std::pop_heap(heap.begin(), heap.end(), later);
            peek& p = heap.back();
            const int min = p.head;
            p.head = *p.ch.recv();
            std::push_heap(heap.begin(), heap.end(), later);
            return min;
          };
          int min = 15;
          for (;;) {
            auto m = multiples(*primes.recv());
            const int head = *m.recv();
            while (min < head) {
              composites.send(min);
              min = next_of_min();
            }
            while (min == head) min = next_of_min();
            composites.send(head);
            heap.push_back({*m.recv(), m});
            std::push_heap(heap.begin(), heap.end(), later);
          }
        });

        go([=] {  // sieves the composites out of the candidates
          auto proxied = sendproxy(primes);
          auto candidates = odds();
          int p = *candidates.recv();
          for (;;) {
            const int c = *composites.recv();
            for (; p < c; p = *candidates.recv()) {
              proxied.send(p);
              out.send(p);
            }
            if (p == c) p = *candidates.recv();
          }
        });

        for (int p : kPrimes) EXPECT_EQ(out.recv(), std::optional<int>(p));
      },
      opts());
}

INSTANTIATE_TEST_SUITE_P(workers, go_chan, WEFT_WORKER_COUNTS);

}  // namespace
