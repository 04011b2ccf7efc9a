#pragma once
// A first-in first-out queue of request ids for the lab's simulated instances.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace spry::policies::lab {

/// An instance's queue of waiting requests. A vector and a read position rather than a
/// std::deque: libstdc++'s deque allocates a map and a 512-byte block when it is constructed, for
/// every instance ever started (a day at 10,000 functions starts hundreds of thousands), while
/// most instances never queue anything.
class request_fifo {
public:
  bool empty() const noexcept { return head_ == items_.size(); }
  size_t size() const noexcept { return items_.size() - head_; }
  void push_back(uint32_t r) { items_.push_back(r); }
  uint32_t front() const noexcept { return items_[head_]; }
  void pop_front() noexcept {
    if (++head_ == items_.size()) { // drained: reuse the storage from the start
      items_.clear();
      head_ = 0;
    }
  }
  void release() noexcept { std::vector<uint32_t>().swap(items_), head_ = 0; }

private:
  std::vector<uint32_t> items_;
  size_t head_ = 0;
};

} // namespace spry::policies::lab
