// weft::test::party: another party beside the test's own code — a fiber
// when the test runs inside weft::run, a plain thread when it runs outside
// a runtime — so that one scenario covers both models.
#pragma once

#include <optional>
#include <thread>
#include <utility>

#include <weft/weft.hpp>

namespace weft::test {

class party {
 public:
  // Starts f: as a fiber if `fiber` (the caller is inside a runtime), else
  // as a plain thread.
  template <class F>
  party(bool fiber, F f) {
    if (fiber)
      t_.emplace(spawn(std::move(f)));
    else
      th_ = std::thread(std::move(f));
  }
  party(const party&) = delete;
  party& operator=(const party&) = delete;
  ~party() { join(); }

  // Waits until f has returned (rethrowing what a fiber threw); once.
  void join() {
    if (t_) {
      auto t = std::move(*t_);
      t_.reset();
      t.join();
    }
    if (th_.joinable()) th_.join();
  }

 private:
  std::optional<task<void>> t_;
  std::thread th_;
};

}  // namespace weft::test
