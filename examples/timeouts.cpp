// 7. Timeouts and cancellation. CSP idea: a timeout is just one more channel
// in a select (weft::after delivers once, after a delay), and cancellation
// is a channel that gets closed (a context's done()), which every task
// selecting on it sees at once. Three scenes:
//  a. a call that waits for its reply at most a given time;
//  b. with_cancel over a tree of contexts: cancelling a group stops its
//     workers only, cancelling the root stops them all;
//  c. with_timeout: a deadline stops a job, and the child context inherits it.

#include <array>
#include <atomic>
#include <optional>

#include "model.hpp"

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

namespace {

// Calls a service that answers 42 after `latency`, waiting at most `limit`;
// empty on timeout. The reply channel has room for the answer, so a late
// reply never blocks the service after its caller has given up (the Go idiom
// that keeps an abandoned responder from leaking).
std::optional<int> call(const example::model& m, ms latency, ms limit) {
  auto reply = weft::make_chan<int>(1);
  m.start([reply, latency] {
    weft::sleep_for(latency);
    reply.send(42);
  });
  std::optional<int> got;
  weft::select(weft::on_recv(reply, [&](std::optional<int> v) { got = v; }), weft::on_recv(weft::after(limit), [] {}));
  return got;
}

// Works (one unit a millisecond) until ctx is cancelled; counts itself in
// `stopped` if the cause was a cancel.
void worker(weft::context ctx, std::atomic<int>& stopped, weft::wait_group& wg) {
  weft::ticker tick(1ms);
  for (bool done = false; !done;)
    weft::select(weft::on_recv(ctx.done(), [&] { done = true; }), weft::on_recv(tick.c(), [] {}));
  if (ctx.err() == weft::context_error::cancelled) stopped.fetch_add(1);
  wg.done();
}

}  // namespace

int main(int argc, char** argv) {
  const auto m = example::model::from_args(argc, argv);
  const bool ok = m.main_task([&] {
    // a. The fast call answers well within its limit; the slow one does not.
    const auto fast = call(m, 1ms, 5000ms), slow = call(m, 5000ms, 50ms);
    std::printf("timeouts (%s): fast call answered %d; slow call %s\n", m.name(), fast.value_or(-1),
                slow ? "answered" : "timed out after 50 ms");

    // b. root -> 3 groups -> 3 workers each.
    constexpr int groups = 3, per_group = 3;
    const auto root = weft::context::background().with_cancel();
    std::array<weft::context, groups> group{root.with_cancel(), root.with_cancel(), root.with_cancel()};
    std::array<weft::wait_group, groups> wg;
    std::atomic<int> stopped{0};
    for (int g = 0; g < groups; g++) {
      wg[g].add(per_group);
      for (int w = 0; w < per_group; w++)
        m.start([ctx = group[g], &stopped, &wg = wg[g]] { worker(ctx, stopped, wg); });
    }
    weft::sleep_for(20ms);
    group[0].cancel();
    wg[0].wait();
    const int after_group = stopped.load();  // group 0 only: the others still run
    root.cancel();
    for (auto& w : wg) w.wait();
    std::printf("timeouts (%s): cancelling group 0 stopped %d workers, cancelling the root %d in all\n", m.name(),
                after_group, stopped.load());

    // c. A job steps every 5 ms until its context ends; the context is a
    // child of one with a 30 ms deadline.
    const auto t0 = std::chrono::steady_clock::now();
    const auto parent = weft::context::background().with_timeout(30ms);
    const auto child = parent.with_cancel();
    auto finished = weft::make_chan<long>(1);
    m.start([child, finished] {
      long steps = 0;
      for (bool done = false; !done;)
        weft::select(weft::on_recv(child.done(), [&] { done = true; }),
                     weft::on_recv(weft::after(5ms), [&] { steps++; }));
      finished.send(steps);
    });
    const long steps = *finished.recv();
    const bool deadline = child.err() == weft::context_error::deadline_exceeded;
    std::printf("timeouts (%s): a job under a 30 ms deadline stopped after %ld steps at %.0f ms (%s)\n", m.name(),
                steps, example::ms_since(t0), deadline ? "deadline exceeded" : "not by its deadline");

    return fast == 42 && !slow && after_group == per_group && stopped == groups * per_group && deadline;
  });
  return ok ? 0 : 1;
}
