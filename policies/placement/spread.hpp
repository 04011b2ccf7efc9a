#pragma once
// The Kubernetes-default-like baseline. The scheduling queue holds the pending instances in
// creation order (kube-scheduler's active queue: priority, then creation timestamp; all
// instances here have the same priority); each is placed on the feasible node with the "least
// allocated" score: the mean over CPU and memory of the fraction left free after placing it.
// That spreads load across nodes, and under contention whoever asked first gets everything.
//
// kube-scheduler also scores PodTopologySpread (its default constraints spread a workload's pods
// over hostnames, weight 2 against NodeResourcesFit's 1): a node that holds fewer instances of
// the same function scores higher. Here that term is 2 / (1 + instances of this function placed
// on the node in this round), so a function's instances asked for together land on different
// nodes before any node gets a second one (the request does not say where running instances
// are, so earlier rounds are not counted).
//
// Instances created at the same time (one scaling round asking for several functions at once)
// have no order in Kubernetes: the controllers create their pods concurrently. Here each
// instance draws a random tie-break key from a seeded stream, so no function index is favoured
// and a seed reproduces the order.

#include "policies/placement/placement_engine.hpp"
#include "policies/random.hpp"

namespace spry::policies::placement {

class spread final : public placement_engine {
public:
  std::string_view name() const noexcept override { return "spread"; }
  void place(const placement_request& request, placement_result& out) override;
  void reseed(uint64_t seed) noexcept override { rng_ = random_stream(seed); }

  /// The least-allocated score of putting (cpu, memory) on `n`, in [0, 1]; higher is better.
  static double least_allocated_score(const node_state& n, double cpu, double memory) noexcept;
  /// Weight of the topology-spread term against least-allocated (kube-scheduler's defaults).
  static constexpr double topology_spread_weight = 2;

private:
  struct queued {
    double created;
    uint64_t tie;
    uint32_t demand;
  };
  std::vector<node_state> nodes_; // scratch copy, reused
  std::vector<queued> queue_;     // scratch, reused
  std::vector<char> full_;        // per demand: fits nowhere any more this round
  std::vector<uint32_t> placed_;  // per demand x node: instances placed this round
  random_stream rng_{0x5eed};
};

} // namespace spry::policies::placement
