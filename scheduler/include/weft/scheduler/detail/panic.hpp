// weft::detail panic: the report for an exception nobody will catch.
#pragma once

#include <cstdint>
#include <exception>
#include <source_location>

namespace weft::detail {

// Prints "weft: fiber <id> (spawned at <file>:<line>) terminated by an
// uncaught exception: <what>" to stderr and aborts: Go's panic. `error` is
// rethrown to read its what(); one not derived from std::exception is named
// as such. From anywhere.
[[noreturn]] void panic_with(std::uint64_t fiber_id, const std::source_location& site,
                             const std::exception_ptr& error) noexcept;

}  // namespace weft::detail
