// The fiber dump: every registered fiber with its state, wait reason,
// spawn site and a symbolized backtrace of where it is parked, like Go's
// goroutine dump. Printed by weft::dump_fibers(), on SIGQUIT
// (dump_signal.cpp) and in the deadlock report (deadlock.cpp).
//
// Design notes
// 1. The frames of a suspended fiber are unwound from the registers that
//    jump_fcontext saved on its stack (fibers/: context_decode_saved), by
//    elfutils' libdw (dwfl): its unwinder follows the DWARF call-frame
//    information (.eh_frame, which g++ emits for every function, with or
//    without frame pointers) from a register set and a memory reader that
//    we give it, and the same library symbolizes each pc with its function
//    and, where the binary has debug information, file:line. Rejected:
//    frame-pointer walking (needs -fno-omit-frame-pointer in every user's
//    code); libunwind (unwinds from a crafted context, but symbolizes
//    without file:line); Boost.Stacktrace and libbacktrace (they unwind
//    only the calling thread's own stack). Without libdw at build time
//    (WEFT_HAVE_LIBDW unset) the dump prints each parked fiber's resume pc
//    and says backtraces are unavailable.
// 2. A dump does not stop the world. Other workers keep running, so the
//    fiber being unwound may be resumed, may park again elsewhere, or may
//    be on its way to exit. What keeps it sound:
//    a. The registry shard's lock is held while one fiber is looked at: a
//       registered fiber leaves the registry (registry_remove, on its own
//       stack) before it is done, so under the lock its control block and
//       stack stay allocated.
//    b. The fields another thread writes without that lock (state, the
//       wait reason, the saved fctx) and the stack's contents are copied
//       with process_vm_readv: a copy made by the kernel, that cannot fault
//       and is no C++ data race; it may be stale. The stack is copied once,
//       from the saved sp to the stack's top, and the unwinder reads only
//       that copy: a read outside it ends the backtrace (a fiber's frames
//       all lie in its own stack), so a torn copy gives wrong frames at
//       worst, never a stray read.
//    c. state and fctx are read again after the copy; if either changed,
//       the fiber moved while being copied and its entry says so.
//    Unwinding runs under the shard lock (it reads only the copy); the
//    symbolization (the slow part: DWARF line tables) runs after every lock
//    is released. When the deadlock detector asks, nothing moves
//    (dump_world::still) and a failing process_vm_readv (a seccomp filter
//    may forbid it) falls back to plain reads.
// 3. A fiber that is running now is shown as running on its worker,
//    without frames: its stack changes under any reader. A fiber joins the
//    registry when it first parks or yields (fiber.hpp), so one running
//    that has done neither (a CPU loop, a raw blocking syscall) is not in
//    it: the dump finds it through its worker's `current`, copied with
//    process_vm_readv like the fields of note 2b (its block may be freed
//    meanwhile: the copy then fails or is stale, and the worker's
//    running_id, read after it, must still name it). The fibers left, that
//    are queued and have never run, have no frames: they are counted, not
//    listed (runtime::live_fibers less the fibers listed).
// 4. The unwinder and libdw's DWARF reading need far more stack than a
//    fiber's 64 KiB, so the work runs on a plain thread: dump_fibers()
//    called on a fiber starts a helper thread and waits for it (blocking
//    its worker for the dump's duration, like a blocking syscall).
// 5. Dumps are serialized by one mutex, taken before any registry lock
//    (and never while holding one). Each dump makes its own libdw session
//    and ends it: a session kept for the next dump would keep the ELF files
//    it read open for the rest of the process, and would have to follow
//    every dlopen and dlclose.

#include "dump.hpp"

#include <cxxabi.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <source_location>
#include <system_error>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#if WEFT_HAVE_LIBDW
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <libelf.h>
#endif

#include "runtime_impl.hpp"

