#pragma once
// The load balancer as an actor of the control plane: hosts one load_balancer and answers
// `(lb_pick_atom, std::vector<instance_load>) -> uint64_t` (the index to use), or an
// invalid_argument error for an empty candidate list. The data path does not go through it
// (instances hold their own balancer object, see core/instance.hpp); it serves components that
// live in other actors or processes and want the same decision, and tests.

#include "policies/load_balancing/load_balancer.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include <memory>

namespace spry::policies::load_balancing {

using lb_pick_atom = caf::atom_constant<caf::atom("lb_pick")>;

// instance_load's inspect() is in core/load_balancer.hpp, beside the struct (found by ADL).

caf::actor spawn_load_balancer_actor(caf::actor_system& sys, std::unique_ptr<load_balancer> lb);

} // namespace spry::policies::load_balancing
