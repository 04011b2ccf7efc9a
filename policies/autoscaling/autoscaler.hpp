#pragma once
// Autoscaling: how many instances each function should have, and at what CPU size.
//
// Pure policy: the control plane (or the policy lab) calls decide() once per scaling tick with a
// snapshot of every function's metrics and the time; the autoscaler answers with one decision per
// function. No clock (time is in the snapshot), no I/O. An autoscaler may keep per-function state
// (windows, predictors), indexed by the function's position in the snapshot, which must be stable
// from tick to tick. Used by one thread at a time (its actor, or the lab's event loop).

#include "policies/policy_registry.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace spry::policies::autoscaling {

/// One function's state over the last tick, as the metrics agent measured it.
struct function_metrics {
  double arrival_rate = 0;   ///< requests/s that arrived during the last tick
  double concurrency = 0;    ///< time-averaged requests in the system (queued + running) in the tick
  uint32_t queue_length = 0; ///< requests waiting now, not yet running (incl. at the activator)
  double service_time_s = 0; ///< mean execution time of requests finished recently; 0 = unknown
  uint32_t ready_instances = 0;   ///< instances serving requests
  uint32_t pending_instances = 0; ///< instances starting (cold start in progress)
  uint32_t instance_concurrency = 1; ///< requests one instance runs at once
  double cpu_per_instance = 1;  ///< cores one instance gets at full size
  double memory_per_instance_mb = 0; ///< memory one instance reserves; 0 = not known
  double slo_s = 0;             ///< response-time objective; 0 = none given
  double slo_percentile = 0.95; ///< fraction of requests that must meet slo_s
  double weight = 1;            ///< share of the cluster under overload (LaSS fair share)
};

struct scaling_snapshot {
  double now_s = 0;       ///< time of this tick
  double interval_s = 2;  ///< time since the previous tick
  double cluster_cpu = 0; ///< cores available to all functions; 0 = unbounded
  /// Cores and memory no instance has reserved right now, over every node (what new instances
  /// could still get without taking from another function); negative = not known.
  double free_cpu = -1;
  double free_memory_mb = -1;
  std::vector<function_metrics> functions;
};

struct scaling_decision {
  uint32_t instances = 0;  ///< desired instances, ready + starting
  /// Each instance's CPU as a fraction of cpu_per_instance, in (0, 1]. Below 1 means deflated:
  /// the instance keeps running (no cold start to grow back), more slowly, on fewer cores.
  double cpu_fraction = 1;
  /// Requests should go through the activator (capacity-aware buffering in front of the
  /// instances) rather than straight to them: Knative's target-burst-capacity rule (kpa.hpp).
  bool via_activator = false;
};

class autoscaler {
public:
  virtual ~autoscaler() = default;
  virtual std::string_view name() const noexcept = 0;
  /// One decision per entry of `s.functions`, written to `out` (resized to match).
  virtual void decide(const scaling_snapshot& s, std::vector<scaling_decision>& out) = 0;
};

/// Autoscalers by config name. Registered explicitly by register_all().
class autoscaler_registry : public policy_registry<autoscaler> {
public:
  autoscaler_registry() : policy_registry("autoscaler") {}
};

/// Every autoscaler of this build: fixed, kpa, lass, mu, mu-mm1.
void register_all(autoscaler_registry& registry);

} // namespace spry::policies::autoscaling
