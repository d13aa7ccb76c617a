// What the C++ benchmark programs (weft-bench, boost-fiber-bench, procs-bench) share
// about their scenarios: the size each runs at by default, the resident-set
// reading of `parked`, and the one output line weft-compare parses
// (weft_compare.cpp, design note 1).
// bench/go/main.go carries the same table and line, written out again in
// Go: change them together.
//
// Plain C++20 and POSIX; no weft, no Boost.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <string>
#include <string_view>

namespace bench {

// The problem size of scenario s when no --n is given; 0 if s is not one of
// the scenarios (idle is weft-bench's alone).
inline long default_n(std::string_view s) {
  if (s == "skynet" || s == "yield" || s == "pingpong") return 1'000'000;
  if (s == "spsc" || s == "mpmc" || s == "select2" || s == "select2b" || s == "mutex") return 1'000'000;
  if (s == "spawn" || s == "parked") return 100'000;
  if (s == "idle") return 5'000;
  if (s == "sieve" || s == "fileio") return 1'000;
  if (s == "workerpool") return 100'000;
  if (s == "cpusplit") return 1'000'000;
  if (s == "latency" || s == "allofsleep" || s == "scale") return 10'000;
  // The seed's exercises.
  if (s == "onetask" || s == "pool") return 10'000;
  if (s == "allofcpu" || s == "allofnet" || s == "disk") return 1'000;
  return 0;
}

// The process's resident set now, in bytes (/proc/self/statm), or 0 if it
// cannot be read.
inline long resident_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * sysconf(_SC_PAGESIZE);
}

// Prints, and flushes, the result line on stdout:
//   weft-bench: scenario=S model=M workers=W n=N result=R elapsed_ns=T ops=K[ EXTRA]
// where extra (empty, or more space-separated key=value words) comes last;
// words whose key starts with "stats." are the runtime's counters
// (weft-bench under WEFT_BENCH_STATS), which weft-compare --stats prints.
inline void print_result_line(std::string_view scenario, std::string_view model, long workers, long n, long result,
                              long long elapsed_ns, long ops, const std::string& extra = "") {
  std::printf("weft-bench: scenario=%.*s model=%.*s workers=%ld n=%ld result=%ld elapsed_ns=%lld ops=%ld%s%s\n",
              static_cast<int>(scenario.size()), scenario.data(), static_cast<int>(model.size()), model.data(),
              workers, n, result, elapsed_ns, ops, extra.empty() ? "" : " ", extra.c_str());
  std::fflush(stdout);
}

}  // namespace bench
