#pragma once
// At most one log line per interval for a message that a fault can repeat many times a
// millisecond (every descriptor bounced after an instance was killed, every refused
// connection): the first is logged at once, the rest of the interval only counted, and the
// next line that is logged says how many were left out. Thread-safe, lock-free, no allocation.

#include "core/clock.hpp"

#include <atomic>
#include <cstdint>

namespace spry::core {

class log_limiter {
public:
  explicit log_limiter(uint64_t interval_ns = 1000000000) noexcept : interval_ns_(interval_ns) {}

  /// true: log this one now, mentioning `left_out` (how many calls since the last line were not
  /// logged) when it is not 0. false: it was counted, log nothing.
  bool allow(uint64_t& left_out) noexcept {
    const uint64_t now = now_ns();
    uint64_t next = next_ns_.load(std::memory_order_relaxed);
    if (now < next || !next_ns_.compare_exchange_strong(next, now + interval_ns_,
                                                        std::memory_order_relaxed)) {
      left_out_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    left_out = left_out_.exchange(0, std::memory_order_relaxed);
    return true;
  }

private:
  const uint64_t interval_ns_;
  std::atomic<uint64_t> next_ns_{0};
  std::atomic<uint64_t> left_out_{0};
};

} // namespace spry::core
