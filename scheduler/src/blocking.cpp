// The blocking pool: threads that run weft::blocking() jobs so that a
// blocking syscall parks one fiber instead of a whole worker. Threads are
// created on demand up to max_blocking_threads and leave after 10 s idle.
//
// Design notes
// 1. Completion: the pool thread sets `done` and unparks the fiber while
//    holding the job's mutex; the fiber reads `done` under the same mutex,
//    so once it sees done == true the pool thread has finished with the job
//    and the fiber may return (and free the job with its frame). A job is
//    on `running` (under the pool's mutex) from when a thread takes it until
//    its call returns, before `done` is set: while it is there its frame is
//    alive, so blocking_pool_abandon may touch it.
// 2. Abandonment (shutdown.cpp, note 2b): after the shutdown grace,
//    blocking_pool_abandon sets `abandoned` on every job still queued or
//    running (under the job's mutex, so exactly one of `done` and
//    `abandoned` wins) and wakes its fiber, which abandons itself: its frame
//    is never freed, so the job and the call's result slot stay valid for
//    the stuck thread. That thread is counted in `stuck`; when its call
//    returns it sees `abandoned`, touches neither the fiber nor any runtime,
//    and leaves.
// 3. Provisioning: below max_blocking_threads, a call waits behind others
//    only while the pool already has a thread per CPU and is making
//    progress, and behind stuck calls for about kGrowAfter; a burst of
//    short calls does not start a thread per call. Idle and starting
//    threads are claimed at submit time: a job is claimed while the queue
//    holds no more jobs than there are idle threads (each woken by its own
//    notify) and threads being started (each takes a job before it ever
//    waits). (Counting idle threads alone let two jobs submitted back to
//    back both count on the same idle thread, which drops its idle count
//    only once it runs.) An unclaimed job starts a thread at once while the
//    pool has fewer threads than the CPUs the process may run on (`cpus`):
//    that many calls can make progress at the same time, so a burst of
//    page-cache reads runs on all CPUs rather than on the one thread that
//    happens to exist. Beyond that it starts one at once only if the pool
//    has made no progress for kGrowAfter: no thread has taken a job,
//    returned from a call or been started in that time (last_progress;
//    true of a quiet pool). Otherwise the busy threads are getting through
//    the queue, or a thread just started will take it, and the monitor
//    thread (monitor_main) starts a thread whenever kGrowAfter passes
//    without progress while unclaimed jobs wait. This is Go's rule for
//    syscalls: up to GOMAXPROCS goroutines run at once, and sysmon hands a
//    processor off only from a syscall that has lasted.
// 4. Lifetime: blocking_pool_stop waits for the monitor and every thread
//    but the stuck ones. If some are stuck the pool is orphaned instead of
//    deleted, and the last stuck thread to leave deletes it: a late return
//    never touches freed memory, even while another runtime runs.
// 5. Lock order: the pool's mu before a job's mu (blocking_pool_abandon
//    holds both); thread_main and run_blocking never hold both at once.

#include <sched.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <vector>

#include "runtime_impl.hpp"

namespace weft::detail {

namespace {
// How long the pool goes without progress before an unclaimed job gets a
// new thread (note 3): long against a page-cache read, short against a
// call that really blocks.
constexpr std::int64_t kGrowAfterNs = 1'000'000;
}  // namespace

struct blocking_job {
  void (*fn)(void*);
  void* arg;
  parker* p;
  std::mutex mu;           // guards done and abandoned
  bool done = false;       // the call returned; the fiber may go
  bool abandoned = false;  // given up at shutdown; the fiber abandons itself
};

struct blocking_pool {
  std::mutex mu;  // guards everything below
  std::condition_variable cv;
  std::condition_variable all_gone;
  std::condition_variable monitor_cv;  // wakes the monitor (note 3)
  std::deque<blocking_job*> jobs;     // queued, not yet taken
  std::vector<blocking_job*> running; // taken, call not yet returned (note 1)
  unsigned threads = 0;
  unsigned idle = 0;      // waiting on cv for a job
  unsigned starting = 0;  // created, not yet in thread_main (note 3)
  unsigned stuck = 0;  // threads whose job was abandoned, still in its call
  unsigned max_threads = 64;
  unsigned cpus = 1;  // CPUs the process may run on, at start (note 3)
  std::int64_t last_progress = 0;  // now_ns() of the last take or return (note 3)
  bool monitor_started = false;    // the monitor thread exists, until stop
  bool monitor_waiting = false;    // it waits without a deadline: notify it
  bool stopping = false;
  bool orphaned = false;  // stop() found stuck threads: the last one deletes us

