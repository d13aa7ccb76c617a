// weft-compare's command line: the usage text and the parser.

#include "options.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iterator>

#include "results.hpp"

namespace weft_compare {

namespace {

[[noreturn]] void usage(int code) {
  std::fprintf(code == 0 ? stdout : stderr,
               "usage: weft-compare [--weft-bench=PATH] [--boost-fiber-bench=PATH]\n"
               "                    [--go-bench=PATH] [--tokio-bench=PATH] [--echo-client=PATH]\n"
               "                    [--wrk=PATH] [--workers=W] [--runs=R]\n"
               "                    [--scenarios=a,b,c] [--timeout=SECONDS] [--out=DIR]\n"
               "                    [--quick | --normal | --full] [--stats]\n"
               "Runs each (scenario, model) R times (default 5) as separate processes\n"
               "and prints a markdown table (median, min, max, peak RSS). Sizes: --quick\n"
               "(the default; under 3 minutes on 2 cores), --normal (about 10x), --full.\n"
               "--out=DIR (or --out DIR) also writes results.md, results.json and, with\n"
               "gnuplot, time.png, memory.png and scaling.png. Binaries not given by flag\n"
               "are looked for next to weft-compare: ../weft-bench, ./weft-bench,\n"
               "../boost_fiber/boost-fiber-bench, ./boost-fiber-bench, ../go/go-bench,\n"
               "./go-bench. Scenarios: skynet skynet-small spawn yield pingpong parked\n"
               "spsc mpmc select2 select2b mutex sieve workerpool cpusplit latency\n"
               "fileio scale-100 scale-1k scale-10k scale-100k scale-1M (not in --quick);\n"
               "--scenarios=scale selects the whole sweep. Network scenarios (servers on\n"
               "127.0.0.1 under wrk or echo-client; --scenarios=net selects them all, http\n"
               "the three http-*): %s; at most 3 runs\n"
               "of 2 s in --quick. tokio-bench and echo-client are looked for in ../tokio/\n"
               "and ../, wrk on PATH.\n"
               "--stats prints the weft programs' runtime counters (weft::stats():\n"
               "switches, parks by reason, steals, ...) beside each run's time and in\n"
               "results.md.\n"
               "Exit status 1 if any cell failed or gave a wrong result.\n",
               weft_compare::net_scenario_list().c_str());
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
                                          "--out",        "--scenarios"};
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
    } else {
      std::fprintf(stderr, "weft-compare: unknown argument '%s'\n", argv[i]);
      usage(2);
    }
  }
  for (const auto& s : o.scenarios) {
    if (std::none_of(std::begin(kScenarios), std::end(kScenarios), [&](const scenario_spec& k) {
          return s == k.name || s == k.sweep;
        }) && !weft_compare::is_net_scenario(s)) {
      std::fprintf(stderr, "weft-compare: unknown scenario '%s'\n", s.c_str());
      usage(2);
    }
  }
  return o;
}

}  // namespace weft_compare
