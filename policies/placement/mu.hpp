#pragma once
// Mu's placement (SoCC 2021), two stages repeated one instance at a time until every demand is
// placed or nothing more fits:
// 1. Which function: weighted Dominant Resource Fairness over every resource a node reports
//    (CPU and memory: node_state has no other divisible resource; speed is a rate, not a share).
//    The function whose dominant share (the larger of its CPU and memory fractions of the
//    cluster, counting what it already holds, deflated instances at their reduced CPU) divided
//    by its weight is smallest goes next, so under contention every function progresses at the
//    same weighted dominant share instead of the first asker taking all; equal shares go to the
//    demand that has waited longest.
// 2. Which node, by a selectable score over the feasible nodes:
//    - alignment (Tetris): the dot product of the instance's demand and the node's free
//      resources, each as a fraction of the node's capacity: packs instances where their shape
//      fits the hole, which leaves less stranded CPU or memory;
//    - best_fit: the node left with the least free (normalised sum): packs tightly;
//    - worst_fit: the node left with the most free: spreads.
//    Equal scores go to the faster node (speed factor), then the lower index: on heterogeneous
//    nodes the same fit is worth more where requests run faster.
// A function that fits nowhere is skipped from then on; the others continue.
//
// No preemption and no moves. DRF is applied to new instances only; a function above its fair
// share gives room back through its own autoscaler (Mu's sizes to its predicted load and only
// grows into free capacity, so it does not hold what it cannot use), and the freed room goes by
// DRF to whoever is then below its share. Evicting a serving instance would cost its function a
// cold start and its in-flight requests a drain, and moving one is a stop plus a cold start on
// another node; neither the placement interface (it does not see where running instances are)
// nor the live runtime (no eviction path) supports it yet. See policies/README.md.

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
