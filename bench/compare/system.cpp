// What weft-compare asks of the system (system.hpp): finding the benchmark
// programs, describing the machine, running one child process.

#include "system.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <thread>

#include "options.hpp"
#include "results.hpp"

namespace weft_compare {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// Locating the benchmark programs (defaults relative to this executable)

fs::path self_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : exe.parent_path();
}

bool is_executable(const std::string& path) {
  return !path.empty() && access(path.c_str(), X_OK) == 0 && !fs::is_directory(path);
}

// The first existing candidate, else the first one (for the error message).
std::string locate(const std::string& flag_value, std::initializer_list<fs::path> candidates) {
  if (!flag_value.empty()) return flag_value;
  for (const auto& c : candidates) {
    if (is_executable(c.string())) return c.lexically_normal().string();
  }
  return candidates.begin()->lexically_normal().string();
}

// ---------------------------------------------------------------------------
// Machine description

namespace {
std::string read_first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}
}  // namespace

long read_long_file(const char* path) { return parse_long(read_first_line(path)).value_or(0); }

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("model name")) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

std::string kernel() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return std::string(u.sysname) + " " + u.release + " " + u.machine;
}

std::string git_commit() {
#ifdef WEFT_COMPARE_SOURCE_DIR
  const std::string cmd =
      std::string("git -C '") + WEFT_COMPARE_SOURCE_DIR + "' describe --always --dirty 2>/dev/null";
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[128] = {};
    const bool got = std::fgets(buf, sizeof buf, p) != nullptr;
    pclose(p);
    std::string s = got ? buf : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (!s.empty()) return s;
  }
#endif
  return "unknown";
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// ---------------------------------------------------------------------------
// Running one child process

namespace {
child_outcome os_error(const char* what) {
  child_outcome c;
  c.failure = std::string(what) + ": " + std::strerror(errno);
  return c;
}
}  // namespace

// fork/execv `argv`, capture stdout (and the tail of stderr for error
// messages), kill the child's process group after `timeout`.
child_outcome run_child(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  child_outcome result;
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return os_error("pipe");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    const child_outcome e = os_error("pipe");
    close(out_pipe[0]);
    close(out_pipe[1]);
    return e;
  }
  std::vector<char*> cargv;  // built before fork: no allocation in the child
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);  // own process group, so a timeout kills all of it
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    execv(cargv[0], cargv.data());
    dprintf(STDERR_FILENO, "cannot exec %s: %s\n", cargv[0], std::strerror(errno));
    _exit(127);
  }
  if (pid < 0) {
    const child_outcome e = os_error("fork");
    for (const int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    return e;
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  setpgid(pid, pid);  // also here: whichever runs first, the group exists

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  auto kill_on_deadline = [&] {
    if (!timed_out && std::chrono::steady_clock::now() >= deadline) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      timed_out = true;
    }
  };

  // Read both pipes until the child (and anything it started) closes them.
  std::string err;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &err};
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    kill_on_deadline();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    const int wait_ms = timed_out ? 100 : static_cast<int>(std::max<long>(left.count(), 0) + 1);
    if (poll(fds, 2, wait_ms) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(got));
        if (sinks[i]->size() > (1u << 20)) sinks[i]->erase(0, sinks[i]->size() - (1u << 16));
      } else if (got == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;  // poll() ignores negative descriptors
      }
    }
  }
  for (const auto& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }

  // Reap it; a child that closed its pipes but keeps running still times out.
  int status = 0;
  rusage usage{};
  for (;;) {
    const pid_t r = wait4(pid, &status, WNOHANG, &usage);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return os_error("wait4");
    kill_on_deadline();
    std::this_thread::sleep_for(1ms);
  }
  result.max_rss_kib = usage.ru_maxrss;  // KiB on Linux
  result.wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
  result.err_tail = last_line(err);

  if (timed_out) {
    result.failure = "timeout after " + std::to_string(timeout.count()) + " s";
  } else if (WIFSIGNALED(status)) {
    result.failure = std::string("crashed: ") + strsignal(WTERMSIG(status));
  } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    result.exit_status = WEXITSTATUS(status);
    result.failure = "exit " + std::to_string(WEXITSTATUS(status));
    if (const std::string why = last_line(err); !why.empty()) result.failure += ": " + why;
  }
  return result;
}

}  // namespace weft_compare
