// weft-compare's command line: the usage text and the parser.

#include "options.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iterator>

#include "models.hpp"
#include "results.hpp"

namespace weft_compare {

namespace {

[[noreturn]] void usage(int code) {
  std::fprintf(code == 0 ? stdout : stderr,
               "usage: weft-compare [--quick | --normal | --full] [--workers=W] [--runs=R]\n"
               "                    [--scenarios=a,b,c] [--models=a,b,c] [--timeout=SECONDS] [--out=DIR] [--stats]\n"
               "                    [--weft-bench=PATH] [--boost-fiber-bench=PATH] [--go-bench=PATH]\n"
               "                    [--rust-bench=PATH] [--procs-bench=PATH] [--python=PATH] [--node=PATH]\n"
               "                    [--pybench=SCRIPT] [--nodebench=SCRIPT]\n"
               "                    [--tokio-bench=PATH] [--echo-client=PATH] [--wrk=PATH]\n"
               "Runs each (scenario, model) R times as separate processes and prints\n"
               "markdown tables (median, min, max, ns/op, peak RSS, whole-process wall\n"
               "time), the exercise sweeps and the claims of docs/claims.md with their\n"
               "verdicts. Sizes: --quick (the default; R = 3 for the scenarios, 1 for the\n"
               "exercise sweeps and network cells unless --runs is given; a model's\n"
               "sweep stops where its last point predicts a run over 2 s; the network\n"
               "part runs http-1k, echo and idle-conns), --normal (R = 5, larger sizes,\n"
               "a 30 s budget), --full. --out=DIR also writes results.md,\n"
               "results.json and, with gnuplot, time.png, memory.png, scaling.png and\n"
               "exercise-<name>.png.\n"
               "Models (--models takes these names or groups): %s.\n"
               "A model whose program or toolchain is absent is shown \"not installed\".\n"
               "Compiled programs are looked for next to weft-compare (../weft-bench,\n"
               "../boost_fiber/, ../go/, ../rust/, ../procs/); Python and Node run\n"
               "/usr/bin/python3 and /usr/bin/node on the source tree's bench/python/pybench.py\n"
               "and bench/node/nodebench.js.\n"
               "Scenarios: skynet skynet-small spawn yield pingpong parked spsc mpmc\n"
               "select2 select2b mutex sieve workerpool cpusplit latency fileio, the sweep\n"
               "scale-100 ... scale-1M (--scenarios=scale), and the seed's exercises, each\n"
               "a sweep over the number of tasks: onetask allofcpu allofsleep allofnet\n"
               "pool disk (--scenarios=onetask selects its sweep, =exercises all six;\n"
               "a point alone: onetask-100). Network scenarios (servers on 127.0.0.1\n"
               "under wrk or echo-client; --scenarios=net selects them all, http the\n"
               "three http-*): %s. tokio-bench and echo-client are looked for in\n"
               "../tokio/ and ../, wrk on PATH.\n"
               "--stats prints the weft programs' runtime counters (weft::stats():\n"
               "switches, parks by reason, steals, ...) beside each run's time and in\n"
               "results.md.\n"
               "Exit status 1 if any cell failed or gave a wrong result.\n",
               model_name_list().c_str(), weft_compare::net_scenario_list().c_str());
  std::exit(code);
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t end = std::min(s.find(sep, start), s.size());
    if (end > start) parts.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}


}  // namespace

std::optional<long> parse_long(std::string_view s) {
  long v = 0;
  const auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (err != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

options parse_options(int argc, char** argv) {
  options o;
  auto positive = [](std::string_view flag, std::string_view value) {
    const auto v = parse_long(value);
    if (!v || *v < 1) {
      std::fprintf(stderr, "weft-compare: %.*s needs a positive integer\n",
                   static_cast<int>(flag.size()), flag.data());
      usage(2);
    }
    return static_cast<int>(*v);
  };
  // Flags that take a value accept both --flag=value and --flag value.
  constexpr std::string_view kValued[] = {"--weft-bench", "--boost-fiber-bench", "--go-bench",
                                          "--tokio-bench", "--echo-client",      "--wrk",
                                          "--workers",    "--runs",              "--timeout",
                                          "--out",        "--scenarios",         "--models",
                                          "--rust-bench", "--procs-bench",       "--python",
                                          "--node",       "--pybench",           "--nodebench"};
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const std::size_t eq = arg.find('=');
    const std::string_view key = arg.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? "" : arg.substr(eq + 1);
    if (eq == std::string_view::npos && i + 1 < argc &&
        std::find(std::begin(kValued), std::end(kValued), key) != std::end(kValued)) {
      value = argv[++i];
    }
    if (arg == "--help" || arg == "-h") {
      usage(0);
    } else if (arg == "--quick") {
      o.mode = size_mode::quick;
    } else if (arg == "--normal") {
      o.mode = size_mode::normal;
    } else if (arg == "--full") {
      o.mode = size_mode::full;
    } else if (arg == "--stats") {
      o.stats = true;
    } else if (key == "--weft-bench") {
      o.weft_bench = value;
    } else if (key == "--boost-fiber-bench") {
      o.boost_fiber_bench = value;
    } else if (key == "--go-bench") {
      o.go_bench = value;
    } else if (key == "--tokio-bench") {
      o.tokio_bench = value;
    } else if (key == "--echo-client") {
      o.echo_client = value;
    } else if (key == "--wrk") {
      o.wrk = value;
    } else if (key == "--workers") {
      o.workers = positive(key, value);
    } else if (key == "--runs") {
      o.runs = positive(key, value);
      o.runs_given = true;
    } else if (key == "--timeout") {
      o.timeout_s = positive(key, value);
    } else if (key == "--out") {
      o.out_dir = value;
    } else if (key == "--scenarios") {
      o.scenarios = split(value, ',');
    } else if (key == "--models") {
      o.models = split(value, ',');
    } else if (key == "--rust-bench") {
      o.rust_bench = value;
    } else if (key == "--procs-bench") {
      o.procs_bench = value;
    } else if (key == "--python") {
      o.python = value;
    } else if (key == "--node") {
      o.node = value;
    } else if (key == "--pybench") {
      o.pybench = value;
    } else if (key == "--nodebench") {
      o.nodebench = value;
    } else {
      std::fprintf(stderr, "weft-compare: unknown argument '%s'\n", argv[i]);
      usage(2);
    }
  }
  for (const auto& m : o.models) {
    if (!is_model_name(m)) {
      std::fprintf(stderr, "weft-compare: unknown model '%s'\n", m.c_str());
      usage(2);
    }
  }
  for (const auto& s : o.scenarios) {
    if (std::none_of(std::begin(kScenarios), std::end(kScenarios), [&](const scenario_spec& k) {
          return s == k.name || s == k.sweep || (s == "exercises" && k.exercise);
        }) && !weft_compare::is_net_scenario(s)) {
      std::fprintf(stderr, "weft-compare: unknown scenario '%s'\n", s.c_str());
      usage(2);
    }
  }
  return o;
}

}  // namespace weft_compare