namespace weft::detail {

std::atomic<std::int64_t> g_dump_threads{0};

namespace {

constexpr int kMaxFrames = 64;
// The most of one fiber's stack that is copied (from its saved sp up):
// frames beyond are not shown.
constexpr std::size_t kMaxStackCopy = std::size_t(1) << 20;

// Whether process_vm_readv works on this process: 1 yes, 0 no, -1 not yet
// known. Relaxed: every thread that finds out computes the same answer.
std::atomic<int> g_vm_readv{-1};

bool vm_readv(void* dst, const void* src, std::size_t n) noexcept {
  iovec local{dst, n};
  iovec remote{const_cast<void*>(src), n};
  return ::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(n);
}

bool vm_readv_works() noexcept {
  int v = g_vm_readv.load(std::memory_order_relaxed);
  if (v < 0) {
    const std::uint64_t probe = 0x5eed;
    std::uint64_t got = 0;
    v = vm_readv(&got, &probe, sizeof got) && got == probe ? 1 : 0;
    g_vm_readv.store(v, std::memory_order_relaxed);
  }
  return v == 1;
}

// Copies n bytes at src, which another thread may be writing (note 2b).
// Plain reads only when nothing moves and the kernel copy is unavailable.
bool peek(void* dst, const void* src, std::size_t n, dump_world world) noexcept {
  if (vm_readv_works()) return vm_readv(dst, src, n);
  if (world != dump_world::still) return false;
  std::memcpy(dst, src, n);
  return true;
}

const char* state_name(fiber_state s) {
  switch (s) {
    case fiber_state::created: return "not started";
    case fiber_state::runnable: return "runnable";
    case fiber_state::running: return "running";
    case fiber_state::parking: return "parking";
    case fiber_state::parked: return "parked";
    case fiber_state::done: return "done";
  }
  return "?";
}

// One fiber, as copied under its shard's lock.
struct fiber_entry {
  std::uint64_t id = 0;
  std::string head;                 // "fiber N [...]: spawned at file:line"
  std::string note;                 // why there are no frames, or a warning
  std::vector<std::uintptr_t> pcs;  // return addresses, innermost first
};

// The stack copy and registers one unwind reads (note 2b).
struct unwind_job {
  saved_registers regs;
  std::uintptr_t lo = 0;  // the address copy[0] came from
  std::vector<std::byte> copy;
  std::vector<std::uintptr_t>* pcs = nullptr;
};

#if WEFT_HAVE_LIBDW

// libdw's view of this process, for one dump: the loaded modules (from
// /proc/self/maps), and a "thread" whose registers and memory come from
// the current unwind_job.
// Separate debug files (Debian's -dbgsym packages under /usr/lib/debug)
// are looked up locally. libdw would also ask a debuginfod server over
// the network when DEBUGINFOD_URLS is set; a dump must not wait on the
// network, so then no separate debug file is looked for at all (the
// binaries' own symbols and debug information are still used).
int find_debuginfo(Dwfl_Module* m, void** user, const char* module, Dwarf_Addr base, const char* file,
                   const char* link, GElf_Word crc, char** debuginfo_file) {
  const char* urls = std::getenv("DEBUGINFOD_URLS");
  if (urls != nullptr && *urls != '\0') return -1;
  return dwfl_standard_find_debuginfo(m, user, module, base, file, link, crc, debuginfo_file);
}

class unwinder {
 public:
  unwinder() {
    static const Dwfl_Callbacks callbacks = {dwfl_linux_proc_find_elf, find_debuginfo, nullptr, nullptr};
    static const Dwfl_Thread_Callbacks thread_callbacks = {
        next_thread, get_thread, memory_read, set_initial_registers, nullptr, nullptr};
    // The ELF that tells libdw the architecture, which must outlive the
    // session: the executable, opened for this.
    elf_version(EV_CURRENT);
    exe_fd_ = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    exe_ = exe_fd_ >= 0 ? elf_begin(exe_fd_, ELF_C_READ_MMAP, nullptr) : nullptr;
    dwfl_ = dwfl_begin(&callbacks);
    ok_ = dwfl_ != nullptr && exe_ != nullptr && report() &&
          dwfl_attach_state(dwfl_, exe_, ::getpid(), &thread_callbacks, this);
    if (!ok_) set_error();
  }
  ~unwinder() {
    if (dwfl_ != nullptr) dwfl_end(dwfl_);
    if (exe_ != nullptr) elf_end(exe_);
    if (exe_fd_ >= 0) ::close(exe_fd_);
  }
  unwinder(const unwinder&) = delete;
  unwinder& operator=(const unwinder&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

  // Fills *job.pcs with the frames of job's stack copy.
  void unwind(unwind_job& job) {
    job_ = &job;
    // -1 at the stack's bottom is the usual end (no CFI for the fcontext
    // trampoline, or a read beyond the copy); the frames found stand.
    dwfl_getthread_frames(dwfl_, ::getpid(), on_frame, &job);
    job_ = nullptr;
  }

  // "function+0xoff\n        file:line" for the return address pc.
  std::string symbolize(std::uintptr_t pc) {
    // A return address may be one past the call's last byte, in the next
    // function or line: look up the call instruction instead.
    const Dwarf_Addr at = pc - 1;
    char buf[64];
    std::string out;
    Dwfl_Module* m = dwfl_addrmodule(dwfl_, at);
    const char* name = nullptr;
    GElf_Off off = 0;
    GElf_Sym sym;
    if (m != nullptr) name = dwfl_module_addrinfo(m, at, &off, &sym, nullptr, nullptr, nullptr);
    if (name != nullptr) {
      int status = -1;
      char* dem = abi::__cxa_demangle(name, nullptr, nullptr, &status);
      out += status == 0 && dem != nullptr ? dem : name;
      std::free(dem);
      std::snprintf(buf, sizeof buf, "+0x%llx", static_cast<unsigned long long>(off + 1));
      out += buf;
    } else {
      out += "??";
    }
    out += "\n        ";
    Dwfl_Line* line = m != nullptr ? dwfl_module_getsrc(m, at) : nullptr;
    int lineno = 0;
    const char* file = line != nullptr ? dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr) : nullptr;
    if (file != nullptr) {
      out += file;
      out += ':';
      out += std::to_string(lineno);
    } else {
      const char* mod = m != nullptr ? dwfl_module_info(m, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr)
                                     : nullptr;
      out += mod != nullptr ? mod : "?";
    }
    std::snprintf(buf, sizeof buf, " pc=0x%llx", static_cast<unsigned long long>(pc));
    out += buf;
    return out;
  }

