#pragma once
// Which instances (endpoints) serve each function right now. The autoscaler and the instance
// lifecycle publish new directories; load balancers pick among the instances listed here.
// Published through versioned<endpoint_directory> like the route table.

#include "core/ids.hpp"

#include <vector>

namespace spry::core {

struct endpoint_directory {
  /// instances[f] = endpoints currently serving function f (ready to take requests).
  std::vector<std::vector<endpoint_id>> instances;
  /// function_of[e] = function served by endpoint e (no_function for the gateway / unused ids).
  std::vector<function_id> function_of;

  const std::vector<endpoint_id>& of(function_id f) const noexcept {
    static const std::vector<endpoint_id> none;
    return f < instances.size() ? instances[f] : none;
  }
};

} // namespace spry::core
