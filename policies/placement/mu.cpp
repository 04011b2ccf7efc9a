#include "policies/placement/mu.hpp"

#include <algorithm>

namespace spry::policies::placement {

double mu::dominant_share(double cpu, double memory, double total_cpu,
                          double total_memory) noexcept {
  return std::max(total_cpu > 0 ? cpu / total_cpu : 0.0,
                  total_memory > 0 ? memory / total_memory : 0.0);
}

double mu::score(node_score rule, const node_state& n, double cpu, double memory) noexcept {
  const double cc = n.cpu_capacity > 0 ? n.cpu_capacity : 1.0;
  const double mc = n.memory_capacity > 0 ? n.memory_capacity : 1.0;
  switch (rule) {
    case node_score::alignment:
      return (cpu / cc) * (n.cpu_free() / cc) + (memory / mc) * (n.memory_free() / mc);
    case node_score::best_fit:
      return -((n.cpu_free() - cpu) / cc + (n.memory_free() - memory) / mc);
    case node_score::worst_fit:
      return (n.cpu_free() - cpu) / cc + (n.memory_free() - memory) / mc;
  }
  return 0;
}

void mu::place(const placement_request& request, placement_result& out) {
  out.clear();
  out.unplaced.assign(request.demands.size(), 0);
  nodes_ = request.nodes;
  left_ = request.demands;
  double total_cpu = 0, total_memory = 0;
  for (const auto& n : nodes_) {
    total_cpu += n.cpu_capacity;
    total_memory += n.memory_capacity;
  }
  for (;;) {
    // Stage 1: the pending function with the smallest weighted dominant share (its dominant
    // share divided by its weight: a function of weight 2 progresses to twice the share);
    // among equals the one that has waited longest.
    int64_t next = -1;
    double next_share = 0;
    for (uint32_t d = 0; d < left_.size(); ++d) {
      if (left_[d].instances == 0)
        continue;
      const double s = dominant_share(left_[d].cpu_allocated, left_[d].memory_allocated,
                                      total_cpu, total_memory) /
                       std::max(1e-9, left_[d].weight);
      if (next < 0 || s < next_share - 1e-12 ||
          (s < next_share + 1e-12 && left_[d].created_s < left_[next].created_s)) {
        next = d;
        next_share = s;
      }
    }
    if (next < 0)
      break;
    auto& dem = left_[next];

    // Stage 2: the best feasible node.
    int64_t best = -1;
    double best_score = 0;
    for (uint32_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i].fits(dem.cpu, dem.memory))
        continue;
      const double s = score(score_, nodes_[i], dem.cpu, dem.memory);
      const bool better =
        best < 0 || s > best_score + 1e-12 ||
        (s > best_score - 1e-12 && nodes_[i].speed > nodes_[best].speed + 1e-12);
      if (better) {
        best = i;
        best_score = s;
      }
    }
    if (best < 0) {
      out.unplaced[next] = dem.instances; // fits nowhere: give up on this function for now
      dem.instances = 0;
      continue;
    }
    nodes_[best].cpu_used += dem.cpu;
    nodes_[best].memory_used += dem.memory;
    dem.cpu_allocated += dem.cpu;
    dem.memory_allocated += dem.memory;
    dem.instances--;
    out.assignments.push_back({static_cast<uint32_t>(next), static_cast<uint32_t>(best)});
  }
}

} // namespace spry::policies::placement