  void thread_main() {
    std::unique_lock lk(mu);
    starting--;
    for (;;) {
      while (jobs.empty() && !stopping) {
        idle++;
        const bool timed_out = cv.wait_for(lk, std::chrono::seconds(10)) == std::cv_status::timeout;
        idle--;
        if (timed_out && jobs.empty()) goto leave;
      }
      if (jobs.empty()) break;  // stopping
      blocking_job* j = jobs.front();
      jobs.pop_front();
      running.push_back(j);
      last_progress = now_ns();
      lk.unlock();
      const std::int64_t traced_since = trace_on() ? now_ns() : 0;
      j->fn(j->arg);  // fn stores its own result or exception
      if (trace_on()) trace_blocking(traced_since, j->p->owner != nullptr ? j->p->owner->id : 0);
      lk.lock();
      running.erase(std::find(running.begin(), running.end(), j));
      last_progress = now_ns();
      lk.unlock();
      bool abandoned;
      {
        std::lock_guard jl(j->mu);
        abandoned = j->abandoned;
        if (!abandoned) {
          j->done = true;
          unpark(*j->p);
        }
      }
      lk.lock();
      if (abandoned) {
        // Its runtime may be gone (note 4): leave without touching it.
        stuck--;
        threads--;
        if (orphaned && threads == 0) {
          lk.unlock();
          delete this;
          return;
        }
        all_gone.notify_all();
        return;
      }
    }
  leave:
    threads--;
    all_gone.notify_all();
  }

  // Jobs queued that no idle or starting thread will take (note 3).
  std::size_t unclaimed() const { return jobs.size() - std::min<std::size_t>(jobs.size(), idle + starting); }

  // Whether an unclaimed job should start a thread now (note 3): the pool
  // has fewer threads than CPUs, or has made no progress for kGrowAfter
  // (which is also true of a pool that has been quiet, or has no thread).
  bool should_grow(std::int64_t now) const {
    return unclaimed() != 0 && threads < max_threads && (threads < cpus || now - last_progress >= kGrowAfterNs);
  }

  // Counts a thread about to be started (so stop() waits for it). Under mu.
  void count_start(std::int64_t now) {
    threads++;
    starting++;
    last_progress = now;  // it takes a job before the monitor looks again
  }

