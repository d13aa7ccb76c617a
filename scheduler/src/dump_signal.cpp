// SIGQUIT prints the fiber dump, like Go's goroutine dump, and the process
// then ends as SIGQUIT's default action ends it.
//
// Design notes
// 1. The handler does one async-signal-safe thing: it writes a byte to a
//    pipe. A dedicated thread, started by run() and blocked in read() on
//    the pipe, does the dump (dump.cpp) on an ordinary thread's stack, where
//    it may allocate, lock and read DWARF. Rejected: dumping inside the
//    handler (malloc, stdio and libdw are not async-signal-safe, and the
//    handler may run on a fiber's small stack); signalfd (it needs SIGQUIT
//    blocked in every thread, which a library cannot arrange for threads
//    the program starts itself); stopping the world (the dump does not
//    need it: dump.cpp, note 2).
// 2. Installed only when SIGQUIT's action is SIG_DFL when run() starts: a
//    program with a handler of its own (or one that ignores SIGQUIT) keeps
//    it. run() puts the previous action back when it returns, unless the
//    program has installed another handler meanwhile.
// 3. The pipe is made once per process and never closed, so that a handler
//    that runs while run() is returning never writes to a closed (perhaps
//    reused) descriptor; its write end is non-blocking, so the handler never
//    blocks. The thread leaves when run() writes a 'x' byte.
// 4. After the dump the thread restores the default action and raises
//    SIGQUIT again (terminating the process, with a core dump if the limits
//    allow one), so the program ends as it would have without weft.

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "dump.hpp"
#include "runtime_impl.hpp"

namespace weft::detail {
namespace {

// The pipe (note 3): written by the handler and by dump_signal_stop, read
// by the dump thread. Set once, under g_mu, before the handler is
// installed; the handler reads g_pipe_w (atomic: it may run on any thread).
std::mutex g_mu;
int g_pipe_r = -1;
std::atomic<int> g_pipe_w{-1};

// What run() installed and must undo; guarded by g_mu (run_runtime is the
// only caller, one runtime at a time).
bool g_installed = false;
struct sigaction g_previous;
std::thread g_thread;

extern "C" void on_sigquit(int) {
  const int saved = errno;
  const char c = 'q';
  // Relaxed: the descriptor was stored before sigaction installed this
  // handler, and sigaction orders the two.
  const int fd = g_pipe_w.load(std::memory_order_relaxed);
  if (fd >= 0) {
    [[maybe_unused]] const ssize_t n = ::write(fd, &c, 1);
  }
  errno = saved;
}

bool wanted(const run_options& opts) {
  const char* env = std::getenv("WEFT_SIGQUIT");
  if (env == nullptr) return opts.dump_on_sigquit;
  if (std::strcmp(env, "0") == 0) return false;
  if (std::strcmp(env, "1") == 0) return true;
  std::fprintf(stderr, "weft: ignoring WEFT_SIGQUIT=%s (want 0 or 1)\n", env);
  return opts.dump_on_sigquit;
}

void dump_thread_main(runtime* rt) {
  // Every signal goes to the program's other threads (this one only
  // reads the pipe); SIGQUIT itself is unblocked for the final raise.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  for (;;) {
    char c = 0;
    const ssize_t n = ::read(g_pipe_r, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n != 1 || c == 'x') return;
    std::string s = "SIGQUIT: weft fiber dump\n" + describe_fibers_with_frames(*rt, dump_world::moving);
    std::fputs(s.c_str(), stderr);
    std::fflush(stderr);
    // Note 4: end as the default action would.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGQUIT, &dfl, nullptr);
    sigset_t quit;
    sigemptyset(&quit);
    sigaddset(&quit, SIGQUIT);
    pthread_sigmask(SIG_UNBLOCK, &quit, nullptr);
    raise(SIGQUIT);
    std::_Exit(2);  // SIGQUIT blocked or caught elsewhere: end anyway
  }
}

}  // namespace

void dump_signal_start(runtime& rt) {
  if (!wanted(rt.opts)) return;
  std::lock_guard lk(g_mu);
  struct sigaction cur {};
  if (sigaction(SIGQUIT, nullptr, &cur) != 0) return;
  const bool has_own = (cur.sa_flags & SA_SIGINFO) != 0 ? cur.sa_sigaction != nullptr : cur.sa_handler != SIG_DFL;
  if (has_own) return;  // note 2
  if (g_pipe_r < 0) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    ::fcntl(fds[1], F_SETFL, ::fcntl(fds[1], F_GETFL) | O_NONBLOCK);
    g_pipe_r = fds[0];
    g_pipe_w.store(fds[1], std::memory_order_relaxed);
  }
  g_dump_threads.fetch_add(1, std::memory_order_relaxed);
  try {
    g_thread = std::thread(dump_thread_main, &rt);
  } catch (...) {
    g_dump_threads.fetch_sub(1, std::memory_order_relaxed);
    return;  // no thread, no dump: SIGQUIT keeps its default action
  }
  struct sigaction sa {};
  sa.sa_handler = on_sigquit;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGQUIT, &sa, &g_previous);
  g_installed = true;
}

void dump_signal_stop(runtime&) {
  std::lock_guard lk(g_mu);
  if (!g_installed) return;
  g_installed = false;
  struct sigaction cur {};
  sigaction(SIGQUIT, nullptr, &cur);
  if ((cur.sa_flags & SA_SIGINFO) == 0 && cur.sa_handler == on_sigquit) sigaction(SIGQUIT, &g_previous, nullptr);
  // A blocking write of the stop byte: the pipe's write end is
  // non-blocking, so retry while it is full of unread 'q's (the thread is
  // reading them).
  const char c = 'x';
  while (::write(g_pipe_w.load(std::memory_order_relaxed), &c, 1) != 1 && (errno == EAGAIN || errno == EINTR))
    std::this_thread::yield();
  g_thread.join();
  g_dump_threads.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace weft::detail
