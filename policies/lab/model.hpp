#pragma once
// What the policy lab simulates, fully resolved: nodes, functions, chains and where requests come
// from. Built from an experiment file for one (workload, seed); the simulator reads nothing else.

#include "policies/lab/arrivals.hpp"
#include "policies/random.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace spry::policies::lab {

struct node_spec {
  double cpu = 4;           ///< cores
  double memory_mb = 8192;
  double speed = 1;         ///< relative CPU speed; service times are divided by it
};

/// How long one execution of a function takes on a reference-speed core.
struct service_distribution {
  enum class kind { exponential, deterministic, lognormal };
  kind shape = kind::exponential;
  double mean_s = 0.01;
  double cv = 1; ///< coefficient of variation (lognormal only)

  double sample(random_stream& rng) const noexcept;
};

struct function_spec {
  std::string name;
  service_distribution service;
  double cpu = 1;            ///< cores per instance at full size
  double memory_mb = 256;
  uint32_t concurrency = 1;  ///< requests an instance runs at once
  double slo_s = 0.1;        ///< per-hop objective; a chain's is the sum over its hops
  /// If > 0, slo_s is this multiple of the function's mean service time (set when the workload
  /// is built): one rule for functions whose service times span orders of magnitude.
  double slo_service_multiple = 0;
  double slo_percentile = 0.99;
  double cold_start_s = 2;
  uint32_t initial_instances = 0; ///< warm at t = 0 (placed, no cold start counted)
  double weight = 1;         ///< fair-share weight
};

/// Where requests come from: an arrival process and the chains its requests enter.
struct arrival_source {
  std::unique_ptr<arrival_process> process;
  std::vector<uint32_t> chains;     ///< indices into workload_model::chains
  std::vector<double> chain_cdf;    ///< cumulative weights, same size; empty = chains[0]
};

struct workload_model {
  std::string name;
  std::vector<function_spec> functions;
  std::vector<std::vector<uint32_t>> chains; ///< function indices in invocation order
  std::vector<arrival_source> sources;
};

} // namespace spry::policies::lab
