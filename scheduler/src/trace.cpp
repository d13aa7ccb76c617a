// The counters' summing and the execution trace: recording and writing the
// Chrome trace-event JSON file. The design notes are in trace.hpp.

#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "runtime_impl.hpp"

namespace weft::detail {

park_reason classify_park(const char* what) noexcept {
  if (what == nullptr) return park_reason::other;
  // The first letters tell the kinds apart (park.hpp lists the texts).
  switch (what[0]) {
    case 'c':  // "chan ...", "cond wait"
      return what[1] == 'h' ? park_reason::chan : park_reason::sync;
    case 's':  // "select", "semaphore acquire", "sleep"
      if (what[1] == 'l') return park_reason::sleep;
      return what[2] == 'l' ? park_reason::select : park_reason::sync;
    case 'm':  // "mutex lock"
    case 'r':  // "rwmutex lock", "rwmutex rlock"
    case 'w':  // "waitgroup wait"
    case 'o':  // "once"
      return park_reason::sync;
    case 'I':  // "IO wait (read)", "IO wait (write)"
      return park_reason::io;
    case 'b':  // "blocking call"
      return park_reason::blocking;
    case 't':  // "task join"
      return park_reason::join;
    default:
      return park_reason::other;
  }
}

void worker_counters::add_to(scheduler_counters& out) const noexcept {
  const auto r = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
#define WEFT_COUNTER(name) out.name += r(name);
#define WEFT_COUNTER_OF_WORKER(name)
#define WEFT_COUNTER_BY_REASON(name) \
  for (std::size_t i = 0; i < park_reason_count; i++) out.name[i] += r(name[i]);
#include <weft/scheduler/detail/counters.def>
  out.switches += r(to_loop);  // plus the resumes: counters_collect
}

void count_here(std::atomic<std::uint64_t> worker_counters::*m, std::uint64_t n) noexcept {
  if (worker* w = this_worker()) {
    worker_counters::bump(w->ctr.*m, n);
  } else if (runtime* rt = the_runtime()) {
    (rt->outside.*m).fetch_add(n, std::memory_order_relaxed);
  }
}

namespace {
std::mutex g_last_mu;  // guards the two below
scheduler_counters g_last_total;
std::vector<scheduler_counters> g_last_per_worker;
}  // namespace

// counters_collect fills the counters a worker keeps in fields of its own
// by hand: fibers_created, fibers_exited, resumes and switches.
constexpr int kCountersOfWorker = 0
#define WEFT_COUNTER(name)
#define WEFT_COUNTER_OF_WORKER(name) +1
#define WEFT_COUNTER_BY_REASON(name)
#include <weft/scheduler/detail/counters.def>
    ;
static_assert(kCountersOfWorker == 4, "a WEFT_COUNTER_OF_WORKER counter was added: fill it in counters_collect");

void counters_collect(runtime& rt, runtime_stats& s) {
  s.total = {};
  s.per_worker.assign(rt.workers.size(), {});
  for (std::size_t i = 0; i < rt.workers.size(); i++) {
    const worker& w = *rt.workers[i];
    scheduler_counters& c = s.per_worker[i];
    c.fibers_created = w.created.load(std::memory_order_relaxed);
    c.fibers_exited = w.exited.load(std::memory_order_relaxed);
    c.resumes = w.runs.load(std::memory_order_relaxed);
    w.ctr.add_to(c);
    c.switches += c.resumes;
    s.total += c;
  }
  // Fibers spawned from plain threads (less those that never started).
  s.total.fibers_created += rt.outside_created.load(std::memory_order_relaxed);
  rt.outside.add_to(s.total);
}

void counters_save(runtime& rt) {
  runtime_stats s;
  counters_collect(rt, s);
  std::lock_guard lk(g_last_mu);
  g_last_total = s.total;
  g_last_per_worker = std::move(s.per_worker);
}

void counters_last(runtime_stats& s) {
  std::lock_guard lk(g_last_mu);
  s.total = g_last_total;
  s.per_worker = g_last_per_worker;
}

// ---- the trace ----

namespace {

// The shared buffer of threads that are not workers (note 3), and the
// tracks of blocking-pool threads.
struct outside_trace {
  std::mutex mu;  // guards everything below
  bool active = false;
  std::vector<trace_record> rec;  // reserved up front: push_back never reallocates
  std::size_t cap = 0;
  std::uint64_t dropped = 0;
  std::uint64_t next_flow = 0;
  unsigned next_track = 0;

