#pragma once
// Placement: on which node each new instance runs.
//
// Pure policy: the control plane (or the lab) gathers the instances the autoscaler wants started,
// per function, and the nodes' capacities and current use; the engine answers with one node per
// instance it could place, in the order it placed them. Nothing is reserved by the engine: the
// caller starts the instances and updates the nodes' use. No I/O, no clock. Used by one thread at
// a time.

#include "policies/policy_registry.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace spry::policies::placement {

struct node_state {
  double cpu_capacity = 0;    ///< cores
  double memory_capacity = 0; ///< MB
  double cpu_used = 0;
  double memory_used = 0;
  double speed = 1; ///< relative CPU speed (1 = reference; 0.5 runs everything twice as long)

  double cpu_free() const noexcept { return cpu_capacity - cpu_used; }
  double memory_free() const noexcept { return memory_capacity - memory_used; }
  bool fits(double cpu, double memory) const noexcept {
    return cpu <= cpu_free() + 1e-9 && memory <= memory_free() + 1e-9;
  }
};

/// New instances one function needs.
struct placement_demand {
  uint32_t function = 0;  ///< the caller's id, copied into the assignments
  uint32_t instances = 0; ///< how many to place
  double cpu = 0;         ///< per instance
  double memory = 0;      ///< per instance, MB
  double cpu_allocated = 0;    ///< what the function holds already (for fairness)
  double memory_allocated = 0;
  /// When these instances were first asked for (any clock; the oldest if some have waited
  /// since an earlier round): Kubernetes queues pending pods by creation time.
  double created_s = 0;
  double weight = 1; ///< fair-share weight (weighted DRF)
};

struct placement_request {
  std::vector<node_state> nodes;
  std::vector<placement_demand> demands;
};

struct assignment {
  uint32_t demand; ///< index into request.demands
  uint32_t node;   ///< index into request.nodes
};

struct placement_result {
  std::vector<assignment> assignments; ///< in placement order
  std::vector<uint32_t> unplaced;      ///< per demand: instances that did not fit

  void clear() {
    assignments.clear();
    unplaced.clear();
  }
};

class placement_engine {
public:
  virtual ~placement_engine() = default;
  virtual std::string_view name() const noexcept = 0;
  /// Fills `out` (cleared first).
  virtual void place(const placement_request& request, placement_result& out) = 0;
  /// Seeds whatever the engine draws at random (tie-breaks); the lab seeds every run. Engines
  /// that draw nothing ignore it.
  virtual void reseed(uint64_t) noexcept {}
};

/// Engines by config name. Registered explicitly by register_all().
class placement_registry : public policy_registry<placement_engine> {
public:
  placement_registry() : policy_registry("placement") {}
};

/// Every engine of this build: spread, mu.
void register_all(placement_registry& registry);

} // namespace spry::policies::placement
