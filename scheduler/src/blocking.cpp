// The blocking pool: threads that run weft::blocking() jobs so that a
// blocking syscall parks one fiber instead of a whole worker. Threads are
// created on demand up to max_blocking_threads and leave after 10 s idle.
//
// Completion: the pool thread sets `done` and unparks the fiber while
// holding the job's mutex; the fiber reads `done` under the same mutex, so
// once it sees done == true the pool thread has finished with the job and
// the fiber may return (and free it with its frame).

#include <condition_variable>
#include <deque>

#include "runtime_impl.hpp"

namespace weft::detail {

struct blocking_job {
  void (*fn)(void*);
  void* arg;
  parker* p;
  std::mutex mu;  // guards done
  bool done = false;
};

struct blocking_pool {
  std::mutex mu;  // guards everything below
  std::condition_variable cv;
  std::condition_variable all_gone;
  std::deque<blocking_job*> jobs;
  unsigned threads = 0;
  unsigned idle = 0;
  unsigned max_threads = 64;
  bool stopping = false;

  void thread_main() {
    std::unique_lock lk(mu);
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
      lk.unlock();
      j->fn(j->arg);  // fn stores its own result or exception
      {
        std::lock_guard jl(j->mu);
        j->done = true;
        unpark(*j->p);
      }
      lk.lock();
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

unsigned blocking_pool_threads(runtime& rt) {
  if (rt.blocking == nullptr) return 0;
  std::lock_guard lk(rt.blocking->mu);
  return rt.blocking->threads;
}

void blocking_pool_stop(runtime& rt) {
  blocking_pool* bp = rt.blocking;
  {
    std::unique_lock lk(bp->mu);
    bp->stopping = true;
    bp->cv.notify_all();
    bp->all_gone.wait(lk, [&] { return bp->threads == 0; });
  }
  delete bp;
  rt.blocking = nullptr;
}

void run_blocking(void (*fn)(void*), void* arg) {
  worker* w = this_worker();
  if (w == nullptr) {
    fn(arg);  // a plain thread may block itself
    return;
  }
  runtime* rt = w->rt;
  blocking_pool* bp = rt->blocking;
  blocking_job job{fn, arg, &current_parker(), {}, false};
  rt->blocking_inflight.fetch_add(1, std::memory_order_seq_cst);
  bool grow = false;
  {
    std::lock_guard lk(bp->mu);
    bp->jobs.push_back(&job);
    if (bp->idle == 0 && bp->threads < bp->max_threads) {
      bp->threads++;  // counted now, so stop() waits for it
      grow = true;
    } else {
      bp->cv.notify_one();
    }
  }
  // Thread creation (clone, stack mmap) outside the pool's lock.
  if (grow) std::thread([bp] { bp->thread_main(); }).detach();
  for (;;) {
    {
      std::lock_guard jl(job.mu);
      if (job.done) break;
    }
    // Not cancellable: the pool thread still uses our frame.
    park({"blocking call", nullptr}, false);
  }
  rt->blocking_inflight.fetch_sub(1, std::memory_order_seq_cst);
}

}  // namespace weft::detail
