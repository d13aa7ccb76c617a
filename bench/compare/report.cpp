// weft-compare's tables: results.md (also printed) and results.json, made
// from the rows of a run.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "results.hpp"

namespace weft_compare {

// printf-style formatting of one number.
std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// 1234567 -> "1.2M", 11111 -> "11k".
std::string human_count(long v) {
  if (v >= 1'000'000) return fmt("%.1fM", static_cast<double>(v) / 1e6);
  if (v >= 1'000) return std::to_string(v / 1'000) + "k";
  return std::to_string(v);
}

namespace {

// Milliseconds with about three significant digits.
std::string ms(double ns) {
  const double v = ns / 1e6;
  return fmt(v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : v >= 1 ? "%.2f" : "%.3f", v);
}

// A cell's n/a reason, short enough for a sweep table's column.
std::string short_note(const std::string& note) {
  for (const char* kind :
       {"not installed", "not implemented", "not expressible", "thread limit", "no HTTP server", "skipped"})
    if (note.find(kind) != std::string::npos) return std::string("n/a: ") + kind;
  return note.substr(0, note.find(" ("));
}

// One sweep again (the scaling sweep, an exercise), one line per model and
// one column per size: "median ms / peak RSS MiB", or why there is no number.
std::string sweep_table(const std::vector<row>& rows, const std::string& sweep, const std::string& title) {
  std::vector<long> sizes;
  std::vector<std::string> models;
  for (const auto& r : rows) {
    if (r.sweep != sweep) continue;
    if (std::find(sizes.begin(), sizes.end(), r.n) == sizes.end()) sizes.push_back(r.n);
    if (std::find(models.begin(), models.end(), r.model) == models.end()) models.push_back(r.model);
  }
  if (sizes.empty()) return "";
  std::sort(sizes.begin(), sizes.end());
  std::ostringstream md;
  md << "\n## " << title << " (median ms / peak RSS MiB)\n\n| model |";
  for (const long n : sizes) md << " " << human_count(n) << " |";
  md << "\n|---|";
  for (std::size_t i = 0; i < sizes.size(); ++i) md << "---:|";
  md << "\n";
  for (const auto& m : models) {
    md << "| " << m << " |";
    for (const long n : sizes) {
      const auto it = std::find_if(rows.begin(), rows.end(), [&](const row& r) {
        return r.sweep == sweep && r.model == m && r.n == n;
      });
      if (it == rows.end()) {
        md << " - |";
      } else if (it->status == row_status::ok) {
        md << " " << ms(it->median_ns) << " / " << fmt("%.1f", it->rss_mib) << " |";
      } else if (it->status == row_status::not_applicable) {
        md << " " << short_note(it->note) << " |";
      } else {
        md << " " << (it->status == row_status::failed ? "failed" : "FAILED") << " |";
      }
    }
    md << "\n";
  }
  return md.str();
}

// The exercises' sweeps (scenarios.hpp), in table order, with what each
// task does.
struct exercise_title {
  const char* sweep;
  const char* title;
};
constexpr exercise_title kExerciseTitles[] = {
    {"onetask", "Exercise onetask: n tasks one after another, each started and awaited"},
    {"allofcpu", "Exercise allofcpu: n tasks at once, each counting the primes among 1,000 numbers"},
    {"allofsleep", "Exercise allofsleep: n tasks at once, each sleeping 50-200 ms"},
    {"allofnet", "Exercise allofnet: n tasks at once, each one HTTP request on its own connection"},
    {"pool", "Exercise pool: 8 workers fed n jobs (even: 100 numbers' primes, odd: 1 ms sleep)"},
    {"disk", "Exercise disk: n tasks at once, each writing and reading back a 16 KiB file"},
};

// The claims section: every claim, its rule, its verdict and the cells read.
std::string claims_section(const std::vector<claim_result>& claims) {
  std::ostringstream md;
  md << "\n## Claims of the seed documents (docs/claims.md), judged by this run\n\n"
     << "Each verdict comes from the rule under it, applied to this run's cells (result checked ok); "
        "\"not measured\" when a cell it needs is missing.\n";
  for (const auto& c : claims) {
    md << "\n### \"" << c.claim << "\": " << c.verdict << "\n\n- rule (" << c.id << "): " << c.rule
       << "\n- " << c.why << "\n";
    if (!c.cells.empty()) {
      md << "- cells:";
      for (std::size_t i = 0; i < c.cells.size(); ++i) md << (i ? "; " : " ") << c.cells[i];
      md << "\n";
    }
  }
  return md.str();
}

// Microseconds as "870 us" or "1.23 ms".
std::string latency(double us) {
  return us >= 1000 ? fmt(us >= 100'000 ? "%.0f ms" : us >= 10'000 ? "%.1f ms" : "%.2f ms", us / 1000)
                    : fmt(us >= 100 ? "%.0f us" : "%.1f us", us);
}

// 123456.7 -> "123k", 1234.5 -> "1.23k".
std::string rate(double v) {
  if (v >= 1e6) return fmt("%.2fM", v / 1e6);
  if (v >= 1e5) return fmt("%.0fk", v / 1e3);
  if (v >= 1e4) return fmt("%.1fk", v / 1e3);
  if (v >= 1e3) return fmt("%.2fk", v / 1e3);
  return fmt("%.0f", v);
}

// The network rows (net_scenarios.cpp): one line per (scenario, model),
// then the same figures with the models as columns.
std::string network_tables(const run_info& mi, const std::vector<row>& rows) {
  std::vector<const row*> net;
  for (const auto& r : rows)
    if (r.network) net.push_back(&r);
  if (net.empty()) return "";
  std::ostringstream md;
  md << "\n## Network: servers on 127.0.0.1 under load\n\n"
     << "Client and server share the machine's " << mi.nproc << " cores; servers run with "
     << mi.workers << " workers (weft N:1: one; 1:1 threads: one thread per connection); wrk -t1. "
     << "http-*: `wrk -t1 -c<conns> -d" << mi.net_seconds << "s --latency` against a minimal "
     << "HTTP/1.1 keep-alive responder (http-10k: at least 5 s); echo: echo-client, 64-byte round trips for " << mi.net_seconds
     << " s; idle-conns: echo-client --idle holds the connections open after one round trip, and "
     << "the server's RSS per connection is (VmRSS while held - VmRSS before) / connections. "
     << "Median of " << mi.net_runs << (mi.net_runs == 1 ? " run" : " runs") << " (min-max of the rate); p50/p99 from the load generator, "
     << "medians over the runs; peak RSS: the server's VmHWM before it was stopped; server CPU per "
     << "request: its user + system time during the load / requests answered (all its threads; the "
     << "figure the machine's other load disturbs least).\n"
     << "- load generators: wrk " << mi.wrk << "; echo-client " << mi.echo_client
     << "; tokio-bench " << mi.tokio_bench << "\n\n"
     << "| scenario | model | conns | req/s or round trips/s | min | max | p50 | p99 "
        "| server CPU per req (us) | server peak RSS (MiB) | RSS per idle conn (bytes) | RSS with conns (MiB) "
        "| result |\n"
     << "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const row* r : net) {
    md << "| " << r->scenario << " | " << r->model << " | " << r->n << " | ";
    if (r->has_numbers() && r->bytes_per_conn) {
      md << "- | - | - | - | - | - | " << fmt("%.1f", r->rss_mib) << " | " << fmt("%.0f", *r->bytes_per_conn)
         << " | " << fmt("%.1f", r->idle_rss_mib) << " | ";
    } else if (r->has_numbers()) {
      md << rate(r->rate) << " | " << rate(r->min_rate) << " | " << rate(r->max_rate) << " | "
         << latency(r->p50_us) << " | " << latency(r->p99_us) << " | "
         << (r->cpu_us_per_op > 0 ? fmt("%.1f", r->cpu_us_per_op) : "-") << " | " << fmt("%.1f", r->rss_mib)
         << " | - | - | ";
    } else {
      md << "- | - | - | - | - | - | - | - | - | ";
    }
    md << r->note << " |\n";
  }

