#pragma once
// Load balancing algorithms (round_robin, least_connections, power_of_two_choices, mu): pure
// policies behind the interface in core/load_balancer.hpp, which the router calls on every hop.

#include "core/load_balancer.hpp"

namespace spry::policies::load_balancing {

using core::instance_load;
using core::load_balancer;
using core::load_balancer_factory;
using core::load_balancer_registry;

/// Every balancer of this build.
void register_all(load_balancer_registry& registry);

} // namespace spry::policies::load_balancing
