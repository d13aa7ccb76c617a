// weft-compare's network scenarios: servers under load on the loopback.
//
//   http-100, http-1k, http-10k  wrk -t1 at 100, 1,000 and 10,000 keep-alive
//                                connections against a minimal HTTP/1.1
//                                responder: requests/s, p50, p99
//   echo                         echo-client, 1,000 connections sending 64
//                                bytes and waiting for them back: round
//                                trips/s, p50, p99
//   idle-conns                   echo-client --idle holds 10,000 connections
//                                open after one round trip each: the
//                                server's resident memory per connection
//
// The servers: weft-bench serve (weft M:N with --workers, weft N:1 with one
// worker, one thread per connection), go-bench serve-raw (Go's net package,
// a goroutine per connection) and serve-nethttp (net/http, http only),
// tokio-bench (Tokio's multi-threaded runtime, a task per connection).
//
// Design notes
// 1. Every server follows one contract: `<program> <mode...> --port=0
//    --workers=N` binds 127.0.0.1 on a free port, prints `listening <port>`
//    and serves until its stdin reaches EOF (or SIGTERM). The runner keeps
//    the write end of the server's stdin; closing it is the stop signal. A
//    server that has not exited 3 s later is killed and its cell failed.
// 2. One cell run: start the server, read its port (10 s at most), run the
//    load generator to completion (its own duration plus a 30 s margin, then
//    killed), read the server's VmHWM from /proc/<pid>/status, stop it. The
//    server's CPU time (utime + stime of /proc/<pid>/stat, all its threads,
//    live or exited) across the load, divided by the requests answered, is
//    the figure least disturbed by other work on a shared machine.
//    idle-conns instead samples VmRSS twice: once before any client
//    connects (after 200 ms of settling), once while the client holds its
//    connections (300 ms after it reports them established); the cell's
//    figure is (with - before) / established.
// 3. The runner raises its own RLIMIT_NOFILE to the hard limit before the
//    first fork: wrk does not raise it itself and needs one fd per
//    connection (10,000 in http-10k); every child inherits the limit.
// 4. Client and server share the machine's cores: the numbers are for
//    comparing servers with each other under the same handicap, not
//    absolute capacities. wrk runs one thread (-t1), servers their workers.
// 5. Runs go in rounds, every model once per round, as the other scenarios
//    (weft_compare.cpp note 2); the first failed run ends a cell. --quick
//    runs each cell once for 2 s, and only http-1k, echo and idle-conns
//    when no --scenarios names others (the README's command has a time
//    budget; pass --runs=N with --quick for medians of N), --normal
//    --runs times for 5 s, --full for 10 s; http-10k for at least 5 s
//    (load_seconds).
// 6. A server or load generator that is not built or not installed makes
//    its cells "n/a: ... not installed", never a failure; so does 1:1 at
//    more connections than this machine's thread limits allow.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "results.hpp"
#include "system.hpp"

