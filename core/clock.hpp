#pragma once
// One clock for every timestamp spry writes into a buffer header: CLOCK_MONOTONIC in
// nanoseconds, which is the same clock in every process on the machine, so a timestamp written
// by the gateway can be compared with one written by an instance process.

#include <cstdint>
#include <ctime>

namespace spry::core {

inline uint64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

} // namespace spry::core
