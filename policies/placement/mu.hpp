#pragma once
// Mu's placement (SoCC 2021), two stages repeated one instance at a time until every demand is
// placed or nothing more fits:
// 1. Which function: Dominant Resource Fairness over (CPU, memory). The function whose dominant
//    share (the larger of its CPU and memory fractions of the cluster, counting what it already
//    holds) is smallest goes next, so under contention every function progresses at the same
//    dominant share instead of the first asker taking all.
// 2. Which node, by a selectable score over the feasible nodes:
//    - alignment (Tetris): the dot product of the instance's demand and the node's free
//      resources, each as a fraction of the node's capacity: packs instances where their shape
//      fits the hole, which leaves less stranded CPU or memory;
//    - best_fit: the node left with the least free (normalised sum): packs tightly;
//    - worst_fit: the node left with the most free: spreads.
//    Equal scores go to the faster node (speed factor), then the lower index: on heterogeneous
//    nodes the same fit is worth more where requests run faster.
// A function that fits nowhere is skipped from then on; the others continue.

#include "policies/placement/placement_engine.hpp"

namespace spry::policies::placement {

enum class node_score { alignment, best_fit, worst_fit };

class mu final : public placement_engine {
public:
  explicit mu(node_score score = node_score::alignment) : score_(score) {}

  std::string_view name() const noexcept override { return "mu"; }
  void place(const placement_request& request, placement_result& out) override;

  /// Score of placing (cpu, memory) on `n` under `rule`; higher is better.
  static double score(node_score rule, const node_state& n, double cpu, double memory) noexcept;
  /// max(cpu / total_cpu, memory / total_memory).
  static double dominant_share(double cpu, double memory, double total_cpu,
                               double total_memory) noexcept;

private:
  node_score score_;
  std::vector<node_state> nodes_; // scratch copies, reused
  std::vector<placement_demand> left_;
};

} // namespace spry::policies::placement