namespace weft_compare {

namespace {

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Scenarios and servers

enum class load { http, echo, idle };

struct net_scenario {
  const char* name;
  load kind;
  long conns;
  bool quick;  // run by --quick without --scenarios (note 5)
};

constexpr net_scenario kNetScenarios[] = {
    {"http-100", load::http, 100, false},
    {"http-1k", load::http, 1'000, true},
    {"http-10k", load::http, 10'000, false},
    {"echo", load::echo, 1'000, true},
    {"idle-conns", load::idle, 10'000, true},
};

constexpr long kEchoSize = 64;  // bytes per echo round trip

enum class server { weft_mn, weft_n1, threads, go_raw, go_nethttp, tokio };

struct net_model {
  server id;
  const char* name;  // as shown in the table
  bool http_only;
};

constexpr net_model kNetModels[] = {
    {server::weft_mn, "weft M:N", false},   {server::weft_n1, "weft N:1", false},
    {server::threads, "1:1 threads", false}, {server::go_raw, "Go raw", false},
    {server::go_nethttp, "Go net/http", true}, {server::tokio, "Tokio", false},
};

// `name` on $PATH, or empty.
std::string on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string d; std::getline(dirs, d, ':');) {
    const std::string full = (d.empty() ? "." : d) + "/" + name;
    if (is_executable(full)) return full;
  }
  return "";
}

// The server's command line, or empty with the reason in why_not.
std::vector<std::string> server_command(const net_model& m, load kind, const net_options& o,
                                        std::string& why_not) {
  const std::string mode = kind == load::http ? "http" : "echo";
  const std::string ws = "--workers=" + std::to_string(o.workers);
  auto need = [&](const std::string& path, const char* what) {
    if (!is_executable(path)) why_not = std::string("n/a: ") + what + " not installed (" + path + ")";
    return why_not.empty();
  };
  switch (m.id) {
    case server::weft_mn:
      if (!need(o.weft_bench, "weft-bench")) return {};
      return {o.weft_bench, "serve", mode, "--model=fibers", ws, "--port=0"};
    case server::weft_n1:
      if (!need(o.weft_bench, "weft-bench")) return {};
      return {o.weft_bench, "serve", mode, "--model=fibers", "--workers=1", "--port=0"};
    case server::threads:
      if (!need(o.weft_bench, "weft-bench")) return {};
      return {o.weft_bench, "serve", mode, "--model=threads", "--port=0"};
    case server::go_raw:
      if (!need(o.go_bench, "go-bench")) return {};
      return {o.go_bench, "serve-raw", mode, "--port=0", ws};
    case server::go_nethttp:
      if (!need(o.go_bench, "go-bench")) return {};
      return {o.go_bench, "serve-nethttp", mode, "--port=0", ws};
    case server::tokio:
      if (!need(o.tokio_bench, "tokio-bench")) return {};
      return {o.tokio_bench, mode, "--port=0", ws};
  }
  return {};
}

// ---------------------------------------------------------------------------
// Child processes

// A child in its own process group: stdin a pipe (or /dev/null), stdout a
// pipe, stderr an unnamed temporary file (read for error messages only).
// The destructor kills the group if the child still runs.
class child {
 public:
  child() = default;
  child(const child&) = delete;
  child& operator=(const child&) = delete;
  ~child() {
    kill_now();
    if (err_ >= 0) close(err_);
  }

  bool start(const std::vector<std::string>& argv, bool stdin_pipe, std::string& error) {
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    err_ = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (devnull < 0 || pipe2(out, O_CLOEXEC) != 0 || (stdin_pipe && pipe2(in, O_CLOEXEC) != 0)) {
      error = std::string("pipe: ") + std::strerror(errno);
      for (const int fd : {devnull, in[0], in[1], out[0], out[1]})
        if (fd >= 0) close(fd);
      return false;
    }
    std::vector<char*> cargv;  // built before fork: no allocation in the child
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);
      dup2(stdin_pipe ? in[0] : devnull, STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      dup2(err_ >= 0 ? err_ : devnull, STDERR_FILENO);
      signal(SIGPIPE, SIG_DFL);
      execv(cargv[0], cargv.data());
      dprintf(STDERR_FILENO, "cannot exec %s: %s\n", cargv[0], std::strerror(errno));
      _exit(127);
    }
    const int fork_errno = errno;
    close(devnull);
    close(out[1]);
    if (stdin_pipe) close(in[0]);
    out_ = out[0];
    in_ = in[1];
    if (pid_ < 0) {
      error = std::string("fork: ") + std::strerror(fork_errno);
      close_stdin();
      return false;
    }
    alive_ = true;
    setpgid(pid_, pid_);  // also here: whichever runs first, the group exists
    return true;
  }

  pid_t pid() const { return pid_; }
  const std::string& out() const { return out_buf_; }

  // Reads stdout until a line starting with `prefix` has arrived (returns
  // it), stdout closes or the deadline passes (nullopt).
  std::optional<std::string> wait_line(std::string_view prefix, clk::time_point deadline) {
    for (;;) {
      std::size_t pos = 0;
      while (pos < out_buf_.size()) {
        const std::size_t nl = out_buf_.find('\n', pos);
        if (nl == std::string::npos) break;
        const std::string_view line(out_buf_.data() + pos, nl - pos);
        if (line.starts_with(prefix)) return std::string(line);
        pos = nl + 1;
      }
      if (out_ < 0 || clk::now() >= deadline || !read_some(deadline)) return std::nullopt;
    }
  }

  // Reads stdout to EOF and reaps the child, up to the deadline. False on
  // timeout (the child is then killed).
  bool finish(clk::time_point deadline) {
    while (out_ >= 0 && clk::now() < deadline) read_some(deadline);
    return reap(deadline);
  }

  // Closes the child's stdin (the stop signal of note 1).
  void close_stdin() {
    if (in_ >= 0) close(in_);
    in_ = -1;
  }

  // Waits for the child to exit until the deadline (draining stdout); on
  // timeout kills the group and returns false.
  bool reap(clk::time_point deadline) {
    while (alive_) {
      const pid_t r = waitpid(pid_, &status_, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) {
        alive_ = false;
        break;
      }
      if (clk::now() >= deadline) {
        kill_now();
        return false;
      }
      if (out_ >= 0)
        read_some(std::min(deadline, clk::now() + 5ms));
      else
        std::this_thread::sleep_for(5ms);
    }
    if (out_ >= 0) {
      close(out_);
      out_ = -1;
    }
    return true;
  }

  // Exited by itself (after reap): "" if with status 0, else why not.
  std::string exit_problem() const {
    if (WIFSIGNALED(status_)) return std::string("crashed: ") + strsignal(WTERMSIG(status_));
    if (WIFEXITED(status_) && WEXITSTATUS(status_) != 0) {
      std::string s = "exit " + std::to_string(WEXITSTATUS(status_));
      if (const std::string e = stderr_tail(); !e.empty()) s += ": " + e;
      return s;
    }
    return "";
  }

  // True while the child has not exited (does not reap it).
  bool running() const {
    if (!alive_) return false;
    siginfo_t si{};
    return waitid(P_PID, static_cast<id_t>(pid_), &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0;
  }

  // The last line the child wrote to stderr, shortened for a table cell.
  std::string stderr_tail() const {
    if (err_ < 0) return "";
    char buf[2048];
    const off_t size = lseek(err_, 0, SEEK_END);
    const off_t from = size > static_cast<off_t>(sizeof buf) ? size - static_cast<off_t>(sizeof buf) : 0;
    const ssize_t got = pread(err_, buf, sizeof buf, from);
    return last_line(std::string_view(buf, got > 0 ? static_cast<std::size_t>(got) : 0));
  }

  // Kills the child's whole group (if it still runs) and reaps it.
  void kill_now() {
    if (alive_) {
      kill(-pid_, SIGKILL);
      kill(pid_, SIGKILL);
      while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
      }
      alive_ = false;
    }
    close_stdin();
    if (out_ >= 0) close(out_);
    out_ = -1;
  }

 private:
  // One poll + read of stdout; false once stdout is closed.
  bool read_some(clk::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clk::now()).count();
    pollfd p{out_, POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(std::clamp<long>(left, 0, 1000)));
    if (r <= 0) return r == 0 || errno == EINTR;
    char buf[4096];
    const ssize_t got = read(out_, buf, sizeof buf);
    if (got > 0) {
      out_buf_.append(buf, static_cast<std::size_t>(got));
      return true;
    }
    if (got < 0 && errno == EINTR) return true;
    close(out_);
    out_ = -1;
    return false;
  }

  pid_t pid_ = -1;
  bool alive_ = false;  // started and not reaped yet
  int in_ = -1, out_ = -1, err_ = -1;
  int status_ = 0;
  std::string out_buf_;
};

// A `Key:   123 kB` line of /proc/<pid>/status, in KiB (0 if absent).
long proc_status_kib(pid_t pid, std::string_view key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(key)) return std::strtol(line.c_str() + key.size(), nullptr, 10);
  }
  return 0;
}