 private:
  bool report() {
    dwfl_report_begin(dwfl_);
    return dwfl_linux_proc_report(dwfl_, ::getpid()) == 0 && dwfl_report_end(dwfl_, nullptr, nullptr) == 0;
  }
  void set_error() {
    const char* msg = dwfl_errmsg(-1);
    error_ = msg != nullptr ? msg : "libdw failed";
  }

  // One pseudo-thread, whose tid is the pid (dwfl_getthread_frames' key).
  static pid_t next_thread(Dwfl*, void* arg, void** thread_arg) {
    if (*thread_arg != nullptr) return 0;
    *thread_arg = arg;
    return ::getpid();
  }
  static bool get_thread(Dwfl*, pid_t tid, void* arg, void** thread_arg) {
    *thread_arg = arg;
    return tid == ::getpid();
  }
  // Reads only the stack copy (note 2b).
  static bool memory_read(Dwfl*, Dwarf_Addr addr, Dwarf_Word* result, void* arg) {
    const unwind_job* job = static_cast<unwinder*>(arg)->job_;
    if (job == nullptr || addr < job->lo || addr - job->lo + sizeof(Dwarf_Word) > job->copy.size()) return false;
    std::memcpy(result, job->copy.data() + (addr - job->lo), sizeof(Dwarf_Word));
    return true;
  }
  static bool set_initial_registers(Dwfl_Thread* t, void* arg) {
    const saved_registers& r = static_cast<unwinder*>(arg)->job_->regs;
    // DWARF register numbers on x86-64: 3 rbx, 6 rbp, 7 rsp, 12..15 r12..r15.
    const Dwarf_Word rbx = r.rbx;
    const Dwarf_Word bp_sp[2] = {r.rbp, r.sp};
    const Dwarf_Word r12_15[4] = {r.r12, r.r13, r.r14, r.r15};
    if (!dwfl_thread_state_registers(t, 3, 1, &rbx) || !dwfl_thread_state_registers(t, 6, 2, bp_sp) ||
        !dwfl_thread_state_registers(t, 12, 4, r12_15))
      return false;
    dwfl_thread_state_register_pc(t, r.pc);
    return true;
  }
  static int on_frame(Dwfl_Frame* state, void* arg) {
    auto* job = static_cast<unwind_job*>(arg);
    Dwarf_Addr pc = 0;
    if (!dwfl_frame_pc(state, &pc, nullptr) || pc == 0) return DWARF_CB_ABORT;
    job->pcs->push_back(pc);
    return job->pcs->size() < kMaxFrames ? DWARF_CB_OK : DWARF_CB_ABORT;
  }

