#pragma once
// The control-plane policies an app asks for (`policies:` in its YAML), made from the registries
// of this build. `spry check` and `spry run` both go through here, so a misspelt policy or
// parameter is refused before anything starts, with the file:line of the key.

#include "core/app_spec.hpp"
#include "core/error.hpp"
#include "policies/autoscaling/autoscaler.hpp"
#include "policies/placement/placement_engine.hpp"

#include <memory>

namespace spry::gateway {

const policies::autoscaling::autoscaler_registry& autoscalers();
const policies::placement::placement_registry& placements();

struct app_policies {
  std::unique_ptr<policies::autoscaling::autoscaler> autoscaler;
  std::unique_ptr<policies::placement::placement_engine> placement;
};

/// Creates the app's autoscaler and placement engine and checks its load balancer's name.
core::expected<app_policies> make_app_policies(const core::app_spec& app);

/// The autoscaler's view of what the app file says about function `spec` (concurrency, size,
/// SLO, weight): the same for one machine's control plane and a cluster's controller.
void set_spec_metrics(policies::autoscaling::function_metrics& m, const core::function_spec& spec);

} // namespace spry::gateway