// utime + stime of the whole process, in seconds (0 if unreadable).
double proc_cpu_s(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const std::size_t paren = stat.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  std::string f;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {  // fields 3.. after "pid (comm)"
    if (i == 14) utime = std::strtod(f.c_str(), nullptr);
    if (i == 15) stime = std::strtod(f.c_str(), nullptr);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// ---------------------------------------------------------------------------
// The load generators' output

// "635.91us", "1.03ms", "2.00s" -> microseconds; nullopt if unparsable.
std::optional<double> wrk_duration_us(std::string_view s) {
  const std::string str(s);
  char* end = nullptr;
  const double v = std::strtod(str.c_str(), &end);
  if (end == str.c_str()) return std::nullopt;
  const std::string_view unit(end);
  if (unit == "us") return v;
  if (unit == "ms") return v * 1e3;
  if (unit == "s") return v * 1e6;
  if (unit == "m") return v * 60e6;
  if (unit == "h") return v * 3600e6;
  return std::nullopt;
}

// wrk --latency: "Requests/sec:", the 50% and 99% lines of the latency
// distribution, "Socket errors: connect A, read B, write C, timeout D" and
// "Non-2xx or 3xx responses: N".
bool parse_wrk(const std::string& out, net_record& r, std::string& error) {
  bool rate = false, p50 = false, p99 = false;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string first;
    words >> first;
    if (first == "Requests/sec:") {
      rate = static_cast<bool>(words >> r.rate);
    } else if (first == "50%" || first == "99%") {
      std::string v;
      words >> v;
      if (const auto us = wrk_duration_us(v)) {
        (first == "50%" ? r.p50_us : r.p99_us) = *us;
        (first == "50%" ? p50 : p99) = true;
      }
    } else if (first == "Socket") {
      // Socket errors: connect 0, read 0, write 0, timeout 0
      for (std::string w; words >> w;) {
        const long n = std::strtol(w.c_str(), nullptr, 10);
        if (n > 0) r.errors += n;
      }
    } else if (line.find(" requests in ") != std::string::npos) {
      r.ops = std::strtol(first.c_str(), nullptr, 10);  // "193843 requests in 2.00s, ..."
    } else if (line.find("Non-2xx or 3xx responses:") != std::string::npos) {
      r.errors += std::strtol(line.c_str() + line.find(':') + 1, nullptr, 10);
    }
  }
  if (!rate || !p50 || !p99) {
    error = "unparsable wrk output";
    return false;
  }
  return true;
}

// The key=value words of the last line of `out` starting with `prefix`.
std::optional<std::vector<std::pair<std::string, std::string>>> key_values(const std::string& out,
                                                                          std::string_view prefix) {
  std::optional<std::vector<std::pair<std::string, std::string>>> found;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with(prefix)) continue;
    found.emplace();
    std::istringstream words(line.substr(prefix.size()));
    for (std::string w; words >> w;) {
      const auto eq = w.find('=');
      if (eq != std::string::npos) found->emplace_back(w.substr(0, eq), w.substr(eq + 1));
    }
  }
  return found;
}