  trace_record* next() {
    if (!active) return nullptr;
    if (rec.size() == cap) {
      dropped++;
      return nullptr;
    }
    return &rec.emplace_back();
  }
};
outside_trace g_outside;

// The track of this pool thread (0 until it first records).
thread_local std::uint32_t t_track = 0;

std::string g_trace_path;
std::int64_t g_trace_t0 = 0;

constexpr std::uint32_t kOtherThreadsTid = 999;
constexpr std::uint32_t kPoolTidBase = 1000;

std::size_t events_per_worker() {
  if (const char* env = std::getenv("WEFT_TRACE_EVENTS")) {
    const long long v = std::strtoll(env, nullptr, 10);
    if (v > 0) return static_cast<std::size_t>(v);
  }
  return std::size_t(1) << 19;  // 32 MiB of address space per worker (64-byte records), touched as it fills
}

std::uint32_t worker_tid(const worker& w) noexcept { return w.index + 1; }

}  // namespace

void trace_start(runtime& rt) {
  g_trace_path = rt.opts.trace_file;
  if (g_trace_path.empty())
    if (const char* env = std::getenv("WEFT_TRACE")) g_trace_path = env;
  if (g_trace_path.empty()) return;
  const std::size_t cap = events_per_worker();
  for (worker* w : rt.workers) {
    auto* tb = new trace_buffer;
    // Default-initialised: the pages are touched only as records fill them.
    tb->rec = new trace_record[cap];
    tb->cap = cap;
    w->trace = tb;
  }
  {
    std::lock_guard lk(g_outside.mu);
    g_outside.rec.clear();
    g_outside.cap = cap;
    g_outside.rec.reserve(cap);
    g_outside.dropped = 0;
    g_outside.active = true;
  }
  g_trace_t0 = now_ns();
  g_trace_on.store(true, std::memory_order_relaxed);  // before the workers start (note 2)
}

void trace_switch(worker& w, fiber* from, run_end how, fiber* to) noexcept {
  trace_buffer* tb = w.trace;
  if (tb == nullptr) return;
  const std::int64_t now = now_ns();
  if (from != nullptr) {
    if (trace_record* r = tb->next()) {
      r->kind = trace_kind::run;
      r->ts = tb->run_since;
      r->dur = now - tb->run_since;
      r->a = from->id;
      r->b = tb->run_flow;
      r->p = how == run_end::park ? from->waiting.what : nullptr;
      r->file = from->site.file_name();
      r->line = from->site.line();
      r->tid = worker_tid(w);
      r->c = static_cast<std::uint8_t>(how);
    }
  }
  if (to != nullptr) {
    tb->run_since = now;
    tb->run_flow = to->trace_flow;
    to->trace_flow = 0;
  }
}

void trace_unpark(fiber* f) noexcept {
  const std::int64_t now = now_ns();
  worker* w = this_worker();
  if (w != nullptr && w->trace != nullptr) {
    trace_record* r = w->trace->next();
    if (r == nullptr) return;
    const std::uint64_t flow = (std::uint64_t(w->index) + 1) << 40 | ++w->trace->next_flow;
    *r = trace_record{now, 0, f->id, flow, nullptr, nullptr, 0, worker_tid(*w), trace_kind::unpark, 0};
    f->trace_flow = flow;
    return;
  }
  std::lock_guard lk(g_outside.mu);
  trace_record* r = g_outside.next();
  if (r == nullptr) return;
  const std::uint64_t flow = std::uint64_t(0xFFFFF) << 40 | ++g_outside.next_flow;
  *r = trace_record{now, 0, f->id, flow, nullptr, nullptr, 0, kOtherThreadsTid, trace_kind::unpark, 0};
  f->trace_flow = flow;
}

void trace_steal(worker& w, unsigned victim, std::uint64_t taken) noexcept {
  if (w.trace == nullptr) return;
  if (trace_record* r = w.trace->next())
    *r = trace_record{now_ns(), 0, victim, taken, nullptr, nullptr, 0, worker_tid(w), trace_kind::steal, 0};
}

void trace_idle(worker& w, std::int64_t since) noexcept {
  if (w.trace == nullptr) return;
  if (trace_record* r = w.trace->next())
    *r = trace_record{since, now_ns() - since, 0, 0, nullptr, nullptr, 0, worker_tid(w), trace_kind::idle, 0};
}

void trace_poll(std::int64_t since, bool blocking, int readied, int events) noexcept {
  worker* w = this_worker();
  if (w == nullptr || w->trace == nullptr) return;
  if (!blocking && events <= 0) return;  // an empty non-blocking poll: counted, not traced
  if (trace_record* r = w->trace->next())
    *r = trace_record{since,   now_ns() - since, static_cast<std::uint64_t>(readied), static_cast<std::uint64_t>(events),
                      nullptr, nullptr,          0, worker_tid(*w), trace_kind::poll, blocking};
}

void trace_io_ready(int fd, std::uint32_t events) noexcept {
  worker* w = this_worker();
  if (w == nullptr || w->trace == nullptr) return;
  if (trace_record* r = w->trace->next())
    *r = trace_record{now_ns(), 0,       static_cast<std::uint64_t>(fd), events, nullptr, nullptr, 0,
                      worker_tid(*w), trace_kind::io_ready, 0};
}

void trace_blocking(std::int64_t since, std::uint64_t id) noexcept {
  std::lock_guard lk(g_outside.mu);
  if (t_track == 0) t_track = kPoolTidBase + g_outside.next_track++;
  if (trace_record* r = g_outside.next())
    *r = trace_record{since, now_ns() - since, id, 0, nullptr, nullptr, 0, t_track, trace_kind::blocking, 0};
}

namespace {

// JSON string contents (paths, wait reasons): escapes quotes, backslashes
// and control characters.
std::string json_escape(const char* s) {
  std::string out;
  for (; s != nullptr && *s != '\0'; s++) {
    const unsigned char ch = static_cast<unsigned char>(*s);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out;
}

const char* base_name(const char* path) {
  if (path == nullptr) return "?";
  const char* slash = std::strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

const char* run_end_name(std::uint8_t c) {
  switch (static_cast<run_end>(c)) {
    case run_end::yield: return "yield";
    case run_end::park: return "park";
    case run_end::exit: return "exit";
    case run_end::loop: return "loop";
    case run_end::abandon: return "abandon";
  }
  return "?";
}

struct json_writer {
  std::FILE* f;
  bool first = true;
  void event(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    std::fputs(first ? "\n" : ",\n", f);
    first = false;
    va_list ap;
    va_start(ap, fmt);
    std::vfprintf(f, fmt, ap);
    va_end(ap);
  }
};

double us(std::int64_t ns) { return static_cast<double>(ns - g_trace_t0) / 1000.0; }

void write_record(json_writer& j, const trace_record& r) {
  switch (r.kind) {
    case trace_kind::run: {
      const std::string file = json_escape(r.file);
      const std::string base = json_escape(base_name(r.file));
      const std::string reason = json_escape(static_cast<const char*>(r.p));
      j.event(
          "{\"name\":\"fiber %" PRIu64 " (%s:%u)\",\"cat\":\"run\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,"
          "\"pid\":1,\"tid\":%u,\"args\":{\"fiber\":%" PRIu64 ",\"site\":\"%s:%u\",\"ended\":\"%s\"%s%s%s}}",
          r.a, base.c_str(), r.line, us(r.ts), static_cast<double>(r.dur) / 1000.0, r.tid, r.a, file.c_str(), r.line,
          run_end_name(r.c), r.p != nullptr ? ",\"reason\":\"" : "", reason.c_str(), r.p != nullptr ? "\"" : "");
      if (r.b != 0)
        j.event("{\"name\":\"unpark\",\"cat\":\"wake\",\"ph\":\"f\",\"bp\":\"e\",\"id\":%" PRIu64
                ",\"ts\":%.3f,\"pid\":1,\"tid\":%u}",
                r.b, us(r.ts), r.tid);
      if (static_cast<run_end>(r.c) == run_end::park)
        j.event("{\"name\":\"park: %s\",\"cat\":\"park\",\"ph\":\"i\",\"s\":\"t\",\"ts\":%.3f,\"pid\":1,\"tid\":%u,"
                "\"args\":{\"fiber\":%" PRIu64 ",\"reason\":\"%s\",\"kind\":\"%s\"}}",
                reason.c_str(), us(r.ts + r.dur), r.tid, r.a, reason.c_str(),
                park_reason_name(classify_park(static_cast<const char*>(r.p))));
      break;
    }
    case trace_kind::unpark:
      j.event("{\"name\":\"unpark fiber %" PRIu64 "\",\"cat\":\"wake\",\"ph\":\"i\",\"s\":\"t\",\"ts\":%.3f,"
              "\"pid\":1,\"tid\":%u,\"args\":{\"fiber\":%" PRIu64 ",\"flow\":%" PRIu64 "}}",
              r.a, us(r.ts), r.tid, r.a, r.b);
      j.event("{\"name\":\"unpark\",\"cat\":\"wake\",\"ph\":\"s\",\"id\":%" PRIu64 ",\"ts\":%.3f,\"pid\":1,\"tid\":%u}",
              r.b, us(r.ts), r.tid);
      break;
    case trace_kind::steal:
      j.event("{\"name\":\"steal\",\"cat\":\"steal\",\"ph\":\"i\",\"s\":\"t\",\"ts\":%.3f,\"pid\":1,\"tid\":%u,"
              "\"args\":{\"victim\":%" PRIu64 ",\"fibers\":%" PRIu64 "}}",
              us(r.ts), r.tid, r.a, r.b);
      break;
    case trace_kind::idle:
      j.event("{\"name\":\"sleep (futex)\",\"cat\":\"idle\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":1,\"tid\":%u}",
              us(r.ts), static_cast<double>(r.dur) / 1000.0, r.tid);
      break;
    case trace_kind::poll:
      j.event("{\"name\":\"%s\",\"cat\":\"io\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":1,\"tid\":%u,"
              "\"args\":{\"fibers_readied\":%" PRIu64 ",\"events\":%" PRIu64 "}}",
              r.c ? "poll (epoll_wait, blocking)" : "poll (epoll_wait)", us(r.ts), static_cast<double>(r.dur) / 1000.0,
              r.tid, r.a, r.b);
      break;
    case trace_kind::io_ready:
      j.event("{\"name\":\"fd %" PRIu64 " ready\",\"cat\":\"io\",\"ph\":\"i\",\"s\":\"t\",\"ts\":%.3f,\"pid\":1,"
              "\"tid\":%u,\"args\":{\"fd\":%" PRIu64 ",\"epoll_events\":%" PRIu64 "}}",
              r.a, us(r.ts), r.tid, r.a, r.b);
      break;
    case trace_kind::blocking:
      j.event("{\"name\":\"blocking call (fiber %" PRIu64 ")\",\"cat\":\"blocking\",\"ph\":\"X\",\"ts\":%.3f,"
              "\"dur\":%.3f,\"pid\":1,\"tid\":%u,\"args\":{\"fiber\":%" PRIu64 "}}",
              r.a, us(r.ts), static_cast<double>(r.dur) / 1000.0, r.tid, r.a);
      break;
  }
}

}  // namespace

void trace_finish(runtime& rt) {
  if (!g_trace_on.load(std::memory_order_relaxed)) return;
  g_trace_on.store(false, std::memory_order_relaxed);  // the workers have been joined (note 2)
  std::vector<trace_record> outside;
  std::uint64_t dropped = 0;
  unsigned tracks = 0;
  {
    std::lock_guard lk(g_outside.mu);
    g_outside.active = false;
    outside.swap(g_outside.rec);
    dropped += g_outside.dropped;
    tracks = g_outside.next_track;
  }
  for (worker* w : rt.workers) dropped += w->trace->dropped;
  std::FILE* f = std::fopen(g_trace_path.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "weft: cannot write the trace to %s\n", g_trace_path.c_str());
  } else {
    std::fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", f);
    json_writer j{f};
    j.event("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"weft\"}}");
    for (worker* w : rt.workers) {
      j.event("{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"args\":{\"name\":\"worker %u\"}}",
              worker_tid(*w), w->index);
      j.event("{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"args\":{\"sort_index\":%u}}",
              worker_tid(*w), w->index);
    }
    j.event("{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"args\":{\"name\":\"other threads\"}}",
            kOtherThreadsTid);
    for (unsigned i = 0; i < tracks; i++)
      j.event("{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"args\":{\"name\":\"blocking pool %u\"}}",
              kPoolTidBase + i, i);
    if (dropped != 0)
      j.event("{\"name\":\"weft_trace_dropped\",\"ph\":\"M\",\"pid\":1,\"args\":{\"dropped_events\":%" PRIu64
              ",\"note\":\"a buffer filled: events after that point were dropped (WEFT_TRACE_EVENTS sets the "
              "records per worker)\"}}",
              dropped);
    for (worker* w : rt.workers)
      for (std::size_t i = 0; i < w->trace->n; i++) write_record(j, w->trace->rec[i]);
    for (const trace_record& r : outside) write_record(j, r);
    std::fprintf(f, "\n],\"otherData\":{\"dropped_events\":%" PRIu64 "}}\n", dropped);
    if (std::fclose(f) != 0) std::fprintf(stderr, "weft: error writing the trace to %s\n", g_trace_path.c_str());
    if (dropped != 0)
      std::fprintf(stderr, "weft: the trace %s dropped %" PRIu64 " events (its buffers filled)\n", g_trace_path.c_str(),
                   dropped);
  }
  for (worker* w : rt.workers) {
    delete[] w->trace->rec;
    delete w->trace;
    w->trace = nullptr;
  }
}

}  // namespace weft::detail
