#include "policies/load_balancing/load_balancer.hpp"

#include "policies/load_balancing/least_connections.hpp"
#include "policies/load_balancing/mu.hpp"
#include "policies/load_balancing/power_of_two_choices.hpp"
#include "policies/load_balancing/round_robin.hpp"

namespace spry::policies::load_balancing {

void register_all(load_balancer_registry& registry) {
  registry.add("round_robin", [] { return std::make_unique<round_robin>(); });
  registry.add("least_connections", [] { return std::make_unique<least_connections>(); });
  registry.add("power_of_two_choices", [] { return std::make_unique<power_of_two_choices>(); });
  registry.add("mu", [] { return std::make_unique<mu>(); });
}

} // namespace spry::policies::load_balancing
