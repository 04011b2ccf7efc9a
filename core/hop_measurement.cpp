#include "core/hop_measurement.hpp"

#include <algorithm>

namespace spry::core {

hop_measurement hop_measurement::of(std::string what, std::vector<uint64_t> one_way_ns) {
  hop_measurement m;
  m.what = std::move(what);
  m.round_trips = one_way_ns.size();
  if (one_way_ns.empty())
    return m;
  std::sort(one_way_ns.begin(), one_way_ns.end());
  auto at = [&](double q) {
    return static_cast<double>(
      one_way_ns[std::min(one_way_ns.size() - 1, static_cast<size_t>(q * one_way_ns.size()))]);
  };
  m.p50_ns = at(0.5);
  m.p99_ns = at(0.99);
  double sum = 0;
  for (auto v : one_way_ns)
    sum += static_cast<double>(v);
  m.mean_ns = sum / static_cast<double>(one_way_ns.size());
  return m;
}

} // namespace spry::core