std::optional<double> number(const std::vector<std::pair<std::string, std::string>>& kv, std::string_view key) {
  for (const auto& [k, v] : kv) {
    if (k == key) {
      char* end = nullptr;
      const double d = std::strtod(v.c_str(), &end);
      if (end != v.c_str()) return d;
    }
  }
  return std::nullopt;
}

// echo-client: conns=C size=S round_trips=N seconds=F rps=F p50_us=F p99_us=F errors=E
bool parse_echo(const std::string& out, net_record& r, std::string& error) {
  const auto kv = key_values(out, "echo-client:");
  const auto rps = kv ? number(*kv, "rps") : std::nullopt;
  const auto p50 = kv ? number(*kv, "p50_us") : std::nullopt;
  const auto p99 = kv ? number(*kv, "p99_us") : std::nullopt;
  if (!rps || !p50 || !p99) {
    error = "unparsable echo-client output";
    return false;
  }
  r.rate = *rps;
  r.p50_us = *p50;
  r.p99_us = *p99;
  r.errors = static_cast<long>(number(*kv, "errors").value_or(0));
  r.ops = static_cast<long>(number(*kv, "round_trips").value_or(0));
  return true;
}

// ---------------------------------------------------------------------------
// One run of one cell (note 2)

struct net_cell {
  row r;
  const net_scenario* s = nullptr;
  std::vector<std::string> argv;  // the server's
  bool active = false;
};

// Note 5. http-10k never runs under 5 s: wrk takes about a second to
// connect 10,000 sockets here, and a server with one thread per connection
// (or net/http) then answers in rounds of 10,000 requests that each take
// more than a second on 2 shared cores (the client's one thread gets a
// 1/10,000 share of the CPU while they run), so a 2 s window would show 0
// requests for them.
int load_seconds(int mode, long conns = 0) {
  const int secs = mode == 0 ? 2 : mode == 1 ? 5 : 10;
  return conns >= 10'000 ? std::max(secs, 5) : secs;
}

