#pragma once
// The autoscaler as an actor of the control plane: hosts one autoscaler and answers
// `(scale_atom, scaling_snapshot) -> std::vector<scaling_decision>`. The metrics agent sends a
// snapshot every scaling tick; whoever starts and stops instances acts on the reply. The actor
// serialises the ticks, so the policy's per-function state needs no lock.

#include "policies/autoscaling/autoscaler.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include <memory>

namespace spry::policies::autoscaling {

using scale_atom = caf::atom_constant<caf::atom("as_scale")>;

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, function_metrics& x) {
  return f(caf::meta::type_name("function_metrics"), x.arrival_rate, x.concurrency,
           x.queue_length, x.service_time_s, x.ready_instances, x.pending_instances,
           x.instance_concurrency, x.cpu_per_instance, x.memory_per_instance_mb, x.slo_s,
           x.slo_percentile, x.weight);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scaling_snapshot& x) {
  return f(caf::meta::type_name("scaling_snapshot"), x.now_s, x.interval_s, x.cluster_cpu,
           x.free_cpu, x.free_memory_mb, x.functions);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scaling_decision& x) {
  return f(caf::meta::type_name("scaling_decision"), x.instances, x.cpu_fraction,
           x.via_activator);
}

caf::actor spawn_autoscaler_actor(caf::actor_system& sys, std::unique_ptr<autoscaler> policy);

} // namespace spry::policies::autoscaling
