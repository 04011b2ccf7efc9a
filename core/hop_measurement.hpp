#pragma once
// What a transport's hop benchmark hook (its entry's measure_hops, transport_registry.hpp)
// reports, so that `spry bench` can compare hops across transports without knowing them.

#include <cstdint>
#include <string>
#include <vector>

namespace spry::core {

/// One-way latency of a hop, measured by ping-pong between two processes (half of each round
/// trip). What a benchmark sets a transport's hop against.
/// A transport's measure_hops returns its bare primitive first, then its own hop(s), so a
/// benchmark can print each hop as a multiple of the primitive.
struct hop_measurement {
  std::string what;      ///< e.g. "bare rte_ring ping-pong, primary <-> secondary"
  uint64_t round_trips = 0;
  double p50_ns = 0, p99_ns = 0, mean_ns = 0;

  /// p50, p99 and mean of one-way samples (ns).
  static hop_measurement of(std::string what, std::vector<uint64_t> one_way_ns);
};

} // namespace spry::core