std::optional<net_record> run_once(const net_cell& c, const net_options& o, std::string& error) {
  const net_scenario& s = *c.s;
  net_record rec;
  child srv;
  if (!srv.start(c.argv, true, error)) return std::nullopt;
  const auto line = srv.wait_line("listening ", clk::now() + 10s);
  if (!line) {
    srv.kill_now();
    const std::string why = srv.stderr_tail();
    error = "no `listening` line" + (why.empty() ? std::string() : ": " + why);
    return std::nullopt;
  }
  const std::string port = line->substr(10);
  const int secs = load_seconds(o.mode, s.conns);

  child client;
  const double cpu_before = proc_cpu_s(srv.pid());
  if (s.kind == load::http) {
    const std::vector<std::string> argv = {o.wrk, "-t1", "-c" + std::to_string(s.conns), "-d" + std::to_string(secs) + "s",
                                           "--latency", "http://127.0.0.1:" + port + "/"};
    if (!client.start(argv, false, error)) return std::nullopt;
    if (!client.finish(clk::now() + std::chrono::seconds(secs + 30))) {
      error = "wrk did not finish";
      return std::nullopt;
    }
    if (const std::string why = client.exit_problem(); !why.empty()) {
      error = "wrk: " + why;
      return std::nullopt;
    }
    if (!parse_wrk(client.out(), rec, error)) return std::nullopt;
  } else if (s.kind == load::echo) {
    const std::vector<std::string> argv = {o.echo_client, "--port=" + port, "--conns=" + std::to_string(s.conns),
                                           "--size=" + std::to_string(kEchoSize),
                                           "--duration=" + std::to_string(secs)};
    if (!client.start(argv, false, error)) return std::nullopt;
    if (!client.finish(clk::now() + std::chrono::seconds(secs + 30))) {
      error = "echo-client did not finish";
      return std::nullopt;
    }
    if (const std::string why = client.exit_problem(); !why.empty()) {
      error = "echo-client: " + why;
      return std::nullopt;
    }
    if (!parse_echo(client.out(), rec, error)) return std::nullopt;
  } else {
    std::this_thread::sleep_for(200ms);
    rec.rss_before_kib = proc_status_kib(srv.pid(), "VmRSS:");
    const std::vector<std::string> argv = {o.echo_client, "--idle", "--conns=" + std::to_string(s.conns), "--hold=60",
                                           "--port=" + port};
    if (!client.start(argv, true, error)) return std::nullopt;
    const auto held = client.wait_line("echo-client: idle", clk::now() + 60s);
    if (!held) {
      const std::string why = client.stderr_tail();
      error = "no idle line from echo-client" + (why.empty() ? std::string() : ": " + why);
      return std::nullopt;
    }
    std::this_thread::sleep_for(300ms);
    rec.rss_with_kib = proc_status_kib(srv.pid(), "VmRSS:");
    const auto kv = key_values(*held + "\n", "echo-client: idle");
    rec.conns = kv ? static_cast<long>(number(*kv, "established").value_or(0)) : 0;
    client.close_stdin();
    kill(client.pid(), SIGTERM);
    if (!client.reap(clk::now() + 5s)) {
      error = "echo-client --idle did not stop";
      return std::nullopt;
    }
    if (rec.conns <= 0) {
      error = "echo-client established no connection";
      return std::nullopt;
    }
  }

  if (!srv.running()) {
    srv.reap(clk::now() + 1s);
    error = "server died: " + srv.exit_problem();
    return std::nullopt;
  }
  rec.server_peak_kib = proc_status_kib(srv.pid(), "VmHWM:");
  rec.server_cpu_s = proc_cpu_s(srv.pid()) - cpu_before;
  srv.close_stdin();  // note 1: the stop signal
  if (!srv.reap(clk::now() + 3s)) {
    error = "server did not exit within 3 s of stdin EOF (killed)";
    return std::nullopt;
  }
  if (const std::string why = srv.exit_problem(); !why.empty()) {
    error = "server: " + why;
    return std::nullopt;
  }
  if (s.kind != load::idle && rec.rate <= 0) {
    error = "no request answered";
    return std::nullopt;
  }
  return rec;
}

