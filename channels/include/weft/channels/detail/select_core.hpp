// weft::detail select with a deadline, for select's timeout cases
// (on_timeout, on_deadline) and select_for / select_until. Implemented in
// channels/src/select.cpp over select_run's deadline.
#pragma once

#include <chrono>
#include <cstddef>

#include <weft/channels/detail/chan_core.hpp>

namespace weft::detail {

// As select_run, blocking until a case is ready or `deadline` passes
// (then kSelectTimeout; no case has run). A deadline that has already
// passed makes it a select with a default: a case ready at that moment
// runs, otherwise kSelectTimeout. With no channel cases (n == 0, or only
// nil channels) it sleeps until the deadline. No allocation beyond
// select_run's own (none for up to 8 cases), no timer channel, no other
// thread. Callable from fibers and plain threads.
long select_run_until(select_op* ops, std::size_t n, std::chrono::steady_clock::time_point deadline);

}  // namespace weft::detail