  // The same, one line per scenario.
  std::vector<std::string> models, scenarios;
  for (const row* r : net) {
    if (std::find(models.begin(), models.end(), r->model) == models.end()) models.push_back(r->model);
    if (std::find(scenarios.begin(), scenarios.end(), r->scenario) == scenarios.end())
      scenarios.push_back(r->scenario);
  }
  md << "\nBy model: req/s (round trips/s) / p99 / server CPU us per request / server peak MiB; idle-conns: "
        "bytes per connection / MiB with the connections held.\n\n| scenario |";
  for (const auto& m : models) md << " " << m << " |";
  md << "\n|---|";
  for (std::size_t i = 0; i < models.size(); ++i) md << "---:|";
  md << "\n";
  for (const auto& sc : scenarios) {
    md << "| " << sc << " |";
    for (const auto& m : models) {
      const auto it = std::find_if(net.begin(), net.end(), [&](const row* r) { return r->scenario == sc && r->model == m; });
      if (it == net.end()) {
        md << " - |";
      } else if ((*it)->has_numbers() && (*it)->bytes_per_conn) {
        md << " " << fmt("%.0f", *(*it)->bytes_per_conn) << " B / " << fmt("%.1f", (*it)->idle_rss_mib) << " |";
      } else if ((*it)->has_numbers()) {
        md << " " << rate((*it)->rate) << " / " << latency((*it)->p99_us) << " / "
           << ((*it)->cpu_us_per_op > 0 ? fmt("%.1f", (*it)->cpu_us_per_op) : "-") << " us / "
           << fmt("%.1f", (*it)->rss_mib) << " |";
      } else if ((*it)->status == row_status::not_applicable) {
        md << " " << (*it)->note.substr(0, (*it)->note.find(" (")) << " |";
      } else {
        md << " failed |";
      }
    }
    md << "\n";
  }
  return md.str();
}

}  // namespace

