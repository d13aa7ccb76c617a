// What weft-compare asks of the system (system.cpp): finding the benchmark
// programs, describing the machine, running one child process.
#pragma once

#include <chrono>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

namespace weft_compare {

// The directory of this executable (the current directory if unknown).
std::filesystem::path self_dir();

// Whether path names an executable file (not a directory).
bool is_executable(const std::string& path);

// flag_value if given; else the first executable candidate; else the first
// candidate (for the error message).
std::string locate(const std::string& flag_value, std::initializer_list<std::filesystem::path> candidates);

// The number on the first line of a file such as /proc/sys/kernel/pid_max,
// or 0.
long read_long_file(const char* path);

// The machine and the build, for the report's header.
std::string cpu_model();   // /proc/cpuinfo's model name
std::string kernel();      // uname: system, release, machine
std::string git_commit();  // `git describe --always --dirty` of the source tree, or "unknown"
std::string utc_now();     // ISO 8601, seconds

// How one child process ended.
struct child_outcome {
  std::string failure;  // empty: exited 0 within the timeout
  std::string out;      // everything it wrote to stdout
  long max_rss_kib = 0;
  int exit_status = 0;  // when it exited (rather than crashed or timed out)
  long wall_ns = 0;     // fork to reap
  std::string err_tail; // the last line of its stderr
};

// fork/execv `argv`, capture stdout (and the tail of stderr for error
// messages), kill the child's process group after `timeout`. Never throws
// for the child's sake: every failure is in the outcome.
child_outcome run_child(const std::vector<std::string>& argv, std::chrono::seconds timeout);

}  // namespace weft_compare