void summarize(row& r) {
  std::vector<double> rate, p50, p99, peak, per_conn, idle_rss, cpu;
  long established = 0;
  for (const auto& run : r.runs) {
    const net_record& n = *run.net;
    rate.push_back(n.rate);
    p50.push_back(n.p50_us);
    p99.push_back(n.p99_us);
    peak.push_back(static_cast<double>(n.server_peak_kib) / 1024.0);
    if (n.ops > 0) cpu.push_back(n.server_cpu_s * 1e6 / static_cast<double>(n.ops));
    r.errors = std::max(r.errors, n.errors);
    if (n.conns > 0) {
      per_conn.push_back(static_cast<double>(n.rss_with_kib - n.rss_before_kib) * 1024.0 / static_cast<double>(n.conns));
      idle_rss.push_back(static_cast<double>(n.rss_with_kib) / 1024.0);
      established = established == 0 ? n.conns : std::min(established, n.conns);
    }
  }
  r.rate = median(rate);
  r.min_rate = *std::min_element(rate.begin(), rate.end());
  r.max_rate = *std::max_element(rate.begin(), rate.end());
  r.p50_us = median(p50);
  r.p99_us = median(p99);
  if (!cpu.empty()) r.cpu_us_per_op = median(cpu);
  r.rss_mib = median(peak);
  if (!per_conn.empty()) {
    r.bytes_per_conn = median(per_conn);
    r.idle_rss_mib = median(idle_rss);
  }
  r.note = "ok";
  if (r.errors > 0) r.note += " (" + std::to_string(r.errors) + " errors in a run)";
  if (established > 0 && established < r.n)
    r.note += " (" + std::to_string(established) + " of " + std::to_string(r.n) + " established)";
}

bool selected(const net_scenario& s, const std::vector<std::string>& names) {
  if (names.empty()) return true;
  for (const auto& n : names) {
    if (n == s.name || n == "net" || (n == "http" && s.kind == load::http)) return true;
  }
  return false;
}

std::string fmt_rate(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, v >= 1e6 ? "%.2fM" : v >= 1e3 ? "%.1fk" : "%.0f", v >= 1e6 ? v / 1e6 : v >= 1e3 ? v / 1e3 : v);
  return buf;
}

}  // namespace

bool is_net_scenario(const std::string& name) {
  if (name == "net" || name == "http") return true;
  return std::any_of(std::begin(kNetScenarios), std::end(kNetScenarios),
                     [&](const net_scenario& s) { return name == s.name; });
}

std::string net_scenario_list() {
  std::string out;
  for (const auto& s : kNetScenarios) out += std::string(out.empty() ? "" : " ") + s.name;
  return out;
}

