#include "policies/placement/spread.hpp"

#include <algorithm>

namespace spry::policies::placement {

double spread::least_allocated_score(const node_state& n, double cpu, double memory) noexcept {
  const double c = n.cpu_capacity > 0 ? (n.cpu_free() - cpu) / n.cpu_capacity : 0.0;
  const double m = n.memory_capacity > 0 ? (n.memory_free() - memory) / n.memory_capacity : 0.0;
  return (c + m) / 2;
}

void spread::place(const placement_request& request, placement_result& out) {
  out.clear();
  out.unplaced.assign(request.demands.size(), 0);
  nodes_ = request.nodes;
  for (uint32_t d = 0; d < request.demands.size(); ++d) {
    const auto& dem = request.demands[d];
    for (uint32_t k = 0; k < dem.instances; ++k) {
      int64_t best = -1;
      double best_score = 0;
      for (uint32_t i = 0; i < nodes_.size(); ++i) {
        if (!nodes_[i].fits(dem.cpu, dem.memory))
          continue;
        const double s = least_allocated_score(nodes_[i], dem.cpu, dem.memory);
        if (best < 0 || s > best_score + 1e-12) {
          best = i;
          best_score = s;
        }
      }
      if (best < 0) {
        out.unplaced[d] = dem.instances - k; // nothing fits now, nor will it for the rest
        break;
      }
      nodes_[best].cpu_used += dem.cpu;
      nodes_[best].memory_used += dem.memory;
      out.assignments.push_back({d, static_cast<uint32_t>(best)});
    }
  }
}

} // namespace spry::policies::placement