  // The monitor (note 3): while unclaimed jobs wait, it wakes every
  // kGrowAfter and starts a thread if nothing progressed meanwhile.
  void monitor_main() {
    std::unique_lock lk(mu);
    while (!stopping) {
      if (unclaimed() == 0 || threads >= max_threads) {
        monitor_waiting = true;
        monitor_cv.wait(lk);
        monitor_waiting = false;
        continue;
      }
      const std::int64_t now = now_ns();
      if (should_grow(now)) {
        count_start(now);
        lk.unlock();
        std::thread([this] { thread_main(); }).detach();
        lk.lock();
        continue;
      }
      monitor_cv.wait_for(lk, std::chrono::nanoseconds(last_progress + kGrowAfterNs - now));
    }
    monitor_started = false;
    all_gone.notify_all();
  }
};

void blocking_pool_start(runtime& rt) {
  rt.blocking = new blocking_pool;
  rt.blocking->max_threads = rt.opts.max_blocking_threads == 0 ? 1 : rt.opts.max_blocking_threads;
  // The calling thread's affinity, which the pool threads inherit.
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    rt.blocking->cpus = static_cast<unsigned>(CPU_COUNT(&set));
}

void blocking_pool_load(runtime& rt, unsigned& threads, std::size_t& queued) {
  threads = 0;
  queued = 0;
  if (rt.blocking == nullptr) return;
  std::lock_guard lk(rt.blocking->mu);
  threads = rt.blocking->threads;
  queued = rt.blocking->jobs.size();
}

unsigned blocking_pool_threads(runtime& rt) {
  if (rt.blocking == nullptr) return 0;
  std::lock_guard lk(rt.blocking->mu);
  return rt.blocking->threads;
}

void blocking_pool_abandon(runtime& rt) noexcept {
  blocking_pool* bp = rt.blocking;
  std::lock_guard lk(bp->mu);
  const auto give_up = [](blocking_job* j) {
    std::lock_guard jl(j->mu);
    if (j->done || j->abandoned) return false;
    j->abandoned = true;
    unpark(*j->p);
    return true;
  };
  for (blocking_job* j : bp->jobs) give_up(j);
  bp->jobs.clear();  // never to be taken: their fibers are gone
  for (blocking_job* j : bp->running)
    if (give_up(j)) bp->stuck++;
}

void blocking_pool_stop(runtime& rt) {
  blocking_pool* bp = rt.blocking;
  rt.blocking = nullptr;
  std::unique_lock lk(bp->mu);
  bp->stopping = true;
  bp->cv.notify_all();
  bp->monitor_cv.notify_all();
  bp->all_gone.wait(lk, [&] { return bp->threads == bp->stuck && !bp->monitor_started; });
  if (bp->threads != 0) {
    bp->orphaned = true;  // note 4
    return;
  }
  lk.unlock();
  delete bp;
}

void run_blocking(void (*fn)(void*), void* arg) {
  worker* w = this_worker();
  if (w == nullptr) {
    fn(arg);  // a plain thread may block itself
    return;
  }
  runtime* rt = w->rt;
  blocking_pool* bp = rt->blocking;
  blocking_job job{fn, arg, &current_parker(), {}, false, false};
  worker_counters::bump(w->ctr.blocking_calls);
  rt->blocking_inflight.fetch_add(1, std::memory_order_seq_cst);
  bool grow = false, start_monitor = false;
  {
    std::lock_guard lk(bp->mu);
    bp->jobs.push_back(&job);
    // Note 3: a claimed job waits for its idle or starting thread; an
    // unclaimed one starts a thread or is left to the monitor.
    if (bp->unclaimed() == 0) {
      if (bp->idle > 0) bp->cv.notify_one();
    } else if (const std::int64_t now = now_ns(); bp->should_grow(now)) {
      bp->count_start(now);
      grow = true;
    } else if (!bp->monitor_started) {
      bp->monitor_started = true;
      start_monitor = true;
    } else if (bp->monitor_waiting) {
      bp->monitor_cv.notify_one();
    }
  }
  // Thread creation (clone, stack mmap) outside the pool's lock.
  if (grow) std::thread([bp] { bp->thread_main(); }).detach();
  if (start_monitor) std::thread([bp] { bp->monitor_main(); }).detach();
  for (;;) {
    bool abandoned = false;
    {
      std::lock_guard jl(job.mu);
      if (job.done) break;
      abandoned = job.abandoned;
    }
    if (abandoned) {
      rt->blocking_inflight.fetch_sub(1, std::memory_order_seq_cst);
      worker* here = this_worker();
      here->abandon(here->current, "is still in a weft::blocking call");
    }
    // Not cancellable: the pool thread still uses our frame.
    park({"blocking call", nullptr}, false);
  }
  rt->blocking_inflight.fetch_sub(1, std::memory_order_seq_cst);
}

}  // namespace weft::detail