std::vector<row> run_net_scenarios(const net_options& o, run_info& info) {
  std::vector<const net_scenario*> chosen;
  for (const auto& s : kNetScenarios)
    if (selected(s, o.scenarios) && (s.quick || o.mode != 0 || !o.scenarios.empty())) chosen.push_back(&s);
  if (chosen.empty()) return {};

  net_options opt = o;
  if (opt.wrk.empty()) opt.wrk = on_path("wrk");
  const int runs = o.mode == 0 ? (o.runs_given ? o.runs : 1) : o.runs;  // note 5
  info.network = true;
  info.net_runs = runs;
  info.net_seconds = load_seconds(o.mode);
  info.tokio_bench = opt.tokio_bench;
  info.echo_client = opt.echo_client;
  info.wrk = opt.wrk.empty() ? "not found" : opt.wrk;

  // Note 3.
  raise_fd_limit();
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  std::fprintf(stderr, "weft-compare: network: %zu scenarios x %d runs, %d s each, RLIMIT_NOFILE %ld\n",
               chosen.size(), runs, info.net_seconds, static_cast<long>(nofile.rlim_cur));

  std::vector<row> rows;
  for (const net_scenario* s : chosen) {
    const std::string& loader = s->kind == load::http ? opt.wrk : opt.echo_client;
    const char* loader_name = s->kind == load::http ? "wrk" : "echo-client";
    std::vector<net_cell> cells;
    for (const auto& m : kNetModels) {
      if (m.http_only && s->kind != load::http) continue;
      net_cell c;
      c.s = s;
      c.r.scenario = s->name;
      c.r.model = m.name;
      c.r.network = true;
      c.r.n = s->conns;
      c.r.expected = s->conns;
      std::string why_not;
      if (!is_executable(loader)) why_not = std::string("n/a: ") + loader_name + " not installed" + (loader.empty() ? "" : " (" + loader + ")");
      if (why_not.empty() && m.id == server::threads)
        if (auto limit = thread_limit(s->conns)) why_not = *limit;
      if (why_not.empty()) c.argv = server_command(m, s->kind, opt, why_not);
      if (!why_not.empty()) {
        c.r.status = row_status::not_applicable;
        c.r.note = why_not;
        std::fprintf(stderr, "[net] %s / %s: %s\n", s->name, m.name, why_not.c_str());
      } else {
        c.active = true;
      }
      cells.push_back(std::move(c));
    }
    for (int i = 0; i < runs; ++i) {  // note 5: rounds
      if (std::none_of(cells.begin(), cells.end(), [](const net_cell& c) { return c.active; })) break;
      std::fprintf(stderr, "[net] %s run %d/%d:", s->name, i + 1, runs);
      for (net_cell& c : cells) {
        if (!c.active) continue;
        std::string error;
        const auto rec = run_once(c, opt, error);
        if (!rec) {
          c.r.status = row_status::failed;
          c.r.note = "failed (" + error + (runs > 1 ? ", run " + std::to_string(i + 1) + "/" + std::to_string(runs) : "") + ")";
          c.r.runs.clear();
          c.active = false;
          std::fprintf(stderr, " %s: %s", c.r.model.c_str(), c.r.note.c_str());
          continue;
        }
        if (s->kind == load::idle)
          std::fprintf(stderr, " %s %.0f B/conn", c.r.model.c_str(),
                       static_cast<double>(rec->rss_with_kib - rec->rss_before_kib) * 1024.0 / static_cast<double>(rec->conns));
        else
          std::fprintf(stderr, " %s %s/s", c.r.model.c_str(), fmt_rate(rec->rate).c_str());
        if (s->kind != load::idle && rec->ops > 0)
          std::fprintf(stderr, " (%.1f us CPU)", rec->server_cpu_s * 1e6 / static_cast<double>(rec->ops));
        run_record rr;
        rr.net = *rec;
        rr.max_rss_kib = rec->server_peak_kib;
        c.r.runs.push_back(rr);
      }
      std::fputc('\n', stderr);
    }
    for (net_cell& c : cells) {
      if (!c.r.runs.empty() && c.r.status == row_status::ok) summarize(c.r);
      rows.push_back(std::move(c.r));
    }
  }
  return rows;
}


// ---------------------------------------------------------------------------
// The allofnet exercise's server (results.hpp)

struct http_server::impl {
  child srv;
};

http_server::http_server() = default;
http_server::~http_server() { stop(); }

bool http_server::start(const std::string& go_bench, const std::string& weft_bench, int workers,
                        std::string& error) {
  stop();
  const std::string ws = "--workers=" + std::to_string(workers);
  std::vector<std::string> argv;
  if (is_executable(go_bench)) {
    argv = {go_bench, "serve-raw", "http", "--port=0", ws};
    label_ = "go-bench serve-raw http";
  } else if (is_executable(weft_bench)) {
    argv = {weft_bench, "serve", "http", "--model=fibers", ws, "--port=0"};
    label_ = "weft-bench serve http (M:N)";
  } else {
    error = "no HTTP server: neither " + go_bench + " nor " + weft_bench + " is built";
    return false;
  }
  label_ += ", " + std::to_string(workers) + " workers";
  impl_ = std::make_unique<impl>();
  if (!impl_->srv.start(argv, true, error)) return false;
  const auto line = impl_->srv.wait_line("listening ", clk::now() + 10s);
  if (!line) {
    const std::string why = impl_->srv.stderr_tail();
    error = "HTTP server printed no `listening` line" + (why.empty() ? std::string() : ": " + why);
    stop();
    return false;
  }
  addr_ = "127.0.0.1:" + line->substr(10);
  return true;
}

bool http_server::running() const { return impl_ && impl_->srv.running(); }

void http_server::stop() {
  if (!impl_) return;
  impl_->srv.close_stdin();  // note 1: the stop signal
  if (!impl_->srv.reap(clk::now() + 3s)) impl_->srv.kill_now();
  impl_.reset();
  addr_.clear();
}

void raise_fd_limit() {
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
}

}  // namespace weft_compare
