// The running-fiber pointer and the stack-overflow reporter.
//
// A fiber that runs off its stack faults on the guard page below it. The
// fault is taken on a per-thread alternate signal stack (the fiber's own
// stack is exhausted); the handler checks that the address is a guard page
// (stack_guard_hit, lock-free), names the fiber running on this thread and
// aborts. Everything in the handler is async-signal-safe: write(2), no
// allocation, no locks.

#include <weft/fibers/detail/fiber_base.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace weft::detail {
namespace {

thread_local fiber_base* t_running = nullptr;

constexpr std::size_t kAltStackSize = 64 * 1024;
thread_local void* t_altstack = nullptr;

struct sigaction g_prev_segv;
struct sigaction g_prev_bus;
std::once_flag g_handler_once;

// A tiny async-signal-safe formatter.
struct msg {
  char buf[512];
  std::size_t n = 0;
  void put(const char* s) {
    while (*s && n < sizeof buf - 1) buf[n++] = *s++;
  }
  void put(unsigned long long v) {
    char tmp[24];
    int i = 0;
    do tmp[i++] = static_cast<char>('0' + v % 10);
    while ((v /= 10) != 0);
    while (i > 0 && n < sizeof buf - 1) buf[n++] = tmp[--i];
  }
  void emit() {
    buf[n++] = '\n';
    ssize_t r = write(STDERR_FILENO, buf, n);
    (void)r;
  }
};

void describe_overflow(const fiber_base& f, const char* how) {
  msg m;
  m.put("weft: fiber ");
  m.put(static_cast<unsigned long long>(f.id));
  m.put(" (spawned at ");
  m.put(f.site.file_name());
  m.put(":");
  m.put(static_cast<unsigned long long>(f.site.line()));
  m.put(") overflowed its ");
  m.put(static_cast<unsigned long long>(f.ctx.st.size / 1024));
  m.put(" KiB stack");
  m.put(how);
  m.emit();
}

void chain(int sig, siginfo_t* info, void* uc) {
  const struct sigaction& prev = sig == SIGSEGV ? g_prev_segv : g_prev_bus;
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction != nullptr) {
      prev.sa_sigaction(sig, info, uc);
      return;
    }
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN && prev.sa_handler != nullptr) {
    prev.sa_handler(sig);
    return;
  }
  // Default action: restore it and return, so the fault repeats and kills
  // the process with the usual signal.
  signal(sig, SIG_DFL);
}

void on_fault(int sig, siginfo_t* info, void* uc) {
  if (stack_guard_hit(info->si_addr)) {
    if (fiber_base* f = t_running;
        f != nullptr && static_cast<std::byte*>(info->si_addr) < f->ctx.st.base &&
        f->ctx.st.base - static_cast<std::byte*>(info->si_addr) <= 65536) {
      describe_overflow(*f, "");
    } else {
      msg m;
      m.put("weft: access to a fiber stack guard page outside its fiber");
      m.emit();
    }
    abort();
  }
  chain(sig, info, uc);
}

}  // namespace

fiber_base* running_fiber() noexcept { return t_running; }
void set_running_fiber(fiber_base* f) noexcept { t_running = f; }

void install_overflow_handler_for_thread() {
  if (t_altstack == nullptr) {
    t_altstack = std::malloc(kAltStackSize);
    if (t_altstack != nullptr) {
      stack_t ss{};
      ss.ss_sp = t_altstack;
      ss.ss_size = kAltStackSize;
      ss.ss_flags = 0;
      sigaltstack(&ss, nullptr);
    }
  }
  std::call_once(g_handler_once, [] {
    struct sigaction sa{};
    sa.sa_sigaction = &on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_prev_segv);
    sigaction(SIGBUS, &sa, &g_prev_bus);
  });
}

void remove_overflow_handler_for_thread() {
  if (t_altstack == nullptr) return;
  stack_t ss{};
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
  std::free(t_altstack);
  t_altstack = nullptr;
}

void report_canary_broken(const fiber_base& f) {
  describe_overflow(f, " (its canary was overwritten)");
  abort();
}

}  // namespace weft::detail