std::string markdown(const run_info& mi, const std::vector<row>& rows) {
  std::ostringstream md;
  md << "# weft-compare results\n\n"
     << "- machine: " << mi.nproc << " CPUs, " << mi.cpu << ", " << mi.kernel << "\n"
     << "- compiler (of weft-compare): " << mi.compiler << "\n"
     << "- commit: " << mi.commit << ", date: " << mi.date << "\n"
     << "- sizes: --" << mi.mode << ", workers: " << mi.workers << ", runs per cell: " << mi.runs
     << ", timeout: " << mi.timeout_s << " s, whole run: " << fmt("%.0f", mi.wall_s) << " s\n"
     << "- binaries: weft-bench " << mi.weft_bench << "; boost-fiber-bench " << mi.boost_fiber_bench
     << "; go-bench " << mi.go_bench << "; rust-bench " << mi.rust_bench << "; procs-bench " << mi.procs_bench
     << "; Python: " << mi.python << "; Node: " << mi.node << "\n"
     << "- time span: every program times its workload only, from after its runtime (scheduler, event "
        "loop, interpreter, process pool) has started and the untimed setup is done, to the last result; "
        "the same for every model. \"wall (ms)\" is the whole process instead, fork to exit, start-up "
        "included\n"
     << "- Boost.Fiber: work_stealing with suspend=true (idle workers sleep on a condition variable); "
        "\"Boost.Fiber spin\": suspend=false (idle workers spin), on the scenarios where workers go idle; "
        "its stack allocator is the one bench/boost_fiber/boost_fiber_bench.cpp's design notes name; "
        "any other variant is in the result column\n"
     << (mi.http_server.empty() ? "" : "- allofnet's HTTP server, one for every model: " + mi.http_server + "\n")
     << "- peak RSS floor (fork + exec of /bin/true): " << fmt("%.1f", mi.rss_floor_mib)
     << " MiB\n\n";
  const bool plain = std::any_of(rows.begin(), rows.end(), [](const row& r) { return !r.network; });
  if (plain)
    md << "| scenario | model | n | median (ms) | min (ms) | max (ms) | ns/op | wall (ms) | peak RSS (MiB) "
          "| bytes/task | result |\n"
       << "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto& r : rows) {
    if (r.network) continue;  // their own table, below
    md << "| " << r.scenario << " | " << r.model << " | " << r.n << " | ";
    if (r.has_numbers()) {
      md << ms(r.median_ns) << " | " << ms(r.min_ns) << " | " << ms(r.max_ns) << " | "
         << fmt("%.1f", r.ns_per_op) << " | " << ms(r.wall_ns) << " | " << fmt("%.1f", r.rss_mib) << " | "
         << (r.bytes_per_task ? fmt("%.0f", *r.bytes_per_task) : "") << " | ";
    } else {
      md << "- | - | - | - | - | - | - | ";
    }
    md << r.note << " |\n";
  }
  md << sweep_table(rows, "scale", "Scaling sweep: n tasks alive at once");
  for (const auto& e : kExerciseTitles) md << sweep_table(rows, e.sweep, e.title);
  if (plain) md << claims_section(judge_claims(rows, mi));
  if (std::any_of(rows.begin(), rows.end(), [](const row& r) { return !r.runs.empty() && !r.runs.back().stats.empty(); })) {
    md << "\n## Runtime counters (--stats: weft::stats() of each weft row's last run)\n\n";
    for (const auto& r : rows)
      if (!r.runs.empty() && !r.runs.back().stats.empty())
        md << "- " << r.scenario << " / " << r.model << ": " << r.runs.back().stats << "\n";
  }
  if (!plain) return md.str() + network_tables(mi, rows);

  // Ratios: weft M:N against the references, per scenario, when both are ok;
  // and 1:1 threads over weft::chan against 1:1 threads over mutex+condvar.
  md << "\n## Ratios (weft M:N / reference; below 1 means weft is faster or smaller)\n\n"
     << "The last column compares the two 1:1 rows instead: ns/op of 1:1 threads over "
        "weft::chan / ns/op of 1:1 threads over mutex+condvar.\n\n"
     << "| scenario | time vs Go | RSS vs Go | time vs Boost.Fiber | RSS vs Boost.Fiber "
        "| 1:1 weft::chan vs mutex+condvar |\n"
     << "|---|---:|---:|---:|---:|---:|\n";
  auto find = [&](const std::string& scenario, const char* model) -> const row* {
    for (const auto& r : rows) {
      if (r.scenario == scenario && r.model == model && r.status == row_status::ok) return &r;
    }
    return nullptr;
  };
  std::vector<std::string> seen;
  for (const auto& r : rows) {
    // The exercises' sweeps have their own tables (above).
    if (r.network || (!r.sweep.empty() && r.sweep != "scale") ||
        std::find(seen.begin(), seen.end(), r.scenario) != seen.end())
      continue;
    seen.push_back(r.scenario);
    const row* mn = find(r.scenario, "weft M:N");
    auto ratio = [&](const row* ref, bool time) -> std::string {
      if (!mn || !ref) return "-";
      return fmt("%.3g", time ? mn->median_ns / ref->median_ns : mn->rss_mib / ref->rss_mib);
    };
    const row* go = find(r.scenario, "Go");
    const row* bfb = find(r.scenario, "Boost.Fiber");
    const row* threads = find(r.scenario, "1:1 threads");
    const row* condvar = find(r.scenario, "1:1 mutex+condvar");
    const std::string chan_vs_condvar =
        threads && condvar ? fmt("%.3g", threads->ns_per_op / condvar->ns_per_op) : "-";
    md << "| " << r.scenario << " | " << ratio(go, true) << " | " << ratio(go, false) << " | "
       << ratio(bfb, true) << " | " << ratio(bfb, false) << " | " << chan_vs_condvar << " |\n";
  }
  md << network_tables(mi, rows);
  return md.str();
}

