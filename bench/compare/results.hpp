// What weft-compare knows about one (scenario, model) pair after running
// it: shared by the runner (weft_compare.cpp), the tables (report.cpp) and
// the plots (plots.cpp).
#pragma once

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weft_compare {

// Why `live` threads at once exceed this machine's thread limits (pid_max,
// threads-max, vm.max_map_count, RLIMIT_NPROC, each with 10% kept for the
// rest of the system), as a table cell, or nullopt (weft_compare.cpp).
std::optional<std::string> thread_limit(long live);

// Last non-empty line of `text`, shortened for a table cell.
inline std::string last_line(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  const std::size_t nl = text.rfind('\n');
  std::string line(nl == std::string_view::npos ? text : text.substr(nl + 1));
  std::replace(line.begin(), line.end(), '|', '/');  // keep markdown cells intact
  if (line.size() > 80) line = line.substr(0, 77) + "...";
  return line;
}

// The median of a non-empty sample (the mean of the middle two when even).
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// What one run of a network cell measured (net_scenarios.cpp): the load
// generator's figures and the server's memory, read from /proc.
struct net_record {
  double rate = 0;                  // requests (http) or round trips (echo) per second
  double p50_us = 0, p99_us = 0;    // latency percentiles of the load generator
  long errors = 0;                  // socket errors, non-2xx answers, client errors
  long ops = 0;                     // requests (round trips) completed in the run
  double server_cpu_s = 0;          // CPU time (user + system) the server spent during the load
  long server_peak_kib = 0;         // VmHWM of the server just before it was stopped
  long conns = 0;                   // idle-conns: connections the client established
  long rss_before_kib = 0;          // idle-conns: VmRSS before any client connected
  long rss_with_kib = 0;            // idle-conns: VmRSS while the connections were held
};

// One run of a benchmark program, parsed from its `weft-bench:` line.
struct run_record {
  long elapsed_ns = 0;
  long ops = 0;
  long result = 0;
  long max_rss_kib = 0;
  std::optional<long> bytes_per_task;
  std::string variant;  // optional `variant=` of the benchmark line
  long workers = -1;    // the line's `workers=` (-1: absent)
  long wall_ns = 0;     // the whole process, fork to exit (start-up included)
  std::optional<net_record> net;  // a network cell's run (then the fields above are 0)
  std::string stats{};  // --stats: the line's stats.* words, without the prefix ("switches=12 ...")
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
  double wall_ns = 0;  // median whole-process wall time (fork to exit)
  std::optional<double> bytes_per_task;
  // A network row (net_scenarios.cpp): `n` is the number of connections,
  // the time fields above stay 0 and these hold the summary instead.
  bool network = false;
  double rate = 0, min_rate = 0, max_rate = 0;  // median, min, max over runs (0 for idle-conns)
  double p50_us = 0, p99_us = 0;                // medians over runs
  double cpu_us_per_op = 0;                     // median server CPU time per request (round trip)
  long errors = 0;                              // the most any run saw
  std::optional<double> bytes_per_conn;         // idle-conns: median (VmRSS with - before) / conns
  double idle_rss_mib = 0;                      // idle-conns: median VmRSS while the conns were held

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
  std::string rust_bench, procs_bench, python, node;     // the contract's other programs
  std::string http_server;  // allofnet's server, if it ran
  std::string tokio_bench, echo_client, wrk;             // network scenarios only
  bool network = false;   // network rows present: the report adds their notes
  int net_runs = 0;       // runs per network cell
  int net_seconds = 0;    // load duration of each network run
};

// net_scenarios.cpp: the network scenarios (http-100, http-1k, http-10k,
// echo, idle-conns). Each cell starts a server (weft-bench serve, go-bench
// serve-raw|serve-nethttp, tokio-bench), points a load generator (wrk,
// echo-client) at it and reads the server's memory from /proc.
struct net_options {
  std::string weft_bench, go_bench, tokio_bench, echo_client, wrk;
  int workers = 2;
  int runs = 5;      // --runs; --quick runs once unless --runs was given
  bool runs_given = false;
  int mode = 0;      // 0 quick, 1 normal, 2 full
  std::vector<std::string> scenarios;  // empty: all
};
// The names --scenarios accepts for network scenarios ("net" selects them all).
bool is_net_scenario(const std::string& name);
std::string net_scenario_list();  // for the usage text
// Runs the selected network scenarios; fills info's network fields.
std::vector<row> run_net_scenarios(const net_options& o, run_info& info);

// The one HTTP/1.1 server of the allofnet exercise, shared by every model
// (net_scenarios.cpp): go-bench serve-raw http when Go is built, else
// weft-bench serve http (M:N), on 127.0.0.1 with `workers` workers. It
// follows note 1 of net_scenarios.cpp (stdin EOF stops it) and answers
// `GET /` with a 200 and a Content-Length body. Not copyable.
class http_server {
 public:
  http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;
  ~http_server();  // stop()
  // Starts the server; false, with the reason in `error`, if none could be.
  bool start(const std::string& go_bench, const std::string& weft_bench, int workers, std::string& error);
  bool running() const;
  void stop();
  const std::string& addr() const { return addr_; }    // HOST:PORT while started
  const std::string& label() const { return label_; }  // which program, for the report

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::string addr_, label_;
};

// Raises this process's RLIMIT_NOFILE soft limit to the hard limit (every
// child inherits it: allofnet's clients and the load generators need one
// descriptor per connection).
void raise_fd_limit();

// claims.cpp: the seed documents' claims (docs/claims.md), each judged by
// a rule over the run's rows.
struct claim_result {
  std::string id;       // short name, as in docs/claims.md
  std::string claim;    // the claim, quoted
  std::string rule;     // what the rule compares
  std::string verdict;  // "held", "did not hold" or "not measured"
  std::string why;      // one line: the figures behind the verdict
  std::vector<std::string> cells;  // the cells read: "scenario / model: figure"
};
std::vector<claim_result> judge_claims(const std::vector<row>& rows, const run_info& info);

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
