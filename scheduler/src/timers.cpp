// Per-worker timer heaps. A fiber in park_until() inserts a node (living in
// its own frame) into the heap of the worker it runs on, and removes it
// before returning, wherever it then runs: hence the lock. fire_due() calls
// unpark() while holding the lock, so a node is never touched after its
// owner's remove() returns.

#include "runtime_impl.hpp"

namespace weft::detail {
namespace {

bool earlier(const timer_node* a, const timer_node* b) { return a->deadline < b->deadline; }

void sift_up(std::vector<timer_node*>& h, std::size_t i) {
  while (i > 0) {
    const std::size_t parent = (i - 1) / 2;
    if (!earlier(h[i], h[parent])) break;
    std::swap(h[i], h[parent]);
    h[i]->index = i;
    h[parent]->index = parent;
    i = parent;
  }
}

void sift_down(std::vector<timer_node*>& h, std::size_t i) {
  for (;;) {
    std::size_t m = i;
    const std::size_t l = 2 * i + 1, r = 2 * i + 2;
    if (l < h.size() && earlier(h[l], h[m])) m = l;
    if (r < h.size() && earlier(h[r], h[m])) m = r;
    if (m == i) break;
    std::swap(h[i], h[m]);
    h[i]->index = i;
    h[m]->index = m;
    i = m;
  }
}

void erase_at(std::vector<timer_node*>& h, std::size_t i) {
  h[i]->in_heap = false;
  const std::size_t last = h.size() - 1;
  if (i != last) {
    h[i] = h[last];
    h[i]->index = i;
  }
  h.pop_back();
  if (i < h.size()) {
    sift_up(h, i);
    sift_down(h, i);
  }
}

}  // namespace

void timer_heap::insert(timer_node* n) {
  std::lock_guard lk(mu);
  n->index = heap.size();
  n->in_heap = true;
  heap.push_back(n);
  sift_up(heap, n->index);
  next.store(heap.front()->deadline, std::memory_order_relaxed);
}

void timer_heap::remove(timer_node* n) {
  std::lock_guard lk(mu);
  if (!n->in_heap) return;
  erase_at(heap, n->index);
  next.store(heap.empty() ? INT64_MAX : heap.front()->deadline, std::memory_order_relaxed);
}

std::size_t timer_heap::fire_due(std::int64_t now) {
  std::size_t fired = 0;
  std::lock_guard lk(mu);
  while (!heap.empty() && heap.front()->deadline <= now) {
    timer_node* n = heap.front();
    erase_at(heap, 0);
    unpark(*n->p);
    fired++;
  }
  next.store(heap.empty() ? INT64_MAX : heap.front()->deadline, std::memory_order_relaxed);
  if (fired != 0) count_here(&worker_counters::timers_fired, fired);
  return fired;
}

}  // namespace weft::detail
