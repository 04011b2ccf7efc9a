#pragma once
// The placement engine as an actor of the control plane: hosts one placement_engine and answers
// `(place_atom, placement_request) -> placement_result`.

#include "policies/placement/placement_engine.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include <memory>

namespace spry::policies::placement {

using place_atom = caf::atom_constant<caf::atom("pl_place")>;

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_state& x) {
  return f(caf::meta::type_name("node_state"), x.cpu_capacity, x.memory_capacity, x.cpu_used,
           x.memory_used, x.speed);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, placement_demand& x) {
  return f(caf::meta::type_name("placement_demand"), x.function, x.instances, x.cpu, x.memory,
           x.cpu_allocated, x.memory_allocated, x.created_s, x.weight);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, placement_request& x) {
  return f(caf::meta::type_name("placement_request"), x.nodes, x.demands);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, assignment& x) {
  return f(caf::meta::type_name("assignment"), x.demand, x.node);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, placement_result& x) {
  return f(caf::meta::type_name("placement_result"), x.assignments, x.unplaced);
}

caf::actor spawn_placement_actor(caf::actor_system& sys, std::unique_ptr<placement_engine> engine);

} // namespace spry::policies::placement
