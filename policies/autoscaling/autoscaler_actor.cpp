#include "policies/autoscaling/autoscaler_actor.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

namespace spry::policies::autoscaling {

namespace {

struct autoscaler_state {
  std::shared_ptr<autoscaler> policy;
  static inline const char* name = "spry.autoscaler";
};

caf::behavior autoscaler_actor(caf::stateful_actor<autoscaler_state>* self,
                               std::shared_ptr<autoscaler> policy) {
  self->state.policy = std::move(policy);
  return {
    [self](scale_atom, const scaling_snapshot& s) {
      std::vector<scaling_decision> out;
      self->state.policy->decide(s, out);
      return out;
    },
  };
}

} // namespace

caf::actor spawn_autoscaler_actor(caf::actor_system& sys, std::unique_ptr<autoscaler> policy) {
  return sys.spawn(autoscaler_actor, std::shared_ptr<autoscaler>(std::move(policy)));
}

} // namespace spry::policies::autoscaling
