// The fiber dump (dump.cpp): the listing of every registered fiber with
// the backtrace of where it is parked, for weft::dump_fibers(), the SIGQUIT
// dump (dump_signal.cpp) and the deadlock report (deadlock.cpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace weft::detail {

struct runtime;

// How the dump may read the fibers it lists.
enum class dump_world {
  // Fibers may be running and moving: fields and stacks are read through
  // process_vm_readv (a snapshot that may be stale, never a fault).
  moving,
  // Nothing moves (the deadlock detector has seen every worker idle and
  // no fiber resumed for its grace period): plain reads are safe too.
  still,
};

// The listing of rt's registered fibers, one per id, each with its frames.
// From a plain thread or a worker's scheduling loop, never on a fiber's
// stack (the unwinder and symbolizer need more stack than a fiber may
// have; weft::dump_fibers moves the work to a helper thread).
std::string describe_fibers_with_frames(runtime& rt, dump_world world);

// Helper threads the dump machinery runs (the SIGQUIT thread, a
// dump_fibers helper): the deadlock detector counts them as accounted for.
extern std::atomic<std::int64_t> g_dump_threads;

// SIGQUIT (dump_signal.cpp): installs the handler and starts the dump
// thread if rt's options and WEFT_SIGQUIT ask for it and the program has no
// SIGQUIT handler of its own; stop undoes what start did. From run_runtime
// only.
void dump_signal_start(runtime& rt);
void dump_signal_stop(runtime& rt);

}  // namespace weft::detail
