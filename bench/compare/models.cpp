// The model registry of models.hpp: where each program is, the command line
// of one run, the size a model runs a scenario at.

#include "models.hpp"

#include <algorithm>
#include <filesystem>
#include <string_view>

#include "results.hpp"
#include "system.hpp"

namespace weft_compare {

namespace fs = std::filesystem;

namespace {

// The source tree's bench/ (for the interpreted programs' scripts): this
// file's directory when weft-compare was built, else next to the binary.
fs::path bench_source_dir() {
#ifdef WEFT_COMPARE_SOURCE_DIR
  return fs::path(WEFT_COMPARE_SOURCE_DIR).parent_path();
#else
  return self_dir() / ".." / ".." / ".." / "bench";
#endif
}

// note 4: the scenarios the contract adds the new models to, by program.
bool contract_scenario(std::string_view program) {
  constexpr std::string_view kAdded[] = {"skynet", "spawn", "pingpong", "cpusplit", "latency", "fileio", "scale"};
  return std::find(std::begin(kAdded), std::end(kAdded), program) != std::end(kAdded);
}

// Boost.Fiber spin: the scenarios where an idle worker's spinning matters
// (a worker waits for work while another runs). --quick leaves out
// pingpong (Boost.Fiber takes over 10 s a run there on a loaded machine)
// and the exercises, to keep the README's command short.
bool spin_scenario(const scenario_spec& s, size_mode mode) {
  constexpr std::string_view kIdleBound[] = {"skynet", "spawn", "pingpong", "mpmc", "workerpool", "cpusplit"};
  const std::string_view p = s.program;
  if (mode == size_mode::quick && (s.exercise || p == "pingpong")) return false;
  if (s.exercise) return true;
  return std::find(std::begin(kIdleBound), std::end(kIdleBound), p) != std::end(kIdleBound);
}

}  // namespace

programs locate_programs(const programs& g) {
  const fs::path here = self_dir();
  const fs::path src = bench_source_dir();
  programs p;
  p.weft = locate(g.weft, {here / ".." / "weft-bench", here / "weft-bench"});
  p.boost_fiber = locate(g.boost_fiber, {here / ".." / "boost_fiber" / "boost-fiber-bench", here / "boost-fiber-bench"});
  p.go = locate(g.go, {here / ".." / "go" / "go-bench", here / "go-bench"});
  p.rust = locate(g.rust, {here / ".." / "rust" / "rust-bench", here / ".." / "rust-bench", here / "rust-bench"});
  p.procs = locate(g.procs, {here / ".." / "procs" / "procs-bench", here / ".." / "procs-bench", here / "procs-bench"});
  p.python = g.python.empty() ? "/usr/bin/python3" : g.python;
  p.pybench = g.pybench.empty() ? (src / "python" / "pybench.py").lexically_normal().string() : g.pybench;
  p.node = g.node.empty() ? "/usr/bin/node" : g.node;
  p.nodebench = g.nodebench.empty() ? (src / "node" / "nodebench.js").lexically_normal().string() : g.nodebench;
  return p;
}

long model_size(const model_info& m, const scenario_spec& s, size_mode mode) {
  const int i = static_cast<int>(mode);
  if (!m.all_scenarios && !s.exercise && !contract_scenario(s.program)) return 0;  // note 4
  if (m.id == model_id::condvar && !s.condvar) return 0;  // weft_compare.cpp note 7
  if (m.id == model_id::boost_fiber_spin && !spin_scenario(s, mode)) return 0;
  switch (m.cls) {
    case model_class::fast:
      return s.n[i];
    case model_class::thread:
      if (s.n[i] == 0) return 0;
      return s.threads_n[i] == kSame ? s.n[i] : s.threads_n[i];
    case model_class::script:
      return s.script_n[i];
    case model_class::heavy:
      return s.heavy_n[i];
  }
  return 0;
}

std::vector<std::string> model_command(const model_info& m, const scenario_spec& s, long n, int workers,
                                       const std::string& addr, const programs& p, std::string& why_not) {
  const std::string ns = "--n=" + std::to_string(n);
  const std::string ws = "--workers=" + std::to_string(workers);
  auto need = [&](const std::string& path, const char* what) {
    if (!is_executable(path)) why_not = std::string("n/a: ") + what + " not installed (" + path + ")";
    return why_not.empty();
  };
  // The interpreted programs are a script of the source tree.
  auto need_file = [&](const std::string& path) {
    if (why_not.empty() && !fs::is_regular_file(path)) why_not = "n/a: not installed (" + path + ")";
    return why_not.empty();
  };
  std::vector<std::string> argv;
  switch (m.id) {
    case model_id::weft_mn:
      if (!need(p.weft, "weft-bench")) return {};
      argv = {p.weft, s.program, "--model=fibers", ws, ns};
      break;
    case model_id::weft_n1:
      if (!need(p.weft, "weft-bench")) return {};
      argv = {p.weft, s.program, "--model=fibers", "--workers=1", ns};
      break;
    case model_id::threads:
      if (!need(p.weft, "weft-bench")) return {};
      argv = {p.weft, s.program, "--model=threads", ns};
      break;
    case model_id::condvar:
      if (!need(p.weft, "weft-bench")) return {};
      argv = {p.weft, s.program, "--model=condvar", ns};
      break;
    case model_id::boost_fiber:
      if (!need(p.boost_fiber, "boost-fiber-bench")) return {};
      argv = {p.boost_fiber, s.program, ws, ns};
      break;
    case model_id::boost_fiber_spin:
      if (!need(p.boost_fiber, "boost-fiber-bench")) return {};
      argv = {p.boost_fiber, s.program, "--idle=spin", ws, ns};
      break;
    case model_id::go:
      if (!need(p.go, "go-bench (Go)")) return {};
      argv = {p.go, s.program, "-workers", std::to_string(workers), "-n", std::to_string(n)};
      break;
    case model_id::tokio:
    case model_id::rust_threads:
      if (!need(p.rust, "rust-bench (cargo, librust-tokio-dev)")) return {};
      argv = {p.rust, s.program, m.id == model_id::tokio ? "--model=tokio" : "--model=threads", ws, ns};
      break;
    case model_id::py_asyncio:
    case model_id::py_threading:
    case model_id::py_multiprocessing: {
      if (!need(p.python, "python3") || !need_file(p.pybench)) return {};
      const char* model = m.id == model_id::py_asyncio     ? "--model=asyncio"
                          : m.id == model_id::py_threading ? "--model=threading"
                                                           : "--model=multiprocessing";
      argv = {p.python, p.pybench, s.program, model, ws, ns};
      break;
    }
    case model_id::node_promises:
    case model_id::node_workers:
      if (!need(p.node, "node") || !need_file(p.nodebench)) return {};
      argv = {p.node, p.nodebench, s.program,
              m.id == model_id::node_promises ? "--model=promises" : "--model=worker_threads", ws, ns};
      break;
    case model_id::proc_fork:
    case model_id::proc_pool:
      if (!need(p.procs, "procs-bench")) return {};
      argv = {p.procs, s.program, m.id == model_id::proc_fork ? "--model=fork" : "--model=pool", ws, ns};
      break;
  }
  if (!addr.empty()) argv.push_back("--addr=" + addr);
  return argv;
}

bool model_selected(const model_info& m, const std::vector<std::string>& selected) {
  return selected.empty() || std::any_of(selected.begin(), selected.end(), [&](const std::string& s) {
           return s == m.key || s == m.group;
         });
}

bool is_model_name(const std::string& name) {
  return std::any_of(std::begin(kModels), std::end(kModels),
                     [&](const model_info& m) { return name == m.key || name == m.group; });
}

std::string model_name_list() {
  std::string keys, groups;
  for (const auto& m : kModels) {
    keys += std::string(keys.empty() ? "" : " ") + m.key;
    if (groups.find(m.group) == std::string::npos) groups += std::string(groups.empty() ? "" : " ") + m.group;
  }
  return keys + "; groups: " + groups;
}

std::string model_unable(const model_info& m, const scenario_spec& s, long n) {
  // One OS thread or process per task alive at once (the 1:1 models, Python
  // threads, a process or worker_thread per task): the machine's thread and
  // process limits (scenarios.cpp).
  const bool per_task_thread = m.cls == model_class::thread || m.id == model_id::py_threading ||
                               m.id == model_id::proc_fork || m.id == model_id::py_multiprocessing ||
                               m.id == model_id::node_workers;
  if (per_task_thread) {
    if (auto reason = threads_unable(s, n)) return *reason;
  }
  if (m.id == model_id::boost_fiber || m.id == model_id::boost_fiber_spin) {
    if (auto reason = boost_fiber_unable(s, n)) return *reason;
  }
  return "";
}

}  // namespace weft_compare
