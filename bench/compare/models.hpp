// weft-compare's model registry: every concurrency model it compares, the
// program that runs it, how that program is found, and which scenarios and
// sizes the model gets (models.cpp).
//
// Design notes
// 1. Every model is a (program, --model=) pair that follows one contract
//    (docs/claims.md, "The programs"): `<program> <scenario> --model=<m>
//    --workers=W --n=N [--addr=HOST:PORT]` prints one `weft-bench:` line and
//    exits 0; exit 3 with `not expressible: <why>` on stderr when the model
//    cannot express the scenario; exit 2 for a scenario the program does not
//    know. weft-compare shows both as n/a with the program's reason (exit 2
//    names the program: it is the program's gap, not the model's).
// 2. Programs are looked for in the build tree next to weft-compare (the
//    compiled ones) or run by Debian's interpreter from the source tree
//    (/usr/bin/python3 bench/python/pybench.py, /usr/bin/node
//    bench/node/nodebench.js). A program or toolchain that is absent makes
//    the model's cells "n/a: not installed (...)", never a failure.
// 3. Sizes by class (scenarios.hpp): `fast` models (fibers, goroutines,
//    Tokio tasks) run a scenario at its n; `thread` models (one OS thread
//    per task) at threads_n; `script` models (an interpreter's event loop or
//    threads) at script_n; `heavy` models (a process or a worker_thread per
//    task, or a process pool) at heavy_n. A size of 0 means no row. The
//    table always shows the n a row ran at.
// 4. The six models weft-compare started with run every scenario of
//    kScenarios; the others run the exercises and the scenarios the
//    contract adds them to (skynet, spawn, pingpong, cpusplit, latency,
//    fileio, scale), where their class has a size.
#pragma once

#include <string>
#include <vector>

#include "scenarios.hpp"

namespace weft_compare {

enum class model_id {
  weft_mn, weft_n1, threads, condvar, boost_fiber, boost_fiber_spin, go,
  tokio, rust_threads,
  py_asyncio, py_threading, py_multiprocessing,
  node_promises, node_workers,
  proc_fork, proc_pool,
};

enum class model_class { fast, thread, script, heavy };

struct model_info {
  model_id id;
  const char* name;  // as shown in the table
  const char* key;   // as given to --models
  const char* group; // --models also accepts this, selecting the group
  model_class cls;
  bool all_scenarios;  // note 4: one of the original six
};

inline constexpr model_info kModels[] = {
    {model_id::weft_mn, "weft M:N", "weft-mn", "weft", model_class::fast, true},
    {model_id::weft_n1, "weft N:1", "weft-n1", "weft", model_class::fast, true},
    {model_id::threads, "1:1 threads", "threads", "cpp-threads", model_class::thread, true},
    {model_id::condvar, "1:1 mutex+condvar", "condvar", "cpp-threads", model_class::thread, true},
    {model_id::boost_fiber, "Boost.Fiber", "boost-fiber", "boost", model_class::fast, true},
    {model_id::boost_fiber_spin, "Boost.Fiber spin", "boost-fiber-spin", "boost", model_class::fast, false},
    {model_id::go, "Go", "go", "go", model_class::fast, true},
    {model_id::tokio, "Rust Tokio", "tokio", "rust", model_class::fast, false},
    {model_id::rust_threads, "Rust threads", "rust-threads", "rust", model_class::thread, false},
    {model_id::py_asyncio, "Python asyncio", "asyncio", "python", model_class::script, false},
    {model_id::py_threading, "Python threading", "py-threading", "python", model_class::script, false},
    {model_id::py_multiprocessing, "Python multiprocessing", "multiprocessing", "python", model_class::heavy, false},
    {model_id::node_promises, "Node promises", "node-promises", "node", model_class::script, false},
    {model_id::node_workers, "Node worker_threads", "node-workers", "node", model_class::heavy, false},
    {model_id::proc_fork, "C++ fork", "fork", "procs", model_class::heavy, false},
    {model_id::proc_pool, "C++ process pool", "procpool", "procs", model_class::heavy, false},
};

// The benchmark programs (note 2). Empty fields are searched for.
struct programs {
  std::string weft, boost_fiber, go, rust, procs;  // executables
  std::string python, pybench;                     // interpreter, script
  std::string node, nodebench;
};

// Fills the empty fields of `given` with the default locations (next to
// this executable; the interpreters in /usr/bin, their scripts in the
// source tree weft-compare was built from).
programs locate_programs(const programs& given);

// The size `m` runs `s` at in `mode` (note 3), or 0 for no row (note 4).
long model_size(const model_info& m, const scenario_spec& s, size_mode mode);

// The command line of one run of `m` on `s` at size n, or empty with the
// reason ("n/a: not installed (...)") in why_not. `addr` is the HTTP
// server for allofnet (empty otherwise).
std::vector<std::string> model_command(const model_info& m, const scenario_spec& s, long n, int workers,
                                       const std::string& addr, const programs& p, std::string& why_not);

// Whether `m` is selected by --models (`selected` empty: all).
bool model_selected(const model_info& m, const std::vector<std::string>& selected);

// Whether `name` is a key or group of kModels (for --models checking).
bool is_model_name(const std::string& name);

// The names --models accepts, for the usage text.
std::string model_name_list();

// Why the model cannot run s at n on this machine before anything starts
// (thread or process limits, the Boost.Fiber memory budget), or empty.
std::string model_unable(const model_info& m, const scenario_spec& s, long n);

}  // namespace weft_compare
