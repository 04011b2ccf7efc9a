#include "policies/load_balancing/load_balancer_actor.hpp"

#include <caf/sec.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

namespace spry::policies::load_balancing {

namespace {

struct balancer_state {
  std::shared_ptr<load_balancer> policy;
  static inline const char* name = "spry.load_balancer";
};

caf::behavior balancer_actor(caf::stateful_actor<balancer_state>* self,
                             std::shared_ptr<load_balancer> lb) {
  self->state.policy = std::move(lb);
  return {
    [self](lb_pick_atom, const std::vector<instance_load>& c) -> caf::result<uint64_t> {
      if (c.empty())
        return caf::make_error(caf::sec::invalid_argument);
      return static_cast<uint64_t>(self->state.policy->pick(c.data(), c.size()) % c.size());
    },
  };
}

} // namespace

caf::actor spawn_load_balancer_actor(caf::actor_system& sys, std::unique_ptr<load_balancer> lb) {
  // spawn() copies its arguments into the actor's initialiser: share ownership to move in.
  return sys.spawn(balancer_actor, std::shared_ptr<load_balancer>(std::move(lb)));
}

} // namespace spry::policies::load_balancing
