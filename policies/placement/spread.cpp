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
  // The scheduling queue: every pending instance, oldest first, random among equals.
  queue_.clear();
  for (uint32_t d = 0; d < request.demands.size(); ++d)
    for (uint32_t k = 0; k < request.demands[d].instances; ++k)
      queue_.push_back({request.demands[d].created_s, rng_.next(), d});
  std::sort(queue_.begin(), queue_.end(), [](const queued& a, const queued& b) {
    return a.created < b.created || (a.created == b.created && a.tie < b.tie);
  });
  full_.assign(request.demands.size(), 0);
  placed_.assign(request.demands.size() * nodes_.size(), 0);
  for (const auto& q : queue_) {
    const auto& dem = request.demands[q.demand];
    if (full_[q.demand]) { // nodes only fill up in a round: what did not fit still does not
      out.unplaced[q.demand]++;
      continue;
    }
    int64_t best = -1;
    double best_score = 0;
    for (uint32_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i].fits(dem.cpu, dem.memory))
        continue;
      const double s = least_allocated_score(nodes_[i], dem.cpu, dem.memory) +
                       topology_spread_weight / (1.0 + placed_[q.demand * nodes_.size() + i]);
      if (best < 0 || s > best_score + 1e-12) {
        best = i;
        best_score = s;
      }
    }
    if (best < 0) {
      // Unschedulable for now; it stays pending (the caller asks again next round). Later
      // instances of other shapes may still fit, as in kube-scheduler.
      out.unplaced[q.demand]++;
      full_[q.demand] = 1;
      continue;
    }
    placed_[q.demand * nodes_.size() + static_cast<size_t>(best)]++;
    nodes_[best].cpu_used += dem.cpu;
    nodes_[best].memory_used += dem.memory;
    out.assignments.push_back({q.demand, static_cast<uint32_t>(best)});
  }
}

} // namespace spry::policies::placement