  int exe_fd_ = -1;
  Elf* exe_ = nullptr;
  Dwfl* dwfl_ = nullptr;
  bool ok_ = false;
  std::string error_;
  unwind_job* job_ = nullptr;
};

#else  // !WEFT_HAVE_LIBDW

class unwinder {
 public:
  bool ok() const { return false; }
  const std::string& error() const { return error_; }
  void unwind(unwind_job&) {}
  std::string symbolize(std::uintptr_t) { return {}; }

 private:
  std::string error_ = "weft was built without libdw (libdw-dev)";
};

#endif

// The heading line of f, and its frames when it is suspended. Called with
// f's shard locked (note 2a).
fiber_entry look_at(runtime& rt, fiber* f, unwinder& uw, unwind_job& job, dump_world world) {
  fiber_entry e;
  e.id = f->id;  // id, is_main, site and ctx.st are written before f is registered
  fiber_state state{};
  wait_reason why;
  fcontext_t fctx = nullptr;
  const bool read = peek(&state, &f->state, sizeof state, world) && peek(&why, &f->waiting, sizeof why, world) &&
                    peek(&fctx, &f->ctx.fctx, sizeof fctx, world);
  std::string head = "fiber ";
  head += std::to_string(f->id);
  if (f->is_main) head += " (main)";
  head += " [";
  if (!read) {
    head += "?";
  } else if (state == fiber_state::parked && why.what != nullptr) {
    head += why.what;
    char buf[48];
    if (why.fd >= 0) {
      head += " fd ";
      head += std::to_string(why.fd);
    } else if (why.object != nullptr) {
      std::snprintf(buf, sizeof buf, " %p", why.object);
      head += buf;
    }
  } else if (state == fiber_state::running) {
    head += "running";
    for (worker* w : rt.all)
      if (w->running_id.load(std::memory_order_relaxed) == f->id) {
        head += w->is_spare ? " on spare worker " : " on worker ";
        head += std::to_string(w->index);
      }
    head += rt.stuck_note(f->id);
  } else {
    head += state_name(state);
  }
  head += "]: spawned at ";
  head += f->site.file_name();
  head += ':';
  head += std::to_string(f->site.line());
  e.head = std::move(head);

  if (!read) {
    e.note = "(its state could not be read: process_vm_readv is not permitted here)";
    return e;
  }
  const bool suspended = state == fiber_state::parked || state == fiber_state::runnable;
  if (!suspended || fctx == nullptr || !f->ctx.st) return e;
  if (!kSavedRegistersKnown) {
    e.note = "(backtraces unavailable: unknown register layout on this architecture)";
    return e;
  }
  const auto at = reinterpret_cast<std::uintptr_t>(fctx);
  const auto top = reinterpret_cast<std::uintptr_t>(f->ctx.st.top());
  const auto base = reinterpret_cast<std::uintptr_t>(f->ctx.st.base);
  if (at < base || at + kSavedFrameBytes > top) {
    e.note = "(its saved context lies outside its stack)";
    return e;
  }
  std::uintptr_t frame[kSavedFrameBytes / 8];
  if (!peek(frame, fctx, sizeof frame, world) || !context_decode_saved(at, frame, job.regs)) return e;
  if (!uw.ok()) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "(backtrace unavailable: %s; resumes at pc=0x%llx)", uw.error().c_str(),
                  static_cast<unsigned long long>(job.regs.pc));
    e.note = buf;
    return e;
  }
  job.lo = job.regs.sp;
  job.copy.resize(std::min<std::size_t>(top - job.lo, kMaxStackCopy));
  if (!peek(job.copy.data(), reinterpret_cast<const void*>(job.lo), job.copy.size(), world)) return e;
  // Note 2c: did it move while we copied? (The unwind below reads only the
  // copy, so the copy is all that can be torn.)
  fiber_state state2{};
  fcontext_t fctx2 = nullptr;
  if (!peek(&state2, &f->state, sizeof state2, world) || !peek(&fctx2, &f->ctx.fctx, sizeof fctx2, world) ||
      state2 != state || fctx2 != fctx)
    e.note = "(it was resumed while being dumped: these frames may be wrong)";
  job.pcs = &e.pcs;
  uw.unwind(job);
  job.pcs = nullptr;
  return e;
}

