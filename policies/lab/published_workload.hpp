#pragma once
// The published workload definitions (SPRIGHT's evaluation: Online Boutique, parking, motion
// detection) in their YAML format: functions with mean CPU service times, function chains, and a
// `load:` block describing the traffic. See policies/lab/workloads/README.md.

#include "core/error.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace spry::policies::lab {

struct published_workload {
  struct function {
    uint32_t id = 0;
    std::string name;
    double service_time_ms = 0;
  };
  std::vector<function> functions;
  /// Chains by name, as indices into `functions`, in invocation order.
  std::vector<std::pair<std::string, std::vector<uint32_t>>> chains;
  // The load pattern, as far as the file states it.
  double period_s = 0;          ///< periodic bursts (parking): one burst every period_s
  uint32_t burst_requests = 0;  ///< requests per burst
  bool closed_loop = false;     ///< users in a closed loop (Online Boutique's Locust)
  double duration_s = 0;
  std::string published;        ///< the published result, as text
};

/// Reads and checks a published workload file; errors carry file:line:column.
core::expected<published_workload> read_published_workload(const std::string& file);

} // namespace spry::policies::lab
