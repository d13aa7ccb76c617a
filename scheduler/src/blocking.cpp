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
// 3. Provisioning: a call never waits behind another while the pool is
//    below max_blocking_threads. Idle and starting threads are claimed at
//    submit time: a job is queued only while the queue holds no more jobs
//    than there are idle threads (each woken by its own notify) and threads
//    being started (each takes a job before it ever waits); otherwise a
//    thread is started, unless the pool is at its bound. (Counting idle
//    threads alone let two jobs submitted back to back both count on the
//    same idle thread, which drops its idle count only once it runs.)
// 4. Lifetime: blocking_pool_stop waits for every thread but the stuck
//    ones. If some are stuck the pool is orphaned instead of deleted, and
//    the last stuck thread to leave deletes it: a late return never touches
//    freed memory, even while another runtime runs.

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <vector>

#include "runtime_impl.hpp"

namespace weft::detail {

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
  std::deque<blocking_job*> jobs;     // queued, not yet taken
  std::vector<blocking_job*> running; // taken, call not yet returned (note 1)
  unsigned threads = 0;
  unsigned idle = 0;      // waiting on cv for a job
  unsigned starting = 0;  // created, not yet in thread_main (note 3)
  unsigned stuck = 0;  // threads whose job was abandoned, still in its call
  unsigned max_threads = 64;
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
      lk.unlock();
      const std::int64_t traced_since = trace_on() ? now_ns() : 0;
      j->fn(j->arg);  // fn stores its own result or exception
      if (trace_on()) trace_blocking(traced_since, j->p->owner != nullptr ? j->p->owner->id : 0);
      lk.lock();
      running.erase(std::find(running.begin(), running.end(), j));
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
};

void blocking_pool_start(runtime& rt) {
  rt.blocking = new blocking_pool;
  rt.blocking->max_threads = rt.opts.max_blocking_threads == 0 ? 1 : rt.opts.max_blocking_threads;
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
  bp->all_gone.wait(lk, [&] { return bp->threads == bp->stuck; });
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
  bool grow = false;
  {
    std::lock_guard lk(bp->mu);
    bp->jobs.push_back(&job);
    // Note 3: every queued job has an idle or starting thread of its own.
    if (bp->jobs.size() > bp->idle + bp->starting && bp->threads < bp->max_threads) {
      bp->threads++;  // counted now, so stop() waits for it
      bp->starting++;
      grow = true;
    } else if (bp->idle > 0) {
      bp->cv.notify_one();
    }
  }
  // Thread creation (clone, stack mmap) outside the pool's lock.
  if (grow) std::thread([bp] { bp->thread_main(); }).detach();
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
