#pragma once
// The Kubernetes-default-like baseline: instances are placed in the order they were asked for
// (the scheduling queue is first come, first served), each on the feasible node with the
// "least allocated" score: the mean over CPU and memory of the fraction left free after placing
// it. That spreads load across nodes, and under contention whoever asked first gets everything.

#include "policies/placement/placement_engine.hpp"

namespace spry::policies::placement {

class spread final : public placement_engine {
public:
  std::string_view name() const noexcept override { return "spread"; }
  void place(const placement_request& request, placement_result& out) override;

  /// The least-allocated score of putting (cpu, memory) on `n`, in [0, 1]; higher is better.
  static double least_allocated_score(const node_state& n, double cpu, double memory) noexcept;

private:
  std::vector<node_state> nodes_; // scratch copy, reused
};

} // namespace spry::policies::placement
