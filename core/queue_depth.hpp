#pragma once
// The queue length of one receiving endpoint: descriptors delivered to it and not yet consumed.
// Transports decide backpressure on it and report it as the Q_i that load balancers read.
// Lock-free; any thread.

#include <atomic>
#include <cstdint>

namespace spry::core {

class queue_depth {
public:
  /// Counts one more if the queue is below `capacity`; false (nothing counted) when full.
  bool try_add(uint32_t capacity) noexcept {
    if (n_.fetch_add(1, std::memory_order_relaxed) >= capacity) {
      n_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  /// Counts one more regardless of capacity (failures returned to the gateway must not be lost).
  void add() noexcept { n_.fetch_add(1, std::memory_order_relaxed); }
  /// One consumed. Never goes below zero, even for a descriptor counted before a reset().
  /// Returns the depth after.
  uint32_t remove() noexcept {
    uint32_t cur = n_.load(std::memory_order_relaxed);
    while (cur > 0 && !n_.compare_exchange_weak(cur, cur - 1, std::memory_order_relaxed)) {
    }
    return cur > 0 ? cur - 1 : 0;
  }
  uint32_t get() const noexcept { return n_.load(std::memory_order_relaxed); }
  void reset() noexcept { n_.store(0, std::memory_order_relaxed); }

private:
  std::atomic<uint32_t> n_{0};
};

} // namespace spry::core
