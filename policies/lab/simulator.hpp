#pragma once
// The policy lab's discrete-event simulator.
//
// Instances are queues: each runs `concurrency` requests at once and queues the rest. Work is in
// reference core-seconds: a request takes its sampled work divided by its slot's cores (the
// instance's CPU, deflated or not, shared equally by its slots) and by the node's speed. Requests
// enter chains from the workload's sources, hop from function to function, and are routed at each
// hop by the load balancer under test, over the ready instances of that function. A function with
// no ready instance holds its requests at an activator (as Knative's does) and starts one
// instance at once; the activator hands requests on only to instances with a free slot. Every
// `tick_s` the autoscaler under test sees each function's metrics and answers with instance counts
// and CPU shares; new instances go where the placement engine under test puts them (nodes have
// CPU and memory capacity and a speed) and serve after a cold start. Scaling down drains
// instances: no new requests, the queued ones are finished.
//
// The policies are the same classes the control plane uses, called directly. The time is virtual;
// everything random is drawn from streams derived from the run's seed (one per source, per
// function's service times, per balancer), so a seed reproduces a run exactly, and two policies
// run with the same seed see the same arrivals and the same service-time draws.
//
// Metrics cover the measurement window [warmup, duration]: latencies of requests that arrived in
// it (arrivals stop at `duration`, then in-flight requests drain for up to `drain_limit_s`;
// requests still unfinished then count at their age so far, and as SLO violations),
// instance-seconds and CPU-seconds reserved in it, cold starts, and per function the capacity
// allocated (time-averaged reference-speed servers) against the capacity demanded (arrivals times
// mean work). Fairness is Jain's index of min(1, allocated / demanded) over the functions with
// demand, computed per 60 s window and averaged over the windows (over a whole run, a function
// starved during each overload and idle in between would look served).

#include "core/error.hpp"
#include "policies/autoscaling/autoscaler.hpp"
#include "policies/lab/model.hpp"
#include "policies/load_balancing/load_balancer.hpp"
#include "policies/parameters.hpp"
#include "policies/placement/placement_engine.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace spry::policies::lab {

/// The policies of one run, by registered name.
struct policy_spec {
  std::string name; ///< label in reports
  std::string load_balancer = "round_robin";
  std::string autoscaler = "kpa";
  parameters autoscaler_params;
  std::string placement = "spread";
  parameters placement_params;
};

/// Every registry, filled by make_registries() (explicit registration, see policy_registry.hpp).
struct policy_registries {
  load_balancing::load_balancer_registry load_balancers;
  autoscaling::autoscaler_registry autoscalers;
  placement::placement_registry placements;
};
void register_all(policy_registries& r);

struct sim_options {
  double duration_s = 600;
  double warmup_s = 0;
  double tick_s = 2;
  double drain_limit_s = 600;
  uint64_t seed = 1;
  bool record_series = true;
};

/// One point of the per-tick trace.
struct series_point {
  double t;
  uint32_t instances; ///< alive: starting, ready or draining
  uint32_t ready;
  double cpu;         ///< cores reserved
  uint64_t queued;    ///< requests waiting (activators and instance queues)
};

struct function_result {
  std::string name;
  uint64_t arrivals = 0;
  double demand = 0;     ///< reference-speed servers needed on average (arrivals x work / time)
  double allocation = 0; ///< reference-speed servers it had on average
  double mean_service_ms = 0; ///< measured execution time (node speed and CPU share included)
};

/// One chain's share of the requests (for the lab's per-function workloads, one per function).
struct chain_result {
  uint64_t requests = 0;
  uint64_t slo_violations = 0;
};

struct run_result {
  uint64_t requests = 0;   ///< measured requests, finished or not
  uint64_t unfinished = 0; ///< of which never finished
  uint64_t slo_violations = 0;
  double slo_violation_rate = 0;
  double mean_ms = 0, p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0;
  double instance_seconds = 0;
  double cpu_seconds = 0;
  double mean_instances = 0;
  uint64_t cold_starts = 0;
  uint64_t activator_waits = 0; ///< requests that found no instance with a free slot
  double unplaced = 0;          ///< mean instances wanted that no node could take
  double jain_fairness = 1;     ///< mean over 60 s windows of Jain's index (see above)
  /// Work offered in the window over the cluster's capacity (cores x speed): how busy the
  /// cluster was asked to be, whatever the policies made of it (above 1: overload).
  double offered_load = 0;
  uint64_t events = 0;
  double end_time_s = 0;
  std::vector<std::pair<double, double>> latency_cdf; ///< (ms, fraction <= ms)
  std::vector<series_point> series;
  std::vector<function_result> functions;
  std::vector<chain_result> chains;
  /// Median over chains with requests of their SLO violation rate: under overload, whether the
  /// typical function is protected while a few absorb the excess.
  double median_chain_slo_violation_rate = 0;
};

/// Runs `workload` (consumed: its arrival processes advance) on `nodes` under `policy`.
/// Errors: unknown policy names or bad parameters, no nodes.
core::expected<run_result> simulate(const std::vector<node_spec>& nodes, workload_model workload,
                                    const policy_spec& policy, const policy_registries& registries,
                                    const sim_options& options);

/// Jain's index (sum x)^2 / (n sum x^2): 1 when all x are equal, 1/n when one has everything.
/// 1 for an empty vector, 0 when all are 0.
double jain_index(const std::vector<double>& x);

} // namespace spry::policies::lab
