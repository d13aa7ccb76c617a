// What weft-compare knows about one (scenario, model) pair after running
// it: shared by the runner (weft_compare.cpp), the tables (report.cpp) and
// the plots (plots.cpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace weft_compare {

// One run of a benchmark program, parsed from its `weft-bench:` line.
struct run_record {
  long elapsed_ns = 0;
  long ops = 0;
  long result = 0;
  long max_rss_kib = 0;
  std::optional<long> bytes_per_task;
  std::string variant;  // optional `variant=` of the benchmark line
};

enum class row_status { ok, wrong_result, failed, not_applicable };

struct row {
  std::string scenario;
  std::string model;
  std::string sweep;  // the scaling sweep this row belongs to ("scale"), or empty
  long n = 0;
  long expected = 0;
  row_status status = row_status::ok;
  std::string note;  // the result-check cell: "ok", "FAILED (...)", "failed (...)", "n/a..."
  std::vector<run_record> runs;
  // Summary, valid when !runs.empty() and status is ok or wrong_result:
  double median_ns = 0, min_ns = 0, max_ns = 0, ns_per_op = 0, rss_mib = 0;
  std::optional<double> bytes_per_task;

  bool has_numbers() const {
    return !runs.empty() && (status == row_status::ok || status == row_status::wrong_result);
  }
};

// The circumstances of a run, printed above the tables.
struct run_info {
  long nproc = 0;
  std::string cpu, kernel, compiler, commit, date;
  double rss_floor_mib = 0;  // peak RSS of fork + exec of /bin/true
  std::string mode;          // quick, normal or full
  double wall_s = 0;         // the whole run, start-up of every child included
  int workers = 0, runs = 0, timeout_s = 0;
  std::string weft_bench, boost_fiber_bench, go_bench;  // the programs run
};

// report.cpp: results.md (the tables, also printed) and results.json.
std::string markdown(const run_info& info, const std::vector<row>& rows);
std::string json(const run_info& info, const std::vector<row>& rows);
// printf-style formatting of one number; 1234567 -> "1.2M", 11111 -> "11k".
std::string fmt(const char* format, double v);
std::string human_count(long v);

// Writes time.png, memory.png and scaling.png (and the gnuplot script and
// data files that make them) into `dir`, by running gnuplot. `models` gives
// the order of the lines and bars; `subtitle` goes under every title.
// Returns false, with the reason in `why`, if gnuplot is missing or failed.
bool write_plots(const std::string& dir, const std::vector<row>& rows,
                 const std::vector<std::string>& models, const std::string& subtitle,
                 std::string& why);

}  // namespace weft_compare