// Note 3: the fibers running now that have never parked or yielded, so
// are not in the registry, found through each worker's `current`.
void add_running_unregistered(runtime& rt, std::vector<fiber_entry>& entries, dump_world world) {
  for (worker* w : rt.all) {
    fiber* f = nullptr;
    if (!peek(&f, &w->current, sizeof f, world) || f == nullptr) continue;
    registry_shard* shard = nullptr;
    std::uint64_t id = 0;
    bool is_main = false;
    alignas(std::source_location) unsigned char site[sizeof(std::source_location)];
    if (!peek(&shard, &f->shard, sizeof shard, world) || shard != nullptr) continue;  // listed already
    if (!peek(&id, &f->id, sizeof id, world) || !peek(&is_main, &f->is_main, sizeof is_main, world) ||
        !peek(site, &f->site, sizeof site, world))
      continue;
    // Still the same fiber? (f may have exited and its block been reused.)
    if (id == 0 || w->running_id.load(std::memory_order_relaxed) != id) continue;
    // A source_location is a pointer to static data, so the copied bytes
    // stay a valid one whatever became of f.
    std::source_location loc;
    static_assert(std::is_trivially_copyable_v<std::source_location>);
    std::memcpy(&loc, site, sizeof loc);
    fiber_entry e;
    e.id = id;
    e.head = "fiber ";
    e.head += std::to_string(id);
    if (is_main) e.head += " (main)";
    e.head += w->is_spare ? " [running on spare worker " : " [running on worker ";
    e.head += std::to_string(w->index);
    e.head += ", has not parked yet";
    e.head += rt.stuck_note(id);  // the monitor's, if it holds its worker
    e.head += "]: spawned at ";
    e.head += loc.file_name();
    e.head += ':';
    e.head += std::to_string(loc.line());
    entries.push_back(std::move(e));
  }
}

}  // namespace

std::string describe_fibers_with_frames(runtime& rt, dump_world world) {
  // One dump at a time (note 5).
  static std::mutex mu;
  std::lock_guard lk_dump(mu);
  unwinder uw;
  unwind_job job;
  std::vector<fiber_entry> entries;
  for (worker* w : rt.all) {
    std::lock_guard lk(w->registry.mu);
    for (fiber* f = w->registry.head; f != nullptr; f = f->reg_next) entries.push_back(look_at(rt, f, uw, job, world));
  }
  add_running_unregistered(rt, entries, world);
  std::sort(entries.begin(), entries.end(), [](const fiber_entry& a, const fiber_entry& b) { return a.id < b.id; });
  entries.erase(std::unique(entries.begin(), entries.end(),
                            [](const fiber_entry& a, const fiber_entry& b) { return a.id == b.id; }),
                entries.end());
  std::unordered_map<std::uintptr_t, std::string> symbols;
  std::string out;
  for (const fiber_entry& e : entries) {
    out += e.head;
    out += "\n";
    for (std::uintptr_t pc : e.pcs) {
      auto [it, fresh] = symbols.try_emplace(pc);
      if (fresh) it->second = uw.symbolize(pc);
      out += "    ";
      out += it->second;
      out += "\n";
    }
    if (!e.note.empty()) out += "    " + e.note + "\n";
    if (!e.pcs.empty() || !e.note.empty()) out += "\n";
  }
  const std::size_t live = rt.live_fibers();
  if (live > entries.size()) {
    out += "(and about ";
    out += std::to_string(live - entries.size());
    out += " fibers queued that have not run yet: they have no frames)\n";
  }
  return out;
}

std::string runtime::describe_fibers() { return describe_fibers_with_frames(*this, dump_world::moving); }

}  // namespace weft::detail

namespace weft {

void dump_fibers() {
  const auto work = [] {
    detail::runtime* rt = detail::the_runtime();
    if (rt == nullptr) {
      std::fputs("weft: no runtime is running\n", stderr);
      return;
    }
    std::string s = "weft: fiber dump\n" + detail::describe_fibers_with_frames(*rt, detail::dump_world::moving);
    std::fputs(s.c_str(), stderr);
    std::fflush(stderr);
  };
  if (detail::this_worker() == nullptr) {
    work();
    return;
  }
  // On a fiber: the work needs a thread's stack (note 4).
  detail::g_dump_threads.fetch_add(1, std::memory_order_relaxed);
  try {
    std::thread t(work);
    t.join();
  } catch (const std::system_error&) {
    std::fputs("weft: dump_fibers: cannot start its helper thread\n", stderr);
  }
  detail::g_dump_threads.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace weft
