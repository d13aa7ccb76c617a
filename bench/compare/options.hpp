// weft-compare's command line (usage() lists every flag).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scenarios.hpp"

namespace weft_compare {

struct options {
  std::string weft_bench, boost_fiber_bench, go_bench;  // empty: search
  std::string tokio_bench, echo_client, wrk;            // network scenarios; empty: search
  std::string rust_bench, procs_bench, python, node;    // the other models' programs; empty: default
  std::string pybench, nodebench;                       // their scripts; empty: the source tree's
  std::vector<std::string> models;                      // --models: keys or groups; empty: all
  int workers = 2;
  int runs = 5;
  bool runs_given = false;  // --runs on the command line
  int timeout_s = 120;
  size_mode mode = size_mode::quick;
  std::vector<std::string> scenarios;  // empty: all
  std::string out_dir;                 // empty: no files
  bool stats = false;                  // --stats: weft's counters beside the times
};

// Parses the command line; prints the usage and exits on --help (status 0)
// or on anything it does not accept (status 2).
options parse_options(int argc, char** argv);

// s as a whole decimal number, or nullopt.
std::optional<long> parse_long(std::string_view s);

}  // namespace weft_compare