namespace {

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string json_number(double v) { return std::isfinite(v) ? fmt("%.15g", v) : "null"; }

}  // namespace

std::string json(const run_info& mi, const std::vector<row>& rows) {
  std::ostringstream js;
  js << "{\n  \"machine\": {\"nproc\": " << mi.nproc << ", \"cpu\": " << json_string(mi.cpu)
     << ", \"kernel\": " << json_string(mi.kernel) << "},\n"
     << "  \"compiler\": " << json_string(mi.compiler) << ",\n"
     << "  \"commit\": " << json_string(mi.commit) << ",\n"
     << "  \"date\": " << json_string(mi.date) << ",\n"
     << "  \"mode\": " << json_string(mi.mode) << ", \"wall_s\": " << json_number(mi.wall_s) << ",\n"
     << "  \"workers\": " << mi.workers << ", \"runs\": " << mi.runs
     << ", \"timeout_s\": " << mi.timeout_s << ",\n"
     << "  \"rss_floor_mib\": " << json_number(mi.rss_floor_mib) << ",\n  \"results\": [";
  const char* status_names[] = {"ok", "wrong_result", "failed", "n/a"};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const row& r = rows[i];
    js << (i ? ",\n" : "\n") << "    {\"scenario\": " << json_string(r.scenario)
       << ", \"model\": " << json_string(r.model) << ", \"sweep\": " << json_string(r.sweep)
       << ", \"n\": " << r.n
       << ", \"expected\": " << r.expected
       << ", \"status\": " << json_string(status_names[static_cast<int>(r.status)])
       << ", \"note\": " << json_string(r.note);
    if (r.has_numbers() && r.network) {
      js << ", \"network\": true, \"rate\": " << json_number(r.rate)
         << ", \"min_rate\": " << json_number(r.min_rate) << ", \"max_rate\": " << json_number(r.max_rate)
         << ", \"p50_us\": " << json_number(r.p50_us) << ", \"p99_us\": " << json_number(r.p99_us)
         << ", \"errors\": " << r.errors << ", \"cpu_us_per_op\": " << json_number(r.cpu_us_per_op)
         << ", \"peak_rss_mib\": " << json_number(r.rss_mib)
         << ", \"bytes_per_conn\": " << (r.bytes_per_conn ? json_number(*r.bytes_per_conn) : "null")
         << ", \"idle_rss_mib\": " << (r.bytes_per_conn ? json_number(r.idle_rss_mib) : "null");
    } else if (r.has_numbers()) {
      js << ", \"median_ns\": " << json_number(r.median_ns)
         << ", \"min_ns\": " << json_number(r.min_ns) << ", \"max_ns\": " << json_number(r.max_ns)
         << ", \"ns_per_op\": " << json_number(r.ns_per_op) << ", \"wall_ns\": " << json_number(r.wall_ns)
         << ", \"peak_rss_mib\": " << json_number(r.rss_mib) << ", \"bytes_per_task\": "
         << (r.bytes_per_task ? json_number(*r.bytes_per_task) : "null");
    }
    js << ", \"runs\": [";
    for (std::size_t k = 0; k < r.runs.size(); ++k) {
      const run_record& run = r.runs[k];
      if (run.net) {
        const net_record& n = *run.net;
        js << (k ? ", " : "") << "{\"rate\": " << json_number(n.rate) << ", \"p50_us\": " << json_number(n.p50_us)
           << ", \"p99_us\": " << json_number(n.p99_us) << ", \"errors\": " << n.errors << ", \"ops\": " << n.ops
           << ", \"server_cpu_s\": " << json_number(n.server_cpu_s)
           << ", \"server_peak_kib\": " << n.server_peak_kib;
        if (n.conns > 0)
          js << ", \"conns\": " << n.conns << ", \"rss_before_kib\": " << n.rss_before_kib
             << ", \"rss_with_kib\": " << n.rss_with_kib;
        js << "}";
        continue;
      }
      js << (k ? ", " : "") << "{\"elapsed_ns\": " << run.elapsed_ns << ", \"ops\": " << run.ops
         << ", \"result\": " << run.result << ", \"max_rss_kib\": " << run.max_rss_kib
         << ", \"wall_ns\": " << run.wall_ns;
      if (run.bytes_per_task) js << ", \"bytes_per_task\": " << *run.bytes_per_task;
      if (!run.variant.empty()) js << ", \"variant\": " << json_string(run.variant);
      js << "}";
    }
    js << "]}";
  }
  js << "\n  ],\n  \"claims\": [";
  const auto claims = judge_claims(rows, mi);
  for (std::size_t i = 0; i < claims.size(); ++i) {
    const claim_result& c = claims[i];
    js << (i ? ",\n" : "\n") << "    {\"id\": " << json_string(c.id) << ", \"claim\": " << json_string(c.claim)
       << ", \"rule\": " << json_string(c.rule) << ", \"verdict\": " << json_string(c.verdict)
       << ", \"why\": " << json_string(c.why) << ", \"cells\": [";
    for (std::size_t k = 0; k < c.cells.size(); ++k) js << (k ? ", " : "") << json_string(c.cells[k]);
    js << "]}";
  }
  js << "\n  ]\n}\n";
  return js.str();
}

}  // namespace weft_compare
